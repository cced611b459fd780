//! The scoring half of the learned strategy: a checked logistic model in the shape deciding
//! needs, and the one formula training and prediction share.
//!
//! It lives with the strategy, not in [`crate::model`], so that deciding depends on neither
//! the model file's format nor the config that names it: `model` builds a [`Predictor`] (from
//! a fit or a file, `Predictor::from_fit` / `Predictor::from_file`) and imports this module;
//! nothing here imports `model` or `config`. Pure and allocation-free.

use super::features::{self, N_FEATURES};
use crate::domain::{Bar, Timeframe};

/// A checked model: fixed-size arrays, no allocation to score.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictor {
    /// The bars it was trained on; decides whether the time-of-day features apply.
    pub timeframe: Timeframe,
    pub means: [f64; N_FEATURES],
    pub stds: [f64; N_FEATURES],
    pub weights: [f64; N_FEATURES],
    pub intercept: f64,
}

impl Predictor {
    /// P(the label is "up") on the last bar of `bars`; `None` while the features are
    /// undefined (too few bars, a bad price).
    pub fn probability(&self, bars: &[Bar]) -> Option<f64> {
        let x = features::features(bars, self.timeframe.is_intraday())?;
        Some(self.probability_of(&x))
    }

    /// The feature furthest from its training mean, in training standard deviations: its
    /// index and signed z-score `(x − mean) / std`. The means and stds are the training rows'
    /// (the standardisation the weights were fitted on), so this is a per-feature z-score
    /// against the training data: the max-norm cousin of FreqAI's dissimilarity index, which
    /// measures a point's Euclidean distance to the training set in the same standardised
    /// space. The first feature wins ties.
    pub fn drift(&self, x: &[f64; N_FEATURES]) -> (usize, f64) {
        let mut worst = (0, 0.0f64);
        for (j, &v) in x.iter().enumerate() {
            let z = (v - self.means[j]) / self.stds[j];
            if z.abs() > worst.1.abs() {
                worst = (j, z);
            }
        }
        worst
    }

    /// P(up) for a feature vector already computed.
    pub fn probability_of(&self, x: &[f64; N_FEATURES]) -> f64 {
        probability(x, &self.means, &self.stds, &self.weights, self.intercept)
    }
}

/// `σ(b + Σⱼ wⱼ·(xⱼ − mⱼ)/sⱼ)`: the one formula training and prediction share, so that a
/// model scores the same bar the same way in `train`, the backtest and the tick, bit for bit.
#[inline]
pub fn probability(row: &[f64], means: &[f64], stds: &[f64], weights: &[f64], b: f64) -> f64 {
    let mut eta = b;
    for j in 0..row.len() {
        eta += weights[j] * (row[j] - means[j]) / stds[j];
    }
    sigmoid(eta)
}

/// The logistic function, without overflow for large `|z|`.
#[inline]
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The threshold rule of `kind = "model"`: a probability at least 0.5 and below 1, so that the
/// long band `[t, 1]` and the exit band `[0, 1 − t]` never overlap.
pub fn check_threshold(threshold: f64) -> Result<(), String> {
    if (0.5..1.0).contains(&threshold) {
        Ok(())
    } else {
        Err(format!(
            "must be at least 0.5 and below 1 (long when P(up) >= threshold, exit when <= 1 - threshold), got {threshold}"
        ))
    }
}

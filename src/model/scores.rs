//! The out-of-sample figures beyond accuracy that say whether a model's probabilities and
//! trades mean anything: calibration (a reliability table, its slope, the Brier score
//! against the base rate's), the fitted weights as feature importance, and the significance
//! of the trading returns. Pure functions of the predictions, labels and equity curves.

use super::logreg;
use crate::strategy::features::{FEATURE_NAMES, N_FEATURES};

/// Mean of `(p − y)²`: 0 is perfect; always answering the base rate `r` scores `r(1 − r)`
/// ([`base_rate_brier`]), and a model below that knows something the base rate does not.
pub fn brier(pairs: &[(f64, bool)]) -> f64 {
    let sum: f64 = pairs
        .iter()
        .map(|&(p, y)| (p - f64::from(u8::from(y))).powi(2))
        .sum();
    sum / pairs.len() as f64
}

/// The Brier score of always predicting the share `rate` of "up" labels: `rate·(1 − rate)`.
/// Measured with the out-of-sample labels' own rate, so it is the best constant in
/// hindsight: a model must beat it to be worth its features.
pub fn base_rate_brier(rate: f64) -> f64 {
    rate * (1.0 - rate)
}

/// One row of a reliability table: predictions of similar probability, and how often their
/// label was "up". A calibrated model's `up_rate` follows its `mean_p`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bin {
    pub n: usize,
    pub mean_p: f64,
    pub up_rate: f64,
}

/// The predictions sorted by probability and cut into `bins` groups of equal count (the
/// first groups take one more when the count does not divide): quintiles for `bins = 5`.
pub fn reliability(pairs: &[(f64, bool)], bins: usize) -> Vec<Bin> {
    let mut sorted = pairs.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (n, bins) = (sorted.len(), bins.min(sorted.len()));
    let mut out = Vec::with_capacity(bins);
    let mut start = 0;
    for k in 0..bins {
        let len = n / bins + usize::from(k < n % bins);
        let group = &sorted[start..start + len];
        start += len;
        let k = len as f64;
        out.push(Bin {
            n: len,
            mean_p: group.iter().map(|g| g.0).sum::<f64>() / k,
            up_rate: group.iter().filter(|g| g.1).count() as f64 / k,
        });
    }
    out
}

/// The calibration slope: `b` in `P(up) = σ(a + b·logit(p))`, fitted by logistic regression
/// of the labels on the predictions' log-odds (without a penalty worth the name). 1 is
/// calibrated, below 1 over-confident, 0 or less means the ranking carries nothing (or the
/// opposite of what it claims). NaN with fewer than two distinct predictions.
pub fn calibration_slope(pairs: &[(f64, bool)]) -> f64 {
    let x: Vec<f64> = pairs
        .iter()
        .map(|&(p, _)| {
            let p = p.clamp(1e-12, 1.0 - 1e-12);
            (p / (1.0 - p)).ln()
        })
        .collect();
    let y: Vec<bool> = pairs.iter().map(|p| p.1).collect();
    if x.iter().all(|&v| v == x[0]) {
        return f64::NAN;
    }
    let fit = logreg::fit(&x, 1, &y, 1e-9);
    fit.weights[0] / fit.stds[0]
}

/// The fitted weights by size: each is the change in log-odds for one training standard
/// deviation of its feature (the features are standardised before the fit), so they compare
/// across features. Largest `|w|` first; ties keep the feature order.
pub fn importance(weights: &[f64]) -> Vec<(&'static str, f64)> {
    let mut v: Vec<(&'static str, f64)> = FEATURE_NAMES
        .iter()
        .copied()
        .zip(weights.iter().copied())
        .take(N_FEATURES)
        .collect();
    v.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    v
}

/// The one-sample t statistic of a series' mean against 0: `mean / (s / √n)`, `s` the
/// sample standard deviation (n − 1). NaN with fewer than two values or no variation.
pub fn t_stat(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if values.len() < 2 {
        return f64::NAN;
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    if var == 0.0 {
        return f64::NAN;
    }
    mean / (var / n).sqrt()
}

/// Per-bar simple returns of an equity curve over the bars `from..to`, the first measured
/// from the bar before `from` (or from `cash` when `from` is 0).
pub fn bar_returns(equity: &[f64], from: usize, to: usize, cash: f64) -> Vec<f64> {
    (from..to)
        .map(|t| {
            let before = if t == 0 { cash } else { equity[t - 1] };
            equity[t] / before - 1.0
        })
        .collect()
}

/// Significance of the out-of-sample trading: the t statistic of the model's mean per-bar
/// return, and of its mean per-bar excess over buy & hold (the same bars). Per-bar returns
/// are close to independent, unlike overlapping labels, so `n` is the number of bars; the
/// normal approximation makes `t >= 2` about a 2.3 % one-sided chance by luck.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Significance {
    pub bars: usize,
    pub mean_return: f64,
    pub t_return: f64,
    pub mean_excess: f64,
    pub t_excess: f64,
}

impl Significance {
    pub fn of(model: &[f64], buy_hold: &[f64]) -> Significance {
        let excess: Vec<f64> = model.iter().zip(buy_hold).map(|(m, b)| m - b).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        Significance {
            bars: model.len(),
            mean_return: mean(model),
            t_return: t_stat(model),
            mean_excess: mean(&excess),
            t_excess: t_stat(&excess),
        }
    }
}

#[cfg(test)]
#[path = "scores_tests.rs"]
mod tests;

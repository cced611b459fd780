//! The learned strategy: features from closed bars, a logistic regression, walk-forward
//! validation, and the versioned model file that carries the result from `train` to `tick`.
//!
//! * [`features`] turns the bars up to bar `t` into a fixed-size vector (one function for
//!   training, backtest and tick);
//! * [`logreg`] fits and evaluates the L2-regularised logistic regression;
//! * [`walk`] trains on each walk-forward window, predicts only the next one, and scores the
//!   out-of-sample predictions and trades against buy-and-hold and `sma_cross`;
//! * [`report`] renders that as text, verdict included;
//! * this module holds the model file's format ([`ModelFile`]), the compact [`Predictor`] that
//!   `Strategy::Model` decides with, and [`attach_models`], which the config loader calls to
//!   load and check every model the config names.
//!
//! Pure, like the strategy module: nothing here reads the disk or the clock. Reading a model
//! file is done by the caller's `read` function (the config loader passes `std::fs`).

pub mod features;
pub mod logreg;
pub mod report;
pub mod walk;

use crate::config::Config;
use crate::domain::{Bar, Timeframe};
use crate::error::{Error, Result};
use crate::strategy::Strategy;
use features::{FEATURE_NAMES, FEATURE_SET, N_FEATURES};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// The `format` value of every model file, and the version this build reads and writes.
pub const FORMAT: &str = "prometheus-bot/logistic-regression";
pub const FORMAT_VERSION: u32 = 1;

/// The model file name `train` writes under `data/models/`.
pub fn file_name(symbol: &str, timeframe: Timeframe) -> String {
    format!(
        "{}-{timeframe}-logreg-v{FORMAT_VERSION}.json",
        symbol.replace('/', "_")
    )
}

/// A model file as written by `train` (JSON). Everything needed to reproduce a prediction is
/// here (feature set and names, standardisation, weights); the rest records how it was made
/// and how it fared out of sample, for the person deciding whether to trade it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub format: String,
    pub format_version: u32,
    pub symbol: String,
    pub timeframe: String,
    pub feature_set: String,
    pub features: Vec<String>,
    /// Bars ahead the label looks.
    pub horizon: usize,
    /// Commission per fill (fraction) the label and the validation backtests were net of.
    pub commission: f64,
    pub l2: f64,
    /// The threshold the validation traded with; the config's `threshold` is what trades.
    pub threshold: f64,
    pub means: Vec<f64>,
    pub stds: Vec<f64>,
    pub intercept: f64,
    pub weights: Vec<f64>,
    pub training: TrainingRange,
    pub validation: Validation,
}

/// The bars the saved weights were fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRange {
    /// `final-window` (the last `train` bars, rolling) or `all-bars` (anchored).
    pub fit_on: String,
    /// First and last bar time, `YYYY-MM-DD HH:MM:SS` UTC.
    pub first: String,
    pub last: String,
    /// Labelled rows used (bars whose label lies inside the range).
    pub samples: usize,
    /// Share of those rows labelled "up".
    pub positive_rate: f64,
    pub converged: bool,
}

/// The walk-forward result the file was saved with: out-of-sample figures only. `None`
/// (JSON `null`) where a figure is undefined, such as the Sharpe ratio of a model that never
/// traded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    pub train_bars: usize,
    pub test_bars: usize,
    pub anchored: bool,
    pub windows: usize,
    pub first_test_bar: String,
    pub last_test_bar: String,
    pub accuracy: Option<f64>,
    /// Accuracy of always predicting the more frequent label of the test bars.
    pub majority_accuracy: Option<f64>,
    pub log_loss: Option<f64>,
    pub return_pct: Option<f64>,
    pub sharpe: Option<f64>,
    pub max_drawdown_pct: Option<f64>,
    pub buy_hold_return_pct: Option<f64>,
    pub buy_hold_sharpe: Option<f64>,
    pub sma_cross_return_pct: Option<f64>,
    pub sma_cross_sharpe: Option<f64>,
    /// Higher return and higher Sharpe than both baselines, after costs.
    pub beats_baselines: bool,
}

/// `Some(v)` for a finite `v`: JSON has no NaN.
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// A checked model, in the shape deciding needs: fixed-size arrays, no allocation to score.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictor {
    pub timeframe: Timeframe,
    pub means: [f64; N_FEATURES],
    pub stds: [f64; N_FEATURES],
    pub weights: [f64; N_FEATURES],
    pub intercept: f64,
}

impl Predictor {
    /// From a fit over the feature set's columns.
    pub fn from_fit(fit: &logreg::LogReg, timeframe: Timeframe) -> Predictor {
        let array = |v: &[f64]| {
            let mut a = [0.0; N_FEATURES];
            a.copy_from_slice(v);
            a
        };
        Predictor {
            timeframe,
            means: array(&fit.means),
            stds: array(&fit.stds),
            weights: array(&fit.weights),
            intercept: fit.intercept,
        }
    }

    /// P(the label is "up") on the last bar of `bars`; `None` while the features are
    /// undefined (too few bars, a bad price).
    pub fn probability(&self, bars: &[Bar]) -> Option<f64> {
        let x = features::features(bars, self.timeframe.is_intraday())?;
        Some(self.probability_of(&x))
    }

    /// P(up) for a feature vector already computed.
    pub fn probability_of(&self, x: &[f64; N_FEATURES]) -> f64 {
        logreg::probability(x, &self.means, &self.stds, &self.weights, self.intercept)
    }

    /// Check a parsed file against this build and the bot's timeframe; the message says what
    /// differs and what to do.
    pub fn from_file(file: &ModelFile, timeframe: Timeframe) -> Result<Predictor, String> {
        if file.format != FORMAT || file.format_version != FORMAT_VERSION {
            return Err(format!(
                "is `{}` version {}, this build reads `{FORMAT}` version {FORMAT_VERSION}; retrain it with `prometheus-bot train`",
                file.format, file.format_version
            ));
        }
        let names: Vec<&str> = file.features.iter().map(String::as_str).collect();
        if file.feature_set != FEATURE_SET || names != FEATURE_NAMES {
            return Err(format!(
                "was trained on feature set `{}` ({}), this build computes `{FEATURE_SET}` ({}); retrain it with `prometheus-bot train`",
                file.feature_set,
                names.join(", "),
                FEATURE_NAMES.join(", ")
            ));
        }
        if file.timeframe != timeframe.as_str() {
            return Err(format!(
                "was trained on {} bars but [bot] timeframe is {timeframe}; train one with `prometheus-bot train --symbol {} --timeframe {timeframe}`",
                file.timeframe, file.symbol
            ));
        }
        let all_finite = |v: &[f64]| v.len() == N_FEATURES && v.iter().all(|x| x.is_finite());
        let usable = all_finite(&file.means)
            && all_finite(&file.weights)
            && all_finite(&file.stds)
            && file.intercept.is_finite()
            && file.stds.iter().all(|&s| s > 0.0);
        if !usable {
            return Err(format!(
                "needs {N_FEATURES} finite means, positive stds and finite weights; the file is damaged"
            ));
        }
        let fit = logreg::LogReg {
            means: file.means.clone(),
            stds: file.stds.clone(),
            intercept: file.intercept,
            weights: file.weights.clone(),
            iterations: 0,
            converged: true,
        };
        Ok(Predictor::from_fit(&fit, timeframe))
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

/// Load every `kind = "model"` strategy's file and check it against `[bot] timeframe`.
///
/// `path` resolves against the config file's folder; `read` reads a file (the config loader
/// passes `std::fs::read_to_string`, tests a map). Each model is loaded once per process and
/// shared by reference. A missing, unreadable, damaged or mismatched model is a config error
/// naming the config file, the `path` key's line and the model file.
pub fn attach_models(
    config: &mut Config,
    config_text: &str,
    read: impl Fn(&Path) -> std::io::Result<String>,
) -> Result<()> {
    let dir = config
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let timeframe = config.bot.timeframe;
    for (k, symbol) in config.symbols.iter_mut().enumerate() {
        let Strategy::Model {
            ref path,
            ref mut model,
            ..
        } = symbol.strategy
        else {
            continue;
        };
        let line = path_line(config_text, k);
        let fail = |msg: String| Error::config(&config.path, line, Some("path"), msg);
        let full = dir.join(path);
        let text = read(&full).map_err(|e| {
            fail(format!(
                "cannot read the model file {}: {e} (train it with `prometheus-bot train --symbol {} --timeframe {timeframe}`; \
                 `path` is relative to the config file's folder, models are written to data/models/)",
                full.display(),
                symbol.name
            ))
        })?;
        let file: ModelFile = serde_json::from_str(&text).map_err(|e| {
            fail(format!(
                "{} is not a model file: {e} (line {})",
                full.display(),
                e.line()
            ))
        })?;
        let predictor = Predictor::from_file(&file, timeframe)
            .map_err(|msg| fail(format!("the model {} {msg}", full.display())))?;
        *model = Some(Arc::new(predictor));
    }
    Ok(())
}

/// The 1-based line of the `path` key in the `k`-th `[[symbol]]` section (the strategy's
/// inline table or a `[symbol.strategy]` table), for error messages; else that section's
/// header line.
fn path_line(text: &str, k: usize) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[symbol]]"))
        .nth(k)?
        .0;
    for (i, line) in lines.iter().enumerate().skip(header + 1) {
        let t = line.trim_start();
        if t.starts_with("[[") || (t.starts_with('[') && !t.starts_with("[symbol.")) {
            break;
        }
        let code = t.split('#').next().unwrap_or("");
        let has_key = code.match_indices("path").any(|(at, _)| {
            let before = code[..at].chars().next_back();
            let after = code[at + 4..].trim_start();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && after.starts_with('=')
        });
        if has_key {
            return Some(i + 1);
        }
    }
    Some(header + 1)
}

#[cfg(test)]
mod tests;

//! The learned strategy's training side: walk-forward validation and the versioned model
//! file that carries the result from `train` to `tick`.
//!
//! * [`logreg`] fits and evaluates the L2-regularised logistic regression;
//! * [`walk`] trains on each walk-forward window, predicts only the next one, and scores the
//!   out-of-sample predictions and trades against buy-and-hold and `sma_cross`;
//! * [`report`] renders that as text, verdict included;
//! * this module holds the model file's format ([`ModelFile`]) and [`load`], which turns a
//!   model file's text into the [`Predictor`] that `Strategy::Model` decides with.
//!
//! The features and the scoring are the strategy's ([`crate::strategy::features`],
//! [`crate::strategy::predictor`]), so that deciding depends on nothing here. This module
//! depends on the strategy, never on the config: the config loader reads the files its
//! `model` strategies name and calls [`load`] (imports run config → model → strategy only).
//!
//! Pure, like the strategy module: nothing here reads the disk or the clock.

pub mod export;
pub mod logreg;
pub mod report;
pub mod scores;
pub mod walk;

use crate::domain::Timeframe;
use crate::strategy::features::{FEATURE_NAMES, FEATURE_SET, N_FEATURES};
use crate::strategy::Predictor;
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    /// The market-data feed of the bars it was trained on, from the bar cache's sidecar:
    /// `iex` or `sip` (fetched), `import` (imported: the source's volumes, origin unknown)
    /// or `unknown` (a cache that recorded no feed, or a file from before feeds were
    /// recorded). Volumes differ about 30 times between IEX and SIP, so a model is refused
    /// on the other live feed.
    #[serde(default = "unknown_feed")]
    pub feed: String,
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
    /// The verdict under `rule`: trades above both baselines after costs (return and
    /// Sharpe for `strict`, Sharpe for `risk-adjusted`), with accuracy above the majority
    /// answer's by two standard errors.
    pub beats_baselines: bool,
    /// `strict` or `risk-adjusted` (files from before the choice existed: `strict`).
    #[serde(default = "strict_rule")]
    pub rule: String,
    /// Out-of-sample calibration: the Brier score, the base rate's, the calibration slope.
    #[serde(default)]
    pub brier: Option<f64>,
    #[serde(default)]
    pub base_rate_brier: Option<f64>,
    #[serde(default)]
    pub calibration_slope: Option<f64>,
    /// t statistics of the out-of-sample per-bar returns, and of their excess over buy & hold.
    #[serde(default)]
    pub t_return: Option<f64>,
    #[serde(default)]
    pub t_excess: Option<f64>,
}

fn strict_rule() -> String {
    "strict".into()
}

fn unknown_feed() -> String {
    UNKNOWN_FEED.into()
}

/// The `feed` of a model whose bars' feed is not recorded.
pub const UNKNOWN_FEED: &str = "unknown";

impl ModelFile {
    /// The last training bar as a time (`training.last`, `YYYY-MM-DD HH:MM:SS` UTC).
    pub fn trained_until(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::NaiveDateTime::parse_from_str(&self.training.last, "%Y-%m-%d %H:%M:%S")
            .ok()
            .map(|t| t.and_utc())
    }

    /// What stands between this file and a live tick on `feed` with `threshold`, given the
    /// strategy's `trade_unvalidated`: `Err` refuses the model (a validation it failed, bars
    /// of the other live feed); `Ok` lists what to warn about on every tick.
    pub fn gate(
        &self,
        feed: &str,
        threshold: f64,
        trade_unvalidated: bool,
    ) -> Result<Vec<String>, String> {
        let mut warnings = Vec::new();
        if !self.validation.beats_baselines {
            if !trade_unvalidated {
                return Err(
                    "did NOT beat the baselines out of sample (its file says `beats_baselines: false`); \
                     refusing to trade it. Set `trade_unvalidated = true` in the symbol's strategy to trade it anyway"
                        .to_string(),
                );
            }
            warnings.push(
                "did NOT beat the baselines out of sample; trading it because `trade_unvalidated = true`"
                    .to_string(),
            );
        }
        match self.feed.as_str() {
            "iex" | "sip" if self.feed != feed => {
                return Err(format!(
                    "was trained on {} bars but [alpaca] feed is {feed}: volumes differ about 30 times between the feeds, \
                     so its volume features would be meaningless; fetch {feed} bars (`prometheus-bot fetch {} --feed {feed}` \
                     into a fresh cache) and train again",
                    self.feed, self.symbol
                ));
            }
            "iex" | "sip" => {}
            other => warnings.push(format!(
                "was trained on bars of feed `{other}` (imported or unrecorded), the tick reads {feed}: \
                 if their volumes differ, the drift guard (drift_limit) is what notices"
            )),
        }
        if threshold != self.threshold {
            warnings.push(format!(
                "was validated with threshold {}, the config trades it at {threshold}: the report's figures are not this strategy's",
                self.threshold
            ));
        }
        Ok(warnings)
    }
}

/// `Some(v)` for a finite `v`: JSON has no NaN.
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Building a [`Predictor`] is training's business (the strategy only scores with one).
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

/// Parse and check the text of the model file `file` (named in messages) for `[bot]
/// timeframe`: the [`Predictor`], or what is wrong with the file and what to do, as the end of
/// a sentence starting with the file's path.
pub fn load(file: &Path, text: &str, timeframe: Timeframe) -> Result<Predictor, String> {
    let parsed = parse(file, text)?;
    Predictor::from_file(&parsed, timeframe)
        .map_err(|msg| format!("the model {} {msg}", file.display()))
}

/// The model file's text as a [`ModelFile`], or why it is not one.
pub fn parse(file: &Path, text: &str) -> Result<ModelFile, String> {
    serde_json::from_str(text).map_err(|e| {
        format!(
            "{} is not a model file: {e} (line {})",
            file.display(),
            e.line()
        )
    })
}

#[cfg(test)]
pub(crate) mod tests;

//! `prometheus-bot train`: fit the learned strategy on the bar cache with walk-forward
//! validation, print the out-of-sample report, and save the model file.
//!
//! The learning, the validation and the report are pure ([`crate::model`]); this module only
//! reads the cache, prints and writes `data/models/<SYMBOL>-<timeframe>-logreg-v1.json`.
//! It needs no keys and no network.

use crate::backtest::walk_forward::Plan;
use crate::cli::TrainArgs;
use crate::config::Config;
use crate::domain::{is_valid_symbol, Timeframe};
use crate::error::{Error, Result};
use crate::model::walk::{self, Params};
use crate::model::{self, report, scores, ModelFile, TrainingRange, Validation};
use crate::progress;
use crate::store::bar_cache::BarCache;
use crate::store::files::write_atomic;
use crate::strategy::features::{self, FEATURE_NAMES, FEATURE_SET};
use crate::strategy::{self, Strategy};
use crate::{out, outln};

pub fn run(config: &Config, args: &TrainArgs) -> Result<()> {
    let params = params(config, args)?;
    let symbol = args.symbol.as_str();
    let cache = BarCache::new(&config.bot.data_dir);
    let bars = cache.load(symbol, params.timeframe)?;
    // The model records its bars' feed: a tick on the other live feed refuses it.
    let feed = cache
        .meta(symbol, params.timeframe)?
        .feed
        .map_or(model::UNKNOWN_FEED, |f| f.as_str());
    if bars.is_empty() {
        return Err(Error::Refused(format!(
            "no {} bars cached for {symbol}: run `prometheus-bot fetch {symbol} --timeframe {}` (or `import`) first",
            params.timeframe, params.timeframe
        )));
    }
    let shown = progress::stderr();
    let result = walk::run_showing(&bars, &params, shown.as_ref())
        .map_err(|e| Error::Refused(format!("{symbol} {}: {e}", params.timeframe)))?;
    let times: Vec<_> = bars.iter().map(|b| b.time).collect();
    let file = model_file(symbol, feed, &result, &times);
    let path = config
        .bot
        .data_dir
        .join("models")
        .join(model::file_name(symbol, params.timeframe));
    let mut json = serde_json::to_string_pretty(&file)
        .map_err(|e| Error::Refused(format!("cannot encode the model: {e}")))?;
    json.push('\n');
    // The model is saved before the report is printed: a closed stdout (`train ... | head`)
    // stops the report, never the save. A failed save is still preceded by the report, and
    // is the error the run ends with.
    let saved = write_atomic(&path, json.as_bytes());
    if let (Ok(()), Some(export)) = (&saved, &args.export) {
        let data = walk::dataset(&bars, &params);
        write_atomic(export, model::export::csv(&bars, &data, &result).as_bytes())?;
    }
    let printed = out::text(&report::render(symbol, &result, &times));
    saved?;
    log::info!(
        "trained {symbol} {}: {} windows, saved {}",
        params.timeframe,
        result.windows.len(),
        path.display()
    );
    printed?;
    outln!("model written to {}", path.display())?;
    match &args.export {
        Some(export) => outln!(
            "bars, features, labels and out-of-sample P(up) written to {}",
            export.display()
        ),
        None => Ok(()),
    }
}

/// Arguments checked before any file is read; mistakes are usage errors (exit 2).
fn params(config: &Config, args: &TrainArgs) -> Result<Params> {
    let usage = |m: String| Error::Usage(m);
    if !is_valid_symbol(&args.symbol) {
        return Err(usage(format!(
            "--symbol `{}` is not a ticker symbol (like AAPL or BRK.B)",
            args.symbol
        )));
    }
    let timeframe: Timeframe = args.timeframe.parse().map_err(usage)?;
    if args.horizon == 0 {
        return Err(usage("--horizon must be at least 1 bar".into()));
    }
    if args.test == 0 {
        return Err(usage("--test must be at least 1 bar".into()));
    }
    let least = features::LOOKBACK + args.horizon + walk::MIN_TRAINING_ROWS;
    if args.train < least {
        return Err(usage(format!(
            "--train {} is too short: features need {} bars and labels {} more, and a fit needs {} rows: use at least {least}",
            args.train,
            features::LOOKBACK,
            args.horizon,
            walk::MIN_TRAINING_ROWS
        )));
    }
    if !(0.0..0.1).contains(&args.commission) {
        return Err(usage(format!(
            "--commission is a fraction per fill in [0, 0.1) (0.002 = 0.2 %), got {}",
            args.commission
        )));
    }
    if !(args.l2 > 0.0 && args.l2.is_finite()) {
        return Err(usage(format!(
            "--l2 must be above 0 (without a penalty, a separable window sends the weights to infinity), got {}",
            args.l2
        )));
    }
    strategy::check_model_threshold(args.threshold)
        .map_err(|m| usage(format!("--threshold {m}")))?;
    // The config's sma_cross for this symbol is the fairest baseline; else the classic 10/30.
    let sma = config
        .symbols
        .iter()
        .find(|s| s.name == args.symbol)
        .map(|s| &s.strategy)
        .filter(|s| matches!(s, Strategy::SmaCross { .. }))
        .cloned()
        .unwrap_or(Strategy::SmaCross {
            fast: 10,
            slow: 30,
            allow_short: false,
        });
    Ok(Params {
        timeframe,
        horizon: args.horizon,
        commission: args.commission,
        l2: args.l2,
        threshold: args.threshold,
        plan: Plan {
            train: args.train,
            test: args.test,
            anchored: args.anchored,
        },
        sma,
        rule: args.verdict.parse().map_err(usage)?,
    })
}

/// The file `tick` will load: weights and standardisation, and the validation figures.
fn model_file(
    symbol: &str,
    feed: &str,
    r: &walk::Report,
    times: &[chrono::DateTime<chrono::Utc>],
) -> ModelFile {
    let p = &r.params;
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    let cmp = &r.compared;
    let significance = r.significance();
    ModelFile {
        format: model::FORMAT.into(),
        format_version: model::FORMAT_VERSION,
        symbol: symbol.into(),
        timeframe: p.timeframe.as_str().into(),
        feed: feed.into(),
        feature_set: FEATURE_SET.into(),
        features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        horizon: p.horizon,
        commission: p.commission,
        l2: p.l2,
        threshold: p.threshold,
        means: r.final_fit.means.clone(),
        stds: r.final_fit.stds.clone(),
        intercept: r.final_fit.intercept,
        weights: r.final_fit.weights.clone(),
        training: TrainingRange {
            fit_on: if p.plan.anchored {
                "all-bars"
            } else {
                "final-window"
            }
            .into(),
            first: stamp(times[r.final_range.start]),
            last: stamp(times[r.final_range.end - 1]),
            samples: r.final_samples,
            positive_rate: r.final_positive_rate,
            converged: r.final_fit.converged,
        },
        validation: Validation {
            train_bars: p.plan.train,
            test_bars: p.plan.test,
            anchored: p.plan.anchored,
            windows: r.windows.len(),
            first_test_bar: stamp(r.first_test),
            last_test_bar: stamp(r.last_test),
            accuracy: model::finite(r.classification.accuracy),
            majority_accuracy: model::finite(r.classification.majority_accuracy()),
            log_loss: model::finite(r.classification.log_loss),
            return_pct: model::finite(cmp.model.return_pct),
            sharpe: model::finite(cmp.model.sharpe),
            max_drawdown_pct: model::finite(cmp.model.max_drawdown_pct),
            buy_hold_return_pct: model::finite(cmp.buy_hold.return_pct),
            buy_hold_sharpe: model::finite(cmp.buy_hold.sharpe),
            sma_cross_return_pct: model::finite(cmp.sma_cross.return_pct),
            sma_cross_sharpe: model::finite(cmp.sma_cross.sharpe),
            beats_baselines: r.model_beats_baselines(),
            rule: p.rule.as_str().into(),
            brier: (!r.labelled.is_empty())
                .then(|| scores::brier(&r.labelled))
                .and_then(model::finite),
            base_rate_brier: model::finite(scores::base_rate_brier(r.classification.up_rate)),
            calibration_slope: model::finite(scores::calibration_slope(&r.labelled)),
            t_return: model::finite(significance.t_return),
            t_excess: model::finite(significance.t_excess),
        },
    }
}

//! The model file: its checks, as the strategy decides with what it loads, its name and its
//! JSON. (Loading through the config is tested in `config::models`.)

use super::*;
use crate::domain::{Bar, Signal};
use crate::strategy::{Strategy, Why};
use chrono::{Duration, TimeZone, Utc};
use std::sync::Arc;

/// A model file whose weights are 0, so that P(up) = σ(intercept) on any bars.
pub(crate) fn file(timeframe: &str, intercept: f64) -> ModelFile {
    ModelFile {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        symbol: "AAPL".into(),
        timeframe: timeframe.into(),
        feed: "iex".into(),
        feature_set: FEATURE_SET.into(),
        features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        horizon: 5,
        commission: 0.002,
        l2: 1.0,
        threshold: 0.55,
        means: vec![0.0; N_FEATURES],
        stds: vec![1.0; N_FEATURES],
        intercept,
        weights: vec![0.0; N_FEATURES],
        training: TrainingRange {
            fit_on: "final-window".into(),
            first: "2020-01-02 05:00:00".into(),
            last: "2022-12-30 05:00:00".into(),
            samples: 700,
            positive_rate: 0.5,
            converged: true,
        },
        validation: Validation {
            train_bars: 756,
            test_bars: 126,
            anchored: false,
            windows: 5,
            first_test_bar: "2023-01-03 05:00:00".into(),
            last_test_bar: "2025-06-30 04:00:00".into(),
            accuracy: Some(0.5),
            majority_accuracy: Some(0.52),
            log_loss: Some(0.69),
            return_pct: Some(1.0),
            sharpe: None,
            max_drawdown_pct: Some(-3.0),
            buy_hold_return_pct: Some(10.0),
            buy_hold_sharpe: Some(0.8),
            sma_cross_return_pct: Some(2.0),
            sma_cross_sharpe: Some(0.3),
            beats_baselines: true,
            rule: "strict".into(),
            brier: Some(0.25),
            base_rate_brier: Some(0.2499),
            calibration_slope: Some(0.1),
            t_return: Some(0.5),
            t_excess: Some(-0.2),
        },
    }
}

fn bars(n: usize) -> Vec<Bar> {
    let t0 = Utc.with_ymd_and_hms(2024, 1, 2, 5, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            let c = 100.0 + (i % 7) as f64;
            Bar {
                time: t0 + Duration::days(i as i64),
                open: c,
                high: c + 1.0,
                low: c - 1.0,
                close: c,
                volume: 1000.0,
                trades: 0,
                vwap: f64::NAN,
            }
        })
        .collect()
}

fn model(intercept: f64) -> Strategy {
    Strategy::Model {
        path: String::new(),
        threshold: 0.6,
        drift_limit: 0.0,
        max_age_days: None,
        trade_unvalidated: false,
        model: Some(Arc::new(
            Predictor::from_file(&file("1Day", intercept), Timeframe::Day1).unwrap(),
        )),
        trained_until: None,
    }
}

#[test]
fn the_model_buys_above_the_threshold_exits_below_its_mirror_and_holds_between() {
    let b = bars(60);
    // σ(ln 3) = 0.75 >= 0.6: long; σ(−ln 3) = 0.25 <= 0.4: exit; σ(0) = 0.5: hold.
    let up = model(3f64.ln());
    let d = up.decide(&b, 100.0, 0.0);
    assert_eq!(d.signal, Signal::Buy);
    assert!(matches!(d.why, Why::ModelUp { p, level } if (p - 0.75).abs() < 1e-12 && level == 0.6));
    assert_eq!(d.why.to_string(), "model P(up) 0.7500 >= 0.6");
    assert_eq!(up.decide(&b, 100.0, 5.0).signal, Signal::Hold);
    let down = model(-(3f64.ln()));
    assert_eq!(down.decide(&b, 100.0, 5.0).signal, Signal::Sell);
    let d = down.decide(&b, 100.0, 0.0);
    assert_eq!(d.signal, Signal::Hold, "long-only: never opens a short");
    assert!(d.why.to_string().contains("no long position to exit"));
    let d = model(0.0).decide(&b, 100.0, 0.0);
    assert_eq!(d.signal, Signal::Hold);
    assert_eq!(
        d.why.to_string(),
        "model P(up) 0.5000 is between 0.4000 and 0.6"
    );
    assert!(!up.allows_short());
}

#[test]
fn the_model_waits_for_its_window_and_holds_without_a_model_or_with_bad_bars() {
    let b = bars(60);
    let d = model(3f64.ln()).decide(&b[..49], 100.0, 0.0);
    assert_eq!(d.why, Why::WarmingUp { have: 49, need: 50 });
    let unloaded = Strategy::Model {
        path: "x.json".into(),
        threshold: 0.6,
        drift_limit: 0.0,
        max_age_days: None,
        trade_unvalidated: false,
        model: None,
        trained_until: None,
    };
    assert_eq!(unloaded.decide(&b, 100.0, 0.0).why, Why::NoModel);
    let mut bad = b.clone();
    bad[55].close = f64::NAN;
    assert_eq!(
        model(3f64.ln()).decide(&bad, 100.0, 0.0).why,
        Why::FeaturesUndefined
    );
}

#[test]
fn the_file_name_is_versioned_and_safe_for_share_classes() {
    assert_eq!(
        file_name("BF/B", Timeframe::Min15),
        "BF_B-15Min-logreg-v1.json"
    );
    assert_eq!(
        file_name("AAPL", Timeframe::Day1),
        "AAPL-1Day-logreg-v1.json"
    );
}

#[test]
fn a_json_null_figure_round_trips() {
    let f = file("1Day", 0.5);
    let text = serde_json::to_string(&f).unwrap();
    assert!(text.contains("\"sharpe\":null"));
    assert_eq!(serde_json::from_str::<ModelFile>(&text).unwrap(), f);
}

#[test]
fn the_gate_refuses_an_unvalidated_model_unless_told_and_a_model_of_the_other_live_feed() {
    let mut f = file("1Day", 0.0);
    assert_eq!(f.gate("iex", 0.55, false), Ok(vec![]));
    f.validation.beats_baselines = false;
    let e = f.gate("iex", 0.55, false).unwrap_err();
    assert!(
        e.contains("beats_baselines: false") && e.contains("trade_unvalidated = true"),
        "{e}"
    );
    let w = f.gate("iex", 0.55, true).unwrap();
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("did NOT beat the baselines"), "{w:?}");
    f.validation.beats_baselines = true;
    f.feed = "sip".into();
    let e = f.gate("iex", 0.55, true).unwrap_err();
    assert!(
        e.contains("was trained on sip bars but [alpaca] feed is iex"),
        "{e}"
    );
    assert_eq!(f.gate("sip", 0.55, false), Ok(vec![]));
    for unknown in ["import", "unknown"] {
        f.feed = unknown.into();
        let w = f.gate("iex", 0.55, false).unwrap();
        assert!(
            w.len() == 1 && w[0].contains(&format!("feed `{unknown}`")),
            "{w:?}"
        );
    }
    f.feed = "iex".into();
    let w = f.gate("iex", 0.6, false).unwrap();
    assert!(
        w.len() == 1 && w[0].contains("validated with threshold 0.55, the config trades it at 0.6"),
        "{w:?}"
    );
}

#[test]
fn a_file_without_a_feed_reads_as_unknown_and_knows_its_last_training_bar() {
    let f = file("1Day", 0.0);
    let text = serde_json::to_string(&f)
        .unwrap()
        .replace("\"feed\":\"iex\",", "");
    assert!(!text.contains("\"feed\""));
    let back: ModelFile = serde_json::from_str(&text).unwrap();
    assert_eq!(back.feed, "unknown");
    assert_eq!(
        back.trained_until(),
        Some(Utc.with_ymd_and_hms(2022, 12, 30, 5, 0, 0).unwrap())
    );
}

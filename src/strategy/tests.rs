//! The decision rules on hand-made bars.

use super::*;
use chrono::{TimeZone, Utc};

fn bars(closes: &[f64]) -> Vec<Bar> {
    closes
        .iter()
        .enumerate()
        .map(|(i, &c)| Bar {
            time: Utc.timestamp_opt(1_700_000_000 + 60 * i as i64, 0).unwrap(),
            open: c,
            high: c,
            low: c,
            close: c,
            volume: 100.0,
            trades: 1,
            vwap: c,
        })
        .collect()
}

const THR: Strategy = Strategy::Threshold {
    buy_above: 230.0,
    sell_below: 220.0,
};

#[test]
fn threshold_buys_above_sells_below_and_never_doubles() {
    assert_eq!(THR.decide(&[], 231.0, 0.0).signal, Signal::Buy);
    assert_eq!(THR.decide(&[], 231.0, 1.0).signal, Signal::Hold);
    assert_eq!(THR.decide(&[], 219.0, 1.0).signal, Signal::Sell);
    assert_eq!(THR.decide(&[], 219.0, 0.0).signal, Signal::Hold);
    assert_eq!(THR.decide(&[], 225.0, 0.0).signal, Signal::Hold);
    // The levels themselves are not crossings: "above" and "below" are strict.
    assert_eq!(THR.decide(&[], 230.0, 0.0).signal, Signal::Hold);
    assert_eq!(THR.decide(&[], 220.0, 1.0).signal, Signal::Hold);
}

const SMA: Strategy = Strategy::SmaCross {
    fast: 2,
    slow: 3,
    allow_short: false,
};

#[test]
fn sma_cross_buys_on_cross_above() {
    // Hand computation: closes 5,4,3,3,6 -> on the last two bars
    // fast(2) = 3.0 then 4.5; slow(3) = 3.333.. then 4.0: from below to above.
    let d = SMA.decide(&bars(&[5.0, 4.0, 3.0, 3.0, 6.0]), 6.0, 0.0);
    assert_eq!(d.signal, Signal::Buy);
    assert_eq!(
        d.why,
        Why::CrossedAbove {
            fast: 4.5,
            slow: 4.0
        }
    );
    assert_eq!(
        SMA.decide(&bars(&[5.0, 4.0, 3.0, 3.0, 6.0]), 6.0, 1.0)
            .signal,
        Signal::Hold
    );
}

#[test]
fn sma_cross_sells_on_cross_below_only_when_long() {
    // closes 1,2,3,3,0: fast 3.0 -> 1.5, slow 2.667 -> 2.0: from above to below.
    let b = bars(&[1.0, 2.0, 3.0, 3.0, 0.0]);
    assert_eq!(SMA.decide(&b, 0.0, 1.0).signal, Signal::Sell);
    assert_eq!(SMA.decide(&b, 0.0, 0.0).why, Why::AlreadyFlat);
    let short = Strategy::SmaCross {
        fast: 2,
        slow: 3,
        allow_short: true,
    };
    assert_eq!(short.decide(&b, 0.0, 0.0).signal, Signal::Sell);
    assert_eq!(short.decide(&b, 0.0, -1.0).signal, Signal::Hold);
}

#[test]
fn sma_cross_waits_for_enough_bars_and_ignores_ties() {
    let d = SMA.decide(&bars(&[1.0, 2.0, 3.0]), 3.0, 0.0);
    assert_eq!(d.why, Why::WarmingUp { have: 3, need: 4 });
    // Previous bar ties (fast == slow), so no strict cross even though fast ends above.
    let d = SMA.decide(&bars(&[2.0, 2.0, 2.0, 2.0, 3.0]), 3.0, 0.0);
    assert_eq!(d.signal, Signal::Hold);
}

/// Closes of 100 with a high of 101 and a low of 99, daily: every feature is 0 but
/// `range_1` = (101 − 99) / 100 = 0.02.
fn flat_days(n: usize) -> Vec<Bar> {
    bars(&vec![100.0; n])
        .into_iter()
        .enumerate()
        .map(|(i, b)| Bar {
            time: Utc
                .timestamp_opt(1_700_000_000 + 86_400 * i as i64, 0)
                .unwrap(),
            high: 101.0,
            low: 99.0,
            ..b
        })
        .collect()
}

/// A predictor built from values: only `range_1` (index 8) weighs, by `w`.
fn range_model(w: f64) -> Strategy {
    let mut weights = [0.0; features::N_FEATURES];
    weights[8] = w;
    Strategy::Model {
        path: String::new(),
        threshold: 0.7,
        drift_limit: 0.0,
        max_age_days: None,
        trade_unvalidated: false,
        trained_until: None,
        model: Some(Arc::new(Predictor {
            timeframe: crate::domain::Timeframe::Day1,
            means: [0.0; features::N_FEATURES],
            stds: [1.0; features::N_FEATURES],
            weights,
            intercept: 0.0,
        })),
    }
}

#[test]
fn a_model_strategy_decides_from_an_in_memory_predictor_without_file_or_config() {
    assert_eq!(features::FEATURE_NAMES[8], "range_1");
    let b = flat_days(features::LOOKBACK);
    // η = 50 · 0.02 = 1, σ(1) = e / (1 + e) = 0.731058578630…, above 0.7: buy.
    let d = range_model(50.0).decide(&b, 100.0, 0.0);
    assert_eq!(d.signal, Signal::Buy);
    let Why::ModelUp { p, level } = d.why else {
        panic!("{:?}", d.why)
    };
    assert!((p - 0.731_058_578_630_005).abs() < 1e-12, "{p}");
    assert_eq!(level, 0.7);
    assert_eq!(d.why.to_string(), "model P(up) 0.7311 >= 0.7");
    // η = −1, σ(−1) = 0.268941421369…, at or below 1 − 0.7: exit a long, never short.
    let down = range_model(-50.0);
    assert_eq!(down.decide(&b, 100.0, 3.0).signal, Signal::Sell);
    assert_eq!(down.decide(&b, 100.0, 0.0).signal, Signal::Hold);
    // One bar short of the window: warming up.
    let d = range_model(50.0).decide(&b[1..], 100.0, 0.0);
    assert_eq!(d.why, Why::WarmingUp { have: 49, need: 50 });
}

/// [`range_model`] with its guards set: `range_1`'s training std is `std` (mean 0).
fn guarded(
    std: f64,
    drift_limit: f64,
    max_age_days: Option<u32>,
    trained_days_before: i64,
) -> Strategy {
    let Strategy::Model { model, .. } = range_model(50.0) else {
        unreachable!()
    };
    let mut p = (*model.unwrap()).clone();
    p.stds[8] = std;
    let last = flat_days(features::LOOKBACK).last().unwrap().time;
    Strategy::Model {
        path: String::new(),
        threshold: 0.7,
        drift_limit,
        max_age_days,
        trade_unvalidated: false,
        trained_until: Some(last - chrono::Duration::days(trained_days_before)),
        model: Some(Arc::new(p)),
    }
}

#[test]
fn a_feature_beyond_the_drift_limit_holds_with_its_name_z_and_limit() {
    let b = flat_days(features::LOOKBACK);
    // range_1 = 0.02 against a training mean 0 and std 0.004: z = 0.02 / 0.004 = 5 > 4.
    let d = guarded(0.004, 4.0, None, 0).decide(&b, 100.0, 0.0);
    assert_eq!(d.signal, Signal::Hold);
    let Why::FeatureDrift { feature, z, limit } = d.why else {
        panic!("{:?}", d.why)
    };
    assert_eq!((feature, limit), ("range_1", 4.0));
    assert!((z - 5.0).abs() < 1e-12, "{z}");
    assert!(d.why.to_string().starts_with(
        "feature drift: range_1 is +5.00 training standard deviations from its training mean, beyond drift_limit 4"
    ));
    // A long position is held too: the model is not trusted either way.
    assert_eq!(
        guarded(0.004, 4.0, None, 0).decide(&b, 100.0, 3.0).why,
        d.why
    );
    // Within the limit (z = 0.02 / 0.005 = 4, not beyond 4), or with the guard off, it decides.
    assert!(matches!(
        guarded(0.005, 4.0, None, 0).decide(&b, 100.0, 0.0).why,
        Why::ModelUp { .. } | Why::ModelUnsure { .. } | Why::ModelDownNotLong { .. }
    ));
    assert!(!matches!(
        guarded(0.004, 0.0, None, 0).decide(&b, 100.0, 0.0).why,
        Why::FeatureDrift { .. }
    ));
    // Predictor::drift: the furthest feature, signed.
    let Strategy::Model { model, .. } = guarded(0.004, 4.0, None, 0) else {
        unreachable!()
    };
    let mut x = [0.0; features::N_FEATURES];
    x[2] = -3.0;
    x[8] = 0.008;
    assert_eq!(model.unwrap().drift(&x), (2, -3.0));
}

#[test]
fn a_model_older_than_max_age_days_at_the_decided_bar_holds() {
    let b = flat_days(features::LOOKBACK);
    let d = guarded(1.0, 4.0, Some(30), 31).decide(&b, 100.0, 0.0);
    assert_eq!(d.signal, Signal::Hold);
    assert_eq!(
        d.why,
        Why::ModelTooOld {
            age_days: 31,
            max_days: 30
        }
    );
    assert!(d
        .why
        .to_string()
        .contains("31 days after its last training bar, max_age_days is 30"));
    // 30 days is not older than 30; no limit means no age check.
    assert_eq!(
        guarded(1.0, 4.0, Some(30), 30)
            .decide(&b, 100.0, 0.0)
            .signal,
        Signal::Buy
    );
    assert_eq!(
        guarded(1.0, 4.0, None, 3000).decide(&b, 100.0, 0.0).signal,
        Signal::Buy
    );
}

#[test]
fn decide_looks_only_at_the_bars_it_is_given() {
    let all = bars(&[5.0, 4.0, 3.0, 3.0, 6.0, 1.0, 1.0]);
    assert_eq!(SMA.decide(&all[..5], 6.0, 0.0).signal, Signal::Buy);
}

//! Training speed: `cargo bench --bench train` (harness = false; plain `Instant`).
//!
//! Prints the median (and min) wall time of the whole walk-forward `model::walk::run` (features
//! and labels for every bar, one fit per window, three backtests, the final fit) on:
//! * GOOG daily bars from tests/fixtures (2148, 2004–2013), rolling 756/126 and anchored;
//! * ten years of synthetic daily bars (2520), rolling 756/126 and anchored;
//! * one year of synthetic 1-minute session bars (98,280), rolling 19,500/3,900;
//!
//! and the cost of one decision as the tick makes it (`Strategy::decide` on 200 bars).
//! No assertions: the numbers are for people (docs/model.md has the ones measured).

#[path = "../tests/support/goog.rs"]
mod goog;

use chrono::{Duration, TimeZone, Utc};
use prometheus_bot::backtest::walk_forward::Plan;
use prometheus_bot::domain::{Bar, Timeframe};
use prometheus_bot::model::walk::{self, Params};
use prometheus_bot::strategy::Predictor;
use prometheus_bot::strategy::Strategy;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

/// `n` bars `step` apart of a seeded multiplicative random walk starting at 100.
fn synthetic(n: usize, step: Duration) -> Vec<Bar> {
    let t0 = Utc.with_ymd_and_hms(2016, 1, 4, 14, 30, 0).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut uniform = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut close = 100.0;
    (0..n)
        .map(|i| {
            let open = close;
            close = open * (1.0 + 0.03 * (uniform() - 0.5));
            Bar {
                time: t0 + step * i as i32,
                open,
                high: open.max(close) * 1.002,
                low: open.min(close) * 0.998,
                close,
                volume: 1e6 * (0.5 + uniform()),
                trades: 0,
                vwap: f64::NAN,
            }
        })
        .collect()
}

/// Median and min seconds of `runs` calls of `f`.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, f64) {
    let mut secs: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_secs_f64()
        })
        .collect();
    secs.sort_by(f64::total_cmp);
    (secs[runs / 2], secs[0])
}

fn report(what: &str, runs: usize, (median, min): (f64, f64), unit: &str) {
    let k = if unit == "us" { 1e6 } else { 1e3 };
    println!(
        "{what:<62} median {:>9.3} {unit}   min {:>9.3} {unit}   ({runs} runs)",
        median * k,
        min * k
    );
}

fn params(timeframe: Timeframe, train: usize, test: usize, anchored: bool) -> Params {
    Params {
        timeframe,
        horizon: 5,
        commission: 0.002,
        l2: 1.0,
        threshold: 0.55,
        plan: Plan {
            train,
            test,
            anchored,
        },
        sma: Strategy::SmaCross {
            fast: 10,
            slow: 30,
            allow_short: false,
        },
        rule: walk::Rule::Strict,
    }
}

fn bench_walk(label: &str, bars: &[Bar], p: &Params, runs: usize) {
    let windows = walk::run(bars, p).unwrap().windows.len();
    let label = format!("{label} ({} bars, {windows} windows)", bars.len());
    report(
        &label,
        runs,
        time(runs, || walk::run(black_box(bars), p)),
        "ms",
    );
}

fn main() {
    let day = Timeframe::Day1;
    let goog = goog::goog(5);
    bench_walk(
        "GOOG daily, rolling 756/126",
        &goog,
        &params(day, 756, 126, false),
        21,
    );
    bench_walk(
        "GOOG daily, anchored 756/126",
        &goog,
        &params(day, 756, 126, true),
        21,
    );
    let ten_years = synthetic(2520, Duration::days(1));
    let rolling = params(day, 756, 126, false);
    bench_walk("10 years daily, rolling 756/126", &ten_years, &rolling, 21);
    bench_walk(
        "10 years daily, anchored 756/126",
        &ten_years,
        &params(day, 756, 126, true),
        21,
    );
    let minutes = synthetic(98_280, Duration::minutes(1));
    let intraday = params(Timeframe::Min1, 19_500, 3_900, false);
    bench_walk(
        "1 year of 1-min bars, rolling 19500/3900",
        &minutes,
        &intraday,
        3,
    );

    // One tick's decision: features over the last 50 of 200 bars, a dot product, a sigmoid.
    let report_ = walk::run(&ten_years, &rolling).unwrap();
    let strategy = Strategy::Model {
        path: String::new(),
        threshold: 0.55,
        // The live default: the drift guard's per-feature check is part of a tick's decision.
        drift_limit: prometheus_bot::strategy::DEFAULT_DRIFT_LIMIT,
        max_age_days: None,
        trade_unvalidated: false,
        model: Some(Arc::new(Predictor::from_fit(&report_.final_fit, day))),
        trained_until: None,
    };
    let tail = &ten_years[ten_years.len() - 200..];
    let runs = 100_001;
    report(
        "Strategy::Model decide on 200 bars (one tick)",
        runs,
        time(runs, || strategy.decide(black_box(tail), 100.0, 0.0)),
        "us",
    );
}

//! Backtest speed: `cargo bench --bench backtest` (harness = false; plain `Instant`).
//!
//! Prints the median (and min) wall time of N runs of:
//! * `engine::run` on GOOG daily bars (2148) with SmaCross 10/20, long-only and
//!   stop-and-reverse, commission 0.002, and `metrics::of_run` on the result;
//! * the same on 1,000,000 synthetic 1-minute bars (a seeded random walk, 24/7);
//! * `portfolio::run` + `scoring::portfolio` (what the command runs) on GOOG;
//! * the 50-combination sweep of backtesting.py's quick start (`n1=range(5, 30, 5)`,
//!   `n2=range(10, 70, 5)`, `n1 < n2`, ranked by SQN) on all cores and on one;
//! * the 1,000,000-bar series written to a bar-cache file, then load + run + metrics.
//!
//! No assertions: the numbers are for people (docs/backtest.md has the ones measured).
//! Whole-process timings are in scripts/bench-backtest.sh.

#[path = "../tests/support/goog.rs"]
mod goog;

use chrono::{Duration, TimeZone, Utc};
use prometheus_bot::backtest::engine::{self, Settings};
use prometheus_bot::backtest::metrics;
use prometheus_bot::backtest::params::parse_axis;
use prometheus_bot::backtest::portfolio::{self, Leg, Segment};
use prometheus_bot::backtest::scoring::{self, RankBy};
use prometheus_bot::backtest::sweep::{self, Input};
use prometheus_bot::domain::Bar;
use prometheus_bot::domain::Timeframe;
use prometheus_bot::store::bar_cache::{BarCache, CacheMeta};
use prometheus_bot::strategy::Strategy;
use std::hint::black_box;
use std::time::Instant;

/// `n` one-minute bars of a seeded multiplicative random walk starting at 100.
fn synthetic(n: usize) -> Vec<Bar> {
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut uniform = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut close = 100.0;
    (0..n)
        .map(|i| {
            let open = close;
            close = open * (1.0 + 0.002 * (uniform() - 0.5));
            Bar {
                time: t0 + Duration::minutes(i as i64),
                open,
                high: open.max(close) * 1.0005,
                low: open.min(close) * 0.9995,
                close,
                volume: 1000.0,
                trades: 10,
                vwap: (open + close) / 2.0,
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

fn report(what: &str, runs: usize, (median, min): (f64, f64)) {
    println!(
        "{what:<58} median {:>10.3} ms   min {:>10.3} ms   ({runs} runs)",
        median * 1e3,
        min * 1e3
    );
}

fn main() {
    let settings = Settings {
        commission: 0.002,
        ..Settings::default()
    };
    let long_only = Strategy::SmaCross {
        fast: 10,
        slow: 20,
        allow_short: false,
    };
    let reverse = Strategy::SmaCross {
        fast: 10,
        slow: 20,
        allow_short: true,
    };

    let bars = goog::goog(0);
    for (name, strategy) in [("long-only", &long_only), ("stop-and-reverse", &reverse)] {
        let runs = 201;
        let label = format!(
            "GOOG {} bars, SmaCross 10/20 {name}: engine::run",
            bars.len()
        );
        report(
            &label,
            runs,
            time(runs, || engine::run(black_box(&bars), strategy, &settings)),
        );
        let out = engine::run(&bars, strategy, &settings);
        let label = format!(
            "GOOG {} bars, SmaCross 10/20 {name}: metrics::of_run",
            bars.len()
        );
        report(
            &label,
            runs,
            time(runs, || metrics::of_run(black_box(&bars), &out)),
        );
        let label = format!(
            "GOOG {} bars, SmaCross 10/20 {name}: run + metrics",
            bars.len()
        );
        report(
            &label,
            runs,
            time(runs, || {
                metrics::of_run(&bars, &engine::run(&bars, strategy, &settings))
            }),
        );
    }

    // Without commission, so that the random walk keeps trading all the way through.
    let settings = Settings::default();
    let big = synthetic(1_000_000);
    for (name, strategy) in [("long-only", &long_only), ("stop-and-reverse", &reverse)] {
        let runs = 11;
        let out = engine::run(&big, strategy, &settings);
        let label = format!("1M 1-min bars, SmaCross 10/20 {name}: engine::run");
        report(
            &label,
            runs,
            time(runs, || engine::run(black_box(&big), strategy, &settings)),
        );
        let label = format!(
            "1M 1-min bars ({} trades): metrics::of_run",
            out.trades.len()
        );
        report(
            &label,
            runs,
            time(runs, || metrics::of_run(black_box(&big), &out)),
        );
    }

    // What `prometheus-bot backtest` runs: the portfolio simulator and its scoring.
    let settings = Settings {
        commission: 0.002,
        ..Settings::default()
    };
    let schedule = Segment::always(long_only.clone());
    let legs = [Leg {
        bars: &bars,
        schedule: &schedule,
        sizing: None,
        protection: None,
    }];
    let runs = 201;
    report(
        "GOOG, SmaCross 10/20 long-only: portfolio::run + scoring",
        runs,
        time(runs, || {
            let out = portfolio::run(black_box(&legs), &settings);
            scoring::portfolio(&[&bars], &out)
        }),
    );
    let inputs = [Input {
        bars: &bars,
        strategy: long_only.clone(),
        sizing: None,
        protection: None,
    }];
    let axes = [
        parse_axis("fast=5..30:5").unwrap(),
        parse_axis("slow=10..70:5").unwrap(),
    ];
    for threads in [scoring::cores(), 1] {
        let result = sweep::run(&inputs, &axes, &settings, RankBy::default(), threads).unwrap();
        let best = result.best().unwrap();
        let label = format!(
            "GOOG sweep, {} combinations, {threads} thread(s) (best {:?}, SQN {:.6})",
            result.rows.len(),
            best.values,
            best.score
        );
        report(
            &label,
            21,
            time(21, || {
                sweep::run(&inputs, &axes, &settings, RankBy::default(), threads)
            }),
        );
    }

    // The grid: every fast 2..=100 × slow 5..=198 with fast < slow, 14,550
    // combinations, each SMA window computed once for all of them.
    let axes = [
        parse_axis("fast=2..101").unwrap(),
        parse_axis("slow=5..199").unwrap(),
    ];
    let threads = scoring::cores();
    let result = sweep::run(&inputs, &axes, &settings, RankBy::default(), threads).unwrap();
    let best = result.best().unwrap();
    let label = format!(
        "GOOG sweep, {} combinations, {threads} thread(s) (best {:?}, SQN {:.6})",
        result.rows.len(),
        best.values,
        best.score
    );
    report(
        &label,
        7,
        time(7, || {
            sweep::run(&inputs, &axes, &settings, RankBy::default(), threads)
        }),
    );

    // A million minute bars from a cache file: load + simulate + score.
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    // Prices in cents and a 4-decimal VWAP, as real minute bars have.
    let cents: Vec<Bar> = big
        .iter()
        .map(|b| {
            let c = |x: f64| (x * 100.0).round() / 100.0;
            let (open, close) = (c(b.open), c(b.close));
            Bar {
                open,
                close,
                high: c(b.high).max(open).max(close),
                low: c(b.low).min(open).min(close),
                vwap: (b.vwap * 1e4).round() / 1e4,
                ..*b
            }
        })
        .collect();
    cache
        .replace("SYN", Timeframe::Min1, &cents, &CacheMeta::default())
        .unwrap();
    let size = std::fs::metadata(cache.path("SYN", Timeframe::Min1))
        .unwrap()
        .len();
    let settings = Settings::default();
    let schedule = Segment::always(long_only.clone());
    let runs = 7;
    report(
        &format!("1M bars: BarCache::load ({:.0} MB)", size as f64 / 1e6),
        runs,
        time(runs, || cache.load("SYN", Timeframe::Min1).unwrap()),
    );
    report(
        "1M bars: load + portfolio::run + scoring (SmaCross 10/20)",
        runs,
        time(runs, || {
            let bars = cache.load("SYN", Timeframe::Min1).unwrap();
            let legs = [Leg {
                bars: &bars,
                schedule: &schedule,
                sizing: None,
                protection: None,
            }];
            let out = portfolio::run(&legs, &settings);
            scoring::portfolio(&[&bars], &out)
        }),
    );
}

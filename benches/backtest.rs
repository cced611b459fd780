//! Backtest speed: `cargo bench --bench backtest` (harness = false; plain `Instant`).
//!
//! Prints the median (and min) wall time of N runs of:
//! * `engine::run` on GOOG daily bars (2148) with SmaCross 10/20, long-only and
//!   stop-and-reverse, commission 0.002, and `metrics::of_run` on the result;
//! * the same on 1,000,000 synthetic 1-minute bars (a seeded random walk, 24/7).
//!
//! No assertions: the numbers are for people (see docs/metrics.md for the ones measured).

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use prometheus_bot::backtest::engine::{self, Settings};
use prometheus_bot::backtest::metrics;
use prometheus_bot::domain::Bar;
use prometheus_bot::strategy::Strategy;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

fn goog() -> Vec<Bar> {
    let rel = Path::new("tests/fixtures/GOOG.csv");
    let path = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel),
        Path::new(file!()).parent().unwrap().join("..").join(rel),
    ]
    .into_iter()
    .find(|p| p.exists())
    .expect("tests/fixtures/GOOG.csv");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| f[i].parse::<f64>().unwrap();
            let date = NaiveDate::parse_from_str(f[0], "%Y-%m-%d").unwrap();
            Bar {
                time: date.and_hms_opt(0, 0, 0).unwrap().and_utc(),
                open: num(1),
                high: num(2),
                low: num(3),
                close: num(4),
                volume: num(5),
                trades: 0,
                vwap: f64::NAN,
            }
        })
        .collect()
}

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

    let bars = goog();
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
}

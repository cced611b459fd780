//! Parity with backtesting.py 0.6.6 on GOOG daily bars (the data shipped in its package).
//!
//! `tests/fixtures/backtesting_py_goog.json` was produced by
//! `scripts/backtesting_py_reference.sh` (SmaCross 10/20, cash 10 000, all-in sizing). Every
//! case there is run through `backtest::engine::run` with `Strategy::SmaCross` and must give
//! the same trades (bars, sizes, prices exactly; PnL, returns and commissions to 1e-9
//! relative), the same open trade, the same equity at every bar (1e-9 relative) and every
//! `compute_stats` metric to 1e-9 relative (durations and counts exactly; NaN where the library
//! has NaN). Bars are dated at midnight UTC.

#[path = "support/goog.rs"]
mod goog;

use chrono::{DateTime, Utc};
use prometheus_bot::backtest::engine::{self, Fill, Settings, Sizing};
use prometheus_bot::backtest::metrics::{self, Metrics};
use prometheus_bot::strategy::Strategy;
use serde_json::Value;
use std::path::Path;

const REL: f64 = 1e-9;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let path = if path.exists() {
        path
    } else {
        // The same files when this test is compiled from another crate (a scratch copy).
        Path::new(file!())
            .parent()
            .unwrap()
            .join("fixtures")
            .join(name)
    };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn time_str(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The fixture's JSON with every number turned into a string, so that numbers are parsed by
/// Rust's correctly rounded `str::parse` (serde_json's default float parser can be one ulp off
/// on 17-digit numbers, and "identical prices" means identical bits).
fn numbers_as_strings(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 5 / 4);
    let (mut in_string, mut escaped, mut in_number) = (false, false, false);
    for c in json.chars() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if in_number && !matches!(c, '0'..='9' | '.' | 'e' | 'E' | '+' | '-') {
            out.push('"');
            in_number = false;
        } else if !in_number && (c == '-' || c.is_ascii_digit()) {
            out.push('"');
            in_number = true;
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    if in_number {
        out.push('"');
    }
    out
}

/// A fixture number (a string after [`numbers_as_strings`]); null is NaN.
fn f(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|e| panic!("{s}: {e}")),
        Value::Number(n) => n.as_f64().unwrap(),
        _ => f64::NAN,
    }
}

fn close_enough(ours: f64, theirs: f64) -> bool {
    (ours.is_nan() && theirs.is_nan())
        || ours == theirs
        || (ours - theirs).abs() <= REL * ours.abs().max(theirs.abs())
}

fn rel_err(ours: f64, theirs: f64) -> f64 {
    if (ours.is_nan() && theirs.is_nan()) || ours == theirs {
        0.0
    } else {
        (ours - theirs).abs() / ours.abs().max(theirs.abs())
    }
}

fn days(d: Option<chrono::Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.num_nanoseconds().unwrap() as f64 / 86_400e9)
}

/// The value of one library stat in our `Metrics`, as the fixture stores it.
fn ours(m: &Metrics, label: &str) -> Value {
    let num = |x: f64| {
        if x.is_nan() {
            Value::Null
        } else {
            Value::from(x)
        }
    };
    let dur = |d: Option<chrono::Duration>| num(days(d));
    match label {
        "Start" => Value::from(time_str(m.start)),
        "End" => Value::from(time_str(m.end)),
        "Duration" => dur(Some(m.duration)),
        "Exposure Time [%]" => num(m.exposure_time_pct),
        "Equity Final [$]" => num(m.equity_final),
        "Equity Peak [$]" => num(m.equity_peak),
        "Commissions [$]" => num(m.commissions),
        "Return [%]" => num(m.return_pct),
        "Buy & Hold Return [%]" => num(m.buy_hold_return_pct),
        "Return (Ann.) [%]" => num(m.return_ann_pct),
        "Volatility (Ann.) [%]" => num(m.volatility_ann_pct),
        "CAGR [%]" => num(m.cagr_pct),
        "Sharpe Ratio" => num(m.sharpe_ratio),
        "Sortino Ratio" => num(m.sortino_ratio),
        "Calmar Ratio" => num(m.calmar_ratio),
        "Alpha [%]" => num(m.alpha_pct),
        "Beta" => num(m.beta),
        "Max. Drawdown [%]" => num(m.max_drawdown_pct),
        "Avg. Drawdown [%]" => num(m.avg_drawdown_pct),
        "Max. Drawdown Duration" => dur(m.max_drawdown_duration),
        "Avg. Drawdown Duration" => dur(m.avg_drawdown_duration),
        "# Trades" => Value::from(m.trades),
        "Win Rate [%]" => num(m.win_rate_pct),
        "Best Trade [%]" => num(m.best_trade_pct),
        "Worst Trade [%]" => num(m.worst_trade_pct),
        "Avg. Trade [%]" => num(m.avg_trade_pct),
        "Max. Trade Duration" => dur(m.max_trade_duration),
        "Avg. Trade Duration" => dur(m.avg_trade_duration),
        "Profit Factor" => num(m.profit_factor),
        "Expectancy [%]" => num(m.expectancy_pct),
        "SQN" => num(m.sqn),
        "Kelly Criterion" => num(m.kelly_criterion),
        other => panic!("stat {other} is not mapped"),
    }
}

fn settings_of(case: &Value) -> Settings {
    let s = &case["settings"];
    Settings {
        cash: f(&s["cash"]),
        commission: f(&s["commission"]),
        commission_fixed: f(&s["commission_fixed"]),
        slippage_bps: f(&s["spread"]) * 10_000.0,
        fill: if s["trade_on_close"].as_bool().unwrap() {
            Fill::Close
        } else {
            Fill::NextOpen
        },
        sizing: Sizing::ALL_IN,
        close_at_end: s["finalize_trades"].as_bool().unwrap(),
        guards: None,
        protection: Default::default(),
    }
}

#[test]
fn goog_sma_cross_matches_backtesting_py() {
    let bars = goog::goog(0);
    let reference: Value =
        serde_json::from_str(&numbers_as_strings(&fixture("backtesting_py_goog.json"))).unwrap();
    assert_eq!(reference["versions"]["backtesting"], "0.6.6");
    assert_eq!(bars.len() as f64, f(&reference["data"]["bars"]));
    let cases = reference["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for required in [
        "long_only_comm_0.002",
        "long_only_comm_0",
        "stop_and_reverse_comm_0.002",
        "stop_and_reverse_comm_0",
    ] {
        assert!(names.contains(&required), "fixture lacks {required}");
    }

    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let st = &case["strategy"];
        let strategy = Strategy::SmaCross {
            fast: f(&st["fast"]) as usize,
            slow: f(&st["slow"]) as usize,
            allow_short: st["allow_short"].as_bool().unwrap(),
        };
        let settings = settings_of(case);
        settings.validate().unwrap();
        let out = engine::run(&bars, &strategy, &settings);
        let mut fail = |what: String| failures.push(format!("{name}: {what}"));

        // Trades: bars, sizes and prices exactly; money to 1e-9.
        let want = case["trades"].as_array().unwrap();
        if out.trades.len() != want.len() {
            fail(format!(
                "{} trades, library has {}",
                out.trades.len(),
                want.len()
            ));
        }
        for (k, (t, w)) in out.trades.iter().zip(want).enumerate() {
            let exact = [
                (t.entry_bar as f64, f(&w["EntryBar"]), "EntryBar"),
                (t.exit_bar as f64, f(&w["ExitBar"]), "ExitBar"),
                (t.size, f(&w["Size"]), "Size"),
                (t.entry_price, f(&w["EntryPrice"]), "EntryPrice"),
                (t.exit_price, f(&w["ExitPrice"]), "ExitPrice"),
            ];
            for (a, b, what) in exact {
                if a != b {
                    fail(format!("trade {k} {what}: {a} vs {b}"));
                }
            }
            for (a, b, what) in [
                (t.pnl, f(&w["PnL"]), "PnL"),
                (t.return_pct, f(&w["ReturnPct"]), "ReturnPct"),
                (t.commission, f(&w["Commission"]), "Commission"),
            ] {
                if !close_enough(a, b) {
                    fail(format!("trade {k} {what}: {a} vs {b}"));
                }
            }
            if time_str(t.entry_time) != w["EntryTime"] || time_str(t.exit_time) != w["ExitTime"] {
                fail(format!(
                    "trade {k} times {} {} vs {} {}",
                    t.entry_time, t.exit_time, w["EntryTime"], w["ExitTime"]
                ));
            }
        }

        // The trade left open at the end.
        let open: Vec<_> = out.open_trade.iter().collect();
        let want_open = case["open_trades"].as_array().unwrap();
        if open.len() != want_open.len() {
            fail(format!(
                "{} open trades, library has {}",
                open.len(),
                want_open.len()
            ));
        }
        for (t, w) in open.iter().zip(want_open) {
            if (t.entry_bar as f64, t.size, t.entry_price)
                != (f(&w["EntryBar"]), f(&w["Size"]), f(&w["EntryPrice"]))
            {
                fail(format!("open trade {t:?} vs {w}"));
            }
        }

        // Equity at every bar.
        let want_eq: Vec<f64> = case["equity"].as_array().unwrap().iter().map(f).collect();
        assert_eq!(out.equity.len(), want_eq.len(), "{name}");
        let worst = out
            .equity
            .iter()
            .zip(&want_eq)
            .map(|(&a, &b)| rel_err(a, b))
            .fold(0.0, f64::max);
        let identical = (out.equity.iter().zip(&want_eq))
            .filter(|(a, b)| a.to_bits() == b.to_bits())
            .count();
        if worst > REL {
            fail(format!("equity differs by {worst:e} relative"));
        }

        // Every metric, in the library's order and with its labels.
        let m = metrics::of_run(&bars, &out).unwrap();
        let order: Vec<&str> = case["stats_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let labels: Vec<&str> = m.rows().iter().map(|r| r.0).collect();
        if labels != order {
            fail(format!("rows {labels:?} vs library {order:?}"));
        }
        let mut worst_metric = (0.0, "");
        for &label in &order {
            let (a, b) = (ours(&m, label), &case["stats"][label]);
            let ok = match label {
                "Start" | "End" => a == *b,
                _ if label.contains("Duration") || label == "# Trades" => {
                    f(&a) == f(b) || (a.is_null() && b.is_null())
                }
                _ => {
                    let e = rel_err(f(&a), f(b));
                    if e > worst_metric.0 {
                        worst_metric = (e, label);
                    }
                    close_enough(f(&a), f(b))
                }
            };
            if !ok {
                fail(format!("{label}: ours {a}, library {b}"));
            }
        }
        let same_bits = |l: &str| {
            let (a, b) = (ours(&m, l), &case["stats"][l]);
            a == *b || f(&a).to_bits() == f(b).to_bits() || (a.is_null() && b.is_null())
        };
        let inexact: Vec<&str> = order.iter().copied().filter(|&l| !same_bits(l)).collect();
        let exact_trades = (out.trades.iter().zip(want))
            .filter(|(t, w)| {
                t.pnl.to_bits() == f(&w["PnL"]).to_bits()
                    && t.return_pct.to_bits() == f(&w["ReturnPct"]).to_bits()
                    && t.commission.to_bits() == f(&w["Commission"]).to_bits()
            })
            .count();
        println!(
            "{name}: {exact_trades}/{} trades bit-identical; equity bit-identical on \
             {identical}/{} bars, max rel err {worst:e}; {} metrics, not bit-identical: \
             {inexact:?}, max rel err {:e} ({})",
            out.trades.len(),
            want_eq.len(),
            order.len(),
            worst_metric.0,
            worst_metric.1
        );
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

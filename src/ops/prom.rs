//! The Prometheus text file (node_exporter textfile-collector convention), rendered purely
//! from a [`Snapshot`] and written atomically by the caller so the collector never reads half.

use super::OpsState;
use std::fmt::Write;

/// What one file shows.
pub struct Snapshot<'a> {
    pub tick_time_secs: i64,
    pub tick_duration_secs: f64,
    pub tick_ok: bool,
    pub kill_switch: bool,
    pub halted: bool,
    pub daily_loss: bool,
    pub ops: &'a OpsState,
}

/// Text exposition format 0.0.4; every family has HELP and TYPE, counters end in `_total`.
pub fn render(s: &Snapshot<'_>) -> String {
    let mut out = String::with_capacity(2048);
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP prometheus_bot_{name} {help}");
        let _ = writeln!(out, "# TYPE prometheus_bot_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "prometheus_bot_{name}{labels} {}", number(*value));
        }
    };
    let one = |v: f64| vec![(String::new(), v)];
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    family(
        "last_tick_timestamp_seconds",
        "gauge",
        "Broker time of the last tick, Unix seconds.",
        &one(s.tick_time_secs as f64),
    );
    family(
        "last_tick_duration_seconds",
        "gauge",
        "Wall time of the last tick.",
        &one(s.tick_duration_secs),
    );
    family(
        "last_tick_success",
        "gauge",
        "1 if the last tick succeeded (a hold or a closed market is a success).",
        &one(flag(s.tick_ok)),
    );
    let ticks: Vec<(String, f64)> = s
        .ops
        .ticks
        .iter()
        .map(|(k, v)| (format!("{{result=\"{}\"}}", escape(k)), *v as f64))
        .collect();
    family("ticks_total", "counter", "Ticks run, by result.", &ticks);
    if let Some(open) = s.ops.market_open {
        family(
            "market_open",
            "gauge",
            "1 if the market was open at the last tick.",
            &one(flag(open)),
        );
    }
    if let Some(e) = s.ops.equity {
        family(
            "equity_dollars",
            "gauge",
            "Account equity at the last reading.",
            &one(e),
        );
    }
    if let Some(c) = s.ops.cash {
        family(
            "cash_dollars",
            "gauge",
            "Account cash at the last reading.",
            &one(c),
        );
    }
    let positions: Vec<(String, f64)> = s
        .ops
        .positions
        .iter()
        .map(|(k, v)| (format!("{{symbol=\"{}\"}}", escape(k)), *v))
        .collect();
    family(
        "position_shares",
        "gauge",
        "Signed position per configured symbol.",
        &positions,
    );
    let unprotected: Vec<(String, f64)> = s
        .ops
        .unprotected
        .keys()
        .map(|k| (format!("{{symbol=\"{}\"}}", escape(k)), 1.0))
        .collect();
    family(
        "unprotected_positions",
        "gauge",
        "Open positions whose configured stop or target is not resting at the broker.",
        &one(unprotected.len() as f64),
    );
    family(
        "position_unprotected",
        "gauge",
        "1 for each open position whose configured stop or target is not resting at the broker.",
        &unprotected,
    );
    family(
        "orders_submitted_total",
        "counter",
        "Orders sent to the broker and accepted.",
        &one(s.ops.orders_submitted as f64),
    );
    family(
        "orders_refused_total",
        "counter",
        "Orders refused by a guard or by the broker.",
        &one(s.ops.orders_refused as f64),
    );
    family(
        "fills_total",
        "counter",
        "Executions recorded in fills.csv.",
        &one(s.ops.fills as f64),
    );
    let errors: Vec<(String, f64)> = s
        .ops
        .errors
        .iter()
        .map(|(k, v)| (format!("{{kind=\"{}\"}}", escape(k)), *v as f64))
        .collect();
    family(
        "errors_total",
        "counter",
        "Failed ticks, by error kind.",
        &errors,
    );
    let guards = vec![
        ("{guard=\"kill_switch\"}".to_string(), flag(s.kill_switch)),
        ("{guard=\"drawdown_halt\"}".to_string(), flag(s.halted)),
        ("{guard=\"daily_loss\"}".to_string(), flag(s.daily_loss)),
    ];
    family(
        "guard_active",
        "gauge",
        "1 while a guard stops trading.",
        &guards,
    );
    family(
        "missed_ticks_total",
        "counter",
        "Ticks missed during market hours (one a minute expected).",
        &one(s.ops.missed_ticks as f64),
    );
    out
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_and_type_and_counters_end_in_total() {
        let mut ops = OpsState::default();
        ops.ticks.insert("ok".into(), 3);
        ops.errors.insert("network".into(), 1);
        ops.positions.insert("BRK.B".into(), -2.0);
        ops.equity = Some(100_011.5);
        let text = render(&Snapshot {
            tick_time_secs: 1_764_000_000,
            tick_duration_secs: 0.0042,
            tick_ok: true,
            kill_switch: false,
            halted: true,
            daily_loss: false,
            ops: &ops,
        });
        assert!(text.contains("prometheus_bot_position_shares{symbol=\"BRK.B\"} -2\n"));
        assert!(text.contains("prometheus_bot_guard_active{guard=\"drawdown_halt\"} 1\n"));
        assert!(text.contains("prometheus_bot_equity_dollars 100011.5\n"));
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let parts: Vec<&str> = line.split(' ').collect();
            if parts[3] == "counter" {
                assert!(parts[2].ends_with("_total"), "{line}");
            }
        }
        let helps = text.lines().filter(|l| l.starts_with("# HELP")).count();
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(helps, types);
    }
}

//! What `backtest` prints on stdout: the metrics table (backtesting.py's labels and display),
//! the sweep's best rows, the walk-forward windows. Each is rendered to text here and printed
//! by the caller through [`crate::out`] only once every file is written, so that
//! `backtest ... | head -1` still leaves them all.

use super::output;
use super::Context;
use crate::backtest::metrics::Metrics;
use crate::backtest::params::{self, Axis};
use crate::backtest::portfolio::PortfolioOutcome;
use crate::backtest::scoring;
use crate::backtest::sweep;
use crate::backtest::walk_forward;

pub(super) fn describe_values(axes: &[Axis], values: &[f64]) -> String {
    axes.iter()
        .zip(values)
        .map(|(a, v)| format!("{}={}", a.name, params::format_value(*v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Rows of (label, one value per metrics column), in backtesting.py's order.
pub(crate) fn metric_rows(columns: &[Option<&Metrics>]) -> Vec<Vec<String>> {
    let Some(first) = columns.iter().flatten().next() else {
        return Vec::new();
    };
    let mut labels: Vec<&str> = first.rows().iter().map(|r| r.0).collect();
    if !labels.contains(&"Commissions [$]")
        && columns.iter().flatten().any(|m| m.commissions != 0.0)
    {
        labels.insert(6, "Commissions [$]");
    }
    labels
        .into_iter()
        .map(|label| {
            let mut row = vec![label.to_string()];
            for m in columns {
                let value =
                    m.and_then(|m| m.rows().into_iter().find(|r| r.0 == label).map(|r| r.1));
                row.push(value.unwrap_or_else(|| {
                    if label == "Commissions [$]" {
                        "0.0".into()
                    } else {
                        "--".into()
                    }
                }));
            }
            row
        })
        .collect()
}

/// The table's lines, columns aligned (the first left, the rest right), each ending in `\n`.
pub(crate) fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    let mut line = |cells: &[String]| {
        let mut s = String::new();
        for (c, w) in width.iter().enumerate() {
            let cell = cells.get(c).map_or("", String::as_str);
            if c == 0 {
                s.push_str(&format!("{cell:<w$}"));
            } else {
                s.push_str(&format!("  {cell:>w$}"));
            }
        }
        text.push_str(s.trim_end());
        text.push('\n');
    };
    if header.len() > 2 || !header[0].is_empty() {
        line(header);
    }
    for r in rows {
        line(r);
    }
    text
}

/// The metrics table of one run, then a line for refused orders and each position still open.
pub(super) fn metrics_text(
    ctx: &Context<'_>,
    out: &PortfolioOutcome,
    metrics: Option<&Metrics>,
) -> String {
    let legs: Vec<Option<Metrics>> = if out.legs.len() > 1 {
        (0..out.legs.len())
            .map(|k| scoring::leg(ctx.bars[k], out, k))
            .collect()
    } else {
        Vec::new()
    };
    let mut header = vec![String::new()];
    let mut columns = vec![metrics];
    if legs.is_empty() {
        header.push(String::new());
    } else {
        header[0] = "Metric".into();
        header.push("Portfolio".into());
        header.extend(ctx.names.iter().cloned());
        columns.extend(legs.iter().map(Option::as_ref));
    }
    let mut text = table(&header, &metric_rows(&columns));
    if let Some(first) = out.refusals.first() {
        text.push_str(&format!(
            "risk guards stopped {} order(s); the first: {} on {}: {}\n",
            out.refusals.len(),
            ctx.names[first.leg],
            output::time_cell(ctx.bars[first.leg][first.bar].time),
            first.reason
        ));
    }
    for (name, leg) in ctx.names.iter().zip(&out.legs) {
        if let Some(t) = leg.open_trade {
            text.push_str(&format!(
                "{name}: a {} position of {} from {} is still open (marked to market, not counted as a trade)\n",
                if t.size > 0.0 { "long" } else { "short" },
                params::format_value(t.size.abs()),
                output::time_cell(t.entry_time)
            ));
        }
    }
    text
}

/// The sweep's `n` best rows.
pub(super) fn sweep_top(sweep: &sweep::Sweep, n: usize) -> String {
    let mut header = vec!["#".to_string()];
    header.extend(sweep.axes.iter().map(|a| a.name.clone()));
    header.extend([
        sweep.rank.label.to_string(),
        "Trades".into(),
        "Return [%]".into(),
    ]);
    let rows: Vec<Vec<String>> = sweep
        .rows
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, r)| {
            let mut row = vec![(i + 1).to_string()];
            row.extend(r.values.iter().map(|v| params::format_value(*v)));
            row.push(if r.score.is_nan() {
                "--".into()
            } else {
                format!("{:.5}", r.score)
            });
            row.push(r.metrics.map_or(0, |m| m.trades).to_string());
            row.push(
                r.metrics
                    .map_or("--".into(), |m| format!("{:.3}", m.return_pct)),
            );
            row
        })
        .collect();
    table(&header, &rows)
}

pub(super) fn windows_table(
    wf: &walk_forward::WalkForward,
    axes: &[Axis],
) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = ["#", "Train", "Test"].map(String::from).to_vec();
    header.extend(axes.iter().map(|a| a.name.clone()));
    header.extend([
        "In-sample score".to_string(),
        "OOS score".into(),
        "OOS return [%]".into(),
    ]);
    let day = |i: usize| wf.outcome.times[i].format("%Y-%m-%d").to_string();
    let f = |v: f64| {
        if v.is_finite() {
            format!("{v:.3}")
        } else {
            "--".into()
        }
    };
    let rows = wf
        .windows
        .iter()
        .enumerate()
        .map(|(k, w)| {
            let (tr, te) = (&w.window.train, &w.window.test);
            let mut row = vec![
                (k + 1).to_string(),
                format!("{} .. {}", day(tr.start), day(tr.end - 1)),
                format!("{} .. {}", day(te.start), day(te.end - 1)),
            ];
            for i in 0..axes.len() {
                row.push(
                    w.chosen
                        .as_ref()
                        .map_or("(kept)".into(), |c| params::format_value(c[i])),
                );
            }
            row.extend([
                f(w.in_sample_score),
                f(w.out_of_sample_score),
                f(w.out_of_sample_return_pct),
            ]);
            row
        })
        .collect();
    (header, rows)
}

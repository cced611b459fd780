//! The files `backtest` leaves in its output folder, written through `out_dir` (this module
//! does no file I/O of its own): trades.csv and equity.csv (on a second thread; equity.csv is
//! the big one, its back rows formatted on the main thread once that is done), metrics.json,
//! report.html, and sweep.csv or walk_forward.csv. It prints nothing: the caller prints once
//! every file is written.

use super::output;
use super::print::{describe_values, metric_rows, windows_table};
use super::share::{self, Share};
use super::{ms, Context};
use crate::backtest::engine::Fill;
use crate::backtest::metrics::Metrics;
use crate::backtest::params::{self, Axis};
use crate::backtest::portfolio::PortfolioOutcome;
use crate::backtest::scoring;
use crate::backtest::sweep;
use crate::backtest::walk_forward;
use crate::cmd::out_dir;
use crate::error::Result;
use crate::report;
use crate::strategy::Strategy;
use serde_json::json;
use std::time::Instant;

pub(super) enum Extra<'a> {
    None,
    Sweep(&'a sweep::Sweep),
    WalkForward {
        wf: &'a walk_forward::WalkForward,
        axes: &'a [Axis],
        in_sample: Option<&'a Metrics>,
        full_best: Option<String>,
    },
}

/// What [`write_run`] leaves for the caller to print.
pub(super) struct Written {
    pub metrics: Option<Metrics>,
    /// "wrote DIR (trades.csv, ...)", the last line of the command's output.
    pub note: String,
}

/// Write every file; `metrics` computes the metrics while trades.csv, equity.csv, the big
/// one (a line per bar), and a sweep's sweep.csv are built and written on another thread.
/// The main thread, its own files written, formats the back half of the equity rows that
/// thread has not reached ([`Share`]). Returns only when every file is written.
pub(super) fn write_run(
    ctx: &Context<'_>,
    out: &PortfolioOutcome,
    metrics: impl FnOnce() -> Option<Metrics>,
    strategies: &[Strategy],
    extra: Extra<'_>,
) -> Result<Written> {
    let dir = &ctx.dir;
    out_dir::create(dir)?;
    let from = match &extra {
        Extra::WalkForward { wf, .. } => wf.oos_start,
        _ => 0,
    };
    let csv = &output::EquityCsv {
        names: ctx.names,
        out,
        from,
    };
    let share = &Share::new(csv.steps(), share::BLOCK);
    let (equity_written, metrics, rest) = std::thread::scope(|scope| {
        // The back's rows come a megabyte at a time with the step after each piece; the
        // written buffers go back to be filled again.
        let (back_tx, back_rx) = std::sync::mpsc::channel::<(usize, Vec<u8>)>();
        let (spent_tx, spent_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let extra = &extra;
        let equity = scope.spawn(move || {
            // trades.csv first, on this thread: work given to it can come back to the main
            // thread as equity rows (`Share`), work left on the main thread cannot.
            let t = Instant::now();
            out_dir::write(
                dir,
                "trades.csv",
                output::trades_csv(ctx.names, ctx.bars, out).as_bytes(),
            )?;
            log::info!("trades.csv in {:.1} ms", ms(t));
            let t = Instant::now();
            out_dir::write_with(dir, "equity.csv", |w| {
                csv.write(w, || share.front())?;
                // The back rows the main thread formats, written as they come; those it did
                // not take (or, had it stopped, did not send) are formatted here. Once the
                // front has reached the end, the back can no longer be taken: nothing to wait
                // for (a sweep's few rows; its sweep.csv comes next on this thread).
                let back = share.rest();
                let mut written = back.start;
                if !back.is_empty() {
                    for (next, mut piece) in back_rx.iter() {
                        w.write_all(&piece)?;
                        written = next;
                        piece.clear();
                        let _ = spent_tx.send(piece);
                    }
                }
                w.write_all(&csv.text(written..back.end))
            })?;
            log::info!("equity.csv in {:.1} ms", ms(t));
            // A sweep's every row (14,550 of them for the grid), beside the report.
            if let Extra::Sweep(s) = extra {
                out_dir::write(dir, "sweep.csv", output::sweep_csv(s).as_bytes())?;
            }
            Ok::<_, crate::error::Error>(())
        });
        let metrics = metrics();
        let rest = write_rest(ctx, out, metrics.as_ref(), strategies, extra, from);
        // Done first: take the back of equity.csv's rows off the writer.
        if let Some(steps) = share.back() {
            let t = Instant::now();
            let rows = steps.len();
            csv.text_in_pieces(
                steps,
                output::CHUNK,
                || spent_rx.try_recv().ok(),
                |next, piece| back_tx.send((next, piece)).is_ok(),
            );
            log::info!(
                "{rows} equity.csv rows formatted for the writer in {:.1} ms",
                ms(t)
            );
        }
        drop(back_tx);
        (
            equity
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            metrics,
            rest,
        )
    });
    equity_written?;
    rest?;
    let mut files = vec!["trades.csv", "equity.csv", "metrics.json", "report.html"];
    match extra {
        Extra::Sweep(_) => files.push("sweep.csv"),
        Extra::WalkForward { .. } => files.push("walk_forward.csv"),
        Extra::None => {}
    }
    Ok(Written {
        metrics,
        note: format!("\nwrote {} ({})\n", dir.display(), files.join(", ")),
    })
}

fn write_rest(
    ctx: &Context<'_>,
    out: &PortfolioOutcome,
    metrics: Option<&Metrics>,
    strategies: &[Strategy],
    extra: &Extra<'_>,
    from: usize,
) -> Result<()> {
    let plan = ctx.plan;
    let dir = &ctx.dir;
    let t = Instant::now();
    let multi = out.legs.len() > 1;
    let leg_metrics: Vec<Option<Metrics>> = if multi {
        (0..out.legs.len())
            .map(|k| scoring::leg(ctx.bars[k], out, k))
            .collect()
    } else {
        Vec::new()
    };
    let symbols: Vec<serde_json::Value> = plan
        .symbols
        .iter()
        .zip(strategies)
        .zip(&out.legs)
        .enumerate()
        .map(|(k, ((s, strategy), leg))| {
            json!({
                "symbol": s.name,
                "strategy": output::strategy_json(strategy),
                "sizing": format!("{:?}", s.sizing),
                "bars": ctx.bars[k].len(),
                "trades": leg.trades.len(),
                "open_trade": leg.open_trade.map(|t| json!({
                    "entry_time": output::time_cell(t.entry_time),
                    "size": t.size,
                    "entry_price": t.entry_price,
                    "unrealized_pnl": t.unrealized_pnl,
                })),
                "pending_signal": leg.pending.map(|s| s.as_str()),
                "metrics": leg_metrics.get(k).and_then(|m| m.as_ref()).map(output::metrics_json),
            })
        })
        .collect();
    let st = &plan.settings;
    let mut doc = json!({
        "generator": "prometheus-bot backtest",
        "timeframe": plan.timeframe.as_str(),
        "settings": {
            "cash": st.cash,
            "commission": st.commission,
            "commission_fixed": st.commission_fixed,
            "slippage_bps": st.slippage_bps,
            "fill": if st.fill == Fill::NextOpen { "next-open" } else { "close" },
            "close_at_end": st.close_at_end,
        },
        "symbols": symbols,
        "risk_guards": st.guards.map(|g| json!({
            "max_position_qty": g.max_position_qty,
            "max_order_notional": g.max_order_notional,
            "max_orders_per_day": g.max_orders_per_day,
            "max_daily_loss_pct": g.max_daily_loss_pct,
            "max_drawdown_pct": g.max_drawdown_pct,
            "refused": out.refusals.len(),
            "first_refusals": out.refusals.iter().take(20).map(|r| json!({
                "symbol": ctx.names[r.leg],
                "time": output::time_cell(ctx.bars[r.leg][r.bar].time),
                "reason": r.reason,
            })).collect::<Vec<_>>(),
        })),
        "metrics": metrics.map(output::metrics_json),
    });
    let mut windows = None;
    let mut notes = Vec::new();
    let mut title_mode = String::new();
    match extra {
        Extra::None => {}
        Extra::Sweep(s) => {
            doc["sweep"] = json!({
                "rank": s.rank.label,
                "combinations": s.rows.len(),
                "skipped": s.skipped,
                "best": s.best().map(|b| describe_values(&s.axes, &b.values)),
            });
            title_mode = " (best of a sweep)".into();
        }
        Extra::WalkForward {
            wf,
            axes,
            in_sample,
            full_best,
        } => {
            let names: Vec<String> = axes.iter().map(|a| a.name.clone()).collect();
            out_dir::write(
                dir,
                "walk_forward.csv",
                output::walk_forward_csv(wf, &names).as_bytes(),
            )?;
            doc["in_sample"] = in_sample.map_or(serde_json::Value::Null, output::metrics_json);
            doc["walk_forward"] = json!({
                "train": wf.plan.train,
                "test": wf.plan.test,
                "anchored": wf.plan.anchored,
                "windows": wf.windows.len(),
                "out_of_sample_start": output::time_cell(wf.outcome.times[wf.oos_start]),
                "in_sample_best": full_best,
            });
            windows = Some(windows_table(wf, axes));
            notes.push(format!(
                "Out-of-sample: each test window traded with the parameters chosen on the window before it; the charts start at the first test bar. \
                 In-sample: the best of the same grid over all the bars ({}), which saw the future it is scored on.",
                full_best.as_deref().unwrap_or("none traded")
            ));
            title_mode = " (walk-forward, out of sample)".into();
        }
    }
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out_dir::write(dir, "metrics.json", text.as_bytes())?;
    log::info!("metrics.json in {:.1} ms", ms(t));
    let t = Instant::now();

    let (metrics_header, metrics_rows) = match extra {
        Extra::WalkForward { in_sample, .. } => (
            vec!["Metric".into(), "In-sample".into(), "Out-of-sample".into()],
            metric_rows(&[*in_sample, metrics]),
        ),
        _ => {
            let mut header = vec![
                "Metric".to_string(),
                if multi {
                    "Portfolio".into()
                } else {
                    "Value".into()
                },
            ];
            let mut cols = vec![metrics];
            if multi {
                header.extend(ctx.names.iter().cloned());
                cols.extend(leg_metrics.iter().map(Option::as_ref));
            }
            (header, metric_rows(&cols))
        }
    };
    let strategies_text: Vec<String> = ctx
        .names
        .iter()
        .zip(strategies)
        .map(|(n, s)| match extra {
            // `strategies` hold the last window's choice: "the" strategy would misname a run
            // whose parameters changed at every window.
            Extra::WalkForward { axes, .. } => format!(
                "{n}: {} with {} re-chosen for each test window (see the windows table)",
                params::kind_of(s),
                axes.iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => format!("{n}: {} {}", params::kind_of(s), params::describe(s)),
        })
        .collect();
    let first = out
        .times
        .get(from)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let last = out
        .times
        .last()
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let html = report::backtest::page(&report::backtest::Input {
        title: format!("Backtest {} {}{title_mode}", ctx.names.join(", "), plan.timeframe),
        subtitle: format!(
            "{first} to {last}; {}; cash {}, commission {} + ${} per fill, slippage {} bps, {} fills",
            strategies_text.join("; "),
            st.cash,
            st.commission,
            st.commission_fixed,
            st.slippage_bps,
            if st.fill == Fill::NextOpen { "next-open" } else { "close" }
        ),
        names: ctx.names,
        bars: ctx.bars,
        outcome: out,
        from,
        metrics_header,
        metrics_rows,
        sweep: match extra {
            Extra::Sweep(s) => Some(s),
            _ => None,
        },
        windows,
        notes,
    });
    out_dir::write(dir, "report.html", html.as_bytes())?;
    log::info!("report.html in {:.1} ms", ms(t));
    Ok(())
}

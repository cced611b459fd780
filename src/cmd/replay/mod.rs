//! `prometheus-bot replay`: the real tick ([`tick::run_with`], unchanged) run once per bar over
//! cached bars, against the simulated broker [`Sim`], in a data folder of its own.
//!
//! Arguments are checked first (usage errors exit 2); then the bars (the config's cache, or the
//! embedded sample, [`sample`]), the replay folder ([`folder`]: never the live data folder, and
//! only a previous replay's is replaced), the config the ticks run with ([`derive`]), the ticks,
//! and last the files the person reads: the dashboard, then the metrics table on stdout
//! ([`score`]), so `replay | head -1` loses no file.
//!
//! # When the ticks run
//!
//! At every bar's **open** (for several symbols, the union of their bar times): the moment the
//! previous bar's decision can be acted on. For contiguous minute bars that is the previous
//! bar's close; for daily bars the session open, 09:30 New York. The tick then sees the bars the
//! backtest decides on (every bar closed by then) and, with next-open fills, a latest trade that
//! is the opening print, which is the price its market order fills at in [`Sim`] at once. So the
//! replay makes the backtest's trades: decided on bar `i`'s close, filled at `Open[i+1]` (or at
//! `Close[i]` with `--fill close`). The first tick is at the open of the bar after the first one
//! the backtest decides on (its warm-up plus one, backtesting.py's convention, which never acts
//! on the very first bar): before it, the bars only warm the strategy up. A last tick runs at
//! the last bar's close to record the last fills (as a dry run if the market is still open
//! then: the backtest never fills an order decided on the last bar either).
//!
//! # What the ticks run with
//!
//! The config's strategies, sizing and `[risk]` size, value, count, loss and drawdown guards
//! (as `backtest --risk` applies them), in a derived config: the data folder is `--out`; no
//! metrics file, webhook or per-tick dashboard (the dashboard is rendered once at the end: it
//! reads the whole history, so per tick it would make the replay quadratic); and the
//! freshness guards that judge a live feed (price age, missing bars, close margin) off, because
//! history is complete by construction and a decision on a day's last bar is acted on at the
//! next session's open, which those guards would refuse as stale.
//!
//! The replay's folder is disposable, so it writes without fsync (`files::set_durable`).

mod folder;
mod sample;
mod score;

use super::tick;
use crate::backtest::engine::Fill;
use crate::backtest::fill_model::FillModel;
use crate::broker::sim::{Sim, SimSettings};
use crate::broker::Broker;
use crate::cli::ReplayArgs;
use crate::config::Config;
use crate::domain::{Bar, Timeframe};
use crate::error::{Error, Result};
use crate::risk::Limits;
use crate::store::bar_cache::BarCache;
use crate::store::ledger::{time_cell, Ledger};
use crate::store::rows::{FillKind, FillRow};
use crate::store::{files, TickLock};
use chrono::{DateTime, Duration, Utc};
use score::{Execution, Timeline};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use folder::MARKER;

/// What `replay` was asked to do, checked.
struct Plan {
    fill: Fill,
    cash: f64,
    from: Option<DateTime<Utc>>,
    /// Exclusive: the day after `--to`.
    until: Option<DateTime<Utc>>,
}

pub fn run(config_path: &Path, args: &ReplayArgs) -> Result<()> {
    let plan = plan(args)?;
    let (config, timeframe, symbols, live) = if args.sample {
        sample_source(args, &plan)?
    } else {
        config_source(config_path, args, &plan)?
    };
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None if args.sample => PathBuf::from("data").join("replay"),
        None => config
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join("data")
            .join("replay"),
    };
    folder::prepare(&out, live.as_deref())?;
    // From here on only the disposable replay folder is written.
    files::set_durable(false);
    if std::env::var_os("RUST_LOG").is_none() {
        // Each tick logs its fills and orders at info, and warns that the simulated clock is
        // years off the machine's: thousands of lines nobody reads. Errors still end the run.
        log::set_max_level(log::LevelFilter::Error);
    }
    if args.sample {
        let path = out.join("sample-config.toml");
        std::fs::write(&path, sample::config_text()).map_err(|e| Error::io(&path, "write", e))?;
    }
    let derived = derive(&config, &out, timeframe, &symbols);
    let legs: Vec<(&str, &[Bar])> = symbols.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
    let started = Instant::now();
    let run = replay(&derived, &legs, timeframe, &plan)?;
    let elapsed = started.elapsed();

    crate::cmd::report::write_report(&derived, run.end);
    let fills = read_fills(&out.join("ledger"))?;
    let trades = score::round_trips(&fills, &run.timeline, plan.fill);
    let bars: Vec<&[Bar]> = legs.iter().map(|(_, b)| *b).collect();
    let strategies: Vec<&crate::strategy::Strategy> =
        derived.symbols.iter().map(|s| &s.strategy).collect();
    let metrics = score::metrics(&bars, &strategies, &run.timeline, &run.equity, &trades);

    let mut text = crate::cmd::backtest::print::table(
        &[String::new(), String::new()],
        &crate::cmd::backtest::print::metric_rows(&[metrics.as_ref()]),
    );
    let ticks = run.ticks.max(1);
    text.push_str(&format!(
        "\nReplayed {} {timeframe} bars of {} through the real tick against the simulated broker: {} ticks in {:.2} s ({:.0} µs per tick), {} fills, final equity {:.2}\n",
        run.timeline.times.len(),
        legs.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
        run.ticks,
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / ticks as f64,
        fills.len(),
        run.equity.last().copied().unwrap_or(plan.cash),
    ));
    let ledger = out.join("ledger");
    text.push_str(&format!(
        "ledgers: {} (decisions.csv, orders.csv, fills.csv, equity.csv)\ndashboard: {}\n",
        ledger.display(),
        crate::cmd::report::dashboard_path(&derived).display()
    ));
    crate::out::text(&text)
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

fn plan(args: &ReplayArgs) -> Result<Plan> {
    let fill: Fill = args.fill.parse().map_err(usage)?;
    if !(args.cash > 0.0 && args.cash.is_finite()) {
        return Err(usage(format!("--cash must be > 0, is {}", args.cash)));
    }
    let (from, until) = crate::cmd::day_range((&args.from, "--from"), (&args.to, "--to"))?;
    Ok(Plan {
        fill,
        cash: args.cash,
        from,
        until,
    })
}

type Source = (Config, Timeframe, Vec<(String, Vec<Bar>)>, Option<PathBuf>);

/// The embedded sample: its config, its bars; no live folder to protect.
fn sample_source(args: &ReplayArgs, plan: &Plan) -> Result<Source> {
    if args.symbol.iter().any(|s| s != sample::SYMBOL) {
        return Err(usage(format!(
            "--sample replays {} only; drop --symbol, or replay your own cached bars without --sample",
            sample::SYMBOL
        )));
    }
    if args.timeframe.as_deref().is_some_and(|t| t != "1Day") {
        return Err(usage("--sample holds daily bars only (1Day)"));
    }
    let config = sample::config(Path::new("sample-config.toml"))?;
    let bars = window(sample::bars()?, plan, sample::SYMBOL, Timeframe::Day1)?;
    Ok((
        config,
        Timeframe::Day1,
        vec![(sample::SYMBOL.to_string(), bars)],
        None,
    ))
}

/// The config's symbols (or the `--symbol` ones among them) and their cached bars.
fn config_source(config_path: &Path, args: &ReplayArgs, plan: &Plan) -> Result<Source> {
    let config = Config::load_with(config_path, true)?;
    let timeframe = match &args.timeframe {
        Some(t) => t.parse().map_err(Error::Usage)?,
        None => config.bot.timeframe,
    };
    let names: Vec<String> = if args.symbol.is_empty() {
        config.symbols.iter().map(|s| s.name.clone()).collect()
    } else {
        args.symbol.clone()
    };
    for name in &names {
        if !config.symbols.iter().any(|s| &s.name == name) {
            return Err(usage(format!(
                "--symbol {name} is not in {}: the replay trades it with its [[symbol]] strategy and sizing",
                config.path.display()
            )));
        }
    }
    let cache = BarCache::new(&config.bot.data_dir);
    let mut symbols = Vec::new();
    for name in names {
        let bars = cache.load(&name, timeframe)?;
        if bars.is_empty() {
            return Err(Error::Refused(format!(
                "no cached {timeframe} bars for {name} ({} is missing or empty): run `prometheus-bot fetch {name} --timeframe {timeframe}` \
                 or `prometheus-bot import FILE --symbol {name} --timeframe {timeframe}` first, or try `prometheus-bot replay --sample`",
                cache.path(&name, timeframe).display()
            )));
        }
        let bars = window(bars, plan, &name, timeframe)?;
        symbols.push((name, bars));
    }
    let live = Some(config.bot.data_dir.clone());
    Ok((config, timeframe, symbols, live))
}

/// The bars within `--from` / `--to`.
fn window(mut bars: Vec<Bar>, plan: &Plan, name: &str, tf: Timeframe) -> Result<Vec<Bar>> {
    let total = bars.len();
    if let Some(f) = plan.from {
        bars.drain(..bars.partition_point(|b| b.time < f));
    }
    if let Some(u) = plan.until {
        bars.truncate(bars.partition_point(|b| b.time < u));
    }
    if bars.is_empty() {
        return Err(Error::Refused(format!(
            "none of the {total} {tf} bars of {name} falls between --from and --to"
        )));
    }
    Ok(bars)
}

/// The config the replay's ticks run with; see the module docs.
fn derive(
    config: &Config,
    out: &Path,
    timeframe: Timeframe,
    symbols: &[(String, Vec<Bar>)],
) -> Config {
    let mut c = config.clone();
    c.bot.data_dir = out.to_path_buf();
    c.bot.log_dir = out.join("logs");
    c.bot.timeframe = timeframe;
    c.symbols
        .retain(|s| symbols.iter().any(|(name, _)| *name == s.name));
    c.ops.prom_file = None;
    c.ops.webhook_url = None;
    c.ops.dashboard = false;
    // A tick per bar, not per minute: a gap between bars is not a missed tick.
    c.ops.missed_tick_minutes = u32::MAX;
    let limits = &mut c.risk.limits;
    limits.max_price_age_secs = Limits::NONE.max_price_age_secs;
    limits.max_missing_bars = Limits::NONE.max_missing_bars;
    limits.close_margin = Limits::NONE.close_margin;
    c
}

/// What the ticks left for the score.
struct Replayed {
    timeline: Timeline,
    /// The account at each step's close: cash and positions from the simulated broker, each
    /// position at its bar's close (backtest's equity curve).
    equity: Vec<f64>,
    ticks: usize,
    /// The simulated clock at the end.
    end: DateTime<Utc>,
}

fn replay(
    config: &Config,
    legs: &[(&str, &[Bar])],
    tf: Timeframe,
    plan: &Plan,
) -> Result<Replayed> {
    let mut labels: Vec<DateTime<Utc>> = legs
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|b| b.time))
        .collect();
    labels.sort();
    labels.dedup();
    let settings = SimSettings {
        cash: plan.cash,
        fill: plan.fill,
        costs: FillModel::default(),
        shorting: true,
    };
    let first = labels.first().copied().unwrap_or_default();
    let mut sim = Sim::new(settings, first - Duration::days(1));
    for (name, bars) in legs {
        sim.load_bars(name, tf, bars.to_vec());
    }
    let at = |t: DateTime<Utc>| Bar {
        time: t,
        open: 0.0,
        high: 0.0,
        low: 0.0,
        close: 0.0,
        volume: 0.0,
        trades: 0,
        vwap: 0.0,
    };
    let timeline = Timeline {
        opens: labels.iter().map(|&t| sim.bar_open(tf, &at(t))).collect(),
        closes: labels.iter().map(|&t| sim.bar_close(tf, &at(t))).collect(),
        times: labels,
    };
    let first_tick = first_tick(config, legs, &timeline);
    let lock = TickLock::acquire(&config.bot.data_dir)?;
    let mut cursors = vec![0usize; legs.len()];
    let mut equity = Vec::with_capacity(timeline.times.len());
    let mut ticks = 0;
    let tick_at = |sim: &Sim, dry_run: bool| -> Result<()> {
        // The tick's own error (and exit code) stands; the log says which tick it was.
        let ticked =
            tick::run_with(config, dry_run, sim, &lock, Instant::now()).inspect_err(|_| {
                log::error!(
                    "the replayed tick at {} UTC (simulated clock) failed; the run stops here",
                    time_cell(sim.now())
                )
            })?;
        if ticked.unknown_outcomes > 0 {
            return Err(Error::Refused(format!(
                "the replayed tick at {} UTC left {} order(s) with an unknown outcome",
                time_cell(sim.now()),
                ticked.unknown_outcomes
            )));
        }
        Ok(())
    };
    for (step, &label) in timeline.times.iter().enumerate() {
        sim.set_now(timeline.opens[step])?;
        if step >= first_tick {
            tick_at(&sim, false)?;
            ticks += 1;
        }
        let held = positions(&sim)?;
        let mut e = sim.cash();
        for (k, (name, bars)) in legs.iter().enumerate() {
            while cursors[k] < bars.len() && bars[cursors[k]].time <= label {
                cursors[k] += 1;
            }
            let qty = held.iter().find(|(s, _)| s == name).map_or(0.0, |p| p.1);
            if qty != 0.0 {
                if let Some(bar) = cursors[k].checked_sub(1).map(|i| bars[i]) {
                    e += qty * bar.close;
                }
            }
        }
        equity.push(e);
    }
    if let Some(&end) = timeline.closes.iter().max() {
        sim.set_now(end)?;
        let open = sim.clock()?.is_open;
        tick_at(&sim, open)?;
        ticks += 1;
    }
    let end = sim.now();
    Ok(Replayed {
        timeline,
        equity,
        ticks,
        end,
    })
}

/// The step of the first tick: the bar after the earliest first decision bar of the backtest
/// (`library_warmup + 1`) over the symbols.
fn first_tick(config: &Config, legs: &[(&str, &[Bar])], timeline: &Timeline) -> usize {
    legs.iter()
        .filter_map(|(name, bars)| {
            let strategy = &config.symbols.iter().find(|s| s.name == *name)?.strategy;
            let decided = crate::backtest::engine::library_warmup(strategy, bars.len()) + 1;
            let bar = bars.get(decided + 1)?;
            Some(timeline.times.partition_point(|&t| t < bar.time))
        })
        .min()
        .unwrap_or(timeline.times.len())
}

/// Signed shares per symbol the simulated broker holds.
fn positions(sim: &Sim) -> Result<Vec<(String, f64)>> {
    Ok(sim
        .positions()?
        .into_iter()
        .map(|p| (p.symbol, p.qty.to_f64()))
        .collect())
}

/// The executions in the replay's `fills.csv`, read as the ledger's typed rows (rows that
/// record how an order ended, or a share adjustment, are not trades).
fn read_fills(ledger_dir: &Path) -> Result<Vec<Execution>> {
    let Some(ledger) = Ledger::<FillRow>::read_only(ledger_dir)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for row in ledger.read_all()? {
        let Ok(FillKind::Execution { side, activity_id }) = row.kind() else {
            continue;
        };
        let Some(price) = &row.price else {
            return Err(Error::Refused(format!(
                "{}: execution {activity_id} has no price",
                ledger_dir.join("fills.csv").display()
            )));
        };
        out.push(Execution {
            time: row.time_utc,
            symbol: row.symbol.clone(),
            side,
            qty: row.qty.to_f64(),
            price: price.to_f64(),
        });
    }
    Ok(out)
}

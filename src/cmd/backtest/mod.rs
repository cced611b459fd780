//! `prometheus-bot backtest`: the tick's strategies over cached bars, as one portfolio; or a
//! parameter sweep; or a walk-forward.
//!
//! Arguments are checked before anything is read (usage mistakes exit 2), then the bars come
//! from the cache (a missing file exits 1 and says how to fill it), the pure simulator runs,
//! the files go to `--out`, and only then the tables to stdout: a closed stdout
//! (`backtest ... | head -1`) must not cost a file. The strategy of each symbol is
//! the config's `[[symbol]]` strategy, the very value the tick hands to `Strategy::decide`,
//! unless `--strategy`/`--param` override it. This module does no file I/O of its own: the
//! cache loads the bars and `out_dir` writes the results.

mod args;
mod files;
mod output;
pub(crate) mod print;
mod share;

use super::out_dir;
use crate::backtest::metrics::Metrics;
use crate::backtest::params::Axis;
use crate::backtest::portfolio::{self, Leg, PortfolioOutcome, Segment};
use crate::backtest::scoring::{self, Ahead, Closes};
use crate::backtest::sweep::{self, Input};
use crate::backtest::walk_forward::{self, Plan as WalkPlan};
use crate::cli::BacktestArgs;
use crate::config::Config;
use crate::domain::Bar;
use crate::error::{Error, Result};
use crate::out;
use crate::progress;
use crate::store::bar_cache::BarCache;
use crate::strategy::{Smas, Strategy};
use args::{Mode, Plan};
use chrono::Utc;
use files::{write_run, Extra};
use print::{describe_values, metric_rows, metrics_text, sweep_top, table, windows_table};
use std::path::PathBuf;
use std::time::Instant;

pub fn run(config: &Config, args: &BacktestArgs) -> Result<()> {
    let plan = args::plan(config, args)?;
    let cache = BarCache::new(&config.bot.data_dir);
    let started = Instant::now();
    let mut all_bars = Vec::with_capacity(plan.symbols.len());
    for s in &plan.symbols {
        all_bars.push(load(&cache, &s.name, &plan)?);
    }
    log::info!("loaded bars in {:.1} ms", ms(started));
    let bars: Vec<&[Bar]> = all_bars.iter().map(Vec::as_slice).collect();
    let names: Vec<String> = plan.symbols.iter().map(|s| s.name.clone()).collect();
    let inputs: Vec<Input<'_>> = plan
        .symbols
        .iter()
        .zip(&bars)
        .map(|(s, b)| Input {
            bars: b,
            strategy: s.strategy.clone(),
            sizing: Some(s.sizing),
            protection: Some(s.protection),
        })
        .collect();
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => out_dir::timestamped(&config.bot.data_dir.join("backtests"), Utc::now()),
    };
    let ctx = Context {
        plan: &plan,
        names: &names,
        bars: &bars,
        dir,
    };
    match &plan.mode {
        Mode::Single => single(&ctx, &inputs),
        Mode::Sweep(axes) => run_sweep(&ctx, &inputs, axes),
        Mode::WalkForward(wf, axes) => run_walk_forward(&ctx, &inputs, *wf, axes),
    }
}

struct Context<'a> {
    plan: &'a Plan,
    names: &'a [String],
    bars: &'a [&'a [Bar]],
    dir: PathBuf,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// A symbol's cached bars within --start/--end.
fn load(cache: &BarCache, symbol: &str, plan: &Plan) -> Result<Vec<Bar>> {
    let tf = plan.timeframe;
    let mut bars = cache.load(symbol, tf)?;
    if bars.is_empty() {
        return Err(Error::Refused(format!(
            "no cached {tf} bars for {symbol} ({} is missing or empty): run `prometheus-bot fetch {symbol} --timeframe {tf}` \
             or `prometheus-bot import FILE --symbol {symbol} --timeframe {tf}` first",
            cache.path(symbol, tf).display()
        )));
    }
    let total = bars.len();
    if let Some(s) = plan.start {
        bars.drain(..bars.partition_point(|b| b.time < s));
    }
    if let Some(e) = plan.end {
        bars.truncate(bars.partition_point(|b| b.time < e));
    }
    if bars.is_empty() {
        return Err(Error::Refused(format!(
            "none of the {total} cached {tf} bars for {symbol} falls between --start and --end"
        )));
    }
    Ok(bars)
}

// ---- the three modes --------------------------------------------------------------------

fn legs<'a>(inputs: &[Input<'a>], schedules: &'a [Vec<Segment>]) -> Vec<Leg<'a>> {
    inputs
        .iter()
        .zip(schedules)
        .map(|(i, schedule)| Leg {
            bars: i.bars,
            schedule,
            sizing: i.sizing,
            protection: i.protection,
        })
        .collect()
}

fn single(ctx: &Context<'_>, inputs: &[Input<'_>]) -> Result<()> {
    let strategies: Vec<Strategy> = inputs.iter().map(|i| i.strategy.clone()).collect();
    let (out, ahead) = simulate(ctx, inputs, &strategies);
    let written = write_run(
        ctx,
        &out,
        || score(ctx, &out, ahead.as_ref()),
        &strategies,
        Extra::None,
    )?;
    out::text(&metrics_text(ctx, &out, written.metrics.as_ref()))?;
    out::text(&written.note)
}

/// The run of `strategies`, and for one symbol the metrics' half that its bars alone decide
/// ([`Ahead`]), built on the other core while the simulation runs on this one.
fn simulate<'a>(
    ctx: &Context<'a>,
    inputs: &[Input<'_>],
    strategies: &[Strategy],
) -> (PortfolioOutcome, Option<Ahead<'a>>) {
    let schedules: Vec<Vec<Segment>> = strategies
        .iter()
        .map(|s| Segment::always(s.clone()))
        .collect();
    let t = Instant::now();
    let legs = legs(inputs, &schedules);
    let settings = &ctx.plan.settings;
    let (out, ahead) = match ctx.bars {
        // One symbol: its closes are read once, for the indicators (each summed on both cores
        // when long) and then the benchmark, built on the other core while the loop runs.
        [bars] => {
            let closes = Closes::of(bars);
            // A plain SmaCross keeps only its pair's order on each bar, not the two series.
            let pair = match legs[0].schedule[0].strategy {
                Strategy::SmaCross { fast, slow, .. } if portfolio::is_one_leg(&legs, settings) => {
                    Smas::cross_only(closes.values(), fast, slow)
                }
                _ => None,
            };
            let smas = [pair.unwrap_or_else(|| {
                Smas::of_closes(closes.values(), portfolio::leg_windows(&legs[0]))
            })];
            std::thread::scope(|scope| {
                let ahead = scope.spawn(|| Ahead::new(closes));
                // The run's timeline is the bars' times `Ahead` gathered.
                let mut built = None;
                let out = portfolio::run_with_timeline(&legs, settings, &smas, || {
                    let mut ahead = ahead
                        .join()
                        .unwrap_or_else(|e| std::panic::resume_unwind(e));
                    let times = ahead.take_times();
                    built = Some(ahead);
                    times
                });
                (out, built)
            })
        }
        _ => (portfolio::run(&legs, settings), None),
    };
    log::info!("simulated in {:.1} ms", ms(t));
    (out, ahead)
}

/// The metrics (computed while `write_run` writes equity.csv), through `ahead` when it was
/// built for these bars.
fn score(ctx: &Context<'_>, out: &PortfolioOutcome, ahead: Option<&Ahead<'_>>) -> Option<Metrics> {
    let t = Instant::now();
    let metrics = ahead
        .and_then(|a| a.metrics(ctx.bars, out))
        .unwrap_or_else(|| scoring::portfolio(ctx.bars, out));
    log::info!("metrics in {:.1} ms", ms(t));
    metrics
}

fn run_sweep(ctx: &Context<'_>, inputs: &[Input<'_>], axes: &[Axis]) -> Result<()> {
    let plan = ctx.plan;
    let t = Instant::now();
    let shown = progress::stderr();
    let result = sweep::run_showing(
        inputs,
        axes,
        &plan.settings,
        plan.rank,
        plan.threads,
        shown.as_ref(),
    )
    .map_err(Error::Usage)?;
    let mut text = format!(
        "Sweep: {} combinations ({} skipped by the strategy's rules), ranked by {}, {} threads, {:.1} ms\n",
        result.rows.len(),
        result.skipped,
        plan.rank.label,
        plan.threads,
        ms(t)
    );
    text.push_str(&sweep_top(&result, 10));
    let Some(best) = result.best() else {
        out_dir::create(&ctx.dir)?;
        out_dir::write(&ctx.dir, "sweep.csv", output::sweep_csv(&result).as_bytes())?;
        out::text(&text)?;
        return Err(Error::Refused(format!(
            "no combination closed a trade; sweep.csv is in {}",
            ctx.dir.display()
        )));
    };
    let strategies = best.strategies.clone();
    text.push_str(&format!(
        "\nBest: {}\n",
        describe_values(axes, &best.values)
    ));
    // The best combination's protection too, when a protective key was swept.
    let best_inputs: Vec<Input<'_>> = inputs
        .iter()
        .zip(&best.protections)
        .map(|(i, &protection)| Input {
            protection,
            ..i.clone()
        })
        .collect();
    let (out, ahead) = simulate(ctx, &best_inputs, &strategies);
    let written = write_run(
        ctx,
        &out,
        || score(ctx, &out, ahead.as_ref()),
        &strategies,
        Extra::Sweep(&result),
    )?;
    text.push_str(&metrics_text(ctx, &out, written.metrics.as_ref()));
    out::text(&text)?;
    out::text(&written.note)
}

fn run_walk_forward(
    ctx: &Context<'_>,
    inputs: &[Input<'_>],
    wf_plan: WalkPlan,
    axes: &[Axis],
) -> Result<()> {
    let plan = ctx.plan;
    let t = Instant::now();
    let shown = progress::stderr();
    let wf = walk_forward::run_showing(
        inputs,
        axes,
        &plan.settings,
        plan.rank,
        wf_plan,
        plan.threads,
        shown.as_ref(),
    )
    .map_err(Error::Usage)?;
    // The number a plain optimisation would report: the best of the grid over all the bars.
    let full = sweep::run_showing(
        inputs,
        axes,
        &plan.settings,
        plan.rank,
        plan.threads,
        shown.as_ref(),
    )
    .map_err(Error::Usage)?;
    let mut text = format!(
        "Walk-forward: {} windows (train {} bars, test {} bars, {}), ranked by {}, {:.1} ms\n",
        wf.windows.len(),
        wf_plan.train,
        wf_plan.test,
        if wf_plan.anchored {
            "anchored"
        } else {
            "rolling"
        },
        plan.rank.label,
        ms(t)
    );
    let (header, rows) = windows_table(&wf, axes);
    text.push_str(&table(&header, &rows));
    let in_sample = full
        .best()
        .and_then(|b| sweep::evaluate_row(inputs, b, &plan.settings));
    let header = vec![
        "Metric".to_string(),
        "In-sample (best of full-period sweep)".into(),
        "Out-of-sample (walk-forward)".into(),
    ];
    let rows = metric_rows(&[in_sample.as_ref(), wf.out_of_sample.as_ref()]);
    text.push('\n');
    text.push_str(&table(&header, &rows));
    let strategies: Vec<Strategy> = walk_forward::final_strategies(&wf)
        .into_iter()
        .zip(inputs)
        .map(|(s, i)| s.cloned().unwrap_or_else(|| i.strategy.clone()))
        .collect();
    let written = write_run(
        ctx,
        &wf.outcome,
        || wf.out_of_sample,
        &strategies,
        Extra::WalkForward {
            wf: &wf,
            axes,
            in_sample: in_sample.as_ref(),
            full_best: full.best().map(|b| describe_values(axes, &b.values)),
        },
    )?;
    out::text(&text)?;
    out::text(&written.note)
}

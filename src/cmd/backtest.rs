//! `prometheus-bot backtest`: the tick's strategies over cached bars, as one portfolio; or a
//! parameter sweep; or a walk-forward.
//!
//! Arguments are checked before anything is read (usage mistakes exit 2), then the bars come
//! from the cache (a missing file exits 1 and says how to fill it), the pure simulator runs,
//! the metrics table goes to stdout and the files to `--out`. The strategy of each symbol is
//! the config's `[[symbol]]` strategy, the very value the tick hands to `Strategy::decide`,
//! unless `--strategy`/`--param` override it. This module does no file I/O of its own: the
//! cache loads the bars and `out_dir` writes the results.

use super::backtest_output as output;
use super::out_dir;
use crate::backtest::engine::{Fill, Settings, Sizing};
use crate::backtest::metrics::Metrics;
use crate::backtest::params::{self, Axis};
use crate::backtest::portfolio::{self, Leg, PortfolioOutcome, Segment};
use crate::backtest::scoring::{self, RankBy};
use crate::backtest::sweep::{self, Input};
use crate::backtest::walk_forward::{self, Plan as WalkPlan};
use crate::cli::BacktestArgs;
use crate::config::{self, Config};
use crate::domain::{is_valid_symbol, Bar, Timeframe};
use crate::error::{Error, Result};
use crate::report;
use crate::store::bar_cache::BarCache;
use crate::strategy::Strategy;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// One symbol as the run will treat it.
struct SymbolPlan {
    name: String,
    strategy: Strategy,
    sizing: Sizing,
}

enum Mode {
    Single,
    Sweep(Vec<Axis>),
    WalkForward(WalkPlan, Vec<Axis>),
}

/// The command line, checked.
struct Plan {
    timeframe: Timeframe,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    settings: Settings,
    symbols: Vec<SymbolPlan>,
    mode: Mode,
    rank: RankBy,
    threads: usize,
}

pub fn run(config: &Config, args: &BacktestArgs) -> Result<()> {
    let plan = plan(config, args)?;
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

// ---- checking the command line ----------------------------------------------------------

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

fn plan(config: &Config, args: &BacktestArgs) -> Result<Plan> {
    let timeframe: Timeframe = args.timeframe.parse().map_err(Error::Usage)?;
    let day = |s: &Option<String>, option: &str| -> Result<Option<DateTime<Utc>>> {
        s.as_deref()
            .map(|d| {
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
                    .map_err(|_| usage(format!("{option} `{d}`: expected YYYY-MM-DD")))
            })
            .transpose()
    };
    let start = day(&args.start, "--start")?;
    let end = day(&args.end, "--end")?.map(|t| t + Duration::days(1));
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            return Err(usage("--end is before --start"));
        }
    }
    let fill = match args.fill.as_str() {
        "next-open" => Fill::NextOpen,
        "close" => Fill::Close,
        other => {
            return Err(usage(format!(
                "--fill `{other}`: expected next-open or close"
            )))
        }
    };
    let settings = Settings {
        cash: args.cash,
        commission: args.commission,
        commission_fixed: args.commission_fixed,
        slippage_bps: args.slippage_bps,
        fill,
        sizing: Sizing::ALL_IN,
        close_at_end: args.close_at_end,
    };
    settings.validate().map_err(|m| {
        usage(format!(
            "{m} (see --cash, --commission, --commission-fixed, --slippage-bps)"
        ))
    })?;
    let rank = RankBy::parse(&args.rank).map_err(|m| usage(format!("--rank: {m}")))?;

    // NAME=... words after --sweep or --walk-forward: train=/test= belong to the latter.
    let (mut sweep, mut wf) = (args.sweep.clone(), args.walk_forward.clone());
    for word in &args.more {
        let name = word.split('=').next().unwrap_or("");
        if !word.contains('=') || (args.sweep.is_empty() && args.walk_forward.is_empty()) {
            return Err(usage(format!(
                "unexpected argument `{word}` (parameters go after --sweep, train=/test= after --walk-forward)"
            )));
        }
        if matches!(name, "train" | "test") && !args.walk_forward.is_empty() {
            wf.push(word.clone());
        } else {
            sweep.push(word.clone());
        }
    }
    let axes = sweep
        .iter()
        .map(|s| params::parse_axis(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| usage(format!("--sweep {m}")))?;
    let mode = match (wf.is_empty(), axes.is_empty()) {
        (true, true) => Mode::Single,
        (true, false) => Mode::Sweep(axes),
        (false, true) => {
            return Err(usage(
                "--walk-forward needs a grid to optimise: add --sweep NAME=A..B:STEP",
            ))
        }
        (false, false) => Mode::WalkForward(
            WalkPlan::parse(&wf, args.anchored)
                .map_err(|m| usage(format!("--walk-forward {m}")))?,
            axes,
        ),
    };
    if args.anchored && !matches!(mode, Mode::WalkForward(..)) {
        return Err(usage("--anchored only applies to --walk-forward"));
    }

    let names: Vec<String> = if args.symbol.is_empty() {
        config.symbols.iter().map(|s| s.name.clone()).collect()
    } else {
        let mut names = Vec::new();
        for s in &args.symbol {
            let upper = s.to_ascii_uppercase();
            if !is_valid_symbol(&upper) {
                return Err(usage(format!("--symbol `{s}` is not a ticker symbol")));
            }
            if !names.contains(&upper) {
                names.push(upper);
            }
        }
        names
    };
    let mut symbols = Vec::with_capacity(names.len());
    for name in names {
        let configured = config.symbols.iter().find(|s| s.name == name);
        let strategy = strategy_for(&name, configured, args)?;
        let sizing = sizing_for(configured, args.sizing.as_deref())?;
        symbols.push(SymbolPlan {
            name,
            strategy,
            sizing,
        });
    }
    if let Mode::Sweep(axes) | Mode::WalkForward(_, axes) = &mode {
        let probe: Vec<Input<'_>> = symbols
            .iter()
            .map(|s| Input {
                bars: &[],
                strategy: s.strategy.clone(),
                sizing: None,
            })
            .collect();
        sweep::check_axes(&probe, axes).map_err(|m| usage(format!("--sweep: {m}")))?;
    }
    let threads = match args.threads {
        Some(0) => return Err(usage("--threads must be at least 1")),
        Some(n) => n,
        None => scoring::cores(),
    };
    Ok(Plan {
        timeframe,
        start,
        end,
        settings,
        symbols,
        mode,
        rank,
        threads,
    })
}

fn strategy_for(
    name: &str,
    configured: Option<&config::SymbolConfig>,
    args: &BacktestArgs,
) -> Result<Strategy> {
    let base = configured.map(|c| &c.strategy);
    let built = match (&args.strategy, base) {
        (Some(kind), _) => params::build(kind, &args.param, base),
        (None, Some(b)) if !args.param.is_empty() => {
            params::build(params::kind_of(b), &args.param, Some(b))
        }
        (None, Some(b)) => Ok(b.clone()),
        (None, None) => {
            return Err(usage(format!(
                "{name} is not in the config: give --strategy KIND and --param NAME=VALUE"
            )))
        }
    };
    built.map_err(|m| usage(format!("--strategy/--param: {m}")))
}

/// The engine's sizing: `--sizing` if given, else the symbol's config (whole shares unless
/// `fractional`, as the tick sizes), else all-in (backtesting.py's default).
fn sizing_for(configured: Option<&config::SymbolConfig>, given: Option<&str>) -> Result<Sizing> {
    let fractional = configured.is_some_and(|c| c.fractional);
    let Some(text) = given else {
        return Ok(match configured.map(|c| c.sizing) {
            Some(config::Sizing::Qty(q)) => Sizing::Qty(if fractional { q } else { q.floor() }),
            Some(config::Sizing::Notional(amount)) => Sizing::Notional { amount, fractional },
            Some(config::Sizing::EquityFraction(fraction)) => Sizing::EquityFraction {
                fraction,
                fractional,
            },
            None => Sizing::ALL_IN,
        });
    };
    if text == "all-in" {
        return Ok(Sizing::ALL_IN);
    }
    let bad = || {
        usage(format!(
            "--sizing `{text}`: expected all-in, qty=N, notional=DOLLARS or fraction=F"
        ))
    };
    let (kind, value) = text.split_once('=').ok_or_else(bad)?;
    let v: f64 = value
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
        .ok_or_else(bad)?;
    match kind {
        "qty" => Ok(Sizing::Qty(v)),
        "notional" => Ok(Sizing::Notional {
            amount: v,
            fractional,
        }),
        "fraction" if v <= 1.0 => Ok(Sizing::EquityFraction {
            fraction: v,
            fractional,
        }),
        _ => Err(bad()),
    }
}

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
        })
        .collect()
}

fn single(ctx: &Context<'_>, inputs: &[Input<'_>]) -> Result<()> {
    let strategies: Vec<Strategy> = inputs.iter().map(|i| i.strategy.clone()).collect();
    let (out, metrics) = backtest(ctx, inputs, &strategies);
    print_metrics(ctx, &out, metrics.as_ref());
    write_run(ctx, &out, metrics.as_ref(), &strategies, Extra::None)
}

/// Run and score, the metrics computed while nothing else waits on them.
fn backtest(
    ctx: &Context<'_>,
    inputs: &[Input<'_>],
    strategies: &[Strategy],
) -> (PortfolioOutcome, Option<Metrics>) {
    let schedules: Vec<Vec<Segment>> = strategies
        .iter()
        .map(|s| Segment::always(s.clone()))
        .collect();
    let t = Instant::now();
    let out = portfolio::run(&legs(inputs, &schedules), &ctx.plan.settings);
    log::info!("simulated in {:.1} ms", ms(t));
    let t = Instant::now();
    let metrics = scoring::portfolio(ctx.bars, &out);
    log::info!("metrics in {:.1} ms", ms(t));
    (out, metrics)
}

fn run_sweep(ctx: &Context<'_>, inputs: &[Input<'_>], axes: &[Axis]) -> Result<()> {
    let plan = ctx.plan;
    let t = Instant::now();
    let result =
        sweep::run(inputs, axes, &plan.settings, plan.rank, plan.threads).map_err(Error::Usage)?;
    println!(
        "Sweep: {} combinations ({} skipped by the strategy's rules), ranked by {}, {} threads, {:.1} ms",
        result.rows.len(),
        result.skipped,
        plan.rank.label,
        plan.threads,
        ms(t)
    );
    print_sweep_top(&result, 10);
    let Some(best) = result.best() else {
        out_dir::create(&ctx.dir)?;
        out_dir::write(&ctx.dir, "sweep.csv", output::sweep_csv(&result).as_bytes())?;
        return Err(Error::Refused(format!(
            "no combination closed a trade; sweep.csv is in {}",
            ctx.dir.display()
        )));
    };
    let strategies = best.strategies.clone();
    println!("\nBest: {}", describe_values(axes, &best.values));
    let (out, metrics) = backtest(ctx, inputs, &strategies);
    print_metrics(ctx, &out, metrics.as_ref());
    write_run(
        ctx,
        &out,
        metrics.as_ref(),
        &strategies,
        Extra::Sweep(&result),
    )
}

fn run_walk_forward(
    ctx: &Context<'_>,
    inputs: &[Input<'_>],
    wf_plan: WalkPlan,
    axes: &[Axis],
) -> Result<()> {
    let plan = ctx.plan;
    let t = Instant::now();
    let wf = walk_forward::run(
        inputs,
        axes,
        &plan.settings,
        plan.rank,
        wf_plan,
        plan.threads,
    )
    .map_err(Error::Usage)?;
    // The number a plain optimisation would report: the best of the grid over all the bars.
    let full =
        sweep::run(inputs, axes, &plan.settings, plan.rank, plan.threads).map_err(Error::Usage)?;
    println!(
        "Walk-forward: {} windows (train {} bars, test {} bars, {}), ranked by {}, {:.1} ms",
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
    print_table(&header, &rows);
    let in_sample = full.best().and_then(|b| b.metrics);
    let header = vec![
        "Metric".to_string(),
        "In-sample (best of full-period sweep)".into(),
        "Out-of-sample (walk-forward)".into(),
    ];
    let rows = metric_rows(&[in_sample.as_ref(), wf.out_of_sample.as_ref()]);
    println!();
    print_table(&header, &rows);
    let strategies: Vec<Strategy> = walk_forward::final_strategies(&wf)
        .into_iter()
        .zip(inputs)
        .map(|(s, i)| s.cloned().unwrap_or_else(|| i.strategy.clone()))
        .collect();
    write_run(
        ctx,
        &wf.outcome,
        wf.out_of_sample.as_ref(),
        &strategies,
        Extra::WalkForward {
            wf: &wf,
            axes,
            in_sample: in_sample.as_ref(),
            full_best: full.best().map(|b| describe_values(axes, &b.values)),
        },
    )
}

// ---- stdout ------------------------------------------------------------------------------

fn describe_values(axes: &[Axis], values: &[f64]) -> String {
    axes.iter()
        .zip(values)
        .map(|(a, v)| format!("{}={}", a.name, params::format_value(*v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Rows of (label, one value per metrics column), in backtesting.py's order.
fn metric_rows(columns: &[Option<&Metrics>]) -> Vec<Vec<String>> {
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

fn print_table(header: &[String], rows: &[Vec<String>]) {
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
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (c, w) in width.iter().enumerate() {
            let cell = cells.get(c).map_or("", String::as_str);
            if c == 0 {
                s.push_str(&format!("{cell:<w$}"));
            } else {
                s.push_str(&format!("  {cell:>w$}"));
            }
        }
        println!("{}", s.trim_end());
    };
    if header.len() > 2 || !header[0].is_empty() {
        line(header);
    }
    for r in rows {
        line(r);
    }
}

fn print_metrics(ctx: &Context<'_>, out: &PortfolioOutcome, metrics: Option<&Metrics>) {
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
    print_table(&header, &metric_rows(&columns));
    for (name, leg) in ctx.names.iter().zip(&out.legs) {
        if let Some(t) = leg.open_trade {
            println!(
                "{name}: a {} position of {} from {} is still open (marked to market, not counted as a trade)",
                if t.size > 0.0 { "long" } else { "short" },
                params::format_value(t.size.abs()),
                output::time_cell(t.entry_time)
            );
        }
    }
}

fn print_sweep_top(sweep: &sweep::Sweep, n: usize) {
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
    print_table(&header, &rows);
}

fn windows_table(wf: &walk_forward::WalkForward, axes: &[Axis]) -> (Vec<String>, Vec<Vec<String>>) {
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

// ---- files -------------------------------------------------------------------------------

enum Extra<'a> {
    None,
    Sweep(&'a sweep::Sweep),
    WalkForward {
        wf: &'a walk_forward::WalkForward,
        axes: &'a [Axis],
        in_sample: Option<&'a Metrics>,
        full_best: Option<String>,
    },
}

fn write_run(
    ctx: &Context<'_>,
    out: &PortfolioOutcome,
    metrics: Option<&Metrics>,
    strategies: &[Strategy],
    extra: Extra<'_>,
) -> Result<()> {
    let plan = ctx.plan;
    let dir = &ctx.dir;
    out_dir::create(dir)?;
    let from = match &extra {
        Extra::WalkForward { wf, .. } => wf.oos_start,
        _ => 0,
    };
    // equity.csv is the big one (a line per bar): build it beside the rest.
    let (equity_written, rest) = std::thread::scope(|scope| {
        let equity = scope.spawn(|| {
            out_dir::write(
                dir,
                "equity.csv",
                output::equity_csv(ctx.names, out, from).as_bytes(),
            )
        });
        let rest = write_rest(ctx, out, metrics, strategies, &extra, from);
        (
            equity
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
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
    let _ = plan;
    println!("\nwrote {} ({})", dir.display(), files.join(", "));
    Ok(())
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
    out_dir::write(
        dir,
        "trades.csv",
        output::trades_csv(ctx.names, ctx.bars, out).as_bytes(),
    )?;
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
        "metrics": metrics.map(output::metrics_json),
    });
    let mut windows = None;
    let mut notes = Vec::new();
    let mut title_mode = String::new();
    match extra {
        Extra::None => {}
        Extra::Sweep(s) => {
            out_dir::write(dir, "sweep.csv", output::sweep_csv(s).as_bytes())?;
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
            doc["in_sample"] =
                in_sample.map_or(serde_json::Value::Null, |m| output::metrics_json(m));
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
        .map(|(n, s)| {
            let p: Vec<String> = params::params_of(s)
                .into_iter()
                .map(|(k, v)| format!("{k}={}", params::format_value(v)))
                .collect();
            format!("{n}: {} {}", params::kind_of(s), p.join(" "))
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
    Ok(())
}

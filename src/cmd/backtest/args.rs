//! The command line of `backtest`, checked before anything is read: every mistake is a usage
//! error (exit 2) naming the option.

use crate::backtest::engine::{Fill, Settings, Sizing};
use crate::backtest::params::{self, Axis};
use crate::backtest::scoring::{self, RankBy};
use crate::backtest::sweep::{self, Input};
use crate::backtest::walk_forward::Plan as WalkPlan;
use crate::cli::BacktestArgs;
use crate::config::{self, Config};
use crate::domain::{is_valid_symbol, Timeframe};
use crate::error::{Error, Result};
use crate::plan::protect::Protection;
use crate::sizing::{self, Sizing as Rule};
use crate::strategy::Strategy;
use chrono::{DateTime, Utc};

/// One symbol as the run will treat it.
pub(super) struct SymbolPlan {
    pub(super) name: String,
    pub(super) strategy: Strategy,
    pub(super) sizing: Sizing,
    /// The symbol's `stop_loss_pct`, `take_profit_pct`, `trailing_stop_pct` (none for a
    /// symbol named only on the command line).
    pub(super) protection: Protection,
}

pub(super) enum Mode {
    Single,
    Sweep(Vec<Axis>),
    WalkForward(WalkPlan, Vec<Axis>),
}

/// The command line, checked.
pub(super) struct Plan {
    pub(super) timeframe: Timeframe,
    pub(super) start: Option<DateTime<Utc>>,
    pub(super) end: Option<DateTime<Utc>>,
    pub(super) settings: Settings,
    pub(super) symbols: Vec<SymbolPlan>,
    pub(super) mode: Mode,
    pub(super) rank: RankBy,
    pub(super) threads: usize,
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

pub(super) fn plan(config: &Config, args: &BacktestArgs) -> Result<Plan> {
    let timeframe: Timeframe = args.timeframe.parse().map_err(Error::Usage)?;
    let (start, end) = crate::cmd::day_range((&args.start, "--start"), (&args.end, "--end"))?;
    let fill: Fill = args.fill.parse().map_err(usage)?;
    let settings = Settings {
        cash: args.cash,
        commission: args.commission,
        commission_fixed: args.commission_fixed,
        slippage_bps: args.slippage_bps,
        fill,
        sizing: Sizing::ALL_IN,
        close_at_end: args.close_at_end,
        guards: args.risk.then_some(config.risk.limits),
        // Per symbol: each leg carries its own `[[symbol]]` keys (`SymbolPlan::protection`).
        protection: Default::default(),
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
        let protection = configured.map(|s| s.protection).unwrap_or_default();
        symbols.push(SymbolPlan {
            name,
            strategy,
            sizing,
            protection,
        });
    }
    if let Mode::Sweep(axes) | Mode::WalkForward(_, axes) = &mode {
        let probe: Vec<Input<'_>> = symbols
            .iter()
            .map(|s| Input {
                bars: &[],
                strategy: s.strategy.clone(),
                sizing: None,
                protection: None,
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
            Some(Rule::Qty(q)) => Sizing::Qty(sizing::fixed(q, fractional)),
            Some(Rule::Notional(amount)) => Sizing::Notional { amount, fractional },
            Some(Rule::EquityFraction(fraction)) => Sizing::EquityFraction {
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

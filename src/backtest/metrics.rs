//! Performance metrics, computed as backtesting.py 0.6's `compute_stats` computes them.
//!
//! Pure and independent of the engine's internals: [`compute`] takes plain slices (bar times,
//! closes, per-bar equity, closed trades, the warm-up index), so it can run over a backtest's
//! [`Outcome`](super::engine::Outcome) or over the live equity ledger alike. The formulas, and
//! where the library's conventions are unusual, are in `docs/metrics.md`.
//!
//! Numerics follow the library's: sums are numpy's pairwise summation (so most metrics come
//! out bit-identical), variances are pandas' two-pass ones, powers use `powf` like numpy's
//! scalar `**`. Calendar grouping (daily returns) is by UTC day, since bar times are UTC.
//! NaN stands where the library gives NaN (or NaT, for durations: `None`).

use super::engine::{Outcome, Trade};
use crate::domain::Bar;
use chrono::{DateTime, Duration, Utc};

const NS_PER_DAY: i64 = 86_400_000_000_000;

#[path = "metrics_calendar.rs"]
mod calendar;
#[path = "metrics_math.rs"]
mod math;
#[path = "metrics_summary.rs"]
mod summary;
#[path = "metrics_time.rs"]
mod time;

use calendar::{ns, Calendar};
pub use math::Benchmark;
use math::*;
pub use summary::Summary;
use summary::{max_drawdown_of, win_rate_and_sqn, PeriodReturns};
use time::*;

/// Every row of backtesting.py's stats, by name. Percentages are in percent (12.5 = 12.5 %),
/// as the library reports them; ratios are plain numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub duration: Duration,
    pub exposure_time_pct: f64,
    pub equity_final: f64,
    pub equity_peak: f64,
    /// Sum over closed trades; the row is omitted when 0, as in the library.
    pub commissions: f64,
    pub return_pct: f64,
    pub buy_hold_return_pct: f64,
    pub return_ann_pct: f64,
    pub volatility_ann_pct: f64,
    pub cagr_pct: f64,
    pub sharpe_ratio: f64,
    pub sortino_ratio: f64,
    pub calmar_ratio: f64,
    pub alpha_pct: f64,
    pub beta: f64,
    pub max_drawdown_pct: f64,
    pub avg_drawdown_pct: f64,
    pub max_drawdown_duration: Option<Duration>,
    pub avg_drawdown_duration: Option<Duration>,
    pub trades: usize,
    pub win_rate_pct: f64,
    pub best_trade_pct: f64,
    pub worst_trade_pct: f64,
    pub avg_trade_pct: f64,
    pub max_trade_duration: Option<Duration>,
    pub avg_trade_duration: Option<Duration>,
    pub profit_factor: f64,
    pub expectancy_pct: f64,
    pub sqn: f64,
    pub kelly_criterion: f64,
    /// The annualization factor A used (252, 365, 52, 12 or 1); not a row of the library's.
    pub periods_per_year: f64,
}

impl Metrics {
    /// The stats as (label, value) rows, in backtesting.py's order and with its labels and
    /// display: floats rounded to 5 decimals, NaN/NaT as `--`, durations as pandas prints them.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![
            ("Start", fmt_time(self.start)),
            ("End", fmt_time(self.end)),
            ("Duration", fmt_duration(Some(self.duration))),
            ("Exposure Time [%]", fmt_f64(self.exposure_time_pct)),
            ("Equity Final [$]", fmt_f64(self.equity_final)),
            ("Equity Peak [$]", fmt_f64(self.equity_peak)),
        ];
        // Python's `if commissions:` - NaN is truthy, 0 is not.
        if self.commissions != 0.0 {
            rows.push(("Commissions [$]", fmt_f64(self.commissions)));
        }
        rows.extend([
            ("Return [%]", fmt_f64(self.return_pct)),
            ("Buy & Hold Return [%]", fmt_f64(self.buy_hold_return_pct)),
            ("Return (Ann.) [%]", fmt_f64(self.return_ann_pct)),
            ("Volatility (Ann.) [%]", fmt_f64(self.volatility_ann_pct)),
            ("CAGR [%]", fmt_f64(self.cagr_pct)),
            ("Sharpe Ratio", fmt_f64(self.sharpe_ratio)),
            ("Sortino Ratio", fmt_f64(self.sortino_ratio)),
            ("Calmar Ratio", fmt_f64(self.calmar_ratio)),
            ("Alpha [%]", fmt_f64(self.alpha_pct)),
            ("Beta", fmt_f64(self.beta)),
            ("Max. Drawdown [%]", fmt_f64(self.max_drawdown_pct)),
            ("Avg. Drawdown [%]", fmt_f64(self.avg_drawdown_pct)),
            (
                "Max. Drawdown Duration",
                fmt_duration(self.max_drawdown_duration),
            ),
            (
                "Avg. Drawdown Duration",
                fmt_duration(self.avg_drawdown_duration),
            ),
            ("# Trades", self.trades.to_string()),
            ("Win Rate [%]", fmt_f64(self.win_rate_pct)),
            ("Best Trade [%]", fmt_f64(self.best_trade_pct)),
            ("Worst Trade [%]", fmt_f64(self.worst_trade_pct)),
            ("Avg. Trade [%]", fmt_f64(self.avg_trade_pct)),
            ("Max. Trade Duration", fmt_duration(self.max_trade_duration)),
            ("Avg. Trade Duration", fmt_duration(self.avg_trade_duration)),
            ("Profit Factor", fmt_f64(self.profit_factor)),
            ("Expectancy [%]", fmt_f64(self.expectancy_pct)),
            ("SQN", fmt_f64(self.sqn)),
            ("Kelly Criterion", fmt_f64(self.kelly_criterion)),
        ]);
        rows
    }
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// pandas' object-column display at precision 5: rounded to 5 decimals, trailing zeros
/// dropped (but one kept after the point).
fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        return "--".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let s = format!("{v:.5}");
    let s = s.trim_end_matches('0');
    if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_string()
    }
}

/// pandas' Timedelta display: `597 days 00:00:00`, with fractional seconds when present.
fn fmt_duration(d: Option<Duration>) -> String {
    let Some(d) = d else { return "--".to_string() };
    let ns = d.num_nanoseconds().unwrap_or(i64::MAX);
    let (days, rest) = (ns.div_euclid(NS_PER_DAY), ns.rem_euclid(NS_PER_DAY));
    let secs = rest / 1_000_000_000;
    let frac = rest % 1_000_000_000;
    let mut s = format!(
        "{days} days {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        let f = if frac % 1000 == 0 { &f[..6] } else { &f[..] };
        s.push('.');
        s.push_str(f);
    }
    s
}

/// Metrics of an engine run over `bars`.
pub fn of_run(bars: &[Bar], outcome: &Outcome) -> Option<Metrics> {
    let times: Vec<DateTime<Utc>> = bars.iter().map(|b| b.time).collect();
    let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
    compute(
        &times,
        &closes,
        &outcome.equity,
        &outcome.trades,
        outcome.warmup,
    )
}

/// backtesting.py's `compute_stats` (risk-free rate 0, as `Backtest.run` passes).
///
/// `times`, `closes` and `equity` are per bar, oldest first, all the same length (warm-up bars
/// included, their equity equal to the initial cash); `trades` are the closed trades (their
/// bar indexes index these slices); `warmup` is the bar whose close Buy & Hold starts from.
/// `None` when there are no bars.
pub fn compute(
    times: &[DateTime<Utc>],
    closes: &[f64],
    equity: &[f64],
    trades: &[Trade],
    warmup: usize,
) -> Option<Metrics> {
    // β is two million logarithms for a million bars, independent of everything else:
    // computed on a second thread while this one does the rest.
    if equity.len() > 100_000 && closes.len() == equity.len() {
        std::thread::scope(|scope| {
            let b = scope.spawn(|| beta(equity, closes));
            let join = move || b.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            compute_with(None, times, closes, equity, trades, warmup, join)
        })
    } else {
        compute_with(None, times, closes, equity, trades, warmup, || {
            beta(equity, closes)
        })
    }
}

/// [`compute`], with β supplied by `beta` (called once, after the checks) and the times'
/// [`Calendar`] from `cal` (built here when `None`).
fn compute_with(
    cal: Option<&Calendar>,
    times: &[DateTime<Utc>],
    closes: &[f64],
    equity: &[f64],
    trades: &[Trade],
    warmup: usize,
    beta: impl FnOnce() -> f64,
) -> Option<Metrics> {
    let n = times.len();
    assert!(
        closes.len() == n && equity.len() == n,
        "times, closes and equity differ in length"
    );
    if n == 0 {
        return None;
    }
    let own;
    let cal = match cal {
        Some(c) if c.keys.len() == n => c,
        _ => {
            own = Calendar::of(times)?;
            &own
        }
    };
    let (start, end, duration, unit) = (cal.start, cal.end, cal.duration, cal.unit);
    let a = cal.periods_per_year;

    // Exposure: bars inside some closed trade's [entry, exit], over all bars.
    let exposure_time_pct = bars_in_some(trades, n) as f64 / n as f64 * 100.0;

    let e0 = equity[0];
    let equity_final = equity[n - 1];
    let equity_peak = equity.iter().copied().fold(f64::NEG_INFINITY, nan_max);
    let commissions = trades.iter().fold(0.0, |s, t| s + t.commission);
    let return_pct = (equity_final - e0) / e0 * 100.0;
    let w = if warmup < n { warmup } else { 0 };
    let buy_hold_return_pct = (closes[n - 1] - closes[w]) / closes[w] * 100.0;

    // The returns of the calendar periods (the last non-NaN equity of each).
    let period = PeriodReturns::of(cal, equity);
    let sharpe_ratio = period.sharpe_ratio();
    let PeriodReturns {
        returns: day_returns,
        annualized: annualized_return,
        return_ann_pct,
        volatility_ann_pct,
        ..
    } = period;
    let years = (duration.num_days() as f64
        + (duration.num_seconds() - duration.num_days() * 86_400) as f64 / 86_400.0)
        / 365.25;
    let cagr_pct = if years != 0.0 {
        ((equity_final / e0).powf(1.0 / years) - 1.0) * 100.0
    } else {
        f64::NAN
    };

    let downside: Vec<f64> = day_returns.iter().map(|&r| r.min(0.0).powi(2)).collect();
    let sortino_ratio = annualized_return / (mean(&downside).sqrt() * a.sqrt());

    // Drawdown on the per-bar equity.
    let max_dd = max_drawdown_of(equity);
    let calmar_ratio = annualized_return / nan_if_zero(-max_dd);

    let beta = beta();
    let alpha_pct = return_pct - 0.0 - beta * (buy_hold_return_pct - 0.0);

    let (avg_drawdown, max_drawdown_duration, avg_drawdown_duration) =
        drawdown_periods(equity, times, unit);

    let k = trades.len();
    let pl: Vec<f64> = trades.iter().map(|t| t.pnl).collect();
    let returns: Vec<f64> = trades.iter().map(|t| t.return_pct).collect();
    let (win_rate, sqn) = win_rate_and_sqn(&pl);
    let wins: Vec<f64> = returns.iter().copied().filter(|&r| r > 0.0).collect();
    let losses: Vec<f64> = returns.iter().copied().filter(|&r| r < 0.0).collect();
    let pl_wins: Vec<f64> = pl.iter().copied().filter(|&p| p > 0.0).collect();
    let pl_losses: Vec<f64> = pl.iter().copied().filter(|&p| p < 0.0).collect();
    let trade_ns: Vec<i128> = trades
        .iter()
        .map(|t| {
            whole_days(
                i128::from(ns(t.exit_time)) - i128::from(ns(t.entry_time)),
                unit,
            )
        })
        .collect();

    Some(Metrics {
        start,
        end,
        duration,
        exposure_time_pct,
        equity_final,
        equity_peak,
        commissions,
        return_pct,
        buy_hold_return_pct,
        return_ann_pct,
        volatility_ann_pct,
        cagr_pct,
        sharpe_ratio,
        sortino_ratio,
        calmar_ratio,
        alpha_pct,
        beta,
        max_drawdown_pct: max_dd * 100.0,
        avg_drawdown_pct: -avg_drawdown * 100.0,
        max_drawdown_duration,
        avg_drawdown_duration,
        trades: k,
        win_rate_pct: win_rate * 100.0,
        best_trade_pct: returns.iter().copied().fold(f64::NAN, nan_max) * 100.0,
        worst_trade_pct: returns.iter().copied().fold(f64::NAN, nan_min) * 100.0,
        avg_trade_pct: geometric_mean(&returns) * 100.0,
        max_trade_duration: trade_ns.iter().max().map(|&d| ceil_to(d, unit)),
        avg_trade_duration: mean_duration(&trade_ns, unit),
        profit_factor: np_sum(&wins) / nan_if_zero(np_sum(&losses).abs()),
        expectancy_pct: mean(&returns) * 100.0,
        sqn,
        kelly_criterion: win_rate - (1.0 - win_rate) / (mean(&pl_wins) / -mean(&pl_losses)),
        periods_per_year: a,
    })
}

/// How many of the bars `0..n` lie inside some trade's `[entry_bar, exit_bar]`: the length
/// of the union of those spans, from the trades alone (no mark per bar).
fn bars_in_some(trades: &[Trade], n: usize) -> usize {
    let mut spans: Vec<(usize, usize)> = trades
        .iter()
        .map(|t| (t.entry_bar.min(n), (t.exit_bar + 1).min(n)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort_unstable();
    let (mut covered, mut reach) = (0, 0);
    for (a, b) in spans {
        if b > reach {
            covered += b - a.max(reach);
            reach = b;
        }
    }
    covered
}

/// [`compute`], taking β's benchmark half and the times' [`Calendar`] from `bench` when it
/// was built from these very times and closes (compared bit for bit); otherwise exactly
/// [`compute`].
pub fn compute_with_benchmark(
    times: &[DateTime<Utc>],
    closes: &[f64],
    equity: &[f64],
    trades: &[Trade],
    warmup: usize,
    bench: &Benchmark,
) -> Option<Metrics> {
    bench
        .is_of(times, closes)
        .then(|| compute_over_benchmark(times, equity, trades, warmup, bench))
        .flatten()
        .unwrap_or_else(|| compute(times, closes, equity, trades, warmup))
}

/// [`compute`] of a run over the very times and closes `bench` was built from (the caller
/// knows: `backtest`'s one-symbol run, whose bars the benchmark was built from while it
/// simulated): no comparison of a million times and closes. `None` if the lengths differ
/// from the benchmark's (then nothing is assumed).
pub fn compute_over_benchmark(
    times: &[DateTime<Utc>],
    equity: &[f64],
    trades: &[Trade],
    warmup: usize,
    bench: &Benchmark,
) -> Option<Option<Metrics>> {
    let closes = bench.closes();
    let cal = bench.calendar.as_ref()?;
    if closes.len() != times.len() || equity.len() != times.len() || cal.keys.len() != times.len() {
        return None;
    }
    Some(compute_with(
        Some(cal),
        times,
        closes,
        equity,
        trades,
        warmup,
        || beta_with(equity, &bench.logs),
    ))
}

/// The sweep row's part of [`compute_with_benchmark`], bit for bit `Summary::of` of it, at a
/// fraction of the cost ([`Summary`]). It reads no closes: `bench` need only be of `times`.
pub fn summary_with_benchmark(
    times: &[DateTime<Utc>],
    equity: &[f64],
    trades: &[Trade],
    bench: &Benchmark,
) -> Option<Summary> {
    match &bench.calendar {
        Some(cal) if bench.is_of_times(times) && equity.len() == times.len() => {
            summary::summary(cal, equity, trades)
        }
        _ => {
            let cal = Calendar::of(times)?;
            summary::summary(&cal, equity, trades)
        }
    }
}

/// [`summary_with_benchmark`] of a run over the very times `bench` was built from (a sweep's
/// one-symbol combinations): the same summary, without comparing the times on every call.
pub fn summary_over_benchmark(
    equity: &[f64],
    trades: &[Trade],
    bench: &Benchmark,
) -> Option<Summary> {
    summary::summary(bench.calendar.as_ref()?, equity, trades)
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;

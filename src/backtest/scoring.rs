//! Scoring a portfolio run: its metrics, each leg's, and one metric picked by name for
//! ranking a sweep.
//!
//! For one leg the metrics are exactly `metrics::of_run` on the engine's outcome (same
//! slices, same warm-up), so the parity with backtesting.py carries over to the command. For
//! several legs Buy & Hold and Beta need one price series: the equal-weight basket, each
//! symbol's close divided by its first close (forward-filled on the merged timeline), the
//! mean of those, times 100.

use super::engine::Trade;
use super::metrics::{self, Metrics, Summary};
use super::portfolio::PortfolioOutcome;
use crate::domain::Bar;
use chrono::{DateTime, Duration, Utc};

/// The price series Buy & Hold and Beta are measured against, one value per timeline step.
pub fn benchmark(legs: &[&[Bar]], out: &PortfolioOutcome) -> Vec<f64> {
    if let [bars] = legs {
        return bars.iter().map(|b| b.close).collect();
    }
    let mut sum = vec![0.0; out.times.len()];
    for (bars, leg) in legs.iter().zip(&out.legs) {
        let Some(first) = bars.first() else { continue };
        let mut level = 1.0;
        let mut next = 0;
        for (step, s) in sum.iter_mut().enumerate() {
            while next < bars.len() && leg.step_of_bar[next] as usize == step {
                level = bars[next].close / first.close;
                next += 1;
            }
            *s += level;
        }
    }
    let k = legs.len().max(1) as f64;
    sum.iter().map(|s| s / k * 100.0).collect()
}

/// The whole portfolio's metrics; `None` with no bars.
pub fn portfolio(legs: &[&[Bar]], out: &PortfolioOutcome) -> Option<Metrics> {
    let closes = benchmark(legs, out);
    let trades = out.timeline_trades();
    metrics::compute(&out.times, &closes, &out.equity, &trades, out.warmup)
}

/// The metrics' half that a one-symbol run's bars alone decide (its timeline is their
/// times, its benchmark their closes), built before the run's outcome is known: `backtest`
/// builds it on a second core while the simulation runs on the first. It keeps the bars it
/// was built from, so it can only score runs over those bars, with their closes as built
/// (no second copy, no check).
pub struct Ahead<'a> {
    bars: &'a [Bar],
    bench: metrics::Benchmark,
    /// The bars' times, for the run's outcome ([`Ahead::take_times`]); the benchmark keeps
    /// no copy.
    times: Vec<DateTime<Utc>>,
}

/// A symbol's closes, read once from its bars and kept with them: the indicators sum them,
/// then [`Ahead`] keeps them as the benchmark (a million bars' closes are a 5 ms pass over
/// 72 MB of bars and 8 MB of fresh pages each time they are gathered).
pub struct Closes<'a> {
    bars: &'a [Bar],
    values: Vec<f64>,
}

impl<'a> Closes<'a> {
    pub fn of(bars: &'a [Bar]) -> Closes<'a> {
        // Zeroed memory (calloc: no serial fill of 8 MB of fresh pages), each half of a long
        // series gathered on its own core.
        let mut values = vec![0.0; bars.len()];
        let gather = |to: &mut [f64], from: &[Bar]| {
            for (v, b) in to.iter_mut().zip(from) {
                *v = b.close;
            }
        };
        if bars.len() < 1 << 17 {
            gather(&mut values, bars);
        } else {
            let (first, second) = values.split_at_mut(bars.len() / 2);
            let (bars_a, bars_b) = bars.split_at(first.len());
            std::thread::scope(|scope| {
                scope.spawn(|| gather(second, bars_b));
                gather(first, bars_a);
            });
        }
        Closes { bars, values }
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

impl<'a> Ahead<'a> {
    /// The benchmark half of the bars `closes` were read from, and their times.
    pub fn new(closes: Closes<'a>) -> Ahead<'a> {
        let Closes { bars, values } = closes;
        let times: Vec<_> = bars.iter().map(|b| b.time).collect();
        Ahead {
            bars,
            bench: metrics::Benchmark::over(&times, values),
            times,
        }
    }

    /// The bars' times (once; empty after): the one-symbol run's timeline, gathered here on
    /// the second core rather than again after the simulation.
    pub fn take_times(&mut self) -> Vec<DateTime<Utc>> {
        std::mem::take(&mut self.times)
    }

    /// [`portfolio`] of a run over exactly these bars (`None` for any other run).
    pub fn metrics(&self, legs: &[&[Bar]], out: &PortfolioOutcome) -> Option<Option<Metrics>> {
        let [bars] = legs else { return None };
        if !std::ptr::eq(*bars, self.bars) || out.legs.len() != 1 {
            return None;
        }
        let trades = out.timeline_trades();
        metrics::compute_over_benchmark(&out.times, &out.equity, &trades, out.warmup, &self.bench)
    }
}

/// [`portfolio`], with β's benchmark half computed once in `bench` by the first call and
/// reused by every later one over the same times and closes (a sweep's combinations, on any thread).
pub fn portfolio_sharing(
    legs: &[&[Bar]],
    out: &PortfolioOutcome,
    bench: &std::sync::OnceLock<metrics::Benchmark>,
) -> Option<Metrics> {
    let closes = benchmark(legs, out);
    let trades = out.timeline_trades();
    let bench = bench.get_or_init(|| metrics::Benchmark::of(&out.times, &closes));
    metrics::compute_with_benchmark(&out.times, &closes, &out.equity, &trades, out.warmup, bench)
}

/// The sweep row's part of [`portfolio_sharing`] ([`metrics::Summary`]).
pub fn portfolio_summary(
    legs: &[&[Bar]],
    out: &PortfolioOutcome,
    bench: &std::sync::OnceLock<metrics::Benchmark>,
) -> Option<metrics::Summary> {
    // The summary reads no closes: they are gathered only to build `bench` once.
    let bench = bench.get_or_init(|| metrics::Benchmark::of(&out.times, &benchmark(legs, out)));
    let trades = out.timeline_trades();
    metrics::summary_with_benchmark(&out.times, &out.equity, &trades, bench)
}

/// One leg's metrics over its own bars and its own equity curve (see `portfolio`'s module
/// docs); for a one-leg run this is the portfolio's.
pub fn leg(bars: &[Bar], out: &PortfolioOutcome, k: usize) -> Option<Metrics> {
    if out.legs.len() == 1 {
        return portfolio(&[bars], out);
    }
    let leg = &out.legs[k];
    let times: Vec<_> = bars.iter().map(|b| b.time).collect();
    let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
    metrics::compute(&times, &closes, &leg.equity, &leg.trades, leg.warmup)
}

/// Metrics over the steps `from..` of a run: for out-of-sample results. Trades entered before
/// `from` are left out; Buy & Hold starts at `from`.
pub fn tail(legs: &[&[Bar]], out: &PortfolioOutcome, from: usize) -> Option<Metrics> {
    let closes = benchmark(legs, out);
    let trades: Vec<Trade> = out
        .timeline_trades()
        .into_iter()
        .filter(|t| t.entry_bar >= from)
        .map(|t| Trade {
            entry_bar: t.entry_bar - from,
            exit_bar: t.exit_bar - from,
            ..t
        })
        .collect();
    let from = from.min(out.times.len());
    metrics::compute(
        &out.times[from..],
        &closes[from..],
        &out.equity[from..],
        &trades,
        0,
    )
}

type Getter = fn(&Metrics) -> f64;

fn days(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.num_seconds() as f64 / 86_400.0)
}

/// Every rankable metric: the label as printed, and its value (durations in days).
const METRICS: [(&str, Getter); 29] = [
    ("Exposure Time [%]", |m| m.exposure_time_pct),
    ("Equity Final [$]", |m| m.equity_final),
    ("Equity Peak [$]", |m| m.equity_peak),
    ("Commissions [$]", |m| m.commissions),
    ("Return [%]", |m| m.return_pct),
    ("Buy & Hold Return [%]", |m| m.buy_hold_return_pct),
    ("Return (Ann.) [%]", |m| m.return_ann_pct),
    ("Volatility (Ann.) [%]", |m| m.volatility_ann_pct),
    ("CAGR [%]", |m| m.cagr_pct),
    ("Sharpe Ratio", |m| m.sharpe_ratio),
    ("Sortino Ratio", |m| m.sortino_ratio),
    ("Calmar Ratio", |m| m.calmar_ratio),
    ("Alpha [%]", |m| m.alpha_pct),
    ("Beta", |m| m.beta),
    ("Max. Drawdown [%]", |m| m.max_drawdown_pct),
    ("Avg. Drawdown [%]", |m| m.avg_drawdown_pct),
    ("Max. Drawdown Duration", |m| days(m.max_drawdown_duration)),
    ("Avg. Drawdown Duration", |m| days(m.avg_drawdown_duration)),
    ("# Trades", |m| m.trades as f64),
    ("Win Rate [%]", |m| m.win_rate_pct),
    ("Best Trade [%]", |m| m.best_trade_pct),
    ("Worst Trade [%]", |m| m.worst_trade_pct),
    ("Avg. Trade [%]", |m| m.avg_trade_pct),
    ("Max. Trade Duration", |m| days(m.max_trade_duration)),
    ("Avg. Trade Duration", |m| days(m.avg_trade_duration)),
    ("Profit Factor", |m| m.profit_factor),
    ("Expectancy [%]", |m| m.expectancy_pct),
    ("SQN", |m| m.sqn),
    ("Kelly Criterion", |m| m.kelly_criterion),
];

type SummaryGetter = fn(&Summary) -> f64;

/// The rankable metrics a sweep row keeps ([`Summary`]): ranking by one of them needs no
/// other metric per combination.
const SUMMARY: [(&str, SummaryGetter); 7] = [
    ("Equity Final [$]", |s| s.equity_final),
    ("Return [%]", |s| s.return_pct),
    ("Sharpe Ratio", |s| s.sharpe_ratio),
    ("Max. Drawdown [%]", |s| s.max_drawdown_pct),
    ("# Trades", |s| s.trades as f64),
    ("Win Rate [%]", |s| s.win_rate_pct),
    ("SQN", |s| s.sqn),
];

/// A metric chosen by name for ranking; larger is better, as backtesting.py's `maximize`
/// (drawdowns are negative, so the smallest drawdown ranks first).
#[derive(Debug, Clone, Copy)]
pub struct RankBy {
    pub label: &'static str,
    get: Getter,
}

fn normalize(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

impl RankBy {
    /// By label, ignoring case, spaces and punctuation; a unique prefix will do
    /// (`sharpe`, `equity final`, `return ann`).
    pub fn parse(name: &str) -> Result<RankBy, String> {
        let want = normalize(name);
        let exact = METRICS.iter().find(|(l, _)| normalize(l) == want);
        let found = exact.copied().or_else(|| {
            let mut hits = METRICS
                .iter()
                .filter(|(l, _)| !want.is_empty() && normalize(l).starts_with(&want));
            match (hits.next(), hits.next()) {
                (Some(&hit), None) => Some(hit),
                _ => None,
            }
        });
        found
            .map(|(label, get)| RankBy { label, get })
            .ok_or_else(|| {
                let all: Vec<&str> = METRICS.iter().map(|m| m.0).collect();
                format!("`{name}` is not a metric; use one of: {}", all.join(", "))
            })
    }

    /// The score of a run: NaN for a run without closed trades, as backtesting.py's
    /// `optimize` scores it, so that such runs rank last.
    pub fn score(&self, m: Option<&Metrics>) -> f64 {
        match m {
            Some(m) if m.trades > 0 => (self.get)(m),
            _ => f64::NAN,
        }
    }
}

impl RankBy {
    /// [`RankBy::score`] from a sweep row's [`Summary`]; `None` when the metric is not one
    /// of its columns (the combination then needs its full metrics).
    pub fn score_summary(&self, s: Option<&Summary>) -> Option<f64> {
        let (_, get) = SUMMARY.iter().find(|(l, _)| *l == self.label)?;
        Some(match s {
            Some(s) if s.trades > 0 => get(s),
            _ => f64::NAN,
        })
    }

    /// Ranks by a column of [`Summary`]?
    pub fn in_summary(&self) -> bool {
        SUMMARY.iter().any(|(l, _)| *l == self.label)
    }
}

impl Default for RankBy {
    fn default() -> Self {
        RankBy {
            label: "SQN",
            get: |m| m.sqn,
        }
    }
}

/// Indexes of `scores` best first: larger first, NaN last, ties in input order (as
/// `idxmax` picks the first).
pub fn ranking(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (scores[a], scores[b]);
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => y.total_cmp(&x),
        }
    });
    order
}

/// `f` over `items` on up to `threads` threads (std only; work handed out one item at a
/// time, so uneven items balance), results in input order.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut parts: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut all: Vec<(usize, R)> = parts.drain(..).flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// The machine's cores, as `std` sees them.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::engine::Settings;
    use crate::backtest::portfolio::{self, Leg, Segment};
    use crate::strategy::{Smas, Strategy};
    use chrono::TimeZone;

    /// The metrics through [`Ahead`] (built from the bars alone, before the run) are the
    /// metrics of the run computed after it, every field; and an `Ahead` scores only runs
    /// over the very bars it was built from.
    #[test]
    fn metrics_through_ahead_are_the_runs_metrics_and_only_for_its_bars() {
        let start = Utc.with_ymd_and_hms(2024, 3, 4, 14, 30, 0).unwrap();
        let bars: Vec<Bar> = (0..5_000)
            .map(|i| {
                let x = i as f64;
                let c = 100.0 + 8.0 * (x / 90.0).sin() + 3.0 * (x / 17.0).cos();
                Bar {
                    time: start + Duration::minutes(i),
                    open: c - 0.05,
                    high: c + 0.3,
                    low: c - 0.3,
                    close: c,
                    volume: 1000.0,
                    trades: 7,
                    vwap: c,
                }
            })
            .collect();
        let schedule = Segment::always(Strategy::SmaCross {
            fast: 10,
            slow: 30,
            allow_short: false,
        });
        let leg = Leg {
            bars: &bars,
            schedule: &schedule,
            sizing: None,
            protection: None,
        };
        let out = portfolio::run(std::slice::from_ref(&leg), &Settings::default());
        let after = portfolio(&[&bars], &out).unwrap();
        assert!(after.trades > 20, "{}", after.trades);
        let mut ahead = Ahead::new(Closes::of(&bars));
        let through = ahead.metrics(&[&bars], &out).unwrap().unwrap();
        assert_eq!(format!("{through:?}"), format!("{after:?}"));
        // Its times are the run's timeline, handed over once: the run made with them is the
        // run that gathers its own.
        let times = ahead.take_times();
        assert!(ahead.take_times().is_empty());
        let smas = [Smas::of_closes(
            Closes::of(&bars).values(),
            portfolio::leg_windows(&leg),
        )];
        let handed = portfolio::run_with_timeline(&[leg], &Settings::default(), &smas, || times);
        assert_eq!(format!("{handed:?}"), format!("{out:?}"));
        let through = ahead.metrics(&[&bars], &handed).unwrap().unwrap();
        assert_eq!(format!("{through:?}"), format!("{after:?}"));
        let copy = bars.clone();
        assert!(ahead.metrics(&[&copy], &out).is_none());
        assert!(ahead.metrics(&[&bars, &bars], &out).is_none());
    }

    /// A long series' closes are gathered in two halves on two threads: all of them, in
    /// order, short series and long.
    #[test]
    fn closes_are_every_bars_close_in_order() {
        for n in [0, 1, 5, (1 << 17) + 3] {
            let bars: Vec<Bar> = (0..n)
                .map(|i| Bar {
                    time: chrono::DateTime::UNIX_EPOCH + Duration::minutes(i as i64),
                    open: 1.0,
                    high: 2.0,
                    low: 0.5,
                    close: 100.0 + i as f64 * 0.25,
                    volume: 1.0,
                    trades: 1,
                    vwap: 1.0,
                })
                .collect();
            let want: Vec<f64> = bars.iter().map(|b| b.close).collect();
            assert_eq!(Closes::of(&bars).values(), want.as_slice(), "{n} bars");
        }
    }

    #[test]
    fn metric_names_are_forgiving_but_not_ambiguous() {
        assert_eq!(RankBy::parse("SQN").unwrap().label, "SQN");
        assert_eq!(RankBy::parse("sharpe").unwrap().label, "Sharpe Ratio");
        assert_eq!(RankBy::parse("Return [%]").unwrap().label, "Return [%]");
        assert_eq!(
            RankBy::parse("return ann").unwrap().label,
            "Return (Ann.) [%]"
        );
        assert_eq!(
            RankBy::parse("Equity Final [$]").unwrap().label,
            "Equity Final [$]"
        );
        let e = RankBy::parse("equity").unwrap_err();
        assert!(
            e.contains("not a metric") && e.contains("Equity Peak"),
            "{e}"
        );
        assert!(RankBy::parse("").is_err());
        assert!(RankBy::parse("luck").is_err());
    }

    /// A sweep row's score from its summary is the score from the full metrics, for the
    /// seven metrics it keeps; any other metric asks for the full metrics.
    #[test]
    fn summary_scores_equal_full_scores() {
        let t = chrono::DateTime::<chrono::Utc>::from_timestamp(0, 0).unwrap();
        let times: Vec<_> = (0..6).map(|i| t + Duration::days(i)).collect();
        let trade = Trade {
            entry_bar: 1,
            exit_bar: 3,
            size: 2.0,
            entry_price: 10.0,
            exit_price: 12.0,
            pnl: 4.0,
            return_pct: 0.2,
            entry_time: times[1],
            exit_time: times[3],
            commission: 0.0,
        };
        let equity = [100.0, 100.0, 101.0, 104.0, 104.0, 104.0];
        let m = metrics::compute(&times, &[1.0; 6], &equity, &[trade], 0).unwrap();
        let s = Summary::of(&m);
        let mut kept = 0;
        for (label, _) in METRICS {
            let rank = RankBy::parse(label).unwrap();
            match rank.score_summary(Some(&s)) {
                Some(v) => {
                    kept += 1;
                    assert!(rank.in_summary());
                    assert_eq!(v.to_bits(), rank.score(Some(&m)).to_bits(), "{label}");
                    assert!(rank.score_summary(None).unwrap().is_nan());
                }
                None => assert!(!rank.in_summary(), "{label}"),
            }
        }
        assert_eq!(kept, 7);
    }

    #[test]
    fn ranking_puts_nan_last_and_keeps_ties_in_order() {
        let order = ranking(&[1.0, f64::NAN, 3.0, 1.0, -2.0]);
        assert_eq!(order, [2, 0, 3, 4, 1]);
        assert!(RankBy::default().score(None).is_nan());
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u64> = (0..1000).collect();
        let got = parallel_map(&items, 4, |x| x * x);
        assert_eq!(got, items.iter().map(|x| x * x).collect::<Vec<_>>());
        assert_eq!(parallel_map(&items[..0], 4, |x| *x), Vec::<u64>::new());
    }
}

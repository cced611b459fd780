//! Parameter sweeps: every combination of a grid run as a full portfolio backtest, in
//! parallel, scored by one metric and ranked, as backtesting.py's `Backtest.optimize` (grid
//! method) does.
//!
//! A swept parameter applies to every leg whose strategy has it. Combinations that break the
//! strategy's rules (`fast >= slow`, ...) are skipped, like the library's `constraint`; a
//! combination without closed trades scores NaN and ranks last, as there. Pure: threads, no
//! I/O; each finished combination is counted on a [`Progress`] whose sink the caller chose.

use super::engine::{self, Settings, Sizing};
use super::metrics::{self, Benchmark, Metrics, Summary};
use super::params::{self, Axis};
use super::portfolio::{self, Leg, Segment};
use super::scoring::{self, RankBy};
use crate::domain::Bar;
use crate::plan::protect::Protection;
use crate::progress::{Progress, Silent, Sink};
use crate::strategy::{Smas, Strategy};
use std::sync::OnceLock;

/// One symbol's input to a sweep: its bars, the strategy the grid modifies, its sizing.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub bars: &'a [Bar],
    pub strategy: Strategy,
    pub sizing: Option<Sizing>,
    /// Overrides `Settings::protection` for this symbol (its `[[symbol]]` keys).
    pub protection: Option<Protection>,
}

/// A long-only SMA cross over `bars` with the settings' sizing and protection: the input
/// most tests sweep.
#[cfg(test)]
pub(crate) fn sma_cross_input(bars: &[Bar], fast: usize, slow: usize) -> Input<'_> {
    Input {
        bars,
        strategy: Strategy::SmaCross {
            fast,
            slow,
            allow_short: false,
        },
        sizing: None,
        protection: None,
    }
}

/// One valid combination's result.
#[derive(Debug, Clone)]
pub struct Row {
    /// Values in the axes' order.
    pub values: Vec<f64>,
    /// Each leg's strategy with these values.
    pub strategies: Vec<Strategy>,
    /// Each leg's protection with these values (the input's when no axis is protective).
    pub protections: Vec<Option<Protection>>,
    /// What sweep.csv shows of its metrics; [`evaluate_row`] gives them all.
    pub metrics: Option<Summary>,
    /// The ranking metric; NaN without closed trades.
    pub score: f64,
}

/// A finished sweep: rows best first.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub axes: Vec<Axis>,
    pub rank: RankBy,
    pub rows: Vec<Row>,
    /// Combinations skipped because they break a strategy rule.
    pub skipped: usize,
}

impl Sweep {
    pub fn best(&self) -> Option<&Row> {
        self.rows.first().filter(|r| !r.score.is_nan())
    }
}

/// Each leg's strategy for one combination: `Ok(None)` when the combination breaks a rule,
/// `Err` when a parameter does not exist for any leg or cannot take the value.
fn strategies_for(
    inputs: &[Input<'_>],
    axes: &[Axis],
    values: &[f64],
) -> Result<Option<Combo>, String> {
    let mut out = Vec::with_capacity(inputs.len());
    let mut protections = Vec::with_capacity(inputs.len());
    for input in inputs {
        let protective: Vec<(String, f64)> = axes
            .iter()
            .zip(values)
            .filter(|(a, _)| params::PROTECTIVE.contains(&a.name.as_str()))
            .map(|(a, &v)| (a.name.clone(), v))
            .collect();
        if protective.is_empty() {
            protections.push(input.protection);
        } else {
            let base = input.protection.unwrap_or_default();
            match params::with_protection(base, &protective) {
                Some(p) => protections.push(Some(p)),
                None => return Ok(None),
            }
        }
        let own: Vec<(String, f64)> = axes
            .iter()
            .zip(values)
            .filter(|(a, _)| {
                params::params_of(&input.strategy)
                    .iter()
                    .any(|p| p.0 == a.name)
            })
            .map(|(a, &v)| (a.name.clone(), v))
            .collect();
        let s = params::with_params(&input.strategy, &own)?;
        if params::validate(&s).is_err() {
            return Ok(None);
        }
        out.push(s);
    }
    Ok(Some(Combo {
        strategies: out,
        protections,
    }))
}

/// One valid combination: each leg's strategy and protection.
#[derive(Debug, Clone)]
pub struct Combo {
    pub strategies: Vec<Strategy>,
    pub protections: Vec<Option<Protection>>,
}

/// Check that every axis names a parameter of some leg's strategy.
pub fn check_axes(inputs: &[Input<'_>], axes: &[Axis]) -> Result<(), String> {
    for axis in axes {
        let known = params::PROTECTIVE.contains(&axis.name.as_str())
            || inputs.iter().any(|i| {
                params::params_of(&i.strategy)
                    .iter()
                    .any(|p| p.0 == axis.name)
            });
        if !known {
            let mut names: Vec<&str> = inputs
                .iter()
                .flat_map(|i| params::params_of(&i.strategy).into_iter().map(|p| p.0))
                .collect();
            names.dedup();
            names.extend(params::PROTECTIVE);
            return Err(format!(
                "no strategy here has a parameter `{}` (they have {})",
                axis.name,
                names.join(", ")
            ));
        }
        if axes.iter().filter(|a| a.name == axis.name).count() > 1 {
            return Err(format!("`{}` is swept twice", axis.name));
        }
    }
    Ok(())
}

/// Run one backtest: each leg on its strategy, scored.
pub fn evaluate(
    inputs: &[Input<'_>],
    strategies: &[Strategy],
    settings: &Settings,
) -> Option<Metrics> {
    let smas: Vec<Smas> = inputs
        .iter()
        .zip(strategies)
        .map(|(i, s)| Smas::new(i.bars, s.sma_windows()))
        .collect();
    evaluate_with(inputs, strategies, settings, &smas)
}

/// Each input's SMAs for every window any combination of `grid` reads: computed once, shared
/// by all of them (a window's series is the same whichever combination asks).
pub fn grid_smas(inputs: &[Input<'_>], grid: &Grid) -> Vec<Smas> {
    inputs
        .iter()
        .enumerate()
        .map(|(k, input)| {
            let windows = grid
                .combos
                .iter()
                .flat_map(|(_, c)| c.strategies[k].sma_windows());
            Smas::new(input.bars, windows)
        })
        .collect()
}

/// [`evaluate`] with each input's SMAs already computed (`smas[k]` for `inputs[k]`).
pub fn evaluate_with(
    inputs: &[Input<'_>],
    strategies: &[Strategy],
    settings: &Settings,
    smas: &[Smas],
) -> Option<Metrics> {
    let protections: Vec<_> = inputs.iter().map(|i| i.protection).collect();
    let combo = Combo {
        strategies: strategies.to_vec(),
        protections,
    };
    evaluate_sharing(inputs, &combo, settings, smas, &OnceLock::new())
}

/// [`evaluate_with`], sharing β's benchmark half and the calendar through `bench` with the
/// other combinations ([`scoring::portfolio_sharing`]).
fn evaluate_sharing(
    inputs: &[Input<'_>],
    combo: &Combo,
    settings: &Settings,
    smas: &[Smas],
    bench: &OnceLock<Benchmark>,
) -> Option<Metrics> {
    let out = simulate(inputs, combo, settings, smas);
    let bars: Vec<&[Bar]> = inputs.iter().map(|i| i.bars).collect();
    scoring::portfolio_sharing(&bars, &out, bench)
}

/// One combination's row: its [`Summary`] and score. Only when the ranking metric is not a
/// column of the summary are its full metrics computed.
fn score_sharing(
    inputs: &[Input<'_>],
    combo: &Combo,
    settings: &Settings,
    smas: &[Smas],
    bench: &OnceLock<Benchmark>,
    rank: RankBy,
) -> (Option<Summary>, f64) {
    if !rank.in_summary() {
        let m = evaluate_sharing(inputs, combo, settings, smas, bench);
        return (m.as_ref().map(Summary::of), rank.score(m.as_ref()));
    }
    let schedules: Vec<Vec<Segment>> = combo
        .strategies
        .iter()
        .map(|s| Segment::always(s.clone()))
        .collect();
    let legs = legs(inputs, combo, &schedules);
    if portfolio::is_one_leg(&legs, settings) {
        // What `portfolio::run_with` does for one leg (the engine itself), without the
        // portfolio's outcome: the summary reads only the equity and the trades.
        let leg = &legs[0];
        let out = engine::run_with(
            leg.bars,
            &leg.schedule[0].strategy,
            &portfolio::one_leg_settings(leg, settings),
            &smas[0],
        );
        let bench = bench.get_or_init(|| {
            let times: Vec<_> = leg.bars.iter().map(|b| b.time).collect();
            let closes: Vec<f64> = leg.bars.iter().map(|b| b.close).collect();
            Benchmark::of(&times, &closes)
        });
        let summary = metrics::summary_over_benchmark(&out.equity, &out.trades, bench);
        let score = rank.score_summary(summary.as_ref()).unwrap_or(f64::NAN);
        return (summary, score);
    }
    let out = portfolio::run_with(&legs, settings, smas);
    let bars: Vec<&[Bar]> = inputs.iter().map(|i| i.bars).collect();
    let summary = scoring::portfolio_summary(&bars, &out, bench);
    let score = rank.score_summary(summary.as_ref()).unwrap_or(f64::NAN);
    (summary, score)
}

/// One combination's portfolio run.
fn simulate(
    inputs: &[Input<'_>],
    combo: &Combo,
    settings: &Settings,
    smas: &[Smas],
) -> portfolio::PortfolioOutcome {
    let schedules: Vec<Vec<Segment>> = combo
        .strategies
        .iter()
        .map(|s| Segment::always(s.clone()))
        .collect();
    portfolio::run_with(&legs(inputs, combo, &schedules), settings, smas)
}

/// One combination's legs, each on its schedule (`schedules[k]` for `inputs[k]`).
fn legs<'a>(inputs: &[Input<'a>], combo: &Combo, schedules: &'a [Vec<Segment>]) -> Vec<Leg<'a>> {
    inputs
        .iter()
        .zip(schedules)
        .zip(&combo.protections)
        .map(|((i, schedule), &protection)| Leg {
            bars: i.bars,
            schedule,
            sizing: i.sizing,
            protection,
        })
        .collect()
}

/// Every metric of a sweep's row (its strategies and protections), as a plain run gives them.
pub fn evaluate_row(inputs: &[Input<'_>], row: &Row, settings: &Settings) -> Option<Metrics> {
    let combo = Combo {
        strategies: row.strategies.clone(),
        protections: row.protections.clone(),
    };
    let smas: Vec<Smas> = inputs
        .iter()
        .zip(&row.strategies)
        .map(|(i, s)| Smas::new(i.bars, s.sma_windows()))
        .collect();
    evaluate_sharing(inputs, &combo, settings, &smas, &OnceLock::new())
}

/// The valid combinations of a grid, with their strategies, and how many were skipped.
#[derive(Debug, Clone)]
pub struct Grid {
    pub combos: Vec<(Vec<f64>, Combo)>,
    pub skipped: usize,
}

/// The grid of `axes` over `inputs`' strategies. Which combinations are valid depends on the
/// strategies only, never on the bars, so a walk-forward builds it once for every window.
pub fn grid(inputs: &[Input<'_>], axes: &[Axis]) -> Result<Grid, String> {
    check_axes(inputs, axes)?;
    let mut combos = Vec::new();
    let mut skipped = 0;
    for values in params::combinations(axes) {
        match strategies_for(inputs, axes, &values)? {
            Some(strategies) => combos.push((values, strategies)),
            None => skipped += 1,
        }
    }
    Ok(Grid { combos, skipped })
}

/// Run the grid on `threads` threads.
pub fn run(
    inputs: &[Input<'_>],
    axes: &[Axis],
    settings: &Settings,
    rank: RankBy,
    threads: usize,
) -> Result<Sweep, String> {
    run_showing(inputs, axes, settings, rank, threads, &Silent)
}

/// [`run`], telling `sink` how many of the combinations are done.
pub fn run_showing(
    inputs: &[Input<'_>],
    axes: &[Axis],
    settings: &Settings,
    rank: RankBy,
    threads: usize,
    sink: &dyn Sink,
) -> Result<Sweep, String> {
    let grid = grid(inputs, axes)?;
    let progress = Progress::start(sink, "sweep", grid.combos.len() as u64);
    Ok(run_grid(
        inputs, axes, grid, settings, rank, threads, &progress,
    ))
}

/// Run a grid built by [`grid`], one `progress` unit per combination.
pub fn run_grid(
    inputs: &[Input<'_>],
    axes: &[Axis],
    grid: Grid,
    settings: &Settings,
    rank: RankBy,
    threads: usize,
    progress: &Progress<'_>,
) -> Sweep {
    let smas = grid_smas(inputs, &grid);
    let bench = OnceLock::new();
    let Grid { combos, skipped } = grid;
    let results = scoring::parallel_map(&combos, threads, |(_, combo)| {
        let row = score_sharing(inputs, combo, settings, &smas, &bench, rank);
        progress.inc();
        row
    });
    let mut rows: Vec<Row> = combos
        .into_iter()
        .zip(results)
        .map(|((values, combo), (metrics, score))| Row {
            score,
            values,
            strategies: combo.strategies,
            protections: combo.protections,
            metrics,
        })
        .collect();
    let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
    let order = scoring::ranking(&scores);
    let mut slots: Vec<Option<Row>> = rows.drain(..).map(Some).collect();
    let rows = order.iter().filter_map(|&i| slots[i].take()).collect();
    Sweep {
        axes: axes.to_vec(),
        rank,
        rows,
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::params::parse_axis;
    use chrono::{Duration, TimeZone, Utc};

    fn bars(n: usize) -> Vec<Bar> {
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        (0..n)
            .map(|i| {
                let x = i as f64;
                let c = 100.0 + 10.0 * (x / 7.0).sin() + 3.0 * (x / 2.3).cos() + x * 0.05;
                Bar {
                    time: t0 + Duration::days(i as i64),
                    open: c - 0.3,
                    high: c + 1.0,
                    low: c - 1.0,
                    close: c,
                    volume: 1.0,
                    trades: 1,
                    vwap: f64::NAN,
                }
            })
            .collect()
    }

    #[test]
    fn sweep_skips_invalid_combinations_and_ranks_by_the_metric() {
        let b = bars(300);
        let inputs = [sma_cross_input(&b, 10, 20)];
        let axes = [
            parse_axis("fast=2..12:2").unwrap(),
            parse_axis("slow=5..25:5").unwrap(),
        ];
        let rank = RankBy::parse("Return [%]").unwrap();
        let settings = Settings::default();
        let one = run(&inputs, &axes, &settings, rank, 1).unwrap();
        let par = run(&inputs, &axes, &settings, rank, 3).unwrap();
        // 5 × 4 combinations; fast < slow leaves 5 + 4 + 3 + 3 + 2... counted by hand:
        // fast 2: 5,10,15,20 (4); 4: 4; 6: 10,15,20 (3); 8: 3; 10: 15,20 (2) = 16.
        assert_eq!((one.rows.len(), one.skipped), (16, 4));
        assert!(one
            .rows
            .windows(2)
            .all(|w| w[0].score >= w[1].score || w[1].score.is_nan()));
        // Parallel and serial agree exactly, order included.
        let key = |s: &Sweep| -> Vec<(Vec<f64>, u64)> {
            s.rows
                .iter()
                .map(|r| (r.values.clone(), r.score.to_bits()))
                .collect()
        };
        assert_eq!(key(&one), key(&par));
        // Progress: the 16 valid combinations, each counted once, from three threads.
        let rec = crate::progress::tests::Recorder::default();
        run_showing(&inputs, &axes, &settings, rank, 3, &rec).unwrap();
        let calls = rec.calls();
        assert_eq!(calls.first().unwrap(), "begin sweep 16");
        assert_eq!(calls[calls.len() - 2..], ["update 16", "end"]);
        // The best row's score is the return of a plain run with its parameters.
        let best = one.best().unwrap();
        let m = evaluate(&inputs, &best.strategies, &settings).unwrap();
        assert_eq!(m.return_pct, best.score);
        assert!(run(
            &inputs,
            &[parse_axis("fsat=1..3").unwrap()],
            &settings,
            rank,
            1
        )
        .is_err());
    }

    /// Shared SMAs and a shared benchmark change nothing: every row of a grid (multi-thread)
    /// has the very metrics (NaNs included) of a run computed alone, whose `decide` sums
    /// each window itself and whose β takes every logarithm itself.
    #[test]
    fn shared_indicators_and_benchmark_give_each_combination_its_own_results() {
        let b = bars(400);
        let inputs = [Input {
            bars: &b,
            strategy: Strategy::SmaCross {
                fast: 10,
                slow: 20,
                allow_short: true,
            },
            sizing: None,
            protection: None,
        }];
        let axes = [
            parse_axis("fast=1..30:3").unwrap(),
            parse_axis("slow=5..80:7").unwrap(),
        ];
        let settings = Settings {
            commission: 0.001,
            ..Settings::default()
        };
        let sweep = run(&inputs, &axes, &settings, RankBy::default(), 2).unwrap();
        assert!(sweep.rows.len() > 80, "{}", sweep.rows.len());
        for row in &sweep.rows {
            let no_smas = [Smas::EMPTY];
            let alone = evaluate_with(&inputs, &row.strategies, &settings, &no_smas);
            assert_eq!(
                format!("{:?}", row.metrics),
                format!("{:?}", alone.as_ref().map(Summary::of)),
                "{:?}",
                row.values
            );
            let score = RankBy::default().score(alone.as_ref());
            assert_eq!(row.score.to_bits(), score.to_bits(), "{:?}", row.values);
        }
    }

    /// Ranked by a metric a row does not keep (Sortino), each combination's full metrics are
    /// computed for its score; the row still keeps its summary, and `evaluate_row` gives the
    /// best row's full metrics.
    #[test]
    fn a_metric_outside_the_summary_ranks_from_the_full_metrics() {
        let b = bars(300);
        let inputs = [sma_cross_input(&b, 10, 20)];
        let axes = [
            parse_axis("fast=2..12:2").unwrap(),
            parse_axis("slow=5..25:5").unwrap(),
        ];
        let rank = RankBy::parse("Sortino Ratio").unwrap();
        let settings = Settings::default();
        let sweep = run(&inputs, &axes, &settings, rank, 2).unwrap();
        for row in &sweep.rows {
            let full = evaluate_row(&inputs, row, &settings);
            assert_eq!(row.score.to_bits(), rank.score(full.as_ref()).to_bits());
            assert_eq!(row.metrics, full.as_ref().map(Summary::of));
        }
        let best = sweep.best().unwrap();
        let full = evaluate_row(&inputs, best, &settings).unwrap();
        assert_eq!(full.sortino_ratio, best.score);
    }

    #[test]
    fn a_run_without_trades_scores_nan_and_ranks_last() {
        let b = bars(40);
        let inputs = [sma_cross_input(&b, 2, 5)];
        // slow = 60 > 40 bars: never decides, no trades.
        let axes = [parse_axis("slow=5,60").unwrap()];
        let s = run(&inputs, &axes, &Settings::default(), RankBy::default(), 2).unwrap();
        assert_eq!(s.rows[1].values, [60.0]);
        assert!(s.rows[1].score.is_nan());
    }

    #[test]
    fn stop_loss_pct_is_swept_like_a_strategy_parameter() {
        // Buy 10 at Open[2] = 20 (bar 1 closed at 11 > 10); bar 3 opens at 20 and dips to 17.5.
        // Stop 5 % = 19.00: sold at 19, −10; 10 % = 18.00: sold at 18, −20; 20 % = 16.00:
        // untouched, nothing closed; 100 breaks the config's rule (below 100): skipped.
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let b: Vec<Bar> = [
            (7.0, 7.0, 7.0, 7.0),
            (7.0, 11.0, 7.0, 11.0),
            (20.0, 21.0, 19.5, 20.0),
            (20.0, 21.0, 17.5, 20.0),
        ]
        .iter()
        .enumerate()
        .map(|(i, &(open, high, low, close))| Bar {
            time: t0 + Duration::days(i as i64),
            open,
            high,
            low,
            close,
            volume: 1.0,
            trades: 1,
            vwap: f64::NAN,
        })
        .collect();
        let inputs = [Input {
            bars: &b,
            strategy: Strategy::Threshold {
                buy_above: 10.0,
                sell_below: 5.0,
            },
            sizing: Some(Sizing::Qty(10.0)),
            protection: None,
        }];
        let axes = [parse_axis("stop_loss_pct=5,10,20,100").unwrap()];
        let settings = Settings {
            cash: 1000.0,
            ..Settings::default()
        };
        let rank = RankBy::parse("Return [%]").unwrap();
        let out = run(&inputs, &axes, &settings, rank, 2).unwrap();
        assert_eq!((out.rows.len(), out.skipped), (3, 1));
        let got: Vec<(f64, Option<f64>, Option<f64>)> = out
            .rows
            .iter()
            .map(|r| {
                (
                    r.values[0],
                    r.protections[0].and_then(|p| p.stop_loss_pct),
                    r.metrics.as_ref().map(|m| m.equity_final),
                )
            })
            .collect();
        // Ranked by return: −1 %, −2 %, then the run without a closed trade (scored NaN) last,
        // its trade still open and marked at 20: 1000.
        assert_eq!(
            got,
            [
                (5.0, Some(5.0), Some(990.0)),
                (10.0, Some(10.0), Some(980.0)),
                (20.0, Some(20.0), Some(1000.0)),
            ]
        );
        // A protective key is known whatever the strategy; a typo is not.
        assert!(check_axes(&inputs, &[parse_axis("take_profit_pct=1").unwrap()]).is_ok());
        let err = check_axes(&inputs, &[parse_axis("stop_los_pct=1").unwrap()]).unwrap_err();
        assert!(err.contains("stop_loss_pct"), "{err}");
    }
}

//! Walk-forward optimisation: choose parameters on a training window, trade them on the test
//! window that follows, move on; the concatenated test windows are the out-of-sample result,
//! the number to believe.
//!
//! Windows are counted in steps of the merged timeline (bars, for one symbol). Rolling:
//! window `k` trains on `[k·test, k·test + train)` and tests on the `test` steps after it.
//! Anchored: training always starts at step 0 and grows. The last test window may be short.
//!
//! # How the test windows are traded (the warm-up choice)
//!
//! The out-of-sample run is **one continuous backtest** over all the bars whose strategy
//! changes at each test window's first bar (a [`Segment`] schedule). So:
//! * a decision on any bar sees every bar before it (`decide(&bars[..=i])`), including the
//!   training window's: an SMA(50) is defined on the first test bar, as it would be for a
//!   live bot that was re-optimised that morning. Only decisions are made before the window;
//!   none is made before the first test window at all, so nothing is traded in-sample;
//! * a position open when a window ends is carried into the next one (the live account would
//!   hold it too) and the new parameters decide what to do with it;
//! * cash and equity carry over, so the out-of-sample equity is one curve, not glued pieces.
//!
//! Choosing uses only training bars (each leg's bars within the training window's time
//! span), so no test-window bar can influence the parameters traded on it. A training window
//! in which no combination closed a trade keeps the previous window's parameters (none yet:
//! the leg does not trade until a window chooses some).

use super::engine::Settings;
use super::metrics::Metrics;
use super::params::Axis;
use super::portfolio::{self, Leg, PortfolioOutcome, Segment};
use super::scoring::{self, RankBy};
use super::sweep::{self, Input};
use crate::domain::Bar;
use crate::progress::{Progress, Silent, Sink};
use crate::strategy::Strategy;
use std::ops::Range;

/// `--walk-forward train=N test=M [--anchored]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub train: usize,
    pub test: usize,
    pub anchored: bool,
}

impl Plan {
    /// Parse `train=756 test=126` (in either order).
    pub fn parse(parts: &[String], anchored: bool) -> Result<Plan, String> {
        let (mut train, mut test) = (None, None);
        for p in parts {
            let (name, value) = super::params::split_assignment(p)?;
            let n: usize = value
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("`{p}`: expected a positive number of bars"))?;
            match name {
                "train" => train = Some(n),
                "test" => test = Some(n),
                _ => return Err(format!("`{p}`: expected train=BARS or test=BARS")),
            }
        }
        match (train, test) {
            (Some(train), Some(test)) => Ok(Plan {
                train,
                test,
                anchored,
            }),
            _ => Err("--walk-forward needs both train=BARS and test=BARS".into()),
        }
    }

    /// The windows over `steps` timeline steps; empty if not even one test bar fits.
    pub fn windows(&self, steps: usize) -> Vec<Window> {
        let mut out = Vec::new();
        let mut k = 0;
        loop {
            let test_start = self.train + k * self.test;
            if test_start >= steps {
                break;
            }
            let train_start = if self.anchored { 0 } else { k * self.test };
            out.push(Window {
                train: train_start..test_start,
                test: test_start..(test_start + self.test).min(steps),
            });
            k += 1;
        }
        out
    }
}

/// One train/test split, in timeline steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub train: Range<usize>,
    pub test: Range<usize>,
}

/// What happened in one window.
#[derive(Debug, Clone)]
pub struct WindowResult {
    pub window: Window,
    /// The chosen combination's values (axes' order), `None` if no combination traded.
    pub chosen: Option<Vec<f64>>,
    /// The chosen combination's score on its training window.
    pub in_sample_score: f64,
    /// The ranking metric over this test window alone (NaN without closed trades).
    pub out_of_sample_score: f64,
    /// Equity change over the test window, percent.
    pub out_of_sample_return_pct: f64,
}

/// A finished walk-forward.
#[derive(Debug, Clone)]
pub struct WalkForward {
    pub plan: Plan,
    pub windows: Vec<WindowResult>,
    /// The continuous run; equity before `oos_start` is the starting cash.
    pub outcome: PortfolioOutcome,
    /// Each leg's strategy schedule as traded.
    pub schedules: Vec<Vec<Segment>>,
    /// The first out-of-sample step.
    pub oos_start: usize,
    /// Metrics over the out-of-sample steps.
    pub out_of_sample: Option<Metrics>,
}

/// The bars of `bars` whose time lies within `times[range]`.
fn slice<'a>(
    bars: &'a [Bar],
    times: &[chrono::DateTime<chrono::Utc>],
    r: &Range<usize>,
) -> &'a [Bar] {
    if r.is_empty() {
        return &bars[..0];
    }
    let (t0, t1) = (times[r.start], times[r.end - 1]);
    let a = bars.partition_point(|b| b.time < t0);
    let b = bars.partition_point(|b| b.time <= t1);
    &bars[a..b]
}

/// Run the plan: a sweep per training window, one continuous out-of-sample run.
pub fn run(
    inputs: &[Input<'_>],
    axes: &[Axis],
    settings: &Settings,
    rank: RankBy,
    plan: Plan,
    threads: usize,
) -> Result<WalkForward, String> {
    run_showing(inputs, axes, settings, rank, plan, threads, &Silent)
}

/// [`run`], telling `sink` how many of the windows × combinations are done.
pub fn run_showing(
    inputs: &[Input<'_>],
    axes: &[Axis],
    settings: &Settings,
    rank: RankBy,
    plan: Plan,
    threads: usize,
    sink: &dyn Sink,
) -> Result<WalkForward, String> {
    let grid = sweep::grid(inputs, axes)?;
    let mut times: Vec<_> = inputs
        .iter()
        .flat_map(|i| i.bars.iter().map(|b| b.time))
        .collect();
    times.sort_unstable();
    times.dedup();
    let windows = plan.windows(times.len());
    if windows.is_empty() {
        return Err(format!(
            "--walk-forward train={} needs more than {} bars to leave a test window (there are {})",
            plan.train,
            plan.train,
            times.len()
        ));
    }

    let total = windows.len() * grid.combos.len();
    let progress = Progress::start(sink, "walk-forward", total as u64);
    let mut schedules: Vec<Vec<Segment>> = vec![Vec::new(); inputs.len()];
    let mut chosen = Vec::with_capacity(windows.len());
    for w in &windows {
        let train: Vec<Input<'_>> = inputs
            .iter()
            .map(|i| Input {
                bars: slice(i.bars, &times, &w.train),
                ..i.clone()
            })
            .collect();
        let result = sweep::run_grid(
            &train,
            axes,
            grid.clone(),
            settings,
            rank,
            threads,
            &progress,
        );
        let best = result.best();
        let from = times[w.test.start];
        if let Some(best) = best {
            let chosen = best.strategies.iter().zip(&best.protections);
            for (schedule, (strategy, &protection)) in schedules.iter_mut().zip(chosen) {
                // The window's protection (a swept `stop_loss_pct`...) for the trades entered
                // in it; a trade keeps the levels it was entered with.
                schedule.push(Segment {
                    from,
                    strategy: strategy.clone(),
                    protection,
                });
            }
        }
        chosen.push((
            best.map(|b| b.values.clone()),
            best.map_or(f64::NAN, |b| b.score),
        ));
    }

    // Legs that never got parameters do not trade: give them a strategy that never fires
    // (a schedule starting after the last bar).
    let never = times.last().copied().unwrap_or_default() + chrono::Duration::days(1);
    for (schedule, input) in schedules.iter_mut().zip(inputs) {
        if schedule.is_empty() {
            schedule.push(Segment {
                from: never,
                strategy: input.strategy.clone(),
                protection: None,
            });
        }
    }
    let legs: Vec<Leg<'_>> = inputs
        .iter()
        .zip(&schedules)
        .map(|(i, schedule)| Leg {
            bars: i.bars,
            schedule,
            sizing: i.sizing,
            protection: i.protection,
        })
        .collect();
    drop(progress);
    let outcome = portfolio::run(&legs, settings);
    let bars: Vec<&[Bar]> = inputs.iter().map(|i| i.bars).collect();
    let oos_start = windows[0].test.start;
    let out_of_sample = scoring::tail(&bars, &outcome, oos_start);

    let results = windows
        .into_iter()
        .zip(chosen)
        .map(|(window, (values, in_sample_score))| {
            let e = &outcome.equity;
            let (a, b) = (window.test.start, window.test.end);
            // Equity at the close before the window (the starting cash for the first one).
            let before = if a == 0 { settings.cash } else { e[a - 1] };
            let ret = (e[b - 1] - before) / before * 100.0;
            let oos = window_metrics(&bars, &outcome, &window.test);
            WindowResult {
                out_of_sample_score: rank.score(oos.as_ref()),
                window,
                chosen: values,
                in_sample_score,
                out_of_sample_return_pct: ret,
            }
        })
        .collect();
    Ok(WalkForward {
        plan,
        windows: results,
        outcome,
        schedules,
        oos_start,
        out_of_sample,
    })
}

/// Metrics of the steps `r` of `out` alone (trades entered and closed inside it).
fn window_metrics(bars: &[&[Bar]], out: &PortfolioOutcome, r: &Range<usize>) -> Option<Metrics> {
    let closes = scoring::benchmark(bars, out);
    let trades: Vec<_> = out
        .timeline_trades()
        .into_iter()
        .filter(|t| t.entry_bar >= r.start && t.exit_bar < r.end)
        .map(|t| super::engine::Trade {
            entry_bar: t.entry_bar - r.start,
            exit_bar: t.exit_bar - r.start,
            ..t
        })
        .collect();
    super::metrics::compute(
        &out.times[r.clone()],
        &closes[r.clone()],
        &out.equity[r.clone()],
        &trades,
        0,
    )
}

/// The strategy in force for each leg at the end (the last window's choice).
pub fn final_strategies(wf: &WalkForward) -> Vec<Option<&Strategy>> {
    wf.schedules
        .iter()
        .map(|s| s.last().map(|seg| &seg.strategy))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::params::parse_axis;
    use crate::backtest::sweep::sma_cross_input;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn rolling_and_anchored_windows() {
        let rolling = Plan {
            train: 10,
            test: 4,
            anchored: false,
        };
        let w = rolling.windows(20);
        assert_eq!(
            w,
            [
                Window {
                    train: 0..10,
                    test: 10..14
                },
                Window {
                    train: 4..14,
                    test: 14..18
                },
                Window {
                    train: 8..18,
                    test: 18..20
                },
            ]
        );
        let anchored = Plan {
            anchored: true,
            ..rolling
        };
        assert_eq!(anchored.windows(20)[2].train, 0..18);
        assert!(rolling.windows(10).is_empty());
        let p = Plan::parse(&["test=126".into(), "train=756".into()], false).unwrap();
        assert_eq!((p.train, p.test), (756, 126));
        assert!(Plan::parse(&["train=5".into()], false).is_err());
        assert!(Plan::parse(&["train=0".into(), "test=1".into()], false).is_err());
        assert!(Plan::parse(&["trian=5".into(), "test=1".into()], false).is_err());
    }

    fn bars(n: usize) -> Vec<Bar> {
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        (0..n)
            .map(|i| {
                let x = i as f64;
                let c = 100.0 + 10.0 * (x / 9.0).sin() + 4.0 * (x / 3.1).cos();
                Bar {
                    time: t0 + Duration::days(i as i64),
                    open: c + 0.2,
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
    fn out_of_sample_is_traded_only_after_training_with_training_choices() {
        let b = bars(400);
        let inputs = [sma_cross_input(&b, 3, 10)];
        let axes = [
            parse_axis("fast=2..8:2").unwrap(),
            parse_axis("slow=6..30:6").unwrap(),
        ];
        let plan = Plan {
            train: 150,
            test: 50,
            anchored: false,
        };
        let settings = Settings::default();
        let rank = RankBy::parse("Return [%]").unwrap();
        let rec = crate::progress::tests::Recorder::default();
        let wf = run_showing(&inputs, &axes, &settings, rank, plan, 2, &rec).unwrap();
        assert_eq!(wf.windows.len(), 5);
        // Progress counts windows × valid combinations: fast 2,4,6 × slow 6,12,18,24 less
        // (6, 6) is 11, five times.
        let calls = rec.calls();
        assert_eq!(calls.first().unwrap(), "begin walk-forward 55");
        assert_eq!(calls[calls.len() - 2..], ["update 55", "end"]);
        assert_eq!(wf.oos_start, 150);
        // Nothing is traded before the first test bar; equity there is the cash.
        assert!(wf.outcome.equity[..150].iter().all(|&e| e == settings.cash));
        let leg = &wf.outcome.legs[0];
        assert!(leg.decisions.iter().all(|d| d.bar >= 150));
        assert!(!leg.trades.is_empty());
        // Each window's choice is the best of a sweep over its training bars only.
        for w in &wf.windows {
            let train = [Input {
                bars: &b[w.window.train.clone()],
                ..inputs[0].clone()
            }];
            let s = sweep::run(&train, &axes, &settings, rank, 1).unwrap();
            assert_eq!(w.chosen.as_ref(), s.best().map(|r| &r.values));
        }
        let oos = wf.out_of_sample.unwrap();
        assert_eq!(oos.start, b[150].time);
        // The out-of-sample return is the equity change from the first test bar's open.
        let e = &wf.outcome.equity;
        assert!((oos.return_pct - (e[399] - e[150]) / e[150] * 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_window_chooses_its_stop_loss_pct_and_trades_with_it() {
        let b = bars(400);
        let inputs = [sma_cross_input(&b, 3, 10)];
        let axes = [
            parse_axis("fast=2..8:2").unwrap(),
            parse_axis("stop_loss_pct=0.5,1,3").unwrap(),
        ];
        let plan = Plan {
            train: 150,
            test: 50,
            anchored: false,
        };
        let settings = Settings::default();
        let rank = RankBy::parse("Return [%]").unwrap();
        let wf = run(&inputs, &axes, &settings, rank, plan, 2).unwrap();
        // Each window's choice is the best of a sweep over its training bars, and its
        // segment carries that stop.
        let schedule = &wf.schedules[0];
        assert_eq!(schedule.len(), wf.windows.len());
        for (w, seg) in wf.windows.iter().zip(schedule) {
            let train = [Input {
                bars: &b[w.window.train.clone()],
                ..inputs[0].clone()
            }];
            let s = sweep::run(&train, &axes, &settings, rank, 1).unwrap();
            let best = s.best().unwrap();
            assert_eq!(w.chosen.as_ref(), Some(&best.values));
            assert_eq!(seg.protection.unwrap().stop_loss_pct, Some(best.values[1]));
        }
        // The stops traded: without them the same schedule closes other trades.
        let bare: Vec<Segment> = schedule
            .iter()
            .map(|s| Segment {
                protection: None,
                ..s.clone()
            })
            .collect();
        let legs = [Leg {
            bars: &b,
            schedule: &bare,
            sizing: None,
            protection: None,
        }];
        let plain = portfolio::run(&legs, &settings);
        assert_ne!(plain.legs[0].trades, wf.outcome.legs[0].trades);
    }
}

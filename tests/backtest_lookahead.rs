//! No look-ahead, proven by perturbation; and the backtest decides exactly as the tick does.
//!
//! The claim, precisely: a decision on bar `t` is `decide(&bars[..=t], Close[t], position)`,
//! where `position` results from fills at bars `<= t`. A next-open fill of that decision
//! executes at `Open[t+1]` and is recorded on bar `t+1`; a close fill executes at `Close[t]`
//! and is recorded on bar `t`. So replacing every bar after `t` with anything at all must
//! leave unchanged:
//! * every decision made on a bar `<= t` (bar, signal);
//! * every fill recorded on a bar `<= t` (entries: bar, size, price; exits: bar, price, PnL);
//! * the equity at every bar `<= t`.
//!
//! It is checked for every strategy kind (threshold, SMA cross long-only and
//! stop-and-reverse, a learned model), both fill modes, several sizings, one leg and a
//! two-leg shared-cash portfolio, at many cut points, with random replacement bars.

use chrono::{Duration, TimeZone, Utc};
use prometheus_bot::backtest::engine::{Fill, Settings, Sizing};
use prometheus_bot::backtest::portfolio::{self, Leg, PortfolioOutcome, Segment};
use prometheus_bot::domain::{Bar, Signal};
use prometheus_bot::strategy::features::N_FEATURES;
use prometheus_bot::strategy::Predictor;
use prometheus_bot::strategy::Strategy;
use std::sync::Arc;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Daily bars of a random walk around `level`, continuing `prev`.
fn walk(rng: &mut Rng, prev: &[Bar], n: usize, level: f64) -> Vec<Bar> {
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let mut close = prev.last().map_or(level, |b| b.close);
    (prev.len()..prev.len() + n)
        .map(|i| {
            // Mean-reverting around `level`, so that every rule keeps trading.
            let open = (close * (1.0 + 0.03 * (rng.next() - 0.5))).max(1.0);
            close = (level + 0.9 * (open - level) + 6.0 * (rng.next() - 0.5)).max(1.0);
            Bar {
                time: t0 + Duration::days(i as i64),
                open,
                high: open.max(close) * (1.0 + 0.01 * rng.next()),
                low: open.min(close) * (1.0 - 0.01 * rng.next()),
                close,
                volume: 1000.0 + 1000.0 * rng.next(),
                trades: 10,
                vwap: (open + close) / 2.0,
            }
        })
        .collect()
}

fn model() -> Strategy {
    let mut weights = [0.0; N_FEATURES];
    for (i, w) in weights.iter_mut().enumerate() {
        *w = if i % 2 == 0 { 0.8 } else { -0.5 };
    }
    let predictor = Predictor {
        timeframe: prometheus_bot::domain::Timeframe::Day1,
        means: [0.0; N_FEATURES],
        stds: [1.0; N_FEATURES],
        weights,
        intercept: 0.0,
    };
    Strategy::Model {
        path: "test.model.json".into(),
        threshold: 0.52,
        drift_limit: 0.0,
        max_age_days: None,
        trade_unvalidated: false,
        model: Some(Arc::new(predictor)),
        trained_until: None,
    }
}

fn strategies() -> Vec<Strategy> {
    vec![
        Strategy::Threshold {
            buy_above: 101.0,
            sell_below: 99.0,
        },
        Strategy::SmaCross {
            fast: 3,
            slow: 8,
            allow_short: false,
        },
        Strategy::SmaCross {
            fast: 2,
            slow: 5,
            allow_short: true,
        },
        model(),
    ]
}

/// Decisions, entries and exits recorded on bars `<= t`, and the equity there, per leg.
#[derive(Debug, PartialEq)]
struct Past {
    decisions: Vec<(usize, Signal)>,
    entries: Vec<(usize, u64, u64)>,
    exits: Vec<(usize, u64, u64)>,
    equity: Vec<u64>,
}

fn past(out: &PortfolioOutcome, t: usize) -> Vec<Past> {
    out.legs
        .iter()
        .map(|leg| {
            let mut entries: Vec<_> = leg
                .trades
                .iter()
                .map(|x| (x.entry_bar, x.size.to_bits(), x.entry_price.to_bits()))
                .chain(
                    leg.open_trade
                        .iter()
                        .map(|x| (x.entry_bar, x.size.to_bits(), x.entry_price.to_bits())),
                )
                .filter(|e| e.0 <= t)
                .collect();
            entries.sort_unstable();
            Past {
                decisions: leg
                    .decisions
                    .iter()
                    .filter(|d| d.bar <= t)
                    .map(|d| (d.bar, d.signal))
                    .collect(),
                entries,
                exits: leg
                    .trades
                    .iter()
                    .filter(|x| x.exit_bar <= t)
                    .map(|x| (x.exit_bar, x.exit_price.to_bits(), x.pnl.to_bits()))
                    .collect(),
                equity: out.equity[..=t].iter().map(|e| e.to_bits()).collect(),
            }
        })
        .collect()
}

fn settings() -> Vec<Settings> {
    let mut all = Vec::new();
    for fill in [Fill::NextOpen, Fill::Close] {
        for (sizing, commission) in [
            (Sizing::ALL_IN, 0.002),
            (Sizing::Qty(20.0), 0.0),
            (
                Sizing::EquityFraction {
                    fraction: 0.4,
                    fractional: true,
                },
                0.001,
            ),
        ] {
            all.push(Settings {
                commission,
                slippage_bps: 3.0,
                fill,
                sizing,
                ..Settings::default()
            });
        }
    }
    all
}

#[test]
fn changing_every_bar_after_t_changes_nothing_decided_or_filled_at_or_before_t() {
    let n = 160;
    let mut checked = 0;
    for seed in 1..=3u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let a = walk(&mut rng, &[], n, 100.0);
        let b = walk(&mut rng, &[], n, 100.0);
        for strategy in strategies() {
            let schedule = Segment::always(strategy.clone());
            for settings in settings() {
                let run = |a: &[Bar], b: &[Bar], two: bool| {
                    let mut legs = vec![Leg {
                        bars: a,
                        schedule: &schedule,
                        sizing: None,
                        protection: None,
                    }];
                    if two {
                        legs.push(Leg {
                            bars: b,
                            schedule: &schedule,
                            sizing: None,
                            protection: None,
                        });
                    }
                    portfolio::run(&legs, &settings)
                };
                for two in [false, true] {
                    let base = run(&a, &b, two);
                    assert!(
                        base.legs.iter().any(|l| !l.decisions.is_empty()),
                        "{strategy:?} never decides: the test would prove nothing"
                    );
                    for t in (5..n - 1).step_by(9) {
                        // Every bar after t replaced by an unrelated random walk.
                        let mut noise = Rng(seed ^ (t as u64 * 7919));
                        let mut a2 = a[..=t].to_vec();
                        let tail = walk(&mut noise, &a2, n - t - 1, 100.0);
                        a2.extend(tail);
                        let mut b2 = b[..=t].to_vec();
                        let tail = walk(&mut noise, &b2, n - t - 1, 100.0);
                        b2.extend(tail);
                        let changed = run(&a2, &b2, two);
                        assert_eq!(
                            past(&base, t),
                            past(&changed, t),
                            "look-ahead: {strategy:?} {settings:?} two legs: {two}, t = {t}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

/// The tick's call, `strategy.decide(&market.bars, trade.p, effective)`, with the bars a
/// tick would hold after bar `t` closed, the last price at that bar's close and the position
/// the backtest held then, gives the very decision the backtest recorded on bar `t`.
#[test]
fn the_tick_and_the_backtest_decide_alike_on_the_same_closed_bars() {
    let mut rng = Rng(42);
    let bars = walk(&mut rng, &[], 200, 100.0);
    for strategy in strategies() {
        for fill in [Fill::NextOpen, Fill::Close] {
            let schedule = Segment::always(strategy.clone());
            let settings = Settings {
                fill,
                ..Settings::default()
            };
            let out = portfolio::run(
                &[Leg {
                    bars: &bars,
                    schedule: &schedule,
                    sizing: None,
                    protection: None,
                }],
                &settings,
            );
            let leg = &out.legs[0];
            // The position when bar t is decided on. Next-open: trades entered at or before
            // t and exited after it. Close fills: an order decided on bar d is recorded on d
            // but executed in bar d+1's step, so at bar t's decision the trades entered
            // before t and exited at or after t are held.
            let held = |entry: usize, exit: usize, t: usize| match fill {
                Fill::NextOpen => entry <= t && t < exit,
                Fill::Close => entry < t && t <= exit,
            };
            let position = |t: usize| {
                let closed = leg
                    .trades
                    .iter()
                    .find(|x| held(x.entry_bar, x.exit_bar, t))
                    .map(|x| x.size);
                let open = leg
                    .open_trade
                    .filter(|x| held(x.entry_bar, usize::MAX, t))
                    .map(|x| x.size);
                closed.or(open).unwrap_or(0.0)
            };
            let mut non_hold = 0;
            for t in leg.start..bars.len() {
                // What the tick has: the closed bars (it keeps the last `history` of them;
                // `decide` only looks at as many as it needs), the last trade, the position.
                let window = &bars[t.saturating_sub(120)..=t];
                let tick = strategy.decide(window, bars[t].close, position(t)).signal;
                let backtest = leg
                    .decisions
                    .iter()
                    .find(|d| d.bar == t)
                    .map_or(Signal::Hold, |d| d.signal);
                assert_eq!(tick, backtest, "{strategy:?} {fill:?} bar {t}");
                non_hold += usize::from(tick != Signal::Hold);
            }
            assert!(non_hold > 0, "{strategy:?} never decided anything");
        }
    }
}

//! Tests of the portfolio simulator: one leg is the engine, bit for bit; several legs share
//! one cash balance.

use super::*;
use crate::backtest::engine;
use chrono::{Duration, TimeZone};

/// xorshift64*: deterministic noise for random walks.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` daily bars of a random walk from `start_day` (days after 2024-01-01), prices in cents.
fn walk(seed: u64, n: usize, start_day: i64, vol: f64) -> Vec<Bar> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let mut close: f64 = 50.0;
    (0..n)
        .map(|i| {
            let open = ((close * (1.0 + vol * (rng.uniform() - 0.5))) * 100.0).round() / 100.0;
            close = ((open * (1.0 + 2.0 * vol * (rng.uniform() - 0.5))) * 100.0).round() / 100.0;
            let (open, close) = (open.max(0.01), close.max(0.01));
            Bar {
                time: t0 + Duration::days(start_day + i as i64),
                open,
                high: open.max(close) + 0.05,
                low: (open.min(close) - 0.05).max(0.01),
                close,
                volume: 1000.0,
                trades: 1,
                vwap: f64::NAN,
            }
        })
        .collect()
}

fn strategies() -> Vec<Strategy> {
    vec![
        Strategy::SmaCross {
            fast: 2,
            slow: 5,
            allow_short: false,
        },
        Strategy::SmaCross {
            fast: 3,
            slow: 8,
            allow_short: true,
        },
        Strategy::SmaCross {
            fast: 1,
            slow: 2,
            allow_short: true,
        },
        Strategy::Threshold {
            buy_above: 52.0,
            sell_below: 48.0,
        },
    ]
}

fn settings_grid() -> Vec<Settings> {
    let mut out = Vec::new();
    for fill in [Fill::NextOpen, Fill::Close] {
        for close_at_end in [false, true] {
            for (commission, fixed, slip) in [(0.0, 0.0, 0.0), (0.002, 0.0, 0.0), (0.001, 1.0, 5.0)]
            {
                for sizing in [
                    Sizing::ALL_IN,
                    Sizing::Qty(7.0),
                    Sizing::Notional {
                        amount: 3000.0,
                        fractional: true,
                    },
                    Sizing::EquityFraction {
                        fraction: 0.5,
                        fractional: false,
                    },
                ] {
                    out.push(Settings {
                        cash: 1000.0,
                        commission,
                        commission_fixed: fixed,
                        slippage_bps: slip,
                        fill,
                        sizing,
                        close_at_end,
                        guards: None,
                        protection: Default::default(),
                    });
                }
            }
        }
    }
    out
}

#[test]
fn one_leg_reproduces_the_engine_bit_for_bit() {
    let mut cases = 0;
    for seed in 1..=12u64 {
        // Short series exercise the warm-up quirks; volatile ones the out-of-money rule.
        for (n, vol) in [(3, 0.05), (9, 0.2), (120, 0.04), (200, 0.6)] {
            let bars = walk(seed, n, 0, vol);
            for strategy in strategies() {
                for settings in settings_grid() {
                    let want = engine::run(&bars, &strategy, &settings);
                    let schedule = Segment::always(strategy.clone());
                    let leg = Leg {
                        bars: &bars,
                        schedule: &schedule,
                        sizing: None,
                    };
                    // No precomputed SMAs here: the general path sums each window itself,
                    // the engine reads its table, and both must agree to the bit.
                    let no_smas = [crate::strategy::Smas::EMPTY];
                    let got = run_general(std::slice::from_ref(&leg), &settings, &no_smas);
                    assert_eq!(
                        run(&[leg], &settings),
                        got,
                        "the fast path is the general one"
                    );
                    let ctx = format!("seed {seed} n {n} {strategy:?} {settings:?}");
                    let g = &got.legs[0];
                    let decided: Vec<(usize, Signal)> =
                        g.decisions.iter().map(|d| (d.bar, d.signal)).collect();
                    assert_eq!(decided, want.decisions, "{ctx}");
                    assert_eq!(g.trades, want.trades, "{ctx}");
                    assert_eq!(g.open_trade, want.open_trade, "{ctx}");
                    assert_eq!(g.pending, want.pending, "{ctx}");
                    assert_eq!((g.warmup, g.start), (want.warmup, want.start), "{ctx}");
                    assert_eq!(got.warmup, want.warmup.min(n.saturating_sub(1)), "{ctx}");
                    assert_eq!(got.out_of_money_at, want.out_of_money_at, "{ctx}");
                    assert_eq!(got.cash.to_bits(), want.cash.to_bits(), "{ctx}");
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got.equity), bits(&want.equity), "{ctx}");
                    assert_eq!(got.timeline_trades(), want.trades);
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 3000);
}

#[test]
fn two_legs_share_one_cash_balance() {
    // Two symbols on the threshold rule (buy above 10): both cross on day 1, fill on day 2's
    // open at 20 (A) and 40 (B). Qty sizing of 30 units each with 1000 cash:
    // A costs 600 <= margin 1000 and opens; B's margin is then
    // equity 1000 − |30|·20 (A at its day-2 open) = 400 < 1200: cancelled.
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let mk = |oc: &[(f64, f64)]| -> Vec<Bar> {
        oc.iter()
            .enumerate()
            .map(|(i, &(o, c))| Bar {
                time: t0 + Duration::days(i as i64),
                open: o,
                high: o.max(c),
                low: o.min(c),
                close: c,
                volume: 1.0,
                trades: 1,
                vwap: f64::NAN,
            })
            .collect()
    };
    let a = mk(&[(7.0, 7.0), (7.0, 11.0), (20.0, 21.0), (21.0, 22.0)]);
    let b = mk(&[(7.0, 7.0), (7.0, 11.0), (40.0, 41.0), (41.0, 43.0)]);
    let thr = Segment::always(Strategy::Threshold {
        buy_above: 10.0,
        sell_below: 5.0,
    });
    let legs = [
        Leg {
            bars: &a,
            schedule: &thr,
            sizing: Some(Sizing::Qty(30.0)),
        },
        Leg {
            bars: &b,
            schedule: &thr,
            sizing: Some(Sizing::Qty(30.0)),
        },
    ];
    let settings = Settings {
        cash: 1000.0,
        ..Settings::default()
    };
    let out = run(&legs, &settings);
    assert_eq!(out.legs[0].open_trade.map(|t| t.size), Some(30.0));
    assert_eq!(
        out.legs[1].open_trade, None,
        "B did not fit in the cash left"
    );
    // Equity: 1000, 1000, 1000 + 30·(21 − 20) = 1030, 1000 + 30·2 = 1060.
    assert_eq!(out.equity, vec![1000.0, 1000.0, 1030.0, 1060.0]);
    assert_eq!(out.legs[0].equity, vec![1000.0, 1000.0, 1030.0, 1060.0]);
    assert_eq!(out.legs[1].equity, vec![1000.0; 4]);

    // With room for both (15 units each: A 300, then B 600 <= 1000 − 15·20 = 700).
    let legs = legs.map(|l| Leg {
        sizing: Some(Sizing::Qty(15.0)),
        ..l
    });
    let out = run(&legs, &settings);
    assert_eq!(out.legs[1].open_trade.map(|t| t.size), Some(15.0));
    // 1000 + 15·1 + 15·1 on day 2; 1000 + 15·2 + 15·3 on day 3.
    assert_eq!(out.equity[2..], [1030.0, 1075.0]);
}

#[test]
fn legs_add_up_to_the_portfolio_on_a_merged_timeline() {
    // Different calendars: B starts later and skips days, so the timeline is a true union.
    for seed in 1..=6u64 {
        let a = walk(seed, 150, 0, 0.05);
        let b: Vec<Bar> = walk(seed + 100, 160, 7, 0.05)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 5 != 3)
            .map(|(_, b)| b)
            .collect();
        let sa = Segment::always(Strategy::SmaCross {
            fast: 3,
            slow: 9,
            allow_short: true,
        });
        let sb = Segment::always(Strategy::SmaCross {
            fast: 2,
            slow: 6,
            allow_short: false,
        });
        let sizing = Some(Sizing::EquityFraction {
            fraction: 0.4,
            fractional: false,
        });
        let legs = [
            Leg {
                bars: &a,
                schedule: &sa,
                sizing,
            },
            Leg {
                bars: &b,
                schedule: &sb,
                sizing,
            },
        ];
        let settings = Settings {
            commission: 0.001,
            ..Settings::default()
        };
        let out = run(&legs, &settings);
        assert!(out.times.windows(2).all(|w| w[0] < w[1]));
        let mut union: Vec<_> = a.iter().chain(&b).map(|x| x.time).collect();
        union.sort();
        union.dedup();
        assert_eq!(out.times, union);
        assert!(out.legs.iter().all(|l| !l.trades.is_empty()), "seed {seed}");
        // Contribution of each leg at each step (forward-filled) sums to equity − cash0.
        let mut last = [settings.cash; 2];
        let mut next = [0usize; 2];
        for (step, &e) in out.equity.iter().enumerate() {
            for (k, leg) in out.legs.iter().enumerate() {
                while next[k] < leg.step_of_bar.len() && leg.step_of_bar[next[k]] as usize == step {
                    last[k] = leg.equity[next[k]];
                    next[k] += 1;
                }
            }
            let sum = settings.cash + (last[0] - settings.cash) + (last[1] - settings.cash);
            assert!(
                (sum - e).abs() < 1e-6,
                "seed {seed} step {step}: {sum} vs {e}"
            );
        }
        // Timeline trades are re-indexed and in closing order.
        let all = out.timeline_trades();
        assert_eq!(
            all.len(),
            out.legs[0].trades.len() + out.legs[1].trades.len()
        );
        assert!(all.windows(2).all(|w| w[0].exit_bar <= w[1].exit_bar));
        assert!(all.iter().all(|t| out.times[t.exit_bar] == t.exit_time));
    }
}

#[test]
fn a_schedule_switches_strategies_and_decides_nothing_before_it_starts() {
    let bars = walk(3, 120, 0, 0.05);
    let switch = bars[60].time;
    let fast = Strategy::SmaCross {
        fast: 2,
        slow: 4,
        allow_short: false,
    };
    let slow = Strategy::SmaCross {
        fast: 5,
        slow: 12,
        allow_short: false,
    };
    let schedule = vec![
        Segment {
            from: bars[30].time,
            strategy: fast.clone(),
        },
        Segment {
            from: switch,
            strategy: slow.clone(),
        },
    ];
    let out = run(
        &[Leg {
            bars: &bars,
            schedule: &schedule,
            sizing: None,
        }],
        &Settings::default(),
    );
    let d = &out.legs[0].decisions;
    assert!(d.first().is_some_and(|d| d.bar >= 30));
    // Every decision is the one its segment's strategy makes on the same bars and position
    // (the position held after bar i's fills).
    let leg = &out.legs[0];
    let position = |i: usize| {
        let closed = leg
            .trades
            .iter()
            .find(|t| t.entry_bar <= i && i < t.exit_bar);
        let open = leg.open_trade.filter(|t| t.entry_bar <= i);
        closed
            .map(|t| t.size)
            .or(open.map(|t| t.size))
            .unwrap_or(0.0)
    };
    for i in 30..bars.len() {
        let strategy = if bars[i].time >= switch { &slow } else { &fast };
        let want = strategy
            .decide(&bars[..=i], bars[i].close, position(i))
            .signal;
        let got = d
            .iter()
            .find(|x| x.bar == i)
            .map_or(Signal::Hold, |x| x.signal);
        assert_eq!(got, want, "bar {i}");
    }
}

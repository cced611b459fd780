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
                        protection: None,
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
            protection: None,
        },
        Leg {
            bars: &b,
            schedule: &thr,
            sizing: Some(Sizing::Qty(30.0)),
            protection: None,
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
        protection: None,
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
                protection: None,
            },
            Leg {
                bars: &b,
                schedule: &sb,
                sizing,
                protection: None,
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
            protection: None,
        },
        Segment {
            from: switch,
            strategy: slow.clone(),
            protection: None,
        },
    ];
    let out = run(
        &[Leg {
            bars: &bars,
            schedule: &schedule,
            sizing: None,
            protection: None,
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

/// Daily bars from (open, high, low, close).
fn ohlc(rows: &[(f64, f64, f64, f64)]) -> Vec<Bar> {
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    rows.iter()
        .enumerate()
        .map(|(i, &(open, high, low, close))| Bar {
            time: t0 + Duration::days(i as i64),
            open,
            high,
            low,
            close,
            volume: 1000.0,
            trades: 1,
            vwap: f64::NAN,
        })
        .collect()
}

fn stop_and_target(stop: f64, target: f64) -> Protection {
    Protection {
        stop_loss_pct: Some(stop),
        take_profit_pct: Some(target),
        trailing_stop_pct: None,
    }
}

#[test]
fn the_general_path_fills_one_legs_target_and_stop_from_the_bar_after_the_entry() {
    // Bar 1 closes at 11 > 10: Buy 10 at Open[2] = 20. Stop 10 % = 18.00, target 10 % = 22.00.
    // Bar 2 (the entry's) spans 17..23 but is not protected yet. Bar 3's high 22.5 reaches
    // the target: sold at 22, pnl 10·(22 − 20) = +20, equity 1020.
    let thr = Segment::always(Strategy::Threshold {
        buy_above: 10.0,
        sell_below: 5.0,
    });
    let mut rows = vec![
        (7.0, 7.0, 7.0, 7.0),
        (7.0, 11.0, 7.0, 11.0),
        (20.0, 23.0, 17.0, 20.0),
        (20.0, 22.5, 19.5, 20.0),
    ];
    let settings = Settings {
        cash: 1000.0,
        sizing: Sizing::Qty(10.0),
        ..Settings::default()
    };
    let go = |rows: &[(f64, f64, f64, f64)]| {
        let b = ohlc(rows);
        let legs = [Leg {
            bars: &b,
            schedule: &thr,
            sizing: None,
            protection: Some(stop_and_target(10.0, 10.0)),
        }];
        let smas = [leg_smas(&legs[0])];
        // Both paths: the general one, and the one-symbol engine it hands one leg to.
        (run_general(&legs, &settings, &smas), run(&legs, &settings))
    };
    let (out, fast) = go(&rows);
    let t = &out.legs[0].trades[0];
    assert_eq!(
        (t.entry_bar, t.exit_bar, t.exit_price, t.pnl),
        (2, 3, 22.0, 20.0)
    );
    assert_eq!(out.equity[3], 1020.0);
    assert_eq!(out.legs, fast.legs);
    assert_eq!(out.equity, fast.equity);
    // Bar 3 spanning 17.5..22.5 reaches both: the stop fills (the conservative rule), −20.
    rows[3] = (20.0, 22.5, 17.5, 20.0);
    let (out, fast) = go(&rows);
    let t = &out.legs[0].trades[0];
    assert_eq!((t.exit_bar, t.exit_price, t.pnl), (3, 18.0, -20.0));
    assert_eq!(out.equity[3], 980.0);
    assert_eq!(out.legs, fast.legs);
    // Opening at 17, through the stop: sold at the open, −30.
    rows[3] = (17.0, 22.5, 16.0, 20.0);
    let (out, _) = go(&rows);
    let t = &out.legs[0].trades[0];
    assert_eq!((t.exit_price, t.pnl), (17.0, -30.0));
    assert_eq!(out.equity[3], 970.0);
}

#[test]
fn two_legs_each_with_its_own_protection_share_one_account() {
    // A: Buy 10 at 20 on bar 2, target 22 reached on bar 3: +20.
    // B: Buy 10 at 40 on bar 2 (400 <= 1000 − 10·20 = 800 margin), its bar 3 dips to 30.
    let a = ohlc(&[
        (7.0, 7.0, 7.0, 7.0),
        (7.0, 11.0, 7.0, 11.0),
        (20.0, 23.0, 17.0, 20.0),
        (20.0, 22.5, 19.5, 20.0),
    ]);
    let b = ohlc(&[
        (7.0, 7.0, 7.0, 7.0),
        (7.0, 11.0, 7.0, 11.0),
        (40.0, 41.0, 39.0, 41.0),
        (41.0, 44.0, 30.0, 43.0),
    ]);
    let thr = Segment::always(Strategy::Threshold {
        buy_above: 10.0,
        sell_below: 5.0,
    });
    let settings = Settings {
        cash: 1000.0,
        sizing: Sizing::Qty(10.0),
        // The default for legs without their own: B's stop 10 % = 36.00.
        protection: Protection {
            stop_loss_pct: Some(10.0),
            ..Protection::default()
        },
        ..Settings::default()
    };
    let legs = |b_protection: Option<Protection>| {
        [
            Leg {
                bars: &a,
                schedule: &thr,
                sizing: None,
                protection: Some(stop_and_target(10.0, 10.0)),
            },
            Leg {
                bars: &b,
                schedule: &thr,
                sizing: None,
                protection: b_protection,
            },
        ]
    };
    // B under the settings' stop: its bar 3 low of 30 touches 36 → sold at 36, −40.
    let out = run(&legs(None), &settings);
    let (ta, tb) = (&out.legs[0].trades[0], &out.legs[1].trades[0]);
    assert_eq!((ta.exit_bar, ta.exit_price, ta.pnl), (3, 22.0, 20.0));
    assert_eq!((tb.exit_bar, tb.exit_price, tb.pnl), (3, 36.0, -40.0));
    // 1000 + 20 − 40, both closed.
    assert_eq!(out.equity[3], 980.0);
    assert_eq!(out.cash, 980.0);
    assert_eq!(out.legs[0].equity[3], 1020.0);
    assert_eq!(out.legs[1].equity[3], 960.0);
    // B with no protection of its own: still open, marked at 43: 1000 + 20 + 10·(43 − 40).
    let out = run(&legs(Some(Protection::default())), &settings);
    assert!(out.legs[1].trades.is_empty());
    assert_eq!(out.legs[1].open_trade.map(|t| t.size), Some(10.0));
    assert_eq!(out.equity[3], 1050.0);
}

#[test]
fn a_segments_protection_applies_to_trades_it_protects_while_in_force() {
    // As above: Buy 10 at 20 on bar 2; bar 3 dips to 17.5. The leg has no protection; a
    // segment in force from bar 2 brings a 10 % stop (18.00): sold at 18 on bar 3, −20.
    let b = ohlc(&[
        (7.0, 7.0, 7.0, 7.0),
        (7.0, 11.0, 7.0, 11.0),
        (20.0, 21.0, 19.5, 20.0),
        (20.0, 21.0, 17.5, 20.0),
    ]);
    let thr = Strategy::Threshold {
        buy_above: 10.0,
        sell_below: 5.0,
    };
    let settings = Settings {
        cash: 1000.0,
        sizing: Sizing::Qty(10.0),
        ..Settings::default()
    };
    let go = |second_from: usize| {
        let schedule = [
            Segment {
                from: DateTime::<Utc>::MIN_UTC,
                strategy: thr.clone(),
                protection: None,
            },
            Segment {
                from: b[0].time + Duration::days(second_from as i64),
                strategy: thr.clone(),
                protection: Some(Protection {
                    stop_loss_pct: Some(10.0),
                    ..Protection::default()
                }),
            },
        ];
        let legs = [Leg {
            bars: &b,
            schedule: &schedule,
            sizing: None,
            protection: None,
        }];
        run(&legs, &settings)
    };
    let out = go(2);
    let t = &out.legs[0].trades[0];
    assert_eq!((t.exit_bar, t.exit_price, t.pnl), (3, 18.0, -20.0));
    assert_eq!(out.equity[3], 980.0);
    // In force only after the last bar: nothing protects the trade, still open.
    let out = go(4);
    assert!(out.legs[0].trades.is_empty());
    assert_eq!(out.equity[3], 1000.0);
}

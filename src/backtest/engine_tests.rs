//! Hand-computed cases for the one-symbol engine.

use super::*;
use chrono::TimeZone;

/// Daily bars at midnight UTC from (open, close) pairs; high/low span them.
fn bars(oc: &[(f64, f64)]) -> Vec<Bar> {
    oc.iter()
        .enumerate()
        .map(|(i, &(o, c))| Bar {
            time: Utc
                .timestamp_opt(
                    1_700_000_000 - 1_700_000_000 % 86_400 + 86_400 * i as i64,
                    0,
                )
                .unwrap(),
            open: o,
            high: o.max(c),
            low: o.min(c),
            close: c,
            volume: 1000.0,
            trades: 0,
            vwap: f64::NAN,
        })
        .collect()
}

/// Buys when the price is above 10, sells when below 5: no warm-up, start = 1.
const THR: Strategy = Strategy::Threshold {
    buy_above: 10.0,
    sell_below: 5.0,
};

#[test]
fn flat_prices_never_trade_and_equity_stays_at_cash() {
    let b = bars(&[(7.0, 7.0); 5]);
    let out = run(&b, &THR, &Settings::default());
    assert!(out.trades.is_empty() && out.open_trade.is_none() && out.pending.is_none());
    assert_eq!(out.equity, vec![10_000.0; 5]);
    assert_eq!((out.warmup, out.start), (0, 1));
}

#[test]
fn one_winning_trade_with_commission() {
    // Bar 1 closes at 11 > 10: Buy, filled at Open[2] = 20.
    // Size = floor(1000·(1−ε) / (20 + 20·0.01)) = floor(49.50..) = 49; entry commission
    // 49·20·0.01 = 9.8, cash 990.2. Bar 3 closes at 4 < 5: Sell, filled at Open[4] = 30.
    // Exit commission 49·30·0.01 = 14.7; cash = 990.2 + 49·10 − 14.7 = 1465.5.
    // PnL = 490 − 24.5 = 465.5; return = 30/20 − 1 − 24.5/980 = 0.475.
    // Equity: [1000 (back-filled), 1000, 990.2 + 49·(25−20) = 1235.2,
    //          990.2 + 49·(4−20) = 206.2, 1465.5].
    let b = bars(&[
        (7.0, 7.0),
        (7.0, 11.0),
        (20.0, 25.0),
        (24.0, 4.0),
        (30.0, 30.0),
    ]);
    let s = Settings {
        cash: 1000.0,
        commission: 0.01,
        ..Settings::default()
    };
    let out = run(&b, &THR, &s);
    assert_eq!(out.trades.len(), 1);
    let t = out.trades[0];
    assert_eq!(
        (t.entry_bar, t.exit_bar, t.size, t.entry_price, t.exit_price),
        (2, 4, 49.0, 20.0, 30.0)
    );
    assert!((t.commission - 24.5).abs() < 1e-12);
    assert!((t.pnl - 465.5).abs() < 1e-9);
    assert!((t.return_pct - 0.475).abs() < 1e-12);
    let want = [1000.0, 1000.0, 1235.2, 206.2, 1465.5];
    for (e, w) in out.equity.iter().zip(want) {
        assert!((e - w).abs() < 1e-9, "{:?}", out.equity);
    }
    assert!((out.cash - 1465.5).abs() < 1e-9);
}

#[test]
fn one_losing_short_with_slippage_then_stays_open() {
    // SmaCross(1, 2) (fast SMA = the close) with shorts, closes 2, 3, 1, 5, 6:
    //   bar 2: fast 3 → 1, slow 2.5 → 2: crossed below: Sell (flat, shorts allowed).
    //   bar 3: fast 1 → 5, slow 2 → 3: crossed above: Buy.
    // Sell fills at Open[3] = 10 less 100 bps = 9.9; size floor(100·(1−ε)/9.9) = 10 → −10.
    // equity[3] = 100 + (−10)·(5 − 9.9) = 149.
    // Buy fills at Open[4] = 12: the short closes at the raw 12: PnL = −10·(12 − 9.9) = −21,
    // return = −(12/9.9 − 1); cash 79. Then a long of floor(79/(12·1.01)) = 6 at 12.12
    // stays open: equity[4] = 79 + 6·(6 − 12.12) = 42.28.
    let strat = Strategy::SmaCross {
        fast: 1,
        slow: 2,
        allow_short: true,
    };
    let b = bars(&[(2.0, 2.0), (3.0, 3.0), (1.0, 1.0), (10.0, 5.0), (12.0, 6.0)]);
    let s = Settings {
        cash: 100.0,
        slippage_bps: 100.0,
        ..Settings::default()
    };
    let out = run(&b, &strat, &s);
    assert_eq!((out.warmup, out.start), (1, 2));
    assert_eq!(out.trades.len(), 1);
    let t = out.trades[0];
    assert_eq!(
        (t.entry_bar, t.exit_bar, t.size, t.exit_price),
        (3, 4, -10.0, 12.0)
    );
    assert!((t.entry_price - 9.9).abs() < 1e-12);
    assert!((t.pnl + 21.0).abs() < 1e-9);
    assert!((t.return_pct + (12.0 / 9.9 - 1.0)).abs() < 1e-12);
    let open = out.open_trade.unwrap();
    assert_eq!((open.entry_bar, open.size), (4, 6.0));
    assert!((open.entry_price - 12.12).abs() < 1e-12);
    assert!((out.equity[4] - 42.28).abs() < 1e-9);
    // Warm-up back-filled from bar `start` (2), where nothing had happened yet.
    assert_eq!(
        &out.equity[..4],
        &[100.0, 100.0, 100.0, 100.0 - 10.0 * (5.0 - 9.9)]
    );
}

#[test]
fn fill_on_close_records_the_decision_bar_and_last_bar_signal_stays_pending() {
    // Buy decided on bar 1 (close 11) fills at Close[1] = 11, recorded as bar 1, but only
    // in bar 2's step, so equity[1] is still 1000. Sell decided on bar 3 (close 4) fills at
    // 4 on bar 3. Size = floor(1000/11) = 90; PnL = 90·(4 − 11) = −630.
    // Bar 4 closes at 12 > 10: a Buy that has no next bar: pending.
    let b = bars(&[
        (7.0, 7.0),
        (7.0, 11.0),
        (20.0, 25.0),
        (24.0, 4.0),
        (30.0, 12.0),
    ]);
    let s = Settings {
        cash: 1000.0,
        fill: Fill::Close,
        ..Settings::default()
    };
    let out = run(&b, &THR, &s);
    let t = out.trades[0];
    assert_eq!(
        (t.entry_bar, t.exit_bar, t.size, t.entry_price, t.exit_price),
        (1, 3, 90.0, 11.0, 4.0)
    );
    assert_eq!(t.pnl, -630.0);
    assert_eq!(
        out.equity,
        vec![1000.0, 1000.0, 1000.0 + 90.0 * 14.0, 1000.0 - 630.0, 370.0]
    );
    assert_eq!(out.pending, Some(Signal::Buy));
    assert!(out.open_trade.is_none());
}

#[test]
fn close_at_end_closes_at_the_last_bars_open() {
    // Buy on bar 1, filled at Open[2] = 20: floor(1000·(1−ε)/20) = floor(49.99..) = 49
    // units (all-in is one unit short when cash/price is a whole number, as in the library).
    // With close_at_end the trade is closed at Open[4] = 30 (the library's finalize_trades
    // quirk), recorded as bar 4, and equity[4] = 1000 + 49·10 = 1490.
    let b = bars(&[
        (7.0, 7.0),
        (7.0, 11.0),
        (20.0, 25.0),
        (24.0, 26.0),
        (30.0, 40.0),
    ]);
    let s = Settings {
        cash: 1000.0,
        close_at_end: true,
        ..Settings::default()
    };
    let out = run(&b, &THR, &s);
    assert_eq!(out.trades.len(), 1);
    assert_eq!(
        (out.trades[0].exit_bar, out.trades[0].exit_price),
        (4, 30.0)
    );
    assert_eq!(out.equity[4], 1490.0);
    assert!(out.open_trade.is_none());
}

#[test]
fn out_of_money_stops_and_zeroes_equity() {
    // Sell on bar 2, short 99 units at Open[3] = 10 (cash 1000); bar 3 closes at 25:
    // equity = 1000 + (−99)·(25 − 10) = −485 <= 0: closed at Close[3], equity 0 onwards.
    let strat = Strategy::SmaCross {
        fast: 1,
        slow: 2,
        allow_short: true,
    };
    let b = bars(&[
        (2.0, 2.0),
        (3.0, 3.0),
        (1.0, 1.0),
        (10.0, 25.0),
        (12.0, 6.0),
    ]);
    let out = run(
        &b,
        &strat,
        &Settings {
            cash: 1000.0,
            ..Settings::default()
        },
    );
    assert_eq!(out.out_of_money_at, Some(3));
    assert_eq!(out.trades[0].exit_price, 25.0);
    assert_eq!(&out.equity[3..], &[0.0, 0.0]);
    assert!(out.open_trade.is_none());
}

#[test]
fn sizing_variants() {
    // Qty 3 at 20: entry 20, 3 units. Notional 70 at 20: floor(3.5) = 3 units.
    // Fraction 0.5 fractional: 1000·0.5/20 = 25 units.
    let b = bars(&[(7.0, 7.0), (7.0, 11.0), (20.0, 25.0)]);
    let size = |sizing| {
        let s = Settings {
            cash: 1000.0,
            sizing,
            ..Settings::default()
        };
        run(&b, &THR, &s).open_trade.map(|t| t.size)
    };
    assert_eq!(size(Sizing::Qty(3.0)), Some(3.0));
    assert_eq!(
        size(Sizing::Notional {
            amount: 70.0,
            fractional: false
        }),
        Some(3.0)
    );
    assert_eq!(
        size(Sizing::Notional {
            amount: 70.0,
            fractional: true
        }),
        Some(3.5)
    );
    assert_eq!(
        size(Sizing::EquityFraction {
            fraction: 0.5,
            fractional: true
        }),
        Some(25.0)
    );
    // More than the cash: cancelled, no partial fill.
    assert_eq!(size(Sizing::Qty(51.0)), None);
}

#[test]
fn warmup_follows_the_library_when_bars_are_few() {
    // SmaCross 10/20: SMA(20) first defined at 19, SMA(10) at 9; an SMA never defined
    // counts as 0, and the library takes the largest.
    let s = Strategy::SmaCross {
        fast: 10,
        slow: 20,
        allow_short: false,
    };
    assert_eq!(library_warmup(&s, 2148), 19);
    assert_eq!(library_warmup(&s, 20), 19);
    assert_eq!(library_warmup(&s, 15), 9);
    assert_eq!(library_warmup(&s, 5), 0);
    assert_eq!(library_warmup(&THR, 100), 0);
    // 15 flat bars: nothing trades, Buy & Hold would start from bar 9.
    let out = run(&bars(&[(7.0, 7.0); 15]), &s, &Settings::default());
    assert_eq!((out.warmup, out.start), (9, 10));
    assert_eq!(out.equity, vec![10_000.0; 15]);
}

#[test]
fn notional_whole_units_are_the_ticks_rounding_never_more_than_the_amount_pays_for() {
    // Buy decided on bar 1 (close 11 > 10) fills at Open[2] = 0.1: $1 buys
    // 1 // 0.1 = 9 whole units (0.1 is 0.1000000000000000055… as a double, so 10 would cost
    // more than $1), as `sizing::units` and so the tick size it; not floor(1.0 / 0.1) = 10.
    let b = bars(&[(7.0, 7.0), (7.0, 11.0), (0.1, 0.1)]);
    let s = Settings {
        cash: 1000.0,
        sizing: Sizing::Notional {
            amount: 1.0,
            fractional: false,
        },
        ..Settings::default()
    };
    let out = run(&b, &THR, &s);
    assert_eq!(out.open_trade.map(|t| t.size), Some(9.0));
    assert_eq!(
        crate::sizing::Sizing::Notional(1.0).shares(0.1, 1000.0, false),
        9.0
    );
}

#[test]
fn a_stop_fills_from_the_bar_after_the_entry_at_the_stop_or_at_a_gapping_open() {
    // Bar 1 closes at 11: Buy 10 at Open[2] = 20; stop 10 % below = 18.00. Bar 2 (the entry's
    // bar) dips to 17 but is not protected yet (the tick places the stop on its next tick);
    // bar 3's low of 17 touches 18: sold at 18, pnl 10·(18 − 20) = −20.
    let mut b = bars(&[
        (7.0, 7.0),
        (7.0, 11.0),
        (20.0, 20.0),
        (19.0, 19.0),
        (19.0, 19.0),
    ]);
    b[2].low = 17.0;
    b[3].low = 17.0;
    let s = Settings {
        cash: 1000.0,
        sizing: Sizing::Qty(10.0),
        protection: crate::plan::protect::Protection {
            stop_loss_pct: Some(10.0),
            ..Default::default()
        },
        ..Settings::default()
    };
    let out = run(&b, &THR, &s);
    let t = &out.trades[0];
    assert_eq!(
        (t.entry_bar, t.exit_bar, t.exit_price, t.pnl),
        (2, 3, 18.0, -20.0)
    );
    assert_eq!(out.equity[3], 980.0);
    // The same bar opening at 16, through the stop: sold at the open, pnl −40.
    b[3].open = 16.0;
    let out = run(&b, &THR, &s);
    assert_eq!((out.trades[0].exit_price, out.trades[0].pnl), (16.0, -40.0));
    // Without protection the dip changes nothing: still open.
    let plain = run(
        &b,
        &THR,
        &Settings {
            protection: Default::default(),
            ..s
        },
    );
    assert!(plain.trades.is_empty() && plain.open_trade.is_some());
}

/// A small deterministic generator (xorshift64*): the test needs many varied series, not a
/// crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random walk; with `coarse` the closes sit on a 0.25 grid, so SMAs tie exactly (the
/// cross test's strict inequalities matter there), else they have full precision.
fn random_bars(rng: &mut Rng, n: usize, coarse: bool) -> Vec<Bar> {
    let mut c = 50.0 + 50.0 * rng.unit();
    let oc: Vec<(f64, f64)> = (0..n)
        .map(|_| {
            let o = c;
            c = (c * (1.0 + 0.06 * (rng.unit() - 0.5))).max(1.0);
            if coarse {
                c = (c * 4.0).round() / 4.0;
            }
            (o, c)
        })
        .collect();
    let mut b = bars(&oc);
    for bar in &mut b {
        bar.high *= 1.0 + 0.02 * rng.unit();
        bar.low *= 1.0 - 0.02 * rng.unit();
    }
    b
}

/// The SmaCross fast decider (the cross test on the precomputed series) against the
/// strategy's own `decide` summing every window itself, over many random series, parameter
/// pairs and settings (fills, costs, shorts, stops, sizing, close-at-end): the same
/// trades, equity bits, decisions and pending signal, every time.
#[test]
fn the_sma_cross_fast_path_decides_exactly_as_decide_on_random_series() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut runs_with_trades = 0;
    for case in 0..400 {
        let n = 5 + rng.below(400);
        let b = random_bars(&mut rng, n, case % 2 == 0);
        let slow = 2 + rng.below(60);
        let fast = 1 + rng.below(slow - 1);
        let strategy = Strategy::SmaCross {
            fast,
            slow,
            allow_short: rng.below(2) == 0,
        };
        let protection = crate::plan::protect::Protection {
            stop_loss_pct: (rng.below(3) == 0).then(|| 1.0 + 10.0 * rng.unit()),
            take_profit_pct: (rng.below(4) == 0).then(|| 1.0 + 20.0 * rng.unit()),
            trailing_stop_pct: None,
        };
        let settings = Settings {
            cash: 1_000.0 + 20_000.0 * rng.unit(),
            commission: [0.0, 0.002, -0.001][rng.below(3)],
            commission_fixed: [0.0, 1.0][rng.below(2)],
            slippage_bps: [0.0, 5.0][rng.below(2)],
            fill: [Fill::NextOpen, Fill::Close][rng.below(2)],
            sizing: [Sizing::ALL_IN, Sizing::Qty(3.0)][rng.below(2)],
            close_at_end: rng.below(2) == 0,
            guards: None,
            protection,
        };
        // The table a sweep shares: more windows than this pair, built over all the bars.
        let smas = Smas::new(&b, [fast, slow, slow + 1, 3]);
        let fast_path = SmaCrossDecider::new(&strategy, &smas);
        assert_eq!(
            fast_path.is_some(),
            slow <= n,
            "case {case}: fast {fast} slow {slow}"
        );
        let got = run_with(&b, &strategy, &settings, &smas);
        let alone = StrategyDecider {
            strategy: &strategy,
            smas: &Smas::EMPTY,
        };
        let want = run_deciding(&b, &strategy, &settings, &alone);
        let ctx = format!("case {case}: n {n} fast {fast} slow {slow} {settings:?}");
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{ctx}");
        let bits = |o: &Outcome| o.equity.iter().map(|e| e.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{ctx}");
        // The pair's order alone (a one-symbol backtest's table) decides the same.
        let closes: Vec<f64> = b.iter().map(|bar| bar.close).collect();
        if let Some(pair) = Smas::cross_only(&closes, fast, slow) {
            assert!(
                SmaCrossDecider::by_order(&strategy, &pair).is_some(),
                "{ctx}"
            );
            let by_order = run_with(&b, &strategy, &settings, &pair);
            assert_eq!(format!("{by_order:?}"), format!("{want:?}"), "{ctx}");
            assert_eq!(bits(&by_order), bits(&want), "{ctx}");
        } else {
            assert!(slow > n, "{ctx}");
        }
        runs_with_trades += usize::from(!got.trades.is_empty());
    }
    assert!(runs_with_trades > 200, "{runs_with_trades}");
}

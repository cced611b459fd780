//! The tick's risk guards ([`crate::risk`]), applied by the portfolio simulator on bars when
//! asked (`backtest --risk`): the same `risk::check` and `RiskState` the tick uses, fed the
//! simulated account instead of the broker's.
//!
//! What applies on bars: `max_position_qty`, `max_order_notional`, `max_orders_per_day`
//! (New York trading days), `max_daily_loss_pct` (from the previous day's last equity) and
//! `max_drawdown_pct` (a halt that lasts to the end of the run: a backtest has no `rearm`).
//! What does not: the kill-switch file, price age and bar freshness (the bars are the
//! prices), `flatten_on_daily_loss`, and the shared-account checks. Reductions of a position
//! pass every guard but the halt, as in the tick. A stop-and-reverse is two orders, a close and
//! an open, each counted toward `max_orders_per_day`, as the tick sends and counts them. Pure.
//!
//! The limits are the tick's own [`risk::Limits`], as the config loader built them: the
//! ones that do not apply on bars are made inert by the [`risk::Context`] a backtest gives
//! (price age 0, no bars missing, no session close), not by a second limits type.

use crate::domain::Qty;
use crate::domain::Side;
use crate::risk::{self, Limits, Proposed, RiskState};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::America::New_York;

/// An order a guard stopped: the leg, the bar it would have filled on, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub leg: usize,
    pub bar: usize,
    pub reason: String,
}

/// The guards' memory during a run.
pub(crate) struct Guard {
    limits: Limits,
    state: RiskState,
    day: Option<NaiveDate>,
    day_start: Option<f64>,
    last_equity: f64,
    pub(crate) refusals: Vec<Refused>,
}

impl Guard {
    pub(crate) fn new(limits: Limits, cash: f64) -> Guard {
        Guard {
            limits,
            state: RiskState::default(),
            day: None,
            day_start: None,
            last_equity: cash,
            refusals: Vec::new(),
        }
    }

    /// Before a step's fills: a new New York day starts from the last equity seen.
    pub(crate) fn begin_step(&mut self, now: DateTime<Utc>) {
        let today = now.with_timezone(&New_York).date_naive();
        if self.day != Some(today) {
            self.day = Some(today);
            self.day_start = Some(self.last_equity);
        }
        self.state.roll_day(today);
    }

    /// After a step's equity is known: the drawdown halt and the daily loss flag.
    pub(crate) fn observe(&mut self, now: DateTime<Utc>, equity: f64) {
        self.last_equity = equity;
        self.state
            .observe_equity(&self.limits, now, equity, self.day_start);
    }

    /// May this order go ahead? If so, it counts toward the day's orders.
    pub(crate) fn allow(
        &mut self,
        leg: usize,
        bar: usize,
        side: Side,
        qty: f64,
        price: f64,
        position: f64,
    ) -> bool {
        let cx = risk::Context {
            limits: &self.limits,
            state: &self.state,
            stop_file: false,
            price_age_secs: 0,
            missing_bars: Some(0),
            needs_bars: false,
            last_bar: None,
            secs_to_close: None,
        };
        let exact = |shares: f64| Qty::from_f64_floor(shares, true).unwrap_or_default();
        let order = Proposed {
            side,
            qty: exact(qty),
            price,
            position: exact(position),
        };
        match risk::check(&order, &cx) {
            Ok(()) => {
                self.state.orders_today += 1;
                true
            }
            Err(refusal) => {
                self.refusals.push(Refused {
                    leg,
                    bar,
                    reason: refusal.to_string(),
                });
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::engine::{Settings, Sizing};
    use crate::backtest::portfolio::{self, Leg, Segment};
    use crate::domain::Bar;
    use crate::strategy::Strategy;
    use chrono::{Duration, TimeZone};

    /// Bars `minutes` apart from Monday 2024-01-08 14:30 UTC (09:30 New York), closes given;
    /// each opens at the previous close.
    fn bars(closes: &[f64], minutes: i64) -> Vec<Bar> {
        let t0 = Utc.with_ymd_and_hms(2024, 1, 8, 14, 30, 0).unwrap();
        let mut prev = closes[0];
        closes
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let b = Bar {
                    time: t0 + Duration::minutes(minutes * i as i64),
                    open: prev,
                    high: prev.max(c),
                    low: prev.min(c),
                    close: c,
                    volume: 1.0,
                    trades: 1,
                    vwap: f64::NAN,
                };
                prev = c;
                b
            })
            .collect()
    }

    /// Buy above 10, sell below 5: alternating 12 and 4 trades every other bar.
    fn threshold() -> Vec<Segment> {
        Segment::always(Strategy::Threshold {
            buy_above: 10.0,
            sell_below: 5.0,
        })
    }

    fn run(b: &[Bar], limits: Limits) -> portfolio::PortfolioOutcome {
        let schedule = threshold();
        let settings = Settings {
            sizing: Sizing::Qty(10.0),
            guards: Some(limits),
            ..Settings::default()
        };
        portfolio::run(
            &[Leg {
                bars: b,
                schedule: &schedule,
                sizing: None,
                protection: None,
            }],
            &settings,
        )
    }

    #[test]
    fn no_limits_is_the_unguarded_run() {
        let b = bars(&[7.0, 12.0, 12.0, 4.0, 4.0, 12.0, 12.0, 4.0, 4.0], 1);
        let guarded = run(&b, Limits::NONE);
        let schedule = threshold();
        let plain = portfolio::run(
            &[Leg {
                bars: &b,
                schedule: &schedule,
                sizing: None,
                protection: None,
            }],
            &Settings {
                sizing: Sizing::Qty(10.0),
                ..Settings::default()
            },
        );
        assert_eq!(guarded.legs, plain.legs);
        assert_eq!(guarded.equity, plain.equity);
        assert!(guarded.refusals.is_empty());
        assert_eq!(plain.legs[0].trades.len(), 2);
    }

    #[test]
    fn the_ticks_freshness_limits_do_not_apply_on_bars() {
        // The config's limits come whole; the tightest price-age, missing-bar and close-margin
        // values refuse nothing here, since a backtest's context has no stale price, no gap and
        // no session close.
        let b = bars(&[7.0, 12.0, 12.0, 4.0, 4.0, 12.0, 12.0, 4.0, 4.0], 1);
        let tight = Limits {
            max_price_age_secs: 0,
            close_margin: std::time::Duration::from_secs(86_400),
            max_missing_bars: 0,
            ..Limits::NONE
        };
        let out = run(&b, tight);
        assert!(out.refusals.is_empty(), "{:?}", out.refusals);
        assert_eq!(out, run(&b, Limits::NONE));
        assert_eq!(out.legs[0].trades.len(), 2);
    }

    #[test]
    fn order_value_and_position_limits_refuse_openings() {
        let b = bars(&[7.0, 12.0, 12.0, 4.0, 4.0, 12.0, 12.0, 4.0, 4.0], 1);
        // 10 shares at 12 = 120 > 100.
        let out = run(
            &b,
            Limits {
                max_order_notional: Some(100.0),
                ..Limits::NONE
            },
        );
        assert!(out.legs[0].trades.is_empty() && out.legs[0].open_trade.is_none());
        // Still flat, the rule asks again on every bar above 10: bars 1, 2, 5 and 6.
        assert_eq!(out.refusals.len(), 4);
        assert!(
            out.refusals[0].reason.contains("max_order_notional"),
            "{:?}",
            out.refusals
        );
        assert_eq!(
            out.refusals[0].bar, 2,
            "the bar the buy would have filled on"
        );
        let out = run(
            &b,
            Limits {
                max_position_qty: Some(5.0),
                ..Limits::NONE
            },
        );
        assert!(out.legs[0].trades.is_empty());
        assert!(out.refusals[0].reason.contains("max_position_qty"));
    }

    #[test]
    fn orders_per_day_count_new_york_days() {
        // Ten round trips within one New York day (minute bars), then a new day.
        let mut closes = vec![7.0];
        for _ in 0..10 {
            closes.extend([12.0, 12.0, 4.0, 4.0]);
        }
        let mut b = bars(&closes, 1);
        let next_day = bars(&[12.0, 12.0, 4.0, 4.0], 1);
        let shift = Duration::days(1) + Duration::minutes(60);
        b.extend(next_day.into_iter().map(|x| Bar {
            time: x.time + shift,
            ..x
        }));
        let out = run(
            &b,
            Limits {
                max_orders_per_day: Some(3),
                ..Limits::NONE
            },
        );
        let trades = &out.legs[0].trades;
        // Day 1: buy, sell, buy (3 orders); the sell that would close is a reduction and
        // passes the count limit, later buys are refused. Day 2 trades again.
        let day1 = b[0].time.date_naive();
        let entries_day1 = trades
            .iter()
            .filter(|t| t.entry_time.date_naive() == day1)
            .count();
        assert_eq!(entries_day1, 2, "{trades:?}");
        assert!(trades.iter().any(|t| t.entry_time.date_naive() > day1));
        assert!(out
            .refusals
            .iter()
            .all(|r| r.reason.contains("max_orders_per_day")));
    }

    #[test]
    fn a_stop_and_reverse_is_two_orders_against_the_days_count() {
        // SMA(2) over SMA(3) with shorting: a cross above at bar 4 (close 6), a cross below at
        // bar 8 (close 2). With 2 orders a day the buy is one, the reversal's close the second
        // (a reduction passes), and its open leg the third: refused, as the tick refuses it.
        let b = bars(&[5.0, 4.0, 3.0, 3.0, 6.0, 7.0, 8.0, 8.0, 2.0, 1.0], 1);
        let schedule = Segment::always(Strategy::SmaCross {
            fast: 2,
            slow: 3,
            allow_short: true,
        });
        let run_with = |limit| {
            portfolio::run(
                &[Leg {
                    bars: &b,
                    schedule: &schedule,
                    sizing: None,
                    protection: None,
                }],
                &Settings {
                    sizing: Sizing::Qty(10.0),
                    guards: Some(Limits {
                        max_orders_per_day: Some(limit),
                        ..Limits::NONE
                    }),
                    ..Settings::default()
                },
            )
        };
        let two = run_with(2);
        assert_eq!(
            two.legs[0].trades.len(),
            1,
            "the long only: {:?}",
            two.legs[0]
        );
        assert!(two.legs[0].open_trade.is_none(), "no short opened");
        assert_eq!(two.refusals.len(), 1);
        assert!(two.refusals[0].reason.contains("max_orders_per_day (2)"));
        let three = run_with(3);
        assert!(three.refusals.is_empty());
        assert!(
            three.legs[0].open_trade.is_some(),
            "short after the reversal"
        );
    }

    #[test]
    fn a_drawdown_halt_stops_all_trading_to_the_end() {
        // Long 10 at 12 (bar 2), the price sinks to 6 while still above the sell level:
        // equity 10000 → 9940 is only 0.6 %, so use a small account: cash 200.
        let b = bars(&[7.0, 12.0, 12.0, 9.0, 6.0, 4.0, 4.0, 12.0, 12.0, 4.0], 1);
        let schedule = threshold();
        let settings = Settings {
            cash: 200.0,
            sizing: Sizing::Qty(10.0),
            guards: Some(Limits {
                max_drawdown_pct: Some(20.0),
                ..Limits::NONE
            }),
            ..Settings::default()
        };
        let out = portfolio::run(
            &[Leg {
                bars: &b,
                schedule: &schedule,
                sizing: None,
                protection: None,
            }],
            &settings,
        );
        // Bar 4: equity 200 + 10·(6 − 12) = 140, 30 % below the peak: halted. The sell decided
        // on bar 5 is refused too (a halt stops everything), so the position stays open.
        assert!(out.legs[0].trades.is_empty());
        assert_eq!(out.legs[0].open_trade.map(|t| t.size), Some(10.0));
        assert!(out.refusals.iter().all(|r| r.reason.contains("halted")));
        assert!(!out.refusals.is_empty());
    }
}

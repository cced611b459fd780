//! Risk guards: pure checks that stand between a decision and an order.
//!
//! The tick asks [`check`] before every order and records a refusal as a decision row with the
//! reason; nothing is skipped silently. The same checks are available to the backtester.
//! [`RiskState`] is what the guards remember between ticks (in the state file); [`Limits`] are
//! the numbers they compare against, built from the config's `[risk]` by the config loader.
//! This module imports nothing from the config: the tick and `backtest --risk` hand it
//! [`Limits`], and a test can build them from values.

use crate::domain::{Qty, Side};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The numbers the guards use. `None` means no limit. The config loader builds them from
/// `[risk]` (its defaults are the config's); [`Limits::NONE`] is the unguarded broker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest absolute position per symbol, in shares.
    pub max_position_qty: Option<f64>,
    /// Largest order value, shares × price.
    pub max_order_notional: Option<f64>,
    /// Orders sent per trading day (New York date), all symbols together.
    pub max_orders_per_day: Option<u32>,
    /// Stop opening positions for the day once equity is this many percent below the day's
    /// starting equity.
    pub max_daily_loss_pct: Option<f64>,
    /// Halt all trading, until `prometheus-bot rearm`, once equity is this many percent below
    /// its peak.
    pub max_drawdown_pct: Option<f64>,
    /// No order on a latest trade older than this.
    pub max_price_age_secs: u64,
    /// No market order when the session's close is nearer than this: a day order that reaches
    /// the broker after the close waits for the next open.
    pub close_margin: Duration,
    /// Bars of a bar strategy that may be missing at the end (IEX minute bars have gaps)
    /// before an opening order is refused. Exits and the `threshold` rule never wait for bars.
    pub max_missing_bars: u32,
}

impl Limits {
    /// No limit at all: no cap on size, value, count, daily loss or drawdown, and the loosest
    /// freshness values the checks compare (a price of any age, any number of missing bars,
    /// up to the close). Only "no bars at all" is still refused, as it is a fact, not a limit.
    /// The price age is capped at `i64::MAX` seconds because [`check`] compares it as `i64`.
    pub const NONE: Limits = Limits {
        max_position_qty: None,
        max_order_notional: None,
        max_orders_per_day: None,
        max_daily_loss_pct: None,
        max_drawdown_pct: None,
        max_price_age_secs: i64::MAX as u64,
        close_margin: Duration::ZERO,
        max_missing_bars: u32::MAX,
    };
}

/// Remembered between ticks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RiskState {
    /// The trading day (New York date) the counters below belong to.
    pub day: Option<NaiveDate>,
    pub orders_today: u32,
    /// Set when the daily loss limit was hit on `day`.
    pub daily_loss_hit: bool,
    /// Highest equity seen since the last re-arm.
    pub peak_equity: Option<f64>,
    /// A drawdown halt: only `prometheus-bot rearm` clears it.
    pub halted: Option<Halt>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Halt {
    pub since: DateTime<Utc>,
    pub reason: String,
}

impl RiskState {
    /// Start a new day's counters when the New York date changes.
    pub fn roll_day(&mut self, today: NaiveDate) {
        if self.day != Some(today) {
            self.day = Some(today);
            self.orders_today = 0;
            self.daily_loss_hit = false;
        }
    }

    /// Update the peak and the halt/daily-loss flags from the account's equity. Returns the
    /// guards newly tripped, for the log and alerts.
    pub fn observe_equity(
        &mut self,
        cfg: &Limits,
        now: DateTime<Utc>,
        equity: f64,
        day_start: Option<f64>,
    ) -> Vec<String> {
        let mut tripped = Vec::new();
        if !equity.is_finite() {
            return tripped;
        }
        let peak = self.peak_equity.map_or(equity, |p| p.max(equity));
        self.peak_equity = Some(peak);
        if let Some(limit) = cfg.max_drawdown_pct {
            let dd = 100.0 * (peak - equity) / peak;
            if self.halted.is_none() && peak > 0.0 && dd >= limit {
                let reason =
                    format!("drawdown {dd:.2}% from the peak {peak:.2} reached the {limit}% limit");
                tripped.push(format!(
                    "trading halted: {reason}; run `prometheus-bot rearm` to resume"
                ));
                self.halted = Some(Halt { since: now, reason });
            }
        }
        if let (Some(limit), Some(start)) = (cfg.max_daily_loss_pct, day_start) {
            let loss = 100.0 * (start - equity) / start;
            if !self.daily_loss_hit && start > 0.0 && loss >= limit {
                self.daily_loss_hit = true;
                tripped.push(format!(
                    "daily loss {loss:.2}% from today's start {start:.2} reached the {limit}% limit: no new positions today"
                ));
            }
        }
        tripped
    }
}

/// Why an order was not sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    KillSwitch,
    Halted(String),
    DailyLoss,
    PositionLimit {
        after: Qty,
        limit: f64,
    },
    OrderNotional {
        notional: f64,
        limit: f64,
    },
    OrdersPerDay {
        limit: u32,
    },
    StalePrice {
        age_secs: i64,
        limit: u64,
    },
    NoRecentBar {
        last: Option<DateTime<Utc>>,
        missing: u32,
        limit: u32,
    },
    /// The session closes within `close_margin`: a market day order sent now could reach the
    /// broker after the close and wait, queued, for the next open.
    NearClose {
        secs_left: i64,
        margin_secs: u64,
    },
    ZeroSize,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::KillSwitch => f.write_str(
                "kill switch: the file STOP exists in the data folder; remove it to trade",
            ),
            Refusal::Halted(why) => write!(
                f,
                "trading is halted ({why}); run `prometheus-bot rearm` to resume"
            ),
            Refusal::DailyLoss => {
                f.write_str("daily loss limit reached: no new positions until tomorrow")
            }
            Refusal::PositionLimit { after, limit } => {
                write!(
                    f,
                    "position would be {after} shares, over max_position_qty {limit}"
                )
            }
            Refusal::OrderNotional { notional, limit } => {
                write!(
                    f,
                    "order value {notional:.2} is over max_order_notional {limit}"
                )
            }
            Refusal::OrdersPerDay { limit } => write!(f, "max_orders_per_day ({limit}) reached"),
            Refusal::StalePrice { age_secs, limit } => {
                write!(f, "stale price: the latest trade is {age_secs} s old (max_price_age_secs {limit})")
            }
            Refusal::NoRecentBar {
                last: Some(t),
                missing,
                limit,
            } => {
                write!(
                    f,
                    "{missing} closed bar(s) missing at the end (latest bar {}; max_missing_bars {limit}): not opening on stale bars",
                    t.format("%Y-%m-%d %H:%M")
                )
            }
            Refusal::NoRecentBar { last: None, .. } => f.write_str("no closed bars to decide on"),
            Refusal::NearClose {
                secs_left,
                margin_secs,
            } => write!(
                f,
                "the session closes in {secs_left} s, within close_margin_secs {margin_secs}: a market order now could be queued for the next open"
            ),
            Refusal::ZeroSize => f.write_str("the sizing rule gives 0 shares at this price"),
        }
    }
}

/// An order about to be sent.
#[derive(Debug, Clone, Copy)]
pub struct Proposed {
    pub side: Side,
    pub qty: Qty,
    pub price: f64,
    /// Signed position before the order, counting open orders.
    pub position: Qty,
}

impl Proposed {
    fn position_after(&self) -> Qty {
        match self.side {
            Side::Buy => self.position + self.qty,
            Side::Sell => self.position - self.qty,
        }
    }

    /// Does it open or add exposure, rather than only reduce it? An order that crosses zero
    /// (a long-to-short reversal in one order) opens: it must pass every limit an opening
    /// passes. The tick never sends one (it splits a reversal into a close and an open leg),
    /// but the guard must not depend on that.
    pub fn opens(&self) -> bool {
        let after = self.position_after();
        let crosses = self.position.signum() * after.signum() < 0;
        crosses || after.abs() > self.position.abs()
    }
}

/// Everything the guards look at besides the order.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub limits: &'a Limits,
    pub state: &'a RiskState,
    pub stop_file: bool,
    /// Age of the latest trade, seconds.
    pub price_age_secs: i64,
    /// Closed bars missing between the latest one held and the one expected now; `None` when
    /// there are no bars at all. Only opening orders of strategies that decide on bars look at
    /// it: an exit must never wait for data, and the `threshold` rule decides on the trade.
    pub missing_bars: Option<u32>,
    /// Does the strategy decide on bars (false for `threshold`)?
    pub needs_bars: bool,
    pub last_bar: Option<DateTime<Utc>>,
    /// Seconds until the session closes, by the broker's clock; `None` when unknown (backtests).
    pub secs_to_close: Option<i64>,
}

/// The close-margin guard alone: no market order when the session closes in less than
/// `close_margin` (it could reach Alpaca after the bell and be queued for the next open). Part
/// of [`check`]; the tick calls it again just before each order, `secs_to_close` measured then.
/// `None` (unknown, as in a backtest) passes.
pub fn check_close_margin(limits: &Limits, secs_to_close: Option<i64>) -> Result<(), Refusal> {
    let Some(secs_left) = secs_to_close else {
        return Ok(());
    };
    let margin_secs = limits.close_margin.as_secs();
    if secs_left < margin_secs as i64 {
        return Err(Refusal::NearClose {
            secs_left,
            margin_secs,
        });
    }
    Ok(())
}

/// The stale-price guard alone: a latest trade `age_secs` old may decide an order.
pub fn check_price_age(limits: &Limits, age_secs: i64) -> Result<(), Refusal> {
    if age_secs > limits.max_price_age_secs as i64 {
        return Err(Refusal::StalePrice {
            age_secs,
            limit: limits.max_price_age_secs,
        });
    }
    Ok(())
}

/// The first guard that refuses the order, if any.
///
/// Every order: kill switch, drawdown halt, a positive size, the close margin, the price age.
/// Orders that only reduce a position stop there: they pass the bar-recency, daily-loss, size
/// and count limits, so a person is never stuck in a position by a guard. Opening orders (and
/// any order that crosses zero) must pass all of them.
pub fn check(order: &Proposed, cx: &Context<'_>) -> Result<(), Refusal> {
    let cfg = cx.limits;
    if cx.stop_file {
        return Err(Refusal::KillSwitch);
    }
    if let Some(h) = &cx.state.halted {
        return Err(Refusal::Halted(h.reason.clone()));
    }
    if !order.qty.is_positive() {
        return Err(Refusal::ZeroSize);
    }
    check_close_margin(cfg, cx.secs_to_close)?;
    check_price_age(cfg, cx.price_age_secs)?;
    if !order.opens() {
        return Ok(());
    }
    if cx.needs_bars {
        let limit = cfg.max_missing_bars;
        match cx.missing_bars {
            Some(missing) if missing <= limit => {}
            missing => {
                return Err(Refusal::NoRecentBar {
                    last: cx.last_bar,
                    missing: missing.unwrap_or(u32::MAX),
                    limit,
                })
            }
        }
    }
    if cx.state.daily_loss_hit {
        return Err(Refusal::DailyLoss);
    }
    if let Some(limit) = cfg.max_position_qty {
        let after = order.position_after().abs();
        if after.to_f64() > limit {
            return Err(Refusal::PositionLimit { after, limit });
        }
    }
    if let Some(limit) = cfg.max_order_notional {
        let notional = order.qty.to_f64() * order.price;
        if notional > limit {
            return Err(Refusal::OrderNotional { notional, limit });
        }
    }
    if let Some(limit) = cfg.max_orders_per_day {
        if cx.state.orders_today >= limit {
            return Err(Refusal::OrdersPerDay { limit });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The limits the tests reason about, written out (the shipped defaults are the config's).
    const LIMITS: Limits = Limits {
        max_position_qty: Some(100.0),
        max_order_notional: Some(10_000.0),
        max_orders_per_day: Some(20),
        max_daily_loss_pct: Some(5.0),
        max_drawdown_pct: Some(20.0),
        max_price_age_secs: 120,
        close_margin: Duration::from_secs(60),
        max_missing_bars: 2,
    };

    fn cx<'a>(limits: &'a Limits, state: &'a RiskState) -> Context<'a> {
        Context {
            limits,
            state,
            stop_file: false,
            price_age_secs: 1,
            missing_bars: Some(0),
            needs_bars: true,
            last_bar: None,
            secs_to_close: None,
        }
    }

    const BUY: Proposed = Proposed {
        side: Side::Buy,
        qty: Qty::shares(10),
        price: 100.0,
        position: Qty::shares(0),
    };
    const SELL_ALL: Proposed = Proposed {
        side: Side::Sell,
        qty: Qty::shares(95),
        price: 100.0,
        position: Qty::shares(95),
    };

    #[test]
    fn limits_refuse_openings_but_never_a_reduction() {
        let cfg = LIMITS;
        let state = RiskState::default();
        assert_eq!(check(&BUY, &cx(&cfg, &state)), Ok(()));
        let big = Proposed {
            qty: Qty::shares(101),
            price: 1.0,
            ..BUY
        };
        assert_eq!(
            check(&big, &cx(&cfg, &state)),
            Err(Refusal::PositionLimit {
                after: Qty::shares(101),
                limit: 100.0
            })
        );
        let pricey = Proposed {
            qty: Qty::shares(2),
            price: 6000.0,
            ..BUY
        };
        assert_eq!(
            check(&pricey, &cx(&cfg, &state)),
            Err(Refusal::OrderNotional {
                notional: 12_000.0,
                limit: 10_000.0
            })
        );
        let spent = RiskState {
            orders_today: 20,
            daily_loss_hit: true,
            ..RiskState::default()
        };
        assert_eq!(check(&BUY, &cx(&cfg, &spent)), Err(Refusal::DailyLoss));
        // Selling 95 shares worth 9,500 with every count and loss limit spent: allowed.
        assert_eq!(check(&SELL_ALL, &cx(&cfg, &spent)), Ok(()));
    }

    #[test]
    fn no_limits_pass_what_the_limits_refuse_but_not_the_facts() {
        let spent = RiskState {
            orders_today: 1_000,
            daily_loss_hit: true,
            ..RiskState::default()
        };
        let huge = Proposed {
            qty: Qty::shares(1_000_000),
            price: 1e4,
            ..BUY
        };
        assert_eq!(check(&huge, &cx(&LIMITS, &spent)), Err(Refusal::DailyLoss));
        let fresh = RiskState::default();
        let open = Context {
            price_age_secs: 86_400,
            missing_bars: Some(1_000),
            secs_to_close: Some(0),
            ..cx(&Limits::NONE, &fresh)
        };
        assert_eq!(check(&huge, &open), Ok(()));
        assert_eq!(
            check(
                &huge,
                &Context {
                    state: &spent,
                    ..open
                }
            ),
            Err(Refusal::DailyLoss),
            "a daily loss already hit is the state's, not a limit"
        );
        let zero = Proposed {
            qty: Qty::ZERO,
            ..BUY
        };
        assert_eq!(check(&zero, &open), Err(Refusal::ZeroSize));
        let nobars = Context {
            missing_bars: None,
            ..open
        };
        assert!(matches!(
            check(&huge, &nobars),
            Err(Refusal::NoRecentBar { last: None, .. })
        ));
        let mut s = RiskState::default();
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
        s.observe_equity(&Limits::NONE, now, 100.0, Some(100.0));
        assert!(s
            .observe_equity(&Limits::NONE, now, 1.0, Some(100.0))
            .is_empty());
        assert!(s.halted.is_none() && !s.daily_loss_hit);
    }

    #[test]
    fn kill_switch_halt_and_stale_data_refuse_everything() {
        let cfg = LIMITS;
        let state = RiskState::default();
        let stop = Context {
            stop_file: true,
            ..cx(&cfg, &state)
        };
        assert_eq!(check(&SELL_ALL, &stop), Err(Refusal::KillSwitch));
        let stale = Context {
            price_age_secs: 121,
            ..cx(&cfg, &state)
        };
        assert_eq!(
            check(&BUY, &stale),
            Err(Refusal::StalePrice {
                age_secs: 121,
                limit: 120
            })
        );
        let nobar = Context {
            missing_bars: Some(3),
            ..cx(&cfg, &state)
        };
        assert!(matches!(
            check(&BUY, &nobar),
            Err(Refusal::NoRecentBar { missing: 3, .. })
        ));
        let halted = RiskState {
            halted: Some(Halt {
                since: Utc::now(),
                reason: "x".into(),
            }),
            ..RiskState::default()
        };
        assert!(matches!(
            check(&SELL_ALL, &cx(&cfg, &halted)),
            Err(Refusal::Halted(_))
        ));
    }

    #[test]
    fn missing_bars_block_only_openings_of_bar_strategies_beyond_the_allowed_gap() {
        let cfg = LIMITS; // max_missing_bars = 2
        let state = RiskState::default();
        let gap = |missing, needs_bars| Context {
            missing_bars: missing,
            needs_bars,
            ..cx(&cfg, &state)
        };
        assert_eq!(check(&BUY, &gap(Some(2), true)), Ok(()), "within the gap");
        assert!(check(&BUY, &gap(Some(3), true)).is_err());
        assert!(check(&BUY, &gap(None, true)).is_err(), "no bars at all");
        assert_eq!(check(&BUY, &gap(Some(50), false)), Ok(()), "threshold");
        assert_eq!(check(&SELL_ALL, &gap(None, true)), Ok(()), "an exit");
    }

    #[test]
    fn nothing_is_sent_within_the_close_margin_not_even_an_exit() {
        let cfg = LIMITS; // 60 s
        let state = RiskState::default();
        let closing = |secs| Context {
            secs_to_close: Some(secs),
            ..cx(&cfg, &state)
        };
        assert_eq!(check(&BUY, &closing(61)), Ok(()));
        assert_eq!(check(&SELL_ALL, &closing(60)), Ok(()));
        assert_eq!(
            check(&SELL_ALL, &closing(59)),
            Err(Refusal::NearClose {
                secs_left: 59,
                margin_secs: 60
            })
        );
        assert!(check(&BUY, &closing(-14)).is_err(), "after the close");
    }

    /// As f64, 0.1 + 0.1 + 0.1 is 0.30000000000000004: a third buy of 0.1 under a 0.3 limit
    /// was refused as over it.
    #[test]
    fn a_fractional_position_exactly_at_the_limit_is_not_over_it() {
        let cfg = Limits {
            max_position_qty: Some(0.3),
            ..LIMITS
        };
        let state = RiskState::default();
        let q = |t: &str| Qty::parse(t).unwrap();
        let third = Proposed {
            side: Side::Buy,
            qty: q("0.1"),
            price: 100.0,
            position: q("0.1") + q("0.1"),
        };
        assert_eq!(check(&third, &cx(&cfg, &state)), Ok(()));
        let fourth = Proposed {
            position: q("0.3"),
            ..third
        };
        assert_eq!(
            check(&fourth, &cx(&cfg, &state)),
            Err(Refusal::PositionLimit {
                after: q("0.4"),
                limit: 0.3
            })
        );
    }

    #[test]
    fn a_reversal_in_one_order_is_an_opening_and_meets_every_limit() {
        let cfg = LIMITS;
        let spent = RiskState {
            daily_loss_hit: true,
            ..RiskState::default()
        };
        // Long 60, sell 120: |position| stays 60, but a new short is opened.
        let reverse = Proposed {
            side: Side::Sell,
            qty: Qty::shares(120),
            price: 10.0,
            position: Qty::shares(60),
        };
        assert!(reverse.opens());
        assert_eq!(check(&reverse, &cx(&cfg, &spent)), Err(Refusal::DailyLoss));
        let close = Proposed {
            qty: Qty::shares(60),
            ..reverse
        };
        assert!(!close.opens());
        assert_eq!(check(&close, &cx(&cfg, &spent)), Ok(()));
    }

    #[test]
    fn drawdown_halts_once_and_daily_loss_trips_by_hand_computed_levels() {
        let cfg = LIMITS; // 20% drawdown, 5% daily loss
        let mut s = RiskState::default();
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
        assert!(s
            .observe_equity(&cfg, now, 100_000.0, Some(100_000.0))
            .is_empty());
        // 95,001 is 4.999% below the day's start: no trip. 94,999: 5.001%: trip.
        assert!(s
            .observe_equity(&cfg, now, 95_001.0, Some(100_000.0))
            .is_empty());
        assert_eq!(
            s.observe_equity(&cfg, now, 94_999.0, Some(100_000.0)).len(),
            1
        );
        assert!(s.daily_loss_hit);
        // Peak 100,000: 80,000 is exactly 20% down: halt; it stays halted on recovery.
        assert_eq!(s.observe_equity(&cfg, now, 80_000.0, None).len(), 1);
        assert!(s.observe_equity(&cfg, now, 120_000.0, None).is_empty());
        assert!(s.halted.is_some());
        s.roll_day(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
        assert!(!s.daily_loss_hit && s.orders_today == 0 && s.halted.is_some());
    }
}

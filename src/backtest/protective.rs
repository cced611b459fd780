//! The broker-held stop and target on bars, for the backtest: the same orders the tick places
//! (`stop_loss_pct`, `take_profit_pct`, `trailing_stop_pct`, at the same cent-rounded prices
//! from the trade's entry price), filled the way a resting order fills when all one sees of
//! the market is a bar.
//!
//! For a long (a short mirrors it):
//! * a stop fills when the bar's low touches it: at the stop, or at the open when the bar
//!   opens through it (a gap: a plain stop becomes a market order, never skipped);
//! * a target fills when the high reaches it: at the target, or at the open when it opens
//!   above it;
//! * when both could fill in one bar, the stop fills: a bar does not say whether its high or
//!   its low came first, and assuming the loss is the conservative rule;
//! * a trailing stop trails the best price of the bars before this one (from the open of the
//!   first protected bar), then is checked against this bar's low as a stop; the bar's own
//!   high moves it only for the next bar (again the conservative order);
//! * protection rests from the bar after the one the entry filled in, as in the tick, which
//!   places it on the tick after it sees the position.

use crate::domain::Bar;
use crate::plan::protect::{price, Protection};

/// The protective levels of one open trade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// +1 long, −1 short.
    dir: f64,
    stop: Option<f64>,
    target: Option<f64>,
    /// (trail percent, best price so far) for a trailing stop.
    trail: Option<(f64, f64)>,
}

impl Levels {
    /// The levels of a trade entered at `entry` in direction `dir`, first protected on a bar
    /// opening at `first_open`. `None` when nothing is configured.
    pub fn new(p: &Protection, entry: f64, dir: f64, first_open: f64) -> Option<Levels> {
        if !p.any() {
            return None;
        }
        let cents = |x: f64| price(x).to_f64();
        Some(Levels {
            dir,
            stop: p
                .stop_loss_pct
                .map(|pct| cents(entry * (1.0 - dir * pct / 100.0))),
            target: p
                .take_profit_pct
                .map(|pct| cents(entry * (1.0 + dir * pct / 100.0))),
            trail: p.trailing_stop_pct.map(|pct| (pct, first_open)),
        })
    }

    /// Levels of orders already resting at a broker (the simulated one), in direction `dir`
    /// of the position they protect: a stop, a target, or a trailing stop as (percent, best
    /// price so far).
    pub fn resting(
        dir: f64,
        stop: Option<f64>,
        target: Option<f64>,
        trail: Option<(f64, f64)>,
    ) -> Levels {
        Levels {
            dir,
            stop,
            target,
            trail,
        }
    }

    /// The price the protection exits at on `bar`, if it does; then moves a trailing stop.
    pub fn exit_on(&mut self, bar: &Bar) -> Option<f64> {
        let long = self.dir > 0.0;
        let stop = match self.trail {
            Some((pct, best)) => Some(best * (1.0 - self.dir * pct / 100.0)),
            None => self.stop,
        };
        if let Some(stop) = stop {
            if long && bar.open <= stop || !long && bar.open >= stop {
                return Some(bar.open);
            }
            if long && bar.low <= stop || !long && bar.high >= stop {
                return Some(stop);
            }
        }
        if let Some(target) = self.target {
            if long && bar.open >= target || !long && bar.open <= target {
                return Some(bar.open);
            }
            if long && bar.high >= target || !long && bar.low <= target {
                return Some(target);
            }
        }
        if let Some((pct, best)) = self.trail {
            let moved = if long {
                best.max(bar.high)
            } else {
                best.min(bar.low)
            };
            self.trail = Some((pct, moved));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn bar(open: f64, high: f64, low: f64, close: f64) -> Bar {
        Bar {
            time: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            open,
            high,
            low,
            close,
            volume: 1.0,
            trades: 0,
            vwap: f64::NAN,
        }
    }

    fn both(stop: f64, target: f64) -> Protection {
        Protection {
            stop_loss_pct: Some(stop),
            take_profit_pct: Some(target),
            trailing_stop_pct: None,
        }
    }

    #[test]
    fn a_long_stop_fills_at_the_stop_or_at_a_gapping_open() {
        // Entry 100, stop 2 %: 98.00; target 5 %: 105.00.
        let mut l = Levels::new(&both(2.0, 5.0), 100.0, 1.0, 100.0).unwrap();
        assert_eq!(l.exit_on(&bar(100.0, 101.0, 99.0, 100.5)), None);
        assert_eq!(l.exit_on(&bar(99.5, 100.0, 97.0, 97.5)), Some(98.0));
        assert_eq!(
            l.exit_on(&bar(96.0, 97.0, 95.0, 96.5)),
            Some(96.0),
            "gap: the open"
        );
        assert_eq!(l.exit_on(&bar(101.0, 106.0, 100.0, 104.0)), Some(105.0));
        assert_eq!(
            l.exit_on(&bar(107.0, 108.0, 106.0, 107.0)),
            Some(107.0),
            "gap up"
        );
    }

    #[test]
    fn when_stop_and_target_both_fit_in_one_bar_the_stop_fills() {
        let mut l = Levels::new(&both(2.0, 5.0), 100.0, 1.0, 100.0).unwrap();
        assert_eq!(l.exit_on(&bar(100.0, 106.0, 97.0, 100.0)), Some(98.0));
    }

    #[test]
    fn a_short_is_mirrored_and_prices_round_to_cents_like_the_tick() {
        // Short at 33.333: stop 3 % above = 34.33299 → 34.33; target 10 % below = 29.9997 → 30.00.
        let mut l = Levels::new(&both(3.0, 10.0), 33.333, -1.0, 33.3).unwrap();
        assert_eq!(l.exit_on(&bar(33.0, 34.0, 32.0, 33.5)), None);
        assert_eq!(l.exit_on(&bar(33.0, 34.5, 32.0, 34.0)), Some(34.33));
        assert_eq!(l.exit_on(&bar(31.0, 31.0, 29.0, 30.5)), Some(30.0));
    }

    #[test]
    fn a_trailing_stop_follows_the_highs_of_earlier_bars() {
        let p = Protection {
            trailing_stop_pct: Some(10.0),
            ..Protection::default()
        };
        let mut l = Levels::new(&p, 100.0, 1.0, 100.0).unwrap();
        // Stop 90 (from the first open); the bar's high of 120 moves it to 108 afterwards.
        assert_eq!(l.exit_on(&bar(100.0, 120.0, 91.0, 115.0)), None);
        assert_eq!(l.exit_on(&bar(115.0, 116.0, 107.0, 110.0)), Some(108.0));
    }
}

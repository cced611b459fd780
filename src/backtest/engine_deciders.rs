//! Who decides on each bar of the engine's loop ([`Decider`]): any strategy through
//! [`Strategy::decide_with`] (the tick's own decision), or a SmaCross read straight from its
//! precomputed SMAs, the two series or the pair's order ([`SmaCrossDecider`]).

use crate::domain::{Bar, Signal};
use crate::strategy::{crossing, sma_cross_signal, Cross, CrossOrder, Smas, Strategy};

/// What the loop asks on each bar it may decide on: the signal for `bars[..=i]` holding
/// `position`.
pub(crate) trait Decider {
    fn signal(&self, bars: &[Bar], i: usize, position: f64) -> Signal;
}

/// Any strategy, through [`Strategy::decide_with`] (the tick's own decision).
pub(crate) struct StrategyDecider<'a> {
    pub(crate) strategy: &'a Strategy,
    pub(crate) smas: &'a Smas,
}

impl Decider for StrategyDecider<'_> {
    #[inline]
    fn signal(&self, bars: &[Bar], i: usize, position: f64) -> Signal {
        let d = self
            .strategy
            .decide_with(&bars[..=i], self.smas, bars[i].close, position);
        d.signal
    }
}

/// SmaCross read straight from precomputed SMAs: per bar, the cross test ([`crossing`], on
/// the very values [`Smas::at`] would give it) and the signal rule ([`sma_cross_signal`])
/// that [`Strategy::decide`] itself applies; no lookup, no reason built. The pair is read
/// from the two series ([`Series`]: a sweep's 14,550 combinations spend most of their engine
/// time here) or from its order on each bar ([`Order`], [`Smas::cross_only`]: a one-symbol
/// backtest keeps a byte a bar, not the two series).
pub(crate) struct SmaCrossDecider<P> {
    pair: P,
    slow_len: usize,
    allow_short: bool,
}

/// Where a [`SmaCrossDecider`] finds the cross: row `k` is bar `k + slow − 1`.
pub(crate) trait CrossPair {
    /// Rows (bars from `slow − 1` on) the pair covers.
    fn rows(&self) -> usize;
    /// The cross from row `k − 1` to row `k` (`k >= 1`).
    fn cross(&self, k: usize) -> Cross;
}

/// The two series, SMA(fast) aligned with SMA(slow).
pub(crate) struct Series<'a> {
    fast: &'a [f64],
    slow: &'a [f64],
}

impl CrossPair for Series<'_> {
    fn rows(&self) -> usize {
        self.fast.len()
    }

    #[inline]
    fn cross(&self, k: usize) -> Cross {
        crossing(
            self.fast[k - 1],
            self.slow[k - 1],
            self.fast[k],
            self.slow[k],
        )
    }
}

/// The pair's order on each row ([`CrossOrder`]): a cross is the order turning from below to
/// above or back, exactly [`crossing`] of the two means on the two rows.
pub(crate) struct Order<'a>(&'a [u8]);

impl CrossPair for Order<'_> {
    fn rows(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn cross(&self, k: usize) -> Cross {
        match (self.0[k - 1], self.0[k]) {
            (CrossOrder::BELOW, CrossOrder::ABOVE) => Cross::Above,
            (CrossOrder::ABOVE, CrossOrder::BELOW) => Cross::Below,
            _ => Cross::None,
        }
    }
}

/// `strategy`'s windows and shorting if it is a SmaCross with `1 <= fast < slow`.
fn sma_cross(strategy: &Strategy) -> Option<(usize, usize, bool)> {
    match *strategy {
        Strategy::SmaCross {
            fast,
            slow,
            allow_short,
        } if fast >= 1 && fast < slow => Some((fast, slow, allow_short)),
        _ => None,
    }
}

impl<'a> SmaCrossDecider<Series<'a>> {
    /// `None` unless `strategy` is a SmaCross with `1 <= fast < slow` whose windows `smas` holds.
    pub(crate) fn new(strategy: &Strategy, smas: &'a Smas) -> Option<Self> {
        let (fast, slow, allow_short) = sma_cross(strategy)?;
        let (f, s) = (smas.series(fast)?, smas.series(slow)?);
        let f = f.get(slow - fast..)?;
        let len = f.len().min(s.len());
        Some(SmaCrossDecider {
            pair: Series {
                fast: &f[..len],
                slow: &s[..len],
            },
            slow_len: slow,
            allow_short,
        })
    }
}

impl<'a> SmaCrossDecider<Order<'a>> {
    /// `None` unless `strategy` is a SmaCross whose pair's order `smas` holds.
    pub(crate) fn by_order(strategy: &Strategy, smas: &'a Smas) -> Option<Self> {
        let (fast, slow, allow_short) = sma_cross(strategy)?;
        Some(SmaCrossDecider {
            pair: Order(smas.cross(fast, slow)?),
            slow_len: slow,
            allow_short,
        })
    }
}

impl<P: CrossPair> Decider for SmaCrossDecider<P> {
    #[inline]
    fn signal(&self, _bars: &[Bar], i: usize, position: f64) -> Signal {
        // Bar `i` is row `k`; `decide` holds (warming up) until it has `slow + 1` bars: k >= 1.
        let k = (i + 1).wrapping_sub(self.slow_len);
        if k == 0 || k >= self.pair.rows() {
            return Signal::Hold;
        }
        sma_cross_signal(self.pair.cross(k), position, self.allow_short)
    }
}

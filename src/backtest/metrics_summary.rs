//! What a sweep keeps of each combination: the columns of sweep.csv ([`Summary`]), computed
//! by the very functions [`compute`](super::compute) uses for those rows, without the rest.
//!
//! A 14,550-combination grid scores 14,550 equity curves; β (a logarithm per bar moved),
//! the drawdown periods, exposure and the durations were most of each combination's metrics
//! and no row of sweep.csv shows them. The best combination is run again and gets them all.

use super::calendar::Calendar;
use super::math::{geometric_mean, mean, nan_if_zero, nan_to_num, variance};
use super::Metrics;
use super::Trade;

/// A combination's row of sweep.csv: these fields are bit for bit the [`Metrics`] fields of
/// the same name ([`Summary::of`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub trades: usize,
    pub return_pct: f64,
    pub sharpe_ratio: f64,
    pub max_drawdown_pct: f64,
    pub win_rate_pct: f64,
    pub equity_final: f64,
    pub sqn: f64,
}

impl Summary {
    /// The sweep row's fields of full metrics.
    pub fn of(m: &Metrics) -> Summary {
        Summary {
            trades: m.trades,
            return_pct: m.return_pct,
            sharpe_ratio: m.sharpe_ratio,
            max_drawdown_pct: m.max_drawdown_pct,
            win_rate_pct: m.win_rate_pct,
            equity_final: m.equity_final,
            sqn: m.sqn,
        }
    }
}

/// The returns of the calendar periods and what is annualized from them.
pub(super) struct PeriodReturns {
    /// Each period's return over the one before (NaN ones dropped).
    pub returns: Vec<f64>,
    /// (1 + mean)^A − 1, as a fraction.
    pub annualized: f64,
    pub return_ann_pct: f64,
    pub volatility_ann_pct: f64,
}

impl PeriodReturns {
    pub fn of(cal: &Calendar, equity: &[f64]) -> PeriodReturns {
        let a = cal.periods_per_year;
        let ends = cal.period_ends(equity);
        let mut returns: Vec<f64> = Vec::with_capacity(ends.len());
        returns.extend(
            ends.windows(2)
                .map(|p| p[1] / p[0] - 1.0)
                .filter(|r| !r.is_nan()),
        );
        let g = geometric_mean(&returns);
        let annualized = (1.0 + g).powf(a) - 1.0;
        let var = variance(&returns);
        let volatility_ann_pct =
            ((var + (1.0 + g).powf(2.0)).powf(a) - (1.0 + g).powf(2.0 * a)).sqrt() * 100.0;
        PeriodReturns {
            returns,
            annualized,
            return_ann_pct: annualized * 100.0,
            volatility_ann_pct,
        }
    }

    pub fn sharpe_ratio(&self) -> f64 {
        self.return_ann_pct / nan_if_zero(self.volatility_ann_pct)
    }
}

/// The drawdown `1 − e / running peak` at each bar (NaN from the first NaN on, as the
/// library's `np.maximum.accumulate` carries it).
pub(super) fn drawdowns(equity: &[f64]) -> impl Iterator<Item = f64> + '_ {
    let mut peak = f64::NEG_INFINITY;
    equity.iter().map(move |&e| {
        peak = if e.is_nan() || peak.is_nan() {
            f64::NAN
        } else {
            peak.max(e)
        };
        1.0 - e / peak
    })
}

/// The largest drawdown, negated: `-np.nan_to_num(dd.max())` (NaN-propagating max).
pub(super) fn max_drawdown(dd: impl IntoIterator<Item = f64>) -> f64 {
    let dd_max = dd.into_iter().fold(f64::NEG_INFINITY, |m, x| {
        if m.is_nan() || x.is_nan() {
            f64::NAN
        } else {
            m.max(x)
        }
    });
    -nan_to_num(dd_max)
}

/// `max_drawdown(drawdowns(equity))`, bit for bit, with one division per run-up instead of
/// one per bar. Between two new peaks the peak `p > 0` is fixed, and `1 − e/p` (each operation
/// correctly rounded, so monotone) can only grow as `e` falls: the segment's largest drawdown
/// is its lowest equity's. Equity that is not finite, or a first value that is not positive,
/// takes the per-bar fold.
pub(super) fn max_drawdown_of(equity: &[f64]) -> f64 {
    let Some(&first) = equity.first() else {
        return max_drawdown(drawdowns(equity));
    };
    if !(first > 0.0 && equity.iter().all(|e| e.is_finite())) {
        return max_drawdown(drawdowns(equity));
    }
    let (mut peak, mut low) = (first, first);
    let mut worst = f64::NEG_INFINITY;
    for &e in &equity[1..] {
        if e > peak {
            worst = worst.max(1.0 - low / peak);
            (peak, low) = (e, e);
        } else if e < low {
            low = e;
        }
    }
    worst = worst.max(1.0 - low / peak);
    -nan_to_num(worst)
}

/// The win rate (a fraction; NaN without trades) and SQN of closed trades' PnL.
pub(super) fn win_rate_and_sqn(pl: &[f64]) -> (f64, f64) {
    let k = pl.len();
    let win_rate = if k == 0 {
        f64::NAN
    } else {
        pl.iter().filter(|&&p| p > 0.0).count() as f64 / k as f64
    };
    let sqn = (k as f64).sqrt() * mean(pl) / nan_if_zero(variance(pl).sqrt());
    (win_rate, sqn)
}

/// [`Summary`] of a run, as [`compute`](super::compute) would give it (`Summary::of` of
/// it); `None` without bars.
pub(super) fn summary(cal: &Calendar, equity: &[f64], trades: &[Trade]) -> Option<Summary> {
    let n = equity.len();
    if n == 0 || cal.keys.len() != n {
        return None;
    }
    let (e0, equity_final) = (equity[0], equity[n - 1]);
    let returns = PeriodReturns::of(cal, equity);
    // The drawdowns folded as they are made: no series kept.
    let max_dd = max_drawdown_of(equity);
    let pl: Vec<f64> = trades.iter().map(|t| t.pnl).collect();
    let (win_rate, sqn) = win_rate_and_sqn(&pl);
    Some(Summary {
        trades: trades.len(),
        return_pct: (equity_final - e0) / e0 * 100.0,
        sharpe_ratio: returns.sharpe_ratio(),
        max_drawdown_pct: max_dd * 100.0,
        win_rate_pct: win_rate * 100.0,
        equity_final,
        sqn,
    })
}

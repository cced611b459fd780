//! What the dashboard draws from the ledgers, kept row by row so a tick's refresh costs the
//! same after a year as after a day (issue 15: reading equity.csv and fills.csv whole every
//! tick cost +70 ms and 14 MB a tick after a year of 2 symbols, and grew without bound).
//!
//! A [`Digest`] is built by adding rows in ledger order, and is the same whether they were
//! added in one pass or a few at a time across processes (the tick keeps it in a sidecar
//! beside the ledgers and adds only the rows appended since: see `crate::cmd::report`). Its
//! size is bounded: the equity and drawdown lines are kept as time buckets whose width doubles
//! when there are too many ([`Series`]), the daily P&L as the last [`DAYS_KEPT`] days, the
//! fills as the last few per symbol. What it states as a number (final equity, peak, drawdown,
//! each day's P&L, the trade counts) is exactly what a whole read computes.

use crate::backtest::engine::Trade;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::America::New_York;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

#[path = "digest_series.rs"]
mod series;
pub use series::Series;

/// Daily P&L bars kept (about six months of sessions): enough to read a trend, few enough for
/// a phone's screen.
pub const DAYS_KEPT: usize = 125;
/// Rows of the "last fills" table.
pub const LAST_FILLS: usize = 20;
/// Fills kept per symbol for its price chart's markers (the chart spans its last bars only:
/// about two sessions of minute bars, where more marks than this hide the line).
pub const MARKERS_KEPT: usize = 50;

/// One execution from fills.csv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    pub time: DateTime<Utc>,
    pub symbol: String,
    pub buy: bool,
    pub qty: f64,
    pub price: f64,
}

/// A fill as its symbol's chart marks it: UTC seconds, bought (or sold), shares, price. A
/// tuple, as the sidecar holds many.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mark(pub i64, pub bool, pub f64, pub f64);

/// The ledgers as the dashboard draws them: equity.csv's part and fills.csv's part, each
/// brought up to date from its own file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub equity: EquityDigest,
    pub trades: TradesDigest,
}

impl Digest {
    /// The digest of whole ledgers already read (the `report` command, tests).
    pub fn of(equity: &[(DateTime<Utc>, f64)], fills: &[Fill]) -> Digest {
        let mut d = Digest::default();
        for &(t, e) in equity {
            d.equity.add(t, e);
        }
        for f in fills {
            d.trades.add(f.clone());
        }
        d
    }
}

/// equity.csv's readings: count, first, last, peak, the deepest drawdown, the lines drawn and
/// the daily P&L.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EquityDigest {
    pub rows: u64,
    pub first: Option<(DateTime<Utc>, f64)>,
    pub last: Option<(DateTime<Utc>, f64)>,
    /// The running peak: the highest reading so far.
    pub peak: Option<f64>,
    /// The deepest drawdown as a fraction below the running peak (`1 - e / peak`, as
    /// backtesting.py's `Max. Drawdown` computes it per bar).
    pub max_drawdown: f64,
    /// The equity line.
    pub line: Series,
    /// Percent below the running peak (negative), per reading, bucketed like the line: each
    /// bucket keeps its deepest point, so the chart's trough is the true one.
    pub drawdown: Series,
    /// Each New York day's change, the last [`DAYS_KEPT`] days, as [`daily_pnl`] counts them.
    pub days: VecDeque<(NaiveDate, f64)>,
    /// The reading the current day's change counts from (the previous day's last one).
    day_base: f64,
}

impl EquityDigest {
    pub fn add(&mut self, t: DateTime<Utc>, e: f64) {
        let prev = self.last.map(|l| l.1);
        self.rows += 1;
        self.first.get_or_insert((t, e));
        self.last = Some((t, e));
        let peak = self.peak.map_or(e, |p| p.max(e));
        self.peak = Some(peak);
        self.max_drawdown = self.max_drawdown.max(1.0 - e / peak);
        let s = t.timestamp();
        self.line.add((s, e));
        let dd = if peak > 0.0 {
            100.0 * (e - peak) / peak
        } else {
            0.0
        };
        self.drawdown.add((s, dd));
        let day = t.with_timezone(&New_York).date_naive();
        match self.days.back_mut() {
            Some(d) if d.0 == day => d.1 = e - self.day_base,
            _ => {
                self.day_base = prev.unwrap_or(e);
                self.days.push_back((day, e - self.day_base));
                if self.days.len() > DAYS_KEPT {
                    self.days.pop_front();
                }
            }
        }
    }
}

/// Each New York trading day's change in equity, one per day with a reading, the first
/// included: a day's change runs from the previous day's last reading, and the first day's
/// from its own first reading (the equity the ledger starts with), so the changes add up to
/// the last reading less the first. (The whole-read definition [`EquityDigest::days`] keeps
/// the end of.)
pub fn daily_pnl(equity: &[(DateTime<Utc>, f64)]) -> Vec<(NaiveDate, f64)> {
    let mut out: Vec<(NaiveDate, f64)> = Vec::new();
    let Some(&(_, mut base)) = equity.first() else {
        return out;
    };
    let mut last = base;
    for &(t, e) in equity {
        let day = t.with_timezone(&New_York).date_naive();
        match out.last_mut() {
            Some(d) if d.0 == day => d.1 = e - base,
            _ => {
                base = last;
                out.push((day, e - base));
            }
        }
        last = e;
    }
    out
}

/// An open lot: signed shares, price, time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lot {
    pub qty: f64,
    pub price: f64,
    pub time: DateTime<Utc>,
}

/// fills.csv's executions: the round trips closed so far (first in, first out, per symbol),
/// the lots still open, and the last fills shown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TradesDigest {
    pub open: BTreeMap<String, Vec<Lot>>,
    /// Round trips closed.
    pub trades: u64,
    /// Of which with a gain (`pnl > 0`, as backtesting.py's win rate counts).
    pub wins: u64,
    /// Best and worst round trip's return (a fraction).
    pub best: Option<f64>,
    pub worst: Option<f64>,
    /// The last [`LAST_FILLS`] fills, oldest first.
    pub last: VecDeque<Fill>,
    /// Per symbol, its last [`MARKERS_KEPT`] fills, oldest first.
    pub recent: BTreeMap<String, VecDeque<Mark>>,
}

impl TradesDigest {
    pub fn add(&mut self, f: Fill) {
        let lots = self.open.entry(f.symbol.clone()).or_default();
        let (trades, wins, best, worst) = (
            &mut self.trades,
            &mut self.wins,
            &mut self.best,
            &mut self.worst,
        );
        close_fifo(lots, &f, |lot, size| {
            let (pnl, ret) = trade_result(lot, size, &f);
            *trades += 1;
            *wins += u64::from(pnl > 0.0);
            *best = Some(best.map_or(ret, |b| b.max(ret)));
            *worst = Some(worst.map_or(ret, |w| w.min(ret)));
        });
        if lots.is_empty() {
            self.open.remove(&f.symbol);
        }
        let recent = self.recent.entry(f.symbol.clone()).or_default();
        recent.push_back(Mark(f.time.timestamp(), f.buy, f.qty, f.price));
        if recent.len() > MARKERS_KEPT {
            recent.pop_front();
        }
        self.last.push_back(f);
        if self.last.len() > LAST_FILLS {
            self.last.pop_front();
        }
    }
}

/// A round trip's P&L and return, as backtesting.py's `Trade` has them: `size` signed shares
/// of `lot` closed by `exit`.
fn trade_result(lot: &Lot, size: f64, exit: &Fill) -> (f64, f64) {
    (
        size * (exit.price - lot.price),
        size.signum() * (exit.price / lot.price - 1.0),
    )
}

/// Match `f` against a symbol's open `lots`, first in first out: `closed(lot, size)` for each
/// part of a lot it closes (`size` signed as the lot), and what is left opens a new lot.
fn close_fifo(lots: &mut Vec<Lot>, f: &Fill, mut closed: impl FnMut(&Lot, f64)) {
    let mut left = if f.buy { f.qty } else { -f.qty };
    while left != 0.0 {
        match lots.first_mut() {
            Some(lot) if lot.qty.signum() != left.signum() => {
                let size = if lot.qty.abs() <= left.abs() {
                    lot.qty
                } else {
                    -left
                };
                closed(lot, size);
                lot.qty -= size;
                left += size;
                if lot.qty.abs() < 1e-12 {
                    lots.remove(0);
                }
            }
            _ => {
                lots.push(Lot {
                    qty: left,
                    price: f.price,
                    time: f.time,
                });
                left = 0.0;
            }
        }
    }
}

/// Round trips from fills, first in first out, per symbol; `bar` indexes `times` (the whole
/// read behind the `report` command's metrics, with the digest's own matching).
pub fn round_trips(fills: &[Fill], times: &[DateTime<Utc>]) -> Vec<Trade> {
    let index = |t: DateTime<Utc>| times.partition_point(|x| *x <= t).saturating_sub(1);
    let mut open: std::collections::HashMap<&str, Vec<Lot>> = Default::default();
    let mut trades = Vec::new();
    for f in fills {
        let lots = open.entry(f.symbol.as_str()).or_default();
        close_fifo(lots, f, |lot, size| {
            let (pnl, return_pct) = trade_result(lot, size, f);
            trades.push(Trade {
                entry_bar: index(lot.time),
                exit_bar: index(f.time),
                size,
                entry_price: lot.price,
                exit_price: f.price,
                pnl,
                return_pct,
                entry_time: lot.time,
                exit_time: f.time,
                commission: 0.0,
            });
        });
    }
    trades
}

#[cfg(test)]
#[path = "digest_tests.rs"]
mod tests;

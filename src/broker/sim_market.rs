//! The simulated broker's market: the bars it was given and the New York sessions they trade in.
//!
//! Read-only while the simulation steps, so every look-up is a binary search over sorted bars
//! or sessions, with no clock: times come in as arguments.
//!
//! When a bar opens and closes: an intraday bar at its label time and one timeframe later; a
//! daily bar (labelled New York midnight, as Alpaca and `import` stamp it) at its day's session
//! open and close, 09:30 and 16:00 New York unless sessions were given explicitly.

use crate::backtest::engine::Fill;
use crate::domain::{Bar, Timeframe};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::America::New_York;
use std::collections::{BTreeSet, HashMap};

/// One trading session: the market is open from `open` (inclusive) to `close` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub open: DateTime<Utc>,
    pub close: DateTime<Utc>,
}

impl Session {
    /// The regular session of a New York trading `day`: 09:30 to 16:00 New York time.
    pub fn regular(day: NaiveDate) -> Session {
        Session {
            open: new_york(day, 9, 30),
            close: new_york(day, 16, 0),
        }
    }

    /// The New York day it trades on.
    pub fn day(&self) -> NaiveDate {
        ny_date(self.open)
    }
}

/// `h:m` New York time on `day`. Daylight-saving changes happen at 02:00, so every time of
/// the trading day exists exactly once.
fn new_york(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    let local = day
        .and_hms_opt(h, m, 0)
        .expect("h:m is a valid time of day");
    New_York
        .from_local_datetime(&local)
        .earliest()
        .expect("no New York trading time falls in a daylight-saving gap")
        .with_timezone(&Utc)
}

/// The New York calendar day of `t`.
pub fn ny_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&New_York).date_naive()
}

/// One symbol's bars of one timeframe, oldest first, one bar per time.
pub(super) struct Series {
    pub(super) timeframe: Timeframe,
    pub(super) bars: Vec<Bar>,
}

#[derive(Default)]
pub(super) struct Market {
    /// Per symbol, its series from the finest timeframe to the coarsest.
    symbols: HashMap<String, Vec<Series>>,
    /// Sorted, not overlapping.
    pub(super) sessions: Vec<Session>,
    /// Sessions were given, not derived from the bars' days.
    explicit: bool,
}

impl Market {
    /// Add (or replace) one symbol's bars of one timeframe; unsorted input and repeated times
    /// are tolerated (the later bar of a time wins). A bar whose open or close is not a
    /// positive finite price is left out: no order may fill at it, and no amount the broker
    /// reports may be NaN.
    pub(super) fn load(&mut self, symbol: &str, timeframe: Timeframe, mut bars: Vec<Bar>) {
        bars.retain(|b| [b.open, b.close].iter().all(|p| p.is_finite() && *p > 0.0));
        bars.sort_by_key(|b| b.time);
        bars.reverse();
        bars.dedup_by_key(|b| b.time);
        bars.reverse();
        let series = self.symbols.entry(symbol.to_string()).or_default();
        series.retain(|s| s.timeframe != timeframe);
        series.push(Series { timeframe, bars });
        series.sort_by_key(|s| s.timeframe.duration());
        if !self.explicit {
            self.sessions = self.derived_sessions();
        }
    }

    /// Replace the sessions (for early closes and holidays the bars cannot show).
    pub(super) fn set_sessions(&mut self, mut sessions: Vec<Session>) {
        sessions.sort_by_key(|s| s.open);
        self.sessions = sessions;
        self.explicit = true;
    }

    /// A regular session on every New York day that has a bar of any symbol.
    fn derived_sessions(&self) -> Vec<Session> {
        let days: BTreeSet<NaiveDate> = self
            .symbols
            .values()
            .flatten()
            .flat_map(|s| s.bars.iter().map(|b| ny_date(b.time)))
            .collect();
        days.into_iter().map(Session::regular).collect()
    }

    /// The session on `day`, or the regular one if none is known.
    fn session_on(&self, day: NaiveDate) -> Session {
        let i = self.sessions.partition_point(|s| s.day() < day);
        match self.sessions.get(i) {
            Some(s) if s.day() == day => *s,
            _ => Session::regular(day),
        }
    }

    /// Index of the session that is open at `t` or, if none is, of the next one (may be past
    /// the end).
    pub(super) fn session_index(&self, t: DateTime<Utc>) -> usize {
        self.sessions.partition_point(|s| s.close <= t)
    }

    /// The session open at `t`, if any.
    pub(super) fn open_session(&self, t: DateTime<Utc>) -> Option<Session> {
        self.sessions
            .get(self.session_index(t))
            .filter(|s| s.open <= t)
            .copied()
    }

    /// When `bar` of `timeframe` opens: see the module docs.
    pub(super) fn opens_at(&self, timeframe: Timeframe, bar: &Bar) -> DateTime<Utc> {
        if timeframe.is_intraday() {
            bar.time
        } else {
            self.session_on(ny_date(bar.time)).open
        }
    }

    /// When `bar` of `timeframe` closes: see the module docs.
    pub(super) fn closes_at(&self, timeframe: Timeframe, bar: &Bar) -> DateTime<Utc> {
        if timeframe.is_intraday() {
            bar.time + timeframe.duration()
        } else {
            self.session_on(ny_date(bar.time)).close
        }
    }

    pub(super) fn series(&self, symbol: &str, timeframe: Timeframe) -> Option<&Series> {
        self.symbols
            .get(symbol)?
            .iter()
            .find(|s| s.timeframe == timeframe)
    }

    /// The series orders fill on and positions are marked at: the symbol's finest timeframe.
    pub(super) fn fill_series(&self, symbol: &str) -> Option<&Series> {
        self.symbols.get(symbol)?.first()
    }

    /// How many of `series`' bars have closed by `t` (they are the first ones).
    pub(super) fn closed_count(&self, series: &Series, t: DateTime<Utc>) -> usize {
        series
            .bars
            .partition_point(|b| self.closes_at(series.timeframe, b) <= t)
    }

    /// The last bar of the symbol's fill series closed by `t`, and when it closed.
    pub(super) fn last_closed(
        &self,
        symbol: &str,
        t: DateTime<Utc>,
    ) -> Option<(Bar, DateTime<Utc>)> {
        let series = self.fill_series(symbol)?;
        let n = self.closed_count(series, t);
        let bar = *series.bars.get(n.checked_sub(1)?)?;
        Some((bar, self.closes_at(series.timeframe, &bar)))
    }

    /// The bar of the symbol's fill series that opens exactly at `t`, when a session is open
    /// at `t`: its open is the opening print, the price a market order sent at `t` gets.
    pub(super) fn opening_at(&self, symbol: &str, t: DateTime<Utc>) -> Option<Bar> {
        self.open_session(t)?;
        let series = self.fill_series(symbol)?;
        let i = series
            .bars
            .partition_point(|b| self.opens_at(series.timeframe, b) < t);
        let bar = *series.bars.get(i)?;
        (self.opens_at(series.timeframe, &bar) == t).then_some(bar)
    }

    /// The latest trade at `t` and when it printed: with [`Fill::NextOpen`], the opening print
    /// of a bar that opens at `t` in an open session; otherwise (and always with
    /// [`Fill::Close`]) the last closed bar's close at its close time. It is the price a market
    /// order sent at `t` fills at, and the price positions are marked at.
    pub(super) fn latest(
        &self,
        symbol: &str,
        t: DateTime<Utc>,
        fill: Fill,
    ) -> Option<(f64, DateTime<Utc>)> {
        if fill == Fill::NextOpen {
            if let Some(bar) = self.opening_at(symbol, t) {
                return Some((bar.open, t));
            }
        }
        self.last_closed(symbol, t).map(|(b, at)| (b.close, at))
    }

    /// The first bar of the symbol's fill series that opens at or after `from` and before
    /// `until`, with its opening time.
    pub(super) fn first_open(
        &self,
        symbol: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<(Bar, DateTime<Utc>)> {
        let series = self.fill_series(symbol)?;
        let i = series
            .bars
            .partition_point(|b| self.opens_at(series.timeframe, b) < from);
        let bar = *series.bars.get(i)?;
        let at = self.opens_at(series.timeframe, &bar);
        (at < until).then_some((bar, at))
    }
}

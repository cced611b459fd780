//! Where a bar stands against the clock: the boundary a timeframe's bars close on, and how
//! many closed bars are missing at the end of a series. Pure.

use crate::domain::Timeframe;
use chrono::{DateTime, Datelike, Utc};

/// Closed bars missing between the latest one held and the one that should exist now;
/// `None` with no bars at all. Intraday: whole timeframes between the latest bar and the bar
/// that closed at the last boundary. Daily: weekdays between the latest bar's New York date and
/// today's (a holiday counts as one missing bar, which the default allowance absorbs).
pub fn missing_bars(last: Option<DateTime<Utc>>, now: DateTime<Utc>, tf: Timeframe) -> Option<u32> {
    let last = last?;
    if tf == Timeframe::Day1 {
        let ny = |t: DateTime<Utc>| t.with_timezone(&chrono_tz::America::New_York).date_naive();
        let (from, today) = (ny(last), ny(now));
        let missing = from
            .iter_days()
            .skip(1)
            .take_while(|d| *d < today)
            .filter(|d| d.weekday().num_days_from_monday() < 5)
            .count();
        return Some(u32::try_from(missing).unwrap_or(u32::MAX));
    }
    let expected = floor_to(now, tf) - tf.duration();
    let behind = (expected - last).num_seconds().max(0) / tf.duration().num_seconds();
    Some(u32::try_from(behind).unwrap_or(u32::MAX))
}

/// `t` rounded down to a multiple of the timeframe (UTC): the latest bar boundary.
pub fn floor_to(t: DateTime<Utc>, tf: Timeframe) -> DateTime<Utc> {
    let step = tf.duration().num_seconds();
    let secs = t.timestamp().div_euclid(step) * step;
    DateTime::from_timestamp(secs, 0).unwrap_or(t)
}

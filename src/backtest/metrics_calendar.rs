//! What the metrics read from the bar times alone: the data period and its resolution, the
//! duration, the annualization factor, and each bar's calendar period (day, week, month or
//! year) for the period returns. A sweep scores thousands of equity curves over the same
//! times; this is computed once for all of them ([`super::Benchmark`]), and per bar it was
//! most of a combination's metrics (a date conversion per bar).

use super::time::{resolution_ns, whole_days};
use super::NS_PER_DAY;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use std::borrow::Cow;

/// The bar times' part of the metrics (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Calendar {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub duration: Duration,
    /// pandas' resolution of the data period, in ns (durations are ceiled to it).
    pub unit: i64,
    /// The annualization factor A (252, 365, 52, 12 or 1).
    pub periods_per_year: f64,
    /// Each bar's calendar period (equal keys: the same day, week, month or year).
    pub keys: Vec<i32>,
    /// No two consecutive bars share a period (every bar ends its own).
    pub one_bar_per_period: bool,
}

pub(super) fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

impl Calendar {
    /// `None` without times.
    pub fn of(times: &[DateTime<Utc>]) -> Option<Calendar> {
        let n = times.len();
        let (&start, &end) = (times.first()?, times.last()?);
        // Data period: the median spacing of the last 100 times.
        let tail = &times[n.saturating_sub(100)..];
        let mut diffs: Vec<i64> = tail.windows(2).map(|p| ns(p[1]) - ns(p[0])).collect();
        diffs.sort_unstable();
        let period_ns = match diffs.len() {
            0 => None,
            k if k % 2 == 1 => Some(diffs[k / 2]),
            k => Some(((diffs[k / 2 - 1] as i128 + diffs[k / 2] as i128) / 2) as i64),
        };
        let unit = period_ns.map_or(NS_PER_DAY, resolution_ns);
        let duration = Duration::nanoseconds(whole_days(
            i128::from(ns(end)) - i128::from(ns(start)),
            unit,
        ) as i64);
        let freq_days = period_ns.map(|p| p.div_euclid(NS_PER_DAY));
        // Four bytes a key (a million minute bars: 4 MB, not 8): chrono's dates (years within
        // ±262,143) keep every day, week, month and year count far inside i32.
        let key = |t: DateTime<Utc>, day: i64| -> i32 {
            (match freq_days {
                Some(7) => (day + 3).div_euclid(7), // weeks Monday..Sunday
                Some(31) => i64::from(t.year()) * 12 + i64::from(t.month0()),
                Some(365) => i64::from(t.year()),
                _ => day,
            }) as i32
        };
        let mut weekend = 0usize;
        // A key and a weekday are the date's: worked out once per date (a day of minute bars
        // shares one), compared as a date for the rest.
        let mut last: Option<(NaiveDate, i32, bool)> = None;
        let keys: Vec<i32> = times
            .iter()
            .map(|&t| {
                let date = t.date_naive();
                let (k, on_weekend) = match last {
                    Some((d, k, w)) if d == date => (k, w),
                    _ => {
                        // Days since 1970-01-01 (a Thursday), so (day + 3) mod 7 is 0 on Mondays.
                        let day = t.timestamp().div_euclid(86_400);
                        let (k, w) = (key(t, day), (day + 3).rem_euclid(7) >= 5);
                        last = Some((date, k, w));
                        (k, w)
                    }
                };
                weekend += usize::from(on_weekend);
                k
            })
            .collect();
        let have_weekends = weekend as f64 / n as f64 > 2.0 / 7.0 * 0.6;
        let periods_per_year = match freq_days {
            Some(7) => 52.0,
            Some(31) => 12.0,
            Some(365) => 1.0,
            _ if have_weekends => 365.0,
            _ => 252.0,
        };
        Some(Calendar {
            start,
            end,
            duration,
            unit,
            periods_per_year,
            one_bar_per_period: keys.windows(2).all(|k| k[0] != k[1]),
            keys,
        })
    }

    /// The last non-NaN equity of each calendar period, oldest first: `equity` itself when
    /// every bar is its own period (daily bars) and none is NaN.
    pub fn period_ends<'a>(&self, equity: &'a [f64]) -> Cow<'a, [f64]> {
        if self.one_bar_per_period && !equity.iter().any(|e| e.is_nan()) {
            return Cow::Borrowed(equity);
        }
        let mut last_per_period: Vec<f64> = Vec::with_capacity(equity.len());
        let mut prev_key = None;
        for (&k, &e) in self.keys.iter().zip(equity) {
            if e.is_nan() {
                continue;
            }
            if prev_key == Some(k) {
                *last_per_period.last_mut().expect("a value per seen key") = e;
            } else {
                last_per_period.push(e);
                prev_key = Some(k);
            }
        }
        Cow::Owned(last_per_period)
    }
}

//! The health of a series of bars: what `prometheus-bot data check` reports.
//!
//! Duplicates, disorder and impossible bars make a file unusable (a backtest on it would lie).
//! Gaps are reported but do not: IEX minute bars have gaps whenever no trade happened.

use crate::domain::{Bar, Timeframe};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;

#[derive(Debug, Default)]
pub struct Report {
    pub bars: usize,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// (line, time) of each row whose time equals the previous row's.
    pub duplicates: Vec<(usize, DateTime<Utc>)>,
    /// (line, time) of each row earlier than the previous row.
    pub unsorted: Vec<(usize, DateTime<Utc>)>,
    /// (line, what is wrong).
    pub impossible: Vec<(usize, String)>,
    pub gaps: Vec<Gap>,
}

/// Missing bars between two consecutive bars, during regular hours (intraday) or on
/// weekdays (daily).
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    pub after: DateTime<Utc>,
    pub before: DateTime<Utc>,
    /// Regular-session time (intraday) or weekdays (daily) with no bar.
    pub missing: Duration,
}

impl Report {
    pub fn is_usable(&self) -> bool {
        self.duplicates.is_empty() && self.unsorted.is_empty() && self.impossible.is_empty()
    }
}

/// Analyse rows as they stand in a file: (line number, bar), in file order.
pub fn analyse(rows: &[(usize, Bar)], timeframe: Timeframe) -> Report {
    let mut report = Report {
        bars: rows.len(),
        first: rows.iter().map(|(_, b)| b.time).min(),
        last: rows.iter().map(|(_, b)| b.time).max(),
        ..Report::default()
    };
    for (line, bar) in rows {
        if let Some(problem) = impossible(bar) {
            report.impossible.push((*line, problem));
        }
    }
    for pair in rows.windows(2) {
        let ((_, a), (line, b)) = (&pair[0], &pair[1]);
        if b.time == a.time {
            report.duplicates.push((*line, b.time));
        } else if b.time < a.time {
            report.unsorted.push((*line, b.time));
        } else {
            let missing = missing_between(a.time, b.time, timeframe);
            let whole_bar = match timeframe {
                // Calendar periods: any whole week or month without a bar is a gap.
                Timeframe::Week1 | Timeframe::Month1 => Duration::zero(),
                _ => timeframe.duration(),
            };
            if missing >= whole_bar && !missing.is_zero() {
                report.gaps.push(Gap {
                    after: a.time,
                    before: b.time,
                    missing,
                });
            }
        }
    }
    report
}

fn impossible(b: &Bar) -> Option<String> {
    let prices = [b.open, b.high, b.low, b.close];
    if prices.iter().any(|p| !p.is_finite() || *p <= 0.0) {
        return Some(format!(
            "non-positive or missing price (open {} high {} low {} close {})",
            b.open, b.high, b.low, b.close
        ));
    }
    if b.low > b.open || b.low > b.close || b.low > b.high {
        return Some(format!(
            "low {} is above open {}, close {} or high {}",
            b.low, b.open, b.close, b.high
        ));
    }
    if b.high < b.open || b.high < b.close {
        return Some(format!(
            "high {} is below open {} or close {}",
            b.high, b.open, b.close
        ));
    }
    if b.volume < 0.0 || b.volume.is_nan() {
        return Some(format!("negative volume {}", b.volume));
    }
    None
}

/// For intraday bars: regular-session time (09:30-16:00 New York, weekdays) between the end of
/// bar `a` and the start of bar `b`, counted on the days of `a` and `b` only (a night, a
/// weekend or a holiday between two sessions is not a gap). For daily bars: the weekdays
/// strictly between them beyond one (a single weekday holiday is normal), as days.
fn missing_between(a: DateTime<Utc>, b: DateTime<Utc>, timeframe: Timeframe) -> Duration {
    if let (Some(pa), Some(pb)) = (timeframe.period(a), timeframe.period(b)) {
        // Weekly and monthly bars: the calendar periods strictly between the two, as the days
        // from the first missing period's start to `b`'s period's start.
        if pb - pa <= 1 {
            return Duration::zero();
        }
        let day = |t: DateTime<Utc>| t.with_timezone(&New_York).date_naive();
        let (da, db) = (day(a), day(b));
        let next_start = da
            .iter_days()
            .skip(1)
            .find(|d| {
                let t = New_York
                    .from_local_datetime(&d.and_hms_opt(12, 0, 0).unwrap_or_default())
                    .earliest()
                    .map(|t| t.with_timezone(&Utc));
                t.and_then(|t| timeframe.period(t)) != Some(pa)
            })
            .unwrap_or(db);
        let b_start = match timeframe {
            Timeframe::Week1 => {
                db - chrono::Days::new(u64::from(db.weekday().num_days_from_monday()))
            }
            _ => db.with_day(1).unwrap_or(db),
        };
        return Duration::days((b_start - next_start).num_days().max(0));
    }
    if timeframe == Timeframe::Day1 {
        let (da, db) = (
            a.with_timezone(&New_York).date_naive(),
            b.with_timezone(&New_York).date_naive(),
        );
        let weekdays = da
            .iter_days()
            .skip(1)
            .take_while(|d| *d < db)
            .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
            .count() as i64;
        return Duration::days((weekdays - 1).max(0));
    }
    let from = a + timeframe.duration();
    let (day_a, day_b) = (
        from.with_timezone(&New_York).date_naive(),
        b.with_timezone(&New_York).date_naive(),
    );
    let session = |day: chrono::NaiveDate| -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            return None;
        }
        let at = |h, m| {
            New_York
                .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(h, m, 0)?))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        };
        Some((at(9, 30)?, at(16, 0)?))
    };
    let overlap = |(open, close): (DateTime<Utc>, DateTime<Utc>)| {
        let (start, end) = (from.max(open), b.min(close));
        if end > start {
            end - start
        } else {
            Duration::zero()
        }
    };
    let mut missing = session(day_a).map_or(Duration::zero(), overlap);
    if day_b != day_a {
        missing += session(day_b).map_or(Duration::zero(), overlap);
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(t: DateTime<Utc>, o: f64, h: f64, l: f64, c: f64) -> Bar {
        Bar {
            time: t,
            open: o,
            high: h,
            low: l,
            close: c,
            volume: 10.0,
            trades: 1,
            vwap: c,
        }
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        // 2026-11-24 is in EST: New York = UTC-5.
        Utc.with_ymd_and_hms(2026, 11, 24, h + 5, m, 0).unwrap()
    }

    #[test]
    fn finds_duplicates_disorder_and_impossible_bars() {
        let rows = vec![
            (2, bar(at(10, 0), 1.0, 2.0, 0.5, 1.5)),
            (3, bar(at(10, 1), 1.0, 2.0, 0.5, 1.5)),
            (4, bar(at(10, 1), 1.0, 2.0, 0.5, 1.5)),
            (5, bar(at(9, 59), 1.0, 2.0, 0.5, 1.5)),
            (6, bar(at(10, 2), 1.0, 2.0, 1.2, 1.1)),
            (7, bar(at(10, 3), 1.0, 0.9, 0.5, 0.8)),
            (8, bar(at(10, 4), 0.0, 2.0, 0.0, 1.5)),
            (
                9,
                Bar {
                    volume: -1.0,
                    ..bar(at(10, 5), 1.0, 2.0, 0.5, 1.5)
                },
            ),
        ];
        let r = analyse(&rows, Timeframe::Min1);
        assert_eq!(r.duplicates, [(4, at(10, 1))]);
        assert_eq!(r.unsorted, [(5, at(9, 59))]);
        let lines: Vec<usize> = r.impossible.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [6, 7, 8, 9]);
        assert!(!r.is_usable());
        assert_eq!(
            (r.first, r.last, r.bars),
            (Some(at(9, 59)), Some(at(10, 5)), 8)
        );
    }

    #[test]
    fn gaps_count_regular_hours_only() {
        let b = |t| (0, bar(t, 1.0, 2.0, 0.5, 1.5));
        // 10:00 then 10:05: 10:01-10:04 missing = 4 minutes.
        let r = analyse(&[b(at(10, 0)), b(at(10, 5))], Timeframe::Min1);
        assert_eq!(r.gaps[0].missing, Duration::minutes(4));
        // Consecutive minutes: no gap. Pre-market 08:00 -> 09:31: only 09:30 is regular.
        assert!(analyse(&[b(at(10, 0)), b(at(10, 1))], Timeframe::Min1)
            .gaps
            .is_empty());
        let r = analyse(&[b(at(8, 0)), b(at(9, 31))], Timeframe::Min1);
        assert_eq!(r.gaps[0].missing, Duration::minutes(1));
        // 15:59 today -> 09:30 tomorrow: the night is not a gap.
        let next_open = at(9, 30) + Duration::days(1);
        assert!(analyse(&[b(at(15, 59)), b(next_open)], Timeframe::Min1)
            .gaps
            .is_empty());
        // 5-minute bars 10:00 and 10:10: one bar (10:05) missing.
        let r = analyse(&[b(at(10, 0)), b(at(10, 10))], Timeframe::Min5);
        assert_eq!(r.gaps[0].missing, Duration::minutes(5));
    }

    #[test]
    fn daily_gaps_allow_weekends_and_one_holiday() {
        let day = |d: u32| {
            (
                0,
                bar(
                    Utc.with_ymd_and_hms(2026, 11, d, 5, 0, 0).unwrap(),
                    1.0,
                    2.0,
                    0.5,
                    1.5,
                ),
            )
        };
        // Fri 20 -> Mon 23: weekend only. Wed 25 -> Fri 27: Thanksgiving. Mon 16 -> Fri 20: 3 weekdays missing.
        assert!(analyse(&[day(20), day(23)], Timeframe::Day1)
            .gaps
            .is_empty());
        assert!(analyse(&[day(25), day(27)], Timeframe::Day1)
            .gaps
            .is_empty());
        let r = analyse(&[day(16), day(20)], Timeframe::Day1);
        assert_eq!(r.gaps[0].missing, Duration::days(2));
    }

    /// New York midnight of a date, as Alpaca and `import` stamp daily and longer bars.
    fn ny_midnight(y: i32, m: u32, d: u32) -> (usize, Bar) {
        let t = New_York
            .with_ymd_and_hms(y, m, d, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        (0, bar(t, 1.0, 2.0, 0.5, 1.5))
    }

    #[test]
    fn monthly_and_weekly_gaps_are_whole_calendar_periods() {
        // First trading days: Tue 2024-01-02, Thu 02-01, Fri 03-01, Mon 04-01, Wed 05-01.
        let months = [(1, 2), (2, 1), (3, 1), (4, 1), (5, 1)].map(|(m, d)| ny_midnight(2024, m, d));
        assert!(analyse(&months, Timeframe::Month1).gaps.is_empty());
        // As daily bars, the same file is all gaps (the complaint).
        assert_eq!(analyse(&months, Timeframe::Day1).gaps.len(), 4);
        // Without March: one gap, March 1 .. April 1 = 31 days; without Feb and March, 60.
        let r = analyse(&[months[0], months[1], months[3]], Timeframe::Month1);
        assert_eq!(r.gaps.len(), 1);
        assert_eq!(r.gaps[0].missing, Duration::days(31));
        let r = analyse(&[months[0], months[3]], Timeframe::Month1);
        assert_eq!(r.gaps[0].missing, Duration::days(60));
        // Weeks: Tue 2024-01-02 (the Monday a holiday), Mon 01-08, then Tue 01-16 (MLK day):
        // consecutive weeks; then Mon 01-29 after a week with no bar: 7 days missing.
        let weeks = [(1, 2), (1, 8), (1, 16), (1, 29)].map(|(m, d)| ny_midnight(2024, m, d));
        let r = analyse(&weeks, Timeframe::Week1);
        assert_eq!(r.gaps.len(), 1, "{:?}", r.gaps);
        assert_eq!(
            (r.gaps[0].after, r.gaps[0].missing),
            (weeks[2].1.time, Duration::days(7))
        );
        // A year end: Mon 2024-12-30 and Mon 2025-01-06 are consecutive weeks.
        let r = analyse(
            &[ny_midnight(2024, 12, 30), ny_midnight(2025, 1, 6)],
            Timeframe::Week1,
        );
        assert!(r.gaps.is_empty());
    }
}

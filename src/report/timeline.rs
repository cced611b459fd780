//! A time axis without the market's closed hours. Minute equity rows and minute bars exist
//! only while the market is open; drawn on a calendar axis, nights and weekends are about
//! 60% of the width and show as flat lines. Here every gap much longer than the series' usual
//! step (longer than four steps and two hours) is shrunk to one step, so sessions sit side
//! by side; shorter gaps (a daily series' weekends) keep their calendar width.
//!
//! Ticks are calendar ticks ([`time_ticks`]) placed on the shrunk axis: one that falls in a
//! closed gap moves to the session after it and is labelled with that session's date, so the
//! axis of a few sessions reads "Nov 24 … 18:00 … Nov 25 …". Pure.

use super::axis::time_ticks;
use chrono::{DateTime, Utc};

/// Gaps at least this long (and four usual steps) are closed time.
const MIN_CLOSED_SECS: i64 = 2 * 3600;
/// Spans shorter than this get day labels at session starts; longer ones keep month or year
/// labels.
const DAYS_LABELLED: i64 = 60 * 86_400;

/// Positions along a shrunk axis, in seconds of open time from the first point.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// `(time, position)` at every distinct time, ascending.
    knots: Vec<(i64, f64)>,
    /// Whether the gap after knot `i` was shrunk.
    shrunk: Vec<bool>,
}

impl Timeline {
    /// The axis through the given times (any order, repeats allowed).
    pub fn new(times: impl Iterator<Item = i64>) -> Timeline {
        let mut times: Vec<i64> = times.collect();
        times.sort_unstable();
        times.dedup();
        let mut gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let step = if gaps.is_empty() {
            1
        } else {
            let mid = gaps.len() / 2;
            *gaps.select_nth_unstable(mid).1
        };
        let closed = (4 * step).max(MIN_CLOSED_SECS);
        let mut knots = Vec::with_capacity(times.len());
        let mut shrunk = Vec::with_capacity(times.len());
        let mut pos = 0.0;
        for (i, &t) in times.iter().enumerate() {
            if i > 0 {
                let gap = t - times[i - 1];
                let long = gap > closed;
                shrunk.push(long);
                pos += if long { step } else { gap } as f64;
            }
            knots.push((t, pos));
        }
        shrunk.push(false);
        Timeline { knots, shrunk }
    }

    /// The axis length, in seconds of open time.
    pub fn span(&self) -> f64 {
        self.knots.last().map_or(0.0, |k| k.1)
    }

    /// Where `t` lies: linear within a gap (shrunk or not), linear beyond the ends.
    pub fn pos(&self, t: i64) -> f64 {
        let (Some(first), Some(last)) = (self.knots.first(), self.knots.last()) else {
            return 0.0;
        };
        if t <= first.0 {
            return (t - first.0) as f64;
        }
        if t >= last.0 {
            return last.1 + (t - last.0) as f64;
        }
        let i = self.knots.partition_point(|k| k.0 <= t) - 1;
        let (a, b) = (self.knots[i], self.knots[i + 1]);
        a.1 + (t - a.0) as f64 / (b.0 - a.0) as f64 * (b.1 - a.1)
    }

    /// Whether any closed time was removed.
    pub fn has_breaks(&self) -> bool {
        self.shrunk.iter().any(|&s| s)
    }

    /// About `max` labelled ticks, as `(time, label)` ascending, none closer than a
    /// `max`-th of the axis.
    pub fn ticks(&self, max: usize) -> Vec<(i64, String)> {
        let (Some(&(t0, _)), Some(&(t1, _))) = (self.knots.first(), self.knots.last()) else {
            return Vec::new();
        };
        if !self.has_breaks() {
            return time_ticks(t0, t1, max);
        }
        let max = max.max(2);
        let span = self.span().max(1.0);
        let days = t1 - t0 < DAYS_LABELLED;
        let date = |t: i64| {
            DateTime::<Utc>::from_timestamp(t, 0)
                .unwrap_or_default()
                .format("%b %d")
                .to_string()
        };
        let hour = |t: i64| {
            DateTime::<Utc>::from_timestamp(t, 0)
                .unwrap_or_default()
                .format("%H:%M")
                .to_string()
        };
        // Calendar ticks as dense as the open time needs, then moved off closed time.
        let dense = ((max as f64) * (t1 - t0) as f64 / span).clamp(max as f64, 400.0) as usize;
        let mut candidates: Vec<(i64, String, bool)> = Vec::new();
        if days {
            candidates.push((t0, date(t0), true));
        }
        for (t, label) in time_ticks(t0, t1, dense) {
            let i = self.knots.partition_point(|k| k.0 <= t).saturating_sub(1);
            let inside_closed = self.shrunk[i] && t > self.knots[i].0;
            if inside_closed {
                let open = self.knots[i + 1].0;
                candidates.push((open, if days { date(open) } else { label }, true));
            } else if days && t % 86_400 != 0 {
                candidates.push((t, hour(t), false));
            } else {
                candidates.push((t, label, false));
            }
        }
        candidates.sort_by_key(|c| c.0);
        candidates.dedup_by_key(|c| c.0);
        // Session starts first, then the rest where there is room.
        let gap = span / max as f64;
        let mut kept: Vec<(i64, String)> = Vec::new();
        for pass in [true, false] {
            for (t, label, start) in &candidates {
                if *start != pass {
                    continue;
                }
                let p = self.pos(*t);
                if kept
                    .iter()
                    .all(|k| (self.pos(k.0) - p).abs() >= gap * 0.999)
                {
                    kept.push((*t, label.clone()));
                }
            }
        }
        kept.sort_by_key(|k| k.0);
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, h: u32, m: u32) -> i64 {
        Utc.with_ymd_and_hms(2026, 11, day, h, m, 0)
            .unwrap()
            .timestamp()
    }

    /// Two regular sessions of minute points, 14:30 to 20:59 UTC.
    fn two_sessions() -> Vec<i64> {
        [24, 25]
            .into_iter()
            .flat_map(|d| (0..390).map(move |k| at(d, 14, 30) + 60 * k))
            .collect()
    }

    #[test]
    fn a_night_takes_one_step_and_sessions_keep_their_length() {
        let line = Timeline::new(two_sessions().into_iter());
        assert!(line.has_breaks());
        // 389 minutes of the first session, one minute for the night, 389 of the second.
        assert_eq!(line.span(), (389 + 1 + 389) as f64 * 60.0);
        assert_eq!(line.pos(at(25, 14, 30)) - line.pos(at(24, 20, 59)), 60.0);
        assert_eq!(line.pos(at(24, 15, 30)) - line.pos(at(24, 14, 30)), 3600.0);
        // The night's middle lies within its one step, in order.
        let night = line.pos(at(25, 5, 0));
        assert!(night > line.pos(at(24, 20, 59)) && night < line.pos(at(25, 14, 30)));
        // Calendar share of the night: 17.5 h of 30.5 h (57%); shrunk: 1 min of 779.
        assert!(line.pos(at(25, 14, 30)) / line.span() < 0.51);
    }

    #[test]
    fn session_starts_carry_dates_and_hours_fill_between() {
        let line = Timeline::new(two_sessions().into_iter());
        let ticks = line.ticks(8);
        let labels: Vec<&str> = ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(
            ticks[0],
            (at(24, 14, 30), "Nov 24".to_string()),
            "{labels:?}"
        );
        assert!(
            ticks.contains(&(at(25, 14, 30), "Nov 25".to_string())),
            "{labels:?}"
        );
        assert!(labels.iter().any(|l| l.ends_with(":00")), "{labels:?}");
        // No tick in closed time, none closer than an eighth of the axis.
        for w in ticks.windows(2) {
            assert!(line.pos(w[1].0) - line.pos(w[0].0) >= line.span() / 8.0 * 0.999);
        }
        for (t, _) in &ticks {
            assert!(
                (at(24, 14, 30)..=at(24, 20, 59)).contains(t)
                    || (at(25, 14, 30)..=at(25, 20, 59)).contains(t),
                "{t}"
            );
        }
    }

    #[test]
    fn daily_points_keep_the_calendar() {
        // Weekdays at 05:00 UTC for four weeks: weekends are three steps, not closed time.
        let days: Vec<i64> = (0..28)
            .map(|d| at(2, 5, 0) + d * 86_400)
            .filter(|t| {
                let wd =
                    chrono::Datelike::weekday(&DateTime::<Utc>::from_timestamp(*t, 0).unwrap());
                wd.number_from_monday() <= 5
            })
            .collect();
        let line = Timeline::new(days.iter().copied());
        assert!(!line.has_breaks());
        assert_eq!(line.span(), (days[days.len() - 1] - days[0]) as f64);
        assert_eq!(line.ticks(6), time_ticks(days[0], days[days.len() - 1], 6));
    }
}

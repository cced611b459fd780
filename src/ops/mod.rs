//! Running for months: what the bot tells the outside world about itself after each tick —
//! a Prometheus text file, alerts (webhook, email, Telegram), missed-tick accounting — and the counters behind
//! them, kept in the state file.

pub mod alerts;
pub mod channels;
pub mod email;
pub mod prom;
pub mod smtp;
pub mod telegram;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::America::New_York;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Counters and last readings, kept in `state.json` so that they survive between ticks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpsState {
    /// Ticks by result: `ok`, `closed`, `failed`.
    #[serde(default)]
    pub ticks: BTreeMap<String, u64>,
    #[serde(default)]
    pub orders_submitted: u64,
    #[serde(default)]
    pub orders_refused: u64,
    #[serde(default)]
    pub fills: u64,
    /// Failed ticks by error kind (network, auth, api, …).
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    #[serde(default)]
    pub missed_ticks: u64,
    /// The last account reading, for the metrics file on ticks that do not read it.
    #[serde(default)]
    pub equity: Option<f64>,
    #[serde(default)]
    pub cash: Option<f64>,
    #[serde(default)]
    pub positions: BTreeMap<String, f64>,
    #[serde(default)]
    pub market_open: Option<bool>,
    /// Open positions whose configured protection (stop, target) is not resting at the
    /// broker after the last open-market tick, with the reason: symbol → why.
    #[serde(default)]
    pub unprotected: BTreeMap<String, String>,
    #[serde(default)]
    pub alerts: alerts::AlertState,
}

/// Ticks missed since the previous one, assuming one tick a minute: counted only while the
/// market is open and from the later of the previous tick and today's 09:30 New York open, so
/// nights, weekends and holidays are not "missed". Zero when the gap is within `threshold`.
pub fn missed_ticks(
    previous: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    market_open: bool,
    threshold_minutes: u32,
) -> u64 {
    let Some(previous) = previous else { return 0 };
    if !market_open || previous >= now {
        return 0;
    }
    let today = now.with_timezone(&New_York).date_naive();
    let Some(open) = New_York
        .from_local_datetime(&today.and_time(NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default()))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
    else {
        return 0;
    };
    let (since, expected_tick_at_since) = if previous >= open {
        (previous, true)
    } else {
        (open, false)
    };
    let gap = (now - since).num_minutes();
    if gap <= i64::from(threshold_minutes) || now - since < Duration::minutes(1) {
        return 0;
    }
    // From a previous tick, the tick at `since` happened; from the open, it was due too.
    (gap - i64::from(expected_tick_at_since)).max(0) as u64
}

/// A short name for an error, for the `errors_total{kind=…}` series.
pub fn error_kind(e: &crate::error::Error) -> &'static str {
    use crate::error::Error;
    match e {
        Error::Usage(_) => "usage",
        Error::Config { .. } | Error::MissingKeys { .. } => "config",
        Error::LockHeld { .. } => "lock",
        Error::Io { .. } => "disk",
        Error::Corrupt { .. } => "corrupt_file",
        Error::Network { .. } => "network",
        Error::Auth { .. } => "auth",
        Error::Api { .. } => "broker",
        Error::BadResponse { .. } => "bad_response",
        Error::Deadline { .. } => "deadline",
        Error::Refused(_) => "refused",
        Error::StdoutClosed => "stdout_closed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ny(h: u32, m: u32) -> DateTime<Utc> {
        // 2026-11-24 is EST: New York = UTC-5.
        Utc.with_ymd_and_hms(2026, 11, 24, h + 5, m, 0).unwrap()
    }

    #[test]
    fn missed_ticks_count_market_minutes_only() {
        // Every minute: nothing missed. A 10-minute gap: 9 ticks missed (10:01..10:09).
        assert_eq!(missed_ticks(Some(ny(10, 0)), ny(10, 1), true, 3), 0);
        assert_eq!(missed_ticks(Some(ny(10, 0)), ny(10, 10), true, 3), 9);
        // Within the threshold: not counted.
        assert_eq!(missed_ticks(Some(ny(10, 0)), ny(10, 3), true, 3), 0);
        // Last tick yesterday evening, first today at 09:45: 09:30..09:44 = 15 missed.
        let yesterday = ny(16, 30) - Duration::days(1);
        assert_eq!(missed_ticks(Some(yesterday), ny(9, 45), true, 3), 15);
        assert_eq!(missed_ticks(Some(yesterday), ny(9, 31), true, 3), 0);
        // Market closed, or the first tick ever: nothing.
        assert_eq!(missed_ticks(Some(ny(10, 0)), ny(17, 0), false, 3), 0);
        assert_eq!(missed_ticks(None, ny(10, 0), true, 3), 0);
    }
}

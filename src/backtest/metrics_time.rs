//! The metrics' durations as pandas computes them: a period's resolution, `Timedelta.ceil`,
//! the drawdown periods, and whole days on a daily timeline.

use super::math::{nan_max, np_sum};
use super::summary::drawdowns;
use super::NS_PER_DAY;
use chrono::{DateTime, Duration, Utc};

/// The library's `compute_drawdown_duration_peaks`, reduced: (mean peak drawdown as a
/// fraction, max duration, mean duration), durations ceiled to `unit`.
///
/// Periods run between consecutive bars of Z = {t : dd_t = 0} ∪ {n−1} that are more than one
/// bar apart. With no such period the library returns the drawdown series itself (zeros as
/// NaN) in place of both series: its mean is still the Avg. Drawdown, but its "durations" are
/// drawdown fractions, not times; this returns `None` for them instead.
///
/// One pass over the equity: the drawdown series (8 MB for a million bars) is never stored,
/// each period's largest drawdown is folded as its bars go by.
pub(super) fn drawdown_periods(
    equity: &[f64],
    times: &[DateTime<Utc>],
    unit: i64,
) -> (f64, Option<Duration>, Option<Duration>) {
    let n = equity.len();
    // Peaks are placed at the bar that ends their period, and averaged over the whole
    // (NaN-filled-with-0) series, as pandas' mean does, so the pairwise sum matches.
    let mut peaks = vec![0.0; n];
    let mut count = 0usize;
    let mut durations: Vec<i128> = Vec::new();
    let mut prev: Option<usize> = None;
    // `dd[prev..=q]` folded with `nan_max` from NaN, as the library's `dd.iloc[p:q+1].max()`.
    let mut since_prev = f64::NAN;
    for (q, x) in drawdowns(equity).enumerate() {
        since_prev = nan_max(since_prev, x);
        if !(x == 0.0 || q == n - 1) {
            continue;
        }
        if let Some(p) = prev {
            if q > p + 1 {
                peaks[q] = since_prev;
                count += 1;
                let d = times[q].timestamp_nanos_opt().unwrap_or(i64::MAX) as i128
                    - times[p].timestamp_nanos_opt().unwrap_or(i64::MAX) as i128;
                durations.push(whole_days(d, unit));
            }
        }
        prev = Some(q);
        since_prev = nan_max(f64::NAN, x);
    }
    if count == 0 {
        let mut k = 0usize;
        for (slot, x) in peaks.iter_mut().zip(drawdowns(equity)) {
            if x != 0.0 && !x.is_nan() {
                *slot = x;
                k += 1;
            }
        }
        let avg = if k == 0 {
            f64::NAN
        } else {
            np_sum(&peaks) / k as f64
        };
        return (avg, None, None);
    }
    let avg = np_sum(&peaks) / count as f64;
    let max = durations.iter().max().map(|&d| ceil_to(d, unit));
    (avg, max, mean_duration(&durations, unit))
}

/// pandas' `Timedelta.resolution_string` as a unit in ns: the smallest non-zero component.
pub(super) fn resolution_ns(period: i64) -> i64 {
    let p = period.abs();
    [
        1,
        1_000,
        1_000_000,
        1_000_000_000,
        60_000_000_000,
        3_600_000_000_000,
    ]
    .into_iter()
    .zip([
        1_000,
        1_000_000,
        1_000_000_000,
        60_000_000_000,
        3_600_000_000_000,
        NS_PER_DAY,
    ])
    .find(|&(_, next)| p % next != 0)
    .map_or(NS_PER_DAY, |(unit, _)| unit)
}

/// On a daily (or coarser) timeline, `ns` rounded to whole days: daily bars stamped at New York
/// midnight are 23 or 25 hours apart across a change of daylight saving time, and a three-day
/// trade over one must not read as three days and an hour (ceiled to four). The library's
/// daily data is tz-naive dates, whole days apart. Finer timelines keep the elapsed time.
pub(super) fn whole_days(ns: i128, unit: i64) -> i128 {
    let day = i128::from(NS_PER_DAY);
    if i128::from(unit) < day {
        return ns;
    }
    (ns + day / 2).div_euclid(day) * day
}

/// `Timedelta.ceil(unit)`.
pub(super) fn ceil_to(ns: i128, unit: i64) -> Duration {
    let unit = i128::from(unit);
    let c = (ns + unit - 1).div_euclid(unit) * unit;
    Duration::nanoseconds(c.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// The mean of durations, ceiled to `unit` (exactly, in integer ns); `None` when empty.
pub(super) fn mean_duration(ns: &[i128], unit: i64) -> Option<Duration> {
    if ns.is_empty() {
        return None;
    }
    let (sum, k) = (ns.iter().sum::<i128>(), ns.len() as i128);
    let unit_k = i128::from(unit) * k;
    // ceil(sum / k / unit) * unit, without rounding.
    let units = (sum + unit_k - 1).div_euclid(unit_k);
    Some(ceil_to(units * i128::from(unit), unit))
}

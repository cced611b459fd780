//! One module per command; each exposes `run(config, args)`.

pub mod backtest;
pub mod check;
pub mod data;
pub mod fetch;
pub mod import;
pub mod out_dir;
pub mod rearm;
pub mod reconcile;
pub mod replay;
pub mod report;
pub mod status;
pub mod tick;
pub mod train;

use crate::error::{Error, Result};
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// From (inclusive) and until (exclusive); `None` is open-ended.
pub(crate) type DayRange = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A range of whole days from two `YYYY-MM-DD` options, each named as given (`--from`): the
/// first day's midnight UTC up to, not including, the midnight after the last day. An
/// unreadable date or a last day before the first is a usage error naming the option.
pub(crate) fn day_range(
    (first, first_name): (&Option<String>, &str),
    (last, last_name): (&Option<String>, &str),
) -> Result<DayRange> {
    let day = |s: &Option<String>, option: &str| -> Result<Option<DateTime<Utc>>> {
        s.as_deref()
            .map(|d| {
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
                    .map_err(|_| Error::Usage(format!("{option} `{d}`: expected YYYY-MM-DD")))
            })
            .transpose()
    };
    let from = day(first, first_name)?;
    let until = day(last, last_name)?.map(|t| t + Duration::days(1));
    if let (Some(f), Some(u)) = (from, until) {
        if u <= f {
            return Err(Error::Usage(format!("{last_name} is before {first_name}")));
        }
    }
    Ok((from, until))
}

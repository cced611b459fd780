//! The time limits of a tick, checked against each other: `[alpaca] tick_deadline_secs`,
//! `timeout_secs`, `max_retries`, `retry_base_ms` and `[risk] close_margin_secs`.
//!
//! A tick runs once a minute from cron; all of its requests, retries and waits end by its
//! deadline. A value the deadline cannot hold is refused here, naming the key, instead of
//! being clamped in silence (`max_retries = 100000` used to be accepted and cut to 10).

use super::{line_at, AlpacaConfig, RawAlpaca};
use crate::error::{Error, Result};
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// Shortest and longest tick deadline: a tick needs a few seconds for its requests, and must
/// end before cron starts the next one a minute later.
const DEADLINE_SECS: std::ops::RangeInclusive<f64> = 5.0..=55.0;
/// Most GET retries: the backoff doubles, so more could not fit any deadline.
const MAX_RETRIES: u32 = 10;
const MAX_RETRY_BASE_MS: u64 = 10_000;
/// Longest no-order margin before the close: an hour.
const MAX_CLOSE_MARGIN_SECS: u64 = 3600;
/// Most missing bars a bar strategy may tolerate before an opening order.
const MAX_MISSING_BARS: u32 = 100;

/// `[alpaca]`'s validated time limits.
pub(super) struct Limits {
    pub timeout: Duration,
    pub max_retries: u32,
    pub retry_base: Duration,
    pub tick_deadline: Duration,
}

/// A key written in the file has a real span; a default has `0..0`.
fn written<T>(v: &Spanned<T>) -> bool {
    v.span().end > 0
}

fn refuse<T>(v: &Spanned<T>, key: &str, text: &str, path: &Path, msg: String) -> Error {
    Error::config(path, line_at(text, &v.span()), Some(key), msg)
}

/// Check `[alpaca]`'s deadline, timeout and retry settings, alone and against each other.
/// When two keys conflict, the one written in the file is named (the other is a default).
pub(super) fn check(a: &RawAlpaca, text: &str, path: &Path) -> Result<Limits> {
    let deadline = *a.tick_deadline_secs.get_ref();
    if !(deadline.is_finite() && DEADLINE_SECS.contains(&deadline)) {
        let msg = format!(
            "must be between 5 and 55 seconds (a tick ends inside its minute), got {deadline}"
        );
        return Err(refuse(
            &a.tick_deadline_secs,
            "tick_deadline_secs",
            text,
            path,
            msg,
        ));
    }
    let timeout = *a.timeout_secs.get_ref();
    if !(timeout.is_finite() && (0.1..=60.0).contains(&timeout)) {
        let msg = format!("must be between 0.1 and 60 seconds, got {timeout}");
        return Err(refuse(&a.timeout_secs, "timeout_secs", text, path, msg));
    }
    if timeout > deadline / 2.0 {
        let msg = format!(
            "timeout_secs = {timeout} is more than half of tick_deadline_secs = {deadline}: one \
             slow request would leave no time for a retry or the order; lower timeout_secs or \
             raise tick_deadline_secs"
        );
        return Err(
            if written(&a.timeout_secs) || !written(&a.tick_deadline_secs) {
                refuse(&a.timeout_secs, "timeout_secs", text, path, msg)
            } else {
                refuse(&a.tick_deadline_secs, "tick_deadline_secs", text, path, msg)
            },
        );
    }
    let retries = *a.max_retries.get_ref();
    if retries > MAX_RETRIES {
        let msg = format!(
            "must be at most {MAX_RETRIES}, got {retries}: the backoff doubles on each retry, \
             and every retry must end by tick_deadline_secs"
        );
        return Err(refuse(&a.max_retries, "max_retries", text, path, msg));
    }
    let base_ms = *a.retry_base_ms.get_ref();
    if base_ms > MAX_RETRY_BASE_MS {
        let msg = format!("must be at most {MAX_RETRY_BASE_MS} ms, got {base_ms}");
        return Err(refuse(&a.retry_base_ms, "retry_base_ms", text, path, msg));
    }
    // The client's first wait is retry_base itself (then 2x, 4x...).
    if base_ms as f64 > deadline * 1000.0 {
        let msg = format!(
            "the first backoff, retry_base_ms = {base_ms}, is longer than tick_deadline_secs = \
             {deadline}: no retry could ever run"
        );
        return Err(
            if written(&a.retry_base_ms) || !written(&a.tick_deadline_secs) {
                refuse(&a.retry_base_ms, "retry_base_ms", text, path, msg)
            } else {
                refuse(&a.tick_deadline_secs, "tick_deadline_secs", text, path, msg)
            },
        );
    }
    Ok(Limits {
        timeout: Duration::from_secs_f64(timeout),
        max_retries: retries,
        retry_base: Duration::from_millis(base_ms),
        tick_deadline: Duration::from_secs_f64(deadline),
    })
}

/// `[risk] close_margin_secs`: at least one request timeout (a POST sent just before the margin
/// may take that long to land, and must still land before the close), at most an hour.
pub(super) fn close_margin(
    v: &Spanned<u64>,
    alpaca: &AlpacaConfig,
    text: &str,
    path: &Path,
) -> Result<Duration> {
    let secs = *v.get_ref();
    let timeout = alpaca.timeout.as_secs_f64();
    if (secs as f64) < timeout {
        let msg = format!(
            "close_margin_secs = {secs} is below timeout_secs = {timeout}: an order sent just \
             before the margin could reach Alpaca after the close and wait for the next open"
        );
        return Err(refuse(v, "close_margin_secs", text, path, msg));
    }
    if secs > MAX_CLOSE_MARGIN_SECS {
        let msg = format!("must be at most {MAX_CLOSE_MARGIN_SECS} seconds (an hour), got {secs}");
        return Err(refuse(v, "close_margin_secs", text, path, msg));
    }
    Ok(Duration::from_secs(secs))
}

/// `[risk] max_missing_bars`: at most 100.
pub(super) fn max_missing_bars(v: &Spanned<u32>, text: &str, path: &Path) -> Result<u32> {
    let n = *v.get_ref();
    if n > MAX_MISSING_BARS {
        let msg = format!("must be at most {MAX_MISSING_BARS}, got {n}");
        return Err(refuse(v, "max_missing_bars", text, path, msg));
    }
    Ok(n)
}

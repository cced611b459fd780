//! A closed market's tick that needs no request: see [`closed_early`].

use super::{outcome, TickOutcome, Ticked, MAX_CLOCK_SKEW_SECS};
use crate::client_order_id;
use crate::config::Config;
use crate::store::{State, TickLock};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::America::New_York;
use std::time::Instant;

/// From this long before the open the broker gave, every tick asks the broker again: a local
/// clock up to this much slow still wakes in time for the first minute of the session.
const WAKE_BEFORE_OPEN: Duration = Duration::minutes(5);

/// The closed-market early exit of a scheduled tick (cron and Task Scheduler run `tick` every
/// minute of every day, because their weekday filters follow the machine's time zone, not New
/// York's): when the previous tick heard from the broker's clock that the market is closed
/// until `next_open`, and recorded that closed session, a tick before that open has nothing to
/// ask. It counts itself as a closed-market tick, saves the state and the metrics file, and
/// sends no request to the broker.
///
/// The broker's clock still decides: the early exit only repeats its last answer, and only
/// while nothing could have changed it. [`sleeping_until`] says when that is. Run with the
/// lock held, before any request; `None` means "run the real tick".
pub(super) fn closed_early(config: &Config, lock: &TickLock, started: Instant) -> Option<Ticked> {
    let data_dir = &config.bot.data_dir;
    // Another config's data folder, or anything unreadable: the real tick says what is wrong.
    crate::store::owner::claim(data_dir, &config.path, lock).ok()?;
    let mut state = State::load(data_dir).ok()?;
    let now = Utc::now();
    let next_open = sleeping_until(&state, now)?;
    let outcome = TickOutcome::MarketClosed {
        next_open: Some(next_open),
    };
    outcome::record(config, &mut state, now, Ok(&outcome), Vec::new(), started);
    if let Err(e) = state.save(data_dir) {
        // The real tick reports a state it cannot save; it may as well ask the broker too.
        log::warn!("{e}");
        return None;
    }
    outcome::publish(config, &state, now, started.elapsed());
    log::info!(
        "market closed until {} (the broker's clock at the last tick); no request",
        next_open
            .with_timezone(&New_York)
            .format("%Y-%m-%d %H:%M %Z")
    );
    Some(Ticked {
        time: now,
        outcome,
        unknown_outcomes: 0,
    })
}

/// The open a tick at local time `now` may sleep until, or `None` when it must ask the broker:
/// - the last tick succeeded with the market closed and recorded the session up to its
///   `next_open` (`closed_until_recorded`): a failed tick, or a broker that gave no open,
///   gets a real tick;
/// - no order intent or tracked order is waiting (a queued order can fill or expire while
///   closed, and an intent must be looked up), a resting protective order aside;
/// - `now` is more than [`WAKE_BEFORE_OPEN`] before that open, and not before the last tick
///   (a clock that went back, as a Pi without a real-time clock does at boot, is not trusted:
///   the broker's clock is asked and its skew warning fires).
fn sleeping_until(state: &State, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let last = state.last_tick.as_ref()?;
    let next_open = state.closed_until_recorded?;
    // `closed_until_recorded` is cleared by the first tick of a session, so with it set the
    // last tick that did not fail was a closed-market one. "failed" is how `record` marks a
    // failure, as `publish` and the alerts read it.
    let closed_ok = !last.result.starts_with("failed");
    // A resting stop or target (or an OCO's leg, the only orders tracked that are not the
    // bot's by id) cannot fill while the market is closed: it does not need a tick.
    let resting_only = state.tracked.iter().all(|t| {
        client_order_id::is_protective(&t.client_order_id)
            || !client_order_id::is_ours(&t.client_order_id)
    });
    let idle = state.intents.is_empty() && resting_only;
    let before_open = now + WAKE_BEFORE_OPEN < next_open;
    let clock_sane = now + Duration::seconds(MAX_CLOCK_SKEW_SECS) >= last.time;
    (closed_ok && idle && before_open && clock_sane).then_some(next_open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Qty;
    use crate::store::state::TickRecord;
    use chrono::TimeZone;

    /// Friday 2026-11-27 16:05 New York, after a closed-market tick recorded the session
    /// until Monday's 09:30 open.
    fn friday_evening() -> (State, DateTime<Utc>) {
        let last = Utc.with_ymd_and_hms(2026, 11, 27, 21, 5, 0).unwrap();
        let monday_open = Utc.with_ymd_and_hms(2026, 11, 30, 14, 30, 0).unwrap();
        let mut state = State::fresh();
        state.last_tick = Some(TickRecord {
            time: last,
            result: "market closed".into(),
        });
        state.closed_until_recorded = Some(monday_open);
        (state, monday_open)
    }

    #[test]
    fn a_closed_market_sleeps_until_five_minutes_before_the_open_the_broker_gave() {
        let (state, open) = friday_evening();
        let saturday = Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
        assert_eq!(sleeping_until(&state, saturday), Some(open));
        // 09:24:59 New York sleeps; from 09:25:00 every tick asks the broker.
        assert_eq!(
            sleeping_until(&state, open - Duration::seconds(301)),
            Some(open)
        );
        assert_eq!(sleeping_until(&state, open - Duration::minutes(5)), None);
        assert_eq!(sleeping_until(&state, open + Duration::hours(1)), None);
    }

    #[test]
    fn anything_that_could_change_the_answer_asks_the_broker() {
        let (state, _) = friday_evening();
        let saturday = Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
        let mut failed = state.clone();
        failed.last_tick.as_mut().unwrap().result = "failed: network error".into();
        assert_eq!(sleeping_until(&failed, saturday), None);
        let mut unknown_open = state.clone();
        unknown_open.closed_until_recorded = None;
        assert_eq!(sleeping_until(&unknown_open, saturday), None);
        let mut tracked = state.clone();
        tracked.tracked.push(crate::store::state::TrackedOrder {
            order_id: "o1".into(),
            client_order_id: "pb-1".into(),
            symbol: "AAPL".into(),
            side: "buy".into(),
            qty: Qty::ZERO,
            submitted_at: saturday,
        });
        assert_eq!(sleeping_until(&tracked, saturday), None);
        // A gtc stop resting over the weekend (and its OCO leg) does not keep the bot awake.
        let mut stop = state.clone();
        for cid in ["pb-AAPL-1Min-20261127T1529-thr-buy-p1", "7c1e-alpaca-leg"] {
            stop.tracked.push(crate::store::state::TrackedOrder {
                order_id: "o2".into(),
                client_order_id: cid.into(),
                symbol: "AAPL".into(),
                side: "sell".into(),
                qty: Qty::shares(1),
                submitted_at: saturday,
            });
        }
        assert_eq!(
            sleeping_until(&stop, saturday),
            Some(state.closed_until_recorded.unwrap())
        );
        // A local clock that went back (a Pi booting with a stale time) is not trusted.
        let stale = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
        assert_eq!(sleeping_until(&state, stale), None);
        assert_eq!(sleeping_until(&State::fresh(), saturday), None);
    }
}

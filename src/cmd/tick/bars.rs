//! The tick's bars: the cache, topped up with one small request, and a bounded backfill for
//! symbols whose cache is short.

use crate::broker::{BarsQuery, Broker};
use crate::config::Config;
use crate::domain::{Bar, Timeframe};
use crate::error::Result;
use crate::store::bar_cache::{self, Adjustment, BarCache, BarFeed, Known};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// Bars younger than this past their close may still be revised by Alpaca, so they are used
/// for the decision but not written to the cache (the next tick fetches them again).
const SETTLE: Duration = Duration::seconds(60);
/// Page bound for each of the tick's bars requests.
const MAX_BAR_PAGES: usize = 50;
/// Symbols per backfill request. A short cache is filled over the whole lookback window
/// (for minute bars, days of them), so a request of a few symbols takes a few pages of
/// 10,000 bars, far inside [`MAX_BAR_PAGES`].
const BACKFILL_SYMBOLS: usize = 10;
/// Backfill requests per tick. Symbols past `BACKFILL_SYMBOLS × BACKFILL_REQUESTS` wait for
/// the next ticks (they hold, "warming up"), so a cold universe costs each tick a bounded
/// number of requests instead of one request that cannot end within its page bound.
const BACKFILL_REQUESTS: usize = 3;

/// One symbol's cache as read at the start of the tick.
#[derive(Default)]
struct Cached {
    /// The last bars its strategy reads (not `history` of them: see [`refresh`]).
    bars: Vec<Bar>,
    /// Whether the file holds `history` bars: only then is it topped up from its last bar.
    full: bool,
    file: Known,
}

/// One bars request: symbols of one price adjustment (a request carries one `adjustment`,
/// and each file keeps the one it was started with) that need bars from `start` on.
struct Request<'a> {
    adjustment: Adjustment,
    symbols: Vec<&'a str>,
    start: DateTime<Utc>,
}

/// The latest closed bars per symbol: the cache, topped up with what came after it.
///
/// A full cache (one holding `history` bars) gives only the bars its strategy reads
/// ([`Strategy::bars_needed`](crate::strategy::Strategy::bars_needed), at least one for the
/// last bar's time) plus the new ones: a decision reads nothing before them, so it is the same
/// as on `history` bars, and a 500-symbol tick parses 31 rows a symbol for an SMA(30) cross,
/// not 200. Whether the cache is full is counted from the file's end without parsing.
///
/// Symbols are grouped by how far back they need bars. Those whose cache holds `history`
/// bars need only the few since their last one: one request per adjustment, however many
/// symbols. Those with a short or missing cache need the whole lookback window: they go in
/// separate backfill requests of [`BACKFILL_SYMBOLS`], at most [`BACKFILL_REQUESTS`] per tick,
/// so a new symbol never drags every other symbol's request back over the window (which,
/// beyond about a hundred symbols, ran past the page bound and failed every tick). A symbol
/// left for a later tick gets no bars, and its strategy holds while warming up.
pub(super) fn refresh(
    config: &Config,
    client: &dyn Broker,
    cache: &BarCache,
    now: DateTime<Utc>,
    names: &[&str],
) -> Result<HashMap<String, Vec<Bar>>> {
    let tf = config.bot.timeframe;
    let history = config.bot.history;
    // Bars each symbol's strategy reads (at least the last one, for its time): only these
    // are parsed; the other rows up to `history` are only counted.
    let needed: HashMap<&str, usize> = config
        .symbols
        .iter()
        .map(|s| (s.name.as_str(), s.strategy.bars_needed()))
        .collect();
    let mut cached: HashMap<String, Cached> = HashMap::new();
    let mut warm: Vec<Request> = Vec::new();
    let mut cold: Vec<(Adjustment, &str)> = Vec::new();
    let tails = cache.tails();
    for &name in names {
        let keep = needed.get(name).map_or(history, |&n| n.clamp(1, history));
        let tail = tails.read(name, tf, keep, history)?;
        let adjustment = tail.file.meta.adjustment;
        let full = tail.rows >= history;
        match tail.bars.last() {
            Some(last) if full => {
                let from = last.time + tf.duration();
                match warm.iter_mut().find(|g| g.adjustment == adjustment) {
                    Some(group) => {
                        group.symbols.push(name);
                        group.start = group.start.min(from);
                    }
                    None => warm.push(Request {
                        adjustment,
                        symbols: vec![name],
                        start: from,
                    }),
                }
            }
            _ => cold.push((adjustment, name)),
        }
        let entry = Cached {
            bars: tail.bars,
            full,
            file: tail.file,
        };
        cached.insert(name.to_string(), entry);
    }
    let (backfill, waiting) = backfills(&cold, now - lookback(tf, history));
    if waiting > 0 {
        log::info!(
            "{waiting} symbol(s) with a short bar cache wait for their backfill ({} a tick); they hold meanwhile",
            BACKFILL_SYMBOLS * BACKFILL_REQUESTS
        );
    }
    let mut out = HashMap::new();
    for request in warm.into_iter().chain(backfill) {
        let Request {
            adjustment,
            symbols,
            start,
        } = request;
        let query = BarsQuery {
            symbols: &symbols,
            timeframe: tf,
            start,
            end: Some(now),
            adjustment,
            feed: config.alpaca.feed,
            max_pages: MAX_BAR_PAGES,
        };
        let mut fetched = client.bars(&query)?;
        // The cache refuses bars of the other live feed (their volumes differ ~30×).
        let feed = BarFeed::from(config.alpaca.feed);
        for &name in &symbols {
            let old = cached.remove(name).unwrap_or_default();
            let new = fetched.remove(name).unwrap_or_default();
            let bars = top_up(cache, name, tf, history, now, adjustment, feed, old, new)?;
            out.insert(name.to_string(), bars);
        }
    }
    // Symbols waiting for a backfill get no bars: they hold, warming up, and never decide on
    // a short cache that may be days old.
    for name in cached.into_keys() {
        out.insert(name, Vec::new());
    }
    Ok(out)
}

/// The backfill requests of this tick for the symbols with a short cache (in config order,
/// grouped by adjustment, [`BACKFILL_SYMBOLS`] a request, at most [`BACKFILL_REQUESTS`]), and
/// how many symbols are left for later ticks.
fn backfills<'a>(
    cold: &[(Adjustment, &'a str)],
    start: DateTime<Utc>,
) -> (Vec<Request<'a>>, usize) {
    let mut requests: Vec<Request<'a>> = Vec::new();
    let mut waiting = 0;
    for &(adjustment, name) in cold {
        let open = requests
            .iter()
            .position(|r| r.adjustment == adjustment && r.symbols.len() < BACKFILL_SYMBOLS);
        match open {
            Some(i) => requests[i].symbols.push(name),
            None if requests.len() < BACKFILL_REQUESTS => requests.push(Request {
                adjustment,
                symbols: vec![name],
                start,
            }),
            None => waiting += 1,
        }
    }
    (requests, waiting)
}

/// One symbol's cached bars plus the fetched ones: settled bars go into the cache, the last
/// closed bars are returned (at most `history`).
#[allow(clippy::too_many_arguments)]
fn top_up(
    cache: &BarCache,
    name: &str,
    tf: Timeframe,
    history: usize,
    now: DateTime<Utc>,
    adjustment: Adjustment,
    feed: BarFeed,
    old: Cached,
    fetched: Vec<Bar>,
) -> Result<Vec<Bar>> {
    let closed: Vec<Bar> = fetched
        .into_iter()
        .filter(|b| b.time + tf.duration() <= now)
        .collect();
    let settled_before = now - tf.duration() - SETTLE;
    let settled: Vec<Bar> = closed
        .iter()
        .filter(|b| b.time <= settled_before)
        .copied()
        .collect();
    let bars = if old.full {
        let last = old.bars.last().map(|b| b.time);
        let new_settled: Vec<Bar> = settled
            .into_iter()
            .filter(|b| Some(b.time) > last)
            .collect();
        cache.append_known(name, tf, &old.file, adjustment, feed, &new_settled)?;
        bar_cache::merge(
            old.bars,
            closed.into_iter().filter(|b| Some(b.time) > last).collect(),
        )
    } else {
        cache.check_feed(name, tf, feed)?;
        let merged = bar_cache::merge(cache.load(name, tf)?, settled);
        cache.replace(name, tf, &merged, &cache.meta(name, tf)?)?;
        bar_cache::merge(merged, closed)
    };
    let skip = bars.len().saturating_sub(history);
    Ok(bars[skip..].to_vec())
}

/// How far back to fetch when the cache holds fewer than `history` bars. Generous, because
/// IEX minute bars have gaps and nights and weekends have none.
fn lookback(tf: Timeframe, history: usize) -> Duration {
    let bars = i32::try_from(history).unwrap_or(i32::MAX);
    match tf {
        Timeframe::Day1 => Duration::days(i64::from(bars) * 3 / 2 + 7),
        _ => tf.duration() * bars.saturating_mul(3) + Duration::days(4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{floor_to, missing_bars};
    use chrono::TimeZone;

    #[test]
    fn lookback_covers_a_weekend_and_recent_bars_are_recognised() {
        assert!(lookback(Timeframe::Min1, 200) >= Duration::days(4));
        assert!(lookback(Timeframe::Day1, 200) >= Duration::days(300));
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 15, 31, 42).unwrap();
        assert_eq!(
            floor_to(now, Timeframe::Min5),
            Utc.with_ymd_and_hms(2026, 11, 25, 15, 30, 0).unwrap()
        );
        let at = |m| Some(Utc.with_ymd_and_hms(2026, 11, 25, 15, m, 0).unwrap());
        assert_eq!(missing_bars(at(30), now, Timeframe::Min1), Some(0));
        assert_eq!(
            missing_bars(at(27), now, Timeframe::Min1),
            Some(3),
            "15:28, 15:29 and 15:30 missing"
        );
        assert_eq!(missing_bars(at(25), now, Timeframe::Min5), Some(0));
        assert_eq!(missing_bars(at(20), now, Timeframe::Min5), Some(1));
        assert_eq!(missing_bars(None, now, Timeframe::Day1), None);
        // Wednesday 2026-11-25: Tuesday's daily bar is the latest closed one.
        let day = |d| Some(Utc.with_ymd_and_hms(2026, 11, d, 5, 0, 0).unwrap());
        assert_eq!(missing_bars(day(24), now, Timeframe::Day1), Some(0));
        // From Friday the 20th: Monday 23rd and Tuesday 24th missing, the weekend is not.
        assert_eq!(missing_bars(day(20), now, Timeframe::Day1), Some(2));
    }
}

//! `prometheus-bot fetch`: download bars into the cache, incrementally.
//!
//! One multi-symbol request (pages followed to the end, bounded) from the earliest point any
//! symbol needs: the requested start for a new file, else a few bars before the last cached
//! one, since Alpaca may still revise the latest bars. Only closed bars are stored. Each file
//! is replaced atomically, sorted and unique, and keeps one price adjustment.

use crate::alpaca::Alpaca;
use crate::broker::BarsQuery;
use crate::cli::FetchArgs;
use crate::config::{Config, Feed, RecentSip, Subscription};
use crate::credentials::Credentials;
use crate::domain::{is_valid_symbol, Bar, Timeframe};
use crate::error::{Error, Result};
use crate::outln;
use crate::progress::{self, Progress};
use crate::store::bar_cache::{self, time_cell, Adjustment, BarCache, BarFeed, CacheMeta};
use crate::store::TickLock;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::America::New_York;

/// Plenty for 10 years of minute bars for a handful of symbols at 10,000 bars a page.
const MAX_PAGES: usize = 5_000;
/// How many of the latest cached bars are fetched again, in case Alpaca revised them.
const REFETCH_BARS: i32 = 3;
/// The free plan's SIP delay.
const SIP_DELAY: Duration = Duration::minutes(15);

pub fn run(config: &Config, args: &FetchArgs) -> Result<()> {
    let timeframe: Timeframe = args.timeframe.parse().map_err(Error::Usage)?;
    let mut feed = match &args.feed {
        Some(f) => f.parse::<Feed>().map_err(Error::Usage)?,
        None => config.alpaca.feed,
    };
    let wanted_adjustment = args
        .adjustment
        .as_deref()
        .map(parse_adjustment)
        .transpose()?;
    let start = day_start(&args.start, "--start")?;
    let end = args
        .end
        .as_deref()
        .map(|d| day_start(d, "--end").map(|t| t + Duration::days(1) - Duration::seconds(1)))
        .transpose()?;
    let symbols = symbols(config, &args.symbols)?;

    let credentials = Credentials::find(&config.env_file())?;
    // The tick writes its own timeframe's files; do not race it on those.
    let _lock = if timeframe == config.bot.timeframe {
        Some(TickLock::acquire(&config.bot.data_dir)?)
    } else {
        None
    };
    let client = Alpaca::new(&config.alpaca, credentials);
    let now = client.clock()?.timestamp.with_timezone(&Utc);
    let mut end = end.unwrap_or(now).min(now);
    if end < start {
        return Err(Error::Usage(format!(
            "--end {} is before --start {}",
            time_cell(end),
            time_cell(start)
        )));
    }
    if feed == Feed::Sip
        && config.alpaca.subscription == Subscription::Free
        && end > now - SIP_DELAY
    {
        match config.alpaca.recent_sip {
            RecentSip::Clamp => {
                end = now - SIP_DELAY;
                log::warn!(
                    "free plan: SIP data stops 15 minutes ago, so the request ends at {} UTC",
                    time_cell(end)
                );
            }
            RecentSip::Iex => {
                feed = Feed::Iex;
                log::warn!("free plan: the request reaches the last 15 minutes, so it uses the IEX feed (recent_sip = \"iex\")");
            }
        }
    }

    let cache = BarCache::new(&config.bot.data_dir);
    let mut plans = Vec::new();
    let mut from = end;
    let mut adjustment: Option<Adjustment> = wanted_adjustment;
    for symbol in &symbols {
        let existing = cache.load(symbol, timeframe)?;
        let meta = cache.meta(symbol, timeframe)?;
        let wanted = adjustment.unwrap_or(if existing.is_empty() {
            Adjustment::Raw
        } else {
            meta.adjustment
        });
        cache.check_adjustment(symbol, timeframe, wanted)?;
        let recorded_feed = cache.check_feed(symbol, timeframe, BarFeed::from(feed))?;
        if adjustment.is_some_and(|a| a != wanted) {
            return Err(Error::Usage(format!("the cached files hold different adjustments ({wanted} for {symbol}); fetch them separately")));
        }
        adjustment = Some(wanted);
        let covered = meta.covered_from.or(existing.first().map(|b| b.time));
        let symbol_from = match (covered, existing.last()) {
            (Some(covered), Some(last)) if start >= covered => {
                start.max(last.time - timeframe.duration() * REFETCH_BARS)
            }
            _ => start,
        };
        from = from.min(symbol_from);
        let covered_from = Some(covered.map_or(start, |c| c.min(start)));
        plans.push((symbol.clone(), existing, covered_from, recorded_feed));
    }
    let adjustment = adjustment.unwrap_or_default();

    let names: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let query = BarsQuery {
        symbols: &names,
        timeframe,
        start: from,
        end: Some(end),
        adjustment,
        feed,
        max_pages: MAX_PAGES,
    };
    let shown = progress::stderr();
    let received = Progress::start(
        shown.as_ref(),
        &format!("{} {timeframe} bars", names.join(",")),
        0,
    );
    let fetched = client.bars(&query, |_pages, bars| received.set(bars as u64));
    drop(received);
    let mut fetched = fetched?;

    // Every symbol's cache is written before a line is printed: a closed stdout stops the
    // report, never the fetch.
    let mut said = Vec::with_capacity(plans.len());
    for (symbol, existing, covered_from, recorded_feed) in plans {
        let meta = CacheMeta {
            adjustment,
            feed: recorded_feed,
            covered_from,
        };
        let new: Vec<Bar> = fetched
            .remove(&symbol)
            .unwrap_or_default()
            .into_iter()
            .filter(|b| b.time >= start && b.time + timeframe.duration() <= now)
            .collect();
        let before = existing.len();
        let changed = !new.is_empty() || cache.meta(&symbol, timeframe)? != meta;
        let merged = bar_cache::merge(existing, new);
        if changed {
            cache.replace(&symbol, timeframe, &merged, &meta)?;
        }
        let range = match (merged.first(), merged.last()) {
            (Some(a), Some(b)) => format!("{} .. {}", time_cell(a.time), time_cell(b.time)),
            _ => "no bars".into(),
        };
        said.push(format!(
            "{symbol} {timeframe} ({} feed, {adjustment}): {} bars, {range} (+{} new) -> {}",
            feed.as_str(),
            merged.len(),
            merged.len() - before,
            cache.path(&symbol, timeframe).display()
        ));
    }
    said.iter().try_for_each(|line| outln!("{line}"))
}

/// `--adjustment` as given on the command line.
pub fn parse_adjustment(a: &str) -> Result<Adjustment> {
    a.parse()
        .map_err(|e: String| Error::Usage(format!("--adjustment: {e}")))
}

/// Symbols from the command line (validated) or the config.
pub fn symbols(config: &Config, given: &[String]) -> Result<Vec<String>> {
    if given.is_empty() {
        return Ok(config.symbols.iter().map(|s| s.name.clone()).collect());
    }
    given
        .iter()
        .map(|s| {
            let upper = s.to_ascii_uppercase();
            if is_valid_symbol(&upper) {
                Ok(upper)
            } else {
                Err(Error::Usage(format!("`{s}` is not a ticker symbol")))
            }
        })
        .collect()
}

/// Midnight New York time of a `YYYY-MM-DD` day, in UTC.
fn day_start(day: &str, option: &str) -> Result<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_err(|_| Error::Usage(format!("{option} `{day}`: expected YYYY-MM-DD")))?;
    New_York
        .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| Error::Usage(format!("{option} `{day}` is not a valid day")))
}

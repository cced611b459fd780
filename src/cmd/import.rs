//! `prometheus-bot import FILE --symbol AAPL`: a CSV from elsewhere into the bar cache.
//!
//! All or nothing: any bad row stops the import with its line number and the cache is left
//! as it was. Merging keeps the cache sorted and unique; the file's adjustment must match
//! the cache's. Like `fetch`, it holds the tick lock while it writes a file of the tick's
//! timeframe: the tick appends to that file, and an append racing the replace is lost or
//! lands out of order.

use super::fetch::{parse_adjustment, symbols};
use crate::cli::ImportArgs;
use crate::config::Config;
use crate::domain::Timeframe;
use crate::error::{Error, Result};
use crate::history::import;
use crate::outln;
use crate::store::bar_cache::{self, time_cell, BarCache, BarFeed, CacheMeta};
use crate::store::TickLock;
use chrono_tz::Tz;

pub fn run(config: &Config, args: &ImportArgs) -> Result<()> {
    let timeframe: Timeframe = args.timeframe.parse().map_err(Error::Usage)?;
    let zone: Tz = args.tz.parse().map_err(|_| {
        Error::Usage(format!(
            "--tz `{}` is not a time zone name (like America/New_York or UTC)",
            args.tz
        ))
    })?;
    let symbol = symbols(config, std::slice::from_ref(&args.symbol))?.remove(0);
    let imported = import::read(&args.file, zone)
        .map_err(|e| Error::io(&args.file, "read", e))?
        .map_err(|e| Error::Corrupt {
            path: args.file.clone(),
            line: Some(e.line),
            message: format!("{}; nothing was imported", e.message),
        })?;
    let adjustment = parse_adjustment(
        args.adjustment
            .as_deref()
            .unwrap_or(imported.layout.default_adjustment()),
    )?;

    let _lock = if timeframe == config.bot.timeframe {
        Some(TickLock::acquire(&config.bot.data_dir)?)
    } else {
        None
    };
    let cache = BarCache::new(&config.bot.data_dir);
    cache.check_adjustment(&symbol, timeframe, adjustment)?;
    // Imported bars carry the source's volumes, feed unknown: never mixed into a fetched file.
    let feed = cache.check_feed(&symbol, timeframe, BarFeed::Import)?;
    let existing = cache.load(&symbol, timeframe)?;
    let before = existing.len();
    let (count, layout) = (imported.len(), imported.layout);
    // Into an empty cache, the import is the file as it is, its halves never joined.
    let merged = if existing.is_empty() {
        [imported.bars, imported.rest]
    } else {
        [bar_cache::merge(existing, imported.into_bars()), Vec::new()]
    };
    let meta = CacheMeta {
        adjustment,
        feed,
        ..cache.meta(&symbol, timeframe)?
    };
    cache.replace_parts(&symbol, timeframe, &[&merged[0], &merged[1]], &meta)?;
    let after = merged[0].len() + merged[1].len();
    let first = merged.iter().flatten().next();
    let last = merged.iter().rev().find_map(|part| part.last());
    let range = match (first, last) {
        (Some(a), Some(b)) => format!("{} .. {}", time_cell(a.time), time_cell(b.time)),
        _ => "no bars".into(),
    };
    outln!(
        "{symbol} {timeframe}: read {count} bars ({layout:?} layout, {adjustment}); cache now {after} bars, {range} (+{} new) -> {}",
        after - before,
        cache.path(&symbol, timeframe).display()
    )?;
    Ok(())
}

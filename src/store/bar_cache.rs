//! The local bar cache: `data/bars/<SYMBOL>-<timeframe>.csv`, one file per symbol and
//! timeframe, shared by the tick, `fetch`, `import` and the backtester.
//!
//! Rows are sorted by time with no duplicate timestamps: `time_utc,open,high,low,close,
//! volume,trades,vwap`, times as `YYYY-MM-DD HH:MM:SS` UTC (a bar's start), numbers in Rust's
//! shortest round-trip form so a value read back is bit-identical. A sidecar
//! `<file>.meta.json` records the price adjustment the file holds, so that split-adjusted and
//! raw bars are never mixed in one file.

use super::files::{repair_torn_tail, write_atomic};
use crate::domain::{Bar, Timeframe};
use crate::error::{Error, Result};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[path = "bar_cache_load.rs"]
mod load;
#[path = "bar_cache_meta.rs"]
mod meta;
#[path = "bar_cache_parse.rs"]
mod parse;
#[path = "bar_cache_tail.rs"]
mod tail;
#[path = "bar_cache_write.rs"]
mod write;

use load::load_in_two;
use meta::{feed_after, same_adjustment};
pub use meta::{Adjustment, BarFeed, CacheMeta};

pub(crate) use parse::parse_f64;
use parse::*;
pub use parse::{parse_time, read_rows};
pub use tail::{Known, Tail, Tails};
use write::{rows_text, write_row};

pub const HEADER: &str = "time_utc,open,high,low,close,volume,trades,vwap";

/// What fixes a file with duplicate or unsorted rows, for every error that finds one.
const REPAIR: &str =
    "run `prometheus-bot data repair` to sort the file and drop duplicates (the old file is kept)";

pub struct BarCache {
    dir: PathBuf,
}

impl BarCache {
    pub fn new(data_dir: &Path) -> BarCache {
        BarCache {
            dir: data_dir.join("bars"),
        }
    }

    pub fn path(&self, symbol: &str, timeframe: Timeframe) -> PathBuf {
        // `/` appears in share-class tickers (BF/B) and cannot be in a file name.
        self.dir
            .join(format!("{}-{}.csv", symbol.replace('/', "_"), timeframe))
    }

    fn meta_path(&self, symbol: &str, timeframe: Timeframe) -> PathBuf {
        let mut p = self.path(symbol, timeframe).into_os_string();
        p.push(".meta.json");
        PathBuf::from(p)
    }

    /// The file's metadata; a file without a sidecar holds raw bars.
    pub fn meta(&self, symbol: &str, timeframe: Timeframe) -> Result<CacheMeta> {
        let path = self.meta_path(symbol, timeframe);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::Corrupt {
                path,
                line: Some(e.line()),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CacheMeta::default()),
            Err(e) => Err(Error::io(path, "read", e)),
        }
    }

    /// Refuse to put bars of one adjustment into a file that holds another.
    pub fn check_adjustment(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        adjustment: Adjustment,
    ) -> Result<()> {
        let file = self.path(symbol, timeframe);
        same_adjustment(
            &file,
            file.exists(),
            &self.meta(symbol, timeframe)?,
            adjustment,
        )
    }

    /// The feed the file records after `feed` bars are written into it
    /// ([`CacheMeta::feed_after`]), or a refusal naming the file and what to do.
    pub fn check_feed(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        feed: BarFeed,
    ) -> Result<Option<BarFeed>> {
        let file = self.path(symbol, timeframe);
        let len = file.metadata().map_or(0, |m| m.len());
        feed_after(&file, len, &self.meta(symbol, timeframe)?, feed)
    }

    /// Every cached bar, oldest first; an absent file is empty.
    pub fn load(&self, symbol: &str, timeframe: Timeframe) -> Result<Vec<Bar>> {
        let path = self.path(symbol, timeframe);
        let mut text = String::new();
        match File::open(&path) {
            Ok(f) if f.metadata().is_ok_and(|m| m.len() >= PARALLEL_BYTES as u64) => {
                if let Some(bars) = load_in_two(&path, f) {
                    return Ok(bars);
                }
                // Something to report: the plain path finds it and names its line.
                File::open(&path)
                    .and_then(|mut f| f.read_to_string(&mut text))
                    .map_err(|e| Error::io(&path, "read", e))?
            }
            Ok(mut f) => f
                .read_to_string(&mut text)
                .map_err(|e| Error::io(&path, "read", e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&path, "read", e)),
        };
        parse_file(&path, &text, 1)
    }

    /// The last `n` cached bars, reading only the end of the file: a tick must not parse a
    /// year of minute bars to get 200.
    pub fn load_tail(&self, symbol: &str, timeframe: Timeframe, n: usize) -> Result<Vec<Bar>> {
        Ok(self.read_tail(symbol, timeframe, n, n)?.bars)
    }

    /// Append bars that are all later than the last cached one. `adjustment` and `feed` are
    /// the ones the bars were requested with: they must be the file's (checked here, the one
    /// place every append passes, so that no caller can mix adjustments or feeds in a file).
    ///
    /// Not synced: the cache is a copy of the broker's bars, and an fsync per symbol per tick
    /// (milliseconds each on an SD card, 500 of them for 500 symbols) is what made a tick's
    /// cost grow with its symbols. A power cut can lose only appended bars the kernel had not
    /// written yet: a torn last line is cut off by the next read ([`Self::load_tail`]), and
    /// the next tick asks again for everything after the last bar that survived.
    pub fn append(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        adjustment: Adjustment,
        feed: BarFeed,
        bars: &[Bar],
    ) -> Result<()> {
        if bars.is_empty() {
            return Ok(());
        }
        let metadata = self.path(symbol, timeframe).metadata().ok();
        let file = Known {
            meta: self.meta(symbol, timeframe)?,
            exists: metadata.is_some(),
            len: metadata.map_or(0, |m| m.len()),
            open: None,
        };
        self.append_known(symbol, timeframe, &file, adjustment, feed, bars)
    }

    /// [`Self::append`] to a file whose sidecar and existence the caller has just read
    /// ([`Self::read_tail`]), under the data folder's lock: the tick appends to every symbol's
    /// file every tick, and reading the sidecar again, asking whether the file exists and
    /// making its folder were three system calls each.
    pub fn append_known(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        file: &Known,
        adjustment: Adjustment,
        feed: BarFeed,
        bars: &[Bar],
    ) -> Result<()> {
        if bars.is_empty() {
            return Ok(());
        }
        let path = self.path(symbol, timeframe);
        same_adjustment(&path, file.exists, &file.meta, adjustment)?;
        feed_after(&path, file.len, &file.meta, feed)?;
        let mut out = Vec::with_capacity(bars.len() * 80 + HEADER.len() + 1);
        if !file.exists {
            out.extend_from_slice(HEADER.as_bytes());
            out.push(b'\n');
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| Error::io(&self.dir, "create folder", e))?;
        }
        for b in bars {
            write_row(&mut out, b);
        }
        let io = |e| Error::io(&path, "append to", e);
        // Through the file its tail was read from, when that is still open; otherwise opened
        // here, and created only when it was not there (opening an existing file to create
        // it takes the folder's lock and the slow lookup, every symbol every tick).
        if let Some(mut f) = file.open.as_ref() {
            return f.write_all(&out).map_err(io);
        }
        let mut f = OpenOptions::new()
            .create(!file.exists)
            .append(true)
            .open(&path)
            .map_err(io)?;
        f.write_all(&out).map_err(io)
    }

    /// Replace the whole file (sorted, unique) atomically, and record its adjustment.
    pub fn replace(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        bars: &[Bar],
        meta: &CacheMeta,
    ) -> Result<()> {
        self.replace_parts(symbol, timeframe, &[bars], meta)
    }

    /// [`Self::replace`] with the bars of `parts` one after the other (an import's two
    /// halves, never copied into one vector).
    pub fn replace_parts(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        parts: &[&[Bar]],
        meta: &CacheMeta,
    ) -> Result<()> {
        debug_assert!({
            let all = || parts.iter().flat_map(|p| p.iter());
            all().zip(all().skip(1)).all(|(a, b)| a.time < b.time)
        });
        let path = self.path(symbol, timeframe);
        let len: usize = parts.iter().map(|p| p.len()).sum();
        // A million rows (an import) are formatted on two threads and written as they come.
        if len >= 100_000 {
            super::files::write_atomic_with(&path, |f| write::write_rows(f, parts))?;
        } else {
            let bars: Vec<Bar> = parts.concat();
            write_atomic(&path, &rows_text(&bars, HEADER))?;
        }
        if meta != &CacheMeta::default() || self.meta_path(symbol, timeframe).exists() {
            let json = serde_json::to_string_pretty(meta).unwrap_or_default();
            write_atomic(&self.meta_path(symbol, timeframe), json.as_bytes())?;
        }
        Ok(())
    }
}

/// Merge `new` into `old` (both sorted): sorted, unique timestamps, a new bar replacing an
/// old one at the same time (Alpaca revises recent bars).
pub fn merge(old: Vec<Bar>, new: Vec<Bar>) -> Vec<Bar> {
    let mut all = old;
    // The tick's common case: a bar or two, all after the cached ones, already in order.
    let last = all.last().map(|b| b.time);
    if new.windows(2).all(|w| w[0].time < w[1].time)
        && new.first().is_none_or(|b| last.is_none_or(|l| l < b.time))
    {
        // An import into an empty cache: `new` is the result as it is (copying a million
        // bars into the empty vector was 72 MB of fresh pages, tens of milliseconds).
        if all.is_empty() {
            return new;
        }
        all.extend(new);
        return all;
    }
    all.extend(new);
    // Stable sort keeps `new` after `old` within equal times; keep the last of each run.
    all.sort_by_key(|b| b.time);
    let mut out: Vec<Bar> = Vec::with_capacity(all.len());
    for b in all {
        match out.last_mut() {
            Some(last) if last.time == b.time => *last = b,
            _ => out.push(b),
        }
    }
    out
}

pub fn time_cell(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
#[path = "bar_cache_tail_tests.rs"]
mod tail_tests;
#[cfg(test)]
#[path = "bar_cache_tests.rs"]
mod tests;

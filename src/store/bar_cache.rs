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
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const HEADER: &str = "time_utc,open,high,low,close,volume,trades,vwap";

/// What fixes a file with duplicate or unsorted rows, for every error that finds one.
const REPAIR: &str =
    "run `prometheus-bot data repair` to sort the file and drop duplicates (the old file is kept)";

pub struct BarCache {
    dir: PathBuf,
}

/// Alpaca's `adjustment` of bar prices. One file holds one adjustment: a split-adjusted bar
/// next to a raw one is a fake jump (a 4-for-1 split reads as a 75% fall) that a strategy
/// would trade on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Adjustment {
    #[default]
    Raw,
    Split,
    Dividend,
    All,
}

impl Adjustment {
    /// The value of Alpaca's `adjustment` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Adjustment::Raw => "raw",
            Adjustment::Split => "split",
            Adjustment::Dividend => "dividend",
            Adjustment::All => "all",
        }
    }
}

impl std::fmt::Display for Adjustment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Adjustment {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Adjustment, String> {
        match s {
            "raw" => Ok(Adjustment::Raw),
            "split" => Ok(Adjustment::Split),
            "dividend" => Ok(Adjustment::Dividend),
            "all" => Ok(Adjustment::All),
            _ => Err(format!(
                "unknown adjustment `{s}` (expected raw, split, dividend or all)"
            )),
        }
    }
}

/// Where a file's bars came from. Volumes are the reason it matters: IEX sees a few percent
/// of the consolidated (SIP) volume (about 34 thousand shares a day against 1.15 million in
/// the case), so a volume feature computed across a switch reads as a crash in
/// volume, and a model trained on one feed misreads the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BarFeed {
    Iex,
    Sip,
    /// `import`ed from a file: the source's volumes, feed unknown.
    Import,
}

impl BarFeed {
    pub fn as_str(self) -> &'static str {
        match self {
            BarFeed::Iex => "iex",
            BarFeed::Sip => "sip",
            BarFeed::Import => "import",
        }
    }
}

impl std::fmt::Display for BarFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<crate::config::Feed> for BarFeed {
    fn from(f: crate::config::Feed) -> BarFeed {
        match f {
            crate::config::Feed::Iex => BarFeed::Iex,
            crate::config::Feed::Sip => BarFeed::Sip,
        }
    }
}

/// What a cache file holds besides bars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheMeta {
    /// The price adjustment of every bar in the file.
    pub adjustment: Adjustment,
    /// The feed of its bars; `None` when unknown (a file the tick started, or one written
    /// before feeds were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<BarFeed>,
    /// The earliest start a `fetch` asked for: history before the first bar and after this
    /// does not exist, so a later fetch from the same start need not ask again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered_from: Option<DateTime<Utc>>,
}

impl Default for CacheMeta {
    fn default() -> Self {
        CacheMeta {
            adjustment: Adjustment::Raw,
            feed: None,
            covered_from: None,
        }
    }
}

impl CacheMeta {
    /// The feed to record after writing `feed` bars into a file with this metadata that
    /// holds bars (`has_bars`), or why they must not go in:
    /// - an empty or new file takes the feed written;
    /// - a file whose feed is unknown stays unknown (its old bars' feed is not known);
    /// - IEX bars never go into a SIP file, nor SIP into IEX: that is the mix that breaks
    ///   volume features;
    /// - imported bars go into no fetched file, but live bars may top up an imported one,
    ///   which stays `import` (the history is imported; a model trained on it is warned
    ///   about on every tick, and the drift guard watches the volumes).
    pub fn feed_after(
        &self,
        has_bars: bool,
        feed: BarFeed,
    ) -> std::result::Result<Option<BarFeed>, String> {
        if !has_bars {
            return Ok(Some(feed));
        }
        match self.feed {
            None => Ok(None),
            Some(have) if have == feed => Ok(Some(have)),
            Some(BarFeed::Import) => Ok(Some(BarFeed::Import)),
            Some(have) => Err(format!(
                "holds {have} bars; refusing to mix in {feed} bars (their volumes are not comparable)"
            )),
        }
    }
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
        same_adjustment(&file, &self.meta(symbol, timeframe)?, adjustment)
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
        feed_after(&file, &self.meta(symbol, timeframe)?, feed)
    }

    /// Every cached bar, oldest first; an absent file is empty.
    pub fn load(&self, symbol: &str, timeframe: Timeframe) -> Result<Vec<Bar>> {
        let path = self.path(symbol, timeframe);
        let mut text = String::new();
        match File::open(&path) {
            Ok(f) if f.metadata().is_ok_and(|m| m.len() >= PARALLEL_BYTES as u64) => {
                if let Some(bars) = load_halves(&path, f) {
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
        let path = self.path(symbol, timeframe);
        repair_torn_tail(&path)?;
        // Read once into one string, parsed once: the per-symbol cost of a tick.
        let text = super::files::tail_text(&path, n + 1, 64)?;
        let rows = text.strip_prefix(HEADER).map_or(&text[..], |rest| {
            rest.strip_prefix("\r\n")
                .or_else(|| rest.strip_prefix('\n'))
                .unwrap_or(rest)
        });
        let mut bars = match parse_rows(&path, rows, None) {
            Ok(bars) => bars,
            Err(tail_error) => {
                return Err(self.load(symbol, timeframe).err().unwrap_or(tail_error))
            }
        };
        let skip = bars.len().saturating_sub(n);
        bars.drain(..skip);
        Ok(bars)
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
        let path = self.path(symbol, timeframe);
        // One read of the meta file for both checks: this runs for every symbol every tick.
        let meta = self.meta(symbol, timeframe)?;
        same_adjustment(&path, &meta, adjustment)?;
        feed_after(&path, &meta, feed)?;
        let fresh = !path.exists();
        let mut out = String::with_capacity(bars.len() * 80 + HEADER.len() + 1);
        if fresh {
            out.push_str(HEADER);
            out.push('\n');
        }
        for b in bars {
            write_row(&mut out, b);
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, "create folder", e))?;
        let io = |e| Error::io(&path, "append to", e);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        f.write_all(out.as_bytes()).map_err(io)
    }

    /// Replace the whole file (sorted, unique) atomically, and record its adjustment.
    pub fn replace(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        bars: &[Bar],
        meta: &CacheMeta,
    ) -> Result<()> {
        debug_assert!(bars.windows(2).all(|w| w[0].time < w[1].time));
        let mut out = String::with_capacity(bars.len() * 80 + HEADER.len() + 1);
        out.push_str(HEADER);
        out.push('\n');
        for b in bars {
            write_row(&mut out, b);
        }
        write_atomic(&self.path(symbol, timeframe), out.as_bytes())?;
        if meta != &CacheMeta::default() || self.meta_path(symbol, timeframe).exists() {
            let json = serde_json::to_string_pretty(meta).unwrap_or_default();
            write_atomic(&self.meta_path(symbol, timeframe), json.as_bytes())?;
        }
        Ok(())
    }
}

/// Merge `new` into `old` (both sorted): sorted, unique timestamps, a new bar replacing an
/// old one at the same time (Alpaca revises recent bars).
/// See [`BarCache::check_adjustment`].
fn same_adjustment(file: &Path, have: &CacheMeta, adjustment: Adjustment) -> Result<()> {
    if file.exists() && have.adjustment != adjustment {
        return Err(Error::Refused(format!(
            "{} holds `{}`-adjusted bars; refusing to mix in `{adjustment}` bars. Use --adjustment {} \
             or move the file aside to start over",
            file.display(),
            have.adjustment,
            have.adjustment
        )));
    }
    Ok(())
}

/// See [`BarCache::check_feed`].
fn feed_after(file: &Path, have: &CacheMeta, feed: BarFeed) -> Result<Option<BarFeed>> {
    let has_bars = file
        .metadata()
        .is_ok_and(|m| m.len() > HEADER.len() as u64 + 1);
    have.feed_after(has_bars, feed).map_err(|why| {
        Error::Refused(format!(
            "{} {why}. Use the [alpaca] feed (or --feed) it was fetched with, or move the file aside to start over",
            file.display()
        ))
    })
}

pub fn merge(old: Vec<Bar>, new: Vec<Bar>) -> Vec<Bar> {
    let mut all = old;
    // The tick's common case: a bar or two, all after the cached ones, already in order.
    let last = all.last().map(|b| b.time);
    if new.windows(2).all(|w| w[0].time < w[1].time)
        && new.first().is_none_or(|b| last.is_none_or(|l| l < b.time))
    {
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

fn write_row(out: &mut String, b: &Bar) {
    use super::fast_text::{push_f64, push_time};
    push_time(out, b.time);
    for v in [b.open, b.high, b.low, b.close, b.volume] {
        out.push(',');
        push_f64(out, v);
    }
    let _ = write!(out, ",{},", b.trades);
    if b.vwap.is_finite() {
        push_f64(out, b.vwap);
    }
    out.push('\n');
}

/// Files at least this big (a year of minute bars and up) are read and parsed in two halves
/// on two threads: the backtester loads a million rows, and reading and parsing are most of
/// its time.
const PARALLEL_BYTES: usize = 4 << 20;

/// A big, well-formed file read and parsed as two halves, each on its own thread (its own
/// file handle, its own read, UTF-8 check and parse), cut at the first line break past the
/// middle. `None` if anything is wrong (I/O, a bad row, disorder): the caller then takes the
/// plain path, which reports the problem with its line number.
fn load_halves(path: &Path, mut file: File) -> Option<Vec<Bar>> {
    let len = file.metadata().ok()?.len();
    let mid = len / 2;
    let read = |f: &mut File, from: u64, to: u64| -> Option<Vec<u8>> {
        f.seek(SeekFrom::Start(from)).ok()?;
        let mut buf = Vec::with_capacity((to - from) as usize);
        f.take(to - from).read_to_end(&mut buf).ok()?;
        Some(buf)
    };
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| {
            let buf = read(&mut File::open(path).ok()?, mid, len)?;
            let start = buf.iter().position(|&b| b == b'\n')? + 1;
            let text = std::str::from_utf8(&buf[start..]).ok()?;
            parse_rows(path, text, None).ok()
        });
        let first = (|| {
            // Rows are far shorter than 4 KiB: the cut is within the extra read.
            let buf = read(&mut file, 0, (mid + 4096).min(len))?;
            let end = mid as usize + buf[mid as usize..].iter().position(|&b| b == b'\n')? + 1;
            let text = std::str::from_utf8(&buf[..end]).ok()?;
            let body = check_header(path, text, 1).ok()?;
            parse_rows_with_capacity(path, body, Some(2), len as usize / 56).ok()
        })();
        (first, second.join().ok().flatten())
    });
    let (mut bars, second) = (first?, second?);
    if let (Some(prev), Some(next)) = (bars.last(), second.first()) {
        if next.time <= prev.time {
            return None;
        }
    }
    bars.extend_from_slice(&second);
    Some(bars)
}

fn parse_file(path: &Path, text: &str, first_line: usize) -> Result<Vec<Bar>> {
    let body = check_header(path, text, first_line)?;
    let split = (body.len() >= PARALLEL_BYTES)
        .then(|| {
            body[body.len() / 2..]
                .find('\n')
                .map(|i| body.len() / 2 + i + 1)
        })
        .flatten();
    let Some(mid) = split else {
        return parse_rows(path, body, Some(first_line + 1));
    };
    let (a, b) = body.split_at(mid);
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| parse_rows(path, b, None));
        let first = parse_rows_with_capacity(path, a, Some(first_line + 1), body.len() / 56);
        (first, second.join())
    });
    let mut bars = first?;
    // Line numbers in the second half are only known once the first half is counted: count
    // them when there is an error to report.
    let b_first_line = || first_line + 1 + a.bytes().filter(|&c| c == b'\n').count();
    let second = match second {
        Ok(Ok(v)) => v,
        _ => return parse_rows(path, b, Some(b_first_line())),
    };
    if let (Some(prev), Some(next)) = (bars.last(), second.first()) {
        if next.time <= prev.time {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                line: Some(b_first_line()),
                message: format!(
                    "bar at {} is not after the previous one (a duplicate or out of order); {REPAIR}",
                    time_cell(next.time)
                ),
            });
        }
    }
    bars.extend_from_slice(&second);
    Ok(bars)
}

/// The text after a correct header line; an empty file has no rows.
fn check_header<'t>(path: &Path, text: &'t str, first_line: usize) -> Result<&'t str> {
    let (header, body) = text.split_once('\n').unwrap_or((text, ""));
    match header.trim_end() {
        "" | HEADER => Ok(body),
        h => Err(Error::Corrupt {
            path: path.to_path_buf(),
            line: Some(first_line),
            message: format!("header is `{h}`, expected `{HEADER}`"),
        }),
    }
}

/// Parse data rows, which must be strictly increasing in time; `first_line` numbers them for
/// errors when known.
fn parse_rows(path: &Path, text: &str, first_line: Option<usize>) -> Result<Vec<Bar>> {
    parse_rows_with_capacity(path, text, first_line, text.len() / 56)
}

fn parse_rows_with_capacity(
    path: &Path,
    text: &str,
    first_line: Option<usize>,
    capacity: usize,
) -> Result<Vec<Bar>> {
    let mut bars: Vec<Bar> = Vec::with_capacity(capacity);
    let mut dates = DateCache::default();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let corrupt = |message: String| Error::Corrupt {
            path: path.to_path_buf(),
            line: first_line.map(|l| l + i),
            message,
        };
        let bar = parse_row(line, &mut dates).map_err(|m| corrupt(format!("{m}: `{line}`")))?;
        if bars.last().is_some_and(|prev| bar.time <= prev.time) {
            return Err(corrupt(format!(
                "bar at {} is not after the previous one (a duplicate or out of order); {REPAIR}",
                time_cell(bar.time)
            )));
        }
        bars.push(bar);
    }
    Ok(bars)
}

/// Every data row of a cache file with its line number, in file order and without the order
/// check, for `data check` to report on. A cell that does not parse is still an error.
pub fn read_rows(path: &Path) -> Result<Vec<(usize, Bar)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, "read", e))?;
    let body = check_header(path, &text, 1)?;
    let mut rows = Vec::with_capacity(body.len() / 64);
    let mut dates = DateCache::default();
    for (i, line) in body.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bar = parse_row(line, &mut dates).map_err(|m| Error::Corrupt {
            path: path.to_path_buf(),
            line: Some(i + 2),
            message: format!("{m}: `{line}`"),
        })?;
        rows.push((i + 2, bar));
    }
    Ok(rows)
}

fn parse_row(line: &str, dates: &mut DateCache) -> Result<Bar, String> {
    // Cells split by hand on bytes: cheaper than `str::split` for eight short cells.
    let mut rest = Some(line.strip_suffix('\r').unwrap_or(line));
    let mut next = |name: &str| -> Result<&str, String> {
        let r = rest.ok_or_else(|| format!("missing `{name}`"))?;
        match r.bytes().position(|b| b == b',') {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Ok(&r[..i])
            }
            None => {
                rest = None;
                Ok(r)
            }
        }
    };
    let time = parse_time_cached(next("time_utc")?, dates)
        .ok_or("bad time_utc (expected YYYY-MM-DD HH:MM:SS)")?;
    let mut num = |name: &str| -> Result<f64, String> {
        let cell = next(name)?;
        parse_f64(cell).ok_or_else(|| format!("bad {name} `{cell}`"))
    };
    let (open, high, low, close, volume) = (
        num("open")?,
        num("high")?,
        num("low")?,
        num("close")?,
        num("volume")?,
    );
    let trades = next("trades")?;
    let trades = if trades.is_empty() {
        0
    } else {
        trades
            .parse()
            .map_err(|_| format!("bad trades `{trades}`"))?
    };
    let vwap = next("vwap")?;
    let vwap = if vwap.is_empty() {
        f64::NAN
    } else {
        parse_f64(vwap).ok_or_else(|| format!("bad vwap `{vwap}`"))?
    };
    Ok(Bar {
        time,
        open,
        high,
        low,
        close,
        volume,
        trades,
        vwap,
    })
}

/// A decimal number exactly as `str::parse::<f64>` reads it, faster for the cache's usual
/// cells (`123.45`, `1200`): up to 19 digits without an exponent. If the digits as an integer
/// `m` are below 2^53 and there are `k <= 22` of them after the point, `m` and `10^k` are both
/// exact doubles and one IEEE division is correctly rounded, so `m / 10^k` is the nearest
/// double to the decimal: the same bits `str::parse` gives (Clinger's fast path). Anything
/// else goes to `str::parse`.
pub(crate) fn parse_f64(cell: &str) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let b = cell.as_bytes();
    let (negative, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut count = 0usize;
    let mut frac: Option<usize> = None;
    for (i, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                count += 1;
                if count > 19 {
                    return cell.parse().ok();
                }
                mantissa = mantissa * 10 + u64::from(c - b'0');
            }
            b'.' if frac.is_none() => frac = Some(digits.len() - i - 1),
            _ => return cell.parse().ok(),
        }
    }
    let k = frac.unwrap_or(0);
    if count == 0 || mantissa >= 1 << 53 || k > 22 || frac == Some(0) {
        return cell.parse().ok();
    }
    let v = mantissa as f64 / POW10[k];
    Some(if negative { -v } else { v })
}

/// The last date seen while parsing: minute bars repeat a date 390 times, so it is checked
/// and converted once.
#[derive(Default)]
struct DateCache {
    text: [u8; 10],
    date: Option<NaiveDate>,
}

/// A cache time cell, `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    parse_time_cached(s, &mut DateCache::default())
}

/// [`parse_time`] by hand, reusing the previous row's date: this is the hot path of loading
/// a million rows.
fn parse_time_cached(s: &str, dates: &mut DateCache) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = match dates.date {
        Some(d) if dates.text == b[..10] => d,
        _ => {
            let d = NaiveDate::from_ymd_opt(n(0..4)? as i32, n(5..7)?, n(8..10)?)?;
            dates.text.copy_from_slice(&b[..10]);
            dates.date = Some(d);
            d
        }
    };
    let (h, m, sec) = (n(11..13)?, n(14..16)?, n(17..19)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let time = NaiveTime::from_num_seconds_from_midnight_opt(h * 3600 + m * 60 + sec, 0)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
#[path = "bar_cache_tests.rs"]
mod tests;

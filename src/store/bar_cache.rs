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
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const HEADER: &str = "time_utc,open,high,low,close,volume,trades,vwap";

pub struct BarCache {
    dir: PathBuf,
}

/// What a cache file holds besides bars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheMeta {
    /// Alpaca's `adjustment`: raw, split, dividend or all.
    pub adjustment: String,
    /// The earliest start a `fetch` asked for: history before the first bar and after this
    /// does not exist, so a later fetch from the same start need not ask again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered_from: Option<DateTime<Utc>>,
}

impl Default for CacheMeta {
    fn default() -> Self {
        CacheMeta {
            adjustment: "raw".into(),
            covered_from: None,
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
        adjustment: &str,
    ) -> Result<()> {
        let have = self.meta(symbol, timeframe)?;
        let file = self.path(symbol, timeframe);
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

    /// Every cached bar, oldest first; an absent file is empty.
    pub fn load(&self, symbol: &str, timeframe: Timeframe) -> Result<Vec<Bar>> {
        let path = self.path(symbol, timeframe);
        let mut text = String::new();
        match File::open(&path) {
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
        let lines = super::files::tail_lines(&path, n + 1)?;
        let rows: Vec<&str> = lines.iter().map(String::as_str).filter(|l| *l != HEADER).collect();
        // Line numbers are unknown in a tail read; errors name the row's content instead.
        let mut bars = parse_rows(&path, &rows.join("\n"), None)?;
        let skip = bars.len().saturating_sub(n);
        bars.drain(..skip);
        Ok(bars)
    }

    /// Append bars that are all later than the last cached one.
    pub fn append(&self, symbol: &str, timeframe: Timeframe, bars: &[Bar]) -> Result<()> {
        if bars.is_empty() {
            return Ok(());
        }
        let path = self.path(symbol, timeframe);
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
        f.write_all(out.as_bytes()).map_err(io)?;
        f.sync_data().map_err(io)
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
pub fn merge(old: Vec<Bar>, new: Vec<Bar>) -> Vec<Bar> {
    let mut all = old;
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
    let _ = write!(
        out,
        "{},{},{},{},{},{},{},",
        b.time.format("%Y-%m-%d %H:%M:%S"),
        b.open,
        b.high,
        b.low,
        b.close,
        b.volume,
        b.trades
    );
    if b.vwap.is_finite() {
        let _ = write!(out, "{}", b.vwap);
    }
    out.push('\n');
}

fn parse_file(path: &Path, text: &str, first_line: usize) -> Result<Vec<Bar>> {
    let body = check_header(path, text, first_line)?;
    parse_rows(path, body, Some(first_line + 1))
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
    let mut bars: Vec<Bar> = Vec::with_capacity(text.len() / 64);
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let corrupt = |message: String| Error::Corrupt {
            path: path.to_path_buf(),
            line: first_line.map(|l| l + i),
            message,
        };
        let bar = parse_row(line).map_err(|m| corrupt(format!("{m}: `{line}`")))?;
        if bars.last().is_some_and(|prev| bar.time <= prev.time) {
            return Err(corrupt(format!(
                "bar at {} is not after the previous one; run `prometheus-bot data check`",
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
    for (i, line) in body.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bar = parse_row(line).map_err(|m| Error::Corrupt {
            path: path.to_path_buf(),
            line: Some(i + 2),
            message: format!("{m}: `{line}`"),
        })?;
        rows.push((i + 2, bar));
    }
    Ok(rows)
}

fn parse_row(line: &str) -> Result<Bar, String> {
    let mut cells = line.trim_end_matches('\r').split(',');
    let mut next = |name: &str| cells.next().ok_or_else(|| format!("missing `{name}`"));
    let time =
        parse_time(next("time_utc")?).ok_or("bad time_utc (expected YYYY-MM-DD HH:MM:SS)")?;
    let mut num = |name: &str| -> Result<f64, String> {
        let cell = next(name)?;
        cell.parse::<f64>()
            .map_err(|_| format!("bad {name} `{cell}`"))
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
        vwap.parse().map_err(|_| format!("bad vwap `{vwap}`"))?
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

/// `YYYY-MM-DD HH:MM:SS`, parsed by hand: this is the hot path of loading a million rows.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
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
    let date = NaiveDate::from_ymd_opt(n(0..4)? as i32, n(5..7)?, n(8..10)?)?;
    Some(
        date.and_hms_opt(n(11..13)?, n(14..16)?, n(17..19)?)?
            .and_utc(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn bar(min: i64, c: f64) -> Bar {
        Bar {
            time: Utc.timestamp_opt(1_764_000_000 + 60 * min, 0).unwrap(),
            open: c,
            high: c + 0.5,
            low: c - 0.5,
            close: c,
            volume: 100.0,
            trades: 3,
            vwap: c + 0.1,
        }
    }

    #[test]
    fn values_round_trip_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BarCache::new(dir.path());
        let mut bars: Vec<Bar> = (0..50).map(|i| bar(i, 100.0 + i as f64 / 3.0)).collect();
        bars[7].vwap = f64::NAN;
        cache.append("AAPL", Timeframe::Min1, &bars[..20]).unwrap();
        cache.append("AAPL", Timeframe::Min1, &bars[20..]).unwrap();
        let back = cache.load("AAPL", Timeframe::Min1).unwrap();
        assert_eq!(back.len(), 50);
        assert!(back[7].vwap.is_nan());
        assert_eq!(back[8], bars[8]);
        assert_eq!(back[49].close.to_bits(), bars[49].close.to_bits());
        let tail = cache.load_tail("AAPL", Timeframe::Min1, 5).unwrap();
        assert_eq!(tail, bars[45..].to_vec());
        assert_eq!(
            cache.load_tail("AAPL", Timeframe::Min1, 500).unwrap().len(),
            50
        );
        assert!(cache
            .load_tail("TSLA", Timeframe::Min1, 5)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn merge_sorts_dedups_and_prefers_new() {
        let old = vec![bar(0, 1.0), bar(1, 2.0), bar(2, 3.0)];
        let new = vec![bar(2, 30.0), bar(3, 4.0), bar(1, 20.0)];
        let m = merge(old, new);
        let closes: Vec<f64> = m.iter().map(|b| b.close).collect();
        assert_eq!(closes, [1.0, 20.0, 30.0, 4.0]);
    }

    #[test]
    fn unsorted_or_bad_rows_are_reported_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BarCache::new(dir.path());
        let p = cache.path("AAPL", Timeframe::Day1);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("{HEADER}\n2024-01-02 05:00:00,1,2,0.5,1.5,10,1,\n2024-01-02 05:00:00,1,2,0.5,1.5,10,1,\n")).unwrap();
        let e = cache.load("AAPL", Timeframe::Day1).unwrap_err().to_string();
        assert!(e.contains("AAPL-1Day.csv line 3"), "{e}");
        std::fs::write(
            &p,
            format!("{HEADER}\n2024-01-02 05:00:00,1,two,0.5,1.5,10,1,\n"),
        )
        .unwrap();
        let e = cache.load("AAPL", Timeframe::Day1).unwrap_err().to_string();
        assert!(e.contains("line 2: bad high `two`"), "{e}");
    }

    #[test]
    fn adjustments_are_never_mixed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BarCache::new(dir.path());
        let split = CacheMeta {
            adjustment: "split".into(),
            covered_from: None,
        };
        cache
            .replace("TSLA", Timeframe::Day1, &[bar(0, 1.0)], &split)
            .unwrap();
        assert!(cache
            .check_adjustment("TSLA", Timeframe::Day1, "split")
            .is_ok());
        let e = cache
            .check_adjustment("TSLA", Timeframe::Day1, "raw")
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds `split`-adjusted bars"), "{e}");
        assert!(
            cache
                .check_adjustment("AAPL", Timeframe::Day1, "all")
                .is_ok(),
            "no file yet"
        );
    }
}

//! The tick's read of a cache file's end: one open, one read, and only the rows its strategy
//! reads parsed. Per symbol per tick this was the largest cost of a 500-symbol tick (a torn-
//! tail check in its own open, the text of `history` rows copied and split twice, and all of
//! them parsed when an SMA(30) cross reads 31). The rows before those, up to `history`, are
//! counted and their times checked in order (a duplicate row is still found and named), at a
//! fraction of a full parse.

use super::parse::{parse_rows, parse_time_cached, DateCache};
use super::*;

/// The end of one cache file, as the tick needs it.
#[derive(Debug, Default, PartialEq)]
pub struct Tail {
    /// The last `keep` bars (all of them if the file holds fewer), oldest first.
    pub bars: Vec<Bar>,
    /// Data rows the file holds, counted from its end and no further than `count`: whether
    /// the cache is full (holds `history` bars) without parsing `history` rows.
    pub rows: usize,
    /// The file's sidecar and whether it exists, for [`BarCache::append_known`].
    pub file: Known,
}

/// What an append needs to know of a file, read once per tick: its sidecar (adjustment and
/// feed, checked before every append) and whether it exists (if so, an append writes no
/// header and makes no folder).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Known {
    pub meta: CacheMeta,
    pub exists: bool,
}

/// A generous guess of a row's length in bytes (rows are about 60): the first read takes
/// `count` of them, so a tail is one read.
const ROW_GUESS: u64 = 80;

impl BarCache {
    /// The last `keep` bars of the file, its data rows counted up to `count` and its sidecar
    /// (`keep <= count`), reading only its end; a torn last line is cut off first (see
    /// [`repair_torn_tail`]). Of the rows before the last `keep`, up to `count`, only the
    /// times are read: one that does not parse, or is not after the one before it, is an
    /// error naming its line, as a full parse finds it; a bad price there is found when a
    /// full load reads it (`data check`, a backtest), not by the tick, which never uses it.
    pub fn read_tail(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        keep: usize,
        count: usize,
    ) -> Result<Tail> {
        let path = self.path(symbol, timeframe);
        let meta = self.meta(symbol, timeframe)?;
        let Some(text) = tail_bytes(&path, count.max(keep))? else {
            let file = Known {
                meta,
                exists: false,
            };
            return Ok(Tail {
                file,
                ..Tail::default()
            });
        };
        let TailBytes { bytes, lines } = text;
        let rows = lines.len().min(count);
        // `lines` is newest first: the window is the last `keep` of them.
        let from = match keep.min(lines.len()) {
            0 => bytes.len(),
            k => lines[k - 1].0,
        };
        let older = lines.get(keep..count.min(lines.len())).unwrap_or_default();
        let parsed = std::str::from_utf8(&bytes[from..])
            .ok()
            .and_then(|window| parse_rows(&path, window, None).ok())
            .filter(|bars| in_order(&bytes, older, bars.first().map(|b| b.time)));
        match parsed {
            Some(bars) => Ok(Tail {
                bars,
                rows,
                file: Known { meta, exists: true },
            }),
            // The full load names the line of what is wrong.
            None => Err(self
                .load(symbol, timeframe)
                .err()
                .unwrap_or_else(|| corrupt(&path))),
        }
    }
}

/// Whether the times of `older` (line spans, newest first) decrease strictly from `first`
/// (the window's first bar) back, as a full parse requires of the rows in file order.
fn in_order(bytes: &[u8], older: &[(usize, usize)], first: Option<DateTime<Utc>>) -> bool {
    let mut dates = DateCache::default();
    let mut next = first;
    for &(start, end) in older {
        let line = &bytes[start..end];
        let cell = memchr::memchr(b',', line).map_or(line, |i| &line[..i]);
        let time = std::str::from_utf8(cell)
            .ok()
            .and_then(|cell| parse_time_cached(cell, &mut dates));
        match time {
            Some(t) if next.is_none_or(|n| t < n) => next = Some(t),
            _ => return false,
        }
    }
    true
}

fn corrupt(path: &Path) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        line: None,
        message: "the end of the file does not read as rows".into(),
    }
}

/// The end of a file and its last data lines.
struct TailBytes {
    bytes: Vec<u8>,
    /// The spans of the last non-empty data lines (without their line break), newest first.
    lines: Vec<(usize, usize)>,
}

/// The file's last `n` non-empty data lines (all of them in a short file), in one read when
/// the guess of their length holds; `None` if the file does not exist. A torn last line is
/// cut off (kept aside) first.
fn tail_bytes(path: &Path, n: usize) -> Result<Option<TailBytes>> {
    let io = |e| Error::io(path, "read", e);
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut len = f.metadata().map_err(io)?.len();
    let mut want = (n as u64 + 2).saturating_mul(ROW_GUESS).max(4096);
    let mut repaired = false;
    loop {
        let start = len.saturating_sub(want);
        f.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut bytes = vec![0; (len - start) as usize];
        f.read_exact(&mut bytes).map_err(io)?;
        if bytes.last().is_some_and(|&b| b != b'\n') && !repaired {
            // The rare case: checked on the bytes read anyway, not by a second open.
            drop(f);
            repair_torn_tail(path)?;
            repaired = true;
            f = File::open(path).map_err(io)?;
            len = f.metadata().map_err(io)?.len();
            continue;
        }
        let whole = start == 0;
        let lines = last_lines(&bytes, body_start(&bytes, whole), n);
        if whole || lines.len() >= n {
            return Ok(Some(TailBytes { bytes, lines }));
        }
        want = want.saturating_mul(4);
    }
}

/// Where the data lines start: a whole file's first line is its header (one that is not
/// stays a row, parsed and reported if it is not one, as the tick always read it); a read
/// that starts inside the file drops its first line, a part of one.
fn body_start(bytes: &[u8], whole: bool) -> usize {
    let first_end = memchr::memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1);
    let first = &bytes[..first_end];
    let line = first.strip_suffix(b"\n").unwrap_or(first);
    let header = line.strip_suffix(b"\r").unwrap_or(line) == HEADER.as_bytes();
    if whole && !header {
        0
    } else {
        first_end
    }
}

/// The spans of the last `n` non-empty lines after `body` (an empty line, `\n` or `\r\n`, is
/// skipped by the parser: not a row), newest first, found with memchr's vectorised search.
fn last_lines(bytes: &[u8], body: usize, n: usize) -> Vec<(usize, usize)> {
    let mut lines = Vec::with_capacity(n.min(1 << 16));
    let text = &bytes[body..];
    // The end of the line being walked back over (excluding its line break).
    let mut end = text.len();
    if text.last() == Some(&b'\n') {
        end -= 1;
    }
    while lines.len() < n {
        let start = memchr::memrchr(b'\n', &text[..end]).map_or(0, |i| i + 1);
        let line = &text[start..end];
        if !(line.is_empty() || line == b"\r") {
            lines.push((body + start, body + end));
        }
        if start == 0 {
            break;
        }
        end = start - 1;
    }
    lines
}

//! The tick's read of a cache file's end: one open, one read, and only the rows its strategy
//! reads parsed. Per symbol per tick this was the largest cost of a 500-symbol tick (a torn-
//! tail check in its own open, the text of `history` rows copied and split twice, and all of
//! them parsed when an SMA(30) cross reads 31). The rows before those, up to `history`, are
//! counted and their times checked in order (a duplicate row is still found and named), at a
//! fraction of a full parse.

use super::parse::{parse_rows, parse_time_bytes, DateCache};
use super::*;
use std::cell::RefCell;
use std::collections::HashSet;

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
#[derive(Debug, Default)]
pub struct Known {
    pub meta: CacheMeta,
    pub exists: bool,
    /// Its length in bytes (0 if it does not exist): whether it holds bars, for the feed.
    pub len: u64,
    /// The file, opened to append as well when its tail was read ([`Tails`]): the tick's
    /// append writes through it instead of opening the file again. An open and a close were
    /// two of the seven system calls each symbol cost a warm tick.
    pub(super) open: Option<File>,
}

/// What is known of the file; whether it is held open is not part of it.
impl PartialEq for Known {
    fn eq(&self, other: &Known) -> bool {
        (&self.meta, self.exists, self.len) == (&other.meta, other.exists, other.len)
    }
}

/// Files a [`Tails`] keeps open for the tick's appends; past it, an append opens its file
/// again. Every one is a file descriptor held until the tick's appends: the bound keeps a
/// universe of any size far from the usual limit of 1,024 per process.
pub const HELD_FILES: usize = 256;

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
        let meta = self.meta(symbol, timeframe)?;
        self.tail_with(
            symbol,
            timeframe,
            (keep, count),
            meta,
            &mut Vec::new(),
            false,
        )
    }

    /// A reader of many files' tails ([`Tails::read`]) that lists the folder's sidecars once.
    pub fn tails(&self) -> Tails<'_> {
        let sidecars = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .map(|e| e.map(|e| e.file_name()))
                .filter(|name| {
                    name.as_ref()
                        .map_or(true, |n| n.as_encoded_bytes().ends_with(b".meta.json"))
                })
                .collect::<std::io::Result<HashSet<_>>>()
                .ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(HashSet::new()),
            Err(_) => None,
        };
        Tails {
            cache: self,
            sidecars,
            buf: RefCell::new(Vec::new()),
            held: std::cell::Cell::new(0),
        }
    }

    /// [`BarCache::read_tail`] of `(keep, count)` rows with the sidecar `meta`, through
    /// `buf`, holding the file open for the append if `hold`.
    fn tail_with(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        (keep, count): (usize, usize),
        meta: CacheMeta,
        buf: &mut Vec<u8>,
        hold: bool,
    ) -> Result<Tail> {
        let path = self.path(symbol, timeframe);
        let Some((text, open)) = tail_bytes(&path, count.max(keep), buf, hold)? else {
            let file = Known {
                meta,
                exists: false,
                len: 0,
                open: None,
            };
            return Ok(Tail {
                file,
                ..Tail::default()
            });
        };
        let TailBytes { read, lines, len } = text;
        let bytes = &buf[..read];
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
            .filter(|bars| in_order(bytes, older, bars.first().map(|b| b.time)));
        match parsed {
            Some(bars) => Ok(Tail {
                bars,
                rows,
                file: Known {
                    meta,
                    exists: true,
                    len,
                    open,
                },
            }),
            // The full load names the line of what is wrong.
            None => Err(self
                .load(symbol, timeframe)
                .err()
                .unwrap_or_else(|| corrupt(&path))),
        }
    }
}

/// [`BarCache::read_tail`] for every symbol of a tick: the folder is listed once, and a file
/// with no sidecar (most of them: raw bars need none) costs no failed open of one.
pub struct Tails<'c> {
    cache: &'c BarCache,
    /// The sidecars' file names; `None` if the folder could not be listed (each is then
    /// opened, as [`BarCache::meta`] does).
    sidecars: Option<HashSet<std::ffi::OsString>>,
    /// The bytes of the last tail read, reused by the next.
    buf: RefCell<Vec<u8>>,
    /// Files kept open so far for the appends (at most [`HELD_FILES`]).
    held: std::cell::Cell<usize>,
}

impl Tails<'_> {
    /// See [`BarCache::read_tail`].
    pub fn read(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        keep: usize,
        count: usize,
    ) -> Result<Tail> {
        let listed = self.sidecars.as_ref().map(|names| {
            let path = self.cache.meta_path(symbol, timeframe);
            path.file_name().is_some_and(|n| names.contains(n))
        });
        let meta = match listed {
            Some(false) => CacheMeta::default(),
            _ => self.cache.meta(symbol, timeframe)?,
        };
        let buf = &mut self.buf.borrow_mut();
        let hold = self.held.get() < HELD_FILES;
        let tail = self
            .cache
            .tail_with(symbol, timeframe, (keep, count), meta, buf, hold)?;
        self.held
            .set(self.held.get() + usize::from(tail.file.open.is_some()));
        Ok(tail)
    }
}

/// Whether the times of `older` (line spans, newest first) decrease strictly from `first`
/// (the window's first bar) back, as a full parse requires of the rows in file order.
fn in_order(bytes: &[u8], older: &[(usize, usize)], first: Option<DateTime<Utc>>) -> bool {
    let mut dates = DateCache::default();
    let mut next = first;
    for &(start, end) in older {
        let line = &bytes[start..end];
        // A time cell is 19 bytes: look for its comma only in a row that is not as usual.
        let cell = match line.get(19) {
            Some(b',') => &line[..19],
            _ => memchr::memchr(b',', line).map_or(line, |i| &line[..i]),
        };
        let time = parse_time_bytes(cell, &mut dates);
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
    /// How many bytes of the buffer were read.
    read: usize,
    /// The spans of the last non-empty data lines (without their line break), newest first.
    lines: Vec<(usize, usize)>,
    /// The file's length.
    len: u64,
}

/// The file's last `n` non-empty data lines (all of them in a short file), in one read when
/// the guess of their length holds, and the file itself if `hold` (opened to append too);
/// `None` if the file does not exist. A torn last line is cut off (kept aside) first.
fn tail_bytes(
    path: &Path,
    n: usize,
    buf: &mut Vec<u8>,
    hold: bool,
) -> Result<Option<(TailBytes, Option<File>)>> {
    let io = |e| Error::io(path, "read", e);
    let open = || OpenOptions::new().read(true).append(hold).open(path);
    let mut f = match open() {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    // The end's offset is the length: one call, not a stat.
    let mut len = f.seek(SeekFrom::End(0)).map_err(io)?;
    let mut want = (n as u64 + 2).saturating_mul(ROW_GUESS).max(4096);
    let mut repaired = false;
    loop {
        let start = len.saturating_sub(want);
        let read = (len - start) as usize;
        // The buffer is reused from file to file: zeroed (and its pages touched) only when
        // it grows, not 16 KB per symbol per tick.
        if buf.len() < read {
            buf.resize(read, 0);
        }
        let bytes = &mut buf[..read];
        read_at(&mut f, bytes, start).map_err(io)?;
        if bytes.last().is_some_and(|&b| b != b'\n') && !repaired {
            // The rare case: checked on the bytes read anyway, not by a second open.
            drop(f);
            repair_torn_tail(path)?;
            repaired = true;
            f = open().map_err(io)?;
            len = f.seek(SeekFrom::End(0)).map_err(io)?;
            continue;
        }
        let whole = start == 0;
        let lines = last_lines(bytes, body_start(bytes, whole), n);
        if whole || lines.len() >= n {
            return Ok(Some((TailBytes { read, lines, len }, hold.then_some(f))));
        }
        want = want.saturating_mul(4);
    }
}

/// Fill `buf` from the file at `offset`: one `pread` where there is one.
#[cfg(unix)]
fn read_at(f: &mut File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(not(unix))]
fn read_at(f: &mut File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
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
/// skipped by the parser: not a row), newest first: walked back from the end with memchr's
/// vectorised search, so a read longer than needed costs nothing more.
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

//! The tick's read of a cache file's end: one open, one read, and only the rows its strategy
//! reads parsed. Per symbol per tick this was the largest cost of a 500-symbol tick (a torn-
//! tail check in its own open, the text of `history` rows copied and split twice, and all of
//! them parsed when an SMA(30) cross reads 31).

use super::parse::parse_rows;
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
    /// [`repair_torn_tail`]). Rows before the last `keep` are counted, not parsed: a row
    /// there that does not parse is found when a full load reads it (`data check`, a
    /// backtest), not by the tick, which never reads it.
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
        let lines = Lines::new(&text.bytes, text.whole);
        let rows = lines.count.min(count);
        let from = lines.start_of_last(&text.bytes, keep);
        let body = match std::str::from_utf8(&text.bytes[from..]) {
            Ok(body) => body,
            // Not UTF-8: the full load names the line.
            Err(_) => {
                return Err(self
                    .load(symbol, timeframe)
                    .err()
                    .unwrap_or_else(|| corrupt(&path)))
            }
        };
        match parse_rows(&path, body, None) {
            Ok(bars) => Ok(Tail {
                bars,
                rows,
                file: Known { meta, exists: true },
            }),
            // The full load names the line of what is wrong.
            Err(tail_error) => Err(self.load(symbol, timeframe).err().unwrap_or(tail_error)),
        }
    }
}

fn corrupt(path: &Path) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        line: None,
        message: "the file's end is not UTF-8 text".into(),
    }
}

/// The end of a file holding at least `n` complete lines after the cut (or the whole file).
struct TailBytes {
    /// Complete lines, each ending in `\n`; if not `whole`, the first is a part of a line.
    bytes: Vec<u8>,
    /// Whether `bytes` starts at the file's start (its header line).
    whole: bool,
}

/// The file's last `n` lines and one more, in one read when the guess of their length holds;
/// `None` if the file does not exist. A torn last line is cut off (kept aside) first.
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
        if whole || Lines::new(&bytes, false).count >= n {
            return Ok(Some(TailBytes { bytes, whole }));
        }
        want = want.saturating_mul(4);
    }
}

/// The data lines of a tail: the first (partial) line or the header dropped.
struct Lines {
    /// Where the data lines start in the bytes.
    first: usize,
    /// Non-empty data lines (an empty line is skipped by the parser, so not a row).
    count: usize,
}

impl Lines {
    fn new(bytes: &[u8], whole: bool) -> Lines {
        let first_end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| i + 1);
        let first_line = &bytes[..first_end];
        let header = first_line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            == Some(HEADER.as_bytes());
        // A whole file's first line is its header; one that is not stays a row (parsed, and
        // reported if it is not one), as the tick always read it.
        let first = if whole && !header { 0 } else { first_end };
        let body = &bytes[first..];
        // Plain loops the compiler vectorises: no per-line work. An empty line (`\n` or
        // `\r\n` after a line break or at the start) is skipped by the parser: not a row.
        let newlines = body.iter().filter(|&&b| b == b'\n').count();
        let after = |skip: usize| body.get(skip..).unwrap_or_default();
        let empty_lf = body
            .iter()
            .zip(after(1))
            .filter(|&(&a, &b)| a == b'\n' && b == b'\n')
            .count();
        let empty_crlf = body
            .iter()
            .zip(after(1))
            .zip(after(2))
            .filter(|&((&a, &b), &c)| a == b'\n' && b == b'\r' && c == b'\n')
            .count();
        let leading = usize::from(body.starts_with(b"\n") || body.starts_with(b"\r\n"));
        let empty = empty_lf + empty_crlf + leading;
        let unterminated = usize::from(body.last().is_some_and(|&b| b != b'\n'));
        Lines {
            first,
            count: newlines + unterminated - empty,
        }
    }

    /// Where the last `keep` non-empty data lines start.
    fn start_of_last(&self, bytes: &[u8], keep: usize) -> usize {
        if keep >= self.count {
            return self.first;
        }
        let body = &bytes[self.first..];
        // Walk back over `keep` non-empty lines: a few kilobytes for a short window.
        let mut end = body.len();
        let mut seen = 0;
        while seen < keep && end > 0 {
            let stop = if body[end - 1] == b'\n' { end - 1 } else { end };
            let start = body[..stop]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            let line = &body[start..stop];
            if !(line.is_empty() || line == b"\r") {
                seen += 1;
            }
            end = start;
        }
        self.first + end
    }
}

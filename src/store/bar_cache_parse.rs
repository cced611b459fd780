//! Reading a cache file: the header, each row into a [`Bar`] (times through a per-day cache, the
//! number parser that reads back exactly what was written), a text in memory in two halves on
//! two threads (a big file on disk: `bar_cache_load.rs`).

use super::*;

/// Files at least this big (a year of minute bars and up) are read and parsed in two parts
/// on two threads: the backtester loads a million rows, and reading and parsing are most of
/// its time.
pub(super) const PARALLEL_BYTES: usize = 4 << 20;

/// Where parsed rows go, in order: a vector, or a share of a vector's spare room that another
/// thread fills beside it (`bar_cache_load.rs`).
pub(super) trait Rows {
    /// The time of the last row taken, which the next must be after.
    fn last_time(&self) -> Option<DateTime<Utc>>;
    /// Take a row; `false` when there is no room for it.
    fn push(&mut self, bar: Bar) -> bool;
}

impl Rows for Vec<Bar> {
    fn last_time(&self) -> Option<DateTime<Utc>> {
        self.last().map(|b| b.time)
    }

    fn push(&mut self, bar: Bar) -> bool {
        Vec::push(self, bar);
        true
    }
}

pub(super) fn parse_file(path: &Path, text: &str, first_line: usize) -> Result<Vec<Bar>> {
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
pub(super) fn check_header<'t>(path: &Path, text: &'t str, first_line: usize) -> Result<&'t str> {
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
pub(super) fn parse_rows(path: &Path, text: &str, first_line: Option<usize>) -> Result<Vec<Bar>> {
    parse_rows_with_capacity(path, text, first_line, text.len() / 56)
}

pub(super) fn parse_rows_with_capacity(
    path: &Path,
    text: &str,
    first_line: Option<usize>,
    capacity: usize,
) -> Result<Vec<Bar>> {
    let mut bars: Vec<Bar> = Vec::with_capacity(capacity);
    parse_rows_into(path, text, first_line, &mut bars, &mut DateCache::default())?;
    Ok(bars)
}

/// [`parse_rows`] appending to `bars`, which must stay in order after their last.
pub(super) fn parse_rows_into(
    path: &Path,
    text: &str,
    first_line: Option<usize>,
    bars: &mut impl Rows,
    dates: &mut DateCache,
) -> Result<()> {
    // `str::lines` by hand (memchr finds the breaks; `\r\n` ends a line as there).
    let mut rest = text;
    let mut i = 0;
    while !rest.is_empty() {
        let line = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(p) => {
                let line = &rest[..p];
                rest = &rest[p + 1..];
                line.strip_suffix('\r').unwrap_or(line)
            }
            None => std::mem::take(&mut rest),
        };
        i += 1;
        if line.is_empty() {
            continue;
        }
        let i = i - 1;
        let corrupt = |message: String| Error::Corrupt {
            path: path.to_path_buf(),
            line: first_line.map(|l| l + i),
            message,
        };
        let bar = parse_row(line, dates).map_err(|m| corrupt(format!("{m}: `{line}`")))?;
        if bars.last_time().is_some_and(|prev| bar.time <= prev) {
            return Err(corrupt(format!(
                "bar at {} is not after the previous one (a duplicate or out of order); {REPAIR}",
                time_cell(bar.time)
            )));
        }
        if !bars.push(bar) {
            return Err(corrupt("more rows than counted".into()));
        }
    }
    Ok(())
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

pub(super) fn parse_row(line: &str, dates: &mut DateCache) -> Result<Bar, String> {
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
/// else goes to `str::parse`. The digits are read eight at a time ([`digits_value`]): a
/// million-row load reads six million of these cells, and a byte at a time they were its
/// largest cost.
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
    let (int, frac) = match digits.iter().position(|&c| c == b'.') {
        Some(i) => (&digits[..i], Some(&digits[i + 1..])),
        None => (digits, None),
    };
    let k = frac.map_or(0, <[u8]>::len);
    let count = int.len() + k;
    // At most 19 digits: the integer they make stays below 10^19 < 2^64 (no overflow).
    if count == 0 || count > 19 || frac.is_some_and(<[u8]>::is_empty) {
        return cell.parse().ok();
    }
    let mantissa = digits_value(int, 0).and_then(|m| digits_value(frac.unwrap_or(&[]), m));
    let Some(mantissa) = mantissa.filter(|&m| m < 1 << 53) else {
        return cell.parse().ok();
    };
    let v = mantissa as f64 / POW10[k];
    Some(if negative { -v } else { v })
}

/// `acc` followed by the decimal digits `d` as one integer (the caller keeps the total under
/// 20 digits), or `None` if a byte of `d` is not a digit: eight bytes at a time as one
/// little-endian word (checked and combined with a few multiplications, as in the
/// `fast_float` parsers), the rest one by one.
fn digits_value(mut d: &[u8], mut acc: u64) -> Option<u64> {
    while let Some((eight, rest)) = d.split_first_chunk::<8>() {
        let w = u64::from_le_bytes(*eight);
        // Each byte 0x30..=0x39: high nibble 3, and adding 6 does not carry into it.
        let high = w & 0xF0F0_F0F0_F0F0_F0F0;
        let carried = w.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0;
        if high | (carried >> 4) != 0x3333_3333_3333_3333 {
            return None;
        }
        acc = acc * 100_000_000 + eight_digits(w);
        d = rest;
    }
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        acc = acc * 10 + u64::from(c - b'0');
    }
    Some(acc)
}

/// The value of eight ASCII digits, the first in the lowest byte of `w`: pairs, then
/// fours, then the eight, each step one multiply of packed lanes.
fn eight_digits(w: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let mut v = w - 0x3030_3030_3030_3030;
    v = v * 10 + (v >> 8);
    let sum = (v & MASK)
        .wrapping_mul(MUL1)
        .wrapping_add(((v >> 16) & MASK).wrapping_mul(MUL2));
    u64::from((sum >> 32) as u32)
}

/// The last date seen while parsing: minute bars repeat a date 390 times, so it is checked
/// and converted once.
#[derive(Default)]
pub(super) struct DateCache {
    text: [u8; 10],
    date: Option<NaiveDate>,
}

/// A cache time cell, `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    parse_time_cached(s, &mut DateCache::default())
}

/// [`parse_time`] by hand, reusing the previous row's date: this is the hot path of loading
/// a million rows.
pub(super) fn parse_time_cached(s: &str, dates: &mut DateCache) -> Option<DateTime<Utc>> {
    parse_time_bytes(s.as_bytes(), dates)
}

/// [`parse_time_cached`] on the cell's bytes: the tick checks the times of a cache's last
/// rows without making each cell a `str` first (every byte is checked here anyway).
pub(super) fn parse_time_bytes(b: &[u8], dates: &mut DateCache) -> Option<DateTime<Utc>> {
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
        // As arrays: compared inline, not by a call to memcmp (a tenth of a tick's tail read).
        Some(d) if <[u8; 10]>::try_from(&b[..10]).is_ok_and(|t| t == dates.text) => d,
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

//! Foreign CSV → bars.
//!
//! Cells are separated by `,`, `;` (then `187,15` is a number) or a tab, whichever the header
//! uses most ([`super::sniff`]). Recognised layouts, by header (any case, any column order):
//! - Yahoo Finance: `Date,Open,High,Low,Close,Adj Close,Volume` (its Close is split-adjusted);
//! - yfinance `download()`: three header lines `Price,Close,…` / `Ticker,AAPL,…` / `Date,,…`,
//!   prices already adjusted for splits and dividends (`all`);
//! - yfinance `Ticker.history()`: `Dividends` and `Stock Splits` columns, prices adjusted (`all`);
//! - Stooq: `Date,Open,High,Low,Close,Volume`;
//! - generic: one of `time`, `date`, `datetime`, `timestamp`, `time_utc`, then `open`, `high`,
//!   `low`, `close` and optionally `volume`, `trades`, `vwap`; an empty first name (pandas'
//!   unnamed index, as in `tests/fixtures/GOOG.csv`) is the date.
//!
//! Times: `YYYY-MM-DD` (a daily bar, stamped at midnight New York time as Alpaca stamps daily
//! bars), `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DDTHH:MM[:SS]` (wall-clock time in the given
//! zone; `time_utc` columns are UTC), RFC 3339 with an offset (`T` or a space before the time,
//! as pandas writes), `YYYYMMDD`, or whole epoch seconds or milliseconds. Any bad row fails
//! the whole import, naming its line.

use super::import_file::{self, Outcome};
use super::import_rows;
use super::sniff::{sniff, Shape, TIME_NAMES};
use crate::domain::Bar;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The result of parsing a file.
#[derive(Debug)]
pub struct Imported {
    /// Sorted, unique, and all before [`Self::rest`].
    pub bars: Vec<Bar>,
    /// A big file's second half when the file was in order (else empty), kept apart from
    /// `bars`: copying half a million bars behind the first half's was 36 MB of fresh pages.
    pub rest: Vec<Bar>,
    pub layout: Layout,
}

impl Imported {
    pub fn len(&self) -> usize {
        self.bars.len() + self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every bar, in one vector.
    pub fn into_bars(self) -> Vec<Bar> {
        let mut bars = self.bars;
        bars.extend(self.rest);
        bars
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// An `Adj Close` column: Yahoo's web download, or yfinance with `auto_adjust=False`.
    Yahoo,
    /// yfinance `download()` (three header lines) without `Adj Close`.
    YfinanceDownload,
    /// yfinance `Ticker.history()`: `Dividends` and `Stock Splits` columns.
    YfinanceHistory,
    Stooq,
    Generic,
}

impl Layout {
    /// The adjustment the prices most likely carry. Beside an `Adj Close` column, Close is
    /// split-adjusted only; without one, yfinance has already adjusted every price for splits
    /// and dividends (`auto_adjust=True`, its default for `history()` and, since 0.2.51,
    /// for `download()`), and recording those as raw would mix them with raw bars.
    pub fn default_adjustment(self) -> &'static str {
        match self {
            Layout::Yahoo => "split",
            Layout::YfinanceDownload | Layout::YfinanceHistory => "all",
            Layout::Stooq | Layout::Generic => "raw",
        }
    }
}

/// A problem with the file: 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportError {
    pub line: usize,
    pub message: String,
}

struct Columns {
    time: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
    trades: Option<usize>,
    vwap: Option<usize>,
    time_is_utc: bool,
    /// A `;`-separated file from a spreadsheet whose decimal separator is the comma.
    decimal_comma: bool,
}

/// Parse `text`; naive date-times are wall-clock times in `zone`.
pub fn parse(text: &str, zone: Tz) -> Result<Imported, ImportError> {
    let shape = sniff(text);
    let (cols, layout) = columns(&shape)?;
    let text = text.trim_start_matches('\u{feff}');
    let rows = import_rows::rows(
        text,
        shape.delimiter,
        shape.header_lines,
        shape.names.len(),
        |cells| record(cells, &cols, zone),
    )?;
    finish(rows, layout)
}

/// [`parse`] of the file at `path`, read a megabyte at a time when it is big
/// ([`import_file`]): the same bars and errors, without the whole text in memory. The outer
/// error is the file's (it cannot be read, or is not UTF-8), the inner one a row's.
pub fn read(path: &Path, zone: Tz) -> std::io::Result<Result<Imported, ImportError>> {
    let mut file = File::open(path)?;
    if let Some(head) = import_file::head(&mut file)? {
        let shape = sniff(&head);
        let (cols, layout) = match columns(&shape) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        if shape.names.len() <= import_rows::MAX_CELLS {
            let rows =
                import_file::rows(path, &head, shape.delimiter, shape.header_lines, |cells| {
                    record(cells, &cols, zone)
                })?;
            match rows {
                Outcome::Rows(first, second) => return Ok(finish_halves(first, second, layout)),
                Outcome::Bad(e) => return Ok(Err(e)),
                Outcome::General => {}
            }
        }
    }
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_string(&mut text)?;
    Ok(parse(&text, zone))
}

/// Where the header's columns are, and the layout they make.
fn columns(shape: &Shape) -> Result<(Columns, Layout), ImportError> {
    if shape.tickers.len() > 1 {
        // Its columns repeat (`Close,Close,…`): reading the first of each would mix tickers.
        return Err(ImportError {
            line: 2,
            message: format!(
                "a yfinance download of {} tickers ({}); download or import one symbol at a time",
                shape.tickers.len(),
                shape.tickers.join(", ")
            ),
        });
    }
    let names = &shape.names;
    let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
    let need = |wanted: &[&str]| {
        find(wanted).ok_or_else(|| ImportError {
            line: 1,
            message: format!(
                "no `{}` column in the header `{}`",
                wanted[0], shape.written
            ),
        })
    };
    let time = need(&TIME_NAMES)?;
    let cols = Columns {
        time,
        open: need(&["open"])?,
        high: need(&["high"])?,
        low: need(&["low"])?,
        close: need(&["close"])?,
        volume: find(&["volume"]),
        trades: find(&["trades"]),
        vwap: find(&["vwap"]),
        time_is_utc: names[time] == "time_utc",
        decimal_comma: shape.delimiter == b';',
    };
    let layout = if find(&["adj close"]).is_some() {
        Layout::Yahoo
    } else if shape.yfinance_download {
        Layout::YfinanceDownload
    } else if find(&["dividends"]).is_some() && find(&["stock splits"]).is_some() {
        Layout::YfinanceHistory
    } else if names == &["date", "open", "high", "low", "close", "volume"] {
        Layout::Stooq
    } else {
        Layout::Generic
    };
    Ok((cols, layout))
}

/// One row's bar, with a day cache per thread (a half of a file keeps its own).
fn record(cells: &[&str], cols: &Columns, zone: Tz) -> Result<Bar, String> {
    thread_local!(static DAYS: std::cell::RefCell<DayCache> = Default::default());
    DAYS.with(|days| parse_record(cells, cols, zone, &mut days.borrow_mut()))
}

/// [`finish`] of a file's two halves, kept apart when the file is in order without repeats
/// (nearly every file): one pass finds that.
fn finish_halves(
    mut first: Vec<(usize, Bar)>,
    second: Vec<(usize, Bar)>,
    layout: Layout,
) -> Result<Imported, ImportError> {
    let increasing = |rows: &[(usize, Bar)]| rows.windows(2).all(|w| w[0].1.time < w[1].1.time);
    let joined = match (first.last(), second.first()) {
        (Some((_, a)), Some((_, b))) => a.time < b.time,
        _ => true,
    };
    if joined && increasing(&first) && increasing(&second) {
        let bars = |rows: Vec<(usize, Bar)>| rows.into_iter().map(|(_, b)| b).collect();
        return Ok(Imported {
            bars: bars(first),
            rest: bars(second),
            layout,
        });
    }
    first.extend(second);
    finish(first, layout)
}

/// The rows' bars sorted and unique, or the line of a second, different bar at a time.
fn finish(mut rows: Vec<(usize, Bar)>, layout: Layout) -> Result<Imported, ImportError> {
    // Files are nearly always in order already: checking costs one pass, sorting more.
    if !rows.is_sorted_by_key(|(_, b)| b.time) {
        rows.sort_by_key(|(_, b)| b.time);
    }
    for pair in rows.windows(2) {
        let ((l1, a), (l2, b)) = (&pair[0], &pair[1]);
        if a.time == b.time && a != b {
            return Err(ImportError {
                line: *l2.max(l1),
                message: format!(
                    "two different bars for {} (lines {} and {})",
                    a.time,
                    l1.min(l2),
                    l1.max(l2)
                ),
            });
        }
    }
    let mut bars: Vec<Bar> = rows.into_iter().map(|(_, b)| b).collect();
    bars.dedup_by_key(|b| b.time);
    Ok(Imported {
        bars,
        rest: Vec::new(),
        layout,
    })
}

fn parse_record(
    cells: &[&str],
    cols: &Columns,
    zone: Tz,
    days: &mut DayCache,
) -> Result<Bar, String> {
    let cell = |i: usize| import_rows::cell(cells, i);
    let zone = if cols.time_is_utc { Tz::UTC } else { zone };
    let c = cell(cols.time);
    let time = match days.time(c, zone) {
        Some(t) => t,
        None => parse_time(c, zone)?,
    };
    let price = |i: usize, name: &str| -> Result<f64, String> {
        let c = cell(i);
        let v: f64 =
            number(c, cols.decimal_comma).ok_or_else(|| format!("{name} `{c}` is not a number"))?;
        if !(v.is_finite() && v > 0.0) {
            return Err(format!("{name} {v} is not a positive price"));
        }
        Ok(v)
    };
    let optional = |i: Option<usize>, name: &str| -> Result<Option<f64>, String> {
        match i.map(cell) {
            None | Some("") => Ok(None),
            Some(c) => number(c, cols.decimal_comma)
                .map(Some)
                .ok_or_else(|| format!("{name} `{c}` is not a number")),
        }
    };
    let (open, high, low, close) = (
        price(cols.open, "open")?,
        price(cols.high, "high")?,
        price(cols.low, "low")?,
        price(cols.close, "close")?,
    );
    if low > open.min(close) || high < open.max(close) || low > high {
        return Err(format!(
            "impossible bar: open {open} high {high} low {low} close {close}"
        ));
    }
    let volume = optional(cols.volume, "volume")?.unwrap_or(0.0);
    if volume < 0.0 {
        return Err(format!("negative volume {volume}"));
    }
    Ok(Bar {
        time,
        open,
        high,
        low,
        close,
        volume,
        trades: optional(cols.trades, "trades")?.map_or(0, |t| t as u32),
        vwap: optional(cols.vwap, "vwap")?.unwrap_or(f64::NAN),
    })
}

/// A number cell; in a `;`-separated file `187,15` is 187.15 (one comma, no point).
fn number(c: &str, decimal_comma: bool) -> Option<f64> {
    crate::store::bar_cache::parse_f64(c).or_else(|| {
        (decimal_comma && c.matches(',').count() == 1 && !c.contains('.'))
            .then(|| c.replace(',', ".").parse().ok())
            .flatten()
    })
}

/// Epoch times from 1e11 on are milliseconds: as seconds they would be after the year 5000,
/// as milliseconds they start in 1973.
const FIRST_EPOCH_MILLISECOND: i64 = 100_000_000_000;

/// See the module docs for the accepted forms.
pub fn parse_time(s: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        // Eight digits are a `YYYYMMDD` date (MetaTrader, older Stooq files), not a second
        // of 1970-1973.
        if s.len() == 8 {
            if let Ok(d) = NaiveDate::parse_from_str(s, "%Y%m%d") {
                return day(d, s);
            }
        }
        let n: i64 = s
            .parse()
            .map_err(|_| format!("`{s}` is not an epoch time"))?;
        let t = if n >= FIRST_EPOCH_MILLISECOND {
            DateTime::from_timestamp_millis(n)
        } else {
            DateTime::from_timestamp(n, 0)
        };
        return t.ok_or_else(|| format!("`{s}` is not an epoch time"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%:z"))
    {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return day(d, s);
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return local(t, zone, s);
        }
    }
    Err(format!(
        "`{s}` is not a date or time (YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS], RFC 3339 or epoch seconds or milliseconds)"
    ))
}

/// The fast path of [`parse_time`] for the forms a million-row file has, `YYYY-MM-DD` and
/// `YYYY-MM-DD[ T]HH:MM[:SS]`, parsed by hand: a day's date and its UTC offset are worked out
/// once, on its first row, and reused while the rows stay on that day. `None` for anything
/// else (or a day whose offset changes, a daylight-saving day): [`parse_time`] then decides,
/// so both paths give the same answers and the same errors.
#[derive(Default)]
struct DayCache {
    text: [u8; 10],
    zone: Option<Tz>,
    /// The day's midnight, as a UTC time, for a day with one UTC offset throughout.
    midnight: Option<DateTime<Utc>>,
}

impl DayCache {
    fn time(&mut self, s: &str, zone: Tz) -> Option<DateTime<Utc>> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| -> Option<i64> {
            b.get(r)?.iter().try_fold(0i64, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
            })
        };
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let seconds = match b.len() {
            10 => None,
            16 | 19 if matches!(b[10], b' ' | b'T') && b[13] == b':' => {
                let (h, m) = (digits(11..13)?, digits(14..16)?);
                let sec = if b.len() == 19 {
                    (b[16] == b':').then_some(())?;
                    digits(17..19)?
                } else {
                    0
                };
                if h > 23 || m > 59 || sec > 59 {
                    return None;
                }
                Some(h * 3600 + m * 60 + sec)
            }
            _ => return None,
        };
        // An array, not a slice: compared in two loads, not a `memcmp` call per row.
        let text: [u8; 10] = b[..10].try_into().ok()?;
        if self.zone != Some(zone) || self.text != text || self.midnight.is_none() {
            self.midnight = None;
            self.zone = Some(zone);
            self.text = text;
            let date = NaiveDate::from_ymd_opt(
                digits(0..4)? as i32,
                digits(5..7)? as u32,
                digits(8..10)? as u32,
            )?;
            if seconds.is_none() {
                // A date alone is a daily bar at New York midnight, whatever the zone.
                return day(date, s).ok();
            }
            let at = |t: NaiveDateTime| zone.from_local_datetime(&t).single();
            let start = at(date.and_hms_opt(0, 0, 0)?)?;
            let end = at(date.and_hms_opt(23, 59, 59)?)?;
            // One offset at both ends of the day: no daylight-saving change within it.
            if start.offset().fix() != end.offset().fix() {
                return None;
            }
            self.midnight = Some(start.with_timezone(&Utc));
        }
        match seconds {
            None => None,
            Some(sec) => Some(self.midnight? + chrono::Duration::seconds(sec)),
        }
    }
}

/// A date is a daily bar: Alpaca stamps those at midnight New York time.
fn day(d: NaiveDate, original: &str) -> Result<DateTime<Utc>, String> {
    local(
        d.and_hms_opt(0, 0, 0).unwrap_or_default(),
        chrono_tz::America::New_York,
        original,
    )
}

fn local(t: NaiveDateTime, zone: Tz, original: &str) -> Result<DateTime<Utc>, String> {
    zone.from_local_datetime(&t)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            format!("`{original}` does not exist in {zone} (skipped by a daylight-saving change)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The hand-parsed fast path answers exactly as the general parser, row after row as a
    /// file reads (the day reused), across New York's spring and fall changes, in zones
    /// east and west, and leaves everything else to the general parser.
    #[test]
    fn the_fast_time_path_agrees_with_the_general_parser() {
        let zones = [
            Tz::UTC,
            NY,
            chrono_tz::Europe::Berlin,
            chrono_tz::Asia::Kolkata,
        ];
        let mut cells: Vec<String> = Vec::new();
        for date in [
            "2024-03-09",
            "2024-03-10",
            "2024-03-11",
            "2024-11-03",
            "2024-12-31",
        ] {
            cells.push(date.to_string());
            for (h, m, s) in [
                (0, 0, 0),
                (1, 59, 59),
                (2, 30, 0),
                (3, 0, 0),
                (9, 30, 0),
                (23, 59, 59),
            ] {
                cells.push(format!("{date} {h:02}:{m:02}:{s:02}"));
                cells.push(format!("{date}T{h:02}:{m:02}"));
            }
        }
        cells.extend(
            [
                "2024-02-30 10:00:00",
                "2024-01-02 24:00:00",
                "2024-01-02 10:60",
                "2024-01-02 10:00:60",
                "2024-01-02 10:00:00Z",
                "2024-1-02",
                "2024-01-02T09:30:00-05:00",
                "20240102",
            ]
            .map(String::from),
        );
        let mut fast_answers = 0;
        for zone in zones {
            let mut days = DayCache::default();
            for c in &cells {
                let general = parse_time(c, zone);
                if let Some(t) = days.time(c, zone) {
                    fast_answers += 1;
                    assert_eq!(Ok(t), general, "{c} in {zone}");
                }
            }
        }
        // Most well-formed cells take the fast path; the spring/fall days in New York do not.
        assert!(fast_answers > 150, "{fast_answers}");
        let mut days = DayCache::default();
        assert_eq!(days.time("2024-03-10 09:30:00", NY), None);
        assert_eq!(
            days.time("2024-03-11 09:30:00", NY),
            Some(Utc.with_ymd_and_hms(2024, 3, 11, 13, 30, 0).unwrap())
        );
    }

    const NY: Tz = chrono_tz::America::New_York;

    #[test]
    fn yahoo_layout_daily_bars_at_new_york_midnight() {
        let text = "Date,Open,High,Low,Close,Adj Close,Volume\n\
                    2024-07-01,212.09,217.51,211.92,216.75,215.83,60402900\n\
                    2024-01-02,187.15,188.44,183.89,185.64,184.29,82488700\n";
        let got = parse(text, NY).unwrap();
        assert_eq!(got.layout, Layout::Yahoo);
        assert_eq!(got.layout.default_adjustment(), "split");
        // Winter: 05:00Z; summer: 04:00Z. Sorted although the file was not.
        assert_eq!(
            got.bars[0].time,
            Utc.with_ymd_and_hms(2024, 1, 2, 5, 0, 0).unwrap()
        );
        assert_eq!(
            got.bars[1].time,
            Utc.with_ymd_and_hms(2024, 7, 1, 4, 0, 0).unwrap()
        );
        assert_eq!(got.bars[1].close, 216.75, "Close, not Adj Close");
        assert_eq!(got.bars[0].volume, 82_488_700.0);
    }

    #[test]
    fn stooq_and_generic_layouts_in_any_case() {
        let stooq = "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,100\n";
        assert_eq!(parse(stooq, NY).unwrap().layout, Layout::Stooq);
        let generic = "TIMESTAMP,close,LOW,high,Open\n2024-01-02T14:30:00Z,1.5,0.5,2,1\n";
        let got = parse(generic, NY).unwrap();
        assert_eq!(got.layout, Layout::Generic);
        assert_eq!(
            (got.bars[0].open, got.bars[0].high, got.bars[0].close),
            (1.0, 2.0, 1.5)
        );
        assert_eq!(got.bars[0].volume, 0.0);
    }

    #[test]
    fn naive_times_are_wall_clock_in_the_zone_and_offsets_are_exact() {
        let t = parse_time("2024-01-02 09:30", NY).unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2024, 1, 2, 14, 30, 0).unwrap());
        let t = parse_time("2024-07-02 09:30:00", Tz::UTC).unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2024, 7, 2, 9, 30, 0).unwrap());
        let t = parse_time("2024-07-02T09:30:00-04:00", Tz::UTC).unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2024, 7, 2, 13, 30, 0).unwrap());
        assert!(parse_time("2024-03-10 02:30", NY)
            .unwrap_err()
            .contains("does not exist"));
        assert!(parse_time("02/01/2024", NY).is_err());
    }

    #[test]
    fn a_bad_row_names_its_line_and_nothing_is_returned() {
        let text = "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,100\n2024-01-03,null,null,null,null,null\n";
        let e = parse(text, NY).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("open `null` is not a number"), "{e:?}");
        let e = parse("date,open,high,low,close\n2024-01-02,1,2,1.2,1.5\n", NY).unwrap_err();
        assert!(e.message.contains("impossible bar"), "{e:?}");
        let e = parse("when,open,high,low,close\n", NY).unwrap_err();
        assert_eq!(e.line, 1);
        let text = "date,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n2024-01-02,1,2,0.5,1.6\n";
        assert!(parse(text, NY)
            .unwrap_err()
            .message
            .contains("two different bars"));
    }

    #[test]
    fn epoch_seconds_and_milliseconds_are_utc_instants() {
        // 2024-01-02 00:00Z is 1_704_153_600; 14:30Z is 52_200 s later.
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 14, 30, 0).unwrap();
        assert_eq!(parse_time("1704205800", NY).unwrap(), t);
        assert_eq!(parse_time("1704205800000", NY).unwrap(), t);
        assert_eq!(
            parse_time("99999999999", NY).unwrap(),
            Utc.with_ymd_and_hms(5138, 11, 16, 9, 46, 39).unwrap(),
            "below 1e11 is seconds"
        );
        assert_eq!(
            parse_time("20240102", NY).unwrap(),
            Utc.with_ymd_and_hms(2024, 1, 2, 5, 0, 0).unwrap(),
            "YYYYMMDD is a day, not a second of 1970"
        );
    }

    #[test]
    fn pandas_offsets_after_a_space_are_exact() {
        // yfinance history(): New York midnight with its offset, which is Alpaca's daily stamp.
        let t = parse_time("2024-01-02 00:00:00-05:00", Tz::UTC).unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2024, 1, 2, 5, 0, 0).unwrap());
        let t = parse_time("2024-07-02 09:30:00-04:00", Tz::UTC).unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2024, 7, 2, 13, 30, 0).unwrap());
    }

    #[test]
    fn semicolons_with_decimal_commas() {
        let text = "Date;Open;High;Low;Close;Volume\n2024-01-02;187,15;188,44;183,89;185,64;1200\n";
        let got = parse(text, NY).unwrap();
        assert_eq!(got.layout, Layout::Stooq);
        let b = got.bars[0];
        assert_eq!(
            (b.open, b.high, b.low, b.close, b.volume),
            (187.15, 188.44, 183.89, 185.64, 1200.0)
        );
        // A comma is never a decimal separator in a comma-separated file.
        assert!(parse(
            "date,open,high,low,close\n2024-01-02,\"1,5\",2,0.5,1.5\n",
            NY
        )
        .is_err());
    }

    #[test]
    fn yfinance_layouts_carry_all_adjustments() {
        let download =
            "Price,Close,High,Low,Open,Volume\nTicker,AAPL,AAPL,AAPL,AAPL,AAPL\nDate,,,,,\n\
                        2024-01-02,184.08,187.12,182.55,185.79,82488700\n";
        let got = parse(download, NY).unwrap();
        assert_eq!(got.layout, Layout::YfinanceDownload);
        assert_eq!(got.layout.default_adjustment(), "all");
        let b = got.bars[0];
        assert_eq!(
            (b.open, b.high, b.low, b.close),
            (185.79, 187.12, 182.55, 184.08),
            "columns by name"
        );
        assert_eq!(b.time, Utc.with_ymd_and_hms(2024, 1, 2, 5, 0, 0).unwrap());
        let two = "Price,Close,Close,High,High,Low,Low,Open,Open\nTicker,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT\n\
                   Date,,,,,,,,\n2024-01-02,1,2,1,2,1,2,1,2\n";
        let e = parse(two, NY).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("2 tickers (AAPL, MSFT)"), "{e:?}");
        let unadjusted =
            "Price,Adj Close,Close,High,Low,Open,Volume\nTicker,A,A,A,A,A,A\nDate,,,,,,\n\
                          2024-01-02,180,184.08,187.12,182.55,185.79,1\n";
        assert_eq!(
            parse(unadjusted, NY).unwrap().layout.default_adjustment(),
            "split"
        );
        let history = "Date,Open,High,Low,Close,Volume,Dividends,Stock Splits\n\
                       2024-01-02 00:00:00-05:00,185.79,187.12,182.55,184.08,82488700,0.0,0.0\n";
        let got = parse(history, Tz::UTC).unwrap();
        assert_eq!(got.layout, Layout::YfinanceHistory);
        assert_eq!(got.layout.default_adjustment(), "all");
        assert_eq!(
            got.bars[0].time,
            Utc.with_ymd_and_hms(2024, 1, 2, 5, 0, 0).unwrap()
        );
    }
}

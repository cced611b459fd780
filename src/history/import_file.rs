//! A big foreign CSV read from its file as two halves on two threads, a megabyte at a time
//! ([`crate::store::files::each_line_chunk`]), each read's whole lines split and parsed
//! ([`import_rows::by_hand`]) before the next read: never the whole file in one string. An
//! import of a million minute bars held the 88 MB text, its rows and the 88 MB output at
//! once (256 MB, every page a fresh fault).
//!
//! Each chunk is checked as the whole text is in [`import_rows::rows`] (valid UTF-8, no quote,
//! no lone `\r`: chunks end at a `\n`, so a `\r\n` is never cut); a chunk that fails the last
//! two sends the whole file to the general reader, which the caller then runs, so that quoted
//! files read as before. Cells, line numbers and errors are those of [`import_rows::rows`] on
//! the whole text (a test compares them).

use super::import::ImportError;
use super::import_rows::{by_hand, hand_splittable, skip_header, PARALLEL_BYTES};
use crate::store::files;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;

/// How far the header (and the first rows [`super::sniff`] looks at) may reach, and how far
/// past the middle a line break must be.
const PROBE: usize = 64 << 10;

/// What reading the rows came to.
pub(super) enum Outcome<T> {
    /// The two halves' rows, in file order: kept apart, so that the second half's are never
    /// copied behind the first's (36 MB of fresh pages for a million rows).
    Rows(Vec<(usize, T)>, Vec<(usize, T)>),
    /// A row the callback refused (or an I/O problem), at its line.
    Bad(ImportError),
    /// Quotes or a lone `\r`: the general reader must read the whole text.
    General,
}

/// The file's first lines, whole, for [`super::sniff::sniff`]: at least four non-blank
/// ones (the header, up to three lines, and a row), so that sniffing them finds what
/// sniffing the whole text would. `None` for a file under [`PARALLEL_BYTES`] or a head that is
/// not such text: read it whole.
pub(super) fn head(file: &mut File) -> io::Result<Option<String>> {
    if file.metadata()?.len() < PARALLEL_BYTES as u64 {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0))?;
    let mut buf = Vec::with_capacity(PROBE);
    Read::by_ref(file)
        .take(PROBE as u64)
        .read_to_end(&mut buf)?;
    let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
        return Ok(None);
    };
    buf.truncate(end + 1);
    let Ok(text) = String::from_utf8(buf) else {
        return Ok(None);
    };
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    Ok((lines >= 4).then_some(text))
}

/// The data rows of the file whose first bytes are `head` ([`head`]), after `header_lines`
/// records, as [`super::import_rows::rows`] gives them for the whole text.
pub(super) fn rows<T: Send>(
    path: &Path,
    head: &str,
    delimiter: u8,
    header_lines: usize,
    row: impl Fn(&[&str]) -> Result<T, String> + Sync,
) -> io::Result<Outcome<T>> {
    let len = std::fs::metadata(path)?.len();
    let bom = if head.starts_with('\u{feff}') { 3 } else { 0 };
    let (body, first_line) = skip_header(&head[bom..], header_lines);
    if body.is_empty() {
        // The header fills the probe: an unusual file, the general path reads it.
        return Ok(Outcome::General);
    }
    let start = (head.len() - body.len()) as u64;
    let mut file = File::open(path)?;
    let mid = start + (len - start) / 2;
    file.seek(SeekFrom::Start(mid))?;
    let mut probe = Vec::with_capacity(PROBE);
    Read::by_ref(&mut file)
        .take(PROBE as u64)
        .read_to_end(&mut probe)?;
    let Some(at) = probe.iter().position(|&b| b == b'\n') else {
        return Ok(Outcome::General);
    };
    let cut = mid + at as u64 + 1;
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| {
            let capacity = (len - cut) as usize / 48;
            half(
                &mut File::open(path)?,
                (cut, len),
                1,
                delimiter,
                &row,
                capacity,
            )
        });
        let capacity = (cut - start) as usize / 48;
        let first = half(
            &mut file,
            (start, cut),
            first_line,
            delimiter,
            &row,
            capacity,
        );
        let second = second
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (first, second)
    });
    // Any half needing the general reader sends the whole file there, as the whole text's
    // check would; otherwise the first error in file order.
    Ok(match (first?, second?) {
        (Half::General, _) | (_, Half::General) => Outcome::General,
        (Half::Bad(e), _) => Outcome::Bad(e),
        (Half::Rows(_, next_line), Half::Bad(e)) => Outcome::Bad(ImportError {
            line: e.line + next_line - 1,
            ..e
        }),
        (Half::Rows(rows, next_line), Half::Rows(mut second, _)) => {
            // The second half starts on the line after the first's last.
            second
                .iter_mut()
                .for_each(|(line, _)| *line += next_line - 1);
            Outcome::Rows(rows, second)
        }
    })
}

enum Half<T> {
    /// The rows, and the line after the last.
    Rows(Vec<(usize, T)>, usize),
    Bad(ImportError),
    General,
}

/// The rows in bytes `from..to` of `file` (which start on line `first_line`), read a
/// megabyte at a time into one buffer, whole lines parsed after each read
/// ([`files::each_line_chunk`]).
fn half<T>(
    file: &mut File,
    range: (u64, u64),
    first_line: usize,
    delimiter: u8,
    row: &impl Fn(&[&str]) -> Result<T, String>,
    capacity: usize,
) -> io::Result<Half<T>> {
    let mut rows = Vec::with_capacity(capacity);
    let mut line = first_line;
    let flow = files::each_line_chunk(file, range, |text| {
        if !hand_splittable(text) {
            return ControlFlow::Break(Half::General);
        }
        match by_hand(text, line, delimiter, row, &mut rows) {
            // A chunk ending with `\n` has an empty last line, which the next chunk starts.
            Ok(lines) => {
                line += lines - 1;
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(Half::Bad(e)),
        }
    })?;
    Ok(match flow {
        ControlFlow::Break(half) => half,
        ControlFlow::Continue(()) => Half::Rows(rows, line),
    })
}

#[cfg(test)]
mod tests {
    use super::super::import::{parse, read, Imported};
    use super::*;
    use chrono_tz::Tz;

    /// A file of `rows` minute bars (about 60 bytes a row) after `header`, lines ended by
    /// `end`, a blank line every 1000 rows; `bad` rows (by index) are unreadable.
    fn big(header: &str, rows: usize, end: &str, bad: &[usize]) -> String {
        let mut text = String::from(header);
        for i in 0..rows {
            let (day, minute) = (i / 390, i % 390);
            let date = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap()
                + chrono::Duration::days(day as i64);
            let (h, m) = (9 + (30 + minute) / 60, (30 + minute) % 60);
            let price = 100.0 + (i % 997) as f64 / 100.0;
            let open = if bad.contains(&i) {
                "null".to_string()
            } else {
                price.to_string()
            };
            text.push_str(&format!(
                "{date} {h:02}:{m:02}:00,{open},{},{},{price},{}{end}",
                price + 0.5,
                price - 0.5,
                1000 + i % 13
            ));
            if i % 1000 == 999 {
                text.push_str(end);
            }
        }
        text
    }

    const NY: Tz = chrono_tz::America::New_York;

    fn read_text(text: &[u8]) -> std::io::Result<Result<Imported, ImportError>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        std::fs::write(&path, text).unwrap();
        read(&path, NY)
    }

    /// Which way [`rows`] reads the file: `Some(rows)` in chunks, `None` the general reader.
    fn chunked_rows(text: &str, header_lines: usize) -> Option<usize> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        std::fs::write(&path, text).unwrap();
        let head = head(&mut File::open(&path).unwrap()).unwrap().unwrap();
        match rows(&path, &head, b',', header_lines, |_| Ok(())).unwrap() {
            Outcome::Rows(a, b) => Some(a.len() + b.len()),
            Outcome::Bad(e) => panic!("{e:?}"),
            Outcome::General => None,
        }
    }

    /// The line (1-based) that holds `needle`, found in the text itself.
    fn line_of(text: &str, needle: &str) -> usize {
        text.split('\n').position(|l| l.contains(needle)).unwrap() + 1
    }

    /// Read from the file a megabyte at a time on two threads, a big file gives what the
    /// whole text gives: with `\n` or `\r\n`, a byte-order mark and blank lines, yfinance's
    /// three header lines, quotes (the general reader) or a lone `\r` at the end, and the
    /// same error at the row's own line when a row is bad in either half.
    #[test]
    fn a_big_file_read_in_chunks_is_the_whole_text() {
        let plain = "Date,Open,High,Low,Close,Volume\n";
        let rows = 90_000;
        let mut texts = vec![
            big(plain, rows, "\n", &[]),
            big("Date,Open,High,Low,Close,Volume\r\n", rows, "\r\n", &[]),
            format!("\u{feff}\n\n{}", big(plain, rows, "\n", &[])),
            big(
                "Price,Close,High,Low,Open,Volume\nTicker,A,A,A,A,A\nDate,,,,,\n",
                rows,
                "\n",
                &[],
            ),
            big(plain, rows, "\n", &[rows - 7]),
            big(plain, rows, "\r\n", &[rows / 2 + 3, rows - 1]),
            big(plain, rows, "\n", &[1_234, rows - 1]),
        ];
        // A row earlier than all others at the end: the halves are sorted together.
        let mut early = big(plain, rows, "\n", &[]);
        early.push_str("2019-12-31 10:00:00,1,2,0.5,1.5,7\n");
        texts.push(early);
        let mut quoted = big(plain, rows, "\n", &[]);
        quoted.push_str("\"2030-01-02 10:00:00\",1,2,0.5,1.5,7\n");
        texts.push(quoted);
        let mut lone_cr = big(plain, rows, "\n", &[]);
        lone_cr.push('\r');
        texts.push(lone_cr);
        for text in &texts {
            assert!(
                text.len() >= PARALLEL_BYTES,
                "big enough to be read in halves"
            );
            let what = &text[text.len() - 50..];
            let chunked = read_text(text.as_bytes()).unwrap();
            let whole = parse(text, NY);
            match (&chunked, &whole) {
                (Ok(a), Ok(b)) => {
                    assert!(b.rest.is_empty(), "the whole text's bars are in one vector");
                    assert_eq!(a.len(), b.bars.len(), "{what:?}");
                    // By bits: a missing VWAP is NaN, which is not equal to itself.
                    let bits = |b: &crate::domain::Bar| {
                        let v = [b.open, b.high, b.low, b.close, b.volume, b.vwap];
                        (b.time, b.trades, v.map(f64::to_bits))
                    };
                    let differ = (a.bars.iter().chain(&a.rest))
                        .zip(&b.bars)
                        .position(|(x, y)| bits(x) != bits(y));
                    assert_eq!(differ, None, "{what:?}");
                    assert_eq!(a.layout, b.layout, "{what:?}");
                }
                (a, b) => assert_eq!(a.as_ref().err(), b.as_ref().err(), "{what:?}"),
            }
            if text.contains("null") {
                // The first bad row in the file, at its own line, whichever half it is in.
                let e = chunked.unwrap_err();
                assert_eq!(e.line, line_of(text, "null"), "{what:?}");
                assert!(e.message.contains("open `null` is not a number"), "{e:?}");
            } else {
                let data_rows = text
                    .lines()
                    .filter(|l| l.starts_with(|c: char| c.is_ascii_digit() || c == '"'))
                    .count();
                let got = chunked.unwrap();
                assert_eq!(got.len(), data_rows, "{what:?}");
                // Halves kept apart when read in chunks and in order, the first before the
                // second; the general reader's bars are in one vector.
                let general = text.contains('"') || text.ends_with('\r');
                let apart = !general && !text.contains("2019-12-31");
                assert_eq!(!got.rest.is_empty(), apart, "{what:?}");
            }
        }
        // The chunked reader read them all but the quoted one and the lone `\r`.
        for (i, text) in texts.iter().enumerate() {
            let header_lines = if i == 3 { 3 } else { 1 };
            let expected = match i {
                0..7 => Some(rows),
                7 => Some(rows + 1),
                _ => None,
            };
            assert_eq!(chunked_rows(text, header_lines), expected, "text {i}");
        }
        // Only the bad row in the second half: its line counts every line of the first.
        let text = &texts[4];
        assert!(line_of(text, "null") > text.lines().count() / 2);
    }

    /// A big file that is not UTF-8 is refused as `read_to_string` refuses it; a file of a
    /// header only is no bars.
    #[test]
    fn a_big_file_not_utf8_is_an_io_error_and_a_header_alone_no_bars() {
        let mut bytes = big("Date,Open,High,Low,Close,Volume\n", 90_000, "\n", &[]).into_bytes();
        let at = bytes.len() - 100;
        bytes[at] = 0xff;
        let e = read_text(&bytes).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        let got = read_text(b"Date,Open,High,Low,Close,Volume\n")
            .unwrap()
            .unwrap();
        assert!(got.bars.is_empty());
        let mut header_and_blanks = b"Date,Open,High,Low,Close,Volume\r\n".to_vec();
        header_and_blanks.extend(std::iter::repeat_n(b'\n', PARALLEL_BYTES));
        let got = read_text(&header_and_blanks).unwrap().unwrap();
        assert!(got.bars.is_empty());
    }
}

//! A big foreign CSV read from its file as two halves on two threads, [`CHUNK`] bytes at a
//! time, each read's whole lines split and parsed ([`import_rows::by_hand`]) before the next
//! read: never the whole file in one string. An import of a million minute bars held the
//! 88 MB text, its rows and the 88 MB output at once (256 MB, every page a fresh fault).
//!
//! Each chunk is checked as the whole text is in [`import_rows::rows`] (valid UTF-8, no quote,
//! no lone `\r`: chunks end at a `\n`, so a `\r\n` is never cut); a chunk that fails the last
//! two sends the whole file to the general reader, which the caller then runs, so that quoted
//! files read as before. Cells, line numbers and errors are those of [`import_rows::rows`] on
//! the whole text (a test compares them).

use super::import::ImportError;
use super::import_rows::{by_hand, hand_splittable, join_halves, skip_header};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Files at least this big are read this way (smaller ones are read whole: one thread).
pub(super) const PARALLEL_BYTES: u64 = 4 << 20;

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;

/// How far the header (and the first rows [`super::sniff`] looks at) may reach, and how far
/// past the middle a line break must be.
const PROBE: usize = 64 << 10;

/// What reading the rows came to.
pub(super) enum Outcome<T> {
    Rows(Vec<(usize, T)>),
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
    if file.metadata()?.len() < PARALLEL_BYTES {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0))?;
    let mut buf = Vec::with_capacity(PROBE);
    Read::by_ref(file).take(PROBE as u64).read_to_end(&mut buf)?;
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
            half(&mut File::open(path)?, (cut, len), 1, delimiter, &row, capacity)
        });
        // Room for the second half's rows too: they are appended without a copy to grow.
        let first = half(
            &mut file,
            (start, cut),
            first_line,
            delimiter,
            &row,
            len as usize / 48,
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
        (Half::Rows(mut rows, next_line), second) => {
            let second = match second {
                Half::Rows(rows, _) => Ok(rows),
                Half::Bad(e) => Err(e),
                Half::General => unreachable!("matched above"),
            };
            match join_halves(&mut rows, next_line, second) {
                Ok(()) => Outcome::Rows(rows),
                Err(e) => Outcome::Bad(e),
            }
        }
    })
}

enum Half<T> {
    /// The rows, and the line after the last.
    Rows(Vec<(usize, T)>, usize),
    Bad(ImportError),
    General,
}

/// The rows in bytes `from..to` of `file` (which start on line `first_line`), read
/// [`CHUNK`] bytes at a time into one buffer, whole lines parsed after each read.
fn half<T>(
    file: &mut File,
    (from, to): (u64, u64),
    first_line: usize,
    delimiter: u8,
    row: &impl Fn(&[&str]) -> Result<T, String>,
    capacity: usize,
) -> io::Result<Half<T>> {
    file.seek(SeekFrom::Start(from))?;
    let mut left = to - from;
    let mut rows = Vec::with_capacity(capacity);
    let mut line = first_line;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + PROBE);
    while left > 0 {
        let got = Read::by_ref(file)
            .take(left.min(CHUNK as u64))
            .read_to_end(&mut buf)?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        left -= got as u64;
        // Whole lines only; the rest waits for the next read (all of it at the end).
        let end = if left == 0 {
            buf.len()
        } else {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => continue,
            }
        };
        let text = std::str::from_utf8(&buf[..end]).map_err(|_| {
            // What `read_to_string` says of the whole file.
            io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )
        })?;
        if !hand_splittable(text) {
            return Ok(Half::General);
        }
        match by_hand(text, line, delimiter, row, &mut rows) {
            // A chunk ending with `\n` has an empty last line, which the next chunk starts.
            Ok(lines) => line += lines - 1,
            Err(e) => return Ok(Half::Bad(e)),
        }
        buf.drain(..end);
    }
    Ok(Half::Rows(rows, line))
}

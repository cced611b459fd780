//! The data rows of a foreign CSV as cells, with their line numbers: by the `csv` crate, or,
//! for a file without quotes or lone carriage returns (every file a tool writes for prices),
//! by splitting lines and cells by hand, in two halves on two threads when the file is big.
//!
//! Both ways give the same cells, line numbers and errors (a test compares them): lines end at
//! `\n` or `\r\n`, an empty line is no record, cells are trimmed as `csv::Trim::All` trims
//! them, a short row's missing cells are empty. The csv crate allocates a trimmed record per
//! row; a million rows of minute bars were a fifth of an import's time in it.

use super::import::ImportError;

/// Cells a hand-split row keeps: a header with more columns takes the csv crate.
pub(super) const MAX_CELLS: usize = 32;

/// Bodies at least this big are split on two threads, and files this big are read a megabyte
/// at a time ([`super::import_file`]; a year of minute bars is 20 MB).
pub(super) const PARALLEL_BYTES: usize = 4 << 20;

/// Calls `row(cells)` for each data row after `header_lines` records, in file order; the
/// cells are trimmed (a hand-split row has [`MAX_CELLS`], empty past its last: read them
/// with [`cell`]). Rows whose cells are all empty are skipped. `row` returns what the row
/// parses to, or an error message that becomes an [`ImportError`] at its line. `row` runs on
/// two threads for a big file.
pub fn rows<T: Send>(
    text: &str,
    delimiter: u8,
    header_lines: usize,
    columns: usize,
    row: impl Fn(&[&str]) -> Result<T, String> + Sync,
) -> Result<Vec<(usize, T)>, ImportError> {
    if !hand_splittable(text) || columns > MAX_CELLS {
        return by_csv(text, delimiter, header_lines, row);
    }
    let (body, first_line) = skip_header(text, header_lines);
    let mid = (body.len() >= PARALLEL_BYTES)
        .then(|| {
            body[body.len() / 2..]
                .find('\n')
                .map(|i| body.len() / 2 + i + 1)
        })
        .flatten();
    let Some(mid) = mid else {
        let mut rows = Vec::with_capacity(body.len() / 48);
        by_hand(body, first_line, delimiter, &row, &mut rows)?;
        return Ok(rows);
    };
    let (a, b) = body.split_at(mid);
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| {
            let mut rows = Vec::with_capacity(b.len() / 48);
            by_hand(b, 1, delimiter, &row, &mut rows).map(|_| rows)
        });
        let mut rows = Vec::with_capacity(body.len() / 48);
        let first = by_hand(a, first_line, delimiter, &row, &mut rows).map(|lines| (rows, lines));
        let second = second
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (first, second)
    });
    // The first half ends with its last line's `\n`: the second starts on the next line.
    let (mut rows, lines_in_a) = first?;
    join_halves(&mut rows, first_line + lines_in_a - 1, second)?;
    Ok(rows)
}

/// Append the second half's rows, numbered from 1, to the first's; the second half starts on
/// line `second_first_line` of the file.
fn join_halves<T>(
    rows: &mut Vec<(usize, T)>,
    second_first_line: usize,
    second: Result<Vec<(usize, T)>, ImportError>,
) -> Result<(), ImportError> {
    let offset = second_first_line - 1;
    let second = second.map_err(|e| ImportError {
        line: e.line + offset,
        ..e
    })?;
    rows.extend(second.into_iter().map(|(line, t)| (line + offset, t)));
    Ok(())
}

/// Cell `i` of a row's cells; empty when the row has fewer.
pub fn cell<'a>(cells: &[&'a str], i: usize) -> &'a str {
    cells.get(i).copied().unwrap_or("")
}

/// No quotes (a quoted cell may hold the delimiter or a line break) and every `\r` before a
/// `\n` (the csv crate also ends a line at a lone `\r`).
pub(super) fn hand_splittable(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr2_iter(b'"', b'\r', b).all(|i| b[i] == b'\r' && b.get(i + 1) == Some(&b'\n'))
}

/// The text after the first `header_lines` records (an empty line is none), and its line
/// number.
pub(super) fn skip_header(text: &str, header_lines: usize) -> (&str, usize) {
    let mut rest = text;
    let mut line = 1;
    let mut seen = 0;
    while seen < header_lines && !rest.is_empty() {
        let (this, next) = rest.split_once('\n').unwrap_or((rest, ""));
        if !this.strip_suffix('\r').unwrap_or(this).is_empty() {
            seen += 1;
        }
        rest = next;
        line += 1;
    }
    (rest, line)
}

/// The rows of `body`, whose first line is `first_line`, appended to `out`; and how many
/// lines `body` has (a body ending with `\n` has an empty last one).
pub(super) fn by_hand<T>(
    body: &str,
    first_line: usize,
    delimiter: u8,
    row: &impl Fn(&[&str]) -> Result<T, String>,
    out: &mut Vec<(usize, T)>,
) -> Result<usize, ImportError> {
    // One array for every row, only the cells the last row set cleared: filling all of it
    // per row was most of the splitting's time.
    let mut cells = [""; MAX_CELLS];
    let mut used = 0;
    let bytes = body.as_bytes();
    let (mut start, mut lines) = (0, 0);
    loop {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |at| start + at);
        let at = first_line + lines;
        lines += 1;
        let line = &body[start..end];
        let line = line.strip_suffix('\r').unwrap_or(line);
        cells[..used].fill("");
        used = split(line, delimiter, &mut cells);
        if cells[..used].iter().any(|c| !c.is_empty()) {
            let t = row(&cells).map_err(|message| ImportError { line: at, message })?;
            out.push((at, t));
        }
        if end == bytes.len() {
            return Ok(lines);
        }
        start = end + 1;
    }
}

/// The first [`MAX_CELLS`] cells of `line`, trimmed, into `cells`; how many there are.
fn split<'a>(line: &'a str, delimiter: u8, cells: &mut [&'a str; MAX_CELLS]) -> usize {
    let b = line.as_bytes();
    let mut from = 0;
    for (n, slot) in cells.iter_mut().enumerate() {
        let to = b[from..]
            .iter()
            .position(|&c| c == delimiter)
            .map_or(b.len(), |at| from + at);
        let c = &line[from..to];
        // Most cells have nothing to trim: two byte tests instead of `trim`'s walk.
        let plain = |x: Option<&u8>| x.is_some_and(|&x| x > b' ' && x < 0x80);
        let cb = c.as_bytes();
        *slot = if plain(cb.first()) && plain(cb.last()) {
            c
        } else {
            c.trim()
        };
        if to == b.len() {
            return n + 1;
        }
        from = to + 1;
    }
    MAX_CELLS
}

/// The general reader: quotes, lone `\r` line ends, any number of columns.
fn by_csv<T>(
    text: &str,
    delimiter: u8,
    header_lines: usize,
    row: impl Fn(&[&str]) -> Result<T, String>,
) -> Result<Vec<(usize, T)>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let read_error = |e: csv::Error| ImportError {
        line: e.position().map_or(1, |p| p.line() as usize),
        message: e.to_string(),
    };
    for _ in 0..header_lines {
        reader.read_record(&mut record).map_err(read_error)?;
    }
    let mut out = Vec::with_capacity(text.len() / 48);
    while reader.read_record(&mut record).map_err(read_error)? {
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cells: Vec<&str> = record.iter().collect();
        let t = row(&cells).map_err(|message| ImportError { line, message })?;
        out.push((line, t));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells_of(cells: &[&str]) -> Result<Vec<String>, String> {
        let v: Vec<String> = (0..4).map(|i| cell(cells, i).to_string()).collect();
        if v[0] == "bad" {
            return Err("bad row".into());
        }
        Ok(v)
    }

    /// The hand splitter gives the csv crate's cells, line numbers and errors, on one thread
    /// and on two, for blank and whitespace lines, CRLF, short rows, a second header line
    /// and a bad row in either half.
    #[test]
    fn hand_split_rows_equal_the_csv_crates() {
        let mut texts = vec![
            "a,b,c\n1,2,3\n\n 4 , 5 ,6 \r\n   \n7,8\n,,\n9,10,11,12,13\n".to_string(),
            "\n\nx;y\r\n\r\nz;w\r\n1;2\n3;4".to_string(),
            "a\tb\n1\t2\nbad\t3\n4\t5\n".to_string(),
        ];
        let mut big = String::from("h1,h2\n\nh3,h4\n");
        for i in 0..300_000 {
            big.push_str(&format!("{i}, {}, 187.154321\n", i % 7));
            if i % 1000 == 0 {
                big.push('\n');
            }
        }
        texts.push(big.clone());
        let mut bad_late = big.clone();
        bad_late.push_str("bad,1\n5,5\n");
        texts.push(bad_late);
        let mut bad_early = String::from("h1,h2\nh3,h4\n1,1\nbad,2\n");
        bad_early.push_str(&big);
        texts.push(bad_early);
        for text in &texts {
            assert!(hand_splittable(text));
            let delimiter = if text.contains(';') {
                b';'
            } else if text.contains('\t') {
                b'\t'
            } else {
                b','
            };
            let header_lines = if text.starts_with("h1") { 2 } else { 1 };
            let hand = rows(text, delimiter, header_lines, 4, cells_of);
            let csv = by_csv(text, delimiter, header_lines, cells_of);
            let what = &text[..text.len().min(40)];
            match (hand, csv) {
                (Ok(hand), Ok(csv)) => {
                    let cells = |r: &[(usize, Vec<String>)]| -> Vec<Vec<String>> {
                        r.iter().map(|(_, c)| c.clone()).collect()
                    };
                    assert_eq!(cells(&hand), cells(&csv), "{what:?}");
                    // Each row's line number is its own line's. (The csv crate numbers a row
                    // that follows an empty line by the empty line: one less.)
                    let lines: Vec<&str> = text.split('\n').collect();
                    for (line, cells) in &hand {
                        let own: Vec<&str> = lines[line - 1]
                            .split(delimiter as char)
                            .map(str::trim)
                            .collect();
                        assert_eq!(own[..2], cells[..2], "{what:?} line {line}");
                    }
                }
                (hand, csv) => assert_eq!(hand.map(|_| ()), csv.map(|_| ()), "{what:?}"),
            }
        }
        assert!(
            texts[3].len() >= PARALLEL_BYTES,
            "the big text takes two threads"
        );
        assert_eq!(
            rows(&texts[4], b',', 2, 4, cells_of).unwrap_err().line,
            texts[4].lines().count() - 1
        );
        // Quotes and lone carriage returns go to the csv crate.
        assert!(!hand_splittable("a,\"b,c\"\n"));
        assert!(!hand_splittable("a,b\r1,2\r"));
    }
}

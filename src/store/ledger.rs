//! Append-only CSV ledgers a person opens in a spreadsheet.
//!
//! One header, fixed column order, one row per line, times as `YYYY-MM-DD HH:MM:SS` (UTC),
//! which spreadsheets read as date-times. A ledger holds one row type (see [`super::rows`]):
//! its header comes from the struct, rows are written from it and read back into it, never
//! as cells by position. Rows are appended whole and fsynced; a torn last line is cut off on
//! open. A file whose header is not ours is refused rather than extended.

pub use super::cells::time_cell;
use super::files::repair_torn_tail;
use super::rows::{self, Row};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use std::fs::OpenOptions;
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// One ledger file, whose rows are `R`s (see [`super::rows`]).
pub struct Ledger<R> {
    path: PathBuf,
    /// The header's column names, from `R` (and the tail's names).
    columns: Vec<String>,
    /// How many of the columns are the struct's own fields (the rest are the tail's).
    fixed: usize,
    row: PhantomData<fn() -> R>,
}

/// A name beside `path` for a ledger moved aside at `now` that no file has yet: two rotations
/// within one second (two configs taking turns on one folder) must keep both files. The
/// caller holds the tick lock, so no other process takes the name between check and rename.
fn aside_path(path: &Path, now: DateTime<Utc>) -> PathBuf {
    let stamp = now.format("%Y%m%dT%H%M%S");
    let mut n = 1u32;
    loop {
        let ext = if n == 1 {
            format!("{stamp}.csv")
        } else {
            format!("{stamp}-{n}.csv")
        };
        let candidate = path.with_extension(ext);
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

/// `text` (a ledger: header, rows) with its tail columns rearranged to `columns`: the first
/// `fixed` cells of each row as they are, then for each tail column the cell the old header
/// named so, or `0` (the bot held no shares of a symbol it did not trade). Cells of ledgers
/// hold no commas or quotes (times, decimals, quantities), so a row splits on commas.
fn retail(text: &str, columns: &[String], fixed: usize) -> String {
    let mut lines = text.lines();
    let old: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .trim_end_matches('\r')
        .split(',')
        .collect();
    let from: Vec<Option<usize>> = columns[fixed..]
        .iter()
        .map(|c| {
            old.iter()
                .skip(fixed)
                .position(|o| o == c)
                .map(|i| i + fixed)
        })
        .collect();
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&columns.join(","));
    out.push('\n');
    for line in lines {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        let mut row: Vec<&str> = cells.iter().take(fixed).copied().collect();
        row.extend(
            from.iter()
                .map(|i| i.and_then(|i| cells.get(i).copied()).unwrap_or("0")),
        );
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

impl<R: Row> Ledger<R> {
    /// Open (creating with its header if absent) `R`'s ledger in `dir`.
    pub fn open(dir: &Path) -> Result<Ledger<R>> {
        Ledger::open_inner(dir, &[], false)
    }

    /// Like [`Ledger::open`], with the tail's columns named (see [`Row::TAIL`]). A file whose
    /// tail names other columns (the configured symbols changed) has its rows carried over to
    /// the new columns, a copy of it kept aside, with a warning: history survives a change of
    /// symbols. A file with other fixed columns is renamed aside and a new one started.
    pub fn open_rotating(dir: &Path, tail: &[&str]) -> Result<Ledger<R>> {
        Ledger::open_inner(dir, tail, true)
    }

    fn open_inner(dir: &Path, tail: &[&str], rotate: bool) -> Result<Ledger<R>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create folder", e))?;
        let path = dir.join(R::FILE);
        repair_torn_tail(&path)?;
        let columns = rows::header::<R>(tail);
        let header = columns.join(",");
        // Only the header line: a year of rows is tens of megabytes, read on every tick.
        let first_line =
            super::files::head_line(&path, 0)?.map(|l| l.trim_end_matches('\r').to_string());
        let ledger = Ledger {
            path,
            columns,
            fixed: rows::header::<R>(&[]).len(),
            row: PhantomData,
        };
        match first_line.as_deref() {
            None | Some("") => ledger.write_bytes(format!("{header}\n").as_bytes())?,
            Some(h) if h == header => {}
            Some(h)
                if rotate
                    && h.split(',')
                        .take(ledger.fixed)
                        .eq(ledger.columns[..ledger.fixed].iter().map(String::as_str))
                    && h.split(',').count() >= ledger.fixed =>
            {
                // Only the tail's names changed (symbols added, removed or reordered): the
                // rows are carried over into the new columns, so equity, drawdown, P&L and
                // the metrics keep their history; the old file stays aside as it was.
                let aside = aside_path(&ledger.path, chrono::Utc::now());
                std::fs::copy(&ledger.path, &aside)
                    .map_err(|e| Error::io(&ledger.path, "copy", e))?;
                let text = std::fs::read_to_string(&ledger.path)
                    .map_err(|e| Error::io(&ledger.path, "read", e))?;
                let moved = retail(&text, &ledger.columns, ledger.fixed);
                super::files::write_atomic(&ledger.path, moved.as_bytes())?;
                log::warn!(
                    "{} had columns `{h}`; its rows now have the columns `{header}` (a new \
                     symbol's shares are 0 before it was added; the old file is {})",
                    ledger.path.display(),
                    aside.display()
                );
            }
            Some(h) if rotate => {
                let aside = aside_path(&ledger.path, chrono::Utc::now());
                std::fs::rename(&ledger.path, &aside)
                    .map_err(|e| Error::io(&ledger.path, "rename", e))?;
                log::warn!(
                    "{} had columns `{h}`; moved to {} and started a new one",
                    ledger.path.display(),
                    aside.display()
                );
                ledger.write_bytes(format!("{header}\n").as_bytes())?;
            }
            Some(h) => {
                return Err(Error::Corrupt {
                    path: ledger.path,
                    line: Some(1),
                    message: format!(
                    "header is `{h}`, expected `{header}`; move the file aside to start a new one"
                ),
                })
            }
        }
        Ok(ledger)
    }

    /// An existing ledger, to read only (`report`, `status`): nothing is created or repaired,
    /// `None` when there is no file. The header must be `R`'s; a tail's columns are taken as
    /// the file names them (the symbols may have changed since; the next tick rotates it).
    pub fn read_only(dir: &Path) -> Result<Option<Ledger<R>>> {
        let path = dir.join(R::FILE);
        let Some(first) = super::files::head_line(&path, 0)? else {
            return Ok(None);
        };
        let own = rows::header::<R>(&[]);
        let columns: Vec<String> = first
            .trim_end_matches('\r')
            .split(',')
            .map(str::to_string)
            .collect();
        let fits = if R::TAIL {
            columns.starts_with(&own)
        } else {
            columns == own
        };
        if !fits {
            return Err(Error::Corrupt {
                path,
                line: Some(1),
                message: format!("header is `{first}`, expected `{}`", own.join(",")),
            });
        }
        Ok(Some(Ledger {
            path,
            columns,
            fixed: own.len(),
            row: PhantomData,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append rows in one write, then fsync. A row whose tail does not fit the header (an
    /// equity row with another number of positions than symbols) is refused, nothing written.
    pub fn append(&self, rows: &[R]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let cannot = |e: &dyn std::fmt::Display| {
            Error::Refused(format!(
                "cannot write a row to {}: {e}",
                self.path.display()
            ))
        };
        let mut out = csv::WriterBuilder::new()
            .has_headers(false)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::with_capacity(160 * rows.len()));
        for row in rows {
            if self.fixed + row.tail_len() != self.columns.len() {
                return Err(cannot(&format!(
                    "{} cells for {} columns",
                    self.fixed + row.tail_len(),
                    self.columns.len()
                )));
            }
            out.serialize(row).map_err(|e| cannot(&e))?;
        }
        let bytes = out.into_inner().map_err(|e| cannot(&e))?;
        self.write_bytes(&bytes)
    }

    fn write_bytes(&self, bytes: &[u8]) -> Result<()> {
        let io = |e| Error::io(&self.path, "append to", e);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        super::files::sync_data(&f).map_err(io)
    }

    /// Every row (the header is checked on open). A row that does not read is an error naming
    /// the file, the line, the column and the row itself: never skipped, since a row the bot
    /// cannot read may be shares it holds.
    pub fn read_all(&self) -> Result<Vec<R>> {
        let mut rows = Vec::new();
        self.read_each(|_, row| {
            rows.push(row);
            Ok(())
        })?;
        Ok(rows)
    }

    /// Each row in turn with its line number, as [`Ledger::read_all`] reads them, without
    /// holding them all (fills.csv is read on every tick). `each` may refuse a row that reads
    /// but makes no sense, with what is wrong: the error names the file and line.
    pub fn read_each(
        &self,
        mut each: impl FnMut(u64, R) -> std::result::Result<(), String>,
    ) -> Result<()> {
        self.scan(0, &mut |line, row| each(line, row).map(|()| true))
            .map(|_| ())
    }

    /// Each row from byte `start` (0, or the start of a line after the header), as
    /// [`Ledger::read_each`] reads them; returns where the complete rows end, the `start` of
    /// the next call. Line numbers in errors are known only from 0.
    pub fn read_each_from(
        &self,
        start: u64,
        mut each: impl FnMut(R) -> std::result::Result<(), String>,
    ) -> Result<u64> {
        self.scan(start, &mut |_, row| each(row).map(|()| true))
    }

    /// The first row, if any.
    pub fn read_first(&self) -> Result<Option<R>> {
        let mut first = None;
        self.scan(0, &mut |_, row| {
            first = Some(row);
            Ok(false)
        })?;
        Ok(first)
    }

    /// The last `n` rows, oldest first, reading only the end of the file (`status` shows the
    /// latest rows of ledgers that grow by a row a minute). Should the end not read on its own
    /// (a quoted cell holding a line break, cut in two), the whole file is read instead, so an
    /// error names its true line.
    pub fn read_last(&self, n: usize) -> Result<Vec<R>> {
        let mut last = std::collections::VecDeque::with_capacity(n + 1);
        let keep = |last: &mut std::collections::VecDeque<R>, row| {
            if n > 0 {
                if last.len() == n {
                    last.pop_front();
                }
                last.push_back(row);
            }
            Ok(true)
        };
        let start = tail_start(&self.path, n).map_err(|e| Error::io(&self.path, "read", e))?;
        let fast = start > 0 && self.scan(start, &mut |_, row| keep(&mut last, row)).is_ok();
        if !fast {
            last.clear();
            self.scan(0, &mut |_, row| keep(&mut last, row))?;
        }
        Ok(last.into())
    }

    /// Rows from byte `start` (0, or the start of a line after the header) to the last complete
    /// line, each given to `each` with its line number (0 when not read from the start) until
    /// it returns `false`. Returns the length of the complete lines.
    fn scan(
        &self,
        start: u64,
        each: &mut dyn FnMut(u64, R) -> std::result::Result<bool, String>,
    ) -> Result<u64> {
        use std::io::{Seek, SeekFrom};
        let io = |e| Error::io(&self.path, "read", e);
        // A torn last line (a power cut mid-append) is not a row: a writer cuts it off on open,
        // a reader stops before it.
        let complete = complete_len(&self.path).map_err(io)?;
        let mut file = std::fs::File::open(&self.path).map_err(io)?;
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(start == 0)
            .from_reader(std::io::BufReader::new(file));
        // Line numbers count from the file's start; from elsewhere they are unknown, and
        // `read_last` drops such an error and reads from the start.
        let line_of = |relative: Option<u64>| relative.filter(|_| start == 0);
        let corrupt = |line: Option<u64>, message: String| Error::Corrupt {
            path: self.path.clone(),
            line: line.map(|l| l as usize),
            message,
        };
        let mut record = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => return Ok(complete),
                Ok(true)
                    if record
                        .position()
                        .is_some_and(|p| start + p.byte() >= complete) =>
                {
                    return Ok(complete)
                }
                Ok(true) => {}
                Err(e) if e.position().is_some_and(|p| start + p.byte() >= complete) => {
                    return Ok(complete)
                }
                Err(e) => {
                    let line = line_of(e.position().map(|p| p.line()));
                    return Err(corrupt(line, e.to_string()));
                }
            }
            let relative = record.position().map(|p| p.line());
            let row = record
                .deserialize::<R>(None)
                .map_err(|e| corrupt(line_of(relative), self.cell_error(&record, &e)))?;
            if !each(line_of(relative).unwrap_or(0), row)
                .map_err(|why| corrupt(line_of(relative), why))?
            {
                return Ok(complete);
            }
        }
    }

    /// Which column of `record` did not read, and why.
    fn cell_error(&self, record: &csv::StringRecord, e: &csv::Error) -> String {
        let why = match e.kind() {
            csv::ErrorKind::Deserialize { err, .. } => err.kind().to_string(),
            other => format!("{other:?}"),
        };
        let column = column_of::<R>(record, e)
            .and_then(|i| self.columns.get(i))
            .map_or_else(|| "?".to_string(), |c| format!("`{c}`"));
        let cells: Vec<&str> = record.iter().collect();
        format!(
            "column {column}: {why}; the row is `{}`: fix or remove it",
            cells.join(",")
        )
    }
}

/// The index of the cell whose reading failed with `e`. The csv crate names it for its own
/// errors only; for a cell format's error (see [`super::cells`]) it is the shortest prefix of
/// the row that fails the same way: shorter prefixes end before the cell and fail otherwise.
/// An error path only, so the repeated reads cost nothing that matters.
fn column_of<R: Row>(record: &csv::StringRecord, e: &csv::Error) -> Option<usize> {
    let csv::ErrorKind::Deserialize { err, .. } = e.kind() else {
        return None;
    };
    if let Some(i) = err.field() {
        return Some(i as usize);
    }
    let message = err.kind().to_string();
    (1..=record.len()).find_map(|n| {
        let prefix: csv::StringRecord = record.iter().take(n).collect();
        match prefix.deserialize::<R>(None) {
            Err(e) => match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } if err.kind().to_string() == message => {
                    Some(n - 1)
                }
                _ => None,
            },
            Ok(_) => None,
        }
    })
}

/// The length of `path` up to and including its last newline: what is left after is a torn
/// line.
fn complete_len(path: &Path) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let mut end = f.metadata()?.len();
    let mut chunk = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut chunk[..n])?;
        if let Some(i) = chunk[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Where the last `n` complete lines of `path` begin; 0 when the file has no more than `n`
/// lines after its header (then the whole file is read, header and all).
fn tail_start(path: &Path, n: usize) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let complete = complete_len(path)?;
    if complete == 0 {
        return Ok(0);
    }
    let mut f = std::fs::File::open(path)?;
    // The last line's own newline ends it; the n-th newline before that starts the tail.
    let mut end = complete - 1;
    let mut seen = 0;
    let mut chunk = [0u8; 8192];
    while end > 0 {
        let from = end.saturating_sub(chunk.len() as u64);
        let len = (end - from) as usize;
        f.seek(SeekFrom::Start(from))?;
        f.read_exact(&mut chunk[..len])?;
        for i in (0..len).rev() {
            if chunk[i] == b'\n' {
                seen += 1;
                if seen == n {
                    let at = from + i as u64 + 1;
                    // At or before the header's end: the tail is every row.
                    return Ok(if at <= first_line_len(path)? { 0 } else { at });
                }
            }
        }
        end = from;
    }
    Ok(0)
}

/// The length of the first line, its newline included.
fn first_line_len(path: &Path) -> std::io::Result<u64> {
    use std::io::BufRead;
    let mut line = Vec::new();
    std::io::BufReader::new(std::fs::File::open(path)?).read_until(b'\n', &mut line)?;
    Ok(line.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Qty, Side};
    use crate::store::rows::{EquityRow, OrderRow, OrderRowStatus};
    use chrono::TimeZone;

    fn order(message: &str) -> OrderRow {
        OrderRow {
            time_utc: Utc.with_ymd_and_hms(2026, 11, 24, 15, 30, 2).unwrap(),
            symbol: "AAPL".into(),
            side: Some(Side::Buy),
            qty: Some(Qty::shares(1)),
            price: Some(231.0),
            order_type: "market".into(),
            client_order_id: "pb-AAPL-1Min-20261124T1529-thr-buy".parse().unwrap(),
            order_id: None,
            status: OrderRowStatus::Refused,
            message: message.into(),
        }
    }

    #[test]
    fn header_once_rows_appended_and_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::<OrderRow>::open(dir.path()).unwrap();
        let row = order("insufficient, \"qty\"");
        l.append(std::slice::from_ref(&row)).unwrap();
        let l = Ledger::<OrderRow>::open(dir.path()).unwrap();
        l.append(std::slice::from_ref(&row)).unwrap();
        let text = std::fs::read_to_string(l.path()).unwrap();
        assert_eq!(text.matches("time_utc,symbol").count(), 1);
        assert_eq!(text.lines().count(), 3);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "2026-11-24 15:30:02,AAPL,buy,1,231,market,pb-AAPL-1Min-20261124T1529-thr-buy,,refused,\"insufficient, \"\"qty\"\"\""
        );
        assert_eq!(l.read_all().unwrap(), [row.clone(), row]);
    }

    fn equity(tail: usize) -> EquityRow {
        EquityRow {
            time_utc: Utc.with_ymd_and_hms(2026, 11, 24, 15, 30, 2).unwrap(),
            equity: crate::store::cells::Decimal::parse("100000"),
            cash: None,
            long_market_value: None,
            buying_power: None,
            positions: vec![Qty::ZERO; tail],
        }
    }

    #[test]
    fn a_change_of_symbols_keeps_the_equity_history_in_the_new_columns() {
        let dir = tempfile::tempdir().unwrap();
        let before = "time_utc,equity,cash,long_market_value,buying_power,AAPL,TSLA\n\
                      2026-11-23 15:30:00,100000.00,90000,10000,180000,10,0\n\
                      2026-11-24 15:30:00,100123.45,,,,10,2.5\n";
        std::fs::write(dir.path().join("equity.csv"), before).unwrap();
        // TSLA stays (moved first), AAPL goes, MSFT is new.
        let l = Ledger::<EquityRow>::open_rotating(dir.path(), &["TSLA", "MSFT"]).unwrap();
        let rows = l.read_all().unwrap();
        assert_eq!(rows.len(), 2, "history kept");
        let q = |s: &str| Qty::parse(s).unwrap();
        assert_eq!(rows[0].positions, [q("0"), q("0")]);
        assert_eq!(rows[1].positions, [q("2.5"), q("0")]);
        assert_eq!(
            rows[1].equity,
            crate::store::cells::Decimal::parse("100123.45")
        );
        assert_eq!(rows[0].cash, crate::store::cells::Decimal::parse("90000"));
        l.append(&[equity(2)]).unwrap();
        assert_eq!(l.read_all().unwrap().len(), 3);
        let text = std::fs::read_to_string(l.path()).unwrap();
        assert!(
            text.starts_with(
                "time_utc,equity,cash,long_market_value,buying_power,TSLA,MSFT\n\
                                  2026-11-23 15:30:00,100000.00,90000,10000,180000,0,0\n"
            ),
            "{text}"
        );
        // The file as it was stays beside it.
        let asides: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap() != "equity.csv")
            .collect();
        assert_eq!(asides.len(), 1);
        assert_eq!(std::fs::read_to_string(&asides[0]).unwrap(), before);
    }

    #[test]
    fn ledgers_moved_aside_in_one_second_keep_distinct_names() {
        let dir = tempfile::tempdir().unwrap();
        for sym in ["AAPL", "TSLA", "AAPL", "TSLA"] {
            let l = Ledger::<EquityRow>::open_rotating(dir.path(), &[sym]).unwrap();
            l.append(&[equity(1)]).unwrap();
        }
        let asides: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap() != "equity.csv")
            .collect();
        assert_eq!(asides.len(), 3, "{asides:?}");
        let now = chrono::Utc::now();
        let p = dir.path().join("e.csv");
        std::fs::write(aside_path(&p, now), "").unwrap();
        let second = aside_path(&p, now);
        assert!(second.to_string_lossy().ends_with("-2.csv"), "{second:?}");
    }

    #[test]
    fn an_equity_row_with_another_number_of_positions_than_symbols_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::<EquityRow>::open_rotating(dir.path(), &["AAPL", "TSLA"]).unwrap();
        let e = l.append(&[equity(2), equity(1)]).unwrap_err().to_string();
        assert!(e.contains("6 cells for 7 columns"), "{e}");
        let text = std::fs::read_to_string(l.path()).unwrap();
        assert_eq!(
            text, "time_utc,equity,cash,long_market_value,buying_power,AAPL,TSLA\n",
            "nothing written"
        );
    }

    #[test]
    fn the_first_and_the_last_rows_are_read_from_the_ends() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::<OrderRow>::open(dir.path()).unwrap();
        assert_eq!(l.read_first().unwrap(), None);
        assert!(l.read_last(3).unwrap().is_empty());
        let rows: Vec<OrderRow> = (0..5).map(|i| order(&format!("row {i}"))).collect();
        l.append(&rows).unwrap();
        assert_eq!(l.read_first().unwrap().as_ref(), Some(&rows[0]));
        assert_eq!(l.read_last(2).unwrap(), rows[3..]);
        assert_eq!(
            l.read_last(4).unwrap(),
            rows[1..],
            "the tail starts after row 0"
        );
        assert_eq!(
            l.read_last(5).unwrap(),
            rows,
            "the tail starts after the header"
        );
        assert_eq!(l.read_last(9).unwrap(), rows);
        assert!(l.read_last(0).unwrap().is_empty());
    }

    /// A message with a line break is one quoted cell over two lines: a tail that begins at
    /// that break is not a row, and the whole file is read instead.
    #[test]
    fn a_last_row_over_two_lines_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::<OrderRow>::open(dir.path()).unwrap();
        let rows = [order("first"), order("Alpaca said:\nno")];
        l.append(&rows).unwrap();
        assert_eq!(l.read_last(1).unwrap(), rows[1..]);
        let mut torn = std::fs::read_to_string(l.path()).unwrap();
        torn.push_str("2026-11-24 15:31:00,AAPL,buy");
        std::fs::write(l.path(), torn).unwrap();
        assert_eq!(l.read_last(1).unwrap(), rows[1..], "a torn line is no row");
    }

    #[test]
    fn a_foreign_header_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("orders.csv"), "date,what\n").unwrap();
        let e = Ledger::<OrderRow>::open(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("orders.csv line 1: header is `date,what`"),
            "{e}"
        );
    }
}

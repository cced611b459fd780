//! Append-only CSV ledgers a person opens in a spreadsheet.
//!
//! One header, fixed column order, one row per line, times as `YYYY-MM-DD HH:MM:SS` (UTC),
//! which spreadsheets read as date-times. Rows are appended whole and fsynced; a torn last
//! line is cut off on open. A file whose header is not ours is refused rather than extended.

use super::files::repair_torn_tail;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const DECISIONS: &[&str] = &[
    "time_utc",
    "symbol",
    "strategy",
    "bar_time_utc",
    "price",
    "position",
    "signal",
    "action",
    "qty",
    "client_order_id",
    "reason",
];

pub const ORDERS: &[&str] = &[
    "time_utc",
    "symbol",
    "side",
    "qty",
    "price",
    "type",
    "client_order_id",
    "order_id",
    "status",
    "message",
];

pub const FILLS: &[&str] = &[
    "time_utc",
    "symbol",
    "side",
    "qty",
    "price",
    "order_id",
    "client_order_id",
    "status",
    "activity_id",
    "source",
];

/// The fixed part of `equity.csv`; one position column per configured symbol follows.
pub const EQUITY: &[&str] = &[
    "time_utc",
    "equity",
    "cash",
    "long_market_value",
    "buying_power",
];

pub struct Ledger {
    path: PathBuf,
    columns: Vec<String>,
}

/// Ledger time format.
pub fn time_cell(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
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

impl Ledger {
    /// Open (creating with its header if absent) the ledger `name` in `dir`.
    pub fn open(dir: &Path, name: &str, columns: &[&str]) -> Result<Ledger> {
        Ledger::open_inner(dir, name, columns, false)
    }

    /// Like [`Ledger::open`], but a file with other columns (the configured symbols changed)
    /// is renamed aside with a warning and a new one started, rather than refused.
    pub fn open_rotating(dir: &Path, name: &str, columns: &[&str]) -> Result<Ledger> {
        Ledger::open_inner(dir, name, columns, true)
    }

    fn open_inner(dir: &Path, name: &str, columns: &[&str], rotate: bool) -> Result<Ledger> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create folder", e))?;
        let path = dir.join(name);
        repair_torn_tail(&path)?;
        let header = columns.join(",");
        // Only the header line: a year of rows is tens of megabytes, read on every tick.
        let first_line =
            super::files::head_line(&path, 0)?.map(|l| l.trim_end_matches('\r').to_string());
        let ledger = Ledger {
            path,
            columns: columns.iter().map(|c| c.to_string()).collect(),
        };
        match first_line.as_deref() {
            None | Some("") => ledger.write_bytes(format!("{header}\n").as_bytes())?,
            Some(h) if h == header => {}
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

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append rows (each exactly as many cells as columns) in one write, then fsync.
    pub fn append<R: AsRef<[String]>>(&self, rows: &[R]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        for row in rows {
            let row = row.as_ref();
            debug_assert_eq!(row.len(), self.columns.len(), "{}", self.path.display());
            out.write_record(row)
                .map_err(|e| Error::Refused(format!("cannot format a ledger row: {e}")))?;
        }
        let bytes = out
            .into_inner()
            .map_err(|e| Error::Refused(format!("cannot format a ledger row: {e}")))?;
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

    /// Every row, as string records (header excluded). Used for recovery and reports.
    pub fn read_all(&self) -> Result<Vec<csv::StringRecord>> {
        let mut reader = csv::Reader::from_path(&self.path).map_err(|e| Error::Corrupt {
            path: self.path.clone(),
            line: None,
            message: e.to_string(),
        })?;
        reader
            .records()
            .map(|r| {
                r.map_err(|e| Error::Corrupt {
                    path: self.path.clone(),
                    line: e.position().map(|p| p.line() as usize),
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// Position of a column, for readers.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_once_rows_appended_and_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(dir.path(), "orders.csv", ORDERS).unwrap();
        let row: Vec<String> = ORDERS.iter().map(|c| format!("{c}, \"x\"")).collect();
        l.append(std::slice::from_ref(&row)).unwrap();
        let l = Ledger::open(dir.path(), "orders.csv", ORDERS).unwrap();
        l.append(&[row]).unwrap();
        let text = std::fs::read_to_string(l.path()).unwrap();
        assert_eq!(text.matches("time_utc,symbol").count(), 1);
        assert_eq!(text.lines().count(), 3);
        let rows = l.read_all().unwrap();
        assert_eq!(&rows[1][0], "time_utc, \"x\"");
    }

    #[test]
    fn ledgers_moved_aside_in_one_second_keep_distinct_names() {
        let dir = tempfile::tempdir().unwrap();
        for (i, sym) in ["AAPL", "TSLA", "AAPL", "TSLA"].into_iter().enumerate() {
            let cols = ["time_utc", "equity", sym];
            let l = Ledger::open_rotating(dir.path(), "equity.csv", &cols).unwrap();
            l.append(&[vec![i.to_string(), "1".into(), "0".into()]])
                .unwrap();
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
    fn a_foreign_header_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("orders.csv"), "date,what\n").unwrap();
        let e = Ledger::open(dir.path(), "orders.csv", ORDERS)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("orders.csv line 1: header is `date,what`"),
            "{e}"
        );
    }
}

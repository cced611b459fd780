//! Reading an append-only ledger on from where a summary of it stopped: the one incremental
//! reader behind fills.csv's in-process read and state summary, and the dashboard's digest of
//! equity.csv and fills.csv (`crate::cmd::report`). Generic over the ledger's row type, so no
//! second reader with its own idea of when a file "still matches" exists.

use crate::error::{Error, Result};
use crate::store::ledger::Ledger;
use crate::store::rows::Row;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How far a summary of the ledger has read: the bytes of its complete rows, and a hash of the
/// (up to) 256 bytes before that point. While those bytes are unchanged the rows summed are
/// still the file's; a ledger moved aside, rewritten or edited by hand reads whole again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReadMark {
    pub(crate) len: u64,
    pub(crate) tail_hash: u64,
}

impl ReadMark {
    fn at(path: &Path, len: u64) -> std::io::Result<ReadMark> {
        use std::io::{Read, Seek, SeekFrom};
        let from = len.saturating_sub(256);
        let mut f = std::fs::File::open(path)?;
        f.seek(SeekFrom::Start(from))?;
        let mut bytes = vec![0; (len - from) as usize];
        f.read_exact(&mut bytes)?;
        Ok(ReadMark {
            len,
            tail_hash: fnv1a(&bytes),
        })
    }

    fn still_holds(self, path: &Path) -> bool {
        self.len > 0 && ReadMark::at(path, self.len).ok() == Some(self)
    }
}

/// FNV-1a, 64 bits: a fixed function (unlike std's hasher), so a state file written by one
/// build is read the same by the next.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A summary `S` of the ledger brought up to its end: `kept` (a summary and how far it read)
/// plus the rows appended since while its mark still holds, otherwise a fresh `S` over the whole
/// file (also when the new rows do not read on their own: the whole read names the line).
pub(crate) fn read_on<R: Row, S: Default>(
    ledger: &Ledger<R>,
    kept: Option<(S, ReadMark)>,
    add: impl Fn(&mut S, R) -> std::result::Result<(), String>,
) -> Result<(S, ReadMark)> {
    let path = ledger.path();
    let mark_at = |len| ReadMark::at(path, len).map_err(|e| Error::io(path, "read", e));
    if let Some((mut summary, mark)) = kept.filter(|(_, mark)| mark.still_holds(path)) {
        if let Ok(end) = ledger.read_each_from(mark.len, |row| add(&mut summary, row)) {
            return Ok((summary, mark_at(end)?));
        }
    }
    let mut summary = S::default();
    let end = ledger.read_each_from(0, |row| add(&mut summary, row))?;
    Ok((summary, mark_at(end)?))
}

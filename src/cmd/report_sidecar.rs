//! The tick's digest of the ledgers, kept beside them in `data/dashboard.json` with how far
//! each ledger has been read, so a tick's refresh reads only the rows appended since the last
//! one (issue 15: a whole read of a year's equity.csv and fills.csv every tick cost +70 ms and
//! 14 MB). A copy of what the ledgers say, never a record of its own: missing, unreadable, of
//! another version, or behind a ledger that no longer matches its mark (moved aside, rewritten,
//! truncated), it is rebuilt from the ledger, read whole once. So it is written without a sync.

use crate::error::{Error, Result};
use crate::fills::{read_on, ReadMark};
use crate::report::digest::{Digest, EquityDigest, TradesDigest};
use crate::store::files::replace_quick;
use crate::store::ledger::Ledger;
use crate::store::rows::{EquityRow, FillRow, Row};
use serde::{Deserialize, Serialize};
use std::path::Path;

const FILE: &str = "dashboard.json";
/// Bumped when the digest's meaning changes: a sidecar of another version is rebuilt.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Sidecar {
    version: u32,
    equity_mark: ReadMark,
    fills_mark: ReadMark,
    digest: Digest,
}

/// The digest of `data_dir`'s ledgers as they are now: the sidecar plus the rows appended
/// since, saved back when a ledger grew.
pub fn refresh(data_dir: &Path) -> Result<Digest> {
    let path = data_dir.join(FILE);
    let kept = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Sidecar>(&bytes).ok())
        .filter(|s| s.version == VERSION);
    let marks = kept.as_ref().map(|k| (k.equity_mark, k.fills_mark));
    let (equity_kept, fills_kept) = match kept {
        Some(k) => (
            Some((k.digest.equity, k.equity_mark)),
            Some((k.digest.trades, k.fills_mark)),
        ),
        None => (None, None),
    };
    let ledger_dir = data_dir.join("ledger");
    let (equity, equity_mark) = read::<EquityRow, _>(&ledger_dir, equity_kept, add_equity)?;
    let (trades, fills_mark) = read::<FillRow, _>(&ledger_dir, fills_kept, add_fill)?;
    let side = Sidecar {
        version: VERSION,
        equity_mark,
        fills_mark,
        digest: Digest { equity, trades },
    };
    if marks != Some((equity_mark, fills_mark)) {
        let bytes = serde_json::to_vec(&side)
            .map_err(|e| Error::Refused(format!("cannot write {}: {e}", path.display())))?;
        replace_quick(&path, &bytes)?;
    }
    Ok(side.digest)
}

/// One ledger's part brought up to date (empty when there is no ledger yet).
fn read<R: Row, S: Default>(
    ledger_dir: &Path,
    kept: Option<(S, ReadMark)>,
    add: impl Fn(&mut S, R) -> std::result::Result<(), String>,
) -> Result<(S, ReadMark)> {
    match Ledger::<R>::read_only(ledger_dir)? {
        Some(ledger) => read_on(&ledger, kept, add),
        None => Ok(Default::default()),
    }
}

fn add_equity(d: &mut EquityDigest, row: EquityRow) -> std::result::Result<(), String> {
    if let Some(e) = row.equity {
        d.add(row.time_utc, e.to_f64());
    }
    Ok(())
}

fn add_fill(d: &mut TradesDigest, row: FillRow) -> std::result::Result<(), String> {
    if let Some(f) = super::fill_of(&row) {
        d.add(f);
    }
    Ok(())
}

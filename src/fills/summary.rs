//! The fills ledger's summary kept in the state: what every open-market tick needs, read
//! only from where the last tick stopped.

use super::{note_entry, read_on, Fills, ReadMark, Recorded};
use crate::domain::{ClientOrderId, Qty};
use crate::error::Result;
use crate::store::rows::{FillKind, FillRow};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What every open-market tick needs from `fills.csv` (the bot's shares per symbol, and the
/// orders that ended unfilled, for the daily-loss flatten's retries), with how far into the
/// file it has been summed. A tick is a new process every minute, so the in-process read of
/// [`Fills::recorded`] starts from nothing each time: 30,000 fills cost 62 ms and 28 MB a
/// tick. Kept in the state, the summary makes a tick read only the rows appended since the
/// last one. `reconcile` checks it against a whole read of the ledger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Bytes of complete rows summed.
    pub len: u64,
    /// FNV-1a of the (up to) 256 bytes before `len`: while they are unchanged, the rows summed
    /// are the file's (a ledger moved aside or edited by hand reads whole again).
    pub tail_hash: u64,
    /// As [`Recorded::net_qty`]; symbols in order, so the state file is stable.
    pub net_qty: BTreeMap<String, Qty>,
    /// As [`Recorded::ended_unfilled`].
    pub ended_unfilled: BTreeSet<String>,
    /// As [`Recorded::last_entry`]: the order each protective order derives its id from.
    #[serde(default)]
    pub last_entry: BTreeMap<String, ClientOrderId>,
}

impl Summary {
    /// Whether it says what `recorded` (a whole read) says.
    pub fn agrees_with(&self, recorded: &Recorded) -> bool {
        let net = |m: &mut dyn Iterator<Item = (&String, &Qty)>| -> BTreeMap<String, Qty> {
            m.filter(|(_, q)| !q.is_zero())
                .map(|(s, q)| (s.clone(), *q))
                .collect()
        };
        net(&mut self.net_qty.iter()) == net(&mut recorded.net_qty.iter())
            && self.last_entry.len() == recorded.last_entry.len()
            && self
                .last_entry
                .iter()
                .all(|(s, id)| recorded.last_entry.get(s) == Some(id))
            && self
                .ended_unfilled
                .iter()
                .eq(recorded.ended_unfilled.iter().collect::<BTreeSet<_>>())
    }

    fn add(&mut self, row: FillRow) -> std::result::Result<(), String> {
        let kind = row
            .kind()
            .map_err(|why| format!("{why}; fix that row so the bot knows what it holds"))?;
        match kind {
            FillKind::Ended => {
                self.ended_unfilled.insert(
                    row.client_order_id
                        .as_ref()
                        .map_or_else(String::new, |c| c.to_string()),
                );
            }
            FillKind::Adjustment { .. } => {
                *self.net_qty.entry(row.symbol.clone()).or_default() += row.signed_qty();
            }
            FillKind::Execution { .. } => {
                let before = self.net_qty.get(&row.symbol).copied().unwrap_or_default();
                let after = before + row.signed_qty();
                self.net_qty.insert(row.symbol.clone(), after);
                note_entry(&mut self.last_entry, &row, before, after);
            }
        }
        Ok(())
    }
}

impl Fills {
    /// [`Summary`] of the ledger as it is now: `kept` (from the state) plus the rows appended
    /// since, or a whole read when `kept` is absent or no longer matches the file.
    pub fn summary(&self, kept: Option<&Summary>) -> Result<Summary> {
        let kept = kept.map(|k| {
            let mark = ReadMark {
                len: k.len,
                tail_hash: k.tail_hash,
            };
            (k.clone(), mark)
        });
        let (mut summary, mark) = read_on(&self.ledger, kept, Summary::add)?;
        (summary.len, summary.tail_hash) = (mark.len, mark.tail_hash);
        Ok(summary)
    }
}

//! The fills ledger's summary kept in the state: what every open-market tick needs, read
//! only from where the last tick stopped.

use super::{note_entry, read_on, Fills, ReadMark};
use crate::decimal::Decimal;
use crate::domain::{ClientOrderId, Qty};
use crate::error::Result;
use crate::store::rows::{FillKind, FillRow};
use chrono::{DateTime, Utc};
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
    /// [`VERSION`] of the summary's contents; an older one is summed again from the whole
    /// ledger (a field it lacks would otherwise stay empty for the rows it already summed).
    #[serde(default)]
    pub version: u32,
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
    /// The bot's own average entry price per symbol with a position, from its fills alone:
    /// on a shared account the broker's `avg_entry_price` also averages in the person's
    /// shares, and a stop set from it would not protect the bot's (see [`note_cost`]).
    #[serde(default)]
    pub entry_price: BTreeMap<String, Decimal>,
    /// When [`Summary::entry_price`] was last based, per position the bot holds: the row
    /// that opened it (from flat, or through zero) or the last adjustment (a split recorded,
    /// or shares the person confirmed). A split booked after it leaves that price the one
    /// from before the split (see `Tick::unrecorded_split`).
    #[serde(default)]
    pub based_at: BTreeMap<String, DateTime<Utc>>,
}

/// What [`Summary`] holds today: 1 added [`Summary::entry_price`], 2 [`Summary::based_at`].
pub const VERSION: u32 = 2;

impl Summary {
    /// Whether it says what `recorded` (the in-process reader, a second implementation) says.
    #[cfg(test)]
    pub fn agrees_with(&self, recorded: &super::Recorded) -> bool {
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
                let before = self.net_qty.get(&row.symbol).copied().unwrap_or_default();
                let after = before + row.signed_qty();
                self.net_qty.insert(row.symbol.clone(), after);
                note_cost(&mut self.entry_price, &row, before, after);
                note_based(&mut self.based_at, &row, true, before, after);
            }
            FillKind::Execution { .. } => {
                let before = self.net_qty.get(&row.symbol).copied().unwrap_or_default();
                let after = before + row.signed_qty();
                self.net_qty.insert(row.symbol.clone(), after);
                note_entry(&mut self.last_entry, &row, before, after);
                note_cost(&mut self.entry_price, &row, before, after);
                note_based(&mut self.based_at, &row, false, before, after);
            }
        }
        Ok(())
    }
}

impl Fills {
    /// [`Summary`] of the ledger as it is now: `kept` (from the state) plus the rows appended
    /// since, or a whole read when `kept` is absent or no longer matches the file.
    pub fn summary(&self, kept: Option<&Summary>) -> Result<Summary> {
        let kept = kept.filter(|k| k.version == VERSION).map(|k| {
            let mark = ReadMark {
                len: k.len,
                tail_hash: k.tail_hash,
            };
            (k.clone(), mark)
        });
        let (mut summary, mark) = read_on(&self.ledger, kept, Summary::add)?;
        (summary.len, summary.tail_hash) = (mark.len, mark.tail_hash);
        summary.version = VERSION;
        Ok(summary)
    }
}

/// Keep [`Summary::entry_price`] as Alpaca keeps `avg_entry_price`: an execution that extends
/// the position averages its price in by shares; one that reduces it leaves the average as it
/// was; one that opens it, or goes through flat, starts it at its own price; flat has none.
/// A split (an adjustment) keeps the position's cost, so the price moves inversely to the
/// shares; shares that appear from flat by an adjustment have no known price.
///
/// The average is an f64 kept as its shortest decimal text, which reads back as the same
/// f64: a summary read on from the state and one summed from the whole ledger are equal.
fn note_cost(prices: &mut BTreeMap<String, Decimal>, row: &FillRow, before: Qty, after: Qty) {
    let symbol = &row.symbol;
    let old = prices.get(symbol).map(Decimal::to_f64);
    let (was, now) = (before.abs().to_f64(), after.abs().to_f64());
    let crossed = before.is_zero() || before.is_positive() != after.is_positive();
    let new = match row.price.as_ref().map(Decimal::to_f64) {
        _ if after.is_zero() => None,
        // An execution.
        Some(price) if crossed => Some(price),
        Some(price) if now > was => old.map(|avg| (avg * was + price * (now - was)) / now),
        Some(_) => old,
        // An adjustment: the same cost over the new number of shares.
        None if crossed => None,
        None => old.map(|avg| avg * was / now),
    };
    match new.and_then(Decimal::from_f64) {
        Some(avg) => prices.insert(symbol.clone(), avg),
        None => prices.remove(symbol),
    };
}

/// Keep [`Summary::based_at`]: an adjustment, or an execution that opens the position from
/// flat or takes it through zero, bases it at its own time; flat has none; an execution that
/// extends or reduces the position leaves it.
fn note_based(
    based: &mut BTreeMap<String, DateTime<Utc>>,
    row: &FillRow,
    adjustment: bool,
    before: Qty,
    after: Qty,
) {
    if after.is_zero() {
        based.remove(&row.symbol);
    } else if adjustment || before.is_zero() || before.is_positive() != after.is_positive() {
        based.insert(row.symbol.clone(), row.time_utc);
    }
}

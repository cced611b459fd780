//! `fills.csv`: every broker execution exactly once, plus the final state of each order the
//! bot sent (canceled, expired, rejected with what was left unfilled).
//!
//! Executions come from Alpaca's FILL activities, whose `id` is unique and whose price and
//! quantity are written exactly as Alpaca sent them (decimal strings). The ledger itself is
//! the record of what was written, so a tick killed between writing a row and saving its state
//! never writes that row twice.

use crate::broker::{Fill, Order};
use crate::decimal::Decimal;
use crate::domain::{ClientOrderId, OrderStatus, Qty};
use crate::error::Result;
use crate::store::ledger::Ledger;
use crate::store::rows::{FillKind, FillRow, FillSide, FillStatus};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

mod read_mark;
mod summary;
mod sync;

pub(crate) use read_mark::{read_on, ReadMark};

pub use summary::Summary;
pub use sync::{sync_tracked, Synced};

pub struct Fills {
    ledger: Ledger<FillRow>,
}

/// Shares the bot holds that no fill explains, to be written as an `adjust` row (see
/// [`FillSide::Adjust`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Adjustment {
    pub time: DateTime<Utc>,
    pub symbol: String,
    /// Signed: `10` added, `-5` removed.
    pub qty: Qty,
    /// [`FillStatus::Split`] (from Alpaca's SPLIT activity) or [`FillStatus::Confirmed`] (by the
    /// person, with --adjust).
    pub kind: FillStatus,
    /// Alpaca's activity id for a split; a made-up unique id for a confirmed change.
    pub id: String,
}

/// What `fills.csv` already holds.
#[derive(Debug, Default, Clone)]
pub struct Recorded {
    pub activity_ids: HashSet<String>,
    /// (order_id, final status) of the rows that end an order unfilled.
    pub terminal: HashSet<(String, OrderStatus)>,
    /// Client order ids of the orders those rows are about: orders that ended without
    /// filling completely.
    pub ended_unfilled: HashSet<String>,
    /// Net shares per symbol from fill rows: what the bot believes it holds, exactly (three
    /// fills of 0.1 are 0.3, as the broker says).
    pub net_qty: HashMap<String, Qty>,
    /// (activity id → (qty, price as the broker wrote it)) for comparing with the broker.
    pub by_activity: HashMap<String, (Qty, Option<Decimal>)>,
    /// Shares recorded as filled per order id.
    pub filled_by_order: HashMap<String, Qty>,
    /// Per symbol, the client id of the last execution that opened or extended the bot's
    /// position (gone once it is flat): the entry its protective orders derive their ids from.
    pub last_entry: HashMap<String, ClientOrderId>,
}

impl Fills {
    pub fn open(ledger_dir: &Path) -> Result<Fills> {
        Ok(Fills {
            ledger: Ledger::open(ledger_dir)?,
        })
    }

    /// What the ledger holds. Read whole once per process, then only the rows appended since:
    /// a tick reads it twice, and a replay runs every tick of a year in one process, where a
    /// whole read per tick made the run quadratic in its fills (see [`read_on`]).
    pub fn recorded(&self) -> Result<Arc<Recorded>> {
        let path = self.ledger.path();
        let mut cache = READ_SO_FAR.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = cache
            .take()
            .filter(|c| c.path == path)
            .map(|c| (Arc::unwrap_or_clone(c.recorded), c.mark));
        let (recorded, mark) = read_on(&self.ledger, kept, add_row)?;
        let recorded = Arc::new(recorded);
        *cache = Some(ReadSoFar {
            path: path.to_path_buf(),
            mark,
            recorded: Arc::clone(&recorded),
        });
        Ok(recorded)
    }

    /// Append execution rows; `source` says who found them (`tick`, `reconcile`). (A fill
    /// whose qty or price is not a number never gets here: the broker port refuses it, as a
    /// row the bot cannot read back would stop every later tick.)
    pub fn append_fills(&self, fills: &[(&Fill, &str)], source: &str) -> Result<()> {
        let rows: Vec<FillRow> = fills
            .iter()
            .map(|(a, client_id)| FillRow {
                time_utc: a.time,
                symbol: a.symbol.clone(),
                side: Some(FillSide::Trade(a.side)),
                qty: a.qty,
                price: Some(a.price.clone()),
                order_id: Some(a.order_id.clone()),
                client_order_id: client_id.parse().ok(),
                status: if a.last {
                    FillStatus::Fill
                } else {
                    FillStatus::PartialFill
                },
                activity_id: Some(a.id.clone()),
                source: source.to_string(),
            })
            .collect();
        self.ledger.append(&rows)
    }

    /// Append share changes that are not trades (see [`FillSide::Adjust`]); `source` as above.
    pub fn append_adjustments(&self, adjustments: &[Adjustment], source: &str) -> Result<()> {
        let rows: Vec<FillRow> = adjustments
            .iter()
            .map(|a| FillRow {
                time_utc: a.time,
                symbol: a.symbol.clone(),
                side: Some(FillSide::Adjust),
                qty: a.qty,
                price: None,
                order_id: None,
                client_order_id: None,
                status: a.kind.clone(),
                activity_id: Some(a.id.clone()),
                source: source.to_string(),
            })
            .collect();
        self.ledger.append(&rows)
    }

    /// Append the final state of an order that ended without filling completely.
    pub fn append_terminal(&self, now: DateTime<Utc>, order: &Order, source: &str) -> Result<()> {
        self.ledger.append(&[FillRow {
            time_utc: now,
            symbol: order.symbol.clone(),
            side: order.side.map(FillSide::Trade),
            qty: order.remaining_qty(),
            price: None,
            order_id: Some(order.id.clone()),
            client_order_id: order.client_order_id.parse().ok(),
            status: FillStatus::Order(order.status.clone()),
            activity_id: None,
            source: source.to_string(),
        }])
    }
}

/// fills.csv as far as this process has read it: see [`Fills::recorded`].
struct ReadSoFar {
    path: PathBuf,
    mark: ReadMark,
    recorded: Arc<Recorded>,
}

static READ_SO_FAR: Mutex<Option<ReadSoFar>> = Mutex::new(None);

/// One row into the summary; a row the bot cannot place (an activity without a side) is an
/// error: the bot would not know what it holds.
fn add_row(r: &mut Recorded, row: FillRow) -> std::result::Result<(), String> {
    let kind = row
        .kind()
        .map_err(|why| format!("{why}; fix that row so the bot knows what it holds"))?;
    let text = |cell: &Option<String>| cell.clone().unwrap_or_default();
    match kind {
        FillKind::Ended => {
            r.terminal
                .insert((text(&row.order_id), OrderStatus::from(row.status.as_str())));
            r.ended_unfilled.insert(
                row.client_order_id
                    .as_ref()
                    .map_or_else(String::new, |c| c.to_string()),
            );
        }
        // Shares without a trade (a split): they count in the position, not as a fill.
        FillKind::Adjustment { activity_id } => {
            r.activity_ids.insert(activity_id.to_string());
            *r.net_qty.entry(row.symbol.clone()).or_default() += row.signed_qty();
        }
        FillKind::Execution { activity_id, .. } => {
            r.activity_ids.insert(activity_id.to_string());
            r.by_activity
                .insert(activity_id.to_string(), (row.qty, row.price.clone()));
            *r.filled_by_order.entry(text(&row.order_id)).or_default() += row.qty;
            let before = r.net_qty.get(&row.symbol).copied().unwrap_or_default();
            let after = before + row.signed_qty();
            r.net_qty.insert(row.symbol.clone(), after);
            note_entry(&mut r.last_entry, &row, before, after);
        }
    }
    Ok(())
}

/// Keep [`Recorded::last_entry`]: an execution that moves the position away from flat (or
/// through it) is an entry; a flat position has none.
fn note_entry(last_entry: &mut impl EntryMap, row: &FillRow, before: Qty, after: Qty) {
    if after.is_zero() {
        last_entry.forget(&row.symbol);
    } else if after.abs() > before.abs() || after.is_positive() != before.is_positive() {
        if let Some(id) = &row.client_order_id {
            last_entry.note(&row.symbol, id);
        }
    }
}

/// The maps [`note_entry`] keeps: [`Recorded`]'s and [`Summary`]'s.
trait EntryMap {
    fn forget(&mut self, symbol: &str);
    fn note(&mut self, symbol: &str, id: &ClientOrderId);
}

impl EntryMap for HashMap<String, ClientOrderId> {
    fn forget(&mut self, symbol: &str) {
        self.remove(symbol);
    }
    fn note(&mut self, symbol: &str, id: &ClientOrderId) {
        self.insert(symbol.to_string(), id.clone());
    }
}

impl EntryMap for BTreeMap<String, ClientOrderId> {
    fn forget(&mut self, symbol: &str) {
        self.remove(symbol);
    }
    fn note(&mut self, symbol: &str, id: &ClientOrderId) {
        self.insert(symbol.to_string(), id.clone());
    }
}

#[cfg(test)]
mod tests;

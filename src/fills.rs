//! `fills.csv`: every broker execution exactly once, plus the final state of each order the
//! bot sent (canceled, expired, rejected with what was left unfilled).
//!
//! Executions come from Alpaca's FILL activities, whose `id` is unique and whose price and
//! quantity are written exactly as Alpaca sent them (decimal strings). The ledger itself is
//! the record of what was written, so a tick killed between writing a row and saving its state
//! never writes that row twice.

use crate::broker::{Broker, Fill, Order};
use crate::decimal::Decimal;
use crate::domain::{ClientOrderId, OrderStatus, Qty, Side};
use crate::error::{Error, Result};
use crate::store::cells::parse_side;
use crate::store::ledger::Ledger;
use crate::store::rows::{FillKind, FillRow, FillSide, FillStatus};
use crate::store::state::TrackedOrder;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

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

/// FNV-1a, 64 bits: a fixed function (unlike std's hasher), so a state file written by one
/// build is read the same by the next.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Fills {
    /// [`Summary`] of the ledger as it is now: `kept` (from the state) plus the rows appended
    /// since, or a whole read when `kept` is absent or no longer matches the file.
    pub fn summary(&self, kept: Option<&Summary>) -> Result<Summary> {
        let path = self.ledger.path();
        let hash_at = |end: u64| tail_bytes(path, end).map(|b| fnv1a(&b));
        if let Some(kept) = kept {
            if kept.len > 0 && hash_at(kept.len).ok() == Some(kept.tail_hash) {
                let mut next = kept.clone();
                if let Ok(end) = self.ledger.read_each_from(kept.len, |row| next.add(row)) {
                    next.len = end;
                    next.tail_hash = hash_at(end).map_err(|e| Error::io(path, "read", e))?;
                    return Ok(next);
                }
            }
        }
        let mut whole = Summary::default();
        let end = self.ledger.read_each_from(0, |row| whole.add(row))?;
        whole.len = end;
        whole.tail_hash = hash_at(end).map_err(|e| Error::io(path, "read", e))?;
        Ok(whole)
    }

    pub fn open(ledger_dir: &Path) -> Result<Fills> {
        Ok(Fills {
            ledger: Ledger::open(ledger_dir)?,
        })
    }

    /// What the ledger holds. Read whole once per process, then only the rows appended since:
    /// a tick reads it twice, and a replay runs every tick of a year in one process, where a
    /// whole read per tick made the run quadratic in its fills. The rows already read are
    /// trusted while the bytes just before where the last read ended are unchanged; otherwise
    /// (another file, a rewrite, a row that does not read on its own) the file is read whole.
    pub fn recorded(&self) -> Result<Arc<Recorded>> {
        let path = self.ledger.path();
        let mut read = READ_SO_FAR.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(so_far) = read.as_mut().filter(|r| r.path == path) {
            if tail_bytes(path, so_far.len).ok().as_deref() == Some(&so_far.tail[..]) {
                let recorded = Arc::make_mut(&mut so_far.recorded);
                if let Ok(end) = self
                    .ledger
                    .read_each_from(so_far.len, |row| add_row(recorded, row))
                {
                    so_far.len = end;
                    so_far.tail = tail_bytes(path, end).map_err(|e| Error::io(path, "read", e))?;
                    return Ok(Arc::clone(&so_far.recorded));
                }
            }
        }
        *read = None;
        let mut recorded = Recorded::default();
        let end = self
            .ledger
            .read_each_from(0, |row| add_row(&mut recorded, row))?;
        let so_far = ReadSoFar {
            path: path.to_path_buf(),
            len: end,
            tail: tail_bytes(path, end).map_err(|e| Error::io(path, "read", e))?,
            recorded: Arc::new(recorded),
        };
        let recorded = Arc::clone(&so_far.recorded);
        *read = Some(so_far);
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
    /// Bytes of complete rows read.
    len: u64,
    /// The last bytes of those: unchanged, the rows read still stand.
    tail: Vec<u8>,
    recorded: Arc<Recorded>,
}

static READ_SO_FAR: Mutex<Option<ReadSoFar>> = Mutex::new(None);

/// The (up to) 256 bytes before `end`.
fn tail_bytes(path: &Path, end: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let from = end.saturating_sub(256);
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut bytes = vec![0; (end - from) as usize];
    f.read_exact(&mut bytes)?;
    Ok(bytes)
}

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

/// Outcome of a sync, for the summary and alerts.
#[derive(Debug, Default)]
pub struct Synced {
    pub new_fills: Vec<Fill>,
    pub finished: Vec<Order>,
    /// Alert texts for tracked orders the broker no longer knows (dropped from tracking).
    pub forgotten: Vec<String>,
    /// Signed shares per symbol that tracked orders say are filled but whose FILL activities
    /// are not in the ledger yet (Alpaca shows the status a moment before the activity). They
    /// are the bot's: a position read from the ledger alone would miss them and buy again.
    pub unrecorded: HashMap<String, Qty>,
}

/// The broker's current state of a tracked order, or `None` when it knows the order neither by
/// id nor by client id: a paper-account reset forgets every order, and an order that can
/// never be read again would otherwise fail every tick forever. A 404 by id alone is not
/// enough (the client id is the bot's own key), so both must miss.
fn look_up(client: &dyn Broker, t: &TrackedOrder) -> Result<Option<Order>> {
    match client.order(&t.order_id) {
        Ok(o) => Ok(Some(o)),
        Err(e) if e.is_not_found() => client.order_by_client_id(&t.client_order_id),
        Err(e) => Err(e),
    }
}

/// Record what happened to the tracked orders: new executions (from FILL activities, asked
/// for only when an order's filled quantity moved past the ledger's) and final states.
/// `known` holds the current state of some orders (those the tick already listed); any other
/// tracked order is read by id. Orders stay tracked until they are final and every share
/// filled is in the ledger.
pub fn sync_tracked(
    client: &dyn Broker,
    fills: &Fills,
    tracked: &mut Vec<TrackedOrder>,
    known: &[Order],
    now: DateTime<Utc>,
) -> Result<Synced> {
    let mut synced = Synced::default();
    if tracked.is_empty() {
        return Ok(synced);
    }
    let recorded = fills.recorded()?;
    let mut current: Vec<Order> = Vec::with_capacity(tracked.len());
    let mut still_known: Vec<TrackedOrder> = Vec::with_capacity(tracked.len());
    for t in tracked.iter() {
        let order = match known.iter().find(|o| o.id == t.order_id) {
            Some(o) => Some(o.clone()),
            None => look_up(client, t)?,
        };
        match order {
            Some(o) => {
                current.push(o);
                still_known.push(t.clone());
            }
            None => {
                let msg = format!(
                    "{}: order {} ({}, {} {}) is unknown to the broker by id and by client id \
                     (was the paper account reset?); no longer tracked. Check the account and run \
                     `prometheus-bot reconcile`",
                    t.symbol, t.order_id, t.client_order_id, t.side, t.qty
                );
                log::warn!("{msg}");
                synced.forgotten.push(msg);
            }
        }
    }
    *tracked = still_known;
    let in_ledger = |id: &str| {
        recorded
            .filled_by_order
            .get(id)
            .copied()
            .unwrap_or_default()
    };
    let mut filled_now: HashMap<String, Qty> = HashMap::new();
    if current.iter().any(|o| o.filled_qty > in_ledger(&o.id)) {
        let since =
            tracked.iter().map(|t| t.submitted_at).min().unwrap_or(now) - Duration::seconds(5);
        let activities = client.fill_activities(since)?;
        let ids: HashMap<&str, &TrackedOrder> =
            tracked.iter().map(|t| (t.order_id.as_str(), t)).collect();
        let new: Vec<(&Fill, &str)> = activities
            .iter()
            .filter(|a| !recorded.activity_ids.contains(&a.id))
            .filter_map(|a| {
                ids.get(a.order_id.as_str())
                    .map(|t| (a, t.client_order_id.as_str()))
            })
            .collect();
        fills.append_fills(&new, "tick")?;
        synced.new_fills = new.iter().map(|(a, _)| (*a).clone()).collect();
        for a in &activities {
            *filled_now.entry(a.order_id.clone()).or_default() += a.qty;
        }
    }

    let mut keep = Vec::new();
    for (t, order) in tracked.iter().zip(current) {
        let ledger_filled = filled_now
            .get(&t.order_id)
            .copied()
            .unwrap_or_else(|| in_ledger(&t.order_id));
        let lagging = (order.filled_qty - ledger_filled).max(Qty::ZERO);
        if lagging.is_positive() {
            let signed = match parse_side(&t.side) {
                Some(Side::Sell) => -lagging,
                _ => lagging,
            };
            *synced.unrecorded.entry(t.symbol.clone()).or_default() += signed;
        }
        if !order.is_final() {
            keep.push(t.clone());
            continue;
        }
        if ledger_filled < order.filled_qty && now - t.submitted_at < Duration::days(1) {
            log::warn!(
                "{}: order {} is {} but its fill activities lag; checking again next tick",
                t.symbol,
                t.order_id,
                order.status
            );
            keep.push(t.clone());
            continue;
        }
        if order.status != OrderStatus::Filled
            && !recorded
                .terminal
                .contains(&(order.id.clone(), order.status.clone()))
        {
            fills.append_terminal(now, &order, "tick")?;
        }
        synced.finished.push(order);
    }
    *tracked = keep;
    Ok(synced)
}

#[cfg(test)]
mod adjustment_tests {
    use super::*;
    use chrono::TimeZone;

    fn fill(id: &str, side: &str, qty: &str, price: &str) -> Fill {
        Fill {
            id: id.into(),
            time: Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap(),
            last: true,
            price: crate::decimal::Decimal::parse(price).unwrap(),
            qty: Qty::parse(qty).unwrap(),
            side: parse_side(side).unwrap(),
            symbol: "AAPL".into(),
            order_id: "o1".into(),
        }
    }

    #[test]
    fn adjust_rows_move_the_position_but_are_not_fills() {
        let dir = tempfile::tempdir().unwrap();
        let fills = Fills::open(dir.path()).unwrap();
        let bought = fill("f1", "buy", "10", "231");
        fills.append_fills(&[(&bought, "pb-1")], "tick").unwrap();
        let day = Utc.with_ymd_and_hms(2026, 11, 24, 5, 0, 0).unwrap();
        let split = |id: &str, qty: &str| Adjustment {
            time: day,
            symbol: "AAPL".into(),
            qty: Qty::parse(qty).unwrap(),
            kind: FillStatus::Split,
            id: id.into(),
        };
        // A 1-for-4 reverse split of 10 (remove 10, add 2.5), then a 3-for-1 split (+5).
        let rows = [split("s1", "-10"), split("s2", "2.5"), split("s3", "5")];
        fills.append_adjustments(&rows, "reconcile").unwrap();
        let r = fills.recorded().unwrap();
        assert_eq!(
            r.net_qty["AAPL"],
            Qty::parse("7.5").unwrap(),
            "10 - 10 + 2.5 + 5"
        );
        assert!(r.activity_ids.contains("s2"), "recorded once, by id");
        assert!(!r.by_activity.contains_key("s1"), "not compared as a FILL");
        assert_eq!(r.filled_by_order.get(""), None, "no order behind it");
        assert_eq!(r.filled_by_order["o1"], Qty::shares(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fills.csv as every version has written it: its header, then `rows`.
    fn write_ledger(dir: &Path, rows: &[String]) {
        let mut text =
            "time_utc,symbol,side,qty,price,order_id,client_order_id,status,activity_id,source\n"
                .to_string();
        for r in rows {
            text.push_str(r);
            text.push('\n');
        }
        std::fs::write(dir.join("fills.csv"), text).unwrap();
    }

    fn row(side: &str, qty: &str, activity: &str) -> String {
        format!("2026-11-24 15:30:00,TSLA,{side},{qty},230,o1,pb-x,fill,{activity},tick")
    }

    #[test]
    fn sell_short_rows_count_as_sells_in_the_net_position() {
        let dir = tempfile::tempdir().unwrap();
        // +2 bought, -2 sold, -3 sold short (a row written before sides were parsed): -3.
        write_ledger(
            dir.path(),
            &[
                row("buy", "2", "a1"),
                row("sell", "2", "a2"),
                row("sell_short", "3", "a3"),
            ],
        );
        let fills = Fills::open(dir.path()).unwrap();
        assert_eq!(fills.recorded().unwrap().net_qty["TSLA"], Qty::shares(-3));
    }

    /// Read once, then only what was appended: the rows added after a read count, and a file
    /// rewritten underneath (a person edited it) is read whole again.
    #[test]
    fn the_ledger_is_read_whole_once_then_only_its_new_rows() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        write_ledger(dir.path(), &[row("buy", "2", "a1")]);
        let fills = Fills::open(dir.path()).unwrap();
        assert_eq!(fills.recorded().unwrap().net_qty["TSLA"], Qty::shares(2));
        let path = dir.path().join("fills.csv");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(f, "{}", row("buy", "3", "a2")).unwrap();
        let r = fills.recorded().unwrap();
        assert_eq!(r.net_qty["TSLA"], Qty::shares(5), "2 + 3");
        assert!(r.activity_ids.contains("a2"));
        drop(r);
        // Rewritten: a row changed before the end (the sell of 4 replaces the buy of 2).
        write_ledger(dir.path(), &[row("sell", "4", "a1"), row("buy", "3", "a2")]);
        assert_eq!(
            fills.recorded().unwrap().net_qty["TSLA"],
            Qty::shares(-1),
            "-4 + 3, read whole again"
        );
    }

    /// As f64, 0.1 + 0.1 + 0.1 - 0.3 is 5.55e-17, not 0: the bot would think it still holds
    /// shares, and the three fills would not add up to the broker's 0.3.
    #[test]
    fn fractional_fills_sum_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let three = [
            row("buy", "0.1", "a1"),
            row("buy", "0.1", "a2"),
            row("buy", "0.1", "a3"),
        ];
        write_ledger(dir.path(), &three);
        let fills = Fills::open(dir.path()).unwrap();
        let r = fills.recorded().unwrap();
        assert_eq!(r.net_qty["TSLA"], Qty::parse("0.3").unwrap());
        assert_eq!(r.filled_by_order["o1"], Qty::parse("0.3").unwrap());
        let mut four = three.to_vec();
        four.push(row("sell", "0.3", "a4"));
        write_ledger(dir.path(), &four);
        assert_eq!(fills.recorded().unwrap().net_qty["TSLA"], Qty::ZERO);
    }

    #[test]
    fn a_row_with_a_qty_that_is_not_a_number_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write_ledger(
            dir.path(),
            &[row("buy", "1", "a6"), row("buy", "n/a", "a7")],
        );
        let e = Fills::open(dir.path()).unwrap().recorded().unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("fills.csv line 3: column `qty`: \"n/a\" is not a share quantity")
                && text.contains("a7"),
            "{text}"
        );
    }

    #[test]
    fn a_row_with_an_unknown_side_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write_ledger(dir.path(), &[row("borrow", "1", "a9")]);
        let e = Fills::open(dir.path()).unwrap().recorded().unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("fills.csv line 2: column `side`: \"borrow\" is not buy, sell or adjust")
                && text.contains("a9"),
            "{text}"
        );
        write_ledger(dir.path(), &[row("", "1", "a8")]);
        let e = Fills::open(dir.path()).unwrap().recorded().unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("fills.csv line 2: activity a8 has no side"),
            "{text}"
        );
    }
}

#[cfg(test)]
mod summary_tests {
    use super::*;

    fn row(symbol: &str, side: &str, qty: &str, activity: &str) -> String {
        format!("2026-11-24 15:30:00,{symbol},{side},{qty},230,o1,pb-x,fill,{activity},tick\n")
    }

    const HEADER: &str =
        "time_utc,symbol,side,qty,price,order_id,client_order_id,status,activity_id,source\n";

    #[test]
    fn a_kept_summary_reads_only_the_rows_appended_since_and_agrees_with_a_whole_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fills.csv");
        let mut text = HEADER.to_string();
        for i in 0..50 {
            text.push_str(&row("AAPL", "buy", "1", &format!("a{i}")));
        }
        std::fs::write(&path, &text).unwrap();
        let fills = Fills::open(dir.path()).unwrap();
        let kept = fills.summary(None).unwrap();
        assert_eq!(kept.net_qty["AAPL"], Qty::shares(50));
        assert_eq!(kept.len, text.len() as u64);

        // Two more rows and an order that ended unfilled.
        let more = row("AAPL", "sell", "3", "b1")
            + &row("TSLA", "buy", "0.5", "b2")
            + "2026-11-24 15:31:00,TSLA,buy,2,,o2,pb-y,canceled,,tick\n";
        std::fs::write(&path, text.clone() + &more).unwrap();
        let next = fills.summary(Some(&kept)).unwrap();
        assert_eq!(next.net_qty["AAPL"], Qty::shares(47), "50 - 3");
        assert_eq!(next.net_qty["TSLA"], Qty::parse("0.5").unwrap());
        assert!(next.ended_unfilled.contains("pb-y"));
        assert!(next.agrees_with(&fills.recorded().unwrap()));
        assert_eq!(next, fills.summary(None).unwrap(), "as a whole read says");

        // Proof that the kept rows are not read again: a row before `len` rewritten with
        // the same length (the last 256 bytes unchanged) is not seen...
        let changed = text.replacen("AAPL,buy,1,230", "AAPL,buy,9,230", 1) + &more;
        std::fs::write(&path, &changed).unwrap();
        assert_eq!(fills.summary(Some(&kept)).unwrap(), next);
        // ...which a whole read (what `reconcile` compares with) does see.
        assert_eq!(
            fills.summary(None).unwrap().net_qty["AAPL"],
            Qty::shares(55)
        );
    }

    #[test]
    fn a_summary_that_no_longer_matches_the_file_reads_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fills.csv");
        std::fs::write(&path, HEADER.to_string() + &row("AAPL", "buy", "4", "a1")).unwrap();
        let fills = Fills::open(dir.path()).unwrap();
        let kept = fills.summary(None).unwrap();
        // The ledger moved aside and a new one started: the tail differs.
        std::fs::write(&path, HEADER.to_string() + &row("MSFT", "buy", "1", "c1")).unwrap();
        let now = fills.summary(Some(&kept)).unwrap();
        assert_eq!(now.net_qty.get("AAPL"), None);
        assert_eq!(now.net_qty["MSFT"], Qty::shares(1));
        // Shorter than the kept length: read whole too.
        std::fs::write(&path, HEADER).unwrap();
        assert!(fills.summary(Some(&kept)).unwrap().net_qty.is_empty());
        // A kept summary that is stale in its hash.
        let wrong = Summary {
            tail_hash: kept.tail_hash ^ 1,
            ..kept
        };
        std::fs::write(&path, HEADER.to_string() + &row("AAPL", "buy", "4", "a1")).unwrap();
        assert_eq!(
            fills.summary(Some(&wrong)).unwrap().net_qty["AAPL"],
            Qty::shares(4)
        );
    }
}

//! Settling the orders the bot tracks: their new executions into the ledger, exactly once, and
//! how each ended.

use super::Fills;
use crate::broker::{Broker, Fill, Order};
use crate::domain::{OrderStatus, Qty, Side};
use crate::error::Result;
use crate::store::cells::parse_side;
use crate::store::state::TrackedOrder;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

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

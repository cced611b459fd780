//! Placing orders exactly once.
//!
//! The intent is saved before the POST; the POST is sent once and never retried; a lost
//! reply, a timeout or a 5xx is settled by looking the order up by its client order id; an
//! intent left by a tick that died is settled the same way by the next tick before it decides
//! anything. The client order id is derived from what caused the order, so the same decision
//! can never become two orders: Alpaca refuses a client order id it has seen, forever. Its
//! format lives in [`crate::client_order_id`].

use crate::broker::{Broker, Order, OrderKind, OrderRequest};
use crate::client_order_id;
use crate::domain::ClientOrderId;
use crate::error::{Error, Result};
use crate::store::cells::parse_side;
use crate::store::ledger::{time_cell, Ledger};
use crate::store::rows::{OrderRow, OrderRowStatus};
use crate::store::state::{OrderIntent, TrackedOrder};
use crate::store::State;
use chrono::{DateTime, Duration, Utc};

/// How long an order intent whose order the broker does not show is kept (by the broker's
/// clock) before it is concluded that the order was never placed. A POST that timed out here
/// can still reach the broker seconds later; two minutes covers that with room to spare.
pub const INTENT_GRACE: Duration = Duration::minutes(2);
use std::path::Path;

/// What settling the earlier ticks' intents came to.
#[derive(Debug, Default)]
pub struct Resolved {
    /// What was concluded, in words, for the alerts.
    pub concluded: Vec<String>,
    /// Intents whose look-up failed, in words: each stays and blocks its own symbol.
    pub failed: Vec<String>,
}

/// Where an intent's order stands at the broker.
enum Lookup {
    /// Not seen yet, within the grace period: keep waiting.
    Waiting,
    Found(Box<Order>),
    /// Absent by client id and from the order list, after the grace period.
    Absent,
}

/// How a placement ended.
#[derive(Debug)]
pub enum Placed {
    /// Alpaca has the order (just now, or from an earlier tick for the same decision).
    Accepted { order: Box<Order>, already: bool },
    /// Alpaca said no (buying power, wash trade, validation): recorded, not retried.
    Refused(String),
    /// No answer and not found by client id: the intent stays for the next tick.
    Unknown(String),
}

pub struct Desk<'a> {
    pub client: &'a dyn Broker,
    pub orders: &'a Ledger<OrderRow>,
    pub data_dir: &'a Path,
}

impl Desk<'_> {
    /// Send one order. Auth failures stop the tick (returned as errors); everything else is an
    /// outcome recorded in the orders ledger. A protective order (a stop, target or OCO) is
    /// placed exactly once like any other, but never counts towards `max_orders_per_day`:
    /// protecting a position is not trading.
    pub fn place(
        &self,
        state: &mut State,
        now: DateTime<Utc>,
        request: &OrderRequest,
        price: f64,
    ) -> Result<Placed> {
        let intent = OrderIntent {
            client_order_id: request.client_order_id.clone(),
            symbol: request.symbol.clone(),
            side: request.side.to_string(),
            qty: request.qty,
            price,
            created_at: now,
        };
        // One intent per client id: a protective order put back under the id of one whose
        // outcome is still unknown keeps that intent, dated from the first POST (the grace
        // period counts from when the order may first have reached the broker).
        if !state
            .intents
            .iter()
            .any(|i| i.client_order_id == intent.client_order_id)
        {
            state.intents.push(intent.clone());
        }
        // Counted with the intent, before the POST: an order whose reply is lost, or whose tick
        // is killed while it waits, may be at the broker, and must count towards
        // `max_orders_per_day` like any other. Given back only when it is certainly not there.
        let counts = u32::from(!client_order_id::is_protective(
            request.client_order_id.as_str(),
        ));
        state.risk.orders_today += counts;
        state.save(self.data_dir)?;
        let order_type = kind_name(&request.kind);
        let not_sent = |state: &mut State| {
            state.risk.orders_today = state.risk.orders_today.saturating_sub(counts);
        };
        let placed = match self.client.submit_order(request) {
            Ok(order) => Placed::Accepted {
                order: Box::new(order),
                already: false,
            },
            Err(e) if e.is_duplicate_client_id() => {
                match self
                    .client
                    .order_by_client_id(request.client_order_id.as_str())?
                {
                    Some(order) => Placed::Accepted {
                        order: Box::new(order),
                        already: true,
                    },
                    None => Placed::Refused(e.to_string()),
                }
            }
            Err(e @ Error::Deadline { .. }) => {
                // Refused by the client before a byte was sent: certainly not placed.
                log::warn!("{}: {e}", request.symbol);
                not_sent(state);
                self.record(
                    now,
                    &intent,
                    order_type,
                    None,
                    OrderRowStatus::NotSent,
                    &e.to_string(),
                )?;
                self.settle(state, &intent.client_order_id, None, now)?;
                return Ok(Placed::Refused(e.to_string()));
            }
            Err(e @ Error::Auth { .. }) => {
                not_sent(state);
                self.record(
                    now,
                    &intent,
                    order_type,
                    None,
                    OrderRowStatus::Refused,
                    &e.to_string(),
                )?;
                self.settle(state, &intent.client_order_id, None, now)?;
                return Err(e);
            }
            Err(
                e @ Error::Api {
                    status: 400..=499, ..
                },
            ) => Placed::Refused(e.to_string()),
            Err(e) => {
                log::warn!(
                    "{}: order outcome unknown ({e}); looking it up by client order id",
                    request.symbol
                );
                match self
                    .client
                    .order_by_client_id(request.client_order_id.as_str())
                {
                    Ok(Some(order)) => {
                        let msg = format!("reply lost ({e}); found by client order id");
                        self.record(now, &intent, order_type, Some(&order), broker(&order), &msg)?;
                        self.settle(state, &intent.client_order_id, Some(&order), now)?;
                        return Ok(Placed::Accepted {
                            order: Box::new(order),
                            already: false,
                        });
                    }
                    Ok(None) | Err(_) => {
                        let msg = format!("{e}; the next tick looks it up before trading");
                        self.record(
                            now,
                            &intent,
                            order_type,
                            None,
                            OrderRowStatus::Unknown,
                            &msg,
                        )?;
                        return Ok(Placed::Unknown(msg));
                    }
                }
            }
        };
        match &placed {
            Placed::Accepted { order, already } => {
                let msg = if *already {
                    // Counted by the attempt that placed it.
                    not_sent(state);
                    "already placed by an earlier tick for this bar; not sent again"
                } else {
                    ""
                };
                self.record(now, &intent, order_type, Some(order), broker(order), msg)?;
                self.settle(state, &intent.client_order_id, Some(order), now)?;
            }
            Placed::Refused(msg) => {
                not_sent(state);
                log::warn!("{}: order refused: {msg}", request.symbol);
                self.record(now, &intent, order_type, None, OrderRowStatus::Refused, msg)?;
                self.settle(state, &intent.client_order_id, None, now)?;
            }
            Placed::Unknown(_) => {}
        }
        Ok(placed)
    }

    /// Settle every intent an earlier tick left behind: record the order if Alpaca has it
    /// (and it is not in the ledger yet). An order Alpaca does not show may still arrive: a POST
    /// that timed out here can reach the broker seconds later. So "never placed" is concluded
    /// only once [`INTENT_GRACE`] has passed since the intent AND the order is absent both by
    /// client id and from every order listed since the intent; until then the intent stays and
    /// blocks its symbol (the tick sends nothing new for it).
    ///
    /// A look-up that fails (5xx, timeout, a broken answer) leaves its intent in place, blocking
    /// its own symbol only: the other symbols still trade, and their exits still go out. Only
    /// rejected keys stop the tick.
    pub fn resolve_intents(&self, state: &mut State, now: DateTime<Utc>) -> Result<Resolved> {
        let mut resolved = Resolved::default();
        if state.intents.is_empty() {
            return Ok(resolved);
        }
        let recorded = self.recorded_order_ids()?;
        for intent in state.intents.clone() {
            let found = match self.look_up(&intent, now) {
                Ok(Lookup::Waiting) => continue,
                Ok(Lookup::Found(order)) => Some(*order),
                Ok(Lookup::Absent) => None,
                Err(e @ Error::Auth { .. }) => return Err(e),
                Err(e) => {
                    let msg = format!(
                        "{}: order {} could not be looked up ({e}); {} stays blocked until it can be",
                        intent.symbol, intent.client_order_id, intent.symbol
                    );
                    log::warn!("{msg}");
                    resolved.failed.push(msg);
                    continue;
                }
            };
            match &found {
                Some(order)
                    if recorded
                        .contains(&(intent.client_order_id.to_string(), order.id.clone())) => {}
                Some(order) => {
                    log::warn!(
                        "{}: recovered order {} ({}) left unrecorded by an earlier tick",
                        intent.symbol,
                        order.id,
                        order.status
                    );
                    let msg = "recovered: placed by an earlier tick that did not record it";
                    let kind = order.order_type.as_deref().unwrap_or("market");
                    self.record(now, &intent, kind, Some(order), broker(order), msg)?;
                    resolved.concluded.push(format!(
                        "{}: order {} of an earlier tick found at the broker ({})",
                        intent.symbol, intent.client_order_id, order.status
                    ));
                }
                None => {
                    log::warn!(
                        "{}: order {} was never placed: absent by client id and from the orders listed since {}",
                        intent.symbol,
                        intent.client_order_id,
                        time_cell(intent.created_at)
                    );
                    let msg = "recovered: absent at the broker (by client id and in the order list) after the grace period; never placed";
                    self.record(now, &intent, "market", None, OrderRowStatus::NotPlaced, msg)?;
                    resolved.concluded.push(format!(
                        "{}: order {} was never placed; {} trades again",
                        intent.symbol, intent.client_order_id, intent.symbol
                    ));
                }
            }
            self.settle(state, &intent.client_order_id, found.as_ref(), now)?;
        }
        Ok(resolved)
    }

    /// Where an earlier intent's order stands at the broker: by client id, and after the grace
    /// period also in the orders listed since the intent.
    fn look_up(&self, intent: &OrderIntent, now: DateTime<Utc>) -> Result<Lookup> {
        if let Some(order) = self
            .client
            .order_by_client_id(intent.client_order_id.as_str())?
        {
            return Ok(Lookup::Found(Box::new(order)));
        }
        if now - intent.created_at < INTENT_GRACE {
            log::warn!(
                "{}: order {} not found at the broker yet; {} stays blocked until it appears or {} s have passed",
                intent.symbol,
                intent.client_order_id,
                intent.symbol,
                INTENT_GRACE.num_seconds()
            );
            return Ok(Lookup::Waiting);
        }
        let symbols = [intent.symbol.as_str()];
        Ok(self
            .client
            .orders_since(intent.created_at - Duration::seconds(5), Some(&symbols))?
            .into_iter()
            .find(|o| intent.client_order_id == o.client_order_id)
            .map_or(Lookup::Absent, |o| Lookup::Found(Box::new(o))))
    }

    /// The intent is done with: drop it and, if the order exists, track it for fills.
    fn settle(
        &self,
        state: &mut State,
        client_id: &ClientOrderId,
        order: Option<&Order>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        state.intents.retain(|i| i.client_order_id != *client_id);
        // An OCO's stop leg fills under its own id: tracked too, so its fill is recorded.
        for o in order
            .into_iter()
            .flat_map(|o| std::iter::once(o).chain(&o.legs))
        {
            if !state.tracked.iter().any(|t| t.order_id == o.id) {
                state.tracked.push(TrackedOrder {
                    order_id: o.id.clone(),
                    client_order_id: o.client_order_id.clone(),
                    symbol: o.symbol.clone(),
                    side: o.side.map(|s| s.to_string()).unwrap_or_default(),
                    qty: o.qty,
                    submitted_at: o.submitted_at.unwrap_or(now),
                });
            }
        }
        state.save(self.data_dir)
    }

    /// (client_order_id, order_id) pairs already in the orders ledger.
    fn recorded_order_ids(&self) -> Result<Vec<(String, String)>> {
        let mut pairs = Vec::new();
        self.orders.read_each(|_, row| {
            if let Some(order_id) = row.order_id {
                pairs.push((row.client_order_id.to_string(), order_id));
            }
            Ok(())
        })?;
        Ok(pairs)
    }

    fn record(
        &self,
        now: DateTime<Utc>,
        intent: &OrderIntent,
        order_type: &str,
        order: Option<&Order>,
        status: OrderRowStatus,
        message: &str,
    ) -> Result<()> {
        self.orders.append(&[OrderRow {
            time_utc: now,
            symbol: intent.symbol.clone(),
            side: parse_side(&intent.side),
            qty: Some(intent.qty),
            price: Some(intent.price),
            order_type: order_type.to_string(),
            client_order_id: intent.client_order_id.clone(),
            order_id: order.map(|o| o.id.clone()),
            status,
            message: message.to_string(),
        }])
    }
}

/// An order's `type` as orders.csv records it (`oco` for the OCO class, whose parent is a
/// limit).
fn kind_name(kind: &OrderKind) -> &'static str {
    match kind {
        OrderKind::Market => "market",
        OrderKind::Limit { .. } => "limit",
        OrderKind::Stop { .. } => "stop",
        OrderKind::TrailingStop { .. } => "trailing_stop",
        OrderKind::Oco { .. } => "oco",
    }
}

/// The broker's status of an order, as orders.csv records it.
fn broker(order: &Order) -> OrderRowStatus {
    OrderRowStatus::Broker(order.status.clone())
}

#[cfg(test)]
mod tests {
    //! The desk through the broker port, with no HTTP: a broker scripted in memory.

    use super::*;
    use crate::broker::{Account, BarsQuery, Clock, Fill, LastTrade, Position, Split};
    use crate::domain::{Bar, OrderStatus, Qty, Side};
    use chrono::TimeZone;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Answers order look-ups from `orders` and counts the calls; anything else is a bug here.
    #[derive(Default)]
    struct Scripted {
        orders: Vec<Order>,
        by_client_id: RefCell<usize>,
        listed: RefCell<usize>,
    }

    fn unused<T>() -> Result<T> {
        Err(Error::Refused("not scripted".into()))
    }

    impl Broker for Scripted {
        fn clock(&self) -> Result<Clock> {
            unused()
        }
        fn account(&self) -> Result<Account> {
            unused()
        }
        fn positions(&self) -> Result<Vec<Position>> {
            unused()
        }
        fn latest_trades(&self, _: &[&str]) -> Result<HashMap<String, LastTrade>> {
            unused()
        }
        fn bars(&self, _: &BarsQuery<'_>) -> Result<HashMap<String, Vec<Bar>>> {
            unused()
        }
        fn open_orders(&self, _: &[&str]) -> Result<Vec<Order>> {
            unused()
        }
        fn orders_since(&self, after: DateTime<Utc>, _: Option<&[&str]>) -> Result<Vec<Order>> {
            *self.listed.borrow_mut() += 1;
            Ok(self
                .orders
                .iter()
                .filter(|o| o.submitted_at.is_some_and(|t| t > after))
                .cloned()
                .collect())
        }
        fn order(&self, _: &str) -> Result<Order> {
            unused()
        }
        fn order_by_client_id(&self, _: &str) -> Result<Option<Order>> {
            // The by-client-id index lags: the order is only found in the list.
            *self.by_client_id.borrow_mut() += 1;
            Ok(None)
        }
        fn submit_order(&self, _: &OrderRequest) -> Result<Order> {
            unused()
        }
        fn cancel_order(&self, _: &str) -> Result<()> {
            unused()
        }
        fn fill_activities(&self, _: DateTime<Utc>) -> Result<Vec<Fill>> {
            unused()
        }
        fn split_activities(&self, _: DateTime<Utc>) -> Result<Vec<Split>> {
            unused()
        }
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 15, minute, 0).unwrap()
    }

    fn intent(id: &str) -> OrderIntent {
        OrderIntent {
            client_order_id: id.parse().unwrap(),
            symbol: "AAPL".into(),
            side: "buy".into(),
            qty: Qty::parse("1").unwrap(),
            price: 231.0,
            created_at: at(30),
        }
    }

    #[test]
    fn an_unseen_intent_waits_out_the_grace_period_then_is_found_in_the_order_list() {
        let dir = tempfile::tempdir().unwrap();
        let orders = Ledger::open(dir.path()).unwrap();
        let id = "pb-AAPL-1Min-20261124T1529-thr-buy";
        let order = Order {
            id: "o-1".into(),
            client_order_id: id.into(),
            symbol: "AAPL".into(),
            side: Some(Side::Buy),
            qty: Qty::shares(1),
            filled_qty: Qty::ZERO,
            filled_avg_price: None,
            status: OrderStatus::New,
            order_type: Some("market".into()),
            class: crate::broker::OrderClass::Simple,
            submitted_at: Some(Utc.with_ymd_and_hms(2026, 11, 24, 15, 30, 2).unwrap()),
            filled_at: None,
            legs: Vec::new(),
        };
        let broker = Scripted {
            orders: vec![order],
            ..Scripted::default()
        };
        let desk = Desk {
            client: &broker,
            orders: &orders,
            data_dir: dir.path(),
        };
        let mut state = State::default();
        state.intents.push(intent(id));

        // One minute on: not found by client id, still within the grace period: kept.
        assert!(desk
            .resolve_intents(&mut state, at(31))
            .unwrap()
            .concluded
            .is_empty());
        assert_eq!(state.intents.len(), 1);
        assert_eq!(
            *broker.listed.borrow(),
            0,
            "the list is read only after the grace"
        );

        // Three minutes on: the list since the intent shows it: recorded and tracked.
        let said = desk.resolve_intents(&mut state, at(33)).unwrap().concluded;
        assert!(said[0].contains("found at the broker"), "{said:?}");
        assert!(state.intents.is_empty());
        assert_eq!(state.tracked[0].order_id, "o-1");
        assert_eq!(*broker.listed.borrow(), 1);
        let rows = orders.read_all().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].order_id.as_deref(), Some("o-1"));
    }

    #[test]
    fn an_intent_absent_by_id_and_from_the_list_after_the_grace_was_never_placed() {
        let dir = tempfile::tempdir().unwrap();
        let orders = Ledger::open(dir.path()).unwrap();
        let broker = Scripted::default();
        let desk = Desk {
            client: &broker,
            orders: &orders,
            data_dir: dir.path(),
        };
        let mut state = State::default();
        state
            .intents
            .push(intent("pb-AAPL-1Min-20261124T1529-thr-buy"));
        let said = desk.resolve_intents(&mut state, at(33)).unwrap().concluded;
        assert!(said[0].contains("never placed"), "{said:?}");
        assert!(state.intents.is_empty() && state.tracked.is_empty());
        assert_eq!(
            (*broker.by_client_id.borrow(), *broker.listed.borrow()),
            (1, 1)
        );
        assert_eq!(
            orders.read_all().unwrap()[0].status,
            OrderRowStatus::NotPlaced
        );
    }
}

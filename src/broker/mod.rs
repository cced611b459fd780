//! The broker port: exactly the calls the tick and `reconcile` make of a broker, in the
//! port's own values ([`types`]).
//!
//! The tick, the order desk, the fills sync and reconcile talk to a `&dyn Broker`, never to
//! HTTP, so that a second adapter, the simulated broker ([`sim::Sim`]), can stand where
//! Alpaca stands, and the tick's logic can be driven without a network. Alpaca implements it
//! in `alpaca::port`, converting its JSON shapes (which never leave `alpaca/`) into these
//! values and refusing what cannot be traded on.

pub mod sim;
pub mod types;

pub use types::{
    Account, BarsQuery, Clock, Fill, LastTrade, Order, OrderClass, OrderKind, OrderRequest,
    Position, Split, TimeInForce,
};

use crate::domain::Bar;
use crate::error::Result;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub trait Broker {
    /// The broker's clock: "now", whether the market is open, the next open and close.
    fn clock(&self) -> Result<Clock>;
    /// Equity, cash and buying power; an answer without equity is an error.
    fn account(&self) -> Result<Account>;
    /// Every open position (signed quantities).
    fn positions(&self) -> Result<Vec<Position>>;
    /// The latest trade per symbol; symbols without one are absent.
    fn latest_trades(&self, symbols: &[&str]) -> Result<HashMap<String, LastTrade>>;
    /// Bars for several symbols, every page.
    fn bars(&self, query: &BarsQuery<'_>) -> Result<HashMap<String, Vec<Bar>>>;
    /// Working orders for these symbols (anyone's).
    fn open_orders(&self, symbols: &[&str]) -> Result<Vec<Order>>;
    /// Every order of any status submitted after `after`, oldest first.
    fn orders_since(&self, after: DateTime<Utc>, symbols: Option<&[&str]>) -> Result<Vec<Order>>;
    /// One order by the broker's id (an error naming the 404 when the broker forgot it).
    fn order(&self, order_id: &str) -> Result<Order>;
    /// The order with this client order id, or `None` if the broker never created it.
    fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<Order>>;
    /// Place an order: one attempt, never retried.
    fn submit_order(&self, order: &OrderRequest) -> Result<Order>;
    /// Ask the broker to cancel an order. Accepted is not done: the order passes through
    /// `pending_cancel`, so the caller reads it back until it is final. An order that is
    /// already final is not an error (a cancel can race a fill).
    fn cancel_order(&self, order_id: &str) -> Result<()>;
    /// Every execution after `after`, oldest first.
    fn fill_activities(&self, after: DateTime<Utc>) -> Result<Vec<Fill>>;
    /// Every split booked after `after`, oldest first.
    fn split_activities(&self, after: DateTime<Utc>) -> Result<Vec<Split>>;
}

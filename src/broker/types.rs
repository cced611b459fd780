//! The values the broker port speaks in: what the tick, the desk, the fills sync and reconcile
//! need of a broker, already checked. An adapter makes them from its own shapes (Alpaca's JSON
//! stays in `alpaca::wire`) and refuses what cannot be traded on safely: an account without
//! equity, a position or fill whose quantity is not an exact share count.

use crate::config::Feed;
use crate::decimal::Decimal;
pub use crate::domain::LastTrade;
use crate::domain::{OrderStatus, Qty, Side, Timeframe};
pub use crate::order_kind::OrderRequest;
pub use crate::order_kind::{OrderKind, TimeInForce};
use crate::store::bar_cache::Adjustment;
use chrono::{DateTime, NaiveDate, Utc};

/// The broker's clock: "now", whether the market is open, the next open and close.
#[derive(Debug, Clone, PartialEq)]
pub struct Clock {
    pub now: DateTime<Utc>,
    pub is_open: bool,
    pub next_open: Option<DateTime<Utc>>,
    pub next_close: Option<DateTime<Utc>>,
}

/// The account's money, in the broker's own digits (the equity ledger writes them as sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Always present: without it neither the drawdown halt nor the daily-loss limit can be
    /// evaluated, so an adapter refuses an account without it.
    pub equity: Decimal,
    /// Equity at the previous session's close: the daily-loss limit's start.
    pub last_equity: Option<Decimal>,
    pub cash: Option<Decimal>,
    pub buying_power: Option<Decimal>,
    pub long_market_value: Option<Decimal>,
}

/// One open position.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub symbol: String,
    /// Signed: a short is negative.
    pub qty: Qty,
    /// What the position cost per share, as the broker averages it; `None` when absent or
    /// not a number.
    pub avg_entry_price: Option<Decimal>,
}

/// An order as the broker reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// The broker's id.
    pub id: String,
    /// As the broker lists it: the bot's own ids parse as [`ClientOrderId`], a person's may
    /// be anything.
    pub client_order_id: String,
    /// Empty for orders without one (multi-leg orders): it never matches a configured symbol.
    pub symbol: String,
    pub side: Option<Side>,
    /// Shares ordered; 0 for a notional order, whose share count is unknown.
    pub qty: Qty,
    /// Shares filled so far.
    pub filled_qty: Qty,
    pub filled_avg_price: Option<Decimal>,
    pub status: OrderStatus,
    /// `market`, `limit`, ...; for the orders ledger.
    pub order_type: Option<String>,
    /// Simple, or one of a multi-leg order's classes (which the wash-trade rule exempts).
    pub class: OrderClass,
    pub submitted_at: Option<DateTime<Utc>>,
    pub filled_at: Option<DateTime<Utc>>,
    /// The other orders of a multi-leg order (an OCO's stop), as the broker nests them under
    /// their parent. Alpaca gives legs its own client ids, so they are known by the parent.
    pub legs: Vec<Order>,
}

/// Alpaca's `order_class`: how an order's legs depend on each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderClass {
    /// One order (Alpaca writes `simple` or `""`).
    #[default]
    Simple,
    /// An entry with a take-profit and a stop-loss leg.
    Bracket,
    /// One-cancels-other: a take-profit limit with a stop-loss leg, for a held position.
    Oco,
    /// One-triggers-other: an entry with one leg.
    Oto,
    /// A class this build does not know (`mleg` for options): treated as multi-leg.
    Other,
}

impl OrderClass {
    /// From Alpaca's text.
    pub fn parse(text: Option<&str>) -> OrderClass {
        match text.unwrap_or("") {
            "" | "simple" => OrderClass::Simple,
            "bracket" => OrderClass::Bracket,
            "oco" => OrderClass::Oco,
            "oto" => OrderClass::Oto,
            _ => OrderClass::Other,
        }
    }
}

impl Order {
    /// Would Alpaca refuse a market order on the other side of this symbol while this order
    /// works? Its wash-trade table ("Preventing Wash Trades", docs.alpaca.markets/docs/
    /// user-protection; the fake's `WASH_TABLE`) refuses a market order beside every simple
    /// market, limit, stop and stop-limit order, and exempts multi-leg orders (bracket, OCO,
    /// OTO) and trailing stops. The bot sends only market orders for the strategy, so this is
    /// the whole rule it needs; a person's OCO take-profit on a shared account does not stop
    /// the bot's buy.
    pub fn blocks_opposite_market_order(&self) -> bool {
        !self.is_final()
            && self.class == OrderClass::Simple
            && self.legs.is_empty()
            && self.order_type.as_deref() != Some("trailing_stop")
    }

    /// Shares still to fill: qty − filled_qty, never below 0.
    pub fn remaining_qty(&self) -> Qty {
        (self.qty - self.filled_qty).max(Qty::ZERO)
    }

    /// The order can never change again: see [`OrderStatus`].
    pub fn is_final(&self) -> bool {
        self.status.is_final()
    }

    /// Every share ordered has filled (and there were some).
    pub fn filled_in_full(&self) -> bool {
        self.status == OrderStatus::Filled && self.qty.is_positive() && self.filled_qty == self.qty
    }
}

/// One execution. `id` is unique per execution: the key that keeps each fill in the ledger
/// exactly once.
#[derive(Debug, Clone, PartialEq)]
pub struct Fill {
    pub id: String,
    pub time: DateTime<Utc>,
    /// The last execution of its order (Alpaca's `fill`), or one of several (`partial_fill`).
    pub last: bool,
    /// In the broker's digits: reconcile compares it with the ledger's text exactly.
    pub price: Decimal,
    pub qty: Qty,
    /// A short sale is a sell.
    pub side: Side,
    pub symbol: String,
    pub order_id: String,
}

/// Shares the broker added (positive) or removed (negative) for a split, with no order behind
/// them. A reverse split is two entries (all old shares removed, the new ones added).
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub id: String,
    /// The booking day; `None` when the broker's date does not read.
    pub day: Option<NaiveDate>,
    /// The broker's date as sent, for messages.
    pub date: String,
    pub symbol: Option<String>,
    /// `None` when absent or not an exact share count: reconcile reports it, never guesses.
    pub qty: Option<Qty>,
    pub description: Option<String>,
}

/// Bars for several symbols; every page is followed.
#[derive(Debug, Clone)]
pub struct BarsQuery<'a> {
    pub symbols: &'a [&'a str],
    pub timeframe: Timeframe,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub adjustment: Adjustment,
    pub feed: Feed,
    /// A bound on pages, to protect the rate limit from a runaway loop.
    pub max_pages: usize,
}

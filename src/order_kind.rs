//! What an order does once at the broker and how long it lives there, and the request that
//! places it: the broker port's orders, kept out of `broker/` so that the pure plan can say
//! which protective order a position needs without depending on the port.

use crate::decimal::Decimal;
use crate::domain::{ClientOrderId, Qty, Side};

/// What an order does once at the broker: the market orders the strategy sends, and the
/// protective orders the broker holds between ticks (a dead Pi never leaves a position
/// unprotected). Prices are already rounded to what Alpaca accepts (cents from $1, else
/// 4 decimals): a sub-penny price is a 422.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderKind {
    Market,
    /// A take-profit on its own.
    Limit {
        limit_price: Decimal,
    },
    /// A plain stop, never `stop_limit`: a gap through the stop must still sell.
    Stop {
        stop_price: Decimal,
    },
    /// A stop that follows the best price since it was placed (Alpaca's `hwm`).
    TrailingStop {
        trail_percent: Decimal,
    },
    /// A take-profit limit and a stop for the same shares, one canceling the other (Alpaca's
    /// `oco` class: exit-only; two separate orders would need the same shares twice, which
    /// Alpaca refuses with "insufficient qty").
    Oco {
        limit_price: Decimal,
        stop_price: Decimal,
    },
}

impl OrderKind {
    /// A protective order (anything but a market order): it rests at the broker and is not a
    /// pending trade the strategy should count.
    pub fn is_protective(&self) -> bool {
        !matches!(self, OrderKind::Market)
    }
}

/// How long an order lives at the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeInForce {
    /// Until the session's close: every market order, and fractional protection (Alpaca
    /// refuses fractional orders that are not `day`).
    Day,
    /// Until filled or canceled: whole-share protection, so that it is resting at the next
    /// open's auction before any tick has run.
    Gtc,
}

impl TimeInForce {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Day => "day",
            TimeInForce::Gtc => "gtc",
        }
    }
}

/// An order to place: a market day order (entries and exits) or a protective order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    pub symbol: String,
    pub side: Side,
    pub qty: Qty,
    pub client_order_id: ClientOrderId,
    pub kind: OrderKind,
    pub time_in_force: TimeInForce,
}

impl OrderRequest {
    pub fn market_day(
        symbol: &str,
        side: Side,
        qty: Qty,
        client_order_id: &ClientOrderId,
    ) -> OrderRequest {
        OrderRequest {
            symbol: symbol.to_string(),
            side,
            qty,
            client_order_id: client_order_id.clone(),
            kind: OrderKind::Market,
            time_in_force: TimeInForce::Day,
        }
    }
}

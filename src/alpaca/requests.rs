//! What the client sends: a bars query, a market day order.

use crate::config::Feed;
use crate::domain::{ClientOrderId, Qty, Side, Timeframe};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A multi-symbol bars request; pages are followed to the end.
#[derive(Debug, Clone)]
pub struct BarsQuery<'a> {
    pub symbols: &'a [&'a str],
    pub timeframe: Timeframe,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub adjustment: &'a str,
    pub feed: Feed,
    /// A bound on pages, to protect the rate limit from a runaway loop.
    pub max_pages: usize,
}

/// A market day order for whole or fractional shares.
#[derive(Debug, Clone, Serialize)]
pub struct OrderRequest {
    pub symbol: String,
    /// Serialized as Alpaca's decimal string: `2`, `0.5`, `1.123456789`.
    pub qty: Qty,
    pub side: &'static str,
    #[serde(rename = "type")]
    pub order_type: &'static str,
    pub time_in_force: &'static str,
    pub client_order_id: ClientOrderId,
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
            qty,
            side: side.as_str(),
            order_type: "market",
            time_in_force: "day",
            client_order_id: client_order_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_format_like_alpaca_expects() {
        let id: ClientOrderId = "pb-AAPL-1Min-20261124T1529-thr-buy".parse().unwrap();
        for (text, sent) in [
            ("1", "1"),
            ("12", "12"),
            ("0.50", "0.5"),
            ("1.123456789", "1.123456789"),
        ] {
            let qty = Qty::parse(text).unwrap();
            let order = OrderRequest::market_day("AAPL", Side::Buy, qty, &id);
            let json: serde_json::Value = serde_json::to_value(&order).unwrap();
            assert_eq!(json["qty"], sent, "a string, as Alpaca documents it");
            assert_eq!(
                json["client_order_id"],
                "pb-AAPL-1Min-20261124T1529-thr-buy"
            );
        }
    }
}

//! What the client sends: a market day order in Alpaca's JSON. (A bars query is the port's
//! [`BarsQuery`](crate::broker::BarsQuery), turned into query parameters by the client.)

use crate::broker::OrderRequest;
use crate::domain::{ClientOrderId, Qty};
use serde::Serialize;

/// `POST /v2/orders`'s body for a market day order (alpaca-api.md §2.5).
#[derive(Debug, Serialize)]
pub(super) struct OrderBody<'a> {
    symbol: &'a str,
    /// Serialized as Alpaca's decimal string: `2`, `0.5`, `1.123456789`.
    qty: Qty,
    side: &'static str,
    #[serde(rename = "type")]
    order_type: &'static str,
    time_in_force: &'static str,
    client_order_id: &'a ClientOrderId,
}

impl<'a> From<&'a OrderRequest> for OrderBody<'a> {
    fn from(o: &'a OrderRequest) -> OrderBody<'a> {
        OrderBody {
            symbol: &o.symbol,
            qty: o.qty,
            side: o.side.as_str(),
            order_type: "market",
            time_in_force: "day",
            client_order_id: &o.client_order_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Side;

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
            let json: serde_json::Value = serde_json::to_value(OrderBody::from(&order)).unwrap();
            assert_eq!(json["qty"], sent, "a string, as Alpaca documents it");
            assert_eq!(json["side"], "buy");
            assert_eq!(
                (&json["type"], &json["time_in_force"]),
                (&"market".into(), &"day".into())
            );
            assert_eq!(
                json["client_order_id"],
                "pb-AAPL-1Min-20261124T1529-thr-buy"
            );
        }
    }
}

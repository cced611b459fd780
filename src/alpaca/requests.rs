//! What the client sends: an order in Alpaca's JSON. (A bars query is the port's
//! [`BarsQuery`](crate::broker::BarsQuery), turned into query parameters by the client.)

use crate::broker::{OrderKind, OrderRequest};
use crate::decimal::Decimal;
use crate::domain::{ClientOrderId, Qty};
use serde::Serialize;

/// `POST /v2/orders`'s body (alpaca-api.md §2.5): a market day order, or a protective order
/// (`stop`, `limit`, `trailing_stop`, or an `oco` class with its `take_profit` and
/// `stop_loss`). Prices are strings, as Alpaca documents them.
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
    #[serde(skip_serializing_if = "Option::is_none")]
    order_class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_price: Option<&'a Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_price: Option<&'a Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trail_percent: Option<&'a Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    take_profit: Option<LegPrice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_loss: Option<LegPrice<'a>>,
}

/// An OCO's `take_profit` / `stop_loss` object.
#[derive(Debug, Serialize)]
struct LegPrice<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_price: Option<&'a Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_price: Option<&'a Decimal>,
}

impl<'a> From<&'a OrderRequest> for OrderBody<'a> {
    fn from(o: &'a OrderRequest) -> OrderBody<'a> {
        let mut body = OrderBody {
            symbol: &o.symbol,
            qty: o.qty,
            side: o.side.as_str(),
            order_type: "market",
            time_in_force: o.time_in_force.as_str(),
            client_order_id: &o.client_order_id,
            order_class: None,
            limit_price: None,
            stop_price: None,
            trail_percent: None,
            take_profit: None,
            stop_loss: None,
        };
        match &o.kind {
            OrderKind::Market => {}
            OrderKind::Limit { limit_price } => {
                body.order_type = "limit";
                body.limit_price = Some(limit_price);
            }
            OrderKind::Stop { stop_price } => {
                body.order_type = "stop";
                body.stop_price = Some(stop_price);
            }
            OrderKind::TrailingStop { trail_percent } => {
                body.order_type = "trailing_stop";
                body.trail_percent = Some(trail_percent);
            }
            OrderKind::Oco {
                limit_price,
                stop_price,
            } => {
                // Alpaca's OCO: the parent is the take-profit limit; the stop is its leg.
                body.order_type = "limit";
                body.order_class = Some("oco");
                body.take_profit = Some(LegPrice {
                    limit_price: Some(limit_price),
                    stop_price: None,
                });
                body.stop_loss = Some(LegPrice {
                    limit_price: None,
                    stop_price: Some(stop_price),
                });
            }
        }
        body
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

    #[test]
    fn protective_orders_are_written_as_alpaca_documents_them() {
        use crate::broker::TimeInForce;
        let id: ClientOrderId = "pb-AAPL-1Min-20261124T1529-thr-buy-p1".parse().unwrap();
        let d = |t: &str| Decimal::parse(t).unwrap();
        let with = |kind: OrderKind| {
            let mut o = OrderRequest::market_day("AAPL", Side::Sell, Qty::parse("3").unwrap(), &id);
            o.kind = kind;
            o.time_in_force = TimeInForce::Gtc;
            serde_json::to_value(OrderBody::from(&o)).unwrap()
        };
        let base = |extra: serde_json::Value| {
            let mut v = serde_json::json!({"symbol": "AAPL", "qty": "3", "side": "sell",
                "time_in_force": "gtc", "client_order_id": "pb-AAPL-1Min-20261124T1529-thr-buy-p1"});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        };
        assert_eq!(
            with(OrderKind::Stop {
                stop_price: d("98.00")
            }),
            base(serde_json::json!({"type": "stop", "stop_price": "98.00"}))
        );
        assert_eq!(
            with(OrderKind::Limit {
                limit_price: d("105.50")
            }),
            base(serde_json::json!({"type": "limit", "limit_price": "105.50"}))
        );
        assert_eq!(
            with(OrderKind::TrailingStop {
                trail_percent: d("1.5")
            }),
            base(serde_json::json!({"type": "trailing_stop", "trail_percent": "1.5"}))
        );
        // alpaca-api.md §2.5 and Alpaca's OCO example: type limit, class oco, the target in
        // take_profit.limit_price and the stop in stop_loss.stop_price.
        assert_eq!(
            with(OrderKind::Oco {
                limit_price: d("105.50"),
                stop_price: d("98.00")
            }),
            base(serde_json::json!({"type": "limit", "order_class": "oco",
                "take_profit": {"limit_price": "105.50"}, "stop_loss": {"stop_price": "98.00"}}))
        );
    }
}

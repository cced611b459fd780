//! Alpaca's JSON, mirrored exactly, and its conversion into domain values.
//!
//! Trading numbers arrive as decimal strings and stay strings here, so the ledgers can write
//! them exactly as the broker said them. Market-data numbers arrive as JSON numbers. Unknown
//! fields are ignored and everything not strictly needed is optional, because Alpaca adds and
//! removes fields (the PDT fields vanished in 2026 and broke strict clients).

use crate::domain::{Bar, OrderStatus, Side};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use std::collections::HashMap;

/// `{"code": 40010001, "message": "..."}`; both parts optional (403 `{"message":"forbidden."}`).
#[derive(Debug, Deserialize)]
pub struct ApiError {
    pub code: Option<u64>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Clock {
    pub timestamp: DateTime<FixedOffset>,
    pub is_open: bool,
    pub next_open: Option<DateTime<FixedOffset>>,
    pub next_close: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub status: Option<String>,
    pub currency: Option<String>,
    pub cash: Option<String>,
    pub buying_power: Option<String>,
    pub equity: Option<String>,
    pub last_equity: Option<String>,
    pub long_market_value: Option<String>,
    #[serde(default)]
    pub trading_blocked: bool,
    #[serde(default)]
    pub account_blocked: bool,
    #[serde(default)]
    pub trade_suspended_by_user: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Position {
    pub symbol: String,
    pub qty: String,
    pub side: Option<String>,
    pub avg_entry_price: Option<String>,
    pub market_value: Option<String>,
    pub unrealized_pl: Option<String>,
    pub current_price: Option<String>,
}

impl Position {
    /// Signed shares; Alpaca sends shorts as a negative qty.
    pub fn signed_qty(&self) -> f64 {
        self.qty.trim().parse().unwrap_or(0.0)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    pub id: String,
    pub client_order_id: String,
    pub symbol: String,
    pub side: Option<String>,
    pub qty: Option<String>,
    pub notional: Option<String>,
    pub filled_qty: Option<String>,
    pub filled_avg_price: Option<String>,
    pub status: OrderStatus,
    #[serde(rename = "type")]
    pub order_type: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub filled_at: Option<DateTime<Utc>>,
}

impl Order {
    pub fn side(&self) -> Option<Side> {
        match self.side.as_deref() {
            Some("buy") => Some(Side::Buy),
            Some("sell") => Some(Side::Sell),
            _ => None,
        }
    }

    /// Shares still to fill: qty − filled_qty (0 for notional orders whose qty is unknown).
    pub fn remaining_qty(&self) -> f64 {
        let parse = |s: &Option<String>| {
            s.as_deref()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (parse(&self.qty) - parse(&self.filled_qty)).max(0.0)
    }

    /// The order can never change again: see [`OrderStatus`].
    pub fn is_final(&self) -> bool {
        self.status.is_final()
    }
}

/// One execution from `GET /v2/account/activities/FILL`. `id` is unique per execution and is
/// the key that keeps each fill in the ledger exactly once.
#[derive(Debug, Clone, Deserialize)]
pub struct FillActivity {
    pub id: String,
    pub transaction_time: DateTime<Utc>,
    /// `fill` or `partial_fill`.
    #[serde(rename = "type")]
    pub fill_type: Option<String>,
    pub price: String,
    pub qty: String,
    pub side: String,
    pub symbol: String,
    pub order_id: String,
    pub order_status: Option<String>,
}

/// One SPLIT non-trade activity from `GET /v2/account/activities/SPLIT`: shares the broker
/// added (positive `qty`) or removed (negative) for a split, with no order and no price behind
/// them. A forward split is one entry adding shares; a reverse split removes every old share
/// and adds the new ones (two entries), so the signed sum is what the position changed by.
/// Fields per alpaca-py 0.44 `NonTradeActivity` (everything but `id` and `date` optional).
#[derive(Debug, Clone, Deserialize)]
pub struct SplitActivity {
    pub id: String,
    /// The day the split was booked: `YYYY-MM-DD` (alpaca-py types it a date).
    pub date: String,
    pub symbol: Option<String>,
    /// A decimal string in Alpaca's samples; alpaca-py also accepts a JSON number.
    pub qty: Option<serde_json::Value>,
    pub description: Option<String>,
}

impl SplitActivity {
    /// Signed shares as exact decimal text; `None` when absent, null or not a number.
    pub fn shares(&self) -> Option<String> {
        let text = match self.qty.as_ref()? {
            serde_json::Value::String(s) => s.trim().to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return None,
        };
        text.parse::<f64>()
            .ok()
            .filter(|q| q.is_finite())
            .map(|_| text)
    }

    /// The booking day, from `YYYY-MM-DD` or the date part of an RFC 3339 time.
    pub fn day(&self) -> Option<chrono::NaiveDate> {
        let head = self.date.get(..10)?;
        chrono::NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Trade {
    pub t: DateTime<Utc>,
    pub p: f64,
}

#[derive(Debug, Deserialize)]
pub struct LatestTrades {
    #[serde(default)]
    pub trades: HashMap<String, Trade>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct WireBar {
    pub t: DateTime<Utc>,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    #[serde(default)]
    pub v: f64,
    #[serde(default)]
    pub n: u64,
    pub vw: Option<f64>,
}

impl From<WireBar> for Bar {
    fn from(b: WireBar) -> Bar {
        Bar {
            time: b.t,
            open: b.o,
            high: b.h,
            low: b.l,
            close: b.c,
            volume: b.v,
            trades: b.n,
            vwap: b.vw.unwrap_or(f64::NAN),
        }
    }
}

/// One page of the multi-symbol bars endpoint. `bars` is `{}` (or absent) when empty.
#[derive(Debug, Deserialize)]
pub struct BarsPage {
    #[serde(default)]
    pub bars: Option<HashMap<String, Vec<WireBar>>>,
    pub next_page_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_tolerates_nulls_unknown_fields_and_unknown_statuses() {
        let json = r#"{"id":"61e69015-8549-4bfd-b9c3-01e75843f47d","client_order_id":"x","symbol":"AAPL",
            "qty":"2","notional":null,"filled_qty":"0.5","filled_avg_price":null,"order_class":"",
            "type":"market","side":"buy","status":"accepted_for_bidding","submitted_at":"2023-12-12T22:31:24.668464435Z",
            "filled_at":null,"brand_new_field":{"a":1}}"#;
        let o: Order = serde_json::from_str(json).unwrap();
        assert_eq!(o.remaining_qty(), 1.5);
        assert!(!o.is_final());
        assert_eq!(o.side(), Some(Side::Buy));
    }

    #[test]
    fn account_without_pdt_fields_and_with_long_decimals() {
        let json = r#"{"status":"ACTIVE","cash":"-23140.2","equity":"103820.56",
            "last_equity":"122011.09751111286868","buying_power":"245432.61","options_approved_level":2}"#;
        let a: Account = serde_json::from_str(json).unwrap();
        assert_eq!(a.last_equity.as_deref(), Some("122011.09751111286868"));
        assert!(!a.trading_blocked);
    }

    #[test]
    fn clock_keeps_the_new_york_offset() {
        let json = r#"{"timestamp":"2026-10-05T10:00:00.123456789-04:00","is_open":true,
            "next_open":"2026-10-06T09:30:00-04:00","next_close":"2026-10-05T16:00:00-04:00"}"#;
        let c: Clock = serde_json::from_str(json).unwrap();
        assert_eq!(
            c.timestamp.with_timezone(&Utc).to_rfc3339(),
            "2026-10-05T14:00:00.123456789+00:00"
        );
    }

    #[test]
    fn split_activities_as_alpaca_and_alpaca_py_send_them() {
        let text = r#"[
          {"id":"20261124000000000::a","activity_type":"SPLIT","date":"2026-11-24",
           "net_amount":"0","description":"ADD, From QTY:10, To QTY:20","status":"executed",
           "symbol":"AAPL","qty":"10","price":"115.5","per_share_amount":null},
          {"id":"20261125000000000::b","activity_type":"SPLIT","date":"2026-11-25T00:00:00Z",
           "net_amount":0,"description":"","symbol":"TSLA","qty":-30},
          {"id":"20261125000000000::c","activity_type":"SPLIT","date":"2026-11-25","qty":null}
        ]"#;
        let all: Vec<SplitActivity> = serde_json::from_str(text).unwrap();
        assert_eq!(all[0].shares().as_deref(), Some("10"));
        assert_eq!(all[1].shares().as_deref(), Some("-30"));
        assert_eq!(all[2].shares(), None);
        assert_eq!(all[2].symbol, None);
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 25);
        assert_eq!(all[1].day(), day);
        assert_eq!(all[2].day(), day);
    }

    #[test]
    fn empty_bars_page_shapes() {
        let p: BarsPage = serde_json::from_str(r#"{"bars":{},"next_page_token":null}"#).unwrap();
        assert!(p.bars.unwrap().is_empty() && p.next_page_token.is_none());
        let p: BarsPage = serde_json::from_str(r#"{"bars":null}"#).unwrap();
        assert!(p.bars.is_none());
    }
}

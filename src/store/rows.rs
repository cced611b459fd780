//! One struct per ledger: its fields are the file's columns, in order, and the header is
//! generated from them (see [`header`]), so a column cannot be added to a writer and missed
//! by a reader, or named in a list that drifts from the row.
//!
//! The files keep the format older versions wrote, byte for byte: the same header, times as
//! `YYYY-MM-DD HH:MM:SS`, an empty cell for "none", share counts and the broker's numbers as
//! their own decimal text (see [`super::cells`]). A ledger written by an older version reads
//! back into these structs (tested below with such a file, verbatim).
//!
//! Pure: no I/O; [`super::ledger::Ledger`] reads and writes the files.

use super::cells::{self, Decimal};
use crate::domain::{Action, ClientOrderId, OrderStatus, Qty, Side, Signal};
use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A ledger's row type.
pub trait Row: Serialize + DeserializeOwned {
    /// The file's name in the ledger folder.
    const FILE: &'static str;
    /// Whether the last field holds the rest of the row, one cell per column named when the
    /// ledger is opened (equity.csv's position per configured symbol) rather than one cell
    /// named after the field.
    const TAIL: bool = false;

    /// Cells in this row's tail (see [`Row::TAIL`]).
    fn tail_len(&self) -> usize {
        0
    }
}

/// The header: the struct's field names as serde reads them (renames applied), the tail
/// field replaced by the `tail` column names.
pub fn header<R: Row>(tail: &[&str]) -> Vec<String> {
    let fields = field_names::<R>();
    let fixed = if R::TAIL {
        &fields[..fields.len().saturating_sub(1)]
    } else {
        fields
    };
    fixed.iter().chain(tail).map(|c| c.to_string()).collect()
}

/// The field names a struct's derived `Deserialize` asks for: serde passes them to
/// `deserialize_struct`, which this deserializer records and then stops.
fn field_names<R: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::value::Error;
    use serde::de::Visitor;
    struct Names(&'static [&'static str]);
    impl<'de> Deserializer<'de> for &mut Names {
        type Error = Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(Error::custom("a ledger row is a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            self.0 = fields;
            Err(Error::custom("field names only"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut names = Names(&[]);
    let _ = R::deserialize(&mut names);
    names.0
}

/// One row of decisions.csv: what the tick decided for one symbol, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRow {
    #[serde(with = "cells::time")]
    pub time_utc: DateTime<Utc>,
    pub symbol: String,
    /// The strategy's short tag (`thr`, `sma`, ...).
    pub strategy: String,
    /// The last closed bar the decision saw; none when the market was closed.
    #[serde(with = "cells::opt_time")]
    pub bar_time_utc: Option<DateTime<Utc>>,
    /// The latest trade's price; none when there was none.
    #[serde(with = "cells::opt_f64")]
    pub price: Option<f64>,
    /// The shares the bot held (signed).
    #[serde(with = "cells::qty")]
    pub position: Qty,
    #[serde(with = "cells::signal")]
    pub signal: Signal,
    pub action: Action,
    /// The order's shares, when the decision made one.
    #[serde(with = "cells::opt_qty")]
    pub qty: Option<Qty>,
    pub client_order_id: Option<ClientOrderId>,
    pub reason: String,
}

impl Row for DecisionRow {
    const FILE: &'static str = "decisions.csv";
}

/// One row of orders.csv: an order the desk placed (or tried to), as it stood then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRow {
    #[serde(with = "cells::time")]
    pub time_utc: DateTime<Utc>,
    pub symbol: String,
    #[serde(with = "cells::opt_side")]
    pub side: Option<Side>,
    /// None for an order the broker listed without a qty (notional).
    #[serde(with = "cells::opt_qty")]
    pub qty: Option<Qty>,
    /// The reference price at decision time; none for an order recovered by reconcile.
    #[serde(with = "cells::opt_f64")]
    pub price: Option<f64>,
    /// `market`, or the broker's order type for a recovered order.
    #[serde(rename = "type")]
    pub order_type: String,
    pub client_order_id: ClientOrderId,
    /// The broker's id; none when the broker never had the order.
    pub order_id: Option<String>,
    pub status: OrderRowStatus,
    pub message: String,
}

impl Row for OrderRow {
    const FILE: &'static str = "orders.csv";
}

/// What orders.csv says of an order: the broker's status, or the desk's word for an order
/// the broker never showed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderRowStatus {
    Broker(OrderStatus),
    /// Refused by the client before a byte was sent (the tick's deadline).
    NotSent,
    /// Refused by the broker (or the keys were).
    Refused,
    /// No answer and not found: the next tick looks it up.
    Unknown,
    /// An earlier tick's intent, absent at the broker after the grace period.
    NotPlaced,
}

impl OrderRowStatus {
    const DESK: [(OrderRowStatus, &'static str); 4] = [
        (OrderRowStatus::NotSent, "not sent"),
        (OrderRowStatus::Refused, "refused"),
        (OrderRowStatus::Unknown, "unknown"),
        (OrderRowStatus::NotPlaced, "not placed"),
    ];

    pub fn as_str(&self) -> &str {
        match self {
            OrderRowStatus::Broker(s) => s.as_str(),
            desk => Self::DESK
                .iter()
                .find(|(k, _)| k == desk)
                .map_or("unknown", |(_, name)| name),
        }
    }
}

impl From<&str> for OrderRowStatus {
    /// Any other text is the broker's (an unknown status is kept, as [`OrderStatus`] keeps it).
    fn from(text: &str) -> OrderRowStatus {
        Self::DESK
            .iter()
            .find(|(_, name)| *name == text)
            .map_or_else(|| OrderRowStatus::Broker(text.into()), |(k, _)| k.clone())
    }
}

impl fmt::Display for OrderRowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OrderRowStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OrderRowStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(OrderRowStatus::from(String::deserialize(d)?.as_str()))
    }
}

/// One row of fills.csv. Three kinds share the columns (see [`FillRow::kind`]): an execution
/// (a FILL activity), an adjustment (shares without a trade), and the end of an order that did
/// not fill completely (no activity id; `qty` is what was left unfilled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillRow {
    #[serde(with = "cells::time")]
    pub time_utc: DateTime<Utc>,
    pub symbol: String,
    /// None for the end of an order the broker listed without a side.
    pub side: Option<FillSide>,
    /// Shares: executed, changed (signed, for an adjustment), or left unfilled.
    #[serde(with = "cells::qty")]
    pub qty: Qty,
    /// The execution's price as the broker wrote it; none for the other kinds.
    pub price: Option<Decimal>,
    pub order_id: Option<String>,
    pub client_order_id: Option<ClientOrderId>,
    /// `fill` / `partial_fill` (Alpaca's fill type), `split` / `confirmed` (an adjustment), or
    /// the order's final status.
    pub status: FillStatus,
    /// Alpaca's activity id (an adjustment's own id); none for the end of an order.
    pub activity_id: Option<String>,
    /// Who wrote the row: `tick` or `reconcile`.
    pub source: String,
}

impl Row for FillRow {
    const FILE: &'static str = "fills.csv";
}

/// What a fills.csv row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillKind<'a> {
    Execution { activity_id: &'a str, side: Side },
    Adjustment { activity_id: &'a str },
    Ended,
}

impl FillRow {
    /// The row's kind, or why it is none (an activity that is neither a trade nor an
    /// adjustment: the bot cannot know what it holds).
    pub fn kind(&self) -> Result<FillKind<'_>, String> {
        match (&self.activity_id, self.side) {
            (None, _) => Ok(FillKind::Ended),
            (Some(id), Some(FillSide::Adjust)) => Ok(FillKind::Adjustment { activity_id: id }),
            (Some(id), Some(FillSide::Trade(side))) => Ok(FillKind::Execution {
                activity_id: id,
                side,
            }),
            (Some(id), None) => Err(format!("activity {id} has no side")),
        }
    }

    /// Shares this row adds to the position (signed); zero for the end of an order.
    pub fn signed_qty(&self) -> Qty {
        match self.kind() {
            Ok(FillKind::Execution {
                side: Side::Sell, ..
            }) => -self.qty,
            Ok(FillKind::Execution { .. } | FillKind::Adjustment { .. }) => self.qty,
            Ok(FillKind::Ended) | Err(_) => Qty::ZERO,
        }
    }
}

/// fills.csv's `side`: a trade's side, or `adjust` for shares that changed without a trade
/// (a split, or a change the person confirmed): such a row's `qty` is signed and its `price`
/// empty, so it moves the position and never reads as a buy or sell at some price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillSide {
    Trade(Side),
    Adjust,
}

impl FillSide {
    pub fn as_str(self) -> &'static str {
        match self {
            FillSide::Trade(side) => side.as_str(),
            FillSide::Adjust => "adjust",
        }
    }
}

impl Serialize for FillSide {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `sell_short`, which rows written before sides were parsed at the broker's boundary may
/// hold, is a sell.
impl<'de> Deserialize<'de> for FillSide {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "adjust" {
            return Ok(FillSide::Adjust);
        }
        cells::parse_side(&text)
            .map(FillSide::Trade)
            .ok_or_else(|| D::Error::custom(format!("\"{text}\" is not buy, sell or adjust")))
    }
}

/// fills.csv's `status`: see [`FillRow::status`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FillStatus {
    Fill,
    PartialFill,
    Split,
    Confirmed,
    /// The final status of an order that ended unfilled; also any fill type Alpaca adds later.
    Order(OrderStatus),
}

impl FillStatus {
    const NAMED: [(FillStatus, &'static str); 4] = [
        (FillStatus::Fill, "fill"),
        (FillStatus::PartialFill, "partial_fill"),
        (FillStatus::Split, "split"),
        (FillStatus::Confirmed, "confirmed"),
    ];

    pub fn as_str(&self) -> &str {
        match self {
            FillStatus::Order(s) => s.as_str(),
            named => Self::NAMED
                .iter()
                .find(|(k, _)| k == named)
                .map_or("fill", |(_, name)| name),
        }
    }
}

impl From<&str> for FillStatus {
    fn from(text: &str) -> FillStatus {
        Self::NAMED
            .iter()
            .find(|(_, name)| *name == text)
            .map_or_else(|| FillStatus::Order(text.into()), |(k, _)| k.clone())
    }
}

impl fmt::Display for FillStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FillStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FillStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(FillStatus::from(String::deserialize(d)?.as_str()))
    }
}

/// One row of equity.csv: the account as the broker reported it at a tick, in the broker's
/// digits (an empty cell when it did not say), then the bot's shares of each configured
/// symbol, one column per symbol in the config's order, named after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EquityRow {
    #[serde(with = "cells::time")]
    pub time_utc: DateTime<Utc>,
    pub equity: Option<Decimal>,
    pub cash: Option<Decimal>,
    pub long_market_value: Option<Decimal>,
    pub buying_power: Option<Decimal>,
    /// The tail: one cell per configured symbol (see [`Row::TAIL`]).
    #[serde(with = "cells::qty_list")]
    pub positions: Vec<Qty>,
}

impl Row for EquityRow {
    const FILE: &'static str = "equity.csv";
    const TAIL: bool = true;

    fn tail_len(&self) -> usize {
        self.positions.len()
    }
}

#[cfg(test)]
#[path = "rows_tests.rs"]
mod tests;

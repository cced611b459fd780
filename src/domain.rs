//! Plain values shared by every part of the bot: bars, sides, signals, timeframes, and (from
//! their own modules) exact share quantities and client order ids.
//!
//! Nothing here does I/O or knows about Alpaca's wire format; the Alpaca module converts its
//! JSON into these types, and the strategy, backtester and ledgers only ever see these.

pub use crate::client_order_id::ClientOrderId;
pub use crate::qty::Qty;
use chrono::{DateTime, Duration, Utc};
use std::fmt;
use std::str::FromStr;

/// One OHLCV bar, labelled by its start time (Alpaca's convention: the 09:31 bar holds
/// trades from 09:31:00 to 09:31:59).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub time: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    /// Number of trades in the bar; 0 when the source does not say (imported CSVs).
    pub trades: u64,
    /// Volume-weighted average price; NaN when the source does not say.
    pub vwap: f64,
}

/// The side of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A symbol's latest trade as the broker reported it: the price a tick decides and sizes on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LastTrade {
    pub time: DateTime<Utc>,
    pub price: f64,
}

/// What a tick did about one symbol: decisions.csv's `action` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Hold,
    /// A guard (or missing data, or an unsettled earlier order) stopped it.
    Refused,
    /// A strategy's order, or a reversal's leg.
    Order,
    /// The daily-loss flatten.
    Flatten,
    /// A dry run's order, recorded and not sent.
    DryRun,
    /// The market was closed: nothing decided.
    MarketClosed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Hold => "hold",
            Action::Refused => "refused",
            Action::Order => "order",
            Action::Flatten => "flatten",
            Action::DryRun => "dry-run",
            Action::MarketClosed => "market-closed",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a strategy wants done on this bar. `Buy` and `Sell` are directions, not sizes:
/// sizing belongs to the caller (the tick uses the configured qty, the backtester its sizing
/// rule), so the same decision function serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Buy,
    Sell,
    Hold,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Buy => "buy",
            Signal::Sell => "sell",
            Signal::Hold => "hold",
        }
    }

    pub fn side(self) -> Option<Side> {
        match self {
            Signal::Buy => Some(Side::Buy),
            Signal::Sell => Some(Side::Sell),
            Signal::Hold => None,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bar sizes the bot supports, spelled as Alpaca spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timeframe {
    Min1,
    Min5,
    Min15,
    Hour1,
    Day1,
}

impl Timeframe {
    pub const ALL: [Timeframe; 5] = [
        Timeframe::Min1,
        Timeframe::Min5,
        Timeframe::Min15,
        Timeframe::Hour1,
        Timeframe::Day1,
    ];

    /// The `timeframe` query value Alpaca expects, also used in cache file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::Min1 => "1Min",
            Timeframe::Min5 => "5Min",
            Timeframe::Min15 => "15Min",
            Timeframe::Hour1 => "1Hour",
            Timeframe::Day1 => "1Day",
        }
    }

    pub fn duration(self) -> Duration {
        match self {
            Timeframe::Min1 => Duration::minutes(1),
            Timeframe::Min5 => Duration::minutes(5),
            Timeframe::Min15 => Duration::minutes(15),
            Timeframe::Hour1 => Duration::hours(1),
            Timeframe::Day1 => Duration::days(1),
        }
    }

    pub fn is_intraday(self) -> bool {
        self != Timeframe::Day1
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Timeframe {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timeframe::ALL
            .into_iter()
            .find(|tf| tf.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown timeframe `{s}` (expected one of 1Min, 5Min, 15Min, 1Hour, 1Day)")
            })
    }
}

/// An order's status as Alpaca reports it, every documented value mapped on purpose.
///
/// Only `filled`, `canceled`, `expired`, `rejected` and `replaced` are final. `done_for_day` and
/// `calculated` look finished but are not (a GTC order resumes the next session; settlement is
/// pending), and a status Alpaca adds later is unknown to us: both count as working, because
/// calling a working order final lets the next bar send a second order for the same decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    New,
    PartiallyFilled,
    Filled,
    DoneForDay,
    Canceled,
    Expired,
    Replaced,
    PendingCancel,
    PendingReplace,
    PendingNew,
    PendingReview,
    Accepted,
    AcceptedForBidding,
    Stopped,
    Rejected,
    Suspended,
    Calculated,
    Held,
    /// A status this build does not know: working.
    Other(String),
}

impl OrderStatus {
    const NAMED: [(OrderStatus, &'static str); 18] = [
        (OrderStatus::New, "new"),
        (OrderStatus::PartiallyFilled, "partially_filled"),
        (OrderStatus::Filled, "filled"),
        (OrderStatus::DoneForDay, "done_for_day"),
        (OrderStatus::Canceled, "canceled"),
        (OrderStatus::Expired, "expired"),
        (OrderStatus::Replaced, "replaced"),
        (OrderStatus::PendingCancel, "pending_cancel"),
        (OrderStatus::PendingReplace, "pending_replace"),
        (OrderStatus::PendingNew, "pending_new"),
        (OrderStatus::PendingReview, "pending_review"),
        (OrderStatus::Accepted, "accepted"),
        (OrderStatus::AcceptedForBidding, "accepted_for_bidding"),
        (OrderStatus::Stopped, "stopped"),
        (OrderStatus::Rejected, "rejected"),
        (OrderStatus::Suspended, "suspended"),
        (OrderStatus::Calculated, "calculated"),
        (OrderStatus::Held, "held"),
    ];

    /// Alpaca's spelling, as written to the ledgers.
    pub fn as_str(&self) -> &str {
        match self {
            OrderStatus::Other(s) => s,
            known => Self::NAMED
                .iter()
                .find(|(k, _)| k == known)
                .map_or("unknown", |(_, name)| name),
        }
    }

    /// The order can never change again.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Expired
                | OrderStatus::Rejected
                | OrderStatus::Replaced
        )
    }
}

impl From<&str> for OrderStatus {
    fn from(s: &str) -> OrderStatus {
        Self::NAMED
            .iter()
            .find(|(_, name)| *name == s)
            .map_or_else(|| OrderStatus::Other(s.to_string()), |(k, _)| k.clone())
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for OrderStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(OrderStatus::from(s.as_str()))
    }
}

/// True for ticker symbols Alpaca trades as US equities: 1 to 10 characters of capital
/// letters, digits, `.` and `/` (BRK.B, BF/B), starting with a letter.
pub fn is_valid_symbol(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && s.len() <= 10
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.' || c == '/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframe_round_trips_and_rejects_unknown() {
        for tf in Timeframe::ALL {
            assert_eq!(tf.as_str().parse::<Timeframe>().unwrap(), tf);
        }
        assert!("2Min".parse::<Timeframe>().is_err());
    }

    #[test]
    fn only_five_order_statuses_are_final_and_unknown_ones_are_working() {
        let finals: Vec<&str> = OrderStatus::NAMED
            .iter()
            .filter(|(k, _)| k.is_final())
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(
            finals,
            ["filled", "canceled", "expired", "replaced", "rejected"]
        );
        for (status, name) in OrderStatus::NAMED {
            assert_eq!(OrderStatus::from(name), status);
            assert_eq!(status.as_str(), name);
        }
        let later = OrderStatus::from("pending_settlement");
        assert!(!later.is_final());
        assert_eq!(later.as_str(), "pending_settlement");
    }

    #[test]
    fn symbol_format() {
        for ok in ["AAPL", "TSLA", "BRK.B", "BF/B", "A"] {
            assert!(is_valid_symbol(ok), "{ok}");
        }
        for bad in ["", "aapl", "1AB", "AAPL ", "TOOLONGSYMB", "AA-PL"] {
            assert!(!is_valid_symbol(bad), "{bad}");
        }
    }
}

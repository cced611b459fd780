//! Plain values shared by every part of the bot: bars, sides, signals, timeframes, and (from
//! their own modules) exact share quantities and client order ids.
//!
//! Nothing here does I/O or knows about Alpaca's wire format; the Alpaca module converts its
//! JSON into these types, and the strategy, backtester and ledgers only ever see these.

pub use crate::client_order_id::ClientOrderId;
pub use crate::qty::Qty;
use chrono::{DateTime, Datelike, Duration, Utc};
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
    /// Number of trades in the bar; 0 when the source does not say (imported CSVs). Four
    /// bytes (no bar has four billion trades) make a `Bar` 64 bytes, not 72: a million-bar
    /// backtest holds 8 MB less.
    pub trades: u32,
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
    /// A calendar week, Monday to Sunday in New York, stamped (as Alpaca stamps it) at the
    /// start of its first trading day. For backtests and imports; the tick does not trade it.
    Week1,
    /// A calendar month in New York, stamped at the start of its first trading day. For
    /// backtests and imports; the tick does not trade it.
    Month1,
}

impl Timeframe {
    pub const ALL: [Timeframe; 7] = [
        Timeframe::Min1,
        Timeframe::Min5,
        Timeframe::Min15,
        Timeframe::Hour1,
        Timeframe::Day1,
        Timeframe::Week1,
        Timeframe::Month1,
    ];

    /// The `timeframe` query value Alpaca expects, also used in cache file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::Min1 => "1Min",
            Timeframe::Min5 => "5Min",
            Timeframe::Min15 => "15Min",
            Timeframe::Hour1 => "1Hour",
            Timeframe::Day1 => "1Day",
            Timeframe::Week1 => "1Week",
            Timeframe::Month1 => "1Month",
        }
    }

    /// How long a bar lasts; for a month the longest, 31 days (months differ: the calendar
    /// rule is [`Timeframe::period`]).
    pub fn duration(self) -> Duration {
        match self {
            Timeframe::Min1 => Duration::minutes(1),
            Timeframe::Min5 => Duration::minutes(5),
            Timeframe::Min15 => Duration::minutes(15),
            Timeframe::Hour1 => Duration::hours(1),
            Timeframe::Day1 => Duration::days(1),
            Timeframe::Week1 => Duration::days(7),
            Timeframe::Month1 => Duration::days(31),
        }
    }

    pub fn is_intraday(self) -> bool {
        matches!(
            self,
            Timeframe::Min1 | Timeframe::Min5 | Timeframe::Min15 | Timeframe::Hour1
        )
    }

    /// Can the tick trade bars of this size? Weekly and monthly bars are for backtests and
    /// imports: a bar that closes once a month cannot be traded by a minute's cron.
    pub fn is_tradable(self) -> bool {
        !matches!(self, Timeframe::Week1 | Timeframe::Month1)
    }

    /// For weekly and monthly bars, the calendar period `t` falls in, numbered so that
    /// consecutive periods differ by 1: weeks Monday to Sunday and months, in New York time
    /// (where Alpaca's stamps fall on the period's first trading day). `None` for the other
    /// sizes, which have no calendar period.
    pub fn period(self, t: DateTime<Utc>) -> Option<i64> {
        let day = t.with_timezone(&chrono_tz::America::New_York).date_naive();
        match self {
            // Days since 1970-01-01 (a Thursday): + 3 makes Monday the first day of a week.
            Timeframe::Week1 => Some((day.num_days_from_ce() as i64 - 719_163 + 3).div_euclid(7)),
            Timeframe::Month1 => Some(i64::from(day.year()) * 12 + i64::from(day.month0())),
            _ => None,
        }
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
                format!("unknown timeframe `{s}` (expected one of 1Min, 5Min, 15Min, 1Hour, 1Day, 1Week, 1Month)")
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
        assert_eq!("1month".parse::<Timeframe>(), Ok(Timeframe::Month1));
        assert!(!Timeframe::Week1.is_intraday() && !Timeframe::Month1.is_tradable());
    }

    #[test]
    fn weeks_run_monday_to_sunday_and_months_by_the_calendar_in_new_york() {
        use chrono::TimeZone;
        let ny = |y, m, d, h| {
            chrono_tz::America::New_York
                .with_ymd_and_hms(y, m, d, h, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let week = |t| Timeframe::Week1.period(t).unwrap();
        // Mon 2024-01-01 .. Sun 01-07 is one week; Mon 01-08 the next.
        assert_eq!(week(ny(2024, 1, 1, 0)), week(ny(2024, 1, 7, 23)));
        assert_eq!(week(ny(2024, 1, 8, 0)), week(ny(2024, 1, 7, 23)) + 1);
        // Sunday 22:00 New York is Monday in UTC: still the week before.
        assert_eq!(week(ny(2024, 1, 14, 22)), week(ny(2024, 1, 8, 0)));
        let month = |t| Timeframe::Month1.period(t).unwrap();
        assert_eq!(month(ny(2024, 12, 31, 23)) + 1, month(ny(2025, 1, 1, 0)));
        assert_eq!(month(ny(2024, 2, 1, 0)), 2024 * 12 + 1);
        assert_eq!(Timeframe::Day1.period(ny(2024, 2, 1, 0)), None);
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

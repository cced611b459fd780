//! The bot's client order ids: their one format, and what makes an id the bot's.
//!
//! An id is derived from what caused the order (symbol, timeframe, bar, strategy, side), so the
//! same decision can never become two orders: Alpaca refuses a client order id it has seen,
//! forever. Every id the bot makes starts `pb-`; on a shared account, other ids are the
//! person's. Alpaca refuses ids longer than 128 characters, so that is checked when an id is
//! made, before any intent is saved.

use crate::domain::{Side, Timeframe};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Every id the bot makes starts with this.
pub const PREFIX: &str = "pb-";
/// Alpaca's limit on `client_order_id`.
pub const MAX_LEN: usize = 128;

/// A client order id the bot made (or read back from its own state file).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ClientOrderId(String);

/// Text that cannot be a client order id, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOrderIdError(pub String);

impl fmt::Display for ClientOrderIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClientOrderIdError {}

impl ClientOrderId {
    /// The order a strategy's decision on `bar_time` becomes.
    pub fn decision(
        symbol: &str,
        tf: Timeframe,
        bar_time: DateTime<Utc>,
        strategy: &str,
        side: Side,
    ) -> Result<ClientOrderId, ClientOrderIdError> {
        ClientOrderId::checked(format!(
            "{PREFIX}{symbol}-{tf}-{}-{strategy}-{side}",
            bar_time.format("%Y%m%dT%H%M")
        ))
    }

    /// The open leg of a reversal whose close leg is `close`: its own id, tied to the close's,
    /// so it too is sent at most once.
    pub fn reversal_open(close: &ClientOrderId) -> Result<ClientOrderId, ClientOrderIdError> {
        ClientOrderId::checked(format!("{}-open", close.0))
    }

    /// The order that closes `symbol` once the daily loss limit is hit: keyed by the New York
    /// trading `day`, so it is sent once per day per symbol.
    pub fn daily_loss_flatten(
        symbol: &str,
        tf: Timeframe,
        day: NaiveDate,
        side: Side,
    ) -> Result<ClientOrderId, ClientOrderIdError> {
        let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        ClientOrderId::decision(symbol, tf, midnight, "flat", side)
    }

    /// The `attempt`-th flatten of a day (2, 3, ...), sent after the earlier ones ended
    /// without filling completely (canceled, expired, rejected after acceptance): the day's
    /// first id is spent at Alpaca forever, so a retry needs its own. The number comes from
    /// the fills ledger's final rows, so a re-run of the same tick makes the same id.
    pub fn flatten_retry(
        first: &ClientOrderId,
        attempt: u32,
    ) -> Result<ClientOrderId, ClientOrderIdError> {
        ClientOrderId::checked(format!("{}-{attempt}", first.0))
    }

    /// The `attempt`-th protective order (1, 2, ...) for the position opened by `entry`: tied
    /// to the entry, so a crash between the entry's fill and this order's POST is repaired by
    /// the next tick under the same id, never twice. A later attempt follows one that ended
    /// without filling (canceled for a strategy exit that did not close everything, a `day`
    /// stop expired at the close); its number comes from the fills ledger's final rows.
    pub fn protection(
        entry: &ClientOrderId,
        attempt: u32,
    ) -> Result<ClientOrderId, ClientOrderIdError> {
        ClientOrderId::checked(format!("{}{PROTECTION_MARK}{attempt}", entry.0))
    }

    /// The entry a position is known by when the fills ledger names none (a position the
    /// bot found rather than opened): its symbol, side and average price, which a new entry
    /// changes.
    pub fn found_position(
        symbol: &str,
        side: Side,
        avg_entry_price: &str,
    ) -> Result<ClientOrderId, ClientOrderIdError> {
        ClientOrderId::checked(format!("{PREFIX}{symbol}-held-{side}-{avg_entry_price}"))
    }

    fn checked(text: String) -> Result<ClientOrderId, ClientOrderIdError> {
        if text.is_empty() {
            return Err(ClientOrderIdError("a client order id is empty".into()));
        }
        if text.len() > MAX_LEN {
            return Err(ClientOrderIdError(format!(
                "client order id \"{text}\" is {} characters, over Alpaca's {MAX_LEN}",
                text.len()
            )));
        }
        Ok(ClientOrderId(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_ours(&self) -> bool {
        is_ours(&self.0)
    }
}

/// What a protective id adds to its entry's id, before the attempt number.
const PROTECTION_MARK: &str = "-p";

/// Is this id one of the bot's protective orders (a stop, target or OCO resting at the
/// broker)? Such an order is not a pending trade: the strategy's position ignores it.
pub fn is_protective(client_order_id: &str) -> bool {
    is_ours(client_order_id)
        && client_order_id
            .rsplit_once(PROTECTION_MARK)
            .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Is this id (any order's, as the broker lists it) one the bot made?
pub fn is_ours(client_order_id: &str) -> bool {
    client_order_id.starts_with(PREFIX)
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for ClientOrderId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ClientOrderId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for ClientOrderId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

/// Any text that fits Alpaca's limit: an id read back (from state.json, a test), not made.
impl std::str::FromStr for ClientOrderId {
    type Err = ClientOrderIdError;
    fn from_str(text: &str) -> Result<ClientOrderId, ClientOrderIdError> {
        ClientOrderId::checked(text.to_string())
    }
}

/// A string, as written to state.json; empty or over 128 characters is refused.
impl<'de> Deserialize<'de> for ClientOrderId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ClientOrderId, D::Error> {
        ClientOrderId::checked(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_three_kinds_keep_todays_exact_text() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 15, 31, 0).unwrap();
        let id = ClientOrderId::decision("BRK.B", Timeframe::Min1, t, "sma", Side::Buy).unwrap();
        assert_eq!(id.as_str(), "pb-BRK.B-1Min-20261125T1531-sma-buy");
        let open = ClientOrderId::reversal_open(&id).unwrap();
        assert_eq!(open.as_str(), "pb-BRK.B-1Min-20261125T1531-sma-buy-open");
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let flat =
            ClientOrderId::daily_loss_flatten("TSLA", Timeframe::Min5, day, Side::Sell).unwrap();
        assert_eq!(flat.as_str(), "pb-TSLA-5Min-20261124T0000-flat-sell");
        let again = ClientOrderId::flatten_retry(&flat, 2).unwrap();
        assert_eq!(again.as_str(), "pb-TSLA-5Min-20261124T0000-flat-sell-2");
        assert!(id.is_ours() && open.is_ours() && flat.is_ours());
    }

    #[test]
    fn ids_over_alpacas_128_characters_are_refused_naming_the_id() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 15, 31, 0).unwrap();
        // "pb-" + symbol + "-1Min-20261125T1531-sma-buy" (27) = 128 with a 98-letter symbol.
        let fits = "A".repeat(98);
        let id = ClientOrderId::decision(&fits, Timeframe::Min1, t, "sma", Side::Buy).unwrap();
        assert_eq!(id.as_str().len(), 128);
        let long = "A".repeat(99);
        let e = ClientOrderId::decision(&long, Timeframe::Min1, t, "sma", Side::Buy).unwrap_err();
        assert!(e.to_string().contains("129 characters"), "{e}");
        // The open leg adds 5 characters: an id that fits can make one that does not.
        assert!(ClientOrderId::reversal_open(&id).is_err());
    }

    #[test]
    fn protection_derives_from_its_entry_and_no_other_id_looks_protective() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 15, 31, 0).unwrap();
        let entry = ClientOrderId::decision("AAPL", Timeframe::Min1, t, "thr", Side::Buy).unwrap();
        let p = ClientOrderId::protection(&entry, 1).unwrap();
        assert_eq!(p.as_str(), "pb-AAPL-1Min-20261125T1531-thr-buy-p1");
        assert_eq!(
            ClientOrderId::protection(&entry, 2).unwrap().as_str(),
            "pb-AAPL-1Min-20261125T1531-thr-buy-p2"
        );
        assert!(is_protective(p.as_str()));
        let flat =
            ClientOrderId::daily_loss_flatten("TSLA", Timeframe::Min5, t.date_naive(), Side::Sell)
                .unwrap();
        for other in [
            entry.clone(),
            ClientOrderId::reversal_open(&entry).unwrap(),
            ClientOrderId::flatten_retry(&flat, 2).unwrap(),
        ] {
            assert!(!is_protective(other.as_str()), "{other}");
        }
        assert!(!is_protective("someone-p1"));
        let found = ClientOrderId::found_position("AAPL", Side::Sell, "101.5").unwrap();
        assert_eq!(found.as_str(), "pb-AAPL-held-sell-101.5");
    }

    #[test]
    fn only_pb_ids_are_ours() {
        assert!(is_ours("pb-AAPL-1Min-20261124T1529-thr-buy"));
        assert!(!is_ours("someone-elses-order"));
        assert!(!is_ours("PB-AAPL"));
        assert!(!is_ours(""));
    }

    #[test]
    fn serde_is_a_plain_string_and_refuses_what_alpaca_would() {
        let id: ClientOrderId = serde_json::from_str("\"pb-AAPL-1Min-x\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"pb-AAPL-1Min-x\"");
        assert!(serde_json::from_str::<ClientOrderId>("\"\"").is_err());
        let long = format!("\"{}\"", "x".repeat(129));
        assert!(serde_json::from_str::<ClientOrderId>(&long).is_err());
    }
}

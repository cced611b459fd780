//! `data/state.json`: what the bot must remember between ticks.
//!
//! Above all the order intents: an intent is saved *before* its order is sent, and removed only
//! once the order's fate is in the orders ledger. An intent found at the start of a tick means
//! the previous tick died or lost a reply mid-order; it is resolved with the broker before
//! anything new is decided.

use super::files::write_atomic;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub last_tick: Option<TickRecord>,
    /// `next_open` of the closed session already written to the decisions ledger, so that a
    /// night of once-a-minute ticks writes one "market closed" row per symbol, not hundreds.
    pub closed_until_recorded: Option<DateTime<Utc>>,
    #[serde(default)]
    pub intents: Vec<OrderIntent>,
    /// Orders sent and not yet final: each tick records their fills, then forgets them.
    #[serde(default)]
    pub tracked: Vec<TrackedOrder>,
    /// Open legs of reversals whose close leg has not filled yet.
    #[serde(default)]
    pub pending_legs: Vec<crate::legs::PendingLeg>,
    #[serde(default)]
    pub risk: crate::risk::RiskState,
    #[serde(default)]
    pub ops: crate::ops::OpsState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedOrder {
    pub order_id: String,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    pub qty: String,
    pub submitted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickRecord {
    pub time: DateTime<Utc>,
    pub result: String,
}

/// An order about to be sent, or sent without a known outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderIntent {
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    pub qty: String,
    /// Reference price at decision time, for the ledger.
    pub price: f64,
    pub created_at: DateTime<Utc>,
}

impl State {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("state.json")
    }

    /// Load the state; a missing file is a fresh start. An unreadable file is an error, never
    /// silently replaced: it may hold an unresolved order intent.
    pub fn load(data_dir: &Path) -> Result<State> {
        let path = State::path(data_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State {
                    version: VERSION,
                    ..State::default()
                })
            }
            Err(e) => return Err(Error::io(&path, "read", e)),
        };
        serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            line: Some(e.line()),
            message: format!(
                "{e}; fix or move the file aside (a fresh one is created), after checking that any \
                 order in its `intents` is in data/ledger/orders.csv"
            ),
            path,
        })
    }

    pub fn save(&self, data_dir: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Refused(format!("cannot encode state: {e}")))?;
        json.push(b'\n');
        write_atomic(&State::path(data_dir), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn round_trip_and_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap().version, VERSION);
        let mut s = State::load(dir.path()).unwrap();
        s.intents.push(OrderIntent {
            client_order_id: "pb-x".into(),
            symbol: "AAPL".into(),
            side: "buy".into(),
            qty: "1".into(),
            price: 231.5,
            created_at: Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap(),
        });
        s.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), s);
    }

    #[test]
    fn a_corrupt_state_is_an_error_that_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("state.json"),
            "{\"version\": 1,\n\"intents\": [",
        )
        .unwrap();
        let e = State::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("state.json line 2"), "{e}");
    }
}

//! `data/state.json`: what the bot must remember between ticks.
//!
//! Above all the order intents: an intent is saved *before* its order is sent, and removed only
//! once the order's fate is in the orders ledger. An intent found at the start of a tick means
//! the previous tick died or lost a reply mid-order; it is resolved with the broker before
//! anything new is decided.
//!
//! A drawdown halt is also kept in its own small file, `data/halt.json`, written whenever the
//! state holds a halt and merged back on every load: a damaged state.json moved aside (as its
//! error says) must not resume trading. Only `rearm` removes it ([`clear_halt`]).

use super::files::write_atomic;
use super::TickLock;
use crate::domain::{ClientOrderId, Qty};
use crate::error::{Error, Result};
use crate::risk::Halt;
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
    /// A closed-market tick's protection ended with an unknown outcome (a lost POST): the
    /// next closed ticks put it back again (same client id, so never twice) until one knows,
    /// rather than leaving the position to meet the next open unprotected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed_protection_unknown: bool,
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
    /// What the tick needs from fills.csv and how far it has read it, so that a tick reads
    /// only the rows appended since ([`crate::fills::Summary`]). Absent: the next tick reads
    /// the ledger whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fills: Option<crate::fills::Summary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedOrder {
    pub order_id: String,
    /// As the broker lists it.
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    /// Shares ordered, as a decimal string; an empty string (an order the broker listed
    /// without a qty) reads as 0.
    #[serde(deserialize_with = "qty_or_zero")]
    pub qty: Qty,
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
    pub client_order_id: ClientOrderId,
    pub symbol: String,
    pub side: String,
    /// A decimal string, as sent.
    pub qty: Qty,
    /// Reference price at decision time, for the ledger.
    pub price: f64,
    pub created_at: DateTime<Utc>,
}

/// A tracked order's qty: a quantity, or `""` as written for an order listed without one.
fn qty_or_zero<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Qty, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) if s.trim().is_empty() => Ok(Qty::ZERO),
        other => Qty::deserialize(other).map_err(serde::de::Error::custom),
    }
}

impl State {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("state.json")
    }

    /// Load the state; a missing file is a fresh start. An unreadable file is an error, never
    /// silently replaced: it may hold an unresolved order intent.
    pub fn load(data_dir: &Path) -> Result<State> {
        let mut state = State::load_ignoring_halt_file(data_dir)?;
        if state.risk.halted.is_none() {
            state.risk.halted = load_halt(data_dir)?;
        }
        Ok(state)
    }

    /// state.json alone, for `rearm`, which must be able to clear an unreadable halt file.
    pub fn load_ignoring_halt_file(data_dir: &Path) -> Result<State> {
        let path = State::path(data_dir);
        let state = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::Corrupt {
                line: Some(e.line()),
                message: format!(
                    "{e}; fix or move the file aside (a fresh one is created), after checking that any \
                     order in its `intents` is in data/ledger/orders.csv"
                ),
                path,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::fresh(),
            Err(e) => return Err(Error::io(&path, "read", e)),
        };
        Ok(state)
    }

    /// A first tick's state.
    pub fn fresh() -> State {
        State {
            version: VERSION,
            ..State::default()
        }
    }

    /// Write the state atomically; a halt it holds goes to `halt.json` first, so that no
    /// moment exists where the halt is in neither file.
    pub fn save(&self, data_dir: &Path) -> Result<()> {
        if let Some(halt) = &self.risk.halted {
            if load_halt(data_dir).ok().flatten().as_ref() != Some(halt) {
                let mut json = serde_json::to_vec_pretty(halt)
                    .map_err(|e| Error::Refused(format!("cannot encode the halt: {e}")))?;
                json.push(b'\n');
                write_atomic(&halt_path(data_dir), &json)?;
            }
        }
        let mut json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Refused(format!("cannot encode state: {e}")))?;
        json.push(b'\n');
        write_atomic(&State::path(data_dir), &json)
    }
}

/// Remove temp files of state.json and halt.json left by a killed tick. Only the lock holder
/// writes these files, so under the lock none of them is live.
pub fn remove_leftover_temps(data_dir: &Path, lock: &TickLock) -> Result<()> {
    for path in [State::path(data_dir), halt_path(data_dir)] {
        for removed in super::files::remove_leftover_temps(&path, lock)? {
            log::info!(
                "removed {}, left by a tick that was killed while saving",
                removed.display()
            );
        }
    }
    Ok(())
}

/// `data/halt.json`: a drawdown halt that outlives state.json.
pub fn halt_path(data_dir: &Path) -> PathBuf {
    data_dir.join("halt.json")
}

/// The halt kept beside the state, if any. An unreadable halt file is an error, never "not
/// halted": trading resumes only by `rearm`.
pub fn load_halt(data_dir: &Path) -> Result<Option<Halt>> {
    let path = halt_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                line: Some(e.line()),
                message: format!(
                    "{e}; this file records a drawdown halt: run `prometheus-bot rearm` to resume \
                     trading"
                ),
                path,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, "read", e)),
    }
}

/// Remove the halt file: `rearm` only, after saving a state without the halt.
pub fn clear_halt(data_dir: &Path, _lock: &TickLock) -> Result<()> {
    let path = halt_path(data_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&path, "remove", e)),
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
            client_order_id: "pb-x".parse().unwrap(),
            symbol: "AAPL".into(),
            side: "buy".into(),
            qty: Qty::parse("1.5").unwrap(),
            price: 231.5,
            created_at: Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap(),
        });
        s.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), s);
    }

    /// state.json as the code before exact quantities wrote it: intents and tracked orders
    /// with string quantities (a tracked one empty), reversal legs with f64 numbers.
    #[test]
    fn a_state_file_written_with_float_quantities_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let old = r#"{
  "version": 1,
  "last_tick": null,
  "closed_until_recorded": null,
  "intents": [
    {
      "client_order_id": "pb-AAPL-1Min-20261124T1528-thr-buy",
      "symbol": "AAPL",
      "side": "buy",
      "qty": "0.3",
      "price": 231.0,
      "created_at": "2026-11-24T15:27:30Z"
    }
  ],
  "tracked": [
    {
      "order_id": "o1",
      "client_order_id": "pb-TSLA-1Min-20261124T1529-sma-sell",
      "symbol": "TSLA",
      "side": "sell",
      "qty": "1.123456789",
      "submitted_at": "2026-11-24T15:30:01Z"
    },
    {
      "order_id": "o2",
      "client_order_id": "pb-TSLA-1Min-20261124T1530-sma-buy",
      "symbol": "TSLA",
      "side": "buy",
      "qty": "",
      "submitted_at": "2026-11-24T15:31:01Z"
    }
  ],
  "pending_legs": [
    {
      "symbol": "TSLA",
      "side": "sell",
      "qty": 2.0,
      "client_order_id": "pb-TSLA-1Min-20261124T1529-sma-sell-open",
      "close_client_order_id": "pb-TSLA-1Min-20261124T1529-sma-sell",
      "bar_time": "2026-11-24T15:29:00Z",
      "day": "2026-11-24",
      "reason": "fast crossed below slow"
    },
    {
      "symbol": "AAPL",
      "side": "buy",
      "qty": 0.123456789,
      "client_order_id": "pb-AAPL-1Min-20261124T1529-sma-buy-open",
      "close_client_order_id": "pb-AAPL-1Min-20261124T1529-sma-buy",
      "bar_time": "2026-11-24T15:29:00Z",
      "day": "2026-11-24",
      "reason": "fast crossed above slow"
    }
  ]
}
"#;
        std::fs::write(dir.path().join("state.json"), old).unwrap();
        let s = State::load(dir.path()).unwrap();
        let q = |t: &str| Qty::parse(t).unwrap();
        assert_eq!(s.intents[0].qty, q("0.3"));
        assert_eq!(
            s.intents[0].client_order_id.as_str(),
            "pb-AAPL-1Min-20261124T1528-thr-buy"
        );
        assert_eq!(s.tracked[0].qty, q("1.123456789"));
        assert_eq!(s.tracked[1].qty, Qty::ZERO);
        assert_eq!(s.pending_legs[0].qty, q("2"));
        assert_eq!(s.pending_legs[1].qty, q("0.123456789"));
        assert_eq!(
            s.pending_legs[0].client_order_id.as_str(),
            "pb-TSLA-1Min-20261124T1529-sma-sell-open"
        );
        // Saved again, every quantity is a string.
        s.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
        assert!(text.contains(r#""qty": "0.3""#), "{text}");
        assert!(text.contains(r#""qty": "2""#), "{text}");
        assert!(text.contains(r#""qty": "0.123456789""#), "{text}");
        assert_eq!(State::load(dir.path()).unwrap(), s);
    }

    #[test]
    fn a_halt_outlives_the_state_file_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::fresh();
        s.risk.halted = Some(Halt {
            since: Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap(),
            reason: "drawdown 30.00%".into(),
        });
        s.save(dir.path()).unwrap();
        std::fs::rename(
            dir.path().join("state.json"),
            dir.path().join("state.json.bad"),
        )
        .unwrap();
        let back = State::load(dir.path()).unwrap();
        assert_eq!(back.risk.halted, s.risk.halted);
        assert!(back.intents.is_empty());
        // Saved without the halt (as `rearm` does), the halt file still holds it.
        let mut cleared = back.clone();
        cleared.risk.halted = None;
        cleared.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap().risk.halted, s.risk.halted);
        let lock = TickLock::acquire(dir.path()).unwrap();
        clear_halt(dir.path(), &lock).unwrap();
        assert_eq!(State::load(dir.path()).unwrap().risk.halted, None);
        // A damaged halt file is an error, never "not halted".
        std::fs::write(halt_path(dir.path()), "{").unwrap();
        let e = State::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("halt.json") && e.contains("rearm"), "{e}");
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

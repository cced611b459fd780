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

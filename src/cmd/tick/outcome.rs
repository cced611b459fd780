//! After the tick: counters, alerts, the metrics file and the dashboard. None of this may
//! fail a tick: a full disk for the metrics file or a dead webhook is logged and the tick's
//! own result stands.
//!
//! A tick that fails before it could read state.json still alerts and rewrites the metrics
//! file, but never writes state.json (the damaged file may hold an order intent a person must
//! check). Its alert bookkeeping goes to `data/ops-fallback.json` instead, so that a broken
//! state alerts once, not every minute, exactly as a tick failing for any other reason does.

use crate::config::Config;
use crate::error::Error;
use crate::ops::{self, alerts, prom};
use crate::store::files::replace_quick;
use crate::store::state::{load_halt, TickRecord};
use crate::store::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// How a tick that ran to its end ended. Its `Display` is the summary line the tick prints
/// and state.json's `last_tick.result` keeps (tests and people grep both), so the words live
/// here once; the counters and alerts match on the variant, never on the words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickOutcome {
    /// The market was open: each symbol's decision, joined ("AAPL hold; TSLA buy 2").
    Traded { summary: String },
    /// The market was closed; nothing was decided. `next_open` is the broker's, if it said.
    MarketClosed { next_open: Option<DateTime<Utc>> },
}

impl fmt::Display for TickOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TickOutcome::Traded { summary } => f.write_str(summary),
            TickOutcome::MarketClosed { .. } => f.write_str("market closed"),
        }
    }
}

/// What a tick without a readable state remembers for the next one: enough to alert once.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Fallback {
    last_tick: Option<TickRecord>,
    #[serde(default)]
    ops: crate::ops::OpsState,
}

fn fallback_path(config: &Config) -> PathBuf {
    config.bot.data_dir.join("ops-fallback.json")
}

/// The tick failed before it could run (`state` is `None` if state.json could not be read):
/// record, alert and publish as for any failed tick, save the state only if it was read.
pub(super) fn failed_early(
    config: &Config,
    state: Option<State>,
    error: Error,
    started: std::time::Instant,
) -> Error {
    let now = Utc::now();
    let outcome: Result<&TickOutcome, &Error> = Err(&error);
    match state {
        Some(mut state) => {
            record(config, &mut state, now, outcome, Vec::new(), started);
            if let Err(e) = state.save(&config.bot.data_dir) {
                log::warn!("{e}");
            }
            publish(config, &state, now, started.elapsed());
        }
        None => {
            let path = fallback_path(config);
            let saved: Fallback = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_default();
            let mut stand_in = State::fresh();
            stand_in.last_tick = saved.last_tick;
            stand_in.ops = saved.ops;
            // The metrics file must still show a halt: the halt file outlives the state.
            stand_in.risk.halted = load_halt(&config.bot.data_dir).ok().flatten();
            record(config, &mut stand_in, now, outcome, Vec::new(), started);
            let keep = Fallback {
                last_tick: stand_in.last_tick.clone(),
                ops: stand_in.ops.clone(),
            };
            match serde_json::to_vec_pretty(&keep) {
                Ok(json) => {
                    if let Err(e) = replace_quick(&path, &json) {
                        log::warn!("{e}");
                    }
                }
                Err(e) => log::warn!("cannot encode {}: {e}", path.display()),
            }
            publish(config, &stand_in, now, started.elapsed());
        }
    }
    error
}

/// The state was read again: the stand-in bookkeeping of [`failed_early`] is over, so that a
/// later broken state alerts afresh.
pub(super) fn forget_fallback(config: &Config) {
    let path = fallback_path(config);
    match std::fs::remove_file(&path) {
        Ok(()) => log::info!("state.json is readable again; removed {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("{}", Error::io(&path, "remove", e)),
    }
}

/// Count the tick, note failure and recovery for alerts, send alerts, remember the result.
pub(super) fn record(
    config: &Config,
    state: &mut State,
    now: DateTime<Utc>,
    outcome: Result<&TickOutcome, &Error>,
    mut messages: Vec<String>,
    started: std::time::Instant,
) {
    let was_failing = state
        .last_tick
        .as_ref()
        .is_some_and(|t| t.result.starts_with("failed"));
    let (key, result) = match outcome {
        Ok(closed @ &TickOutcome::MarketClosed { .. }) => ("closed", closed.to_string()),
        Ok(traded @ &TickOutcome::Traded { .. }) => ("ok", traded.to_string()),
        Err(e) => ("failed", format!("failed: {e}")),
    };
    *state.ops.ticks.entry(key.to_string()).or_default() += 1;
    match outcome {
        Err(e) => {
            *state
                .ops
                .errors
                .entry(ops::error_kind(e).to_string())
                .or_default() += 1;
            if !was_failing {
                messages.push(format!("tick failed: {e}"));
            }
        }
        Ok(_) if was_failing => messages.push("recovered: ticks succeed again".to_string()),
        Ok(_) => {}
    }
    let repeat = Duration::minutes(i64::from(config.ops.alert_repeat_minutes));
    let channels = ops::channels::configured(&config.ops, &config.env_file());
    let channels: Vec<&dyn alerts::Deliver> = channels.iter().map(AsRef::as_ref).collect();
    alerts::send(
        &mut state.ops.alerts,
        &channels,
        messages,
        now,
        repeat,
        alert_budget(started.elapsed()),
    );
    state.last_tick = Some(TickRecord { time: now, result });
}

/// What a tick that has run for `elapsed` may still spend on alerts: [`alerts::BUDGET`], cut so
/// that the tick ends within [`TICK_ENDS_BY`] of its start, before cron starts the next one
/// (which would otherwise find the lock held). What is not sent waits for the next tick.
fn alert_budget(elapsed: std::time::Duration) -> std::time::Duration {
    alerts::BUDGET.min(TICK_ENDS_BY.saturating_sub(elapsed))
}

/// A tick's work ends this long after it started, at the latest: cron starts the next one a
/// minute after this one started.
const TICK_ENDS_BY: std::time::Duration = std::time::Duration::from_secs(55);

/// Rewrite the Prometheus text file, atomically (the collector never reads half a file).
pub(super) fn publish(
    config: &Config,
    state: &State,
    now: DateTime<Utc>,
    took: std::time::Duration,
) {
    let Some(path) = &config.ops.prom_file else {
        return;
    };
    let text = prom::render(&prom::Snapshot {
        tick_time_secs: now.timestamp(),
        tick_duration_secs: took.as_secs_f64(),
        tick_ok: state
            .last_tick
            .as_ref()
            .is_some_and(|t| !t.result.starts_with("failed")),
        kill_switch: config.bot.data_dir.join("STOP").exists(),
        halted: state.risk.halted.is_some(),
        daily_loss: state.risk.daily_loss_hit,
        ops: &state.ops,
    });
    if let Err(e) = replace_quick(path, text.as_bytes()) {
        log::warn!("cannot write the metrics file: {e}");
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;
    use std::time::Duration;

    /// 40 s of requests leave 10 s for alerts; 50 s leave 5; past 55 s, none.
    #[test]
    fn alerts_never_carry_a_tick_past_its_minute() {
        assert_eq!(
            alert_budget(Duration::from_secs(1)),
            Duration::from_secs(10)
        );
        assert_eq!(
            alert_budget(Duration::from_secs(50)),
            Duration::from_secs(5)
        );
        assert_eq!(alert_budget(Duration::from_secs(60)), Duration::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn config() -> Config {
        let text = "[[symbol]]\nname = \"AAPL\"\nqty = 1\n\
                    strategy = { kind = \"threshold\", buy_above = 230.0, sell_below = 220.0 }\n";
        Config::from_str(text, std::path::Path::new("/bot/config.toml")).unwrap()
    }

    #[test]
    fn the_summary_line_is_the_outcome_displayed() {
        let next_open = Utc.with_ymd_and_hms(2026, 11, 25, 14, 30, 0).single();
        assert_eq!(
            TickOutcome::MarketClosed { next_open }.to_string(),
            "market closed"
        );
        assert_eq!(
            TickOutcome::MarketClosed { next_open: None }.to_string(),
            "market closed"
        );
        let traded = TickOutcome::Traded {
            summary: "AAPL hold; TSLA buy 2".into(),
        };
        assert_eq!(traded.to_string(), "AAPL hold; TSLA buy 2");
    }

    /// The counters follow the variant, not the words: a traded summary that reads like the
    /// closed one (a symbol literally named so, a reworded message) still counts as traded.
    #[test]
    fn ticks_are_counted_by_the_outcome_variant() {
        let config = config();
        let mut state = State::fresh();
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 15, 30, 0).unwrap();
        let closed = Ok(TickOutcome::MarketClosed { next_open: None });
        record(
            &config,
            &mut state,
            now,
            closed.as_ref(),
            Vec::new(),
            std::time::Instant::now(),
        );
        let traded = Ok(TickOutcome::Traded {
            summary: "market closed".into(),
        });
        record(
            &config,
            &mut state,
            now,
            traded.as_ref(),
            Vec::new(),
            std::time::Instant::now(),
        );
        record(
            &config,
            &mut state,
            now,
            traded.as_ref(),
            Vec::new(),
            std::time::Instant::now(),
        );
        assert_eq!(state.ops.ticks.get("closed"), Some(&1));
        assert_eq!(state.ops.ticks.get("ok"), Some(&2));
        assert_eq!(
            state.last_tick.map(|t| t.result).as_deref(),
            Some("market closed")
        );
    }
}

//! After the tick: counters, alerts, the metrics file and the dashboard. None of this may
//! fail a tick: a full disk for the metrics file or a dead webhook is logged and the tick's
//! own result stands.

use crate::config::Config;
use crate::error::Error;
use crate::ops::{self, alerts, prom};
use crate::store::files::replace_quick;
use crate::store::state::TickRecord;
use crate::store::State;
use chrono::{DateTime, Duration, Utc};

/// Count the tick, note failure and recovery for alerts, send alerts, remember the result.
pub(super) fn record(
    config: &Config,
    state: &mut State,
    now: DateTime<Utc>,
    outcome: &Result<String, Error>,
    mut messages: Vec<String>,
) {
    let was_failing = state
        .last_tick
        .as_ref()
        .is_some_and(|t| t.result.starts_with("failed"));
    let (key, result) = match outcome {
        Ok(summary) if summary == "market closed" => ("closed", summary.clone()),
        Ok(summary) => ("ok", summary.clone()),
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
    let webhook = config.ops.webhook_url.as_ref().map(alerts::Webhook::new);
    let sink = webhook.as_ref().map(|w| w as &dyn alerts::Deliver);
    alerts::send(&mut state.ops.alerts, sink, messages, now, repeat);
    state.last_tick = Some(TickRecord { time: now, result });
}

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

//! Alerts: each message goes to every configured channel — the Slack-shaped webhook, email
//! (SMTP with STARTTLS, [`super::email`]) and Telegram ([`super::telegram`]).
//!
//! An identical message is not repeated within the configured window. A channel that cannot
//! be reached never fails a tick: the message stays in that channel's queue (bounded) and is
//! tried again on the next tick, while the other channels deliver theirs. All the sending of
//! one tick stops after [`BUDGET`], whatever is left waits: a tick must end within its minute.
//! Webhook URLs, SMTP passwords and bot tokens are secrets and never logged.

use crate::config::WebhookUrl;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most messages kept for a later try while a channel is down; the oldest are dropped.
const MAX_QUEUE: usize = 50;

/// How long one tick may keep starting deliveries, all channels together. A delivery started
/// within it is bounded by its own limit (webhook 3 s, Telegram 5 s, an SMTP session 10 s), so
/// a tick spends at most about 20 s on alerts however the channels misbehave.
pub const BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    /// Message → when it was last delivered, for suppressing repeats.
    #[serde(default)]
    pub sent: BTreeMap<String, DateTime<Utc>>,
    /// Messages the webhook has not taken yet (the name predates the other channels; state
    /// files written before them keep their queue).
    #[serde(default)]
    pub queue: Vec<String>,
    /// Messages not delivered yet on the other channels, by channel name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub queues: BTreeMap<String, Vec<String>>,
}

impl AlertState {
    fn queue_mut(&mut self, channel: &str) -> &mut Vec<String> {
        if channel == "webhook" {
            &mut self.queue
        } else {
            self.queues.entry(channel.to_string()).or_default()
        }
    }

    fn waiting(&self, text: &str) -> bool {
        self.queue
            .iter()
            .chain(self.queues.values().flatten())
            .any(|t| t == text)
    }
}

/// Something that can deliver one message (a real channel, or a test double).
pub trait Deliver {
    /// `webhook`, `email`, `telegram`: names the channel's queue and its log lines.
    fn name(&self) -> &'static str;
    fn deliver(&self, text: &str) -> Result<(), String>;
}

/// Queue `new` messages (minus repeats within `repeat`) on every channel, then let each
/// channel deliver its queue in order, stopping at its first failure or when `budget` is
/// spent. Returns how many deliveries were made (a message on two channels counts twice).
pub fn send(
    state: &mut AlertState,
    channels: &[&dyn Deliver],
    new: Vec<String>,
    now: DateTime<Utc>,
    repeat: Duration,
    budget: std::time::Duration,
) -> usize {
    state.sent.retain(|_, at| now - *at < repeat);
    let mut fresh = Vec::new();
    for text in new {
        if state.sent.contains_key(&text) || state.waiting(&text) || fresh.contains(&text) {
            log::debug!("alert suppressed as a repeat: {text}");
            continue;
        }
        fresh.push(text);
    }
    // A channel taken out of the config: what it still owed goes to the log.
    let configured = |name: &str| channels.iter().any(|c| c.name() == name);
    let mut orphaned = Vec::new();
    if !configured("webhook") {
        orphaned.append(&mut state.queue);
    }
    state.queues.retain(|name, queue| {
        if !configured(name) {
            orphaned.append(queue);
        }
        configured(name)
    });
    if channels.is_empty() {
        // No channel configured: the log is the only one.
        orphaned.append(&mut fresh);
    }
    orphaned.dedup();
    for text in orphaned {
        log::info!("alert: {text}");
    }
    let started = std::time::Instant::now();
    let mut delivered = 0;
    for channel in channels {
        let mut queue = std::mem::take(state.queue_mut(channel.name()));
        queue.extend(fresh.iter().cloned());
        let excess = queue.len().saturating_sub(MAX_QUEUE);
        queue.drain(..excess);
        while let Some(text) = queue.first().cloned() {
            if started.elapsed() >= budget {
                log::warn!(
                    "alerts took {} s this tick; {} {} message(s) kept for the next tick",
                    budget.as_secs(),
                    queue.len(),
                    channel.name()
                );
                break;
            }
            match channel.deliver(&text) {
                Ok(()) => {
                    queue.remove(0);
                    state.sent.insert(text, now);
                    delivered += 1;
                }
                Err(why) => {
                    log::warn!(
                        "alert {} unreachable ({why}); {} message(s) kept for the next tick",
                        channel.name(),
                        queue.len()
                    );
                    break;
                }
            }
        }
        *state.queue_mut(channel.name()) = queue;
    }
    delivered
}

/// The real webhook, over HTTPS (or loopback HTTP), with a short timeout.
pub struct Webhook {
    agent: ureq::Agent,
    url: WebhookUrl,
}

impl Webhook {
    pub fn new(url: &WebhookUrl) -> Webhook {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(3)))
            .build()
            .into();
        Webhook {
            agent,
            url: url.clone(),
        }
    }
}

impl Deliver for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn deliver(&self, text: &str) -> Result<(), String> {
        let body = serde_json::json!({ "text": format!("prometheus-bot: {text}") });
        match self.agent.post(self.url.expose()).send_json(&body) {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
            // Not the error text: it may carry the URL, whose path is a secret token.
            Err(ureq::Error::Timeout(_)) => Err("timed out".into()),
            Err(_) => Err("network error".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct Sink {
        name: &'static str,
        up: bool,
        got: RefCell<Vec<String>>,
        takes: std::time::Duration,
    }

    fn sink(name: &'static str, up: bool) -> Sink {
        Sink {
            name,
            up,
            got: RefCell::new(vec![]),
            takes: std::time::Duration::ZERO,
        }
    }

    const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

    impl Deliver for Sink {
        fn name(&self) -> &'static str {
            self.name
        }

        fn deliver(&self, text: &str) -> Result<(), String> {
            std::thread::sleep(self.takes);
            if self.up {
                self.got.borrow_mut().push(text.to_string());
                Ok(())
            } else {
                Err("down".into())
            }
        }
    }

    #[test]
    fn repeats_are_suppressed_and_a_down_webhook_keeps_the_queue() {
        let t0 = Utc::now();
        let hour = Duration::hours(1);
        let mut st = AlertState::default();
        let down = sink("webhook", false);
        assert_eq!(
            send(
                &mut st,
                &[&down],
                vec!["a".into(), "b".into()],
                t0,
                hour,
                HOUR
            ),
            0
        );
        assert_eq!(st.queue, ["a", "b"]);
        let up = sink("webhook", true);
        assert_eq!(
            send(
                &mut st,
                &[&up],
                vec!["a".into(), "c".into()],
                t0,
                hour,
                HOUR
            ),
            3,
            "queued a is not doubled"
        );
        assert_eq!(*up.got.borrow(), ["a", "b", "c"]);
        assert_eq!(
            send(
                &mut st,
                &[&up],
                vec!["a".into()],
                t0 + Duration::minutes(59),
                hour,
                HOUR
            ),
            0,
            "repeat within the hour"
        );
        assert_eq!(
            send(
                &mut st,
                &[&up],
                vec!["a".into()],
                t0 + Duration::minutes(61),
                hour,
                HOUR
            ),
            1,
            "after the window"
        );
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut st = AlertState::default();
        let down = sink("webhook", false);
        let many: Vec<String> = (0..80).map(|i| format!("m{i}")).collect();
        send(
            &mut st,
            &[&down],
            many,
            Utc::now(),
            Duration::hours(1),
            HOUR,
        );
        assert_eq!(st.queue.len(), MAX_QUEUE);
        assert_eq!(st.queue[0], "m30", "the oldest are dropped");
    }

    #[test]
    fn a_down_channel_keeps_its_own_queue_while_the_others_deliver_once() {
        let t0 = Utc::now();
        let hour = Duration::hours(1);
        let mut st = AlertState::default();
        let (hook, mail_down) = (sink("webhook", true), sink("email", false));
        let n = send(
            &mut st,
            &[&hook, &mail_down],
            vec!["a".into()],
            t0,
            hour,
            HOUR,
        );
        assert_eq!(n, 1);
        assert_eq!(*hook.got.borrow(), ["a"]);
        assert!(st.queue.is_empty());
        assert_eq!(st.queues["email"], ["a"]);
        // Email is back: it gets its backlog and the new message; the webhook only the new.
        let (hook, mail) = (sink("webhook", true), sink("email", true));
        let later = t0 + Duration::minutes(1);
        let n = send(
            &mut st,
            &[&hook, &mail],
            vec!["b".into()],
            later,
            hour,
            HOUR,
        );
        assert_eq!(n, 3);
        assert_eq!(*hook.got.borrow(), ["b"]);
        assert_eq!(*mail.got.borrow(), ["a", "b"]);
        assert!(st.queues["email"].is_empty());
        // A message still waiting on one channel is a repeat for all of them.
        let tg_down = sink("telegram", false);
        send(&mut st, &[&tg_down], vec!["c".into()], later, hour, HOUR);
        let (hook, tg) = (sink("webhook", true), sink("telegram", true));
        send(&mut st, &[&hook, &tg], vec!["c".into()], later, hour, HOUR);
        assert_eq!(*hook.got.borrow(), Vec::<String>::new(), "c was not new");
        assert_eq!(*tg.got.borrow(), ["c"]);
    }

    #[test]
    fn sending_stops_when_the_budget_is_spent_and_the_rest_waits() {
        let mut st = AlertState::default();
        let slow = Sink {
            takes: std::time::Duration::from_millis(40),
            ..sink("telegram", true)
        };
        let five: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
        let budget = std::time::Duration::from_millis(60);
        let n = send(
            &mut st,
            &[&slow],
            five,
            Utc::now(),
            Duration::hours(1),
            budget,
        );
        // Started at 0 ms and (if the machine is not slower) 40 ms; at 80 ms the budget is out.
        assert!((1..=2).contains(&n), "{n}");
        assert_eq!(st.queues["telegram"].len(), 5 - n);
    }

    #[test]
    fn a_channel_taken_out_of_the_config_leaves_no_queue_behind() {
        let mut st = AlertState::default();
        let down = sink("email", false);
        send(
            &mut st,
            &[&down],
            vec!["a".into()],
            Utc::now(),
            Duration::hours(1),
            HOUR,
        );
        assert_eq!(st.queues["email"], ["a"]);
        send(&mut st, &[], vec![], Utc::now(), Duration::hours(1), HOUR);
        assert!(st.queues.is_empty() && st.queue.is_empty());
    }
}

//! Webhook alerts: a Slack-compatible `{"text": "..."}` POST per message.
//!
//! An identical message is not repeated within the configured window. A webhook that cannot
//! be reached never fails a tick: the message stays queued (bounded) and is tried again on
//! the next tick. The webhook URL often embeds a secret token, so it is never logged.

use crate::config::WebhookUrl;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most messages kept for a later try while the webhook is down; the oldest are dropped.
const MAX_QUEUE: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    /// Message → when it was last delivered, for suppressing repeats.
    #[serde(default)]
    pub sent: BTreeMap<String, DateTime<Utc>>,
    /// Messages not delivered yet.
    #[serde(default)]
    pub queue: Vec<String>,
}

/// Something that can deliver one message (the real webhook, or a test double).
pub trait Deliver {
    fn deliver(&self, text: &str) -> Result<(), String>;
}

/// Queue `new` messages (minus repeats within `repeat`), then deliver the queue in order,
/// stopping at the first failure. Returns how many were delivered.
pub fn send(
    state: &mut AlertState,
    sink: Option<&dyn Deliver>,
    new: Vec<String>,
    now: DateTime<Utc>,
    repeat: Duration,
) -> usize {
    state.sent.retain(|_, at| now - *at < repeat);
    for text in new {
        if state.sent.contains_key(&text) || state.queue.contains(&text) {
            log::debug!("alert suppressed as a repeat: {text}");
            continue;
        }
        state.queue.push(text);
    }
    let excess = state.queue.len().saturating_sub(MAX_QUEUE);
    state.queue.drain(..excess);
    let Some(sink) = sink else {
        // No webhook configured: the log is the only channel.
        for text in state.queue.drain(..) {
            log::info!("alert: {text}");
        }
        return 0;
    };
    let mut delivered = 0;
    while let Some(text) = state.queue.first().cloned() {
        match sink.deliver(&text) {
            Ok(()) => {
                state.queue.remove(0);
                state.sent.insert(text, now);
                delivered += 1;
            }
            Err(why) => {
                log::warn!(
                    "alert webhook unreachable ({why}); {} message(s) kept for the next tick",
                    state.queue.len()
                );
                break;
            }
        }
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
        up: bool,
        got: RefCell<Vec<String>>,
    }

    impl Deliver for Sink {
        fn deliver(&self, text: &str) -> Result<(), String> {
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
        let down = Sink {
            up: false,
            got: RefCell::new(vec![]),
        };
        assert_eq!(
            send(&mut st, Some(&down), vec!["a".into(), "b".into()], t0, hour),
            0
        );
        assert_eq!(st.queue, ["a", "b"]);
        let up = Sink {
            up: true,
            got: RefCell::new(vec![]),
        };
        assert_eq!(
            send(&mut st, Some(&up), vec!["a".into(), "c".into()], t0, hour),
            3,
            "queued a is not doubled"
        );
        assert_eq!(*up.got.borrow(), ["a", "b", "c"]);
        assert_eq!(
            send(
                &mut st,
                Some(&up),
                vec!["a".into()],
                t0 + Duration::minutes(59),
                hour
            ),
            0,
            "repeat within the hour"
        );
        assert_eq!(
            send(
                &mut st,
                Some(&up),
                vec!["a".into()],
                t0 + Duration::minutes(61),
                hour
            ),
            1,
            "after the window"
        );
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut st = AlertState::default();
        let down = Sink {
            up: false,
            got: RefCell::new(vec![]),
        };
        let many: Vec<String> = (0..80).map(|i| format!("m{i}")).collect();
        send(&mut st, Some(&down), many, Utc::now(), Duration::hours(1));
        assert_eq!(st.queue.len(), MAX_QUEUE);
        assert_eq!(st.queue[0], "m30", "the oldest are dropped");
    }
}

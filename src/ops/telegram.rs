//! Telegram alerts: the Bot API's `POST /bot<TOKEN>/sendMessage` with `chat_id` and `text`,
//! the channel freqtrade users watch.
//!
//! The token stands in the URL's path, so neither the URL nor ureq's error text (which may
//! quote it) is ever logged or returned: failures are named by status, by Telegram's own
//! `description`, or as "timed out"/"network error".

use super::alerts::Deliver;
use crate::config::TelegramAlerts;
use crate::credentials::Secret;

/// Telegram's limit for one message's text, in characters.
const MAX_TEXT: usize = 4096;

pub struct Telegram {
    agent: ureq::Agent,
    /// `{api}/bot{token}/sendMessage`: a secret as a whole.
    url: Secret,
    chat_id: String,
}

impl Telegram {
    pub fn new(config: &TelegramAlerts, token: &Secret) -> Telegram {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(5)))
            .build()
            .into();
        Telegram {
            agent,
            url: Secret::new(format!("{}/bot{}/sendMessage", config.api, token.expose())),
            chat_id: config.chat_id.clone(),
        }
    }
}

/// What Telegram answers: `{"ok": false, "description": "Bad Request: chat not found"}`.
#[derive(serde::Deserialize)]
struct Answer {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    description: String,
}

impl Deliver for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn deliver(&self, text: &str) -> Result<(), String> {
        let text: String = format!("prometheus-bot: {text}")
            .chars()
            .take(MAX_TEXT)
            .collect();
        let body = serde_json::json!({ "chat_id": self.chat_id, "text": text });
        let mut response = match self.agent.post(self.url.expose()).send_json(&body) {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => return Err("timed out".into()),
            Err(_) => return Err("network error".into()),
        };
        let status = response.status().as_u16();
        let answer: Option<Answer> = response.body_mut().read_json().ok();
        match answer {
            Some(a) if a.ok && (200..300).contains(&status) => Ok(()),
            // Telegram's description names the problem ("chat not found"), never the token.
            Some(a) if !a.description.is_empty() => Err(format!(
                "HTTP {status}: {}",
                a.description.chars().take(200).collect::<String>()
            )),
            _ => Err(format!("HTTP {status}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Endpoint;
    use std::io::{BufRead, BufReader, Read, Write};

    /// One HTTP exchange on 127.0.0.1: returns the request line and body, answers `reply`.
    fn serve_once(
        status: &'static str,
        reply: &'static str,
    ) -> (String, std::thread::JoinHandle<(String, String)>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut len = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                line.clear();
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let mut s = stream;
            write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            )
            .unwrap();
            (request_line, String::from_utf8(body).unwrap())
        });
        (base, handle)
    }

    fn telegram(base: &str) -> Telegram {
        let config = TelegramAlerts {
            chat_id: "-100123".into(),
            api: Endpoint::parse_base(base).unwrap(),
        };
        Telegram::new(&config, &Secret::new("123456:TOKEN-SECRET"))
    }

    #[test]
    fn a_message_is_posted_to_the_bots_send_message_with_chat_and_text() {
        let (base, server) = serve_once("200 OK", r#"{"ok":true,"result":{}}"#);
        telegram(&base).deliver("AAPL: buy 1 filled").unwrap();
        let (request_line, body) = server.join().unwrap();
        assert_eq!(
            request_line,
            "POST /bot123456:TOKEN-SECRET/sendMessage HTTP/1.1\r\n"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["chat_id"], "-100123");
        assert_eq!(body["text"], "prometheus-bot: AAPL: buy 1 filled");
    }

    #[test]
    fn a_refusal_names_telegrams_reason_and_never_the_token() {
        let (base, server) = serve_once(
            "400 Bad Request",
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
        );
        let e = telegram(&base).deliver("x").unwrap_err();
        server.join().unwrap();
        assert_eq!(e, "HTTP 400: Bad Request: chat not found");
        // Nothing listens on a port just freed: the error is generic, without the URL.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let e = telegram(&closed).deliver("x").unwrap_err();
        assert!(!e.contains("TOKEN") && !e.contains("127.0.0.1"), "{e}");
    }
}

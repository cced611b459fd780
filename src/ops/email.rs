//! Email alerts: one plain-text message per alert, through [`super::smtp`] with STARTTLS.
//!
//! The alert's text goes in the subject (its first line, shortened) and in the body. Alert
//! texts can quote a broker's error message, so CR and LF never reach a header.

use super::alerts::Deliver;
use super::smtp::{self, Envelope, Login, Server};
use crate::config::EmailAlerts;
use crate::credentials::Secret;

pub struct Email {
    server: Server,
    config: EmailAlerts,
    password: Option<Secret>,
}

impl Email {
    /// `Err` when the `ca_file` cannot be read, or a username has no password: said once per
    /// tick in the log, never failing the tick.
    pub fn new(config: &EmailAlerts, password: Option<Secret>) -> Result<Email, String> {
        if config.username.is_some() && password.is_none() {
            return Err(format!(
                "[alerts.email] has a username but {} is not set in the environment or .env",
                crate::credentials::SMTP_PASSWORD_VAR
            ));
        }
        Ok(Email {
            server: Server {
                host: config.smtp_host.clone(),
                port: config.smtp_port,
                tls: smtp::tls_config(config.ca_file.as_deref())?,
            },
            config: config.clone(),
            password,
        })
    }
}

impl Deliver for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    fn deliver(&self, text: &str) -> Result<(), String> {
        let now = chrono::Utc::now();
        // Unique per message: the time to the nanosecond and the process.
        let id = format!(
            "{}.{}",
            now.timestamp_nanos_opt().unwrap_or_default(),
            std::process::id()
        );
        let data = message(&self.config, text, &now.to_rfc2822(), &id);
        let login = match (&self.config.username, &self.password) {
            (Some(user), Some(password)) => Some(Login { user, password }),
            _ => None,
        };
        smtp::send(
            &self.server,
            login,
            &Envelope {
                from: &self.config.from,
                to: &self.config.to,
                data: &data,
            },
        )
    }
}

/// The whole message: headers, a blank line, the body.
fn message(config: &EmailAlerts, text: &str, date: &str, id: &str) -> String {
    // The sender's domain, as mail programs do (`from` has one `@`, checked at load).
    let domain = config.from.rsplit('@').next().unwrap_or("localhost");
    let first = text.lines().next().unwrap_or("").trim();
    let full: Vec<char> = format!("prometheus-bot: {first}")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let mut subject: String = full.iter().take(90).collect();
    if full.len() > 90 {
        subject.push_str("...");
    }
    format!(
        "Date: {date}\r\nMessage-ID: <{id}@{domain}>\r\nFrom: {}\r\nTo: {}\r\nSubject: {}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n",
        config.from,
        config.to.join(", "),
        encode_header(&subject),
    )
}

/// A header value as it may be sent: ASCII as is, anything else as an RFC 2047 encoded word.
fn encode_header(value: &str) -> String {
    if value.is_ascii() {
        return value.to_string();
    }
    // Encoded words are at most 75 characters: 45 bytes of text each, split on characters.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in value.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    words
        .iter()
        .map(|w| format!("=?utf-8?B?{}?=", super::smtp::base64(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EmailAlerts {
        EmailAlerts {
            smtp_host: "smtp.example.com".into(),
            smtp_port: 587,
            username: Some("bot@example.com".into()),
            from: "bot@example.com".into(),
            to: vec!["me@example.com".into(), "you@example.com".into()],
            ca_file: None,
        }
    }

    #[test]
    fn an_alert_with_line_breaks_cannot_add_headers() {
        let m = message(
            &config(),
            "tick failed: x\r\nBcc: evil@example.com",
            "Fri, 4 Dec 2026 14:00:00 +0000",
            "1.2",
        );
        let (headers, body) = m.split_once("\r\n\r\n").unwrap();
        assert_eq!(
            headers,
            "Date: Fri, 4 Dec 2026 14:00:00 +0000\r\nMessage-ID: <1.2@example.com>\r\nFrom: bot@example.com\r\n\
             To: me@example.com, you@example.com\r\nSubject: prometheus-bot: tick failed: x\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit"
        );
        assert!(
            body.contains("Bcc: evil@example.com"),
            "the body keeps the whole text"
        );
    }

    #[test]
    fn a_long_first_line_is_shortened_in_the_subject_only() {
        let long = "x".repeat(200);
        let m = message(&config(), &long, "d", "i");
        let subject = m.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap();
        // "prometheus-bot: " (16) and 74 x's make 90 characters, then "..." (ASCII, so the
        // subject stays readable without encoding).
        assert_eq!(subject, format!("prometheus-bot: {}...", "x".repeat(74)));
        assert!(m.ends_with(&format!("{long}\r\n")));
        let exact = "y".repeat(74);
        let m = message(&config(), &exact, "d", "i");
        assert!(
            m.contains(&format!("Subject: prometheus-bot: {exact}\r\n")),
            "no \"...\" at exactly 90"
        );
    }

    #[test]
    fn a_non_ascii_subject_is_an_encoded_word() {
        // "é" is C3 A9: "prometheus-bot: é" in base64.
        assert_eq!(
            encode_header("prometheus-bot: é"),
            "=?utf-8?B?cHJvbWV0aGV1cy1ib3Q6IMOp?="
        );
        assert_eq!(encode_header("plain"), "plain");
    }

    #[test]
    fn a_username_without_a_password_is_said_naming_the_variable() {
        let e = Email::new(&config(), None).err().unwrap();
        assert!(e.contains("SMTP_PASSWORD"), "{e}");
        assert!(Email::new(&config(), Some(Secret::new("pw"))).is_ok());
    }
}

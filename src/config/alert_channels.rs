//! `[alerts.email]` and `[alerts.telegram]`: where alerts go besides the webhook.
//!
//! Only the non-secret half lives in the config; the SMTP password and the bot token are read
//! from the environment or `.env` like the API keys (see [`crate::credentials`]), so the config
//! file can be shared or committed. Everything that ends up in a mail header is checked here:
//! a CR or LF in an address would let it add headers of its own.

use super::endpoint::Endpoint;
use serde::Deserialize;

/// The Telegram Bot API, what `api_url` defaults to.
pub const TELEGRAM_API: &str = "https://api.telegram.org";

/// Email over SMTP with STARTTLS. Never sent over a connection that did not upgrade to TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAlerts {
    pub smtp_host: String,
    /// 587 (submission with STARTTLS) unless told otherwise.
    pub smtp_port: u16,
    /// The login; `None` for a relay that takes mail without one (still over TLS).
    pub username: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    /// An extra trusted certificate (PEM) for a server with a private CA; else the usual
    /// public roots.
    pub ca_file: Option<std::path::PathBuf>,
}

/// Telegram's `sendMessage` to one chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramAlerts {
    /// A numeric chat id (negative for groups) or `@channelname`.
    pub chat_id: String,
    /// `https://api.telegram.org`, or loopback http for tests.
    pub api: Endpoint,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmail {
    pub smtp_host: String,
    #[serde(default = "default_port")]
    pub smtp_port: u16,
    #[serde(default)]
    pub username: String,
    pub from: String,
    pub to: OneOrMany,
    #[serde(default)]
    pub ca_file: String,
    /// Only to refuse it with a pointer to `SMTP_PASSWORD` (its value is never read or shown).
    #[serde(default)]
    pub password: Option<toml::Value>,
}

fn default_port() -> u16 {
    587
}

/// `to = "a@x"` or `to = ["a@x", "b@y"]`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTelegram {
    pub chat_id: toml::Value,
    #[serde(default = "default_api")]
    pub api_url: String,
    /// Only to refuse it with a pointer to `TELEGRAM_BOT_TOKEN`.
    #[serde(default)]
    pub token: Option<toml::Value>,
}

fn default_api() -> String {
    TELEGRAM_API.into()
}

/// A mail address as it may stand in `MAIL FROM:<…>` and a header: one `@` with text on both
/// sides, no spaces, controls or angle brackets.
fn address(a: &str, key: &str) -> Result<String, (String, String)> {
    let a = a.trim();
    let bad = a
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
    match a.split_once('@') {
        Some((local, domain))
            if !bad && !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(a.to_string())
        }
        _ => Err((
            key.into(),
            format!("`{a}` is not a mail address like name@example.com"),
        )),
    }
}

/// Validate `[alerts.email]`; the error is (key, message).
pub(super) fn email(raw: RawEmail, dir: &std::path::Path) -> Result<EmailAlerts, (String, String)> {
    if raw.password.is_some() {
        return Err((
            "password".into(),
            format!("does not belong in the config file: set {} in the environment or .env, like the keys", crate::credentials::SMTP_PASSWORD_VAR),
        ));
    }
    let host = raw.smtp_host.trim();
    if host.is_empty()
        || host.contains("://")
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '@')
    {
        return Err((
            "smtp_host".into(),
            format!(
                "`{host}` is not a host name: give the server's name alone, like smtp.gmail.com"
            ),
        ));
    }
    if raw.smtp_port == 0 {
        return Err((
            "smtp_port".into(),
            "must be a port from 1 to 65535 (587 for STARTTLS)".into(),
        ));
    }
    if raw.smtp_port == 465 {
        return Err((
            "smtp_port".into(),
            "465 is implicit TLS, which the bot does not speak: use 587 (STARTTLS), which every provider offers".into(),
        ));
    }
    let username = raw.username.trim();
    if username.chars().any(char::is_control) {
        return Err(("username".into(), "holds a control character".into()));
    }
    let to = match raw.to {
        OneOrMany::One(a) => vec![a],
        OneOrMany::Many(v) => v,
    };
    if to.is_empty() {
        return Err(("to".into(), "names no address".into()));
    }
    Ok(EmailAlerts {
        smtp_host: host.to_ascii_lowercase(),
        smtp_port: raw.smtp_port,
        username: (!username.is_empty()).then(|| username.to_string()),
        from: address(&raw.from, "from")?,
        to: to
            .iter()
            .map(|a| address(a, "to"))
            .collect::<Result<_, _>>()?,
        ca_file: (!raw.ca_file.trim().is_empty()).then(|| dir.join(raw.ca_file.trim())),
    })
}

/// Validate `[alerts.telegram]`; the error is (key, message).
pub(super) fn telegram(raw: RawTelegram) -> Result<TelegramAlerts, (String, String)> {
    if raw.token.is_some() {
        return Err((
            "token".into(),
            format!("does not belong in the config file: set {} in the environment or .env, like the keys", crate::credentials::TELEGRAM_TOKEN_VAR),
        ));
    }
    let chat_id = match &raw.chat_id {
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::String(s) => s.trim().to_string(),
        _ => String::new(),
    };
    let numeric = chat_id
        .strip_prefix('-')
        .unwrap_or(&chat_id)
        .chars()
        .all(|c| c.is_ascii_digit())
        && !chat_id.trim_start_matches('-').is_empty();
    let channel = chat_id.len() > 1
        && chat_id.starts_with('@')
        && chat_id[1..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !numeric && !channel {
        return Err((
            "chat_id".into(),
            "must be a chat's number (like 123456789, or -100… for a group) or @channelname; \
             message your bot, then read it from https://api.telegram.org/bot<TOKEN>/getUpdates"
                .into(),
        ));
    }
    let api = Endpoint::parse_base(&raw.api_url).map_err(|m| ("api_url".to_string(), m))?;
    Ok(TelegramAlerts { chat_id, api })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn raw_email(host: &str, port: u16, from: &str, to: &[&str]) -> RawEmail {
        RawEmail {
            smtp_host: host.into(),
            smtp_port: port,
            username: "bot@example.com".into(),
            from: from.into(),
            to: OneOrMany::Many(to.iter().map(|s| s.to_string()).collect()),
            ca_file: String::new(),
            password: None,
        }
    }

    #[test]
    fn email_settings_that_could_inject_headers_or_skip_tls_are_refused() {
        let ok = email(
            raw_email(
                "SMTP.Example.com",
                587,
                "bot@example.com",
                &["me@example.com"],
            ),
            Path::new("/b"),
        )
        .unwrap();
        assert_eq!(ok.smtp_host, "smtp.example.com");
        assert_eq!(ok.username.as_deref(), Some("bot@example.com"));
        let key = |r: Result<EmailAlerts, (String, String)>| r.unwrap_err().0;
        assert_eq!(
            key(email(
                raw_email("smtp://x.com", 587, "a@b", &["c@d"]),
                Path::new("/")
            )),
            "smtp_host"
        );
        assert_eq!(
            key(email(
                raw_email("x.com", 465, "a@b", &["c@d"]),
                Path::new("/")
            )),
            "smtp_port"
        );
        assert_eq!(
            key(email(
                raw_email("x.com", 0, "a@b", &["c@d"]),
                Path::new("/")
            )),
            "smtp_port"
        );
        assert_eq!(
            key(email(
                raw_email("x.com", 587, "a@b\r\nBcc: evil@x", &["c@d"]),
                Path::new("/")
            )),
            "from"
        );
        assert_eq!(
            key(email(
                raw_email("x.com", 587, "a@b", &["c@d>"]),
                Path::new("/")
            )),
            "to"
        );
        assert_eq!(
            key(email(raw_email("x.com", 587, "a@b", &[]), Path::new("/"))),
            "to"
        );
        assert_eq!(
            key(email(
                raw_email("x.com", 587, "ab", &["c@d"]),
                Path::new("/")
            )),
            "from"
        );
    }

    #[test]
    fn telegram_chat_ids_and_the_api_url() {
        let t = |id: toml::Value, api: &str| {
            telegram(RawTelegram {
                chat_id: id,
                api_url: api.into(),
                token: None,
            })
        };
        assert_eq!(
            t(toml::Value::Integer(-1001234), TELEGRAM_API)
                .unwrap()
                .chat_id,
            "-1001234"
        );
        assert_eq!(
            t("@my_channel".into(), TELEGRAM_API).unwrap().chat_id,
            "@my_channel"
        );
        assert_eq!(t("12ab".into(), TELEGRAM_API).unwrap_err().0, "chat_id");
        assert_eq!(t("-".into(), TELEGRAM_API).unwrap_err().0, "chat_id");
        assert_eq!(
            t("1".into(), "http://api.example.org").unwrap_err().0,
            "api_url"
        );
        assert_eq!(
            t("1".into(), "http://127.0.0.1:9").unwrap().api.to_string(),
            "http://127.0.0.1:9"
        );
    }

    const MINIMAL: &str = "[[symbol]]\nname = \"AAPL\"\nqty = 1\nstrategy = { kind = \"threshold\", buy_above = 230.0, sell_below = 220.0 }\n";

    fn load(extra: &str) -> Result<crate::config::Config, String> {
        crate::config::Config::from_str(&format!("{MINIMAL}{extra}"), Path::new("/bot/config.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_sections_load_through_the_config_with_their_defaults() {
        let c = load(
            "[alerts.email]\nsmtp_host = \"smtp.gmail.com\"\nusername = \"a@b.c\"\nfrom = \"a@b.c\"\nto = \"me@b.c\"\nca_file = \"ca.pem\"\n\n\
             [alerts.telegram]\nchat_id = 42\n",
        )
        .unwrap();
        let email = c.ops.email.unwrap();
        assert_eq!(
            (email.smtp_port, email.to.as_slice()),
            (587, ["me@b.c".to_string()].as_slice())
        );
        assert_eq!(email.ca_file.as_deref(), Some(Path::new("/bot/ca.pem")));
        let telegram = c.ops.telegram.unwrap();
        assert_eq!(
            (telegram.chat_id.as_str(), telegram.api.to_string()),
            ("42", TELEGRAM_API.to_string())
        );
        assert!(load("").unwrap().ops.email.is_none());
    }

    #[test]
    fn a_secret_written_into_the_config_is_refused_without_being_echoed() {
        let e = load("[alerts.email]\nsmtp_host = \"x.org\"\nfrom = \"a@b.c\"\nto = \"a@b.c\"\npassword = \"hunter2-SECRET\"\n").unwrap_err();
        assert!(
            e.contains("alerts.email.password") && e.contains("SMTP_PASSWORD"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        let e = load("[alerts.telegram]\nchat_id = 1\ntoken = \"123:TGSECRET\"\n").unwrap_err();
        assert!(
            e.contains("TELEGRAM_BOT_TOKEN") && !e.contains("TGSECRET"),
            "{e}"
        );
        let e = load("[alerts.email]\nsmtp_host = \"x.org\"\nsmtp_port = 465\nfrom = \"a@b.c\"\nto = \"a@b.c\"\n").unwrap_err();
        assert!(
            e.contains(":5:") && e.contains("alerts.email.smtp_port") && e.contains("587"),
            "{e}"
        );
    }
}

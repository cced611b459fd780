//! The URLs of the config (`trading_url`, `data_url`, `webhook_url`), parsed once by a real URL
//! parser (the `url` crate, WHATWG rules) into types the rest of the bot uses as they are.
//!
//! Why a parser and not string prefixes: `https://API.alpaca.markets`, `…markets.`, `…:443` and
//! `https://paper-api.alpaca.markets@api.alpaca.markets` all dial Alpaca's live host, and
//! `http://127.0.0.1:1@127.0.0.2:9` dials 127.0.0.2, whatever the text starts with. Every decision
//! here (live host, loopback) is taken on the parsed host, and the client is handed the
//! normalized [`Endpoint`] it was taken on, so the host checked is the host dialled.
//!
//! Error messages name the scheme and the host at most, never the path, query or user-info:
//! a Slack webhook's path is its secret, and user-info may hold a password.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Alpaca's live trading host: real money.
pub const LIVE_TRADING_HOST: &str = "api.alpaca.markets";
/// Alpaca's paper trading host.
pub const PAPER_TRADING_HOST: &str = "paper-api.alpaca.markets";
/// The only `trading_url` accepted with `live = true`, as written in messages and docs.
pub const LIVE_TRADING_URL: &str = "https://api.alpaca.markets";

/// A parsed host: a lower-case domain without its trailing dot, or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Domain(String),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// An API base URL: scheme, host and port only, validated. `Display` gives the normalized
/// `scheme://host[:port]` (lower case, no trailing dot, no default port, no trailing slash),
/// which is what the client prefixes to `/v2/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    https: bool,
    host: Host,
    /// `None` for the scheme's default port (443 or 80).
    port: Option<u16>,
}

impl Endpoint {
    /// A base URL for the API: `https://host[:port]` (or `http://` to this machine), with no
    /// path beyond `/`, no query and no fragment (the client appends the API paths itself).
    pub fn parse_base(text: &str) -> Result<Endpoint, String> {
        let (url, endpoint) = parse(text)?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{endpoint} is followed by a path, query or fragment: give only \
                 scheme://host[:port], the bot adds the API paths itself"
            ));
        }
        Ok(endpoint)
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Alpaca's live trading host, on any scheme or port: with `live = false` this is refused.
    pub fn is_live_host(&self) -> bool {
        self.host == Host::Domain(LIVE_TRADING_HOST.into())
    }

    /// Exactly `https://api.alpaca.markets` (port 443): what `live = true` needs.
    pub fn is_live(&self) -> bool {
        self.https && self.port.is_none() && self.is_live_host()
    }

    /// This machine: 127.0.0.0/8, ::1 or `localhost`, decided on the parsed host.
    pub fn is_loopback(&self) -> bool {
        match &self.host {
            Host::Domain(d) => d == "localhost",
            Host::Ipv4(a) => a.is_loopback(),
            Host::Ipv6(a) => a.is_loopback(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// A webhook URL, path and query included (they usually carry the hook's secret token). The
/// full text is only reachable through [`WebhookUrl::expose`]; `Debug` and `Display` print
/// `scheme://host[:port]/***`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    origin: Endpoint,
    full: String,
}

impl WebhookUrl {
    pub fn parse(text: &str) -> Result<WebhookUrl, String> {
        let (url, origin) = parse(text)?;
        Ok(WebhookUrl {
            origin,
            full: url.into(),
        })
    }

    /// The whole URL, for the one place that sends to it.
    pub fn expose(&self) -> &str {
        &self.full
    }

    pub fn origin(&self) -> &Endpoint {
        &self.origin
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({self})")
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/***", self.origin)
    }
}

/// Parse `text` and check what every URL of the config must satisfy: https (or http to this
/// machine), a host, no user-info.
fn parse(text: &str) -> Result<(url::Url, Endpoint), String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty (expected https://host)".into());
    }
    // The parser's messages ("relative URL without a base", "invalid port number") never
    // quote the input.
    let url =
        url::Url::parse(text).map_err(|e| format!("is not a URL: {e} (expected https://host)"))?;
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        other => {
            return Err(format!(
                "unsupported scheme `{other}` (expected https://host)"
            ))
        }
    };
    let host = match url.host() {
        None => return Err("has no host (expected https://host)".into()),
        Some(url::Host::Ipv4(a)) => Host::Ipv4(a),
        Some(url::Host::Ipv6(a)) => Host::Ipv6(a),
        // For http(s) the parser has already lower-cased, percent-decoded and IDNA-mapped it.
        Some(url::Host::Domain(d)) => {
            // One trailing dot is the same host written as a fully qualified name.
            let d = d.strip_suffix('.').unwrap_or(d);
            if d.is_empty() || d.starts_with('.') || d.ends_with('.') || d.contains("..") {
                return Err("has an empty label in its host name".into());
            }
            Host::Domain(d.to_string())
        }
    };
    let endpoint = Endpoint {
        https,
        host,
        port: url.port(),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "has user-info (`name@` or `name:password@` before the host, here {endpoint}): \
             refused, it hides which host is dialled and would send its password"
        ));
    }
    if !https && !endpoint.is_loopback() {
        return Err(format!(
            "{endpoint} is plain http: keys and tokens would cross the network unencrypted; \
             use https (http is allowed only to 127.0.0.0/8, ::1 or localhost)"
        ));
    }
    Ok((url, endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_host_is_recognised_however_it_is_written() {
        for text in [
            "https://api.alpaca.markets",
            "https://API.alpaca.markets",
            "https://Api.Alpaca.Markets/",
            "https://api.alpaca.markets.",
            "https://api.alpaca.markets.:443/",
            "https://api.alpaca.markets:443",
            "HTTPS://api.alpaca.markets",
            "  https://api.alpaca.markets  ",
            "https://api%2Ealpaca.markets",
            // Full-width letters: IDNA maps them to ASCII before any lookup.
            "https://\u{ff41}\u{ff50}\u{ff49}.alpaca.markets",
        ] {
            let e = Endpoint::parse_base(text).unwrap_or_else(|m| panic!("{text}: {m}"));
            assert!(e.is_live_host() && e.is_live(), "{text}");
            assert_eq!(e.to_string(), "https://api.alpaca.markets", "{text}");
        }
        let other_port = Endpoint::parse_base("https://api.alpaca.markets:8443").unwrap();
        assert!(other_port.is_live_host() && !other_port.is_live());
        assert_eq!(other_port.to_string(), "https://api.alpaca.markets:8443");
    }

    #[test]
    fn the_paper_host_is_normalised_and_is_not_live() {
        for text in [
            "https://paper-api.alpaca.markets",
            "https://PAPER-API.alpaca.markets./",
            "https://paper-api.alpaca.markets:443",
        ] {
            let e = Endpoint::parse_base(text).unwrap();
            assert_eq!(e.to_string(), "https://paper-api.alpaca.markets");
            assert_eq!(e.host(), &Host::Domain(PAPER_TRADING_HOST.into()));
            assert!(!e.is_live_host());
        }
        let e = Endpoint::parse_base("https://api.alpaca.markets.evil.com").unwrap();
        assert!(!e.is_live_host(), "a longer name is another host");
    }

    #[test]
    fn user_info_is_refused_in_every_url() {
        let m = Endpoint::parse_base("https://paper-api.alpaca.markets@API.alpaca.markets")
            .unwrap_err();
        assert!(
            m.contains("here https://api.alpaca.markets)"),
            "the host dialled: {m}"
        );
        for text in [
            "https://paper-api.alpaca.markets@api.alpaca.markets",
            "https://user:pw@paper-api.alpaca.markets",
            "http://127.0.0.1:1@127.0.0.2:8080",
            "https://:pw@hooks.slack.com/services/T/B/X",
        ] {
            let m = Endpoint::parse_base(text).unwrap_err();
            assert!(m.contains("user-info"), "{text}: {m}");
            assert!(!m.contains("pw"), "{m}");
            let m = WebhookUrl::parse(text).unwrap_err();
            assert!(m.contains("user-info") && !m.contains("services"), "{m}");
        }
    }

    #[test]
    fn http_is_allowed_only_to_a_parsed_loopback_host() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.8.7:1",
            "http://localhost:1",
            "http://LOCALHOST.:1",
            "http://[::1]:9",
            "http://0x7f.1:5",
        ] {
            let e = Endpoint::parse_base(ok).unwrap_or_else(|m| panic!("{ok}: {m}"));
            assert!(e.is_loopback(), "{ok}");
        }
        assert_eq!(
            Endpoint::parse_base("http://0x7f.1:5").unwrap().to_string(),
            "http://127.0.0.1:5"
        );
        for bad in [
            "http://127.0.0.1.evil.com",
            "http://localhost.evil.com:1",
            "http://[::ffff:10.0.0.1]:9",
            "http://10.0.0.1",
            "http://paper-api.alpaca.markets",
        ] {
            let m = Endpoint::parse_base(bad).unwrap_err();
            assert!(m.contains("plain http"), "{bad}: {m}");
        }
    }

    #[test]
    fn base_urls_are_scheme_host_and_port_only() {
        assert_eq!(
            Endpoint::parse_base("http://[::1]:9/").unwrap().to_string(),
            "http://[::1]:9"
        );
        for bad in [
            "https://paper-api.alpaca.markets/v2",
            "https://paper-api.alpaca.markets/?x=1",
            "https://paper-api.alpaca.markets/#f",
        ] {
            let m = Endpoint::parse_base(bad).unwrap_err();
            assert!(
                m.contains("path, query or fragment") && !m.contains("v2"),
                "{m}"
            );
        }
        for (bad, why) in [
            ("paper-api.alpaca.markets", "not a URL"),
            ("ftp://paper-api.alpaca.markets", "unsupported scheme `ftp`"),
            ("https://", "not a URL"),
            ("https://a..b", "empty label"),
            ("", "empty"),
        ] {
            let m = Endpoint::parse_base(bad).unwrap_err();
            assert!(m.contains(why), "{bad}: {m}");
        }
    }

    #[test]
    fn a_webhook_keeps_its_path_but_never_prints_it() {
        let hook =
            WebhookUrl::parse("https://hooks.slack.com/services/T000/B000/XXSECRETXX?t=QSECRET")
                .unwrap();
        assert_eq!(
            hook.expose(),
            "https://hooks.slack.com/services/T000/B000/XXSECRETXX?t=QSECRET"
        );
        let shown = format!("{hook} {hook:?}");
        assert_eq!(
            shown,
            "https://hooks.slack.com/*** WebhookUrl(https://hooks.slack.com/***)"
        );
        for bad in [
            "http://hooks.example.com/services/XXSECRETXX?t=QSECRET",
            "hooks.slack.com/services/XXSECRETXX",
            "ftp://hooks.example.com/XXSECRETXX",
            "https://u:XXSECRETXX@hooks.example.com/",
        ] {
            let m = WebhookUrl::parse(bad).unwrap_err();
            assert!(!m.contains("XXSECRETXX") && !m.contains("QSECRET"), "{m}");
        }
    }
}

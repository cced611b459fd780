//! The one error type, and the one place exit codes are decided.
//!
//! Every variant carries what a person needs to fix the problem: the file and line, the field,
//! the endpoint and HTTP status, Alpaca's own message. No variant ever holds an API key.

use std::fmt;
use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every way a command can end other than success.
///
/// The exit code is a contract that cron wrappers and scripts rely on, decided in one place,
/// [`Error::exit_code`], by an exhaustive match so that a new variant must choose its code:
///
/// | code | meaning |
/// |---|---|
/// | 0 | success, including "market closed", "hold", and a reader that closed stdout ([`Error::StdoutClosed`]) |
/// | 1 | runtime failure: network, broker, disk, a corrupt file, a refusal |
/// | 2 | usage or config: the command line, the config file, missing keys; nothing was done |
/// | 3 | another tick holds the lock; this run did nothing |
#[derive(Debug)]
pub enum Error {
    /// Bad command line: exit 2.
    Usage(String),
    /// Bad config file: exit 2. `line` is 1-based.
    Config {
        file: PathBuf,
        line: Option<usize>,
        key: Option<String>,
        message: String,
    },
    /// No API keys found: exit 2, before any network call.
    MissingKeys { env_file: PathBuf },
    /// Another tick holds the lock: exit 3.
    LockHeld { path: PathBuf },
    /// A file could not be read or written.
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    /// A file the bot owns holds something it cannot read (a ledger, the state, the cache).
    Corrupt {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// The request never got an HTTP answer (DNS, connect, TLS, timeout, reset).
    Network { endpoint: String, detail: String },
    /// Alpaca rejected our keys (401, or 403 "forbidden.").
    Auth {
        endpoint: String,
        status: u16,
        message: String,
    },
    /// Alpaca answered with an error status.
    Api {
        endpoint: String,
        status: u16,
        code: Option<u64>,
        message: String,
    },
    /// Alpaca answered 2xx with a body we could not understand.
    BadResponse { endpoint: String, detail: String },
    /// The tick's deadline (`tick_deadline_secs`) passed before this request could be made
    /// or finished; for an order, it was not sent.
    Deadline { endpoint: String },
    /// Something that prevents the command from doing its job, said in words.
    Refused(String),
    /// Whoever read stdout went away (`status | head -1`): not a failure, so exit 0 with no
    /// message, as ripgrep and xsv do. Rust ignores SIGPIPE, so the write gets EPIPE instead
    /// of the process dying; [`crate::out`] turns that into this variant and nothing else.
    StdoutClosed,
}

impl Error {
    /// The process exit code: 0 ok, 1 runtime failure, 2 usage or config, 3 lock held (the
    /// table on [`Error`]). No wildcard arm: a new variant does not compile until it is placed.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::StdoutClosed => 0,
            Error::Io { .. }
            | Error::Corrupt { .. }
            | Error::Network { .. }
            | Error::Auth { .. }
            | Error::Api { .. }
            | Error::BadResponse { .. }
            | Error::Deadline { .. }
            | Error::Refused(_) => 1,
            Error::Usage(_) | Error::Config { .. } | Error::MissingKeys { .. } => 2,
            Error::LockHeld { .. } => 3,
        }
    }

    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }

    pub fn config(
        file: impl Into<PathBuf>,
        line: Option<usize>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> Error {
        Error::Config {
            file: file.into(),
            line,
            key: key.map(str::to_owned),
            message: message.into(),
        }
    }

    /// True for a 422 "client_order_id must be unique": the order was already placed.
    /// Matched loosely, as Alpaca has spelled it with and without underscores.
    pub fn is_duplicate_client_id(&self) -> bool {
        match self {
            Error::Api {
                status: 422,
                message,
                ..
            } => {
                let m = message.to_ascii_lowercase().replace('_', " ");
                m.contains("client order id") && m.contains("unique")
            }
            _ => false,
        }
    }

    /// True for a 404 that means "no such thing" rather than a wrong URL.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { status: 404, message, .. } if !message.contains("endpoint not found"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "usage: {msg}"),
            Error::Config {
                file,
                line,
                key,
                message,
            } => {
                write!(f, "config error: {}", file.display())?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
                if let Some(key) = key {
                    write!(f, ": `{key}`")?;
                }
                write!(f, ": {message}")
            }
            Error::MissingKeys { env_file } => write!(
                f,
                "no Alpaca API keys found: set ALPACA_KEY and ALPACA_SECRET (or APCA_API_KEY_ID and \
                 APCA_API_SECRET_KEY) in the environment, or put them in {} (see .env.example). \
                 To try the bot without keys: `prometheus-bot replay --sample`. With keys in {}: \
                 `prometheus-bot check`, then `prometheus-bot tick`",
                env_file.display(),
                env_file.display()
            ),
            Error::LockHeld { path } => write!(
                f,
                "another tick is running (lock held on {}); this run did nothing",
                path.display()
            ),
            Error::Io { path, action, source } => write!(f, "cannot {action} {}: {source}", path.display()),
            Error::Corrupt { path, line, message } => {
                write!(f, "unreadable file {}", path.display())?;
                if let Some(line) = line {
                    write!(f, " line {line}")?;
                }
                write!(f, ": {message}")
            }
            Error::Network { endpoint, detail } => write!(f, "network error calling {endpoint}: {detail}"),
            Error::Auth {
                endpoint,
                status,
                message,
            } => {
                let hint = if *status == 401 {
                    "the key pair belongs to the other environment (paper vs live) or was revoked: check \
                     ALPACA_KEY/ALPACA_SECRET against the trading_url in the config"
                } else {
                    "the key id or secret is wrong or missing: check ALPACA_KEY and ALPACA_SECRET \
                     (or APCA_API_KEY_ID/APCA_API_SECRET_KEY)"
                };
                write!(f, "Alpaca refused the API keys ({status} {message}) on {endpoint}: {hint}")
            }
            Error::Api {
                endpoint,
                status,
                code,
                message,
            } => {
                write!(f, "Alpaca answered {status} on {endpoint}: {message}")?;
                if let Some(code) = code {
                    write!(f, " (code {code})")?;
                }
                Ok(())
            }
            Error::BadResponse { endpoint, detail } => {
                write!(f, "unexpected answer from {endpoint}: {detail}")
            }
            Error::Deadline { endpoint } => write!(
                f,
                "the tick's deadline (tick_deadline_secs) passed before {endpoint}; not sent, the next tick starts afresh"
            ),
            Error::Refused(msg) => f.write_str(msg),
            Error::StdoutClosed => f.write_str("stdout closed by its reader"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One value of every variant with the code the contract gives it. Adding a variant
    /// breaks `exit_code`'s exhaustive match; this list is where its code is then checked.
    #[test]
    fn exit_codes_follow_the_contract() {
        let io = || io::Error::other("disk full");
        let every: Vec<(Error, i32)> = vec![
            (Error::StdoutClosed, 0),
            (
                Error::Io {
                    path: "data/state.json".into(),
                    action: "write",
                    source: io(),
                },
                1,
            ),
            (
                Error::Corrupt {
                    path: "fills.csv".into(),
                    line: Some(3),
                    message: "bad qty".into(),
                },
                1,
            ),
            (
                Error::Network {
                    endpoint: "GET /v2/clock".into(),
                    detail: "timeout".into(),
                },
                1,
            ),
            (
                Error::Auth {
                    endpoint: "GET /v2/account".into(),
                    status: 401,
                    message: "unauthorized.".into(),
                },
                1,
            ),
            (
                Error::Api {
                    endpoint: "POST /v2/orders".into(),
                    status: 403,
                    code: None,
                    message: "insufficient buying power".into(),
                },
                1,
            ),
            (
                Error::BadResponse {
                    endpoint: "GET /v2/clock".into(),
                    detail: "not JSON".into(),
                },
                1,
            ),
            (
                Error::Deadline {
                    endpoint: "POST /v2/orders".into(),
                },
                1,
            ),
            (Error::Refused("no price".into()), 1),
            (Error::Usage("x".into()), 2),
            (Error::config("c.toml", Some(3), Some("qty"), "bad"), 2),
            (
                Error::MissingKeys {
                    env_file: ".env".into(),
                },
                2,
            ),
            (Error::LockHeld { path: "l".into() }, 3),
        ];
        for (error, code) in &every {
            assert_eq!(error.exit_code(), *code, "{error:?}");
        }
    }

    #[test]
    fn config_error_names_file_line_and_key() {
        let e = Error::config(
            "/x/config.toml",
            Some(14),
            Some("fast"),
            "must be less than `slow`",
        );
        assert_eq!(
            e.to_string(),
            "config error: /x/config.toml:14: `fast`: must be less than `slow`"
        );
    }

    #[test]
    fn duplicate_client_id_is_recognised_in_both_spellings() {
        for message in [
            "client_order_id must be unique",
            "client order id must be unique",
        ] {
            let e = Error::Api {
                endpoint: "POST /v2/orders".into(),
                status: 422,
                code: Some(40010001),
                message: message.into(),
            };
            assert!(e.is_duplicate_client_id());
        }
    }
}

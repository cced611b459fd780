//! API keys: found in the environment or in `.env`, held so they cannot leak.
//!
//! The secret lives in a [`Secret`] whose `Debug` and `Display` print `***`; the only way to
//! read it is [`Secret::expose`], which the Alpaca client calls when it sets the header.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// A string that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The key pair. Both halves are secrets: the key id alone identifies the account.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub key_id: Secret,
    pub secret: Secret,
}

/// Variable names, in order of preference: ours, then Alpaca's SDK convention.
const KEY_VARS: [&str; 2] = ["ALPACA_KEY", "APCA_API_KEY_ID"];
const SECRET_VARS: [&str; 2] = ["ALPACA_SECRET", "APCA_API_SECRET_KEY"];

impl Credentials {
    /// Keys from the process environment, else from `env_file` (if it exists). The
    /// environment wins variable by variable. No network call is made here.
    pub fn find(env_file: &Path) -> Result<Credentials> {
        let from_file = read_env_file(env_file)?;
        let lookup = |name: &str| -> Option<String> {
            std::env::var(name)
                .ok()
                .or_else(|| from_file.get(name).cloned())
                .filter(|v| !v.trim().is_empty())
        };
        let pick = |names: [&str; 2]| names.iter().find_map(|n| lookup(n));
        match (pick(KEY_VARS), pick(SECRET_VARS)) {
            (Some(k), Some(s)) => Ok(Credentials {
                key_id: Secret::new(k.trim()),
                secret: Secret::new(s.trim()),
            }),
            _ => Err(Error::MissingKeys {
                env_file: env_file.to_path_buf(),
            }),
        }
    }
}

/// The SMTP password of `[alerts.email]`.
pub const SMTP_PASSWORD_VAR: &str = "SMTP_PASSWORD";
/// The bot token of `[alerts.telegram]` (it stands in the request's path).
pub const TELEGRAM_TOKEN_VAR: &str = "TELEGRAM_BOT_TOKEN";

/// One more secret (an alert channel's password or token) from the process environment, else
/// from `env_file`, like the keys; `None` when neither has a non-blank value.
pub fn find_secret(env_file: &Path, name: &str) -> Result<Option<Secret>> {
    let value = match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => read_env_file(env_file)?.remove(name),
    };
    Ok(value
        .filter(|v| !v.trim().is_empty())
        .map(|v| Secret::new(v.trim())))
}

/// Parse a dotenv file: `NAME=value`, optional `export `, `#` comments, single or double
/// quotes. A missing file is an empty map.
fn read_env_file(path: &Path) -> Result<HashMap<String, String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(Error::io(path, "read", e)),
    };
    warn_if_readable_by_others(path);
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        if let Some((name, value)) = line.split_once('=') {
            let value = value.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
                .unwrap_or(value);
            vars.insert(name.trim().to_string(), unquoted.to_string());
        }
    }
    Ok(vars)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            log::warn!(
                "{} is readable by other users; protect your keys with: chmod 600 {}",
                path.display(),
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Credentials {
            key_id: Secret::new("PKSECRETKEYID"),
            secret: Secret::new("shh-very-secret"),
        };
        let shown = format!("{c:?} {} {}", c.key_id, c.secret);
        assert!(
            !shown.contains("PKSECRET") && !shown.contains("shh"),
            "{shown}"
        );
    }

    #[test]
    fn env_file_forms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "# comment\nexport APCA_API_KEY_ID=\"PK1\"\nAPCA_API_SECRET_KEY='s e c'\nOTHER = x\n",
        )
        .unwrap();
        let vars = read_env_file(&path).unwrap();
        assert_eq!(vars["APCA_API_KEY_ID"], "PK1");
        assert_eq!(vars["APCA_API_SECRET_KEY"], "s e c");
        assert_eq!(vars["OTHER"], "x");
        assert!(read_env_file(&dir.path().join("absent"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn an_alert_secret_comes_from_the_env_file_when_the_environment_lacks_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "C12_TEST_TOKEN=\"123:abc\"\nC12_BLANK=  \n").unwrap();
        let got = find_secret(&path, "C12_TEST_TOKEN").unwrap().unwrap();
        assert_eq!(got.expose(), "123:abc");
        assert_eq!(format!("{got} {got:?}"), "*** Secret(***)");
        assert!(find_secret(&path, "C12_BLANK").unwrap().is_none());
        assert!(find_secret(&path, "C12_ABSENT").unwrap().is_none());
    }
}

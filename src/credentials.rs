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

/// Variable names, in order of preference: ours, then Alpaca's SDK convention. A key id and
/// its secret are named in pairs: `ALPACA_KEY` goes with `ALPACA_SECRET`.
const KEY_VARS: [&str; 2] = ["ALPACA_KEY", "APCA_API_KEY_ID"];
const SECRET_VARS: [&str; 2] = ["ALPACA_SECRET", "APCA_API_SECRET_KEY"];

impl Credentials {
    /// Keys from the process environment, else from `env_file` (if it exists). The
    /// environment wins variable by variable. No network call is made here.
    ///
    /// Neither half found is [`Error::MissingKeys`]; one half without the other is a config
    /// error naming the variable that is missing and where its partner was found, so that a
    /// typo in one name is not reported as "no keys".
    pub fn find(env_file: &Path) -> Result<Credentials> {
        let from_file = read_env_file(env_file)?;
        let lookup = |name: &str| -> Option<(String, &'static str)> {
            let env = std::env::var(name).ok().map(|v| (v, "the environment"));
            env.or_else(|| from_file.get(name).map(|v| (v.clone(), "file")))
                .filter(|(v, _)| !v.trim().is_empty())
        };
        let pick = |names: [&'static str; 2]| {
            names
                .iter()
                .enumerate()
                .find_map(|(i, n)| lookup(n).map(|(value, from)| (i, value, from)))
        };
        let (key, secret) = match (pick(KEY_VARS), pick(SECRET_VARS)) {
            (Some((_, k, _)), Some((_, s, _))) => (k, s),
            (None, None) => {
                return Err(Error::MissingKeys {
                    env_file: env_file.to_path_buf(),
                })
            }
            (Some((i, _, from)), None) => {
                return Err(half_missing(env_file, KEY_VARS[i], from, SECRET_VARS[i]))
            }
            (None, Some((i, _, from))) => {
                return Err(half_missing(env_file, SECRET_VARS[i], from, KEY_VARS[i]))
            }
        };
        // Only a complete pair is worth a warning about the file that holds it.
        if !from_file.is_empty() {
            warn_if_readable_by_others(env_file);
        }
        Ok(Credentials {
            key_id: Secret::new(key.trim()),
            secret: Secret::new(secret.trim()),
        })
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

/// `found` is set (in `from`) but its partner `missing` is not set anywhere.
fn half_missing(env_file: &Path, found: &str, from: &str, missing: &str) -> Error {
    let place = if from == "file" {
        env_file.display().to_string()
    } else {
        from.to_string()
    };
    Error::Config {
        file: env_file.to_path_buf(),
        line: None,
        key: Some(missing.to_string()),
        message: format!(
            "{found} is set (in {place}) but {missing} is not: set {missing} in the environment \
             or in {}, beside {found}",
            env_file.display()
        ),
    }
}

/// Parse a dotenv file with dotenvy, the format's well-kept crate: `NAME=value`, `export `,
/// `#` comments (also after an unquoted value: `KEY=value # comment`), single or double
/// quotes, CRLF line ends and a UTF-8 byte order mark (Notepad writes both). A missing file
/// is an empty map. Nothing here sets the process environment.
///
/// UTF-16 (PowerShell 5.1's `>` and `Out-File` write it) is refused with an error naming the
/// encoding: read as UTF-8 it would give keys with NUL bytes in them and a 401 much later.
/// A line that does not parse is named by its number only: its text may hold a secret.
fn read_env_file(path: &Path) -> Result<HashMap<String, String>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(Error::io(path, "read", e)),
    };
    let bad = |line: Option<usize>, message: String| Error::Config {
        file: path.to_path_buf(),
        line,
        key: None,
        message,
    };
    if let Some(encoding) = utf16(&bytes) {
        return Err(bad(
            None,
            format!("the file is {encoding} text: save it as UTF-8 (in Notepad: Save as, Encoding UTF-8)"),
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        bad(
            Some(line),
            "the file is not UTF-8 text: save it as UTF-8".into(),
        )
    })?;
    // dotenvy 0.15 reads a byte order mark as part of the first name.
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut vars = HashMap::new();
    for item in dotenvy::from_read_iter(body.as_bytes()) {
        match item {
            Ok((name, value)) => {
                vars.insert(name, value);
            }
            Err(dotenvy::Error::LineParse(line, _)) => {
                // The first physical line of the failing entry, found in the file.
                let first = line.lines().next().unwrap_or("").trim_end_matches('\r');
                let number = text
                    .lines()
                    .position(|l| l.trim_start_matches('\u{feff}').trim_end_matches('\r') == first)
                    .map(|i| i + 1);
                return Err(bad(
                    number,
                    "this line is not NAME=value (quotes must be closed; a value with spaces \
                     needs quotes)"
                        .into(),
                ));
            }
            Err(e) => return Err(bad(None, format!("cannot read the file: {}", kind(&e)))),
        }
    }
    Ok(vars)
}

/// A dotenvy error other than a parse error, without the text it may quote.
fn kind(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::Io(io) => io.kind().to_string(),
        dotenvy::Error::EnvVar(_) => "a variable it refers to is not valid".into(),
        _ => "it does not parse".into(),
    }
}

/// "UTF-16 little-endian" or "UTF-16 big-endian" when the bytes look like it: a byte order
/// mark, or NUL bytes in every other place of the first characters (no UTF-8 text has NULs).
fn utf16(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xFE, ..] => return Some("UTF-16 little-endian"),
        [0xFE, 0xFF, ..] => return Some("UTF-16 big-endian"),
        _ => {}
    }
    let head = &bytes[..bytes.len().min(64)];
    let nul_at =
        |parity: usize| head.len() >= 2 && head.iter().skip(parity).step_by(2).all(|&b| b == 0);
    if nul_at(1) {
        Some("UTF-16 little-endian")
    } else if nul_at(0) {
        Some("UTF-16 big-endian")
    } else {
        None
    }
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

    /// As Notepad and people write it: a byte order mark, CRLF, `export`, quotes, comments
    /// after a value. Each of these gave a wrong key before (the BOM became part of the first
    /// name, `# comment` part of the value, `\r` the last character of the secret).
    #[test]
    fn env_file_as_people_write_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        let text = "\u{feff}ALPACA_KEY=PKBOM # my paper key\r\n\r\n# a comment\r\n\
                    export ALPACA_SECRET=\"quoted secret\"\r\nPLAIN=plain\r\n\
                    SINGLE='a # not a comment'\r\n";
        std::fs::write(&path, text).unwrap();
        let vars = read_env_file(&path).unwrap();
        assert_eq!(vars["ALPACA_KEY"], "PKBOM");
        assert_eq!(vars["ALPACA_SECRET"], "quoted secret");
        assert_eq!(vars["PLAIN"], "plain");
        assert_eq!(vars["SINGLE"], "a # not a comment");
        assert_eq!(vars.len(), 4, "{vars:?}");
    }

    #[test]
    fn utf16_is_refused_naming_the_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        let text = "ALPACA_KEY=PKUTF16\r\nALPACA_SECRET=utf16-secret\r\n";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for (bytes, name) in [
            ([&[0xFF, 0xFE][..], &le].concat(), "UTF-16 little-endian"),
            ([&[0xFE, 0xFF][..], &be].concat(), "UTF-16 big-endian"),
            (le, "UTF-16 little-endian"),
            (be, "UTF-16 big-endian"),
        ] {
            std::fs::write(&path, bytes).unwrap();
            let e = read_env_file(&path).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains("UTF-8"), "{e}");
            assert!(!e.contains("PKUTF16") && !e.contains("utf16-secret"), "{e}");
        }
    }

    /// A broken line is named by number; its text (a secret, maybe) is not repeated.
    #[test]
    fn a_line_that_does_not_parse_is_named_by_number_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "ALPACA_KEY=PK1\nALPACA_SECRET=\"unclosed-secret\nX=1\n",
        )
        .unwrap();
        let e = read_env_file(&path).unwrap_err().to_string();
        assert!(e.contains(".env:2:"), "{e}");
        assert!(!e.contains("unclosed-secret") && !e.contains("PK1"), "{e}");
    }
}

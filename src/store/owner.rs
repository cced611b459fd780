//! `data/owner.json`: which config file a data folder belongs to.
//!
//! Two configs pointed at one data folder would interleave their ledgers (rows of one bot's
//! symbols under the other's equity header), share one state and one intent list, and rotate
//! each other's equity ledger aside on every tick. The first tick records its config's path;
//! a tick of another config is refused (exit 2) naming both configs and the folder.

use super::files::write_atomic;
use super::TickLock;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize, Deserialize)]
struct Owner {
    /// The owning config file, absolute.
    config: PathBuf,
}

pub fn owner_path(data_dir: &Path) -> PathBuf {
    data_dir.join("owner.json")
}

/// Record `config` as the owner of `data_dir`, or check that it already is. A recorded owner
/// whose file no longer exists (the config was moved or renamed) is taken over with a
/// warning: no other bot can be running from a file that is gone.
pub fn claim(data_dir: &Path, config: &Path, _lock: &TickLock) -> Result<()> {
    let me = std::fs::canonicalize(config).unwrap_or_else(|_| config.to_path_buf());
    let path = owner_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let recorded: Owner = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
                path: path.clone(),
                line: Some(e.line()),
                message: format!("{e}; it names the config that owns this data folder: delete it if only one config uses the folder"),
            })?;
            if recorded.config == me {
                return Ok(());
            }
            if recorded.config.exists() {
                return Err(Error::config(
                    config,
                    None,
                    Some("data_dir"),
                    format!(
                        "the data folder {} belongs to another config, {}: two bots on one folder \
                         would mix their ledgers and orders. Give this config its own data_dir, or \
                         delete {} if {} no longer trades",
                        data_dir.display(),
                        recorded.config.display(),
                        path.display(),
                        recorded.config.display()
                    ),
                ));
            }
            log::warn!(
                "{}: the data folder's config {} is gone; {} takes it over",
                path.display(),
                recorded.config.display(),
                me.display()
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&path, "read", e)),
    }
    let mut json = serde_json::to_vec_pretty(&Owner { config: me })
        .map_err(|e| Error::Refused(format!("cannot encode {}: {e}", path.display())))?;
    json.push(b'\n');
    write_atomic(&path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_config_is_refused_and_a_vanished_one_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let lock = TickLock::acquire(&data).unwrap();
        let (a, b) = (dir.path().join("a.toml"), dir.path().join("b.toml"));
        std::fs::write(&a, "").unwrap();
        std::fs::write(&b, "").unwrap();
        claim(&data, &a, &lock).unwrap();
        claim(&data, &a, &lock).unwrap();
        let e = claim(&data, &b, &lock).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let text = e.to_string();
        assert!(
            text.contains("b.toml") && text.contains("a.toml") && text.contains("data"),
            "{text}"
        );
        std::fs::remove_file(&a).unwrap();
        claim(&data, &b, &lock).unwrap();
        assert!(std::fs::read_to_string(owner_path(&data))
            .unwrap()
            .contains("b.toml"));
    }
}

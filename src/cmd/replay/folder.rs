//! The replay's own data folder: never the live one, and replaced only when a previous replay
//! wrote it, which the marker file [`MARKER`] proves. Anything else already there is refused:
//! a mistyped `--out` must not delete a person's files.

use crate::error::{Error, Result};
use std::path::{Component, Path, PathBuf};

/// The file that makes a folder a replay's (and so replaceable by the next replay).
pub const MARKER: &str = "REPLAY-FOLDER.txt";

const MARKER_TEXT: &str =
    "This folder was written by `prometheus-bot replay`: the ledgers, state and \
dashboard of a simulated run. The next replay into it deletes and rewrites it.\n";

/// Make `out` an empty replay folder with its marker. `live` is the config's data folder, if
/// there is a config: `out` may be neither it nor a folder holding it.
pub fn prepare(out: &Path, live: Option<&Path>) -> Result<()> {
    let out_abs = absolute(out);
    if let Some(live) = live {
        let live_abs = absolute(live);
        if live_abs.starts_with(&out_abs) {
            return Err(Error::Usage(format!(
                "--out {} is (or holds) the live data folder {}: a replay writes its own ledgers \
                 and never the live ones; choose another folder, e.g. {}",
                out.display(),
                live.display(),
                live.join("replay").display()
            )));
        }
    }
    if out.exists() {
        if out.join(MARKER).is_file() {
            std::fs::remove_dir_all(out).map_err(|e| Error::io(out, "remove", e))?;
        } else {
            let mut entries = std::fs::read_dir(out).map_err(|e| Error::io(out, "read", e))?;
            if entries.next().is_some() {
                return Err(Error::Usage(format!(
                    "--out {} exists and is not a previous replay's folder (no {MARKER} in it): \
                     the replay would mix its files with what is there; choose another folder \
                     or remove it yourself",
                    out.display()
                )));
            }
        }
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, "create folder", e))?;
    let marker = out.join(MARKER);
    std::fs::write(&marker, MARKER_TEXT).map_err(|e| Error::io(&marker, "write", e))
}

/// `path` made absolute against the current folder and with `.` and `..` resolved by name
/// (the folder may not exist yet), then through symlinks for the part that exists.
fn absolute(path: &Path) -> PathBuf {
    let joined = std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let mut clean = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    // Resolve symlinks on the longest existing prefix, keep the rest as written.
    let mut existing = clean.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match existing.file_name() {
            Some(name) => rest.push(name.to_os_string()),
            None => return clean,
        }
        if !existing.pop() {
            return clean;
        }
    }
    let mut resolved = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_empty_or_a_previous_replay_folder_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("replay");
        prepare(&out, None).unwrap();
        assert!(out.join(MARKER).is_file());
        std::fs::write(out.join("old.csv"), "x").unwrap();
        prepare(&out, None).unwrap();
        assert!(
            !out.join("old.csv").exists(),
            "the previous replay is replaced"
        );

        let foreign = dir.path().join("mine");
        std::fs::create_dir_all(&foreign).unwrap();
        std::fs::write(foreign.join("notes.txt"), "keep me").unwrap();
        let e = prepare(&foreign, None).unwrap_err().to_string();
        assert!(e.contains("not a previous replay's folder"), "{e}");
        assert_eq!(
            std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
            "keep me"
        );

        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        prepare(&empty, None).unwrap();
    }

    #[test]
    fn the_live_data_folder_and_its_parents_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("data");
        for out in [live.clone(), dir.path().to_path_buf(), live.join("..")] {
            // Even with the marker in it: it is the live folder.
            let e = prepare(&out, Some(&live)).unwrap_err().to_string();
            assert!(e.contains("live data folder"), "{}: {e}", out.display());
        }
        prepare(&live.join("replay"), Some(&live)).unwrap();
    }
}

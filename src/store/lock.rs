//! One tick at a time: an exclusive, non-blocking OS lock on `data/prometheus-bot.lock`.
//!
//! The OS releases the lock when the process dies, however it dies, so a killed tick never
//! leaves a stale lock behind (unlike a PID file).

use crate::error::{Error, Result};
use fs2::FileExt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

pub struct TickLock {
    _file: File,
    path: PathBuf,
}

impl TickLock {
    pub fn acquire(data_dir: &Path) -> Result<TickLock> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, "create folder", e))?;
        let path = data_dir.join("prometheus-bot.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, "open", e))?;
        match file.try_lock_exclusive() {
            Ok(()) => Ok(TickLock { _file: file, path }),
            Err(e) if e.raw_os_error() == fs2::lock_contended_error().raw_os_error() => {
                Err(Error::LockHeld { path })
            }
            Err(e) => Err(Error::io(&path, "lock", e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = TickLock::acquire(dir.path()).unwrap();
        let second = TickLock::acquire(dir.path());
        assert!(matches!(second, Err(Error::LockHeld { .. })));
        drop(first);
        assert!(TickLock::acquire(dir.path()).is_ok());
    }
}

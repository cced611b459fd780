//! Diagnostics: `log` records to `logs/prometheus-bot.log` and to stderr.
//!
//! The file gets everything at the `RUST_LOG` level (info by default). Stderr gets the same
//! when it is a terminal, but only warnings and errors under cron or Task Scheduler, which
//! mail or keep everything a job prints: a healthy tick prints its one summary line on stdout
//! and nothing else. The HTTP and TLS crates are capped at `warn` whatever `RUST_LOG` says,
//! so request headers (which carry the keys) can never reach a log.

use chrono::Utc;
use log::{Level, LevelFilter};
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

/// Start logging to stderr only (before the config says where the log folder is).
pub fn init_stderr() {
    init(None);
}

/// Start logging to stderr and to `prometheus-bot.log` in `log_dir`, creating the folder.
/// A log file that cannot be opened is reported and skipped: logging must not stop a tick.
/// The file (and the scheduler's output files) is rotated first when it has grown past `max_bytes`: `.1` is the newest old
/// file, and at most `keep` are kept, so a Pi's SD card never fills with logs.
pub fn add_file(log_dir: &Path, max_bytes: u64, keep: u32) {
    let path = log_dir.join("prometheus-bot.log");
    rotate(&path, max_bytes, keep);
    // Where scripts/install-cron.sh and install-task.ps1 send a tick's output.
    rotate(&log_dir.join("cron.log"), max_bytes, keep);
    rotate(&log_dir.join("task.log"), max_bytes, keep);
    let file = std::fs::create_dir_all(log_dir)
        .and_then(|()| OpenOptions::new().create(true).append(true).open(&path));
    match file {
        Ok(f) => {
            if let Ok(mut slot) = LOG_FILE.lock() {
                *slot = Some(f);
            }
        }
        Err(e) => log::warn!(
            "cannot open log file {}: {e}; logging to stderr only",
            path.display()
        ),
    }
}

static LOG_FILE: Mutex<Option<File>> = Mutex::new(None);

fn rotate(path: &Path, max_bytes: u64, keep: u32) {
    let big = std::fs::metadata(path).is_ok_and(|m| m.len() > max_bytes);
    if !big {
        return;
    }
    let numbered = |n: u32| {
        let mut name = path.as_os_str().to_os_string();
        name.push(format!(".{n}"));
        std::path::PathBuf::from(name)
    };
    if keep == 0 {
        let _ = std::fs::remove_file(path);
        return;
    }
    let _ = std::fs::remove_file(numbered(keep));
    for n in (1..keep).rev() {
        let _ = std::fs::rename(numbered(n), numbered(n + 1));
    }
    let _ = std::fs::rename(path, numbered(1));
}

/// Write an error line to the log file only: the caller prints it to stderr in its own,
/// plainer words, and it must not appear twice there.
pub fn error_to_file(message: &str) {
    if let Ok(mut slot) = LOG_FILE.lock() {
        if let Some(f) = slot.as_mut() {
            let _ = writeln!(
                f,
                "{} ERROR {message}",
                Utc::now().format("%Y-%m-%d %H:%M:%S%.3fZ")
            );
        }
    }
}

fn init(file: Option<File>) {
    if let Some(f) = file {
        if let Ok(mut slot) = LOG_FILE.lock() {
            *slot = Some(f);
        }
    }
    let stderr_is_terminal = std::io::stderr().is_terminal();
    let stderr_level = if stderr_is_terminal || std::env::var_os("RUST_LOG").is_some() {
        Level::Trace
    } else {
        Level::Warn
    };
    let mut builder = env_logger::Builder::new();
    builder.filter_level(LevelFilter::Info).parse_default_env();
    for noisy in ["ureq", "ureq_proto", "rustls", "webpki"] {
        builder.filter_module(noisy, LevelFilter::Warn);
    }
    builder.format(move |buf, record| {
        let line = format!(
            "{} {:<5} {}\n",
            Utc::now().format("%Y-%m-%d %H:%M:%S%.3fZ"),
            record.level(),
            record.args()
        );
        if record.level() <= stderr_level {
            buf.write_all(line.as_bytes())?;
        }
        if let Ok(mut slot) = LOG_FILE.lock() {
            if let Some(f) = slot.as_mut() {
                let _ = f.write_all(line.as_bytes());
            }
        }
        Ok(())
    });
    // A second init (tests) keeps the first logger; that is fine.
    let _ = builder.try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_shifts_old_files_and_keeps_a_bounded_number() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("prometheus-bot.log");
        for round in 0..5 {
            std::fs::write(&log, format!("round {round} {}", "x".repeat(100))).unwrap();
            rotate(&log, 50, 3);
        }
        assert!(!log.exists());
        let read = |n: u32| {
            std::fs::read_to_string(dir.path().join(format!("prometheus-bot.log.{n}"))).unwrap()
        };
        assert!(
            read(1).starts_with("round 4")
                && read(2).starts_with("round 3")
                && read(3).starts_with("round 2")
        );
        assert!(!dir.path().join("prometheus-bot.log.4").exists());
        std::fs::write(&log, "small").unwrap();
        rotate(&log, 50, 3);
        assert!(log.exists(), "under the size: left alone");
    }
}

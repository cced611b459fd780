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
pub fn add_file(log_dir: &Path) {
    let path = log_dir.join("prometheus-bot.log");
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

//! Diagnostics: `log` records to `logs/prometheus-bot.log` and to stderr.
//!
//! The file gets everything at the `RUST_LOG` level (info by default). Stderr gets the same
//! when it is a terminal, but only warnings and errors under cron or Task Scheduler, which
//! mail or keep everything a job prints: a healthy tick prints its one summary line on stdout
//! and nothing else.
//!
//! Only this crate logs at the `RUST_LOG` level: every other crate (ureq, ureq_proto, rustls,
//! ...) is capped at `warn` whatever `RUST_LOG` says, for every module path below it. ureq_proto
//! traces each raw request as hex, API key headers included; env_logger lets a more specific
//! directive (`RUST_LOG=ureq_proto::util=trace`) override a `filter_module` cap, so the cap is
//! a [`log::Log`] wrapper around env_logger ([`Capped`]) that no directive can reach. It keeps
//! an allow list (this crate) rather than a deny list of HTTP crates, because a deny list goes
//! stale the day a dependency starts logging from a new crate (ureq 3 did, with ureq_proto).

use chrono::Utc;
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Start logging to stderr only (before the config says where the log folder is).
pub fn init_stderr() {
    init();
}

/// Log to `prometheus-bot.log` in `log_dir` too, from the first record on: nothing is
/// created, rotated or written until something is logged, so a run that stops at a bad config
/// or missing keys (reported on stderr, and kept out of the file by the caller) leaves no
/// trace on disk, not even an empty log file or a `logs/` folder.
///
/// When it is opened, the file (and the schedulers' output files beside it) is rotated first
/// if it has grown past `max_bytes`: `.1` is the newest old file, and at most `keep` are kept,
/// so a Pi's SD card never fills with logs. A log file that cannot be opened is reported once
/// on stderr and skipped: logging must not stop a tick.
pub fn add_file(log_dir: &Path, max_bytes: u64, keep: u32) {
    if let Ok(mut slot) = LOG_FILE.lock() {
        *slot = Sink::Pending {
            dir: log_dir.to_path_buf(),
            max_bytes,
            keep,
        };
    }
}

/// Where file records go.
enum Sink {
    /// No file: before the config is read, or when it could not be opened.
    None,
    /// The config named the folder; opened by the first record.
    Pending {
        dir: PathBuf,
        max_bytes: u64,
        keep: u32,
    },
    Open(File),
}

static LOG_FILE: Mutex<Sink> = Mutex::new(Sink::None);

/// Open the pending log file now, if no record has yet: a run that went well ends with its
/// log file in place and rotated (with `cron.log` beside it), even when it logged nothing.
pub fn open_pending() {
    write_to_file("");
}

/// Append `line` to the log file, opening it first if it is pending.
fn write_to_file(line: &str) {
    let Ok(mut slot) = LOG_FILE.lock() else {
        return;
    };
    if let Sink::Pending {
        dir,
        max_bytes,
        keep,
    } = &*slot
    {
        *slot = open(dir, *max_bytes, *keep);
    }
    if let (Sink::Open(f), false) = (&mut *slot, line.is_empty()) {
        let _ = f.write_all(line.as_bytes());
    }
}

fn open(log_dir: &Path, max_bytes: u64, keep: u32) -> Sink {
    let path = log_dir.join("prometheus-bot.log");
    rotate(&path, max_bytes, keep);
    // Where scripts/install-cron.sh sends a tick's output, and where install-task.ps1 sent it
    // before the task started the binary directly (an old task.log still rotates away).
    rotate(&log_dir.join("cron.log"), max_bytes, keep);
    rotate(&log_dir.join("task.log"), max_bytes, keep);
    let file = std::fs::create_dir_all(log_dir)
        .and_then(|()| OpenOptions::new().create(true).append(true).open(&path));
    match file {
        Ok(f) => Sink::Open(f),
        Err(e) => {
            // Not through `log`: this runs inside the logger.
            let _ = writeln!(
                std::io::stderr(),
                "warning: cannot open log file {}: {e}; logging to stderr only",
                path.display()
            );
            Sink::None
        }
    }
}

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
    write_to_file(&format!(
        "{} ERROR {message}\n",
        Utc::now().format("%Y-%m-%d %H:%M:%S%.3fZ")
    ));
}

fn init() {
    let stderr_is_terminal = std::io::stderr().is_terminal();
    let stderr_level = if stderr_is_terminal || std::env::var_os("RUST_LOG").is_some() {
        Level::Trace
    } else {
        Level::Warn
    };
    let mut builder = env_logger::Builder::new();
    builder.filter_level(LevelFilter::Info).parse_default_env();
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
        write_to_file(&line);
        Ok(())
    });
    let logger = builder.build();
    let max = logger.filter();
    // A second init (tests) keeps the first logger; that is fine.
    if log::set_boxed_logger(Box::new(Capped { inner: logger })).is_ok() {
        log::set_max_level(max);
    }
}

/// The crate whose records pass at the `RUST_LOG` level (library and binary share the name).
const OWN_CRATE: &str = env!("CARGO_CRATE_NAME");

/// Another logger, with every record not from [`OWN_CRATE`] capped at `warn`.
struct Capped<L> {
    inner: L,
}

/// True when a record at `level` from `path` (a target or module path) may be logged.
fn allowed(path: &str, level: Level) -> bool {
    level <= Level::Warn || path.split("::").next() == Some(OWN_CRATE)
}

impl<L: Log> Log for Capped<L> {
    fn enabled(&self, metadata: &Metadata) -> bool {
        allowed(metadata.target(), metadata.level()) && self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        // The target can be set freely by the caller; the module path is where the call is.
        let from_here = allowed(record.target(), record.level())
            && record
                .module_path()
                .is_none_or(|m| allowed(m, record.level()));
        if from_here {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what reaches it.
    struct Sink(Mutex<Vec<String>>);

    impl Log for Sink {
        fn enabled(&self, _: &Metadata) -> bool {
            true
        }
        fn log(&self, record: &Record) {
            self.0.lock().unwrap().push(format!("{}", record.args()));
        }
        fn flush(&self) {}
    }

    #[test]
    fn other_crates_are_capped_at_warn_for_every_module_path() {
        let capped = Capped {
            inner: Sink(Mutex::new(Vec::new())),
        };
        let emit = |target: &str, module: &str, level: Level, text: &str| {
            let meta = Metadata::builder().target(target).level(level).build();
            let passes = capped.enabled(&meta);
            capped.log(
                &Record::builder()
                    .metadata(meta)
                    .module_path(Some(module))
                    .args(format_args!("{text}"))
                    .build(),
            );
            passes
        };
        assert!(!emit(
            "ureq_proto::util",
            "ureq_proto::util",
            Level::Trace,
            "hex"
        ));
        assert!(!emit("ureq", "ureq::run", Level::Debug, "GET uri"));
        assert!(!emit(
            "rustls::client::hs",
            "rustls::client::hs",
            Level::Info,
            "tls"
        ));
        assert!(!emit(
            "ureq_protocol",
            "ureq_protocol",
            Level::Info,
            "lookalike"
        ));
        // A foreign call that borrows our name as its target is still judged by where it is.
        assert!(emit(
            "prometheus_bot",
            "ureq_proto::util",
            Level::Trace,
            "spoof"
        ));
        assert!(emit("ureq", "ureq::run", Level::Warn, "warned"));
        assert!(emit(
            "prometheus_bot::cmd::tick",
            "prometheus_bot::cmd::tick",
            Level::Trace,
            "ours"
        ));
        assert_eq!(*capped.inner.0.lock().unwrap(), ["warned", "ours"]);
    }

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

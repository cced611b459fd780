//! Progress of long runs (sweeps, walk-forward, `train`, `fetch`): a bar with the total and an
//! ETA when stderr is a terminal, nothing at all under cron or in a pipe.
//!
//! The pure code (the sweep, the walk-forward, the model's validation) only counts: it calls
//! [`Progress::inc`] once per unit of work. A [`Progress`] passes the count on to its [`Sink`]
//! at most once per `every` (a few times a second), so a hot loop pays one atomic add and one
//! clock read per unit, never a terminal write. The sink is the edge: [`Terminal`] draws with
//! indicatif, [`Silent`] drops everything, and tests record what they are told.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the count reaches the sink at most: four times a second.
pub const EVERY: Duration = Duration::from_millis(250);

/// Where progress is shown. `Sync`: a parallel sweep counts from several threads.
pub trait Sink: Sync {
    /// A run of `total` units named `label` starts.
    fn begin(&self, label: &str, total: u64);
    /// `done` units of the run are finished.
    fn update(&self, done: u64);
    /// The run is over (finished or abandoned): clear the line.
    fn end(&self);
}

/// A sink that shows nothing: stderr is not a terminal (cron, a pipe, a test harness).
pub struct Silent;

impl Sink for Silent {
    fn begin(&self, _: &str, _: u64) {}
    fn update(&self, _: u64) {}
    fn end(&self) {}
}

/// A bar on stderr: label, bar, done/total, elapsed and ETA; a spinner with the count and
/// the elapsed time when the total is not known (`fetch`: Alpaca's pages announce none).
pub struct Terminal {
    bar: indicatif::ProgressBar,
    counted: Option<indicatif::ProgressStyle>,
    open_ended: Option<indicatif::ProgressStyle>,
}

impl Terminal {
    fn new() -> Terminal {
        let bar = indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr_with_hz(4),
        );
        // The templates are constants: they parse, and if a future indicatif disagreed the
        // default style would still show the counts.
        let counted = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {human_pos}/{human_len} ({percent}%), {elapsed} elapsed, ETA {eta}",
        )
        .ok()
        .map(|s| s.progress_chars("=> "));
        let open_ended =
            indicatif::ProgressStyle::with_template("{msg}: {human_pos} so far, {elapsed} elapsed")
                .ok();
        Terminal {
            bar,
            counted,
            open_ended,
        }
    }
}

impl Sink for Terminal {
    fn begin(&self, label: &str, total: u64) {
        let style = if total == 0 {
            &self.open_ended
        } else {
            &self.counted
        };
        if let Some(style) = style {
            self.bar.set_style(style.clone());
        }
        self.bar.set_message(label.to_string());
        self.bar.set_length(total);
        self.bar.reset();
    }
    fn update(&self, done: u64) {
        self.bar.set_position(done);
    }
    fn end(&self) {
        self.bar.finish_and_clear();
    }
}

/// The sink for this process: a bar if stderr is a terminal, else [`Silent`].
pub fn stderr() -> Box<dyn Sink> {
    if std::io::stderr().is_terminal() {
        Box::new(Terminal::new())
    } else {
        Box::new(Silent)
    }
}

/// One run's counter, throttled on its way to the sink. Ends the run when dropped, so an
/// early return (an error) still clears the line.
pub struct Progress<'a> {
    sink: &'a dyn Sink,
    done: AtomicU64,
    /// When the sink was last told; `try_lock` so that threads never wait on each other.
    last: Mutex<Instant>,
    every: Duration,
}

impl<'a> Progress<'a> {
    /// Start a run of `total` units (0: not known) on `sink`, updated at most once per
    /// [`EVERY`].
    pub fn start(sink: &'a dyn Sink, label: &str, total: u64) -> Progress<'a> {
        Progress::throttled(sink, label, total, EVERY)
    }

    /// As [`Progress::start`] with another throttle (tests use zero and an hour).
    pub fn throttled(sink: &'a dyn Sink, label: &str, total: u64, every: Duration) -> Self {
        sink.begin(label, total);
        Progress {
            sink,
            done: AtomicU64::new(0),
            last: Mutex::new(Instant::now()),
            every,
        }
    }

    /// A counter that shows nothing, for callers without a terminal (library tests, benches).
    pub fn silent() -> Progress<'static> {
        Progress::throttled(&Silent, "", 0, Duration::MAX)
    }

    /// One more unit done.
    pub fn inc(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.report(done);
    }

    /// `done` units done in all (for a caller that is told a running total).
    pub fn set(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
        self.report(done);
    }

    fn report(&self, done: u64) {
        let Ok(mut last) = self.last.try_lock() else {
            return;
        };
        let now = Instant::now();
        if now.duration_since(*last) >= self.every {
            *last = now;
            self.sink.update(done);
        }
    }

    /// Units done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        self.sink.update(self.done());
        self.sink.end();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Records every call, in order.
    #[derive(Default)]
    pub(crate) struct Recorder(pub Mutex<Vec<String>>);

    impl Sink for Recorder {
        fn begin(&self, label: &str, total: u64) {
            self.0
                .lock()
                .unwrap()
                .push(format!("begin {label} {total}"));
        }
        fn update(&self, done: u64) {
            self.0.lock().unwrap().push(format!("update {done}"));
        }
        fn end(&self) {
            self.0.lock().unwrap().push("end".into());
        }
    }

    impl Recorder {
        pub(crate) fn calls(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    #[test]
    fn every_unit_reaches_an_unthrottled_sink_and_the_end_is_always_told() {
        let rec = Recorder::default();
        {
            let p = Progress::throttled(&rec, "sweep", 3, Duration::ZERO);
            for _ in 0..3 {
                p.inc();
            }
        }
        assert_eq!(
            rec.calls(),
            [
                "begin sweep 3",
                "update 1",
                "update 2",
                "update 3",
                "update 3",
                "end"
            ]
        );
    }

    #[test]
    fn a_running_total_is_passed_on_as_given() {
        let rec = Recorder::default();
        {
            let p = Progress::throttled(&rec, "AAPL 1Min bars", 0, Duration::ZERO);
            p.set(10_000);
            p.set(25_000);
        }
        assert_eq!(
            rec.calls(),
            [
                "begin AAPL 1Min bars 0",
                "update 10000",
                "update 25000",
                "update 25000",
                "end"
            ]
        );
    }

    #[test]
    fn a_throttled_counter_tells_the_sink_only_the_final_count() {
        let rec = Recorder::default();
        {
            let p = Progress::throttled(&rec, "fit", 10_000, Duration::from_secs(3600));
            for _ in 0..10_000 {
                p.inc();
            }
            assert_eq!(p.done(), 10_000);
        }
        assert_eq!(rec.calls(), ["begin fit 10000", "update 10000", "end"]);
    }

    #[test]
    fn counts_from_several_threads_add_up() {
        let rec = Recorder::default();
        {
            let p = Progress::throttled(&rec, "x", 4000, Duration::ZERO);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| (0..1000).for_each(|_| p.inc()));
                }
            });
        }
        let calls = rec.calls();
        assert_eq!(calls[calls.len() - 2..], ["update 4000", "end"]);
        // Every count the sink was told is one that was reached.
        assert!(calls[1..calls.len() - 1].iter().all(|c| {
            let n: u64 = c.strip_prefix("update ").unwrap().parse().unwrap();
            (1..=4000).contains(&n)
        }));
    }
}

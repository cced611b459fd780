//! A tick over a universe: the release binary against the loopback fake Alpaca with 2 and
//! 500 symbols (minute bars, `history = 200`, 400 flat bars each in the fake, an SMA cross
//! on each symbol that holds). For each size it runs the cold ticks that fill the caches
//! (from an empty data folder, until every symbol is backfilled); then warm ticks, one of
//! each size in turn (so the shared machine's drifting load falls on both alike), each
//! universe's fake clock one minute later each time, as under cron.
//! Reports the first cold tick and the ticks to warm up, then for warm ticks the median wall
//! and CPU time (user + system of the child), peak RSS, requests per tick, and the syncs of
//! one warm tick (from its debug log line `tick synced N time(s)`).
//!
//! `PROMETHEUS_BOT_BIN` times another build (an older one, side by side).
//!
//! Run: `cargo bench --bench universe` (or scripts/bench-universe.sh). Goals (issue 15): warm
//! requests independent of the symbols (5), cold requests bounded, warm CPU at 500 symbols
//! within 4x of 2 symbols, syncs per tick independent of the symbols.

#[path = "../tests/support/fake_alpaca.rs"]
mod fake_alpaca;

use chrono::{DateTime, Duration, TimeZone, Utc};
use fake_alpaca::{FakeAlpaca, FakeBar, KEY_ID, SECRET};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Warm ticks timed per size; `UNIVERSE_WARM` sets another count (a profile wants many).
const WARM_RUNS: usize = 21;
/// GNU time, which reports a child's own peak RSS (`-f %M`).
const GNU_TIME: &str = "/usr/bin/time";

fn main() {
    let sizes: Vec<usize> = std::env::var("UNIVERSE_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![2, 500]);
    let warm_runs = std::env::var("UNIVERSE_WARM")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(WARM_RUNS);
    let mut universes: Vec<Universe> = sizes.into_iter().map(Universe::new).collect();
    for u in &mut universes {
        u.warm_up();
    }
    // Warm ticks taken in turns, one of each size per round: the shared machine's load drifts
    // over a minute, and the ratio of two sizes measured a minute apart moved with it.
    let mut warm: Vec<Vec<Tick>> = universes.iter().map(|_| Vec::new()).collect();
    for _ in 0..warm_runs {
        for (u, ticks) in universes.iter_mut().zip(&mut warm) {
            ticks.push(u.tick(false));
        }
    }
    let mut warm_cpu = Vec::new();
    for (u, ticks) in universes.iter_mut().zip(&warm) {
        warm_cpu.push((u.n, u.report_warm(ticks)));
    }
    if let (Some((a, small)), Some((b, large))) = (warm_cpu.first(), warm_cpu.last()) {
        if a != b {
            println!(
                "warm CPU at {b} symbols / at {a}: {:.2}x (goal <= 4x); {:.1} us per added symbol",
                large / small,
                (large - small) * 1e3 / (b - a) as f64
            );
        }
    }
}

/// Symbol names: ZAA, ZAB, ... (three letters, valid tickers no real one collides with).
fn names(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let a = (b'A' + (i / 26 % 26) as u8) as char;
            let b = (b'A' + (i % 26) as u8) as char;
            let c = (b'A' + (i / 676) as u8) as char;
            format!("{}{a}{b}", if i < 676 { 'Z' } else { c })
        })
        .collect()
}

/// One data folder and fake Alpaca with `n` symbols, ticked a minute apart as under cron.
struct Universe {
    n: usize,
    fake: FakeAlpaca,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    symbols: Vec<String>,
    start: DateTime<Utc>,
    bin: String,
    minute: i64,
}

impl Universe {
    fn new(n: usize) -> Universe {
        let fake = FakeAlpaca::start();
        let dir = tempfile::tempdir().unwrap();
        let url = fake.url();
        let config = dir.path().join("config.toml");
        let symbols = names(n);
        let mut text = format!(
            "[alpaca]\ntrading_url = \"{url}\"\ndata_url = \"{url}\"\n[bot]\ntimeframe = \"1Min\"\nhistory = 200\n"
        );
        for name in &symbols {
            text.push_str(&format!(
                "[[symbol]]\nname = \"{name}\"\nqty = 1\nstrategy = {{ kind = \"sma_cross\", fast = 10, slow = 30 }}\n"
            ));
        }
        std::fs::write(&config, text).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 11, 24, 14, 30, 0).unwrap();
        for (k, symbol) in symbols.iter().enumerate() {
            let base = 50.0 + k as f64;
            let bars: Vec<FakeBar> = (0..400)
                // Flat: the strategies hold, so the tick measured is the common one with no
                // order (an order costs its own requests and syncs, by design).
                .map(|i| FakeBar::around(start + Duration::minutes(i), base))
                .collect();
            fake.add_bars(symbol, "1Min", &bars);
        }
        let bin = std::env::var("PROMETHEUS_BOT_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_prometheus-bot").to_string());
        Universe {
            n,
            fake,
            dir,
            config,
            symbols,
            start,
            bin,
            minute: 199,
        }
    }

    /// The next tick, one minute after the last.
    fn tick(&mut self, debug: bool) -> Tick {
        self.minute += 1;
        let (fake, dir) = (&self.fake, self.dir.path());
        let now: DateTime<Utc> = self.start + Duration::minutes(self.minute) + Duration::seconds(2);
        fake.set_clock(now, true);
        for (k, symbol) in self.symbols.iter().enumerate() {
            fake.set_latest_trade(symbol, 50.0 + k as f64, now - Duration::seconds(1));
        }
        fake.clear_requests();
        let t0 = Instant::now();
        // A child's peak RSS counts the pages it shared with its parent until exec, and this
        // parent holds the fake's bars of every universe (30 MB at 500 symbols): the logged
        // tick's peak is measured by GNU time, a small parent.
        let rss_file = dir.join("rss.txt");
        let timed = debug && Path::new(GNU_TIME).exists();
        let mut cmd = if timed {
            let mut c = Command::new(GNU_TIME);
            c.args(["-f", "%M", "-o", rss_file.to_str().unwrap(), &self.bin]);
            c
        } else {
            Command::new(&self.bin)
        };
        cmd.args(["--config", self.config.to_str().unwrap(), "tick"])
            .env_clear()
            .env("ALPACA_KEY", KEY_ID)
            .env("ALPACA_SECRET", SECRET)
            .stdout(Stdio::null());
        let log = dir.join("stderr.txt");
        if debug {
            cmd.env("RUST_LOG", "debug")
                .stderr(std::fs::File::create(&log).unwrap());
        } else {
            cmd.stderr(Stdio::null());
        }
        // Reaped by wait4 below, which also returns the child's own CPU time and peak RSS.
        #[allow(clippy::zombie_processes)]
        let child = cmd.spawn().unwrap();
        let (status, usage) = wait4(child.id() as i32);
        let wall = t0.elapsed().as_secs_f64() * 1e3;
        assert_eq!(status, 0, "tick failed");
        // An older build (PROMETHEUS_BOT_BIN) does not log it: shown as "?".
        let syncs = debug
            .then(|| {
                let text = std::fs::read_to_string(&log).unwrap();
                text.lines()
                    .find_map(|l| l.split("tick synced ").nth(1))
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|n| n.parse().ok())
            })
            .flatten();
        let requests = fake.requests();
        let bars = requests
            .iter()
            .filter(|r| r.path == "/v2/stocks/bars")
            .count();
        let rss_kb = if timed {
            let text = std::fs::read_to_string(&rss_file).unwrap();
            text.trim().parse().unwrap()
        } else {
            usage.ru_maxrss
        };
        Tick {
            wall,
            cpu: tv_ms(usage.ru_utime) + tv_ms(usage.ru_stime),
            rss_kb,
            requests: requests.len(),
            bars_requests: bars,
            syncs,
        }
    }

    /// The cold ticks that fill the caches, from an empty data folder; prints them.
    fn warm_up(&mut self) {
        let first = self.tick(true);
        let mut cold = vec![first];
        // An older build fills every cache in its first tick; this one 30 symbols a tick.
        let warm = |dir: &std::path::Path, symbols: &[String]| {
            symbols.iter().all(|s| {
                std::fs::read_to_string(dir.join(format!("data/bars/{s}-1Min.csv")))
                    .map(|t| t.lines().count() > 200)
                    .unwrap_or(false)
            })
        };
        while !warm(self.dir.path(), &self.symbols) {
            cold.push(self.tick(false));
            assert!(cold.len() < 200, "the caches never warm up");
        }
        let c = &cold[0];
        println!(
            "{} symbols, cold: {} tick(s) to fill every cache; the first {:.1} ms wall, {:.1} ms CPU, {:.1} MB peak RSS, {} requests ({} for bars, pages included), {} syncs; at most {} requests in a cold tick",
            self.n,
            cold.len(),
            c.wall,
            c.cpu,
            c.rss_kb as f64 / 1024.0,
            c.requests,
            c.bars_requests,
            c.syncs.map_or("?".to_string(), |n| n.to_string()),
            cold.iter().map(|t| t.requests).max().unwrap_or_default()
        );
    }

    /// Prints the warm ticks' medians (and the syncs and peak RSS of one more, logged);
    /// returns the median CPU in ms.
    fn report_warm(&mut self, warm: &[Tick]) -> f64 {
        let logged = self.tick(true);
        let syncs = logged.syncs.map_or("?".to_string(), |n| n.to_string());
        let median = |f: fn(&Tick) -> f64| {
            let mut v: Vec<f64> = warm.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let cpu = median(|t| t.cpu);
        println!(
            "{} symbols, warm x{}: median {:.1} ms wall, {cpu:.1} ms CPU, peak RSS {:.1} MB{}, {}-{} requests, {syncs} syncs",
            self.n,
            warm.len(),
            median(|t| t.wall),
            logged.rss_kb as f64 / 1024.0,
            if Path::new(GNU_TIME).exists() { "" } else { " (with the bench's shared pages: no GNU time)" },
            warm.iter().map(|t| t.requests).min().unwrap_or_default(),
            warm.iter().map(|t| t.requests).max().unwrap_or_default(),
        );
        cpu
    }
}

struct Tick {
    wall: f64,
    cpu: f64,
    rss_kb: i64,
    requests: usize,
    bars_requests: usize,
    syncs: Option<u64>,
}

fn tv_ms(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 * 1e3 + tv.tv_usec as f64 / 1e3
}

/// Wait for the child and get its own resource usage (CPU and peak RSS).
fn wait4(pid: i32) -> (i32, libc::rusage) {
    let mut status = 0;
    // SAFETY: plain syscall on our own child's pid with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4 failed");
    (libc::WEXITSTATUS(status), usage)
}

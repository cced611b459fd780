//! Whole-process tick benchmark: the release binary against the loopback fake Alpaca, two
//! symbols, 200 bars of history each, a warm bar cache, the fake clock one minute later on
//! every run (so each tick appends a bar, as under cron). Reports median and p90 wall time,
//! CPU time (user + system) and peak RSS of the child, and the HTTP requests per tick.
//!
//! Run: `cargo bench --bench tick` (or scripts/bench-tick.sh). Targets: median < 20 ms wall,
//! peak RSS < 15 MB, <= 7 requests per tick.

#[path = "../tests/support/fake_alpaca.rs"]
mod fake_alpaca;

use chrono::{Duration, TimeZone, Utc};
use fake_alpaca::{FakeAlpaca, FakeBar, KEY_ID, SECRET};
use std::process::{Command, Stdio};
use std::time::Instant;

const RUNS: usize = 60;

fn main() {
    let fake = FakeAlpaca::start();
    let dir = tempfile::tempdir().unwrap();
    let url = fake.url();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[alpaca]\ntrading_url = \"{url}\"\ndata_url = \"{url}\"\n[bot]\ntimeframe = \"1Min\"\nhistory = 200\n\
             [[symbol]]\nname = \"AAPL\"\nqty = 1\nstrategy = {{ kind = \"threshold\", buy_above = 230.0, sell_below = 220.0 }}\n\
             [[symbol]]\nname = \"TSLA\"\nqty = 1\nstrategy = {{ kind = \"sma_cross\", fast = 10, slow = 30 }}\n"
        ),
    )
    .unwrap();

    let start = Utc.with_ymd_and_hms(2026, 11, 24, 14, 30, 0).unwrap();
    for (symbol, base) in [("AAPL", 225.0), ("TSLA", 250.0)] {
        let bars: Vec<FakeBar> = (0..400)
            .map(|i| {
                let c = base + (i as f64 * 0.7).sin() * 3.0;
                FakeBar::around(start + Duration::minutes(i), c)
            })
            .collect();
        fake.add_bars(symbol, "1Min", &bars);
    }
    // PROMETHEUS_BOT_BIN and PROMETHEUS_BOT_RUNNER time another build, e.g. the aarch64
    // binary under `qemu-aarch64 -L /usr/aarch64-linux-gnu` (see scripts/bench-tick.sh).
    let bin = std::env::var("PROMETHEUS_BOT_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_prometheus-bot").to_string());
    let runner: Vec<String> = std::env::var("PROMETHEUS_BOT_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let mut minute = 200;
    let tick = |minute: i64| -> (f64, f64, i64, usize) {
        let now = start + Duration::minutes(minute) + Duration::seconds(2);
        fake.set_clock(now, true);
        for (symbol, p) in [("AAPL", 225.0), ("TSLA", 250.0)] {
            fake.set_latest_trade(symbol, p, now - Duration::seconds(1));
        }
        fake.clear_requests();
        let t0 = Instant::now();
        let (program, pre) = match runner.split_first() {
            Some((first, rest)) => (first.clone(), [rest, std::slice::from_ref(&bin)].concat()),
            None => (bin.clone(), Vec::new()),
        };
        // Reaped by wait4 below, which also returns the child's own CPU time and peak RSS.
        #[allow(clippy::zombie_processes)]
        let child = Command::new(program)
            .args(pre)
            .args(["--config", config.to_str().unwrap(), "tick"])
            .env_clear()
            .env("ALPACA_KEY", KEY_ID)
            .env("ALPACA_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (status, usage) = wait4(child.id() as i32);
        let wall = t0.elapsed().as_secs_f64() * 1e3;
        assert_eq!(status, 0, "tick failed");
        let cpu = tv_ms(usage.ru_utime) + tv_ms(usage.ru_stime);
        (wall, cpu, usage.ru_maxrss, fake.requests().len())
    };

    let (cold_wall, _, cold_rss, cold_requests) = tick(minute);
    println!("first tick (fills the cache): {cold_wall:.1} ms wall, {cold_rss} KB peak RSS, {cold_requests} requests");
    let (mut walls, mut cpus, mut max_rss, mut max_requests) = (Vec::new(), Vec::new(), 0, 0);
    for _ in 0..RUNS {
        minute += 1;
        let (wall, cpu, rss, requests) = tick(minute);
        walls.push(wall);
        cpus.push(cpu);
        max_rss = max_rss.max(rss);
        max_requests = max_requests.max(requests);
    }
    walls.sort_by(f64::total_cmp);
    cpus.sort_by(f64::total_cmp);
    println!(
        "warm tick x{RUNS}: median {:.1} ms wall (p90 {:.1}), median {:.1} ms CPU, peak RSS {:.1} MB, at most {max_requests} requests",
        walls[RUNS / 2],
        walls[RUNS * 9 / 10],
        cpus[RUNS / 2],
        max_rss as f64 / 1024.0
    );
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

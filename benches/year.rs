//! A tick after a simulated year against a fresh one: the release binary against the loopback
//! fake Alpaca, 2 symbols, minute bars, `history = 200`. The aged folder holds what a year of
//! minute ticks leaves (98,280 decision rows per symbol and 98,280 equity rows, 30,000 fills,
//! 98,280 cached minute bars per symbol), written straight into the files the fresh ticks
//! started. Reports median CPU (user + system of the child), wall time and peak RSS of warm
//! ticks in each folder, dashboard off and on, and the first aged tick (no fills summary in
//! the state and no dashboard digest yet: it reads fills.csv, and with the dashboard on
//! equity.csv, whole once). The two folders tick in turn, so a busy machine slows both alike.
//!
//! Run: `cargo bench --bench year` (or scripts/bench-year.sh). Goal (issue 15): the aged tick
//! within 1.2x the CPU and RSS of the fresh one, dashboard on or off.

#[path = "../tests/support/fake_alpaca.rs"]
mod fake_alpaca;

use chrono::{DateTime, Duration, TimeZone, Utc};
use fake_alpaca::{FakeAlpaca, FakeBar, KEY_ID, SECRET};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const RUNS: usize = 41;
const YEAR_ROWS: usize = 98_280;
const FILLS: usize = 30_000;

fn main() {
    for dashboard in [false, true] {
        measure(dashboard);
    }
}

/// Median CPU and peak RSS of warm ticks in a fresh folder and an aged one, their ticks taken
/// in turn (fresh, aged, fresh, ...) so the shared machine's load falls on both alike.
fn measure(dashboard: bool) {
    let on = if dashboard { "on" } else { "off" };
    let mut fresh = Folder::new(dashboard);
    let mut aged = Folder::new(dashboard);
    age(aged.dir.path(), start());
    let (wall, cpu, rss) = aged.tick();
    println!(
        "a year-old folder, dashboard {on}: first tick (reads fills.csv whole once) {wall:.1} ms wall, {cpu:.1} ms CPU, {:.1} MB",
        rss as f64 / 1024.0
    );
    let (mut f, mut a) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        f.push(fresh.tick());
        a.push(aged.tick());
    }
    let fresh = summary(&format!("a fresh folder, dashboard {on}"), f);
    let aged = summary(&format!("a year-old folder, dashboard {on}"), a);
    println!(
        "dashboard {on}: aged / fresh: CPU {:.2}x, peak RSS {:.2}x (goal <= 1.2x)",
        aged.0 / fresh.0,
        aged.1 / fresh.1
    );
}

/// Print and return the median CPU ms and the peak RSS MB of `ticks` (wall ms, CPU ms, KB).
fn summary(label: &str, ticks: Vec<(f64, f64, i64)>) -> (f64, f64) {
    let mut walls: Vec<f64> = ticks.iter().map(|t| t.0).collect();
    let mut cpus: Vec<f64> = ticks.iter().map(|t| t.1).collect();
    let rss = ticks.iter().map(|t| t.2).max().unwrap_or(0);
    walls.sort_by(f64::total_cmp);
    cpus.sort_by(f64::total_cmp);
    let (cpu, mb) = (cpus[RUNS / 2], rss as f64 / 1024.0);
    println!(
        "{label}: warm tick x{RUNS}: median {:.1} ms wall, {cpu:.1} ms CPU, peak RSS {mb:.1} MB",
        walls[RUNS / 2]
    );
    (cpu, mb)
}

/// The fresh ticks' first bar.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 14, 30, 0).unwrap()
}

/// A bot's folder and its own fake Alpaca, ticked once a simulated minute.
struct Folder {
    fake: FakeAlpaca,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    bin: String,
    minute: i64,
}

impl Folder {
    /// 2 symbols of minute bars, 3 ticks taken (the caches filled).
    fn new(dashboard: bool) -> Folder {
        let fake = FakeAlpaca::start();
        let dir = tempfile::tempdir().unwrap();
        let url = fake.url();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[alpaca]\ntrading_url = \"{url}\"\ndata_url = \"{url}\"\n[bot]\ntimeframe = \"1Min\"\nhistory = 200\n\
                 [report]\ndashboard = {dashboard}\n\
                 [[symbol]]\nname = \"AAPL\"\nqty = 1\nstrategy = {{ kind = \"threshold\", buy_above = 1000.0, sell_below = 1.0 }}\n\
                 [[symbol]]\nname = \"TSLA\"\nqty = 1\nstrategy = {{ kind = \"sma_cross\", fast = 10, slow = 30 }}\n"
            ),
        )
        .unwrap();
        for (symbol, base) in [("AAPL", 225.0), ("TSLA", 250.0)] {
            let bars: Vec<FakeBar> = (0..400)
                .map(|i| FakeBar::around(start() + Duration::minutes(i), base))
                .collect();
            fake.add_bars(symbol, "1Min", &bars);
        }
        let bin = std::env::var("PROMETHEUS_BOT_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_prometheus-bot").to_string());
        let mut folder = Folder {
            fake,
            dir,
            config,
            bin,
            minute: 200,
        };
        for _ in 0..3 {
            folder.tick();
        }
        folder
    }

    /// One tick a minute after the last: wall ms, CPU ms (user + system of the child), peak
    /// RSS KB.
    fn tick(&mut self) -> (f64, f64, i64) {
        let now: DateTime<Utc> = start() + Duration::minutes(self.minute) + Duration::seconds(2);
        self.minute += 1;
        self.fake.set_clock(now, true);
        for (symbol, p) in [("AAPL", 225.0), ("TSLA", 250.0)] {
            self.fake
                .set_latest_trade(symbol, p, now - Duration::seconds(1));
        }
        let t0 = Instant::now();
        // Reaped by wait4 below, which also returns the child's own CPU time and peak RSS.
        #[allow(clippy::zombie_processes)]
        let child = Command::new(&self.bin)
            .args(["--config", self.config.to_str().unwrap(), "tick"])
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
        (
            wall,
            tv_ms(usage.ru_utime) + tv_ms(usage.ru_stime),
            usage.ru_maxrss,
        )
    }
}

/// Put a year of history in front of the rows the fresh ticks wrote: each ledger's header,
/// then the year, then its own rows; the caches get a year of earlier bars. Written a line at
/// a time: a child forked from a large benchmark process would count its pages in its peak RSS.
fn age(dir: &Path, start: DateTime<Utc>) {
    let data = dir.join("data");
    let year_start = start - Duration::days(365);
    let minute = |i: usize| year_start + Duration::minutes(i as i64);
    let cell = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    let ledger = data.join("ledger");
    // decisions.csv: one row per symbol per minute, as the fresh ticks wrote theirs.
    let own = std::fs::read_to_string(ledger.join("decisions.csv")).unwrap();
    let sample: Vec<String> = own
        .lines()
        .skip(1)
        .take(2)
        .map(|r| r.split_once(',').unwrap().1.to_string())
        .collect();
    prepend(&ledger.join("decisions.csv"), None, |out| {
        for i in 0..YEAR_ROWS {
            let t = cell(minute(i));
            for rest in &sample {
                writeln!(out, "{t},{rest}").unwrap();
            }
        }
    });
    let own = std::fs::read_to_string(ledger.join("equity.csv")).unwrap();
    let rest = own
        .lines()
        .nth(1)
        .unwrap()
        .split_once(',')
        .unwrap()
        .1
        .to_string();
    prepend(&ledger.join("equity.csv"), None, |out| {
        for i in 0..YEAR_ROWS {
            writeln!(out, "{},{rest}", cell(minute(i))).unwrap();
        }
    });
    // fills.csv: bought and sold back, 15,000 times (the net position stays 0).
    let header =
        "time_utc,symbol,side,qty,price,order_id,client_order_id,status,activity_id,source";
    prepend(&ledger.join("fills.csv"), Some(header), |out| {
        for i in 0..FILLS {
            let side = if i % 2 == 0 { "buy" } else { "sell" };
            writeln!(
                out,
                "{},AAPL,{side},1,225.5,o{i},pb-aged-{i},fill,a{i},tick",
                cell(minute(i * 3))
            )
            .unwrap();
        }
    });
    for symbol in ["AAPL", "TSLA"] {
        prepend(&data.join(format!("bars/{symbol}-1Min.csv")), None, |out| {
            for i in 0..YEAR_ROWS {
                writeln!(out, "{},225,225.2,224.8,225,1000,20,225", cell(minute(i))).unwrap();
            }
        });
    }
    // The fills summary of the fresh ticks no longer matches the file: the first aged tick
    // reads it whole, as the first tick of a build with the summary does.
}

/// Rewrite `path` as its header (or `header` when the file does not exist), what `body`
/// writes, then its own rows.
fn prepend(path: &Path, header: Option<&str>, body: impl FnOnce(&mut dyn Write)) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|_| format!("{}\n", header.unwrap()));
    let (head, rows) = text.split_once('\n').unwrap();
    let tmp = path.with_extension("aging");
    let mut out = BufWriter::new(std::fs::File::create(&tmp).unwrap());
    writeln!(out, "{head}").unwrap();
    body(&mut out);
    out.write_all(rows.as_bytes()).unwrap();
    out.flush().unwrap();
    drop(out);
    std::fs::rename(&tmp, path).unwrap();
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

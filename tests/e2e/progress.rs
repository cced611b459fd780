//! Progress: a bar with the total and an ETA on a terminal's stderr, not one byte of it when
//! stderr is a pipe or a file (cron, the harness).

use crate::check;
use crate::harness::{Bot, BIN};
use chrono::{Duration, TimeZone, Utc};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

/// A daily cache of a wave for TSLA, enough bars for a sweep with trades.
fn write_cache(bot: &Bot) {
    let mut text = String::from("time_utc,open,high,low,close,volume,trades,vwap\n");
    let t0 = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let mut prev = 250.0;
    for i in 0..400 {
        let x = f64::from(i);
        let c = 250.0 + 20.0 * (x / 6.0).sin() + 5.0 * (x / 2.1).cos();
        let t = (t0 + Duration::days(i.into())).format("%Y-%m-%d %H:%M:%S");
        let (hi, lo) = (f64::max(prev, c) + 0.5, f64::min(prev, c) - 0.5);
        text.push_str(&format!("{t},{prev},{hi},{lo},{c},1000,10,{c}\n"));
        prev = c;
    }
    let path = bot.path("data/bars/TSLA-1Day.csv");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const SWEEP: [&str; 7] = [
    "backtest",
    "--symbol",
    "TSLA",
    "--sweep",
    "fast=2..20",
    "slow=5..60:5",
    "--out",
];

fn args(bot: &Bot, out: &str) -> Vec<String> {
    let mut a: Vec<String> = SWEEP.iter().map(|s| s.to_string()).collect();
    a.push(bot.path(out).to_str().unwrap().to_string());
    a
}

#[test]
fn a_sweep_under_cron_prints_no_progress_bytes() {
    let bot = Bot::new();
    write_cache(&bot);
    let a = args(&bot, "out");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let run = bot.run(&a);
    check!(run, run.code == 0);
    for (what, needle) in [
        ("a carriage return", "\r"),
        ("an escape sequence", "\x1b"),
        ("an ETA", "ETA"),
        ("a bar", "[="),
    ] {
        check!(
            run,
            !run.stderr.contains(needle),
            "{what} on a piped stderr"
        );
    }
}

#[test]
fn a_sweep_on_a_terminal_shows_the_total_and_an_eta() {
    let bot = Bot::new();
    write_cache(&bot);
    let (mut master, mut slave) = (-1, -1);
    let made = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(made, 0, "openpty");
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(bot.config_path())
        .args(args(&bot, "out"))
        .current_dir(bot.cwd.path())
        .env_clear()
        .env("TERM", "xterm")
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    // Read while it runs (a full pty would block it); EIO once the child's end is closed.
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::from(master);
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = file.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    });
    let status = child.wait().unwrap();
    let seen = reader.join().unwrap();
    assert!(status.success(), "{seen}");
    // fast 2..19 × slow 5..55 step 5 with fast < slow, by hand: slow 5 takes 3, 10 takes 8,
    // 15 takes 13, and the eight from 20 up take all 18: 168 combinations.
    assert!(seen.contains("sweep ["), "{seen:?}");
    assert!(seen.contains("/168"), "{seen:?}");
    assert!(seen.contains("ETA"), "{seen:?}");
}

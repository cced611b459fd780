//! Progress: a bar with the total and an ETA on a terminal's stderr, not one byte of it when
//! stderr is a pipe or a file (cron, the harness). The terminal is a pseudo-terminal opened
//! here, so the binary's own `isatty` test decides, as it would for a person.

use crate::check;
use crate::fake_alpaca::{FakeBar, KEY_ID, SECRET};
use crate::harness::{open_now, Bot, BIN};
use chrono::{Duration, TimeZone, Utc};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

/// A daily cache of a noisy wave for `symbol`: enough bars for a sweep with trades and for
/// `train --train 200 --test 50`.
fn write_cache(bot: &Bot, symbol: &str) {
    let mut text = String::from("time_utc,open,high,low,close,volume,trades,vwap\n");
    let t0 = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let (mut prev, mut seed) = (250.0, 0x2545_F491_4F6C_DD1Du64);
    for i in 0..400 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 1000) as f64 / 1000.0 - 0.5;
        let x = f64::from(i);
        let c = 250.0 + 20.0 * (x / 6.0).sin() + 5.0 * (x / 2.1).cos() + 2.0 * noise;
        let t = (t0 + Duration::days(i.into())).format("%Y-%m-%d %H:%M:%S");
        let (hi, lo) = (f64::max(prev, c) + 0.5, f64::min(prev, c) - 0.5);
        text.push_str(&format!("{t},{prev},{hi},{lo},{c},1000,10,{c}\n"));
        prev = c;
    }
    let path = bot.path(&format!("data/bars/{symbol}-1Day.csv"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn sweep(bot: &Bot, out: &str) -> Vec<String> {
    let out = bot.path(out);
    [
        "backtest",
        "--symbol",
        "TSLA",
        "--sweep",
        "fast=2..20",
        "slow=5..60:5",
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

fn walk_forward(bot: &Bot) -> Vec<String> {
    let mut a = sweep(bot, "out-wf");
    a.extend(["--walk-forward", "train=200", "test=50"].map(String::from));
    a
}

const TRAIN: [&str; 7] = [
    "train", "--symbol", "AAPL", "--train", "200", "--test", "50",
];

/// Thirty daily bars for AAPL at the fake broker, for `fetch`.
fn broker_bars(bot: &Bot) {
    let end = open_now().date_naive();
    let bars: Vec<FakeBar> = (1..=30)
        .map(|k| {
            let day = end - Duration::days(k);
            let c = 100.0 + k as f64;
            FakeBar {
                t: Utc.from_utc_datetime(&day.and_hms_opt(5, 0, 0).unwrap()),
                o: c,
                h: c + 1.0,
                l: c - 1.0,
                c,
                v: 1000,
                n: 10,
                vw: c,
            }
        })
        .rev()
        .collect();
    bot.fake.add_bars("AAPL", "1Day", &bars);
}

fn fetch() -> Vec<String> {
    let start = (open_now() - Duration::days(60))
        .format("%Y-%m-%d")
        .to_string();
    vec!["fetch".into(), "AAPL".into(), "--start".into(), start]
}

/// Run the binary with its stderr on a new pseudo-terminal; everything drawn there.
fn on_a_terminal(bot: &Bot, args: &[String]) -> String {
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
        .args(args)
        .current_dir(bot.cwd.path())
        .env_clear()
        .env("TERM", "xterm")
        .env("ALPACA_KEY", KEY_ID)
        .env("ALPACA_SECRET", SECRET)
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
    assert!(status.success(), "{args:?}: {seen}");
    seen
}

#[test]
fn under_cron_no_command_prints_progress_bytes() {
    let bot = Bot::new();
    write_cache(&bot, "TSLA");
    write_cache(&bot, "AAPL");
    broker_bars(&bot);
    let sweep = sweep(&bot, "out");
    let walk_forward = walk_forward(&bot);
    let train = TRAIN.map(String::from).to_vec();
    let fetch = fetch();
    for args in [sweep, walk_forward, train, fetch] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = bot.run(&args);
        check!(run, run.code == 0);
        for (what, needle) in [
            ("a carriage return", "\r"),
            ("an escape sequence", "\x1b"),
            ("an ETA", "ETA"),
            ("a count so far", "so far"),
        ] {
            check!(
                run,
                !run.stderr.contains(needle),
                "{what} on a piped stderr"
            );
        }
    }
}

#[test]
fn on_a_terminal_each_long_command_shows_its_total_and_an_eta() {
    let bot = Bot::new();
    write_cache(&bot, "TSLA");
    write_cache(&bot, "AAPL");
    broker_bars(&bot);
    // fast 2..19 × slow 5..55 step 5 with fast < slow, by hand: slow 5 takes 3, 10 takes 8,
    // 15 takes 13, and the eight from 20 up take all 18: 168 combinations.
    let seen = on_a_terminal(&bot, &sweep(&bot, "out"));
    for needle in ["sweep [", "/168", "ETA"] {
        assert!(seen.contains(needle), "{needle}: {seen:?}");
    }
    // 400 bars, train 200, test 50: 4 windows × 168, then the full-period sweep.
    let seen = on_a_terminal(&bot, &walk_forward(&bot));
    for needle in ["walk-forward [", "/672", "sweep [", "/168"] {
        assert!(seen.contains(needle), "{needle}: {seen:?}");
    }
    // The same 4 windows, one unit each.
    let seen = on_a_terminal(&bot, &TRAIN.map(String::from));
    for needle in ["train [", "/4", "ETA"] {
        assert!(seen.contains(needle), "{needle}: {seen:?}");
    }
    // Alpaca announces no total: the bars received so far.
    let seen = on_a_terminal(&bot, &fetch());
    assert!(seen.contains("AAPL 1Day bars: 30 so far"), "{seen:?}");
}

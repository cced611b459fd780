//! Command line, config and key errors: exit 2 before any network call.

use crate::check;
use crate::harness::Bot;

#[test]
fn help_exits_zero_and_a_usage_mistake_exits_two() {
    let bot = Bot::new();
    let run = bot.run(&["--help"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("tick") && run.stdout.contains("check")
    );
    let run = bot.run(&["tick", "--sideways"]);
    check!(run, run.code == 2 && run.stderr.contains("--sideways"));
    let run = bot.run(&["launch"]);
    check!(run, run.code == 2);
}

#[test]
fn missing_keys_exit_two_saying_where_to_put_them_before_any_request() {
    let bot = Bot::new();
    let run = bot.run_env(&["tick"], &[]);
    check!(run, run.code == 2);
    check!(
        run,
        run.stderr.contains("ALPACA_KEY") && run.stderr.contains(".env")
    );
    let env_path = bot.path(".env");
    check!(
        run,
        run.stderr.contains(env_path.to_str().unwrap()),
        "names the exact .env path"
    );
    assert!(
        bot.fake.requests().is_empty(),
        "no network call without keys"
    );
    let run = bot.run_env(&["tick"], &[("ALPACA_KEY", "only-half")]);
    check!(run, run.code == 2);
}

#[test]
fn a_malformed_config_names_file_line_and_key() {
    let bot = Bot::new();
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        config.replace("fast = 2, slow = 3", "fast = 3, slow = 2"),
    )
    .unwrap();
    let run = bot.tick();
    check!(run, run.code == 2);
    let line = config.lines().position(|l| l.contains("fast = 2")).unwrap() + 1;
    let expected = format!("config.toml:{line}: `fast`: must be less than slow (3 >= 2)");
    check!(run, run.stderr.contains(&expected), "expected {expected}");
    assert!(bot.fake.requests().is_empty());
    assert!(!bot.path("data/ledger").exists(), "nothing written");

    std::fs::write(
        bot.config_path(),
        config.replace("history = 20", "history = 20\nhistroy = 3"),
    )
    .unwrap();
    let run = bot.tick();
    check!(
        run,
        run.code == 2 && run.stderr.contains("`histroy`: unknown field")
    );

    std::fs::write(bot.config_path(), config.replace("qty = 1", "qty = -1")).unwrap();
    let run = bot.tick();
    check!(
        run,
        run.code == 2 && run.stderr.contains("`qty`: must be a positive number")
    );

    let run = bot.run_env(&["--config", "/nonexistent/config.toml", "tick"], &[]);
    check!(
        run,
        run.code == 2 && run.stderr.contains("/nonexistent/config.toml")
    );
}

#[test]
fn live_trading_needs_both_the_config_and_the_flag() {
    let bot = Bot::new();
    let run = bot.run(&["tick", "--live"]);
    check!(run, run.code == 2 && run.stderr.contains("paper"));
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    let live = config.replacen("feed = \"iex\"", "feed = \"iex\"\nlive = true", 1);
    std::fs::write(bot.config_path(), live).unwrap();
    let run = bot.tick();
    check!(
        run,
        run.code == 2 && run.stderr.contains("needs trading_url"),
        "a loopback URL is not the live host"
    );
    assert!(bot.fake.requests().is_empty());
}

#[test]
fn a_second_tick_waits_its_turn_with_exit_three() {
    use fs2::FileExt;
    let bot = Bot::new();
    std::fs::create_dir_all(bot.path("data")).unwrap();
    let lock = std::fs::File::create(bot.path("data/prometheus-bot.lock")).unwrap();
    lock.lock_exclusive().unwrap();
    let run = bot.tick();
    check!(
        run,
        run.code == 3 && run.stderr.contains("another tick is running")
    );
    assert!(bot.fake.requests().is_empty());
    assert!(
        !bot.path("data/ledger").exists() && !bot.path("data/state.json").exists(),
        "touched nothing"
    );
    lock.unlock().unwrap();
    let run = bot.tick();
    check!(run, run.code == 0);
}

// ---- a closed stdout (`| head -1`) -------------------------------------------------------

/// Run with the keys, stdout a pipe whose reader is gone before the binary starts: what
/// `prometheus-bot status | head -1` leaves once `head` has its line, without the race.
/// (The read end is made close-on-exec, so no other test's child can inherit and hold it.)
#[cfg(target_os = "linux")]
pub fn run_stdout_closed(bot: &Bot, args: &[&str]) -> crate::harness::Run {
    use crate::fake_alpaca::{KEY_ID, SECRET};
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors are fresh and owned here; the read end is closed at once.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read_end);
    bot.run_as(
        &bot.config_path(),
        args,
        &[("ALPACA_KEY", KEY_ID), ("ALPACA_SECRET", SECRET)],
        Some(std::process::Stdio::from(write_end)),
    )
}

/// Exit 0 and nothing on stderr about the pipe: no panic (exit 101), no "Broken pipe", no
/// error line, as `rg x | head -1` behaves.
#[cfg(target_os = "linux")]
pub fn assert_quiet_exit(run: &crate::harness::Run) {
    check!(run, run.code == 0, "a closed stdout is not a failure");
    for noise in [
        "panicked",
        "Broken pipe",
        "broken pipe",
        "os error 32",
        "error:",
        "stdout",
    ] {
        check!(
            run,
            !run.stderr.contains(noise),
            "stderr mentions {noise:?}"
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_closed_stdout_ends_every_reporting_command_quietly_with_exit_zero() {
    let bot = Bot::new();
    let run = bot.tick();
    check!(run, run.code == 0);
    for args in [
        &["--help"][..],
        &["status"],
        &["status", "--offline"],
        &["check"],
        &["report"],
        &["data", "check"],
        &["reconcile"],
    ] {
        let run = run_stdout_closed(&bot, args);
        assert_quiet_exit(&run);
    }
    assert!(
        bot.path("logs/dashboard.html").exists(),
        "report wrote its page before saying so"
    );
}

/// The tick's summary line is its last act: with nobody reading, the order is still placed
/// once and recorded, the state saved, and the next tick carries on from it.
#[cfg(target_os = "linux")]
#[test]
fn a_tick_with_a_closed_stdout_still_saves_its_state_and_ledgers() {
    let bot = Bot::new();
    bot.set_price("AAPL", 235.0); // above buy_above = 230: the threshold rule buys 1
    let run = run_stdout_closed(&bot, &["tick"]);
    assert_quiet_exit(&run);
    assert_eq!(bot.posts(), 1, "{run}");
    let orders = bot.ledger("orders.csv");
    assert!(
        orders
            .iter()
            .any(|o| o["symbol"] == "AAPL" && o["side"] == "buy"),
        "{orders:?}"
    );
    assert_eq!(bot.ledger("decisions.csv").len(), 2, "one row per symbol");
    assert_eq!(bot.ledger("equity.csv").len(), 1);
    let state = bot.state();
    let result = state["last_tick"]["result"].as_str().unwrap();
    assert!(result.starts_with("AAPL buy 1"), "{result}");
    assert_eq!(state["ops"]["ticks"]["ok"], 1, "{state}");
    assert!(bot.path("logs/prometheus-bot.prom").exists());

    // A closed market: the same, through the other outcome.
    bot.fake
        .set_clock(bot.fake.now() + chrono::Duration::hours(8), false);
    let run = run_stdout_closed(&bot, &["tick"]);
    assert_quiet_exit(&run);
    let state = bot.state();
    assert_eq!(state["last_tick"]["result"], "market closed");
    assert_eq!(state["ops"]["ticks"]["closed"], 1, "{state}");
    assert_eq!(bot.posts(), 1, "no second order");
    bot.assert_consistent();
}

/// `fetch` writes each symbol's cache file before it prints a line: with nobody reading, the
/// second symbol is fetched and saved all the same (it used to die after the first).
#[cfg(target_os = "linux")]
#[test]
fn a_fetch_with_a_closed_stdout_still_caches_every_symbol() {
    let bot = Bot::new(); // ten closed minute bars each for AAPL and TSLA on the fake
    let args = ["fetch", "--timeframe", "1Min", "--start", "2026-11-24"];
    let run = run_stdout_closed(&bot, &args);
    for symbol in ["AAPL", "TSLA"] {
        let path = bot.path(&format!("data/bars/{symbol}-1Min.csv"));
        check!(run, path.exists(), "{symbol} cached");
        assert_eq!(crate::harness::read_csv(&path).len(), 10, "{symbol}{run}");
    }
    assert_quiet_exit(&run);
}

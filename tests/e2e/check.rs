//! `check`: a human report, exit 0 only when a tick could trade.

use crate::check;
use crate::harness::Bot;

#[test]
fn check_reports_account_market_and_feed() {
    let bot = Bot::new();
    let run = bot.run(&["check"]);
    check!(run, run.code == 0);
    for needle in [
        "account    ACTIVE",
        "buying power 200000",
        "market     open",
        "feed       AAPL 225",
        "a tick could trade",
    ] {
        check!(run, run.stdout.contains(needle), "missing `{needle}`");
    }
    assert!(bot.fake.orders().is_empty());
}

#[test]
fn check_fails_when_the_account_cannot_trade_or_the_feed_is_silent() {
    let bot = Bot::new();
    bot.fake.set_account_status("ACCOUNT_UPDATED");
    let run = bot.run(&["check"]);
    check!(
        run,
        run.code == 1 && run.stderr.contains("account status is ACCOUNT_UPDATED")
    );

    let bot = Bot::with_symbols(&crate::harness::SYMBOLS.replace("TSLA", "ZZZZ"));
    let run = bot.run(&["check"]);
    check!(
        run,
        run.code == 1 && run.stderr.contains("no latest trade for ZZZZ")
    );
}

#[test]
fn check_reports_a_closed_market_without_failing() {
    let bot = Bot::new();
    bot.fake.set_clock(
        crate::harness::open_now() + chrono::Duration::hours(9),
        false,
    );
    let run = bot.run(&["check"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("market     closed, opens")
    );
}

/// Replace the config line that starts with `key =` by `line`; an absent key goes at the top of
/// `[alpaca]`, or at the end when `line` opens its own section. Returns `key`'s line number.
fn with_setting(bot: &Bot, key: &str, line: &str) -> usize {
    let text = std::fs::read_to_string(bot.config_path()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = match lines
        .iter()
        .position(|l| l.starts_with(&format!("{key} =")))
    {
        Some(i) => {
            lines[i] = line.to_string();
            i
        }
        None if line.starts_with('[') => {
            lines.extend(line.lines().map(str::to_string));
            lines.len() - 1
        }
        None => {
            let alpaca = lines.iter().position(|l| l == "[alpaca]").unwrap();
            lines.insert(alpaca + 1, line.to_string());
            alpaca + 1
        }
    };
    std::fs::write(bot.config_path(), lines.join("\n") + "\n").unwrap();
    at + 1
}

#[test]
fn check_and_tick_refuse_limits_the_deadline_cannot_hold_before_any_request() {
    // Each was accepted before: clamped in silence (max_retries, retry_base_ms) or unchecked.
    for (key, line, why) in [
        ("max_retries", "max_retries = 100000", "must be at most 10"),
        (
            "retry_base_ms",
            "retry_base_ms = 60000",
            "must be at most 10000 ms",
        ),
        (
            "tick_deadline_secs",
            "tick_deadline_secs = 90",
            "between 5 and 55",
        ),
        (
            "timeout_secs",
            "timeout_secs = 30",
            "more than half of tick_deadline_secs",
        ),
        (
            "close_margin_secs",
            "[risk]\nclose_margin_secs = 0",
            "is below timeout_secs",
        ),
        (
            "max_missing_bars",
            "[risk]\nmax_missing_bars = 1000",
            "must be at most 100",
        ),
    ] {
        let bot = Bot::new();
        let at = with_setting(&bot, key, line);
        let needle = format!("config.toml:{at}: `{key}`: ");
        for cmd in ["check", "tick"] {
            let run = bot.run(&[cmd]);
            check!(
                run,
                run.code == 2 && run.stderr.contains(&needle) && run.stderr.contains(why),
                "{line}: expected `{needle}…{why}`"
            );
            check!(
                run,
                bot.fake.requests().is_empty(),
                "{line}: a request was sent"
            );
        }
    }
}

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

//! Broker and network faults: each gives the right exit code, a clear message, and leaves
//! the ledgers and state whole.

use crate::check;
use crate::fake_alpaca::{Fault, SECRET, WRONG_ENV_KEY_ID};
use crate::harness::Bot;
use std::time::Duration;

#[test]
fn keys_of_the_other_environment_stop_the_tick_with_a_hint() {
    let bot = Bot::new();
    let run = bot.run_env(
        &["tick"],
        &[("ALPACA_KEY", WRONG_ENV_KEY_ID), ("ALPACA_SECRET", SECRET)],
    );
    check!(run, run.code == 1);
    check!(
        run,
        run.stderr.contains("401") && run.stderr.contains("other environment (paper vs live)")
    );
    check!(
        run,
        !run.stderr.contains(WRONG_ENV_KEY_ID),
        "the key is never printed"
    );
}

#[test]
fn wrong_keys_stop_the_tick_naming_the_variables_to_check() {
    let bot = Bot::new();
    let run = bot.run_env(
        &["tick"],
        &[
            ("ALPACA_KEY", "PKWRONGWRONGWRONG"),
            ("ALPACA_SECRET", "nope-nope-nope"),
        ],
    );
    check!(run, run.code == 1);
    check!(
        run,
        run.stderr.contains("403") && run.stderr.contains("check ALPACA_KEY and ALPACA_SECRET")
    );
    check!(
        run,
        !run.stderr.contains("PKWRONG") && !run.stderr.contains("nope-nope")
    );
    assert!(bot.ledger("orders.csv").is_empty());
}

#[test]
fn a_500_on_bars_fails_cleanly_with_nothing_half_written() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    bot.fake.fail(
        "GET",
        "/v2/stocks/bars",
        Fault::Status(500, r#"{"message":"internal server error"}"#.into()),
        10,
    );
    let run = bot.tick();
    check!(
        run,
        run.code == 1 && run.stderr.contains("500 on GET /v2/stocks/bars")
    );
    assert_eq!(bot.posts(), 0);
    assert!(bot.ledger("decisions.csv").is_empty() && bot.ledger("orders.csv").is_empty());
    let state = bot.state();
    assert!(state["intents"].as_array().unwrap().is_empty());
    assert!(state["last_tick"]["result"]
        .as_str()
        .unwrap()
        .starts_with("failed:"));
    assert_eq!(
        bot.calls()
            .iter()
            .filter(|c| c.contains("/v2/stocks/bars"))
            .count(),
        3,
        "1 try + 2 retries"
    );
}

#[test]
fn transient_faults_on_reads_are_retried() {
    for fault in [
        Fault::RateLimited { headers: true },
        Fault::RateLimited { headers: false },
        Fault::Html(502),
        Fault::Html(504),
        Fault::Status(503, "{}".into()),
        Fault::Delay(Duration::from_millis(1500)),
    ] {
        let bot = Bot::new();
        bot.set_price("AAPL", 231.0);
        bot.fake
            .fail("GET", "/v2/stocks/trades/latest", fault.clone(), 1);
        let run = bot.tick();
        check!(run, run.code == 0, "{fault:?} once should be retried");
        check!(run, run.stdout.contains("AAPL buy 1 -> new"), "{fault:?}");
        assert_eq!(bot.fake.orders().len(), 1);
    }
}

#[test]
fn a_persistent_gateway_error_is_reported_readably() {
    let bot = Bot::new();
    bot.fake.fail("GET", "/v2/clock", Fault::Html(502), 10);
    let run = bot.tick();
    check!(
        run,
        run.code == 1 && run.stderr.contains("an HTML error page (502 Bad Gateway)")
    );
    check!(run, !run.stderr.contains("<html"), "no raw HTML dumped");
}

#[test]
fn malformed_json_fails_the_tick_without_a_panic() {
    let bot = Bot::new();
    bot.fake
        .fail("GET", "/v2/positions", Fault::MalformedJson, 1);
    let run = bot.tick();
    check!(
        run,
        run.code == 1
            && run
                .stderr
                .contains("unexpected answer from GET /v2/positions")
    );
    check!(run, !run.stderr.contains("panicked"));
    assert!(bot.ledger("decisions.csv").is_empty());
}

#[test]
fn an_order_timeout_is_never_retried_blindly() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    bot.fake.fail(
        "POST",
        "/v2/orders",
        Fault::CommitThenDelay(Duration::from_millis(2500)),
        1,
    );
    let run = bot.tick();
    check!(run, run.code == 0, "found by client id after the timeout");
    assert_eq!(bot.posts(), 1);
    assert_eq!(bot.fake.orders().len(), 1);
    assert!(bot.ledger("orders.csv")[0]["message"].contains("found by client order id"));
}

#[test]
fn a_500_on_the_order_post_is_looked_up_not_resent() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    bot.fake
        .fail("POST", "/v2/orders", Fault::Status(500, "{}".into()), 1);
    let run = bot.tick();
    check!(
        run,
        run.code == 1,
        "not placed and not known: a failure the next tick settles"
    );
    assert_eq!(bot.posts(), 1);
    assert_eq!(bot.ledger("orders.csv")[0]["status"], "unknown");
    // A POST that failed may still reach the broker: within the grace period the intent stays
    // and AAPL waits; after it, absent by client id and from the order list, it was never placed.
    let next = bot.tick();
    check!(
        next,
        next.code == 0 && next.stdout.contains("AAPL waiting") && bot.posts() == 1
    );
    assert_eq!(bot.ledger("orders.csv").len(), 1);
    bot.fake.set_clock(
        crate::harness::open_now() + chrono::Duration::minutes(3),
        true,
    );
    bot.set_price("AAPL", 225.0);
    let later = bot.tick();
    check!(later, later.code == 0);
    assert_eq!(bot.ledger("orders.csv")[1]["status"], "not placed");
    assert!(bot.state()["intents"].as_array().unwrap().is_empty());
}

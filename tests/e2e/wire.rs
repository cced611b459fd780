//! The Alpaca client at the wire: the tick's deadline, and answers Alpaca's own SDK
//! (alpaca-py 0.44) accepts, which must not stop the tick.

use crate::check;
use crate::fake_alpaca::Fault;
use crate::harness::Bot;
use std::time::{Duration, Instant};

fn with_deadline(bot: &Bot, max_retries: u32, deadline_secs: u32) {
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    let config = config.replace(
        "max_retries = 2\n",
        &format!("max_retries = {max_retries}\ntick_deadline_secs = {deadline_secs}\n"),
    );
    std::fs::write(bot.config_path(), config).unwrap();
}

/// One 429 on each GET used to take the tick to 63-73 s (a 15 s wait per retry), well into
/// the next minute's tick, still able to POST at the end.
#[test]
fn rate_limited_gets_end_by_the_tick_deadline_and_send_no_order() {
    for (name, fault) in [
        (
            "reset 60 s away",
            Fault::RateLimitedFor(Duration::from_secs(60)),
        ),
        (
            "no rate-limit headers",
            Fault::RateLimited { headers: false },
        ),
    ] {
        let bot = Bot::new();
        with_deadline(&bot, 10, 5);
        bot.set_price("AAPL", 231.0);
        bot.fake.fail("GET", "/", fault, 10_000);
        let started = Instant::now();
        let run = bot.tick();
        let took = started.elapsed();
        check!(run, run.code != 0, "{name}: the tick fails");
        check!(
            run,
            took < Duration::from_secs(10),
            "{name}: the tick took {took:?}, past its 5 s deadline"
        );
        check!(run, bot.posts() == 0, "{name}: no order after the deadline");
    }
}

/// Slow answers that use up the deadline before the order: the POST is not sent, because its
/// whole timeout (1 s here) no longer fits before the deadline.
#[test]
fn no_order_is_sent_once_the_tick_deadline_is_too_near() {
    let bot = Bot::new();
    with_deadline(&bot, 2, 4);
    bot.set_price("AAPL", 231.0);
    for path in [
        "/v2/clock",
        "/v2/account",
        "/v2/stocks/bars",
        "/v2/positions",
    ] {
        let slow = Fault::Delay(Duration::from_millis(900));
        bot.fake.fail("GET", path, slow, 1);
    }
    let started = Instant::now();
    let run = bot.tick();
    let took = started.elapsed();
    check!(run, run.code != 0, "the tick did not do what it meant to");
    check!(run, bot.posts() == 0, "no order this near the deadline");
    check!(run, run.stderr.contains("deadline"), "the error says why");
    check!(run, took < Duration::from_secs(6), "took {took:?}");
}

/// alpaca-py skips a `null` latest trade; the tick used to fail as a whole on it, every
/// minute. Now that symbol alone is refused with a reason and the other trades.
#[test]
fn a_null_latest_trade_refuses_that_symbol_and_the_other_still_trades() {
    let bot = Bot::new();
    let t = (bot.fake.now() - chrono::Duration::seconds(5))
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let body = format!(
        r#"{{"trades":{{"AAPL":{{"t":"{t}","x":"V","p":231.0,"s":100,"c":["@"],"i":1,"z":"C"}},"TSLA":null}}}}"#
    );
    bot.fake.fail(
        "GET",
        "/v2/stocks/trades/latest",
        Fault::Status(200, body),
        1,
    );
    let run = bot.tick();
    check!(run, run.code == 0);
    check!(run, run.stdout.contains("AAPL buy 1 -> new"));
    let decisions = bot.ledger("decisions.csv");
    let tsla = decisions.iter().find(|r| r["symbol"] == "TSLA").unwrap();
    assert_eq!(tsla["action"], "refused", "{tsla:?}");
    assert!(
        tsla["reason"].contains("no latest trade for TSLA"),
        "{tsla:?}"
    );
    assert_eq!(bot.posts(), 1);
}

/// Without equity the drawdown halt and the daily-loss limit cannot be evaluated: no order,
/// exit 1, and the error names the endpoint and why.
#[test]
fn an_account_without_equity_sends_no_order_and_names_the_endpoint() {
    for body in [
        "{}",
        r#"{"status":"ACTIVE"}"#,
        r#"{"status":"ACTIVE","equity":null,"cash":"100000"}"#,
        r#"{"status":"ACTIVE","equity":"n/a","cash":"100000"}"#,
    ] {
        let bot = Bot::new();
        bot.set_price("AAPL", 231.0);
        bot.fake
            .fail("GET", "/v2/account", Fault::Status(200, body.into()), 1);
        let run = bot.tick();
        check!(run, run.code == 1, "account {body}");
        check!(
            run,
            run.stderr.contains("GET /v2/account")
                && run.stderr.contains("daily-loss guards cannot be evaluated"),
            "account {body}: the error names the endpoint and the reason"
        );
        check!(run, bot.posts() == 0, "account {body}: no order");
    }
}

/// Shapes alpaca-py accepts on every request of a tick at once: nullable account flags,
/// numeric order quantities, an order without a symbol, a `null` bar and `n: null`.
#[test]
fn shapes_alpaca_py_accepts_do_not_stop_the_tick() {
    let bot = Bot::new();
    let account = r#"{"status":"ACTIVE","currency":"USD","cash":"100000","buying_power":"200000",
        "equity":"100000","last_equity":"100000","long_market_value":"0",
        "trading_blocked":null,"account_blocked":null,"trade_suspended_by_user":null,
        "pattern_day_trader":null}"#;
    bot.fake
        .fail("GET", "/v2/account", Fault::Status(200, account.into()), 1);
    let last = bot.fake.now().timestamp() / 60 * 60 - 60;
    let bar = |i: i64, c: f64, n: &str| {
        let t = chrono::DateTime::from_timestamp(last - 60 * i, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        format!(r#"{{"t":"{t}","o":{c},"h":{c},"l":{c},"c":{c},"v":100,"n":{n},"vw":{c}}}"#)
    };
    let tsla: Vec<String> = (0..10).rev().map(|i| bar(i, 250.0, "null")).collect();
    let aapl: Vec<String> = (0..10).rev().map(|i| bar(i, 225.0, "5.0")).collect();
    let bars = format!(
        r#"{{"bars":{{"AAPL":[{},null],"TSLA":[{}]}},"next_page_token":null}}"#,
        aapl.join(","),
        tsla.join(",")
    );
    bot.fake
        .fail("GET", "/v2/stocks/bars", Fault::Status(200, bars), 1);
    let run = bot.tick();
    check!(run, run.code == 0);
    let holds = bot
        .ledger("decisions.csv")
        .iter()
        .filter(|r| r["action"] == "hold")
        .count();
    assert_eq!(holds, 2, "both symbols decided on the bars");
}

/// A position whose qty is not a number used to read as 0: the bot believed it was flat and
/// bought again.
#[test]
fn a_position_without_a_numeric_qty_sends_no_order() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    let body = r#"[{"symbol":"AAPL","qty":"n/a","side":"long","avg_entry_price":"225"}]"#;
    bot.fake
        .fail("GET", "/v2/positions", Fault::Status(200, body.into()), 1);
    let run = bot.tick();
    check!(
        run,
        run.code == 1 && run.stderr.contains("GET /v2/positions") && run.stderr.contains("AAPL")
    );
    check!(run, bot.posts() == 0);
}

/// alpaca-py types an order's `qty` and `filled_qty` `Union[str, float]` and its `symbol`
/// optional (multi-leg orders have none at the top). A listing with such orders used to fail
/// every tick while an order was tracked.
#[test]
fn orders_with_numeric_quantities_or_no_symbol_do_not_stop_the_tick() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(run, run.stdout.contains("AAPL buy 1 -> new"));
    let mut ours = bot.fake.orders()[0].clone();
    ours["qty"] = serde_json::json!(1);
    ours["filled_qty"] = serde_json::json!(0);
    let mut mleg = ours.clone();
    let obj = mleg.as_object_mut().unwrap();
    for k in [
        "symbol",
        "side",
        "type",
        "order_type",
        "asset_id",
        "asset_class",
    ] {
        obj.remove(k);
    }
    obj.insert("id".into(), "0b5d5a3c-0000-4000-8000-000000000001".into());
    obj.insert("client_order_id".into(), "someone-elses-mleg".into());
    obj.insert("order_class".into(), "mleg".into());
    let listing = serde_json::Value::Array(vec![ours, mleg]).to_string();
    bot.fake
        .fail("GET", "/v2/orders", Fault::Status(200, listing.clone()), 1);

    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    check!(
        run,
        bot.calls()
            .iter()
            .filter(|c| c.as_str() == "GET /v2/orders")
            .count()
            == 1,
        "the injected listing was the tick's orders listing"
    );
    check!(
        run,
        bot.posts() == 1,
        "the working order still blocks a second buy"
    );
}

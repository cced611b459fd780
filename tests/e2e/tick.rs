//! `tick` scenarios: decisions, orders, idempotency, the market clock, the cache.

use crate::check;
use crate::fake_alpaca::{KEY_ID, SECRET};
use crate::harness::{open_now, Bot};
use chrono::Duration;

const CROSS_UP: [f64; 5] = [5.0, 4.0, 3.0, 3.0, 6.0];
const CROSS_DOWN: [f64; 5] = [1.0, 2.0, 3.0, 3.0, 0.0];

#[test]
fn a_quiet_tick_holds_both_symbols_and_prints_one_line() {
    let bot = Bot::new();
    // A broker clock close to this machine's, so that no clock-skew warning is due.
    let now = chrono::Utc::now();
    bot.fake.set_clock(now, true);
    bot.set_price("AAPL", 225.0);
    bot.set_price("TSLA", 250.0);
    bot.set_closes("TSLA", &[250.0; 10]);
    let run = bot.tick();
    check!(run, run.code == 0);
    check!(run, run.stdout.lines().count() == 1);
    let stamp = now.format("%Y-%m-%d %H:%M:%S").to_string();
    check!(run, run.stdout == format!("{stamp} AAPL hold; TSLA hold\n"));
    check!(
        run,
        run.stderr.is_empty(),
        "a healthy tick under cron prints nothing on stderr"
    );
    let decisions = bot.ledger("decisions.csv");
    assert_eq!(decisions.len(), 2);
    assert_eq!(
        decisions[0]["time_utc"], stamp,
        "ledger times are the broker's clock"
    );
    assert_eq!(decisions[0]["signal"], "hold");
    assert!(decisions[0]["reason"].contains("price 225 is between 220 and 230"));
    assert!(decisions[1]["reason"].contains("no crossover"));
    assert_eq!(bot.posts(), 0);
    assert!(
        bot.path("logs/prometheus-bot.log").exists(),
        "logs beside the config, not in the cwd"
    );
    assert!(!bot.cwd.path().join("data").exists());
}

#[test]
fn threshold_buys_above_the_level() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.5);
    let run = bot.tick();
    check!(run, run.code == 0);
    check!(run, run.stdout.contains("AAPL buy 1 -> new"));
    let orders = bot.fake.orders();
    assert_eq!(orders.len(), 1);
    let o = &orders[0];
    assert_eq!(
        (o["symbol"].as_str(), o["side"].as_str(), o["qty"].as_str()),
        (Some("AAPL"), Some("buy"), Some("1"))
    );
    assert_eq!(
        (o["type"].as_str(), o["time_in_force"].as_str()),
        (Some("market"), Some("day"))
    );
    assert_eq!(o["client_order_id"], "pb-AAPL-1Min-20261124T1529-thr-buy");
    let rows = bot.ledger("orders.csv");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["order_id"], o["id"].as_str().unwrap());
    assert_eq!(rows[0]["status"], "new");
    assert_eq!(rows[0]["price"], "231.5");
    let d = &bot.ledger("decisions.csv")[0];
    assert_eq!(
        (
            d["signal"].as_str(),
            d["action"].as_str(),
            d["qty"].as_str()
        ),
        ("buy", "order", "1")
    );
    assert!(bot.state()["intents"].as_array().unwrap().is_empty());
}

#[test]
fn threshold_sells_below_the_level_only_when_long() {
    let bot = Bot::new();
    bot.set_price("AAPL", 219.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && bot.posts() == 0,
        "flat: nothing to sell"
    );
    check!(
        run,
        bot.ledger("decisions.csv")[0]["reason"].contains("already flat")
    );

    bot.share_account();
    bot.bot_holds("AAPL", 3.0, 225.0);
    bot.fake.set_clock(open_now() + Duration::minutes(1), true);
    bot.set_price("AAPL", 219.0);
    bot.set_closes("AAPL", &[219.0; 3]);
    bot.set_closes("TSLA", &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.stdout.contains("AAPL sell 3 -> new"),
        "sells the whole position"
    );
    assert_eq!(bot.fake.orders()[0]["side"], "sell");
}

#[test]
fn threshold_never_buys_more_while_long() {
    let bot = Bot::new();
    bot.share_account();
    bot.bot_holds("AAPL", 1.0, 225.0);
    bot.set_price("AAPL", 240.0);
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 0);
    check!(
        run,
        bot.ledger("decisions.csv")[0]["reason"].contains("already long")
    );
}

#[test]
fn sma_cross_buys_on_a_cross_above_and_sells_on_a_cross_below() {
    let bot = Bot::new();
    bot.set_closes("TSLA", &CROSS_UP);
    let run = bot.tick();
    check!(run, run.stdout.contains("TSLA buy 2 -> new"));
    let d = &bot.ledger("decisions.csv")[1];
    assert_eq!(
        d["bar_time_utc"], "2026-11-24 15:29:00",
        "decides on the last closed bar"
    );
    assert!(d["reason"].contains("crossed above"), "{d:?}");

    let bot = Bot::new();
    bot.share_account();
    bot.bot_holds("TSLA", 2.0, 250.0);
    bot.set_closes("TSLA", &CROSS_DOWN);
    let run = bot.tick();
    check!(run, run.stdout.contains("TSLA sell 2 -> new"));
    assert_eq!(
        bot.fake.orders()[0]["client_order_id"],
        "pb-TSLA-1Min-20261124T1529-sma-sell"
    );
}

#[test]
fn sma_cross_holds_without_a_cross_and_while_warming_up() {
    let bot = Bot::new();
    bot.set_closes("TSLA", &CROSS_DOWN);
    let run = bot.tick();
    check!(run, bot.posts() == 0);
    assert!(bot.ledger("decisions.csv")[1]["reason"].contains("already flat"));

    let bot = Bot::with_symbols(&crate::harness::SYMBOLS.replace("TSLA", "MSFT"));
    bot.set_price("MSFT", 2.0);
    bot.set_closes("MSFT", &[1.0, 2.0]);
    let run = bot.tick();
    check!(run, run.code == 0);
    let reason = &bot.ledger("decisions.csv")[1]["reason"];
    assert!(
        reason.contains("warming up: 2 closed bars, the strategy needs 4"),
        "{reason}"
    );
}

#[test]
fn the_unfinished_bar_is_never_used() {
    let bot = Bot::new();
    // A bar for the current minute (15:30, not closed at 15:30:30) that would make a cross.
    bot.set_closes("TSLA", &[5.0, 4.0, 3.0, 3.0]);
    bot.fake.add_bars(
        "TSLA",
        "1Min",
        &[crate::fake_alpaca::FakeBar {
            t: open_now() - Duration::seconds(30),
            o: 9.0,
            h: 9.0,
            l: 9.0,
            c: 9.0,
            v: 1,
            n: 1,
            vw: 9.0,
        }],
    );
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 0);
    assert_eq!(
        bot.ledger("decisions.csv")[1]["bar_time_utc"],
        "2026-11-24 15:29:00"
    );
}

#[test]
fn the_same_bar_ticked_twice_places_one_order() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    bot.set_closes("TSLA", &CROSS_UP);
    let first = bot.tick();
    check!(first, first.code == 0 && bot.posts() == 2);
    // Second tick within the same minute: the open orders count as the position.
    let second = bot.tick();
    check!(second, second.code == 0 && bot.posts() == 2, "no new POST");
    check!(second, second.stdout.contains("AAPL hold; TSLA hold"));

    // Even if the orders vanished from the open list (canceled), the client order id is
    // spent: Alpaca answers 422 and the bot records it as already placed.
    for o in bot.fake.orders() {
        bot.fake
            .set_order_status(o["id"].as_str().unwrap(), "canceled");
    }
    let third = bot.tick();
    check!(third, third.code == 0);
    check!(third, third.stdout.contains("AAPL buy 1 -> already placed"));
    assert_eq!(
        bot.fake.orders().len(),
        2,
        "the broker holds exactly one order per decision"
    );
    let rows = bot.ledger("orders.csv");
    assert!(
        rows.iter()
            .any(|r| r["status"] == "canceled" && r["message"].contains("already placed")),
        "{rows:?}"
    );
}

#[test]
fn dry_run_decides_and_records_but_places_nothing() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    let run = bot.run(&["tick", "--dry-run"]);
    check!(run, run.code == 0);
    check!(run, run.stdout.contains("AAPL buy 1 (dry run)"));
    assert_eq!(bot.posts(), 0);
    assert_eq!(bot.ledger("decisions.csv")[0]["action"], "dry-run");
    assert!(bot.ledger("orders.csv").is_empty());
}

#[test]
fn a_closed_market_is_recorded_once_and_trades_nothing() {
    let bot = Bot::new();
    bot.fake.set_clock(open_now() + Duration::hours(8), false);
    bot.set_price("AAPL", 300.0);
    let run = bot.tick();
    check!(run, run.code == 0);
    check!(run, run.stdout.contains("market closed"));
    let calls = bot.calls();
    assert!(
        calls
            .iter()
            .all(|c| !c.contains("/v2/stocks") && !c.starts_with("POST")),
        "no data or order calls while closed: {calls:?}"
    );
    let rows = bot.ledger("decisions.csv");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["action"], "market-closed");
    assert!(rows[0]["reason"].contains("next open"), "{:?}", rows[0]);
    let again = bot.tick();
    check!(again, again.code == 0);
    assert_eq!(
        bot.ledger("decisions.csv").len(),
        2,
        "one row per symbol per closed session"
    );
    assert_eq!(bot.state()["last_tick"]["result"], "market closed");
}

#[test]
fn a_business_refusal_is_recorded_and_the_other_symbol_still_trades() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    bot.set_closes("TSLA", &CROSS_UP);
    bot.fake.set_account("10", "10", "100000");
    let run = bot.tick();
    check!(run, run.code == 0);
    let rows = bot.ledger("orders.csv");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert_eq!(r["status"], "refused");
        assert!(r["message"].contains("insufficient buying power"), "{r:?}");
    }
    assert!(bot.state()["intents"].as_array().unwrap().is_empty());
}

#[test]
fn an_opposite_open_order_blocks_the_trade_with_a_reason() {
    let bot = Bot::new();
    bot.share_account();
    bot.bot_holds("AAPL", 5.0, 200.0);
    // A manual buy is resting on AAPL: a sell now would be refused as a wash trade.
    bot.place_manual_order("AAPL", "buy", "1", "limit");
    bot.set_price("AAPL", 219.0);
    bot.fake.clear_requests();
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 0);
    check!(
        run,
        run.stdout
            .contains("AAPL sell refused (an opposite buy order for 1 shares is still open")
    );
    let d = &bot.ledger("decisions.csv")[0];
    assert_eq!(d["action"], "refused");
    assert!(
        d["reason"].contains("an opposite buy order for 1 shares is still open"),
        "{d:?}"
    );
}

#[test]
fn a_lost_order_reply_is_resolved_by_client_id() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    bot.fake.fail(
        "POST",
        "/v2/orders",
        crate::fake_alpaca::Fault::CommitThenDrop,
        1,
    );
    let run = bot.tick();
    check!(
        run,
        run.code == 0,
        "the order was found, so the outcome is known"
    );
    assert_eq!(bot.fake.orders().len(), 1);
    let rows = bot.ledger("orders.csv");
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]["message"].contains("found by client order id"),
        "{rows:?}"
    );
    assert_eq!(
        rows[0]["order_id"],
        bot.fake.orders()[0]["id"].as_str().unwrap()
    );
    assert_eq!(bot.posts(), 1, "the POST is never retried");
}

#[test]
fn an_unresolved_intent_from_a_dead_tick_is_settled_before_trading() {
    // Placed at the broker but never recorded (killed after the POST).
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    bot.fake.fail(
        "POST",
        "/v2/orders",
        crate::fake_alpaca::Fault::CommitThenDrop,
        1,
    );
    bot.fake.fail(
        "GET",
        "/v2/orders:by_client_order_id",
        crate::fake_alpaca::Fault::Status(500, "{}".into()),
        3,
    );
    let run = bot.tick();
    check!(run, run.code == 1, "unknown outcome is a failure");
    assert_eq!(bot.state()["intents"].as_array().unwrap().len(), 1);
    assert_eq!(bot.ledger("orders.csv")[0]["status"], "unknown");
    let next = bot.tick();
    check!(next, next.code == 0);
    let rows = bot.ledger("orders.csv");
    assert!(rows[1]["message"].starts_with("recovered"), "{rows:?}");
    assert_eq!(
        rows[1]["order_id"],
        bot.fake.orders()[0]["id"].as_str().unwrap()
    );
    assert_eq!(bot.fake.orders().len(), 1);
    assert!(bot.state()["intents"].as_array().unwrap().is_empty());

    // Never placed (killed before the POST): recorded as such, then trading resumes.
    let bot = Bot::new();
    std::fs::create_dir_all(bot.path("data")).unwrap();
    std::fs::write(
        bot.path("data/state.json"),
        r#"{"version":1,"last_tick":null,"closed_until_recorded":null,"intents":[{"client_order_id":"pb-AAPL-1Min-20261124T1528-thr-buy","symbol":"AAPL","side":"buy","qty":"1","price":231.0,"created_at":"2026-11-24T15:27:30Z"}]}"#,
    )
    .unwrap();
    let run = bot.tick();
    check!(run, run.code == 0);
    let rows = bot.ledger("orders.csv");
    assert_eq!(rows[0]["status"], "not placed");
    assert!(bot.state()["intents"].as_array().unwrap().is_empty());
}

#[test]
fn the_bar_cache_fills_on_the_first_tick_and_then_asks_only_for_new_bars() {
    let bot = Bot::new();
    bot.set_closes("TSLA", &[10.0; 30]);
    bot.set_closes("AAPL", &[10.0; 30]);
    let run = bot.tick();
    check!(run, run.code == 0);
    let first = bot
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/v2/stocks/bars")
        .unwrap();
    assert!(
        first.q("start").unwrap() < "2026-11-21",
        "first tick looks back: {:?}",
        first.q("start")
    );
    assert_eq!(first.q("feed"), Some("iex"));
    assert_eq!(first.q("symbols"), Some("AAPL,TSLA"));
    let cached = std::fs::read_to_string(bot.path("data/bars/TSLA-1Min.csv")).unwrap();
    assert!(cached.starts_with("time_utc,open,high,low,close,volume,trades,vwap\n"));
    // The 15:29 bar closed 30 s ago and may still be revised: used, but not cached yet.
    assert!(
        cached.contains("2026-11-24 15:28:00") && !cached.contains("15:29:00"),
        "{cached}"
    );

    bot.fake.clear_requests();
    bot.fake.set_clock(open_now() + Duration::minutes(1), true);
    bot.set_price("AAPL", 225.0);
    bot.set_price("TSLA", 250.0);
    let run = bot.tick();
    check!(run, run.code == 0);
    let next = bot
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/v2/stocks/bars")
        .unwrap();
    assert_eq!(
        next.q("start"),
        Some("2026-11-24T15:29:00Z"),
        "only what came after the cache"
    );
}

#[test]
fn a_tick_makes_at_most_seven_requests_for_two_symbols() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    bot.set_closes("TSLA", &CROSS_UP);
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 2);
    let calls = bot.calls();
    assert!(calls.len() <= 7, "{calls:#?}");
}

#[test]
fn keys_can_come_from_a_dotenv_file_and_alpacas_own_names() {
    let bot = Bot::new();
    std::fs::write(
        bot.path(".env"),
        format!("APCA_API_KEY_ID={KEY_ID}\nAPCA_API_SECRET_KEY=\"{SECRET}\"\n"),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bot.path(".env"), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let run = bot.run_env(&["tick"], &[]);
    check!(run, run.code == 0);
    let run = bot.run_env(
        &["tick"],
        &[("APCA_API_KEY_ID", KEY_ID), ("APCA_API_SECRET_KEY", SECRET)],
    );
    check!(run, run.code == 0);
}

#[test]
fn a_world_readable_dotenv_gets_a_warning() {
    let bot = Bot::new();
    std::fs::write(
        bot.path(".env"),
        format!("ALPACA_KEY={KEY_ID}\nALPACA_SECRET={SECRET}\n"),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bot.path(".env"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let run = bot.run_env(&["tick"], &[]);
        check!(run, run.code == 0 && run.stderr.contains("chmod 600"));
    }
}

#[test]
fn a_torn_ledger_line_is_repaired_without_touching_other_rows() {
    let bot = Bot::new();
    let run = bot.tick();
    check!(run, run.code == 0);
    let path = bot.path("data/ledger/decisions.csv");
    let before = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{before}2026-11-24 15:30:30,AAPL,thr,2026-11-2"),
    )
    .unwrap();
    let run = bot.tick();
    check!(run, run.code == 0 && run.stderr.contains("torn last line"));
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.starts_with(&before), "earlier rows untouched");
    assert_eq!(bot.ledger("decisions.csv").len(), 4);
}

/// A closed market's rows and the metrics file show what the account holds and is worth at
/// that tick, the same numbers as its equity row: not position 0 while shares are held, and
/// not the equity of the last open-market tick.
#[test]
fn a_closed_market_tick_shows_the_shares_held_and_the_equity_it_records() {
    let bot = Bot::new();
    bot.bot_holds("AAPL", 3.0, 230.0);
    bot.fake.set_clock(open_now() + Duration::hours(8), false);
    bot.fake.set_account("99000", "99000", "99690.5");
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("market closed"));
    let rows = bot.ledger("decisions.csv");
    let aapl = rows.iter().find(|r| r["symbol"] == "AAPL").unwrap();
    assert_eq!(aapl["position"], "3", "{aapl:?}");
    assert_eq!(
        bot.ledger("equity.csv").last().unwrap()["equity"],
        "99690.5"
    );
    let prom = std::fs::read_to_string(bot.path("logs/prometheus-bot.prom")).unwrap();
    check!(
        run,
        prom.contains("prometheus_bot_equity_dollars 99690.5\n")
            && prom.contains("prometheus_bot_position_shares{symbol=\"AAPL\"} 3\n"),
        "{prom}"
    );
}

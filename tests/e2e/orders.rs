//! No wrong order: reversals as two orders, flatten after the tick's own orders, nothing near
//! the close, late POSTs, shared accounts, and stale bars that must not block an exit.
//! Each test is named after what used to go wrong.

use crate::check;
use crate::fake_alpaca::Fault;
use crate::harness::{open_now, reversing_symbols, Bot};
use chrono::{Duration, TimeZone, Utc};

const CROSS_DOWN: [f64; 5] = [1.0, 2.0, 3.0, 3.0, 0.0];
const CROSS_UP: [f64; 5] = [5.0, 4.0, 3.0, 3.0, 6.0];
const FLAT: [f64; 5] = [3.0; 5];

#[test]
fn a_stop_and_reverse_is_a_close_then_an_open_never_one_sell_of_twice_the_position() {
    let bot = Bot::with_symbols(&reversing_symbols());
    bot.fake.set_shorting(true);
    bot.bot_holds("TSLA", 2.0, 3.0);
    bot.set_closes("TSLA", &CROSS_DOWN);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("TSLA sell 2 -> new")
    );
    let sent = bot.posted();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["qty"], "2", "the close only: never 4 in one order");
    assert_eq!(
        sent[0]["client_order_id"],
        "pb-TSLA-1Min-20261124T1529-sma-sell"
    );
    assert_eq!(bot.state()["pending_legs"][0]["side"], "sell");
    let status = bot.run(&["status", "--offline"]);
    check!(
        status,
        status.stdout.contains(
            "reversal    TSLA sell 2 waits for the close pb-TSLA-1Min-20261124T1529-sma-sell"
        )
    );

    // The close is still working: the open leg waits.
    bot.next_minute(1, 225.0, &FLAT);
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 1);
    let last = bot.ledger("decisions.csv").pop().unwrap();
    assert!(last["reason"].contains("waiting for the close"), "{last:?}");

    // The close fills: the open leg goes out as its own order with its own client id.
    bot.fake.fill_open_orders(3.0);
    bot.next_minute(1, 225.0, &FLAT);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("TSLA sell 2 -> new")
    );
    let sent = bot.posted();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["qty"], "2");
    assert_eq!(
        sent[1]["client_order_id"],
        "pb-TSLA-1Min-20261124T1529-sma-sell-open"
    );
    assert!(bot.state()["pending_legs"].as_array().unwrap().is_empty());
    bot.fake.fill_open_orders(3.0);
    bot.next_minute(1, 225.0, &FLAT);
    check!(bot.tick(), bot.posts() == 2);
    let tsla = bot.broker_json("/v2/positions/TSLA");
    assert_eq!(tsla["qty"], "-2", "short 2 after the reversal: {tsla}");
}

#[test]
fn a_reversal_on_a_no_new_positions_day_closes_but_does_not_open() {
    let bot = Bot::with_symbols(&reversing_symbols());
    bot.fake.set_shorting(true);
    // last_equity on the fake is 100011.10: 94000 is a 6% loss, over the 5% daily limit.
    bot.fake.set_account("94000", "94000", "94000");
    bot.bot_holds("TSLA", 2.0, 3.0);
    bot.set_closes("TSLA", &CROSS_DOWN);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("TSLA sell 2 -> new")
    );
    bot.fake.fill_open_orders(3.0);
    bot.next_minute(1, 225.0, &FLAT);
    let run = bot.tick();
    check!(
        run,
        run.stdout
            .contains("TSLA sell refused (daily loss limit reached")
    );
    assert_eq!(bot.posts(), 1, "the open leg is an opening: refused");
}

#[test]
fn the_open_leg_of_a_reversal_meets_max_order_notional() {
    let bot = Bot::with_symbols(&reversing_symbols());
    bot.fake.set_shorting(true);
    bot.with_risk("max_order_notional = 5");
    bot.bot_holds("TSLA", 2.0, 3.0);
    bot.set_closes("TSLA", &CROSS_DOWN);
    // The close is a reduction: no size limit applies to it.
    let run = bot.tick();
    check!(run, run.stdout.contains("TSLA sell 2 -> new"));
    bot.fake.fill_open_orders(3.0);
    bot.next_minute(1, 225.0, &[3.0, 3.0, 3.0, 3.0, 3.0]);
    bot.set_price("TSLA", 3.0);
    let run = bot.tick();
    // 2 shares x 3.00 = 6.00 > 5: the opening leg is refused.
    check!(
        run,
        run.stdout
            .contains("TSLA sell refused (order value 6.00 is over max_order_notional 5)")
    );
    assert_eq!(bot.posts(), 1);
}

#[test]
fn daily_loss_flatten_sends_one_order_after_this_ticks_own_exit_and_ends_flat() {
    let bot = Bot::new();
    bot.with_risk("flatten_on_daily_loss = true");
    bot.fake.set_account("94000", "94000", "94000");
    // TSLA is long 2 and its strategy exits on this bar: the old tick sold 2 for the strategy,
    // then 2 more to flatten (from positions read before its own order): short 2.
    bot.bot_holds("TSLA", 2.0, 250.0);
    bot.set_closes("TSLA", &CROSS_DOWN);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("TSLA flatten sell 2")
    );
    let sent = bot.posted();
    assert_eq!(sent.len(), 1, "one closing order: {sent:?}");
    assert_eq!(sent[0]["qty"], "2");
    bot.fake.fill_open_orders(250.0);
    bot.next_minute(1, 225.0, &CROSS_DOWN);
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 1);
    let positions = bot.broker_json("/v2/positions");
    assert_eq!(positions, serde_json::json!([]), "the tick ends flat");
}

/// 2026-11-24 is a Tuesday in EST: the close, 16:00 New York, is 21:00 UTC.
fn before_close(secs: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 21, 0, 0).unwrap() - Duration::seconds(secs)
}

#[test]
fn no_market_order_when_the_close_is_nearer_than_the_margin() {
    let bot = Bot::new();
    bot.fake.set_clock(before_close(30), true);
    bot.set_price("AAPL", 231.0);
    bot.set_closes("TSLA", &[250.0; 5]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0
            && run
                .stdout
                .contains("AAPL buy refused (the session closes in ")
            && run.stdout.contains("within close_margin_secs 60")
    );
    assert_eq!(bot.posts(), 0, "would have been queued for the next open");

    let bot = Bot::new();
    bot.fake.set_clock(before_close(90), true);
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(
        run,
        run.stdout.contains("AAPL buy 1 -> new"),
        "90 s left: sent"
    );
}

#[test]
fn the_close_margin_is_measured_again_just_before_the_order() {
    // The clock says 60.5 s to the close (margin 60), but fetching bars takes 0.8 s: by the
    // time the order would go out, 59.7 s are left.
    let bot = Bot::new();
    bot.fake
        .set_clock(before_close(61) + Duration::milliseconds(500), true);
    bot.set_price("AAPL", 231.0);
    bot.set_closes("AAPL", &[231.0; 3]);
    bot.fake.fail(
        "GET",
        "/v2/stocks/bars",
        Fault::Delay(std::time::Duration::from_millis(800)),
        1,
    );
    let run = bot.tick();
    check!(
        run,
        run.code == 0
            && run
                .stdout
                .contains("AAPL buy refused (the session closes in 59 s")
    );
    assert_eq!(bot.posts(), 0);
}

#[test]
fn a_post_that_reaches_the_broker_late_is_not_bought_again() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    // The POST gets a gateway timeout and nothing is created... yet.
    bot.fake.fail("POST", "/v2/orders", Fault::Html(504), 1);
    let run = bot.tick();
    check!(run, run.code == 1 && bot.posts() == 1);
    let body = bot
        .fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap()
        .body;

    // A minute later the buy signal still stands and the broker shows nothing: the old tick
    // settled the intent as "never placed" and bought again on the new bar.
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL waiting") && bot.posts() == 1
    );
    let rows = bot.ledger("decisions.csv");
    let aapl = rows.iter().rfind(|r| r["symbol"] == "AAPL").unwrap();
    assert!(aapl["reason"].contains("no known outcome"), "{aapl:?}");

    // The lost POST lands at the broker late.
    bot.fake.deliver_late(&body).unwrap();
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 1);
    assert_eq!(bot.fake.orders().len(), 1, "one order, never two");
    let rows = bot.ledger("orders.csv");
    assert!(
        rows.last().unwrap()["message"].starts_with("recovered"),
        "{rows:?}"
    );
    assert!(bot.state()["intents"].as_array().unwrap().is_empty());
}

#[test]
fn an_intent_absent_after_the_grace_period_is_checked_in_the_order_list_too() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    bot.fake.fail("POST", "/v2/orders", Fault::Html(504), 1);
    let run = bot.tick();
    check!(run, run.code == 1 && bot.posts() == 1);
    bot.next_minute(3, 225.0, &[250.0; 3]);
    bot.fake.clear_requests();
    let run = bot.tick();
    check!(run, run.code == 0);
    let listed = bot
        .fake
        .requests()
        .into_iter()
        .any(|r| r.method == "GET" && r.path == "/v2/orders" && r.q("status") == Some("all"));
    assert!(
        listed,
        "the order list since the intent is read before concluding: {:?}",
        bot.calls()
    );
    assert_eq!(bot.ledger("orders.csv")[1]["status"], "not placed");
}

#[test]
fn an_exit_on_a_shared_account_sells_only_the_bots_shares() {
    let bot = Bot::new();
    bot.share_account();
    bot.bot_holds("AAPL", 2.0, 225.0);
    // The person bought 10 more by hand: the account holds 12, the bot 2.
    bot.fake.set_position("AAPL", 12.0, 225.0);
    bot.set_price("AAPL", 219.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL sell 2 -> new")
    );
    assert_eq!(bot.posted()[0]["qty"], "2", "never the person's 10");
}

#[test]
fn a_shared_account_never_opens_a_short_against_the_persons_shares() {
    let bot = Bot::with_symbols(&reversing_symbols());
    bot.share_account();
    bot.fake.set_shorting(true);
    bot.fake.set_position("TSLA", 10.0, 3.0); // the person's, none of them the bot's
    bot.set_closes("TSLA", &CROSS_DOWN);
    let run = bot.tick();
    check!(
        run,
        run.stdout
            .contains("TSLA sell refused (the account also holds 10 TSLA that are not the bot's")
    );
    assert_eq!(bot.posts(), 0);
}

#[test]
fn a_missing_last_bar_does_not_block_an_exit_or_the_threshold_rule() {
    let bot = Bot::new();
    // Bars end five minutes ago (IEX gaps): 4 bars missing, the allowance is 2.
    bot.bot_holds("TSLA", 2.0, 250.0);
    bot.fake.clear_bars("TSLA");
    bot.fake.clear_bars("AAPL");
    bot.fake.set_clock(open_now() - Duration::minutes(4), true);
    bot.set_closes("TSLA", &CROSS_DOWN);
    bot.set_closes("AAPL", &[231.0; 3]);
    bot.fake.set_clock(open_now(), true);
    bot.set_price("AAPL", 231.0);
    bot.set_price("TSLA", 0.5);
    let run = bot.tick();
    check!(run, run.code == 0);
    check!(
        run,
        run.stdout.contains("TSLA sell 2 -> new"),
        "the exit goes out"
    );
    check!(
        run,
        run.stdout.contains("AAPL buy 1 -> new"),
        "threshold decides on the trade"
    );
}

#[test]
fn an_opening_on_bars_is_allowed_within_max_missing_bars_and_refused_beyond() {
    let opening = |behind: i64| {
        let bot = Bot::new();
        bot.fake.clear_bars("TSLA");
        bot.fake
            .set_clock(open_now() - Duration::minutes(behind), true);
        bot.set_closes("TSLA", &CROSS_UP);
        bot.fake.set_clock(open_now(), true);
        bot.set_price("TSLA", 6.0);
        let run = bot.tick();
        (run.stdout.clone(), bot.posts())
    };
    let (out, posts) = opening(2);
    assert!(out.contains("TSLA buy 2 -> new") && posts == 1, "{out}");
    let (out, posts) = opening(3);
    assert!(
        out.contains("TSLA buy refused (3 closed bar(s) missing") && posts == 0,
        "{out}"
    );
}

/// AAPL alone, 0.3 shares a trade, fractional.
const TENTHS: &str = r#"
[[symbol]]
name = "AAPL"
qty = 0.3
fractional = true
strategy = { kind = "threshold", buy_above = 230.0, sell_below = 220.0 }
"#;

fn last_aapl_decision(bot: &Bot) -> std::collections::HashMap<String, String> {
    bot.ledger("decisions.csv")
        .into_iter()
        .rfind(|r| r["symbol"] == "AAPL")
        .unwrap()
}

/// On a shared account the bot trades on its fills ledger. Three fills of 0.1 summed as f64
/// are 0.30000000000000004: the sell of the position was "capped" at the 0.3 the broker holds,
/// and after it filled the bot still believed it held 5.55e-17 shares, decided to sell them,
/// and refused its own zero-share order every tick while the price stayed low.
#[test]
fn three_fills_of_a_tenth_are_exactly_the_three_tenths_sold_and_leave_the_bot_flat() {
    let bot = Bot::with_symbols(TENTHS);
    bot.share_account();
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL buy 0.3 -> new")
    );
    let id = bot.fake.orders()[0]["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        bot.fake.partially_fill(&id, 0.1, 231.0);
    }
    bot.next_minute(1, 231.0, &FLAT);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL hold; 3 new fill(s)")
    );
    let fills: Vec<String> = bot
        .ledger("fills.csv")
        .iter()
        .map(|r| r["qty"].clone())
        .collect();
    assert_eq!(fills, ["0.1", "0.1", "0.1"], "written as Alpaca sent them");
    assert_eq!(last_aapl_decision(&bot)["position"], "0.3");

    bot.next_minute(1, 219.0, &FLAT);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL sell 0.3 -> new")
    );
    let sent = bot.posted();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["qty"], "0.3", "exactly what the three fills bought");
    let sell = last_aapl_decision(&bot);
    assert_eq!(sell["position"], "0.3");
    assert_eq!(sell["qty"], "0.3");
    assert!(!sell["reason"].contains("capped"), "{sell:?}");

    bot.fake.fill_open_orders(219.0);
    for _ in 0..2 {
        bot.next_minute(1, 219.0, &FLAT);
        let run = bot.tick();
        check!(run, run.code == 0 && run.stdout.contains("AAPL hold"));
        let row = last_aapl_decision(&bot);
        assert_eq!(row["position"], "0", "{row:?}");
        assert_eq!(row["action"], "hold", "{row:?}");
    }
    assert_eq!(bot.posts(), 2, "nothing left to sell");
}

/// Fills of "0.1" and "0.2" against a broker position of "0.3": the same shares, exactly. The
/// position check, the sell and reconcile all agree, and the sell leaves nothing behind.
#[test]
fn fills_of_a_tenth_and_two_tenths_agree_with_a_broker_position_of_three_tenths() {
    let bot = Bot::with_symbols(TENTHS);
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(run, bot.posts() == 1);
    let id = bot.fake.orders()[0]["id"].as_str().unwrap().to_string();
    bot.fake.partially_fill(&id, 0.1, 231.0);
    bot.fake.partially_fill(&id, 0.2, 231.0);
    assert_eq!(bot.broker_json("/v2/positions/AAPL")["qty"], "0.3");
    bot.next_minute(1, 219.0, &FLAT);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL sell 0.3 -> new; 2 new fill(s)")
    );
    assert_eq!(bot.posted()[1]["qty"], "0.3");
    let reconcile = bot.run(&["reconcile", "--since", "2026-11-01"]);
    check!(reconcile, reconcile.code == 0);
    bot.fake.fill_open_orders(219.0);
    bot.next_minute(1, 219.0, &FLAT);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL hold; 1 new fill(s)")
    );
    assert_eq!(last_aapl_decision(&bot)["position"], "0");
    let reconcile = bot.run(&["reconcile", "--since", "2026-11-01"]);
    check!(reconcile, reconcile.code == 0);
}

#[test]
fn a_reversal_whose_close_fills_at_once_sends_its_open_leg_in_the_same_tick() {
    let bot = Bot::with_symbols(&reversing_symbols());
    bot.fake.set_shorting(true);
    bot.fake.fill_market_orders_on_submit(true);
    bot.bot_holds("TSLA", 2.0, 3.0);
    bot.set_closes("TSLA", &CROSS_DOWN);
    let run = bot.tick();
    check!(
        run,
        run.code == 0
            && run
                .stdout
                .contains("TSLA sell 2 -> filled; TSLA sell 2 -> filled")
    );
    let sent = bot.posted();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let ids: Vec<&str> = sent
        .iter()
        .map(|o| o["client_order_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "pb-TSLA-1Min-20261124T1529-sma-sell",
            "pb-TSLA-1Min-20261124T1529-sma-sell-open"
        ],
        "the close first, then the open leg under its own id"
    );
    assert!(sent.iter().all(|o| o["qty"] == "2"), "never 4 in one order");
    assert!(bot.state()["pending_legs"].as_array().unwrap().is_empty());
    let tsla = bot.broker_json("/v2/positions/TSLA");
    assert_eq!(tsla["qty"], "-2", "short 2 after the reversal: {tsla}");
    // Orders today: both legs counted, as each had its intent.
    assert_eq!(bot.state()["risk"]["orders_today"], 2);

    // Seen again on the next minute with the same bars: nothing more is sent.
    bot.next_minute(1, 225.0, &FLAT);
    check!(bot.tick(), bot.posts() == 2);
}

#[test]
fn the_open_leg_checked_for_the_same_tick_still_meets_the_order_count() {
    let bot = Bot::with_symbols(&reversing_symbols());
    bot.with_risk("max_orders_per_day = 1");
    bot.fake.set_shorting(true);
    bot.fake.fill_market_orders_on_submit(true);
    bot.bot_holds("TSLA", 2.0, 3.0);
    bot.set_closes("TSLA", &CROSS_DOWN);
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 1);
    assert_eq!(bot.posted()[0]["qty"], "2");
    let last = bot.ledger("decisions.csv").pop().unwrap();
    assert_eq!(last["action"], "refused", "{last:?}");
    assert!(last["reason"].contains("max_orders_per_day"), "{last:?}");
    let flat = bot.broker_json("/v2/positions/TSLA");
    assert_eq!(flat["code"], 40410000, "closed, not reversed: {flat}");
}

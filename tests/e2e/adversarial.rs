//! The order path attacked as an adversarial user and a hostile broker would, after issue 10.
//! Each test is named after what went wrong, and failed on the code before its fix.

use crate::check;
use crate::fake_alpaca::Fault;
use crate::harness::{reversing_symbols, Bot};
use chrono::Duration;

const CROSS_DOWN: [f64; 5] = [1.0, 2.0, 3.0, 3.0, 0.0];
const CROSS_UP: [f64; 5] = [5.0, 4.0, 3.0, 3.0, 6.0];
const FLAT: [f64; 5] = [3.0; 5];

#[test]
fn a_dry_run_does_not_throw_away_the_waiting_open_leg_of_a_reversal() {
    let bot = Bot::with_symbols(&reversing_symbols());
    bot.fake.set_shorting(true);
    bot.bot_holds("TSLA", 2.0, 3.0);
    bot.set_closes("TSLA", &CROSS_DOWN);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("TSLA sell 2 -> new")
    );
    bot.fake.fill_open_orders(3.0);

    bot.next_minute(1, 225.0, &FLAT);
    let dry = bot.run(&["tick", "--dry-run"]);
    check!(
        dry,
        dry.code == 0 && dry.stdout.contains("TSLA sell 2 (dry run)")
    );
    assert_eq!(bot.posts(), 1, "a dry run sends nothing");
    assert_eq!(
        bot.state()["pending_legs"].as_array().unwrap().len(),
        1,
        "the dry run must leave the real leg waiting: {}",
        bot.state()
    );

    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("TSLA sell 2 -> new")
    );
    let sent = bot.posted();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[1]["client_order_id"],
        "pb-TSLA-1Min-20261124T1529-sma-sell-open"
    );
}

/// `max_orders_per_day = 1`. The day's first order is accepted, but its reply is lost and the
/// look-up by client id fails too: the outcome is unknown, so the order was not counted, and
/// the next tick (which recovers it) let a second opening order go out.
#[test]
fn an_order_whose_reply_was_lost_counts_towards_max_orders_per_day() {
    let bot = Bot::new();
    bot.with_risk("max_orders_per_day = 1");
    bot.set_price("AAPL", 231.0);
    bot.fake
        .fail("POST", "/v2/orders", Fault::CommitThenDrop, 1);
    bot.fake
        .fail("GET", "/v2/orders:by_client_order_id", Fault::Html(503), 3);
    let run = bot.tick();
    check!(
        run,
        run.code == 1 && run.stdout.contains("AAPL buy 1 -> unknown")
    );
    assert_eq!(bot.fake.orders().len(), 1, "the buy reached the broker");

    // Next minute: the buy is found and recorded; TSLA crosses up and wants to open.
    bot.next_minute(1, 231.0, &CROSS_UP);
    let run = bot.tick();
    check!(
        run,
        run.code == 0
            && run
                .stdout
                .contains("TSLA buy refused (max_orders_per_day (1) reached)")
    );
    assert_eq!(bot.fake.orders().len(), 1, "one order a day, as configured");
}

/// The same through a kill: a tick killed after the POST left the intent on disk; the next
/// tick recovered the order but never counted it.
#[test]
fn an_order_recovered_from_a_killed_tick_counts_towards_max_orders_per_day() {
    let bot = Bot::new();
    bot.with_risk("max_orders_per_day = 1");
    // A POST timeout longer than the reply's delay, so the kill lands while the tick waits.
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        config.replace("timeout_secs = 1", "timeout_secs = 5"),
    )
    .unwrap();
    bot.set_price("AAPL", 231.0);
    // The POST commits and the reply takes 3 s: the tick is killed while it waits.
    bot.fake.fail(
        "POST",
        "/v2/orders",
        Fault::CommitThenDelay(std::time::Duration::from_secs(3)),
        1,
    );
    let mut child = bot.spawn_tick();
    let start = std::time::Instant::now();
    while bot.fake.orders().is_empty() && start.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(bot.fake.orders().len(), 1, "the buy reached the broker");
    assert_eq!(bot.state()["intents"].as_array().unwrap().len(), 1);
    while bot.fake.in_flight() > 0 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    bot.next_minute(1, 231.0, &CROSS_UP);
    let run = bot.tick();
    check!(
        run,
        run.code == 0
            && run
                .stdout
                .contains("TSLA buy refused (max_orders_per_day (1) reached)")
    );
    assert_eq!(bot.fake.orders().len(), 1, "one order a day, as configured");
}

/// A clock that says the market is open but gives no `next_close` (alpaca-py refuses such a
/// clock: the field is required) switched the close-margin guard off: a market order 10 s
/// before the close went out and would have been queued for the next open.
#[test]
fn an_open_clock_without_next_close_sends_no_order() {
    let bot = Bot::new();
    // 15:59:50 New York: ten seconds before the close.
    let before_close =
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 24, 20, 59, 50).unwrap();
    bot.fake.set_clock(before_close, true);
    bot.set_price("AAPL", 231.0);
    bot.set_closes("AAPL", &[231.0; 3]);
    bot.set_closes("TSLA", &[250.0; 5]);
    bot.fake.fail(
        "GET",
        "/v2/clock",
        Fault::Status(
            200,
            r#"{"timestamp":"2026-11-24T15:59:50-05:00","is_open":true,"next_open":"2026-11-25T09:30:00-05:00","next_close":null}"#.into(),
        ),
        1,
    );
    let run = bot.tick();
    check!(run, bot.posts() == 0, "no order without knowing the close");
    check!(
        run,
        run.code == 0
            && run.stdout.contains(
                "AAPL buy refused (the broker's clock says the market is open but its next_close is missing"
            )
    );
}

/// The `threshold` rule decides on the latest trade, but its client order id was keyed on the
/// last bar. On IEX a quiet symbol can go minutes without a bar: a second buy decided on a new
/// trade got the first buy's id, Alpaca refused it as a duplicate, and the tick reported the
/// old filled order as "already placed": the entry never happened, every minute, until a bar.
#[test]
fn a_threshold_reentry_while_bars_lag_is_a_new_order_not_the_old_one_already_placed() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(run, run.stdout.contains("AAPL buy 1 -> new"));
    bot.fake.fill_open_orders(231.0);

    // No new AAPL bar for the next minutes; only trades.
    let step = |price: f64| {
        bot.fake
            .set_clock(bot.fake.now() + Duration::minutes(1), true);
        bot.set_price("AAPL", price);
        bot.set_price("TSLA", 250.0);
        bot.set_closes("TSLA", &[250.0; 5]);
    };
    step(219.0);
    let run = bot.tick();
    check!(run, run.stdout.contains("AAPL sell 1 -> new"));
    bot.fake.fill_open_orders(219.0);

    step(231.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL buy 1 -> new"),
        "a new decision, not the first buy"
    );
    assert_eq!(bot.fake.orders().len(), 3);
    let ids: Vec<String> = bot
        .fake
        .orders()
        .iter()
        .map(|o| o["client_order_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "pb-AAPL-1Min-20261124T1529-thr-buy",
            "pb-AAPL-1Min-20261124T1530-thr-sell",
            "pb-AAPL-1Min-20261124T1531-thr-buy",
        ]
    );
}

/// The daily-loss flatten is keyed by the day. When that order ends unfilled (the person
/// cancels it in the app, or Alpaca rejects it after accepting it), every later flatten that
/// day reuses the id: Alpaca refuses it as a duplicate, the tick reports "already placed", and
/// the position stays open through the rest of a day the person asked to be flat.
#[test]
fn a_flatten_that_was_canceled_is_sent_again() {
    let bot = Bot::new();
    bot.with_risk("flatten_on_daily_loss = true");
    bot.fake.set_account("94000", "94000", "94000");
    bot.bot_holds("TSLA", 2.0, 250.0);
    let run = bot.tick();
    check!(run, run.stdout.contains("TSLA flatten sell 2 -> new"));
    let id = bot.fake.orders()[0]["id"].as_str().unwrap().to_string();
    bot.fake.set_order_status(&id, "canceled");

    bot.next_minute(1, 225.0, &[250.0; 5]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("TSLA flatten sell 2 -> new")
    );
    assert_eq!(bot.fake.orders().len(), 2);
    assert_eq!(
        bot.fake.orders()[1]["client_order_id"],
        "pb-TSLA-1Min-20261124T0000-flat-sell-2"
    );
    // The retry fills: flat, and nothing more is sent that day.
    bot.fake.fill_open_orders(225.0);
    bot.next_minute(1, 225.0, &[250.0; 5]);
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("TSLA hold"));
    assert_eq!(bot.fake.orders().len(), 2);
    assert_eq!(bot.broker_json("/v2/positions"), serde_json::json!([]));
}

/// An order with an unknown outcome on AAPL, and Alpaca's look-up by client id failing (5xx
/// after every retry) on the next tick: the whole tick stopped at the look-up, so TSLA's exit
/// (a strategy sell of a held position) never went out either. An unsettled intent blocks its
/// own symbol, never the others.
#[test]
fn a_failing_look_up_of_one_symbols_intent_does_not_block_another_symbols_exit() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    bot.fake.fail("POST", "/v2/orders", Fault::Html(504), 1);
    let run = bot.tick();
    check!(
        run,
        run.code == 1 && run.stdout.contains("AAPL buy 1 -> unknown")
    );

    bot.bot_holds("TSLA", 2.0, 250.0);
    bot.next_minute(1, 231.0, &CROSS_DOWN);
    bot.fake
        .fail("GET", "/v2/orders:by_client_order_id", Fault::Html(503), 3);
    let run = bot.tick();
    check!(
        run,
        run.stdout.contains("TSLA sell 2 -> new"),
        "the exit goes out"
    );
    check!(
        run,
        run.stdout.contains("AAPL waiting"),
        "AAPL stays blocked"
    );
    check!(run, run.code == 1, "the failed look-up is not hidden");
    assert_eq!(bot.state()["intents"].as_array().unwrap().len(), 1);
    assert_eq!(bot.posts(), 2);
}

/// A second tick in the same minute (cron, then a person running `tick` by hand) sees the same
/// bars and so the same stop-and-reverse decision. Its close was already sent, so the position
/// counts as flat: the re-run took the decision for a fresh short, replaced the waiting open
/// leg with it, got Alpaca's duplicate refusal for the close's own id ("already placed"), and
/// the open leg was gone: the reversal silently became a plain exit.
#[test]
fn a_second_tick_in_the_same_minute_keeps_the_reversals_open_leg() {
    let bot = Bot::with_symbols(&reversing_symbols());
    bot.fake.set_shorting(true);
    bot.bot_holds("TSLA", 2.0, 3.0);
    bot.set_closes("TSLA", &CROSS_DOWN);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("TSLA sell 2 -> new")
    );

    // Still working: the re-run waits for it.
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("TSLA hold"));
    assert_eq!(bot.posts(), 1);
    assert_eq!(bot.state()["pending_legs"].as_array().unwrap().len(), 1);

    // Filled within the minute: the next re-run sends the open leg, as its own order.
    bot.fake.fill_open_orders(3.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("TSLA sell 2 -> new")
    );
    let sent = bot.posted();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        sent[1]["client_order_id"],
        "pb-TSLA-1Min-20261124T1529-sma-sell-open"
    );
}

/// A clock answer that says "open" at 16:00:05 New York, with the next close tomorrow (a stale
/// `is_open`): the close-margin guard measured 24 hours to the close and a market order went
/// out after the bell, to be queued for the next open. An open session never has its close
/// more than a trading day's hours away.
#[test]
fn an_open_clock_whose_next_close_is_tomorrow_sends_no_order() {
    let bot = Bot::new();
    let after_close =
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 24, 21, 0, 5).unwrap();
    bot.fake.set_clock(after_close, true);
    bot.set_price("AAPL", 231.0);
    bot.set_closes("AAPL", &[231.0; 3]);
    bot.set_closes("TSLA", &[250.0; 5]);
    let run = bot.tick();
    check!(run, bot.posts() == 0, "no order after the bell");
    check!(
        run,
        run.code == 0
            && run.stdout.contains(
                "AAPL buy refused (the broker's clock says the market is open but its next_close is 2026-11-25T16:00:00-05:00"
            )
    );
}

/// On a shared account the bot's position is its fills ledger. Alpaca shows an order as
/// `filled` a moment before its FILL activity appears: the tick saw the buy filled, found no
/// activity yet (kept the order tracked, "checking again next tick"), counted the bot as flat
/// and bought again: twice the position the rule asked for.
#[test]
fn a_filled_order_whose_fill_activity_lags_is_not_bought_again_on_a_shared_account() {
    let bot = Bot::new();
    bot.share_account();
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(run, run.stdout.contains("AAPL buy 1 -> new"));
    bot.fake.fill_open_orders(231.0);

    bot.next_minute(1, 231.0, &[250.0; 3]);
    // The activities endpoint has not caught up with the order yet.
    bot.fake.fail(
        "GET",
        "/v2/account/activities",
        Fault::Status(200, "[]".into()),
        1,
    );
    let run = bot.tick();
    check!(run, run.code == 0 && !run.stdout.contains("AAPL buy"));
    assert_eq!(bot.fake.orders().len(), 1, "one buy, never two");

    // The activity appears: recorded, and the bot holds what the rule asked for.
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL hold") && run.stdout.contains("1 new fill")
    );
    assert_eq!(bot.fake.orders().len(), 1);
    assert_eq!(bot.broker_json("/v2/positions/AAPL")["qty"], "1");
}

/// On a shared account the person keeps a standing limit sell on TSLA (a take-profit on their
/// own shares). The daily loss limit is hit and the bot must flatten its 2 TSLA: it waited
/// "once the working orders are done" for the person's order, which may never be done, and
/// the bot's position stayed open all day. Only the bot's own working orders make it wait (an
/// opposite order of the person's is still refused as a wash trade).
#[test]
fn a_flatten_on_a_shared_account_does_not_wait_for_the_persons_standing_order() {
    let bot = Bot::new();
    bot.with_risk("shared_account = true\nflatten_on_daily_loss = true");
    bot.fake.set_account("94000", "94000", "94000");
    bot.bot_holds("TSLA", 2.0, 250.0);
    // The person holds 10 more and has a limit sell working for them.
    bot.fake.set_position("TSLA", 12.0, 250.0);
    bot.place_manual_order("TSLA", "sell", "10", "limit");
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("TSLA flatten sell 2 -> new")
    );
    assert_eq!(
        bot.posted().last().unwrap()["qty"],
        "2",
        "the bot's 2, never the person's"
    );
}

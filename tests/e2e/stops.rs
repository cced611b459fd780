//! Protective stops held by the broker (issue 14): placed from the broker's average entry,
//! repaired before any other order, canceled (and seen canceled) before the strategy's own
//! exit, closing the position exactly once when they fill, never counted as trading, and put
//! back after a tick killed between an entry's fill and its stop.

use crate::check;
use crate::fake_alpaca::Fault;
use crate::harness::Bot;
use chrono::TimeZone;
use std::time::{Duration, Instant};

/// AAPL on the threshold rule (buy above 230, sell below 220) with `extra` protective keys.
fn protected(extra: &str) -> Bot {
    Bot::with_symbols(&format!(
        "[[symbol]]\nname = \"AAPL\"\nqty = 1\n{extra}\n\
         strategy = {{ kind = \"threshold\", buy_above = 230.0, sell_below = 220.0 }}\n"
    ))
}

fn stops_at_the_fake(bot: &Bot) -> Vec<serde_json::Value> {
    bot.fake
        .orders()
        .into_iter()
        .filter(|o| o["type"] != "market")
        .collect()
}

#[test]
fn a_held_position_gets_one_gtc_stop_at_its_average_entry_less_the_percent() {
    let bot = protected("stop_loss_pct = 2.5");
    bot.bot_holds("AAPL", 3.0, 200.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL protect 3 -> new")
    );
    let sent = bot.posted();
    assert_eq!(sent.len(), 1, "{sent:?}");
    // 200 × (1 − 0.025) = 195.00; the whole position; gtc so it rests at the next open.
    let want = serde_json::json!({"symbol": "AAPL", "qty": "3", "side": "sell", "type": "stop",
        "time_in_force": "gtc", "stop_price": "195.00", "client_order_id": "pb-AAPL-earlier-p1"});
    assert_eq!(sent[0], want);
    // Left alone afterwards: no second stop, and the strategy still sees 3 shares held
    // (a resting stop is not a pending sale), so it neither buys nor sells.
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 1);
    let last = bot.ledger("decisions.csv").pop().unwrap();
    assert_eq!(last["position"], "3", "{last:?}");
    assert_eq!(
        bot.state()["risk"]["orders_today"],
        0,
        "protection is not trading"
    );
    let orders = bot.ledger("orders.csv");
    assert_eq!(orders[0]["type"], "stop", "{orders:?}");
}

#[test]
fn stop_and_target_are_one_oco_whose_held_stop_leg_fills_once_and_cancels_the_target() {
    let bot = protected("stop_loss_pct = 2\ntake_profit_pct = 5");
    bot.bot_holds("AAPL", 2.0, 215.0);
    let run = bot.tick();
    check!(run, run.code == 0);
    let sent = bot.posted();
    assert_eq!(sent[0]["order_class"], "oco");
    assert_eq!(sent[0]["type"], "limit");
    // 215 × 1.05 = 225.75 (the price, 225, has not reached it); 215 × 0.98 = 210.70.
    assert_eq!(sent[0]["take_profit"]["limit_price"], "225.75");
    assert_eq!(sent[0]["stop_loss"]["stop_price"], "210.70");
    // The stop leg is held, so `status=open` does not list it; the POST answer's legs gave
    // the bot its Alpaca-assigned id, which the tick tracks.
    let open = bot.broker_json("/v2/orders?status=open");
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    let tracked = bot.state()["tracked"].as_array().unwrap().len();
    assert_eq!(tracked, 2, "the OCO and its stop leg");

    // The price gaps through the stop: the leg fills at the gap's price, the target cancels.
    bot.fake.trade("AAPL", 193.5);
    bot.next_minute(1, 225.0, &[250.0; 3]);
    bot.set_price("AAPL", 225.0);
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("1 new fill(s)"));
    let fills = bot.ledger("fills.csv");
    let sells: Vec<_> = fills
        .iter()
        .filter(|f| f["side"] == "sell" && f["status"] == "fill")
        .collect();
    assert_eq!(sells.len(), 1, "{fills:?}");
    assert_eq!(
        (sells[0]["qty"].as_str(), sells[0]["price"].as_str()),
        ("2", "193.5")
    );
    assert!(fills.iter().any(|f| f["status"] == "canceled"), "{fills:?}");
    // Flat now: nothing to protect, no second record of the fill on the next tick.
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, bot.posts() == 1);
    let again = bot.ledger("fills.csv");
    let executions = again
        .iter()
        .filter(|f| f["side"] == "sell" && f["status"] == "fill");
    assert_eq!(executions.count(), 1);
}

#[test]
fn the_strategys_exit_cancels_the_stop_sees_it_canceled_then_sells() {
    let bot = protected("stop_loss_pct = 2");
    bot.bot_holds("AAPL", 1.0, 200.0);
    let run = bot.tick();
    check!(run, bot.posts() == 1);
    let stop_id = stops_at_the_fake(&bot)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    bot.fake.clear_requests();
    // Below 220: the threshold rule sells. The stop holds the share (a sell beside it is a
    // 403 "insufficient qty available"), so it is canceled first.
    bot.next_minute(1, 215.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL sell 1 -> new")
    );
    let calls = bot.calls();
    let cancel = calls
        .iter()
        .position(|c| *c == format!("DELETE /v2/orders/{stop_id}"));
    let post = calls.iter().position(|c| c == "POST /v2/orders");
    assert!(cancel.is_some() && cancel < post, "{calls:?}");
    let confirm = calls
        .iter()
        .position(|c| *c == format!("GET /v2/orders/{stop_id}"));
    assert!(
        confirm.is_some() && confirm < post,
        "the cancel is read back first: {calls:?}"
    );
    assert_eq!(stops_at_the_fake(&bot)[0]["status"], "canceled");
}

/// The stop fills in the moment between the tick's look at the orders and its cancel (Alpaca
/// answers the cancel 422 "already filled"). The strategy's sell was sized from the share
/// the stop just sold: it is not sent (it would open a short, or on a shared account sell
/// the person's share), nothing is put back in its place, and the next tick decides on the
/// position the stop left.
#[test]
fn a_stop_that_fills_as_it_is_canceled_stops_the_strategys_order_sized_before_it() {
    let bot = protected("stop_loss_pct = 2");
    bot.bot_holds("AAPL", 1.0, 200.0);
    let run = bot.tick();
    check!(run, bot.posts() == 1);
    bot.fake.clear_requests();
    bot.next_minute(1, 215.0, &[250.0; 3]);
    bot.fake.fill_before_next_cancel(195.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0
            && run
                .stdout
                .contains("AAPL sell waits: its protection filled")
    );
    assert_eq!(
        bot.posts(),
        0,
        "no sell, no stop put back: {:?}",
        bot.calls()
    );
    assert_eq!(stops_at_the_fake(&bot)[0]["status"], "filled");
    let d = bot.ledger("decisions.csv").pop().unwrap();
    assert_eq!(d["action"], "refused", "{d:?}");
    assert!(
        d["reason"].contains("protection filled before its cancel"),
        "{d:?}"
    );
}

#[test]
fn a_buy_beside_a_standalone_stop_is_a_wash_trade_but_an_oco_is_exempt() {
    // The fake's rule, as Alpaca publishes it (alpaca-api.md §7.9).
    let bot = protected("");
    bot.fake.set_position("AAPL", 1.0, 200.0);
    bot.place_manual_order("AAPL", "sell", "1", "limit");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |body: serde_json::Value| {
        let mut r = agent
            .post(format!("{}/v2/orders", bot.fake.url()))
            .header("APCA-API-KEY-ID", crate::fake_alpaca::KEY_ID)
            .header("APCA-API-SECRET-KEY", crate::fake_alpaca::SECRET)
            .send_json(&body)
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let buy = serde_json::json!({"symbol": "AAPL", "side": "buy", "qty": "1", "type": "market",
        "time_in_force": "day"});
    let (code, body) = post(buy.clone());
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("potential wash trade detected"), "{body}");
    bot.fake
        .set_order_status(bot.fake.orders()[0]["id"].as_str().unwrap(), "canceled");
    let oco = serde_json::json!({"symbol": "AAPL", "side": "sell", "qty": "1", "type": "limit",
        "time_in_force": "gtc", "order_class": "oco", "take_profit": {"limit_price": "210"},
        "stop_loss": {"stop_price": "190"}});
    let (code, body) = post(oco);
    assert_eq!(code, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["legs"][0]["status"], "held");
    assert_eq!(answer["legs"][0]["stop_price"], "190");
    assert_eq!(
        post(buy).0,
        200,
        "OCO legs are exempt from the wash-trade rule"
    );
    // One OCO reserves its shares once: qty_available 0 of the 1 held.
    let pos = bot.broker_json("/v2/positions/AAPL");
    assert_eq!(pos["qty_available"], "0", "{pos}");
}

#[test]
fn the_kill_switch_and_the_order_limit_never_stop_protection() {
    let bot = protected("stop_loss_pct = 2");
    bot.with_risk("max_orders_per_day = 1");
    bot.bot_holds("AAPL", 1.0, 200.0);
    std::fs::write(bot.path("data/STOP"), "").unwrap();
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 1);
    assert_eq!(bot.posted()[0]["type"], "stop");
    assert_eq!(bot.state()["risk"]["orders_today"], 0);
}

#[test]
fn status_and_the_metrics_file_name_a_position_whose_stop_was_refused() {
    let bot = protected("stop_loss_pct = 2");
    bot.bot_holds("AAPL", 1.0, 200.0);
    let refusal = r#"{"code":40310000,"message":"insufficient qty available for order (requested: 1, available: 0)"}"#;
    bot.fake
        .fail("POST", "/v2/orders", Fault::Status(403, refusal.into()), 1);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL protect 1 -> refused")
    );
    let prom = std::fs::read_to_string(bot.path("logs/prometheus-bot.prom")).unwrap();
    assert!(
        prom.contains("prometheus_bot_unprotected_positions 1\n"),
        "{prom}"
    );
    assert!(
        prom.contains("prometheus_bot_position_unprotected{symbol=\"AAPL\"} 1\n"),
        "{prom}"
    );
    let status = bot.run(&["status", "--offline"]);
    check!(
        status,
        status
            .stdout
            .contains("UNPROTECTED AAPL: its protection was refused")
    );
    // The next tick puts it back (a refused id is spent: the next attempt's id).
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL protect 1 -> new")
    );
    let prom = std::fs::read_to_string(bot.path("logs/prometheus-bot.prom")).unwrap();
    assert!(
        prom.contains("prometheus_bot_unprotected_positions 0\n"),
        "{prom}"
    );
}

#[test]
fn a_tick_killed_between_the_entrys_fill_and_its_stop_is_repaired_once_by_the_next() {
    let bot = protected("stop_loss_pct = 2");
    bot.fake.fill_market_orders_on_submit(true);
    // Above 230: the entry buys and fills at once.
    bot.next_minute(0, 235.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL buy 1 -> filled")
    );
    // The next tick's stop POST reaches the broker, and the tick is killed before the answer.
    bot.next_minute(1, 235.0, &[250.0; 3]);
    bot.fake.fail(
        "POST",
        "/v2/orders",
        Fault::CommitThenDelay(Duration::from_secs(3)),
        1,
    );
    let mut child = bot.spawn_tick();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stops_at_the_fake(&bot).is_empty() {
        assert!(Instant::now() < deadline, "the stop never reached the fake");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    bot.wait_idle();
    bot.fake.clear_faults();
    let intents = bot.state()["intents"].clone();
    assert_eq!(
        intents[0]["client_order_id"], "pb-AAPL-1Min-20261124T1529-thr-buy-p1",
        "{intents}"
    );
    // The next tick finds the stop by its client id (derived from the entry) and sends none.
    bot.next_minute(1, 235.0, &[250.0; 3]);
    let posts = bot.posts();
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == posts);
    let stops = stops_at_the_fake(&bot);
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0]["stop_price"], "230.3"); // 235 × 0.98, as the fake writes numbers
    assert!(bot.state()["intents"].as_array().unwrap().is_empty());
    let orders = bot.ledger("orders.csv");
    assert!(
        orders.iter().any(|o| o["client_order_id"].ends_with("-p1")),
        "{orders:?}"
    );
}

#[test]
fn a_trailing_stop_follows_the_best_price_and_fills_when_the_price_falls_back() {
    let bot = protected("trailing_stop_pct = 5");
    bot.bot_holds("AAPL", 1.0, 200.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL protect 1 -> new")
    );
    let sent = bot.posted();
    assert_eq!(sent[0]["type"], "trailing_stop");
    assert_eq!(sent[0]["trail_percent"], "5");
    // hwm starts at the latest trade (225), rises with it to 240: stop 240 × 0.95 = 228.
    let resting = |bot: &Bot| stops_at_the_fake(bot)[0].clone();
    assert_eq!(resting(&bot)["hwm"], "225");
    bot.fake.trade("AAPL", 240.0);
    bot.fake.trade("AAPL", 229.0);
    assert_eq!(resting(&bot)["hwm"], "240");
    assert_eq!(resting(&bot)["status"], "new", "229 is above 228");
    bot.fake.trade("AAPL", 227.5);
    assert_eq!(resting(&bot)["status"], "filled");
    assert_eq!(resting(&bot)["filled_avg_price"], "227.5");
}

#[test]
fn a_missing_stop_is_put_back_before_any_other_order_of_the_tick_across_symbols() {
    // TSLA comes first in the config and buys this tick; AAPL's missing stop still goes first.
    let bot = Bot::with_symbols(
        "[[symbol]]\nname = \"TSLA\"\nqty = 2\n\
         strategy = { kind = \"sma_cross\", fast = 2, slow = 3 }\n\n\
         [[symbol]]\nname = \"AAPL\"\nqty = 1\nstop_loss_pct = 2\n\
         strategy = { kind = \"threshold\", buy_above = 230.0, sell_below = 220.0 }\n",
    );
    bot.bot_holds("AAPL", 1.0, 200.0);
    bot.set_closes("TSLA", &[5.0, 4.0, 3.0, 3.0, 6.0]);
    bot.set_price("TSLA", 6.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("TSLA buy 2 -> new")
    );
    let sent = bot.posted();
    let order: Vec<(&str, &str)> = sent
        .iter()
        .map(|o| (o["symbol"].as_str().unwrap(), o["type"].as_str().unwrap()))
        .collect();
    assert_eq!(order, [("AAPL", "stop"), ("TSLA", "market")]);
}

#[test]
fn a_price_already_through_the_stop_closes_once_and_the_strategys_sell_never_opens_a_short() {
    let bot = protected("stop_loss_pct = 2");
    bot.fake.set_shorting(true);
    bot.fake.fill_market_orders_on_submit(true);
    bot.bot_holds("AAPL", 1.0, 200.0);
    // 190 is through the 196.00 stop (no stop rested while the bot was down), and below 220:
    // the strategy sells too, decided on positions read before the close filled.
    bot.next_minute(0, 190.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL closed by its stop")
    );
    let sent = bot.posted();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (&sent[0]["type"], &sent[0]["client_order_id"]),
        (&"market".into(), &"pb-AAPL-earlier-p1".into())
    );
    let pos = bot.broker_json("/v2/positions/AAPL");
    assert_eq!(pos["code"], 40410000, "flat, not short: {pos}");
}

/// A price already through the stop is closed at market only when an order may be sent: the
/// kill switch stops that market order (it is a trade, not a resting stop), and the position
/// is reported unprotected with the reason.
#[test]
fn the_kill_switch_stops_the_market_close_of_a_position_past_its_stop() {
    let bot = protected("stop_loss_pct = 2");
    bot.bot_holds("AAPL", 1.0, 200.0);
    std::fs::write(bot.path("data/STOP"), "").unwrap();
    bot.next_minute(0, 190.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    let markets: Vec<_> = bot
        .posted()
        .into_iter()
        .filter(|o| o["type"] == "market")
        .collect();
    assert!(
        markets.is_empty(),
        "no market order under the kill switch: {markets:?}"
    );
    let unprotected = &bot.state()["ops"]["unprotected"]["AAPL"];
    check!(
        run,
        unprotected
            .as_str()
            .is_some_and(|why| why.contains("not closed at market") && why.contains("kill switch")),
        "{unprotected}"
    );
}

/// On a shared account the broker's position averages the person's shares in: the person's
/// 100 AAPL at 150 beside the bot's 10 at 230 make Alpaca's `avg_entry_price` 157.27, and a
/// 2 % stop from it (154.13) would leave the bot's shares unprotected for a 33 % fall. The
/// bot's stop is for its own 10 shares at its own entry: 230 × 0.98 = 225.40.
#[test]
fn on_a_shared_account_the_stop_is_set_from_the_bots_own_entry_price() {
    let bot = protected("stop_loss_pct = 2");
    bot.with_risk("shared_account = true");
    bot.bot_holds("AAPL", 10.0, 230.0);
    bot.fake.set_position("AAPL", 110.0, 157.27);
    bot.set_price("AAPL", 228.0);
    let run = bot.tick();
    check!(run, run.code == 0);
    let sent = bot.posted();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["type"], "stop", "{sent:?}");
    assert_eq!(sent[0]["qty"], "10", "the bot's shares, never the person's");
    assert_eq!(sent[0]["stop_price"], "225.40", "{:?}", sent[0]);
}

/// A short is protected the same way with buy orders: the stop above the entry, the target
/// below it. 5 AAPL sold short at 200 with a 2 % stop and a 5 % target: one OCO to buy 5, its
/// target at 200 × 0.95 = 190.00, its stop at 200 × 1.02 = 204.00. When the price rises through
/// the stop, the stop leg buys the 5 back once and the bot is flat.
#[test]
fn a_short_position_is_protected_with_a_buy_stop_above_and_a_buy_target_below() {
    let bot = Bot::with_symbols(
        "[[symbol]]\nname = \"AAPL\"\nqty = 5\nstop_loss_pct = 2\ntake_profit_pct = 5\n\
         strategy = { kind = \"threshold\", buy_above = 300.0, sell_below = 100.0 }\n",
    );
    bot.fake.set_shorting(true);
    bot.bot_holds("AAPL", -5.0, 200.0);
    bot.set_price("AAPL", 201.0);
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("AAPL protect 5"));
    let sent = bot.posted();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (
            &sent[0]["side"],
            &sent[0]["qty"],
            &sent[0]["order_class"],
            &sent[0]["take_profit"]["limit_price"],
            &sent[0]["stop_loss"]["stop_price"],
        ),
        (
            &"buy".into(),
            &"5".into(),
            &"oco".into(),
            &"190.00".into(),
            &"204.00".into()
        ),
        "{:?}",
        sent[0]
    );
    // The price rises through 204: the stop leg buys the 5 back.
    bot.fake.trade("AAPL", 205.0);
    bot.next_minute(1, 205.0, &[250.0; 3]);
    bot.set_price("AAPL", 205.0);
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("1 new fill(s)"));
    let buys: Vec<_> = bot
        .ledger("fills.csv")
        .into_iter()
        .filter(|f| f["side"] == "buy" && f["status"] == "fill")
        .collect();
    assert_eq!(buys.len(), 1, "{buys:?}");
    assert_eq!(buys[0]["qty"], "5");
    let pos = bot.broker_json("/v2/positions/AAPL");
    assert_eq!(pos["code"], 40410000, "flat: {pos}");
    assert_eq!(bot.posts(), 1, "nothing else sent");
}

/// POST a complex order by hand, as the person sharing the account would.
fn post_by_hand(bot: &Bot, body: serde_json::Value) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(format!("{}/v2/orders", bot.fake.url()))
        .header("APCA-API-KEY-ID", crate::fake_alpaca::KEY_ID)
        .header("APCA-API-SECRET-KEY", crate::fake_alpaca::SECRET)
        .send_json(&body)
        .unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    (r.status().as_u16(), serde_json::from_str(&text).unwrap())
}

/// On a shared account the person's own bracket on the bot's symbol (its target resting, its
/// stop leg held, their 10 shares reserved) is neither the bot's protection nor an order the
/// bot trades around: the bot buys beside it (bracket legs are exempt from the wash-trade
/// table), leaves it alone, and when the person's reserved shares leave too few for the bot's
/// OCO, the refusal is named by `status` and the metrics file and the tick goes on.
#[test]
fn the_persons_bracket_is_neither_the_bots_protection_nor_in_its_way() {
    let bot = protected("stop_loss_pct = 2\ntake_profit_pct = 5");
    bot.share_account();
    bot.fake.fill_market_orders_on_submit(true);
    let bracket = serde_json::json!({"symbol": "AAPL", "side": "buy", "qty": "10",
        "type": "market", "time_in_force": "gtc", "order_class": "bracket",
        "take_profit": {"limit_price": "260"}, "stop_loss": {"stop_price": "200"}});
    let (code, theirs) = post_by_hand(&bot, bracket);
    assert_eq!(code, 200, "{theirs}");
    let (target, stop) = (
        theirs["legs"][0]["id"].as_str().unwrap().to_string(),
        theirs["legs"][1]["id"].as_str().unwrap().to_string(),
    );
    let leg = |id: &str| bot.broker_json(&format!("/v2/orders/{id}"));
    assert_eq!(
        (
            leg(&target)["status"].as_str(),
            leg(&stop)["status"].as_str()
        ),
        (Some("new"), Some("held"))
    );
    bot.fake.clear_requests();

    // The bot holds nothing of its own: nothing to protect, nothing canceled.
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 0);
    check!(run, !bot.calls().iter().any(|c| c.starts_with("DELETE")));
    assert!(bot.state()["ops"]["unprotected"]
        .as_object()
        .is_none_or(|u| u.is_empty()));

    // Above 230 the bot buys its 1 share beside the person's resting target.
    bot.next_minute(1, 235.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL buy 1 -> filled")
    );
    // The person sells 1 of their free shares: their bracket still reserves 10 of the 10 left,
    // so none is available for the bot's OCO.
    let sell = serde_json::json!({"symbol": "AAPL", "side": "sell", "qty": "1",
        "type": "market", "time_in_force": "day"});
    assert_eq!(post_by_hand(&bot, sell).0, 200);
    assert_eq!(bot.broker_json("/v2/positions/AAPL")["qty_available"], "0");

    bot.next_minute(1, 235.0, &[250.0; 3]);
    bot.fake.clear_requests();
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL protect 1 -> refused")
    );
    let sent = bot.posted();
    assert_eq!(sent.len(), 1, "the OCO only: {sent:?}");
    assert_eq!(sent[0]["order_class"], "oco");
    check!(run, !bot.calls().iter().any(|c| c.starts_with("DELETE")));
    let prom = std::fs::read_to_string(bot.path("logs/prometheus-bot.prom")).unwrap();
    assert!(
        prom.contains("prometheus_bot_position_unprotected{symbol=\"AAPL\"} 1\n"),
        "{prom}"
    );
    let status = bot.run(&["status", "--offline"]);
    check!(
        status,
        status
            .stdout
            .contains("UNPROTECTED AAPL: its protection was refused")
            && status.stdout.contains("insufficient qty available")
    );
    // The person's bracket is as it was.
    assert_eq!(
        (
            leg(&target)["status"].as_str(),
            leg(&stop)["status"].as_str()
        ),
        (Some("new"), Some("held"))
    );
    let d = bot.ledger("decisions.csv").pop().unwrap();
    assert_eq!(d["position"], "1", "the bot's own share: {d:?}");
}

/// The bot's OCO: its stop leg's id and client id are Alpaca's (the POST answer's `legs`), the
/// tick tracks that id, and the leg's fill lands in fills.csv once under the leg's own ids.
#[test]
fn the_ocos_stop_leg_is_tracked_by_alpacas_ids_and_its_fill_recorded_once() {
    let bot = protected("stop_loss_pct = 2\ntake_profit_pct = 5");
    bot.bot_holds("AAPL", 2.0, 215.0);
    let run = bot.tick();
    check!(run, run.code == 0);
    let parent = bot
        .fake
        .orders()
        .into_iter()
        .find(|o| o["order_class"] == "oco" && o["type"] == "limit")
        .unwrap();
    let shown = bot.broker_json(&format!("/v2/orders/{}", parent["id"].as_str().unwrap()));
    let leg = shown["legs"][0].clone();
    let (leg_id, leg_cid) = (
        leg["id"].as_str().unwrap(),
        leg["client_order_id"].as_str().unwrap(),
    );
    assert!(!leg_cid.starts_with("pb-"), "Alpaca's client id: {leg_cid}");
    let tracked = bot.state()["tracked"].to_string();
    assert!(tracked.contains(leg_id), "{tracked}");
    // Neither the resting limit nor its held leg is a pending sale: the strategy still sees
    // the 2 shares (not 0, nor -2) and sends nothing.
    let posts = bot.posts();
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == posts);
    let d = bot.ledger("decisions.csv").pop().unwrap();
    assert_eq!(d["position"], "2", "{d:?}");
    bot.fake.trade("AAPL", 210.0);
    for _ in 0..2 {
        bot.next_minute(1, 225.0, &[250.0; 3]);
        bot.set_price("AAPL", 225.0);
        let run = bot.tick();
        check!(run, run.code == 0);
    }
    let fills = bot.ledger("fills.csv");
    let leg_fills: Vec<_> = fills
        .iter()
        .filter(|f| f["order_id"] == leg_id && f["status"] == "fill")
        .collect();
    assert_eq!(leg_fills.len(), 1, "{fills:?}");
    assert_eq!(leg_fills[0]["client_order_id"], leg_cid, "{fills:?}");
    assert_eq!(
        (leg_fills[0]["qty"].as_str(), leg_fills[0]["price"].as_str()),
        ("2", "210")
    );
}

/// On a shared account the person's bracket entry still waits (a limit buy below the market):
/// its target and stop legs are `held`, nested under it, and are not pending sales. The bot's
/// buy is neither refused by its own opposite-order guard nor by Alpaca (held legs of a
/// complex order are exempt from the wash-trade table).
#[test]
fn the_held_legs_of_a_persons_waiting_bracket_are_not_pending_sales() {
    let bot = protected("");
    bot.share_account();
    let bracket = serde_json::json!({"symbol": "AAPL", "side": "buy", "qty": "10",
        "type": "limit", "limit_price": "220", "time_in_force": "day", "order_class": "bracket",
        "take_profit": {"limit_price": "240"}, "stop_loss": {"stop_price": "210"}});
    let (code, theirs) = post_by_hand(&bot, bracket);
    assert_eq!(code, 200, "{theirs}");
    let listed = bot.broker_json("/v2/orders?status=open&nested=true");
    assert_eq!(listed[0]["legs"][1]["status"], "held", "{listed}");
    bot.fake.clear_requests();
    bot.next_minute(0, 235.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL buy 1 -> new")
    );
    let sent = bot.posted();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (&sent[0]["side"], &sent[0]["type"]),
        (&"buy".into(), &"market".into())
    );
    let d = bot.ledger("decisions.csv").pop().unwrap();
    assert_eq!(
        d["position"], "0",
        "the held sells are not the bot's: {d:?}"
    );
}

/// Alpaca's wash-trade table exempts multi-leg orders and trailing stops: on a shared account
/// the bot's market buy goes out beside the person's OCO take-profit or trailing stop on the
/// same symbol (the bot refused it as a wash trade, a trade lost for nothing), and is still
/// held back beside the person's plain limit sell, which Alpaca would refuse.
#[test]
fn the_bots_buy_goes_out_beside_a_persons_oco_or_trailing_stop_but_not_beside_a_plain_sell() {
    let cases = [
        (
            serde_json::json!({"symbol": "AAPL", "side": "sell", "qty": "10", "type": "limit",
                "time_in_force": "gtc", "order_class": "oco",
                "take_profit": {"limit_price": "260"}, "stop_loss": {"stop_price": "190"}}),
            true,
        ),
        (
            serde_json::json!({"symbol": "AAPL", "side": "sell", "qty": "10",
                "type": "trailing_stop", "trail_percent": "5", "time_in_force": "gtc"}),
            true,
        ),
        (
            serde_json::json!({"symbol": "AAPL", "side": "sell", "qty": "10", "type": "limit",
                "limit_price": "260", "time_in_force": "gtc"}),
            false,
        ),
    ];
    for (theirs, buys) in cases {
        let bot = protected("");
        bot.share_account();
        bot.fake.set_position("AAPL", 10.0, 200.0);
        let (code, answer) = post_by_hand(&bot, theirs.clone());
        assert_eq!(code, 200, "{answer}");
        bot.fake.clear_requests();
        bot.next_minute(0, 235.0, &[250.0; 3]);
        let run = bot.tick();
        check!(run, run.code == 0);
        if buys {
            check!(run, run.stdout.contains("AAPL buy 1 -> new"));
            assert_eq!(bot.posted().len(), 1, "beside {theirs}");
        } else {
            check!(
                run,
                run.stdout
                    .contains("an opposite sell order for 10 shares is still open")
            );
            assert_eq!(bot.posts(), 0, "beside {theirs}");
        }
    }
}

/// A tick killed after its entry's last-minute fill leaves the position without its stop at
/// the close. The first closed-market tick puts it back (a `gtc` stop Alpaca queues as
/// `accepted`), so it rests before the next open's auction, where gaps happen; the later
/// closed ticks ask nothing.
#[test]
fn the_first_closed_market_tick_puts_a_missing_stop_back_before_the_next_open() {
    let bot = protected("stop_loss_pct = 2.5");
    bot.bot_holds("AAPL", 3.0, 200.0);
    let after_close = chrono::Utc
        .with_ymd_and_hms(2026, 11, 24, 21, 30, 0)
        .unwrap();
    bot.fake.set_clock(after_close, false);
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("market closed"));
    let sent = bot.posted();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (
            &sent[0]["type"],
            &sent[0]["stop_price"],
            &sent[0]["time_in_force"]
        ),
        (&"stop".into(), &"195.00".into(), &"gtc".into())
    );
    let stops = stops_at_the_fake(&bot);
    assert_eq!(stops[0]["status"], "accepted", "queued for the open");
    // The next closed tick finds it resting and sends nothing.
    bot.fake
        .set_clock(after_close + chrono::Duration::minutes(1), false);
    bot.fake.clear_requests();
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 0);
    // At the open the stop is `new` and left alone.
    let open = chrono::Utc
        .with_ymd_and_hms(2026, 11, 25, 14, 31, 0)
        .unwrap();
    bot.fake.set_clock(open, true);
    bot.next_minute(0, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 0);
    assert_eq!(stops_at_the_fake(&bot)[0]["status"], "new");
}

/// While the market is closed a price already through the stop is not closed at market (a
/// market order sent now would wait for the open, at a price nobody chose): the position is
/// named unprotected with the reason, and the first open-market tick closes it.
#[test]
fn a_stop_already_passed_while_closed_is_closed_at_the_open_not_queued() {
    let bot = protected("stop_loss_pct = 2");
    bot.fake.set_shorting(true);
    bot.bot_holds("AAPL", 1.0, 200.0);
    bot.set_price("AAPL", 190.0);
    let after_close = chrono::Utc
        .with_ymd_and_hms(2026, 11, 24, 21, 30, 0)
        .unwrap();
    bot.fake.set_clock(after_close, false);
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 0);
    let unprotected = bot.state()["ops"]["unprotected"]["AAPL"].to_string();
    assert!(unprotected.contains("market is closed"), "{unprotected}");
    let prom = std::fs::read_to_string(bot.path("logs/prometheus-bot.prom")).unwrap();
    assert!(
        prom.contains("prometheus_bot_position_unprotected{symbol=\"AAPL\"} 1\n"),
        "{prom}"
    );
    let open = chrono::Utc
        .with_ymd_and_hms(2026, 11, 25, 14, 31, 0)
        .unwrap();
    bot.fake.set_clock(open, true);
    bot.next_minute(0, 190.0, &[250.0; 3]);
    bot.set_price("AAPL", 190.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL closed by its stop")
    );
    let sent = bot.posted();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["type"], "market");
}

/// A drawdown halt stops the strategy's orders, not protection: the resting stop is never
/// canceled by a halted tick, and a stop that ends (the person canceled it) is put back by the
/// next halted tick under the entry's next id.
#[test]
fn a_drawdown_halt_neither_cancels_a_stop_nor_stops_one_being_put_back() {
    let bot = protected("stop_loss_pct = 2");
    bot.with_risk("max_daily_loss_pct = 0\nmax_drawdown_pct = 20");
    bot.bot_holds("AAPL", 1.0, 200.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && bot.posts() == 1,
        "the stop, equity peak 100,000"
    );
    // 30 % down against a 20 % limit: halted.
    bot.fake.set_account("70000", "70000", "70000");
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("HALTED"));
    check!(run, !bot.calls().iter().any(|c| c.starts_with("DELETE")));
    let stops = stops_at_the_fake(&bot);
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0]["status"], "new", "still resting");
    // The person cancels it; the halted tick puts it back.
    bot.fake
        .set_order_status(stops[0]["id"].as_str().unwrap(), "canceled");
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("HALTED"));
    let sent = bot.posted();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        (&sent[1]["type"], &sent[1]["client_order_id"]),
        (&"stop".into(), &"pb-AAPL-earlier-p2".into())
    );
}

/// A drawdown halt stops every order, reductions included (the README's guard table), and a
/// market close of a position past its stop is an order: with trading halted it is not sent,
/// and the position is named unprotected with the halt as the reason. (It was checked against
/// a hand-picked subset of the guards that left the halt out.)
#[test]
fn a_drawdown_halt_stops_the_market_close_of_a_position_past_its_stop() {
    let bot = protected("stop_loss_pct = 2");
    bot.with_risk("max_daily_loss_pct = 0\nmax_drawdown_pct = 20");
    bot.bot_holds("AAPL", 1.0, 200.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && bot.posts() == 1,
        "the stop, equity peak 100,000"
    );
    let stop = stops_at_the_fake(&bot)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    bot.fake.set_order_status(&stop, "canceled");
    // 30 % down against a 20 % limit, and the price through the 196.00 stop.
    bot.fake.set_account("70000", "70000", "70000");
    bot.next_minute(1, 190.0, &[250.0; 3]);
    bot.set_price("AAPL", 190.0);
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("HALTED"));
    assert_eq!(bot.posts(), 1, "no market close: {:?}", bot.posted());
    let why = bot.state()["ops"]["unprotected"]["AAPL"].to_string();
    assert!(why.contains("halted"), "{why}");
}

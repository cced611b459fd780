//! Broker truth: fills and equity ledgers, risk guards, reconcile.

use crate::check;
use crate::harness::{Bot, SYMBOLS};

#[test]
fn fills_are_recorded_once_with_the_brokers_exact_numbers() {
    let bot = Bot::with_symbols(&SYMBOLS.replacen("qty = 1", "qty = 3", 1));
    bot.set_price("AAPL", 231.37);
    let run = bot.tick();
    check!(run, run.stdout.contains("AAPL buy 3 -> new"));
    let id = bot.fake.orders()[0]["id"].as_str().unwrap().to_string();
    bot.fake.partially_fill(&id, 1.0, 231.37);

    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("1 new fill"));
    bot.fake.partially_fill(&id, 1.0, 231.41);
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.stdout.contains("1 new fill"));
    bot.fake.set_order_status(&id, "canceled");
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);

    let fills = bot.ledger("fills.csv");
    let broker = bot.fake.activities();
    assert_eq!(
        fills.len(),
        3,
        "two executions and the canceled rest, each once: {fills:#?}"
    );
    for (row, act) in fills.iter().zip(&broker) {
        assert_eq!(row["activity_id"], act["id"].as_str().unwrap());
        assert_eq!(
            row["price"],
            act["price"].as_str().unwrap(),
            "price exactly as Alpaca sent it"
        );
        assert_eq!(row["qty"], "1");
        assert_eq!(row["status"], "partial_fill");
        assert_eq!(row["client_order_id"], "pb-AAPL-1Min-20261124T1529-thr-buy");
    }
    assert_eq!(
        (fills[2]["status"].as_str(), fills[2]["qty"].as_str()),
        ("canceled", "1"),
        "the unfilled share"
    );
    assert!(
        bot.state()["tracked"].as_array().unwrap().is_empty(),
        "a final order is no longer tracked"
    );
}

#[test]
fn the_equity_ledger_gets_one_row_per_tick_in_the_brokers_own_digits() {
    let bot = Bot::new();
    bot.fake.set_account("-23140.2", "245432.61", "103820.56");
    let run = bot.tick();
    check!(run, run.code == 0);
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    let rows = bot.ledger("equity.csv");
    assert_eq!(rows.len(), 2);
    let account = bot.broker_json("/v2/account");
    assert_eq!(rows[0]["equity"], account["equity"].as_str().unwrap());
    assert_eq!(rows[0]["cash"], account["cash"].as_str().unwrap());
    assert_eq!(
        rows[0]["buying_power"],
        account["buying_power"].as_str().unwrap()
    );
    assert_eq!(
        (rows[0]["AAPL"].as_str(), rows[0]["TSLA"].as_str()),
        ("0", "0")
    );
    let header = std::fs::read_to_string(bot.path("data/ledger/equity.csv")).unwrap();
    assert!(header.starts_with("time_utc,equity,cash,long_market_value,buying_power,AAPL,TSLA\n"));
}

#[test]
fn the_kill_switch_stops_every_order_and_says_so() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    std::fs::create_dir_all(bot.path("data")).unwrap();
    std::fs::write(bot.path("data/STOP"), "").unwrap();
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 0);
    check!(run, run.stderr.contains("kill switch"));
    let d = &bot.ledger("decisions.csv")[0];
    assert_eq!(d["action"], "refused");
    assert!(
        d["reason"].contains("kill switch: the file STOP exists"),
        "{d:?}"
    );
}

#[test]
fn a_drawdown_halts_trading_until_a_person_rearms() {
    let bot = Bot::new();
    // Only the drawdown guard here: the same fall would also trip the daily loss limit.
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        format!("{config}\n[risk]\nmax_daily_loss_pct = 0\n"),
    )
    .unwrap();
    let run = bot.tick();
    check!(run, run.code == 0, "peak equity 100000 recorded");
    bot.fake.set_account("70000", "70000", "70000");
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0 && bot.posts() == 0);
    check!(
        run,
        run.stdout.contains("HALTED") && run.stderr.contains("trading halted: drawdown 30.00%")
    );
    // Recovery alone does not resume trading.
    bot.fake.set_account("100000", "200000", "100000");
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        bot.posts() == 0 && run.stdout.contains("trading is halted")
    );
    let run = bot.run(&["rearm"]);
    check!(run, run.code == 0 && run.stdout.contains("re-armed"));
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.stdout.contains("AAPL buy 1 -> new"));
    let run = bot.run(&["rearm"]);
    check!(run, run.stdout.contains("not halted"));
}

#[test]
fn a_daily_loss_stops_new_positions_but_not_exits() {
    let bot = Bot::new();
    bot.share_account();
    // Alpaca's last_equity (yesterday's close) is 100011.10 on the fake: 94000 is a 6% loss.
    bot.fake.set_account("94000", "94000", "94000");
    bot.set_price("AAPL", 231.0);
    bot.bot_holds("TSLA", 2.0, 250.0);
    bot.set_closes("TSLA", &[1.0, 2.0, 3.0, 3.0, 0.0]);
    let run = bot.tick();
    check!(run, run.code == 0);
    check!(
        run,
        run.stdout
            .contains("AAPL buy refused (daily loss limit reached")
    );
    check!(
        run,
        run.stdout.contains("TSLA sell 2 -> new"),
        "closing a position is always allowed"
    );
}

#[test]
fn size_and_staleness_limits_refuse_with_a_reason() {
    let bot = Bot::new();
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        format!("{config}\n[risk]\nmax_order_notional = 100\nmax_price_age_secs = 30\n"),
    )
    .unwrap();
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(
        run,
        run.stdout
            .contains("AAPL buy refused (order value 231.00 is over max_order_notional 100)")
    );

    let bot = Bot::new();
    bot.fake.set_latest_trade(
        "AAPL",
        231.0,
        crate::harness::open_now() - chrono::Duration::minutes(10),
    );
    let run = bot.tick();
    check!(
        run,
        run.stdout
            .contains("AAPL buy refused (stale price: the latest trade is 600 s old")
    );

    let bot = Bot::new();
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        format!("{config}\n[risk]\nmax_orders_per_day = 1\n"),
    )
    .unwrap();
    bot.set_price("AAPL", 231.0);
    bot.set_closes("TSLA", &[5.0, 4.0, 3.0, 3.0, 6.0]);
    let run = bot.tick();
    check!(
        run,
        run.stdout.contains("AAPL buy 1 -> new")
            && run
                .stdout
                .contains("TSLA buy refused (max_orders_per_day (1) reached)")
    );
    assert_eq!(bot.posts(), 1);
}

#[test]
fn a_position_the_ledger_does_not_explain_stops_that_symbol_until_reconciled() {
    let bot = Bot::new();
    bot.fake.set_position("AAPL", 5.0, 200.0);
    bot.set_price("AAPL", 219.0);
    bot.set_closes("TSLA", &[5.0, 4.0, 3.0, 3.0, 6.0]);
    let run = bot.tick();
    check!(
        run,
        run.stdout.contains(
            "AAPL sell refused (the broker holds 5 AAPL but the bot's fills ledger says 0"
        )
    );
    check!(
        run,
        run.stdout.contains("TSLA buy 2 -> new"),
        "other symbols still trade"
    );
}

#[test]
fn reconcile_finds_and_repairs_what_the_ledgers_miss() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(run, run.code == 0);
    bot.fake.fill_open_orders(231.25);
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.stdout.contains("1 new fill"));
    let run = bot.run(&["reconcile"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("ledgers agree with the broker")
    );

    // Lose the fill row (as if the file were restored from an old backup).
    let path = bot.path("data/ledger/fills.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.lines().next().unwrap().to_string() + "\n").unwrap();
    // And an order placed with a bot client id that never made it into the ledger.
    bot.place_manual_order("TSLA", "buy", "1", "market");
    let run = bot.run(&["reconcile"]);
    check!(
        run,
        run.code == 1 && run.stderr.contains("run with --repair")
    );
    check!(
        run,
        run.stdout.contains("fill missing") && run.stdout.contains("position differs")
    );
    let run = bot.run(&["reconcile", "--repair"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("appended 0 order(s) and 1 fill(s)")
    );
    let fills = bot.ledger("fills.csv");
    assert_eq!(fills[0]["source"], "reconcile");
    assert_eq!(fills[0]["price"], "231.25");
    let run = bot.run(&["reconcile"]);
    check!(run, run.code == 0, "repaired ledgers agree");
    let run = bot.run(&["reconcile", "--since", "yesterday"]);
    check!(run, run.code == 2);
}

#[test]
fn reconcile_pages_through_more_fills_than_one_page() {
    let bot = Bot::new();
    // 120 manual executions on AAPL (Alpaca pages activities by 100).
    for _ in 0..120 {
        bot.place_manual_order("AAPL", "buy", "1", "market");
    }
    bot.fake.fill_open_orders(200.0);
    assert_eq!(bot.fake.activities().len(), 120);
    let run = bot.run(&["reconcile", "--since", "2026-11-01"]);
    check!(
        run,
        run.code == 1 && run.stdout.matches("fill missing").count() == 120
    );
    let run = bot.run(&["reconcile", "--since", "2026-11-01", "--repair"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("appended 0 order(s) and 120 fill(s)")
    );
    let run = bot.run(&["reconcile", "--since", "2026-11-01"]);
    check!(
        run,
        run.code == 0,
        "the ledger now explains the 120-share position"
    );
    let requests = bot.fake.requests();
    let pages: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/v2/account/activities"))
        .collect();
    assert!(
        pages.iter().any(|r| r.q("page_token").is_some()),
        "followed the page token"
    );
}

#[test]
fn a_daily_loss_with_flatten_closes_positions_once() {
    let bot = Bot::new();
    bot.share_account();
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        config.replace(
            "shared_account = true",
            "shared_account = true\nflatten_on_daily_loss = true",
        ),
    )
    .unwrap();
    bot.fake.set_account("94000", "94000", "94000");
    bot.bot_holds("TSLA", 2.0, 250.0);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("TSLA flatten sell 2 -> new")
    );
    assert_eq!(
        bot.fake.orders()[0]["client_order_id"],
        "pb-TSLA-1Min-20261124T0000-flat-sell"
    );
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && !run.stdout.contains("flatten"),
        "the order is working: not sent again"
    );
    assert_eq!(bot.fake.orders().len(), 1);
}

/// AAPL on the threshold rule, 10 shares a trade; TSLA as usual.
fn ten_share_bot() -> Bot {
    Bot::with_symbols(&SYMBOLS.replacen("qty = 1", "qty = 10", 1))
}

/// The bot buys 10 AAPL at 231 and records the fill on its next tick.
fn hold_ten_aapl(bot: &Bot) {
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(run, run.stdout.contains("AAPL buy 10 -> new"));
    bot.fake.fill_open_orders(231.0);
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("1 new fill"));
}

/// The AAPL orders at the fake broker, as (side, qty).
fn aapl_orders(bot: &Bot) -> Vec<(String, String)> {
    bot.fake
        .orders()
        .iter()
        .filter(|o| o["symbol"] == "AAPL")
        .map(|o| {
            (
                o["side"].as_str().unwrap().to_string(),
                o["qty"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_split_recorded_by_reconcile_lets_the_symbol_trade_again() {
    let bot = ten_share_bot();
    hold_ten_aapl(&bot);
    // 2-for-1 before the next open: 10 shares become 20, with one SPLIT activity adding 10.
    assert_eq!(bot.fake.split("AAPL", 2, 1), 20.0);
    let split = bot.fake.non_trade_activities();
    assert_eq!((split.len(), split[0]["qty"].as_str()), (1, Some("10")));

    bot.next_minute(1, 109.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.stdout.contains(
            "AAPL sell refused (the broker holds 20 AAPL but the bot's fills ledger says 10"
        ),
        "before the split is recorded, the ledger disagrees with the broker"
    );
    assert_eq!(aapl_orders(&bot).len(), 1, "no sell sent");

    let run = bot.run(&["reconcile", "--since", "2026-11-01"]);
    check!(
        run,
        run.code == 1
            && run.stdout.contains("split missing")
            && run.stdout.contains(split[0]["id"].as_str().unwrap())
            && run.stdout.contains("position differs")
            && run.stderr.contains("run with --repair")
    );
    let run = bot.run(&["reconcile", "--since", "2026-11-01", "--repair"]);
    check!(
        run,
        run.code == 0
            && run
                .stdout
                .contains("1 split(s) and 0 confirmed adjustment(s)")
    );
    let fills = bot.ledger("fills.csv");
    let row = fills.last().unwrap();
    assert_eq!(
        (
            row["symbol"].as_str(),
            row["side"].as_str(),
            row["qty"].as_str(),
            row["price"].as_str(),
            row["status"].as_str(),
            row["order_id"].as_str()
        ),
        ("AAPL", "adjust", "10", "", "split", ""),
        "an adjustment, not a trade at some price: {row:?}"
    );
    assert_eq!(row["activity_id"], split[0]["id"].as_str().unwrap());
    assert_eq!(row["time_utc"], "2026-11-24 05:00:00", "New York midnight");
    let run = bot.run(&["reconcile", "--since", "2026-11-01"]);
    check!(run, run.code == 0 && run.stdout.contains("ledgers agree"));
    let run = bot.run(&["reconcile", "--since", "2026-11-01", "--repair"]);
    check!(
        run,
        run.code == 0 && bot.ledger("fills.csv").len() == fills.len(),
        "recorded once"
    );

    // The next tick trades AAPL again: an exit of the whole (split) position.
    bot.next_minute(1, 109.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL sell 20 -> new")
    );
    assert_eq!(
        aapl_orders(&bot),
        vec![("buy".into(), "10".into()), ("sell".into(), "20".into())]
    );
    bot.fake.fill_open_orders(109.0);
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    // Broker flat; fills.csv: +10 bought, +10 split, -20 sold.
    bot.assert_settled();
}

#[test]
fn a_reverse_split_is_two_activities_and_nets_out() {
    let bot = ten_share_bot();
    hold_ten_aapl(&bot);
    // 1-for-2: every old share removed (-10), the new ones added (+5).
    assert_eq!(bot.fake.split("AAPL", 1, 2), 5.0);
    let run = bot.run(&["reconcile", "--since", "2026-11-01", "--repair"]);
    check!(run, run.code == 0 && run.stdout.contains("2 split(s)"));
    let qty: Vec<String> = bot
        .ledger("fills.csv")
        .iter()
        .filter(|r| r["side"] == "adjust")
        .map(|r| r["qty"].clone())
        .collect();
    assert_eq!(qty, ["-10", "5"]);
    bot.next_minute(1, 219.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL sell 5 -> new")
    );
}

#[test]
fn a_change_no_activity_explains_is_recorded_only_when_confirmed() {
    let bot = ten_share_bot();
    hold_ten_aapl(&bot);
    // 10 more shares appear with no fill and no activity (a transfer in, say).
    bot.fake.set_position("AAPL", 20.0, 115.5);
    let run = bot.run(&["reconcile", "--since", "2026-11-01"]);
    check!(
        run,
        run.code == 1 && run.stdout.contains("--repair --adjust AAPL=20"),
        "the hint names the command"
    );
    let run = bot.run(&["reconcile", "--since", "2026-11-01", "--repair"]);
    check!(run, run.code == 1, "nothing is guessed");
    let before = bot.ledger("fills.csv").len();
    let run = bot.run(&["reconcile", "--since", "2026-11-01", "--adjust", "AAPL=20"]);
    check!(run, run.code == 2 && run.stderr.contains("--repair"));
    let run = bot.run(&[
        "reconcile",
        "--since",
        "2026-11-01",
        "--repair",
        "--adjust",
        "AAPL=25",
    ]);
    check!(
        run,
        run.code == 1 && run.stderr.contains("holds 20 AAPL"),
        "a total the broker does not hold is refused"
    );
    assert_eq!(bot.ledger("fills.csv").len(), before, "nothing written");

    let run = bot.run(&[
        "reconcile",
        "--since",
        "2026-11-01",
        "--repair",
        "--adjust",
        "AAPL=20",
    ]);
    check!(run, run.code == 0);
    let fills = bot.ledger("fills.csv");
    let row = fills.last().unwrap();
    assert_eq!(
        (
            row["side"].as_str(),
            row["qty"].as_str(),
            row["price"].as_str(),
            row["status"].as_str()
        ),
        ("adjust", "10", "", "confirmed")
    );
    bot.next_minute(1, 219.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("AAPL sell 20 -> new")
    );
}

/// TSLA alone, on an SMA cross that may go short.
const SHORTING_TSLA: &str = r#"
[[symbol]]
name = "TSLA"
qty = 2
strategy = { kind = "sma_cross", fast = 2, slow = 3, allow_short = true }
"#;

/// Alpaca reports a sale that opens a short as `side = "sell_short"`; the ledger used to
/// count it as a buy (net +2 against the broker's -2) and refused every later order on TSLA.
#[test]
fn sell_short_fills_count_as_sells() {
    let bot = Bot::with_symbols(SHORTING_TSLA);
    bot.set_closes("TSLA", &[250.0, 250.0, 260.0, 230.0]);
    bot.set_price("TSLA", 230.0);
    let run = bot.tick();
    check!(run, run.stdout.contains("TSLA sell 2 -> new"));
    bot.fake.fill_open_orders(230.0);
    assert_eq!(bot.fake.activities()[0]["side"], "sell_short");

    // Same bars where they overlap, then a close of 300: a cross above, a buy to cover.
    bot.next_minute(1, 225.0, &[250.0, 250.0, 260.0, 230.0, 300.0]);
    let run = bot.tick();
    check!(run, run.code == 0);
    let decisions = bot.ledger("decisions.csv");
    let last = decisions.last().unwrap();
    assert_eq!(last["position"], "-2", "the bot's net TSLA: {last:?}");
    assert!(
        !last["reason"].contains("fills ledger says"),
        "no ledger disagreement: {last:?}"
    );
    check!(run, run.stdout.contains("TSLA buy"), "the short is covered");
    assert_eq!(bot.posts(), 2);
    assert_eq!(bot.fake.orders()[1]["side"], "buy");
}

/// A paper-account reset forgets every order. The tracked order answered 404 by id and every
/// tick exited 1 forever; now it is checked by client id, dropped, and the person told.
#[test]
fn an_order_forgotten_by_a_paper_reset_is_dropped_with_an_alert() {
    let hook = crate::harness::Receiver::start();
    let bot = Bot::new();
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    let alerts = format!("{config}\n[alerts]\nwebhook_url = \"{}\"\n", hook.url);
    std::fs::write(bot.config_path(), alerts).unwrap();
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(run, run.stdout.contains("AAPL buy 1 -> new"));
    let id = bot.fake.orders()[0]["id"].as_str().unwrap().to_string();
    assert_eq!(bot.state()["tracked"].as_array().unwrap().len(), 1);

    bot.fake.reset_paper_account();
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    check!(
        run,
        bot.calls()
            .iter()
            .any(|c| c.starts_with("GET /v2/orders:by_client_order_id")),
        "checked by client id before dropping"
    );
    assert!(
        bot.state()["tracked"].as_array().unwrap().is_empty(),
        "no longer tracked"
    );
    check!(
        run,
        run.stderr.contains(&id) && run.stderr.contains("reset")
    );
    let texts = hook.texts();
    assert!(
        texts
            .iter()
            .any(|t| t.contains(&id) && t.contains("unknown to the broker")),
        "{texts:#?}"
    );

    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0, "and the ticks after it run");
}

/// Every status Alpaca documents besides filled, canceled, expired, rejected and replaced is
/// still working (alpaca-api.md §2.12), and so is one it does not document: the order keeps
/// its symbol blocked, and the next bar's same buy signal sends no second order.
#[test]
fn orders_in_working_statuses_block_a_second_buy() {
    for status in [
        "done_for_day",
        "calculated",
        "held",
        "accepted_for_bidding",
        "pending_new",
        "stopped",
        "suspended",
        "pending_settlement",
    ] {
        // A shared account reads `status=open` listings; an own account, every order since.
        for shared in [false, true] {
            let bot = Bot::new();
            if shared {
                bot.share_account();
            }
            bot.set_price("AAPL", 231.0);
            let run = bot.tick();
            check!(run, run.stdout.contains("AAPL buy 1 -> new"), "{status}");
            let id = bot.fake.orders()[0]["id"].as_str().unwrap().to_string();
            bot.fake.set_order_status(&id, status);
            let open = bot.broker_json("/v2/orders?status=open");
            assert_eq!(
                open[0]["id"],
                id.as_str(),
                "the fake lists {status} as open"
            );

            bot.next_minute(1, 231.0, &[250.0; 3]);
            let run = bot.tick();
            check!(run, run.code == 0, "{status}, shared {shared}");
            check!(
                run,
                bot.posts() == 1,
                "{status}, shared {shared}: no second buy"
            );
            assert_eq!(
                bot.state()["tracked"].as_array().unwrap().len(),
                1,
                "{status}: still tracked"
            );
        }
    }
}

#[test]
fn the_tick_trusts_its_fills_summary_and_reconcile_checks_it() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(run, run.code == 0);
    bot.fake.fill_open_orders(231.25);
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.stdout.contains("1 new fill"));
    let state = bot.state();
    assert_eq!(state["fills"]["net_qty"]["AAPL"], "1", "{state}");
    let len = state["fills"]["len"].as_u64().unwrap();
    assert_eq!(
        len,
        std::fs::metadata(bot.path("data/ledger/fills.csv"))
            .unwrap()
            .len(),
        "summed to the end of the file"
    );

    // A summary that disagrees with the ledger (as if fills.csv were edited before its
    // offset): the tick believes it and does not read the file again...
    let path = bot.path("data/state.json");
    let mut json = state.clone();
    json["fills"]["net_qty"]["AAPL"] = "7".into();
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    bot.next_minute(1, 219.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.stdout
            .contains("the broker holds 1 AAPL but the bot's fills ledger says 7")
    );
    // ...and reconcile, which reads the ledger whole, finds it and drops it with --repair.
    let run = bot.run(&["reconcile"]);
    check!(
        run,
        run.code == 1 && run.stdout.contains("fills summary") && run.stderr.contains("--repair")
    );
    let run = bot.run(&["reconcile", "--repair"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("dropped the state's summary")
    );
    assert!(bot.state().get("fills").is_none());
    let run = bot.run(&["reconcile"]);
    check!(run, run.code == 0 && run.stdout.contains("ledgers agree"));
    bot.next_minute(1, 219.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("AAPL sell 1"));
    assert_eq!(bot.state()["fills"]["net_qty"]["AAPL"], "1");
}

//! Adversarial review of the order path's changes of 2026-12-04 (issue 10's "no wrong order,
//! ever", issue 14's protection): each test is an attack on one rule, named after what would
//! break.

use crate::check;
use crate::harness::Bot;
use chrono::TimeZone;

/// AAPL on the threshold rule (buy above 230, sell below 220) with `extra` protective keys.
fn protected(extra: &str) -> Bot {
    Bot::with_symbols(&format!(
        "[[symbol]]\nname = \"AAPL\"\nqty = 1\n{extra}\n\
         strategy = {{ kind = \"threshold\", buy_above = 230.0, sell_below = 220.0 }}\n"
    ))
}

fn market_orders(bot: &Bot) -> Vec<serde_json::Value> {
    bot.posted()
        .into_iter()
        .filter(|o| o["type"] == "market")
        .collect()
}

/// A stale `is_open` after the bell (16:00:05 New York, "open", next close tomorrow) keeps the
/// strategy's orders back (`close_unknown`), but the protection step's market close of a
/// position already through its stop measured 24 hours to the close and went out: a market
/// sell queued for the next open, at a price nobody chose. It must wait, like any order.
#[test]
fn a_stale_open_clock_after_the_bell_sends_no_market_close_for_a_passed_stop() {
    let bot = protected("stop_loss_pct = 2");
    bot.bot_holds("AAPL", 1.0, 200.0);
    let after_bell = chrono::Utc
        .with_ymd_and_hms(2026, 11, 24, 21, 0, 5)
        .unwrap();
    bot.fake.set_clock(after_bell, true);
    bot.set_price("AAPL", 190.0);
    bot.set_closes("AAPL", &[190.0; 3]);
    bot.set_closes("TSLA", &[250.0; 5]);
    let run = bot.tick();
    check!(run, run.code == 0);
    let markets = market_orders(&bot);
    assert!(
        markets.is_empty(),
        "no market order after the bell: {markets:?}"
    );
    let unprotected = bot.state()["ops"]["unprotected"]["AAPL"].to_string();
    assert!(
        unprotected.contains("not closed at market") && unprotected.contains("next_close"),
        "{unprotected}"
    );
}

//! The bot's files under stress: caches of another adjustment or out of order, a lost or
//! damaged state, leftovers of a killed tick, two configs on one data folder.

use crate::check;
use crate::harness::Bot;

fn append_config(bot: &Bot, extra: &str) {
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(bot.config_path(), format!("{config}\n{extra}\n")).unwrap();
}

/// Bars requests the tick made, as (symbols, adjustment).
fn bars_requests(bot: &Bot) -> Vec<(String, String)> {
    bot.fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v2/stocks/bars")
        .map(|r| {
            (
                r.query.get("symbols").cloned().unwrap_or_default(),
                r.query.get("adjustment").cloned().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn each_cache_is_topped_up_with_its_own_adjustment() {
    let bot = Bot::new();
    // TSLA's cache holds split-adjusted bars (say, from `fetch --adjustment split`); AAPL's
    // is raw. TSLA is the last symbol: its adjustment used to be asked for both.
    std::fs::create_dir_all(bot.path("data/bars")).unwrap();
    std::fs::write(
        bot.path("data/bars/TSLA-1Min.csv.meta.json"),
        r#"{"adjustment":"split"}"#,
    )
    .unwrap();
    std::fs::write(
        bot.path("data/bars/TSLA-1Min.csv"),
        "time_utc,open,high,low,close,volume,trades,vwap\n",
    )
    .unwrap();
    let run = bot.tick();
    check!(run, run.code == 0);
    let mut asked = bars_requests(&bot);
    asked.sort();
    assert_eq!(
        asked,
        [
            ("AAPL".to_string(), "raw".to_string()),
            ("TSLA".to_string(), "split".to_string())
        ],
        "one request per adjustment{run}"
    );
    let meta = std::fs::read_to_string(bot.path("data/bars/TSLA-1Min.csv.meta.json")).unwrap();
    assert!(meta.contains("split"), "{meta}");
    assert!(!bot.path("data/bars/AAPL-1Min.csv.meta.json").exists());
}

/// A bot whose drawdown guard has just halted trading (equity 100,000 then 70,000: 30% down
/// against a 20% limit), with AAPL at 231, above its buy level: an unhalted tick buys.
fn halted_bot() -> Bot {
    let bot = Bot::new();
    append_config(&bot, "[risk]\nmax_daily_loss_pct = 0\nmax_drawdown_pct = 20");
    let run = bot.tick();
    check!(run, run.code == 0, "peak equity 100000 recorded");
    bot.fake.set_account("70000", "70000", "70000");
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0 && run.stdout.contains("HALTED") && bot.posts() == 0);
    bot
}

#[test]
fn a_drawdown_halt_survives_moving_the_state_aside() {
    let bot = halted_bot();
    std::fs::rename(bot.path("data/state.json"), bot.path("data/state.json.aside")).unwrap();
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        bot.posts() == 0 && run.stdout.contains("trading is halted"),
        "a lost state must not resume trading"
    );
    let run = bot.run(&["rearm"]);
    check!(run, run.code == 0 && run.stdout.contains("re-armed"));
    assert!(!bot.path("data/halt.json").exists());
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.stdout.contains("AAPL buy 1 -> new"));
}

#[test]
fn a_drawdown_halt_survives_a_garbage_state_moved_aside() {
    let bot = halted_bot();
    std::fs::write(bot.path("data/state.json"), "\0\0garbage{").unwrap();
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 1 && run.stderr.contains("state.json") && bot.posts() == 0);
    // As the error says: move the file aside.
    std::fs::rename(bot.path("data/state.json"), bot.path("data/state.json.bad")).unwrap();
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        bot.posts() == 0 && run.stdout.contains("trading is halted"),
        "a lost state must not resume trading"
    );
}

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

//! A tick every minute of every day (the schedulers no longer filter weekdays in the machine's
//! time zone): a closed market costs no request until the open the broker gave.

use crate::check;
use crate::harness::Bot;
use chrono::{DateTime, Duration, Timelike, Utc};

fn closed_until(bot: &Bot) -> Option<DateTime<Utc>> {
    bot.state()["closed_until_recorded"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The early exit compares the machine's clock with the broker's `next_open`, so the fake
/// broker's clock is the real time here, with the market closed and its next open a day away
/// (set, not the calendar's, so the test never depends on how near a real New York open is).
#[test]
fn a_closed_market_tick_sends_no_request_until_the_next_open() {
    let bot = Bot::new();
    bot.fake.set_clock(Utc::now(), false);
    // However near the real next open is, this one is a day away.
    let next_open = (Utc::now() + Duration::days(1)).with_nanosecond(0).unwrap();
    bot.fake.set_next_open(Some(next_open));
    let first = bot.tick();
    check!(
        first,
        first.code == 0 && first.stdout.contains("market closed")
    );
    assert!(
        !bot.calls().is_empty(),
        "the first closed tick asks the broker"
    );
    assert_eq!(
        closed_until(&bot),
        Some(next_open),
        "the closed session recorded: {}",
        bot.state()
    );
    let decisions = bot.ledger("decisions").len();
    bot.fake.clear_requests();
    let second = bot.tick();
    check!(
        second,
        second.code == 0 && second.stdout.contains("market closed")
    );
    assert_eq!(bot.calls(), Vec::<String>::new(), "no request{second}");
    assert_eq!(
        bot.ledger("decisions").len(),
        decisions,
        "nothing recorded twice"
    );
    let state = bot.state();
    assert_eq!(state["ops"]["ticks"]["closed"], 2, "{state}");
    assert_eq!(closed_until(&bot), Some(next_open));
    // The early exit does not skip the data folder's owner check: a second config pointed at
    // this folder is still refused, not counted as a closed tick of the first.
    let other = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    let data = bot.path("data");
    let second = other.path().join("config.toml");
    std::fs::write(
        &second,
        config.replace(
            "[bot]\n",
            &format!("[bot]\ndata_dir = \"{}\"\n", data.display()),
        ),
    )
    .unwrap();
    let run = bot.run_as(
        &second,
        &["tick"],
        &[
            ("ALPACA_KEY", crate::fake_alpaca::KEY_ID),
            ("ALPACA_SECRET", crate::fake_alpaca::SECRET),
        ],
        None,
    );
    check!(
        run,
        run.code == 2 && run.stderr.contains("belongs to another config")
    );
    assert_eq!(bot.state()["ops"]["ticks"]["closed"], 2);
}

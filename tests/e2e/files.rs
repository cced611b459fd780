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
    append_config(
        &bot,
        "[risk]\nmax_daily_loss_pct = 0\nmax_drawdown_pct = 20",
    );
    let run = bot.tick();
    check!(run, run.code == 0, "peak equity 100000 recorded");
    bot.fake.set_account("70000", "70000", "70000");
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stdout.contains("HALTED") && bot.posts() == 0
    );
    bot
}

#[test]
fn a_drawdown_halt_survives_moving_the_state_aside() {
    let bot = halted_bot();
    std::fs::rename(
        bot.path("data/state.json"),
        bot.path("data/state.json.aside"),
    )
    .unwrap();
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
    check!(
        run,
        run.code == 1 && run.stderr.contains("state.json") && bot.posts() == 0
    );
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

fn prom(bot: &Bot) -> String {
    std::fs::read_to_string(bot.path("logs/prometheus-bot.prom")).unwrap_or_default()
}

#[test]
fn a_garbage_state_alerts_once_and_is_never_overwritten() {
    let hook = crate::harness::Receiver::start();
    let bot = Bot::new();
    append_config(&bot, &format!("[alerts]\nwebhook_url = \"{}\"", hook.url));
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && prom(&bot).contains("last_tick_success 1\n")
    );
    let garbage = "{\"version\": 1, \"intents\": [ {\"client_order_id\": \"pb-";
    std::fs::write(bot.path("data/state.json"), garbage).unwrap();
    for _ in 0..2 {
        bot.next_minute(1, 225.0, &[250.0; 3]);
        let run = bot.tick();
        check!(run, run.code == 1 && run.stderr.contains("state.json"));
        check!(
            run,
            prom(&bot).contains("prometheus_bot_last_tick_success 0\n"),
            "the metrics file says the tick failed:\n{}",
            prom(&bot)
        );
    }
    assert_eq!(
        std::fs::read_to_string(bot.path("data/state.json")).unwrap(),
        garbage,
        "the damaged state is left for a person to inspect"
    );
    let texts = hook.texts();
    assert_eq!(texts.len(), 1, "one alert for two failed ticks: {texts:#?}");
    assert!(
        texts[0].contains("tick failed") && texts[0].contains("state.json line 1"),
        "{texts:#?}"
    );
    // Moved aside: the bot recovers, and a later damage alerts again.
    std::fs::rename(bot.path("data/state.json"), bot.path("data/state.json.bad")).unwrap();
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    assert!(!bot.path("data/ops-fallback.json").exists());
    std::fs::write(bot.path("data/state.json"), garbage).unwrap();
    let run = bot.tick();
    check!(run, run.code == 1);
    assert_eq!(hook.texts().len(), 2, "{:#?}", hook.texts());
}

#[test]
fn a_ledger_with_a_wrong_header_alerts_and_fails_the_metrics() {
    let hook = crate::harness::Receiver::start();
    let bot = Bot::new();
    append_config(&bot, &format!("[alerts]\nwebhook_url = \"{}\"", hook.url));
    let run = bot.tick();
    check!(run, run.code == 0);
    std::fs::write(bot.path("data/ledger/orders.csv"), "date,what\n").unwrap();
    bot.next_minute(1, 231.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 1 && run.stderr.contains("orders.csv line 1")
    );
    assert_eq!(bot.posts(), 0);
    check!(
        run,
        prom(&bot).contains("prometheus_bot_last_tick_success 0\n")
    );
    let texts = hook.texts();
    assert_eq!(texts.len(), 1, "{texts:#?}");
    assert!(texts[0].contains("orders.csv line 1: header is `date,what`"));
    assert!(bot.state()["last_tick"]["result"]
        .as_str()
        .unwrap()
        .starts_with("failed: "));
}

#[test]
fn leftover_state_temp_files_of_a_killed_tick_are_removed() {
    let bot = Bot::new();
    let run = bot.tick();
    check!(run, run.code == 0);
    // What a tick killed between writing and renaming its state leaves behind.
    for name in ["state.json.tmp31337", "halt.json.tmp4"] {
        std::fs::write(bot.path(&format!("data/{name}")), "{\"version\": 1,").unwrap();
    }
    std::fs::write(bot.path("data/state.json.tmp-notes"), "mine").unwrap();
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    assert!(!bot.path("data/state.json.tmp31337").exists());
    assert!(!bot.path("data/halt.json.tmp4").exists());
    assert!(
        bot.path("data/state.json.tmp-notes").exists(),
        "only the bot's own temp files are removed"
    );
}

/// Run the binary with another config file.
fn run_with(bot: &Bot, config: &std::path::Path, args: &[&str]) -> crate::harness::Run {
    let keys = [
        ("ALPACA_KEY", crate::fake_alpaca::KEY_ID),
        ("ALPACA_SECRET", crate::fake_alpaca::SECRET),
    ];
    bot.run_as(config, args, &keys, None)
}

#[test]
fn a_second_config_on_the_same_data_folder_is_refused() {
    let bot = Bot::new();
    let run = bot.tick();
    check!(run, run.code == 0);
    // Another bot, one symbol, its config beside the first: same default data folder.
    let other = bot.path("other.toml");
    let text = std::fs::read_to_string(bot.config_path()).unwrap();
    let cut = text.find("[[symbol]]").unwrap();
    std::fs::write(
        &other,
        format!(
            "{}[[symbol]]\nname = \"MSFT\"\nqty = 1\nstrategy = {{ kind = \"threshold\", buy_above = 1.0, sell_below = 0.5 }}\n",
            &text[..cut]
        ),
    )
    .unwrap();
    bot.set_price("MSFT", 400.0);
    let equity_before = bot.ledger("equity.csv").len();
    let run = run_with(&bot, &other, &["tick"]);
    check!(run, run.code == 2);
    check!(
        run,
        run.stderr.contains("other.toml")
            && run.stderr.contains("config.toml")
            && run.stderr.contains("data"),
        "names both configs and the folder"
    );
    assert_eq!(bot.posts(), 0);
    assert_eq!(bot.ledger("equity.csv").len(), equity_before);
    let asides = crate::harness::files_under(&bot.path("data/ledger"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("equity.") && !p.ends_with("equity.csv"))
        .count();
    assert_eq!(
        asides, 0,
        "the first bot's equity ledger was not moved aside"
    );
    let run = bot.tick();
    check!(run, run.code == 0, "the owner still trades");
}

#[test]
fn equity_ledgers_moved_aside_never_overwrite_each_other() {
    let bot = Bot::new();
    let run = bot.tick();
    check!(run, run.code == 0);
    // Files already holding every name a rotation in the next seconds could take.
    let now = chrono::Utc::now();
    let taken: Vec<std::path::PathBuf> = (-2..30)
        .map(|s| {
            let stamp = (now + chrono::Duration::seconds(s)).format("%Y%m%dT%H%M%S");
            bot.path(&format!("data/ledger/equity.{stamp}.csv"))
        })
        .collect();
    for p in &taken {
        std::fs::write(p, "earlier rows\n").unwrap();
    }
    // The symbols change: the equity ledger gets new columns and the old one goes aside.
    let text = std::fs::read_to_string(bot.config_path()).unwrap();
    let cut = text.rfind("[[symbol]]").unwrap();
    std::fs::write(bot.config_path(), &text[..cut]).unwrap();
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    for p in &taken {
        assert_eq!(
            std::fs::read_to_string(p).unwrap(),
            "earlier rows\n",
            "{} overwritten",
            p.display()
        );
    }
    let moved: Vec<_> = crate::harness::files_under(&bot.path("data/ledger"))
        .into_iter()
        .filter(|p| {
            p.to_string_lossy().contains("equity.")
                && !p.ends_with("equity.csv")
                && !taken.contains(p)
        })
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    let rows = std::fs::read_to_string(&moved[0]).unwrap();
    assert!(
        rows.starts_with("time_utc,equity,cash,long_market_value,buying_power,AAPL,TSLA\n"),
        "{rows}"
    );
    assert_eq!(rows.lines().count(), 2, "{rows}");
}

#[test]
fn a_minute_import_waits_for_a_running_tick_but_a_daily_one_does_not() {
    use fs2::FileExt;
    let bot = Bot::new();
    let fixture = |name: &str| {
        format!(
            "{}/tests/fixtures/import/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    };
    std::fs::create_dir_all(bot.path("data")).unwrap();
    let lock = std::fs::File::create(bot.path("data/prometheus-bot.lock")).unwrap();
    lock.lock_exclusive().unwrap();
    let minutes = fixture("generic-minutes.csv");
    let run = bot.run(&[
        "import",
        &minutes,
        "--symbol",
        "AAPL",
        "--timeframe",
        "1Min",
    ]);
    check!(run, run.code == 3, "the tick's own file waits for the lock");
    assert!(!bot.path("data/bars/AAPL-1Min.csv").exists());
    let run = bot.run(&["import", &fixture("yahoo-AAPL.csv"), "--symbol", "AAPL"]);
    check!(run, run.code == 0, "a daily file is not the tick's");
    drop(lock);
    let run = bot.run(&[
        "import",
        &minutes,
        "--symbol",
        "AAPL",
        "--timeframe",
        "1Min",
    ]);
    check!(run, run.code == 0);
}

#[test]
fn a_cache_with_a_duplicate_row_names_its_line_and_the_repair_command() {
    let bot = Bot::new();
    // 25 minute bars, 15:00 to 15:24, the 15:20 row written twice (lines 22 and 23).
    let mut text = String::from("time_utc,open,high,low,close,volume,trades,vwap\n");
    for m in 0..25 {
        text.push_str(&format!(
            "2026-11-24 15:{m:02}:00,225,225.5,224.5,225,100,5,225\n"
        ));
        if m == 20 {
            text.push_str("2026-11-24 15:20:00,225,226.5,224.5,226,100,5,225\n");
        }
    }
    std::fs::create_dir_all(bot.path("data/bars")).unwrap();
    std::fs::write(bot.path("data/bars/AAPL-1Min.csv"), &text).unwrap();
    let run = bot.tick();
    check!(
        run,
        run.code == 1
            && run.stderr.contains("AAPL-1Min.csv line 23")
            && run.stderr.contains("prometheus-bot data repair"),
        "names the file, the line and the command that repairs it"
    );
    assert_eq!(bot.posts(), 0);
    let run = bot.run(&["data", "repair"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("26 rows -> 25 bars")
    );
    let rows = std::fs::read_to_string(bot.path("data/bars/AAPL-1Min.csv")).unwrap();
    assert_eq!(rows.matches("2026-11-24 15:20:00").count(), 1, "{rows}");
    assert!(
        rows.contains("2026-11-24 15:20:00,225,226.5,224.5,226,"),
        "the later row is kept"
    );
    let run = bot.run(&["data", "check", "AAPL"]);
    check!(run, run.code == 0);
    let run = bot.tick();
    check!(run, run.code == 0);
}

/// A ledger row the bot cannot read is never skipped: the tick stops before any order, naming
/// the file, the line and the column; `status` still answers, naming the row it cannot read.
#[test]
fn a_ledger_row_that_does_not_read_is_named_by_file_line_and_column() {
    let bot = Bot::new();
    let run = bot.tick();
    check!(run, run.code == 0);
    let fills = bot.path("data/ledger/fills.csv");
    let mut text = std::fs::read_to_string(&fills).unwrap();
    text.push_str("2026-11-24 15:29:40,AAPL,buy,n/a,231,o-1,,fill,a-1,tick\n");
    std::fs::write(&fills, text).unwrap();
    bot.next_minute(1, 235.0, &[250.0; 3]); // above buy_above = 230: would buy
    let run = bot.tick();
    check!(
        run,
        run.code == 1
            && run
                .stderr
                .contains("fills.csv line 2: column `qty`: \"n/a\" is not a share quantity")
    );
    assert_eq!(bot.posts(), 0);

    let decisions = bot.path("data/ledger/decisions.csv");
    let text = std::fs::read_to_string(&decisions).unwrap();
    std::fs::write(&decisions, text.replacen(",hold,", ",hodl,", 1)).unwrap();
    let run = bot.run(&["status", "--offline"]);
    check!(
        run,
        run.code == 0
            && run.stdout.contains(
                "decisions.csv line 2: column `signal`: \"hodl\" is not buy, sell or hold"
            )
    );
}

/// Bars requests of the last tick as (symbols, start).
fn bars_starts(bot: &Bot) -> Vec<(String, chrono::DateTime<chrono::Utc>)> {
    bot.fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v2/stocks/bars" && r.q("page_token").is_none())
        .map(|r| {
            let start = r.q("start").unwrap().parse().unwrap();
            (r.q("symbols").unwrap().to_string(), start)
        })
        .collect()
}

#[test]
fn new_symbols_cost_a_bounded_backfill_and_never_drag_the_warm_ones_back() {
    let bot = Bot::new();
    bot.set_closes("AAPL", &[225.0; 30]);
    bot.set_closes("TSLA", &[250.0; 30]);
    let run = bot.tick();
    check!(run, run.code == 0, "AAPL and TSLA cached");
    // 35 new symbols: more than one tick's backfill (3 requests of 10).
    let new: Vec<String> = (0..35)
        .map(|i| format!("Z{}{}", (b'A' + i / 26) as char, (b'A' + i % 26) as char))
        .collect();
    let mut symbols = crate::harness::SYMBOLS.to_string();
    for name in &new {
        symbols.push_str(&format!(
            "\n[[symbol]]\nname = \"{name}\"\nqty = 1\nstrategy = {{ kind = \"sma_cross\", fast = 2, slow = 3 }}\n"
        ));
    }
    bot.write_config(&symbols);
    bot.next_minute(1, 225.0, &[250.0; 3]);
    for name in &new {
        bot.set_price(name, 50.0);
        bot.set_closes(name, &[50.0; 30]);
    }
    // The last one has a short cache, days old: it waits with no bars, not with these.
    let mut old = "time_utc,open,high,low,close,volume,trades,vwap\n".to_string();
    for m in 0..3 {
        old.push_str(&format!("2026-11-20 15:0{m}:00,50,50,50,50,100,5,50\n"));
    }
    std::fs::write(bot.path(&format!("data/bars/{}-1Min.csv", new[34])), old).unwrap();
    bot.fake.clear_requests();
    let run = bot.tick();
    check!(run, run.code == 0);
    let now = bot.fake.now();
    let asked = bars_starts(&bot);
    assert_eq!(
        asked.len(),
        4,
        "one warm request and three backfills: {asked:?}{run}"
    );
    assert_eq!(asked[0].0, "AAPL,TSLA");
    assert!(
        asked[0].1 > now - chrono::Duration::minutes(5),
        "the warm symbols ask only since their last bar: {asked:?}"
    );
    for (symbols, start) in &asked[1..] {
        assert_eq!(symbols.split(',').count(), 10, "{asked:?}");
        assert!(*start < now - chrono::Duration::days(1), "{asked:?}");
    }
    let decisions = bot.ledger("decisions.csv");
    let last_tick: Vec<_> = decisions.iter().rev().take(37).collect();
    let warming = last_tick
        .iter()
        .filter(|r| r["reason"].contains("warming up: 0 closed bars"))
        .count();
    assert_eq!(warming, 5, "the last five symbols wait for the next tick");
    assert!(
        last_tick[..5]
            .iter()
            .all(|r| new[30..].contains(&r["symbol"])),
        "{last_tick:?}"
    );

    bot.next_minute(1, 225.0, &[250.0; 3]);
    for name in &new {
        bot.set_closes(name, &[50.0; 3]);
    }
    bot.fake.clear_requests();
    let run = bot.tick();
    check!(run, run.code == 0);
    let asked = bars_starts(&bot);
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(asked[0].0.split(',').count(), 32, "{asked:?}");
    assert!(asked[0].1 > bot.fake.now() - chrono::Duration::minutes(5));
    assert_eq!(asked[1].0, new[30..].join(","));
}

/// The syncs a warm, holding tick makes, from its debug log.
fn syncs_of_a_warm_tick(extra: usize) -> u64 {
    let bot = Bot::new();
    let new: Vec<String> = (0..extra)
        .map(|i| {
            format!(
                "Z{}{}",
                (b'A' + (i / 26) as u8) as char,
                (b'A' + (i % 26) as u8) as char
            )
        })
        .collect();
    let mut symbols = crate::harness::SYMBOLS.to_string();
    for name in &new {
        symbols.push_str(&format!(
            "\n[[symbol]]\nname = \"{name}\"\nqty = 1\nstrategy = {{ kind = \"sma_cross\", fast = 2, slow = 3 }}\n"
        ));
    }
    bot.write_config(&symbols);
    let minute = |bot: &Bot| {
        bot.next_minute(1, 225.0, &[250.0; 30]);
        bot.set_closes("AAPL", &[225.0; 30]);
        for name in &new {
            bot.set_price(name, 50.0);
            bot.set_closes(name, &[50.0; 30]);
        }
    };
    // Enough ticks to backfill every symbol, then the measured one.
    for _ in 0..extra / 30 + 2 {
        minute(&bot);
        let run = bot.tick();
        check!(run, run.code == 0);
    }
    minute(&bot);
    let keys = [
        ("ALPACA_KEY", crate::fake_alpaca::KEY_ID),
        ("ALPACA_SECRET", crate::fake_alpaca::SECRET),
        ("RUST_LOG", "debug"),
    ];
    let run = bot.run_env(&["tick"], &keys);
    check!(run, run.code == 0 && run.stdout.contains("hold"));
    let line = run
        .stderr
        .lines()
        .find_map(|l| l.split("tick synced ").nth(1))
        .unwrap_or_else(|| panic!("no sync count{run}"));
    line.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_warm_tick_syncs_as_often_with_forty_symbols_as_with_two() {
    let two = syncs_of_a_warm_tick(0);
    let forty = syncs_of_a_warm_tick(38);
    assert_eq!(two, forty, "syncs per tick independent of the symbols");
    // decisions.csv, equity.csv, the state (file and folder): four.
    assert_eq!(two, 4);
}

//! Command line, config and key errors: exit 2 before any network call.

use crate::check;
use crate::harness::Bot;

#[test]
fn help_exits_zero_and_a_usage_mistake_exits_two() {
    let bot = Bot::new();
    let run = bot.run(&["--help"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("tick") && run.stdout.contains("check")
    );
    let run = bot.run(&["tick", "--sideways"]);
    check!(run, run.code == 2 && run.stderr.contains("--sideways"));
    let run = bot.run(&["launch"]);
    check!(run, run.code == 2);
}

#[test]
fn missing_keys_exit_two_saying_where_to_put_them_before_any_request() {
    let bot = Bot::new();
    let run = bot.run_env(&["tick"], &[]);
    check!(run, run.code == 2);
    check!(
        run,
        run.stderr.contains("ALPACA_KEY") && run.stderr.contains(".env")
    );
    let env_path = bot.path(".env");
    check!(
        run,
        run.stderr.contains(env_path.to_str().unwrap()),
        "names the exact .env path"
    );
    assert!(
        bot.fake.requests().is_empty(),
        "no network call without keys"
    );
    let run = bot.run_env(&["tick"], &[("ALPACA_KEY", "only-half")]);
    check!(run, run.code == 2);
}

#[test]
fn a_malformed_config_names_file_line_and_key() {
    let bot = Bot::new();
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        config.replace("fast = 2, slow = 3", "fast = 3, slow = 2"),
    )
    .unwrap();
    let run = bot.tick();
    check!(run, run.code == 2);
    let line = config.lines().position(|l| l.contains("fast = 2")).unwrap() + 1;
    let expected = format!("config.toml:{line}: `fast`: must be less than slow (3 >= 2)");
    check!(run, run.stderr.contains(&expected), "expected {expected}");
    assert!(bot.fake.requests().is_empty());
    assert!(!bot.path("data/ledger").exists(), "nothing written");

    std::fs::write(
        bot.config_path(),
        config.replace("history = 20", "history = 20\nhistroy = 3"),
    )
    .unwrap();
    let run = bot.tick();
    check!(
        run,
        run.code == 2 && run.stderr.contains("`histroy`: unknown field")
    );

    std::fs::write(bot.config_path(), config.replace("qty = 1", "qty = -1")).unwrap();
    let run = bot.tick();
    check!(
        run,
        run.code == 2 && run.stderr.contains("`qty`: must be a positive number")
    );

    let run = bot.run_env(&["--config", "/nonexistent/config.toml", "tick"], &[]);
    check!(
        run,
        run.code == 2 && run.stderr.contains("/nonexistent/config.toml")
    );
}

#[test]
fn live_trading_needs_both_the_config_and_the_flag() {
    let bot = Bot::new();
    let run = bot.run(&["tick", "--live"]);
    check!(run, run.code == 2 && run.stderr.contains("paper"));
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    let live = config.replacen("feed = \"iex\"", "feed = \"iex\"\nlive = true", 1);
    std::fs::write(bot.config_path(), live).unwrap();
    let run = bot.tick();
    check!(
        run,
        run.code == 2 && run.stderr.contains("needs trading_url"),
        "a loopback URL is not the live host"
    );
    assert!(bot.fake.requests().is_empty());
}

#[test]
fn a_second_tick_waits_its_turn_with_exit_three() {
    use fs2::FileExt;
    let bot = Bot::new();
    std::fs::create_dir_all(bot.path("data")).unwrap();
    let lock = std::fs::File::create(bot.path("data/prometheus-bot.lock")).unwrap();
    lock.lock_exclusive().unwrap();
    let run = bot.tick();
    check!(
        run,
        run.code == 3 && run.stderr.contains("another tick is running")
    );
    assert!(bot.fake.requests().is_empty());
    assert!(
        !bot.path("data/ledger").exists() && !bot.path("data/state.json").exists(),
        "touched nothing"
    );
    lock.unlock().unwrap();
    let run = bot.tick();
    check!(run, run.code == 0);
}

//! `replay`: the real tick over cached bars against the simulated broker, in its own folder.
//! The acceptance: on the same bars, strategy and settings, replay and `backtest` make the same
//! trades (bar, side, qty, price) and end with the same equity to 1e-9, compared through the
//! files each writes (backtest's trades.csv and equity.csv, the replay's fills.csv and
//! equity.csv), never through numbers captured from one of them.

use crate::check;
use crate::harness::{files_under, read_csv, Bot, Run, BIN};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::America::New_York;
use std::path::Path;
use std::process::Command;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample/GOOG-1Day.csv");

/// Guards that `backtest` (without --risk) does not apply: off.
const NO_GUARDS: &str = "max_position_qty = 0\nmax_order_notional = 0\nmax_orders_per_day = 0\n\
                         max_daily_loss_pct = 0\nmax_drawdown_pct = 0\n";

/// A bot folder with a daily GOOG config (`symbol` is the `[[symbol]]` body after the name)
/// and `risk` as its `[risk]`, the embedded GOOG series imported into its bar cache.
fn goog_bot(symbol: &str, risk: &str) -> Bot {
    let bot = Bot::new();
    let url = bot.fake.url();
    std::fs::write(
        bot.config_path(),
        format!(
            "[alpaca]\ntrading_url = \"{url}\"\ndata_url = \"{url}\"\n\n\
             [bot]\ntimeframe = \"1Day\"\nhistory = 60\n\n\
             [[symbol]]\nname = \"GOOG\"\n{symbol}\n\n[risk]\n{risk}"
        ),
    )
    .unwrap();
    let run = bot.run(&["import", SAMPLE, "--symbol", "GOOG", "--timeframe", "1Day"]);
    check!(run, run.code == 0 && run.stdout.contains("2148 bars"));
    bot
}

/// The New York trading day of a time.
fn ny_day(t: &str) -> NaiveDate {
    let t: DateTime<Utc> = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc();
    t.with_timezone(&New_York).date_naive()
}

/// One execution: the index of the bar it is booked on, side, shares, price.
type Exec = (usize, String, f64, f64);

/// backtest's trades as executions: each trade's entry, and its exit if it closed. An exit and
/// an entry on the same bar (a reversal) are the exit first, as the broker fills them.
fn backtest_execs(dir: &Path) -> Vec<Exec> {
    let mut out = Vec::new();
    for t in read_csv(&dir.join("trades.csv")) {
        let size: f64 = t["size"].parse().unwrap();
        let (open, close) = if t["direction"] == "long" {
            ("buy", "sell")
        } else {
            ("sell", "buy")
        };
        out.push((
            t["entry_bar"].parse().unwrap(),
            1,
            open.to_string(),
            size,
            t["entry_price"].parse().unwrap(),
        ));
        if t["status"] == "closed" {
            out.push((
                t["exit_bar"].parse().unwrap(),
                0,
                close.to_string(),
                size,
                t["exit_price"].parse().unwrap(),
            ));
        }
    }
    out.sort_by_key(|a| (a.0, a.1));
    out.into_iter()
        .map(|(bar, _, s, q, p)| (bar, s, q, p))
        .collect()
}

/// The replay's fills as executions, each booked on the bar the backtest books it on: the bar
/// of the day it filled (next-open), or the bar before it, the one decided on (close).
fn replay_execs(dir: &Path, days: &[NaiveDate], at_close: bool) -> Vec<Exec> {
    read_csv(&dir.join("ledger/fills.csv"))
        .into_iter()
        .filter(|f| !f["activity_id"].is_empty())
        .map(|f| {
            let day = ny_day(&f["time_utc"]);
            let bar = days
                .iter()
                .position(|d| *d == day)
                .unwrap_or_else(|| panic!("a fill on {day}, a day without a bar: {f:?}"));
            let bar = if at_close { bar - 1 } else { bar };
            (
                bar,
                f["side"].clone(),
                f["qty"].parse().unwrap(),
                f["price"].parse().unwrap(),
            )
        })
        .collect()
}

fn last_equity(path: &Path) -> f64 {
    read_csv(path).last().unwrap()["equity"].parse().unwrap()
}

/// The trades-table line of a run's stdout.
fn line<'a>(run: &'a Run, label: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label} line{run}"))
}

/// Run `backtest --symbol GOOG` and `replay` on the same bars and settings (`common`: --fill,
/// --from / --start ...), and assert the same executions and final equity; returns how many
/// executions there were.
fn assert_replay_is_the_backtest(
    bot: &Bot,
    backtest: &[&str],
    replay: &[&str],
    at_close: bool,
) -> usize {
    let bt_dir = bot.path("bt");
    let rp_dir = bot.path("rp");
    let mut args = vec![
        "backtest",
        "--symbol",
        "GOOG",
        "--timeframe",
        "1Day",
        "--out",
    ];
    args.push(bt_dir.to_str().unwrap());
    args.extend_from_slice(backtest);
    let bt = bot.run(&args);
    check!(bt, bt.code == 0);
    let mut args = vec!["replay", "--out", rp_dir.to_str().unwrap()];
    args.extend_from_slice(replay);
    let rp = bot.run(&args);
    check!(rp, rp.code == 0);

    let days: Vec<NaiveDate> = read_csv(&bt_dir.join("equity.csv"))
        .iter()
        .map(|r| ny_day(&r["time_utc"]))
        .collect();
    let expected = backtest_execs(&bt_dir);
    let got = replay_execs(&rp_dir, &days, at_close);
    assert!(!expected.is_empty(), "the case trades");
    assert_eq!(got, expected, "replay's fills vs backtest's trades{bt}{rp}");
    let (b, r) = (
        last_equity(&bt_dir.join("equity.csv")),
        last_equity(&rp_dir.join("ledger/equity.csv")),
    );
    assert!(
        (b - r).abs() < 1e-9,
        "final equity: backtest {b}, replay {r}"
    );
    // The same table: the trade count and the final equity as backtest prints them.
    for label in ["# Trades", "Equity Final [$]", "Return [%]"] {
        assert_eq!(line(&rp, label), line(&bt, label), "{bt}{rp}");
    }
    got.len()
}

const FROM_TO: [&str; 4] = ["--from", "2008-01-01", "--to", "2012-12-31"];
const START_END: [&str; 4] = ["--start", "2008-01-01", "--end", "2012-12-31"];

fn with<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<&'a str> {
    a.iter().chain(b).copied().collect()
}

#[test]
fn replay_makes_the_backtests_trades_for_sma_cross_with_qty_sizing_in_both_fill_modes() {
    let bot = goog_bot(
        "qty = 10\nstrategy = { kind = \"sma_cross\", fast = 10, slow = 20 }",
        NO_GUARDS,
    );
    let n = assert_replay_is_the_backtest(&bot, &START_END, &FROM_TO, false);
    assert!(n > 40, "{n} executions");
    let close = ["--fill", "close"];
    assert_replay_is_the_backtest(
        &bot,
        &with(&START_END, &close),
        &with(&FROM_TO, &close),
        true,
    );
}

#[test]
fn replay_makes_the_backtests_trades_with_equity_fraction_sizing_and_zero_costs() {
    let bot = goog_bot(
        "equity_fraction = 0.5\nstrategy = { kind = \"sma_cross\", fast = 10, slow = 20 }",
        NO_GUARDS,
    );
    assert_replay_is_the_backtest(&bot, &START_END, &FROM_TO, false);
}

#[test]
fn replay_makes_the_backtests_trades_for_threshold_filled_at_the_close() {
    // GOOG crosses 500 and 400 several times between 2008 and 2012.
    let bot = goog_bot(
        "qty = 5\nstrategy = { kind = \"threshold\", buy_above = 500.0, sell_below = 400.0 }",
        NO_GUARDS,
    );
    let close = ["--fill", "close"];
    assert_replay_is_the_backtest(
        &bot,
        &with(&START_END, &close),
        &with(&FROM_TO, &close),
        true,
    );
}

#[test]
fn replay_applies_the_risk_guards_as_backtest_risk_does() {
    // 20 shares per entry: above $450 an entry is worth more than $9,000 and refused; a
    // position of 20 is within 25; one order a day is all a daily cross ever sends.
    let bot = goog_bot(
        "qty = 20\nstrategy = { kind = \"sma_cross\", fast = 10, slow = 20 }",
        "max_position_qty = 25\nmax_order_notional = 9000\nmax_orders_per_day = 1\n\
         max_daily_loss_pct = 0\nmax_drawdown_pct = 0\n",
    );
    assert_replay_is_the_backtest(&bot, &with(&START_END, &["--risk"]), &FROM_TO, false);
    let refused = read_csv(&bot.path("rp/ledger/decisions.csv"))
        .iter()
        .filter(|d| d["action"] == "refused" && d["reason"].contains("max_order_notional"))
        .count();
    assert!(
        refused > 0,
        "the notional guard stopped entries in the replay too"
    );
    // A position limit below one entry refuses every entry in both.
    let bot = goog_bot(
        "qty = 20\nstrategy = { kind = \"sma_cross\", fast = 10, slow = 20 }",
        "max_position_qty = 15\nmax_order_notional = 0\nmax_orders_per_day = 0\n\
         max_daily_loss_pct = 0\nmax_drawdown_pct = 0\n",
    );
    let rp = bot.run(&with(&["replay", "--out", "rp"], &FROM_TO));
    check!(rp, rp.code == 0 && line(&rp, "# Trades").ends_with(" 0"));
}

#[test]
fn replay_makes_the_backtests_trades_for_a_trained_model() {
    let bot = goog_bot(
        "qty = 10\nstrategy = { kind = \"sma_cross\", fast = 10, slow = 20 }",
        NO_GUARDS,
    );
    let run = bot.run(&[
        "train", "--symbol", "GOOG", "--train", "500", "--test", "250",
    ]);
    check!(run, run.code == 0);
    let model = files_under(&bot.path("data/models"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("train wrote a model");
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        config.replace(
            "strategy = { kind = \"sma_cross\", fast = 10, slow = 20 }",
            &format!(
                "strategy = {{ kind = \"model\", path = \"{}\", threshold = 0.52 }}",
                model.display()
            ),
        ),
    )
    .unwrap();
    assert_replay_is_the_backtest(&bot, &START_END, &FROM_TO, false);
}

#[test]
fn replay_makes_the_backtests_trades_for_a_stop_and_reverse_sma_cross() {
    let bot = goog_bot(
        "qty = 10\nstrategy = { kind = \"sma_cross\", fast = 10, slow = 20, allow_short = true }",
        NO_GUARDS,
    );
    assert_replay_is_the_backtest(&bot, &START_END, &FROM_TO, false);
}

#[test]
fn replay_never_writes_the_live_ledgers_and_prints_the_metrics_table() {
    let bot = goog_bot(
        "qty = 10\nstrategy = { kind = \"sma_cross\", fast = 10, slow = 20 }",
        NO_GUARDS,
    );
    let before = files_under(&bot.path("data"));
    let run = bot.run(&["replay", "--from", "2012-01-01"]);
    check!(run, run.code == 0);
    for label in [
        "Start",
        "Equity Final [$]",
        "Sharpe Ratio",
        "# Trades",
        "SQN",
    ] {
        check!(
            run,
            run.stdout.lines().any(|l| l.starts_with(label)),
            "{label}"
        );
    }
    check!(run, run.stdout.contains("dashboard:"));
    // The default folder is data/replay beside the config; nothing else under data changed.
    let replay = bot.path("data/replay");
    assert!(replay.join("ledger/fills.csv").is_file());
    assert!(replay.join("logs/dashboard.html").is_file());
    assert!(
        !bot.path("data/ledger").exists(),
        "no live ledger was written"
    );
    assert!(
        !bot.path("data/state.json").exists(),
        "no live state was written"
    );
    let after: Vec<_> = files_under(&bot.path("data"))
        .into_iter()
        .filter(|p| !p.starts_with(&replay))
        .collect();
    assert_eq!(after.len(), before.len(), "{after:?}");
    // Run again: the previous replay is replaced, not mixed with.
    let again = bot.run(&["replay", "--from", "2012-06-01"]);
    check!(again, again.code == 0);
    let fills = read_csv(&replay.join("ledger/fills.csv"));
    assert!(
        fills.iter().all(|f| f["time_utc"].as_str() >= "2012-06-01"),
        "{fills:?}"
    );
}

#[test]
fn replay_refuses_a_foreign_out_folder_and_the_live_data_folder() {
    let bot = goog_bot(
        "qty = 10\nstrategy = { kind = \"sma_cross\", fast = 10, slow = 20 }",
        NO_GUARDS,
    );
    let mine = bot.path("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep").unwrap();
    let run = bot.run(&["replay", "--out", mine.to_str().unwrap()]);
    check!(
        run,
        run.code == 2 && run.stderr.contains("not a previous replay's folder")
    );
    assert_eq!(
        std::fs::read_to_string(mine.join("notes.txt")).unwrap(),
        "keep"
    );
    assert_eq!(
        std::fs::read_dir(&mine).unwrap().count(),
        1,
        "nothing written"
    );

    let live = bot.path("data");
    let run = bot.run(&["replay", "--out", live.to_str().unwrap()]);
    check!(
        run,
        run.code == 2 && run.stderr.contains("live data folder")
    );
    assert!(!live.join("ledger").exists());
}

/// The binary started in `cwd` with no environment at all: no keys, no config.
fn bare(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        args: args.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn replay_sample_runs_on_a_fresh_machine_with_no_config_keys_network_or_cache() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let run = bare(dir.path(), &["replay", "--sample"]);
    check!(run, run.code == 0);
    assert!(
        started.elapsed().as_secs() < 60,
        "within seconds, even in a debug build"
    );
    for label in ["Equity Final [$]", "# Trades", "Buy & Hold Return [%]"] {
        check!(
            run,
            run.stdout.lines().any(|l| l.starts_with(label)),
            "{label}"
        );
    }
    let out = dir.path().join("data/replay");
    for file in [
        "ledger/decisions.csv",
        "ledger/orders.csv",
        "ledger/fills.csv",
        "ledger/equity.csv",
        "logs/dashboard.html",
        "sample-config.toml",
        "state.json",
    ] {
        assert!(out.join(file).is_file(), "{file}{run}");
    }
    // One decision row per tick. SMA(20) first decides on bar 20 (the 21st, backtest's
    // warm-up of 19 plus one), acted on at bar 21's open: ticks at bars 21..=2147 (2127 of
    // them), and one at the close after the last bar.
    assert_eq!(read_csv(&out.join("ledger/decisions.csv")).len(), 2128);
    check!(run, run.stdout.contains("2128 ticks"));
    let fills = read_csv(&out.join("ledger/fills.csv"));
    let orders = read_csv(&out.join("ledger/orders.csv"));
    assert!(fills.len() > 10 && orders.len() >= fills.len(), "{run}");
    // The first cross of SMA(10) above SMA(20) on GOOG, as backtesting.py's quick start
    // trades it: bought at the next session's open.
    assert_eq!(fills[0]["side"], "buy");
    check!(run, run.stdout.contains("data/replay/logs/dashboard.html"));
}

#[test]
fn tick_and_check_without_keys_say_how_to_try_the_bot_and_how_to_go_to_paper() {
    let bot = Bot::new();
    for command in ["tick", "check"] {
        let run = bot.run_env(&[command], &[]);
        check!(run, run.code == 2);
        for words in [
            "ALPACA_KEY",
            "ALPACA_SECRET",
            "replay --sample",
            "prometheus-bot check`, then `prometheus-bot tick",
        ] {
            check!(run, run.stderr.contains(words), "{command}: {words}");
        }
    }
}

#[test]
fn replay_makes_the_backtests_trades_with_a_stop_and_a_target() {
    // Both read from the config: a 3 % stop and a 6 % target (one OCO at the simulated
    // broker), and a trailing stop alone. The same executions on the same bars; prices to
    // 1e-9 (a gap fill's price can come back from the ledger one ulp away: 489.6 as
    // 489.59999999999997), the final equity to 1e-9 as in every replay test.
    for protection in [
        "stop_loss_pct = 3\ntake_profit_pct = 6",
        "trailing_stop_pct = 4",
    ] {
        let bot = goog_bot(
            &format!(
                "qty = 10\n{protection}\nstrategy = {{ kind = \"sma_cross\", fast = 10, slow = 20 }}"
            ),
            NO_GUARDS,
        );
        let (bt_dir, rp_dir) = (bot.path("bt"), bot.path("rp"));
        let bt = bot.run(&with(
            &[
                "backtest",
                "--symbol",
                "GOOG",
                "--out",
                bt_dir.to_str().unwrap(),
            ],
            &START_END,
        ));
        check!(bt, bt.code == 0);
        let rp = bot.run(&with(
            &["replay", "--out", rp_dir.to_str().unwrap()],
            &FROM_TO,
        ));
        check!(rp, rp.code == 0);
        let days: Vec<NaiveDate> = read_csv(&bt_dir.join("equity.csv"))
            .iter()
            .map(|r| ny_day(&r["time_utc"]))
            .collect();
        let expected = backtest_execs(&bt_dir);
        let got = replay_execs(&rp_dir, &days, false);
        // The case trades.
        assert!(expected.len() > 40, "{protection}: {}", expected.len());
        assert_eq!(got.len(), expected.len(), "{protection}{bt}{rp}");
        for (g, e) in got.iter().zip(&expected) {
            assert!(
                (g.0, &g.1, g.2) == (e.0, &e.1, e.2) && (g.3 - e.3).abs() < 1e-9,
                "{protection}: replay {g:?}, backtest {e:?}"
            );
        }
        let (b, r) = (
            last_equity(&bt_dir.join("equity.csv")),
            last_equity(&rp_dir.join("ledger/equity.csv")),
        );
        assert!(
            (b - r).abs() < 1e-9,
            "final equity: backtest {b}, replay {r}"
        );
        assert_eq!(line(&rp, "# Trades"), line(&bt, "# Trades"), "{bt}{rp}");
    }
}

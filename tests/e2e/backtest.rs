//! `backtest`: outputs that parse, exit codes, parity with backtesting.py through the binary,
//! sweeps, walk-forward, and the same decision as a live tick on the same bars.

use crate::check;
use crate::harness::{read_csv, Bot, Run};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const HEADER: &str = "time_utc,open,high,low,close,volume,trades,vwap";

/// A bar-cache file `data/bars/SYMBOL-TF.csv` from (time, close) pairs; open = previous close.
fn write_cache(bot: &Bot, symbol: &str, tf: &str, bars: &[(DateTime<Utc>, f64)]) {
    let mut text = format!("{HEADER}\n");
    let mut prev = bars.first().map_or(0.0, |b| b.1);
    for &(t, c) in bars {
        let (hi, lo) = (prev.max(c) + 0.5, prev.min(c) - 0.5);
        text.push_str(&format!(
            "{},{prev},{hi},{lo},{c},1000,10,{c}\n",
            t.format("%Y-%m-%d %H:%M:%S")
        ));
        prev = c;
    }
    let path = bot.path(&format!("data/bars/{symbol}-{tf}.csv"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `n` weekday-ish daily closes of a wave, midnight UTC from 2020-01-01.
fn daily_wave(n: usize) -> Vec<(DateTime<Utc>, f64)> {
    let t0 = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            let x = i as f64;
            (
                t0 + Duration::days(i as i64),
                250.0 + 20.0 * (x / 6.0).sin() + 5.0 * (x / 2.1).cos(),
            )
        })
        .collect()
}

fn out_dir(bot: &Bot, name: &str) -> PathBuf {
    bot.path(&format!("out-{name}"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_backtest_of_a_cached_file_prints_the_metrics_and_writes_files_that_parse() {
    let bot = Bot::new();
    write_cache(&bot, "TSLA", "1Day", &daily_wave(120));
    let out = out_dir(&bot, "one");
    let run = bot.run(&[
        "backtest",
        "--symbol",
        "TSLA",
        "--commission",
        "0.001",
        "--out",
        out.to_str().unwrap(),
    ]);
    check!(run, run.code == 0);
    check!(
        run,
        run.stdout.starts_with("Start ") && run.stdout.contains("Sharpe Ratio")
    );
    check!(run, run.stdout.contains("wrote "));
    let trades = read_csv(&out.join("trades.csv"));
    let closed = trades.iter().filter(|t| t["status"] == "closed").count();
    check!(run, closed > 0, "the wave makes the SMA 2/3 cross trade");
    // The config's sizing: qty = 2 shares per entry.
    check!(run, trades.iter().all(|t| t["size"] == "2"));
    let equity = read_csv(&out.join("equity.csv"));
    assert_eq!(equity.len(), 120);
    assert_eq!(equity[0]["time_utc"], "2020-01-01 00:00:00");
    let metrics = read_json(&out.join("metrics.json"));
    assert_eq!(metrics["metrics"]["# Trades"], closed);
    assert_eq!(metrics["symbols"][0]["strategy"]["kind"], "sma_cross");
    assert_eq!(metrics["settings"]["commission"], 0.001);
    let final_equity: f64 = equity.last().unwrap()["equity"].parse().unwrap();
    // serde_json's float reading can be an ulp off; the file holds the shortest round trip.
    let json_final = metrics["metrics"]["Equity Final [$]"].as_f64().unwrap();
    assert!((json_final - final_equity).abs() <= 1e-9 * final_equity);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Drawdown") && html.contains("TSLA: close"));
    for banned in ["<script", "src=\"http", "href=\"http"] {
        assert!(
            !html.contains(banned),
            "report.html must be self-contained: {banned}"
        );
    }
    assert!(
        bot.fake.requests().is_empty(),
        "a backtest never calls the broker"
    );
}

#[test]
fn the_default_output_folder_is_under_data_backtests_and_symbols_share_one_account() {
    let bot = Bot::new();
    write_cache(&bot, "TSLA", "1Day", &daily_wave(90));
    let aapl: Vec<_> = daily_wave(90)
        .into_iter()
        .map(|(t, c)| (t, c - 20.0))
        .collect();
    write_cache(&bot, "AAPL", "1Day", &aapl);
    let run = bot.run(&["backtest"]);
    check!(run, run.code == 0);
    check!(
        run,
        run.stdout.contains("Portfolio") && run.stdout.contains("AAPL")
    );
    let dirs: Vec<_> = std::fs::read_dir(bot.path("data/backtests"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(dirs.len(), 1);
    let metrics = read_json(&dirs[0].path().join("metrics.json"));
    assert_eq!(metrics["symbols"].as_array().unwrap().len(), 2);
    assert!(metrics["symbols"][0]["metrics"].is_object());
    let equity = read_csv(&dirs[0].path().join("equity.csv"));
    assert!(equity[0].contains_key("equity_AAPL") && equity[0].contains_key("equity_TSLA"));
}

fn expect_usage(bot: &Bot, args: &[&str], says: &str) -> Run {
    let mut full = vec!["backtest"];
    full.extend_from_slice(args);
    let run = bot.run(&full);
    check!(run, run.code == 2, "a usage mistake exits 2");
    check!(
        run,
        run.stderr.contains(says),
        "stderr should mention `{says}`"
    );
    run
}

#[test]
fn bad_arguments_exit_two_naming_the_option_before_reading_anything() {
    let bot = Bot::new();
    expect_usage(&bot, &["--fill", "sideways"], "--fill `sideways`");
    expect_usage(&bot, &["--timeframe", "2Min"], "unknown timeframe");
    expect_usage(&bot, &["--rank", "luck"], "--rank");
    expect_usage(&bot, &["--sizing", "half"], "--sizing `half`");
    expect_usage(&bot, &["--sweep", "fast=9..3"], "no values");
    expect_usage(&bot, &["--sweep", "fsat=1..3"], "fsat");
    expect_usage(&bot, &["--walk-forward", "train=10", "test=5"], "--sweep");
    expect_usage(&bot, &["--commission", "0.5"], "commission");
    expect_usage(&bot, &["--start", "2024-13-01"], "--start");
    expect_usage(&bot, &["--symbol", "NFLX"], "NFLX is not in the config");
    expect_usage(
        &bot,
        &[
            "--strategy",
            "sma_cross",
            "--param",
            "fast=9",
            "--param",
            "slow=3",
        ],
        "fast must be less than slow",
    );
    expect_usage(&bot, &["stray"], "unexpected argument `stray`");
    let run = bot.run(&["backtest", "--unknown"]);
    check!(run, run.code == 2);
    assert!(
        !bot.path("data/backtests").exists(),
        "nothing written on a usage error"
    );
}

#[test]
fn a_missing_cache_file_exits_one_saying_to_fetch_or_import() {
    let bot = Bot::new();
    let run = bot.run(&["backtest", "--symbol", "TSLA"]);
    check!(run, run.code == 1);
    check!(
        run,
        run.stderr
            .contains("prometheus-bot fetch TSLA --timeframe 1Day")
            && run.stderr.contains("prometheus-bot import")
    );
    check!(run, run.stderr.contains("TSLA-1Day.csv"));
}

#[test]
fn a_sweep_ranks_every_valid_combination_and_draws_a_heatmap() {
    let bot = Bot::new();
    write_cache(&bot, "TSLA", "1Day", &daily_wave(300));
    let out = out_dir(&bot, "sweep");
    let run = bot.run(&[
        "backtest",
        "--symbol",
        "TSLA",
        "--sweep",
        "fast=2..8:2",
        "slow=4..16:4",
        "--rank",
        "Return [%]",
        "--out",
        out.to_str().unwrap(),
    ]);
    check!(run, run.code == 0);
    // fast 2, 4, 6 × slow 4, 8, 12 with fast < slow: 7 valid; (4, 4) and (6, 4) skipped.
    check!(
        run,
        run.stdout
            .contains("Sweep: 7 combinations (2 skipped by the strategy's rules)")
    );
    let rows = read_csv(&out.join("sweep.csv"));
    assert_eq!(rows.len(), 7);
    let score = |r: &HashMap<String, String>| -> f64 {
        r["score (Return [%])"].parse().unwrap_or(f64::NAN)
    };
    assert!(rows
        .windows(2)
        .all(|w| score(&w[0]) >= score(&w[1]) || score(&w[1]).is_nan()));
    // The files describe the best combination, whose return is the top score.
    let metrics = read_json(&out.join("metrics.json"));
    let best_return = metrics["metrics"]["Return [%]"].as_f64().unwrap();
    assert!((best_return - score(&rows[0])).abs() < 1e-9);
    assert_eq!(
        metrics["symbols"][0]["strategy"]["fast"].as_f64().unwrap(),
        rows[0]["fast"].parse::<f64>().unwrap()
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Return [%] by fast and slow"), "heatmap");
    assert!(
        html.contains("such as fast &gt;= slow") && !html.contains("fast &lt; slow"),
        "the grey cells break fast < slow, they do not follow it"
    );
}

#[test]
fn walk_forward_reports_out_of_sample_beside_in_sample() {
    let bot = Bot::new();
    write_cache(&bot, "TSLA", "1Day", &daily_wave(400));
    let out = out_dir(&bot, "wf");
    let run = bot.run(&[
        "backtest",
        "--symbol",
        "TSLA",
        "--walk-forward",
        "train=150",
        "test=50",
        "--sweep",
        "fast=2..6:2",
        "slow=5..15:5",
        "--rank",
        "Return [%]",
        "--out",
        out.to_str().unwrap(),
    ]);
    check!(run, run.code == 0);
    check!(
        run,
        run.stdout.contains("Walk-forward: 5 windows") && run.stdout.contains("Out-of-sample")
    );
    let windows = read_csv(&out.join("walk_forward.csv"));
    assert_eq!(windows.len(), 5);
    assert_eq!(windows[0]["test_start"], "2020-05-30 00:00:00"); // bar 150
    let metrics = read_json(&out.join("metrics.json"));
    assert!(metrics["in_sample"].is_object() && metrics["metrics"].is_object());
    assert_eq!(metrics["metrics"]["Start"], "2020-05-30 00:00:00");
    // equity.csv and trades.csv cover the out-of-sample part only.
    let equity = read_csv(&out.join("equity.csv"));
    assert_eq!(equity.len(), 250);
    let trades = read_csv(&out.join("trades.csv"));
    assert!(trades
        .iter()
        .all(|t| t["entry_time"].as_str() >= "2020-05-30"));
    // The subtitle does not present the last window's parameters as the run's strategy.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("TSLA: sma_cross with fast, slow re-chosen for each test window")
            && !html.contains("sma_cross fast="),
        "{}",
        &html[..html.len().min(3000)]
    );
}

// ---- parity with backtesting.py through the binary ----------------------------------------

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[test]
fn goog_through_import_and_the_binary_matches_backtesting_py() {
    let bot = Bot::with_symbols(
        "[[symbol]]\nname = \"GOOG\"\nqty = 1\nstrategy = { kind = \"threshold\", buy_above = 2000.0, sell_below = 1.0 }\n",
    );
    // GOOG.csv's date index has no column name; as a generic file with UTC midnight times
    // (how backtesting.py sees the dates) it goes through `import` unchanged otherwise.
    let goog = fixture("GOOG.csv");
    let mut generic = String::from("time_utc,open,high,low,close,volume\n");
    for line in goog.lines().skip(1) {
        let (date, rest) = line.split_once(',').unwrap();
        generic.push_str(&format!("{date} 00:00:00,{rest}\n"));
    }
    let file = bot.path("goog-generic.csv");
    std::fs::write(&file, generic).unwrap();
    let run = bot.run(&[
        "import",
        file.to_str().unwrap(),
        "--symbol",
        "GOOG",
        "--timeframe",
        "1Day",
    ]);
    check!(run, run.code == 0 && run.stdout.contains("2148 bars"));

    let reference: Value = serde_json::from_str(&fixture("backtesting_py_goog.json")).unwrap();
    for case in reference["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (st, s) = (&case["strategy"], &case["settings"]);
        let out = out_dir(&bot, name);
        let args: Vec<String> = [
            "backtest",
            "--symbol",
            "GOOG",
            "--sizing",
            "all-in",
            "--strategy",
            "sma_cross",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(
            [
                ("--param", format!("fast={}", st["fast"])),
                ("--param", format!("slow={}", st["slow"])),
                ("--param", format!("allow_short={}", st["allow_short"])),
                ("--cash", s["cash"].to_string()),
                ("--commission", s["commission"].to_string()),
                ("--commission-fixed", s["commission_fixed"].to_string()),
                ("--slippage-bps", (num(&s["spread"]) * 10_000.0).to_string()),
                (
                    "--fill",
                    if s["trade_on_close"] == true {
                        "close"
                    } else {
                        "next-open"
                    }
                    .to_string(),
                ),
                ("--out", out.display().to_string()),
            ]
            .into_iter()
            .flat_map(|(k, v)| [k.to_string(), v]),
        )
        .chain((s["finalize_trades"] == true).then(|| "--close-at-end".to_string()))
        .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = bot.run(&args);
        check!(run, run.code == 0, "{name}");

        // The printed table has the library's rows, in its order.
        let printed: Vec<&str> = run
            .stdout
            .lines()
            .take_while(|l| !l.is_empty() && !l.starts_with("GOOG:"))
            .map(|l| l.split("  ").next().unwrap())
            .collect();
        let order: Vec<&str> = case["stats_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        check!(run, printed == order, "{name}: rows {printed:?}");

        // Every metric to 1e-9 relative, from metrics.json.
        let ours = &read_json(&out.join("metrics.json"))["metrics"];
        for label in order {
            let (a, b) = (&ours[label], &case["stats"][label]);
            let same = match (a, b) {
                (Value::String(x), Value::String(y)) => x == y,
                (Value::Null, Value::Null) => true,
                _ => {
                    let (x, y) = (num(a), num(b));
                    x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
                }
            };
            assert!(same, "{name}: {label}: ours {a}, backtesting.py {b}");
        }
        // The closed trades, from trades.csv.
        let trades: Vec<_> = read_csv(&out.join("trades.csv"))
            .into_iter()
            .filter(|t| t["status"] == "closed")
            .collect();
        let want = case["trades"].as_array().unwrap();
        assert_eq!(trades.len(), want.len(), "{name}");
        for (t, w) in trades.iter().zip(want) {
            assert_eq!(t["entry_time"], w["EntryTime"].as_str().unwrap(), "{name}");
            assert_eq!(t["exit_bar"], w["ExitBar"].to_string(), "{name}");
            let size: f64 = t["size"].parse().unwrap();
            assert_eq!(size, num(&w["Size"]).abs(), "{name}");
            let pnl: f64 = t["pnl"].parse().unwrap();
            assert!(
                (pnl - num(&w["PnL"])).abs() <= 1e-9 * pnl.abs().max(1.0),
                "{name}"
            );
        }
    }
}

// ---- the same decision as a live tick ------------------------------------------------------

#[test]
fn a_dry_run_tick_and_a_backtest_on_the_same_bars_decide_the_same_on_the_last_bar() {
    let bot = Bot::new();
    // The closed minute bars the fake serves (they replace the harness's defaults, same
    // minutes), and the very same bars in the cache for the backtest.
    let mut tsla = vec![250.0; 7];
    tsla.extend([5.0, 4.0, 3.0, 3.0, 6.0]); // SMA(2) crosses above SMA(3) on the last bar
    let mut aapl = vec![225.0; 11];
    aapl.push(231.5); // above the threshold rule's 230
    let now = bot.fake.now();
    let last = Utc
        .timestamp_opt(now.timestamp() / 60 * 60 - 60, 0)
        .unwrap();
    for (symbol, closes) in [("TSLA", &tsla), ("AAPL", &aapl)] {
        bot.set_closes(symbol, closes);
        let n = closes.len();
        let bars: Vec<(DateTime<Utc>, f64)> = closes
            .iter()
            .enumerate()
            .map(|(i, &c)| (last - Duration::minutes((n - 1 - i) as i64), c))
            .collect();
        write_cache(&bot, symbol, "1Min", &bars);
    }
    // The tick decides on its last trade; the backtest on the last close: make them equal.
    bot.set_price("TSLA", 6.0);
    bot.set_price("AAPL", 231.5);

    let tick = bot.run(&["tick", "--dry-run"]);
    check!(tick, tick.code == 0);
    let decisions = bot.ledger("decisions.csv");
    let tick_signal = |symbol: &str| -> (String, String) {
        let d = decisions.iter().find(|d| d["symbol"] == symbol).unwrap();
        (d["signal"].clone(), d["bar_time_utc"].clone())
    };

    let out = out_dir(&bot, "vs-tick");
    let backtest = bot.run(&[
        "backtest",
        "--timeframe",
        "1Min",
        "--out",
        out.to_str().unwrap(),
    ]);
    check!(backtest, backtest.code == 0);
    let metrics = read_json(&out.join("metrics.json"));
    let last_bar = last.format("%Y-%m-%d %H:%M:%S").to_string();
    for (k, symbol) in ["AAPL", "TSLA"].iter().enumerate() {
        let leg = &metrics["symbols"][k];
        assert_eq!(leg["symbol"], *symbol);
        // Nothing was traded before the last bar in either, so both are flat there.
        assert_eq!(leg["trades"], 0, "{symbol}");
        assert!(leg["open_trade"].is_null(), "{symbol}");
        let (signal, bar) = tick_signal(symbol);
        assert_eq!(
            bar, last_bar,
            "{symbol}: the tick decided on the last closed bar"
        );
        assert_eq!(signal, "buy", "{symbol}");
        assert_eq!(
            leg["pending_signal"], signal,
            "{symbol}: the backtest's decision on its last bar"
        );
    }
}

#[test]
fn with_risk_the_configs_guards_refuse_orders_as_the_tick_would() {
    let bot = Bot::new();
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    // TSLA trades 2 shares at about 250: 500 of value, over a 100 limit.
    std::fs::write(
        bot.config_path(),
        format!("{config}\n[risk]\nmax_order_notional = 100\n"),
    )
    .unwrap();
    write_cache(&bot, "TSLA", "1Day", &daily_wave(120));
    let out = out_dir(&bot, "risk");
    let args = [
        "backtest",
        "--symbol",
        "TSLA",
        "--out",
        out.to_str().unwrap(),
    ];
    let plain = bot.run(&args);
    check!(
        plain,
        plain.code == 0 && !plain.stdout.contains("risk guards")
    );
    let guarded = bot.run(&[&args[..], &["--risk"]].concat());
    check!(
        guarded,
        guarded.code == 0
            && guarded.stdout.contains("risk guards stopped")
            && guarded.stdout.contains("max_order_notional 100")
    );
    let metrics = read_json(&out.join("metrics.json"));
    assert_eq!(metrics["metrics"]["# Trades"], 0);
    assert!(metrics["risk_guards"]["refused"].as_u64().unwrap() > 0);
}

/// `backtest ... | head -1` used to leave only equity.csv: the table was printed while the
/// files were written, and the first failed print ended the run. Every mode now writes all its
/// files before a line is printed, and ends with exit 0.
#[cfg(target_os = "linux")]
#[test]
fn a_backtest_with_a_closed_stdout_still_writes_every_file() {
    use crate::cli::{assert_quiet_exit, run_stdout_closed};
    let bot = Bot::new();
    write_cache(&bot, "TSLA", "1Day", &daily_wave(400));
    let runs: [(&str, &[&str], &str); 3] = [
        ("single", &[], ""),
        (
            "sweep",
            &["--sweep", "fast=2..6:2", "slow=5..15:5"],
            "sweep.csv",
        ),
        (
            "wf",
            &[
                "--walk-forward",
                "train=150",
                "test=50",
                "--sweep",
                "fast=2..6:2",
                "slow=5..15:5",
            ],
            "walk_forward.csv",
        ),
    ];
    for (name, extra, mode_file) in runs {
        let out = out_dir(&bot, name);
        let mut args = vec![
            "backtest",
            "--symbol",
            "TSLA",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let run = run_stdout_closed(&bot, &args);
        for file in [
            "trades.csv",
            "equity.csv",
            "metrics.json",
            "report.html",
            mode_file,
        ] {
            check!(run, out.join(file).exists(), "{name}: {file} written");
        }
        let trades = read_csv(&out.join("trades.csv"));
        check!(run, !trades.is_empty(), "{name}: the wave trades");
        check!(run, !read_csv(&out.join("equity.csv")).is_empty(), "{name}");
        check!(
            run,
            read_json(&out.join("metrics.json"))["metrics"].is_object(),
            "{name}"
        );
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        check!(
            run,
            html.trim_end().ends_with("</html>"),
            "{name}: report.html whole"
        );
        if !mode_file.is_empty() {
            check!(
                run,
                !read_csv(&out.join(mode_file)).is_empty(),
                "{name}: {mode_file}"
            );
        }
        assert_quiet_exit(&run);
    }
}

/// A bar-cache file from (open, high, low, close) rows, one a day from 2020-01-01.
fn write_ohlc(bot: &Bot, symbol: &str, rows: &[(f64, f64, f64, f64)]) {
    let t0 = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let mut text = format!("{HEADER}\n");
    for (i, (o, h, l, c)) in rows.iter().enumerate() {
        let t = t0 + Duration::days(i as i64);
        text.push_str(&format!(
            "{},{o},{h},{l},{c},1000,10,{c}\n",
            t.format("%Y-%m-%d %H:%M:%S")
        ));
    }
    let path = bot.path(&format!("data/bars/{symbol}-1Day.csv"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn backtest_reads_each_symbols_stop_and_target_from_the_config() {
    // AAPL: Buy 10 at Open[2] = 20 (bar 1 closed at 11 > 10); stop 10 % = 18.00, target
    // 10 % = 22.00 from bar 3, whose 17.5..22.5 reaches both: the stop fills, pnl −20.
    // TSLA: Buy 10 at 40, target 5 % = 42.00, reached by bar 3's high of 44: pnl +20.
    let bot = Bot::with_symbols(
        "[[symbol]]\nname = \"AAPL\"\nqty = 10\nstop_loss_pct = 10.0\ntake_profit_pct = 10.0\n\
         strategy = { kind = \"threshold\", buy_above = 10.0, sell_below = 5.0 }\n\
         [[symbol]]\nname = \"TSLA\"\nqty = 10\ntake_profit_pct = 5.0\n\
         strategy = { kind = \"threshold\", buy_above = 10.0, sell_below = 5.0 }\n",
    );
    let first = [(7.0, 7.0, 7.0, 7.0), (7.0, 11.0, 7.0, 11.0)];
    let aapl = [(20.0, 23.0, 17.0, 20.0), (20.0, 22.5, 17.5, 20.0)];
    let tsla = [(40.0, 41.0, 39.0, 41.0), (41.0, 44.0, 39.0, 43.0)];
    write_ohlc(&bot, "AAPL", &[&first[..], &aapl[..]].concat());
    write_ohlc(&bot, "TSLA", &[&first[..], &tsla[..]].concat());
    let out = out_dir(&bot, "protected");
    let run = bot.run(&["backtest", "--cash", "1000", "--out", out.to_str().unwrap()]);
    check!(run, run.code == 0);
    let trades = read_csv(&out.join("trades.csv"));
    let closed: Vec<_> = trades.iter().filter(|t| t["status"] == "closed").collect();
    let got: Vec<(&str, f64, f64)> = closed
        .iter()
        .map(|t| {
            (
                t["symbol"].as_str(),
                t["exit_price"].parse().unwrap(),
                t["pnl"].parse().unwrap(),
            )
        })
        .collect();
    check!(
        run,
        got.contains(&("AAPL", 18.0, -20.0)) && got.contains(&("TSLA", 42.0, 20.0)),
        "{got:?}"
    );
    check!(run, got.len() == 2, "{got:?}");
}

#[test]
fn a_sweep_over_stop_loss_pct_reruns_the_best_with_its_stop() {
    // Buy 10 at Open[2] = 20; bar 3 opens at 20 and dips to 17.5. Stop 5 %: sold at 19.00,
    // −10; 10 %: at 18.00, −20; 20 % (16.00) untouched: no closed trade, marked at 20.
    let bot = Bot::with_symbols(
        "[[symbol]]\nname = \"AAPL\"\nqty = 10\n\
         strategy = { kind = \"threshold\", buy_above = 10.0, sell_below = 5.0 }\n",
    );
    write_ohlc(
        &bot,
        "AAPL",
        &[
            (7.0, 7.0, 7.0, 7.0),
            (7.0, 11.0, 7.0, 11.0),
            (20.0, 21.0, 19.5, 20.0),
            (20.0, 21.0, 17.5, 20.0),
        ],
    );
    let out = out_dir(&bot, "stops");
    let run = bot.run(&[
        "backtest",
        "--cash",
        "1000",
        "--sweep",
        "stop_loss_pct=5,10,20",
        "--rank",
        "Return [%]",
        "--out",
        out.to_str().unwrap(),
    ]);
    check!(run, run.code == 0);
    let rows = read_csv(&out.join("sweep.csv"));
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["stop_loss_pct"].as_str(), r["equity_final"].as_str()))
        .collect();
    check!(
        run,
        got == [("5", "990"), ("10", "980"), ("20", "1000")],
        "{got:?}"
    );
    // The files are the best combination's run: the 5 % stop at 19.
    let trades = read_csv(&out.join("trades.csv"));
    check!(
        run,
        trades[0]["status"] == "closed" && trades[0]["exit_price"].parse::<f64>() == Ok(19.0),
        "{trades:?}"
    );
}

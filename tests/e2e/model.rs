//! `train` and the `model` strategy: a model is trained from the bar cache (before any model
//! file exists), a tick loads it and decides with it exactly as the library computes, and a
//! model for another timeframe or feature set is refused with exit 2.

use crate::check;
use crate::harness::{open_now, Bot};
use chrono::{Datelike, Duration, Weekday};
use prometheus_bot::domain::{Bar, Timeframe};
use prometheus_bot::model::ModelFile;
use prometheus_bot::strategy::Predictor;

const MODEL: &str = "data/models/AAPL-1Day-logreg-v1.json";

/// A bot trading AAPL with `kind = "model"` on `timeframe` bars, and 400 daily AAPL bars in
/// the cache (weekdays at 05:00 UTC, the last one the day before the fake clock).
fn bot(timeframe: &str, threshold: f64) -> (Bot, Vec<Bar>) {
    let bot = Bot::with_symbols("");
    write_config(&bot, timeframe, threshold);
    let bars = daily_bars(400);
    write_cache(&bot, &bars);
    (bot, bars)
}

fn write_cache(bot: &Bot, bars: &[Bar]) {
    let mut csv = String::from("time_utc,open,high,low,close,volume,trades,vwap\n");
    for b in bars {
        csv.push_str(&format!(
            "{},{},{},{},{},{},0,\n",
            b.time.format("%Y-%m-%d %H:%M:%S"),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume
        ));
    }
    std::fs::create_dir_all(bot.path("data/bars")).unwrap();
    std::fs::write(bot.path("data/bars/AAPL-1Day.csv"), csv).unwrap();
}

/// The tests that tick the model say `trade_unvalidated = true`, so that they do not depend
/// on its validation; the gate is tested on its own.
fn write_config(bot: &Bot, timeframe: &str, threshold: f64) {
    write_config_with(bot, timeframe, threshold, ", trade_unvalidated = true");
}

fn write_config_with(bot: &Bot, timeframe: &str, threshold: f64, keys: &str) {
    let url = bot.fake.url();
    let text = format!(
        "[alpaca]\ntrading_url = \"{url}\"\ndata_url = \"{url}\"\nfeed = \"iex\"\n\
         timeout_secs = 1\nmax_retries = 2\nretry_base_ms = 10\n\n\
         [bot]\ntimeframe = \"{timeframe}\"\nhistory = 100\n\n\
         [[symbol]]\nname = \"AAPL\"\nqty = 1\n\
         strategy = {{ kind = \"model\", path = \"{MODEL}\", threshold = {threshold}{keys} }}\n"
    );
    std::fs::write(bot.config_path(), text).unwrap();
}

/// A deterministic wavy series with some noise, so the fit has something to chew on.
fn daily_bars(n: usize) -> Vec<Bar> {
    let mut day = (open_now() - Duration::days(1))
        .date_naive()
        .and_hms_opt(5, 0, 0)
        .unwrap()
        .and_utc();
    let mut times = Vec::with_capacity(n);
    while times.len() < n {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            times.push(day);
        }
        day -= Duration::days(1);
    }
    times.reverse();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    times
        .into_iter()
        .enumerate()
        .map(|(i, time)| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed % 1000) as f64 / 1000.0 - 0.5;
            let x = i as f64;
            let close = 100.0 * (0.1 * (x / 9.0).sin() + 0.02 * noise + 0.0003 * x).exp();
            Bar {
                time,
                open: close * (1.0 - 0.002 * noise),
                high: close * 1.01,
                low: close * 0.99,
                close,
                volume: 1e6 + (seed % 50_000) as f64,
                trades: 0,
                vwap: f64::NAN,
            }
        })
        .collect()
}

fn train(bot: &Bot) -> crate::harness::Run {
    bot.run(&[
        "train", "--symbol", "AAPL", "--train", "200", "--test", "50",
    ])
}

#[test]
fn train_writes_a_model_and_a_tick_loads_it_and_decides_as_the_library_does() {
    let (bot, bars) = bot("1Day", 0.5);
    assert!(!bot.path(MODEL).exists());
    let run = train(&bot);
    check!(
        run,
        run.code == 0,
        "train runs before the model it writes exists"
    );
    check!(
        run,
        run.stdout.contains(
            "AAPL 1Day: 400 bars; walk-forward rolling 200 bars, test 50 bars, 4 windows"
        )
    );
    check!(
        run,
        run.stdout.contains("buy & hold") && run.stdout.contains("sma_cross 10/30")
    );
    check!(run, run.stdout.contains("\nverdict: the model "));
    check!(
        run,
        run.stdout
            .contains(&format!("model written to {}", bot.path(MODEL).display()))
    );
    let text = std::fs::read_to_string(bot.path(MODEL)).unwrap();
    let file: ModelFile = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (file.timeframe.as_str(), file.feature_set.as_str()),
        ("1Day", "bars-v1")
    );
    assert_eq!((file.weights.len(), file.format_version), (12, 1));
    assert_eq!(file.training.fit_on, "final-window");
    assert_eq!(file.training.last, "2026-11-23 05:00:00");
    assert_eq!(file.validation.windows, 4);

    // Training is deterministic: the same bars give the same file, byte for byte.
    let again = train(&bot);
    check!(again, again.code == 0 && again.stdout == run.stdout);
    assert_eq!(std::fs::read_to_string(bot.path(MODEL)).unwrap(), text);

    let tick = bot.tick();
    check!(tick, tick.code == 0);
    let rows = bot.ledger("decisions.csv");
    let d = &rows[0];
    assert_eq!(
        (d["symbol"].as_str(), d["strategy"].as_str()),
        ("AAPL", "mdl")
    );
    assert_eq!(d["bar_time_utc"], "2026-11-23 05:00:00");
    let p = Predictor::from_file(&file, Timeframe::Day1)
        .unwrap()
        .probability(&bars[300..])
        .unwrap();
    check!(
        tick,
        d["reason"].starts_with(&format!("model P(up) {p:.4} ")),
        "the tick must score the cached bars as the library does: {d:?}"
    );
    let (signal, summary) = if p >= 0.5 {
        ("buy", "AAPL buy 1 -> new")
    } else {
        ("hold", "AAPL hold")
    };
    assert_eq!(d["signal"], signal, "{d:?}");
    check!(tick, tick.stdout.contains(summary));
}

#[test]
fn a_model_trained_on_another_timeframe_is_refused_with_exit_2() {
    let (bot, _) = bot("1Day", 0.55);
    let run = train(&bot);
    check!(run, run.code == 0);
    write_config(&bot, "1Hour", 0.55);
    let tick = bot.tick();
    check!(tick, tick.code == 2);
    check!(
        tick,
        tick.stderr.contains("config.toml:16: `path`:")
            && tick
                .stderr
                .contains("was trained on 1Day bars but [bot] timeframe is 1Hour"),
        "names the config line, the key and the mismatch"
    );
    check!(
        tick,
        bot.fake.requests().is_empty(),
        "refused before any request"
    );
    let check = bot.run(&["check"]);
    check!(check, check.code == 2);
}

#[test]
fn a_model_of_another_feature_set_or_a_missing_one_is_refused_with_exit_2() {
    let (bot, _) = bot("1Day", 0.55);
    let tick = bot.tick();
    check!(tick, tick.code == 2);
    check!(
        tick,
        tick.stderr.contains("cannot read the model file")
            && tick
                .stderr
                .contains("prometheus-bot train --symbol AAPL --timeframe 1Day")
    );
    let run = train(&bot);
    check!(run, run.code == 0);
    let path = bot.path(MODEL);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"bars-v1\"", "\"bars-v0\"")).unwrap();
    let tick = bot.tick();
    check!(tick, tick.code == 2);
    check!(
        tick,
        tick.stderr.contains("was trained on feature set `bars-v0`")
    );
}

#[test]
fn train_refuses_bad_arguments_with_exit_2_and_missing_bars_with_exit_1() {
    let (bot, _) = bot("1Day", 0.55);
    let run = bot.run(&["train", "--symbol", "AAPL", "--train", "60"]);
    check!(
        run,
        run.code == 2 && run.stderr.contains("--train 60 is too short")
    );
    let run = bot.run(&["train", "--symbol", "AAPL", "--threshold", "0.3"]);
    check!(
        run,
        run.code == 2 && run.stderr.contains("--threshold must be at least 0.5")
    );
    let run = bot.run(&["train", "--symbol", "AAPL", "--timeframe", "2Min"]);
    check!(run, run.code == 2);
    let run = bot.run(&["train", "--symbol", "MSFT"]);
    check!(
        run,
        run.code == 1 && run.stderr.contains("no 1Day bars cached for MSFT")
    );
    let run = bot.run(&["train", "--symbol", "AAPL"]);
    check!(
        run,
        run.code == 1
            && run
                .stderr
                .contains("400 bars leave no test window after --train 756")
    );
    assert!(!bot.path(MODEL).exists(), "nothing written on failure");
}

#[test]
fn an_unvalidated_model_is_refused_unless_the_config_says_so_and_then_warned_on_every_tick() {
    let (bot, _) = bot("1Day", 0.55);
    let run = train(&bot);
    check!(run, run.code == 0);
    // This series' model passes its validation; the file is made to say it failed.
    let text = std::fs::read_to_string(bot.path(MODEL)).unwrap();
    let failed = text.replace("\"beats_baselines\": true", "\"beats_baselines\": false");
    assert_ne!(text, failed);
    std::fs::write(bot.path(MODEL), failed).unwrap();
    write_config_with(&bot, "1Day", 0.55, "");
    for args in [&["tick"][..], &["check"]] {
        let run = bot.run(args);
        check!(
            run,
            run.code == 2
                && run.stderr.contains("config.toml:16: `path`:")
                && run
                    .stderr
                    .contains("did NOT beat the baselines out of sample")
                && run.stderr.contains("trade_unvalidated = true"),
            "{args:?} refuses the model"
        );
    }
    let tick = bot.tick();
    check!(
        tick,
        bot.fake.requests().is_empty(),
        "refused before any request"
    );
    // Told to trade it anyway, at another threshold than the validated 0.55: both warned.
    write_config_with(&bot, "1Day", 0.6, ", trade_unvalidated = true");
    for _ in 0..2 {
        let tick = bot.tick();
        check!(
            tick,
            tick.code == 0
                && tick.stderr.contains("AAPL: the model ")
                && tick.stderr.contains("did NOT beat the baselines out of sample; trading it because `trade_unvalidated = true`")
                && tick.stderr.contains("was validated with threshold 0.55, the config trades it at 0.6"),
            "every tick warns"
        );
    }
    let check = bot.run(&["check"]);
    check!(
        check,
        check.stdout.contains("model      warning: AAPL: the model")
            && check.stdout.contains("did NOT beat the baselines")
    );
}

#[test]
fn a_model_trained_on_sip_bars_is_refused_on_the_iex_feed() {
    let (bot, _) = bot("1Day", 0.55);
    std::fs::write(
        bot.path("data/bars/AAPL-1Day.csv.meta.json"),
        r#"{"adjustment":"raw","feed":"sip"}"#,
    )
    .unwrap();
    let run = train(&bot);
    check!(run, run.code == 0);
    let file: ModelFile =
        serde_json::from_str(&std::fs::read_to_string(bot.path(MODEL)).unwrap()).unwrap();
    assert_eq!(file.feed, "sip");
    let tick = bot.tick();
    check!(
        tick,
        tick.code == 2
            && tick
                .stderr
                .contains("was trained on sip bars but [alpaca] feed is iex"),
        "refused"
    );
}

/// The issue's case: a cache of SIP-like volumes (about a million a day), then an IEX-like
/// bar (34 thousand). One bar far below the 19 before it has `volume_z_20` = −√19 = −4.36;
/// the training rows' std of `volume_z_20` is near 1, so it lies beyond 4 of them.
#[test]
fn an_iex_volume_after_sip_volumes_holds_on_feature_drift_with_the_reason_in_decisions_csv() {
    let (bot, mut bars) = bot("1Day", 0.5);
    let run = train(&bot);
    check!(run, run.code == 0);
    let file: ModelFile =
        serde_json::from_str(&std::fs::read_to_string(bot.path(MODEL)).unwrap()).unwrap();
    assert_eq!(
        file.feed, "unknown",
        "a cache without a sidecar records no feed"
    );
    let last = bars.len() - 1;
    bars[last].volume = 34_000.0;
    write_cache(&bot, &bars);
    let tick = bot.tick();
    check!(tick, tick.code == 0);
    check!(
        tick,
        tick.stderr
            .contains("was trained on bars of feed `unknown`"),
        "an unknown feed is warned about"
    );
    let rows = bot.ledger("decisions.csv");
    let d = &rows[0];
    assert_eq!(
        (d["signal"].as_str(), d["action"].as_str()),
        ("hold", "hold"),
        "{d:?}"
    );
    // The z-score, by the file's own training mean and std of volume_z_20 (index 9).
    let x = prometheus_bot::strategy::features::features(&bars[300..], false).unwrap();
    assert!((x[9] + 19f64.sqrt()).abs() < 0.05, "volume_z_20 {}", x[9]);
    let z = (x[9] - file.means[9]) / file.stds[9];
    assert!(z < -4.0, "{z}");
    assert_eq!(
        d["reason"],
        format!(
            "feature drift: volume_z_20 is {z:+.2} training standard deviations from its training mean, beyond drift_limit 4; not trusting the model on data unlike its training"
        )
    );
    // With the guard off the same bar is decided by P(up).
    write_config_with(
        &bot,
        "1Day",
        0.5,
        ", trade_unvalidated = true, drift_limit = 0",
    );
    let tick = bot.tick();
    check!(tick, tick.code == 0);
    let rows = bot.ledger("decisions.csv");
    check!(
        tick,
        rows.last().unwrap()["reason"].starts_with("model P(up) ")
    );
}

#[test]
fn train_exports_every_bar_as_csv() {
    let (bot, bars) = bot("1Day", 0.55);
    let out = bot.path("export.csv");
    let run = bot.run(&[
        "train",
        "--symbol",
        "AAPL",
        "--train",
        "200",
        "--test",
        "50",
        "--export",
        out.to_str().unwrap(),
    ]);
    check!(run, run.code == 0 && run.stdout.contains("written to"));
    check!(
        run,
        run.stdout.contains("calibration: Brier ") && run.stdout.contains("reliability   fifth")
    );
    check!(
        run,
        run.stdout.contains("trading returns: mean ")
            && run.stdout.contains("importance (saved model")
    );
    let rows = crate::harness::read_csv(&out);
    assert_eq!(rows.len(), bars.len());
    assert_eq!(rows[399]["time_utc"], "2026-11-23 05:00:00");
    // Test windows start at bar 200 (rolling 200, test 50): P(up) from there on, not before.
    assert_eq!(
        (rows[199]["window"].as_str(), rows[199]["p_up"].as_str()),
        ("", "")
    );
    assert_eq!(rows[200]["window"], "1");
    assert_eq!(rows[399]["window"], "4");
    let p: f64 = rows[250]["p_up"].parse().unwrap();
    assert!(p > 0.0 && p < 1.0);
    let up = bars[255].close / bars[250].close - 1.0 > 0.004;
    assert_eq!(rows[250]["label"], if up { "1" } else { "0" });
    assert_eq!(rows[399]["label"], "", "the last 5 bars have no label");

    // The verdict's rule is recorded with the verdict; an unknown rule is a usage error.
    let run = bot.run(&[
        "train",
        "--symbol",
        "AAPL",
        "--train",
        "200",
        "--test",
        "50",
        "--verdict",
        "risk-adjusted",
    ]);
    check!(run, run.code == 0);
    let file: ModelFile =
        serde_json::from_str(&std::fs::read_to_string(bot.path(MODEL)).unwrap()).unwrap();
    assert_eq!(file.validation.rule, "risk-adjusted");
    check!(
        run,
        run.stdout.contains(
            "verdict (risk-adjusted rule: Sharpe above both baselines, return not required): "
        )
    );
    let run = bot.run(&["train", "--symbol", "AAPL", "--verdict", "sharpe"]);
    check!(
        run,
        run.code == 2 && run.stderr.contains("--verdict `sharpe`")
    );
}

/// The fake's daily AAPL bars, as `fetch` receives them.
fn fake_daily(bot: &Bot, bars: &[Bar]) {
    let fake: Vec<crate::fake_alpaca::FakeBar> = bars
        .iter()
        .map(|b| crate::fake_alpaca::FakeBar {
            t: b.time,
            o: b.open,
            h: b.high,
            l: b.low,
            c: b.close,
            v: b.volume as u64,
            n: 10,
            vw: b.close,
        })
        .collect();
    bot.fake.add_bars("AAPL", "1Day", &fake);
}

#[test]
fn fetch_records_the_feed_and_the_cache_refuses_to_mix_iex_and_sip_or_an_import() {
    let bot = Bot::with_symbols("");
    write_config(&bot, "1Day", 0.55);
    fake_daily(&bot, &daily_bars(30));
    let meta = || std::fs::read_to_string(bot.path("data/bars/AAPL-1Day.csv.meta.json")).unwrap();
    let run = bot.run(&[
        "fetch",
        "AAPL",
        "--timeframe",
        "1Day",
        "--start",
        "2026-01-01",
    ]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("(iex feed, raw): 30 bars")
    );
    check!(run, meta().contains("\"feed\": \"iex\""), "{}", meta());
    let before = std::fs::read_to_string(bot.path("data/bars/AAPL-1Day.csv")).unwrap();
    let bar_requests = || {
        bot.fake
            .requests()
            .iter()
            .filter(|r| r.path == "/v2/stocks/bars")
            .count()
    };
    let requests = bar_requests();
    let run = bot.run(&[
        "fetch",
        "AAPL",
        "--timeframe",
        "1Day",
        "--start",
        "2026-01-01",
        "--feed",
        "sip",
    ]);
    check!(
        run,
        run.code == 1
            && run
                .stderr
                .contains("AAPL-1Day.csv holds iex bars; refusing to mix in sip bars"),
        "the two live feeds never share a file"
    );
    check!(
        run,
        bar_requests() == requests,
        "refused before asking for bars"
    );
    let csv = bot.path("import.csv");
    std::fs::write(
        &csv,
        "Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,1.5,100\n",
    )
    .unwrap();
    let run = bot.run(&["import", csv.to_str().unwrap(), "--symbol", "AAPL"]);
    check!(
        run,
        run.code == 1
            && run
                .stderr
                .contains("holds iex bars; refusing to mix in import bars"),
        "imported volumes never go into a fetched file"
    );
    assert_eq!(
        std::fs::read_to_string(bot.path("data/bars/AAPL-1Day.csv")).unwrap(),
        before
    );
    // An import into a fresh file records `import`; a model trained on it says so, and the
    // tick trades it with a warning (its volumes' feed is unknown).
    std::fs::remove_file(bot.path("data/bars/AAPL-1Day.csv")).unwrap();
    std::fs::remove_file(bot.path("data/bars/AAPL-1Day.csv.meta.json")).unwrap();
    let mut text = String::from("Date,Open,High,Low,Close,Volume\n");
    for b in daily_bars(400) {
        let day = b.time.format("%Y-%m-%d");
        text.push_str(&format!(
            "{day},{},{},{},{},{}\n",
            b.open, b.high, b.low, b.close, b.volume
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let run = bot.run(&["import", csv.to_str().unwrap(), "--symbol", "AAPL"]);
    check!(run, run.code == 0);
    check!(run, meta().contains("\"feed\": \"import\""), "{}", meta());
    let run = train(&bot);
    check!(run, run.code == 0);
    let file: ModelFile =
        serde_json::from_str(&std::fs::read_to_string(bot.path(MODEL)).unwrap()).unwrap();
    assert_eq!(file.feed, "import");
    let tick = bot.tick();
    check!(
        tick,
        tick.code == 0
            && tick.stderr.contains(
                "was trained on bars of feed `import` (imported or unrecorded), the tick reads iex"
            )
    );
}

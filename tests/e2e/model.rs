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
    let mut csv = String::from("time_utc,open,high,low,close,volume,trades,vwap\n");
    for b in &bars {
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
    (bot, bars)
}

fn write_config(bot: &Bot, timeframe: &str, threshold: f64) {
    let url = bot.fake.url();
    let text = format!(
        "[alpaca]\ntrading_url = \"{url}\"\ndata_url = \"{url}\"\nfeed = \"iex\"\n\
         timeout_secs = 1\nmax_retries = 2\nretry_base_ms = 10\n\n\
         [bot]\ntimeframe = \"{timeframe}\"\nhistory = 100\n\n\
         [[symbol]]\nname = \"AAPL\"\nqty = 1\n\
         strategy = {{ kind = \"model\", path = \"{MODEL}\", threshold = {threshold} }}\n"
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

//! History: `fetch`, `import` and `data check` against the fake Alpaca and small fixtures.

use crate::check;
use crate::fake_alpaca::{FakeBar, Fault};
use crate::harness::{open_now, Bot};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc, Weekday};

/// Daily bars stamped at midnight New York (05:00Z in November), weekdays before `end`.
fn daily(end: DateTime<Utc>, days: usize, base: f64) -> Vec<FakeBar> {
    let mut bars = Vec::new();
    let mut day = end.date_naive() - Duration::days(1);
    while bars.len() < days {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            let t = Utc.from_utc_datetime(&day.and_hms_opt(5, 0, 0).unwrap());
            let c = base + bars.len() as f64;
            bars.push(FakeBar {
                t,
                o: c,
                h: c + 1.0,
                l: c - 1.0,
                c,
                v: 1000,
                n: 10,
                vw: c,
            });
        }
        day -= Duration::days(1);
    }
    bars.reverse();
    bars
}

fn cached(bot: &Bot, file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(bot.path(&format!("data/bars/{file}"))).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

#[test]
fn fetch_follows_short_pages_and_straddling_symbols_to_the_end() {
    let bot = Bot::new();
    bot.fake
        .add_bars("AAPL", "1Day", &daily(open_now(), 12, 100.0));
    bot.fake
        .add_bars("TSLA", "1Day", &daily(open_now(), 9, 200.0));
    bot.fake.set_max_page(5);
    bot.fake.set_short_page_every(2);
    let run = bot.run(&["fetch", "--start", "2026-10-01"]);
    check!(run, run.code == 0);
    check!(
        run,
        run.stdout.contains("AAPL 1Day (iex feed, raw): 12 bars")
            && run.stdout.contains("TSLA 1Day (iex feed, raw): 9 bars")
    );
    let pages: Vec<_> = bot
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v2/stocks/bars")
        .collect();
    assert!(
        pages.len() >= 5,
        "21 bars at <= 5 a page with short pages: {}",
        pages.len()
    );
    assert!(pages[0].q("page_token").is_none() && pages[1].q("page_token").is_some());
    assert_eq!(pages[0].q("limit"), Some("10000"));
    assert_eq!(pages[0].q("symbols"), Some("AAPL,TSLA"));
    let aapl = cached(&bot, "AAPL-1Day.csv");
    assert_eq!(aapl.len(), 12);
    assert!(aapl.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    assert!(
        aapl.iter().all(|t| t.ends_with("05:00:00")),
        "daily bars at midnight New York: {aapl:?}"
    );
    assert_eq!(cached(&bot, "TSLA-1Day.csv").len(), 9);
}

#[test]
fn a_second_fetch_asks_only_for_what_is_missing() {
    let bot = Bot::new();
    bot.fake
        .add_bars("AAPL", "1Day", &daily(open_now(), 10, 100.0));
    let run = bot.run(&["fetch", "AAPL", "--start", "2026-10-01"]);
    check!(run, run.code == 0 && run.stdout.contains("(+10 new)"));
    let last = cached(&bot, "AAPL-1Day.csv").pop().unwrap();

    let later = open_now() + Duration::days(1);
    bot.fake.set_clock(later, true);
    bot.fake.add_bars("AAPL", "1Day", &daily(later, 11, 100.0));
    bot.fake.clear_requests();
    let run = bot.run(&["fetch", "aapl", "--start", "2026-10-01"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("11 bars") && run.stdout.contains("(+1 new)")
    );
    let request = bot
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/v2/stocks/bars")
        .unwrap();
    let start = request.q("start").unwrap().to_string();
    assert!(
        start.as_str() > "2026-11-01" && start < last.replace(' ', "T"),
        "re-fetches the last few bars only: {start} (last {last})"
    );
}

#[test]
fn fetch_rides_out_rate_limits_with_and_without_headers() {
    for headers in [true, false] {
        let bot = Bot::new();
        bot.fake
            .add_bars("AAPL", "1Day", &daily(open_now(), 3, 100.0));
        bot.fake
            .fail("GET", "/v2/stocks/bars", Fault::RateLimited { headers }, 1);
        let run = bot.run(&["fetch", "AAPL", "--start", "2026-11-01"]);
        check!(
            run,
            run.code == 0 && run.stdout.contains("3 bars"),
            "headers: {headers}"
        );
        check!(run, run.stderr.contains("429"), "the wait is logged");
    }
}

#[test]
fn free_plan_sip_requests_are_clamped_switched_or_explained() {
    // Clamped (the default): end is 15 minutes before the broker's clock.
    let bot = Bot::new();
    bot.fake.set_free_plan(true);
    bot.fake
        .add_bars("AAPL", "1Day", &daily(open_now(), 3, 100.0));
    let run = bot.run(&["fetch", "AAPL", "--feed", "sip", "--start", "2026-11-01"]);
    check!(
        run,
        run.code == 0 && run.stderr.contains("SIP data stops 15 minutes ago")
    );
    let r = bot
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/v2/stocks/bars")
        .unwrap();
    assert_eq!(r.q("feed"), Some("sip"));
    assert_eq!(r.q("end"), Some("2026-11-24T15:15:30Z"));

    // Switched to IEX when the config says so.
    let bot = Bot::new();
    bot.fake.set_free_plan(true);
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        config.replace("feed = \"iex\"", "feed = \"sip\"\nrecent_sip = \"iex\""),
    )
    .unwrap();
    let run = bot.run(&["fetch", "AAPL", "--start", "2026-11-01"]);
    check!(
        run,
        run.code == 0 && run.stderr.contains("uses the IEX feed")
    );
    let r = bot
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/v2/stocks/bars")
        .unwrap();
    assert_eq!(r.q("feed"), Some("iex"));

    // A config that claims a paid plan gets the 403, explained.
    let bot = Bot::new();
    bot.fake.set_free_plan(true);
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        config.replace("feed = \"iex\"", "feed = \"sip\"\nsubscription = \"paid\""),
    )
    .unwrap();
    let run = bot.run(&["fetch", "AAPL", "--start", "2026-11-01"]);
    check!(run, run.code == 1);
    check!(
        run,
        run.stderr
            .contains("does not include the last 15 minutes of SIP")
            && run.stderr.contains("feed = \"iex\"")
    );
    assert!(!bot.path("data/bars/AAPL-1Day.csv").exists());
}

#[test]
fn fetch_refuses_to_mix_adjustments_and_bad_arguments() {
    let bot = Bot::new();
    bot.fake
        .add_bars("TSLA", "1Day", &daily(open_now(), 3, 100.0));
    let run = bot.run(&[
        "fetch",
        "TSLA",
        "--adjustment",
        "split",
        "--start",
        "2026-11-01",
    ]);
    check!(run, run.code == 0 && run.stdout.contains("split"));
    assert_eq!(
        bot.fake
            .requests()
            .iter()
            .find(|r| r.path == "/v2/stocks/bars")
            .unwrap()
            .q("adjustment"),
        Some("split")
    );
    let run = bot.run(&[
        "fetch",
        "TSLA",
        "--adjustment",
        "raw",
        "--start",
        "2026-11-01",
    ]);
    check!(
        run,
        run.code == 1 && run.stderr.contains("holds `split`-adjusted bars")
    );
    let run = bot.run(&["fetch", "TSLA", "--start", "2026-11-01"]);
    check!(
        run,
        run.code == 0,
        "without --adjustment the cache's own is used"
    );
    for bad in [
        ["--timeframe", "2Min"],
        ["--start", "01/02/2024"],
        ["--adjustment", "weird"],
        ["--feed", "otc"],
    ] {
        let mut args = vec!["fetch", "TSLA"];
        args.extend_from_slice(&bad);
        let run = bot.run(&args);
        check!(run, run.code == 2, "{bad:?}");
    }
}

#[test]
fn a_minute_fetch_waits_for_a_running_tick_but_a_daily_one_does_not() {
    use fs2::FileExt;
    let bot = Bot::new();
    bot.fake
        .add_bars("AAPL", "1Day", &daily(open_now(), 3, 100.0));
    std::fs::create_dir_all(bot.path("data")).unwrap();
    let lock = std::fs::File::create(bot.path("data/prometheus-bot.lock")).unwrap();
    lock.lock_exclusive().unwrap();
    let run = bot.run(&[
        "fetch",
        "AAPL",
        "--timeframe",
        "1Min",
        "--start",
        "2026-11-20",
    ]);
    check!(run, run.code == 3);
    let run = bot.run(&["fetch", "AAPL", "--start", "2026-11-01"]);
    check!(run, run.code == 0);
}

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/import/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn import_reads_yahoo_stooq_and_generic_files() {
    let bot = Bot::new();
    let run = bot.run(&["import", &fixture("yahoo-AAPL.csv"), "--symbol", "AAPL"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("read 5 bars (Yahoo layout, split)")
    );
    let rows = std::fs::read_to_string(bot.path("data/bars/AAPL-1Day.csv")).unwrap();
    assert!(
        rows.contains(
            "2024-01-02 05:00:00,187.149994,188.440002,183.889999,185.639999,82488700,0,\n"
        ),
        "{rows}"
    );

    let run = bot.run(&["import", &fixture("stooq-TSLA.csv"), "--symbol", "TSLA"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("read 3 bars (Stooq layout, raw)")
    );

    let run = bot.run(&[
        "import",
        &fixture("generic-minutes.csv"),
        "--symbol",
        "AAPL",
        "--timeframe",
        "1Min",
    ]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("read 3 bars (Generic layout, raw)")
    );
    assert_eq!(
        cached(&bot, "AAPL-1Min.csv")[0],
        "2024-01-02 14:30:00",
        "09:30 New York is 14:30 UTC in January"
    );
    let run = bot.run(&[
        "import",
        &fixture("generic-minutes.csv"),
        "--symbol",
        "MSFT",
        "--timeframe",
        "1Min",
        "--tz",
        "UTC",
    ]);
    check!(run, run.code == 0);
    assert_eq!(cached(&bot, "MSFT-1Min.csv")[0], "2024-01-02 09:30:00");
}

#[test]
fn import_reads_yfinance_semicolon_epoch_and_pandas_files_as_shipped() {
    let bot = Bot::new();
    for (file, symbol, timeframe, said, first) in [
        ("yfinance-download-AAPL.csv", "AAPL", "1Day", "read 3 bars (YfinanceDownload layout, all)", "2024-01-02 05:00:00,185.78946044719652,187.11850652392627,182.55249193538052,184.08140563964844,82488700,"),
        ("yfinance-history-AAPL.csv", "MSFT", "1Day", "read 2 bars (YfinanceHistory layout, all)", "2024-01-02 05:00:00,185.78946044719652,"),
        ("semicolon-minutes.csv", "AAPL", "1Min", "read 2 bars (Generic layout, raw)", "2024-01-02 14:30:00,187.15,188.44,183.89,185.64,1200,"),
        ("epoch-seconds.csv", "TSLA", "1Min", "read 2 bars (Generic layout, raw)", "2024-01-02 14:30:00,187.15,"),
        ("epoch-milliseconds.csv", "NVDA", "1Min", "read 2 bars (Generic layout, raw)", "2024-01-02 14:30:00,187.15,"),
    ] {
        let run = bot.run(&["import", &fixture(file), "--symbol", symbol, "--timeframe", timeframe]);
        check!(run, run.code == 0 && run.stdout.contains(said), "{file}");
        let rows = std::fs::read_to_string(bot.path(&format!("data/bars/{symbol}-{timeframe}.csv"))).unwrap();
        assert!(rows.lines().nth(1).unwrap().starts_with(first), "{file}: {rows}");
    }
    // backtesting.py's GOOG sample: pandas' unnamed index column, as shipped.
    let goog = format!("{}/tests/fixtures/GOOG.csv", env!("CARGO_MANIFEST_DIR"));
    let run = bot.run(&["import", &goog, "--symbol", "GOOG"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("read 2148 bars (Stooq layout, raw)")
    );
    let rows = std::fs::read_to_string(bot.path("data/bars/GOOG-1Day.csv")).unwrap();
    assert!(
        rows.lines()
            .nth(1)
            .unwrap()
            .starts_with("2004-08-19 04:00:00,100,104.06,95.96,100.34,22351900,"),
        "{rows}"
    );
}

#[test]
fn import_stops_at_a_bad_row_and_changes_nothing() {
    let bot = Bot::new();
    let run = bot.run(&["import", &fixture("yahoo-AAPL.csv"), "--symbol", "AAPL"]);
    check!(run, run.code == 0);
    let before = std::fs::read(bot.path("data/bars/AAPL-1Day.csv")).unwrap();
    let run = bot.run(&["import", &fixture("bad-row.csv"), "--symbol", "AAPL"]);
    check!(
        run,
        run.code == 1
            && run.stderr.contains("bad-row.csv line 3")
            && run.stderr.contains("nothing was imported")
    );
    assert_eq!(
        std::fs::read(bot.path("data/bars/AAPL-1Day.csv")).unwrap(),
        before
    );
    let run = bot.run(&["import", &fixture("stooq-TSLA.csv"), "--symbol", "AAPL"]);
    check!(
        run,
        run.code == 1 && run.stderr.contains("holds `split`-adjusted bars"),
        "Stooq (raw) into a Yahoo (split) file"
    );
}

/// A big file (over 4 MB: read a megabyte at a time on two threads) with `\r\n` line ends
/// becomes exactly the cache text written by hand; one with a bad row in its second half
/// names that row's own line and changes nothing.
#[test]
fn import_of_a_big_crlf_file_and_a_bad_row_in_its_second_half() {
    let bot = Bot::new();
    let (mut input, mut expected) = (String::new(), String::new());
    input.push_str("time_utc,open,high,low,close,volume\r\n");
    expected.push_str("time_utc,open,high,low,close,volume,trades,vwap\n");
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    for i in 0..100_000u32 {
        let (day, minute) = (i / 390, i % 390);
        let date = start + chrono::Duration::days(i64::from(day));
        let (h, m) = (14 + (30 + minute) / 60, (30 + minute) % 60);
        let cents = 10_000 + i % 997;
        let price = format!("{}.{:02}", cents / 100, cents % 100);
        let price = price.trim_end_matches('0').trim_end_matches('.');
        let row = format!("{date} {h:02}:{m:02}:00,{price},{price},{price},{price},{i}");
        input.push_str(&format!("{row}\r\n"));
        expected.push_str(&format!("{row},0,\n"));
    }
    assert!(input.len() > 5 << 20);
    let import = |file: &std::path::Path| {
        bot.run(&[
            "import",
            file.to_str().unwrap(),
            "--symbol",
            "AAPL",
            "--timeframe",
            "1Min",
        ])
    };
    let big = bot.path("big.csv");
    std::fs::write(&big, &input).unwrap();
    let run = import(&big);
    check!(
        run,
        run.code == 0 && run.stdout.contains("read 100000 bars")
    );
    let cache = bot.path("data/bars/AAPL-1Min.csv");
    assert!(
        std::fs::read_to_string(&cache).unwrap() == expected,
        "the cache text"
    );

    let mut lines: Vec<&str> = input.split("\r\n").collect();
    let bad_line = lines.len() * 3 / 4;
    let bad = lines[bad_line - 1].replacen(",", ",abc", 1);
    lines[bad_line - 1] = &bad;
    let bad_file = bot.path("big-bad.csv");
    std::fs::write(&bad_file, lines.join("\r\n")).unwrap();
    let run = import(&bad_file);
    check!(
        run,
        run.code == 1
            && run
                .stderr
                .contains(&format!("big-bad.csv line {bad_line}:"))
            && run.stderr.contains("is not a number; nothing was imported")
    );
    assert!(
        std::fs::read_to_string(&cache).unwrap() == expected,
        "unchanged"
    );
}

#[test]
fn import_merges_into_the_cache_sorted_and_unique() {
    let bot = Bot::new();
    let overlap = bot.path("overlap.csv");
    std::fs::write(&overlap, "date,open,high,low,close\n2024-01-09,1,2,0.5,1.5\n2024-01-05,181.990005,182.759995,180.169998,181.179993\n").unwrap();
    let run = bot.run(&["import", &fixture("yahoo-AAPL.csv"), "--symbol", "AAPL"]);
    check!(run, run.code == 0);
    let run = bot.run(&[
        "import",
        overlap.to_str().unwrap(),
        "--symbol",
        "AAPL",
        "--adjustment",
        "split",
    ]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("cache now 6 bars") && run.stdout.contains("(+1 new)")
    );
    let times = cached(&bot, "AAPL-1Day.csv");
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
}

#[test]
fn data_check_of_a_symbol_without_bars_fails_naming_it() {
    let bot = Bot::new();
    let run = bot.run(&["data", "check", "AAPL"]);
    check!(
        run,
        run.code != 0
            && run.stderr.contains("no cached bars for AAPL")
            && run.stderr.contains("fetch AAPL")
    );
    let run = bot.run(&["import", &fixture("stooq-TSLA.csv"), "--symbol", "TSLA"]);
    check!(run, run.code == 0);
    let run = bot.run(&["data", "check", "TSLA", "aapl"]);
    check!(
        run,
        run.code != 0
            && run.stdout.contains("TSLA-1Day.csv: ok")
            && run.stderr.contains("no cached bars for AAPL")
            && run.stderr.contains("fetch AAPL")
    );
    let run = bot.run(&["data", "check", "TSLA"]);
    check!(run, run.code == 0);
}

#[test]
fn data_check_finds_each_kind_of_problem() {
    let bot = Bot::new();
    std::fs::create_dir_all(bot.path("data/bars")).unwrap();
    let header = "time_utc,open,high,low,close,volume,trades,vwap\n";
    std::fs::write(
        bot.path("data/bars/AAPL-1Min.csv"),
        format!(
            "{header}2026-11-24 15:00:00,1,2,0.5,1.5,10,1,\n2026-11-24 15:01:00,1,2,0.5,1.5,10,1,\n\
             2026-11-24 15:01:00,1,2,0.5,1.5,10,1,\n2026-11-24 14:59:00,1,2,0.5,1.5,10,1,\n\
             2026-11-24 15:10:00,1,2,1.2,1.1,10,1,\n2026-11-24 15:11:00,1,2,0.5,1.5,-5,1,\n\
             2026-11-24 15:12:00,0,2,0,1.5,10,1,\n"
        ),
    )
    .unwrap();
    std::fs::write(bot.path("data/bars/TSLA-1Day.csv"), format!("{header}2026-11-23 05:00:00,1,2,0.5,1.5,10,1,1.2\n2026-11-24 05:00:00,1,2,0.5,1.5,10,1,1.2\n")).unwrap();
    let run = bot.run(&["data", "check"]);
    check!(
        run,
        run.code == 1 && run.stderr.contains("unusable bar files: AAPL-1Min.csv")
    );
    for needle in [
        "AAPL-1Min.csv: UNUSABLE, 7 bars, 2026-11-24 14:59:00 .. 2026-11-24 15:12:00",
        "line 4: duplicate timestamp 2026-11-24 15:01:00",
        "line 5: 2026-11-24 14:59:00 is earlier than the row before (unsorted)",
        "line 6: impossible bar: low 1.2 is above",
        "line 7: impossible bar: negative volume -5",
        "line 8: impossible bar: non-positive",
        "2026-11-24 14:59:00 -> 2026-11-24 15:10:00: 10 regular-hours minute(s) missing",
        "TSLA-1Day.csv: ok, 2 bars",
    ] {
        check!(run, run.stdout.contains(needle), "missing `{needle}`");
    }
    let run = bot.run(&["data", "check", "TSLA"]);
    check!(run, run.code == 0 && !run.stdout.contains("AAPL"));
}

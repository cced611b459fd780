//! `data check` with symbols named on the command line.

use crate::check;
use crate::harness::Bot;

/// `data check AAPL` with no AAPL cache said "no cached bars" and exited 0: a script checking
/// its cache before a backtest went on with nothing.
#[test]
fn data_check_of_a_symbol_without_a_cache_file_fails_naming_the_file() {
    let bot = Bot::new();
    std::fs::create_dir_all(bot.path("data/bars")).unwrap();
    let header = "time_utc,open,high,low,close,volume,trades,vwap\n";
    std::fs::write(
        bot.path("data/bars/TSLA-1Day.csv"),
        format!("{header}2026-11-23 05:00:00,1,2,0.5,1.5,10,1,1.2\n"),
    )
    .unwrap();
    let expected = bot.path("data/bars/AAPL-1Min.csv");
    for args in [
        &["data", "check", "AAPL"][..],
        &["data", "check", "aapl", "TSLA"],
    ] {
        let run = bot.run(args);
        check!(
            run,
            run.code == 1
                && run.stderr.contains("no cached bars for AAPL")
                && run.stderr.contains(&expected.display().to_string())
                && run.stderr.contains("prometheus-bot fetch AAPL")
        );
    }
    let run = bot.run(&["data", "check", "AAPL", "TSLA"]);
    check!(
        run,
        run.stdout.contains("TSLA-1Day.csv: ok, 1 bars"),
        "TSLA is still reported"
    );
    let run = bot.run(&["data", "check", "TSLA"]);
    check!(run, run.code == 0);
}

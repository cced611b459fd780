//! A new user's first runs: keys in `.env` as people write them, keys missing or half there,
//! no network, a broken config. Each leaves no file behind when it stops, and never prints a
//! key (`Bot::run_as` greps every stream and every file of each run for both halves).

use crate::check;
use crate::fake_alpaca::{KEY_ID, SECRET};
use crate::harness::{files_under, Bot, Run};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The files under the bot's folder and its working folder, sorted.
fn files(bot: &Bot) -> Vec<PathBuf> {
    let mut all = files_under(bot.dir.path());
    all.extend(files_under(bot.cwd.path()));
    all.sort();
    all
}

fn no_keys(bot: &Bot, args: &[&str]) -> Run {
    bot.run_env(args, &[])
}

/// Written as Notepad and people do: a byte order mark, CRLF, `export`, quotes and a comment
/// after the value. The fake broker answers 401 to any other key, so a tick that trades proves
/// that both halves were read exactly.
#[test]
fn a_dotenv_with_bom_crlf_export_quotes_and_comments_is_read() {
    let bot = Bot::new();
    std::fs::write(
        bot.path(".env"),
        format!(
            "\u{feff}# my paper keys\r\nexport ALPACA_KEY=\"{KEY_ID}\" # paper\r\n\r\n\
             ALPACA_SECRET={SECRET} # from the dashboard\r\n"
        ),
    )
    .unwrap();
    let run = no_keys(&bot, &["tick"]);
    check!(run, run.code == 0 && run.stdout.contains("AAPL hold"));
}

/// PowerShell 5.1's `>` writes UTF-16: the error names the encoding, and the tick stops
/// before any request and before writing anything.
#[test]
fn a_utf16_dotenv_is_refused_naming_the_encoding() {
    let bot = Bot::new();
    let text = format!("ALPACA_KEY={KEY_ID}\r\nALPACA_SECRET={SECRET}\r\n");
    let bytes: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(bot.path(".env"), bytes).unwrap();
    let before = files(&bot);
    let run = no_keys(&bot, &["tick"]);
    check!(
        run,
        run.code == 2 && run.stderr.contains("UTF-16 little-endian") && run.stderr.contains(".env")
    );
    assert!(bot.fake.requests().is_empty());
    assert_eq!(files(&bot), before, "nothing written{run}");
}

/// A key id without its secret said "no Alpaca API keys found"; it now names the variable that
/// is missing and where its partner was found.
#[test]
fn a_key_without_its_secret_names_the_missing_variable() {
    let bot = Bot::new();
    std::fs::write(bot.path(".env"), format!("APCA_API_KEY_ID={KEY_ID}\n")).unwrap();
    let before = files(&bot);
    let run = no_keys(&bot, &["tick"]);
    check!(
        run,
        run.code == 2
            && run.stderr.contains("APCA_API_KEY_ID is set")
            && run.stderr.contains("APCA_API_SECRET_KEY is not")
    );
    assert_eq!(files(&bot), before, "nothing written{run}");
    std::fs::remove_file(bot.path(".env")).unwrap();
    let run = bot.run_env(&["check"], &[("ALPACA_SECRET", SECRET)]);
    check!(
        run,
        run.code == 2
            && run
                .stderr
                .contains("ALPACA_SECRET is set (in the environment)")
            && run.stderr.contains("ALPACA_KEY is not")
    );
    assert!(bot.fake.requests().is_empty());
}

/// A failed config or missing keys wrote an empty `logs/prometheus-bot.log` (and with it the
/// `logs/` folder): a run that stops for a person to act writes nothing at all.
#[test]
fn missing_keys_or_a_broken_config_write_nothing() {
    let bot = Bot::new();
    let before = files(&bot);
    for args in [
        &["tick"][..],
        &["check"],
        &["fetch", "AAPL"],
        &["reconcile"],
    ] {
        let run = no_keys(&bot, args);
        check!(
            run,
            run.code == 2 && run.stderr.contains("no Alpaca API keys")
        );
        assert_eq!(files(&bot), before, "{args:?} wrote a file{run}");
    }
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        config.replace("history = 20", "history = \"x\""),
    )
    .unwrap();
    let before = files(&bot);
    let run = bot.run(&["tick"]);
    check!(run, run.code == 2 && run.stderr.contains("history"));
    assert_eq!(files(&bot), before, "a broken config wrote a file{run}");
    assert!(bot.fake.requests().is_empty());
    assert!(!bot.path("logs").exists() && !bot.path("data").exists());
}

/// Placeholder keys and no network (here: a host that cannot resolve). One failed lookup
/// gives an error naming the host and what to check, at once: before, three retries of DNS
/// (0.5 + 1 + 2 s of backoff) came first and the message was "io: failed to lookup address".
#[test]
fn an_unresolvable_host_is_named_after_one_lookup() {
    let bot = Bot::new();
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    let url = bot.fake.url();
    std::fs::write(
        bot.config_path(),
        config
            .replace(
                &format!("trading_url = \"{url}\""),
                "trading_url = \"https://no-such-host.invalid\"",
            )
            .replace("retry_base_ms = 10", "retry_base_ms = 400"),
    )
    .unwrap();
    let placeholders = [
        ("ALPACA_KEY", "PKXXXXXXXXXXXXXXXXXX"),
        ("ALPACA_SECRET", "your-paper-secret"),
    ];
    let started = Instant::now();
    let run = bot.run_env(&["tick"], &placeholders);
    let took = started.elapsed();
    check!(
        run,
        run.code == 1
            && run
                .stderr
                .contains("cannot resolve the host `no-such-host.invalid`")
            && run.stderr.contains("check trading_url in the config")
            && !run.stderr.contains("retrying")
    );
    // max_retries = 2 with 400 ms backoff would have waited 1.2 s before failing.
    assert!(took < Duration::from_secs(1), "took {took:?}{run}");
    for (_, value) in placeholders {
        assert!(!run.stderr.contains(value) && !run.stdout.contains(value));
    }
    let log = std::fs::read_to_string(bot.path("logs/prometheus-bot.log")).unwrap_or_default();
    assert!(!log.contains("your-paper-secret"));
}

/// `-h`, `--version` and a misspelt command, as people expect of a CLI, from the binary: help
/// and version on stdout with exit 0, the mistake on stderr with exit 2 and a suggestion.
#[test]
fn short_help_version_and_did_you_mean_from_the_binary() {
    let bot = Bot::new();
    let before = files(&bot);
    let run = bot.run(&["-h"]);
    check!(run, run.code == 0 && run.stdout.starts_with("Usage: "));
    check!(run, !run.stdout.contains("{{"), "argh's doubled braces");
    let run = bot.run(&["backtest", "-h"]);
    check!(run, run.code == 0 && run.stdout.contains("--walk-forward"));
    let run = bot.run(&["--version"]);
    check!(
        run,
        run.code == 0 && run.stdout == format!("prometheus-bot {}\n", env!("CARGO_PKG_VERSION"))
    );
    let run = bot.run(&["tikc"]);
    check!(
        run,
        run.code == 2 && run.stderr.contains("did you mean `tick`?") && run.stdout.is_empty()
    );
    assert_eq!(files(&bot), before);
    assert!(bot.fake.requests().is_empty());
}

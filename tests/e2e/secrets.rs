//! Secrets and live money: the host dialled is the host checked, keys never reach a log, a
//! webhook's secret path is never printed.

use crate::check;
use crate::fake_alpaca::{Fault, KEY_ID, SECRET};
use crate::harness::{files_under, Bot, Receiver, Run};
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A listener that counts the connections it gets (and closes them at once): proof that a
/// run dialled nothing, or what it would have dialled.
struct Tap {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Tap {
    fn start(ip: &str) -> Option<Tap> {
        let listener = TcpListener::bind((ip, 0)).ok()?;
        let port = listener.local_addr().ok()?.port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
                let _ = stream.read(&mut [0u8; 4096]);
            }
        });
        Some(Tap { port, hits })
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Replace the `[alpaca]` line that starts with `key =` by `key = value`.
fn set_alpaca_key(bot: &Bot, key: &str, value: &str) {
    let text = std::fs::read_to_string(bot.config_path()).unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{key} =")) {
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(bot.config_path(), lines.join("\n") + "\n").unwrap();
}

fn append_config(bot: &Bot, extra: &str) {
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(bot.config_path(), format!("{config}\n{extra}\n")).unwrap();
}

fn keys() -> Vec<(&'static str, &'static str)> {
    vec![("ALPACA_KEY", KEY_ID), ("ALPACA_SECRET", SECRET)]
}

#[test]
fn a_live_host_written_any_way_is_refused_with_live_false_before_any_request() {
    // Every spelling dials api.alpaca.markets. With a proxy in the environment (ureq honours
    // HTTPS_PROXY), a run that would dial it connects to the tap instead of the internet.
    let tap = Tap::start("127.0.0.1").unwrap();
    let proxy = format!("http://127.0.0.1:{}", tap.port);
    for live in [
        "https://API.alpaca.markets",
        "https://api.alpaca.markets.",
        "https://api.alpaca.markets:443",
        "https://Api.Alpaca.Markets.:443/",
        "https://paper-api.alpaca.markets@api.alpaca.markets",
    ] {
        let bot = Bot::new();
        set_alpaca_key(&bot, "trading_url", &format!("\"{live}\""));
        for cmd in ["tick", "check"] {
            let mut env = keys();
            env.extend([
                ("HTTPS_PROXY", proxy.as_str()),
                ("ALL_PROXY", proxy.as_str()),
            ]);
            let run = bot.run_env(&[cmd], &env);
            check!(
                run,
                run.code == 2 && run.stderr.contains("config.toml:2: `trading_url`"),
                "{live}: refused, naming trading_url"
            );
            check!(run, tap.hits() == 0, "{live}: the live host was dialled");
            check!(
                run,
                bot.fake.requests().is_empty(),
                "{live}: a request was sent"
            );
        }
    }
}

#[test]
fn http_user_info_before_a_loopback_host_is_refused_and_sends_nothing() {
    // `http://127.0.0.1:1@127.0.0.2:PORT` starts like loopback but dials 127.0.0.2 (any
    // 127/8 address is this machine on Linux; elsewhere a second port on 127.0.0.1).
    let (tap, ip) = match Tap::start("127.0.0.2") {
        Some(tap) => (tap, "127.0.0.2"),
        None => (Tap::start("127.0.0.1").unwrap(), "127.0.0.1"),
    };
    let bot = Bot::new();
    let url = format!("\"http://127.0.0.1:1@{ip}:{}\"", tap.port);
    set_alpaca_key(&bot, "trading_url", &url);
    for cmd in ["tick", "check"] {
        let run = bot.run(&[cmd]);
        check!(
            run,
            run.code == 2
                && run
                    .stderr
                    .contains("config.toml:2: `trading_url`: has user-info")
        );
        check!(run, tap.hits() == 0, "the keys went in clear to {ip}");
    }
    set_alpaca_key(&bot, "trading_url", &format!("\"{}\"", bot.fake.url()));
    set_alpaca_key(&bot, "data_url", &url);
    let run = bot.tick();
    check!(
        run,
        run.code == 2
            && run
                .stderr
                .contains("config.toml:3: `data_url`: has user-info")
    );
    check!(run, tap.hits() == 0 && bot.fake.requests().is_empty());
}

/// Where `needle` (or its hex dump, in any case, bytes spaced or not) shows in `text`. A hex
/// dump cuts a request into rows of 16 bytes, so every 8-byte piece of the needle (those of
/// at least 3 distinct characters: `00000000` is no evidence) is also looked for, in each line
/// with its spaces removed.
fn leak(text: &str, needle: &str) -> Option<String> {
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let hex_spaced = |s: &str| {
        s.bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let lower = text.to_lowercase();
    if text.contains(needle) {
        return Some(format!("`{}…` in clear", &needle[..4]));
    }
    if lower.contains(&hex(needle)) || lower.contains(&hex_spaced(needle)) {
        return Some(format!("`{}…` as hex", &needle[..4]));
    }
    let pieces: Vec<&str> = (0..=needle.len().saturating_sub(8))
        .map(|i| &needle[i..(i + 8).min(needle.len())])
        .filter(|p| {
            let mut chars: Vec<char> = p.chars().collect();
            chars.sort_unstable();
            chars.dedup();
            chars.len() >= 3
        })
        .collect();
    for line in text.lines() {
        let packed = line.replace(' ', "").to_lowercase();
        for piece in &pieces {
            if line.contains(piece) || packed.contains(&hex(piece)) {
                return Some(format!(
                    "a piece of `{}…` in a line (a dump row)",
                    &needle[..4]
                ));
            }
        }
    }
    None
}

#[test]
fn leak_finds_a_ureq_proto_hex_dump_row() {
    // The row format of ureq_proto::util::log_data: byte pairs, then the printable text.
    let row =
        "2026-12-04 12:00:00.000Z TRACE 4b45 5931 3a20 5046 414b 454b 4559 3030 KEY1:.PFAKEKEY00";
    assert!(leak(row, "PFAKEKEY000000001").is_some());
    let hex_only = "TRACE 4b45 5931 3a20 5046 414b 454b 4559 3030 ................";
    assert!(leak(hex_only, "PFAKEKEY000000001").is_some());
    assert!(leak("price 225.000000001", "PFAKEKEY000000001").is_none());
}

#[test]
fn rust_log_for_http_crates_never_writes_the_keys_or_the_webhook_path() {
    const HOOK_TOKEN: &str = "hooktoken-0123456789-abcdefghijklmnopq";
    let hook = Receiver::start();
    for filter in [
        "ureq_proto::util=trace",
        "ureq_proto=trace",
        "ureq=trace,ureq_proto=trace",
        "ureq::unversioned::transport=trace",
        "rustls=trace,webpki=trace",
        "trace",
        "debug,ureq_proto::client=trace",
    ] {
        let bot = Bot::new();
        append_config(
            &bot,
            &format!(
                "[alerts]\nwebhook_url = \"{}?token={HOOK_TOKEN}\"",
                hook.url
            ),
        );
        let mut env = keys();
        env.push(("RUST_LOG", filter));
        // One healthy tick, one that fails and alerts (the webhook answering 500: a delivery
        // failure is logged too).
        let ok = bot.run_env(&["tick"], &env);
        check!(ok, ok.code == 0);
        hook.down.store(true, Ordering::SeqCst);
        bot.fake.fail(
            "GET",
            "/v2/clock",
            Fault::Status(503, r#"{"message":"down"}"#.into()),
            3,
        );
        let failed = bot.run_env(&["tick"], &env);
        hook.down.store(false, Ordering::SeqCst);
        check!(
            failed,
            failed.code == 1
                && failed
                    .stderr
                    .contains("alert webhook unreachable (HTTP 500)")
        );
        assert!(
            bot.fake
                .requests()
                .iter()
                .any(|r| r.header("APCA-API-SECRET-KEY") == Some(SECRET)),
            "the runs did send the keys, so the logs had something to leak"
        );
        let logs: Vec<(String, String)> = files_under(&bot.path("logs"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                (p.display().to_string(), text)
            })
            .collect();
        assert!(!logs.is_empty(), "{filter}: no log file written");
        for run in [&ok, &failed] {
            let mut places: Vec<(String, &str)> = vec![
                ("stdout".into(), run.stdout.as_str()),
                ("stderr".into(), run.stderr.as_str()),
            ];
            places.extend(logs.iter().map(|(p, t)| (p.clone(), t.as_str())));
            for (place, text) in places {
                for needle in [KEY_ID, SECRET, HOOK_TOKEN, "SECRETPATH"] {
                    if let Some(how) = leak(text, needle) {
                        panic!("RUST_LOG={filter}: {how} in {place}{}", Redacted(run));
                    }
                }
            }
        }
    }
}

/// A run's exit code and how much it printed, for a failure message that must not itself
/// print the leak it found.
struct Redacted<'a>(&'a Run);

impl std::fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            " (run {:?} exited {}, {} bytes of stdout, {} of stderr)",
            self.0.args,
            self.0.code,
            self.0.stdout.len(),
            self.0.stderr.len()
        )
    }
}

#[test]
fn a_refused_webhook_url_is_named_without_its_path_or_query() {
    for bad in [
        "http://hooks.example.com/services/T000/XXSECRETXX?token=QSECRET",
        "https://hooker:QSECRET@hooks.slack.com/services/T000/XXSECRETXX",
        "hooks.slack.com/services/T000/XXSECRETXX?QSECRET",
        "smtp://hooks.example.com/T000/XXSECRETXX?QSECRET",
        "https://hooks.slack.com:99999/services/T000/XXSECRETXX",
    ] {
        let bot = Bot::new();
        append_config(&bot, &format!("[alerts]\nwebhook_url = \"{bad}\""));
        for cmd in ["check", "tick"] {
            let run = bot.run(&[cmd]);
            check!(
                run,
                run.code == 2 && run.stderr.contains("`webhook_url`"),
                "{bad}: refused, naming the key"
            );
            for secret in ["XXSECRETXX", "QSECRET", "T000", "hooker"] {
                check!(
                    run,
                    !run.stderr.contains(secret) && !run.stdout.contains(secret),
                    "{bad}: `{secret}` printed"
                );
            }
            check!(run, bot.fake.requests().is_empty());
        }
    }
}

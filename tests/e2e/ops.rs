//! Running for months: metrics file, alerts, missed ticks, status, log rotation.

use crate::check;
use crate::fake_alpaca::Fault;
use crate::harness::{Bot, Receiver};
use chrono::Duration;
use std::sync::atomic::Ordering;

fn append_config(bot: &Bot, extra: &str) {
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(bot.config_path(), format!("{config}\n{extra}\n")).unwrap();
}

#[test]
fn each_tick_rewrites_a_valid_prometheus_file() {
    let bot = Bot::new();
    let run = bot.tick();
    check!(run, run.code == 0);
    let prom = std::fs::read_to_string(bot.path("logs/prometheus-bot.prom")).unwrap();
    for needle in [
        "prometheus_bot_last_tick_success 1\n",
        "prometheus_bot_ticks_total{result=\"ok\"} 1\n",
        "prometheus_bot_market_open 1\n",
        "prometheus_bot_equity_dollars 100000\n",
        "prometheus_bot_position_shares{symbol=\"AAPL\"} 0\n",
        "prometheus_bot_guard_active{guard=\"kill_switch\"} 0\n",
        "# TYPE prometheus_bot_orders_submitted_total counter\n",
    ] {
        assert!(prom.contains(needle), "missing {needle:?} in\n{prom}");
    }
    bot.fake
        .fail("GET", "/v2/clock", Fault::Status(503, "{}".into()), 3);
    let run = bot.tick();
    check!(run, run.code == 1);
    let prom = std::fs::read_to_string(bot.path("logs/prometheus-bot.prom")).unwrap();
    assert!(
        prom.contains("prometheus_bot_last_tick_success 0\n")
            && prom.contains("prometheus_bot_errors_total{kind=\"broker\"} 1\n"),
        "{prom}"
    );
    promtool_accepts(&bot.path("logs/prometheus-bot.prom"));
}

/// `promtool check metrics` from Debian's `prometheus` package; `.ci/run` installs it, so under
/// CI its absence is a failure. A developer without it gets a note.
fn promtool_accepts(file: &std::path::Path) {
    let text = std::fs::read(file).unwrap();
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing under CI (apt-get install prometheus)"
        );
        eprintln!("note: promtool not installed; skipped `promtool check metrics` (apt-get install prometheus)");
        return;
    };
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool rejects the metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alerts_go_to_the_webhook_once_and_survive_an_outage() {
    let hook = Receiver::start();
    let bot = Bot::new();
    append_config(
        &bot,
        &format!(
            "[alerts]\nwebhook_url = \"{}\"\nrepeat_minutes = 60",
            hook.url
        ),
    );
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(run, run.code == 0);
    bot.fake.fill_open_orders(231.5);
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    let texts = hook.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with("prometheus-bot: AAPL: buy 1 filled at 231.5"),
        "{texts:?}"
    );

    // A failure alerts once, the identical second failure does not, recovery does.
    for _ in 0..2 {
        bot.fake.fail(
            "GET",
            "/v2/clock",
            Fault::Status(503, r#"{"message":"down"}"#.into()),
            3,
        );
        let run = bot.tick();
        check!(run, run.code == 1);
    }
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    let texts = hook.texts();
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert!(texts[1].contains("tick failed: Alpaca answered 503 on GET /v2/clock: down"));
    assert!(texts[2].contains("recovered"));

    // The webhook is down: the tick still succeeds and the message waits.
    hook.down.store(true, Ordering::SeqCst);
    std::fs::create_dir_all(bot.path("data")).unwrap();
    bot.fake.set_account("70000", "70000", "70000");
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stderr.contains("alert webhook unreachable (HTTP 500)")
    );
    check!(
        run,
        !run.stderr.contains("SECRETPATH"),
        "the webhook URL is never logged"
    );
    assert_eq!(
        bot.state()["ops"]["alerts"]["queue"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "daily loss and halt queued"
    );
    hook.down.store(false, Ordering::SeqCst);
    bot.next_minute(1, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    let texts = hook.texts();
    assert!(
        texts.iter().any(|t| t.contains("trading halted")),
        "{texts:#?}"
    );
    assert!(bot.state()["ops"]["alerts"]["queue"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn missed_ticks_are_noticed_counted_and_alerted() {
    let hook = Receiver::start();
    let bot = Bot::new();
    append_config(&bot, &format!("[alerts]\nwebhook_url = \"{}\"", hook.url));
    let run = bot.tick();
    check!(run, run.code == 0);
    bot.next_minute(15, 225.0, &[250.0; 3]);
    let run = bot.tick();
    check!(
        run,
        run.code == 0 && run.stderr.contains("14 tick(s) missed during market hours")
    );
    assert_eq!(bot.state()["ops"]["missed_ticks"], 14);
    assert!(hook.texts().iter().any(|t| t.contains("14 tick(s) missed")));
    let prom = std::fs::read_to_string(bot.path("logs/prometheus-bot.prom")).unwrap();
    assert!(prom.contains("prometheus_bot_missed_ticks_total 14\n"));
    let run = bot.run(&["status", "--offline"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("missed      14 tick(s)")
    );
}

#[test]
fn status_reads_the_files_offline_and_adds_the_brokers_view_online() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(run, run.code == 0);
    std::fs::write(bot.path("data/STOP"), "").unwrap();
    let run = bot.run_env(&["status"], &[]);
    check!(run, run.code == 0);
    for needle in [
        "last tick   2026-11-24 15:30:30 UTC",
        "KILL SWITCH",
        "equity      100000.00",
        "broker      not asked (no keys found)",
        "AAPL  buy   order",
    ] {
        check!(run, run.stdout.contains(needle), "missing `{needle}`");
    }
    let run = bot.run(&["status"]);
    check!(
        run,
        run.code == 0
            && run.stdout.contains("market      open")
            && run.stdout.contains("open orders AAPL buy 1")
    );
    bot.fake.fail("GET", "/v2/clock", Fault::Html(502), 3);
    let run = bot.run(&["status"]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("broker      unreachable"),
        "status works when the broker does not"
    );
}

#[test]
fn the_log_file_rotates_by_size() {
    let bot = Bot::new();
    append_config(&bot, "[logs]\nmax_size_mb = 0.1\nkeep = 2");
    std::fs::create_dir_all(bot.path("logs")).unwrap();
    std::fs::write(bot.path("logs/prometheus-bot.log"), "x".repeat(200_000)).unwrap();
    let run = bot.tick();
    check!(run, run.code == 0);
    assert_eq!(
        std::fs::metadata(bot.path("logs/prometheus-bot.log.1"))
            .unwrap()
            .len(),
        200_000
    );
    assert!(
        std::fs::metadata(bot.path("logs/prometheus-bot.log"))
            .unwrap()
            .len()
            < 200_000
    );
    let _ = Duration::zero();
}

#[test]
fn report_draws_the_ledgers_and_the_tick_refreshes_the_dashboard() {
    let bot = Bot::new();
    append_config(&bot, "[report]\ndashboard = true");
    bot.set_price("AAPL", 231.0);
    let run = bot.tick();
    check!(run, run.code == 0);
    assert!(
        bot.path("logs/dashboard.html").exists(),
        "refreshed after the tick"
    );
    bot.fake.fill_open_orders(231.25);
    for m in 1..4 {
        bot.next_minute(1, 225.0 + m as f64, &[250.0; 3]);
        let run = bot.tick();
        check!(run, run.code == 0);
    }
    let out = bot.path("report.html");
    let run = bot.run_env(&["report", "--out", out.to_str().unwrap()], &[]);
    check!(
        run,
        run.code == 0 && run.stdout.contains("wrote"),
        "works offline, without keys"
    );
    let html = std::fs::read_to_string(&out).unwrap();
    for needle in [
        "<svg",
        "Equity",
        "Drawdown",
        "AAPL (position 1)",
        "buy 1 at 231.25",
        "Last fills",
        "Metrics",
        "Return [%]",
    ] {
        assert!(html.contains(needle), "missing {needle:?}");
    }
    assert!(
        !html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http"),
        "self-contained"
    );
    // The tick's page draws the digest it keeps beside the ledgers, with the same summary as
    // the whole read; the metrics table (every row needed) only on demand.
    assert!(bot.path("data/dashboard.json").is_file());
    let ticked = std::fs::read_to_string(bot.path("logs/dashboard.html")).unwrap();
    let summary = |page: &str| -> String {
        let from = page.find("<h2>Summary</h2>").expect("a summary");
        let rest = &page[from..];
        rest[..rest.find("</table>").expect("its table")].to_string()
    };
    assert!(summary(&ticked).contains("# Trades"));
    assert_eq!(summary(&ticked), summary(&html));
    assert!(ticked.contains("buy 1 at 231.25") && !ticked.contains("Sharpe Ratio"));
}

#[test]
fn adding_a_symbol_keeps_the_equity_history_for_the_dashboard_and_status() {
    let bot = Bot::new();
    bot.set_price("AAPL", 231.0);
    for m in 0..3 {
        if m > 0 {
            bot.next_minute(1, 225.0 + m as f64, &[250.0; 3]);
        }
        let run = bot.tick();
        check!(run, run.code == 0);
    }
    let before = bot.ledger("equity.csv");
    assert_eq!(before.len(), 3);
    append_config(
        &bot,
        "[[symbol]]\nname = \"MSFT\"\nqty = 1\nstrategy = { kind = \"threshold\", buy_above = 1000.0, sell_below = 1.0 }",
    );
    bot.set_price("MSFT", 400.0);
    bot.next_minute(1, 229.0, &[250.0; 3]);
    let run = bot.tick();
    check!(run, run.code == 0);
    let after = bot.ledger("equity.csv");
    assert_eq!(after.len(), 4, "the three earlier rows and the new one");
    assert_eq!(after[0]["time_utc"], before[0]["time_utc"]);
    assert_eq!(after[0]["equity"], before[0]["equity"]);
    assert_eq!(after[0]["MSFT"], "0", "no MSFT shares before it was added");
    assert_eq!(after[0]["AAPL"], before[0]["AAPL"]);
    let out = bot.path("report.html");
    let run = bot.run_env(&["report", "--out", out.to_str().unwrap()], &[]);
    check!(run, run.code == 0);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains("<h2>Metrics</h2>") && !html.contains("No equity rows yet"),
        "the dashboard still draws the history"
    );
}

#[test]
fn the_dashboards_status_shows_the_equity_its_chart_ends_at() {
    let bot = Bot::new();
    let run = bot.tick();
    check!(run, run.code == 0);
    let rows = bot.ledger("equity.csv");
    assert_eq!(rows.len(), 1);
    // A later row the state's copy never saw (as a closed-market tick writes).
    let path = bot.path("data/ledger/equity.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let last = text.lines().last().unwrap();
    let cells: Vec<&str> = last.split(',').collect();
    let mut later = cells.clone();
    later[0] = "2030-01-02 21:00:00";
    later[1] = "123456.78";
    std::fs::write(&path, format!("{text}{}\n", later.join(","))).unwrap();
    let out = bot.path("report.html");
    let run = bot.run_env(&["report", "--out", out.to_str().unwrap()], &[]);
    check!(run, run.code == 0);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains("<dt>equity</dt><dd>123456.78 at 2030-01-02 21:00:00 UTC</dd>"),
        "{}",
        &html[..html.len().min(2500)]
    );
}

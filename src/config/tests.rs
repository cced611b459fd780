use super::*;

pub(crate) const SHIPPED: &str = include_str!("../../config.toml");

fn parse(text: &str) -> Result<Config> {
    Config::from_str(text, Path::new("/bot/config.toml"))
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const MINIMAL: &str = "[[symbol]]\nname = \"AAPL\"\nqty = 1\nstrategy = { kind = \"threshold\", buy_above = 230.0, sell_below = 220.0 }\n";

#[test]
fn the_shipped_config_is_valid_and_has_the_documented_defaults() {
    let c = parse(SHIPPED).unwrap();
    assert_eq!(
        c.alpaca.trading_url.to_string(),
        "https://paper-api.alpaca.markets"
    );
    assert_eq!(c.alpaca.data_url.to_string(), "https://data.alpaca.markets");
    assert_eq!(c.alpaca.tick_deadline, Duration::from_secs(40));
    assert_eq!(c.alpaca.max_retries, 3);
    assert_eq!(c.alpaca.retry_base, Duration::from_millis(500));
    assert_eq!(c.risk.limits.close_margin, Duration::from_secs(60));
    assert_eq!(c.risk.limits.max_missing_bars, 2);
    assert_eq!(c.ops.webhook_url, None);
    assert_eq!(c.alpaca.feed, Feed::Iex);
    assert!(!c.alpaca.live);
    assert_eq!(c.bot.timeframe, Timeframe::Min1);
    assert_eq!(c.bot.history, 200);
    assert_eq!(c.symbol_names(), ["AAPL", "TSLA"]);
    assert_eq!(
        c.symbols[1].strategy,
        Strategy::SmaCross {
            fast: 10,
            slow: 30,
            allow_short: false
        }
    );
}

#[test]
fn defaults_apply_and_paths_resolve_against_the_config_folder() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.bot.data_dir, Path::new("/bot/data"));
    assert_eq!(c.bot.log_dir, Path::new("/bot/logs"));
    assert_eq!(c.alpaca.timeout, Duration::from_secs(10));
    assert_eq!(c.env_file(), Path::new("/bot/.env"));
}

#[test]
fn unknown_key_names_line_and_key() {
    let text = format!("[bot]\ntimeframe = \"1Min\"\nhistroy = 5\n{MINIMAL}");
    let e = err(&text);
    assert!(
        e.starts_with("config error: /bot/config.toml:3: `histroy`: unknown field `histroy`"),
        "{e}"
    );
}

#[test]
fn wrong_type_names_line_and_key() {
    let e = err(&MINIMAL.replace("qty = 1", "qty = \"one\""));
    assert!(e.contains("config.toml:3: `qty`"), "{e}");
    let e = err(&format!("[alpaca]\nlive = \"no\"\n{MINIMAL}"));
    assert!(e.contains("config.toml:2: `live`"), "{e}");
}

#[test]
fn impossible_values_name_line_and_key() {
    let e = err(&MINIMAL.replace("qty = 1", "qty = 0"));
    assert!(e.contains(":3: `qty`: must be a positive number"), "{e}");
    let e = err(&MINIMAL.replace("AAPL", "aapl"));
    assert!(e.contains(":2: `name`: `aapl` is not a ticker"), "{e}");
    let sma = MINIMAL.replace(
        "{ kind = \"threshold\", buy_above = 230.0, sell_below = 220.0 }",
        "{ kind = \"sma_cross\", fast = 30, slow = 10 }",
    );
    let e = err(&sma);
    assert!(
        e.contains(":4: `fast`: must be less than slow (30 >= 10)"),
        "{e}"
    );
    let e = err(&MINIMAL.replace("sell_below = 220.0", "sell_below = 240.0"));
    assert!(e.contains(":4: `sell_below`"), "{e}");
    let e = err(&MINIMAL.replace("threshold", "martingale"));
    assert!(e.contains(":4:") && e.contains("martingale"), "{e}");
    let e = err(&format!("[bot]\ntimeframe = \"2Min\"\n{MINIMAL}"));
    assert!(
        e.contains(":2: `timeframe`: unknown timeframe `2Min`"),
        "{e}"
    );
    let e = err(&format!("[bot]\ntimeframe = \"1Month\"\n{MINIMAL}"));
    assert!(
        e.contains(":2: `timeframe`: 1Month bars are for backtests and imports"),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}{}", MINIMAL));
    assert!(e.contains(":6: `name`: `AAPL` is listed twice"), "{e}");
    assert!(err("[bot]\nhistory = 5\n").contains("no [[symbol]]"));
}

#[test]
fn sizing_is_exactly_one_rule() {
    let c = parse(&MINIMAL.replace("qty = 1", "notional = 500.0\nfractional = true")).unwrap();
    assert_eq!(c.symbols[0].sizing, Sizing::Notional(500.0));
    assert!(c.symbols[0].fractional);
    let c = parse(&MINIMAL.replace("qty = 1", "equity_fraction = 0.25")).unwrap();
    assert_eq!(c.symbols[0].sizing, Sizing::EquityFraction(0.25));
    let e = err(&MINIMAL.replace("qty = 1", "qty = 1\nnotional = 5.0"));
    assert!(
        e.contains(":2: `qty`: AAPL: give exactly one of qty, notional or equity_fraction"),
        "{e}"
    );
    let e = err(&MINIMAL.replace("qty = 1", "equity_fraction = 1.5"));
    assert!(
        e.contains(":3: `equity_fraction`: must be above 0 and at most 1"),
        "{e}"
    );
}

#[test]
fn every_risk_key_lands_in_the_guards_limits_and_the_two_switches_stay_in_the_config() {
    let c = parse(&format!(
        "{MINIMAL}[risk]\nmax_position_qty = 7\nmax_order_notional = 1500.5\nmax_orders_per_day = 4\n\
         max_daily_loss_pct = 2.5\nmax_drawdown_pct = 12\nmax_price_age_secs = 30\n\
         close_margin_secs = 90\nmax_missing_bars = 5\nflatten_on_daily_loss = true\nshared_account = true\n"
    ))
    .unwrap();
    assert_eq!(
        c.risk.limits,
        Limits {
            max_position_qty: Some(7.0),
            max_order_notional: Some(1500.5),
            max_orders_per_day: Some(4),
            max_daily_loss_pct: Some(2.5),
            max_drawdown_pct: Some(12.0),
            max_price_age_secs: 30,
            close_margin: Duration::from_secs(90),
            max_missing_bars: 5,
        }
    );
    assert!(c.risk.flatten_on_daily_loss && c.risk.shared_account);
    // Without `[risk]`: the documented defaults, written out here.
    assert_eq!(
        parse(MINIMAL).unwrap().risk,
        RiskConfig {
            limits: Limits {
                max_position_qty: Some(100.0),
                max_order_notional: Some(10_000.0),
                max_orders_per_day: Some(20),
                max_daily_loss_pct: Some(5.0),
                max_drawdown_pct: Some(20.0),
                max_price_age_secs: 120,
                close_margin: Duration::from_secs(60),
                max_missing_bars: 2,
            },
            flatten_on_daily_loss: false,
            shared_account: false,
        }
    );
}

#[test]
fn risk_limits_parse_zero_means_off_and_bad_values_name_the_key() {
    let c = parse(&format!(
        "{MINIMAL}[risk]\nmax_daily_loss_pct = 0\nmax_orders_per_day = 0\nshared_account = true\n"
    ))
    .unwrap();
    assert_eq!(c.risk.limits.max_daily_loss_pct, None);
    assert_eq!(c.risk.limits.max_orders_per_day, None);
    assert!(c.risk.shared_account);
    assert_eq!(
        c.risk.limits.max_drawdown_pct,
        Some(20.0),
        "unset keys keep their default"
    );
    let e = err(&format!("{MINIMAL}[risk]\nmax_drawdown_pct = 150\n"));
    assert!(
        e.contains(":6: `max_drawdown_pct`: must be between 0 (no limit) and 100"),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}[risk]\nmax_loss = 1\n"));
    assert!(e.contains(":6: `max_loss`: unknown field"), "{e}");
}

#[test]
fn http_is_refused_except_on_loopback() {
    let e = err(&format!(
        "[alpaca]\ntrading_url = \"http://paper-api.alpaca.markets\"\n{MINIMAL}"
    ));
    assert!(
        e.contains(":2: `trading_url`: http://paper-api.alpaca.markets is plain http"),
        "{e}"
    );
    for ok in [
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:9",
    ] {
        let c = parse(&format!(
            "[alpaca]\ntrading_url = \"{ok}\"\ndata_url = \"{ok}/\"\n{MINIMAL}"
        ))
        .unwrap();
        assert_eq!(
            c.alpaca.data_url.to_string(),
            ok,
            "trailing slash is trimmed"
        );
    }
    let e = err(&format!(
        "[alpaca]\ndata_url = \"http://127.0.0.1.evil.com\"\n{MINIMAL}"
    ));
    assert!(
        e.contains(":2: `data_url`:") && e.contains("plain http"),
        "{e}"
    );
}

#[test]
fn user_info_before_the_loopback_host_is_refused() {
    // The text starts with 127.0.0.1, but the host dialled is 127.0.0.2.
    let e = err(&format!(
        "[alpaca]\ntrading_url = \"http://127.0.0.1:1@127.0.0.2:8080\"\n{MINIMAL}"
    ));
    assert!(e.contains(":2: `trading_url`: has user-info"), "{e}");
    let e = err(&format!(
        "[alpaca]\ndata_url = \"https://paper-api.alpaca.markets@api.alpaca.markets\"\n{MINIMAL}"
    ));
    assert!(e.contains(":2: `data_url`: has user-info"), "{e}");
}

#[test]
fn live_needs_the_live_host_and_the_live_host_needs_live() {
    let e = err(&format!("[alpaca]\nlive = true\n{MINIMAL}"));
    assert!(
        e.contains(":2: `live`: `live = true` needs trading_url"),
        "{e}"
    );
    for live_host in [
        LIVE_TRADING_URL,
        "https://API.alpaca.markets",
        "https://api.alpaca.markets.",
        "https://api.alpaca.markets:443",
        "https://api.alpaca.markets/",
        "https://Api.Alpaca.Markets.:443/",
        "https://api.alpaca.markets:8443",
    ] {
        let e = err(&format!(
            "[alpaca]\ntrading_url = \"{live_host}\"\n{MINIMAL}"
        ));
        assert!(
            e.contains(":2: `trading_url`:") && e.contains("live host but `live = false`"),
            "{live_host}: {e}"
        );
    }
    let e = err(&format!(
        "[alpaca]\ntrading_url = \"https://paper-api.alpaca.markets@api.alpaca.markets\"\n{MINIMAL}"
    ));
    assert!(e.contains(":2: `trading_url`: has user-info"), "{e}");
    for live_host in [LIVE_TRADING_URL, "https://API.alpaca.markets.:443/"] {
        let c = parse(&format!(
            "[alpaca]\nlive = true\ntrading_url = \"{live_host}\"\n{MINIMAL}"
        ))
        .unwrap();
        assert!(c.alpaca.live);
        assert_eq!(c.alpaca.trading_url.to_string(), LIVE_TRADING_URL);
    }
    let e = err(&format!(
        "[alpaca]\nlive = true\ntrading_url = \"https://api.alpaca.markets:8443\"\n{MINIMAL}"
    ));
    assert!(e.contains(":2: `live`: `live = true` needs"), "{e}");
    let c = parse(&format!(
        "[alpaca]\ntrading_url = \"https://PAPER-API.alpaca.markets./\"\n{MINIMAL}"
    ))
    .unwrap();
    assert_eq!(
        c.alpaca.trading_url.to_string(),
        "https://paper-api.alpaca.markets"
    );
}

#[test]
fn a_refused_webhook_url_never_echoes_its_path_or_query() {
    for bad in [
        "http://hooks.example.com/services/T000/XXSECRETXX?token=QSECRET",
        "hooks.slack.com/services/T000/XXSECRETXX",
        "https://user:QSECRET@hooks.slack.com/services/XXSECRETXX",
        "gopher://hooks.example.com/XXSECRETXX?QSECRET",
        "https://hooks..example.com/XXSECRETXX",
    ] {
        let e = err(&format!("{MINIMAL}[alerts]\nwebhook_url = \"{bad}\"\n"));
        assert!(e.contains(":6: `webhook_url`:"), "{bad}: {e}");
        assert!(
            !e.contains("XXSECRETXX") && !e.contains("QSECRET") && !e.contains("T000"),
            "{bad}: {e}"
        );
    }
    let c = parse(&format!(
        "{MINIMAL}[alerts]\nwebhook_url = \"https://hooks.slack.com/services/T000/XXSECRETXX\"\n"
    ))
    .unwrap();
    let hook = c.ops.webhook_url.as_ref().unwrap();
    assert_eq!(
        hook.expose(),
        "https://hooks.slack.com/services/T000/XXSECRETXX"
    );
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("XXSECRETXX") && shown.contains("https://hooks.slack.com/***"),
        "Debug of the config hides the webhook's path"
    );
}

#[test]
fn the_deadline_must_hold_the_timeouts_and_retries() {
    let alpaca = |lines: &str| format!("[alpaca]\n{lines}\n{MINIMAL}");
    let c = parse(&alpaca(
        "tick_deadline_secs = 5\ntimeout_secs = 2.5\nmax_retries = 10\nretry_base_ms = 5000",
    ))
    .unwrap();
    assert_eq!(c.alpaca.tick_deadline, Duration::from_secs(5));
    assert_eq!(c.alpaca.timeout, Duration::from_millis(2500));
    assert_eq!(c.alpaca.max_retries, 10);
    assert_eq!(c.alpaca.retry_base, Duration::from_secs(5));
    let c = parse(&alpaca("tick_deadline_secs = 55\nretry_base_ms = 10000")).unwrap();
    assert_eq!(c.alpaca.tick_deadline, Duration::from_secs(55));
    for (lines, needle) in [
        ("tick_deadline_secs = 4.9", ":2: `tick_deadline_secs`: must be between 5 and 55"),
        ("tick_deadline_secs = 56", ":2: `tick_deadline_secs`: must be between 5 and 55"),
        ("tick_deadline_secs = nan", ":2: `tick_deadline_secs`: must be between 5 and 55"),
        (
            "tick_deadline_secs = 10\ntimeout_secs = 5.5",
            ":3: `timeout_secs`: timeout_secs = 5.5 is more than half of tick_deadline_secs = 10",
        ),
        // Only the deadline is written: the default 10 s timeout no longer fits, and the
        // written key is the one named.
        (
            "tick_deadline_secs = 19",
            ":2: `tick_deadline_secs`: timeout_secs = 10 is more than half",
        ),
        ("max_retries = 100000", ":2: `max_retries`: must be at most 10, got 100000"),
        ("max_retries = 11", ":2: `max_retries`: must be at most 10, got 11"),
        ("retry_base_ms = 10001", ":2: `retry_base_ms`: must be at most 10000 ms"),
        (
            "tick_deadline_secs = 6\ntimeout_secs = 1\nretry_base_ms = 6001",
            ":4: `retry_base_ms`: the first backoff, retry_base_ms = 6001, is longer than tick_deadline_secs = 6",
        ),
    ] {
        let e = err(&alpaca(lines));
        assert!(e.contains(needle), "{lines}: {e}");
    }
}

#[test]
fn the_close_margin_and_missing_bars_are_bounded() {
    let risk = |lines: &str| format!("{MINIMAL}[risk]\n{lines}\n");
    let c = parse(&risk("close_margin_secs = 10\nmax_missing_bars = 100")).unwrap();
    assert_eq!(c.risk.limits.close_margin, Duration::from_secs(10));
    assert_eq!(c.risk.limits.max_missing_bars, 100);
    let c = parse(&risk("close_margin_secs = 3600\nmax_missing_bars = 0")).unwrap();
    assert_eq!(c.risk.limits.close_margin, Duration::from_secs(3600));
    assert_eq!(c.risk.limits.max_missing_bars, 0);
    for (lines, needle) in [
        // The default timeout is 10 s: a POST sent 9 s before the close may land after it.
        (
            "close_margin_secs = 9",
            ":6: `close_margin_secs`: close_margin_secs = 9 is below timeout_secs = 10",
        ),
        (
            "close_margin_secs = 0",
            ":6: `close_margin_secs`: close_margin_secs = 0 is below",
        ),
        (
            "close_margin_secs = 3601",
            ":6: `close_margin_secs`: must be at most 3600",
        ),
        (
            "max_missing_bars = 101",
            ":6: `max_missing_bars`: must be at most 100, got 101",
        ),
    ] {
        let e = err(&risk(lines));
        assert!(e.contains(needle), "{lines}: {e}");
    }
    let e = err(&format!(
        "[alpaca]\ntimeout_secs = 2\n{MINIMAL}[risk]\nclose_margin_secs = 1\n"
    ));
    assert!(
        e.contains(":8: `close_margin_secs`: close_margin_secs = 1 is below timeout_secs = 2"),
        "{e}"
    );
}

#[test]
fn history_must_cover_the_strategy() {
    let sma = MINIMAL.replace(
        "{ kind = \"threshold\", buy_above = 230.0, sell_below = 220.0 }",
        "{ kind = \"sma_cross\", fast = 10, slow = 30 }",
    );
    let e = err(&format!("[bot]\nhistory = 20\n{sma}"));
    assert!(e.contains("needs 31 bars but [bot] history is 20"), "{e}");
}

#[test]
fn config_messages_name_the_fix() {
    let single = MINIMAL.replace("[[symbol]]", "[symbol]");
    let e = err(&single);
    assert!(e.contains("[[symbol]]") && e.contains("[symbol]"), "{e}");
    let e = err(&format!("{MINIMAL}[risk]\nmax_order_notional = -1\n"));
    assert!(
        e.contains("`max_order_notional`") && e.contains("got -1"),
        "{e}"
    );
    assert!(e.len() < 300, "no f64::MAX in 309 digits: {e}");
    let e = err(&format!("{MINIMAL}[risk]\nmax_daily_loss_pct = 101\n"));
    assert!(e.contains("between 0 (no limit) and 100, got 101"), "{e}");
    let e = err(&MINIMAL.replace("buy_above = 230.0", "buy_above = nan"));
    assert!(
        e.contains("`buy_above`") && !e.contains("`sell_below`"),
        "{e}"
    );
    let e = err(&MINIMAL.replace("sell_below = 220.0", "sell_below = -1.0"));
    assert!(e.contains("`sell_below`"), "{e}");
}

#[test]
fn protective_keys_are_percents_of_the_entry() {
    let c = parse(&MINIMAL.replace(
        "qty = 1",
        "qty = 1\nstop_loss_pct = 2\ntake_profit_pct = 5.5",
    ))
    .unwrap();
    assert_eq!(
        c.symbols[0].protection,
        Protection {
            stop_loss_pct: Some(2.0),
            take_profit_pct: Some(5.5),
            trailing_stop_pct: None
        }
    );
    assert!(!parse(MINIMAL).unwrap().symbols[0].protection.any());
    let c = parse(&MINIMAL.replace("qty = 1", "qty = 1\ntrailing_stop_pct = 1.5")).unwrap();
    assert_eq!(c.symbols[0].protection.trailing_stop_pct, Some(1.5));
}

#[test]
fn protective_keys_out_of_range_or_in_an_impossible_pair_name_the_key() {
    let with = |extra: &str| err(&MINIMAL.replace("qty = 1", &format!("qty = 1\n{extra}")));
    for (extra, want) in [
        (
            "stop_loss_pct = 0",
            ":4: `stop_loss_pct`: must be a percent above 0 and below 100",
        ),
        (
            "stop_loss_pct = 100",
            ":4: `stop_loss_pct`: must be a percent above 0 and below 100",
        ),
        (
            "stop_loss_pct = -1",
            ":4: `stop_loss_pct`: must be a percent",
        ),
        (
            "trailing_stop_pct = 100.5",
            ":4: `trailing_stop_pct`: must be a percent above 0 and below 100",
        ),
        (
            "take_profit_pct = 0",
            ":4: `take_profit_pct`: must be a percent above 0",
        ),
        (
            "take_profit_pct = -3",
            ":4: `take_profit_pct`: must be a percent above 0",
        ),
        ("stop_loss_pct = \"2%\"", ":4: `stop_loss_pct`"),
        ("take_profit_pct = nan", ":4: `take_profit_pct`"),
        (
            "stop_loss_pct = 2\ntrailing_stop_pct = 1",
            ":5: `trailing_stop_pct`: give stop_loss_pct or trailing_stop_pct, not both",
        ),
        (
            "trailing_stop_pct = 1\ntake_profit_pct = 4",
            ":5: `take_profit_pct`: a trailing stop cannot be paired",
        ),
    ] {
        let e = with(extra);
        assert!(e.contains(want), "{extra}: {e}");
    }
}

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
    assert_eq!(c.alpaca.trading_url, "https://paper-api.alpaca.markets");
    assert_eq!(c.alpaca.data_url, "https://data.alpaca.markets");
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
fn sizing_rounds_down_to_whole_shares_unless_fractional() {
    // 1000 / 230 = 4.347..: 4 whole shares, or 4.347826086 to 9 decimals.
    assert_eq!(Sizing::Notional(1000.0).shares(230.0, 0.0, false), 4.0);
    assert_eq!(
        Sizing::Notional(1000.0).shares(230.0, 0.0, true),
        4.347826086
    );
    // 25% of 10,000 = 2,500 at 300 = 8.33: 8 shares.
    assert_eq!(
        Sizing::EquityFraction(0.25).shares(300.0, 10_000.0, false),
        8.0
    );
    assert_eq!(
        Sizing::Notional(100.0).shares(230.0, 0.0, false),
        0.0,
        "not enough for one share"
    );
    assert_eq!(Sizing::Qty(2.0).shares(230.0, 0.0, false), 2.0);
}

#[test]
fn risk_limits_parse_zero_means_off_and_bad_values_name_the_key() {
    let c = parse(&format!(
        "{MINIMAL}[risk]\nmax_daily_loss_pct = 0\nmax_orders_per_day = 0\nshared_account = true\n"
    ))
    .unwrap();
    assert_eq!(c.risk.max_daily_loss_pct, None);
    assert_eq!(c.risk.max_orders_per_day, None);
    assert!(c.risk.shared_account);
    assert_eq!(
        c.risk.max_drawdown_pct,
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
        e.contains(":2: `trading_url`: `http://paper-api.alpaca.markets` is plain http"),
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
        assert_eq!(c.alpaca.data_url, ok, "trailing slash is trimmed");
    }
    let e = err(&format!(
        "[alpaca]\ndata_url = \"http://127.0.0.1.evil.com\"\n{MINIMAL}"
    ));
    assert!(e.contains("plain http"), "{e}");
}

#[test]
fn live_needs_the_live_host_and_the_live_host_needs_live() {
    let e = err(&format!("[alpaca]\nlive = true\n{MINIMAL}"));
    assert!(
        e.contains(":2: `live`: `live = true` needs trading_url"),
        "{e}"
    );
    let e = err(&format!(
        "[alpaca]\ntrading_url = \"{LIVE_TRADING_URL}\"\n{MINIMAL}"
    ));
    assert!(e.contains("live host but `live = false`"), "{e}");
    let c = parse(&format!(
        "[alpaca]\nlive = true\ntrading_url = \"{LIVE_TRADING_URL}\"\n{MINIMAL}"
    ))
    .unwrap();
    assert!(c.alpaca.live);
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

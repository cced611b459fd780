//! `config.toml` → a typed, validated [`Config`].
//!
//! Parsing is pure ([`Config::from_str`]); every mistake becomes an [`Error::Config`] naming the
//! file, the line and the key. Paths inside the config resolve against the config file's own
//! folder, because cron and Task Scheduler start the bot in some other working directory.

mod alert_channels;
mod deadline;
mod endpoint;
mod models;
mod ops;
mod protection;

pub use alert_channels::{EmailAlerts, TelegramAlerts, TELEGRAM_API};
pub use endpoint::{
    Endpoint, Host, WebhookUrl, LIVE_TRADING_HOST, LIVE_TRADING_URL, PAPER_TRADING_HOST,
};
pub use ops::OpsConfig;
use protection::Check as _;
pub use protection::Protection;

use crate::domain::{is_valid_symbol, Timeframe};
use crate::error::{Error, Result};
use crate::risk::Limits;
use crate::sizing::Sizing;
use crate::strategy::Strategy;
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

#[derive(Debug, Clone)]
pub struct Config {
    /// The config file itself, for messages.
    pub path: PathBuf,
    pub alpaca: AlpacaConfig,
    pub bot: BotConfig,
    pub symbols: Vec<SymbolConfig>,
    pub risk: RiskConfig,
    pub ops: OpsConfig,
    /// What the loaded model files want every tick to say (see `models::attach`).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AlpacaConfig {
    /// Normalized `scheme://host[:port]`: the host checked against `live` is the host dialled.
    pub trading_url: Endpoint,
    pub data_url: Endpoint,
    pub feed: Feed,
    pub live: bool,
    /// The market-data plan: on the free one, SIP data from the last 15 minutes is refused.
    pub subscription: Subscription,
    /// What `fetch` does when a SIP request on the free plan reaches into the last 15 minutes.
    pub recent_sip: RecentSip,
    /// Per request, connect to last byte.
    pub timeout: Duration,
    /// Extra attempts for a GET after a 429, a 5xx or a timeout. POSTs are never retried.
    pub max_retries: u32,
    /// First backoff; doubled on each retry.
    pub retry_base: Duration,
    /// The whole tick, lock to exit: retries, backoff and rate-limit waits end by it, and no
    /// order is sent after it (`tick_deadline_secs`).
    pub tick_deadline: Duration,
}

#[derive(Debug, Clone)]
pub struct BotConfig {
    pub timeframe: Timeframe,
    pub history: usize,
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct SymbolConfig {
    pub name: String,
    pub sizing: Sizing,
    /// Allow fractional shares (market day orders only, on fractionable assets); else whole
    /// shares, rounded down.
    pub fractional: bool,
    pub strategy: Strategy,
    /// Stops and targets the broker holds for this symbol's position.
    pub protection: Protection,
}

impl SymbolConfig {
    /// What the tick's plan needs of this symbol.
    pub fn rules(&self) -> crate::plan::Rules<'_> {
        crate::plan::Rules {
            name: &self.name,
            strategy: &self.strategy,
            sizing: self.sizing,
            fractional: self.fractional,
        }
    }
}

/// `[risk]`: the guards' numbers ([`Limits`], built here and only here) and the two switches
/// that are the tick's policy rather than a guard's limit.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskConfig {
    /// Enforced before every order, in the tick and (where they apply) in `backtest --risk`.
    pub limits: Limits,
    /// With the daily loss limit hit, also close open positions.
    pub flatten_on_daily_loss: bool,
    /// The account is also traded by hand: positions that differ from the bot's ledger are
    /// expected, not a reason to stop.
    pub shared_account: bool,
}

/// The limits of a config without `[risk]`: on unless set to 0 (or `false`).
impl Default for RiskConfig {
    fn default() -> Self {
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
    }
}

/// The market-data feed. Free accounts get real-time IEX; SIP needs a subscription for the
/// last 15 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feed {
    Iex,
    Sip,
}

impl std::str::FromStr for Feed {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "iex" => Ok(Feed::Iex),
            "sip" => Ok(Feed::Sip),
            _ => Err(format!("unknown feed `{s}` (expected iex or sip)")),
        }
    }
}

impl Feed {
    pub fn as_str(self) -> &'static str {
        match self {
            Feed::Iex => "iex",
            Feed::Sip => "sip",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subscription {
    Free,
    Paid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecentSip {
    /// Stop the request 15 minutes ago, with a warning.
    Clamp,
    /// Ask the IEX feed instead.
    Iex,
}

// ---- the file as written -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    alpaca: RawAlpaca,
    #[serde(default)]
    bot: RawBot,
    #[serde(default, rename = "symbol")]
    symbols: Vec<RawSymbol>,
    #[serde(default)]
    risk: RawRisk,
    #[serde(default)]
    monitoring: ops::RawMonitoring,
    #[serde(default)]
    alerts: ops::RawAlerts,
    #[serde(default)]
    report: ops::RawReport,
    #[serde(default)]
    logs: ops::RawLogs,
}

/// Limits are on unless set to 0 (or `false`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRisk {
    max_position_qty: Spanned<f64>,
    max_order_notional: Spanned<f64>,
    max_orders_per_day: u32,
    max_daily_loss_pct: Spanned<f64>,
    flatten_on_daily_loss: bool,
    max_drawdown_pct: Spanned<f64>,
    max_price_age_secs: u64,
    shared_account: bool,
    close_margin_secs: Spanned<u64>,
    max_missing_bars: Spanned<u32>,
}

impl Default for RawRisk {
    fn default() -> Self {
        let RiskConfig {
            limits: d,
            flatten_on_daily_loss,
            shared_account,
        } = RiskConfig::default();
        let span = |v: Option<f64>| Spanned::new(0..0, v.unwrap_or(0.0));
        RawRisk {
            max_position_qty: span(d.max_position_qty),
            max_order_notional: span(d.max_order_notional),
            max_orders_per_day: d.max_orders_per_day.unwrap_or(0),
            max_daily_loss_pct: span(d.max_daily_loss_pct),
            flatten_on_daily_loss,
            max_drawdown_pct: span(d.max_drawdown_pct),
            max_price_age_secs: d.max_price_age_secs,
            shared_account,
            close_margin_secs: Spanned::new(0..0, d.close_margin.as_secs()),
            max_missing_bars: Spanned::new(0..0, d.max_missing_bars),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAlpaca {
    trading_url: Spanned<String>,
    data_url: Spanned<String>,
    feed: Feed,
    live: Spanned<bool>,
    subscription: Subscription,
    recent_sip: RecentSip,
    timeout_secs: Spanned<f64>,
    max_retries: Spanned<u32>,
    retry_base_ms: Spanned<u64>,
    tick_deadline_secs: Spanned<f64>,
}

impl Default for RawAlpaca {
    fn default() -> Self {
        RawAlpaca {
            trading_url: Spanned::new(0..0, "https://paper-api.alpaca.markets".into()),
            data_url: Spanned::new(0..0, "https://data.alpaca.markets".into()),
            feed: Feed::Iex,
            live: Spanned::new(0..0, false),
            subscription: Subscription::Free,
            recent_sip: RecentSip::Clamp,
            timeout_secs: Spanned::new(0..0, 10.0),
            max_retries: Spanned::new(0..0, 3),
            retry_base_ms: Spanned::new(0..0, 500),
            tick_deadline_secs: Spanned::new(0..0, 40.0),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawBot {
    #[serde(deserialize_with = "timeframe")]
    timeframe: Timeframe,
    history: Spanned<usize>,
    data_dir: String,
    log_dir: String,
}

impl Default for RawBot {
    fn default() -> Self {
        RawBot {
            timeframe: Timeframe::Min1,
            history: Spanned::new(0..0, 200),
            data_dir: "data".into(),
            log_dir: "logs".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSymbol {
    name: Spanned<String>,
    qty: Option<Spanned<f64>>,
    notional: Option<Spanned<f64>>,
    equity_fraction: Option<Spanned<f64>>,
    #[serde(default)]
    fractional: bool,
    strategy: Spanned<Strategy>,
    stop_loss_pct: Option<Spanned<f64>>,
    take_profit_pct: Option<Spanned<f64>>,
    trailing_stop_pct: Option<Spanned<f64>>,
}

fn timeframe<'de, D: Deserializer<'de>>(d: D) -> Result<Timeframe, D::Error> {
    let s = String::deserialize(d)?;
    let tf: Timeframe = s.parse().map_err(serde::de::Error::custom)?;
    if !tf.is_tradable() {
        return Err(serde::de::Error::custom(format!(
            "{tf} bars are for backtests and imports (`--timeframe {tf}`); the tick trades 1Min, 5Min, 15Min, 1Hour or 1Day"
        )));
    }
    Ok(tf)
}

// ---- loading and validation ----------------------------------------------------------------

impl Config {
    /// Read and validate the config file at `path`, and load the model files its `model`
    /// strategies name.
    pub fn load(path: &Path) -> Result<Config> {
        Config::load_to_trade(path)
    }

    /// [`Config::load`], with or without loading model files (`train` writes them, so it
    /// must run before they exist).
    pub fn load_with(path: &Path, models: bool) -> Result<Config> {
        Config::load_models(path, models, false)
    }

    /// [`Config::load`] for a command that trades (`tick`, `check`): a model that failed its
    /// validation (without `trade_unvalidated = true`) or was trained on the other live feed
    /// is refused; elsewhere (backtest, replay) it is only warned about.
    pub fn load_to_trade(path: &Path) -> Result<Config> {
        Config::load_models(path, true, true)
    }

    fn load_models(path: &Path, models: bool, to_trade: bool) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                " (pass --config PATH, or run from the folder that holds config.toml)"
            } else {
                ""
            };
            Error::config(path, None, None, format!("cannot read the file: {e}{hint}"))
        })?;
        let mut config = Config::from_str(&text, path)?;
        if models {
            models::attach(&mut config, &text, to_trade, |p| std::fs::read_to_string(p))?;
        }
        Ok(config)
    }

    /// Parse `text` as the config file `path` (used for messages and to resolve relative
    /// paths). Pure: touches no file.
    pub fn from_str(text: &str, path: &Path) -> Result<Config> {
        let here = |span: std::ops::Range<usize>, key: &str, msg: String| {
            Error::config(path, line_at(text, &span), Some(key), msg)
        };
        let positive = |v: Spanned<f64>, key: &str, what: &str| -> Result<f64> {
            let x = *v.get_ref();
            if x.is_finite() && x > 0.0 {
                Ok(x)
            } else {
                Err(here(v.span(), key, format!("must be {what}, got {x}")))
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => (Some(line_of(text, span.start)), key_at(text, span.start)),
                None => (None, None),
            };
            let mut message = e.message().trim().to_string();
            if let Some(hint) = e.span().and_then(|span| table_for_array(text, span.start)) {
                message.push_str(&hint);
            }
            Error::config(path, line, key.as_deref(), message)
        })?;

        let a = raw.alpaca;
        let trading_url = Endpoint::parse_base(a.trading_url.get_ref())
            .map_err(|m| here(a.trading_url.span(), "trading_url", m))?;
        let data_url = Endpoint::parse_base(a.data_url.get_ref())
            .map_err(|m| here(a.data_url.span(), "data_url", m))?;
        if *a.live.get_ref() && !trading_url.is_live() {
            let msg = format!(
                "`live = true` needs trading_url = \"{LIVE_TRADING_URL}\" (it is {trading_url})"
            );
            return Err(here(a.live.span(), "live", msg));
        }
        if !*a.live.get_ref() && trading_url.is_live_host() {
            let msg = format!(
                "{trading_url} is Alpaca's live host but `live = false`: use \
                 https://{PAPER_TRADING_HOST}, or set live = true to trade real money"
            );
            return Err(here(a.trading_url.span(), "trading_url", msg));
        }
        let limits = deadline::check(&a, text, path)?;
        let alpaca = AlpacaConfig {
            trading_url,
            data_url,
            feed: a.feed,
            live: a.live.into_inner(),
            subscription: a.subscription,
            recent_sip: a.recent_sip,
            timeout: limits.timeout,
            max_retries: limits.max_retries,
            retry_base: limits.retry_base,
            tick_deadline: limits.tick_deadline,
        };

        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let history = *raw.bot.history.get_ref();
        if !(1..=10_000).contains(&history) {
            let msg = format!("must be between 1 and 10000 bars, got {history}");
            return Err(here(raw.bot.history.span(), "history", msg));
        }
        let bot = BotConfig {
            timeframe: raw.bot.timeframe,
            history,
            data_dir: dir.join(&raw.bot.data_dir),
            log_dir: dir.join(&raw.bot.log_dir),
        };

        if raw.symbols.is_empty() {
            return Err(Error::config(
                path,
                None,
                Some("symbol"),
                "no [[symbol]] section: nothing to trade",
            ));
        }
        let mut symbols: Vec<SymbolConfig> = Vec::with_capacity(raw.symbols.len());
        for s in raw.symbols {
            let name = s.name.get_ref();
            if !is_valid_symbol(name) {
                let msg = format!("`{name}` is not a ticker symbol (capital letters, digits, `.` or `/`, like AAPL or BRK.B)");
                return Err(here(s.name.span(), "name", msg));
            }
            if symbols.iter().any(|seen| &seen.name == name) {
                return Err(here(
                    s.name.span(),
                    "name",
                    format!("`{name}` is listed twice"),
                ));
            }
            let sizing = match (s.qty, s.notional, s.equity_fraction) {
                (Some(q), None, None) => {
                    positive(q, "qty", "a positive number of shares").map(Sizing::Qty)?
                }
                (None, Some(n), None) => {
                    positive(n, "notional", "a positive dollar amount").map(Sizing::Notional)?
                }
                (None, None, Some(f)) => {
                    let v = *f.get_ref();
                    if !(v > 0.0 && v <= 1.0) {
                        return Err(here(
                            f.span(),
                            "equity_fraction",
                            format!("must be above 0 and at most 1, got {v}"),
                        ));
                    }
                    Sizing::EquityFraction(v)
                }
                _ => {
                    let msg =
                        format!("{name}: give exactly one of qty, notional or equity_fraction");
                    return Err(here(s.name.span(), "qty", msg));
                }
            };
            let span = s.strategy.span();
            let strategy = s.strategy.into_inner();
            strategy
                .check()
                .map_err(|(key, m)| here(span.clone(), key, m))?;
            if strategy.bars_needed() > history {
                let msg = format!(
                    "{name}'s strategy needs {} bars but [bot] history is {history}",
                    strategy.bars_needed()
                );
                return Err(here(span, "history", msg));
            }
            let protection =
                Protection::check(s.stop_loss_pct, s.take_profit_pct, s.trailing_stop_pct)
                    .map_err(|(span, key, m)| here(span, key, m))?;
            symbols.push(SymbolConfig {
                name: s.name.into_inner(),
                sizing,
                fractional: s.fractional,
                strategy,
                protection,
            });
        }

        let r = raw.risk;
        // `max` is `None` for limits with no ceiling: printing f64::MAX would show 309 digits.
        let limit = |v: Spanned<f64>, key: &str, max: Option<f64>| -> Result<Option<f64>> {
            let x = *v.get_ref();
            if !(x.is_finite() && x >= 0.0 && max.is_none_or(|m| x <= m)) {
                let range = match max {
                    Some(m) => format!("between 0 (no limit) and {m}"),
                    None => "0 (no limit) or a positive number".to_string(),
                };
                return Err(here(v.span(), key, format!("must be {range}, got {x}")));
            }
            Ok((x > 0.0).then_some(x))
        };
        let limits = Limits {
            max_position_qty: limit(r.max_position_qty, "max_position_qty", None)?,
            max_order_notional: limit(r.max_order_notional, "max_order_notional", None)?,
            max_orders_per_day: (r.max_orders_per_day > 0).then_some(r.max_orders_per_day),
            max_daily_loss_pct: limit(r.max_daily_loss_pct, "max_daily_loss_pct", Some(100.0))?,
            max_drawdown_pct: limit(r.max_drawdown_pct, "max_drawdown_pct", Some(100.0))?,
            max_price_age_secs: r.max_price_age_secs,
            close_margin: deadline::close_margin(&r.close_margin_secs, &alpaca, text, path)?,
            max_missing_bars: deadline::max_missing_bars(&r.max_missing_bars, text, path)?,
        };
        let risk = RiskConfig {
            limits,
            flatten_on_daily_loss: r.flatten_on_daily_loss,
            shared_account: r.shared_account,
        };

        let hook = &raw.alerts.webhook_url;
        let webhook_url = if hook.get_ref().trim().is_empty() {
            None
        } else {
            Some(
                WebhookUrl::parse(hook.get_ref())
                    .map_err(|m| here(hook.span(), "webhook_url", m))?,
            )
        };
        let mut alerts = raw.alerts;
        let channels =
            ops::channels(&mut alerts, &dir).map_err(|(span, key, m)| here(span, &key, m))?;
        let ops = ops::resolve(
            raw.monitoring,
            alerts,
            webhook_url,
            channels,
            raw.report,
            raw.logs,
            &dir,
        );

        Ok(Config {
            path: path.to_path_buf(),
            alpaca,
            bot,
            symbols,
            risk,
            ops,
            warnings: Vec::new(),
        })
    }

    /// `.env` beside the config file.
    pub fn env_file(&self) -> PathBuf {
        self.path.parent().unwrap_or(Path::new("")).join(".env")
    }

    pub fn symbol_names(&self) -> Vec<&str> {
        self.symbols.iter().map(|s| s.name.as_str()).collect()
    }
}

/// The line of a value's span, or `None` for a default the file does not write (its span
/// is the empty `0..0`): a message must not point at line 1 for a key that is not there.
fn line_at(text: &str, span: &std::ops::Range<usize>) -> Option<usize> {
    (span.end > 0).then(|| line_of(text, span.start))
}

/// 1-based line number of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key whose value or name sits at `offset`: the bare word before the nearest `=` on the
/// same line at or before `offset`, else the bare word at `offset` (an unknown key's span).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..offset];
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let word = match before.rfind('=') {
        Some(eq) => {
            let left = before[..eq].trim_end();
            let start = left.rfind(|c: char| !is_key_char(c)).map_or(0, |i| i + 1);
            &left[start..]
        }
        None => {
            let rest = &text[offset..];
            &rest[..rest.find(|c: char| !is_key_char(c)).unwrap_or(rest.len())]
        }
    };
    (!word.is_empty()).then(|| word.to_string())
}

#[cfg(test)]
mod tests;

/// `[symbol]` where `[[symbol]]` was meant: serde only says "invalid type: map, expected a
/// sequence", which does not point at the missing brackets.
fn table_for_array(text: &str, at: usize) -> Option<String> {
    let line_start = text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?.trim();
    let name = line.strip_prefix('[')?.strip_suffix(']')?;
    (!name.starts_with('[')).then(|| {
        format!("; `[{name}]` is one table, a list of them is written `[[{name}]]` (one per entry)")
    })
}

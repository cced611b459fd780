//! `prometheus-bot report`: the live ledgers as one self-contained HTML page (no network, no
//! JavaScript), by default `logs/dashboard.html`. With `[report] dashboard = true` every tick
//! refreshes the same page through [`write_dashboard`], so it must stay cheap: it reads only
//! two columns of equity.csv, the fills, and the end of each bar-cache file.

use crate::cli::ReportArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::outln;
use crate::report::live::{self, Fill, SymbolView};
use crate::store::files::replace_quick;
use crate::store::ledger::{self, time_cell, Ledger};
use crate::store::{BarCache, State};
use chrono::{DateTime, NaiveDateTime, Utc};
use std::path::{Path, PathBuf};

/// Bars of each symbol drawn (about two sessions of minute bars, or most of a year of days).
const PRICE_BARS: usize = 800;

pub fn run(config: &Config, args: &ReportArgs) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(|| dashboard_path(config));
    let html = render(config, Utc::now())?;
    replace_quick(&out, html.as_bytes())?;
    outln!("wrote {}", out.display())?;
    Ok(())
}

pub fn dashboard_path(config: &Config) -> PathBuf {
    config.bot.log_dir.join("dashboard.html")
}

/// Refresh the dashboard after a tick; a failure is logged, never fatal.
pub fn write_dashboard(config: &Config, now: DateTime<Utc>) {
    let result = render(config, now)
        .and_then(|html| replace_quick(&dashboard_path(config), html.as_bytes()));
    if let Err(e) = result {
        log::warn!("cannot refresh the dashboard: {e}");
    }
}

pub fn render(config: &Config, now: DateTime<Utc>) -> Result<String> {
    let data = &config.bot.data_dir;
    let ledger_dir = data.join("ledger");
    let state = State::load(data)?;
    let equity = read_equity(&ledger_dir.join("equity.csv"))?;
    let fills = read_fills(&ledger_dir)?;
    let cache = BarCache::new(data);
    let mut symbols = Vec::new();
    for s in &config.symbols {
        let prices = cache
            .load_tail(&s.name, config.bot.timeframe, PRICE_BARS)?
            .iter()
            .map(|b| (b.time.timestamp(), b.close))
            .collect();
        let position = state.ops.positions.get(&s.name).copied().unwrap_or(0.0);
        symbols.push(SymbolView {
            name: s.name.clone(),
            prices,
            position,
        });
    }
    let mut status = Vec::new();
    if let Some(t) = &state.last_tick {
        status.push((
            "last tick".to_string(),
            format!("{} UTC: {}", time_cell(t.time), t.result),
        ));
    }
    let mut guards = Vec::new();
    if data.join("STOP").exists() {
        guards.push("KILL SWITCH (data/STOP)".to_string());
    }
    if let Some(h) = &state.risk.halted {
        guards.push(format!("HALTED: {} (run prometheus-bot rearm)", h.reason));
    }
    if state.risk.daily_loss_hit {
        guards.push("daily loss limit hit".to_string());
    }
    status.push((
        "guards".to_string(),
        if guards.is_empty() {
            "none tripped".into()
        } else {
            guards.join("; ")
        },
    ));
    status.push((
        "missed ticks".to_string(),
        state.ops.missed_ticks.to_string(),
    ));
    if let Some(e) = state.ops.equity {
        status.push(("equity".to_string(), format!("{e:.2}")));
    }
    Ok(live::page(&live::Input {
        generated: now,
        status,
        equity: &equity,
        fills: &fills,
        symbols: &symbols,
    }))
}

/// `(time, equity)` from equity.csv, parsing only the first two cells of each row.
fn read_equity(path: &Path) -> Result<Vec<(DateTime<Utc>, f64)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, "read", e)),
    };
    let mut rows = Vec::with_capacity(text.len() / 60);
    for line in text.lines().skip(1) {
        let mut cells = line.splitn(3, ',');
        let (Some(t), Some(e)) = (cells.next(), cells.next()) else {
            continue;
        };
        let (Some(t), Ok(e)) = (crate::store::bar_cache::parse_time(t), e.parse::<f64>()) else {
            continue;
        };
        rows.push((t, e));
    }
    Ok(rows)
}

fn read_fills(ledger_dir: &Path) -> Result<Vec<Fill>> {
    if !ledger_dir.join("fills.csv").exists() {
        return Ok(Vec::new());
    }
    let fills = Ledger::open(ledger_dir, "fills.csv", ledger::FILLS)?;
    let col = |n| fills.column(n).unwrap_or(0);
    let (time, symbol, side, qty, price, activity) = (
        col("time_utc"),
        col("symbol"),
        col("side"),
        col("qty"),
        col("price"),
        col("activity_id"),
    );
    Ok(fills
        .read_all()?
        .iter()
        .filter(|r| !r[activity].is_empty())
        .filter_map(|r| {
            Some(Fill {
                time: NaiveDateTime::parse_from_str(&r[time], "%Y-%m-%d %H:%M:%S")
                    .ok()?
                    .and_utc(),
                symbol: r[symbol].to_string(),
                buy: &r[side] == "buy",
                qty: r[qty].parse().ok()?,
                price: r[price].parse().ok()?,
            })
        })
        .collect())
}

//! `prometheus-bot report`: the live ledgers as one self-contained HTML page (no network, no
//! JavaScript), by default `logs/dashboard.html`. With `[report] dashboard = true` every tick
//! refreshes the same page through [`write_dashboard`], so it must stay cheap after a year as
//! after a day: it draws the digest kept in `data/dashboard.json` ([`sidecar`]), which reads
//! only the ledger rows appended since the last tick, and the end of each bar-cache file. The
//! `report` command (and the end of a replay) reads equity.csv and fills.csv whole, on
//! demand, and adds backtesting.py's metrics table, which needs every row.

use crate::cli::ReportArgs;
use crate::config::Config;
use crate::domain::Side;
use crate::error::Result;
use crate::outln;
use crate::report::digest::Digest;
use crate::report::live::{self, Fill, SymbolView};
use crate::store::files::replace_quick;
use crate::store::ledger::{time_cell, Ledger};
use crate::store::rows::{EquityRow, FillKind, FillRow};
use crate::store::{BarCache, State};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

#[path = "report_sidecar.rs"]
mod sidecar;

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

/// Refresh the dashboard after a tick, from the digest kept beside the ledgers
/// ([`render_tick`]); a failure is logged, never fatal.
pub fn write_dashboard(config: &Config, now: DateTime<Utc>) {
    write_page(config, render_tick(config, now));
}

/// Write the whole-read page ([`render`]) where the tick writes its own: the end of a replay.
pub fn write_report(config: &Config, now: DateTime<Utc>) {
    write_page(config, render(config, now));
}

fn write_page(config: &Config, html: Result<String>) {
    let result = html.and_then(|html| replace_quick(&dashboard_path(config), html.as_bytes()));
    if let Err(e) = result {
        log::warn!("cannot refresh the dashboard: {e}");
    }
}

/// The page over whole reads of equity.csv and fills.csv, with the metrics table.
pub fn render(config: &Config, now: DateTime<Utc>) -> Result<String> {
    let ledger_dir = config.bot.data_dir.join("ledger");
    let equity = read_equity(&ledger_dir)?;
    let fills = read_fills(&ledger_dir)?;
    let metrics = live::metric_rows(&equity, &fills);
    page(config, now, &Digest::of(&equity, &fills), metrics)
}

/// The page a tick writes: the digest brought up to date from the rows appended since the
/// last one (and saved back), no metrics table. Its cost does not grow with the ledgers.
pub fn render_tick(config: &Config, now: DateTime<Utc>) -> Result<String> {
    let digest = sidecar::refresh(&config.bot.data_dir)?;
    page(config, now, &digest, None)
}

fn page(
    config: &Config,
    now: DateTime<Utc>,
    digest: &Digest,
    metrics: Option<Vec<Vec<String>>>,
) -> Result<String> {
    let data = &config.bot.data_dir;
    let state = State::load(data)?;
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
    // The ledger's last row, the number the equity chart and the metrics end at: the state's
    // copy is not refreshed by every tick that writes a row (a closed-market tick writes one).
    if let Some((t, e)) = digest.equity.last {
        status.push((
            "equity".to_string(),
            format!("{e:.2} at {} UTC", time_cell(t)),
        ));
    }
    Ok(live::page(&live::Input {
        generated: now,
        status,
        digest,
        symbols: &symbols,
        metrics,
    }))
}

/// `(time, equity)` from equity.csv; a row whose equity the broker did not give is left out.
fn read_equity(ledger_dir: &Path) -> Result<Vec<(DateTime<Utc>, f64)>> {
    let Some(ledger) = Ledger::<EquityRow>::read_only(ledger_dir)? else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    ledger.read_each(|_, row| {
        if let Some(equity) = row.equity {
            rows.push((row.time_utc, equity.to_f64()));
        }
        Ok(())
    })?;
    Ok(rows)
}

/// The executions in fills.csv (not the adjustments or the ends of orders): the trades drawn.
fn read_fills(ledger_dir: &Path) -> Result<Vec<Fill>> {
    let Some(ledger) = Ledger::<FillRow>::read_only(ledger_dir)? else {
        return Ok(Vec::new());
    };
    let mut fills = Vec::new();
    ledger.read_each(|_, row| {
        fills.extend(fill_of(&row));
        Ok(())
    })?;
    Ok(fills)
}

/// The execution a row records (not an adjustment or the end of an order): a trade drawn.
fn fill_of(row: &FillRow) -> Option<Fill> {
    let (Ok(FillKind::Execution { side, .. }), Some(price)) = (row.kind(), &row.price) else {
        return None;
    };
    Some(Fill {
        time: row.time_utc,
        symbol: row.symbol.clone(),
        buy: side == Side::Buy,
        qty: row.qty.to_f64(),
        price: price.to_f64(),
    })
}

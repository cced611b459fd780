//! `prometheus-bot status`: what a person wants to know in five seconds.
//!
//! Works from the files alone (`--offline`, or when no keys are found), and adds the broker's
//! live view (market clock, positions with unrealized P&L, open orders) when it can.

use crate::alpaca::Alpaca;
use crate::cli::StatusArgs;
use crate::config::Config;
use crate::credentials::Credentials;
use crate::error::Result;
use crate::outln;
use crate::store::ledger::{time_cell, Ledger};
use crate::store::rows::{DecisionRow, EquityRow};
use crate::store::State;
use chrono::{DateTime, Utc};
use chrono_tz::America::New_York;
use std::path::Path;

/// Decisions shown at the bottom.
const RECENT: usize = 8;
/// A time and the equity then.
type Point = (DateTime<Utc>, f64);
/// equity.csv rows read from its end: more than a day of minute ticks (390 a session).
const EQUITY_ROWS: usize = 2000;

pub fn run(config: &Config, args: &StatusArgs) -> Result<()> {
    let data = &config.bot.data_dir;
    let ledger_dir = data.join("ledger");
    let state = State::load(data)?;
    let now = Utc::now();
    outln!(
        "prometheus-bot status at {} UTC ({} New York)",
        time_cell(now),
        now.with_timezone(&New_York).format("%H:%M")
    )?;

    match &state.last_tick {
        Some(t) => {
            let ago = (now - t.time).num_minutes();
            outln!(
                "last tick   {} UTC ({ago} min ago): {}",
                time_cell(t.time),
                t.result
            )?;
        }
        None => outln!("last tick   never")?,
    }

    let mut guards = Vec::new();
    if data.join("STOP").exists() {
        guards.push(format!(
            "KILL SWITCH ({} exists)",
            data.join("STOP").display()
        ));
    }
    if let Some(h) = &state.risk.halted {
        guards.push(format!(
            "HALTED since {} UTC: {} (run `prometheus-bot rearm`)",
            time_cell(h.since),
            h.reason
        ));
    }
    if state.risk.daily_loss_hit {
        guards.push("daily loss limit hit: no new positions today".into());
    }
    outln!(
        "guards      {}",
        if guards.is_empty() {
            "none tripped".to_string()
        } else {
            guards.join("; ")
        }
    )?;
    outln!(
        "missed      {} tick(s) in market hours so far",
        state.ops.missed_ticks
    )?;
    for intent in &state.intents {
        outln!(
            "unresolved  {} {} {} ({}): outcome unknown; {} trades again once the broker shows it or it is proven absent",
            intent.symbol, intent.side, intent.qty, intent.client_order_id, intent.symbol
        )?;
    }
    // Said by the last open-market tick: a position whose stop or target is not resting at
    // the broker is exposed while the bot is down.
    for why in state.ops.unprotected.values() {
        outln!("UNPROTECTED {why}")?;
    }
    for leg in &state.pending_legs {
        outln!(
            "reversal    {} {} {} waits for the close {} to fill (dropped if not sent on {})",
            leg.symbol,
            leg.side,
            leg.qty,
            leg.close_client_order_id,
            leg.day
        )?;
    }

    // A ledger that does not read is reported, not fatal: status is where a person looks
    // when something is wrong.
    match read_equity(&ledger_dir).map(|(first, rows)| pnl(first, &rows)) {
        Ok((today, total, Some(e))) => outln!(
            "equity      {e:.2} (today {}, since the ledger began {})",
            signed(today),
            signed(total)
        )?,
        Ok((_, _, None)) => outln!("equity      no equity.csv rows yet")?,
        Err(e) => outln!("equity      {e}")?,
    }

    let live = if args.offline {
        None
    } else {
        Credentials::find(&config.env_file()).ok()
    };
    match live {
        Some(credentials) => broker_view(config, Alpaca::new(&config.alpaca, credentials))?,
        None => {
            let why = if args.offline {
                "--offline"
            } else {
                "no keys found"
            };
            outln!("broker      not asked ({why}); positions as last seen by a tick:")?;
            for (symbol, qty) in &state.ops.positions {
                outln!("            {symbol} {qty}")?;
            }
            outln!(
                "tracked     {} order(s) of the bot still working",
                state.tracked.len()
            )?;
        }
    }

    match recent_decisions(&ledger_dir) {
        Ok(rows) if rows.is_empty() => {}
        Ok(rows) => {
            outln!("recent decisions:")?;
            for d in rows {
                outln!(
                    "  {} {:<5} {:<5} {:<13} {}",
                    time_cell(d.time_utc),
                    d.symbol,
                    d.signal.as_str(),
                    d.action,
                    d.reason
                )?;
            }
        }
        Err(e) => outln!("decisions   {e}")?,
    }
    Ok(())
}

/// The last [`RECENT`] rows of decisions.csv, oldest first.
fn recent_decisions(ledger_dir: &Path) -> Result<Vec<DecisionRow>> {
    match Ledger::<DecisionRow>::read_only(ledger_dir)? {
        Some(ledger) => ledger.read_last(RECENT),
        None => Ok(Vec::new()),
    }
}

/// `(time, equity)` of equity.csv's first row and of its last [`EQUITY_ROWS`] rows, where they
/// have an equity: enough for the P&L since the ledger began and since yesterday's last row.
fn read_equity(ledger_dir: &Path) -> Result<(Option<Point>, Vec<Point>)> {
    let Some(ledger) = Ledger::<EquityRow>::read_only(ledger_dir)? else {
        return Ok((None, Vec::new()));
    };
    let point = |row: EquityRow| Some((row.time_utc, row.equity?.to_f64()));
    let first = ledger.read_first()?.and_then(point);
    let last = ledger
        .read_last(EQUITY_ROWS)?
        .into_iter()
        .filter_map(point)
        .collect();
    Ok((first, last))
}

/// The broker's view; a failure here is reported, not fatal: status must work when the
/// network does not.
fn broker_view(config: &Config, client: Alpaca) -> Result<()> {
    match client.clock() {
        Ok(c) if c.is_open => outln!(
            "market      open, closes {}",
            c.next_close.map_or("?".into(), |t| t
                .with_timezone(&New_York)
                .format("%H:%M %Z")
                .to_string())
        )?,
        Ok(c) => outln!(
            "market      closed, opens {}",
            c.next_open.map_or("?".into(), |t| t
                .with_timezone(&New_York)
                .format("%a %Y-%m-%d %H:%M %Z")
                .to_string())
        )?,
        Err(e) => {
            return outln!("broker      unreachable: {e}");
        }
    }
    match client.positions() {
        Ok(positions) if positions.is_empty() => outln!("positions   none")?,
        Ok(positions) => {
            for p in positions {
                outln!(
                    "positions   {} {} @ {}, now {}, unrealized P&L {}",
                    p.symbol,
                    p.qty,
                    p.avg_entry_price.as_deref().unwrap_or("?"),
                    p.current_price.as_deref().unwrap_or("?"),
                    p.unrealized_pl.as_deref().unwrap_or("?")
                )?;
            }
        }
        Err(e) => outln!("positions   unavailable: {e}")?,
    }
    match client.open_orders(&config.symbol_names()) {
        Ok(orders) if orders.is_empty() => outln!("open orders none")?,
        Ok(orders) => {
            for o in orders {
                outln!(
                    "open orders {} {} {} {} ({})",
                    o.symbol,
                    o.side.as_deref().unwrap_or("?"),
                    o.qty.as_deref().unwrap_or("?"),
                    o.status,
                    o.client_order_id
                )?;
            }
        }
        Err(e) => outln!("open orders unavailable: {e}")?,
    }
    Ok(())
}

/// (today's P&L, P&L since the first row, latest equity) from equity.csv's first row and its
/// last rows: today is measured from the last row before today's New York date.
fn pnl(first: Option<Point>, rows: &[Point]) -> (f64, f64, Option<f64>) {
    let Some(&(last_t, last)) = rows.last() else {
        return (0.0, 0.0, None);
    };
    let today = last_t.with_timezone(&New_York).date_naive();
    let open = rows
        .iter()
        .rev()
        .find(|(t, _)| t.with_timezone(&New_York).date_naive() < today)
        .or(rows.first())
        .map_or(last, |r| r.1);
    let start = first.map_or(last, |r| r.1);
    (last - open, last - start, Some(last))
}

fn signed(v: f64) -> String {
    format!("{v:+.2}")
}

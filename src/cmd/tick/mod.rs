//! `prometheus-bot tick`: one trading step.
//!
//! lock → state → broker clock → settle unfinished orders → account, latest trades, bars
//! (cache + one small request), positions, open orders → record new fills → risk state →
//! decide per symbol → guards → order (exactly once) → ledgers → state. The broker's clock is
//! "now" for everything: a Raspberry Pi without a real-time clock can be minutes off.

mod bars;
mod outcome;

use crate::alpaca::wire::{Account, Order, Trade};
use crate::alpaca::{client::format_qty, Alpaca, OrderRequest};
use crate::cli::TickArgs;
use crate::config::{Config, SymbolConfig};
use crate::credentials::Credentials;
use crate::domain::{Bar, Side, Signal};
use crate::error::{Error, Result};
use crate::fills::{self, Fills};
use crate::orders::{client_order_id, Desk, Placed};
use crate::risk::{self, Proposed};
use crate::store::bar_cache::BarCache;
use crate::store::ledger::{self, time_cell, Ledger};
use crate::store::{State, TickLock};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::America::New_York;
use std::collections::HashMap;

/// A local clock further than this from the broker's gets a warning.
const MAX_CLOCK_SKEW_SECS: i64 = 30;

pub fn run(config: &Config, args: &TickArgs) -> Result<()> {
    match (config.alpaca.live, args.live) {
        (true, false) => {
            return Err(Error::Usage(
                "the config says live = true: pass `tick --live` to trade real money, or set live = false".into(),
            ))
        }
        (false, true) => {
            return Err(Error::Usage(
                "--live given but the config is for paper trading: set live = true and the live trading_url".into(),
            ))
        }
        _ => {}
    }
    let credentials = Credentials::find(&config.env_file())?;
    let data_dir = &config.bot.data_dir;
    let _lock = TickLock::acquire(data_dir)?;
    let started = std::time::Instant::now();
    let ledger_dir = data_dir.join("ledger");
    let mut equity_columns: Vec<&str> = ledger::EQUITY.to_vec();
    equity_columns.extend(config.symbol_names());
    let client = Alpaca::new(&config.alpaca, credentials)
        .with_deadline(started + config.alpaca.tick_deadline);
    let orders = Ledger::open(&ledger_dir, "orders.csv", ledger::ORDERS)?;
    let mut tick = Tick {
        config,
        dry_run: args.dry_run,
        client: &client,
        decisions: Ledger::open(&ledger_dir, "decisions.csv", ledger::DECISIONS)?,
        desk: Desk {
            client: &client,
            orders: &orders,
            data_dir,
        },
        fills: Fills::open(&ledger_dir)?,
        equity: Ledger::open_rotating(&ledger_dir, "equity.csv", &equity_columns)?,
        state: State::load(data_dir)?,
        cache: BarCache::new(data_dir),
        now: Utc::now(),
        unknown_outcomes: 0,
        alerts: Vec::new(),
    };
    let outcome = tick.run();
    let alerts = std::mem::take(&mut tick.alerts);
    outcome::record(config, &mut tick.state, tick.now, &outcome, alerts);
    let saved = tick.state.save(data_dir);
    outcome::publish(config, &tick.state, tick.now, started.elapsed());
    if config.ops.dashboard {
        crate::cmd::report::write_dashboard(config, tick.now);
    }
    let summary = outcome?;
    saved?;
    println!("{} {summary}", time_cell(tick.now));
    if tick.unknown_outcomes > 0 {
        return Err(Error::Refused(format!(
            "{} order(s) with an unknown outcome; the next tick looks them up before trading",
            tick.unknown_outcomes
        )));
    }
    Ok(())
}

struct Tick<'a> {
    config: &'a Config,
    dry_run: bool,
    client: &'a Alpaca,
    decisions: Ledger,
    desk: Desk<'a>,
    fills: Fills,
    equity: Ledger,
    state: State,
    cache: BarCache,
    /// The broker's clock once read; the local clock until then.
    now: DateTime<Utc>,
    unknown_outcomes: usize,
    /// Messages for the webhook: fills, guards tripped, missed ticks.
    alerts: Vec<String>,
}

/// What the broker says about one symbol right now.
struct Market {
    bars: Vec<Bar>,
    trade: Option<Trade>,
    position: f64,
    open_buy: f64,
    open_sell: f64,
}

/// One row of decisions.csv, before formatting.
struct Decided<'a> {
    symbol: &'a SymbolConfig,
    bar_time: Option<DateTime<Utc>>,
    price: Option<f64>,
    position: f64,
    signal: Signal,
    action: &'a str,
    order: Option<(f64, &'a str)>,
    reason: &'a str,
}

/// Facts shared by every symbol's decision in this tick.
struct Shared {
    equity: f64,
    stop_file: bool,
    /// Net shares per symbol from fills.csv; `None` for a shared account.
    believed: Option<HashMap<String, f64>>,
}

impl Tick<'_> {
    fn run(&mut self) -> Result<String> {
        let clock = self.client.clock()?;
        self.now = clock.timestamp.with_timezone(&Utc);
        let skew = (Utc::now() - self.now).num_seconds();
        if skew.abs() > MAX_CLOCK_SKEW_SECS {
            log::warn!("local clock is {skew} s off the broker's; using the broker's (check NTP on this machine)");
        }
        let previous = self.state.last_tick.as_ref().map(|t| t.time);
        let missed = crate::ops::missed_ticks(
            previous,
            self.now,
            clock.is_open,
            self.config.ops.missed_tick_minutes,
        );
        if missed > 0 {
            let msg = format!(
                "{missed} tick(s) missed during market hours before {} UTC (did the machine sleep, lose power, or cron stop?)",
                time_cell(self.now)
            );
            log::warn!("{msg}");
            self.state.ops.missed_ticks += missed;
            self.alerts.push(msg);
        }
        self.state.ops.market_open = Some(clock.is_open);
        self.desk.resolve_intents(&mut self.state, self.now)?;
        self.state
            .risk
            .roll_day(self.now.with_timezone(&New_York).date_naive());

        if !clock.is_open {
            return self.market_closed(clock.next_open.map(|t| t.with_timezone(&Utc)));
        }
        self.state.closed_until_recorded = None;

        let account = self.client.account()?;
        let names = self.config.symbol_names();
        let trades = self.client.latest_trades(&names)?;
        let mut bars = bars::refresh(self.config, self.client, &self.cache, self.now, &names)?;
        let positions: HashMap<String, f64> = self
            .client
            .positions()?
            .into_iter()
            .map(|p| (p.symbol.clone(), p.signed_qty()))
            .collect();
        let (open_orders, synced) = self.sync_fills()?;
        for f in &synced.new_fills {
            let msg = format!(
                "{}: {} {} filled at {} (order {})",
                f.symbol, f.side, f.qty, f.price, f.order_id
            );
            log::info!("{msg}");
            self.alerts.push(msg);
        }
        self.state.ops.fills += synced.new_fills.len() as u64;

        let equity = amount(&account.equity);
        let day_start = account.last_equity.as_deref().and_then(|e| e.parse().ok());
        for tripped in
            self.state
                .risk
                .observe_equity(&self.config.risk, self.now, equity, day_start)
        {
            log::warn!("{tripped}");
            self.alerts.push(tripped);
        }
        self.state.ops.equity = Some(equity).filter(|e| e.is_finite());
        self.state.ops.cash = account.cash.as_deref().and_then(|c| c.parse().ok());
        self.state.ops.positions = self
            .config
            .symbols
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    positions.get(&s.name).copied().unwrap_or(0.0),
                )
            })
            .collect();
        let stop_file = self.config.bot.data_dir.join("STOP").exists();
        if stop_file {
            log::warn!(
                "kill switch: {} exists; no orders this tick",
                self.config.bot.data_dir.join("STOP").display()
            );
        }
        let believed = if self.config.risk.shared_account {
            None
        } else {
            Some(self.fills.recorded()?.net_qty)
        };
        let shared = Shared {
            equity,
            stop_file,
            believed,
        };

        let mut parts = Vec::new();
        for symbol in &self.config.symbols {
            let name = symbol.name.as_str();
            let open = |side: Side| -> f64 {
                open_orders
                    .iter()
                    .filter(|o| o.symbol == name && o.side() == Some(side))
                    .map(Order::remaining_qty)
                    .sum()
            };
            let market = Market {
                bars: bars.remove(name).unwrap_or_default(),
                trade: trades.get(name).copied(),
                position: positions.get(name).copied().unwrap_or(0.0),
                open_buy: open(Side::Buy),
                open_sell: open(Side::Sell),
            };
            parts.push(self.trade_symbol(symbol, &market, &shared)?);
        }
        if self.state.risk.daily_loss_hit && self.config.risk.flatten_on_daily_loss && !stop_file {
            parts.extend(self.flatten(&positions, &open_orders, &trades)?);
        }
        self.record_equity(&account, &positions)?;
        let mut summary = parts.join("; ");
        if !synced.new_fills.is_empty() {
            summary.push_str(&format!("; {} new fill(s)", synced.new_fills.len()));
        }
        if self.state.risk.halted.is_some() {
            summary.push_str("; HALTED (run `prometheus-bot rearm`)");
        }
        if self.dry_run {
            summary.push_str(" (dry run)");
        }
        Ok(summary)
    }

    /// Open orders that matter, and the current state of the orders the bot tracks, in one
    /// request. On a shared account every open order matters (a manual sell blocks a buy as a
    /// wash trade), so they are listed. Otherwise the bot's own orders are the only ones, all
    /// tracked, so one "orders since the oldest tracked" request covers both, and none is
    /// needed when nothing is tracked: the common tick stays at five requests.
    fn open_orders(&self, names: &[&str]) -> Result<(Vec<Order>, Vec<Order>)> {
        if self.config.risk.shared_account {
            let open = self.client.open_orders(names)?;
            return Ok((open.clone(), open));
        }
        let Some(since) = self.state.tracked.iter().map(|t| t.submitted_at).min() else {
            return Ok((Vec::new(), Vec::new()));
        };
        let recent = self
            .client
            .orders_since(since - Duration::seconds(1), Some(names))?;
        let open = recent.iter().filter(|o| !o.is_final()).cloned().collect();
        Ok((open, recent))
    }

    /// The open orders that matter, after recording what happened to the tracked ones.
    fn sync_fills(&mut self) -> Result<(Vec<Order>, fills::Synced)> {
        let (open, known) = self.open_orders(&self.config.symbol_names())?;
        let synced = fills::sync_tracked(
            self.client,
            &self.fills,
            &mut self.state.tracked,
            &known,
            self.now,
        )?;
        self.alerts.extend(synced.forgotten.iter().cloned());
        Ok((open, synced))
    }

    /// Closed market: settle tracked orders (they can still expire or fill), record the
    /// closed session once (decision rows and an equity row), trade nothing.
    fn market_closed(&mut self, next_open: Option<DateTime<Utc>>) -> Result<String> {
        if !self.state.tracked.is_empty() {
            self.sync_fills()?;
        }
        if self.state.closed_until_recorded != next_open || next_open.is_none() {
            let when = next_open.map_or("unknown".to_string(), |t| {
                t.with_timezone(&New_York)
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string()
            });
            let reason = format!("market closed; next open {when}");
            let rows: Vec<Vec<String>> = self
                .config
                .symbols
                .iter()
                .map(|s| {
                    self.decision_row(Decided {
                        symbol: s,
                        bar_time: None,
                        price: None,
                        position: 0.0,
                        signal: Signal::Hold,
                        action: "market-closed",
                        order: None,
                        reason: &reason,
                    })
                })
                .collect();
            self.decisions.append(&rows)?;
            let account = self.client.account()?;
            let positions = self
                .client
                .positions()?
                .into_iter()
                .map(|p| (p.symbol.clone(), p.signed_qty()))
                .collect();
            self.record_equity(&account, &positions)?;
            self.state.closed_until_recorded = next_open;
        }
        log::info!("market closed; nothing to do");
        Ok("market closed".into())
    }

    fn trade_symbol(
        &mut self,
        symbol: &SymbolConfig,
        market: &Market,
        shared: &Shared,
    ) -> Result<String> {
        let name = symbol.name.as_str();
        let effective = market.position + market.open_buy - market.open_sell;
        let bar_time = market.bars.last().map(|b| b.time);
        let Some(trade) = market.trade else {
            let reason = format!(
                "no latest trade for {name} on the {} feed; not trading on missing data",
                self.config.alpaca.feed.as_str()
            );
            self.decide_row(Decided {
                symbol,
                bar_time,
                price: None,
                position: effective,
                signal: Signal::Hold,
                action: "refused",
                order: None,
                reason: &reason,
            })?;
            return Ok(format!("{name} refused (no price)"));
        };
        let decision = symbol.strategy.decide(&market.bars, trade.p, effective);
        let reason = decision.why.to_string();
        let Some(side) = decision.signal.side() else {
            self.decide_row(Decided {
                symbol,
                bar_time,
                price: Some(trade.p),
                position: effective,
                signal: Signal::Hold,
                action: "hold",
                order: None,
                reason: &reason,
            })?;
            return Ok(format!("{name} hold"));
        };

        let entry = symbol
            .sizing
            .shares(trade.p, shared.equity, symbol.fractional);
        let qty = order_qty(side, effective, entry, symbol.strategy.allows_short());
        let tf = self.config.bot.timeframe;
        let key_time = bar_time.unwrap_or_else(|| bars::floor_to(self.now, tf) - tf.duration());
        let client_id = client_order_id(name, tf, key_time, symbol.strategy.tag(), side);
        let order = Some((qty, client_id.as_str()));
        let signal = decision.signal;

        let refusal = self.refusal(symbol, market, shared, side, qty, trade, bar_time);
        if let Some(why) = refusal {
            self.state.ops.orders_refused += 1;
            let full = format!("{reason}; refused: {why}");
            self.decide_row(Decided {
                symbol,
                bar_time,
                price: Some(trade.p),
                position: effective,
                signal,
                action: "refused",
                order,
                reason: &full,
            })?;
            return Ok(format!("{name} {side} refused ({why})"));
        }
        if self.dry_run {
            self.decide_row(Decided {
                symbol,
                bar_time,
                price: Some(trade.p),
                position: effective,
                signal,
                action: "dry-run",
                order,
                reason: &reason,
            })?;
            return Ok(format!("{name} {side} {} (dry run)", format_qty(qty)));
        }
        self.decide_row(Decided {
            symbol,
            bar_time,
            price: Some(trade.p),
            position: effective,
            signal,
            action: "order",
            order,
            reason: &reason,
        })?;
        let request = OrderRequest::market_day(name, side, qty, &client_id);
        let status = self.send(&request, trade.p)?;
        Ok(format!("{name} {side} {} -> {status}", format_qty(qty)))
    }

    /// The first reason not to send this order, in words, if any.
    #[allow(clippy::too_many_arguments)]
    fn refusal(
        &self,
        symbol: &SymbolConfig,
        market: &Market,
        shared: &Shared,
        side: Side,
        qty: f64,
        trade: Trade,
        bar_time: Option<DateTime<Utc>>,
    ) -> Option<String> {
        let name = symbol.name.as_str();
        let in_flight = market.open_buy > 0.0 || market.open_sell > 0.0;
        if let Some(believed) = &shared.believed {
            let ours = believed.get(name).copied().unwrap_or(0.0);
            if !in_flight && (ours - market.position).abs() > 1e-9 {
                return Some(format!(
                    "the broker holds {} {name} but the bot's fills ledger says {}; run `prometheus-bot reconcile` \
                     (or set shared_account = true in [risk] if you also trade this account by hand)",
                    market.position, ours
                ));
            }
        }
        let opposite_open = match side {
            Side::Buy => market.open_sell,
            Side::Sell => market.open_buy,
        };
        if opposite_open > 0.0 {
            return Some(format!(
                "an opposite {} order for {opposite_open} shares is still open (Alpaca refuses it as a wash trade)",
                opposite(side)
            ));
        }
        let effective = market.position + market.open_buy - market.open_sell;
        let cx = risk::Context {
            config: &self.config.risk,
            state: &self.state.risk,
            stop_file: shared.stop_file,
            price_age_secs: (self.now - trade.t).num_seconds(),
            bar_is_recent: bars::is_recent(bar_time, self.now, self.config.bot.timeframe),
            last_bar: bar_time,
        };
        let proposed = Proposed {
            side,
            qty,
            price: trade.p,
            position: effective,
        };
        risk::check(&proposed, &cx).err().map(|r| r.to_string())
    }

    /// Place through the desk and turn the outcome into a word for the summary.
    fn send(&mut self, request: &OrderRequest, price: f64) -> Result<String> {
        Ok(
            match self.desk.place(&mut self.state, self.now, request, price)? {
                Placed::Accepted { already: true, .. } => "already placed".into(),
                Placed::Accepted { order, .. } => {
                    self.state.risk.orders_today += 1;
                    self.state.ops.orders_submitted += 1;
                    order.status.to_string()
                }
                Placed::Refused(_) => {
                    self.state.ops.orders_refused += 1;
                    "refused".into()
                }
                Placed::Unknown(_) => {
                    self.unknown_outcomes += 1;
                    "unknown".into()
                }
            },
        )
    }

    /// Daily loss limit hit with `flatten_on_daily_loss`: close every configured position
    /// that has no order working, once per day per symbol (the client id is keyed by the day).
    fn flatten(
        &mut self,
        positions: &HashMap<String, f64>,
        open: &[Order],
        trades: &HashMap<String, Trade>,
    ) -> Result<Vec<String>> {
        let mut parts = Vec::new();
        let day = self
            .now
            .with_timezone(&New_York)
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        for symbol in self.config.symbols.clone() {
            let name = symbol.name.as_str();
            let qty = positions.get(name).copied().unwrap_or(0.0);
            if qty == 0.0 || open.iter().any(|o| o.symbol == name) {
                continue;
            }
            let side = if qty > 0.0 { Side::Sell } else { Side::Buy };
            let client_id = client_order_id(name, self.config.bot.timeframe, day, "flat", side);
            let price = trades.get(name).map_or(0.0, |t| t.p);
            let reason = "daily loss limit reached: flattening (flatten_on_daily_loss = true)";
            let action = if self.dry_run { "dry-run" } else { "flatten" };
            let signal = if side == Side::Buy {
                Signal::Buy
            } else {
                Signal::Sell
            };
            self.decide_row(Decided {
                symbol: &symbol,
                bar_time: None,
                price: Some(price),
                position: qty,
                signal,
                action,
                order: Some((qty.abs(), &client_id)),
                reason,
            })?;
            if !self.dry_run {
                let status = self.send(
                    &OrderRequest::market_day(name, side, qty.abs(), &client_id),
                    price,
                )?;
                parts.push(format!(
                    "{name} flatten {side} {} -> {status}",
                    format_qty(qty.abs())
                ));
            }
        }
        Ok(parts)
    }

    fn record_equity(&self, account: &Account, positions: &HashMap<String, f64>) -> Result<()> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let mut row = vec![
            time_cell(self.now),
            text(&account.equity),
            text(&account.cash),
            text(&account.long_market_value),
            text(&account.buying_power),
        ];
        for s in &self.config.symbols {
            row.push(format_qty(positions.get(&s.name).copied().unwrap_or(0.0)));
        }
        self.equity.append(&[row])
    }

    fn decide_row(&self, d: Decided<'_>) -> Result<()> {
        self.decisions.append(&[self.decision_row(d)])
    }

    fn decision_row(&self, d: Decided<'_>) -> Vec<String> {
        let Decided {
            symbol,
            bar_time,
            price,
            position,
            signal,
            action,
            order,
            reason,
        } = d;
        vec![
            time_cell(self.now),
            symbol.name.clone(),
            symbol.strategy.tag().to_string(),
            bar_time.map(time_cell).unwrap_or_default(),
            price.map(|p| p.to_string()).unwrap_or_default(),
            position.to_string(),
            signal.as_str().to_string(),
            action.to_string(),
            order.map(|(q, _)| format_qty(q)).unwrap_or_default(),
            order.map(|(_, id)| id.to_string()).unwrap_or_default(),
            reason.to_string(),
        ]
    }
}

fn amount(v: &Option<String>) -> f64 {
    v.as_deref()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// Shares to send for a signal: a buy covers any short and opens `entry`; a sell closes the
/// long and, for stop-and-reverse strategies, opens an `entry` short.
fn order_qty(side: Side, position: f64, entry: f64, allow_short: bool) -> f64 {
    match side {
        Side::Buy if position < 0.0 => -position + entry,
        Side::Buy => entry,
        Side::Sell if position > 0.0 => position + if allow_short { entry } else { 0.0 },
        Side::Sell => entry,
    }
}

fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_sizes() {
        assert_eq!(order_qty(Side::Buy, 0.0, 2.0, false), 2.0);
        assert_eq!(order_qty(Side::Buy, -2.0, 2.0, true), 4.0);
        assert_eq!(order_qty(Side::Sell, 3.0, 2.0, false), 3.0);
        assert_eq!(order_qty(Side::Sell, 2.0, 2.0, true), 4.0);
        assert_eq!(order_qty(Side::Sell, 0.0, 2.0, true), 2.0);
    }
}

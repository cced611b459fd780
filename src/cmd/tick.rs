//! `prometheus-bot tick`: one trading step.
//!
//! lock → state → broker clock → settle unfinished orders → account, latest trades, bars
//! (cache + one small request), positions, open orders → record new fills → risk state →
//! decide per symbol → guards → order (exactly once) → ledgers → state. The broker's clock is
//! "now" for everything: a Raspberry Pi without a real-time clock can be minutes off.

use crate::alpaca::wire::{Account, Order, Trade};
use crate::alpaca::{client::format_qty, Alpaca, BarsQuery, OrderRequest};
use crate::cli::TickArgs;
use crate::config::{Config, SymbolConfig};
use crate::credentials::Credentials;
use crate::domain::{Bar, Side, Signal, Timeframe};
use crate::error::{Error, Result};
use crate::fills::{self, Fills};
use crate::orders::{client_order_id, Desk, Placed};
use crate::risk::{self, Proposed};
use crate::store::bar_cache::{self, BarCache};
use crate::store::ledger::{self, time_cell, Ledger};
use crate::store::state::TickRecord;
use crate::store::{State, TickLock};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::America::New_York;
use std::collections::HashMap;

/// A local clock further than this from the broker's gets a warning.
const MAX_CLOCK_SKEW_SECS: i64 = 30;
/// Bars younger than this past their close may still be revised by Alpaca, so they are used
/// for the decision but not written to the cache (the next tick fetches them again).
const SETTLE: Duration = Duration::seconds(60);
/// Page bound for the tick's bars request.
const MAX_BAR_PAGES: usize = 50;

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
    let ledger_dir = data_dir.join("ledger");
    let mut equity_columns: Vec<&str> = ledger::EQUITY.to_vec();
    equity_columns.extend(config.symbol_names());
    let client = Alpaca::new(&config.alpaca, credentials);
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
    };
    let outcome = tick.run();
    let result = match &outcome {
        Ok(summary) => summary.clone(),
        Err(e) => format!("failed: {e}"),
    };
    tick.state.last_tick = Some(TickRecord {
        time: tick.now,
        result,
    });
    let saved = tick.state.save(data_dir);
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
}

/// What the broker says about one symbol right now.
struct Market {
    bars: Vec<Bar>,
    trade: Option<Trade>,
    position: f64,
    open_buy: f64,
    open_sell: f64,
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
        let mut bars = self.refresh_bars(&names)?;
        let positions: HashMap<String, f64> = self
            .client
            .positions()?
            .into_iter()
            .map(|p| (p.symbol.clone(), p.signed_qty()))
            .collect();
        let (open_orders, known) = self.open_orders(&names)?;
        let synced = fills::sync_tracked(
            self.client,
            &self.fills,
            &mut self.state.tracked,
            &known,
            self.now,
        )?;
        for f in &synced.new_fills {
            log::info!(
                "{}: {} {} filled at {} (order {})",
                f.symbol,
                f.side,
                f.qty,
                f.price,
                f.order_id
            );
        }

        let equity = amount(&account.equity);
        let day_start = account.last_equity.as_deref().and_then(|e| e.parse().ok());
        for tripped in
            self.state
                .risk
                .observe_equity(&self.config.risk, self.now, equity, day_start)
        {
            log::warn!("{tripped}");
        }
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

    /// Closed market: settle tracked orders (they can still expire or fill), record the
    /// closed session once (decision rows and an equity row), trade nothing.
    fn market_closed(&mut self, next_open: Option<DateTime<Utc>>) -> Result<String> {
        if !self.state.tracked.is_empty() {
            let (_, known) = self.open_orders(&self.config.symbol_names())?;
            fills::sync_tracked(
                self.client,
                &self.fills,
                &mut self.state.tracked,
                &known,
                self.now,
            )?;
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
                    self.decision_row(
                        s,
                        None,
                        None,
                        0.0,
                        Signal::Hold,
                        "market-closed",
                        None,
                        &reason,
                    )
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

    /// The last `history` closed bars per symbol: the cache, topped up with one request for
    /// what came after it. A missing or short cache is filled over a lookback window.
    fn refresh_bars(&self, names: &[&str]) -> Result<HashMap<String, Vec<Bar>>> {
        let tf = self.config.bot.timeframe;
        let history = self.config.bot.history;
        let mut cached: HashMap<String, Vec<Bar>> = HashMap::new();
        let mut start = self.now;
        let mut adjustment = "raw".to_string();
        for &name in names {
            let bars = self.cache.load_tail(name, tf, history)?;
            let from = match bars.last() {
                Some(last) if bars.len() >= history => last.time + tf.duration(),
                _ => self.now - lookback(tf, history),
            };
            start = start.min(from);
            adjustment = self.cache.meta(name, tf)?.adjustment;
            cached.insert(name.to_string(), bars);
        }
        let query = BarsQuery {
            symbols: names,
            timeframe: tf,
            start,
            end: Some(self.now),
            adjustment: &adjustment,
            feed: self.config.alpaca.feed,
            max_pages: MAX_BAR_PAGES,
        };
        let mut fetched = self.client.bars(&query, |_, _| {})?;
        let mut out = HashMap::new();
        for &name in names {
            let old = cached.remove(name).unwrap_or_default();
            let closed: Vec<Bar> = fetched
                .remove(name)
                .unwrap_or_default()
                .into_iter()
                .filter(|b| b.time + tf.duration() <= self.now)
                .collect();
            let settled_before = self.now - tf.duration() - SETTLE;
            let settled: Vec<Bar> = closed
                .iter()
                .filter(|b| b.time <= settled_before)
                .copied()
                .collect();
            let bars = if old.len() >= history {
                let last = old.last().map(|b| b.time);
                let new_settled: Vec<Bar> = settled
                    .into_iter()
                    .filter(|b| Some(b.time) > last)
                    .collect();
                self.cache.append(name, tf, &new_settled)?;
                bar_cache::merge(
                    old,
                    closed.into_iter().filter(|b| Some(b.time) > last).collect(),
                )
            } else {
                let merged = bar_cache::merge(self.cache.load(name, tf)?, settled);
                self.cache
                    .replace(name, tf, &merged, &self.cache.meta(name, tf)?)?;
                bar_cache::merge(merged, closed)
            };
            let skip = bars.len().saturating_sub(history);
            out.insert(name.to_string(), bars[skip..].to_vec());
        }
        Ok(out)
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
            self.decide_row(
                symbol,
                bar_time,
                None,
                effective,
                Signal::Hold,
                "refused",
                None,
                &reason,
            )?;
            return Ok(format!("{name} refused (no price)"));
        };
        let decision = symbol.strategy.decide(&market.bars, trade.p, effective);
        let reason = decision.why.to_string();
        let Some(side) = decision.signal.side() else {
            self.decide_row(
                symbol,
                bar_time,
                Some(trade.p),
                effective,
                Signal::Hold,
                "hold",
                None,
                &reason,
            )?;
            return Ok(format!("{name} hold"));
        };

        let entry = symbol
            .sizing
            .shares(trade.p, shared.equity, symbol.fractional);
        let qty = order_qty(side, effective, entry, symbol.strategy.allows_short());
        let tf = self.config.bot.timeframe;
        let key_time = bar_time.unwrap_or_else(|| floor_to(self.now, tf) - tf.duration());
        let client_id = client_order_id(name, tf, key_time, symbol.strategy.tag(), side);
        let order = Some((qty, client_id.as_str()));
        let signal = decision.signal;

        let refusal = self.refusal(symbol, market, shared, side, qty, trade, bar_time);
        if let Some(why) = refusal {
            let full = format!("{reason}; refused: {why}");
            self.decide_row(
                symbol,
                bar_time,
                Some(trade.p),
                effective,
                signal,
                "refused",
                order,
                &full,
            )?;
            return Ok(format!("{name} {side} refused ({why})"));
        }
        if self.dry_run {
            self.decide_row(
                symbol,
                bar_time,
                Some(trade.p),
                effective,
                signal,
                "dry-run",
                order,
                &reason,
            )?;
            return Ok(format!("{name} {side} {} (dry run)", format_qty(qty)));
        }
        self.decide_row(
            symbol,
            bar_time,
            Some(trade.p),
            effective,
            signal,
            "order",
            order,
            &reason,
        )?;
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
            bar_is_recent: bar_is_recent(bar_time, self.now, self.config.bot.timeframe),
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
                    order.status
                }
                Placed::Refused(_) => "refused".into(),
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
            self.decide_row(
                &symbol,
                None,
                Some(price),
                qty,
                signal,
                action,
                Some((qty.abs(), &client_id)),
                reason,
            )?;
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

    #[allow(clippy::too_many_arguments)]
    fn decide_row(
        &self,
        symbol: &SymbolConfig,
        bar_time: Option<DateTime<Utc>>,
        price: Option<f64>,
        position: f64,
        signal: Signal,
        action: &str,
        order: Option<(f64, &str)>,
        reason: &str,
    ) -> Result<()> {
        let row = self.decision_row(
            symbol, bar_time, price, position, signal, action, order, reason,
        );
        self.decisions.append(&[row])
    }

    #[allow(clippy::too_many_arguments)]
    fn decision_row(
        &self,
        symbol: &SymbolConfig,
        bar_time: Option<DateTime<Utc>>,
        price: Option<f64>,
        position: f64,
        signal: Signal,
        action: &str,
        order: Option<(f64, &str)>,
        reason: &str,
    ) -> Vec<String> {
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

/// Is the latest closed bar the one that should exist now? Intraday: the bar that closed at
/// the last timeframe boundary. Daily: within 5 days (weekends and a holiday).
fn bar_is_recent(last: Option<DateTime<Utc>>, now: DateTime<Utc>, tf: Timeframe) -> bool {
    match (last, tf) {
        (None, _) => false,
        (Some(t), Timeframe::Day1) => now - t <= Duration::days(5),
        (Some(t), _) => t >= floor_to(now, tf) - tf.duration(),
    }
}

/// How far back to fetch when the cache holds fewer than `history` bars. Generous, because
/// IEX minute bars have gaps and nights and weekends have none.
fn lookback(tf: Timeframe, history: usize) -> Duration {
    let bars = i32::try_from(history).unwrap_or(i32::MAX);
    match tf {
        Timeframe::Day1 => Duration::days(i64::from(bars) * 3 / 2 + 7),
        _ => tf.duration() * bars.saturating_mul(3) + Duration::days(4),
    }
}

fn floor_to(t: DateTime<Utc>, tf: Timeframe) -> DateTime<Utc> {
    let step = tf.duration().num_seconds();
    let secs = t.timestamp().div_euclid(step) * step;
    DateTime::from_timestamp(secs, 0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn order_sizes() {
        assert_eq!(order_qty(Side::Buy, 0.0, 2.0, false), 2.0);
        assert_eq!(order_qty(Side::Buy, -2.0, 2.0, true), 4.0);
        assert_eq!(order_qty(Side::Sell, 3.0, 2.0, false), 3.0);
        assert_eq!(order_qty(Side::Sell, 2.0, 2.0, true), 4.0);
        assert_eq!(order_qty(Side::Sell, 0.0, 2.0, true), 2.0);
    }

    #[test]
    fn lookback_covers_a_weekend_and_recent_bars_are_recognised() {
        assert!(lookback(Timeframe::Min1, 200) >= Duration::days(4));
        assert!(lookback(Timeframe::Day1, 200) >= Duration::days(300));
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 15, 31, 42).unwrap();
        assert_eq!(
            floor_to(now, Timeframe::Min5),
            Utc.with_ymd_and_hms(2026, 11, 25, 15, 30, 0).unwrap()
        );
        let at = |m| Some(Utc.with_ymd_and_hms(2026, 11, 25, 15, m, 0).unwrap());
        assert!(bar_is_recent(at(30), now, Timeframe::Min1));
        assert!(
            !bar_is_recent(at(29), now, Timeframe::Min1),
            "the 15:30 bar is missing"
        );
        assert!(bar_is_recent(at(25), now, Timeframe::Min5));
        assert!(!bar_is_recent(None, now, Timeframe::Day1));
    }
}

//! `prometheus-bot tick`: one trading step.
//!
//! lock → state → broker clock → resolve unfinished orders → latest trades + bars (cache +
//! one small request) → positions + open orders → decide per symbol → order (idempotent) →
//! ledgers → state. The broker's clock is "now" for everything: a Raspberry Pi without a
//! real-time clock can be minutes off after a boot.

use crate::alpaca::wire::{Order, Trade};
use crate::alpaca::{Alpaca, BarsQuery, OrderRequest};
use crate::cli::TickArgs;
use crate::config::{Config, SymbolConfig};
use crate::credentials::Credentials;
use crate::domain::{Bar, Side, Signal, Timeframe};
use crate::error::{Error, Result};
use crate::store::bar_cache::{self, BarCache};
use crate::store::ledger::{self, time_cell, Ledger};
use crate::store::state::{OrderIntent, TickRecord};
use crate::store::{State, TickLock};
use crate::strategy::Decision;
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
    let lock = TickLock::acquire(data_dir)?;
    log::debug!("holding {}", lock.path().display());
    let ledger_dir = data_dir.join("ledger");
    let mut tick = Tick {
        config,
        dry_run: args.dry_run,
        client: Alpaca::new(&config.alpaca, credentials),
        decisions: Ledger::open(&ledger_dir, "decisions.csv", ledger::DECISIONS)?,
        orders: Ledger::open(&ledger_dir, "orders.csv", ledger::ORDERS)?,
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
    client: Alpaca,
    decisions: Ledger,
    orders: Ledger,
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

impl Tick<'_> {
    fn run(&mut self) -> Result<String> {
        let clock = self.client.clock()?;
        self.now = clock.timestamp.with_timezone(&Utc);
        let skew = (Utc::now() - self.now).num_seconds();
        if skew.abs() > MAX_CLOCK_SKEW_SECS {
            log::warn!("local clock is {skew} s off the broker's; using the broker's (check NTP on this machine)");
        }
        self.resolve_intents()?;

        if !clock.is_open {
            let next_open = clock.next_open.map(|t| t.with_timezone(&Utc));
            if self.state.closed_until_recorded != next_open || next_open.is_none() {
                let when = next_open.map_or("unknown".to_string(), |t| {
                    t.with_timezone(&New_York)
                        .format("%Y-%m-%d %H:%M %Z")
                        .to_string()
                });
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
                            &format!("market closed; next open {when}"),
                        )
                    })
                    .collect();
                self.decisions.append(&rows)?;
                self.state.closed_until_recorded = next_open;
            }
            log::info!("market closed; nothing to do");
            return Ok("market closed".into());
        }
        self.state.closed_until_recorded = None;

        let markets = self.read_markets()?;
        let mut parts = Vec::new();
        for (symbol, market) in self.config.symbols.iter().zip(markets) {
            parts.push(self.trade_symbol(symbol, &market)?);
        }
        let mut summary = parts.join("; ");
        if self.dry_run {
            summary.push_str(" (dry run)");
        }
        Ok(summary)
    }

    /// Latest trades, bars, positions and open orders for every symbol: four requests.
    fn read_markets(&mut self) -> Result<Vec<Market>> {
        let names = self.config.symbol_names();
        let trades = self.client.latest_trades(&names)?;
        let mut bars = self.refresh_bars(&names)?;
        let positions: HashMap<String, f64> = self
            .client
            .positions()?
            .into_iter()
            .map(|p| {
                let qty = p.signed_qty();
                (p.symbol, qty)
            })
            .collect();
        let open_orders = self.client.open_orders(&names)?;
        Ok(names
            .iter()
            .map(|&name| {
                let open = |side: Side| -> f64 {
                    open_orders
                        .iter()
                        .filter(|o| o.symbol == name && o.side() == Some(side))
                        .map(Order::remaining_qty)
                        .sum()
                };
                Market {
                    bars: bars.remove(name).unwrap_or_default(),
                    trade: trades.get(name).copied(),
                    position: positions.get(name).copied().unwrap_or(0.0),
                    open_buy: open(Side::Buy),
                    open_sell: open(Side::Sell),
                }
            })
            .collect())
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
                let all_old = self.cache.load(name, tf)?;
                let merged = bar_cache::merge(all_old, settled);
                let meta = self.cache.meta(name, tf)?;
                self.cache.replace(name, tf, &merged, &meta)?;
                bar_cache::merge(merged, closed)
            };
            let skip = bars.len().saturating_sub(history);
            out.insert(name.to_string(), bars[skip..].to_vec());
        }
        Ok(out)
    }

    fn trade_symbol(&mut self, symbol: &SymbolConfig, market: &Market) -> Result<String> {
        let name = symbol.name.as_str();
        let effective = market.position + market.open_buy - market.open_sell;
        let bar_time = market.bars.last().map(|b| b.time);
        let Some(trade) = market.trade else {
            let reason = format!(
                "no latest trade for {name} on the {} feed; not trading on missing data",
                self.config.alpaca.feed.as_str()
            );
            let row = self.decision_row(
                symbol,
                bar_time,
                None,
                effective,
                Signal::Hold,
                "refused",
                None,
                &reason,
            );
            self.decisions.append(&[row])?;
            return Ok(format!("{name} refused (no price)"));
        };
        let decision = symbol.strategy.decide(&market.bars, trade.p, effective);
        let Some(side) = decision.signal.side() else {
            let row = self.decision_row(
                symbol,
                bar_time,
                Some(trade.p),
                effective,
                Signal::Hold,
                "hold",
                None,
                &decision.why.to_string(),
            );
            self.decisions.append(&[row])?;
            return Ok(format!("{name} hold"));
        };

        let qty = order_qty(side, effective, symbol.qty, symbol.strategy.allows_short());
        let key_time = bar_time.unwrap_or_else(|| {
            floor_to(self.now, self.config.bot.timeframe) - self.config.bot.timeframe.duration()
        });
        let client_id = client_order_id(
            name,
            self.config.bot.timeframe,
            key_time,
            symbol.strategy.tag(),
            side,
        );
        let opposite_open = match side {
            Side::Buy => market.open_sell,
            Side::Sell => market.open_buy,
        };
        let reason = decision.why.to_string();
        let row = |tick: &Self, action: &str, why: &str| {
            tick.decision_row(
                symbol,
                bar_time,
                Some(trade.p),
                effective,
                decision.signal,
                action,
                Some((qty, &client_id)),
                why,
            )
        };
        if opposite_open > 0.0 {
            let why = format!("{reason}; refused: an opposite {} order for {opposite_open} shares is still open (Alpaca refuses it as a wash trade)", opposite(side));
            let r = row(self, "refused", &why);
            self.decisions.append(&[r])?;
            return Ok(format!("{name} {side} refused (opposite order open)"));
        }
        if self.dry_run {
            let r = row(self, "dry-run", &reason);
            self.decisions.append(&[r])?;
            return Ok(format!(
                "{name} {side} {} (dry run)",
                crate::alpaca::client::format_qty(qty)
            ));
        }
        let r = row(self, "order", &reason);
        self.decisions.append(&[r])?;
        let status = self.place(name, side, qty, trade.p, &client_id, &decision)?;
        Ok(format!(
            "{name} {side} {} -> {status}",
            crate::alpaca::client::format_qty(qty)
        ))
    }

    /// Intent to disk, one POST, the outcome to the orders ledger, intent cleared.
    fn place(
        &mut self,
        name: &str,
        side: Side,
        qty: f64,
        price: f64,
        client_id: &str,
        _decision: &Decision,
    ) -> Result<String> {
        let request = OrderRequest::market_day(name, side, qty, client_id);
        let intent = OrderIntent {
            client_order_id: client_id.to_string(),
            symbol: name.to_string(),
            side: side.as_str().to_string(),
            qty: request.qty.clone(),
            price,
            created_at: self.now,
        };
        self.state.intents.push(intent.clone());
        self.state.save(&self.config.bot.data_dir)?;
        let (status, row) = match self.client.submit_order(&request) {
            Ok(order) => {
                log::info!(
                    "{name}: {side} {} sent, order {} is {}",
                    request.qty,
                    order.id,
                    order.status
                );
                (
                    order.status.clone(),
                    self.order_row(&intent, Some(&order), &order.status, ""),
                )
            }
            Err(e) if e.is_duplicate_client_id() => {
                match self.client.order_by_client_id(client_id)? {
                    Some(order) => {
                        let msg = "already placed by an earlier tick for this bar; not sent again";
                        log::info!("{name}: {client_id} {msg}");
                        (
                            "already placed".into(),
                            self.order_row(&intent, Some(&order), &order.status, msg),
                        )
                    }
                    None => (
                        "refused".into(),
                        self.order_row(&intent, None, "refused", &e.to_string()),
                    ),
                }
            }
            Err(e @ Error::Auth { .. }) => {
                let row = self.order_row(&intent, None, "refused", &e.to_string());
                self.orders.append(&[row])?;
                self.clear_intent(client_id)?;
                return Err(e);
            }
            Err(
                e @ Error::Api {
                    status: 400..=499, ..
                },
            ) => {
                log::warn!("{name}: order refused: {e}");
                (
                    "refused".into(),
                    self.order_row(&intent, None, "refused", &e.to_string()),
                )
            }
            Err(e) => {
                // The order may or may not exist: ask by client id (a GET, safe to retry).
                log::warn!("{name}: order outcome unknown ({e}); looking it up by client order id");
                match self.client.order_by_client_id(client_id) {
                    Ok(Some(order)) => {
                        let msg = format!("reply lost ({e}); found by client order id");
                        (
                            order.status.clone(),
                            self.order_row(&intent, Some(&order), &order.status, &msg),
                        )
                    }
                    Ok(None) | Err(_) => {
                        self.unknown_outcomes += 1;
                        let row = self.order_row(
                            &intent,
                            None,
                            "unknown",
                            &format!("{e}; the next tick looks it up before trading"),
                        );
                        self.orders.append(&[row])?;
                        return Ok("unknown".into());
                    }
                }
            }
        };
        self.orders.append(&[row])?;
        self.clear_intent(client_id)?;
        Ok(status)
    }

    /// Settle every intent left by an earlier tick with the broker before deciding anything.
    fn resolve_intents(&mut self) -> Result<()> {
        if self.state.intents.is_empty() {
            return Ok(());
        }
        let recorded = self.recorded_order_ids()?;
        for intent in self.state.intents.clone() {
            let found = self.client.order_by_client_id(&intent.client_order_id)?;
            let row = match &found {
                Some(order)
                    if recorded.contains(&(intent.client_order_id.clone(), order.id.clone())) =>
                {
                    None
                }
                Some(order) => {
                    log::warn!(
                        "{}: recovered order {} ({}) left unrecorded by an earlier tick",
                        intent.symbol,
                        order.id,
                        order.status
                    );
                    Some(self.order_row(
                        &intent,
                        Some(order),
                        &order.status,
                        "recovered: placed by an earlier tick that did not record it",
                    ))
                }
                None => {
                    log::warn!("{}: order {} was never placed (an earlier tick stopped before it reached the broker)", intent.symbol, intent.client_order_id);
                    Some(self.order_row(
                        &intent,
                        None,
                        "not placed",
                        "recovered: an earlier tick stopped before the order reached the broker",
                    ))
                }
            };
            if let Some(row) = row {
                self.orders.append(&[row])?;
            }
            self.clear_intent(&intent.client_order_id)?;
        }
        Ok(())
    }

    /// (client_order_id, order_id) pairs already in the orders ledger.
    fn recorded_order_ids(&self) -> Result<Vec<(String, String)>> {
        let (c, o) = (
            self.orders.column("client_order_id"),
            self.orders.column("order_id"),
        );
        let (Some(c), Some(o)) = (c, o) else {
            return Ok(Vec::new());
        };
        Ok(self
            .orders
            .read_all()?
            .iter()
            .filter(|r| !r[o].is_empty())
            .map(|r| (r[c].to_string(), r[o].to_string()))
            .collect())
    }

    fn clear_intent(&mut self, client_id: &str) -> Result<()> {
        self.state
            .intents
            .retain(|i| i.client_order_id != client_id);
        self.state.save(&self.config.bot.data_dir)
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
            order
                .map(|(q, _)| crate::alpaca::client::format_qty(q))
                .unwrap_or_default(),
            order.map(|(_, id)| id.to_string()).unwrap_or_default(),
            reason.to_string(),
        ]
    }

    fn order_row(
        &self,
        intent: &OrderIntent,
        order: Option<&Order>,
        status: &str,
        message: &str,
    ) -> Vec<String> {
        vec![
            time_cell(self.now),
            intent.symbol.clone(),
            intent.side.clone(),
            intent.qty.clone(),
            intent.price.to_string(),
            "market".to_string(),
            intent.client_order_id.clone(),
            order.map(|o| o.id.clone()).unwrap_or_default(),
            status.to_string(),
            message.to_string(),
        ]
    }
}

/// Shares to send for a signal: a buy covers any short and opens `qty`; a sell closes the
/// long and, for stop-and-reverse strategies, opens a `qty` short.
fn order_qty(side: Side, position: f64, qty: f64, allow_short: bool) -> f64 {
    match side {
        Side::Buy if position < 0.0 => -position + qty,
        Side::Buy => qty,
        Side::Sell if position > 0.0 => position + if allow_short { qty } else { 0.0 },
        Side::Sell => qty,
    }
}

fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

/// The idempotency key: the same (symbol, bar, strategy, side) can only ever be one order,
/// because Alpaca refuses a client order id it has seen before, forever.
pub fn client_order_id(
    symbol: &str,
    tf: Timeframe,
    bar_time: DateTime<Utc>,
    strategy: &str,
    side: Side,
) -> String {
    format!(
        "pb-{symbol}-{tf}-{}-{strategy}-{side}",
        bar_time.format("%Y%m%dT%H%M")
    )
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
    fn client_order_ids_are_deterministic_and_short() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 15, 31, 0).unwrap();
        let id = client_order_id("BRK.B", Timeframe::Min1, t, "sma", Side::Buy);
        assert_eq!(id, "pb-BRK.B-1Min-20261125T1531-sma-buy");
        assert!(id.len() <= 128);
    }

    #[test]
    fn lookback_covers_a_weekend() {
        assert!(lookback(Timeframe::Min1, 200) >= Duration::days(4));
        assert!(lookback(Timeframe::Day1, 200) >= Duration::days(300));
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 15, 31, 42).unwrap();
        assert_eq!(
            floor_to(t, Timeframe::Min5),
            Utc.with_ymd_and_hms(2026, 11, 25, 15, 30, 0).unwrap()
        );
    }
}

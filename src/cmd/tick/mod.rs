//! `prometheus-bot tick`: one trading step.
//!
//! lock → state → broker clock → settle unfinished orders → account, latest trades, bars
//! (cache + one small request), positions, open orders → record new fills → risk state →
//! decide per symbol → guards → order (exactly once) → ledgers → state. The broker's clock is
//! "now" for everything: a Raspberry Pi without a real-time clock can be minutes off.

mod bars;
mod outcome;

use crate::alpaca::wire::{Account, Clock, Order, Trade};
use crate::alpaca::{Alpaca, OrderRequest};
use crate::broker::Broker;
use crate::cli::TickArgs;
use crate::client_order_id;
use crate::config::{Config, SymbolConfig};
use crate::credentials::Credentials;
use crate::domain::{Bar, ClientOrderId, Qty, Side, Signal};
use crate::error::{Error, Result};
use crate::fills::{self, Fills};
use crate::legs::{self, PendingLeg};
use crate::orders::{Desk, Placed};
use crate::risk::{self, Proposed};
use crate::store::bar_cache::BarCache;
use crate::store::ledger::{self, time_cell, Ledger};
use crate::store::{State, TickLock};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::America::New_York;
pub use outcome::TickOutcome;
use std::collections::HashMap;
use std::time::Instant;

/// A local clock further than this from the broker's gets a warning.
const MAX_CLOCK_SKEW_SECS: i64 = 30;
/// The longest regular session, 9:30 to 16:00 New York: an open market's close is never
/// further away than this.
const MAX_SESSION: Duration = Duration::minutes(6 * 60 + 30);

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
    let lock = TickLock::acquire(&config.bot.data_dir)?;
    let started = Instant::now();
    let client = Alpaca::new(&config.alpaca, credentials)
        .with_deadline(started + config.alpaca.tick_deadline);
    let ticked = run_with(config, args.dry_run, &client, &lock, started)?;
    // Last, after the ledgers, the state, the metrics file and the dashboard: a closed stdout
    // (`tick | head -c0`) ends the talking, never the work. An unknown order outcome still
    // fails the run (exit 1) when nobody is reading.
    let printed = crate::outln!("{} {}", time_cell(ticked.time), ticked.outcome);
    if ticked.unknown_outcomes > 0 {
        return Err(Error::Refused(format!(
            "{} order(s) with an unknown outcome; the next tick looks them up before trading",
            ticked.unknown_outcomes
        )));
    }
    printed
}

/// What one tick did, for its caller to report.
#[derive(Debug)]
pub struct Ticked {
    /// The broker's clock at the tick.
    pub time: DateTime<Utc>,
    pub outcome: TickOutcome,
    /// Orders whose fate the broker did not tell: the next tick looks them up first.
    pub unknown_outcomes: usize,
}

/// One tick through any [`Broker`], holding the data folder's lock: state, ledgers, decisions,
/// guards, orders, the metrics file and the dashboard, exactly as `tick` does. It prints
/// nothing: `tick` prints the summary line. `started` is when the tick began (for the metrics).
pub fn run_with(
    config: &Config,
    dry_run: bool,
    broker: &dyn Broker,
    lock: &TickLock,
    started: Instant,
) -> Result<Ticked> {
    let data_dir = &config.bot.data_dir;
    crate::store::owner::claim(data_dir, &config.path, lock)?;
    if let Err(e) = crate::store::state::remove_leftover_temps(data_dir, lock) {
        log::warn!("{e}");
    }
    let ledger_dir = data_dir.join("ledger");
    let mut equity_columns: Vec<&str> = ledger::EQUITY.to_vec();
    equity_columns.extend(config.symbol_names());
    // A tick that cannot open its files fails like any other: alert and metrics file, and a
    // state file that could not be read is left as it is.
    let state = match State::load(data_dir) {
        Ok(state) => state,
        Err(e) => return Err(outcome::failed_early(config, None, e, started)),
    };
    outcome::forget_fallback(config);
    let opened = (|| -> Result<_> {
        Ok((
            Ledger::open(&ledger_dir, "orders.csv", ledger::ORDERS)?,
            Ledger::open(&ledger_dir, "decisions.csv", ledger::DECISIONS)?,
            Fills::open(&ledger_dir)?,
            Ledger::open_rotating(&ledger_dir, "equity.csv", &equity_columns)?,
        ))
    })();
    let (orders, decisions, fills, equity) = match opened {
        Ok(ledgers) => ledgers,
        Err(e) => return Err(outcome::failed_early(config, Some(state), e, started)),
    };
    let mut tick = Tick {
        config,
        dry_run,
        client: broker,
        decisions,
        desk: Desk {
            client: broker,
            orders: &orders,
            data_dir,
        },
        fills,
        equity,
        state,
        cache: BarCache::new(data_dir),
        now: Utc::now(),
        unknown_outcomes: 0,
        alerts: Vec::new(),
    };
    // A dry run decides on the waiting reversal legs as a real tick would (it may "send" one
    // or drop one), but the real tick after it must still find them as they were: a preview
    // that threw the leg away would silently turn the reversal into a plain exit.
    let waiting_legs = tick.state.pending_legs.clone();
    let outcome = tick.run();
    if dry_run {
        tick.state.pending_legs = waiting_legs;
    }
    let alerts = std::mem::take(&mut tick.alerts);
    outcome::record(config, &mut tick.state, tick.now, outcome.as_ref(), alerts);
    let saved = tick.state.save(data_dir);
    outcome::publish(config, &tick.state, tick.now, started.elapsed());
    if config.ops.dashboard {
        crate::cmd::report::write_dashboard(config, tick.now);
    }
    let outcome = outcome?;
    saved?;
    Ok(Ticked {
        time: tick.now,
        outcome,
        unknown_outcomes: tick.unknown_outcomes,
    })
}

struct Tick<'a> {
    config: &'a Config,
    dry_run: bool,
    client: &'a dyn Broker,
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
    /// Signed shares the account holds (the person's too, on a shared account).
    broker: Qty,
    /// Signed shares the bot holds by its own fills ledger.
    own: Qty,
    /// Shares still to fill on the bot's working orders, per side.
    open_buy: Qty,
    open_sell: Qty,
    /// The same over every working order in the account (a person's too).
    any_open_buy: Qty,
    any_open_sell: Qty,
}

impl Market {
    /// The position the bot decides and sizes on: its own shares (on a shared account the
    /// fills ledger's, never the person's), counting its working orders so that an order
    /// still working is never sent again.
    fn effective(&self, shared_account: bool) -> Qty {
        let held = if shared_account {
            self.own
        } else {
            self.broker
        };
        held + self.open_buy - self.open_sell
    }

    fn working(&self) -> bool {
        self.any_open_buy.is_positive() || self.any_open_sell.is_positive()
    }

    /// One of the bot's own orders still works on the symbol. What the bot waits for before
    /// a flatten or a reversal's open leg: a person's standing order (a take-profit) may never
    /// end, and an opposite one is refused as a wash trade anyway.
    fn own_working(&self) -> bool {
        self.open_buy.is_positive() || self.open_sell.is_positive()
    }
}

/// One row of decisions.csv, before formatting.
struct Decided<'a> {
    symbol: &'a SymbolConfig,
    bar_time: Option<DateTime<Utc>>,
    price: Option<f64>,
    position: Qty,
    signal: Signal,
    action: &'a str,
    order: Option<(Qty, &'a ClientOrderId)>,
    reason: &'a str,
}

/// Facts shared by every symbol's decision in this tick.
struct Shared {
    equity: f64,
    stop_file: bool,
    /// The daily loss limit is hit and `flatten_on_daily_loss` is on: every symbol's one order
    /// this tick is the one that closes it.
    flatten: bool,
    /// The session's close by the broker's clock, and when (local monotonic time) the clock was
    /// read: the time left is re-measured before every order.
    next_close: Option<DateTime<Utc>>,
    clock_read: Instant,
    /// Why the close-margin guard cannot be evaluated, when it cannot: every order is refused.
    close_unknown: Option<String>,
}

/// One order the tick means to send, before the guards.
struct Planned<'a> {
    side: Side,
    qty: Qty,
    client_id: ClientOrderId,
    /// Signed position before the order, counting working orders.
    position: Qty,
    bar_time: Option<DateTime<Utc>>,
    signal: Signal,
    /// `order` or `flatten`, for the decisions ledger.
    action: &'a str,
    reason: String,
}

/// What became of a planned order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Refused,
    DryRun,
    Accepted,
    Rejected,
    Unknown,
}

impl Tick<'_> {
    fn run(&mut self) -> Result<TickOutcome> {
        let clock = self.client.clock()?;
        let clock_read = Instant::now();
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
        let resolved = self.desk.resolve_intents(&mut self.state, self.now)?;
        self.alerts.extend(resolved.concluded);
        // Still unknown: the tick trades the other symbols, then exits 1.
        self.unknown_outcomes += resolved.failed.len();
        self.alerts.extend(resolved.failed);
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
        let positions = self.positions()?;
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
                .observe_equity(&self.config.risk.limits, self.now, equity, day_start)
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
                    positions.get(&s.name).copied().unwrap_or_default().to_f64(),
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
        let mut own = self.fills.recorded()?.net_qty;
        for (symbol, shares) in &synced.unrecorded {
            *own.entry(symbol.clone()).or_default() += *shares;
        }
        let shared = Shared {
            equity,
            stop_file,
            flatten: self.state.risk.daily_loss_hit
                && self.config.risk.flatten_on_daily_loss
                && !stop_file,
            next_close: clock.next_close.map(|t| t.with_timezone(&Utc)),
            clock_read,
            close_unknown: close_unknown(&clock),
        };

        let mut parts = Vec::new();
        for symbol in &self.config.symbols {
            let name = symbol.name.as_str();
            let open = |side: Side, any: bool| -> Qty {
                open_orders
                    .iter()
                    .filter(|o| o.symbol == name && o.side() == Some(side))
                    .filter(|o| any || client_order_id::is_ours(&o.client_order_id))
                    .map(Order::remaining_qty)
                    .sum()
            };
            let market = Market {
                bars: bars.remove(name).unwrap_or_default(),
                trade: trades.get(name).copied(),
                broker: positions.get(name).copied().unwrap_or_default(),
                own: own.get(name).copied().unwrap_or_default(),
                open_buy: open(Side::Buy, false),
                open_sell: open(Side::Sell, false),
                any_open_buy: open(Side::Buy, true),
                any_open_sell: open(Side::Sell, true),
            };
            parts.push(self.trade_symbol(symbol, &market, &shared)?);
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
        Ok(TickOutcome::Traded { summary })
    }

    /// Signed shares per symbol as the broker holds them (every qty checked by the client).
    fn positions(&self) -> Result<HashMap<String, Qty>> {
        self.client
            .positions()?
            .into_iter()
            .map(|p| {
                let qty = p.signed_qty().map_err(|e| Error::BadResponse {
                    endpoint: "GET /v2/positions".into(),
                    detail: format!("{} has qty {e}", p.symbol),
                })?;
                Ok((p.symbol, qty))
            })
            .collect()
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
    fn market_closed(&mut self, next_open: Option<DateTime<Utc>>) -> Result<TickOutcome> {
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
                        position: Qty::ZERO,
                        signal: Signal::Hold,
                        action: "market-closed",
                        order: None,
                        reason: &reason,
                    })
                })
                .collect();
            self.decisions.append(&rows)?;
            let account = self.client.account()?;
            let positions = self.positions()?;
            self.record_equity(&account, &positions)?;
            self.state.closed_until_recorded = next_open;
        }
        log::info!("market closed; nothing to do");
        Ok(TickOutcome::MarketClosed { next_open })
    }

    fn trade_symbol(
        &mut self,
        symbol: &SymbolConfig,
        market: &Market,
        shared: &Shared,
    ) -> Result<String> {
        let name = symbol.name.as_str();
        let effective = market.effective(self.config.risk.shared_account);
        let bar_time = market.bars.last().map(|b| b.time);
        let hold = |action: &'static str| Decided {
            symbol,
            bar_time,
            price: market.trade.map(|t| t.p),
            position: effective,
            signal: Signal::Hold,
            action,
            order: None,
            reason: "",
        };
        let Some(trade) = market.trade else {
            let reason = format!(
                "no latest trade for {name} on the {} feed; not trading on missing data",
                self.config.alpaca.feed.as_str()
            );
            self.decide_row(Decided {
                reason: &reason,
                ..hold("refused")
            })?;
            return Ok(format!("{name} refused (no price)"));
        };
        if let Some(intent) = self.state.intents.iter().find(|i| i.symbol == name) {
            let reason = format!(
                "order {} from an earlier tick has no known outcome yet: no new order for {name} \
                 until the broker shows it or it is proven absent",
                intent.client_order_id
            );
            self.decide_row(Decided {
                reason: &reason,
                ..hold("refused")
            })?;
            return Ok(format!(
                "{name} waiting (an earlier order's outcome is unknown)"
            ));
        }
        if shared.flatten {
            return self.flatten(symbol, market, shared, trade);
        }
        let decision = symbol
            .strategy
            .decide(&market.bars, trade.p, effective.to_f64());
        let reason = decision.why.to_string();
        let Some(side) = decision.signal.side() else {
            if let Some(leg) = self.pending_leg(name) {
                return self.open_leg(symbol, market, shared, trade, leg);
            }
            self.decide_row(Decided {
                reason: &reason,
                ..hold("hold")
            })?;
            return Ok(format!("{name} hold"));
        };
        let tf = self.config.bot.timeframe;
        // What caused the order: the bar it was decided on, or, for a rule that decides on the
        // latest trade (`threshold`), this tick's minute. Keyed on a bar, a re-entry decided on
        // a new trade while IEX sends no new bar would reuse the first entry's id: Alpaca
        // refuses it as a duplicate and the new order is never sent.
        let tick_minute = bars::floor_to(self.now, tf) - tf.duration();
        let key_time = match bar_time {
            Some(t) if symbol.strategy.bars_needed() > 0 => t,
            _ => tick_minute,
        };
        let client_id = ClientOrderId::decision(name, tf, key_time, symbol.strategy.tag(), side)
            .map_err(id_refused)?;
        if let Some(leg) = self
            .pending_leg(name)
            .filter(|l| l.close_client_order_id == client_id)
        {
            // The same decision seen again (a second tick on the same bar): its close is sent,
            // so the position already counts as flat and the decision would read as a fresh
            // opening with the close's own id. The leg goes on waiting for its close instead.
            return self.open_leg(symbol, market, shared, trade, leg);
        }
        if let Some(old) = self.take_pending_leg(name) {
            log::info!(
                "{name}: a new {side} signal replaces the reversal leg {} still waiting",
                old.client_order_id
            );
        }

        // The one place an f64 share count (dollars / price) becomes exact: floored, so an
        // order never buys more than the rule allows. An unusable size (NaN, absurd) is 0: refused.
        let entry = Qty::from_f64_floor(
            symbol
                .sizing
                .shares(trade.p, shared.equity, symbol.fractional),
            symbol.fractional,
        )
        .unwrap_or_default();
        let legs = legs::split(side, effective, entry, symbol.strategy.allows_short());
        let (qty, open_after) = match (legs.close, legs.open) {
            (Some(close), open) => (close, open),
            (None, open) => (open.unwrap_or_default(), None),
        };
        if let Some(open_qty) = open_after {
            self.state.pending_legs.push(PendingLeg {
                symbol: name.to_string(),
                side,
                qty: open_qty,
                client_order_id: ClientOrderId::reversal_open(&client_id).map_err(id_refused)?,
                close_client_order_id: client_id.clone(),
                bar_time: key_time,
                day: self.now.with_timezone(&New_York).date_naive(),
                reason: reason.clone(),
            });
        }
        let plan = Planned {
            side,
            qty,
            client_id,
            position: effective,
            bar_time,
            signal: decision.signal,
            action: "order",
            reason: if open_after.is_some() {
                format!("{reason}; reversal: close first, open once the close has filled")
            } else {
                reason
            },
        };
        let (summary, sent) = self.order(symbol, market, shared, trade, plan)?;
        if !matches!(sent, Sent::Accepted | Sent::Unknown) {
            self.take_pending_leg(name);
        }
        Ok(summary)
    }

    /// The waiting open leg of a reversal on `name`, if any.
    fn pending_leg(&self, name: &str) -> Option<PendingLeg> {
        self.state
            .pending_legs
            .iter()
            .find(|l| l.symbol == name)
            .cloned()
    }

    fn take_pending_leg(&mut self, name: &str) -> Option<PendingLeg> {
        let at = self
            .state
            .pending_legs
            .iter()
            .position(|l| l.symbol == name)?;
        Some(self.state.pending_legs.remove(at))
    }

    /// The second leg of a reversal: sent once the close has filled and nothing works on the
    /// symbol, as an opening order through every guard; dropped if the close did not take the
    /// position to zero, or if its trading day is over.
    fn open_leg(
        &mut self,
        symbol: &SymbolConfig,
        market: &Market,
        shared: &Shared,
        trade: Trade,
        leg: PendingLeg,
    ) -> Result<String> {
        let name = symbol.name.as_str();
        let effective = market.effective(self.config.risk.shared_account);
        let today = self.now.with_timezone(&New_York).date_naive();
        let waiting = if leg.day != today {
            Some(format!(
                "reversal dropped: its open leg was decided on {} and not sent that day",
                leg.day
            ))
        } else if market.own_working() {
            return self.hold_row(
                symbol,
                market,
                &format!(
                    "reversal: waiting for the close {} to fill before opening {} {}",
                    leg.close_client_order_id, leg.side, leg.qty
                ),
            );
        } else if !effective.is_zero() {
            Some(format!(
                "reversal abandoned: the close {} left a position of {effective} (expired, canceled or partly filled)",
                leg.close_client_order_id
            ))
        } else {
            None
        };
        self.take_pending_leg(name);
        if let Some(why) = waiting {
            log::warn!("{name}: {why}");
            return self.hold_row(symbol, market, &why);
        }
        let plan = Planned {
            side: leg.side,
            qty: leg.qty,
            client_id: leg.client_order_id.clone(),
            position: effective,
            bar_time: Some(leg.bar_time),
            signal: signal_of(leg.side),
            action: "order",
            reason: format!(
                "open leg of the reversal decided on the {} bar: {}",
                time_cell(leg.bar_time),
                leg.reason
            ),
        };
        Ok(self.order(symbol, market, shared, trade, plan)?.0)
    }

    fn plan_row(
        &self,
        symbol: &SymbolConfig,
        plan: &Planned<'_>,
        price: f64,
        action: &str,
        reason: &str,
    ) -> Result<()> {
        self.decide_row(Decided {
            symbol,
            bar_time: plan.bar_time,
            price: Some(price),
            position: plan.position,
            signal: plan.signal,
            action,
            order: Some((plan.qty, &plan.client_id)),
            reason,
        })
    }

    fn hold_row(&mut self, symbol: &SymbolConfig, market: &Market, reason: &str) -> Result<String> {
        self.decide_row(Decided {
            symbol,
            bar_time: market.bars.last().map(|b| b.time),
            price: market.trade.map(|t| t.p),
            position: market.effective(self.config.risk.shared_account),
            signal: Signal::Hold,
            action: "hold",
            order: None,
            reason,
        })?;
        Ok(format!("{} hold", symbol.name))
    }

    /// The daily loss limit is hit with `flatten_on_daily_loss`: this symbol's one order this
    /// tick is the one that closes its position, sized on the position as it stands after every
    /// working order; nothing is sent while an order still works (the next tick sees its
    /// result). Keyed by the day, so it is sent once per day per symbol.
    fn flatten(
        &mut self,
        symbol: &SymbolConfig,
        market: &Market,
        shared: &Shared,
        trade: Trade,
    ) -> Result<String> {
        let name = symbol.name.as_str();
        self.take_pending_leg(name);
        let effective = market.effective(self.config.risk.shared_account);
        if market.own_working() {
            return self.hold_row(
                symbol,
                market,
                "daily loss limit reached: flattening once the working orders are done",
            );
        }
        if effective.is_zero() {
            return self.hold_row(symbol, market, "daily loss limit reached: already flat");
        }
        let side = if effective.is_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        let day = self.now.with_timezone(&New_York).date_naive();
        let first = ClientOrderId::daily_loss_flatten(name, self.config.bot.timeframe, day, side)
            .map_err(id_refused)?;
        // Once per day, unless the day's flatten ended unfilled (canceled in the app, rejected
        // after acceptance): then the next attempt, with its own id. A filled one is never
        // retried: a position that lags behind its fill must not be sold twice.
        let ended_unfilled = self.fills.recorded()?.ended_unfilled;
        let mut client_id = first.clone();
        let mut attempt = 1;
        while ended_unfilled.contains(client_id.as_str()) {
            attempt += 1;
            client_id = ClientOrderId::flatten_retry(&first, attempt).map_err(id_refused)?;
        }
        let plan = Planned {
            side,
            qty: effective.abs(),
            client_id,
            position: effective,
            bar_time: market.bars.last().map(|b| b.time),
            signal: signal_of(side),
            action: "flatten",
            reason: "daily loss limit reached: flattening (flatten_on_daily_loss = true)".into(),
        };
        Ok(self.order(symbol, market, shared, trade, plan)?.0)
    }

    /// Check one planned order against every guard, record the decision, and send it.
    fn order(
        &mut self,
        symbol: &SymbolConfig,
        market: &Market,
        shared: &Shared,
        trade: Trade,
        mut plan: Planned<'_>,
    ) -> Result<(String, Sent)> {
        let name = symbol.name.as_str();
        let side = plan.side;
        if let Some(cap) = self.shared_account_cap(market, &plan) {
            plan.reason
                .push_str(&format!("; capped at the {cap} shares the account holds"));
            plan.qty = cap;
        }
        let refusal = self.refusal(symbol, market, shared, &plan, trade);
        if let Some(why) = refusal {
            self.state.ops.orders_refused += 1;
            let full = format!("{}; refused: {why}", plan.reason);
            self.plan_row(symbol, &plan, trade.p, "refused", &full)?;
            return Ok((format!("{name} {side} refused ({why})"), Sent::Refused));
        }
        if self.dry_run {
            self.plan_row(symbol, &plan, trade.p, "dry-run", &plan.reason)?;
            let summary = format!("{name} {side} {} (dry run)", plan.qty);
            return Ok((summary, Sent::DryRun));
        }
        self.plan_row(symbol, &plan, trade.p, plan.action, &plan.reason)?;
        let request = OrderRequest::market_day(name, side, plan.qty, &plan.client_id);
        let (status, sent) = self.send(&request, trade.p)?;
        let verb = if plan.action == "flatten" {
            format!("flatten {side}")
        } else {
            side.to_string()
        };
        Ok((format!("{name} {verb} {} -> {status}", plan.qty), sent))
    }

    /// On a shared account a closing order sells (or covers) only what the account still
    /// holds on the bot's side: the bot's ledger may say more if the person sold some.
    fn shared_account_cap(&self, market: &Market, plan: &Planned<'_>) -> Option<Qty> {
        if !self.config.risk.shared_account {
            return None;
        }
        let after = match plan.side {
            Side::Buy => plan.position + plan.qty,
            Side::Sell => plan.position - plan.qty,
        };
        let reduces = after.abs() < plan.position.abs();
        let holding = match plan.side {
            Side::Sell => market.broker.max(Qty::ZERO),
            Side::Buy => (-market.broker).max(Qty::ZERO),
        };
        (reduces && plan.qty > holding).then_some(holding)
    }

    /// The first reason not to send this order, in words, if any.
    fn refusal(
        &self,
        symbol: &SymbolConfig,
        market: &Market,
        shared: &Shared,
        plan: &Planned<'_>,
        trade: Trade,
    ) -> Option<String> {
        let name = symbol.name.as_str();
        let proposed = Proposed {
            side: plan.side,
            qty: plan.qty,
            price: trade.p,
            position: plan.position,
        };
        if self.config.risk.shared_account {
            // The person's part of the position: the bot must never trade it, and an opening
            // order against it would sell (or cover) the person's shares rather than open.
            let person = market.broker - market.own;
            let against_person = match plan.side {
                Side::Sell => person.is_positive(),
                Side::Buy => person.is_negative(),
            };
            if proposed.opens() && against_person && plan.position.abs() < plan.qty {
                return Some(format!(
                    "the account also holds {person} {name} that are not the bot's: a {} would trade the person's shares",
                    plan.side
                ));
            }
        } else if !market.working() && market.own != market.broker {
            return Some(format!(
                "the broker holds {} {name} but the bot's fills ledger says {}; run `prometheus-bot reconcile` \
                 (or set shared_account = true in [risk] if you also trade this account by hand)",
                market.broker, market.own
            ));
        }
        if let Some(why) = &shared.close_unknown {
            return Some(why.clone());
        }
        let opposite_open = match plan.side {
            Side::Buy => market.any_open_sell,
            Side::Sell => market.any_open_buy,
        };
        if opposite_open.is_positive() {
            return Some(format!(
                "an opposite {} order for {opposite_open} shares is still open (Alpaca refuses it as a wash trade)",
                opposite(plan.side)
            ));
        }
        let now = self.now + Duration::from_std(shared.clock_read.elapsed()).unwrap_or_default();
        let cx = risk::Context {
            limits: &self.config.risk.limits,
            state: &self.state.risk,
            stop_file: shared.stop_file,
            price_age_secs: (now - trade.t).num_seconds(),
            missing_bars: bars::missing_bars(
                market.bars.last().map(|b| b.time),
                now,
                self.config.bot.timeframe,
            ),
            needs_bars: symbol.strategy.bars_needed() > 0,
            last_bar: market.bars.last().map(|b| b.time),
            secs_to_close: shared.next_close.map(|close| (close - now).num_seconds()),
        };
        risk::check(&proposed, &cx).err().map(|r| r.to_string())
    }

    /// Place through the desk and turn the outcome into a word for the summary.
    fn send(&mut self, request: &OrderRequest, price: f64) -> Result<(String, Sent)> {
        Ok(
            match self.desk.place(&mut self.state, self.now, request, price)? {
                Placed::Accepted { already: true, .. } => ("already placed".into(), Sent::Accepted),
                Placed::Accepted { order, .. } => {
                    // `orders_today` is counted by the desk, with the intent.
                    self.state.ops.orders_submitted += 1;
                    (order.status.to_string(), Sent::Accepted)
                }
                Placed::Refused(_) => {
                    self.state.ops.orders_refused += 1;
                    ("refused".into(), Sent::Rejected)
                }
                Placed::Unknown(_) => {
                    self.unknown_outcomes += 1;
                    ("unknown".into(), Sent::Unknown)
                }
            },
        )
    }

    fn record_equity(&self, account: &Account, positions: &HashMap<String, Qty>) -> Result<()> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let mut row = vec![
            time_cell(self.now),
            text(&account.equity),
            text(&account.cash),
            text(&account.long_market_value),
            text(&account.buying_power),
        ];
        for s in &self.config.symbols {
            row.push(
                positions
                    .get(&s.name)
                    .copied()
                    .unwrap_or_default()
                    .to_string(),
            );
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
            order.map(|(q, _)| q.to_string()).unwrap_or_default(),
            order.map(|(_, id)| id.to_string()).unwrap_or_default(),
            reason.to_string(),
        ]
    }
}

/// Why an open market's close is not known well enough for the close-margin guard: no
/// `next_close` (alpaca-py refuses such a clock), or one further off than a session lasts (a
/// stale `is_open` after the bell comes with tomorrow's close). Either way a market order now
/// could reach Alpaca after the bell and be queued for the next open.
fn close_unknown(clock: &Clock) -> Option<String> {
    let to_close = clock.next_close.map(|c| c - clock.timestamp);
    if !clock.is_open || to_close.is_some_and(|left| left <= MAX_SESSION) {
        return None;
    }
    Some(format!(
        "the broker's clock says the market is open but its next_close is {}: the time to the close is unknown",
        clock
            .next_close
            .map_or("missing".to_string(), |c| c.to_rfc3339())
    ))
}

fn amount(v: &Option<String>) -> f64 {
    v.as_deref()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// An id over Alpaca's limit stops the tick before any intent is saved: Alpaca would refuse
/// every order for this symbol.
fn id_refused(e: client_order_id::ClientOrderIdError) -> Error {
    Error::Refused(e.to_string())
}

fn signal_of(side: Side) -> Signal {
    match side {
        Side::Buy => Signal::Buy,
        Side::Sell => Signal::Sell,
    }
}

fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

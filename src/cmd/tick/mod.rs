//! `prometheus-bot tick`: one trading step. This file holds the flow; [`symbol`] one symbol's
//! decision and orders, [`rows`] the ledger rows, [`bars`] the bars, [`outcome`] what follows.
//!
//! lock → state → broker clock → settle unfinished orders → account, latest trades, bars
//! (cache + one small request), positions, open orders → record new fills → risk state →
//! decide per symbol → guards → order (exactly once) → ledgers → state. The broker's clock is
//! "now" for everything: a Raspberry Pi without a real-time clock can be minutes off.

mod bars;
mod early_exit;
mod outcome;
mod protection;
mod rows;
mod symbol;

use rows::Decided;
use symbol::CloseClock;

use crate::alpaca::Alpaca;
use crate::broker::{Account, Broker, Clock, Order};
use crate::cli::TickArgs;
use crate::client_order_id;
use crate::config::Config;
use crate::credentials::Credentials;
use crate::decimal::Decimal;
use crate::domain::{Action, Qty, Side, Signal};
use crate::error::{Error, Result};
use crate::fills::{self, Fills};
use crate::orders::Desk;
use crate::plan::{self, Market, Snapshot};
use crate::store::bar_cache::BarCache;
use crate::store::ledger::{time_cell, Ledger};
use crate::store::rows::{DecisionRow, EquityRow};
use crate::store::{State, TickLock};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::America::New_York;
pub use outcome::TickOutcome;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
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
    let ticked = match early_exit::closed_early(config, &lock, started) {
        Some(ticked) => ticked,
        None => {
            let client = Alpaca::new(&config.alpaca, credentials)
                .with_deadline(started + config.alpaca.tick_deadline);
            run_with(config, args.dry_run, &client, &lock, started)?
        }
    };
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
    // A tick that cannot open its files fails like any other: alert and metrics file, and a
    // state file that could not be read is left as it is.
    let state = match State::load(data_dir) {
        Ok(state) => state,
        Err(e) => return Err(outcome::failed_early(config, None, e, started)),
    };
    outcome::forget_fallback(config);
    let opened = (|| -> Result<_> {
        Ok((
            Ledger::open(&ledger_dir)?,
            Ledger::open(&ledger_dir)?,
            Fills::open(&ledger_dir)?,
            Ledger::open_rotating(&ledger_dir, &config.symbol_names())?,
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
        held_rows: RefCell::new(Vec::new()),
        now: Utc::now(),
        unknown_outcomes: 0,
        alerts: Vec::new(),
        resting: HashMap::new(),
        replacements: HashMap::new(),
        closed_by_protection: Vec::new(),
    };
    let syncs = crate::store::files::syncs();
    let mut outcome = tick.run();
    if let Err(e) = tick.write_held_rows() {
        match outcome {
            Ok(_) => outcome = Err(e),
            Err(_) => log::warn!("{e}"),
        }
    }
    let alerts = std::mem::take(&mut tick.alerts);
    outcome::record(
        config,
        &mut tick.state,
        tick.now,
        outcome.as_ref(),
        alerts,
        started,
    );
    let saved = tick.state.save(data_dir);
    outcome::publish(config, &tick.state, tick.now, started.elapsed());
    if config.ops.dashboard {
        crate::cmd::report::write_dashboard(config, tick.now);
    }
    log::debug!(
        "tick synced {} time(s)",
        crate::store::files::syncs() - syncs
    );
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
    decisions: Ledger<DecisionRow>,
    desk: Desk<'a>,
    fills: Fills,
    equity: Ledger<EquityRow>,
    state: State,
    cache: BarCache,
    /// Decision rows not yet written (see `decide_row`).
    held_rows: RefCell<Vec<DecisionRow>>,
    /// The broker's clock once read; the local clock until then.
    now: DateTime<Utc>,
    unknown_outcomes: usize,
    /// Messages for the webhook: fills, guards tripped, missed ticks.
    alerts: Vec<String>,
    /// The bot's protective orders resting per symbol after the protection step: what a
    /// strategy order for the symbol cancels first.
    resting: HashMap<String, Vec<Order>>,
    /// Per symbol with protection resting, what to place again if a strategy order cancels
    /// it and is then refused ([`crate::plan::protect::replacement`]).
    replacements: HashMap<String, crate::broker::OrderRequest>,
    /// Symbols whose protection found the price through the stop and closed at market this
    /// tick: the plan, made from positions read before, sends nothing more for them.
    closed_by_protection: Vec<String>,
}

impl Tick<'_> {
    fn run(&mut self) -> Result<TickOutcome> {
        let clock = self.client.clock()?;
        let clock_read = Instant::now();
        self.now = clock.now;
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
            let close = CloseClock {
                open: false,
                next_close: clock.next_close,
                unknown: None,
                read: clock_read,
            };
            return self.market_closed(clock.next_open, &close);
        }
        self.state.closed_until_recorded = None;
        self.state.closed_protection_unknown = false;

        let account = self.client.account()?;
        let names = self.config.symbol_names();
        let trades = self.client.latest_trades(&names)?;
        let mut bars = bars::refresh(self.config, self.client, &self.cache, self.now, &names)?;
        let held = self.client.positions()?;
        let positions: HashMap<String, Qty> =
            held.iter().map(|p| (p.symbol.clone(), p.qty)).collect();
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

        // Checked by the broker port: an account without equity never gets this far.
        let equity = account.equity.to_f64();
        let day_start = account.last_equity.as_ref().map(Decimal::to_f64);
        for tripped in
            self.state
                .risk
                .observe_equity(&self.config.risk.limits, self.now, equity, day_start)
        {
            log::warn!("{tripped}");
            self.alerts.push(tripped);
        }
        self.show_account(&account, &positions);
        let stop_file = self.config.bot.data_dir.join("STOP").exists();
        if stop_file {
            log::warn!(
                "kill switch: {} exists; no orders this tick",
                self.config.bot.data_dir.join("STOP").display()
            );
        }
        let recorded = self.fills.summary(self.state.fills.as_ref())?;
        let ended_unfilled: HashSet<String> = recorded.ended_unfilled.iter().cloned().collect();
        let mut own: HashMap<String, Qty> = recorded.net_qty.clone().into_iter().collect();
        self.state.fills = Some(recorded.clone());
        for (symbol, shares) in &synced.unrecorded {
            *own.entry(symbol.clone()).or_default() += *shares;
        }
        let snapshot = Snapshot {
            now: self.now,
            timeframe: self.config.bot.timeframe,
            feed: self.config.alpaca.feed.as_str(),
            shared_account: self.config.risk.shared_account,
            equity,
            stop_file,
            flatten: self.state.risk.daily_loss_hit
                && self.config.risk.flatten_on_daily_loss
                && !stop_file,
            next_close: clock.next_close,
            close_unknown: close_unknown(&clock),
            flattens_ended_unfilled: &ended_unfilled,
            symbols: self
                .config
                .symbols
                .iter()
                .map(|symbol| {
                    let name = symbol.name.as_str();
                    // A resting stop or target is not a pending sale: the position the
                    // strategy sees ignores the bot's protective orders.
                    let open = |side: Side, counts: &dyn Fn(&Order) -> bool| -> Qty {
                        open_orders
                            .iter()
                            .filter(|o| o.symbol == name && o.side == Some(side))
                            .filter(|o| !client_order_id::is_protective(&o.client_order_id))
                            .filter(|o| counts(o))
                            .map(Order::remaining_qty)
                            .sum()
                    };
                    let ours = |o: &Order| client_order_id::is_ours(&o.client_order_id);
                    let any = |_: &Order| true;
                    let wash = Order::blocks_opposite_market_order;
                    let market = Market {
                        bars: bars.remove(name).unwrap_or_default(),
                        trade: trades.get(name).copied(),
                        broker: positions.get(name).copied().unwrap_or_default(),
                        own: own.get(name).copied().unwrap_or_default(),
                        open_buy: open(Side::Buy, &ours),
                        open_sell: open(Side::Sell, &ours),
                        any_open_buy: open(Side::Buy, &any),
                        any_open_sell: open(Side::Sell, &any),
                        wash_buy: open(Side::Buy, &wash),
                        wash_sell: open(Side::Sell, &wash),
                    };
                    (symbol.rules(), market)
                })
                .collect(),
        };
        // Protection first, before any other order of the tick, across all symbols.
        let close = CloseClock {
            open: true,
            next_close: snapshot.next_close,
            unknown: snapshot.close_unknown.clone(),
            read: clock_read,
        };
        let mut parts = self.protect_positions(&held, &open_orders, &recorded, &trades, &close)?;
        let plan = plan::plan(&snapshot, &self.state, &self.config.risk.limits);
        // A dry run previews the waiting reversal legs as a real tick would decide them, but
        // the real tick after it must still find them as they were: a preview that threw a
        // leg away would silently turn the reversal into a plain exit.
        if !self.dry_run {
            self.state.pending_legs = plan.pending_legs;
        }
        for ((_, step), symbol) in plan.steps.into_iter().zip(&self.config.symbols) {
            let step = match step {
                plan::Step::Send(checked) if self.closed_by_protection.contains(&symbol.name) => {
                    let mut row = checked.row;
                    row.action = Action::Refused;
                    row.reason = format!(
                        "{}; not sent: its stop was already passed and closed the position at market this tick",
                        row.reason
                    );
                    let summary = format!("{} closed by its stop", symbol.name);
                    plan::Step::Row { row, summary }
                }
                step => step,
            };
            parts.push(self.execute(symbol, step, &close)?);
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

    /// The account as the metrics file and `status` show it: equity, cash, shares per symbol.
    fn show_account(&mut self, account: &Account, positions: &HashMap<String, Qty>) {
        self.state.ops.equity = Some(account.equity.to_f64());
        self.state.ops.cash = account.cash.as_ref().map(Decimal::to_f64);
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
        // An OCO's leg is nested under its parent (`nested=true`); the fills sync knows it by
        // its own id, so it is listed on its own too.
        let legs: Vec<Order> = recent.iter().flat_map(|o| o.legs.clone()).collect();
        let mut known = recent;
        known.extend(legs);
        Ok((open, known))
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
    /// closed session once (decision rows and an equity row), trade nothing. The tick that
    /// records it also puts back missing protection (see [`Tick::protect_closed`]), and so
    /// does every later closed tick while that protection's outcome is unknown (a lost POST,
    /// tried again under the same client id), so it never waits for the open.
    fn market_closed(
        &mut self,
        next_open: Option<DateTime<Utc>>,
        close: &CloseClock,
    ) -> Result<TickOutcome> {
        let recording = self.state.closed_until_recorded != next_open || next_open.is_none();
        let protecting = recording || self.state.closed_protection_unknown;
        let mut open_orders = Vec::new();
        if !self.state.tracked.is_empty() || protecting {
            open_orders = self.sync_fills()?.0;
        }
        if !protecting {
            log::info!("market closed; nothing to do");
            return Ok(TickOutcome::MarketClosed { next_open });
        }
        let broker_positions = self.client.positions()?;
        let positions: HashMap<String, Qty> = broker_positions
            .iter()
            .map(|p| (p.symbol.clone(), p.qty))
            .collect();
        let recorded = self.fills.summary(self.state.fills.as_ref())?;
        self.state.fills = Some(recorded.clone());
        if recording {
            let when = next_open.map_or("unknown".to_string(), |t| {
                t.with_timezone(&New_York)
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string()
            });
            let reason = format!("market closed; next open {when}");
            let account = self.client.account()?;
            // The position each row shows is the bot's, as an open-market tick shows it: its
            // own fills on a shared account, the broker's otherwise.
            let held = |name: &str| match self.config.risk.shared_account {
                true => recorded.net_qty.get(name).copied().unwrap_or_default(),
                false => positions.get(name).copied().unwrap_or_default(),
            };
            let rows: Vec<DecisionRow> = self
                .config
                .symbols
                .iter()
                .map(|s| {
                    self.decision_row(Decided {
                        symbol: s,
                        bar_time: None,
                        price: None,
                        position: held(&s.name),
                        signal: Signal::Hold,
                        action: Action::MarketClosed,
                        order: None,
                        reason: &reason,
                    })
                })
                .collect();
            self.decisions.append(&rows)?;
            self.record_equity(&account, &positions)?;
            // The metrics file and `status` show the equity this row records, not an older one.
            self.show_account(&account, &positions);
        }
        let unknown = self.unknown_outcomes;
        self.protect_closed(&broker_positions, &open_orders, &recorded, close)?;
        self.state.closed_protection_unknown = self.unknown_outcomes > unknown;
        self.state.closed_until_recorded = next_open;
        log::info!("market closed; nothing to do");
        Ok(TickOutcome::MarketClosed { next_open })
    }
}

/// Why an open market's close is not known well enough for the close-margin guard: no
/// `next_close` (alpaca-py refuses such a clock), or one further off than a session lasts (a
/// stale `is_open` after the bell comes with tomorrow's close). Either way a market order now
/// could reach Alpaca after the bell and be queued for the next open.
fn close_unknown(clock: &Clock) -> Option<String> {
    let to_close = clock.next_close.map(|c| c - clock.now);
    if !clock.is_open || to_close.is_some_and(|left| left <= MAX_SESSION) {
        return None;
    }
    Some(format!(
        "the broker's clock says the market is open but its next_close is {}: the time to the close is unknown",
        clock
            .next_close
            .map_or("missing".to_string(), |c| c.with_timezone(&New_York).to_rfc3339())
    ))
}

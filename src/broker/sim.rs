//! `Sim`: a broker simulated in process, behind the same [`Broker`] port as Alpaca, so the
//! tick's own code can run over history with no network.
//!
//! Deterministic: no I/O, no clock reads. Time moves only by [`Sim::set_now`], and everything
//! the market does in between (orders filling at bar opens, day orders expiring at the close,
//! the closing equity of each session) happens then, in time order.
//!
//! # What it reproduces, at the level of the trait
//!
//! * **Market data**: [`Broker::bars`] answers from the loaded bars, closed ones only (see
//!   [`market`] for when a bar opens and closes). [`Broker::latest_trades`] is the price a
//!   market order sent now would fill at: with [`Fill::NextOpen`], when a bar of the symbol
//!   opens exactly now in an open session, its open stamped now (the opening print);
//!   otherwise, and always with [`Fill::Close`], the last closed bar's close stamped at its
//!   close time. A replay ticks at each bar's open, the moment the previous bar's decision can
//!   be acted on, so the tick decides on the bars the backtest decides on and sizes at the
//!   price the backtest fills at.
//! * **Orders**: market day orders only. Accepted as `new` while the market is open, `accepted`
//!   (queued for the next open) while it is closed, with a unique id; a client order id can be
//!   used once, forever. Alpaca's refusals are the same [`Error::Api`] values the HTTP client
//!   makes of Alpaca's answers (the wording of `docs/alpaca-api.md` and the fake Alpaca of the
//!   end-to-end tests): 422 `client_order_id must be unique`; 403 `potential wash trade
//!   detected` against a working order on the other side; 403 `insufficient qty available` for
//!   a sell beyond the long position less working sells (a short only when shorting is enabled,
//!   from flat or short); 403 `fractional orders cannot be sold short`; 403 `insufficient buying
//!   power`.
//! * **Fills**: an order that can fill the moment it is sent fills then, in full, and the
//!   answer to the POST already says `filled` (with `filled_qty` and `filled_avg_price`): with
//!   [`Fill::NextOpen`] when a bar of the symbol opens at that moment (at its open), with
//!   [`Fill::Close`] when the market is open (at the last closed bar's close, the bar it was
//!   decided on, as `backtest --fill close`). Any other order stays working and fills when its
//!   session's next bar of the symbol arrives: at that bar's open ([`Fill::NextOpen`]) or at
//!   the close of the last bar closed when it was sent ([`Fill::Close`]). Price and commission
//!   come from [`FillModel`], the backtest's: slippage on the
//!   shares that open or extend a position, commission on every execution. Each execution is a
//!   FILL activity; a buy that covers a short and goes long is two (`partial_fill`, then `fill`),
//!   as the backtest closes and then opens. (A short sale is Alpaca's `sell_short`, which the
//!   port's [`FillActivity`] already holds as [`Side::Sell`].) A day order with no bar left in its session expires
//!   at the close.
//! * **Account**: cash moves by each execution's notional and commission; equity is cash plus
//!   every position at its mark (the latest trade, above); `last_equity` the equity at the
//!   previous session's close (the starting cash before any). Buying power is a margin-1
//!   account's, as the backtest's: `max(0, equity − Σ |qty|·mark)`, less what working orders
//!   that open positions have reserved. An order reserves its estimated cost: its opening
//!   shares priced by the fill model at the latest trade, commission included; a refusal for
//!   buying power is judged at that price, the one it would fill at now.
//!
//! * **Protective orders** (the tick's stops and targets): a `stop`, `limit` or `trailing_stop`
//!   that closes part or all of the position (anything else is 403 "insufficient qty") rests,
//!   reserving its shares, until a bar opening after it was placed reaches it; it then fills
//!   at that bar's close time at the backtest's price ([`crate::backtest::protective`]: the
//!   stop, or the open on a gap; stop first), so `replay` and `backtest` fill the same stop
//!   at the same price on the same bar. Canceled at once by [`Broker::cancel_order`]. A `day`
//!   one (a fractional position's) expires unfilled at its session's close, as Alpaca's day
//!   orders do, so the next session's first tick puts it back under the next attempt's id; a
//!   `gtc` one rests across sessions.
//! * An OCO (Alpaca's `oco` class, exit-only): the `limit` parent rests with a `stop` leg,
//!   `held`, with Alpaca's own ids, nested under the parent in every listing (`nested=true`).
//!   The parent carries both levels and reserves the shares once; it fills by the same bar
//!   rule (stop first when a bar reaches both): the target fills the parent, the stop fills
//!   the leg, and the other is canceled. Canceling either cancels both. Exempt from the
//!   wash-trade rule on both ends, as Alpaca's complex orders are.
//!
//! Not simulated: partial fills of a resting order, rejections after acceptance, splits
//! ([`Broker::split_activities`] is empty), bracket and OTO entries, notional orders, bar adjustments (a [`BarsQuery`]'s `adjustment` is
//! ignored: the bars are what was loaded).

use super::types::{
    Account, BarsQuery, Clock, Fill as Execution, LastTrade, Order, OrderRequest, Position, Split,
};
use super::Broker;
use crate::backtest::engine::Fill;
use crate::backtest::fill_model::FillModel;
use crate::decimal::Decimal;
use crate::domain::{Bar, OrderStatus, Side, Timeframe};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use std::cell::RefCell;
use std::collections::HashMap;

#[path = "sim_book.rs"]
mod book;
#[path = "sim_market.rs"]
pub mod market;

pub use market::Session;

use book::Book;
use market::Market;

/// How the simulated account trades.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimSettings {
    /// Starting cash, in dollars.
    pub cash: f64,
    /// Where a working market order fills; see the module docs.
    pub fill: Fill,
    /// Commission and slippage, as the backtest charges them.
    pub costs: FillModel,
    /// A sell from flat (or short) opens (or extends) a short; Alpaca's `shorting_enabled`.
    pub shorting: bool,
}

impl Default for SimSettings {
    /// A fresh Alpaca paper account: $100,000, shorting enabled; no costs; next-open fills.
    fn default() -> Self {
        SimSettings {
            cash: 100_000.0,
            fill: Fill::NextOpen,
            costs: FillModel::default(),
            shorting: true,
        }
    }
}

/// The simulated broker; see the module docs.
pub struct Sim {
    settings: SimSettings,
    market: Market,
    /// Mutated through `&self`, as the [`Broker`] calls take it; never borrowed across calls.
    book: RefCell<Book>,
}

impl Sim {
    /// An account holding `settings.cash` and nothing else, its clock at `now`.
    pub fn new(settings: SimSettings, now: DateTime<Utc>) -> Sim {
        Sim {
            settings,
            market: Market::default(),
            book: RefCell::new(Book::new(settings.cash, now, settings.fill)),
        }
    }

    /// Give `symbol` bars of `timeframe` (any order; replaces earlier ones of that timeframe).
    /// Unless [`Sim::set_sessions`] was called, every New York day with a bar gets a regular
    /// 09:30–16:00 session.
    pub fn load_bars(&mut self, symbol: &str, timeframe: Timeframe, bars: Vec<Bar>) {
        self.market.load(symbol, timeframe, bars);
        self.book.get_mut().sessions_changed(&self.market);
    }

    /// Trade in exactly these sessions (early closes, days without bars), not the derived ones.
    pub fn set_sessions(&mut self, sessions: Vec<Session>) {
        self.market.set_sessions(sessions);
        self.book.get_mut().sessions_changed(&self.market);
    }

    /// The sessions the market opens in, oldest first.
    pub fn sessions(&self) -> &[Session] {
        &self.market.sessions
    }

    /// When `bar` of `timeframe` opens: a replay ticks then, the moment the decision on the
    /// bar before it can be acted on.
    pub fn bar_open(&self, timeframe: Timeframe, bar: &Bar) -> DateTime<Utc> {
        self.market.opens_at(timeframe, bar)
    }

    /// When `bar` of `timeframe` has closed.
    pub fn bar_close(&self, timeframe: Timeframe, bar: &Bar) -> DateTime<Utc> {
        self.market.closes_at(timeframe, bar)
    }

    /// Move the clock forward to `to`, letting the market act in between: fills at bar opens,
    /// expiries and closing equity at session closes. The clock never goes back: an earlier
    /// time is refused and nothing changes.
    pub fn set_now(&self, to: DateTime<Utc>) -> Result<()> {
        self.book
            .borrow_mut()
            .advance(&self.market, &self.settings, to)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.book.borrow().now
    }

    pub fn cash(&self) -> f64 {
        self.book.borrow().cash
    }

    /// Cash plus every position at its mark, now.
    pub fn equity(&self) -> f64 {
        let book = self.book.borrow();
        book.equity(&self.market, book.now)
    }
}

/// An amount as the port reports it: Rust's shortest round-trip decimal, no exponent. Never
/// NaN (bars without finite prices are not loaded); should it be, 0.
fn money(x: f64) -> Decimal {
    Decimal::from_f64(x).unwrap_or_default()
}

impl Broker for Sim {
    fn clock(&self) -> Result<Clock> {
        let now = self.now();
        let sessions = &self.market.sessions;
        let next_open = sessions[sessions.partition_point(|s| s.open <= now)..]
            .first()
            .map(|s| s.open);
        let next_close = sessions
            .get(self.market.session_index(now))
            .map(|s| s.close);
        Ok(Clock {
            now,
            is_open: self.market.open_session(now).is_some(),
            next_open,
            next_close,
        })
    }

    fn account(&self) -> Result<Account> {
        let book = self.book.borrow();
        let now = book.now;
        let long: f64 = book
            .holdings
            .iter()
            .filter(|(_, h)| h.qty.is_positive())
            .map(|(s, h)| h.qty.to_f64() * book.mark(&self.market, s, now))
            .sum();
        let equity = book.equity(&self.market, now);
        let buying_power = book.buying_power(&self.market, now) - book.reserved();
        Ok(Account {
            cash: Some(money(book.cash)),
            buying_power: Some(money(buying_power.max(0.0))),
            equity: money(equity),
            last_equity: Some(money(book.last_equity(now, self.settings.cash))),
            long_market_value: Some(money(long)),
        })
    }

    fn positions(&self) -> Result<Vec<Position>> {
        let book = self.book.borrow();
        Ok(book
            .holdings
            .iter()
            .map(|(symbol, h)| Position {
                symbol: symbol.clone(),
                qty: h.qty,
                avg_entry_price: Some(money(h.avg_price)),
            })
            .collect())
    }

    fn latest_trades(&self, symbols: &[&str]) -> Result<HashMap<String, LastTrade>> {
        let now = self.now();
        Ok(symbols
            .iter()
            .filter_map(|&s| {
                let (p, t) = self.market.latest(s, now, self.settings.fill)?;
                Some((s.to_string(), LastTrade { time: t, price: p }))
            })
            .collect())
    }

    fn bars(&self, query: &BarsQuery<'_>) -> Result<HashMap<String, Vec<Bar>>> {
        let now = self.now();
        let mut out = HashMap::new();
        for &symbol in query.symbols {
            let Some(series) = self.market.series(symbol, query.timeframe) else {
                continue;
            };
            let bars = &series.bars;
            let from = bars.partition_point(|b| b.time < query.start);
            let to = match query.end {
                Some(end) => bars.partition_point(|b| b.time <= end),
                None => bars.len(),
            };
            let to = to.min(self.market.closed_count(series, now));
            if from < to {
                out.insert(symbol.to_string(), bars[from..to].to_vec());
            }
        }
        Ok(out)
    }

    fn open_orders(&self, symbols: &[&str]) -> Result<Vec<Order>> {
        let book = self.book.borrow();
        Ok(book
            .working
            .iter()
            .filter(|&&k| symbols.is_empty() || symbols.contains(&book.orders[k].symbol.as_str()))
            .map(|&k| book.show(k))
            .collect())
    }

    fn orders_since(&self, after: DateTime<Utc>, symbols: Option<&[&str]>) -> Result<Vec<Order>> {
        let book = self.book.borrow();
        let first = book.orders.partition_point(|o| o.submitted_at <= after);
        // As `nested=true` lists them: an OCO's leg under its parent, not on its own.
        Ok((first..book.orders.len())
            .filter(|&k| !book.is_leg(k))
            .filter(|&k| symbols.is_none_or(|s| s.contains(&book.orders[k].symbol.as_str())))
            .map(|k| book.show(k))
            .collect())
    }

    fn order(&self, order_id: &str) -> Result<Order> {
        let book = self.book.borrow();
        match book.by_id.get(order_id) {
            Some(&k) => Ok(book.show(k)),
            None => Err(Error::Api {
                endpoint: format!("GET /v2/orders/{order_id}"),
                status: 404,
                code: Some(40410000),
                message: "order not found".into(),
            }),
        }
    }

    fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<Order>> {
        let book = self.book.borrow();
        Ok(book
            .by_client_id
            .get(client_order_id)
            .map(|&k| book.show(k)))
    }

    fn submit_order(&self, order: &OrderRequest) -> Result<Order> {
        self.book
            .borrow_mut()
            .submit(&self.market, &self.settings, order)
    }

    fn cancel_order(&self, order_id: &str) -> Result<()> {
        self.book.borrow_mut().cancel(order_id)
    }

    fn fill_activities(&self, after: DateTime<Utc>) -> Result<Vec<Execution>> {
        let book = self.book.borrow();
        let first = book.fills.partition_point(|f| f.time <= after);
        Ok(book.fills[first..].to_vec())
    }

    fn split_activities(&self, _after: DateTime<Utc>) -> Result<Vec<Split>> {
        Ok(Vec::new())
    }
}

/// Side as a sign: +1 buys, −1 sells.
fn sign(side: Side) -> f64 {
    match side {
        Side::Buy => 1.0,
        Side::Sell => -1.0,
    }
}

/// The status a wire order shows for a simulated one.
fn shown_status(
    status: &OrderStatus,
    session_open: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> OrderStatus {
    match status {
        // Queued while closed; routed at the open.
        OrderStatus::Accepted if session_open.is_some_and(|t| t <= now) => OrderStatus::New,
        other => other.clone(),
    }
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;

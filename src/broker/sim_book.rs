//! The simulated account's book: cash, positions, orders and executions, and the market events
//! that change them (fills at bar opens, expiries and closing equity at session closes),
//! applied in time order as the clock moves.

use super::market::{ny_date, Market, Session};
use super::{shown_status, sign, SimSettings};
use crate::backtest::engine::Fill;
use crate::backtest::protective::Levels;
use crate::broker::{Fill as FillActivity, Order, OrderClass, OrderKind, OrderRequest};
use crate::decimal::Decimal;
use crate::domain::{Bar, OrderStatus, Qty, Side};
use crate::error::{Error, Result};
use crate::order_kind::TimeInForce;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, HashMap};

/// Positions by symbol (a flat symbol has none).
pub(super) type Holdings = BTreeMap<String, Holding>;

/// The New York day and closing equity of every session the clock has passed.
type ClosingEquity = Vec<(NaiveDate, f64)>;

/// One position: signed shares, exact; the average price paid for them (slippage included).
#[derive(Debug, Clone, Copy)]
pub(super) struct Holding {
    pub(super) qty: Qty,
    pub(super) avg_price: f64,
}

/// An order as the simulated broker keeps it.
#[derive(Clone)]
pub(super) struct SimOrder {
    pub(super) id: String,
    pub(super) client_order_id: String,
    pub(super) symbol: String,
    pub(super) side: Side,
    pub(super) qty: Qty,
    pub(super) status: OrderStatus,
    pub(super) submitted_at: DateTime<Utc>,
    pub(super) filled_at: Option<DateTime<Utc>>,
    pub(super) filled: Qty,
    /// Σ shares × price over its executions, for `filled_avg_price`.
    paid: f64,
    /// The session it may fill in: the one open when it was submitted, else the next one;
    /// `None` when the data has no session left (it then never fills).
    session: Option<Session>,
    /// The close of the last bar closed when it was submitted: its price with [`Fill::Close`].
    decided_close: f64,
    /// Buying power it holds while working: the estimated cost of its opening shares.
    reserve: f64,
    /// A protective order's kind (`market` for the others).
    kind: OrderKind,
    /// A `day` order ends, `expired`, at its session's close if still unfilled (every market
    /// order, and a fractional position's stop); a `gtc` one rests on.
    day: bool,
    /// A protective order's levels as of `scanned_from`: it fills on the first bar opening at
    /// or after that time that reaches them (the backtest's rule, [`Levels::exit_on`]).
    levels: Option<Levels>,
    scanned_from: DateTime<Utc>,
    /// An OCO's stop leg (on the parent) or its parent (on the leg). The leg is `held`, never
    /// in `working`: the parent carries both levels and reserves the shares once, and a fill
    /// of either side cancels the other (Alpaca's `oco` class, as the fake broker has it).
    leg: Option<usize>,
    parent: Option<usize>,
}

impl SimOrder {
    /// The order as the port reports it `now`.
    pub(super) fn shown(&self, now: DateTime<Utc>) -> Order {
        let filled = self.filled.is_positive();
        Order {
            id: self.id.clone(),
            client_order_id: self.client_order_id.clone(),
            symbol: self.symbol.clone(),
            side: Some(self.side),
            qty: self.qty,
            filled_qty: self.filled,
            filled_avg_price: filled
                .then(|| Decimal::from_f64(self.paid / self.filled.to_f64()))
                .flatten(),
            status: shown_status(&self.status, self.session.map(|s| s.open), now),
            order_type: Some(
                match self.kind {
                    OrderKind::Market => "market",
                    OrderKind::Limit { .. } => "limit",
                    OrderKind::Stop { .. } => "stop",
                    OrderKind::TrailingStop { .. } => "trailing_stop",
                    OrderKind::Oco { .. } => "limit",
                }
                .into(),
            ),
            class: match self.kind {
                OrderKind::Oco { .. } => OrderClass::Oco,
                _ => OrderClass::Simple,
            },
            submitted_at: Some(self.submitted_at),
            filled_at: self.filled_at,
            legs: Vec::new(),
        }
    }
}

impl Book {
    /// Order `k` as the port reports it now, an OCO with its leg nested (`nested=true`).
    pub(super) fn show(&self, k: usize) -> Order {
        let mut order = self.orders[k].shown(self.now);
        if let Some(leg) = self.orders[k].leg {
            order.legs.push(self.orders[leg].shown(self.now));
        }
        order
    }

    /// Whether order `k` is an OCO's leg (listed under its parent only).
    pub(super) fn is_leg(&self, k: usize) -> bool {
        self.orders[k].parent.is_some()
    }

    /// Order `k` of an OCO filled (or was canceled): end its sibling, canceled.
    fn end_sibling(&mut self, k: usize) {
        let o = &self.orders[k];
        if let Some(other) = o.leg.or(o.parent) {
            if !self.orders[other].status.is_final() {
                self.orders[other].status = OrderStatus::Canceled;
            }
            self.working.retain(|&w| w != other);
        }
    }
}

/// Something the market does at a time.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// Order `k` fills on `bar`, which opens at the event's time.
    Fill { k: usize, bar: Bar },
    /// Protective order `k` fills at `price` on a bar that closes at the event's time.
    Protect { k: usize, price: f64 },
    /// Order `k` expires unfilled at its session's close.
    Expire { k: usize },
    /// The session with this index closes: its closing equity is recorded.
    Close { session: usize },
}

pub(super) struct Book {
    pub(super) now: DateTime<Utc>,
    /// Where market orders fill, which is also what the latest trade is (see
    /// [`Market::latest`]).
    fill: Fill,
    pub(super) cash: f64,
    pub(super) holdings: Holdings,
    /// Every order, in submission order (so also by `submitted_at`).
    pub(super) orders: Vec<SimOrder>,
    pub(super) by_id: HashMap<String, usize>,
    pub(super) by_client_id: HashMap<String, usize>,
    /// Indexes of the orders still working, oldest first.
    pub(super) working: Vec<usize>,
    /// Every execution, oldest first.
    pub(super) fills: Vec<FillActivity>,
    closing_equity: ClosingEquity,
    /// The first session whose close the clock has not passed.
    next_close: usize,
    /// Executions so far, for unique activity ids.
    executions: u64,
}

impl Book {
    pub(super) fn new(cash: f64, now: DateTime<Utc>, fill: Fill) -> Book {
        Book {
            now,
            fill,
            cash,
            holdings: Holdings::new(),
            orders: Vec::new(),
            by_id: HashMap::new(),
            by_client_id: HashMap::new(),
            working: Vec::new(),
            fills: Vec::new(),
            closing_equity: Vec::new(),
            next_close: 0,
            executions: 0,
        }
    }

    /// Sessions that closed before the clock's time are history, not events.
    pub(super) fn sessions_changed(&mut self, market: &Market) {
        self.next_close = market.session_index(self.now);
    }

    fn held(&self, symbol: &str) -> Qty {
        self.holdings.get(symbol).map_or(Qty::ZERO, |h| h.qty)
    }

    /// A position's mark at `t`: the latest trade ([`Market::latest`]); its average price if
    /// the symbol has none.
    pub(super) fn mark(&self, market: &Market, symbol: &str, t: DateTime<Utc>) -> f64 {
        market
            .latest(symbol, t, self.fill)
            .map(|(price, _)| price)
            .or_else(|| self.holdings.get(symbol).map(|h| h.avg_price))
            .unwrap_or(0.0)
    }

    pub(super) fn equity(&self, market: &Market, t: DateTime<Utc>) -> f64 {
        let held: f64 = self
            .holdings
            .iter()
            .map(|(s, h)| h.qty.to_f64() * self.mark(market, s, t))
            .sum();
        self.cash + held
    }

    /// A margin-1 account's: equity less the value of every position, never below 0.
    pub(super) fn buying_power(&self, market: &Market, t: DateTime<Utc>) -> f64 {
        let used: f64 = self
            .holdings
            .iter()
            .map(|(s, h)| h.qty.abs().to_f64() * self.mark(market, s, t))
            .sum();
        (self.equity(market, t) - used).max(0.0)
    }

    /// Buying power held by working orders.
    pub(super) fn reserved(&self) -> f64 {
        self.working.iter().map(|&k| self.orders[k].reserve).sum()
    }

    /// Equity at the close of the last session on a day before `now`'s New York day.
    pub(super) fn last_equity(&self, now: DateTime<Utc>, starting_cash: f64) -> f64 {
        let today = ny_date(now);
        self.closing_equity
            .iter()
            .rev()
            .find(|(day, _)| *day < today)
            .map_or(starting_cash, |(_, e)| *e)
    }

    /// See [`super::Sim::set_now`].
    pub(super) fn advance(
        &mut self,
        market: &Market,
        settings: &SimSettings,
        to: DateTime<Utc>,
    ) -> Result<()> {
        if to < self.now {
            return Err(Error::Refused(format!(
                "the simulated clock cannot go back from {} to {to}",
                self.now
            )));
        }
        while let Some((at, event)) = self.next_event(market, to) {
            match event {
                Event::Fill { k, bar } => {
                    let raw = match settings.fill {
                        Fill::NextOpen => bar.open,
                        Fill::Close => self.orders[k].decided_close,
                    };
                    self.fill(settings, k, raw, at);
                }
                Event::Protect { k, price } => {
                    // An OCO whose stop side filled: the stop leg fills, the limit parent ends.
                    let o = &self.orders[k];
                    let filled = match (o.leg, &o.kind) {
                        (Some(leg), OrderKind::Oco { stop_price, .. })
                            if sign(o.side) * (price - stop_price.to_f64()) >= 0.0 =>
                        {
                            leg
                        }
                        _ => k,
                    };
                    self.fill(settings, filled, price, at);
                    self.end_sibling(filled);
                }
                Event::Expire { k } => {
                    self.orders[k].status = OrderStatus::Expired;
                    self.working.retain(|&w| w != k);
                    // An OCO expires whole: its held stop leg with its parent.
                    if let Some(leg) = self.orders[k].leg {
                        self.orders[leg].status = OrderStatus::Expired;
                    }
                }
                Event::Close { session } => {
                    let equity = self.equity(market, at);
                    let day = market.sessions[session].day();
                    self.closing_equity.push((day, equity));
                    self.next_close = session + 1;
                }
            }
        }
        self.scan_protection(market, to);
        self.now = to;
        Ok(())
    }

    /// Move every resting protective order past the bars closed by `to` that did not fill it
    /// (a trailing stop's best price with them), so the next search starts there.
    fn scan_protection(&mut self, market: &Market, to: DateTime<Utc>) {
        for &k in &self.working {
            let o = &mut self.orders[k];
            let (Some(mut levels), Some(series)) = (o.levels, market.fill_series(&o.symbol)) else {
                continue;
            };
            let tf = series.timeframe;
            let from = series
                .bars
                .partition_point(|b| market.opens_at(tf, b) < o.scanned_from);
            for bar in &series.bars[from..] {
                if market.closes_at(tf, bar) > to {
                    break;
                }
                // No fill: `advance` handled every event up to `to`.
                let _ = levels.exit_on(bar);
                o.scanned_from = market.closes_at(tf, bar);
            }
            o.levels = Some(levels);
        }
    }

    /// The earliest event at or before `to`: fills first, then expiries, then the session's
    /// close, at equal times; orders in submission order.
    fn next_event(&self, market: &Market, to: DateTime<Utc>) -> Option<(DateTime<Utc>, Event)> {
        let mut best: Option<(DateTime<Utc>, u8, Event)> = None;
        let mut consider = |at: DateTime<Utc>, rank: u8, e: Event| {
            if at <= to && best.is_none_or(|(t, r, _)| (at, rank) < (t, r)) {
                best = Some((at, rank, e));
            }
        };
        for &k in &self.working {
            let o = &self.orders[k];
            if let (Some(mut levels), Some(series)) = (o.levels, market.fill_series(&o.symbol)) {
                // A `day` protective order rests until its session's close, as Alpaca expires
                // unfilled day orders then (alpaca-api.md §2.12); a `gtc` one until it fills.
                let end = o.session.filter(|_| o.day).map(|s| s.close);
                let tf = series.timeframe;
                let from = series
                    .bars
                    .partition_point(|b| market.opens_at(tf, b) < o.scanned_from);
                for bar in &series.bars[from..] {
                    let at = market.closes_at(tf, bar);
                    if at > to || end.is_some_and(|e| at > e) {
                        break;
                    }
                    if let Some(price) = levels.exit_on(bar) {
                        consider(at, 0, Event::Protect { k, price });
                        break;
                    }
                }
                if let Some(e) = end {
                    consider(e, 1, Event::Expire { k });
                }
                continue;
            }
            let Some(session) = o.session else { continue };
            let from = o.submitted_at.max(session.open);
            match market.first_open(&o.symbol, from, session.close) {
                Some((bar, at)) => consider(at, 0, Event::Fill { k, bar }),
                None => consider(session.close, 1, Event::Expire { k }),
            }
        }
        if let Some(s) = market.sessions.get(self.next_close) {
            consider(
                s.close,
                2,
                Event::Close {
                    session: self.next_close,
                },
            );
        }
        best.map(|(at, _, e)| (at, e))
    }

    /// Fill order `k` in full at raw price `raw`: shares that reduce the position first (at
    /// `raw`), then shares that open or extend one (with slippage), one execution each.
    fn fill(&mut self, settings: &SimSettings, k: usize, raw: f64, at: DateTime<Utc>) {
        let (symbol, side, qty) = {
            let o = &self.orders[k];
            (o.symbol.clone(), o.side, o.qty)
        };
        let held = self.held(&symbol);
        let against = match side {
            Side::Buy => held.is_negative(),
            Side::Sell => held.is_positive(),
        };
        let closing = if against {
            qty.min(held.abs())
        } else {
            Qty::ZERO
        };
        let parts = [(closing, false), (qty - closing, true)];
        let last = parts.iter().rposition(|(q, _)| q.is_positive());
        for (i, &(shares, opens)) in parts.iter().enumerate() {
            if !shares.is_positive() {
                continue;
            }
            let size = shares.to_f64() * sign(side);
            let exec = settings.costs.execute(raw, size, opens);
            self.cash -= size * exec.price + exec.commission;
            self.hold(&symbol, side, shares, exec.price);
            let done = Some(i) == last;
            let o = &mut self.orders[k];
            o.filled += shares;
            o.paid += shares.to_f64() * exec.price;
            if done {
                o.status = OrderStatus::Filled;
                o.filled_at = Some(at);
            } else {
                o.status = OrderStatus::PartiallyFilled;
            }
            self.executions += 1;
            let activity = FillActivity {
                id: format!(
                    "{}::sim-{:012}",
                    at.format("%Y%m%d%H%M%S%3f"),
                    self.executions
                ),
                time: at,
                last: done,
                // Finite: bars without a finite open and close are never loaded, and the fill
                // model only scales a price by (1 ± slippage); should it not be, the raw price.
                price: Decimal::from_f64(exec.price)
                    .or_else(|| Decimal::from_f64(raw))
                    .unwrap_or_default(),
                qty: shares,
                side,
                symbol: symbol.clone(),
                order_id: o.id.clone(),
            };
            self.fills.push(activity);
        }
        self.working.retain(|&w| w != k);
    }

    /// Move the position by `shares` on `side` executed at `price`: the average price is
    /// re-weighted when adding, kept when reducing, the new price when crossing zero.
    fn hold(&mut self, symbol: &str, side: Side, shares: Qty, price: f64) {
        let delta = if side == Side::Buy { shares } else { -shares };
        let old = self.holdings.get(symbol).copied().unwrap_or(Holding {
            qty: Qty::ZERO,
            avg_price: 0.0,
        });
        let qty = old.qty + delta;
        let avg_price = if old.qty.is_zero() || old.qty.signum() == delta.signum() {
            (old.qty.abs().to_f64() * old.avg_price + shares.to_f64() * price) / qty.abs().to_f64()
        } else if qty.signum() != old.qty.signum() {
            price
        } else {
            old.avg_price
        };
        if qty.is_zero() {
            self.holdings.remove(symbol);
        } else {
            self.holdings
                .insert(symbol.to_string(), Holding { qty, avg_price });
        }
    }
}

#[path = "sim_orders.rs"]
mod orders;

//! The bar-by-bar simulator: replays bars through [`Strategy::decide`] and fills its
//! signals the way backtesting.py 0.6 fills market orders, for one symbol.
//!
//! Pure: no I/O, no clock, and no heap allocation per bar (the equity vector is allocated
//! once; the trade list grows once per closed trade).
//!
//! # The loop (backtesting.py's `Backtest.run` + `_Broker`)
//!
//! Let `w = warmup` be the library's `_indicator_warmup_nbars` ([`library_warmup`]: for
//! `SmaCross` with at least `slow` bars, `slow − 1`, the index of the first non-NaN SMA(slow),
//! `= bars_needed − 2`) and `start = w + 1` (for `SmaCross` `= slow = bars_needed − 1`, the
//! library's `start`). For each bar `i` in `start..n`:
//!
//! 1. the signal decided on bar `i − 1` (if any) fills: at `Open[i]`, recorded as bar `i`
//!    ([`Fill::NextOpen`]), or at `Close[i − 1]`, recorded as bar `i − 1` ([`Fill::Close`], the
//!    library's `trade_on_close=True`);
//! 2. `equity[i] = cash + size·(Close[i] − entry)` is recorded; if it is `<= 0` the open trade is
//!    closed at `Close[i]`, equity is 0 from `i` on and the run stops (the library's
//!    `_OutOfMoneyError`);
//! 3. `strategy.decide(&bars[..=i], Close[i], position)` runs. `position` is the signed size
//!    held now; no order is ever pending at this point, because the previous bar's signal has
//!    just filled.
//!
//! A signal decided on the last bar never fills (it is reported in [`Outcome::pending`]).
//! Equity over the warm-up bars `0..start` is back-filled from `equity[start]`, so it equals the
//! initial cash. The first possible SmaCross decision is at bar `slow` (it needs `slow + 1`
//! bars to see a crossover), which is the library's first `next()` call, so trades match.
//!
//! # What a signal does
//!
//! * [`Signal::Buy`]: close a short if one is open, then open a long if flat.
//! * [`Signal::Sell`]: close a long if one is open, then open a short if flat and
//!   `strategy.allows_short()` (stop-and-reverse).
//!
//! The close goes first and the new trade is sized on the cash left after it, exactly as the
//! library's `position.close(); buy()` queue is processed. The engine never pyramids: a Buy
//! while long (which `decide` never emits) does nothing.
//!
//! # Accounting (the library's, with `margin = 1`)
//!
//! The price and commission of each execution come from [`FillModel`], shared with the
//! simulated broker.
//!
//! * `commission(size, price) = commission_fixed + |size|·price·commission`, charged at entry
//!   (on the slippage-adjusted entry price) and again at exit.
//! * Slippage is backtesting.py's `spread`: the entry price is `p·(1 + s)` for a long and
//!   `p·(1 − s)` for a short, `s = slippage_bps / 10 000`, and it is the recorded entry price;
//!   exits fill at the raw price. So a round trip pays the slippage once, adversely.
//! * Cash is never debited the notional: entry does `cash −= entry_commission`, exit does
//!   `cash += size·(exit − entry) − exit_commission`, and each bar
//!   `equity = cash + size·(Close − entry)`.
//! * `Trade::pnl = size·(exit − entry) − commissions`,
//!   `Trade::return_pct = sign(size)·(exit/entry − 1) − commissions/(|size|·entry)` (a fraction,
//!   not percent, named as the library names it).
//! * A trade still open at the end stays open ([`Outcome::open_trade`]), marked to market in the
//!   last equity value without an exit commission; it is not a closed trade for the metrics.
//!   With `close_at_end` the library's `finalize_trades=True` is reproduced, quirks included:
//!   the open trade is closed at the *last* bar's fill price (`Open[n−1]`, or `Close[n−2]` with
//!   [`Fill::Close`]), the signal decided on the last bar is then executed at that same price
//!   (so a stop-and-reverse run can still end with a new open trade), and `equity[n−1]` is
//!   recomputed.
//!
//! # Sizing
//!
//! With `m = max(0, cash)` (no trade is open when a new one is sized), `p` the raw fill price,
//! `adj` the slippage-adjusted one and `f` the fraction:
//!
//! * [`Sizing::EquityFraction`] mirrors the library's relative `size`: the cost per unit is
//!   `u = adj + commission(f, p)/f` (so a fixed commission is divided by `f`, as there) and the
//!   size is `floor(m·f / u)` with Python's float floor division (or `m·f/u` when `fractional`).
//!   [`Sizing::ALL_IN`] (`f = 1 − 2⁻⁵²`) is the library's default `buy()`/`sell()` size.
//! * [`Sizing::Qty`] is a fixed size (the library's `size >= 1`), `u = adj + commission(q, p)/q`.
//! * [`Sizing::Notional`] buys `amount // adj` whole units (or `amount / adj` when
//!   `fractional`), commission on top.
//!
//! The division and the rounding are [`crate::sizing::units`], the tick's own; what differs
//! from the tick, on purpose, is the price (the fill's, slippage included, not the latest
//! trade), the commission in the unit cost, the budget (`max(0, equity)`), the 9-decimal
//! truncation the tick applies for Alpaca, and the cancellation below (see [`crate::sizing`]).
//!
//! A size of zero, or one whose `|size|·u` exceeds `m`, is cancelled (no partial fills), as
//! the library does. Only the margin=1, hedging=False, exclusive_orders=False broker is
//! modelled; limit/stop/SL/TP orders are not (no strategy here uses them).

use super::fill_model::FillModel;
use crate::domain::{Bar, Signal};
use crate::sizing;
use crate::strategy::{Smas, Strategy};
#[path = "engine_deciders.rs"]
mod deciders;
use chrono::{DateTime, Utc};
pub(crate) use deciders::{Decider, SmaCrossDecider, StrategyDecider};

/// When an order decided on bar `t` fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// At `Open[t+1]`, recorded as bar `t+1` (backtesting.py's default).
    NextOpen,
    /// At `Close[t]`, recorded as bar `t` (backtesting.py's `trade_on_close=True`). It is still
    /// executed in bar `t+1`'s broker step, so `equity[t]` does not yet show it, and an order
    /// decided on the last bar still never fills.
    Close,
}

/// `next-open` or `close`, as `--fill` takes them.
impl std::str::FromStr for Fill {
    type Err = String;
    fn from_str(s: &str) -> Result<Fill, String> {
        match s {
            "next-open" => Ok(Fill::NextOpen),
            "close" => Ok(Fill::Close),
            other => Err(format!("--fill `{other}`: expected next-open or close")),
        }
    }
}

/// How big a new trade is. See the module docs for the exact formulas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sizing {
    /// A fixed number of units.
    Qty(f64),
    /// Units worth at most `amount` at the (slippage-adjusted) fill price; whole units unless
    /// `fractional`.
    Notional { amount: f64, fractional: bool },
    /// A fraction of the available cash, after commission and slippage; whole units unless
    /// `fractional`.
    EquityFraction { fraction: f64, fractional: bool },
}

impl Sizing {
    /// backtesting.py's default `buy()`/`sell()` size: `1 − sys.float_info.epsilon` of the
    /// available margin, in whole units.
    pub const ALL_IN: Sizing = Sizing::EquityFraction {
        fraction: 1.0 - f64::EPSILON,
        fractional: false,
    };
}

/// Backtest settings. `Settings::default()` is backtesting.py's defaults (cash 10 000, no
/// commission, no spread, next-open fills, all-in sizing, trades left open at the end).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Initial cash, > 0.
    pub cash: f64,
    /// Commission as a fraction of each fill's notional, charged at entry and at exit.
    /// backtesting.py accepts −0.1 ≤ c < 0.1 (negative is a rebate).
    pub commission: f64,
    /// Fixed commission in $ per fill (entry and exit), ≥ 0.
    pub commission_fixed: f64,
    /// Adverse slippage in basis points on the entry price only (backtesting.py's `spread`).
    pub slippage_bps: f64,
    pub fill: Fill,
    pub sizing: Sizing,
    /// backtesting.py's `finalize_trades=True`; see the module docs.
    pub close_at_end: bool,
    /// The tick's risk guards, applied by [`portfolio::run`](super::portfolio::run) (this
    /// one-symbol engine ignores them); `None`, the default, is backtesting.py's unguarded
    /// broker.
    pub guards: Option<crate::risk::Limits>,
    /// The broker-held stop and target of the tick, simulated on bars by this one-symbol
    /// engine ([`super::protective`]); none by default (backtesting.py has none).
    pub protection: crate::plan::protect::Protection,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cash: 10_000.0,
            commission: 0.0,
            commission_fixed: 0.0,
            slippage_bps: 0.0,
            fill: Fill::NextOpen,
            sizing: Sizing::ALL_IN,
            close_at_end: false,
            guards: None,
            protection: crate::plan::protect::Protection::default(),
        }
    }
}

impl Settings {
    /// The checks backtesting.py makes on its arguments, as an error message.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.cash > 0.0 && self.cash.is_finite()) {
            return Err(format!("cash must be > 0, is {}", self.cash));
        }
        if !(-0.1..0.1).contains(&self.commission) {
            return Err(format!(
                "commission must be in [-0.1, 0.1), is {}",
                self.commission
            ));
        }
        if !(self.commission_fixed >= 0.0 && self.commission_fixed.is_finite()) {
            return Err(format!(
                "commission_fixed must be >= 0, is {}",
                self.commission_fixed
            ));
        }
        if !(self.slippage_bps >= 0.0 && self.slippage_bps < 10_000.0) {
            return Err(format!(
                "slippage_bps must be in [0, 10000), is {}",
                self.slippage_bps
            ));
        }
        let ok = match self.sizing {
            Sizing::Qty(q) => q > 0.0 && q.is_finite(),
            Sizing::Notional { amount, .. } => amount > 0.0 && amount.is_finite(),
            Sizing::EquityFraction { fraction, .. } => fraction > 0.0 && fraction.is_finite(),
        };
        if !ok {
            return Err(format!(
                "sizing must be positive and finite, is {:?}",
                self.sizing
            ));
        }
        Ok(())
    }

    /// The commission and slippage part of these settings: the arithmetic shared with the
    /// simulated broker.
    #[inline]
    pub fn fill_model(&self) -> FillModel {
        FillModel {
            commission: self.commission,
            commission_fixed: self.commission_fixed,
            slippage_bps: self.slippage_bps,
        }
    }

    /// `commission(size, price)`, the library's `_commission_func` ([`FillModel::commission`]).
    #[inline]
    pub(crate) fn commission_of(&self, size: f64, price: f64) -> f64 {
        self.fill_model().commission(size, price)
    }
}

/// A closed trade. Field names follow backtesting.py's `_trades` columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade {
    pub entry_bar: usize,
    pub exit_bar: usize,
    /// Signed: negative for a short.
    pub size: f64,
    /// Including slippage.
    pub entry_price: f64,
    pub exit_price: f64,
    /// Net of both commissions.
    pub pnl: f64,
    /// A fraction (0.05 = 5 %), net of both commissions.
    pub return_pct: f64,
    pub entry_time: DateTime<Utc>,
    pub exit_time: DateTime<Utc>,
    /// Entry plus exit commission, in $.
    pub commission: f64,
}

/// A trade still open at the end of the data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenTrade {
    pub entry_bar: usize,
    pub size: f64,
    pub entry_price: f64,
    pub entry_time: DateTime<Utc>,
    /// Already paid (it is in the equity curve).
    pub entry_commission: f64,
    /// `size·(last close − entry)`, before any commission (the library's `Trade.pl` of an open
    /// trade).
    pub unrealized_pnl: f64,
}

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Closed trades, in the order they were closed.
    pub trades: Vec<Trade>,
    pub open_trade: Option<OpenTrade>,
    /// Equity at every bar's close (`equity.len() == bars.len()`), warm-up back-filled.
    pub equity: Vec<f64>,
    /// backtesting.py's `_indicator_warmup_nbars`: the bar whose close Buy & Hold starts from.
    pub warmup: usize,
    /// The first bar the strategy is asked about (`warmup + 1`).
    pub start: usize,
    /// Cash at the end (equity minus the open trade's unrealized PnL).
    pub cash: f64,
    /// A signal decided on the last bar, which had no next bar to fill on.
    pub pending: Option<Signal>,
    /// The bar at which equity reached 0 and the run stopped, if it did.
    pub out_of_money_at: Option<usize>,
    /// Every buy or sell decided, as (bar, signal), in order; holds are not recorded.
    pub decisions: Vec<(usize, Signal)>,
}

/// The open trade while running.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Open {
    pub(crate) bar: usize,
    pub(crate) size: f64,
    pub(crate) price: f64,
    pub(crate) commission: f64,
}

impl Open {
    /// Close at `price` on `bar`: the cash change and the closed trade. Shared with the
    /// portfolio simulator so that both do the very same float operations.
    #[inline]
    pub(crate) fn close(
        self,
        settings: &Settings,
        bars: &[Bar],
        price: f64,
        bar: usize,
    ) -> (f64, Trade) {
        let exit_commission = settings.commission_of(self.size, price);
        let cash_delta = self.size * (price - self.price) - exit_commission;
        let commission = exit_commission + self.commission;
        let trade = Trade {
            entry_bar: self.bar,
            exit_bar: bar,
            size: self.size,
            entry_price: self.price,
            exit_price: price,
            pnl: self.size * (price - self.price) - commission,
            return_pct: 1f64.copysign(self.size) * (price / self.price - 1.0)
                - commission / (self.size.abs() * self.price),
            entry_time: bars[self.bar].time,
            exit_time: bars[bar].time,
            commission,
        };
        (cash_delta, trade)
    }

    /// The trade as still open at the end, marked at `last_close`.
    pub(crate) fn to_open_trade(self, bars: &[Bar], last_close: f64) -> OpenTrade {
        OpenTrade {
            entry_bar: self.bar,
            size: self.size,
            entry_price: self.price,
            entry_time: bars[self.bar].time,
            entry_commission: self.commission,
            unrealized_pnl: self.size * (last_close - self.price),
        }
    }
}

/// Size a new trade in direction `dir` (±1) at raw price `price` on `bar`: `budget_base` is
/// what a fraction is taken of and `margin` what the trade may cost at most (both `max(0,
/// cash)` for one symbol). `None` when the broker would cancel the order: zero units, or not
/// enough money for them (no partial fills).
#[inline]
pub(crate) fn entry(
    settings: &Settings,
    sizing: Sizing,
    dir: f64,
    price: f64,
    bar: usize,
    budget_base: f64,
    margin: f64,
) -> Option<Open> {
    let s = settings;
    let adj = s.fill_model().entry_price(price, dir);
    // The budget and the cost of a unit are the library's; the division and the rounding
    // are the tick's too (`sizing::units`).
    let (units, per_unit) = match sizing {
        Sizing::EquityFraction {
            fraction,
            fractional,
        } => {
            let per_unit = adj + s.commission_of(fraction, price) / fraction;
            let budget = budget_base * fraction;
            (sizing::units(budget, per_unit, fractional), per_unit)
        }
        Sizing::Qty(q) => (q, adj + s.commission_of(q, price) / q),
        Sizing::Notional { amount, fractional } => {
            let units = sizing::units(amount, adj, fractional);
            (units, adj + s.commission_of(units, price) / units)
        }
    };
    if units.is_nan() || units <= 0.0 || units * per_unit > margin {
        return None;
    }
    let size = units.copysign(dir);
    Some(Open {
        bar,
        size,
        price: adj,
        commission: s.commission_of(size, adj),
    })
}

struct Broker<'a> {
    settings: &'a Settings,
    cash: f64,
    open: Option<Open>,
    trades: Vec<Trade>,
}

impl Broker<'_> {
    #[inline]
    fn position(&self) -> f64 {
        self.open.map_or(0.0, |t| t.size)
    }

    /// The library's `cash + (last_price·Σsize − Σ size·entry)`, in that operation order.
    #[inline]
    fn equity(&self, close: f64) -> f64 {
        match self.open {
            None => self.cash,
            Some(t) => self.cash + (close * t.size - t.size * t.price),
        }
    }

    fn close(&mut self, bars: &[Bar], price: f64, bar: usize) {
        let Some(t) = self.open.take() else { return };
        let (cash_delta, trade) = t.close(self.settings, bars, price, bar);
        self.cash += cash_delta;
        self.trades.push(trade);
    }

    /// Open a trade in direction `dir` (±1) at raw price `price`, if the sizing allows.
    fn open(&mut self, dir: f64, price: f64, bar: usize) {
        let margin = self.cash.max(0.0);
        let sizing = self.settings.sizing;
        if let Some(t) = entry(self.settings, sizing, dir, price, bar, margin, margin) {
            self.cash -= t.commission;
            self.open = Some(t);
        }
    }

    fn execute(&mut self, signal: Signal, allow_short: bool, bars: &[Bar], price: f64, bar: usize) {
        let pos = self.position();
        match signal {
            Signal::Hold => {}
            Signal::Buy => {
                if pos < 0.0 {
                    self.close(bars, price, bar);
                }
                if self.open.is_none() {
                    self.open(1.0, price, bar);
                }
            }
            Signal::Sell => {
                if pos > 0.0 {
                    self.close(bars, price, bar);
                }
                if allow_short && self.open.is_none() {
                    self.open(-1.0, price, bar);
                }
            }
        }
    }
}

/// backtesting.py's `_indicator_warmup_nbars` for `strategy` over `n` bars: the largest, over
/// the indicators, of the index of each one's first non-NaN value, an indicator that is NaN
/// throughout counting as 0. For SmaCross that is `slow − 1` (= `bars_needed() − 2`) when there
/// are at least `slow` bars, else `fast − 1` if there are `fast`, else 0.
pub fn library_warmup(strategy: &Strategy, n: usize) -> usize {
    let first_valid = |len: usize| if len >= 1 && n >= len { len - 1 } else { 0 };
    match *strategy {
        Strategy::Threshold { .. } => 0,
        Strategy::SmaCross { fast, slow, .. } => first_valid(fast).max(first_valid(slow)),
        Strategy::Model { .. } => first_valid(strategy.bars_needed() - 1),
    }
}

/// Run `strategy` over `bars` (oldest first, one symbol).
pub fn run(bars: &[Bar], strategy: &Strategy, settings: &Settings) -> Outcome {
    let smas = Smas::new(bars, strategy.sma_windows());
    run_with(bars, strategy, settings, &smas)
}

/// [`run`] with the strategy's indicators already computed over `bars` (a sweep computes each
/// window once for all its combinations); `smas` may hold more windows, or none.
///
/// A SmaCross whose two windows are in `smas` is decided by [`SmaCrossDecider`] (the cross
/// test on the two series, no lookup, no reason); anything else by [`Strategy::decide_with`].
/// Both run the one loop below, so fills, equity and protection are the same code.
pub fn run_with(bars: &[Bar], strategy: &Strategy, settings: &Settings, smas: &Smas) -> Outcome {
    if let Some(fast) = SmaCrossDecider::new(strategy, smas) {
        return run_deciding(bars, strategy, settings, &fast);
    }
    if let Some(by_order) = SmaCrossDecider::by_order(strategy, smas) {
        return run_deciding(bars, strategy, settings, &by_order);
    }
    run_deciding(
        bars,
        strategy,
        settings,
        &StrategyDecider { strategy, smas },
    )
}

/// The loop of [`run`] (see the module docs), deciding through `decider`.
pub(crate) fn run_deciding<D: Decider>(
    bars: &[Bar],
    strategy: &Strategy,
    settings: &Settings,
    decider: &D,
) -> Outcome {
    let n = bars.len();
    let warmup = library_warmup(strategy, n);
    let start = warmup + 1;
    let allow_short = strategy.allows_short();
    // Zeroed memory (calloc: no serial fill of a million bars' 8 MB before the loop). Every
    // element is written below: by the loop, the warm-up's back-fill, or out_of_money's zeros.
    let mut equity = vec![0.0; n];
    let mut broker = Broker {
        settings,
        cash: settings.cash,
        open: None,
        trades: Vec::new(),
    };
    let fill_at = |i: usize| match settings.fill {
        Fill::NextOpen => (bars[i].open, i),
        Fill::Close => (bars[i - 1].close, i - 1),
    };
    let mut pending: Option<Signal> = None;
    let mut out_of_money_at = None;
    let mut decisions = Vec::new();
    // The open trade's protection, from the bar after the one its entry filled in.
    let mut levels: Option<Levels> = None;
    // Without protection there are never levels to place: no call per bar in a trade.
    let protected = settings.protection.any();

    for i in start..n {
        if let Some(signal) = pending.take() {
            let (price, at) = fill_at(i);
            let before = broker.open.map(|t| (t.bar, t.size));
            broker.execute(signal, allow_short, bars, price, at);
            if broker.open.map(|t| (t.bar, t.size)) != before {
                // The strategy's order canceled the protection first (as the tick does).
                levels = None;
            }
        }
        if let Some(l) = levels.as_mut() {
            if let Some(price) = l.exit_on(&bars[i]) {
                broker.close(bars, price, i);
                levels = None;
            }
        }
        if protected && levels.is_none() && i + 1 < n {
            if let Some(t) = broker.open {
                // Placed for the next bar, as the tick places it on its next tick.
                levels = Levels::new(
                    &settings.protection,
                    t.price,
                    t.size.signum(),
                    bars[i + 1].open,
                );
            }
        }
        let e = broker.equity(bars[i].close);
        equity[i] = e;
        if e <= 0.0 {
            out_of_money(&mut broker, bars, &mut equity, i);
            out_of_money_at = Some(i);
            break;
        }
        let signal = decider.signal(bars, i, broker.position());
        if signal != Signal::Hold {
            pending = Some(signal);
            decisions.push((i, signal));
        }
    }

    if settings.close_at_end && out_of_money_at.is_none() && start < n {
        let last = n - 1;
        let (price, at) = fill_at(last);
        broker.close(bars, price, at);
        if let Some(signal) = pending.take() {
            broker.execute(signal, allow_short, bars, price, at);
        }
        let e = broker.equity(bars[last].close);
        equity[last] = e;
        if e <= 0.0 {
            out_of_money(&mut broker, bars, &mut equity, last);
            out_of_money_at = Some(last);
        }
    }

    // Back-fill the warm-up (the library's `bfill().fillna(cash)`).
    let first = if start < n {
        equity[start]
    } else {
        settings.cash
    };
    equity[..start.min(n)].fill(first);

    let open_trade = broker
        .open
        .map(|t| t.to_open_trade(bars, bars[n - 1].close));
    Outcome {
        trades: broker.trades,
        open_trade,
        equity,
        warmup,
        start,
        cash: broker.cash,
        pending,
        out_of_money_at,
        decisions,
    }
}

fn out_of_money(broker: &mut Broker<'_>, bars: &[Bar], equity: &mut [f64], i: usize) {
    broker.close(bars, bars[i].close, i);
    broker.cash = 0.0;
    equity[i..].fill(0.0);
}

use super::protective::Levels;

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

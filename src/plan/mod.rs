//! What one tick decides, as a pure function: [`plan`] turns a [`Snapshot`] of the broker (the
//! clock, the account's equity, and per symbol its bars, latest trade, positions and working
//! orders) and the bot's [`State`] into a [`Plan`]: per symbol either a decision row, or an
//! order that has already passed every guard, with the row that records it.
//!
//! The tick gathers the snapshot, calls `plan`, then executes the plan through the broker and
//! writes the rows (`cmd::tick`). Only two facts are left to execution, because they exist only
//! then: the session's close is measured again just before each order (a slow request must not
//! carry a market order past the bell), and whether a reversal's close leg filled at once, in
//! which case its open leg goes out in the same tick ([`Checked::then`]); otherwise it waits in
//! the state for a later tick ([`Checked::leg`]).
//!
//! Pure: no I/O, no clock; values in, values out.

mod bar_time;
pub mod protect;
mod symbol;

pub use bar_time::{floor_to, missing_bars};

pub use crate::domain::{Action, LastTrade};
use crate::domain::{Bar, ClientOrderId, Qty, Side, Signal, Timeframe};
use crate::legs::PendingLeg;
use crate::risk::Limits;
use crate::sizing::Sizing;
use crate::store::State;
use crate::strategy::Strategy;
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// What the tick trades for one symbol: the config's `[[symbol]]`, without the config.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub name: &'a str,
    pub strategy: &'a Strategy,
    pub sizing: Sizing,
    pub fractional: bool,
}

/// What the broker says about one symbol right now.
#[derive(Debug, Clone, Default)]
pub struct Market {
    pub bars: Vec<Bar>,
    pub trade: Option<LastTrade>,
    /// Signed shares the account holds (the person's too, on a shared account).
    pub broker: Qty,
    /// Signed shares the bot holds by its own fills ledger.
    pub own: Qty,
    /// Shares still to fill on the bot's working orders, per side.
    pub open_buy: Qty,
    pub open_sell: Qty,
    /// The same over every working order in the account (a person's too).
    pub any_open_buy: Qty,
    pub any_open_sell: Qty,
    /// Of those, the shares on orders beside which Alpaca refuses a market order of the
    /// other side as a wash trade ([`crate::broker::Order::blocks_opposite_market_order`]:
    /// multi-leg orders and trailing stops are exempt).
    pub wash_buy: Qty,
    pub wash_sell: Qty,
}

impl Market {
    /// The position the bot decides and sizes on: its own shares (on a shared account the
    /// fills ledger's, never the person's), counting its working orders so that an order
    /// still working is never sent again.
    pub fn effective(&self, shared_account: bool) -> Qty {
        let held = if shared_account {
            self.own
        } else {
            self.broker
        };
        held + self.open_buy - self.open_sell
    }

    /// Any order works on the symbol, the person's included.
    pub fn working(&self) -> bool {
        self.any_open_buy.is_positive() || self.any_open_sell.is_positive()
    }

    /// One of the bot's own orders still works on the symbol. What the bot waits for before
    /// a flatten or a reversal's open leg: a person's standing order (a take-profit) may never
    /// end, and an opposite one is refused as a wash trade anyway.
    pub fn own_working(&self) -> bool {
        self.open_buy.is_positive() || self.open_sell.is_positive()
    }
}

/// Everything the tick read from the broker (and the kill-switch file) before deciding.
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    /// The broker's clock.
    pub now: DateTime<Utc>,
    pub timeframe: Timeframe,
    /// The data feed, named when a symbol has no latest trade.
    pub feed: &'a str,
    /// `[risk] shared_account`: the person trades the account too.
    pub shared_account: bool,
    /// The account's equity.
    pub equity: f64,
    /// The kill-switch file exists.
    pub stop_file: bool,
    /// The daily loss limit is hit with `flatten_on_daily_loss` (and no kill switch): each
    /// symbol's one order this tick is the one that closes it.
    pub flatten: bool,
    /// The session's close by the broker's clock.
    pub next_close: Option<DateTime<Utc>>,
    /// Why the close is not known well enough for the close-margin guard, when it is not:
    /// every order is refused.
    pub close_unknown: Option<String>,
    /// Client ids of the bot's orders that ended unfilled: a day's flatten among them is sent
    /// again under its next id.
    pub flattens_ended_unfilled: &'a HashSet<String>,
    /// The configured symbols, in config order, with their markets.
    pub symbols: Vec<(Rules<'a>, Market)>,
}

/// One row of decisions.csv, before formatting.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub bar_time: Option<DateTime<Utc>>,
    pub price: Option<f64>,
    /// Signed position before the order, counting working orders.
    pub position: Qty,
    pub signal: Signal,
    pub action: Action,
    pub order: Option<(Qty, ClientOrderId)>,
    pub reason: String,
}

/// An order that passed every guard when planned.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub side: Side,
    pub qty: Qty,
    pub client_id: ClientOrderId,
    /// The latest trade the order was decided and checked on.
    pub price: f64,
    /// The decision row, `action` [`Action::Order`] or [`Action::Flatten`].
    pub row: Row,
    /// A reversal's open leg, to go out in this tick if the close (this order) fills at once:
    /// already checked by every guard on the flat position the close leaves.
    pub then: Option<Box<Step>>,
    /// The same open leg, to wait in the state if the close is accepted but not yet filled.
    pub leg: Option<PendingLeg>,
}

/// One symbol's part of the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing to send: the row says why, the summary says it in a few words.
    Row { row: Row, summary: String },
    /// One order to send.
    Send(Checked),
}

/// What a tick decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// One step per configured symbol, in config order.
    pub steps: Vec<(String, Step)>,
    /// The reversal legs still waiting after this tick, if its orders go as planned (a new
    /// leg is added by execution once its close is accepted).
    pub pending_legs: Vec<PendingLeg>,
}

/// Decide the tick: every symbol's step, in config order. Orders count against
/// `max_orders_per_day` as they are planned, so a later symbol sees the earlier ones' (and a
/// reversal's open leg sees its close's), as the tick counts them at their intent. An open
/// leg planned for this tick counts even if its close does not fill at once and it waits:
/// the count errs on the side of fewer orders.
pub fn plan(snapshot: &Snapshot<'_>, state: &State, limits: &Limits) -> Plan {
    let mut planner = symbol::Planner {
        snapshot,
        limits,
        intents: state,
        risk: state.risk.clone(),
        pending_legs: state.pending_legs.clone(),
    };
    let steps = snapshot
        .symbols
        .iter()
        .map(|(rules, market)| (rules.name.to_string(), planner.symbol(rules, market)))
        .collect();
    Plan {
        steps,
        pending_legs: planner.pending_legs,
    }
}

#[cfg(test)]
mod tests;

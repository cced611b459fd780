//! One symbol's step: the strategy's decision becomes legs, each order passes every guard. A
//! reversal's open leg waits for its close; a daily-loss flatten replaces the strategy's order.

use super::{Action, Checked, LastTrade, Market, Row, Rules, Snapshot, Step};
use crate::domain::{ClientOrderId, Qty, Side, Signal};
use crate::legs::{self, PendingLeg};
use crate::risk::{self, Limits, Proposed, RiskState};
use crate::store::ledger::time_cell;
use crate::store::State;
use chrono::{DateTime, Utc};
use chrono_tz::America::New_York;

/// An order the planner means to send, before the guards.
struct Planned {
    side: Side,
    qty: Qty,
    client_id: ClientOrderId,
    /// Signed position before the order, counting working orders.
    position: Qty,
    bar_time: Option<DateTime<Utc>>,
    signal: Signal,
    action: Action,
    reason: String,
}

pub(super) struct Planner<'a> {
    pub(super) snapshot: &'a Snapshot<'a>,
    pub(super) limits: &'a Limits,
    /// For the intents still without a known outcome.
    pub(super) intents: &'a State,
    /// The state's risk counters, with this tick's planned orders counted.
    pub(super) risk: RiskState,
    pub(super) pending_legs: Vec<PendingLeg>,
}

impl Planner<'_> {
    pub(super) fn symbol(&mut self, rules: &Rules<'_>, market: &Market) -> Step {
        let name = rules.name;
        let now = self.snapshot.now;
        let effective = market.effective(self.snapshot.shared_account);
        let bar_time = market.bars.last().map(|b| b.time);
        let hold = |action: Action, reason: String| Row {
            bar_time,
            price: market.trade.map(|t| t.price),
            position: effective,
            signal: Signal::Hold,
            action,
            order: None,
            reason,
        };
        let Some(trade) = market.trade else {
            let reason = format!(
                "no latest trade for {name} on the {} feed; not trading on missing data",
                self.snapshot.feed
            );
            return Step::Row {
                row: hold(Action::Refused, reason),
                summary: format!("{name} refused (no price)"),
            };
        };
        if let Some(intent) = self.intents.intents.iter().find(|i| i.symbol == name) {
            let reason = format!(
                "order {} from an earlier tick has no known outcome yet: no new order for {name} \
                 until the broker shows it or it is proven absent",
                intent.client_order_id
            );
            return Step::Row {
                row: hold(Action::Refused, reason),
                summary: format!("{name} waiting (an earlier order's outcome is unknown)"),
            };
        }
        if self.snapshot.flatten {
            return self.flatten(rules, market, trade);
        }
        let decision = rules
            .strategy
            .decide(&market.bars, trade.price, effective.to_f64());
        let reason = decision.why.to_string();
        let Some(side) = decision.signal.side() else {
            if let Some(leg) = self.pending_leg(name) {
                return self.open_leg(rules, market, trade, leg);
            }
            return Step::Row {
                row: hold(Action::Hold, reason),
                summary: format!("{name} hold"),
            };
        };
        let tf = self.snapshot.timeframe;
        // What caused the order: the bar it was decided on, or, for a rule that decides on the
        // latest trade (`threshold`), this tick's minute. Keyed on a bar, a re-entry decided on
        // a new trade while IEX sends no new bar would reuse the first entry's id: Alpaca
        // refuses it as a duplicate and the new order is never sent.
        let tick_minute = super::floor_to(now, tf) - tf.duration();
        let key_time = match bar_time {
            Some(t) if rules.strategy.bars_needed() > 0 => t,
            _ => tick_minute,
        };
        let client_id =
            match ClientOrderId::decision(name, tf, key_time, rules.strategy.tag(), side) {
                Ok(id) => id,
                Err(e) => return id_refused(hold(Action::Refused, e.to_string()), name),
            };
        if let Some(leg) = self
            .pending_leg(name)
            .filter(|l| l.close_client_order_id == client_id)
        {
            // The same decision seen again (a second tick on the same bar): its close is sent,
            // so the position already counts as flat and the decision would read as a fresh
            // opening with the close's own id. The leg goes on waiting for its close instead.
            return self.open_leg(rules, market, trade, leg);
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
            rules
                .sizing
                .shares(trade.price, self.snapshot.equity, rules.fractional),
            rules.fractional,
        )
        .unwrap_or_default();
        let legs = legs::split(side, effective, entry, rules.strategy.allows_short());
        let (qty, open_after) = match (legs.close, legs.open) {
            (Some(close), open) => (close, open),
            (None, open) => (open.unwrap_or_default(), None),
        };
        let leg = match open_after {
            Some(open_qty) => match ClientOrderId::reversal_open(&client_id) {
                Ok(open_id) => Some(PendingLeg {
                    symbol: name.to_string(),
                    side,
                    qty: open_qty,
                    client_order_id: open_id,
                    close_client_order_id: client_id.clone(),
                    bar_time: key_time,
                    day: now.with_timezone(&New_York).date_naive(),
                    reason: reason.clone(),
                }),
                Err(e) => return id_refused(hold(Action::Refused, e.to_string()), name),
            },
            None => None,
        };
        let planned = Planned {
            side,
            qty,
            client_id,
            position: effective,
            bar_time,
            signal: decision.signal,
            action: Action::Order,
            reason: if leg.is_some() {
                format!("{reason}; reversal: close first, open once the close has filled")
            } else {
                reason
            },
        };
        let step = self.check(rules, market, trade, planned);
        match (step, leg) {
            (Step::Send(mut close), Some(leg)) => {
                // If the close fills at once, the open leg goes out in this tick, on the flat
                // position the close leaves; otherwise it waits in the state.
                let flat = Market {
                    broker: market.broker - signed(close.qty, close.side),
                    own: market.own - signed(close.qty, close.side),
                    ..market.clone()
                };
                let mut then = self.leg_order(&leg, Qty::ZERO);
                then.reason = format!("{}; the close filled at once", then.reason);
                close.then = Some(Box::new(self.check(rules, &flat, trade, then)));
                close.leg = Some(leg);
                Step::Send(close)
            }
            (step, _) => step,
        }
    }

    /// The waiting open leg of a reversal on `name`, if any.
    fn pending_leg(&self, name: &str) -> Option<PendingLeg> {
        self.pending_legs.iter().find(|l| l.symbol == name).cloned()
    }

    fn take_pending_leg(&mut self, name: &str) -> Option<PendingLeg> {
        let at = self.pending_legs.iter().position(|l| l.symbol == name)?;
        Some(self.pending_legs.remove(at))
    }

    /// A reversal's open leg as an order from `position`.
    fn leg_order(&self, leg: &PendingLeg, position: Qty) -> Planned {
        Planned {
            side: leg.side,
            qty: leg.qty,
            client_id: leg.client_order_id.clone(),
            position,
            bar_time: Some(leg.bar_time),
            signal: signal_of(leg.side),
            action: Action::Order,
            reason: format!(
                "open leg of the reversal decided on the {} bar: {}",
                time_cell(leg.bar_time),
                leg.reason
            ),
        }
    }

    /// The second leg of a reversal waiting from an earlier tick: sent once the close has
    /// filled and nothing works on the symbol, as an opening order through every guard;
    /// dropped if the close did not take the position to zero, or if its trading day is over.
    fn open_leg(
        &mut self,
        rules: &Rules<'_>,
        market: &Market,
        trade: LastTrade,
        leg: PendingLeg,
    ) -> Step {
        let name = rules.name;
        let effective = market.effective(self.snapshot.shared_account);
        let today = self.snapshot.now.with_timezone(&New_York).date_naive();
        let dropped = if leg.day != today {
            Some(format!(
                "reversal dropped: its open leg was decided on {} and not sent that day",
                leg.day
            ))
        } else if market.own_working() {
            return self.hold(
                rules,
                market,
                format!(
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
        if let Some(why) = dropped {
            log::warn!("{name}: {why}");
            return self.hold(rules, market, why);
        }
        let planned = self.leg_order(&leg, effective);
        self.check(rules, market, trade, planned)
    }

    /// The daily loss limit is hit with `flatten_on_daily_loss`: this symbol's one order this
    /// tick is the one that closes its position, sized on the position as it stands after every
    /// working order; nothing is sent while an order still works (the next tick sees its
    /// result). Keyed by the day, so it is sent once per day per symbol.
    fn flatten(&mut self, rules: &Rules<'_>, market: &Market, trade: LastTrade) -> Step {
        let name = rules.name;
        self.take_pending_leg(name);
        let effective = market.effective(self.snapshot.shared_account);
        if market.own_working() {
            return self.hold(
                rules,
                market,
                "daily loss limit reached: flattening once the working orders are done".into(),
            );
        }
        if effective.is_zero() {
            return self.hold(
                rules,
                market,
                "daily loss limit reached: already flat".into(),
            );
        }
        let side = if effective.is_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        let day = self.snapshot.now.with_timezone(&New_York).date_naive();
        let first =
            match ClientOrderId::daily_loss_flatten(name, self.snapshot.timeframe, day, side) {
                Ok(id) => id,
                Err(e) => return self.hold_refused(rules, market, e.to_string()),
            };
        // Once per day, unless the day's flatten ended unfilled (canceled in the app, rejected
        // after acceptance): then the next attempt, with its own id. A filled one is never
        // retried: a position that lags behind its fill must not be sold twice.
        let mut client_id = first.clone();
        let mut attempt = 1;
        while self
            .snapshot
            .flattens_ended_unfilled
            .contains(client_id.as_str())
        {
            attempt += 1;
            client_id = match ClientOrderId::flatten_retry(&first, attempt) {
                Ok(id) => id,
                Err(e) => return self.hold_refused(rules, market, e.to_string()),
            };
        }
        let planned = Planned {
            side,
            qty: effective.abs(),
            client_id,
            position: effective,
            bar_time: market.bars.last().map(|b| b.time),
            signal: signal_of(side),
            action: Action::Flatten,
            reason: "daily loss limit reached: flattening (flatten_on_daily_loss = true)".into(),
        };
        self.check(rules, market, trade, planned)
    }

    fn hold(&self, rules: &Rules<'_>, market: &Market, reason: String) -> Step {
        Step::Row {
            row: self.row(market, Action::Hold, reason),
            summary: format!("{} hold", rules.name),
        }
    }

    fn hold_refused(&self, rules: &Rules<'_>, market: &Market, reason: String) -> Step {
        id_refused(self.row(market, Action::Refused, reason), rules.name)
    }

    fn row(&self, market: &Market, action: Action, reason: String) -> Row {
        Row {
            bar_time: market.bars.last().map(|b| b.time),
            price: market.trade.map(|t| t.price),
            position: market.effective(self.snapshot.shared_account),
            signal: Signal::Hold,
            action,
            order: None,
            reason,
        }
    }

    /// Check one planned order against every guard: a step that sends it, or the row that
    /// records its refusal.
    fn check(
        &mut self,
        rules: &Rules<'_>,
        market: &Market,
        trade: LastTrade,
        mut planned: Planned,
    ) -> Step {
        let name = rules.name;
        let side = planned.side;
        if let Some(cap) = self.shared_account_cap(market, &planned) {
            planned
                .reason
                .push_str(&format!("; capped at the {cap} shares the account holds"));
            planned.qty = cap;
        }
        let row = |planned: &Planned, action: Action, reason: String| Row {
            bar_time: planned.bar_time,
            price: Some(trade.price),
            position: planned.position,
            signal: planned.signal,
            action,
            order: Some((planned.qty, planned.client_id.clone())),
            reason,
        };
        if let Some(why) = self.refusal(rules, market, &planned, trade) {
            let full = format!("{}; refused: {why}", planned.reason);
            return Step::Row {
                row: row(&planned, Action::Refused, full),
                summary: format!("{name} {side} refused ({why})"),
            };
        }
        // Counted at its intent, as the desk counts it: a later order of this tick sees it.
        self.risk.orders_today += 1;
        Step::Send(Checked {
            side,
            qty: planned.qty,
            client_id: planned.client_id.clone(),
            price: trade.price,
            row: row(&planned, planned.action, planned.reason.clone()),
            then: None,
            leg: None,
        })
    }

    /// On a shared account a closing order sells (or covers) only what the account still
    /// holds on the bot's side: the bot's ledger may say more if the person sold some.
    fn shared_account_cap(&self, market: &Market, planned: &Planned) -> Option<Qty> {
        if !self.snapshot.shared_account {
            return None;
        }
        let after = planned.position + signed(planned.qty, planned.side);
        let reduces = after.abs() < planned.position.abs();
        let holding = match planned.side {
            Side::Sell => market.broker.max(Qty::ZERO),
            Side::Buy => (-market.broker).max(Qty::ZERO),
        };
        (reduces && planned.qty > holding).then_some(holding)
    }

    /// The first reason not to send this order, in words, if any.
    fn refusal(
        &self,
        rules: &Rules<'_>,
        market: &Market,
        planned: &Planned,
        trade: LastTrade,
    ) -> Option<String> {
        let name = rules.name;
        let snapshot = self.snapshot;
        let proposed = Proposed {
            side: planned.side,
            qty: planned.qty,
            price: trade.price,
            position: planned.position,
        };
        if snapshot.shared_account {
            // The person's part of the position: the bot must never trade it, and an opening
            // order against it would sell (or cover) the person's shares rather than open.
            let person = market.broker - market.own;
            let against_person = match planned.side {
                Side::Sell => person.is_positive(),
                Side::Buy => person.is_negative(),
            };
            if proposed.opens() && against_person && planned.position.abs() < planned.qty {
                return Some(format!(
                    "the account also holds {person} {name} that are not the bot's: a {} would trade the person's shares",
                    planned.side
                ));
            }
        } else if !market.working() && market.own != market.broker {
            return Some(format!(
                "the broker holds {} {name} but the bot's fills ledger says {}; run `prometheus-bot reconcile` \
                 (or set shared_account = true in [risk] if you also trade this account by hand)",
                market.broker, market.own
            ));
        }
        if let Some(why) = &snapshot.close_unknown {
            return Some(why.clone());
        }
        let opposite_open = match planned.side {
            Side::Buy => market.wash_sell,
            Side::Sell => market.wash_buy,
        };
        if opposite_open.is_positive() {
            return Some(format!(
                "an opposite {} order for {opposite_open} shares is still open (Alpaca refuses it as a wash trade)",
                opposite(planned.side)
            ));
        }
        let now = snapshot.now;
        let last_bar = market.bars.last().map(|b| b.time);
        let cx = risk::Context {
            limits: self.limits,
            state: &self.risk,
            stop_file: snapshot.stop_file,
            price_age_secs: (now - trade.time).num_seconds(),
            missing_bars: super::missing_bars(last_bar, now, snapshot.timeframe),
            needs_bars: rules.strategy.bars_needed() > 0,
            last_bar,
            secs_to_close: snapshot.next_close.map(|close| (close - now).num_seconds()),
        };
        risk::check(&proposed, &cx).err().map(|r| r.to_string())
    }
}

/// An id over Alpaca's limit: the symbol cannot trade (Alpaca would refuse every order).
fn id_refused(row: Row, name: &str) -> Step {
    Step::Row {
        summary: format!("{name} refused ({})", row.reason),
        row,
    }
}

/// `qty` as a signed change of position: + for a buy, − for a sell.
fn signed(qty: Qty, side: Side) -> Qty {
    match side {
        Side::Buy => qty,
        Side::Sell => -qty,
    }
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

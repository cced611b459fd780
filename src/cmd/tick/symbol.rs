//! One symbol's part of a tick: the strategy's decision becomes legs, each planned order
//! passes every guard, then the desk sends it exactly once. A reversal's open leg waits here
//! for its close; a daily-loss flatten replaces the strategy's order.

use super::rows::Decided;
use super::{bars, Shared, Tick};
use crate::alpaca::wire::Trade;
use crate::alpaca::OrderRequest;
use crate::client_order_id;
use crate::config::SymbolConfig;
use crate::domain::{Bar, ClientOrderId, Qty, Side, Signal};
use crate::error::{Error, Result};
use crate::legs::{self, PendingLeg};
use crate::orders::Placed;
use crate::risk::{self, Proposed};
use crate::store::ledger::time_cell;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::America::New_York;

/// What the broker says about one symbol right now.
pub(super) struct Market {
    pub(super) bars: Vec<Bar>,
    pub(super) trade: Option<Trade>,
    /// Signed shares the account holds (the person's too, on a shared account).
    pub(super) broker: Qty,
    /// Signed shares the bot holds by its own fills ledger.
    pub(super) own: Qty,
    /// Shares still to fill on the bot's working orders, per side.
    pub(super) open_buy: Qty,
    pub(super) open_sell: Qty,
    /// The same over every working order in the account (a person's too).
    pub(super) any_open_buy: Qty,
    pub(super) any_open_sell: Qty,
}

impl Market {
    /// The position the bot decides and sizes on: its own shares (on a shared account the
    /// fills ledger's, never the person's), counting its working orders so that an order
    /// still working is never sent again.
    pub(super) fn effective(&self, shared_account: bool) -> Qty {
        let held = if shared_account {
            self.own
        } else {
            self.broker
        };
        held + self.open_buy - self.open_sell
    }

    pub(super) fn working(&self) -> bool {
        self.any_open_buy.is_positive() || self.any_open_sell.is_positive()
    }

    /// One of the bot's own orders still works on the symbol. What the bot waits for before
    /// a flatten or a reversal's open leg: a person's standing order (a take-profit) may never
    /// end, and an opposite one is refused as a wash trade anyway.
    pub(super) fn own_working(&self) -> bool {
        self.open_buy.is_positive() || self.open_sell.is_positive()
    }
}

/// One order the tick means to send, before the guards.
pub(super) struct Planned<'a> {
    pub(super) side: Side,
    pub(super) qty: Qty,
    pub(super) client_id: ClientOrderId,
    /// Signed position before the order, counting working orders.
    pub(super) position: Qty,
    pub(super) bar_time: Option<DateTime<Utc>>,
    pub(super) signal: Signal,
    /// `order` or `flatten`, for the decisions ledger.
    pub(super) action: &'a str,
    pub(super) reason: String,
}

/// What became of a planned order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    Refused,
    DryRun,
    Accepted,
    Rejected,
    Unknown,
}

impl Tick<'_> {
    pub(super) fn trade_symbol(
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
    pub(super) fn pending_leg(&self, name: &str) -> Option<PendingLeg> {
        self.state
            .pending_legs
            .iter()
            .find(|l| l.symbol == name)
            .cloned()
    }

    pub(super) fn take_pending_leg(&mut self, name: &str) -> Option<PendingLeg> {
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
    pub(super) fn open_leg(
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

    /// The daily loss limit is hit with `flatten_on_daily_loss`: this symbol's one order this
    /// tick is the one that closes its position, sized on the position as it stands after every
    /// working order; nothing is sent while an order still works (the next tick sees its
    /// result). Keyed by the day, so it is sent once per day per symbol.
    pub(super) fn flatten(
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
        let mut client_id = first.clone();
        let mut attempt = 1;
        while shared.flattens_ended_unfilled.contains(client_id.as_str()) {
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
    pub(super) fn order(
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
    pub(super) fn shared_account_cap(&self, market: &Market, plan: &Planned<'_>) -> Option<Qty> {
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
    pub(super) fn refusal(
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
    pub(super) fn send(&mut self, request: &OrderRequest, price: f64) -> Result<(String, Sent)> {
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

/// An id over Alpaca's limit stops the tick before any intent is saved: Alpaca would refuse
/// every order for this symbol.
fn id_refused(e: client_order_id::ClientOrderIdError) -> Error {
    Error::Refused(e.to_string())
}

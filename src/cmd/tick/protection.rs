//! The tick's protection step: before any other order of the tick, across all symbols, every
//! open position gets the stop, target or OCO its `[[symbol]]` asks for, resting at the
//! broker (a missing one is put back: the repair after a crash between an entry's fill and its
//! stop). Neither the kill switch nor a drawdown halt stops it: protecting is not trading.
//! What to place is decided by [`crate::plan::protect`]; this file carries it out, and cancels
//! a symbol's protection (waiting for the broker to confirm) before the strategy's own order
//! for that symbol, because the resting stop holds the shares (Alpaca: 403 "insufficient qty")
//! and a standalone stop beside a buy is a wash trade.

use super::Tick;
use crate::broker::OrderKind;
use crate::broker::{Order, Position};
use crate::client_order_id;
use crate::domain::LastTrade;
use crate::error::Result;
use crate::fills::Summary;
use crate::orders::Placed;
use crate::plan::protect::{protect, replacement, Held, Resting};
use std::collections::HashMap;
use std::time::Duration;

/// How many times a canceled order is read back before the tick gives up waiting for its
/// `canceled` (Alpaca moves it through `pending_cancel` asynchronously), and the pause
/// between reads. A cancel not confirmed by then leaves the strategy's order to the next tick.
const CANCEL_READS: u32 = 10;

/// What canceling protective orders came to, read back from the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Canceled {
    /// Every order final with nothing filled: the position is the one the tick read.
    Clean,
    /// Some order not final yet after [`CANCEL_READS`] reads.
    Unconfirmed,
    /// Some order (or an OCO's leg) filled, in part or whole, before its cancel: the
    /// position the tick read is gone, and an order sized from it would be wrong (a sell of
    /// shares already sold is a short, or on a shared account the person's shares).
    Filled,
}
const CANCEL_PAUSE: Duration = Duration::from_millis(200);

impl Tick<'_> {
    /// Place every missing protection, cancel what no longer fits; remember what rests per
    /// symbol (for a strategy exit to cancel) and which positions stay unprotected.
    pub(super) fn protect_positions(
        &mut self,
        positions: &[Position],
        open: &[Order],
        recorded: &Summary,
        trades: &HashMap<String, LastTrade>,
        close: &super::symbol::CloseClock,
    ) -> Result<Vec<String>> {
        let mut said = Vec::new();
        self.state.ops.unprotected.clear();
        let config = self.config;
        for symbol in &config.symbols {
            let name = symbol.name.as_str();
            let ours = |o: &&Order| o.symbol == name && !o.is_final();
            let resting: Vec<&Order> = open
                .iter()
                .filter(ours)
                .filter(|o| client_order_id::is_protective(&o.client_order_id))
                .collect();
            let trading = open.iter().filter(ours).any(|o| {
                client_order_id::is_ours(&o.client_order_id)
                    && !client_order_id::is_protective(&o.client_order_id)
            });
            let position = positions.iter().find(|p| p.symbol == name);
            let brokers_price = position.and_then(|p| p.avg_entry_price.as_ref());
            // On a shared account the broker's position and its average price include the
            // person's shares: the bot protects its own shares at its own entry price.
            let (qty, avg_entry_price) = if config.risk.shared_account {
                (
                    recorded.net_qty.get(name).copied().unwrap_or_default(),
                    recorded.entry_price.get(name).or(brokers_price),
                )
            } else {
                (position.map(|p| p.qty).unwrap_or_default(), brokers_price)
            };
            let spent = |id: &str| recorded.ended_unfilled.contains(id);
            let held = Held {
                symbol: name,
                protection: symbol.protection,
                qty,
                avg_entry_price,
                price: trades.get(name).map(|t| t.price),
                entry: recorded.last_entry.get(name),
                spent: &spent,
                resting: resting
                    .iter()
                    .map(|o| Resting {
                        id: o.id.clone(),
                        client_order_id: o.client_order_id.clone(),
                        side: o.side,
                        remaining: o.remaining_qty(),
                    })
                    .collect(),
                trading,
            };
            let todo = protect(&held);
            let mut still: Vec<Order> = resting
                .iter()
                .filter(|o| !todo.cancel.contains(&o.id))
                .map(|o| (*o).clone())
                .collect();
            if let Some(why) = &todo.unprotected {
                log::warn!("unprotected: {why}");
                self.state.ops.unprotected.insert(name.into(), why.clone());
            }
            if self.dry_run {
                if let Some(r) = &todo.place {
                    said.push(format!("{name} protect {:?} (dry run)", r.kind));
                }
                continue;
            }
            if !todo.cancel.is_empty() {
                let why = match self.cancel_confirmed(&todo.cancel)? {
                    Canceled::Clean => None,
                    Canceled::Unconfirmed => Some("its old protection's cancel is not confirmed yet"),
                    Canceled::Filled => Some(
                        "its old protection filled while it was being replaced; the next tick protects what is left",
                    ),
                };
                if let Some(why) = why {
                    self.state
                        .ops
                        .unprotected
                        .insert(name.into(), format!("{name}: {why}"));
                    continue;
                }
            }
            let Some(request) = todo.place else {
                if !still.is_empty() {
                    if let Some(again) = replacement(&held) {
                        self.replacements.insert(name.into(), again);
                    }
                }
                self.resting.insert(name.into(), still);
                continue;
            };
            let trade = trades.get(name).copied();
            let price = trade.map_or(0.0, |t| t.price);
            if request.kind == OrderKind::Market {
                // The price is already past the stop (or target): closing at market is a trade,
                // not a resting order, so the kill switch and the close margin apply to it as to
                // any order (a market order that reaches Alpaca after the bell waits for the
                // next open, at a price nobody chose).
                let refused = match self.market_close_refused(close, trade, &request, qty) {
                    None if config.risk.shared_account => self.unrecorded_split(name, recorded)?,
                    why => why,
                };
                if let Some(why) = refused {
                    let why =
                        format!("{name}: past its stop or target, not closed at market: {why}");
                    log::warn!("{why}");
                    self.alerts.push(why.clone());
                    self.state.ops.unprotected.insert(name.into(), why);
                    self.resting.insert(name.into(), still);
                    continue;
                }
                self.closed_by_protection.push(name.to_string());
            }
            let placed = self
                .desk
                .place(&mut self.state, self.now, &request, price)?;
            let word = match placed {
                Placed::Accepted { order, .. } => {
                    let word = order.status.to_string();
                    if !order.is_final() {
                        still.push(*order);
                    }
                    word
                }
                Placed::Refused(why) => {
                    self.state.ops.orders_refused += 1;
                    let why = format!("{name}: its protection was refused: {why}");
                    self.alerts.push(why.clone());
                    self.state.ops.unprotected.insert(name.into(), why);
                    "refused".into()
                }
                Placed::Unknown(why) => {
                    self.unknown_outcomes += 1;
                    self.state
                        .ops
                        .unprotected
                        .insert(name.into(), format!("{name}: {why}"));
                    "unknown".into()
                }
            };
            said.push(format!("{name} protect {} -> {word}", request.qty));
            self.resting.insert(name.into(), still);
        }
        Ok(said)
    }

    /// Put back missing protection while the market is closed, so that a stop lost to a tick
    /// killed after its entry's last-minute fill rests before the next open's auction (where
    /// gaps happen), not from the first open-market tick. Alpaca accepts stops, targets and
    /// OCOs while closed (`gtc` rests; a fractional position's `day` stop is for the next
    /// session). A price already through the stop is not closed at market while closed (see
    /// `market_close_refused`): it stays unprotected, named by `status`, until the first
    /// open-market tick closes it.
    pub(super) fn protect_closed(
        &mut self,
        positions: &[Position],
        open_orders: &[Order],
        recorded: &Summary,
        close: &super::symbol::CloseClock,
    ) -> Result<()> {
        if !self.config.symbols.iter().any(|s| s.protection.any()) {
            return Ok(());
        }
        let names = self.config.symbol_names();
        let trades = self.client.latest_trades(&names)?;
        for said in self.protect_positions(positions, open_orders, recorded, &trades, close)? {
            log::info!("{said}");
        }
        Ok(())
    }

    /// Why a market close of a position past its stop may not be sent now: a closed market, a
    /// close the clock does not tell (a stale `is_open` after the bell), or any guard
    /// [`crate::risk::check`] applies to a reduction (the kill switch, a drawdown halt, the
    /// close margin measured now, a latest trade older than `max_price_age_secs`): it is a
    /// trade like any other, checked by the same code as the strategy's orders.
    fn market_close_refused(
        &self,
        close: &super::symbol::CloseClock,
        trade: Option<LastTrade>,
        request: &crate::broker::OrderRequest,
        position: crate::domain::Qty,
    ) -> Option<String> {
        if !close.open {
            return Some(
                "the market is closed (a market order would wait for the open, at a price nobody chose)"
                    .into(),
            );
        }
        if let Some(why) = &close.unknown {
            return Some(why.clone());
        }
        let now = self.now + chrono::Duration::from_std(close.read.elapsed()).unwrap_or_default();
        let order = crate::risk::Proposed {
            side: request.side,
            qty: request.qty,
            price: trade.map_or(0.0, |t| t.price),
            position,
        };
        let cx = crate::risk::Context {
            limits: &self.config.risk.limits,
            state: &self.state.risk,
            stop_file: self.config.bot.data_dir.join("STOP").exists(),
            // "Passed" was read from this trade: an old one (IEX goes quiet) may no longer be
            // the price. No trade at all is never fresh.
            price_age_secs: trade.map_or(i64::MAX, |t| (self.now - t.time).num_seconds()),
            missing_bars: None,
            needs_bars: false,
            last_bar: None,
            secs_to_close: close.next_close.map(|c| (c - now).num_seconds()),
        };
        crate::risk::check(&order, &cx).err().map(|r| r.to_string())
    }

    /// On a shared account the stop's level is the bot's own average entry from fills.csv.
    /// A split booked since that average was based (the position opened, or an adjustment was
    /// recorded: `reconcile --repair`, with `--adjust` on a shared account) leaves that
    /// average the price from before the split, and the price then looks far through the
    /// stop (half of it after a 2-for-1): the market close would sell on a fall that never
    /// happened. Asked only then (one request, a whole read of fills.csv), as it is rare.
    fn unrecorded_split(&self, symbol: &str, recorded: &Summary) -> Result<Option<String>> {
        let Some(&opened) = recorded.based_at.get(symbol) else {
            return Ok(None);
        };
        let opened_day = opened
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive();
        let known = self.fills.recorded()?;
        let missing = self.client.split_activities(opened)?.into_iter().find(|s| {
            s.symbol.as_deref() == Some(symbol)
                && !known.activity_ids.contains(&s.id)
                && s.day.is_none_or(|day| day > opened_day)
        });
        Ok(missing.map(|s| {
            format!(
                "a split booked {} is not in fills.csv, so the bot's own entry price is from before it (confirm the bot's shares: `prometheus-bot reconcile --repair --adjust {symbol}=SHARES`)",
                s.date
            )
        }))
    }

    /// Cancel `symbol`'s resting protection before a strategy order, and see it canceled.
    /// Anything but [`Canceled::Clean`] and the order waits for the next tick; after a fill
    /// there is also nothing to put back ([`Tick::reprotect`]).
    pub(super) fn unprotect_for_order(&mut self, symbol: &str) -> Result<Canceled> {
        let ids: Vec<String> = self
            .resting
            .remove(symbol)
            .unwrap_or_default()
            .into_iter()
            .map(|o| o.id)
            .collect();
        if ids.is_empty() {
            return Ok(Canceled::Clean);
        }
        let canceled = self.cancel_confirmed(&ids)?;
        if canceled == Canceled::Filled {
            self.replacements.remove(symbol);
        }
        Ok(canceled)
    }

    /// Put `symbol`'s protection back after the strategy's order, for which it was canceled,
    /// was refused: the position would otherwise wait for the next tick with no stop, every
    /// minute the refusal lasts. `price` is the latest trade, for the orders ledger. What it
    /// says, for the tick's summary.
    pub(super) fn reprotect(&mut self, symbol: &str, price: f64) -> Result<Option<String>> {
        let Some(request) = self.replacements.remove(symbol) else {
            return Ok(None);
        };
        let word = match self
            .desk
            .place(&mut self.state, self.now, &request, price)?
        {
            Placed::Accepted { order, .. } => {
                if !order.is_final() {
                    self.resting.insert(symbol.into(), vec![*order.clone()]);
                }
                self.state.ops.unprotected.remove(symbol);
                order.status.to_string()
            }
            Placed::Refused(why) => {
                self.state.ops.orders_refused += 1;
                let why = format!("{symbol}: its protection was refused: {why}");
                self.alerts.push(why.clone());
                self.state.ops.unprotected.insert(symbol.into(), why);
                "refused".into()
            }
            Placed::Unknown(why) => {
                self.unknown_outcomes += 1;
                let why = format!("{symbol}: {why}");
                self.state.ops.unprotected.insert(symbol.into(), why);
                "unknown".into()
            }
        };
        Ok(Some(format!(
            "{symbol} protect {} again -> {word}",
            request.qty
        )))
    }

    /// Cancel every order and read each back until it is final (an OCO parent's cancel
    /// takes its leg with it, and its read nests the leg): a cancel can race a fill, so each
    /// final order, and each leg, is checked for filled shares.
    fn cancel_confirmed(&mut self, ids: &[String]) -> Result<Canceled> {
        for id in ids {
            self.client.cancel_order(id)?;
        }
        let mut filled = false;
        for id in ids {
            let mut reads = 0;
            loop {
                let order = self.client.order(id)?;
                if order.is_final() {
                    let any_filled = std::iter::once(&order)
                        .chain(&order.legs)
                        .any(|o| o.filled_qty.is_positive());
                    if any_filled {
                        log::warn!(
                            "{}: protective order {id} filled before its cancel",
                            order.symbol
                        );
                    }
                    filled |= any_filled;
                    break;
                }
                reads += 1;
                if reads >= CANCEL_READS {
                    log::warn!("order {id}: cancel requested but not confirmed yet");
                    return Ok(Canceled::Unconfirmed);
                }
                std::thread::sleep(CANCEL_PAUSE);
            }
        }
        Ok(if filled {
            Canceled::Filled
        } else {
            Canceled::Clean
        })
    }
}

//! Protection held by the broker: which stop, target or OCO a position needs, and what to
//! cancel first. Pure: the tick gathers the inputs and executes the answer before any other
//! order of the tick, across all symbols.
//!
//! Protecting is not trading: a protective order never counts as a new position or against
//! `max_orders_per_day`, and the kill switch and a drawdown halt neither stop nor cancel it
//! (they stop the strategy's orders; a position they leave open is exactly what needs a stop).
//!
//! Time in force: `gtc` for whole shares, so the stop already rests for the next session's
//! opening auction, before any tick has run (a `day` stop would leave every open unprotected
//! until the first tick, the moment a gap hurts most). Alpaca refuses fractional orders that
//! are not `day`, so a fractional position gets a `day` stop, which expires at the close and is
//! put back by the next session's first tick under the next attempt's id.

use crate::client_order_id::ClientOrderId;
use crate::decimal::Decimal;
use crate::domain::{Qty, Side};
use crate::order_kind::{OrderKind, OrderRequest, TimeInForce};

/// What the broker holds for an open position of one symbol, in percent of the broker's
/// `avg_entry_price` (`2.0` = 2 %); all `None` is no protection. Checked by the config
/// (`stop_loss_pct`, `take_profit_pct`, `trailing_stop_pct`): only shapes Alpaca can hold for
/// one position reach here.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Protection {
    /// A plain `stop` (never `stop_limit`: a gap must not skip it) this far against the entry.
    pub stop_loss_pct: Option<f64>,
    /// A `limit` this far in favour of the entry, paired with the stop when both are set.
    pub take_profit_pct: Option<f64>,
    /// A `trailing_stop` with `trail_percent`, instead of `stop_loss_pct`.
    pub trailing_stop_pct: Option<f64>,
}

impl Protection {
    /// Anything to hold at the broker?
    pub fn any(&self) -> bool {
        self.stop_loss_pct.is_some()
            || self.take_profit_pct.is_some()
            || self.trailing_stop_pct.is_some()
    }
}

/// One of the bot's protective orders working at the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Resting {
    /// The broker's id.
    pub id: String,
    pub client_order_id: String,
    pub side: Option<Side>,
    /// Shares still to fill.
    pub remaining: Qty,
}

/// A protective order to place: the broker port's request itself.
pub type Protective = OrderRequest;

/// What the tick knows of one symbol's position and its protection.
#[derive(Clone)]
pub struct Held<'a> {
    pub symbol: &'a str,
    pub protection: Protection,
    /// Signed shares to protect (the broker's, or the bot's own on a shared account).
    pub qty: Qty,
    /// The average entry price the percentages apply to: the broker's, or on a shared account
    /// the bot's own from its fills (the broker's also averages the person's shares in; it is
    /// used only when no fill gives the bot's, as for shares an adjustment brought).
    pub avg_entry_price: Option<&'a Decimal>,
    /// The latest trade, to see a stop the price has already passed.
    pub price: Option<f64>,
    /// The entry the position comes from (the fills ledger's last opening execution).
    pub entry: Option<&'a ClientOrderId>,
    /// Is this client id spent (ended unfilled): a new attempt needs the next one.
    pub spent: &'a dyn Fn(&str) -> bool,
    /// The bot's protective orders working on the symbol.
    pub resting: Vec<Resting>,
    /// One of the bot's own entries or exits still works on the symbol: protection waits for
    /// it, as a stop beside a working sell would need the same shares twice.
    pub trading: bool,
}

/// What to do for one symbol: cancel (and see canceled) these orders first, then place.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Protect {
    /// Broker order ids of protective orders that no longer fit (another size, a flat
    /// position, protection no longer configured).
    pub cancel: Vec<String>,
    pub place: Option<Protective>,
    /// Why the position is not protected after this, for `status` and the metrics file.
    pub unprotected: Option<String>,
}

/// Attempts at one entry's protection (`-p1` … `-pN`). Each attempt that ends unfilled spends
/// its id, and an exit the broker refuses every minute spends one a minute (its protection is
/// canceled for it, then put back): 100,000 is about 256 sessions of that, where 1,000 gave up
/// protecting the position after two and a half days.
const MAX_ATTEMPTS: u32 = 100_000;

/// Decide one symbol's protection.
pub fn protect(h: &Held<'_>) -> Protect {
    let mut out = Protect::default();
    let all_resting = || h.resting.iter().map(|o| o.id.clone()).collect::<Vec<_>>();
    if !h.protection.any() || h.qty.is_zero() {
        // A stop left behind by a closed position would open a short when it triggers.
        out.cancel = all_resting();
        return out;
    }
    let side = if h.qty.is_positive() {
        Side::Sell
    } else {
        Side::Buy
    };
    let shares = h.qty.abs();
    let fits = |o: &Resting| o.side == Some(side) && o.remaining == shares;
    if h.resting.len() == 1 && h.resting.iter().all(fits) {
        return out;
    }
    out.cancel = all_resting();
    if h.trading {
        out.unprotected = Some(format!(
            "{}: waiting for the bot's working order before placing its protection",
            h.symbol
        ));
        return out;
    }
    match request(h, side, shares) {
        Ok(r) => out.place = Some(r),
        Err(why) => out.unprotected = Some(format!("{}: {why}", h.symbol)),
    }
    out
}

/// What to place again when the resting protection was canceled for an order of the
/// strategy that the broker then refused: the same protection, under the entry's next
/// attempt id (the canceled one's is spent at the broker), so the position does not wait a
/// tick unprotected. `None` when nothing is to be held, or when the price is through a level
/// (a market close is the next tick's to decide, on fresh data).
pub fn replacement(h: &Held<'_>) -> Option<Protective> {
    if !h.protection.any() || h.qty.is_zero() {
        return None;
    }
    let side = if h.qty.is_positive() {
        Side::Sell
    } else {
        Side::Buy
    };
    request(h, side, h.qty.abs())
        .ok()
        .filter(|r| r.kind != OrderKind::Market)
}

fn request(h: &Held<'_>, side: Side, shares: Qty) -> Result<Protective, String> {
    let p = h.protection;
    let avg = h
        .avg_entry_price
        .map(Decimal::to_f64)
        .filter(|a| *a > 0.0)
        .ok_or("the broker gives no average entry price to set the stop from")?;
    let found;
    let entry = match h.entry {
        Some(e) => e,
        None => {
            let text = h.avg_entry_price.map_or("", |d| d.as_str());
            found =
                ClientOrderId::found_position(h.symbol, side, text).map_err(|e| e.to_string())?;
            &found
        }
    };
    let resting_ids: Vec<&str> = h
        .resting
        .iter()
        .map(|o| o.client_order_id.as_str())
        .collect();
    let id = (1..=MAX_ATTEMPTS)
        .map(|n| ClientOrderId::protection(entry, n))
        .find(|id| match id {
            Ok(id) => !(h.spent)(id.as_str()) && !resting_ids.contains(&id.as_str()),
            Err(_) => true,
        })
        .ok_or("100,000 protective orders for one entry ended unfilled")?
        .map_err(|e| e.to_string())?;
    // Against the position: below the entry for a long, above it for a short.
    let against = |pct: f64| match side {
        Side::Sell => avg * (1.0 - pct / 100.0),
        Side::Buy => avg * (1.0 + pct / 100.0),
    };
    let favour = |pct: f64| match side {
        Side::Sell => avg * (1.0 + pct / 100.0),
        Side::Buy => avg * (1.0 - pct / 100.0),
    };
    let whole = !shares.to_string().contains('.');
    let mut r = Protective {
        symbol: h.symbol.to_string(),
        side,
        qty: shares,
        client_order_id: id,
        kind: OrderKind::Market,
        time_in_force: if whole {
            TimeInForce::Gtc
        } else {
            TimeInForce::Day
        },
    };
    let stop = p.stop_loss_pct.map(|pct| price(against(pct)));
    if let (Some(stop), Some(now)) = (&stop, h.price) {
        let passed = match side {
            Side::Sell => now <= stop.to_f64(),
            Side::Buy => now >= stop.to_f64(),
        };
        if passed {
            // The price is already through the stop (it gapped while nothing rested): a stop
            // order would be refused or fill at once; close now, under the stop's own id.
            r.time_in_force = TimeInForce::Day;
            return Ok(r);
        }
    }
    let target = p.take_profit_pct.map(|pct| price(favour(pct)));
    if let (Some(target), Some(now)) = (&target, h.price) {
        let reached = match side {
            Side::Sell => now >= target.to_f64(),
            Side::Buy => now <= target.to_f64(),
        };
        if reached {
            // A marketable target would fill at once, unseen by this tick's plan: closing at
            // market under the same id says so (the plan then sends nothing for the symbol).
            r.time_in_force = TimeInForce::Day;
            return Ok(r);
        }
    }
    r.kind = match (stop, target, p.trailing_stop_pct) {
        (Some(stop_price), Some(limit_price), _) if whole => OrderKind::Oco {
            limit_price,
            stop_price,
        },
        (Some(_), Some(_), _) => {
            return Err("Alpaca's OCO orders need whole shares; the position is fractional".into())
        }
        (Some(stop_price), None, _) => OrderKind::Stop { stop_price },
        (None, Some(limit_price), _) => OrderKind::Limit { limit_price },
        (None, None, Some(pct)) if whole => OrderKind::TrailingStop {
            trail_percent: Decimal::from_f64(pct).ok_or("trail percent is not a number")?,
        },
        (None, None, Some(_)) => {
            return Err("trailing stops need whole shares (fractional orders are day market, limit or stop only)".into())
        }
        (None, None, None) => return Err("no protection configured".into()),
    };
    Ok(r)
}

/// A price as Alpaca accepts it: whole cents from $1, else 4 decimals (a sub-penny price is
/// a 422), rounded to the nearest.
pub fn price(x: f64) -> Decimal {
    let text = if x >= 1.0 {
        format!("{:.2}", (x * 100.0).round() / 100.0)
    } else {
        format!("{:.4}", (x * 10_000.0).round() / 10_000.0)
    };
    Decimal::parse(&text).unwrap_or_default()
}

#[cfg(test)]
#[path = "protect_tests.rs"]
mod tests;

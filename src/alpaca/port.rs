//! Alpaca as the [`Broker`] port: each call is the client's request, its JSON shape turned
//! into the port's value here, so no other module sees `wire`. What cannot be traded on is
//! an error naming the endpoint, never a default: an account without equity, a position or a
//! fill whose quantity or price is not an exact number.

use super::wire;
use super::Alpaca;
use crate::broker::{
    Account, BarsQuery, Broker, Clock, Fill, LastTrade, Order, OrderClass, OrderRequest, Position,
    Split,
};
use crate::decimal::Decimal;
use crate::domain::{Bar, Qty};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

fn bad(endpoint: &str, detail: String) -> Error {
    Error::BadResponse {
        endpoint: endpoint.into(),
        detail,
    }
}

/// An optional amount: absent, null or not a number is `None`, with a warning for the last
/// (the ledgers leave such a cell empty rather than write what is not a number).
fn amount(field: &str, text: &Option<String>) -> Option<Decimal> {
    let text = text.as_deref()?;
    let parsed = Decimal::parse(text);
    if parsed.is_none() {
        log::warn!("the account's {field} is \"{text}\", not a number; it is left empty");
    }
    parsed
}

pub(crate) fn account(a: wire::Account) -> Result<Account> {
    let endpoint = "GET /v2/account";
    let equity = a.checked_equity().map_err(|why| bad(endpoint, why))?;
    Ok(Account {
        // `checked_equity` read it as a finite number, so its text is a decimal.
        equity: a
            .equity
            .as_deref()
            .and_then(Decimal::parse)
            .or_else(|| Decimal::from_f64(equity))
            .ok_or_else(|| bad(endpoint, "equity is not a number".into()))?,
        last_equity: amount("last_equity", &a.last_equity),
        cash: amount("cash", &a.cash),
        buying_power: amount("buying_power", &a.buying_power),
        long_market_value: amount("long_market_value", &a.long_market_value),
    })
}

pub(crate) fn clock(c: wire::Clock) -> Clock {
    Clock {
        now: c.timestamp.with_timezone(&Utc),
        is_open: c.is_open,
        next_open: c.next_open.map(|t| t.with_timezone(&Utc)),
        next_close: c.next_close.map(|t| t.with_timezone(&Utc)),
    }
}

fn position(p: wire::Position) -> Result<Position> {
    let qty = p
        .signed_qty()
        .map_err(|e| bad("GET /v2/positions", format!("{} has qty {e}", p.symbol)))?;
    Ok(Position {
        avg_entry_price: p.avg_entry_price.as_deref().and_then(Decimal::parse),
        symbol: p.symbol,
        qty,
    })
}

/// An order: a quantity that is absent, null or not a share count reads as 0 shares, as a
/// notional order's does (the position and the fills, not the order, say what is held).
pub(crate) fn order(o: wire::Order) -> Order {
    Order {
        side: o.side(),
        qty: o.ordered(),
        filled_qty: o.filled(),
        filled_avg_price: o.filled_avg_price.as_deref().and_then(Decimal::parse),
        id: o.id,
        client_order_id: o.client_order_id,
        symbol: o.symbol,
        status: o.status,
        class: OrderClass::parse(o.order_class.as_deref()),
        order_type: o.order_type,
        submitted_at: o.submitted_at,
        filled_at: o.filled_at,
        legs: o.legs.into_iter().map(order).collect(),
    }
}

fn fill(a: wire::FillActivity) -> Result<Fill> {
    let endpoint = "GET /v2/account/activities/FILL";
    let qty = a
        .shares()
        .ok_or_else(|| bad(endpoint, format!("activity {} has qty \"{}\"", a.id, a.qty)))?;
    let price = Decimal::parse(&a.price).ok_or_else(|| {
        bad(
            endpoint,
            format!("activity {} has price \"{}\"", a.id, a.price),
        )
    })?;
    Ok(Fill {
        time: a.transaction_time,
        last: a.fill_type.as_deref() != Some("partial_fill"),
        price,
        qty,
        side: a.side,
        symbol: a.symbol,
        order_id: a.order_id,
        id: a.id,
    })
}

fn split(a: wire::SplitActivity) -> Split {
    Split {
        day: a.day(),
        qty: a.shares().and_then(|text| Qty::parse(&text).ok()),
        id: a.id,
        date: a.date,
        symbol: a.symbol,
        description: a.description,
    }
}

impl Broker for Alpaca {
    fn clock(&self) -> Result<Clock> {
        Alpaca::clock(self).map(clock)
    }
    fn account(&self) -> Result<Account> {
        account(Alpaca::account(self)?)
    }
    fn positions(&self) -> Result<Vec<Position>> {
        Alpaca::positions(self)?.into_iter().map(position).collect()
    }
    fn latest_trades(&self, symbols: &[&str]) -> Result<HashMap<String, LastTrade>> {
        Ok(Alpaca::latest_trades(self, symbols)?
            .into_iter()
            .map(|(symbol, t)| {
                let trade = LastTrade {
                    time: t.t,
                    price: t.p,
                };
                (symbol, trade)
            })
            .collect())
    }
    fn bars(&self, query: &BarsQuery<'_>) -> Result<HashMap<String, Vec<Bar>>> {
        Alpaca::bars(self, query, |_, _| {})
    }
    fn open_orders(&self, symbols: &[&str]) -> Result<Vec<Order>> {
        Ok(Alpaca::open_orders(self, symbols)?
            .into_iter()
            .map(order)
            .collect())
    }
    fn orders_since(&self, after: DateTime<Utc>, symbols: Option<&[&str]>) -> Result<Vec<Order>> {
        Ok(Alpaca::orders_since(self, after, symbols)?
            .into_iter()
            .map(order)
            .collect())
    }
    fn order(&self, order_id: &str) -> Result<Order> {
        Alpaca::order(self, order_id).map(order)
    }
    fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<Order>> {
        Ok(Alpaca::order_by_client_id(self, client_order_id)?.map(order))
    }
    fn submit_order(&self, request: &OrderRequest) -> Result<Order> {
        Alpaca::submit_order(self, request).map(order)
    }
    fn cancel_order(&self, order_id: &str) -> Result<()> {
        Alpaca::cancel_order(self, order_id)
    }
    fn fill_activities(&self, after: DateTime<Utc>) -> Result<Vec<Fill>> {
        Alpaca::fill_activities(self, after)?
            .into_iter()
            .map(fill)
            .collect()
    }
    fn split_activities(&self, after: DateTime<Utc>) -> Result<Vec<Split>> {
        Ok(Alpaca::split_activities(self, after)?
            .into_iter()
            .map(split)
            .collect())
    }
}

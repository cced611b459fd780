//! The simulated broker's order desk: an order accepted or refused as Alpaca would (its
//! refusals and their messages), a cancel, and the levels a protective order rests at. The
//! book's accounting and its market events are the parent module's.

use super::*;

/// The endpoint the HTTP client names in an order's refusal.
const POST_ORDERS: &str = "POST /v2/orders";

fn refused(status: u16, code: u64, message: impl Into<String>) -> Error {
    Error::Api {
        endpoint: POST_ORDERS.into(),
        status,
        code: Some(code),
        message: message.into(),
    }
}

impl Book {
    /// Working shares of `symbol` on `side`, not yet filled.
    fn working_qty(&self, symbol: &str, side: Side) -> Qty {
        self.working
            .iter()
            .map(|&k| &self.orders[k])
            .filter(|o| o.symbol == symbol && o.side == side)
            .map(|o| o.qty - o.filled)
            .sum()
    }

    /// Cancel a working order at once (the simulated broker has no `pending_cancel`); a final
    /// order is left as it is, as Alpaca answers 422 and changes nothing.
    pub(in crate::broker::sim) fn cancel(&mut self, order_id: &str) -> Result<()> {
        let Some(&k) = self.by_id.get(order_id) else {
            return Err(Error::Api {
                endpoint: format!("DELETE /v2/orders/{order_id}"),
                status: 404,
                code: Some(40410000),
                message: "order not found".into(),
            });
        };
        if !self.orders[k].status.is_final() {
            self.orders[k].status = OrderStatus::Canceled;
            self.working.retain(|&w| w != k);
            // Canceling either order of an OCO cancels both.
            self.end_sibling(k);
        }
        Ok(())
    }

    /// Accept or refuse one order, as Alpaca would; see the module docs of [`super`].
    pub(in crate::broker::sim) fn submit(
        &mut self,
        market: &Market,
        settings: &SimSettings,
        r: &OrderRequest,
    ) -> Result<Order> {
        let invalid = |m: String| refused(422, 40010001, m);
        let oco = matches!(r.kind, OrderKind::Oco { .. });
        let side = r.side;
        if !r.qty.is_positive() {
            return Err(invalid("qty must be > 0".into()));
        }
        let symbol = r.symbol.as_str();
        if market.fill_series(symbol).is_none() {
            return Err(invalid(format!("asset \"{symbol}\" not found")));
        }
        let Some((price, _)) = market.latest(symbol, self.now, settings.fill) else {
            return Err(invalid(format!(
                "no bar of {symbol} has closed by {}: the simulated broker has no price for it",
                self.now
            )));
        };
        let decided_close = market
            .last_closed(symbol, self.now)
            .map_or(price, |(bar, _)| bar.close);
        // The price it fills at now, if it can fill now: the opening print of a bar opening
        // at this moment, or (`Fill::Close`) the close decided on while the market is open.
        let fills_now = match settings.fill {
            Fill::NextOpen => market.opening_at(symbol, self.now).map(|bar| bar.open),
            Fill::Close => market
                .open_session(self.now)
                .and(market.last_closed(symbol, self.now))
                .map(|(bar, _)| bar.close),
        };
        let cid = r.client_order_id.as_str();
        if self.by_client_id.contains_key(cid) {
            return Err(invalid("client_order_id must be unique".into()));
        }
        let other = if side == Side::Buy {
            Side::Sell
        } else {
            Side::Buy
        };
        // OCO orders are exempt from the wash-trade rule on both ends ("use complex orders").
        let opposite = self.working.iter().map(|&k| &self.orders[k]).any(|o| {
            o.symbol == symbol && o.side == other && !matches!(o.kind, OrderKind::Oco { .. })
        });
        if !oco && opposite {
            return Err(refused(
                403,
                40310000,
                "potential wash trade detected. use complex orders",
            ));
        }
        let held = self.held(symbol);
        if side == Side::Sell && (held.is_positive() || !settings.shorting) {
            let available = (held - self.working_qty(symbol, Side::Sell)).max(Qty::ZERO);
            if r.qty > available {
                return Err(refused(
                    403,
                    40310000,
                    format!(
                        "insufficient qty available for order (requested: {}, available: {available})",
                        r.qty
                    ),
                ));
            }
        } else if side == Side::Sell && r.qty.to_string().contains('.') {
            return Err(refused(
                403,
                40310000,
                "fractional orders cannot be sold short",
            ));
        }
        let against = match side {
            Side::Buy => held.is_negative(),
            Side::Sell => held.is_positive(),
        };
        let opening = if against {
            (r.qty - held.abs()).max(Qty::ZERO)
        } else {
            r.qty
        };
        if r.kind.is_protective() && (opening.is_positive() || !against) {
            return Err(refused(
                403,
                40310000,
                format!(
                    "insufficient qty available for order (requested: {}, available: {})",
                    r.qty,
                    held.abs()
                ),
            ));
        }
        let mut reserve = 0.0;
        if opening.is_positive() {
            let size = opening.to_f64() * sign(side);
            let est = settings.costs.execute(price, size, true);
            reserve = opening.to_f64() * est.price + est.commission;
            let available = self.buying_power(market, self.now) - self.reserved();
            if reserve > available {
                return Err(refused(403, 40310000, "insufficient buying power"));
            }
        }
        let k = self.orders.len();
        let session = market.sessions.get(market.session_index(self.now)).copied();
        let status = if market.open_session(self.now).is_some() {
            OrderStatus::New
        } else {
            OrderStatus::Accepted
        };
        let order = SimOrder {
            id: format!("51300000-0000-4000-8000-{:012x}", k + 1),
            client_order_id: cid.to_string(),
            symbol: symbol.to_string(),
            side,
            qty: r.qty,
            status,
            submitted_at: self.now,
            filled_at: None,
            filled: Qty::ZERO,
            paid: 0.0,
            session,
            decided_close,
            reserve,
            kind: r.kind.clone(),
            day: r.time_in_force == TimeInForce::Day,
            levels: levels(&r.kind, side, price),
            scanned_from: self.now,
            leg: None,
            parent: None,
        };
        self.by_id.insert(order.id.clone(), k);
        self.by_client_id.insert(order.client_order_id.clone(), k);
        let protective = order.levels.is_some();
        let leg = match &r.kind {
            // The held stop leg: the parent's order but for what is its own.
            OrderKind::Oco { stop_price, .. } => Some(SimOrder {
                // Alpaca assigns a leg's id and client id itself.
                id: format!("51300000-0000-4000-8000-{:012x}", k + 2),
                client_order_id: format!("51300000-0000-4000-9000-{:012x}", k + 2),
                status: OrderStatus::Held,
                kind: OrderKind::Stop {
                    stop_price: stop_price.clone(),
                },
                levels: None,
                reserve: 0.0,
                leg: None,
                parent: Some(k),
                ..order.clone()
            }),
            _ => None,
        };
        self.orders.push(order);
        self.working.push(k);
        if let Some(leg) = leg {
            let j = self.orders.len();
            self.by_id.insert(leg.id.clone(), j);
            self.by_client_id.insert(leg.client_order_id.clone(), j);
            self.orders.push(leg);
            self.orders[k].leg = Some(j);
        }
        if let Some(raw) = fills_now.filter(|_| !protective) {
            let now = self.now;
            self.fill(settings, k, raw, now);
        }
        Ok(self.show(k))
    }
}

/// A protective order's levels: it protects a long when it sells. A trailing stop trails from
/// `price`, the latest trade when it is placed (Alpaca's `hwm` starts there).
fn levels(kind: &OrderKind, side: Side, price: f64) -> Option<Levels> {
    let dir = if side == Side::Sell { 1.0 } else { -1.0 };
    match kind {
        OrderKind::Stop { stop_price } => {
            Some(Levels::resting(dir, Some(stop_price.to_f64()), None, None))
        }
        OrderKind::Limit { limit_price } => {
            Some(Levels::resting(dir, None, Some(limit_price.to_f64()), None))
        }
        OrderKind::TrailingStop { trail_percent } => Some(Levels::resting(
            dir,
            None,
            None,
            Some((trail_percent.to_f64(), price)),
        )),
        OrderKind::Oco {
            limit_price,
            stop_price,
        } => Some(Levels::resting(
            dir,
            Some(stop_price.to_f64()),
            Some(limit_price.to_f64()),
            None,
        )),
        OrderKind::Market => None,
    }
}

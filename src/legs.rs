//! An order never crosses zero: a stop-and-reverse is two orders.
//!
//! A long-to-short reversal sent as one sell of twice the position is refused by Alpaca
//! ("insufficient qty": it will not sell shares it does not hold and open a short in one order),
//! and since it keeps |position| the same it would also look like a reduction to the guards. So
//! a signal against the position becomes a *close* leg (sent now, a reduction) and, for
//! strategies that reverse, an *open* leg remembered in the state and sent by a later tick once
//! the close has filled, as its own order, with its own client id and every guard applied.
//!
//! Pure: values in, values out.

use crate::domain::{ClientOrderId, Qty, Side};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The orders one signal becomes, in the order they must be sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Legs {
    /// Shares that take the position to zero; sent first.
    pub close: Option<Qty>,
    /// Shares that open (or add to) a position on the signal's side; sent only when there is
    /// nothing to close, or after the close has filled.
    pub open: Option<Qty>,
}

/// Split a signal on `side` against a signed `position` (counting working orders) into legs.
/// `entry` is the size of a new position. A sell while long closes the long, then opens a short
/// only for strategies that reverse (`reverses`); a buy while short covers, then opens a long.
pub fn split(side: Side, position: Qty, entry: Qty, reverses: bool) -> Legs {
    let against = match side {
        Side::Buy => position.is_negative(),
        Side::Sell => position.is_positive(),
    };
    let some = |q: Qty| q.is_positive().then_some(q);
    if !against {
        return Legs {
            close: None,
            open: some(entry),
        };
    }
    let opens_after = side == Side::Buy || reverses;
    Legs {
        close: some(position.abs()),
        open: if opens_after { some(entry) } else { None },
    }
}

/// The open leg of a reversal, waiting in `state.json` for its close to fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingLeg {
    pub symbol: String,
    pub side: Side,
    /// A decimal string in state.json; a number in files written while it was an f64.
    pub qty: Qty,
    /// The client order id the open leg will be sent with.
    pub client_order_id: ClientOrderId,
    /// The close leg it waits for.
    pub close_client_order_id: ClientOrderId,
    /// The bar the reversal was decided on.
    pub bar_time: DateTime<Utc>,
    /// The New York trading day of the decision: a leg not sent that day is dropped, never
    /// sent on a later session's prices.
    pub day: NaiveDate,
    /// The strategy's reason, for the decisions ledger.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Qty {
        Qty::parse(text).unwrap()
    }

    #[test]
    fn a_reversal_is_a_close_then_an_open_never_one_order_across_zero() {
        let legs = |side, pos, reverses| split(side, q(pos), q("2"), reverses);
        // Long 3, sell on a stop-and-reverse strategy: sell 3, then sell 2 short.
        assert_eq!(
            legs(Side::Sell, "3", true),
            Legs {
                close: Some(q("3")),
                open: Some(q("2"))
            }
        );
        // Long 3, sell on a long-only strategy: sell 3 and stop.
        assert_eq!(
            legs(Side::Sell, "3", false),
            Legs {
                close: Some(q("3")),
                open: None
            }
        );
        // Short 2, buy: cover 2, then buy 2.
        assert_eq!(
            legs(Side::Buy, "-2", true),
            Legs {
                close: Some(q("2")),
                open: Some(q("2"))
            }
        );
        // Flat: a plain opening order.
        assert_eq!(
            legs(Side::Sell, "0", true),
            Legs {
                close: None,
                open: Some(q("2"))
            }
        );
        assert_eq!(
            legs(Side::Buy, "0", false),
            Legs {
                close: None,
                open: Some(q("2"))
            }
        );
        // Fractional: long 0.1 + 0.2 (exactly 0.3), a sell closes exactly 0.3.
        assert_eq!(
            split(Side::Sell, q("0.1") + q("0.2"), q("0.3"), false).close,
            Some(q("0.3"))
        );
        // An entry of zero shares opens nothing.
        assert_eq!(
            split(Side::Buy, Qty::ZERO, Qty::ZERO, false),
            Legs {
                close: None,
                open: None
            }
        );
    }
}

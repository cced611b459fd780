//! How many shares one entry buys: the configured rule ([`Sizing`]) and the one rounding rule
//! ([`units`]) that the tick and the backtester both call. Pure; imports nothing but `std`.
//!
//! What is shared, and what is not on purpose:
//!
//! * **Shared:** a budget divided by the cost of one share, then whole shares unless
//!   `fractional`, "whole" being the floor of the *exact* quotient (Python's `//`,
//!   [`py_floordiv`]), so neither ever buys a share the budget cannot pay for. `qty` is
//!   rounded by [`fixed`] in both.
//! * **Not shared, on purpose:** the inputs. The tick sizes when it decides, at the latest
//!   trade, against the account's equity, commission-free (Alpaca), and truncates a fractional
//!   size to the 9 decimals Alpaca accepts; the broker refuses what buying power does not
//!   cover. The backtest sizes when the order fills, as backtesting.py does: at the
//!   slippage-adjusted fill price plus the commission per share, against
//!   `max(0, equity)`, keeps every decimal, and cancels an entry that costs more than the
//!   margin available (see `backtest::engine`'s "Sizing"). On the same price, equity and
//!   zero costs the two give the same whole number of shares.

/// How much one entry buys: exactly one of `qty`, `notional` or `equity_fraction` per symbol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sizing {
    /// A fixed number of shares.
    Qty(f64),
    /// A fixed dollar amount.
    Notional(f64),
    /// A fraction of account equity (0 < f <= 1).
    EquityFraction(f64),
}

/// Decimal places of a fractional quantity Alpaca accepts.
pub const ALPACA_QTY_DECIMALS: i32 = 9;

impl Sizing {
    /// The tick's entry: shares for one entry at the latest trade `price` with `equity` in the
    /// account; whole shares unless `fractional`, then at most [`ALPACA_QTY_DECIMALS`]
    /// decimals (rounded down). Zero when the money does not buy one whole share.
    pub fn shares(self, price: f64, equity: f64, fractional: bool) -> f64 {
        let n = match self {
            Sizing::Qty(q) => return fixed(q, fractional),
            Sizing::Notional(dollars) => units(dollars, price, fractional),
            Sizing::EquityFraction(f) => units(equity * f, price, fractional),
        };
        if fractional {
            let scale = 10f64.powi(ALPACA_QTY_DECIMALS);
            (n * scale).floor() / scale
        } else {
            n
        }
    }
}

/// A fixed size `q`: as given when `fractional`, else its whole part.
pub fn fixed(q: f64, fractional: bool) -> f64 {
    if fractional {
        q
    } else {
        q.floor()
    }
}

/// Shares `budget` buys at `unit_cost` each: `budget / unit_cost`, or the floor of the exact
/// quotient unless `fractional`. Zero when that is not a positive finite number (no money, a
/// price of 0 or NaN).
#[inline]
pub fn units(budget: f64, unit_cost: f64, fractional: bool) -> f64 {
    let raw = budget / unit_cost;
    if !raw.is_finite() || raw <= 0.0 {
        0.0
    } else if fractional {
        raw
    } else {
        py_floordiv(budget, unit_cost)
    }
}

/// Python's `float.__floordiv__` (via `fmod`): the floor of the exact quotient, which can be
/// one less than `floor(a / b)` when `a / b` rounds up to an integer (`1 // 0.1 == 9`, while
/// `1.0 / 0.1 == 10.0`). backtesting.py sizes with it, and so does [`units`].
pub fn py_floordiv(a: f64, b: f64) -> f64 {
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div == 0.0 {
        return 0.0f64.copysign(a / b);
    }
    let floor = div.floor();
    if div - floor > 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_rounds_down_to_whole_shares_unless_fractional() {
        // 1000 / 230 = 4.347..: 4 whole shares, or 4.347826086 to 9 decimals.
        assert_eq!(Sizing::Notional(1000.0).shares(230.0, 0.0, false), 4.0);
        assert_eq!(
            Sizing::Notional(1000.0).shares(230.0, 0.0, true),
            4.347826086
        );
        // 25% of 10,000 = 2,500 at 300 = 8.33: 8 shares.
        assert_eq!(
            Sizing::EquityFraction(0.25).shares(300.0, 10_000.0, false),
            8.0
        );
        assert_eq!(
            Sizing::Notional(100.0).shares(230.0, 0.0, false),
            0.0,
            "not enough for one share"
        );
        assert_eq!(Sizing::Qty(2.0).shares(230.0, 0.0, false), 2.0);
        // qty 2.5: 2 whole shares, or 2.5 when fractional.
        assert_eq!(Sizing::Qty(2.5).shares(230.0, 0.0, false), 2.0);
        assert_eq!(Sizing::Qty(2.5).shares(230.0, 0.0, true), 2.5);
    }

    #[test]
    fn a_budget_never_buys_a_share_it_cannot_pay_for() {
        // 0.1 as a double is 0.1000000000000000055511…; $1 buys 9.999999999999999444…
        // of them, so 9 whole shares, although 1.0 / 0.1 rounds to 10.0 and 10 shares would
        // cost 1.000000000000000055… > $1.
        assert_eq!(1.0f64 / 0.1, 10.0);
        assert_eq!(units(1.0, 0.1, false), 9.0);
        assert_eq!(Sizing::Notional(1.0).shares(0.1, 0.0, false), 9.0);
        assert_eq!(Sizing::EquityFraction(0.5).shares(0.1, 2.0, false), 9.0);
        // Fractional keeps the quotient, 9 decimals for the tick.
        assert_eq!(units(1.0, 0.1, true), 10.0);
        assert_eq!(Sizing::Notional(1.0).shares(0.1, 0.0, true), 10.0);
    }

    #[test]
    fn no_money_or_no_price_buys_nothing() {
        assert_eq!(units(0.0, 10.0, false), 0.0);
        assert_eq!(units(-50.0, 10.0, true), 0.0);
        assert_eq!(units(100.0, 0.0, false), 0.0, "a price of 0");
        assert_eq!(units(100.0, f64::NAN, true), 0.0);
        assert_eq!(Sizing::EquityFraction(1.0).shares(10.0, 0.0, false), 0.0);
    }

    #[test]
    fn python_floor_division() {
        assert_eq!(py_floordiv(7.0, 2.0), 3.0);
        assert_eq!(py_floordiv(-7.0, 2.0), -4.0);
        // 1/0.1 rounds to 10.0, but 1 // 0.1 == 9.0 in Python.
        assert_eq!(py_floordiv(1.0, 0.1), 9.0);
        assert_eq!((1.0f64 / 0.1).floor(), 10.0);
    }
}

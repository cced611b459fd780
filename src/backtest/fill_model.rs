//! The cost of one execution: the price it gets and the commission it pays. The one copy of this
//! arithmetic, shared by the backtest ([`engine`](super::engine), and through it
//! [`portfolio`](super::portfolio)) and the simulated broker ([`crate::broker::sim`]), so that a
//! trade replayed through the tick and the same trade in a backtest cost the same.
//!
//! The rules are backtesting.py's (with `margin = 1`):
//!
//! * **Slippage** (its `spread`) is adverse and charged on entries only: an execution that opens
//!   or extends a position fills at `p·(1 + s)` buying and `p·(1 − s)` selling short,
//!   `s = slippage_bps / 10 000`; one that reduces a position fills at the raw price `p`. So a
//!   round trip pays it once.
//! * **Commission** is `commission_fixed + |size|·price·commission` per execution, on the price
//!   the execution got (slippage included), at entry and again at exit.
//!
//! Pure: numbers in, numbers out. The float operations are written once, here, so that both
//! callers produce the same bits (the backtest's parity with backtesting.py depends on them).

/// Commission and slippage settings; see the module docs for the formulas.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FillModel {
    /// A fraction of each execution's notional (0.001 = 0.1 %); negative is a rebate.
    pub commission: f64,
    /// Dollars per execution, ≥ 0.
    pub commission_fixed: f64,
    /// Adverse slippage on entries, in basis points.
    pub slippage_bps: f64,
}

/// What one execution got: its price per share and the commission it paid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Execution {
    pub price: f64,
    pub commission: f64,
}

impl FillModel {
    /// The price an entry in direction `dir` (+1 buys, −1 sells short) gets at raw price `raw`.
    #[inline]
    pub fn entry_price(&self, raw: f64, dir: f64) -> f64 {
        let spread = self.slippage_bps / 10_000.0;
        raw * (1.0 + spread.copysign(dir))
    }

    /// The commission on `size` shares (either sign) executed at `price`.
    #[inline]
    pub fn commission(&self, size: f64, price: f64) -> f64 {
        self.commission_fixed + size.abs() * price * self.commission
    }

    /// One execution of `size` shares (signed: + bought, − sold) at raw market price `raw`;
    /// `opens` when it opens or extends a position (an entry pays slippage), not when it
    /// reduces one.
    #[inline]
    pub fn execute(&self, raw: f64, size: f64, opens: bool) -> Execution {
        let price = if opens {
            self.entry_price(raw, 1f64.copysign(size))
        } else {
            raw
        };
        Execution {
            price,
            commission: self.commission(size, price),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: FillModel = FillModel {
        commission: 0.001,
        commission_fixed: 1.0,
        slippage_bps: 10.0,
    };

    #[test]
    fn an_entry_pays_slippage_against_itself_and_an_exit_does_not() {
        // Buy 10 at 102: 102 × 1.001 = 102.102; commission 1 + 10 × 102.102 × 0.001 = 2.02102.
        let buy = MODEL.execute(102.0, 10.0, true);
        assert!((buy.price - 102.102).abs() < 1e-12, "{buy:?}");
        assert!((buy.commission - 2.02102).abs() < 1e-12, "{buy:?}");
        // Short 10 at 50: 50 × 0.999 = 49.95; commission 1 + 10 × 49.95 × 0.001 = 1.4995.
        let short = MODEL.execute(50.0, -10.0, true);
        assert!((short.price - 49.95).abs() < 1e-12, "{short:?}");
        assert!((short.commission - 1.4995).abs() < 1e-12, "{short:?}");
        // Sell 10 at 105 to close: the raw price; commission 1 + 1.05 = 2.05.
        let exit = MODEL.execute(105.0, -10.0, false);
        assert_eq!(exit.price, 105.0);
        assert!((exit.commission - 2.05).abs() < 1e-12, "{exit:?}");
    }

    #[test]
    fn no_costs_by_default() {
        let e = FillModel::default().execute(123.45, 3.0, true);
        assert_eq!(
            e,
            Execution {
                price: 123.45,
                commission: 0.0
            }
        );
    }
}

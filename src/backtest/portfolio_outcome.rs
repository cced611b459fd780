//! What a portfolio run produces: each leg's trades, decisions and equity, and the account's
//! timeline and equity, read by the metrics, the output files and the report.

use crate::backtest::engine::{OpenTrade, Trade};
use crate::backtest::guards::Refused;
use crate::domain::Signal;
use chrono::{DateTime, Utc};

/// A non-hold decision: the bar it was decided on and the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decided {
    pub bar: usize,
    pub signal: Signal,
}

/// What one leg did.
#[derive(Debug, Clone, PartialEq)]
pub struct LegOutcome {
    /// Closed trades in closing order; bar indexes index the leg's own bars.
    pub trades: Vec<Trade>,
    pub open_trade: Option<OpenTrade>,
    /// A signal decided on the leg's last bar (or left when the run stopped), never filled.
    pub pending: Option<Signal>,
    /// Every buy or sell decided, in order (holds are not recorded).
    pub decisions: Vec<Decided>,
    /// backtesting.py's warm-up index for the first segment's strategy (Buy & Hold start).
    pub warmup: usize,
    /// The first bar a decision may be made on (`warmup + 1`).
    pub start: usize,
    /// The leg's equity at each of its bars (see the module docs); empty for a one-leg run,
    /// whose portfolio equity is the leg's.
    pub equity: Vec<f64>,
    /// The timeline step of each of the leg's bars; empty for a one-leg run (the identity).
    pub step_of_bar: Vec<u32>,
}

/// What a portfolio run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct PortfolioOutcome {
    /// The sorted union of the legs' bar times.
    pub times: Vec<DateTime<Utc>>,
    /// Account equity at each time, after that time's fills and at its closes; back-filled
    /// before the first step any leg may decide on.
    pub equity: Vec<f64>,
    pub legs: Vec<LegOutcome>,
    /// Cash at the end.
    pub cash: f64,
    /// The timeline step at which equity reached 0 and the run stopped.
    pub out_of_money_at: Option<usize>,
    /// The first timeline step at which every leg is past its warm-up (Buy & Hold start).
    pub warmup: usize,
    /// Orders the risk guards stopped (`Settings::guards`), in order.
    pub refusals: Vec<Refused>,
}

impl PortfolioOutcome {
    /// Closed trades of every leg, re-indexed to timeline steps and in closing order, for the
    /// portfolio's metrics.
    pub fn timeline_trades(&self) -> Vec<Trade> {
        if self.legs.len() == 1 {
            return self.legs[0].trades.clone();
        }
        let mut all: Vec<Trade> = self
            .legs
            .iter()
            .flat_map(|leg| {
                leg.trades.iter().map(move |t| Trade {
                    entry_bar: leg.step_of_bar[t.entry_bar] as usize,
                    exit_bar: leg.step_of_bar[t.exit_bar] as usize,
                    ..*t
                })
            })
            .collect();
        all.sort_by_key(|t| (t.exit_bar, t.entry_bar));
        all
    }
}

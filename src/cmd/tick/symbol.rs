//! Carrying out one symbol's step of the [`Plan`](crate::plan::Plan): its decision row, and
//! its order sent exactly once through the desk. What only execution can know is decided
//! here: the close margin measured again just before the order, and whether a reversal's
//! close filled at once (its open leg then goes out in this tick) or waits.

use super::protection::Canceled;
use super::rows::Decided;
use super::Tick;
use crate::broker::OrderRequest;
use crate::config::SymbolConfig;
use crate::error::Result;
use crate::orders::Placed;
use crate::plan::{Action, Checked, Row, Step};
use crate::risk;
use chrono::{DateTime, Duration, Utc};
use std::time::Instant;

/// What became of an order the plan sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// The broker has it; `filled` when its answer already shows every share filled.
    Accepted {
        filled: bool,
    },
    Rejected,
    Unknown,
}

/// When the session closes, and when (local monotonic time) the broker's clock was read: the
/// time left is re-measured before every order.
pub(super) struct CloseClock {
    /// The broker's `is_open`: a market order sent while closed waits for the next open.
    pub(super) open: bool,
    pub(super) next_close: Option<DateTime<Utc>>,
    /// Why an open clock's close is not known (no `next_close`, or one further off than a
    /// session: a stale `is_open` after the bell); the plan refuses the strategy's orders
    /// then, and the protection step's market close must wait as well.
    pub(super) unknown: Option<String>,
    pub(super) read: Instant,
}

impl Tick<'_> {
    /// Write one step's row and send its order, if any; the summary for the tick's line.
    pub(super) fn execute(
        &mut self,
        symbol: &SymbolConfig,
        step: Step,
        close: &CloseClock,
    ) -> Result<String> {
        match step {
            Step::Row { row, summary } => {
                if row.action == Action::Refused && row.order.is_some() {
                    self.state.ops.orders_refused += 1;
                }
                self.write_row(symbol, &row)?;
                Ok(summary)
            }
            Step::Send(checked) => self.send_checked(symbol, checked, close),
        }
    }

    fn send_checked(
        &mut self,
        symbol: &SymbolConfig,
        checked: Checked,
        close: &CloseClock,
    ) -> Result<String> {
        let name = symbol.name.as_str();
        let Checked {
            side,
            qty,
            client_id,
            price,
            mut row,
            then,
            leg,
        } = checked;
        // The close margin again, now: the requests since the clock was read took time.
        let now = self.now + Duration::from_std(close.read.elapsed()).unwrap_or_default();
        let secs_to_close = close.next_close.map(|c| (c - now).num_seconds());
        if let Err(why) = risk::check_close_margin(&self.config.risk.limits, secs_to_close) {
            self.state.ops.orders_refused += 1;
            row.action = Action::Refused;
            row.reason = format!("{}; refused: {why}", row.reason);
            self.write_row(symbol, &row)?;
            return Ok(format!("{name} {side} refused ({why})"));
        }
        if self.dry_run {
            row.action = Action::DryRun;
            self.write_row(symbol, &row)?;
            return Ok(format!("{name} {side} {qty} (dry run)"));
        }
        // The resting stop holds the shares (Alpaca: 403 "insufficient qty"), and a standalone
        // stop beside a buy is a wash trade: the protection goes first, confirmed canceled.
        // The next tick protects whatever position this order leaves.
        let had_protection = self.resting.get(name).is_some_and(|r| !r.is_empty());
        let waiting = match self.unprotect_for_order(name)? {
            Canceled::Clean => None,
            Canceled::Unconfirmed => Some((
                format!("the broker has not confirmed the cancel of {name}'s protection"),
                "waits for its protection's cancel",
            )),
            // Sized from the position the protection just sold or bought: not sent.
            Canceled::Filled => Some((
                format!("{name}'s protection filled before its cancel; the next tick decides on the position it left"),
                "waits: its protection filled",
            )),
        };
        if let Some((why, said)) = waiting {
            row.action = Action::Refused;
            row.reason = format!("{}; waiting: {why}", row.reason);
            self.write_row(symbol, &row)?;
            return Ok(format!("{name} {side} {said}"));
        }
        let verb = if row.action == Action::Flatten {
            format!("flatten {side}")
        } else {
            side.to_string()
        };
        self.write_row(symbol, &row)?;
        let request = OrderRequest::market_day(name, side, qty, &client_id);
        let (status, sent) = self.send(&request, price)?;
        let mut summary = format!("{name} {verb} {qty} -> {status}");
        if matches!(sent, Sent::Rejected) && had_protection {
            if let Some(said) = self.reprotect(name, price)? {
                summary.push_str("; ");
                summary.push_str(&said);
            }
        }
        match (sent, then, leg) {
            (Sent::Accepted { filled: true }, Some(then), _) => {
                summary.push_str("; ");
                summary.push_str(&self.execute(symbol, *then, close)?);
            }
            (Sent::Accepted { .. } | Sent::Unknown, _, Some(leg)) => {
                self.state.pending_legs.push(leg);
            }
            _ => {}
        }
        Ok(summary)
    }

    fn write_row(&self, symbol: &SymbolConfig, row: &Row) -> Result<()> {
        self.decide_row(Decided {
            symbol,
            bar_time: row.bar_time,
            price: row.price,
            position: row.position,
            signal: row.signal,
            action: row.action,
            order: row.order.as_ref().map(|(q, id)| (*q, id)),
            reason: &row.reason,
        })
    }

    /// Place through the desk and turn the outcome into a word for the summary.
    fn send(&mut self, request: &OrderRequest, price: f64) -> Result<(String, Sent)> {
        Ok(
            match self.desk.place(&mut self.state, self.now, request, price)? {
                Placed::Accepted { already, order } => {
                    let filled = order.filled_in_full();
                    if already {
                        ("already placed".into(), Sent::Accepted { filled })
                    } else {
                        // `orders_today` is counted by the desk, with the intent.
                        self.state.ops.orders_submitted += 1;
                        (order.status.to_string(), Sent::Accepted { filled })
                    }
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

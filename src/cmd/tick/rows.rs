//! The tick's rows in decisions.csv and equity.csv (their columns: [`crate::store::rows`]).

use super::Tick;
use crate::broker::Account;
use crate::config::SymbolConfig;
use crate::domain::{Action, ClientOrderId, Qty, Signal};
use crate::error::Result;
use crate::store::rows::{DecisionRow, EquityRow};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One row of decisions.csv, before formatting.
pub(super) struct Decided<'a> {
    pub(super) symbol: &'a SymbolConfig,
    pub(super) bar_time: Option<DateTime<Utc>>,
    pub(super) price: Option<f64>,
    pub(super) position: Qty,
    pub(super) signal: Signal,
    pub(super) action: Action,
    pub(super) order: Option<(Qty, &'a ClientOrderId)>,
    pub(super) reason: &'a str,
}

impl Tick<'_> {
    /// The account in the broker's own digits (the port left a value that is not a number
    /// empty, with a warning), then the bot's shares of each configured symbol, in the config's order.
    pub(super) fn record_equity(
        &self,
        account: &Account,
        positions: &HashMap<String, Qty>,
    ) -> Result<()> {
        self.equity.append(&[EquityRow {
            time_utc: self.now,
            equity: Some(account.equity.clone()),
            cash: account.cash.clone(),
            long_market_value: account.long_market_value.clone(),
            buying_power: account.buying_power.clone(),
            positions: self
                .config
                .symbols
                .iter()
                .map(|s| positions.get(&s.name).copied().unwrap_or_default())
                .collect(),
        }])
    }

    /// Queue a decision row; the tick's rows go to decisions.csv in one write and one sync
    /// (an fsync per symbol was most of a many-symbol tick on an SD card). A row that carries
    /// an order is written at once, with every row queued before it, because its order is
    /// sent next: the ledger names each order before the broker can have it.
    pub(super) fn decide_row(&self, d: Decided<'_>) -> Result<()> {
        let row = self.decision_row(d);
        let sends = row.client_order_id.is_some();
        self.held_rows.borrow_mut().push(row);
        if sends {
            self.write_held_rows()?;
        }
        Ok(())
    }

    /// Write the queued decision rows (run also when the tick fails, so that the rows of the
    /// symbols decided before the failure are kept).
    pub(super) fn write_held_rows(&self) -> Result<()> {
        let rows = std::mem::take(&mut *self.held_rows.borrow_mut());
        if rows.is_empty() {
            return Ok(());
        }
        self.decisions.append(&rows)
    }

    pub(super) fn decision_row(&self, d: Decided<'_>) -> DecisionRow {
        let Decided {
            symbol,
            bar_time,
            price,
            position,
            signal,
            action,
            order,
            reason,
        } = d;
        DecisionRow {
            time_utc: self.now,
            symbol: symbol.name.clone(),
            strategy: symbol.strategy.tag().to_string(),
            bar_time_utc: bar_time,
            price,
            position,
            signal,
            action,
            qty: order.map(|(q, _)| q),
            client_order_id: order.map(|(_, id)| id.clone()),
            reason: reason.to_string(),
        }
    }
}

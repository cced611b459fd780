//! The tick's rows in decisions.csv and equity.csv.

use super::Tick;
use crate::alpaca::wire::Account;
use crate::config::SymbolConfig;
use crate::domain::{ClientOrderId, Qty, Signal};
use crate::error::Result;
use crate::store::ledger::time_cell;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One row of decisions.csv, before formatting.
pub(super) struct Decided<'a> {
    pub(super) symbol: &'a SymbolConfig,
    pub(super) bar_time: Option<DateTime<Utc>>,
    pub(super) price: Option<f64>,
    pub(super) position: Qty,
    pub(super) signal: Signal,
    pub(super) action: &'a str,
    pub(super) order: Option<(Qty, &'a ClientOrderId)>,
    pub(super) reason: &'a str,
}

impl Tick<'_> {
    pub(super) fn record_equity(
        &self,
        account: &Account,
        positions: &HashMap<String, Qty>,
    ) -> Result<()> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let mut row = vec![
            time_cell(self.now),
            text(&account.equity),
            text(&account.cash),
            text(&account.long_market_value),
            text(&account.buying_power),
        ];
        for s in &self.config.symbols {
            row.push(
                positions
                    .get(&s.name)
                    .copied()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        self.equity.append(&[row])
    }

    pub(super) fn decide_row(&self, d: Decided<'_>) -> Result<()> {
        self.decisions.append(&[self.decision_row(d)])
    }

    pub(super) fn decision_row(&self, d: Decided<'_>) -> Vec<String> {
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
        vec![
            time_cell(self.now),
            symbol.name.clone(),
            symbol.strategy.tag().to_string(),
            bar_time.map(time_cell).unwrap_or_default(),
            price.map(|p| p.to_string()).unwrap_or_default(),
            position.to_string(),
            signal.as_str().to_string(),
            action.to_string(),
            order.map(|(q, _)| q.to_string()).unwrap_or_default(),
            order.map(|(_, id)| id.to_string()).unwrap_or_default(),
            reason.to_string(),
        ]
    }
}

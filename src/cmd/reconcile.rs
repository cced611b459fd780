//! `prometheus-bot reconcile`: the ledgers against the broker.
//!
//! Compares orders (the bot's, by order id), fills (by FILL activity id, with quantity and
//! price compared as the exact strings Alpaca sent) and positions (the broker's against the
//! sum of the fills ledger). Prints one line per mismatch and exits 1 if any remain.
//! `--repair` appends what the ledgers miss, marked as recovered; it never rewrites a row.

use crate::alpaca::wire::{FillActivity, Order};
use crate::alpaca::Alpaca;
use crate::cli::ReconcileArgs;
use crate::config::Config;
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::fills::Fills;
use crate::store::ledger::{self, time_cell, Ledger};
use crate::store::TickLock;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::America::New_York;
use std::collections::{HashMap, HashSet};

const BOT_PREFIX: &str = "pb-";

pub fn run(config: &Config, args: &ReconcileArgs) -> Result<()> {
    let since = match &args.since {
        Some(day) => {
            let date = NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|_| Error::Usage(format!("--since `{day}`: expected YYYY-MM-DD")))?;
            New_York
                .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| Error::Usage(format!("--since `{day}` is not a valid day")))?
        }
        None => Utc::now() - Duration::days(30),
    };
    let credentials = Credentials::find(&config.env_file())?;
    let data_dir = &config.bot.data_dir;
    let _lock = TickLock::acquire(data_dir)?;
    let ledger_dir = data_dir.join("ledger");
    let orders_ledger = Ledger::open(&ledger_dir, "orders.csv", ledger::ORDERS)?;
    let fills = Fills::open(&ledger_dir)?;
    let client = Alpaca::new(&config.alpaca, credentials);
    let names = config.symbol_names();
    let shared = config.risk.shared_account;

    let broker_orders = client.orders_since(since, Some(&names))?;
    let activities: Vec<FillActivity> = client
        .fill_activities(since)?
        .into_iter()
        .filter(|a| names.contains(&a.symbol.as_str()))
        .collect();
    let positions: HashMap<String, f64> = client
        .positions()?
        .into_iter()
        .map(|p| (p.symbol.clone(), p.signed_qty()))
        .collect();

    let ledger_rows = orders_ledger.read_all()?;
    let col = |n| orders_ledger.column(n).unwrap_or(0);
    let (c_time, c_symbol, c_order) = (col("time_utc"), col("symbol"), col("order_id"));
    let ledger_order_ids: HashSet<&str> = ledger_rows
        .iter()
        .map(|r| &r[c_order])
        .filter(|id| !id.is_empty())
        .collect();
    let broker_ids: HashSet<&str> = broker_orders.iter().map(|o| o.id.as_str()).collect();
    let bot_orders: HashMap<&str, &Order> = broker_orders
        .iter()
        .filter(|o| o.client_order_id.starts_with(BOT_PREFIX))
        .map(|o| (o.id.as_str(), o))
        .collect();
    let recorded = fills.recorded()?;

    let mut report: Vec<(String, String, String)> = Vec::new();
    let mut unrepairable = 0usize;

    // Orders the bot placed that its ledger does not have.
    let missing_orders: Vec<&Order> = broker_orders
        .iter()
        .filter(|o| {
            o.client_order_id.starts_with(BOT_PREFIX) && !ledger_order_ids.contains(o.id.as_str())
        })
        .collect();
    for o in &missing_orders {
        let detail = format!(
            "order {} ({}, {} {}, {}) is at the broker but not in orders.csv",
            o.id,
            o.client_order_id,
            o.side.as_deref().unwrap_or("?"),
            o.qty.as_deref().unwrap_or("?"),
            o.status
        );
        report.push(("order missing".into(), o.symbol.clone(), detail));
    }
    // Ledger orders the broker does not know (within the window).
    let since_cell = time_cell(since);
    for r in &ledger_rows {
        let id = &r[c_order];
        if !id.is_empty()
            && r[c_time] >= *since_cell
            && names.contains(&&r[c_symbol])
            && !broker_ids.contains(id)
        {
            unrepairable += 1;
            report.push((
                "unknown order".into(),
                r[c_symbol].to_string(),
                format!("orders.csv has order {id}, which the broker does not list"),
            ));
        }
    }
    // Fills: the bot's own always; every fill of a configured symbol unless the account is shared.
    let mut missing_fills: Vec<&FillActivity> = Vec::new();
    for a in &activities {
        if shared && !bot_orders.contains_key(a.order_id.as_str()) {
            continue;
        }
        match recorded.by_activity.get(&a.id) {
            None => {
                missing_fills.push(a);
                report.push((
                    "fill missing".into(),
                    a.symbol.clone(),
                    format!(
                        "{} {} at {} ({}, order {})",
                        a.side,
                        a.qty,
                        a.price,
                        time_cell(a.transaction_time),
                        a.order_id
                    ),
                ));
            }
            Some((qty, price)) if qty != &a.qty || price != &a.price => {
                unrepairable += 1;
                report.push((
                    "fill differs".into(),
                    a.symbol.clone(),
                    format!(
                        "activity {}: ledger {qty} at {price}, broker {} at {}",
                        a.id, a.qty, a.price
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if args.repair {
        let rows: Vec<Vec<String>> = missing_orders
            .iter()
            .map(|o| {
                vec![
                    time_cell(o.submitted_at.unwrap_or(since)),
                    o.symbol.clone(),
                    o.side.clone().unwrap_or_default(),
                    o.qty.clone().unwrap_or_default(),
                    String::new(),
                    o.order_type.clone().unwrap_or_default(),
                    o.client_order_id.clone(),
                    o.id.clone(),
                    o.status.to_string(),
                    "recovered by reconcile".into(),
                ]
            })
            .collect();
        orders_ledger.append(&rows)?;
        let client_ids: HashMap<&str, &str> = broker_orders
            .iter()
            .map(|o| (o.id.as_str(), o.client_order_id.as_str()))
            .collect();
        let fill_rows: Vec<(&FillActivity, &str)> = missing_fills
            .iter()
            .map(|a| {
                (
                    *a,
                    client_ids.get(a.order_id.as_str()).copied().unwrap_or(""),
                )
            })
            .collect();
        fills.append_fills(&fill_rows, "reconcile")?;
    }
    // Positions against the fills ledger (after any repair).
    if !shared {
        let net = fills.recorded()?.net_qty;
        for name in &names {
            let (broker, ours) = (
                positions.get(*name).copied().unwrap_or(0.0),
                net.get(*name).copied().unwrap_or(0.0),
            );
            if (broker - ours).abs() > 1e-9 {
                unrepairable += 1;
                report.push(("position differs".into(), name.to_string(), format!("broker holds {broker}, fills.csv adds up to {ours} (fills before --since are not compared; try an earlier --since)")));
            }
        }
    }

    if report.is_empty() {
        println!(
            "ledgers agree with the broker since {} ({} orders, {} fills checked)",
            time_cell(since),
            broker_orders.len(),
            activities.len()
        );
        return Ok(());
    }
    println!("{:<17} {:<6} detail", "mismatch", "symbol");
    for (kind, symbol, detail) in &report {
        println!("{kind:<17} {symbol:<6} {detail}");
    }
    let repairable = missing_orders.len() + missing_fills.len();
    if args.repair {
        println!(
            "repaired: appended {} order(s) and {} fill(s), marked as recovered",
            missing_orders.len(),
            missing_fills.len()
        );
        if unrepairable == 0 {
            return Ok(());
        }
    }
    let hint = if args.repair || repairable == 0 {
        ""
    } else {
        "; run with --repair to append what is missing"
    };
    Err(Error::Refused(format!(
        "{} mismatch(es) with the broker{hint}",
        if args.repair {
            unrepairable
        } else {
            report.len()
        }
    )))
}

//! `prometheus-bot reconcile`: the ledgers against the broker.
//!
//! Compares orders (the bot's, by order id), fills (by FILL activity id, with quantity and
//! price compared as the exact strings Alpaca sent) and positions (the broker's against the
//! sum of the fills ledger). Prints one line per mismatch and exits 1 if any remain.
//! `--repair` appends what the ledgers miss, marked as recovered; it never rewrites a row.
//!
//! Shares can change without a fill: a split books SPLIT activities (shares added, or removed
//! and re-added), which `--repair` records as `adjust` rows keyed by the activity id. A change
//! no activity explains is recorded only when the person confirms it with
//! `--adjust SYMBOL=SHARES`, and only if SHARES is what the broker holds (at most what it
//! holds, on a shared account): never guessed, never silent.

use crate::alpaca::Alpaca;
use crate::broker::Broker;
use crate::broker::{Fill, Order, Split};
use crate::cli::ReconcileArgs;
use crate::client_order_id;
use crate::config::Config;
use crate::credentials::Credentials;
use crate::domain::Qty;
use crate::error::{Error, Result};
use crate::fills::{Adjustment, Fills};
use crate::outln;
use crate::store::ledger::{time_cell, Ledger};
use crate::store::rows::{FillStatus, OrderRow, OrderRowStatus};
use crate::store::{State, TickLock};
use chrono::{Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::America::New_York;
use std::collections::{HashMap, HashSet};

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
    let names = config.symbol_names();
    let adjust = parse_adjustments(&args.adjust, &names)?;
    if !adjust.is_empty() && !args.repair {
        return Err(Error::Usage(
            "--adjust writes to fills.csv: pass it together with --repair".into(),
        ));
    }
    let credentials = Credentials::find(&config.env_file())?;
    let data_dir = &config.bot.data_dir;
    let _lock = TickLock::acquire(data_dir)?;
    let ledger_dir = data_dir.join("ledger");
    let orders_ledger = Ledger::<OrderRow>::open(&ledger_dir)?;
    let fills = Fills::open(&ledger_dir)?;
    let alpaca = Alpaca::new(&config.alpaca, credentials);
    let client: &dyn Broker = &alpaca;
    let shared = config.risk.shared_account;

    let broker_orders = client.orders_since(since, Some(&names))?;
    let activities: Vec<Fill> = client
        .fill_activities(since)?
        .into_iter()
        .filter(|a| names.contains(&a.symbol.as_str()))
        .collect();
    let positions: HashMap<String, Qty> = client
        .positions()?
        .into_iter()
        .map(|p| (p.symbol, p.qty))
        .collect();
    check_adjustments(&adjust, &positions, shared)?;
    let splits: Vec<Split> = client
        .split_activities(since)?
        .into_iter()
        .filter(|a| a.symbol.as_deref().is_some_and(|s| names.contains(&s)))
        .collect();

    let ledger_rows = orders_ledger.read_all()?;
    let ledger_order_ids: HashSet<&str> = ledger_rows
        .iter()
        .filter_map(|r| r.order_id.as_deref())
        .collect();
    let broker_ids: HashSet<&str> = broker_orders.iter().map(|o| o.id.as_str()).collect();
    let bot_orders: HashMap<&str, &Order> = broker_orders
        .iter()
        .filter(|o| client_order_id::is_ours(&o.client_order_id))
        .map(|o| (o.id.as_str(), o))
        .collect();
    let recorded = fills.recorded()?;

    let mut report: Vec<(String, String, String)> = Vec::new();
    let mut unrepairable = 0usize;
    let mut adjusted = 0usize;

    // Orders the bot placed that its ledger does not have.
    let missing_orders: Vec<&Order> = broker_orders
        .iter()
        .filter(|o| {
            client_order_id::is_ours(&o.client_order_id)
                && !ledger_order_ids.contains(o.id.as_str())
        })
        .collect();
    for o in &missing_orders {
        let detail = format!(
            "order {} ({}, {} {}, {}) is at the broker but not in orders.csv",
            o.id,
            o.client_order_id,
            o.side.map_or("?", |s| s.as_str()),
            o.qty,
            o.status
        );
        report.push(("order missing".into(), o.symbol.clone(), detail));
    }
    // Ledger orders the broker does not know (within the window).
    for r in &ledger_rows {
        let Some(id) = r.order_id.as_deref() else {
            continue;
        };
        // Whole seconds, as the ledger holds them: a row written in the second `since` falls in.
        if r.time_utc >= since.with_nanosecond(0).unwrap_or(since)
            && names.contains(&r.symbol.as_str())
            && !broker_ids.contains(id)
        {
            unrepairable += 1;
            report.push((
                "unknown order".into(),
                r.symbol.clone(),
                format!("orders.csv has order {id}, which the broker does not list"),
            ));
        }
    }
    // Fills: the bot's own always; every fill of a configured symbol unless the account is shared.
    let mut missing_fills: Vec<&Fill> = Vec::new();
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
                        time_cell(a.time),
                        a.order_id
                    ),
                ));
            }
            // Shares exactly; the price as the broker's text, digit for digit.
            Some((qty, price))
                if *qty != a.qty
                    || price.as_ref().map(|p| p.as_str()) != Some(a.price.as_str()) =>
            {
                unrepairable += 1;
                let price = price
                    .as_ref()
                    .map_or("no price".to_string(), |p| p.to_string());
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
    // Splits: shares the broker added or removed with no fill. On a shared account the
    // activity covers the person's shares too, so only the person can say what is the bot's.
    let mut missing_splits: Vec<Adjustment> = Vec::new();
    for a in splits
        .iter()
        .filter(|a| !recorded.activity_ids.contains(&a.id))
    {
        let symbol = a.symbol.clone().unwrap_or_default();
        let what = format!(
            "SPLIT activity {} on {}: {} shares ({})",
            a.id,
            a.date,
            a.qty.map_or("?".to_string(), |q| q.to_string()),
            a.description.as_deref().unwrap_or("")
        );
        if shared {
            log::warn!("{symbol}: {what}; the account is shared, so the bot's part is yours to confirm: `reconcile --repair --adjust {symbol}=SHARES`");
            continue;
        }
        match (a.qty, a.day) {
            (Some(qty), Some(day)) => {
                report.push(("split missing".into(), symbol.clone(), what));
                missing_splits.push(Adjustment {
                    time: new_york_midnight(day).unwrap_or(since),
                    symbol,
                    qty,
                    kind: FillStatus::Split,
                    id: a.id.clone(),
                });
            }
            _ => {
                unrepairable += 1;
                let why = format!("{what}: no readable qty or date; confirm the shares with --repair --adjust {symbol}=SHARES");
                report.push(("split unreadable".into(), symbol, why));
            }
        }
    }
    let mut notes = Vec::new();
    if args.repair {
        let rows = missing_orders
            .iter()
            .map(|o| {
                Ok(OrderRow {
                    time_utc: o.submitted_at.unwrap_or(since),
                    symbol: o.symbol.clone(),
                    side: o.side,
                    qty: Some(o.qty).filter(|q| q.is_positive()),
                    price: None,
                    order_type: o.order_type.clone().unwrap_or_default(),
                    // Ours (`pb-`), so never empty; Alpaca caps ids at 128 characters.
                    client_order_id: o.client_order_id.parse().map_err(|e| Error::BadResponse {
                        endpoint: "GET /v2/orders".into(),
                        detail: format!("order {}: {e}", o.id),
                    })?,
                    order_id: Some(o.id.clone()),
                    status: OrderRowStatus::Broker(o.status.clone()),
                    message: "recovered by reconcile".into(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        orders_ledger.append(&rows)?;
        let client_ids: HashMap<&str, &str> = broker_orders
            .iter()
            .map(|o| (o.id.as_str(), o.client_order_id.as_str()))
            .collect();
        let fill_rows: Vec<(&Fill, &str)> = missing_fills
            .iter()
            .map(|a| {
                (
                    *a,
                    client_ids.get(a.order_id.as_str()).copied().unwrap_or(""),
                )
            })
            .collect();
        fills.append_fills(&fill_rows, "reconcile")?;
        fills.append_adjustments(&missing_splits, "reconcile")?;
        let net = fills.recorded()?.net_qty.clone();
        let confirmed = confirmed_adjustments(&adjust, &net, Utc::now());
        for (symbol, target) in &adjust {
            if !confirmed.iter().any(|a| &a.symbol == symbol) {
                notes.push(format!(
                    "{symbol}: fills.csv already adds up to {target}; no adjustment needed"
                ));
            }
        }
        fills.append_adjustments(&confirmed, "reconcile")?;
        adjusted = confirmed.len();
    }
    // Positions against the fills ledger (after any repair).
    if !shared {
        let net = fills.recorded()?.net_qty.clone();
        for name in &names {
            let (broker, ours) = (
                positions.get(*name).copied().unwrap_or_default(),
                net.get(*name).copied().unwrap_or_default(),
            );
            if broker != ours {
                unrepairable += 1;
                report.push(("position differs".into(), name.to_string(), format!("broker holds {broker}, fills.csv adds up to {ours} (fills before --since are not compared; try an earlier --since; if a split or a transfer changed it, confirm with --repair --adjust {name}={broker})")));
            }
        }
    }

    // The state's summary of fills.csv (what each tick adds the new rows to) against a whole
    // read: a ledger edited before the summary's offset would otherwise go unseen by ticks.
    let stale_summary = stale_fills_summary(&fills, data_dir)?;
    if let Some(detail) = &stale_summary {
        report.push(("fills summary".into(), String::new(), detail.clone()));
        if args.repair {
            let mut state = State::load(data_dir)?;
            state.fills = None;
            state.save(data_dir)?;
            notes.push(
                "dropped the state's summary of fills.csv: the next tick reads the ledger whole"
                    .into(),
            );
        }
    }

    // Printed only now, after every append: a closed stdout stops the report, not a repair.
    for note in &notes {
        outln!("{note}")?;
    }
    if report.is_empty() {
        if adjusted > 0 {
            outln!("appended {adjusted} confirmed adjustment(s) to fills.csv")?;
        }
        outln!(
            "ledgers agree with the broker since {} ({} orders, {} fills checked)",
            time_cell(since),
            broker_orders.len(),
            activities.len()
        )?;
        return Ok(());
    }
    outln!("{:<17} {:<6} detail", "mismatch", "symbol")?;
    for (kind, symbol, detail) in &report {
        outln!("{kind:<17} {symbol:<6} {detail}")?;
    }
    let repairable = missing_orders.len()
        + missing_fills.len()
        + missing_splits.len()
        + usize::from(stale_summary.is_some());
    if args.repair {
        outln!(
            "repaired: appended {} order(s) and {} fill(s), marked as recovered; {} split(s) and {adjusted} confirmed adjustment(s)",
            missing_orders.len(),
            missing_fills.len(),
            missing_splits.len()
        )?;
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

/// Why the state's [`crate::fills::Summary`] no longer says what a whole read of fills.csv
/// says, or `None` when it agrees (or there is none yet).
fn stale_fills_summary(fills: &Fills, data_dir: &std::path::Path) -> Result<Option<String>> {
    let Some(kept) = State::load(data_dir)?.fills else {
        return Ok(None);
    };
    let now = fills.summary(Some(&kept))?;
    if now == fills.summary(None)? {
        return Ok(None);
    }
    Ok(Some(format!(
        "the state's running summary of fills.csv (shares {:?}) differs from a whole read of it: \
         was the ledger edited? --repair drops the summary, and the next tick reads fills.csv whole",
        now.net_qty
    )))
}

/// `--adjust SYMBOL=SHARES` values: the symbol configured, the shares a finite number.
fn parse_adjustments(values: &[String], names: &[&str]) -> Result<Vec<(String, Qty)>> {
    let mut out: Vec<(String, Qty)> = Vec::new();
    for value in values {
        let bad = |why: &str| Error::Usage(format!("--adjust `{value}`: {why}"));
        let (symbol, shares) = value
            .split_once('=')
            .ok_or_else(|| bad("expected SYMBOL=SHARES, e.g. AAPL=20"))?;
        let symbol = symbol.trim();
        if !names.contains(&symbol) {
            return Err(bad(&format!(
                "{symbol} is not a [[symbol]] in the config ({})",
                names.join(", ")
            )));
        }
        let shares = Qty::parse(shares).map_err(|e| {
            bad(&format!(
                "SHARES must be a number with at most 9 decimals (the bot's total after the change): {e}"
            ))
        })?;
        if out.iter().any(|(s, _)| s == symbol) {
            return Err(bad(&format!("{symbol} is named twice")));
        }
        out.push((symbol.to_string(), shares));
    }
    Ok(out)
}

/// A confirmation must match the broker: its position exactly (the account is the bot's), or
/// at most its position on the same side (a shared account also holds the person's shares).
fn check_adjustments(
    adjust: &[(String, Qty)],
    positions: &HashMap<String, Qty>,
    shared: bool,
) -> Result<()> {
    for (symbol, target) in adjust {
        let broker = positions.get(symbol).copied().unwrap_or_default();
        let fits = if shared {
            target.is_zero() || (target.signum() == broker.signum() && target.abs() <= broker.abs())
        } else {
            *target == broker
        };
        if !fits {
            let rule = if shared {
                "at most what it holds, on the same side"
            } else {
                "exactly what it holds"
            };
            return Err(Error::Refused(format!(
                "--adjust {symbol}={target}: the broker (GET /v2/positions) holds {broker} {symbol}; \
                 a confirmed total must be {rule}. Nothing was written"
            )));
        }
    }
    Ok(())
}

/// The rows that bring the ledger's net shares to each confirmed total (none where it
/// already agrees). The id names the symbol and second, so it stays unique in the ledger.
fn confirmed_adjustments(
    adjust: &[(String, Qty)],
    net: &HashMap<String, Qty>,
    now: chrono::DateTime<Utc>,
) -> Vec<Adjustment> {
    adjust
        .iter()
        .filter_map(|(symbol, target)| {
            let delta = *target - net.get(symbol).copied().unwrap_or_default();
            (!delta.is_zero()).then(|| Adjustment {
                time: now,
                symbol: symbol.clone(),
                qty: delta,
                kind: FillStatus::Confirmed,
                id: format!("adjust:{symbol}:{}", now.format("%Y%m%dT%H%M%S%.6f")),
            })
        })
        .collect()
}

/// The UTC instant a New York day starts (a split is booked before that day's open).
fn new_york_midnight(day: NaiveDate) -> Option<chrono::DateTime<Utc>> {
    New_York
        .from_local_datetime(&day.and_hms_opt(0, 0, 0)?)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["AAPL", "TSLA"];

    fn q(text: &str) -> Qty {
        Qty::parse(text).unwrap()
    }

    #[test]
    fn adjust_values_name_a_configured_symbol_and_a_number() {
        let ok = parse_adjustments(&["AAPL=20".into(), "TSLA=-3.5".into()], NAMES).unwrap();
        assert_eq!(
            ok,
            vec![("AAPL".into(), q("20")), ("TSLA".into(), q("-3.5"))]
        );
        for bad in [
            "AAPL",
            "MSFT=1",
            "AAPL=twenty",
            "AAPL=inf",
            "AAPL=1.0000000001",
        ] {
            let e = parse_adjustments(&[bad.into()], NAMES).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{e}");
        }
        let twice = parse_adjustments(&["AAPL=1".into(), "AAPL=2".into()], NAMES);
        assert!(twice.is_err());
    }

    #[test]
    fn a_confirmed_total_must_match_the_broker() {
        let positions: HashMap<String, Qty> = [("AAPL".to_string(), q("20"))].into();
        let one = |s: &str, n: &str| vec![(s.to_string(), q(n))];
        assert!(check_adjustments(&one("AAPL", "20"), &positions, false).is_ok());
        let e = check_adjustments(&one("AAPL", "25"), &positions, false).unwrap_err();
        assert!(e.to_string().contains("holds 20 AAPL"), "{e}");
        assert!(check_adjustments(&one("TSLA", "1"), &positions, false).is_err());
        // Shared: the bot's part, at most the broker's, same side.
        assert!(check_adjustments(&one("AAPL", "12"), &positions, true).is_ok());
        assert!(check_adjustments(&one("AAPL", "21"), &positions, true).is_err());
        assert!(check_adjustments(&one("AAPL", "-1"), &positions, true).is_err());
        // Exact: a broker position of 0.3 is confirmed by 0.1 + 0.2, not refused by a rounding.
        let fractional: HashMap<String, Qty> = [("AAPL".to_string(), q("0.3"))].into();
        let summed = vec![("AAPL".to_string(), q("0.1") + q("0.2"))];
        assert!(check_adjustments(&summed, &fractional, false).is_ok());
    }

    #[test]
    fn a_confirmation_records_the_difference_only() {
        let net: HashMap<String, Qty> =
            [("AAPL".to_string(), q("10")), ("TSLA".to_string(), q("4"))].into();
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 24, 15, 31, 2)
            .unwrap();
        let rows = confirmed_adjustments(
            &[("AAPL".into(), q("20")), ("TSLA".into(), q("4"))],
            &net,
            now,
        );
        assert_eq!(rows.len(), 1, "TSLA already agrees");
        assert_eq!(rows[0].qty, q("10"));
        assert_eq!(rows[0].kind, FillStatus::Confirmed);
        assert_eq!(rows[0].id, "adjust:AAPL:20261124T153102.000000");
        let down = confirmed_adjustments(&[("AAPL".into(), q("2.5"))], &net, now);
        assert_eq!(down[0].qty, q("-7.5"));
    }

    #[test]
    fn splits_are_dated_at_new_york_midnight() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let t = new_york_midnight(day).unwrap();
        assert_eq!(time_cell(t), "2026-11-24 05:00:00");
    }
}

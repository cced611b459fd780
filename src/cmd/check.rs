//! `prometheus-bot check`: is everything in place for a tick to trade?
//!
//! Validates the config (already done by loading it), finds the keys, and makes three calls:
//! account, clock, latest trades. Prints a short report. Fails (exit 1) when the account
//! cannot trade or the feed has no price for a symbol; a closed market is reported, not a
//! failure, since the setup is fine and a tick would simply wait for the open. A model that
//! failed its validation is refused when the config loads (exit 2) unless its strategy says
//! `trade_unvalidated = true`; then, like any model warning, it is printed here.

use crate::alpaca::Alpaca;
use crate::config::Config;
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::outln;
use crate::strategy::Strategy;
use chrono::{DateTime, Utc};
use chrono_tz::America::New_York;

pub fn run(config: &Config) -> Result<()> {
    let credentials = Credentials::find(&config.env_file())?;
    let client = Alpaca::new(&config.alpaca, credentials);
    let mut problems = Vec::new();
    let mode = if config.alpaca.live {
        "LIVE (real money)"
    } else {
        "paper"
    };
    outln!(
        "config     {} ok ({} symbols, {} bars, {mode})",
        config.path.display(),
        config.symbols.len(),
        config.bot.timeframe
    )?;
    outln!("keys       found")?;

    let account = client.account()?;
    let status = account.status.as_deref().unwrap_or("unknown");
    outln!(
        "account    {status}, buying power {} {}, equity {}",
        account.buying_power.as_deref().unwrap_or("?"),
        account.currency.as_deref().unwrap_or("USD"),
        account.equity.as_deref().unwrap_or("?")
    )?;
    if status != "ACTIVE" {
        problems.push(format!("account status is {status}, not ACTIVE"));
    }
    for (blocked, what) in [
        (
            account.trading_blocked,
            "trading is blocked on this account",
        ),
        (account.account_blocked, "the account is blocked"),
        (
            account.trade_suspended_by_user,
            "trading is suspended by the user",
        ),
    ] {
        if blocked {
            problems.push(what.to_string());
        }
    }

    let clock = client.clock()?;
    let fmt = |t: Option<chrono::DateTime<chrono::FixedOffset>>| {
        t.map_or("?".into(), |t| {
            t.with_timezone(&New_York)
                .format("%a %Y-%m-%d %H:%M %Z")
                .to_string()
        })
    };
    if clock.is_open {
        outln!("market     open, closes {}", fmt(clock.next_close))?;
    } else {
        outln!("market     closed, opens {}", fmt(clock.next_open))?;
    }
    let skew = (Utc::now() - clock.timestamp.with_timezone(&Utc)).num_seconds();
    if skew.abs() > 30 {
        outln!("clock      this machine is {skew} s off the broker's clock (the tick uses the broker's)")?;
    }

    let names = config.symbol_names();
    let trades = client.latest_trades(&names)?;
    let now = clock.timestamp.with_timezone(&Utc);
    for name in &names {
        match trades.get(*name) {
            Some(t) => {
                let age = (now - t.t).num_seconds();
                outln!(
                    "feed       {name} {} ({} feed, {age} s old)",
                    t.p,
                    config.alpaca.feed.as_str()
                )?;
            }
            None => {
                outln!("feed       {name}: no latest trade")?;
                problems.push(format!(
                    "the {} feed has no latest trade for {name}",
                    config.alpaca.feed.as_str()
                ));
            }
        }
    }
    for symbol in &config.symbols {
        if let Some(line) = model_age(&symbol.name, &symbol.strategy, now) {
            outln!("model      {}", line.0)?;
            if let Some(problem) = line.1 {
                problems.push(problem);
            }
        }
    }
    // A model refused by its validation, feed or timeframe never gets here (the config load
    // fails, exit 2); what is left is said, so that "a tick could trade" is never read as
    // "this model is validated".
    for warning in &config.warnings {
        outln!("model      warning: {warning}")?;
    }
    if problems.is_empty() {
        outln!("ok         a tick could trade")?;
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "check failed: {}",
            problems.join("; ")
        )))
    }
}

/// A model strategy's age by the broker's clock: the line to print and, past `max_age_days`,
/// the problem (every tick would hold on it until it is retrained).
fn model_age(
    name: &str,
    strategy: &Strategy,
    now: DateTime<Utc>,
) -> Option<(String, Option<String>)> {
    let Strategy::Model {
        trained_until: Some(until),
        max_age_days,
        ..
    } = strategy
    else {
        return None;
    };
    let age = (now - *until).num_days();
    let line = format!(
        "{name}: last training bar {} UTC, {age} days ago{}",
        until.format("%Y-%m-%d %H:%M"),
        max_age_days.map_or(String::new(), |m| format!(" (max_age_days {m})"))
    );
    let problem = max_age_days.filter(|&m| age > i64::from(m)).map(|m| {
        format!("the {name} model is {age} days old, over max_age_days {m}: a tick would hold; retrain it with `prometheus-bot train --symbol {name}`")
    });
    Some((line, problem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_model_past_its_max_age_is_a_problem_by_the_brokers_clock() {
        let until = Utc.with_ymd_and_hms(2026, 10, 1, 4, 0, 0).unwrap();
        let model = |max_age_days| Strategy::Model {
            path: String::new(),
            threshold: 0.55,
            drift_limit: 4.0,
            max_age_days,
            trade_unvalidated: false,
            model: None,
            trained_until: Some(until),
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
        // 2026-10-01 04:00 to 2026-11-24 15:00: 54 days and 11 hours.
        let (line, problem) = model_age("AAPL", &model(Some(60)), now).unwrap();
        assert_eq!(
            line,
            "AAPL: last training bar 2026-10-01 04:00 UTC, 54 days ago (max_age_days 60)"
        );
        assert_eq!(problem, None);
        let (_, problem) = model_age("AAPL", &model(Some(54)), now).unwrap();
        assert_eq!(problem, None, "54 days is not over 54");
        let (_, problem) = model_age("AAPL", &model(Some(53)), now).unwrap();
        assert!(problem
            .unwrap()
            .contains("54 days old, over max_age_days 53"));
        assert_eq!(model_age("AAPL", &model(None), now).unwrap().1, None);
        let sma = Strategy::SmaCross {
            fast: 1,
            slow: 2,
            allow_short: false,
        };
        assert!(model_age("AAPL", &sma, now).is_none());
    }
}

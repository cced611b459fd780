//! `prometheus-bot data check`: the health of every cached bar file; `data repair`: sort a
//! file and drop its duplicate timestamps, which the tick and the backtester refuse to read.

use super::fetch::symbols;
use crate::cli::{DataArgs, DataCheckArgs, DataCommand, DataRepairArgs};
use crate::config::Config;
use crate::domain::{Bar, Timeframe};
use crate::error::{Error, Result};
use crate::history::check::{analyse, Report};
use crate::outln;
use crate::store::bar_cache::{read_rows, time_cell, BarCache};
use crate::store::TickLock;
use std::path::PathBuf;

pub fn run(config: &Config, args: &DataArgs) -> Result<()> {
    match &args.command {
        DataCommand::Check(args) => check(config, args),
        DataCommand::Repair(args) => repair(config, args),
    }
}

/// Rewrite every file whose rows are out of order or repeat a timestamp, sorted and unique,
/// under the tick lock (the tick appends to these files). A row that does not parse is not
/// guessed at: the error names its line.
pub fn repair(config: &Config, args: &DataRepairArgs) -> Result<()> {
    let cache = BarCache::new(&config.bot.data_dir);
    let _lock = TickLock::acquire(&config.bot.data_dir)?;
    let files = files(config, &cache, &args.symbols)?;
    if files.is_empty() {
        return outln!(
            "no cached bars in {}",
            config.bot.data_dir.join("bars").display()
        );
    }
    // Every file is repaired before a line is printed: a closed stdout stops the report,
    // never the repair of the files after the first.
    let mut said = Vec::with_capacity(files.len());
    for (path, symbol, timeframe) in files {
        let rows = read_rows(&path)?;
        let Some(bars) = sorted_unique(rows.iter().map(|(_, b)| *b).collect()) else {
            said.push(format!("{}: ok, nothing to repair", path.display()));
            continue;
        };
        let mut aside = path.clone().into_os_string();
        aside.push(format!(
            ".before-repair-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S")
        ));
        std::fs::copy(&path, &aside).map_err(|e| Error::io(&path, "copy", e))?;
        cache.replace(&symbol, timeframe, &bars, &cache.meta(&symbol, timeframe)?)?;
        said.push(format!(
            "{}: repaired: {} rows -> {} bars, sorted and unique (the old file is {})",
            path.display(),
            rows.len(),
            bars.len(),
            PathBuf::from(aside).display()
        ));
    }
    said.iter().try_for_each(|line| outln!("{line}"))
}

/// The bars sorted by time with one bar per timestamp (the later row in the file wins: it
/// was written last), or `None` if they already were.
fn sorted_unique(mut bars: Vec<Bar>) -> Option<Vec<Bar>> {
    if bars.windows(2).all(|w| w[0].time < w[1].time) {
        return None;
    }
    // Stable: rows with one timestamp keep their file order, so the last is the later row.
    bars.sort_by_key(|b| b.time);
    let mut out: Vec<Bar> = Vec::with_capacity(bars.len());
    for b in bars {
        match out.last_mut() {
            Some(last) if last.time == b.time => *last = b,
            _ => out.push(b),
        }
    }
    Some(out)
}

/// Gaps listed per file; the rest are counted.
const GAPS_SHOWN: usize = 5;

pub fn check(config: &Config, args: &DataCheckArgs) -> Result<()> {
    let cache = BarCache::new(&config.bot.data_dir);
    let files = files(config, &cache, &args.symbols)?;
    // A symbol asked for by name with no file at all is an error, not an empty report: the
    // person (or a script) asked about that cache and it is not there.
    let missing = missing_symbols(config, &cache, &args.symbols, &files)?;
    if files.is_empty() && missing.is_empty() {
        outln!(
            "no cached bars in {} (run `prometheus-bot fetch`)",
            config.bot.data_dir.join("bars").display()
        )?;
        return Ok(());
    }
    let mut unusable = Vec::new();
    for (path, _, timeframe) in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let report = match read_rows(&path) {
            Ok(rows) => analyse(&rows, timeframe),
            Err(e) => {
                outln!("{name}: UNUSABLE: {e}")?;
                unusable.push(name);
                continue;
            }
        };
        print_report(&name, timeframe, &report)?;
        if !report.is_usable() {
            unusable.push(name);
        }
    }
    if !missing.is_empty() {
        return Err(Error::Refused(missing.join("; ")));
    }
    if unusable.is_empty() {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "unusable bar files: {} (see above)",
            unusable.join(", ")
        )))
    }
}

/// One message per symbol named on the command line that has no cache file in any timeframe,
/// naming the file the config's timeframe would use and the command that fills it.
fn missing_symbols(
    config: &Config,
    cache: &BarCache,
    given: &[String],
    found: &[(PathBuf, String, Timeframe)],
) -> Result<Vec<String>> {
    if given.is_empty() {
        return Ok(Vec::new());
    }
    Ok(symbols(config, given)?
        .into_iter()
        .filter(|symbol| !found.iter().any(|(_, s, _)| s == symbol))
        .map(|symbol| {
            format!(
                "no cached bars for {symbol}: {} does not exist (nor a file of another \
                 timeframe); run `prometheus-bot fetch {symbol}` or `prometheus-bot import`",
                cache.path(&symbol, config.bot.timeframe).display()
            )
        })
        .collect())
}

/// The files to check: the given symbols in every timeframe, or every cache file.
fn files(
    config: &Config,
    cache: &BarCache,
    given: &[String],
) -> Result<Vec<(PathBuf, String, Timeframe)>> {
    let wanted = if given.is_empty() {
        None
    } else {
        Some(symbols(config, given)?)
    };
    let dir = config.bot.data_dir.join("bars");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, "read", e)),
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".csv"))
        else {
            continue;
        };
        let Some((symbol, tf)) = stem.rsplit_once('-') else {
            continue;
        };
        let Ok(timeframe) = tf.parse::<Timeframe>() else {
            continue;
        };
        let symbol = symbol.replace('_', "/");
        if wanted.as_ref().is_none_or(|w| w.contains(&symbol))
            && path == cache.path(&symbol, timeframe)
        {
            files.push((path, symbol, timeframe));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

fn print_report(name: &str, timeframe: Timeframe, r: &Report) -> Result<()> {
    let range = match (r.first, r.last) {
        (Some(a), Some(b)) => format!("{} .. {}", time_cell(a), time_cell(b)),
        _ => "empty".into(),
    };
    let verdict = if r.is_usable() { "ok" } else { "UNUSABLE" };
    outln!("{name}: {verdict}, {} bars, {range}", r.bars)?;
    for (line, t) in &r.duplicates {
        outln!("  line {line}: duplicate timestamp {}", time_cell(*t))?;
    }
    for (line, t) in &r.unsorted {
        outln!(
            "  line {line}: {} is earlier than the row before (unsorted)",
            time_cell(*t)
        )?;
    }
    if !r.duplicates.is_empty() || !r.unsorted.is_empty() {
        outln!("  `prometheus-bot data repair` sorts the file and drops the duplicates")?;
    }
    for (line, what) in &r.impossible {
        outln!("  line {line}: impossible bar: {what}")?;
    }
    if !r.gaps.is_empty() {
        let unit = if timeframe == Timeframe::Day1 {
            "weekday(s)"
        } else {
            "regular-hours minute(s)"
        };
        let mut gaps = r.gaps.clone();
        gaps.sort_by_key(|g| std::cmp::Reverse(g.missing));
        outln!("  {} gap(s) larger than {timeframe}; largest:", gaps.len())?;
        for g in gaps.iter().take(GAPS_SHOWN) {
            let size = if timeframe == Timeframe::Day1 {
                g.missing.num_days()
            } else {
                g.missing.num_minutes()
            };
            outln!(
                "    {} -> {}: {size} {unit} missing",
                time_cell(g.after),
                time_cell(g.before)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn bar(min: i64, close: f64) -> Bar {
        Bar {
            time: Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap()
                + chrono::Duration::minutes(min),
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
            trades: 1,
            vwap: close,
        }
    }

    #[test]
    fn repair_sorts_and_keeps_the_later_row_of_a_duplicate() {
        assert_eq!(sorted_unique(vec![bar(0, 1.0), bar(1, 2.0)]), None);
        let fixed = sorted_unique(vec![bar(0, 1.0), bar(2, 3.0), bar(1, 2.0), bar(2, 3.5)]);
        assert_eq!(fixed, Some(vec![bar(0, 1.0), bar(1, 2.0), bar(2, 3.5)]));
    }
}

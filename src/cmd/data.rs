//! `prometheus-bot data check`: the health of every cached bar file.

use super::fetch::symbols;
use crate::cli::DataCheckArgs;
use crate::config::Config;
use crate::domain::Timeframe;
use crate::error::{Error, Result};
use crate::history::check::{analyse, Report};
use crate::store::bar_cache::{read_rows, time_cell, BarCache};
use std::path::PathBuf;

/// Gaps listed per file; the rest are counted.
const GAPS_SHOWN: usize = 5;

pub fn check(config: &Config, args: &DataCheckArgs) -> Result<()> {
    let cache = BarCache::new(&config.bot.data_dir);
    let files = files(config, &cache, &args.symbols)?;
    if files.is_empty() {
        println!(
            "no cached bars in {} (run `prometheus-bot fetch`)",
            config.bot.data_dir.join("bars").display()
        );
        return Ok(());
    }
    let mut unusable = Vec::new();
    for (path, timeframe) in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let report = match read_rows(&path) {
            Ok(rows) => analyse(&rows, timeframe),
            Err(e) => {
                println!("{name}: UNUSABLE: {e}");
                unusable.push(name);
                continue;
            }
        };
        print_report(&name, timeframe, &report);
        if !report.is_usable() {
            unusable.push(name);
        }
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

/// The files to check: the given symbols in every timeframe, or every cache file.
fn files(config: &Config, cache: &BarCache, given: &[String]) -> Result<Vec<(PathBuf, Timeframe)>> {
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
            files.push((path, timeframe));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

fn print_report(name: &str, timeframe: Timeframe, r: &Report) {
    let range = match (r.first, r.last) {
        (Some(a), Some(b)) => format!("{} .. {}", time_cell(a), time_cell(b)),
        _ => "empty".into(),
    };
    let verdict = if r.is_usable() { "ok" } else { "UNUSABLE" };
    println!("{name}: {verdict}, {} bars, {range}", r.bars);
    for (line, t) in &r.duplicates {
        println!("  line {line}: duplicate timestamp {}", time_cell(*t));
    }
    for (line, t) in &r.unsorted {
        println!(
            "  line {line}: {} is earlier than the row before (unsorted)",
            time_cell(*t)
        );
    }
    for (line, what) in &r.impossible {
        println!("  line {line}: impossible bar: {what}");
    }
    if !r.gaps.is_empty() {
        let unit = if timeframe == Timeframe::Day1 {
            "weekday(s)"
        } else {
            "regular-hours minute(s)"
        };
        let mut gaps = r.gaps.clone();
        gaps.sort_by_key(|g| std::cmp::Reverse(g.missing));
        println!("  {} gap(s) larger than {timeframe}; largest:", gaps.len());
        for g in gaps.iter().take(GAPS_SHOWN) {
            let size = if timeframe == Timeframe::Day1 {
                g.missing.num_days()
            } else {
                g.missing.num_minutes()
            };
            println!(
                "    {} -> {}: {size} {unit} missing",
                time_cell(g.after),
                time_cell(g.before)
            );
        }
    }
}

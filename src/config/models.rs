//! Loading the model files that `kind = "model"` strategies name: the config loader's job,
//! because the file's location (relative to the config file's folder) and the line to blame
//! (the `path` key) are the config's. Checking a file's text is [`crate::model::load`]'s.
//!
//! Reading goes through the caller's `read` ([`super::Config::load`] passes `std::fs`, tests a
//! map), so this stays testable without a disk.

use super::Config;
use crate::error::{Error, Result};
use crate::strategy::{Predictor, Strategy};
use std::path::Path;
use std::sync::Arc;

/// Load every `kind = "model"` strategy's file and check it against `[bot] timeframe` and,
/// when the config is loaded `to_trade` (`tick`, `check`), against `[alpaca] feed` and its own
/// validation ([`crate::model::ModelFile::gate`]); for a backtest or replay those are warnings.
///
/// `path` resolves against the config file's folder. Each model is loaded once per process and
/// shared by reference. A missing, unreadable, damaged or mismatched model, or one that failed
/// its validation without `trade_unvalidated = true`, is a config error naming the config
/// file, the `path` key's line and the model file. What a tick should still be told (an
/// unvalidated model traded anyway, a threshold other than the validated one, an unknown
/// feed) goes to `config.warnings`: every process that trades loads the config, so every
/// tick logs them.
pub(super) fn attach(
    config: &mut Config,
    config_text: &str,
    to_trade: bool,
    read: impl Fn(&Path) -> std::io::Result<String>,
) -> Result<()> {
    let dir = config
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let timeframe = config.bot.timeframe;
    let feed = config.alpaca.feed.as_str();
    for (k, symbol) in config.symbols.iter_mut().enumerate() {
        let Strategy::Model {
            ref path,
            threshold,
            trade_unvalidated,
            ref mut model,
            ref mut trained_until,
            ..
        } = symbol.strategy
        else {
            continue;
        };
        let line = path_line(config_text, k);
        let fail = |msg: String| Error::config(&config.path, line, Some("path"), msg);
        let full = dir.join(path);
        let text = read(&full).map_err(|e| {
            fail(format!(
                "cannot read the model file {}: {e} (train it with `prometheus-bot train --symbol {} --timeframe {timeframe}`; \
                 `path` is relative to the config file's folder, models are written to data/models/)",
                full.display(),
                symbol.name
            ))
        })?;
        let file = crate::model::parse(&full, &text).map_err(&fail)?;
        let blame = |msg: String| fail(format!("the model {} {msg}", full.display()));
        let predictor = Predictor::from_file(&file, timeframe).map_err(blame)?;
        // A backtest or a replay is research: what would stop a tick is a warning there.
        let warnings = match file.gate(feed, threshold, trade_unvalidated) {
            Ok(warnings) => warnings,
            Err(refusal) if !to_trade => vec![format!("{refusal} (a tick would refuse it)")],
            Err(refusal) => return Err(blame(refusal)),
        };
        config.warnings.extend(
            warnings
                .into_iter()
                .map(|w| format!("{}: the model {} {w}", symbol.name, full.display())),
        );
        *model = Some(Arc::new(predictor));
        *trained_until = file.trained_until();
    }
    Ok(())
}

/// The 1-based line of the `path` key in the `k`-th `[[symbol]]` section (the strategy's
/// inline table or a `[symbol.strategy]` table), for error messages; else that section's
/// header line.
fn path_line(text: &str, k: usize) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[symbol]]"))
        .nth(k)?
        .0;
    for (i, line) in lines.iter().enumerate().skip(header + 1) {
        let t = line.trim_start();
        if t.starts_with("[[") || (t.starts_with('[') && !t.starts_with("[symbol.")) {
            break;
        }
        let code = t.split('#').next().unwrap_or("");
        let has_key = code.match_indices("path").any(|(at, _)| {
            let before = code[..at].chars().next_back();
            let after = code[at + 4..].trim_start();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && after.starts_with('=')
        });
        if has_key {
            return Some(i + 1);
        }
    }
    Some(header + 1)
}

#[cfg(test)]
#[path = "models_tests.rs"]
mod tests;

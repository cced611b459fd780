//! `prometheus-bot rearm`: a person's decision to resume after a drawdown halt.
//!
//! A halt never clears by itself. Re-arming clears it and forgets the equity peak, so the
//! next tick measures drawdown from the equity it finds then. The halt is in two places
//! (state.json and data/halt.json, which outlives a lost state); both are cleared, the halt
//! file last.

use crate::config::Config;
use crate::error::Result;
use crate::outln;
use crate::risk::Halt;
use crate::store::state::{clear_halt, load_halt};
use crate::store::{State, TickLock};

pub fn run(config: &Config) -> Result<()> {
    let data_dir = &config.bot.data_dir;
    let lock = TickLock::acquire(data_dir)?;
    let mut state = State::load_ignoring_halt_file(data_dir)?;
    // A halt file that cannot be read still means "halted": re-arming is what clears it.
    let kept = load_halt(data_dir).unwrap_or_else(|e| {
        log::warn!("{e}");
        Some(Halt {
            since: chrono::Utc::now(),
            reason: "the halt file could not be read".into(),
        })
    });
    match state.risk.halted.take().or(kept) {
        Some(halt) => {
            state.risk.peak_equity = None;
            state.save(data_dir)?;
            clear_halt(data_dir, &lock)?;
            log::warn!("re-armed by hand; the halt was: {}", halt.reason);
            outln!(
                "re-armed: trading resumes on the next tick (halted since {} UTC: {})",
                halt.since.format("%Y-%m-%d %H:%M:%S"),
                halt.reason
            )?;
        }
        None => outln!("not halted; nothing to re-arm")?,
    }
    if data_dir.join("STOP").exists() {
        outln!(
            "note: the kill switch {} is still there; remove it to trade",
            data_dir.join("STOP").display()
        )?;
    }
    Ok(())
}

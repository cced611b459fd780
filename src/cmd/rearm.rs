//! `prometheus-bot rearm`: a person's decision to resume after a drawdown halt.
//!
//! A halt never clears by itself. Re-arming clears it and forgets the equity peak, so the
//! next tick measures drawdown from the equity it finds then.

use crate::config::Config;
use crate::error::Result;
use crate::store::{State, TickLock};

pub fn run(config: &Config) -> Result<()> {
    let data_dir = &config.bot.data_dir;
    let _lock = TickLock::acquire(data_dir)?;
    let mut state = State::load(data_dir)?;
    match state.risk.halted.take() {
        Some(halt) => {
            state.risk.peak_equity = None;
            state.save(data_dir)?;
            log::warn!("re-armed by hand; the halt was: {}", halt.reason);
            println!(
                "re-armed: trading resumes on the next tick (halted since {} UTC: {})",
                halt.since.format("%Y-%m-%d %H:%M:%S"),
                halt.reason
            );
        }
        None => println!("not halted; nothing to re-arm"),
    }
    if data_dir.join("STOP").exists() {
        println!(
            "note: the kill switch {} is still there; remove it to trade",
            data_dir.join("STOP").display()
        );
    }
    Ok(())
}

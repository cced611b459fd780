//! prometheus-bot: a once-a-minute algorithmic trading bot for US stocks on Alpaca.
//!
//! Each run of the binary is one short-lived command. The main one, `tick`, does:
//!
//! ```text
//! lock ─► config ─► state ─► broker clock ─► resolve unfinished orders
//!      ─► latest trades + bars (cache + one request) ─► positions + open orders
//!      ─► strategy::decide per symbol ─► order (idempotent client id) ─► ledgers ─► state
//! ```
//!
//! Module map: [`cli`] parses, [`config`] validates, [`credentials`] finds keys,
//! [`alpaca`] talks HTTP, [`strategy`] decides (pure), [`store`] owns every file,
//! [`cmd`] holds one module per command, [`out`] is the one path to stdout, [`error`] decides
//! exit codes.
//!
//! No `unsafe` except where a module says why and a test proves the invariant: the one
//! today is the million-row cache load writing one vector from two threads
//! (`store/bar_cache_load.rs`).
#![deny(unsafe_code)]

pub mod alpaca;
pub mod backtest;
pub mod broker;
pub mod cli;
pub mod client_order_id;
pub mod cmd;
pub mod config;
pub mod credentials;
pub mod decimal;
pub mod domain;
pub mod error;
pub mod fills;
pub mod history;
pub mod legs;
pub mod logging;
pub mod model;
pub mod ops;
pub mod order_kind;
pub mod orders;
pub mod out;
pub mod plan;
pub mod progress;
pub mod qty;
pub mod report;
pub mod risk;
pub mod sizing;
pub mod store;
pub mod strategy;
#[cfg(test)]
mod test_rng;

use cli::{Cli, Command};
use config::Config;
use error::Result;

/// Run one command to completion.
pub fn run(cli: Cli) -> Result<()> {
    // `replay` loads its own config (none with --sample) and logs into its own folder.
    if let Command::Replay(args) = &cli.command {
        return cmd::replay::run(&cli.config, args);
    }
    // Only the commands that decide load the model files a config names: `train` writes
    // them, and `fetch` or `import` bring the bars to train on, before any exists.
    let models = matches!(
        cli.command,
        Command::Tick(_) | Command::Check(_) | Command::Backtest(_)
    );
    // The commands that trade refuse a model that failed its validation or was trained on
    // the other feed; a backtest only warns.
    let config = if matches!(cli.command, Command::Tick(_) | Command::Check(_)) {
        Config::load_to_trade(&cli.config)?
    } else {
        Config::load_with(&cli.config, models)?
    };
    logging::add_file(
        &config.bot.log_dir,
        config.ops.log_max_bytes,
        config.ops.log_keep,
    );
    // What the loaded models ask to be told on every run that trades (an unvalidated model
    // traded anyway, a threshold other than the validated one, an unrecorded feed).
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    match cli.command {
        Command::Tick(args) => cmd::tick::run(&config, &args),
        Command::Check(_) => cmd::check::run(&config),
        Command::Fetch(args) => cmd::fetch::run(&config, &args),
        Command::Import(args) => cmd::import::run(&config, &args),
        Command::Reconcile(args) => cmd::reconcile::run(&config, &args),
        Command::Rearm(_) => cmd::rearm::run(&config),
        Command::Status(args) => cmd::status::run(&config, &args),
        Command::Report(args) => cmd::report::run(&config, &args),
        Command::Backtest(args) => cmd::backtest::run(&config, &args),
        // Handled before the config load above; kept here so that the match stays exhaustive.
        Command::Replay(args) => cmd::replay::run(&cli.config, &args),
        Command::Train(args) => cmd::train::run(&config, &args),
        Command::Data(args) => cmd::data::run(&config, &args),
    }
}

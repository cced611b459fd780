//! The command line. Doc comments here are the `--help` text.

use argh::FromArgs;
use std::path::PathBuf;

/// prometheus-bot: a once-a-minute trading bot for US stocks on Alpaca (paper by default).
///
/// Exit codes: 0 ok (a hold, a closed market, a dry run), 1 runtime failure (broker, network,
/// disk), 2 usage or config error, 3 another tick holds the lock.
#[derive(FromArgs, Debug)]
pub struct Cli {
    /// the config file (default: config.toml in the current folder); paths inside it resolve
    /// against its own folder
    #[argh(option, default = "PathBuf::from(\"config.toml\")")]
    pub config: PathBuf,

    #[argh(subcommand)]
    pub command: Command,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Tick(TickArgs),
    Check(CheckArgs),
}

/// One trading step: lock, read the broker clock, prices and bars, decide, order, record.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "tick")]
pub struct TickArgs {
    /// decide and record, but place no order
    #[argh(switch)]
    pub dry_run: bool,

    /// allow live trading (also needs `live = true` and the live trading_url in the config)
    #[argh(switch)]
    pub live: bool,
}

/// Validate the config and keys, call the broker and the data feed once, and report whether a
/// tick could trade.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
pub struct CheckArgs {}

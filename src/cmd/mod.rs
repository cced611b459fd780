//! One module per command; each exposes `run(config, args)`.

pub mod backtest;
pub mod check;
pub mod data;
pub mod fetch;
pub mod import;
pub mod out_dir;
pub mod rearm;
pub mod reconcile;
pub mod replay;
pub mod report;
pub mod status;
pub mod tick;
pub mod train;

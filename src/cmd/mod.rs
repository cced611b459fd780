//! One module per command; each exposes `run(config, args)`.

pub mod check;
pub mod data;
pub mod fetch;
pub mod import;
pub mod rearm;
pub mod reconcile;
pub mod tick;

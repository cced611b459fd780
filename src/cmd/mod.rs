//! One module per command; each exposes `run(config, args)`.

pub mod check;
pub mod tick;

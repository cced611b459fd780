//! Backtesting: replay bars through the same [`Strategy::decide`](crate::strategy::Strategy::decide)
//! the live tick uses, and score the result.
//!
//! * [`engine`] fills the strategy's signals the way backtesting.py 0.6 fills market orders
//!   (next-open fills, all-in whole-share sizing, commission at entry and exit, spread-like
//!   slippage on entries) and returns the trades and the per-bar equity.
//! * [`metrics`] computes backtesting.py's `compute_stats` table from plain slices, so the same
//!   code scores a backtest and the live equity ledger.
//!
//! Both are pure: no files, network or clock. Parity with the library is pinned by
//! `tests/backtest_parity.rs` against reference numbers produced by
//! `scripts/backtesting_py_reference.sh`; the formulas are in `docs/metrics.md`.
//!
//! ```
//! use prometheus_bot::backtest::{engine, metrics};
//! use prometheus_bot::strategy::Strategy;
//! # let bars: Vec<prometheus_bot::domain::Bar> = Vec::new();
//! let strategy = Strategy::SmaCross { fast: 10, slow: 20, allow_short: false };
//! let settings = engine::Settings { commission: 0.002, ..engine::Settings::default() };
//! let outcome = engine::run(&bars, &strategy, &settings);
//! if let Some(m) = metrics::of_run(&bars, &outcome) {
//!     for (label, value) in m.rows() {
//!         println!("{label:<24}{value:>20}");
//!     }
//! }
//! ```

pub mod engine;
pub mod fill_model;
pub mod guards;
pub mod metrics;
pub mod params;
pub mod portfolio;
pub mod protective;
pub mod scoring;
pub mod sweep;
pub mod walk_forward;

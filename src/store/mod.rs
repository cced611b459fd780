//! Files are the database: the tick lock, the state file, the CSV ledgers and the bar cache.
//!
//! Writes are either atomic replacements (temp file, fsync, rename) or whole-row appends
//! followed by fsync; a row torn by a power cut is cut off and kept aside on the next run.

pub mod bar_cache;
pub mod cells;
pub(crate) mod fast_text;
pub mod files;
pub mod ledger;
pub mod lock;
pub mod owner;
pub mod rows;
pub mod state;

pub use bar_cache::BarCache;
pub use ledger::Ledger;
pub use lock::TickLock;
pub use state::State;

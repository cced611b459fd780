//! Bar history from elsewhere and its health: pure functions over text and bars.
//!
//! [`import`] turns a CSV downloaded from Yahoo Finance, Stooq or any tool with a time column
//! and OHLC columns into bars; [`check`] finds what would make a backtest lie (duplicates,
//! disorder, gaps, impossible prices). The commands `import` and `data check` do the I/O, but
//! for reading a big import file, which `import_file` does a megabyte at a time on two
//! threads (parsing as it reads, never the whole text in memory).

pub mod check;
pub mod import;
mod import_file;
mod import_rows;
pub mod sniff;

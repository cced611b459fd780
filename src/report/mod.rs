//! Reports people read: self-contained HTML pages with inline SVG charts.
//!
//! * [`svg`] draws charts from plain `(UTC seconds, value)` series: lines with markers, an
//!   area, a heatmap. It knows nothing about backtests, so the live dashboard can reuse it
//!   over the ledgers.
//! * [`html`] lays out a page: headings, tables, charts, notes.
//! * [`digest`] keeps what the live dashboard draws from the ledgers, row by row and bounded,
//!   so the tick's refresh does not grow with the history.
//!
//! Pure: both return strings; the command modules write the files.

mod axis;
pub mod backtest;
mod bars;
pub mod digest;
pub mod html;
pub mod live;
pub mod svg;
mod timeline;

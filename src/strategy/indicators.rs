//! Indicators over closed bars. Pure, allocation-free.

use crate::domain::Bar;

/// Simple moving average of the last `n` closes of `bars`. `n` must be in `1..=bars.len()`.
///
/// Summed oldest first, as pandas' rolling mean and backtesting.py's SMA see the window.
pub fn sma(bars: &[Bar], n: usize) -> f64 {
    debug_assert!(n >= 1 && n <= bars.len());
    let window = &bars[bars.len() - n..];
    window.iter().map(|b| b.close).sum::<f64>() / n as f64
}

//! backtesting.py's daily GOOG bars (`tests/fixtures/GOOG.csv`), shared by the parity test and
//! the benchmarks.

use chrono::NaiveDate;
use prometheus_bot::domain::Bar;

/// `,Open,High,Low,Close,Volume` with a `YYYY-MM-DD` index, as in backtesting/test/GOOG.csv;
/// each day stamped at `hour`:00 UTC.
pub fn goog(hour: u32) -> Vec<Bar> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/GOOG.csv");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(",Open,High,Low,Close,Volume"));
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 6, "{line}");
            let date = NaiveDate::parse_from_str(f[0], "%Y-%m-%d").unwrap();
            let num = |i: usize| f[i].parse::<f64>().unwrap();
            Bar {
                time: date.and_hms_opt(hour, 0, 0).unwrap().and_utc(),
                open: num(1),
                high: num(2),
                low: num(3),
                close: num(4),
                volume: num(5),
                trades: 0,
                vwap: f64::NAN,
            }
        })
        .collect()
}

//! The embedded default: real daily GOOG prices (backtesting.py's test data, see
//! `data/README.md`) compiled into the binary, and the config `replay --sample` trades them
//! with, so that a fresh machine runs the main job with no config, keys, network or cache.

use crate::config::Config;
use crate::domain::Bar;
use crate::error::{Error, Result};
use crate::history::import;
use std::path::Path;

pub const SYMBOL: &str = "GOOG";

/// `data/sample/GOOG-1Day.csv`: date, open, high, low, close, volume, 2004-08-19 to 2013-03-01.
const GOOG_1DAY: &str = include_str!("../../../data/sample/GOOG-1Day.csv");

/// The sample's config: GOOG daily, sma_cross 10/20 (backtesting.py's own first example), all
/// of the equity per entry, and none of the size, value, count or loss guards (their defaults
/// are sized for a $100,000 paper account trading 1 share, not for an all-in sample).
const CONFIG: &str = r#"# The config `prometheus-bot replay --sample` ran with (built into the binary).
[bot]
timeframe = "1Day"
history = 30

[[symbol]]
name = "GOOG"
equity_fraction = 1.0
strategy = { kind = "sma_cross", fast = 10, slow = 20 }

[risk]
max_position_qty = 0
max_order_notional = 0
max_orders_per_day = 0
max_daily_loss_pct = 0
max_drawdown_pct = 0
"#;

/// The sample config, as if it were the file `path` (which `replay` writes beside its ledgers
/// so a person can see what ran).
pub fn config(path: &Path) -> Result<Config> {
    Config::from_str(CONFIG, path)
}

pub fn config_text() -> &'static str {
    CONFIG
}

/// The embedded bars, stamped at New York midnight as `import` and Alpaca stamp daily bars.
pub fn bars() -> Result<Vec<Bar>> {
    import::parse(GOOG_1DAY, chrono_tz::America::New_York)
        .map(import::Imported::into_bars)
        .map_err(|e| Error::Corrupt {
            path: "data/sample/GOOG-1Day.csv (embedded)".into(),
            line: Some(e.line),
            message: e.message,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use chrono::TimeZone;

    #[test]
    fn the_embedded_sample_is_the_real_goog_series_and_its_config_is_valid() {
        let bars = bars().unwrap();
        assert_eq!(bars.len(), 2148);
        // 2004-08-19, GOOG's first trading day: open 100, close 100.34 (backtesting.py's file).
        let first = bars[0];
        assert_eq!(
            first.time,
            chrono::Utc.with_ymd_and_hms(2004, 8, 19, 4, 0, 0).unwrap(),
            "New York midnight (EDT)"
        );
        assert_eq!((first.open, first.close), (100.0, 100.34));
        assert_eq!(bars.last().unwrap().close, 806.19);
        let config = config(Path::new("/tmp/replay/sample.toml")).unwrap();
        assert_eq!(config.symbols.len(), 1);
        assert!(matches!(
            config.symbols[0].strategy,
            Strategy::SmaCross {
                fast: 10,
                slow: 20,
                ..
            }
        ));
        assert_eq!(config.risk.limits.max_order_notional, None);
    }
}

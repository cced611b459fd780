//! The replay's result in backtest's terms: its round-trip trades, rebuilt from the fills the
//! tick wrote to `fills.csv`, and its equity curve, the simulated account at each bar's close;
//! then `backtest::metrics` over them, so that the table `replay` prints is the one `backtest`
//! prints and the two can be read side by side.
//!
//! Pure: the executions come in already read.

use crate::backtest::engine::{library_warmup, Fill, Trade};
use crate::backtest::metrics::{self, Metrics};
use crate::domain::{Bar, Side};
use crate::strategy::Strategy;
use chrono::{DateTime, Utc};

/// One execution as `fills.csv` holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub time: DateTime<Utc>,
    pub symbol: String,
    pub side: Side,
    pub qty: f64,
    pub price: f64,
}

/// The replay's timeline: the sorted union of the symbols' bar times, and when each step's bar
/// opens (the tick's time) and closes.
pub struct Timeline {
    pub times: Vec<DateTime<Utc>>,
    pub opens: Vec<DateTime<Utc>>,
    pub closes: Vec<DateTime<Utc>>,
}

impl Timeline {
    /// The step a fill at `t` is booked on, as the backtest books it: with next-open fills the
    /// bar that opened then; with fills at the close, the bar decided on, the last one closed
    /// by then.
    fn step_of(&self, t: DateTime<Utc>, fill: Fill) -> usize {
        let last = self.times.len().saturating_sub(1);
        match fill {
            Fill::NextOpen => self.opens.partition_point(|&o| o < t).min(last),
            Fill::Close => self
                .closes
                .partition_point(|&c| c <= t)
                .saturating_sub(1)
                .min(last),
        }
    }
}

/// Round trips per symbol, in closing order (as `PortfolioOutcome::timeline_trades`): an entry
/// opens a trade, the execution that takes the position back to zero (or across it) closes
/// it; a partial reduction closes that part. Costs are zero in a replay, so a trade's P&L is
/// `size × (exit − entry)`.
pub fn round_trips(executions: &[Execution], timeline: &Timeline, fill: Fill) -> Vec<Trade> {
    struct Open {
        size: f64,
        price: f64,
        step: usize,
    }
    let mut open: std::collections::HashMap<&str, Open> = std::collections::HashMap::new();
    let mut trades = Vec::new();
    for x in executions {
        let step = timeline.step_of(x.time, fill);
        let q = match x.side {
            Side::Buy => x.qty,
            Side::Sell => -x.qty,
        };
        let mut close = |o: &Open, size: f64, price: f64| {
            let dir = 1f64.copysign(size);
            trades.push(Trade {
                entry_bar: o.step,
                exit_bar: step,
                size,
                entry_price: o.price,
                exit_price: price,
                pnl: size * (price - o.price),
                return_pct: dir * (price / o.price - 1.0),
                entry_time: timeline.times[o.step],
                exit_time: timeline.times[step],
                commission: 0.0,
            });
        };
        match open.remove(x.symbol.as_str()) {
            None => {
                open.insert(
                    &x.symbol,
                    Open {
                        size: q,
                        price: x.price,
                        step,
                    },
                );
            }
            Some(o) if o.size.signum() == q.signum() => {
                let size = o.size + q;
                let price = (o.size * o.price + q * x.price) / size;
                open.insert(
                    &x.symbol,
                    Open {
                        size,
                        price,
                        step: o.step,
                    },
                );
            }
            Some(o) => {
                let closed = q.abs().min(o.size.abs()).copysign(o.size);
                close(&o, closed, x.price);
                let left = o.size + q;
                if left != 0.0 && left.signum() == o.size.signum() {
                    open.insert(&x.symbol, Open { size: left, ..o });
                } else if left != 0.0 {
                    open.insert(
                        &x.symbol,
                        Open {
                            size: left,
                            price: x.price,
                            step,
                        },
                    );
                }
            }
        }
    }
    trades.sort_by_key(|t| (t.exit_bar, t.entry_bar));
    trades
}

/// The price series Buy & Hold and Beta are measured against, as `backtest` builds it: one
/// symbol's closes, or the equal-weight basket of several (each close over its first,
/// forward-filled on the timeline, averaged, × 100).
pub fn benchmark(legs: &[&[Bar]], timeline: &Timeline) -> Vec<f64> {
    if let [bars] = legs {
        return bars.iter().map(|b| b.close).collect();
    }
    let mut sum = vec![0.0; timeline.times.len()];
    for bars in legs {
        let Some(first) = bars.first() else { continue };
        let (mut level, mut next) = (1.0, 0);
        for (step, s) in sum.iter_mut().enumerate() {
            while next < bars.len() && bars[next].time <= timeline.times[step] {
                level = bars[next].close / first.close;
                next += 1;
            }
            *s += level;
        }
    }
    let k = legs.len().max(1) as f64;
    sum.iter().map(|s| s / k * 100.0).collect()
}

/// backtest's warm-up step: the first at which every symbol is past its strategy's warm-up.
pub fn warmup(legs: &[&[Bar]], strategies: &[&Strategy], timeline: &Timeline) -> usize {
    legs.iter()
        .zip(strategies)
        .filter_map(|(bars, s)| {
            let w = library_warmup(s, bars.len());
            let t = bars.get(w)?.time;
            Some(timeline.times.partition_point(|&x| x < t))
        })
        .max()
        .unwrap_or(0)
}

/// backtest's metrics of the replay.
pub fn metrics(
    legs: &[&[Bar]],
    strategies: &[&Strategy],
    timeline: &Timeline,
    equity: &[f64],
    trades: &[Trade],
) -> Option<Metrics> {
    let closes = benchmark(legs, timeline);
    let warmup = warmup(legs, strategies, timeline);
    metrics::compute(&timeline.times, &closes, equity, trades, warmup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(m: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 14, 30, 0).unwrap() + Duration::minutes(m)
    }

    fn timeline(n: i64) -> Timeline {
        Timeline {
            times: (0..n).map(t).collect(),
            opens: (0..n).map(t).collect(),
            closes: (1..=n).map(t).collect(),
        }
    }

    fn x(m: i64, side: Side, qty: f64, price: f64) -> Execution {
        Execution {
            time: t(m),
            symbol: "AAPL".into(),
            side,
            qty,
            price,
        }
    }

    #[test]
    fn fills_become_round_trips_booked_on_the_bars_the_backtest_books_them_on() {
        // Long 10 at 100 (bar 1), sell 15 at 110 (bar 3): a long closed for +100, a short of
        // 5 opened at 110; buy 5 at 104 (bar 5) closes it for 5 × 6 = +30.
        let fills = [
            x(1, Side::Buy, 10.0, 100.0),
            x(3, Side::Sell, 15.0, 110.0),
            x(5, Side::Buy, 5.0, 104.0),
        ];
        let trades = round_trips(&fills, &timeline(6), Fill::NextOpen);
        let seen: Vec<(usize, usize, f64, f64)> = trades
            .iter()
            .map(|t| (t.entry_bar, t.exit_bar, t.size, t.pnl))
            .collect();
        assert_eq!(seen, [(1, 3, 10.0, 100.0), (3, 5, -5.0, 30.0)]);
        assert!((trades[0].return_pct - 0.1).abs() < 1e-12);
        assert_eq!(trades[0].entry_time, t(1));
        // Filled at the close decided on: a fill at bar 3's open is bar 2's close.
        let trades = round_trips(&fills, &timeline(6), Fill::Close);
        assert_eq!((trades[0].entry_bar, trades[0].exit_bar), (0, 2));
    }

    #[test]
    fn the_basket_benchmark_forward_fills_each_symbol() {
        let bar = |m: i64, close: f64| Bar {
            time: t(m),
            open: close,
            high: close,
            low: close,
            close,
            volume: 0.0,
            trades: 0,
            vwap: close,
        };
        let a = [bar(0, 10.0), bar(1, 20.0), bar(2, 20.0)];
        let b = [bar(0, 50.0), bar(2, 25.0)];
        // Step 1: A doubled, B unchanged (forward-filled): (2 + 1) / 2 × 100 = 150.
        assert_eq!(benchmark(&[&a, &b], &timeline(3)), [100.0, 150.0, 125.0]);
    }
}

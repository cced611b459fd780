use super::*;
use crate::backtest::metrics;
use chrono::{Duration, TimeZone};

fn t(day: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, h, 0, 0).unwrap()
}

fn fill(time: DateTime<Utc>, symbol: &str, buy: bool, qty: f64, price: f64) -> Fill {
    Fill {
        time,
        symbol: symbol.into(),
        buy,
        qty,
        price,
    }
}

#[test]
fn a_small_case_by_hand() {
    // Peaks 100, 110, 110, 121, 121; below the peak: 0, 0, 1 - 99/110 = 10 %, 0,
    // 1 - 102.85/121 = 15 %. New York days: the 24th 100 -> 99 (-1), the 25th 99 -> 102.85.
    let equity = [
        (t(24, 15), 100.0),
        (t(24, 16), 110.0),
        (t(24, 17), 99.0),
        (t(25, 15), 121.0),
        (t(25, 16), 102.85),
    ];
    // FIFO: 2 @ 10 -> 12 (+4, +20 %), 1 @ 13 -> 11 (-2, 11/13 - 1), short 1 @ 9 -> 8 (+1,
    // +1/9); MSFT's 3 @ 20 stay open.
    let fills = [
        fill(t(24, 15), "AAPL", true, 2.0, 10.0),
        fill(t(24, 16), "AAPL", true, 1.0, 13.0),
        fill(t(24, 17), "MSFT", true, 3.0, 20.0),
        fill(t(24, 18), "AAPL", false, 2.0, 12.0),
        fill(t(24, 19), "AAPL", false, 1.0, 11.0),
        fill(t(24, 20), "AAPL", false, 1.0, 9.0),
        fill(t(25, 15), "AAPL", true, 1.0, 8.0),
    ];
    let d = Digest::of(&equity, &fills);
    let e = &d.equity;
    assert_eq!(e.rows, 5);
    assert_eq!((e.first, e.last), (Some(equity[0]), Some(equity[4])));
    assert_eq!(e.peak, Some(121.0));
    assert!((e.max_drawdown - 0.15).abs() < 1e-12, "{}", e.max_drawdown);
    let days: Vec<(u32, f64)> = e
        .days
        .iter()
        .map(|(d, v)| (chrono::Datelike::day(d), *v))
        .collect();
    assert_eq!(days.len(), 2);
    assert_eq!((days[0].0, days[0].1), (24, -1.0));
    assert_eq!(days[1].0, 25);
    assert!((days[1].1 - 3.85).abs() < 1e-12);
    let deepest = e.drawdown.lowest().unwrap();
    assert_eq!(deepest.0, t(25, 16).timestamp());
    assert!((deepest.1 - -15.0).abs() < 1e-9, "{deepest:?}");

    let tr = &d.trades;
    assert_eq!((tr.trades, tr.wins), (3, 2));
    assert!((tr.best.unwrap() - 0.2).abs() < 1e-15);
    assert!((tr.worst.unwrap() - (11.0 / 13.0 - 1.0)).abs() < 1e-15);
    assert!(!tr.open.contains_key("AAPL"), "AAPL is flat");
    assert_eq!(
        tr.open["MSFT"],
        [Lot {
            qty: 3.0,
            price: 20.0,
            time: t(24, 17)
        }]
    );
    assert_eq!(tr.last.len(), 7);
    assert_eq!(tr.recent["AAPL"].len(), 6);
}

#[test]
fn a_series_coarsens_and_keeps_its_extremes() {
    // One minute more than there are buckets, value = minute, except minute 123 at -5: the
    // last one pairs the buckets up (two minutes each).
    let n = series::MAX_BUCKETS as i64;
    let mut s = Series::default();
    for i in 0..=n {
        s.add((60 * i, if i == 123 { -5.0 } else { i as f64 }));
    }
    assert_eq!((s.width(), s.len()), (120, series::MAX_BUCKETS / 2 + 1));
    assert_eq!(s.lowest(), Some((60 * 123, -5.0)));
    let points = s.points();
    assert_eq!(points.first(), Some(&(0, 0.0)));
    assert_eq!(points.last(), Some(&(60 * n, n as f64)));
    assert!(points.contains(&(60 * 123, -5.0)));
    assert!(points.windows(2).all(|p| p[0].0 < p[1].0), "in time order");
    // Each full bucket draws its two minutes (the trough's, 122 and 123, too), the last its one.
    assert_eq!(points.len() as i64, n + 1);
}

/// A year of minute readings (252 sessions of 390) and 3,000 fills of two symbols, longs and
/// shorts, gains and losses, flat at the end.
fn a_year() -> (Vec<(DateTime<Utc>, f64)>, Vec<Fill>) {
    let start = Utc.with_ymd_and_hms(2025, 11, 24, 14, 30, 0).unwrap();
    let minute = |i: usize| {
        start + Duration::days((i / 390) as i64 * 7 / 5) + Duration::minutes((i % 390) as i64)
    };
    let equity = (0..98_280)
        .map(|i| {
            let x = i as f64;
            let noise = ((i * 7919) % 1000) as f64 / 100.0;
            (
                minute(i),
                100_000.0 + (x / 500.0).sin() * 2_000.0 + (x / 7_000.0).cos() * 5_000.0 + noise,
            )
        })
        .collect();
    // Cycles of six fills on one symbol: buy 1, buy 2, sell 3 (flat), sell 2 (short), buy 1,
    // buy 1 (flat again), at prices that give gains and losses.
    let fills = (0..3_000)
        .map(|i| {
            let symbol = if (i / 6) % 2 == 0 { "AAPL" } else { "TSLA" };
            let price = 200.0 + ((i * 37) % 50) as f64 + (i % 7) as f64 * 0.25;
            let (buy, qty) = [
                (true, 1.0),
                (true, 2.0),
                (false, 3.0),
                (false, 2.0),
                (true, 1.0),
                (true, 1.0),
            ][i % 6];
            fill(minute(i * 32), symbol, buy, qty, price)
        })
        .collect();
    (equity, fills)
}

#[test]
fn a_year_kept_tick_by_tick_is_the_whole_read() {
    let (equity, fills) = a_year();
    let whole = Digest::of(&equity, &fills);

    // Tick by tick: a few rows at a time, the digest through its sidecar's JSON in between.
    let mut kept = Digest::default();
    let (mut e, mut f) = (0, 0);
    let mut step = 1;
    while e < equity.len() {
        let until = (e + step).min(equity.len());
        for &(t, v) in &equity[e..until] {
            kept.equity.add(t, v);
        }
        let last_time = equity[until - 1].0;
        while f < fills.len() && fills[f].time <= last_time {
            kept.trades.add(fills[f].clone());
            f += 1;
        }
        e = until;
        step = step % 700 + 97;
        let json = serde_json::to_string(&kept).unwrap();
        kept = serde_json::from_str(&json).unwrap();
    }
    for fill in &fills[f..] {
        kept.trades.add(fill.clone());
    }
    // (Not assert_eq!: a failure would print two years of buckets.)
    assert!(kept == whole, "the same digest, bit for bit");
    assert!(kept.equity.line.len() <= series::MAX_BUCKETS);
    let json = serde_json::to_string(&kept).unwrap();
    assert!(kept.trades.open.is_empty(), "flat at the end");
    assert!(
        json.len() < 80_000,
        "bounded: {} bytes; {}",
        json.len(),
        &json[..3000]
    );

    // Against the whole-history computations the page drew before.
    let daily = daily_pnl(&equity);
    assert!(daily.len() > DAYS_KEPT);
    assert!(kept
        .equity
        .days
        .iter()
        .eq(daily[daily.len() - DAYS_KEPT..].iter()));
    let times: Vec<DateTime<Utc>> = equity.iter().map(|e| e.0).collect();
    let values: Vec<f64> = equity.iter().map(|e| e.1).collect();
    let trades = round_trips(&fills, &times);
    let m = metrics::compute(&times, &values, &values, &trades, 0).unwrap();
    let d = &kept.equity;
    assert_eq!(d.last.unwrap().1, m.equity_final);
    assert_eq!(d.peak.unwrap(), m.equity_peak);
    assert_eq!(-d.max_drawdown * 100.0, m.max_drawdown_pct);
    assert!(
        m.max_drawdown_pct < -5.0,
        "a real drawdown: {}",
        m.max_drawdown_pct
    );
    let tr = &kept.trades;
    assert_eq!(tr.trades as usize, m.trades);
    assert!(tr.wins > 0 && tr.wins < tr.trades, "gains and losses");
    assert_eq!(tr.wins as f64 / tr.trades as f64 * 100.0, m.win_rate_pct);
    assert_eq!(tr.best.unwrap() * 100.0, m.best_trade_pct);
    assert_eq!(tr.worst.unwrap() * 100.0, m.worst_trade_pct);
    // The drawdown chart's trough is the whole series' deepest point.
    let mut peak = f64::MIN;
    let deepest = equity
        .iter()
        .map(|&(t, e)| {
            peak = peak.max(e);
            (t.timestamp(), 100.0 * (e - peak) / peak)
        })
        .reduce(|a, b| if b.1 < a.1 { b } else { a })
        .unwrap();
    assert_eq!(d.drawdown.lowest(), Some(deepest));
}

//! Dashboard refresh cost over a year of ledgers: 98,280 equity rows (252 days × 390
//! minutes), 2,000 fills, 100,000 cached minute bars per symbol. This is what
//! `[report] dashboard = true` adds to every tick. Target: well under 50 ms.
//!
//! Run: `cargo bench --bench dashboard` (`DASHBOARD_OUT=page.html` keeps the page, for
//! scripts/screenshot-dashboard.sh).

use chrono::{Duration, TimeZone, Utc};
use prometheus_bot::cmd::report;
use prometheus_bot::config::Config;
use prometheus_bot::domain::{Bar, Timeframe};
use prometheus_bot::store::bar_cache::{BarCache, CacheMeta};
use std::fmt::Write;
use std::time::Instant;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        include_str!("../config.toml").replace("[report]", "[report]"),
    )
    .unwrap();
    let config = Config::from_str(
        &std::fs::read_to_string(&config_path).unwrap(),
        &config_path,
    )
    .unwrap();
    let ledger = dir.path().join("data/ledger");
    std::fs::create_dir_all(&ledger).unwrap();

    let start = Utc.with_ymd_and_hms(2025, 11, 24, 14, 30, 0).unwrap();
    let minute = |i: usize| {
        start + Duration::days((i / 390) as i64 * 7 / 5) + Duration::minutes((i % 390) as i64)
    };
    let mut equity =
        String::from("time_utc,equity,cash,long_market_value,buying_power,AAPL,TSLA\n");
    for i in 0..98_280 {
        let e = 100_000.0 + (i as f64 / 500.0).sin() * 2_000.0 + i as f64 * 0.01;
        let _ = writeln!(
            equity,
            "{},{e:.2},50000,{:.2},100000,1,0",
            minute(i).format("%Y-%m-%d %H:%M:%S"),
            e - 50_000.0
        );
    }
    std::fs::write(ledger.join("equity.csv"), equity).unwrap();
    let mut fills = String::from(
        "time_utc,symbol,side,qty,price,order_id,client_order_id,status,activity_id,source\n",
    );
    for i in 0..2_000 {
        let side = if i % 2 == 0 { "buy" } else { "sell" };
        let _ = writeln!(
            fills,
            "{},AAPL,{side},1,{:.2},o{i},pb-x{i},fill,a{i},tick",
            minute(i * 49).format("%Y-%m-%d %H:%M:%S"),
            230.0 + (i % 7) as f64
        );
    }
    std::fs::write(ledger.join("fills.csv"), fills).unwrap();
    let cache = BarCache::new(&config.bot.data_dir);
    for symbol in ["AAPL", "TSLA"] {
        let bars: Vec<Bar> = (0..100_000)
            .map(|i| {
                let c = 230.0 + (i as f64 / 300.0).sin();
                Bar {
                    time: start + Duration::minutes(i),
                    open: c,
                    high: c + 0.1,
                    low: c - 0.1,
                    close: c,
                    volume: 100.0,
                    trades: 3,
                    vwap: c,
                }
            })
            .collect();
        cache
            .replace(symbol, Timeframe::Min1, &bars, &CacheMeta::default())
            .unwrap();
    }

    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            let html = report::render(&config, Utc::now()).unwrap();
            assert!(html.len() > 10_000);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let html = report::render(&config, Utc::now()).unwrap();
    if let Ok(out) = std::env::var("DASHBOARD_OUT") {
        std::fs::write(&out, &html).unwrap();
        println!("wrote {out}");
    }
    println!(
        "dashboard over a year of ledgers: median {:.1} ms (min {:.1}), page {} KB",
        times[7],
        times[0],
        html.len() / 1024
    );
}

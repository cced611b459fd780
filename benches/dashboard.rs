//! Dashboard cost over a year of ledgers: 98,280 equity rows (252 days × 390 minutes), 2,000
//! fills, 100,000 cached minute bars per symbol. The tick's refresh (`render_tick`: the digest
//! in data/dashboard.json, read on by one appended equity row per refresh, as a tick appends
//! one) is what `[report] dashboard = true` adds to every tick; its first call builds the
//! digest from the whole ledgers, once. The `report` command (`render`) reads them whole and
//! adds the metrics table, on demand.
//!
//! Run: `cargo bench --bench dashboard` (`DASHBOARD_OUT=page.html` keeps the tick's page, for
//! scripts/screenshot-dashboard.sh).

use chrono::{Duration, TimeZone, Utc};
use prometheus_bot::cmd::report;
use prometheus_bot::config::Config;
use prometheus_bot::domain::{Bar, Timeframe};
use prometheus_bot::report::digest::Digest;
use prometheus_bot::report::live::{self, SymbolView};
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
    let mut points = Vec::new();
    for i in 0..98_280 {
        let e = 100_000.0 + (i as f64 / 500.0).sin() * 2_000.0 + i as f64 * 0.01;
        points.push((minute(i), e));
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

    let now = Utc::now();
    let t = Instant::now();
    let html = report::render_tick(&config, now).unwrap();
    let first = t.elapsed().as_secs_f64() * 1e3;
    assert!(html.len() > 10_000);
    let mut next = 98_280;
    let mut tick = || {
        // One more equity row, as a tick appends, then the refresh.
        let e = 100_000.0 + next as f64 * 0.01;
        let row = format!(
            "{},{e:.2},50000,{:.2},100000,1,0\n",
            minute(next).format("%Y-%m-%d %H:%M:%S"),
            e - 50_000.0
        );
        next += 1;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(ledger.join("equity.csv"))
            .unwrap();
        std::io::Write::write_all(&mut f, row.as_bytes()).unwrap();
        let t = Instant::now();
        let html = report::render_tick(&config, now).unwrap();
        (t.elapsed().as_secs_f64() * 1e3, html)
    };
    let mut times: Vec<f64> = (0..15).map(|_| tick().0).collect();
    times.sort_by(f64::total_cmp);
    let (_, html) = tick();
    if let Ok(out) = std::env::var("DASHBOARD_OUT") {
        std::fs::write(&out, &html).unwrap();
        println!("wrote {out}");
    }
    let sidecar = std::fs::metadata(dir.path().join("data/dashboard.json"))
        .unwrap()
        .len();
    println!(
        "the tick's refresh over a year of ledgers: median {:.2} ms (min {:.2}), page {} KB, \
         sidecar {} KB; the first (builds the digest from the whole ledgers) {first:.1} ms",
        times[7],
        times[0],
        html.len() / 1024,
        sidecar / 1024
    );
    let mut whole: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let html = report::render(&config, now).unwrap();
            assert!(html.contains("Sharpe Ratio"));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    whole.sort_by(f64::total_cmp);
    println!(
        "`report` (whole read, metrics table): median {:.1} ms",
        whole[2]
    );

    // The page's size by symbols: each symbol's chart gets a share of the points drawn.
    let digest = Digest::of(&points, &[]);
    for n in [2, 200, 500] {
        let symbols: Vec<SymbolView> = (0..n)
            .map(|k| SymbolView {
                name: format!("S{k:03}"),
                prices: (0..800)
                    .map(|i| {
                        let c = 100.0 + ((i + k) as f64 / 30.0).sin();
                        (start.timestamp() + 60 * i, c)
                    })
                    .collect(),
                position: 0.0,
            })
            .collect();
        let html = live::page(&live::Input {
            generated: now,
            status: Vec::new(),
            digest: &digest,
            symbols: &symbols,
            metrics: None,
        });
        println!(
            "the page with {n} symbols of 800 bars and a year of equity: {} KB",
            html.len() / 1024
        );
    }
}

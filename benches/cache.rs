//! Bar-cache loading speed: a 1,000,000-row minute-bar file (about 60 MB), loaded whole as
//! the backtester does, and its last 200 rows as the tick does. Also the import parser on
//! the same rows in a generic CSV. Target: loading well under a second.
//!
//! Run: `cargo bench --bench cache`.

use chrono::{Duration, TimeZone, Utc};
use prometheus_bot::domain::{Bar, Timeframe};
use prometheus_bot::history::import;
use prometheus_bot::store::bar_cache::{BarCache, CacheMeta};
use std::time::Instant;

const ROWS: usize = 1_000_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    let start = Utc.with_ymd_and_hms(2016, 1, 4, 14, 30, 0).unwrap();
    let bars: Vec<Bar> = (0..ROWS)
        .map(|i| {
            // Prices in cents and a 4-decimal VWAP, as real minute bars have.
            let cents = |x: f64| (x * 100.0).round() / 100.0;
            let c = cents(100.0 + (i as f64 * 0.001).sin() * 10.0 + (i % 97) as f64 * 0.01);
            Bar {
                time: start + Duration::minutes(i as i64),
                open: c,
                high: cents(c + 0.05),
                low: cents(c - 0.05),
                close: cents(c + 0.01),
                volume: 1200.0 + (i % 13) as f64,
                trades: 17,
                vwap: ((c + 0.003) * 1e4).round() / 1e4,
            }
        })
        .collect();
    let t = Instant::now();
    cache
        .replace("AAPL", Timeframe::Min1, &bars, &CacheMeta::default())
        .unwrap();
    let write = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(cache.path("AAPL", Timeframe::Min1))
        .unwrap()
        .len();
    println!(
        "write {ROWS} rows ({:.1} MB): {:.0} ms",
        size as f64 / 1e6,
        write * 1e3
    );

    let load: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let got = cache.load("AAPL", Timeframe::Min1).unwrap();
            assert_eq!(got.len(), ROWS);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    println!("load {ROWS} rows: median {:.0} ms", median(load));
    // The floor a parser cannot beat: the same file read into memory (page cache warm, as
    // for the load above), on one thread and as the loader reads it, two halves on two.
    let path = cache.path("AAPL", Timeframe::Min1);
    let read: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(std::fs::read(&path).unwrap().len() as u64, size);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let half = |from: u64| {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&path).unwrap();
        f.seek(SeekFrom::Start(from)).unwrap();
        let mut buf = Vec::new();
        f.take(size / 2 + 1).read_to_end(&mut buf).unwrap();
        buf.len()
    };
    let halves: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            std::thread::scope(|scope| {
                let b = scope.spawn(|| half(size / 2));
                half(0) + b.join().unwrap()
            });
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    println!(
        "read the same file without parsing: median {:.0} ms on one thread, {:.0} ms as two halves",
        median(read),
        median(halves)
    );

    let tail: Vec<f64> = (0..50)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(
                cache.load_tail("AAPL", Timeframe::Min1, 200).unwrap().len(),
                200
            );
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    println!(
        "load last 200 rows (all parsed): median {:.0} us",
        median(tail)
    );
    let window: Vec<f64> = (0..50)
        .map(|_| {
            let t = Instant::now();
            let tail = cache.read_tail("AAPL", Timeframe::Min1, 31, 200).unwrap();
            assert_eq!((tail.bars.len(), tail.rows), (31, 200));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    println!(
        "the tick's read of a full cache for an SMA(30) cross (31 rows parsed, 200 counted and their times checked): median {:.0} us",
        median(window)
    );

    let text = std::fs::read_to_string(cache.path("AAPL", Timeframe::Min1))
        .unwrap()
        .replacen("time_utc", "timestamp", 1);
    let t = Instant::now();
    let imported = import::parse(&text, chrono_tz::UTC).unwrap();
    assert_eq!(imported.bars.len(), ROWS);
    println!(
        "import-parse {ROWS} generic rows: {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
}

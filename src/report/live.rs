//! The live dashboard: the ledgers drawn as a page a person would rather look at than read —
//! status, equity, drawdown, daily P&L, each symbol's price with the bot's buys and sells,
//! positions, the last fills, a summary, and (on demand) the metrics table. Pure: it draws a
//! [`Digest`] of the ledgers (bounded in size, kept row by row by the tick); the `report`
//! command and the tick read the files and write the page.

use super::bars;
pub use super::digest::{daily_pnl, round_trips, Digest, Fill, Mark, DAYS_KEPT};
use super::html::Page;
use super::svg::{self, Format, Line, Marker, Point, Shape};
use crate::backtest::metrics;
use chrono::{DateTime, Utc};
use chrono_tz::America::New_York;

/// Most points drawn per price line: enough for detail, small enough for a phone. With many
/// symbols each gets a share of [`PRICE_POINTS_TOTAL`], so the page stays small.
const BUCKETS: usize = 600;
/// Price points drawn over all symbols' charts (a chart is a few kilobytes per 100 points).
const PRICE_POINTS_TOTAL: usize = 12_000;
/// The fewest price points a symbol's chart gets, however many symbols.
const PRICE_POINTS_MIN: usize = 40;

/// What one symbol contributes.
#[derive(Debug, Clone)]
pub struct SymbolView {
    pub name: String,
    /// Recent closes from the bar cache, `(UTC seconds, close)`.
    pub prices: Vec<Point>,
    pub position: f64,
}

#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub generated: DateTime<Utc>,
    /// `(label, value)` lines: last tick, guards, missed ticks.
    pub status: Vec<(String, String)>,
    /// equity.csv and fills.csv as drawn.
    pub digest: &'a Digest,
    pub symbols: &'a [SymbolView],
    /// backtesting.py's metrics over every row (`metric_rows`): the `report` command computes
    /// them on demand; the tick's refresh leaves them out, as they need the whole ledger.
    pub metrics: Option<Vec<Vec<String>>>,
}

pub fn page(input: &Input<'_>) -> String {
    let mut page = Page::new(
        "prometheus-bot",
        &format!(
            "Live ledgers, generated {} UTC ({} New York)",
            input.generated.format("%Y-%m-%d %H:%M:%S"),
            input.generated.with_timezone(&New_York).format("%H:%M")
        ),
    );
    page.heading("Status");
    page.facts(&input.status);

    let equity = &input.digest.equity;
    if equity.rows >= 2 {
        let shown = equity.line.points();
        page.heading("Equity");
        page.chart(|size| {
            svg::line_chart(
                "Equity",
                vec![line("equity", &shown, "#1f77b4")],
                &[],
                Format::Money,
                size,
            )
        });
        let drawdown = equity.drawdown.points();
        page.chart(|size| {
            svg::area_chart(
                "Drawdown",
                line("drawdown", &drawdown, "#d62728"),
                Format::Percent,
                size,
            )
        });
        let daily: Vec<(String, f64)> = equity
            .days
            .iter()
            .map(|(day, pnl)| (day.format("%b %d").to_string(), *pnl))
            .collect();
        let title = if equity.days.len() < DAYS_KEPT {
            "Daily P&L".to_string()
        } else {
            format!("Daily P&L, the last {DAYS_KEPT} days")
        };
        page.chart(|size| bars::bar_chart(&title, &daily, Format::Money, size));
    } else {
        page.note("No equity rows yet: equity.csv gets one row per tick while the market is open.");
    }

    let per_symbol =
        (PRICE_POINTS_TOTAL / input.symbols.len().max(1)).clamp(PRICE_POINTS_MIN, BUCKETS * 4);
    let no_fills = Default::default();
    for s in input.symbols {
        if s.prices.len() < 2 {
            continue;
        }
        let (from, to) = (s.prices[0].0, s.prices[s.prices.len() - 1].0);
        let markers: Vec<Marker> = input
            .digest
            .trades
            .recent
            .get(&s.name)
            .unwrap_or(&no_fills)
            .iter()
            .filter(|m| (from..=to).contains(&m.0))
            .map(|&Mark(t, buy, qty, price)| Marker {
                t,
                v: price,
                shape: if buy { Shape::Up } else { Shape::Down },
                color: if buy { "#2ca02c" } else { "#d62728" },
                label: format!("{} {qty} at {price}", if buy { "buy" } else { "sell" }),
            })
            .collect();
        let shown = svg::downsample(&s.prices, per_symbol / 4);
        let title = format!("{} (position {})", s.name, s.position);
        page.chart(|size| {
            svg::line_chart(
                &title,
                vec![line(&s.name, &shown, "#1f77b4")],
                &markers,
                Format::Plain,
                size,
            )
        });
    }

    page.heading("Positions");
    let positions: Vec<Vec<String>> = input
        .symbols
        .iter()
        .map(|s| vec![s.name.clone(), s.position.to_string()])
        .collect();
    page.table(&["symbol", "shares"], &positions, None);

    page.heading("Last fills");
    let last: Vec<Vec<String>> = input
        .digest
        .trades
        .last
        .iter()
        .rev()
        .map(|f| {
            vec![
                f.time.format("%Y-%m-%d %H:%M:%S").to_string(),
                f.symbol.clone(),
                if f.buy { "buy" } else { "sell" }.to_string(),
                f.qty.to_string(),
                f.price.to_string(),
            ]
        })
        .collect();
    if last.is_empty() {
        page.note("No fills yet.");
    } else {
        page.table(
            &["time (UTC)", "symbol", "side", "qty", "price"],
            &last,
            None,
        );
    }

    if let Some(rows) = summary_rows(input.digest) {
        page.heading("Summary");
        page.note("Over every row of the ledgers, kept row by row: these figures are computed as the metrics table computes the rows of the same names. Trades are the fills paired first-in, first-out.");
        page.table(&["figure", "value"], &rows, None);
    }
    match &input.metrics {
        Some(rows) => {
            page.heading("Metrics");
            page.note("Computed over the equity ledger with backtesting.py's definitions; trades are the fills paired first-in, first-out.");
            page.table(&["metric", "value"], rows, None);
        }
        None if equity.rows >= 2 => {
            page.note("The full metrics table (Sharpe, Sortino, durations, exposure) reads every row of the ledgers: run prometheus-bot report for it.");
        }
        None => {}
    }
    page.finish("prometheus-bot dashboard")
}

fn line<'a>(name: &'a str, points: &'a [Point], color: &'a str) -> Line<'a> {
    Line {
        name,
        points,
        color,
        dashed: false,
    }
}

/// The digest's exact figures, labelled as backtesting.py labels them.
fn summary_rows(d: &Digest) -> Option<Vec<Vec<String>>> {
    let (Some((start, e0)), Some((end, e1)), Some(peak)) =
        (d.equity.first, d.equity.last, d.equity.peak)
    else {
        return None;
    };
    let t = d.trades.trades;
    // (`+ 0.0`: no drawdown is 0.00, not -0.00.)
    let pct =
        |v: Option<f64>| v.map_or_else(|| "--".to_string(), |v| format!("{:.2}", v * 100.0 + 0.0));
    let rows = [
        ("Start", start.format("%Y-%m-%d %H:%M:%S").to_string()),
        ("End", end.format("%Y-%m-%d %H:%M:%S").to_string()),
        ("Equity Final [$]", format!("{e1:.2}")),
        ("Equity Peak [$]", format!("{peak:.2}")),
        ("Return [%]", pct(Some((e1 - e0) / e0))),
        ("Max. Drawdown [%]", pct(Some(-d.equity.max_drawdown))),
        ("# Trades", t.to_string()),
        (
            "Win Rate [%]",
            pct((t > 0).then(|| d.trades.wins as f64 / t as f64)),
        ),
        ("Best Trade [%]", pct(d.trades.best)),
        ("Worst Trade [%]", pct(d.trades.worst)),
    ];
    Some(
        rows.into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
    )
}

/// backtesting.py's metrics over the whole equity ledger and its fills, as table rows; `None`
/// with fewer than two readings.
pub fn metric_rows(equity: &[(DateTime<Utc>, f64)], fills: &[Fill]) -> Option<Vec<Vec<String>>> {
    if equity.len() < 2 {
        return None;
    }
    let times: Vec<DateTime<Utc>> = equity.iter().map(|e| e.0).collect();
    let values: Vec<f64> = equity.iter().map(|e| e.1).collect();
    let trades = round_trips(fills, &times);
    // No benchmark series is kept live: buy & hold, alpha and beta are left out.
    let m = metrics::compute(&times, &values, &values, &trades, 0)?;
    Some(
        m.rows()
            .into_iter()
            .filter(|(k, _)| !matches!(*k, "Buy & Hold Return [%]" | "Alpha [%]" | "Beta"))
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(day: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, h, 0, 0).unwrap()
    }

    fn fill(h: u32, buy: bool, qty: f64, price: f64) -> Fill {
        Fill {
            time: t(24, h),
            symbol: "AAPL".into(),
            buy,
            qty,
            price,
        }
    }

    #[test]
    fn fifo_round_trips_by_hand() {
        // Buy 2 @ 10, buy 1 @ 13, sell 2 @ 12, sell 1 @ 11, sell 1 @ 9 (opens a short),
        // buy 1 @ 8 (covers it). FIFO: 2 @ 10 -> 12 (+4), 1 @ 13 -> 11 (-2), short 1 @ 9 -> 8 (+1).
        let fills = [
            fill(14, true, 2.0, 10.0),
            fill(15, true, 1.0, 13.0),
            fill(16, false, 2.0, 12.0),
            fill(17, false, 1.0, 11.0),
            fill(18, false, 1.0, 9.0),
            fill(19, true, 1.0, 8.0),
        ];
        let times: Vec<DateTime<Utc>> = (14..20).map(|h| t(24, h)).collect();
        let trades = round_trips(&fills, &times);
        let pnl: Vec<f64> = trades.iter().map(|t| t.pnl).collect();
        assert_eq!(pnl, [4.0, -2.0, 1.0]);
        assert_eq!(
            (trades[2].size, trades[2].entry_bar, trades[2].exit_bar),
            (-1.0, 4, 5)
        );
        assert!(
            (trades[2].return_pct - (1.0 - 8.0 / 9.0)).abs() < 1e-15,
            "a short gains when the price falls"
        );
    }

    #[test]
    fn daily_pnl_uses_each_new_york_days_last_reading() {
        // 24th: 100 then 110 (last); 25th: 105 -> -5; 26th at 01:00 UTC is still the 25th in New York.
        let equity = [
            (t(24, 15), 100.0),
            (t(24, 20), 110.0),
            (t(25, 15), 104.0),
            (t(25, 20), 105.0),
            (t(26, 1), 107.0),
            (t(26, 15), 101.0),
        ];
        let daily = daily_pnl(&equity);
        let values: Vec<f64> = daily.iter().map(|d| d.1).collect();
        assert_eq!(
            values,
            [10.0, -3.0, -6.0],
            "the first day counts from its first reading"
        );
        let days: Vec<u32> = daily.iter().map(|d| chrono::Datelike::day(&d.0)).collect();
        assert_eq!(days, [24, 25, 26], "each on its New York day");
    }

    #[test]
    fn four_days_give_four_bars_that_add_up_to_the_change() {
        // By hand: 100000.00 -> 99980.50 (-19.50); -> 99950.25 (-30.25); -> 99930.10 (-20.15);
        // -> 99896.67 (-33.43). Sum -103.33 = 99896.67 - 100000.00.
        let equity = [
            (t(23, 15), 100_000.00),
            (t(23, 20), 99_980.50),
            (t(24, 15), 99_990.00),
            (t(24, 20), 99_950.25),
            (t(25, 15), 99_960.00),
            (t(25, 20), 99_930.10),
            (t(26, 15), 99_900.00),
            (t(26, 20), 99_896.67),
        ];
        let daily = daily_pnl(&equity);
        let want = [-19.50, -30.25, -20.15, -33.43];
        assert_eq!(daily.len(), 4);
        for ((_, got), want) in daily.iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        let sum: f64 = daily.iter().map(|d| d.1).sum();
        assert!((sum - -103.33).abs() < 1e-9, "{sum}");
        let html = page(&Input {
            generated: t(26, 21),
            status: Vec::new(),
            digest: &Digest::of(&equity, &[]),
            symbols: &[],
            metrics: None,
        });
        for label in [
            "Nov 23: −$19.50",
            "Nov 24: −$30.25",
            "Nov 25: −$20.15",
            "Nov 26: −$33.43",
        ] {
            assert!(html.contains(&format!("<title>{label}</title>")), "{label}");
        }
    }

    #[test]
    fn the_summary_by_hand() {
        // 100 -> 110 -> 99 -> 121 -> 102.85: peak 121, return +2.85 %, deepest 1 - 102.85/121
        // = 15 %. Round trips as in fifo_round_trips_by_hand: 3, 2 gains, best +20 %, worst
        // 11/13 - 1 = -15.38 %. No equity change at all is a 0.00 % drawdown, not -0.00.
        let equity = [
            (t(24, 15), 100.0),
            (t(24, 16), 110.0),
            (t(24, 17), 99.0),
            (t(25, 15), 121.0),
            (t(25, 16), 102.85),
        ];
        let fills = [
            fill(14, true, 2.0, 10.0),
            fill(15, true, 1.0, 13.0),
            fill(16, false, 2.0, 12.0),
            fill(17, false, 1.0, 11.0),
            fill(18, false, 1.0, 9.0),
            fill(19, true, 1.0, 8.0),
        ];
        let rows = summary_rows(&Digest::of(&equity, &fills)).unwrap();
        let get = |k: &str| rows.iter().find(|r| r[0] == k).unwrap()[1].clone();
        assert_eq!(get("Equity Final [$]"), "102.85");
        assert_eq!(get("Equity Peak [$]"), "121.00");
        assert_eq!(get("Return [%]"), "2.85");
        assert_eq!(get("Max. Drawdown [%]"), "-15.00");
        assert_eq!(get("# Trades"), "3");
        assert_eq!(get("Win Rate [%]"), "66.67");
        assert_eq!(get("Best Trade [%]"), "20.00");
        assert_eq!(get("Worst Trade [%]"), "-15.38");
        let flat = [(t(24, 15), 100.0), (t(24, 16), 100.0)];
        let rows = summary_rows(&Digest::of(&flat, &[])).unwrap();
        assert_eq!(rows[5], ["Max. Drawdown [%]", "0.00"]);
        assert_eq!(rows[7], ["Win Rate [%]", "--"]);
    }

    #[test]
    fn the_status_card_wraps_long_values_and_keeps_every_line() {
        let long = format!(
            "error: {}",
            "the broker answered 503 Service Unavailable ".repeat(8)
        );
        let html = page(&Input {
            generated: t(25, 12),
            status: vec![
                ("last tick".into(), long.clone()),
                ("guards".into(), "none tripped".into()),
                ("missed ticks".into(), "0".into()),
            ],
            digest: &Digest::default(),
            symbols: &[],
            metrics: None,
        });
        let card = html
            .split("<dl class=\"facts\">")
            .nth(1)
            .expect("a facts card");
        let card = card.split("</dl>").next().unwrap();
        for needle in [long.trim_end(), "guards", "none tripped", "missed ticks"] {
            assert!(card.contains(needle), "{needle}");
        }
        // The card's cells wrap (no one-line table cell, no scrolling box around it).
        assert!(html.contains("dl.facts dd{margin:0;overflow-wrap:anywhere;white-space:normal}"));
        let before = html.split("<dl class=\"facts\">").next().unwrap();
        assert!(
            before.ends_with("<section>"),
            "not inside a scrolling table section"
        );
    }

    #[test]
    fn the_page_is_self_contained() {
        let equity: Vec<(DateTime<Utc>, f64)> = (0..50)
            .map(|i| {
                (
                    t(24, 0) + chrono::Duration::hours(i),
                    100_000.0 + (i as f64).sin() * 500.0,
                )
            })
            .collect();
        let fills = [fill(14, true, 1.0, 230.0), fill(20, false, 1.0, 231.0)];
        let symbols = [SymbolView {
            name: "AAPL".into(),
            prices: (0..30)
                .map(|i| (t(24, 12).timestamp() + 600 * i, 230.0 + i as f64 / 10.0))
                .collect(),
            position: 0.0,
        }];
        let html = page(&Input {
            generated: t(25, 12),
            status: vec![("last tick".into(), "ok".into())],
            digest: &Digest::of(&equity, &fills),
            symbols: &symbols,
            metrics: metric_rows(&equity, &fills),
        });
        assert!(
            html.starts_with("<!DOCTYPE html>")
                && html.contains("<svg")
                && html.contains("Win Rate [%]")
        );
        assert!(
            !html.contains("<script")
                && !html.contains("src=\"http")
                && !html.contains("href=\"http"),
            "no network, no scripts"
        );
    }
}

//! The backtest report page: equity against buy-and-hold, drawdown, each symbol's price with
//! its entries and exits, the metrics table, and for sweeps a heatmap and the ranking, for
//! walk-forwards the windows. Built from the generic [`svg`] and [`html`] pieces; pure.

use super::html::Page;
use super::svg::{self, Format, Line, Marker, Shape};
use crate::backtest::params;
use crate::backtest::portfolio::PortfolioOutcome;
use crate::backtest::scoring;
use crate::backtest::sweep::Sweep;
use crate::domain::Bar;

/// At most this many trades per symbol get markers; more would bury the price line.
const MAX_MARKED_TRADES: usize = 300;
/// Series are reduced to this many buckets (at most four points each) before drawing.
const BUCKETS: usize = 2000;
/// Sweep rows shown in the table.
const TOP_ROWS: usize = 20;

const BLUE: &str = "#1f6fb2";
const GREY: &str = "#8a8f98";
const RED: &str = "#c8423b";
const GREEN: &str = "#23915a";

/// Everything the page shows.
pub struct Input<'a> {
    pub title: String,
    pub subtitle: String,
    pub names: &'a [String],
    pub bars: &'a [&'a [Bar]],
    pub outcome: &'a PortfolioOutcome,
    /// The first timeline step shown (the out-of-sample start of a walk-forward, else 0).
    pub from: usize,
    /// Metrics table: header (first column "Metric") and rows.
    pub metrics_header: Vec<String>,
    pub metrics_rows: Vec<Vec<String>>,
    pub sweep: Option<&'a Sweep>,
    /// Walk-forward windows table: header and rows.
    pub windows: Option<(Vec<String>, Vec<Vec<String>>)>,
    pub notes: Vec<String>,
}

fn secs(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp()
}

/// The page's HTML.
pub fn page(input: &Input<'_>) -> String {
    let out = input.outcome;
    let from = input.from.min(out.times.len());
    let mut page = Page::new(&input.title, &input.subtitle);

    // A million bars draw no better than a few thousand points: each series is reduced as
    // it is produced (keeping each bucket's extremes), never held whole.
    let n = out.times.len() - from;
    // One symbol's benchmark is its closes, read in place; several symbols' is their basket.
    let basket = (input.bars.len() != 1).then(|| scoring::benchmark(input.bars, out));
    let bench = |i: usize| match &basket {
        Some(b) => b[i],
        None => input.bars[0][i].close,
    };
    // Buy & hold of the same money from the later of the first shown step and the warm-up.
    let start = from.max(out.warmup).min(out.times.len().saturating_sub(1));
    let cash0 = out.equity.get(from).copied().unwrap_or(f64::NAN);
    let bench_at = |i: usize| {
        let k = if i < start {
            1.0
        } else {
            bench(i) / bench(start)
        };
        cash0 * k
    };
    // One symbol whose bars span the shown steps draws its closes in the same pass: the
    // bars (64 bytes each) are read once for both of its series.
    let t0 = out.times.get(from).copied();
    let first_bar = |bars: &[Bar]| t0.map_or(0, |t| bars.partition_point(|b| b.time < t));
    let together = match input.bars {
        [bars] => (bars.len() - first_bar(bars) == n).then(|| (*bars, first_bar(bars))),
        _ => None,
    };
    let mut peak = f64::NEG_INFINITY;
    let mut drawdown_at = |i: usize| {
        let e = out.equity[i];
        peak = peak.max(e);
        (e / peak - 1.0) * 100.0
    };
    let step_time = |i: usize| secs(out.times[from + i]);
    let (equity, hold, drawdown, mut closes) = match together {
        Some((bars, first)) => {
            let [e, h, d, c] = svg::downsample_many(
                n,
                BUCKETS,
                |k, i| {
                    if k == 3 {
                        secs(bars[first + i].time)
                    } else {
                        step_time(i)
                    }
                },
                |i| {
                    let step = from + i;
                    [
                        out.equity[step],
                        bench_at(step),
                        drawdown_at(step),
                        bars[first + i].close,
                    ]
                },
            );
            (e, h, d, Some(c))
        }
        None => {
            let [e, h, d] = svg::downsample_many(
                n,
                BUCKETS,
                |_, i| step_time(i),
                |i| {
                    let step = from + i;
                    [out.equity[step], bench_at(step), drawdown_at(step)]
                },
            );
            (e, h, d, None)
        }
    };

    page.heading("Equity");
    page.chart(|size| {
        svg::line_chart(
            "Equity against buy & hold",
            vec![
                Line {
                    name: "Strategy",
                    points: &equity,
                    color: BLUE,
                    dashed: false,
                },
                Line {
                    name: "Buy & hold",
                    points: &hold,
                    color: GREY,
                    dashed: true,
                },
            ],
            &[],
            Format::Money,
            size,
        )
    });
    page.chart(|size| {
        svg::area_chart(
            "Drawdown",
            Line {
                name: "Drawdown from peak",
                points: &drawdown,
                color: RED,
                dashed: false,
            },
            Format::Percent,
            size,
        )
    });

    page.heading("Metrics");
    let header: Vec<&str> = input.metrics_header.iter().map(String::as_str).collect();
    page.table(&header, &input.metrics_rows, None);

    if let Some(sweep) = input.sweep {
        sweep_section(&mut page, sweep);
    }
    if let Some((header, rows)) = &input.windows {
        page.heading("Walk-forward windows");
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        page.table(&header, rows, None);
    }

    page.heading("Prices and trades");
    for ((name, bars), leg) in input.names.iter().zip(input.bars).zip(&out.legs) {
        let first = first_bar(bars);
        let shown = &bars[first..];
        let closes = closes.take().unwrap_or_else(|| {
            svg::downsample_by(
                shown.len(),
                BUCKETS,
                |i| secs(shown[i].time),
                |i| shown[i].close,
            )
        });
        let (markers, omitted) = trade_markers(bars, leg, first);
        let title = format!("{name}: close, entries and exits");
        page.chart(|size| {
            svg::line_chart(
                &title,
                vec![Line {
                    name: "Close",
                    points: &closes,
                    color: BLUE,
                    dashed: false,
                }],
                &markers,
                Format::Plain,
                size,
            )
        });
        if omitted > 0 {
            page.note(&format!(
                "{name}: markers show the last {MAX_MARKED_TRADES} trades; {omitted} earlier ones are in trades.csv."
            ));
        }
    }
    page.note("▲ green: a buy (long entry or short exit). ▼ red: a sell (long exit or short entry). Hover or tap a marker for its fill.");
    for n in &input.notes {
        page.note(n);
    }
    page.finish(&input.title)
}

/// Markers for a leg's fills from bar `first` on (closed trades, then the open one).
fn trade_markers(
    bars: &[Bar],
    leg: &crate::backtest::portfolio::LegOutcome,
    first: usize,
) -> (Vec<Marker>, usize) {
    let shown: Vec<_> = leg.trades.iter().filter(|t| t.entry_bar >= first).collect();
    let skip = shown.len().saturating_sub(MAX_MARKED_TRADES);
    let mut markers = Vec::new();
    let mut fill = |bar: usize, price: f64, buy: bool, what: &str, size: f64| {
        let time = bars[bar].time.format("%Y-%m-%d %H:%M");
        markers.push(Marker {
            t: secs(bars[bar].time),
            v: price,
            shape: if buy { Shape::Up } else { Shape::Down },
            color: if buy { GREEN } else { RED },
            label: format!(
                "{} {} {} @ {price:.4} ({what}), {time}",
                if buy { "Buy" } else { "Sell" },
                params::format_value(size.abs()),
                if size.abs() == 1.0 { "share" } else { "shares" },
            ),
        });
    };
    for t in &shown[skip..] {
        let long = t.size > 0.0;
        let pnl = format!("exit, PnL {:.2}", t.pnl);
        fill(t.entry_bar, t.entry_price, long, "entry", t.size);
        fill(t.exit_bar, t.exit_price, !long, &pnl, t.size);
    }
    if let Some(t) = leg.open_trade.filter(|t| t.entry_bar >= first) {
        fill(
            t.entry_bar,
            t.entry_price,
            t.size > 0.0,
            "entry, still open",
            t.size,
        );
    }
    (markers, skip)
}

fn sweep_section(page: &mut Page, sweep: &Sweep) {
    let rank = sweep.rank.label;
    page.heading(&format!("Parameter sweep, ranked by {rank}"));
    if let [ax, ay] = &sweep.axes[..] {
        let x_labels: Vec<String> = ax.values.iter().map(|v| params::format_value(*v)).collect();
        let y_labels: Vec<String> = ay.values.iter().map(|v| params::format_value(*v)).collect();
        let mut grid = vec![vec![f64::NAN; ax.values.len()]; ay.values.len()];
        for row in &sweep.rows {
            let cx = ax.values.iter().position(|&v| v == row.values[0]);
            let cy = ay.values.iter().position(|&v| v == row.values[1]);
            if let (Some(cx), Some(cy)) = (cx, cy) {
                grid[cy][cx] = row.score;
            }
        }
        let title = format!("{rank} by {} and {}", ax.name, ay.name);
        page.chart(|size| {
            svg::heatmap(
                &svg::Heatmap {
                    title: &title,
                    x_name: &ax.name,
                    y_name: &ay.name,
                    x_labels: &x_labels,
                    y_labels: &y_labels,
                    values: &grid,
                    value_name: rank,
                },
                size,
            )
        });
        page.note("Grey cells: combinations the strategy refuses (such as fast >= slow: the fast average must be the shorter) or that closed no trade. The outlined cell is the best.");
    }
    let mut header: Vec<&str> = vec!["#"];
    header.extend(sweep.axes.iter().map(|a| a.name.as_str()));
    header.extend([rank, "Trades", "Return [%]", "Sharpe", "Max. DD [%]"]);
    let f = |v: f64| {
        if v.is_finite() {
            format!("{v:.3}")
        } else {
            "--".into()
        }
    };
    let rows: Vec<Vec<String>> = sweep
        .rows
        .iter()
        .take(TOP_ROWS)
        .enumerate()
        .map(|(i, r)| {
            let mut cells = vec![(i + 1).to_string()];
            cells.extend(r.values.iter().map(|v| params::format_value(*v)));
            cells.push(f(r.score));
            match &r.metrics {
                Some(m) => cells.extend([
                    m.trades.to_string(),
                    f(m.return_pct),
                    f(m.sharpe_ratio),
                    f(m.max_drawdown_pct),
                ]),
                None => cells.extend(["0".into(), "--".into(), "--".into(), "--".into()]),
            }
            cells
        })
        .collect();
    page.table(&header, &rows, Some(0));
    if sweep.rows.len() > TOP_ROWS {
        page.note(&format!(
            "The best {TOP_ROWS} of {} combinations; all are in sweep.csv ({} skipped by the strategy's rules).",
            sweep.rows.len(),
            sweep.skipped
        ));
    }
}

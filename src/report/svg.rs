//! Inline SVG charts: time-series lines with optional markers, an area (drawdown) chart and a
//! heatmap. Each function returns one `<svg>` element as a string.
//!
//! Generic on purpose: a series is `(UTC seconds, value)` points, so the same functions draw
//! a backtest's equity and, later, the live equity ledger. Charts scale with their container
//! (`viewBox`, `width="100%"`); a [`Size`] picks the drawing's proportions and font, so a
//! page can carry a wide and a narrow drawing of the same chart and let CSS choose. Only
//! system fonts, no scripts: tooltips are SVG `<title>` elements. Pure: no I/O.

use super::axis::{compact, format_value, nice_step};
use super::timeline::Timeline;
use crate::store::fast_text::{push_tenths, Tenths};
use std::fmt::Write as _;

#[path = "svg_downsample.rs"]
mod downsample;
pub use downsample::{downsample, downsample_by, downsample_many};

/// A point of a time series: UTC seconds since 1970, value.
pub type Point = (i64, f64);

/// A drawing's proportions, in SVG user units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size {
    pub width: f64,
    pub height: f64,
    pub font: f64,
}

/// For desktop screens.
pub const WIDE: Size = Size {
    width: 960.0,
    height: 340.0,
    font: 13.0,
};

/// For phones: fewer, larger labels.
pub const NARROW: Size = Size {
    width: 420.0,
    height: 300.0,
    font: 13.0,
};

/// How axis values and tooltips are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Money,
    Percent,
}

/// One line of a time chart.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    pub name: &'a str,
    pub points: &'a [Point],
    /// A CSS color.
    pub color: &'a str,
    pub dashed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// ▲, e.g. a buy.
    Up,
    /// ▼, e.g. a sell.
    Down,
}

/// A marker on a time chart, with a tooltip.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub t: i64,
    pub v: f64,
    pub shape: Shape,
    pub color: &'static str,
    pub label: String,
}

/// A time-series chart: lines, markers, and optionally the first line filled down to zero.
#[derive(Debug, Clone)]
pub struct TimeChart<'a> {
    pub title: &'a str,
    pub lines: Vec<Line<'a>>,
    pub markers: &'a [Marker],
    pub format: Format,
    /// Fill between the first line and zero (a drawdown chart).
    pub area: bool,
}

/// A line chart with optional markers.
pub fn line_chart(
    title: &str,
    lines: Vec<Line<'_>>,
    markers: &[Marker],
    format: Format,
    size: Size,
) -> String {
    time_chart(
        &TimeChart {
            title,
            lines,
            markers,
            format,
            area: false,
        },
        size,
    )
}

/// One series filled down to zero.
pub fn area_chart(title: &str, line: Line<'_>, format: Format, size: Size) -> String {
    time_chart(
        &TimeChart {
            title,
            lines: vec![line],
            markers: &[],
            format,
            area: true,
        },
        size,
    )
}

/// Every time a line has a point at (markers lie between them).
fn all_times<'a>(c: &'a TimeChart<'_>) -> impl Iterator<Item = i64> + 'a {
    c.lines
        .iter()
        .flat_map(|l| l.points.iter().filter(|p| p.1.is_finite()).map(|p| p.0))
}

/// Plot area margins: left for value labels, bottom for dates.
pub(super) fn plot_box(size: Size) -> (f64, f64, f64, f64) {
    let left = size.font * 5.2;
    let right = size.font * 1.2;
    let top = size.font * 3.4;
    let bottom = size.font * 2.4;
    (
        left,
        top,
        size.width - left - right,
        size.height - top - bottom,
    )
}

/// The chart, as one `<svg>` element.
pub fn time_chart(c: &TimeChart<'_>, size: Size) -> String {
    let (px, py, pw, ph) = plot_box(size);
    let finite = |v: f64| v.is_finite();
    let all_t = c.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (t0, t1) = min_max(all_t.map(|t| t as f64));
    let vals = c
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(c.markers.iter().map(|m| m.v))
        .filter(|&v| finite(v));
    let (mut v0, mut v1) = min_max(vals);
    if c.area {
        v0 = v0.min(0.0);
        v1 = v1.max(0.0);
    }
    let mut svg = open_svg(size, c.title);
    if !(t0.is_finite() && v0.is_finite()) {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle" class="muted">no data</text></svg>"#,
            size.width / 2.0,
            size.height / 2.0
        );
        return svg;
    }
    let (t1, v1) = (
        if t1 > t0 { t1 } else { t0 + 1.0 },
        if v1 > v0 { v1 } else { v0 + 1.0 },
    );
    let pad = (v1 - v0) * 0.05;
    let (v0, v1) = (
        if c.area && v0 == 0.0 { 0.0 } else { v0 - pad },
        if c.area && v1 == 0.0 { 0.0 } else { v1 + pad },
    );
    // Closed market time (nights, weekends of intraday series) is shrunk out of the axis.
    let timeline = Timeline::new(all_times(c));
    let span = if timeline.span() > 0.0 {
        timeline.span()
    } else {
        t1 - t0
    };
    let x = |t: f64| px + timeline.pos(t as i64) / span * pw;
    let y = |v: f64| py + (v1 - v) / (v1 - v0) * ph;

    // Grid and value labels.
    let target = (ph / (size.font * 3.2)).clamp(3.0, 8.0);
    let step = nice_step((v1 - v0) / target);
    let mut v = (v0 / step).ceil() * step;
    while v <= v1 + step * 1e-9 {
        let yy = y(v);
        let _ = write!(
            svg,
            r#"<line x1="{px:.1}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" class="grid"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="axis">{}</text>"#,
            px + pw,
            px - size.font * 0.4,
            yy + size.font * 0.35,
            format_value(v, step, c.format)
        );
        v += step;
    }
    // Time labels.
    let max_ticks = (pw / (size.font * 8.0)).max(2.0) as usize;
    for (t, label) in timeline.ticks(max_ticks) {
        let xx = x(t as f64);
        let _ = write!(
            svg,
            r#"<line x1="{xx:.1}" x2="{xx:.1}" y1="{py:.1}" y2="{:.1}" class="grid"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle" class="axis">{label}</text>"#,
            py + ph,
            py + ph + size.font * 1.4
        );
    }
    let _ = write!(
        svg,
        r#"<rect x="{px:.1}" y="{py:.1}" width="{pw:.1}" height="{ph:.1}" class="frame"/>"#
    );

    // Lines (downsampled to the drawing's width).
    let buckets = (pw as usize).max(50);
    for (k, line) in c.lines.iter().enumerate() {
        let pts = downsample(line.points, buckets);
        let mut d = String::with_capacity(pts.len() * 14);
        let mut pen_up = true;
        for &(t, v) in &pts {
            if !v.is_finite() {
                pen_up = true;
                continue;
            }
            d.push(if pen_up { 'M' } else { 'L' });
            push_tenths(&mut d, x(t as f64));
            d.push(',');
            push_tenths(&mut d, y(v));
            pen_up = false;
        }
        if c.area && k == 0 {
            if let (Some(first), Some(last)) = (
                pts.iter().find(|p| p.1.is_finite()),
                pts.iter().rev().find(|p| p.1.is_finite()),
            ) {
                let _ = write!(
                    svg,
                    r#"<path d="{d}L{:.1},{:.1}L{:.1},{:.1}Z" fill="{}" fill-opacity="0.25" stroke="none"/>"#,
                    x(last.0 as f64),
                    y(0.0),
                    x(first.0 as f64),
                    y(0.0),
                    line.color
                );
            }
        }
        let dash = if line.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.6" stroke-linejoin="round"{dash}><title>{}</title></path>"#,
            line.color,
            escape(line.name)
        );
    }

    // Markers.
    let r = size.font * 0.45;
    for m in c.markers {
        if !m.v.is_finite() {
            continue;
        }
        let (cx, cy) = (x(m.t as f64), y(m.v));
        // The tip, then the base's two corners.
        let (tip, base) = match m.shape {
            Shape::Up => (cy - r, cy + r),
            Shape::Down => (cy + r, cy - r),
        };
        let pts = format!(
            "{},{} {},{} {},{}",
            Tenths(cx),
            Tenths(tip),
            Tenths(cx - r),
            Tenths(base),
            Tenths(cx + r),
            Tenths(base)
        );
        let _ = write!(
            svg,
            r##"<polygon points="{pts}" fill="{}" stroke="#fff" stroke-width="0.6"><title>{}</title></polygon>"##,
            m.color,
            escape(&m.label)
        );
    }

    // Legend.
    let mut lx = px;
    for line in &c.lines {
        let ly = py - size.font * 0.8;
        let _ = write!(
            svg,
            r#"<rect x="{lx:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{ly:.1}" class="legend">{}</text>"#,
            ly - size.font * 0.7,
            size.font * 0.9,
            size.font * 0.9,
            line.color,
            lx + size.font * 1.2,
            escape(line.name)
        );
        lx += size.font * (2.0 + 0.62 * line.name.chars().count() as f64);
    }
    svg.push_str("</svg>");
    svg
}

/// A grid of scores: `values[row][col]`, NaN drawn grey. The largest cell is outlined.
#[derive(Debug, Clone)]
pub struct Heatmap<'a> {
    pub title: &'a str,
    pub x_name: &'a str,
    pub y_name: &'a str,
    pub x_labels: &'a [String],
    pub y_labels: &'a [String],
    pub values: &'a [Vec<f64>],
    /// What the values are (the tooltip says "SQN 1.23").
    pub value_name: &'a str,
}

/// The heatmap, as one `<svg>` element (rows bottom to top, so y grows upward).
pub fn heatmap(h: &Heatmap<'_>, size: Size) -> String {
    let (nx, ny) = (h.x_labels.len().max(1), h.y_labels.len().max(1));
    let font = size.font;
    let (px, py) = (font * 5.0, font * 3.0);
    let pw = size.width - px - font * 1.0;
    let ph = (size.height - py - font * 3.4)
        .max(font * 2.0 * ny as f64)
        .min(font * 3.0 * ny as f64);
    let height = py + ph + font * 3.4;
    let mut svg = open_svg(Size { height, ..size }, h.title);
    let (cw, ch) = (pw / nx as f64, ph / ny as f64);
    let (lo, hi) = min_max(h.values.iter().flatten().copied().filter(|v| v.is_finite()));
    let best = h
        .values
        .iter()
        .enumerate()
        .flat_map(|(r, row)| row.iter().enumerate().map(move |(c, &v)| (r, c, v)))
        .filter(|t| t.2.is_finite())
        .fold(None, |b: Option<(usize, usize, f64)>, t| match b {
            Some(b) if b.2 >= t.2 => Some(b),
            _ => Some(t),
        });
    let show_text = cw > font * 2.6 && ch > font * 1.3;
    for (r, row) in h.values.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            let (x0, y0) = (px + c as f64 * cw, py + (ny - 1 - r) as f64 * ch);
            let (fill, ink) = if v.is_finite() {
                let f = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                (viridis(f), if f > 0.6 { "#111" } else { "#fff" })
            } else {
                ("#d0d0d0".to_string(), "#555")
            };
            let label = format!(
                "{} {}, {} {}: {} {}",
                h.x_name,
                h.x_labels.get(c).map_or("", String::as_str),
                h.y_name,
                h.y_labels.get(r).map_or("", String::as_str),
                h.value_name,
                if v.is_finite() {
                    format!("{v:.4}")
                } else {
                    "n/a (no trades or invalid)".into()
                }
            );
            let _ = write!(
                svg,
                r#"<rect x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="{fill}"><title>{}</title></rect>"#,
                cw + 0.3,
                ch + 0.3,
                escape(&label)
            );
            if show_text {
                let text = if v.is_finite() {
                    compact(v)
                } else {
                    "–".into()
                };
                let _ = write!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{ink}" class="cell">{text}</text>"#,
                    x0 + cw / 2.0,
                    y0 + ch / 2.0 + font * 0.35
                );
            }
        }
    }
    if let Some((r, c, _)) = best {
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{cw:.1}" height="{ch:.1}" fill="none" stroke="#e4572e" stroke-width="2.5"/>"##,
            px + c as f64 * cw,
            py + (ny - 1 - r) as f64 * ch
        );
    }
    let every = |n: usize, room: f64| ((font * 2.8 / room).ceil() as usize).clamp(1, n.max(1));
    let sx = every(nx, cw);
    for (c, l) in h.x_labels.iter().enumerate().filter(|(c, _)| c % sx == 0) {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text>"#,
            px + (c as f64 + 0.5) * cw,
            py + ph + font * 1.3,
            escape(l)
        );
    }
    let sy = every(ny, ch * 2.0);
    for (r, l) in h.y_labels.iter().enumerate().filter(|(r, _)| r % sy == 0) {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="axis">{}</text>"#,
            px - font * 0.4,
            py + (ny as f64 - r as f64 - 0.5) * ch + font * 0.35,
            escape(l)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="legend">{} →</text><text x="{:.1}" y="{:.1}" class="legend">{} ↑</text></svg>"#,
        px + pw / 2.0,
        py + ph + font * 2.8,
        escape(h.x_name),
        font * 0.3,
        py - font * 0.6,
        escape(h.y_name)
    );
    svg
}

pub(super) fn open_svg(size: Size, title: &str) -> String {
    let mut s = String::with_capacity(16 * 1024);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{t}" font-family="system-ui,-apple-system,'Segoe UI',Roboto,sans-serif" font-size="{f}"><style>.grid{{stroke:#e6e6e6;stroke-width:1}}.frame{{fill:none;stroke:#bbb}}.axis{{fill:#555}}.legend{{fill:#222}}.muted{{fill:#888}}.cell{{font-size:{cf}px}}.title{{font-weight:600;fill:#111}}</style><text x="{x}" y="{y}" class="title">{t}</text>"#,
        w = size.width,
        h = size.height.round(),
        f = size.font,
        cf = size.font * 0.85,
        x = size.font * 0.3,
        y = size.font * 1.3,
        t = escape(title)
    );
    s
}

/// `&`, `<`, `>`, `"` and `'` escaped for XML text and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

pub(super) fn min_max(it: impl Iterator<Item = f64>) -> (f64, f64) {
    it.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    })
}

/// The viridis color map at `f` in [0, 1], by linear steps between five of its colors.
fn viridis(f: f64) -> String {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let f = f.clamp(0.0, 1.0) * 4.0;
    let i = (f.floor() as usize).min(3);
    let u = f - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * u).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

#[cfg(test)]
#[path = "svg_tests.rs"]
mod tests;

//! A bar chart over named slots (one bar per trading day): positive bars green above zero,
//! negative red below, each with its label and value as a tooltip. Slots are evenly spaced,
//! so closed days (weekends, holidays) take no room and every bar sits on its own day.

use super::axis::{format_value, nice_step};
use super::svg::{escape, min_max, open_svg, plot_box, Format, Size};
use crate::store::fast_text::Tenths;
use std::fmt::Write as _;

const UP: &str = "#2ca02c";
const DOWN: &str = "#d62728";

/// `bars` are `(label, value)` in order; NaN values leave an empty slot.
pub fn bar_chart(title: &str, bars: &[(String, f64)], format: Format, size: Size) -> String {
    let (px, py, pw, ph) = plot_box(size);
    let mut svg = open_svg(size, title);
    let (lo, hi) = min_max(bars.iter().map(|b| b.1).filter(|v| v.is_finite()));
    if !lo.is_finite() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle" class="muted">no data</text></svg>"#,
            size.width / 2.0,
            size.height / 2.0
        );
        return svg;
    }
    // Zero is always on the axis: a bar's height is its value.
    let (mut v0, mut v1) = (lo.min(0.0), hi.max(0.0));
    if v1 <= v0 {
        v1 = v0 + 1.0;
    }
    let pad = (v1 - v0) * 0.05;
    if v0 < 0.0 {
        v0 -= pad;
    }
    if v1 > 0.0 {
        v1 += pad;
    }
    let y = |v: f64| py + (v1 - v) / (v1 - v0) * ph;
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
            format_value(v, step, format)
        );
        v += step;
    }
    let slot = pw / bars.len().max(1) as f64;
    let width = (slot * 0.7).max(1.0);
    // Labels no closer than about seven characters.
    let every = ((size.font * 7.0) / slot).ceil().max(1.0) as usize;
    for (i, (label, value)) in bars.iter().enumerate() {
        let cx = px + slot * (i as f64 + 0.5);
        if value.is_finite() {
            let (top, bottom) = (y(value.max(0.0)), y(value.min(0.0)));
            let _ = write!(
                svg,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>"#,
                Tenths(cx - width / 2.0),
                Tenths(top),
                Tenths(width),
                Tenths((bottom - top).max(0.5)),
                if *value >= 0.0 { UP } else { DOWN },
                escape(label),
                escape(&signed(*value, format))
            );
        }
        if i % every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text>"#,
                py + ph + size.font * 1.4,
                escape(label)
            );
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="{px:.1}" x2="{:.1}" y1="{z:.1}" y2="{z:.1}" stroke="#888"/><rect x="{px:.1}" y="{py:.1}" width="{pw:.1}" height="{ph:.1}" class="frame"/></svg>"##,
        px + pw,
        z = y(0.0)
    );
    svg
}

/// `+12.50` / `−$3.20`: the sign first, as a P&L is read.
fn signed(v: f64, format: Format) -> String {
    let sign = if v < 0.0 { "−" } else { "+" };
    match format {
        Format::Money => format!("{sign}${:.2}", v.abs()),
        Format::Percent => format!("{sign}{:.2}%", v.abs()),
        Format::Plain => format!("{sign}{:.2}", v.abs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::svg::WIDE;

    #[test]
    fn one_bar_per_slot_on_its_side_of_zero() {
        let bars = [
            ("Nov 23".to_string(), -30.0),
            ("Nov 24".to_string(), 10.0),
            ("Nov 25".to_string(), f64::NAN),
        ];
        let svg = bar_chart("Daily P&L", &bars, Format::Money, WIDE);
        assert_eq!(
            svg.matches("<rect x=").count(),
            2 + 1,
            "two bars and the frame"
        );
        assert!(svg.contains("<title>Nov 23: −$30.00</title>"));
        assert!(svg.contains("<title>Nov 24: +$10.00</title>"));
        assert!(
            svg.contains("Nov 25</text>"),
            "the empty day keeps its slot"
        );
        // The red bar hangs from zero, the green one stands on it: both touch y(0).
        let rect = |label: &str| {
            let at = svg.find(&format!("<title>{label}")).unwrap();
            let open = svg[..at].rfind("<rect").unwrap();
            let attr = |name: &str| -> f64 {
                let s = &svg[open..at];
                let i = s.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
                s[i..].split('"').next().unwrap().parse().unwrap()
            };
            (attr("y"), attr("height"))
        };
        let (down_y, down_h) = rect("Nov 23");
        let (up_y, up_h) = rect("Nov 24");
        assert!(
            (down_y - (up_y + up_h)).abs() < 0.11,
            "{down_y} {up_y} {up_h}"
        );
        assert!(
            (down_h / up_h - 3.0).abs() < 0.05,
            "heights in proportion: {down_h} {up_h}"
        );
    }
}

//! Axis arithmetic for the charts: round value steps, calendar-aligned time ticks, and how
//! numbers are written on axes and in cells. Pure.

use super::svg::Format;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// 1, 2 or 5 times a power of ten, at least `raw`.
pub(super) fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&s| s >= raw * 0.999)
        .unwrap_or(10.0 * p)
}

/// An axis value with the decimals its step needs, thousands grouped.
pub(super) fn format_value(v: f64, step: f64, format: Format) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
    let body = group_thousands(&format!("{v:.decimals$}"));
    match format {
        Format::Plain => body,
        Format::Money => format!("${body}").replace("$-", "−$"),
        Format::Percent => format!("{body}%"),
    }
}

/// Short text for a heatmap cell.
pub(super) fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub(super) fn group_thousands(s: &str) -> String {
    let (sign, rest) = s.strip_prefix('-').map_or(("", s), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut out = String::from(sign);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// Readable time ticks between `t0` and `t1` (UTC seconds): calendar years, months or days,
/// or round hours and minutes; at most about `max` of them.
pub(super) fn time_ticks(t0: i64, t1: i64, max: usize) -> Vec<(i64, String)> {
    let span = (t1 - t0).max(1);
    let max = max.max(2) as i64;
    const DAY: i64 = 86_400;
    let utc = |t: i64| Utc.timestamp_opt(t, 0).single().unwrap_or_default();
    let mut out = Vec::new();
    if span / (365 * DAY) >= max / 2 || span >= 3 * 365 * DAY {
        // Years.
        let years = (span / (365 * DAY)).max(1);
        let step = [1, 2, 5, 10, 20, 50]
            .into_iter()
            .find(|s| years / s < max)
            .unwrap_or(100) as i32;
        let mut y = utc(t0).year();
        y += (step - y.rem_euclid(step)) % step;
        while let Some(t) = NaiveDate::from_ymd_opt(y, 1, 1).map(|d| {
            d.and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
                .timestamp()
        }) {
            if t > t1 {
                break;
            }
            if t >= t0 {
                out.push((t, y.to_string()));
            }
            y += step;
        }
    } else if span >= 60 * DAY {
        // Months.
        let months = span / (30 * DAY);
        let step = [1, 2, 3, 6]
            .into_iter()
            .find(|s| months / s < max)
            .unwrap_or(12) as u32;
        let start = utc(t0);
        let (mut y, mut m) = (start.year(), start.month0());
        m += (step - m % step) % step;
        loop {
            y += (m / 12) as i32;
            m %= 12;
            let Some(d) = NaiveDate::from_ymd_opt(y, m + 1, 1) else {
                break;
            };
            let t = d
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
                .timestamp();
            if t > t1 {
                break;
            }
            if t >= t0 {
                out.push((t, d.format("%b %Y").to_string()));
            }
            m += step;
        }
    } else {
        // Days, hours or minutes: multiples of a round step.
        let steps = [
            60,
            300,
            900,
            1800,
            3600,
            3 * 3600,
            6 * 3600,
            12 * 3600,
            DAY,
            2 * DAY,
            7 * DAY,
            14 * DAY,
        ];
        let step = steps
            .into_iter()
            .find(|s| span / s < max)
            .unwrap_or(30 * DAY);
        let fmt = if step >= DAY {
            "%b %d"
        } else if span > DAY {
            "%m-%d %H:%M"
        } else {
            "%H:%M"
        };
        let mut t = t0 + (step - t0.rem_euclid(step)) % step;
        while t <= t1 {
            let d: DateTime<Utc> = utc(t);
            out.push((t, d.format(fmt).to_string()));
            t += step;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_calendar_aligned_and_values_round() {
        let t0 = Utc
            .with_ymd_and_hms(2004, 8, 19, 0, 0, 0)
            .unwrap()
            .timestamp();
        let t1 = Utc
            .with_ymd_and_hms(2013, 3, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        let ticks = time_ticks(t0, t1, 10);
        let labels: Vec<&str> = ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(
            labels,
            ["2005", "2006", "2007", "2008", "2009", "2010", "2011", "2012", "2013"]
        );
        let ticks = time_ticks(t0, t0 + 100 * 86_400, 6);
        assert!(ticks.iter().all(|t| t.1.len() == 8), "{ticks:?}"); // "Sep 2004"
        let ticks = time_ticks(t0 + 13 * 3600, t0 + 20 * 3600, 8);
        assert_eq!(ticks[0].1, "13:00");
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1300.0), 2000.0);
        assert_eq!(format_value(12500.0, 500.0, Format::Money), "$12,500");
        assert_eq!(format_value(-2.5, 0.5, Format::Percent), "-2.5%");
        assert_eq!(group_thousands("-1234567.25"), "-1,234,567.25");
    }
}

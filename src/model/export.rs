//! `train --export FILE`: every bar as one CSV row, so a person can check the model in a
//! notebook: its time, the features the model saw, the label, the walk-forward test window
//! that predicted it and the out-of-sample P(up). Pure: returns the text.

use super::walk::{Dataset, Report};
use crate::domain::Bar;
use crate::strategy::features::FEATURE_NAMES;
use std::fmt::Write as _;

/// The header: `time_utc`, the feature names, `label`, `window`, `p_up`.
pub fn header() -> String {
    format!("time_utc,{},label,window,p_up", FEATURE_NAMES.join(","))
}

/// One row per bar. Empty cells where a value does not exist: features in the first bars
/// (they need 50), labels in the last `horizon`, the window and P(up) before the first test
/// bar. `label` is 1 (up) or 0; `window` counts test windows from 1, as the report does.
/// Numbers are Rust's shortest round-trip form, so a value read back is bit-identical.
pub fn csv(bars: &[Bar], data: &Dataset, r: &Report) -> String {
    let mut out = String::with_capacity(bars.len() * 256);
    out.push_str(&header());
    out.push('\n');
    let mut window = vec![None; bars.len()];
    for (k, w) in r.windows.iter().enumerate() {
        for t in w.window.test.clone() {
            window[t] = Some(k + 1);
        }
    }
    let mut p_up = vec![None; bars.len()];
    for &(t, p) in &r.predictions {
        p_up[t] = Some(p);
    }
    for (t, bar) in bars.iter().enumerate() {
        let _ = write!(out, "{}", bar.time.format("%Y-%m-%d %H:%M:%S"));
        match &data.x[t] {
            Some(x) => x.iter().for_each(|v| {
                let _ = write!(out, ",{v}");
            }),
            None => out.push_str(&",".repeat(FEATURE_NAMES.len())),
        }
        let cell = |v: Option<String>| v.unwrap_or_default();
        let _ = writeln!(
            out,
            ",{},{},{}",
            cell(data.y[t].map(|y| u8::from(y).to_string())),
            cell(window[t].map(|k| k.to_string())),
            cell(p_up[t].map(|p| p.to_string()))
        );
    }
    out
}

//! The cells of `backtest`'s CSV files: times (`FastTime`: the date formatted once a day) and
//! numbers as [`tidy`] keeps them (12 significant digits), printed without a logarithm or
//! the general float printer where that is sure ([`tidy_decimal`], [`Cell`]), the same text
//! as serde_json's or `Display`'s (tests in `output_tests.rs`).

use super::*;

/// `YYYY-MM-DD HH:MM:SS`, the bar cache's time format.
pub fn time_cell(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Writes `YYYY-MM-DD HH:MM:SS` for UTC seconds without chrono's formatter: equity.csv of a
/// million minute bars is a million of these. The date part is computed once per day.
pub(super) struct FastTime {
    day: i64,
    /// The day's `YYYY-MM-DD ` (chrono's text, longer for years past 9999) and its length.
    date: [u8; 32],
    date_len: usize,
}

impl FastTime {
    pub(super) fn new() -> FastTime {
        FastTime {
            day: i64::MIN,
            date: [0; 32],
            date_len: 0,
        }
    }

    /// Brings the cached date to the day of `secs`; the length of its time (19 bytes but
    /// for years past 9999).
    pub(super) fn set(&mut self, secs: i64) -> usize {
        let day = secs.div_euclid(86_400);
        if day != self.day || self.date_len == 0 {
            self.day = day;
            let date = DateTime::<Utc>::from_timestamp(day * 86_400, 0)
                .unwrap_or_default()
                .format("%Y-%m-%d ")
                .to_string();
            self.date_len = date.len().min(32);
            self.date[..self.date_len].copy_from_slice(&date.as_bytes()[..self.date_len]);
        }
        self.date_len + 8
    }

    /// The time at `row[at..]` (which has 40 bytes), returning where it ends; nothing
    /// after it is touched.
    pub(super) fn put(&mut self, row: &mut [u8], at: usize, secs: i64) -> usize {
        self.set(secs);
        // Exactly the date's bytes, a fixed-size copy for the usual four-digit year.
        if self.date_len == 11 {
            row[at..at + 11].copy_from_slice(&self.date[..11]);
        } else {
            row[at..at + self.date_len].copy_from_slice(&self.date[..self.date_len]);
        }
        let at = at + self.date_len;
        let rest = secs.rem_euclid(86_400) as usize;
        // Each field's two digits from the table, one two-byte store each.
        row[at..at + 2].copy_from_slice(pair(rest / 3600));
        row[at + 2] = b':';
        row[at + 3..at + 5].copy_from_slice(pair(rest / 60 % 60));
        row[at + 5] = b':';
        row[at + 6..at + 8].copy_from_slice(pair(rest % 60));
        at + 8
    }

    pub(super) fn write(&mut self, out: &mut String, secs: i64) {
        let mut row = [0u8; 40];
        let end = self.put(&mut row, 0, secs);
        out.push_str(std::str::from_utf8(&row[..end]).unwrap_or_default());
    }
}

/// Significant digits a CSV number keeps. Sums of fills and commissions carry binary noise
/// in the last of a double's 15-17 digits (`6160.469999999999`, which a spreadsheet shows as
/// is); 12 keep every real digit of a price, a share count or an account's equity to a
/// thousandth of a cent below $10M, and drop the noise.
pub(super) const DIGITS: i32 = 12;

/// `v` rounded to [`DIGITS`] significant digits: the nearest double to a short decimal,
/// which the shortest round-trip form then prints as that decimal.
pub(super) fn tidy(v: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    let e = DIGITS - 1 - v.abs().log10().floor() as i32;
    let r = if e >= 0 {
        let p = 10f64.powi(e.min(300));
        (v * p).round() / p
    } else {
        let p = 10f64.powi(-e);
        (v / p).round() * p
    };
    if r.is_finite() {
        r
    } else {
        v
    }
}

/// [`tidy`]`(v)` as `(negative, m, k)`, its value `±m · 10^-k` with no trailing zero in `m`
/// past the point, when that is sure without a logarithm: for `1e-3 <= |v| < 1e11` (every
/// account's equity, most drawdowns and prices) not within 1e-12 of a power of ten, whose
/// decade `d` the table below settles as `log10(|v|).floor()` does. Then `tidy` is
/// `round(v · 10^e) / 10^e` with `e = 11 − d` in `1..=14`, both exact doubles, and the
/// decimal `m · 10^-k` has at most 13 significant digits: no other decimal that short reads
/// back as the same double, so it is the shortest round-trip text of `tidy(v)`, which
/// serde_json and `Display` print. equity.csv writes two million of these for a million bars;
/// the logarithm and the general printer were most of its time.
pub(super) fn tidy_decimal(v: f64) -> Option<(bool, u64, usize)> {
    const DECADES: [f64; 15] = [
        1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    ];
    const POW10: [f64; 15] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
    ];
    const CLEAR: f64 = 1e-12;
    let a = v.abs();
    // NaN is in no range.
    if !(DECADES[0]..DECADES[14]).contains(&a) {
        return None;
    }
    // The decade from the binary exponent (floor(e2 · log10 2) by 1233/4096, exact over this
    // range), then one comparison: a is in [2^e2, 2^(e2+1)).
    let e2 = (a.to_bits() >> 52) as i32 - 1023;
    let mut i = (((e2 * 1233) >> 12) + 3).clamp(0, 13) as usize;
    if a >= DECADES[i + 1] {
        i += 1;
    }
    if a < DECADES[i] * (1.0 + CLEAR) || a > DECADES[i + 1] * (1.0 - CLEAR) {
        return None;
    }
    // d = i − 3, e = 11 − d. `a · 10^k` is below 2^52, so adding ½ is exact and truncating
    // it rounds half up: `f64::round` on a positive value, without the library call.
    let mut k = 14 - i;
    let mut m = (a * POW10[k] + 0.5) as u64;
    while k > 0 && m % 10 == 0 {
        m /= 10;
        k -= 1;
    }
    Some((v < 0.0, m, k))
}

/// A float for CSV: [`tidy`], shortest round-trip form, empty for NaN.
pub(super) fn num(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{}", tidy(v));
    }
}

/// [`num`] as a value for `format!` (the tests' reference).
#[cfg(test)]
pub(super) fn cell(v: f64) -> String {
    let mut s = String::new();
    num(&mut s, v);
    s
}

/// [`num`] without `Display`'s float formatting (a long minute run has tens of thousands of
/// trades, seven floats each): the same shortest round-trip digits from serde_json, whose
/// form differs from `Display`'s only by a trailing `.0` on whole numbers (dropped here) and
/// by exponents (then `Display` writes the cell).
pub(super) fn push_cell(out: &mut String, scratch: &mut Vec<u8>, v: f64) {
    if let Some((negative, m, k)) = tidy_decimal(v) {
        if negative {
            out.push('-');
        }
        out.push_str(Scaled::new(m, k).as_str());
        return;
    }
    // A commission-free run's commission cell, every trade: `Display`'s `0` and `-0`.
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    if !v.is_finite() {
        return;
    }
    let v = tidy(v);
    scratch.clear();
    let _ = serde_json::to_writer(&mut *scratch, &v);
    let text = std::str::from_utf8(scratch).unwrap_or("e");
    if text.contains(['e', 'E']) {
        let _ = write!(out, "{v}");
    } else {
        out.push_str(text.strip_suffix(".0").unwrap_or(text));
    }
}

/// [`tidy`]`(v)` in serde_json's shortest round-trip form (`.0` on a whole number; through
/// [`tidy_decimal`] when it can, else serde_json itself); nothing for NaN.
pub(super) fn push_f64(out: &mut Vec<u8>, v: f64) {
    let cell = Cell::of(v);
    let mut row = [0u8; 32 + CELL];
    cell.place(&mut row, 32);
    out.extend_from_slice(&row[32..32 + cell.len()]);
}

/// Room for a [`Cell`], with some to spare: a sign, [`tidy_decimal`]'s digits and point (16
/// bytes at most, as in `0.00123456789012`) and `.0`, or serde_json's longest double
/// (`-2.2250738585072014e-308`, 24 bytes).
pub(super) const CELL: usize = 40;

/// [`push_f64`]'s text of a number, sized before it is placed in a row.
pub(super) enum Cell {
    /// [`tidy_decimal`]'s digits: a sign, `m · 10^-k` and `.0` when `k` is 0.
    Digits {
        negative: bool,
        text: Scaled,
        whole: bool,
    },
    /// serde_json's text (empty for NaN).
    Text([u8; CELL], usize),
}

impl Cell {
    pub(super) fn of(v: f64) -> Cell {
        let digits = |negative, (m, k)| Cell::Digits {
            negative,
            text: Scaled::new(m, k),
            whole: k == 0,
        };
        if let Some((negative, m, k)) = tidy_decimal(v) {
            return digits(negative, (m, k));
        }
        // An even drawdown, the cell of every row at a new peak; serde_json's `0.0`.
        if v == 0.0 && v.is_sign_positive() {
            return digits(false, (0, 0));
        }
        let mut text = [0u8; CELL];
        let mut rest = &mut text[..];
        if v.is_finite() {
            let _ = serde_json::to_writer(&mut rest, &tidy(v));
        }
        let len = CELL - rest.len();
        Cell::Text(text, len)
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Cell::Digits {
                negative,
                text,
                whole,
            } => usize::from(*negative) + text.len() + 2 * usize::from(*whole),
            Cell::Text(_, len) => *len,
        }
    }

    /// The text at `row[at..at + len]`. The digits go with one fixed-size copy that ends
    /// where they end ([`Scaled::padded`]): up to 32 bytes before `at` are overwritten, so
    /// a row is placed right to left.
    pub(super) fn place(&self, row: &mut [u8], at: usize) {
        match self {
            Cell::Digits {
                negative,
                text,
                whole,
            } => {
                let end = at + usize::from(*negative) + text.len();
                row[end - 32..end].copy_from_slice(text.padded());
                if *negative {
                    row[at] = b'-';
                }
                if *whole {
                    row[end..end + 2].copy_from_slice(b".0");
                }
            }
            Cell::Text(text, len) => row[at..at + len].copy_from_slice(&text[..*len]),
        }
    }
}

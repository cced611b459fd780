//! The bar cache's cells written without `format!`: a time as `YYYY-MM-DD HH:MM:SS` and a
//! number as Rust's shortest round-trip decimal (what `{}` prints), the same text, faster.
//! Importing or fetching a million minute bars writes six million of these; chrono's
//! formatter and the general float printer were most of an import's time.
//!
//! They write bytes (ASCII), not a `String`: a `str` needs its bytes checked as UTF-8, and
//! that check on every number was a tenth of an import's CPU.
//!
//! Pure: no I/O.

use chrono::{DateTime, Utc};
use std::io::Write as _;

/// `YYYY-MM-DD HH:MM:SS` (UTC), as `t.format("%Y-%m-%d %H:%M:%S")` writes it, for years
/// 0..=9999; other years go through chrono.
pub fn push_time(out: &mut Vec<u8>, t: DateTime<Utc>) {
    let secs = t.timestamp();
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        let _ = write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S"));
        return;
    }
    // Built in one stack buffer and pushed once: a `String::push` per character was most of
    // the time's cost.
    let mut buf = *b"0000-00-00 00:00:00";
    for (at, v) in [
        (0, y / 100),
        (2, y % 100),
        (5, m),
        (8, d),
        (11, rest / 3600),
        (14, rest / 60 % 60),
        (17, rest % 60),
    ] {
        buf[at..at + 2].copy_from_slice(pair(v as usize));
    }
    out.extend_from_slice(&buf);
}

/// The two ASCII digits of `v < 100`.
pub(crate) fn pair(v: usize) -> &'static [u8] {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    &PAIRS[2 * v..2 * v + 2]
}

/// `v` as `{}` prints it (plain decimal digits).
pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    push_scaled(out, v, 0);
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `v` as `{}` prints it. The fast path: a positive `v` that is `m / 10^k` for an integer
/// `m < 10^15` and `k <= 8` (a price, a volume, a VWAP). With the smallest such `k`, the
/// decimal `m·10^-k` is the shortest that reads back as `v` (a shorter one would be a smaller
/// `k`), and with at most 15 significant digits no other decimal that long does, so it is
/// exactly what the shortest-round-trip printer chooses. `m as f64 / 10^k == v` is an exact
/// check (both exact doubles, one correctly rounded division).
///
/// One check finds it: if any `k <= 8` works, `round(v·10^8)` is that `m·10^(8−k)` (the
/// product's rounding error is far below ½ under 10^15), so `k = 8` works too and the
/// smallest `k` is 8 less the trailing zeros of `round(v·10^8)`. Anything else: `{}`.
pub fn push_f64(out: &mut Vec<u8>, v: f64) {
    if v > 0.0 && v < 1e7 {
        // The nearest integer to v·10^8 but near halfway cases (no libm `round` call); the
        // exact check keeps only an m that works, and a miss takes `{}`: the same text.
        let m = (v * 1e8 + 0.5) as u64;
        if m as f64 / 1e8 == v {
            let (mut m, mut k) = (m, 8);
            while k > 0 && m % 10 == 0 {
                m /= 10;
                k -= 1;
            }
            push_scaled(out, m, k);
            return;
        }
    } else if (1e7..1e15).contains(&v) && v.fract() == 0.0 {
        push_scaled(out, v as u64, 0);
        return;
    }
    let _ = write!(out, "{v}");
}

/// `v` as `format!("{v:.1}")` writes it (a chart's coordinate: a dashboard draws thousands
/// every tick, and the general formatter's exact path was most of a page's cost). The fast
/// path: `|v| < 1e8` whose tenths `t = |v|·10` are not within 1e-6 of a half. The product's
/// rounding error is below 2^-23 there, so the exact `|v|·10` rounds to the same tenth as
/// `t`, and no tie (where `{:.1}` rounds to even) is taken here. Anything else: `{:.1}`.
pub fn push_tenths(out: &mut String, v: f64) {
    use std::fmt::Write as _;
    let _ = write!(out, "{}", Tenths(v));
}

/// [`push_tenths`]'s fast path: the sign and the digits, or `None` for `{:.1}` to decide.
fn tenths(v: f64) -> Option<(bool, Scaled)> {
    let t = v.abs() * 10.0;
    if t >= 1e9 {
        return None;
    }
    let (whole, frac) = (t.floor(), t - t.floor());
    ((frac - 0.5).abs() > 1e-6).then(|| {
        let m = whole as u64 + u64::from(frac > 0.5);
        (v.is_sign_negative(), Scaled::new(m, 1))
    })
}

/// `v` printed as `{:.1}` prints it, through [`push_tenths`]'s fast path: for `format!`
/// arguments (a chart's markers and bars).
pub struct Tenths(pub f64);

impl std::fmt::Display for Tenths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match tenths(self.0) {
            Some((negative, text)) => {
                if negative {
                    f.write_str("-")?;
                }
                f.write_str(text.as_str())
            }
            None => write!(f, "{:.1}", self.0),
        }
    }
}

/// `m · 10^-k` in plain decimal, no trailing zeros after the point (`m` has none there: `k`
/// is the smallest that works; `m < 10^20`, `k <= 8`), its digits built right to left two at
/// a time (the fraction first, zero-padded to `k` digits, then the point), pushed once.
fn push_scaled(out: &mut Vec<u8>, m: u64, k: usize) {
    out.extend_from_slice(Scaled::new(m, k).as_bytes());
}

/// The text of `m · 10^-k` ([`push_scaled`]; `k <= 20`), for writers of bytes as well as
/// of strings. The text ends the buffer, so a writer of whole rows can copy the buffer
/// with one fixed-size move ending where the text ends ([`Scaled::padded`]): a
/// variable-length copy is a libc call.
pub(crate) struct Scaled {
    buf: [u8; 32],
    start: usize,
}

impl Scaled {
    pub(crate) fn new(m: u64, k: usize) -> Scaled {
        let mut buf = [b'0'; 32];
        let mut i = buf.len();
        let mut n = m;
        if k > 0 {
            // The `k` digits after the point first, two at a time, then the point: no
            // digits moved afterwards to make room for it.
            let mut left = k;
            while left >= 2 {
                i -= 2;
                buf[i..i + 2].copy_from_slice(pair((n % 100) as usize));
                n /= 100;
                left -= 2;
            }
            if left == 1 {
                i -= 1;
                buf[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
            i -= 1;
            buf[i] = b'.';
        }
        // The integer digits, at least one (`0.5`).
        while n >= 100 {
            i -= 2;
            buf[i..i + 2].copy_from_slice(pair((n % 100) as usize));
            n /= 100;
        }
        if n >= 10 {
            i -= 2;
            buf[i..i + 2].copy_from_slice(pair(n as usize));
        } else {
            i -= 1;
            buf[i] = b'0' + n as u8;
        }
        Scaled { buf, start: i }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("0")
    }

    /// ASCII digits and at most one point.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The text's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Bytes to ignore, then the text (the last [`Scaled::len`] bytes).
    pub(crate) fn padded(&self) -> &[u8; 32] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// What a writer wrote, as text.
    fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn f(v: f64) -> String {
        text(|out| push_f64(out, v))
    }

    /// `push_tenths` is `{:.1}` to the byte: both zeros, ties (where `{:.1}` rounds to
    /// even), values a hair either side of a half, negatives, the edge of the fast path,
    /// huge values, NaN and the infinities, and a wide spread of random magnitudes.
    #[test]
    fn tenths_print_as_format_prints_them() {
        let mut vals = vec![
            0.0,
            -0.0,
            0.05,
            0.25,
            0.35,
            -0.04,
            -0.05,
            0.15,
            1.25,
            2.5,
            99.95,
            123.45,
            1e8,
            99_999_999.96,
            1e8 - 0.05,
            1e9,
            1e300,
            -1e20,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            5e-324,
        ];
        for base in [0.05f64, 0.15, 12.35, 487.25, 1024.65] {
            let mut up = base;
            let mut down = base;
            for _ in 0..4 {
                up = f64::from_bits(up.to_bits() + 1);
                down = f64::from_bits(down.to_bits() - 1);
                vals.extend([up, down, -up, -down]);
            }
        }
        let mut rng = crate::test_rng::XorShift(0xA076_1D64_78BD_642F);
        for _ in 0..200_000 {
            let scale = 10f64.powi((rng.next_u64() % 12) as i32 - 3);
            let v = (rng.unit() - 0.3) * scale;
            vals.extend([v, (v * 20.0).round() / 20.0]);
        }
        for v in vals {
            let mut got = String::new();
            push_tenths(&mut got, v);
            assert_eq!(got, format!("{v:.1}"), "{v:e}");
            assert_eq!(Tenths(v).to_string(), got, "{v:e}");
        }
    }

    #[test]
    fn numbers_print_as_display_prints_them() {
        let fixed = [
            0.0,
            -0.0,
            1.0,
            100.0,
            100.5,
            0.1,
            0.01,
            0.00000001,
            0.000000015,
            123.45678901,
            187.15,
            1e14,
            999_999_999_999_999.0,
            1e15,
            1e16,
            1e21,
            1e-7,
            5e-324,
            -3.25,
            f64::NAN,
            f64::INFINITY,
            0.1 + 0.2,
            1.0 / 3.0,
            82_488_700.0,
            2.5e-5,
        ];
        for v in fixed {
            assert_eq!(f(v), format!("{v}"), "{v:e}");
        }
        // Prices as a random walk rounds them (8, 4 and 2 decimals) and raw doubles.
        let mut rng = crate::test_rng::XorShift(0x2545_F491_4F6C_DD1D);
        for _ in 0..200_000 {
            let u = rng.unit();
            let x = rng.0;
            for v in [
                u,
                u * 1e3,
                (u * 1e11).round() / 1e8,
                (u * 1e6).round() / 1e4,
                (u * 1e7).round() / 1e2,
                f64::from_bits(x >> 2),
            ] {
                assert_eq!(f(v), format!("{v}"), "{v:e}");
            }
            // Counts (a bar's trades) of every length, and the powers of ten around them.
            let n = x >> (x % 64);
            for n in [
                n,
                10u64.pow((x % 20) as u32),
                10u64.pow((x % 20) as u32) - 1,
            ] {
                assert_eq!(text(|out| push_u64(out, n)), n.to_string());
            }
        }
        assert_eq!(text(|out| push_u64(out, u64::MAX)), u64::MAX.to_string());
    }

    /// `m · 10^-k` as plain text the obvious way: `m`'s digits zero-padded to `k + 1`, the
    /// point before the last `k`.
    fn scaled_by_hand(m: u64, k: usize) -> String {
        let digits = format!("{m:0>width$}", width = k + 1);
        let (int, frac) = digits.split_at(digits.len() - k);
        if k == 0 {
            int.to_string()
        } else {
            format!("{int}.{frac}")
        }
    }

    /// [`Scaled`] against the text by hand: every `k` up to 20, `m` of every length, the
    /// powers of ten either side, and the padded buffer ending in the text.
    #[test]
    fn scaled_is_the_decimal_by_hand() {
        let check = |m: u64, k: usize| {
            let s = Scaled::new(m, k);
            let want = scaled_by_hand(m, k);
            assert_eq!(s.as_str(), want, "{m} {k}");
            assert_eq!(s.len(), want.len());
            assert_eq!(&s.padded()[32 - s.len()..], want.as_bytes());
        };
        let mut rng = crate::test_rng::XorShift(0x6A09_E667_F3BC_C908);
        for k in 0..=20 {
            for p in 0..20 {
                let t = 10u64.pow(p);
                for m in [t - 1, t, t + 1, t.saturating_mul(5), t.saturating_mul(9)] {
                    check(m, k);
                }
            }
            for m in [0, u64::MAX] {
                check(m, k);
            }
            for _ in 0..20_000 {
                let x = rng.next_u64();
                check(x >> (x % 64), k);
            }
        }
    }

    #[test]
    fn times_print_as_chrono_prints_them() {
        let mut t = Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap();
        while t < end {
            let s = text(|out| push_time(out, t));
            assert_eq!(s, t.format("%Y-%m-%d %H:%M:%S").to_string());
            t += chrono::Duration::seconds(86_400 * 13 + 3_671);
        }
        for t in [end, Utc.with_ymd_and_hms(-5, 3, 1, 1, 2, 3).unwrap()] {
            let s = text(|out| push_time(out, t));
            assert_eq!(s, t.format("%Y-%m-%d %H:%M:%S").to_string());
        }
    }
}

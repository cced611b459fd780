//! Exact share quantities.
//!
//! Alpaca sends and accepts quantities as decimal strings with up to 9 decimal places. As f64
//! they stop being exact (`0.1 + 0.2 != 0.3`), so comparing a ledger's sum of fills with the
//! broker's position needed hand-made epsilons. [`Qty`] holds a whole number of nano-shares
//! (1e-9 of a share) instead: parsing, summing and comparing are exact, and Display writes the
//! decimal text back exactly as Alpaca wrote it.
//!
//! f64 appears at two boundaries only: [`Qty::from_f64_floor`] for a sizing rule's result
//! (shares computed from dollars), and [`Qty::to_f64`] for money maths (qty × price).
//!
//! Owns no I/O; knows nothing of Alpaca beyond the text format.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

/// Decimal places Alpaca uses for share quantities.
pub const DECIMALS: u32 = 9;
/// Nano-shares per share.
const SCALE: i128 = 1_000_000_000;
/// The largest quantity parsed, in whole shares: 10^15, far above any position an account
/// holds. Capped so that sums of parsed values cannot come near i128's limit.
pub const MAX_SHARES: i128 = 1_000_000_000_000_000;

/// A signed share quantity, exact to 1e-9 share.
///
/// The count is an i128 of nano-shares. An i64 would cap at about 9.2 billion shares, which a
/// ledger sum or a mistyped sizing setting could exceed; i128 costs nothing at a handful of
/// quantities per tick and leaves room for 10^14 sums of the largest parsed value
/// ([`MAX_SHARES`] = 10^24 nano-shares, against i128's 1.7 × 10^38). So `+` and `-` saturate
/// rather than wrap or panic, a bound no parsed input can reach; `checked_*` say so when they do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Qty(i128);

/// Text that is not a share quantity, with the text itself (quoted in every message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QtyError {
    pub text: String,
    pub reason: &'static str,
}

impl fmt::Display for QtyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" is not a share quantity: {}",
            self.text, self.reason
        )
    }
}

impl std::error::Error for QtyError {}

impl Qty {
    pub const ZERO: Qty = Qty(0);

    /// Whole shares.
    pub const fn shares(n: i64) -> Qty {
        Qty(n as i128 * SCALE)
    }

    /// Parse a plain decimal: optional sign, digits, optional `.` and digits. Digits past the
    /// 9th decimal are refused unless they are zeros (`2.0000000000` is exactly 2): a value
    /// that cannot be held exactly is an error, never rounded. Exponents, NaN, infinities and
    /// anything above [`MAX_SHARES`] are refused.
    pub fn parse(text: &str) -> Result<Qty, QtyError> {
        let err = |reason| QtyError {
            text: text.to_string(),
            reason,
        };
        let s = text.trim();
        let (negative, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() && frac.is_empty() {
            return Err(err("no digits"));
        }
        if !digits(int) || !digits(frac) {
            return Err(err("not a plain decimal number"));
        }
        let (kept, dropped) = frac.split_at(frac.len().min(DECIMALS as usize));
        if dropped.bytes().any(|b| b != b'0') {
            return Err(err("more than 9 decimal places"));
        }
        let int = int.trim_start_matches('0');
        if int.len() > 16 {
            return Err(err("more than 10^15 shares"));
        }
        let whole: i128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| err("not a plain decimal number"))?
        };
        if whole > MAX_SHARES {
            return Err(err("more than 10^15 shares"));
        }
        let mut nanos: i128 = 0;
        for (i, b) in kept.bytes().enumerate() {
            nanos += i128::from(b - b'0') * 10i128.pow(DECIMALS - 1 - i as u32);
        }
        let value = whole * SCALE + nanos;
        if value > MAX_SHARES * SCALE {
            return Err(err("more than 10^15 shares"));
        }
        Ok(Qty(if negative { -value } else { value }))
    }

    /// A sizing rule's result, floored to whole shares or (`fractional`) to 9 decimals. The
    /// f64 is read through its shortest decimal text (Rust's Display, which never uses an
    /// exponent), so `0.123456789` stays 0.123456789 rather than flooring its binary
    /// neighbour 0.12345678899999999 to 0.123456788.
    pub fn from_f64_floor(shares: f64, fractional: bool) -> Result<Qty, QtyError> {
        let text = shares.to_string();
        if !shares.is_finite() {
            return Err(QtyError {
                text,
                reason: "not a finite number",
            });
        }
        let keep = if fractional { DECIMALS as usize } else { 0 };
        let (head, tail) = match text.split_once('.') {
            Some((int, frac)) if frac.len() > keep => {
                let cut = int.len() + 1 + keep;
                (text[..cut].trim_end_matches('.'), &text[cut..])
            }
            _ => (text.as_str(), ""),
        };
        // Truncation went toward zero; a negative value with digits cut goes one step down.
        let cut_something = tail.bytes().any(|b| b != b'0');
        let floored = Qty::parse(head).map_err(|e| QtyError {
            text: text.clone(),
            ..e
        })?;
        Ok(if shares < 0.0 && cut_something {
            let step = if fractional { 1 } else { SCALE };
            Qty(floored.0 - step)
        } else {
            floored
        })
    }

    /// For money maths (notional = qty × price): the nearest f64 for any quantity below
    /// 2^53 nano-shares (about 9 million shares), and within f64's relative precision above.
    pub fn to_f64(self) -> f64 {
        if self.0.unsigned_abs() < (1u128 << 53) {
            // Both exact in f64, so the one rounding is the division's: the nearest double.
            self.0 as f64 / SCALE as f64
        } else {
            (self.0 / SCALE) as f64 + (self.0 % SCALE) as f64 / SCALE as f64
        }
    }

    pub fn checked_add(self, other: Qty) -> Option<Qty> {
        self.0.checked_add(other.0).map(Qty)
    }

    pub fn checked_sub(self, other: Qty) -> Option<Qty> {
        self.0.checked_sub(other.0).map(Qty)
    }

    pub fn checked_neg(self) -> Option<Qty> {
        self.0.checked_neg().map(Qty)
    }

    pub fn abs(self) -> Qty {
        Qty(self.0.saturating_abs())
    }

    /// -1, 0 or 1.
    pub fn signum(self) -> i32 {
        self.0.signum() as i32
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl Add for Qty {
    type Output = Qty;
    fn add(self, other: Qty) -> Qty {
        Qty(self.0.saturating_add(other.0))
    }
}

impl Sub for Qty {
    type Output = Qty;
    fn sub(self, other: Qty) -> Qty {
        Qty(self.0.saturating_sub(other.0))
    }
}

impl Neg for Qty {
    type Output = Qty;
    fn neg(self) -> Qty {
        Qty(self.0.saturating_neg())
    }
}

impl AddAssign for Qty {
    fn add_assign(&mut self, other: Qty) {
        *self = *self + other;
    }
}

impl SubAssign for Qty {
    fn sub_assign(&mut self, other: Qty) {
        *self = *self - other;
    }
}

impl Sum for Qty {
    fn sum<I: Iterator<Item = Qty>>(iter: I) -> Qty {
        iter.fold(Qty::ZERO, Add::add)
    }
}

impl PartialEq<i64> for Qty {
    fn eq(&self, shares: &i64) -> bool {
        *self == Qty::shares(*shares)
    }
}

impl PartialOrd<i64> for Qty {
    fn partial_cmp(&self, shares: &i64) -> Option<Ordering> {
        Some(self.cmp(&Qty::shares(*shares)))
    }
}

/// Exactly as Alpaca writes it: `2`, `0.5`, `1.123456789`, `-3`; no trailing zeros, no
/// exponent.
impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, nanos) = (abs / SCALE as u128, abs % SCALE as u128);
        if nanos == 0 {
            return write!(f, "{sign}{whole}");
        }
        let frac = format!("{nanos:09}");
        write!(f, "{sign}{whole}.{}", frac.trim_end_matches('0'))
    }
}

impl FromStr for Qty {
    type Err = QtyError;
    fn from_str(s: &str) -> Result<Qty, QtyError> {
        Qty::parse(s)
    }
}

impl Serialize for Qty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A string as Alpaca writes it; also a JSON number, as state files written before this type
/// held share counts as f64: read through the number's shortest decimal text (`0.1` is 0.1)
/// and floored to 9 decimals like a sizing result, since that is where those numbers came from.
impl<'de> Deserialize<'de> for Qty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Qty, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            Str(String),
            Int(i64),
            Float(f64),
        }
        let parsed = match Text::deserialize(d)? {
            Text::Str(s) => Qty::parse(&s),
            Text::Int(n) => Qty::parse(&n.to_string()),
            Text::Float(f) => Qty::from_f64_floor(f, true),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Qty {
        Qty::parse(text).unwrap()
    }

    #[test]
    fn parses_alpaca_decimals_exactly_and_writes_them_back() {
        for (text, nanos) in [
            ("2", 2_000_000_000),
            ("0.5", 500_000_000),
            ("1.123456789", 1_123_456_789),
            ("-3", -3_000_000_000),
            ("0.000000001", 1),
            ("-0.25", -250_000_000),
        ] {
            assert_eq!(q(text), Qty(nanos), "{text}");
            assert_eq!(q(text).to_string(), text);
        }
        // Other spellings of the same value are read, and written the one way.
        assert_eq!(q("2.000").to_string(), "2");
        assert_eq!(q("+0.50").to_string(), "0.5");
        assert_eq!(q("  7 ").to_string(), "7");
        assert_eq!(q("-0").to_string(), "0");
        assert_eq!(q(".5"), q("0.5"));
        assert_eq!(
            q("2.0000000000"),
            Qty::shares(2),
            "zeros past the 9th are exact"
        );
    }

    #[test]
    fn refuses_what_it_cannot_hold_exactly_naming_the_text() {
        for (text, why) in [
            ("1.0000000001", "more than 9 decimal places"),
            ("0.1234567891", "more than 9 decimal places"),
            ("NaN", "not a plain decimal number"),
            ("inf", "not a plain decimal number"),
            ("1e-9", "not a plain decimal number"),
            ("abc", "not a plain decimal number"),
            ("1.2.3", "not a plain decimal number"),
            ("--1", "not a plain decimal number"),
            ("", "no digits"),
            ("-", "no digits"),
            (".", "no digits"),
            ("1000000000000000.000000001", "more than 10^15 shares"),
            (
                "99999999999999999999999999999999999999999",
                "more than 10^15 shares",
            ),
        ] {
            let e = Qty::parse(text).unwrap_err();
            assert_eq!(e.reason, why, "{text}");
            assert!(e.to_string().contains(&format!("\"{text}\"")), "{e}");
        }
    }

    #[test]
    fn sums_are_exact_where_f64_is_not() {
        assert_ne!(0.1 + 0.2, 0.3, "the f64 problem this type exists for");
        assert_eq!(q("0.1") + q("0.2"), q("0.3"));
        let three: Qty = ["0.1", "0.1", "0.1"].into_iter().map(q).sum();
        assert_eq!(three - q("0.3"), Qty::ZERO);
        assert_eq!(q("1.123456789") + q("0.876543211"), Qty::shares(2));
        assert_eq!(q("10") - q("10") + q("2.5") + q("5"), q("7.5"));
    }

    #[test]
    fn the_largest_position_parses_adds_and_prints_exactly() {
        let max = q("1000000000000000");
        assert_eq!(max, Qty(MAX_SHARES * SCALE));
        assert_eq!(max.to_string(), "1000000000000000");
        let almost = q("999999999999999.999999999");
        assert_eq!((max + almost).to_string(), "1999999999999999.999999999");
        assert_eq!((-max - almost).to_string(), "-1999999999999999.999999999");
        assert_eq!(max.to_f64(), 1e15);
        // The type's own limit is far beyond: checked ops say so, operators saturate.
        let top = Qty(i128::MAX);
        assert_eq!(top.checked_add(Qty(1)), None);
        assert_eq!(top + Qty(1), top);
        assert_eq!(Qty(i128::MIN).checked_neg(), None);
        assert_eq!(Qty(i128::MIN).checked_sub(Qty(1)), None);
        assert_eq!(q("1").checked_sub(q("0.5")), Some(q("0.5")));
    }

    #[test]
    fn signs_comparisons_and_helpers() {
        assert_eq!(q("-3").abs(), Qty::shares(3));
        assert_eq!(-q("2.5"), q("-2.5"));
        assert_eq!(q("-0.000000001").signum(), -1);
        assert_eq!(Qty::ZERO.signum(), 0);
        assert_eq!(q("4").signum(), 1);
        assert!(q("0.3") < q("0.300000001"));
        assert_eq!(q("0.3").max(q("0.2")), q("0.3"));
        assert_eq!(q("0.3").min(q("-1")), q("-1"));
        assert!(q("2") == 2 && q("2.5") > 2 && q("-1") < 0);
        assert!(q("0").is_zero() && q("-1").is_negative() && q("1").is_positive());
        let mut x = q("1");
        x += q("0.5");
        x -= q("2");
        assert_eq!(x, q("-0.5"));
    }

    #[test]
    fn sizing_results_are_floored_at_the_one_f64_boundary() {
        // Whole shares: 1000 dollars at 231 is 4.329 shares: 4.
        assert_eq!(Qty::from_f64_floor(1000.0 / 231.0, false).unwrap(), q("4"));
        // Fractional: 1000 / 3 = 333.333333333333314...: floored to 9 decimals.
        assert_eq!(
            Qty::from_f64_floor(1000.0 / 3.0, true).unwrap(),
            q("333.333333333")
        );
        // A value already on 9 decimals is kept, not floored from its binary neighbour.
        assert_eq!(
            Qty::from_f64_floor(0.123456789, true).unwrap(),
            q("0.123456789")
        );
        assert_eq!(Qty::from_f64_floor(5.0, false).unwrap(), q("5"));
        assert_eq!(Qty::from_f64_floor(0.0, true).unwrap(), Qty::ZERO);
        assert_eq!(Qty::from_f64_floor(1e-10, true).unwrap(), Qty::ZERO);
        // Floor, not truncation: below zero it goes down.
        assert_eq!(Qty::from_f64_floor(-2.5, false).unwrap(), q("-3"));
        assert_eq!(
            Qty::from_f64_floor(-1.0 / 3.0, true).unwrap(),
            q("-0.333333334")
        );
        for bad in [f64::NAN, f64::INFINITY, 1e300] {
            assert!(Qty::from_f64_floor(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn to_f64_is_the_nearest_double() {
        assert_eq!(q("0.3").to_f64(), 0.3);
        assert_eq!(q("1.123456789").to_f64(), 1.123456789);
        assert_eq!(q("-2.5").to_f64(), -2.5);
        assert_eq!(q("12").to_f64() * 231.5, 2778.0);
    }

    #[test]
    fn serde_is_a_string_and_old_numbers_still_load() {
        assert_eq!(serde_json::to_string(&q("0.5")).unwrap(), "\"0.5\"");
        let back: Qty = serde_json::from_str("\"1.123456789\"").unwrap();
        assert_eq!(back, q("1.123456789"));
        // state.json written while share counts were f64 holds numbers.
        let old: Qty = serde_json::from_str("0.1").unwrap();
        assert_eq!(old, q("0.1"));
        let old: Qty = serde_json::from_str("0.30000000000000004").unwrap();
        assert_eq!(old, q("0.3"));
        let old: Qty = serde_json::from_str("2.0").unwrap();
        assert_eq!(old, q("2"));
        let old: Qty = serde_json::from_str("3").unwrap();
        assert_eq!(old, q("3"));
        let e = serde_json::from_str::<Qty>("\"1.5x\"").unwrap_err();
        assert!(e.to_string().contains("\"1.5x\""), "{e}");
    }
}

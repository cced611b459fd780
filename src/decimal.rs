//! [`Decimal`]: a number kept in the digits it was written with.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A number as the broker wrote it (`103820.56`, `100011.09751111286868`): checked to be a
/// finite number when made or read, and written back with its own digits. Money the broker
/// reports (equity, cash, a fill's price) stays in the broker's digits: an f64 keeps about 16
/// of them, and reconcile compares a fill's price with the broker's text exactly.
/// `Default` is 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Decimal {
    text: String,
    value: f64,
}

impl Decimal {
    /// `None` when the text is not a finite number.
    pub fn parse(text: &str) -> Option<Decimal> {
        let value: f64 = text.trim().parse().ok()?;
        value.is_finite().then(|| Decimal {
            text: text.trim().to_string(),
            value,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// For money maths and charts, where 16 digits are plenty.
    pub fn to_f64(&self) -> f64 {
        self.value
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let cell = std::borrow::Cow::<str>::deserialize(d)?;
        Decimal::parse(&cell).ok_or_else(|| D::Error::custom(format!("\"{cell}\" is not a number")))
    }
}

impl Default for Decimal {
    fn default() -> Decimal {
        Decimal {
            text: "0".into(),
            value: 0.0,
        }
    }
}

impl Decimal {
    /// A number the bot computed (the simulated broker's money): Rust's shortest decimal
    /// that reads back as the same f64, never an exponent. `None` for NaN or infinities.
    pub fn from_f64(value: f64) -> Option<Decimal> {
        value.is_finite().then(|| Decimal {
            text: value.to_string(),
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brokers_digits_are_kept_and_only_finite_numbers_are_decimals() {
        let d = Decimal::parse(" 100011.09751111286868 ").unwrap();
        assert_eq!(d.as_str(), "100011.09751111286868");
        assert_eq!(d.to_f64(), "100011.09751111286868".parse::<f64>().unwrap());
        for bad in ["", "abc", "NaN", "inf", "1e400"] {
            assert_eq!(Decimal::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Decimal::from_f64(0.1 + 0.2).unwrap().as_str(),
            "0.30000000000000004"
        );
        assert_eq!(Decimal::from_f64(1e-7).unwrap().as_str(), "0.0000001");
        assert_eq!(Decimal::from_f64(f64::NAN), None);
    }
}

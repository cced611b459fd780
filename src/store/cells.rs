//! How one ledger cell is written and read: the text formats every ledger row shares.
//!
//! Each module here is a `#[serde(with = "...")]` pair for one kind of cell. They exist
//! because the csv crate's own choices would change the files: it writes `f64` through ryu
//! (`231.0`, `1e21`) where the ledgers have always held Rust's shortest plain decimal (`231`),
//! and it hands numbers to `deserialize_any` as floats, which would round a share count of
//! more than 15 digits. Reading is strict, and an error says what the cell held; the ledger
//! adds the file, line and column.
//!
//! Pure: no I/O.

use crate::domain::{Qty, Side, Signal};
use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};
use std::borrow::Cow;
use std::fmt;

/// Ledger time format: `YYYY-MM-DD HH:MM:SS`, UTC, which spreadsheets read as a date-time.
pub fn time_cell(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The cell's text, borrowed when the reader can lend it (a row read from a record is not
/// copied cell by cell: fills.csv is read on every tick).
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Cow<'de, str>, D::Error> {
    struct Cell;
    impl<'de> serde::de::Visitor<'de> for Cell {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a text cell")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
    }
    d.deserialize_str(Cell)
}

/// A side cell: `buy` or `sell`; `sell_short`, which rows written before sides were parsed at
/// the broker's boundary may hold, is a sell. The ledgers' own reading, apart from the wire's:
/// the store never imports the Alpaca module.
pub fn parse_side(cell: &str) -> Option<Side> {
    match cell {
        "buy" => Some(Side::Buy),
        "sell" | "sell_short" => Some(Side::Sell),
        _ => None,
    }
}

/// A time cell's value, or what is wrong with it.
fn parse_time(cell: &str) -> Result<DateTime<Utc>, String> {
    crate::store::bar_cache::parse_time(cell)
        .ok_or_else(|| format!("\"{cell}\" is not a time (expected YYYY-MM-DD HH:MM:SS)"))
}

pub use crate::decimal::Decimal;

/// A time cell that must be there.
pub mod time {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.format("%Y-%m-%d %H:%M:%S"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        parse_time(&text(d)?).map_err(D::Error::custom)
    }
}

/// A time cell, empty for none.
pub mod opt_time {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::time::serialize(t, s),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let cell = text(d)?;
        if cell.is_empty() {
            return Ok(None);
        }
        parse_time(&cell).map(Some).map_err(D::Error::custom)
    }
}

/// A share count that must be there, exact ([`Qty`]'s own text).
pub mod qty {
    use super::*;

    pub fn serialize<S: Serializer>(q: &Qty, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(q)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Qty, D::Error> {
        Qty::parse(&text(d)?).map_err(D::Error::custom)
    }
}

/// A share count, empty for none.
pub mod opt_qty {
    use super::*;

    pub fn serialize<S: Serializer>(q: &Option<Qty>, s: S) -> Result<S::Ok, S::Error> {
        match q {
            Some(q) => s.collect_str(q),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Qty>, D::Error> {
        let cell = text(d)?;
        if cell.is_empty() {
            return Ok(None);
        }
        Qty::parse(&cell).map(Some).map_err(D::Error::custom)
    }
}

/// Share counts that fill the rest of the row, one per column (equity.csv's positions).
pub mod qty_list {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<S: Serializer>(qs: &[Qty], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(qs.len()))?;
        for q in qs {
            seq.serialize_element(&q.to_string())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Qty>, D::Error> {
        let cells = Vec::<String>::deserialize(d)?;
        cells
            .iter()
            .map(|c| Qty::parse(c).map_err(D::Error::custom))
            .collect()
    }
}

/// A price the bot computed, as Rust's shortest plain decimal (`231`, `231.5`); empty for none.
pub mod opt_f64 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let cell = text(d)?;
        if cell.is_empty() {
            return Ok(None);
        }
        cell.trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("\"{cell}\" is not a number")))
    }
}

/// The side of an order, `buy` or `sell`; `sell_short`, which rows written before sides were
/// parsed at the broker's boundary may hold, is a sell. Empty for none.
pub mod opt_side {
    use super::*;

    pub fn serialize<S: Serializer>(side: &Option<Side>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(side.map_or("", Side::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Side>, D::Error> {
        let cell = text(d)?;
        if cell.is_empty() {
            return Ok(None);
        }
        parse_side(&cell)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("\"{cell}\" is neither buy nor sell")))
    }
}

/// A strategy's signal: `buy`, `sell` or `hold`.
pub mod signal {
    use super::*;

    pub fn serialize<S: Serializer>(signal: &Signal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(signal.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Signal, D::Error> {
        let cell = text(d)?;
        [Signal::Buy, Signal::Sell, Signal::Hold]
            .into_iter()
            .find(|s| s.as_str() == cell)
            .ok_or_else(|| D::Error::custom(format!("\"{cell}\" is not buy, sell or hold")))
    }
}

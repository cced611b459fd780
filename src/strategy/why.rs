//! Why a strategy decided what it did: a value, so that deciding never allocates, and the
//! sentence the decisions ledger shows.

use std::fmt;

/// The reason behind a decision. An enum rather than a `String` so that deciding never
/// allocates; `Display` renders the sentence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Why {
    PriceAbove {
        price: f64,
        level: f64,
    },
    PriceBelow {
        price: f64,
        level: f64,
    },
    PriceBetween {
        price: f64,
        low: f64,
        high: f64,
    },
    AlreadyLong,
    AlreadyFlat,
    AlreadyShort,
    WarmingUp {
        have: usize,
        need: usize,
    },
    CrossedAbove {
        fast: f64,
        slow: f64,
    },
    CrossedBelow {
        fast: f64,
        slow: f64,
    },
    NoCross {
        fast: f64,
        slow: f64,
    },
    /// P(up) at or above the threshold: buy.
    ModelUp {
        p: f64,
        level: f64,
    },
    /// P(up) at or above the threshold, already long.
    ModelUpAlreadyLong {
        p: f64,
        level: f64,
    },
    /// P(up) at or below 1 − threshold: exit.
    ModelDown {
        p: f64,
        level: f64,
    },
    /// P(up) at or below 1 − threshold, nothing to exit.
    ModelDownNotLong {
        p: f64,
        level: f64,
    },
    /// P(up) between the bands.
    ModelUnsure {
        p: f64,
        low: f64,
        high: f64,
    },
    /// A `model` strategy whose file was never loaded.
    NoModel,
    /// A bar in the features' window has an impossible price or volume.
    FeaturesUndefined,
    /// A live feature lies beyond `drift_limit` training standard deviations: the model is
    /// asked about data unlike any it was fitted on (a feed change, a halt, a split).
    FeatureDrift {
        feature: &'static str,
        z: f64,
        limit: f64,
    },
    /// The bar is more than `max_age_days` after the model's last training bar.
    ModelTooOld {
        age_days: i64,
        max_days: u32,
    },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Why::PriceAbove { price, level } => write!(f, "price {price} is above {level}"),
            Why::PriceBelow { price, level } => write!(f, "price {price} is below {level}"),
            Why::PriceBetween { price, low, high } => {
                write!(f, "price {price} is between {low} and {high}")
            }
            Why::AlreadyLong => f.write_str("signal is long and the position is already long"),
            Why::AlreadyFlat => f.write_str("signal is to exit and the position is already flat"),
            Why::AlreadyShort => f.write_str("signal is short and the position is already short"),
            Why::WarmingUp { have, need } => {
                write!(
                    f,
                    "warming up: {have} closed bars, the strategy needs {need}"
                )
            }
            Why::CrossedAbove { fast, slow } => {
                write!(f, "fast SMA {fast:.4} crossed above slow SMA {slow:.4}")
            }
            Why::CrossedBelow { fast, slow } => {
                write!(f, "fast SMA {fast:.4} crossed below slow SMA {slow:.4}")
            }
            Why::NoCross { fast, slow } => {
                write!(f, "no crossover (fast SMA {fast:.4}, slow SMA {slow:.4})")
            }
            Why::ModelUp { p, level } => write!(f, "model P(up) {p:.4} >= {level}"),
            Why::ModelUpAlreadyLong { p, level } => {
                write!(f, "model P(up) {p:.4} >= {level} and the position is already long")
            }
            Why::ModelDown { p, level } => write!(f, "model P(up) {p:.4} <= {level:.4}"),
            Why::ModelDownNotLong { p, level } => {
                write!(f, "model P(up) {p:.4} <= {level:.4} and there is no long position to exit")
            }
            Why::ModelUnsure { p, low, high } => {
                write!(f, "model P(up) {p:.4} is between {low:.4} and {high}")
            }
            Why::NoModel => f.write_str("no model loaded (the config loader loads `path`)"),
            Why::FeaturesUndefined => f.write_str(
                "the model's features are undefined: a price or volume in the window is not a positive number",
            ),
            Why::FeatureDrift { feature, z, limit } => write!(
                f,
                "feature drift: {feature} is {z:+.2} training standard deviations from its training mean, beyond drift_limit {limit}; not trusting the model on data unlike its training"
            ),
            Why::ModelTooOld { age_days, max_days } => write!(
                f,
                "the model is stale: this bar is {age_days} days after its last training bar, max_age_days is {max_days}; retrain it with `prometheus-bot train`"
            ),
        }
    }
}

//! The decision functions shared by the live tick and the backtester.
//!
//! `Strategy::decide` is pure: it takes the closed bars up to and including the bar being
//! decided on, the last traded price and the signed position, and returns a [`Decision`].
//! It never reads the clock, the disk or the network, so a backtest replaying the same
//! bars must make the same decision as the tick did. It does not allocate either, which keeps
//! a million-bar backtest cheap.
//!
//! `kind = "model"` is the learned strategy: the config names a model file, the config loader
//! reads it and `crate::model` checks it into a [`Predictor`], once per process, which is put
//! in the variant; deciding is then as pure as the other kinds. The scoring ([`predictor`])
//! and the features it needs ([`features`]) live here, so this module imports neither the
//! config nor the model file's loading: the module graph has no cycle (config → model →
//! strategy, config → strategy), and a strategy can be built and tested from values alone.

pub mod features;
mod indicators;
pub mod predictor;

pub use indicators::{sma, Smas};
pub use predictor::{check_threshold as check_model_threshold, Predictor};

use crate::domain::{Bar, Signal};
use chrono::{DateTime, Utc};
use features::LOOKBACK;
use serde::Deserialize;
use std::fmt;
use std::sync::Arc;

/// A strategy and its parameters, as written in a `[[symbol]]` section of the config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Strategy {
    /// The seed's rule: buy above one price, sell below another.
    Threshold { buy_above: f64, sell_below: f64 },
    /// Long when SMA(fast) crosses above SMA(slow); flat (or short, with `allow_short`)
    /// when it crosses below.
    SmaCross {
        fast: usize,
        slow: usize,
        #[serde(default)]
        allow_short: bool,
    },
    /// A trained model (`prometheus-bot train`): long when P(up) >= `threshold`, exit when
    /// P(up) <= 1 − `threshold`, hold in between. Long-only.
    Model {
        /// The model file, relative to the config file's folder.
        path: String,
        #[serde(default = "default_model_threshold")]
        threshold: f64,
        /// Hold when a live feature lies more than this many training standard deviations
        /// from its training mean (see [`predictor::Predictor::drift`]); 0 turns it off.
        #[serde(default = "default_drift_limit")]
        drift_limit: f64,
        /// Hold when the bar being decided is more than this many days after the model's
        /// last training bar: retrain (`train` can run from cron) or raise it.
        #[serde(default)]
        max_age_days: Option<u32>,
        /// Trade a model whose own file says it did not beat the baselines out of sample.
        /// Off by default: such a model is refused when the config loads.
        #[serde(default)]
        trade_unvalidated: bool,
        /// Filled by the config loader; `None` (a strategy built by hand) always holds.
        #[serde(skip)]
        model: Option<Arc<Predictor>>,
        /// The model's last training bar, filled by the config loader with `model`.
        #[serde(skip)]
        trained_until: Option<DateTime<Utc>>,
    },
}

/// No precomputed SMAs: [`Strategy::decide`] sums each window itself.
static NO_SMAS: Smas = Smas::EMPTY;

fn default_model_threshold() -> f64 {
    0.55
}

/// Four training standard deviations: a normal feature passes it about once in 16,000 bars
/// (fat-tailed returns more often: 1.3 % of GOOG's training days, docs/model.md), while the
/// issue's SIP-to-IEX volume switch put `volume_z_20` 4.2 out.
pub const DEFAULT_DRIFT_LIMIT: f64 = 4.0;

fn default_drift_limit() -> f64 {
    DEFAULT_DRIFT_LIMIT
}

/// What a strategy decided and why, in words a person reads in the decisions ledger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub signal: Signal,
    pub why: Why,
}

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

impl Strategy {
    /// Impossible parameters, as (the key to blame, what is wrong): the config names the line
    /// and key, a sweep skips the combination.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        match *self {
            Strategy::Threshold {
                buy_above,
                sell_below,
            } => {
                for (key, price) in [("buy_above", buy_above), ("sell_below", sell_below)] {
                    if !(price.is_finite() && price > 0.0) {
                        return Err((key, format!("must be a positive price, got {price}")));
                    }
                }
                if sell_below >= buy_above {
                    let msg = format!("must be below buy_above ({sell_below} >= {buy_above}), or the bot would flip every tick");
                    return Err(("sell_below", msg));
                }
            }
            Strategy::SmaCross { fast, slow, .. } => {
                if fast == 0 {
                    return Err(("fast", "must be at least 1".into()));
                }
                if fast >= slow {
                    return Err(("fast", format!("must be less than slow ({fast} >= {slow})")));
                }
            }
            Strategy::Model {
                threshold,
                drift_limit,
                ..
            } => {
                check_model_threshold(threshold).map_err(|m| ("threshold", m))?;
                if !(drift_limit.is_finite() && drift_limit >= 0.0) {
                    let msg = format!("must be a number of standard deviations, at least 0 (0 turns the guard off), got {drift_limit}");
                    return Err(("drift_limit", msg));
                }
            }
        }
        Ok(())
    }

    /// A short stable name, used in client order ids and ledgers.
    pub fn tag(&self) -> &'static str {
        match self {
            Strategy::Threshold { .. } => "thr",
            Strategy::SmaCross { .. } => "sma",
            Strategy::Model { .. } => "mdl",
        }
    }

    /// How many closed bars the strategy needs before it can say anything but hold.
    pub fn bars_needed(&self) -> usize {
        match *self {
            Strategy::Threshold { .. } => 0,
            Strategy::SmaCross { slow, .. } => slow + 1,
            Strategy::Model { .. } => LOOKBACK,
        }
    }

    /// May a sell open a short position (stop-and-reverse)?
    pub fn allows_short(&self) -> bool {
        matches!(
            *self,
            Strategy::SmaCross {
                allow_short: true,
                ..
            }
        )
    }

    /// Decide on the last bar of `bars`.
    ///
    /// `bars` are closed bars, oldest first; `last_price` is the latest trade (the tick) or the
    /// bar's close (the backtest); `position` is signed shares, counting orders already sent
    /// but not yet filled, so that a pending buy is never bought again.
    pub fn decide(&self, bars: &[Bar], last_price: f64, position: f64) -> Decision {
        self.decide_with(bars, &NO_SMAS, last_price, position)
    }

    /// The SMA windows the strategy reads, for [`Smas::new`].
    pub fn sma_windows(&self) -> Vec<usize> {
        match *self {
            Strategy::SmaCross { fast, slow, .. } => vec![fast, slow],
            _ => Vec::new(),
        }
    }

    /// [`Strategy::decide`], reading SMAs from `smas` where it has them. `smas` must have been
    /// built from a series whose first `bars.len()` bars are `bars` (a backtest builds it once
    /// over all its bars and passes `&bars[..=i]`). The decision is the same, bit for bit:
    /// [`Smas`] holds exactly what [`sma`] computes.
    pub fn decide_with(
        &self,
        bars: &[Bar],
        smas: &Smas,
        last_price: f64,
        position: f64,
    ) -> Decision {
        match *self {
            Strategy::Threshold {
                buy_above,
                sell_below,
            } => decide_threshold(buy_above, sell_below, last_price, position),
            Strategy::SmaCross {
                fast,
                slow,
                allow_short,
            } => decide_sma_cross(fast, slow, allow_short, bars, smas, position),
            Strategy::Model {
                threshold,
                drift_limit,
                max_age_days,
                ref model,
                trained_until,
                ..
            } => {
                let guards = Guards {
                    drift_limit,
                    max_age_days,
                    trained_until,
                };
                decide_model(model.as_deref(), threshold, &guards, bars, position)
            }
        }
    }
}

fn decide_threshold(buy_above: f64, sell_below: f64, price: f64, position: f64) -> Decision {
    let (signal, why) = if price > buy_above {
        if position > 0.0 {
            (Signal::Hold, Why::AlreadyLong)
        } else {
            (
                Signal::Buy,
                Why::PriceAbove {
                    price,
                    level: buy_above,
                },
            )
        }
    } else if price < sell_below {
        if position > 0.0 {
            (
                Signal::Sell,
                Why::PriceBelow {
                    price,
                    level: sell_below,
                },
            )
        } else {
            (Signal::Hold, Why::AlreadyFlat)
        }
    } else {
        let why = Why::PriceBetween {
            price,
            low: sell_below,
            high: buy_above,
        };
        (Signal::Hold, why)
    };
    Decision { signal, why }
}

/// backtesting.py's `crossover`: strictly below on the previous bar and strictly above on
/// this one. A cross that passes through an exact tie is not a cross, as there.
fn decide_sma_cross(
    fast: usize,
    slow: usize,
    allow_short: bool,
    bars: &[Bar],
    smas: &Smas,
    position: f64,
) -> Decision {
    let need = slow + 1;
    if bars.len() < need {
        let why = Why::WarmingUp {
            have: bars.len(),
            need,
        };
        return Decision {
            signal: Signal::Hold,
            why,
        };
    }
    let now = bars.len();
    let mean = |n: usize, len: usize| smas.at(n, len - 1).unwrap_or_else(|| sma(&bars[..len], n));
    let (fast_now, slow_now) = (mean(fast, now), mean(slow, now));
    let (fast_prev, slow_prev) = (mean(fast, now - 1), mean(slow, now - 1));
    let (signal, why) = if fast_prev < slow_prev && fast_now > slow_now {
        if position > 0.0 {
            (Signal::Hold, Why::AlreadyLong)
        } else {
            (
                Signal::Buy,
                Why::CrossedAbove {
                    fast: fast_now,
                    slow: slow_now,
                },
            )
        }
    } else if fast_prev > slow_prev && fast_now < slow_now {
        if position > 0.0 || (position == 0.0 && allow_short) {
            (
                Signal::Sell,
                Why::CrossedBelow {
                    fast: fast_now,
                    slow: slow_now,
                },
            )
        } else if position < 0.0 {
            (Signal::Hold, Why::AlreadyShort)
        } else {
            (Signal::Hold, Why::AlreadyFlat)
        }
    } else {
        (
            Signal::Hold,
            Why::NoCross {
                fast: fast_now,
                slow: slow_now,
            },
        )
    };
    Decision { signal, why }
}

/// What stops a loaded model from deciding: data unlike its training, or its age.
struct Guards {
    drift_limit: f64,
    max_age_days: Option<u32>,
    trained_until: Option<DateTime<Utc>>,
}

/// Long when P(up) >= `threshold`, exit a long when P(up) <= 1 − `threshold`; never short.
/// Holds, saying why, when the model is older than `max_age_days` at the decided bar or a
/// feature lies beyond `drift_limit` training standard deviations.
fn decide_model(
    model: Option<&Predictor>,
    threshold: f64,
    guards: &Guards,
    bars: &[Bar],
    position: f64,
) -> Decision {
    let hold = |why| Decision {
        signal: Signal::Hold,
        why,
    };
    let Some(model) = model else {
        return hold(Why::NoModel);
    };
    if bars.len() < LOOKBACK {
        return hold(Why::WarmingUp {
            have: bars.len(),
            need: LOOKBACK,
        });
    }
    if let (Some(max_days), Some(until), Some(last)) =
        (guards.max_age_days, guards.trained_until, bars.last())
    {
        let age_days = (last.time - until).num_days();
        if age_days > i64::from(max_days) {
            return hold(Why::ModelTooOld { age_days, max_days });
        }
    }
    let Some(x) = features::features(bars, model.timeframe.is_intraday()) else {
        return hold(Why::FeaturesUndefined);
    };
    if guards.drift_limit > 0.0 {
        let (j, z) = model.drift(&x);
        if z.abs() > guards.drift_limit {
            return hold(Why::FeatureDrift {
                feature: features::FEATURE_NAMES[j],
                z,
                limit: guards.drift_limit,
            });
        }
    }
    let p = model.probability_of(&x);
    let low = 1.0 - threshold;
    let (signal, why) = if p >= threshold {
        if position > 0.0 {
            (
                Signal::Hold,
                Why::ModelUpAlreadyLong {
                    p,
                    level: threshold,
                },
            )
        } else {
            (
                Signal::Buy,
                Why::ModelUp {
                    p,
                    level: threshold,
                },
            )
        }
    } else if p <= low {
        if position > 0.0 {
            (Signal::Sell, Why::ModelDown { p, level: low })
        } else {
            (Signal::Hold, Why::ModelDownNotLong { p, level: low })
        }
    } else {
        (
            Signal::Hold,
            Why::ModelUnsure {
                p,
                low,
                high: threshold,
            },
        )
    };
    Decision { signal, why }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn bars(closes: &[f64]) -> Vec<Bar> {
        closes
            .iter()
            .enumerate()
            .map(|(i, &c)| Bar {
                time: Utc.timestamp_opt(1_700_000_000 + 60 * i as i64, 0).unwrap(),
                open: c,
                high: c,
                low: c,
                close: c,
                volume: 100.0,
                trades: 1,
                vwap: c,
            })
            .collect()
    }

    const THR: Strategy = Strategy::Threshold {
        buy_above: 230.0,
        sell_below: 220.0,
    };

    #[test]
    fn threshold_buys_above_sells_below_and_never_doubles() {
        assert_eq!(THR.decide(&[], 231.0, 0.0).signal, Signal::Buy);
        assert_eq!(THR.decide(&[], 231.0, 1.0).signal, Signal::Hold);
        assert_eq!(THR.decide(&[], 219.0, 1.0).signal, Signal::Sell);
        assert_eq!(THR.decide(&[], 219.0, 0.0).signal, Signal::Hold);
        assert_eq!(THR.decide(&[], 225.0, 0.0).signal, Signal::Hold);
        // The levels themselves are not crossings: "above" and "below" are strict.
        assert_eq!(THR.decide(&[], 230.0, 0.0).signal, Signal::Hold);
        assert_eq!(THR.decide(&[], 220.0, 1.0).signal, Signal::Hold);
    }

    const SMA: Strategy = Strategy::SmaCross {
        fast: 2,
        slow: 3,
        allow_short: false,
    };

    #[test]
    fn sma_cross_buys_on_cross_above() {
        // Hand computation: closes 5,4,3,3,6 -> on the last two bars
        // fast(2) = 3.0 then 4.5; slow(3) = 3.333.. then 4.0: from below to above.
        let d = SMA.decide(&bars(&[5.0, 4.0, 3.0, 3.0, 6.0]), 6.0, 0.0);
        assert_eq!(d.signal, Signal::Buy);
        assert_eq!(
            d.why,
            Why::CrossedAbove {
                fast: 4.5,
                slow: 4.0
            }
        );
        assert_eq!(
            SMA.decide(&bars(&[5.0, 4.0, 3.0, 3.0, 6.0]), 6.0, 1.0)
                .signal,
            Signal::Hold
        );
    }

    #[test]
    fn sma_cross_sells_on_cross_below_only_when_long() {
        // closes 1,2,3,3,0: fast 3.0 -> 1.5, slow 2.667 -> 2.0: from above to below.
        let b = bars(&[1.0, 2.0, 3.0, 3.0, 0.0]);
        assert_eq!(SMA.decide(&b, 0.0, 1.0).signal, Signal::Sell);
        assert_eq!(SMA.decide(&b, 0.0, 0.0).why, Why::AlreadyFlat);
        let short = Strategy::SmaCross {
            fast: 2,
            slow: 3,
            allow_short: true,
        };
        assert_eq!(short.decide(&b, 0.0, 0.0).signal, Signal::Sell);
        assert_eq!(short.decide(&b, 0.0, -1.0).signal, Signal::Hold);
    }

    #[test]
    fn sma_cross_waits_for_enough_bars_and_ignores_ties() {
        let d = SMA.decide(&bars(&[1.0, 2.0, 3.0]), 3.0, 0.0);
        assert_eq!(d.why, Why::WarmingUp { have: 3, need: 4 });
        // Previous bar ties (fast == slow), so no strict cross even though fast ends above.
        let d = SMA.decide(&bars(&[2.0, 2.0, 2.0, 2.0, 3.0]), 3.0, 0.0);
        assert_eq!(d.signal, Signal::Hold);
    }

    /// Closes of 100 with a high of 101 and a low of 99, daily: every feature is 0 but
    /// `range_1` = (101 − 99) / 100 = 0.02.
    fn flat_days(n: usize) -> Vec<Bar> {
        bars(&vec![100.0; n])
            .into_iter()
            .enumerate()
            .map(|(i, b)| Bar {
                time: Utc
                    .timestamp_opt(1_700_000_000 + 86_400 * i as i64, 0)
                    .unwrap(),
                high: 101.0,
                low: 99.0,
                ..b
            })
            .collect()
    }

    /// A predictor built from values: only `range_1` (index 8) weighs, by `w`.
    fn range_model(w: f64) -> Strategy {
        let mut weights = [0.0; features::N_FEATURES];
        weights[8] = w;
        Strategy::Model {
            path: String::new(),
            threshold: 0.7,
            drift_limit: 0.0,
            max_age_days: None,
            trade_unvalidated: false,
            trained_until: None,
            model: Some(Arc::new(Predictor {
                timeframe: crate::domain::Timeframe::Day1,
                means: [0.0; features::N_FEATURES],
                stds: [1.0; features::N_FEATURES],
                weights,
                intercept: 0.0,
            })),
        }
    }

    #[test]
    fn a_model_strategy_decides_from_an_in_memory_predictor_without_file_or_config() {
        assert_eq!(features::FEATURE_NAMES[8], "range_1");
        let b = flat_days(features::LOOKBACK);
        // η = 50 · 0.02 = 1, σ(1) = e / (1 + e) = 0.731058578630…, above 0.7: buy.
        let d = range_model(50.0).decide(&b, 100.0, 0.0);
        assert_eq!(d.signal, Signal::Buy);
        let Why::ModelUp { p, level } = d.why else {
            panic!("{:?}", d.why)
        };
        assert!((p - 0.731_058_578_630_005).abs() < 1e-12, "{p}");
        assert_eq!(level, 0.7);
        assert_eq!(d.why.to_string(), "model P(up) 0.7311 >= 0.7");
        // η = −1, σ(−1) = 0.268941421369…, at or below 1 − 0.7: exit a long, never short.
        let down = range_model(-50.0);
        assert_eq!(down.decide(&b, 100.0, 3.0).signal, Signal::Sell);
        assert_eq!(down.decide(&b, 100.0, 0.0).signal, Signal::Hold);
        // One bar short of the window: warming up.
        let d = range_model(50.0).decide(&b[1..], 100.0, 0.0);
        assert_eq!(d.why, Why::WarmingUp { have: 49, need: 50 });
    }

    /// [`range_model`] with its guards set: `range_1`'s training std is `std` (mean 0).
    fn guarded(
        std: f64,
        drift_limit: f64,
        max_age_days: Option<u32>,
        trained_days_before: i64,
    ) -> Strategy {
        let Strategy::Model { model, .. } = range_model(50.0) else {
            unreachable!()
        };
        let mut p = (*model.unwrap()).clone();
        p.stds[8] = std;
        let last = flat_days(features::LOOKBACK).last().unwrap().time;
        Strategy::Model {
            path: String::new(),
            threshold: 0.7,
            drift_limit,
            max_age_days,
            trade_unvalidated: false,
            trained_until: Some(last - chrono::Duration::days(trained_days_before)),
            model: Some(Arc::new(p)),
        }
    }

    #[test]
    fn a_feature_beyond_the_drift_limit_holds_with_its_name_z_and_limit() {
        let b = flat_days(features::LOOKBACK);
        // range_1 = 0.02 against a training mean 0 and std 0.004: z = 0.02 / 0.004 = 5 > 4.
        let d = guarded(0.004, 4.0, None, 0).decide(&b, 100.0, 0.0);
        assert_eq!(d.signal, Signal::Hold);
        let Why::FeatureDrift { feature, z, limit } = d.why else {
            panic!("{:?}", d.why)
        };
        assert_eq!((feature, limit), ("range_1", 4.0));
        assert!((z - 5.0).abs() < 1e-12, "{z}");
        assert!(d.why.to_string().starts_with(
            "feature drift: range_1 is +5.00 training standard deviations from its training mean, beyond drift_limit 4"
        ));
        // A long position is held too: the model is not trusted either way.
        assert_eq!(
            guarded(0.004, 4.0, None, 0).decide(&b, 100.0, 3.0).why,
            d.why
        );
        // Within the limit (z = 0.02 / 0.005 = 4, not beyond 4), or with the guard off, it decides.
        assert!(matches!(
            guarded(0.005, 4.0, None, 0).decide(&b, 100.0, 0.0).why,
            Why::ModelUp { .. } | Why::ModelUnsure { .. } | Why::ModelDownNotLong { .. }
        ));
        assert!(!matches!(
            guarded(0.004, 0.0, None, 0).decide(&b, 100.0, 0.0).why,
            Why::FeatureDrift { .. }
        ));
        // Predictor::drift: the furthest feature, signed.
        let Strategy::Model { model, .. } = guarded(0.004, 4.0, None, 0) else {
            unreachable!()
        };
        let mut x = [0.0; features::N_FEATURES];
        x[2] = -3.0;
        x[8] = 0.008;
        assert_eq!(model.unwrap().drift(&x), (2, -3.0));
    }

    #[test]
    fn a_model_older_than_max_age_days_at_the_decided_bar_holds() {
        let b = flat_days(features::LOOKBACK);
        let d = guarded(1.0, 4.0, Some(30), 31).decide(&b, 100.0, 0.0);
        assert_eq!(d.signal, Signal::Hold);
        assert_eq!(
            d.why,
            Why::ModelTooOld {
                age_days: 31,
                max_days: 30
            }
        );
        assert!(d
            .why
            .to_string()
            .contains("31 days after its last training bar, max_age_days is 30"));
        // 30 days is not older than 30; no limit means no age check.
        assert_eq!(
            guarded(1.0, 4.0, Some(30), 30)
                .decide(&b, 100.0, 0.0)
                .signal,
            Signal::Buy
        );
        assert_eq!(
            guarded(1.0, 4.0, None, 3000).decide(&b, 100.0, 0.0).signal,
            Signal::Buy
        );
    }

    #[test]
    fn decide_looks_only_at_the_bars_it_is_given() {
        let all = bars(&[5.0, 4.0, 3.0, 3.0, 6.0, 1.0, 1.0]);
        assert_eq!(SMA.decide(&all[..5], 6.0, 0.0).signal, Signal::Buy);
    }
}

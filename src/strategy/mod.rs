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
mod why;

pub use indicators::{sma, CrossOrder, Smas};

pub use predictor::{check_threshold as check_model_threshold, Predictor};
pub use why::Why;

use crate::domain::{Bar, Signal};
use chrono::{DateTime, Utc};
use features::LOOKBACK;
use serde::Deserialize;
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

/// Which way SMA(fast) crossed SMA(slow) between two bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cross {
    Above,
    Below,
    None,
}

/// backtesting.py's `crossover`: strictly below on the previous bar and strictly above on
/// this one. A cross that passes through an exact tie is not a cross, as there; NaN never
/// crosses.
#[inline]
pub fn crossing(fast_prev: f64, slow_prev: f64, fast_now: f64, slow_now: f64) -> Cross {
    if fast_prev < slow_prev && fast_now > slow_now {
        Cross::Above
    } else if fast_prev > slow_prev && fast_now < slow_now {
        Cross::Below
    } else {
        Cross::None
    }
}

/// SmaCross's signal for a cross and the signed position: the one rule both
/// [`Strategy::decide`] (which adds the reason) and the backtest's sweep-speed decider
/// (`backtest::engine`, which needs no reason) apply.
#[inline]
pub fn sma_cross_signal(cross: Cross, position: f64, allow_short: bool) -> Signal {
    match cross {
        Cross::Above if position > 0.0 => Signal::Hold,
        Cross::Above => Signal::Buy,
        Cross::Below if position > 0.0 || (position == 0.0 && allow_short) => Signal::Sell,
        Cross::Below | Cross::None => Signal::Hold,
    }
}

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
    let cross = crossing(fast_prev, slow_prev, fast_now, slow_now);
    let signal = sma_cross_signal(cross, position, allow_short);
    let why = match (cross, signal) {
        (Cross::Above, Signal::Buy) => Why::CrossedAbove {
            fast: fast_now,
            slow: slow_now,
        },
        (Cross::Above, _) => Why::AlreadyLong,
        (Cross::Below, Signal::Sell) => Why::CrossedBelow {
            fast: fast_now,
            slow: slow_now,
        },
        (Cross::Below, _) if position < 0.0 => Why::AlreadyShort,
        (Cross::Below, _) => Why::AlreadyFlat,
        (Cross::None, _) => Why::NoCross {
            fast: fast_now,
            slow: slow_now,
        },
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
#[path = "tests.rs"]
mod tests;

//! The three protective keys of a `[[symbol]]` (`stop_loss_pct`, `take_profit_pct`,
//! `trailing_stop_pct`) checked into one [`Protection`].
//!
//! Protection is held by the broker, not by the tick: a Pi that loses power between ticks
//! still leaves the position covered. Only shapes Alpaca can hold for one position are
//! accepted: a stop alone, a stop paired with a target (one cancels the other), a trailing
//! stop alone, or a target alone. Two separate sells for the same shares are refused by
//! Alpaca ("insufficient qty"), and Alpaca has no trailing leg in a bracket or OCO, so a
//! trailing stop cannot be paired with a target. A stop and a trailing stop at once would
//! also need the same shares twice.

use toml::Spanned;

pub use crate::plan::protect::Protection;

/// The config's side of [`Protection`]: reading it from the three keys.
pub(super) trait Check {
    fn check(
        stop: Option<Spanned<f64>>,
        target: Option<Spanned<f64>>,
        trailing: Option<Spanned<f64>>,
    ) -> Result<Protection, (std::ops::Range<usize>, &'static str, String)>;
}

impl Check for Protection {
    /// Check the three raw keys. On a mistake: the span to point at, the key, the message.
    fn check(
        stop: Option<Spanned<f64>>,
        target: Option<Spanned<f64>>,
        trailing: Option<Spanned<f64>>,
    ) -> Result<Protection, (std::ops::Range<usize>, &'static str, String)> {
        let below_100 = |v: &Spanned<f64>, key: &'static str| {
            let x = *v.get_ref();
            if x.is_finite() && x > 0.0 && x < 100.0 {
                Ok(x)
            } else {
                let msg = format!("must be a percent above 0 and below 100 (2.0 = 2 %), got {x}");
                Err((v.span(), key, msg))
            }
        };
        let stop_loss_pct = stop
            .as_ref()
            .map(|v| below_100(v, "stop_loss_pct"))
            .transpose()?;
        let trailing_stop_pct = trailing
            .as_ref()
            .map(|v| below_100(v, "trailing_stop_pct"))
            .transpose()?;
        let take_profit_pct = match &target {
            Some(v) => {
                let x = *v.get_ref();
                if !(x.is_finite() && x > 0.0) {
                    let msg = format!("must be a percent above 0 (2.0 = 2 %), got {x}");
                    return Err((v.span(), "take_profit_pct", msg));
                }
                Some(x)
            }
            None => None,
        };
        if let (Some(_), Some(t)) = (&stop, &trailing) {
            let msg = "give stop_loss_pct or trailing_stop_pct, not both: the broker cannot \
                       hold two stops for the same shares"
                .to_string();
            return Err((t.span(), "trailing_stop_pct", msg));
        }
        if let (Some(_), Some(t)) = (&trailing, &target) {
            let msg = "a trailing stop cannot be paired with take_profit_pct: Alpaca has no \
                       trailing leg in a bracket or OCO order, and two separate sells would \
                       need the same shares twice"
                .to_string();
            return Err((t.span(), "take_profit_pct", msg));
        }
        Ok(Protection {
            stop_loss_pct,
            take_profit_pct,
            trailing_stop_pct,
        })
    }
}

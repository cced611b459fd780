//! The model's inputs: one fixed-size feature vector per closed bar, computed by one pure
//! function that training, the backtest and the tick all call.
//!
//! [`features`] looks only at the last [`LOOKBACK`] bars of the slice it is given, the newest
//! being the bar decided on. It never sees a later bar because it is never given one: every
//! caller passes `&bars[..=t]`. A fixed window (rather than, say, Wilder's exponentially
//! smoothed RSI, whose value depends on where the series starts) makes the value on bar `t`
//! the same whether the caller holds ten years of bars (training) or the tick's last
//! `history` bars. It returns a `[f64; N_FEATURES]` on the stack: no heap allocation per bar.
//!
//! Changing a definition here changes what every saved model means, so it must come with a
//! new [`FEATURE_SET`] name; models saved under the old name are then refused on load.

use crate::domain::Bar;
use chrono::Timelike;
use chrono_tz::America::New_York;

/// The name saved in every model file; a model with another name is refused.
pub const FEATURE_SET: &str = "bars-v1";

/// How many features, and their names in order (saved in the model file and checked on load).
pub const N_FEATURES: usize = 12;
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "ret_1",
    "ret_5",
    "ret_20",
    "sma_5_20",
    "sma_20_50",
    "close_sma_20",
    "rsi_14",
    "vol_20",
    "range_1",
    "volume_z_20",
    "tod_sin",
    "tod_cos",
];

/// Closed bars the features need (SMA(50) is the longest window).
pub const LOOKBACK: usize = 50;

/// Minutes in the regular session (09:30 to 16:00 New York), the period of the time-of-day
/// features.
const SESSION_MINUTES: f64 = 390.0;

/// The feature vector of the last bar of `bars`, or `None` with fewer than [`LOOKBACK`] bars
/// or when a value is undefined (a close, high or low that is not a positive finite number, a
/// negative or non-finite volume).
///
/// With `c` the closes, `t` the last bar and `r_k = ln(c_k / c_{k−1})`:
///
/// | name | value |
/// |---|---|
/// | `ret_1`, `ret_5`, `ret_20` | `ln(c_t / c_{t−n})` for n = 1, 5, 20 |
/// | `sma_5_20`, `sma_20_50` | `SMA(a) / SMA(b) − 1` of closes |
/// | `close_sma_20` | `c_t / SMA(20) − 1` |
/// | `rsi_14` | `(RSI − 50) / 50`, RSI over the last 14 changes with simple averages (Cutler's); 0 when nothing moved |
/// | `vol_20` | population standard deviation of `r` over the last 20 bars |
/// | `range_1` | `(high_t − low_t) / c_t` |
/// | `volume_z_20` | z-score of `ln(1 + volume_t)` against the last 20 bars (itself included); 0 when volume is constant |
/// | `tod_sin`, `tod_cos` | `sin`, `cos` of `2π·m/390`, `m` = minutes from 09:30 New York to the bar's start; 0 for daily bars (`intraday = false`) |
pub fn features(bars: &[Bar], intraday: bool) -> Option<[f64; N_FEATURES]> {
    if bars.len() < LOOKBACK {
        return None;
    }
    let w = &bars[bars.len() - LOOKBACK..];
    let valid = |b: &Bar| {
        [b.close, b.high, b.low]
            .iter()
            .all(|p| p.is_finite() && *p > 0.0)
            && b.volume.is_finite()
            && b.volume >= 0.0
    };
    if !w.iter().all(valid) {
        return None;
    }
    let n = w.len();
    let close = |back: usize| w[n - 1 - back].close;
    let last = &w[n - 1];
    let ret = |k: usize| (close(0) / close(k)).ln();
    let sma = |k: usize| w[n - k..].iter().map(|b| b.close).sum::<f64>() / k as f64;

    let (mut gain, mut loss) = (0.0, 0.0);
    for pair in w[n - 15..].windows(2) {
        let change = pair[1].close - pair[0].close;
        if change > 0.0 {
            gain += change;
        } else {
            loss -= change;
        }
    }
    // RSI = 100·gain/(gain+loss) with equal-length simple averages, so (RSI − 50)/50 is this.
    let rsi = if gain + loss > 0.0 {
        (gain - loss) / (gain + loss)
    } else {
        0.0
    };

    let (_, sd_r) = mean_sd(
        w[n - 21..]
            .windows(2)
            .map(|p| (p[1].close / p[0].close).ln()),
    );
    let log_volume = |b: &Bar| b.volume.ln_1p();
    let (mean_v, sd_v) = mean_sd(w[n - 20..].iter().map(log_volume));
    let volume_z = if sd_v > 1e-12 {
        (log_volume(last) - mean_v) / sd_v
    } else {
        0.0
    };

    let (tod_sin, tod_cos) = if intraday {
        let local = last.time.with_timezone(&New_York);
        let minutes = f64::from(local.hour() * 60 + local.minute()) - 570.0;
        let angle = std::f64::consts::TAU * minutes / SESSION_MINUTES;
        (angle.sin(), angle.cos())
    } else {
        (0.0, 0.0)
    };

    let x = [
        ret(1),
        ret(5),
        ret(20),
        sma(5) / sma(20) - 1.0,
        sma(20) / sma(50) - 1.0,
        close(0) / sma(20) - 1.0,
        rsi,
        sd_r,
        (last.high - last.low) / last.close,
        volume_z,
        tod_sin,
        tod_cos,
    ];
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Mean and population standard deviation in one pass (Welford's), without allocating.
fn mean_sd(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut n, mut mean, mut m2) = (0.0, 0.0, 0.0);
    for v in values {
        n += 1.0;
        let d = v - mean;
        mean += d / n;
        m2 += d * (v - mean);
    }
    if n == 0.0 {
        (f64::NAN, f64::NAN)
    } else {
        (mean, (m2 / n).max(0.0).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    fn bar(t: chrono::DateTime<Utc>, close: f64, volume: f64) -> Bar {
        Bar {
            time: t,
            open: close,
            high: close * 1.01,
            low: close * 0.99,
            close,
            volume,
            trades: 0,
            vwap: f64::NAN,
        }
    }

    fn daily(closes: &[f64], volumes: &[f64]) -> Vec<Bar> {
        let t0 = Utc.with_ymd_and_hms(2024, 1, 2, 5, 0, 0).unwrap();
        closes
            .iter()
            .zip(volumes)
            .enumerate()
            .map(|(i, (&c, &v))| bar(t0 + Duration::days(i as i64), c, v))
            .collect()
    }

    #[test]
    fn the_names_match_the_vector() {
        assert_eq!(FEATURE_NAMES.len(), N_FEATURES);
    }

    #[test]
    fn constant_series_has_zero_returns_ratios_rsi_and_volume_z() {
        let b = daily(&[100.0; 50], &[1000.0; 50]);
        let x = features(&b, false).unwrap();
        for (name, v) in FEATURE_NAMES.iter().zip(x) {
            let want = if *name == "range_1" { 0.02 } else { 0.0 };
            assert!((v - want).abs() < 1e-12, "{name} = {v}");
        }
        assert!(features(&b[1..], false).is_none(), "49 bars are too few");
    }

    #[test]
    fn hand_computed_values_on_a_doubling_series() {
        // Closes 1, 2, 4, ..., 2^49: every log return is ln 2, so
        // ret_n = n·ln 2, vol_20 = 0, RSI = 100 → 1.
        // SMA(k) of 2^(49−k+1) .. 2^49 = (2^50 − 2^(50−k)) / k.
        let closes: Vec<f64> = (0..50).map(|i| 2f64.powi(i)).collect();
        let mut volumes = vec![10.0; 50];
        volumes[49] = 1000.0;
        let b = daily(&closes, &volumes);
        let x = features(&b, false).unwrap();
        let ln2 = 2f64.ln();
        let sma = |k: i32| (2f64.powi(50) - 2f64.powi(50 - k)) / f64::from(k);
        let close_rel = |v: f64, want: f64| (v - want).abs() <= 1e-12 * want.abs().max(1.0);
        assert!(close_rel(x[0], ln2));
        assert!(close_rel(x[1], 5.0 * ln2));
        assert!(close_rel(x[2], 20.0 * ln2));
        assert!(close_rel(x[3], sma(5) / sma(20) - 1.0));
        assert!(close_rel(x[4], sma(20) / sma(50) - 1.0));
        assert!(close_rel(x[5], 2f64.powi(49) / sma(20) - 1.0));
        assert_eq!(x[6], 1.0);
        assert!(x[7].abs() < 1e-12);
        // 19 bars at ln 11 and one at ln 1001: mean m = (19·a + b)/20, sd = |b − a|·√19/20,
        // so z = (b − m)/sd = (19/20)(b − a) / (√19/20 · (b − a)) = √19.
        assert!((x[9] - 19f64.sqrt()).abs() < 1e-9, "{}", x[9]);
    }

    #[test]
    fn rsi_with_simple_averages() {
        // Last 14 changes: seven +2 and seven −1 → gain 14, loss 7 → (14 − 7)/21 = 1/3.
        let mut closes = vec![100.0; 36];
        for i in 0..14 {
            let prev = *closes.last().unwrap();
            closes.push(if i % 2 == 0 { prev + 2.0 } else { prev - 1.0 });
        }
        let b = daily(&closes, &[5.0; 50]);
        assert!((features(&b, false).unwrap()[6] - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn time_of_day_is_measured_from_the_new_york_open() {
        // 2024-07-01 is summer time (UTC−4): 13:30 UTC is 09:30 in New York → angle 0.
        let t = Utc.with_ymd_and_hms(2024, 7, 1, 13, 30, 0).unwrap();
        let mut b: Vec<Bar> = (0..50)
            .map(|i| bar(t - Duration::minutes(49 - i), 100.0, 10.0))
            .collect();
        let x = features(&b, true).unwrap();
        assert!((x[10] - 0.0).abs() < 1e-12 && (x[11] - 1.0).abs() < 1e-12);
        // 12:45 New York is 195 minutes in: half the session, angle π.
        let later = Utc.with_ymd_and_hms(2024, 7, 1, 16, 45, 0).unwrap();
        b[49].time = later;
        let x = features(&b, true).unwrap();
        assert!(x[10].abs() < 1e-12 && (x[11] + 1.0).abs() < 1e-12);
        assert_eq!(features(&b, false).unwrap()[10..], [0.0, 0.0]);
    }

    #[test]
    fn undefined_inputs_give_no_features() {
        let mut b = daily(&[100.0; 50], &[1000.0; 50]);
        b[10].close = 0.0;
        assert!(features(&b, false).is_none());
        let mut b = daily(&[100.0; 50], &[1000.0; 50]);
        b[49].volume = f64::NAN;
        assert!(features(&b, false).is_none());
        // A bad bar that has left the window no longer matters.
        let mut b = daily(&[100.0; 51], &[1000.0; 51]);
        b[0].close = f64::NAN;
        assert!(features(&b, false).is_some());
    }

    #[test]
    fn features_never_change_when_future_bars_change() {
        let closes: Vec<f64> = (0..120)
            .map(|i| 100.0 + (i as f64 / 7.0).sin() * 5.0)
            .collect();
        let volumes: Vec<f64> = (0..120).map(|i| 1000.0 + (i % 13) as f64 * 50.0).collect();
        let a = daily(&closes, &volumes);
        let mut b = a.clone();
        for bar in &mut b[80..] {
            bar.close *= 3.0;
            bar.high *= 3.0;
            bar.low *= 0.5;
            bar.volume *= 10.0;
        }
        for t in LOOKBACK - 1..80 {
            assert_eq!(
                features(&a[..=t], false),
                features(&b[..=t], false),
                "bar {t}"
            );
        }
        assert_ne!(features(&a[..=80], false), features(&b[..=80], false));
    }
}

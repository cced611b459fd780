//! Every figure checked against a hand computation on a handful of predictions.

use super::*;

/// Ten predictions: p = 0.1, 0.2, …, 0.9, 0.9; "up" for the 3rd, 5th, 7th, 8th and 9th.
fn ten() -> Vec<(f64, bool)> {
    let p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9];
    let y = [
        false, false, true, false, true, false, true, true, true, false,
    ];
    p.into_iter().zip(y).collect()
}

#[test]
fn brier_and_the_base_rate_by_hand() {
    // (p − y)²: .01 .04 .49 .16 .25 .36 .09 .04 .01 .81, sum 2.26, mean 0.226.
    assert!((brier(&ten()) - 0.226).abs() < 1e-15, "{}", brier(&ten()));
    // Five of ten up: a constant 0.5 scores 0.25.
    assert_eq!(base_rate_brier(0.5), 0.25);
    assert!((base_rate_brier(0.511) - 0.249879).abs() < 1e-12);
}

#[test]
fn the_reliability_table_by_hand() {
    let b = reliability(&ten(), 5);
    let want = [
        (0.15, 0.0),
        (0.35, 0.5),
        (0.55, 0.5),
        (0.75, 1.0),
        (0.9, 0.5),
    ];
    assert_eq!(b.len(), 5);
    for (bin, (p, up)) in b.iter().zip(want) {
        assert_eq!(bin.n, 2);
        assert!(
            (bin.mean_p - p).abs() < 1e-12 && bin.up_rate == up,
            "{bin:?}"
        );
    }
    // Ten in three: 4, 3, 3; the first four are .1 .2 .3 .4 with one up.
    let b = reliability(&ten(), 3);
    assert_eq!(b.iter().map(|b| b.n).collect::<Vec<_>>(), [4, 3, 3]);
    assert!((b[0].mean_p - 0.25).abs() < 1e-12 && b[0].up_rate == 0.25);
}

#[test]
fn the_calibration_slope_matches_the_two_group_closed_form() {
    // Two predictions, 0.25 and 0.75 (log-odds ∓ln 3), four each. An unpenalised fit gives
    // each group its own rate, so b = (logit(high rate) − logit(low rate)) / (2 ln 3).
    let group = |p: f64, ups: usize| (0..4).map(move |i| (p, i < ups));
    let calibrated: Vec<_> = group(0.25, 1).chain(group(0.75, 3)).collect();
    let s = calibration_slope(&calibrated);
    assert!((s - 1.0).abs() < 1e-6, "{s}");
    // Rates 2/4 and 3/4: b = (ln 3 − 0) / (2 ln 3) = 0.5.
    let half: Vec<_> = group(0.25, 2).chain(group(0.75, 3)).collect();
    assert!((calibration_slope(&half) - 0.5).abs() < 1e-6);
    // Reversed rates: b = −1, the ranking says the opposite of the truth.
    let reversed: Vec<_> = group(0.25, 3).chain(group(0.75, 1)).collect();
    assert!((calibration_slope(&reversed) + 1.0).abs() < 1e-6);
    assert!(calibration_slope(&[(0.5, true), (0.5, false)]).is_nan());
}

#[test]
fn importance_orders_the_standardised_weights_by_size() {
    let mut w = [0.0; N_FEATURES];
    w[0] = 0.1;
    w[1] = -2.0;
    w[2] = 0.5;
    let i = importance(&w);
    assert_eq!(&i[..3], &[("ret_5", -2.0), ("ret_20", 0.5), ("ret_1", 0.1)]);
    assert_eq!(i.len(), N_FEATURES);
}

#[test]
fn t_statistics_and_bar_returns_by_hand() {
    // 1, 2, 3, 4: mean 2.5, s² = 5/3, t = 2.5 / √(5/12) = √15.
    assert!((t_stat(&[1.0, 2.0, 3.0, 4.0]) - 15f64.sqrt()).abs() < 1e-12);
    assert!(t_stat(&[1.0]).is_nan() && t_stat(&[2.0, 2.0]).is_nan());
    // Equity 100 → 110 → 99 from cash 100: 0, +10 %, −10 %.
    let r = bar_returns(&[100.0, 110.0, 99.0], 0, 3, 100.0);
    assert_eq!(r.len(), 3);
    assert!(r[0] == 0.0 && (r[1] - 0.1).abs() < 1e-15 && (r[2] + 0.1).abs() < 1e-15);
    assert_eq!(
        bar_returns(&[100.0, 110.0, 99.0], 2, 3, 0.0),
        [99.0 / 110.0 - 1.0]
    );
    // Model .01 −.02 .03: mean .02/3, s = √(1.2667e-3/2), t = 0.458831…; the excess over
    // buy & hold (0, .01, .01) is .01 −.03 .02: mean 0, t 0.
    let s = Significance::of(&[0.01, -0.02, 0.03], &[0.0, 0.01, 0.01]);
    assert_eq!(s.bars, 3);
    assert!((s.mean_return - 0.02 / 3.0).abs() < 1e-15);
    assert!((s.t_return - 0.458_831_467_741_123).abs() < 1e-9, "{s:?}");
    assert!(
        s.mean_excess.abs() < 1e-15 && s.t_excess.abs() < 1e-9,
        "{s:?}"
    );
}

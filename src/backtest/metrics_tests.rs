//! Every metric on tiny hand-computed cases.

use super::*;
use chrono::TimeZone;

/// Consecutive calendar days from Monday 2024-01-01, midnight UTC.
fn days(n: usize) -> Vec<DateTime<Utc>> {
    (0..n)
        .map(|i| Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + Duration::days(i as i64))
        .collect()
}

fn trade(
    entry_bar: usize,
    exit_bar: usize,
    size: f64,
    entry: f64,
    exit: f64,
    times: &[DateTime<Utc>],
) -> Trade {
    Trade {
        entry_bar,
        exit_bar,
        size,
        entry_price: entry,
        exit_price: exit,
        pnl: size * (exit - entry),
        return_pct: 1f64.copysign(size) * (exit / entry - 1.0),
        entry_time: times[entry_bar],
        exit_time: times[exit_bar],
        commission: 0.0,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

#[test]
fn flat_equity() {
    // 5 days of equity 100 and closes 10,11,12,13,14 with warm-up 1: no returns at all.
    // B&H = (14 − 11)/11. Daily returns all 0: g = 0, Return (Ann.) 0, Volatility 0 so
    // Sharpe NaN; Sortino 0/0 NaN; no drawdown: Max DD −0, Avg DD and durations NaN.
    // Beta: equity log-returns are all 0, cov 0 → 0; Alpha = 0 − 0·B&H = 0.
    // 7 days include Sat 6th/Sun 7th? No: 5 days Mon..Fri → A = 252.
    let t = days(5);
    let m = compute(&t, &[10.0, 11.0, 12.0, 13.0, 14.0], &[100.0; 5], &[], 1).unwrap();
    assert_eq!(m.duration, Duration::days(4));
    assert_eq!(m.periods_per_year, 252.0);
    assert_eq!(
        (m.exposure_time_pct, m.return_pct, m.return_ann_pct),
        (0.0, 0.0, 0.0)
    );
    assert!(close(m.buy_hold_return_pct, 3.0 / 11.0 * 100.0));
    assert_eq!(
        (m.volatility_ann_pct, m.cagr_pct, m.beta, m.alpha_pct),
        (0.0, 0.0, 0.0, 0.0)
    );
    assert!(m.sharpe_ratio.is_nan() && m.sortino_ratio.is_nan() && m.calmar_ratio.is_nan());
    assert_eq!(m.max_drawdown_pct, 0.0);
    assert!(m.avg_drawdown_pct.is_nan());
    assert_eq!(
        (m.max_drawdown_duration, m.avg_drawdown_duration),
        (None, None)
    );
    assert_eq!(m.trades, 0);
    for v in [
        m.win_rate_pct,
        m.best_trade_pct,
        m.avg_trade_pct,
        m.profit_factor,
        m.sqn,
        m.kelly_criterion,
    ] {
        assert!(v.is_nan());
    }
    assert_eq!(m.max_trade_duration, None);
    let rows = m.rows();
    assert_eq!(rows.len(), 31, "no Commissions row when there are none");
    assert_eq!(rows[2], ("Duration", "4 days 00:00:00".to_string()));
    assert_eq!(rows[11], ("Sharpe Ratio", "--".to_string()));
}

#[test]
fn one_winning_trade() {
    // Equity 100, 100, 110, 121 on Mon..Thu; one long of 10 units from bar 1 at 10 to bar 3
    // at 12.1. Daily returns: 0, 0.1, 0.1. Exposure: bars 1..=3 = 3/4 = 75 %.
    // Return = 21 %. g = (1.1·1.1)^(1/3) − 1 = 1.21^(1/3) − 1.
    // Win rate 100 %, best = worst = avg (geometric of one) = expectancy = 21 %.
    // Profit factor: no losing trade → NaN. SQN: std of one PnL is NaN → NaN.
    // Kelly: no losing PnL → mean of none is NaN → NaN. Trade duration 2 days.
    // No drawdown ever (equity only rises): Max DD −0, durations NaN.
    let t = days(4);
    let eq = [100.0, 100.0, 110.0, 121.0];
    let tr = [trade(1, 3, 10.0, 10.0, 12.1, &t)];
    let m = compute(&t, &[10.0, 10.0, 11.0, 12.1], &eq, &tr, 0).unwrap();
    assert_eq!(m.exposure_time_pct, 75.0);
    assert!(close(m.return_pct, 21.0));
    let g = 1.21f64.powf(1.0 / 3.0) - 1.0;
    assert!(close(
        m.return_ann_pct,
        ((1.0 + g).powf(252.0) - 1.0) * 100.0
    ));
    assert_eq!(m.win_rate_pct, 100.0);
    assert!(close(m.best_trade_pct, 21.0) && close(m.worst_trade_pct, 21.0));
    assert!(close(m.avg_trade_pct, 21.0) && close(m.expectancy_pct, 21.0));
    assert!(m.profit_factor.is_nan() && m.sqn.is_nan() && m.kelly_criterion.is_nan());
    assert_eq!(m.max_trade_duration, Some(Duration::days(2)));
    assert_eq!(m.avg_trade_duration, Some(Duration::days(2)));
    assert_eq!(m.max_drawdown_pct, 0.0);
    // Beta: equity log-returns (0, ln 1.1, ln 1.1) against closes' (0, ln 1.1, ln 1.1):
    // identical series → β = 1, α = 21 − 1·21 = 0.
    assert!(close(m.beta, 1.0) && m.alpha_pct.abs() < 1e-9);
}

#[test]
fn one_losing_trade_and_a_drawdown_that_never_recovers() {
    // Equity 100, 120, 90, 60 on Mon..Thu (peak 120 at bar 1, then down to the end).
    // dd = 0, 0, 1 − 90/120 = 0.25, 1 − 60/120 = 0.5. Z = {0, 1} ∪ {3}: one period (1, 3),
    // duration 2 days, peak 0.5. Max DD = Avg DD = −50 %, both durations 2 days.
    // Daily returns 0.2, −0.25, −1/3; Return −40 %.
    // Calmar = annual return / 0.5.
    // One losing short trade: 5 units from 10 to 12 → PnL −10, return −0.2.
    // Win rate 0; profit factor 0/0.2 = 0; Kelly: mean of winners is NaN → NaN.
    let t = days(4);
    let eq = [100.0, 120.0, 90.0, 60.0];
    let tr = [trade(0, 2, -5.0, 10.0, 12.0, &t)];
    let m = compute(&t, &[10.0, 11.0, 12.0, 13.0], &eq, &tr, 0).unwrap();
    assert!(close(m.max_drawdown_pct, -50.0) && close(m.avg_drawdown_pct, -50.0));
    assert_eq!(m.max_drawdown_duration, Some(Duration::days(2)));
    assert_eq!(m.avg_drawdown_duration, Some(Duration::days(2)));
    assert!(close(m.return_pct, -40.0));
    let g = (1.2f64 * 0.75 * (2.0 / 3.0)).powf(1.0 / 3.0) - 1.0;
    let ann = (1.0 + g).powf(252.0) - 1.0;
    assert!(close(m.return_ann_pct, ann * 100.0));
    assert!(close(m.calmar_ratio, ann / 0.5));
    // Sortino: downside squares 0, 0.0625, 1/9 → mean (0.0625 + 1/9)/3.
    let dn = ((0.0625 + 1.0 / 9.0) / 3.0f64).sqrt() * 252f64.sqrt();
    assert!(close(m.sortino_ratio, ann / dn));
    assert_eq!((m.trades, m.win_rate_pct, m.profit_factor), (1, 0.0, 0.0));
    assert!(close(m.worst_trade_pct, -20.0) && m.kelly_criterion.is_nan());
    // CAGR over 3 days = 3/365.25 years: 0.6^(365.25/3) − 1.
    assert!(close(
        m.cagr_pct,
        (0.6f64.powf(1.0 / (3.0 / 365.25)) - 1.0) * 100.0
    ));
}

#[test]
fn two_drawdowns_average_and_ceil() {
    // Equity over 7 daily bars: 100, 90, 100, 100, 80, 70, 110.
    // dd: 0, 0.1, 0, 0, 0.2, 0.3, 0. Z = {0, 2, 3, 6}: periods (0,2) peak 0.1, 2 days;
    // (3,6) peak 0.3, 3 days. Avg DD = −20 %, Max DD −30 %, durations max 3, mean 2.5 →
    // ceiled to 3 days. Sat 6th/Sun 7th are 2 of 7 bars = 28.6 % > 17.1 %: A = 365.
    let t = days(7);
    let eq = [100.0, 90.0, 100.0, 100.0, 80.0, 70.0, 110.0];
    let m = compute(&t, &[1.0; 7], &eq, &[], 0).unwrap();
    assert!(close(m.max_drawdown_pct, -30.0) && close(m.avg_drawdown_pct, -20.0));
    assert_eq!(m.max_drawdown_duration, Some(Duration::days(3)));
    assert_eq!(m.avg_drawdown_duration, Some(Duration::days(3)));
    assert_eq!(m.periods_per_year, 365.0);
    // Constant closes: var of market log-returns is 0 → β = 0/0 = NaN, α NaN.
    assert!(m.beta.is_nan() && m.alpha_pct.is_nan());
}

#[test]
fn intraday_bars_collapse_to_daily_returns() {
    // Two days of three 1-minute bars; the daily equity is the last of each day:
    // 101 then 99 → one daily return 99/101 − 1. The period is 1 minute → durations are
    // ceiled to minutes, A = 252 (no weekend bars: Mon 1st and Tue 2nd).
    let d0 = Utc.with_ymd_and_hms(2024, 1, 1, 14, 30, 0).unwrap();
    let d1 = Utc.with_ymd_and_hms(2024, 1, 2, 14, 30, 0).unwrap();
    let mut t = Vec::new();
    for d in [d0, d1] {
        for k in 0..3 {
            t.push(d + Duration::minutes(k));
        }
    }
    let eq = [100.0, 100.5, 101.0, 100.0, 99.5, 99.0];
    let m = compute(&t, &[1.0; 6], &eq, &[], 0).unwrap();
    let r: f64 = 99.0 / 101.0 - 1.0;
    assert!(close(
        m.return_ann_pct,
        ((1.0 + r).powf(252.0) - 1.0) * 100.0
    ));
    // One drawdown from bar 2 (Mon 14:32, peak 101) to the end (Tue 14:32): exactly 1 day.
    assert_eq!(m.max_drawdown_duration, Some(Duration::days(1)));
}

/// The sum of values computed on the fly is the sum of the same values collected, bit for
/// bit, at every length around the 8- and 128-value blocks and at a million.
#[test]
fn a_sum_of_computed_values_is_the_sum_of_them_collected() {
    let mut rng = crate::test_rng::XorShift(0x2545_F491_4F6C_DD1D);
    let v: Vec<f64> = (0..1_000_003)
        .map(|_| (rng.unit() - 0.5) * 10f64.powi((rng.0 % 9) as i32 - 4))
        .collect();
    for n in (0..300).chain([1_000, 4_099, 65_537, 1_000_003]) {
        let f = |i: usize| v[i] * 1.5 - v[n - 1 - i];
        let held: Vec<f64> = (0..n).map(f).collect();
        assert_eq!(np_sum_of(n, f).to_bits(), np_sum(&held).to_bits(), "n {n}");
    }
}

#[test]
fn numpy_pairwise_sum_and_helpers() {
    // 1e16 followed by nine 1s. Summed left to right each 1e16 + 1 rounds back to 1e16
    // (the spacing there is 2, ties go to even), giving 1e16. numpy's pairwise sum keeps
    // 8 accumulators (1e16, 1, 1, ..., 1), folds them as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))
    // = (1e16 + 2) + 4 and then adds the last two 1s: 1e16 + 8, which numpy indeed prints.
    let v = [1e16, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
    assert_eq!(v.iter().sum::<f64>(), 1e16);
    assert_eq!(np_sum(&v), 1e16 + 8.0);
    assert_eq!(np_sum_of(v.len(), |i| v[i]), 1e16 + 8.0);
    assert_eq!(resolution_ns(NS_PER_DAY), NS_PER_DAY);
    assert_eq!(resolution_ns(3 * NS_PER_DAY), NS_PER_DAY);
    assert_eq!(resolution_ns(60_000_000_000), 60_000_000_000);
    assert_eq!(resolution_ns(90_000_000_000), 1_000_000_000);
    assert_eq!(
        ceil_to(NS_PER_DAY as i128 + 1, NS_PER_DAY),
        Duration::days(2)
    );
    assert_eq!(
        mean_duration(&[NS_PER_DAY as i128, 2 * NS_PER_DAY as i128], NS_PER_DAY),
        Some(Duration::days(2))
    );
    assert_eq!(fmt_f64(0.863097952946099), "0.8631");
    assert_eq!(fmt_f64(10000.0), "10000.0");
    assert_eq!(fmt_f64(-0.0), "-0.0");
    assert_eq!(fmt_duration(Some(Duration::days(597))), "597 days 00:00:00");
}

/// Daily bars stamped at New York midnight: Friday 2024-03-08 is 05:00 UTC (EST), Monday
/// 2024-03-11 04:00 UTC (EDT), 71 hours apart; in November the same weekend is 73 hours,
/// which ceiled to whole days printed 4 days (and a run's duration "… days 01:00:00"). Trades
/// and runs last whole days, as the library counts its tz-naive dates.
#[test]
fn daily_durations_are_whole_days_across_a_daylight_saving_change() {
    let ny = |y, m, d| {
        chrono_tz::America::New_York
            .with_ymd_and_hms(y, m, d, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    };
    for t in [
        [6, 7, 8, 11, 12].map(|d| ny(2024, 3, d)),
        [30, 31, 1, 4, 5].map(|d| {
            if d > 20 {
                ny(2024, 10, d)
            } else {
                ny(2024, 11, d)
            }
        }),
    ] {
        let tr = [trade(2, 3, 10.0, 10.0, 11.0, &t)];
        let eq = [100.0, 100.0, 100.0, 110.0, 110.0];
        let m = compute(&t, &[10.0, 10.0, 10.0, 11.0, 11.0], &eq, &tr, 0).unwrap();
        assert_eq!(m.duration, Duration::days(6), "{t:?}");
        assert_eq!(m.max_trade_duration, Some(Duration::days(3)), "{t:?}");
        assert_eq!(m.avg_trade_duration, Some(Duration::days(3)), "{t:?}");
    }
}

/// Equity curves that reach every branch the shared calendar and the summary take: NaN
/// equity (skipped by the period returns, carried by the drawdown), a new peak after a
/// drawdown, weekends (A = 365), minute bars (daily periods) and weekly bars.
fn curves() -> Vec<(Vec<DateTime<Utc>>, Vec<f64>)> {
    use chrono::Datelike;
    let eq = |n: usize| -> Vec<f64> {
        (0..n)
            .map(|i| 100.0 + 7.0 * ((i as f64) / 3.0).sin() + i as f64 * 0.3)
            .collect()
    };
    let mut with_nan = eq(40);
    with_nan[17] = f64::NAN;
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 14, 30, 0).unwrap();
    let minutes: Vec<DateTime<Utc>> = (0..900).map(|i| t0 + Duration::minutes(i * 7)).collect();
    let weeks: Vec<DateTime<Utc>> = (0..60).map(|i| t0 + Duration::weeks(i)).collect();
    let weekdays: Vec<DateTime<Utc>> = days(60)
        .into_iter()
        .filter(|t| t.weekday().number_from_monday() <= 5)
        .collect();
    vec![
        (days(40), eq(40)),
        (days(40), with_nan),
        (weekdays.clone(), eq(weekdays.len())),
        (minutes, eq(900)),
        (weeks, eq(60)),
        (days(1), vec![100.0]),
    ]
}

/// The calendar shared through a `Benchmark` and the sweep row's summary change no bit: every
/// metric equals a plain `compute`, and the summary equals those fields of it.
#[test]
fn shared_calendar_and_summary_equal_the_plain_metrics() {
    for (times, equity) in curves() {
        let closes: Vec<f64> = (0..times.len()).map(|i| 50.0 + (i % 7) as f64).collect();
        let trades = if times.len() > 30 {
            vec![
                trade(2, 9, 3.0, 50.0, 52.0, &times),
                trade(12, 20, -2.0, 55.0, 51.0, &times),
                trade(22, 29, 1.0, 53.0, 50.0, &times),
            ]
        } else {
            Vec::new()
        };
        let plain = compute(&times, &closes, &equity, &trades, 1);
        let bench = Benchmark::of(&times, &closes);
        let shared = compute_with_benchmark(&times, &closes, &equity, &trades, 1, &bench);
        assert_eq!(
            format!("{plain:?}"),
            format!("{shared:?}"),
            "{}",
            times.len()
        );
        let summary = summary_with_benchmark(&times, &equity, &trades, &bench);
        // Over the benchmark's own times (a sweep's one-symbol rows): the same summary.
        assert_eq!(
            format!("{summary:?}"),
            format!("{:?}", summary_over_benchmark(&equity, &trades, &bench))
        );
        assert_eq!(
            format!("{:?}", plain.as_ref().map(Summary::of)),
            format!("{summary:?}"),
            "{}",
            times.len()
        );
        // A benchmark of other times is not used (its calendar would be wrong).
        let other = Benchmark::of(&days(times.len()), &closes);
        assert_eq!(
            format!("{summary:?}"),
            format!(
                "{:?}",
                summary_with_benchmark(&times, &equity, &trades, &other)
            )
        );
        assert_eq!(
            format!("{plain:?}"),
            format!(
                "{:?}",
                compute_with_benchmark(&times, &closes, &equity, &trades, 1, &other)
            )
        );
    }
}

/// The largest drawdown taken once per run-up is the per-bar fold's, bit for bit: on random
/// curves with new peaks, flat stretches, falls to 0, negative values, NaN and infinities,
/// and on daily curves every bar of which is its own period (the borrowed `period_ends`).
#[test]
fn max_drawdown_per_run_up_equals_the_per_bar_fold() {
    let mut rng = crate::test_rng::XorShift(0x2545_F491_4F6C_DD1D);
    let mut unit = move || rng.unit();
    for case in 0..3000 {
        let n = case % 300;
        let mut e = 1000.0 * (0.5 + unit());
        let curve: Vec<f64> = (0..n)
            .map(|_| {
                let r = unit();
                e = match (r * 100.0) as u32 {
                    0 => 0.0,
                    1 => -e.abs() * unit(),
                    2 if case % 5 == 0 => f64::NAN,
                    3 if case % 7 == 0 => f64::INFINITY,
                    4..=30 => e,
                    _ => e.abs().max(1.0) * (1.0 + 0.1 * (unit() - 0.5)),
                };
                e
            })
            .collect();
        let want = summary::max_drawdown(summary::drawdowns(&curve));
        let got = summary::max_drawdown_of(&curve);
        assert_eq!(got.to_bits(), want.to_bits(), "case {case}: {curve:?}");
    }
    // Daily: every bar its own period, so period_ends hands back the curve itself.
    let times = days(40);
    let cal = calendar::Calendar::of(&times).unwrap();
    assert!(cal.one_bar_per_period);
    let curve: Vec<f64> = (0..40).map(|i| 100.0 + (i % 9) as f64).collect();
    assert!(matches!(
        cal.period_ends(&curve),
        std::borrow::Cow::Borrowed(_)
    ));
}

/// The drawdown periods taken in one pass over the equity are the two-pass reference's (the
/// drawdown series stored, each period's slice folded), bit for bit, on random curves with
/// new peaks, flat stretches, falls to 0, NaN, and curves with no period at all.
#[test]
fn drawdown_periods_in_one_pass_equal_the_stored_series_fold() {
    /// The former implementation, over a stored drawdown series.
    fn reference(
        dd: &[f64],
        times: &[DateTime<Utc>],
        unit: i64,
    ) -> (f64, Option<Duration>, Option<Duration>) {
        let n = dd.len();
        let mut peaks = vec![0.0; n];
        let mut count = 0usize;
        let mut durations: Vec<i128> = Vec::new();
        let mut prev: Option<usize> = None;
        for q in 0..n {
            if !(dd[q] == 0.0 || q == n - 1) {
                continue;
            }
            if let Some(p) = prev {
                if q > p + 1 {
                    peaks[q] = dd[p..=q].iter().copied().fold(f64::NAN, nan_max);
                    count += 1;
                    let d = times[q].timestamp_nanos_opt().unwrap() as i128
                        - times[p].timestamp_nanos_opt().unwrap() as i128;
                    durations.push(whole_days(d, unit));
                }
            }
            prev = Some(q);
        }
        if count == 0 {
            let mut k = 0usize;
            for (slot, &x) in peaks.iter_mut().zip(dd) {
                if x != 0.0 && !x.is_nan() {
                    *slot = x;
                    k += 1;
                }
            }
            let avg = if k == 0 {
                f64::NAN
            } else {
                np_sum(&peaks) / k as f64
            };
            return (avg, None, None);
        }
        let avg = np_sum(&peaks) / count as f64;
        let max = durations.iter().max().map(|&d| ceil_to(d, unit));
        (avg, max, mean_duration(&durations, unit))
    }
    let mut rng = crate::test_rng::XorShift(0x9E37_79B9_7F4A_7C15);
    let mut unit = move || rng.unit();
    let (mut with_periods, mut without) = (0, 0);
    for case in 0..2000 {
        let n = 1 + case % 400;
        let times = days(n);
        let mut e = 1000.0;
        let curve: Vec<f64> = (0..n)
            .map(|i| {
                e = match (unit() * 100.0) as u32 {
                    _ if case % 11 == 0 => 1000.0 + i as f64,
                    0 if case % 3 == 0 => 0.0,
                    1 if case % 5 == 0 => f64::NAN,
                    2..=40 => e,
                    _ => e * (1.0 + 0.1 * (unit() - 0.5)),
                };
                e
            })
            .collect();
        let dd: Vec<f64> = summary::drawdowns(&curve).collect();
        for unit_ns in [NS_PER_DAY, 60_000_000_000] {
            let want = reference(&dd, &times, unit_ns);
            let got = drawdown_periods(&curve, &times, unit_ns);
            assert_eq!(got.0.to_bits(), want.0.to_bits(), "case {case}: {curve:?}");
            assert_eq!((got.1, got.2), (want.1, want.2), "case {case}");
            if want.1.is_some() {
                with_periods += 1;
            } else {
                without += 1;
            }
        }
    }
    assert!(
        with_periods > 1000 && without > 100,
        "{with_periods} {without}"
    );
}

/// Exposure's bar count from the union of the trades' spans is the per-bar marks' count, for
/// overlapping, nested, touching, empty and out-of-range spans.
#[test]
fn bars_in_some_trade_are_counted_from_the_spans_as_by_marking_each_bar() {
    let mut rng = crate::test_rng::XorShift(0xD1B5_4A32_D192_ED03);
    let times = days(260);
    for case in 0..2000 {
        let n = 1 + case % 250;
        let k = case % 9;
        let trades: Vec<Trade> = (0..k)
            .map(|_| {
                let a = (rng.next_u64() % 255) as usize;
                let b = a + (rng.next_u64() % 40) as usize;
                let b = b.min(259);
                trade(a, b, 1.0, 100.0, 101.0, &times)
            })
            .collect();
        let mut marks = vec![0i32; n + 1];
        for t in &trades {
            let (a, b) = (t.entry_bar.min(n), (t.exit_bar + 1).min(n));
            if a < b {
                marks[a] += 1;
                marks[b] -= 1;
            }
        }
        let mut depth = 0;
        let want = marks[..n]
            .iter()
            .filter(|&&m| {
                depth += m;
                depth > 0
            })
            .count();
        assert_eq!(bars_in_some(&trades, n), want, "case {case}");
    }
}

/// Each bar's calendar key and the weekend count, worked out once per date, are the per-bar
/// formula's: minute bars over weekends and months, hourly, daily, weekly and monthly bars.
#[test]
fn calendar_keys_worked_out_per_date_are_each_bars() {
    use chrono::Datelike;
    let mut rng = crate::test_rng::XorShift(0x0123_4567_89AB_CDEF);
    let start = Utc.with_ymd_and_hms(2023, 12, 29, 14, 30, 0).unwrap();
    for step_minutes in [1, 60, 1_440, 10_080, 44_640] {
        let mut t = start;
        let times: Vec<DateTime<Utc>> = (0..6_000)
            .map(|_| {
                t += Duration::minutes(step_minutes * (1 + (rng.next_u64() % 3) as i64 / 2));
                t
            })
            .collect();
        let cal = calendar::Calendar::of(&times).unwrap();
        let a = cal.periods_per_year;
        let mut weekend = 0;
        let per_bar: Vec<i32> = times
            .iter()
            .map(|&t| {
                let day = t.timestamp().div_euclid(86_400);
                weekend += usize::from((day + 3).rem_euclid(7) >= 5);
                let date = t.date_naive();
                (if a == 52.0 {
                    (day + 3).div_euclid(7)
                } else if a == 12.0 {
                    i64::from(date.year()) * 12 + i64::from(date.month0())
                } else if a == 1.0 {
                    i64::from(date.year())
                } else {
                    day
                }) as i32
            })
            .collect();
        assert_eq!(cal.keys, per_bar, "every {step_minutes} minutes");
        if a == 365.0 || a == 252.0 {
            let have_weekends = weekend as f64 / times.len() as f64 > 2.0 / 7.0 * 0.6;
            assert_eq!(a, if have_weekends { 365.0 } else { 252.0 });
        }
        let distinct = per_bar.windows(2).filter(|k| k[0] != k[1]).count();
        assert!(distinct > 2, "{step_minutes}: {distinct}");
    }
}

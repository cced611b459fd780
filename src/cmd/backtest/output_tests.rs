//! The output files' text: every cell and file against its general or by-hand form.
use super::*;

#[test]
fn csv_numbers_drop_binary_noise_and_keep_real_digits() {
    let mut s = String::new();
    for v in [
        6160.469999999999,
        100.05000000000001,
        187.149994,
        0.1 + 0.2,
        -3.3000000000000003,
    ] {
        num(&mut s, v);
        s.push(',');
    }
    assert_eq!(s, "6160.47,100.05,187.149994,0.3,-3.3,");
    let mut b = Vec::new();
    push_f64(&mut b, 100_000.0 + 0.1 + 0.2);
    assert_eq!(b, b"100000.3");
    // Real digits survive: a million-dollar account to the cent and beyond, tiny values.
    assert_eq!(tidy(1234567.89123), 1234567.89123);
    assert_eq!(tidy(1234567.891234), 1234567.89123, "the 13th digit goes");
    assert_eq!(tidy(1.5e-7), 1.5e-7);
    assert_eq!(tidy(12_345_678_901_234.0), 12_345_678_901_200.0);
    assert_eq!(cell(f64::NAN), "");
}

/// The fast path of [`push_f64`] and [`push_cell`] against the general one (serde_json's
/// text of `tidy(v)`) on equities, drawdowns, prices, raw doubles of every decade from
/// 1e-4 to 1e12, and values a few ulps either side of each power of ten.
#[test]
fn tidy_decimals_print_as_serde_json_prints_tidy() {
    let slow = |v: f64| -> Vec<u8> {
        let mut b = Vec::new();
        if v.is_finite() {
            serde_json::to_writer(&mut b, &tidy(v)).unwrap();
        }
        b
    };
    let check = |v: f64| {
        let mut fast = Vec::new();
        push_f64(&mut fast, v);
        assert_eq!(
            String::from_utf8(fast).unwrap(),
            String::from_utf8(slow(v)).unwrap(),
            "{v:e}"
        );
        let (mut cell, mut scratch) = (String::new(), Vec::new());
        push_cell(&mut cell, &mut scratch, v);
        let display = if v.is_finite() {
            format!("{}", tidy(v))
        } else {
            String::new()
        };
        assert_eq!(cell, display, "{v:e}");
    };
    let mut fast_taken = 0;
    for d in -4..=12 {
        let p = 10f64.powi(d);
        for ulps in -4i64..=4 {
            let v = f64::from_bits((p.to_bits() as i64 + ulps) as u64);
            check(v);
            check(-v);
        }
    }
    let mut rng = crate::test_rng::XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..100_000 {
        let u = rng.unit();
        let x = rng.0;
        let decade = 10f64.powi((x % 17) as i32 - 4);
        for v in [
            u * decade,
            -u * decade,
            10_000.0 + (u * 1e7).round() / 100.0,
            10_000.0 * (1.0 + u) + 0.1 + 0.2,
            -((u * 1e8).round() / 1e6),
            (u * 1e11).round() / 1e8,
            f64::from_bits(x >> 2),
        ] {
            check(v);
            fast_taken += usize::from(tidy_decimal(v).is_some());
        }
    }
    assert!(fast_taken > 500_000, "{fast_taken}");
    for v in [
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        1e-3,
        1e11,
        123_456_789_012.5,
    ] {
        check(v);
    }
}

/// A run long enough for equity.csv to go out in several chunks: every row as
/// `time,equity,drawdown`, none lost or doubled at a chunk's end. Each close is held for
/// three bars, so rows repeat their equity (whose cells are copied from the row before)
/// and drawdowns follow each fall.
#[test]
fn equity_csv_in_chunks_is_every_row_once() {
    use crate::backtest::engine::{Settings, Sizing};
    use crate::backtest::portfolio::{self, Leg, Segment};
    use crate::strategy::Strategy;
    let t0 = DateTime::<Utc>::from_timestamp(1_700_000_040, 0).unwrap();
    let bars = flat_bars(t0, 70_000, 1, |i| 100.0 + (i / 3 % 400) as f64 / 4.0);
    // Bought at once and held: the equity follows the close.
    let schedule = Segment::always(Strategy::Threshold {
        buy_above: 0.0,
        sell_below: -1.0,
    });
    let leg = Leg {
        bars: &bars,
        schedule: &schedule,
        sizing: Some(Sizing::Qty(3.0)),
        protection: None,
    };
    let out = portfolio::run(&[leg], &Settings::default());
    let mut got = Vec::new();
    write_equity_csv(&mut got, &["X".to_string()], &out, 0).unwrap();
    assert!(got.len() > 2 * CHUNK, "{}", got.len());
    let mut want = String::from("time_utc,equity,drawdown_pct\n");
    let mut peak = f64::NEG_INFINITY;
    for (t, &e) in out.times.iter().zip(&out.equity) {
        peak = peak.max(e);
        let dd = ((e / peak - 1.0) * 100.0 * 1e6).round() / 1e6;
        let dd = if dd == 0.0 { 0.0 } else { dd };
        let json = |v: f64| serde_json::to_string(&tidy(v)).unwrap();
        want.push_str(&format!("{},{},{}\n", time_cell(*t), json(e), json(dd)));
    }
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

/// Minute bars from `t0`, one each `every` minutes, whose close steps every third bar.
fn stepped_bars(t0: DateTime<Utc>, n: i64, every: i64) -> Vec<Bar> {
    flat_bars(t0, n, every, |i| {
        100.0 + (i / 3 % 400) as f64 / 4.0 - (i % 7) as f64 / 8.0
    })
}

/// `n` bars from `t0`, one each `every` minutes, each at the one price `close(i)`.
fn flat_bars(t0: DateTime<Utc>, n: i64, every: i64, close: impl Fn(i64) -> f64) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let c = close(i);
            Bar {
                time: t0 + Duration::minutes(i * every),
                open: c,
                high: c,
                low: c,
                close: c,
                volume: 1.0,
                trades: 1,
                vwap: f64::NAN,
            }
        })
        .collect()
}

/// equity.csv by hand: serde_json's text of each number, each leg's equity at its
/// last bar at or before the row's time (found by time, not by the run's step index).
fn equity_by_hand(
    names: &[String],
    legs: &[Vec<Bar>],
    out: &PortfolioOutcome,
    from: usize,
) -> String {
    let json = |v: f64| {
        if v.is_finite() {
            serde_json::to_string(&tidy(v)).unwrap()
        } else {
            String::new()
        }
    };
    let mut want = String::from("time_utc,equity,drawdown_pct");
    if legs.len() > 1 {
        for n in names {
            want.push_str(&format!(",equity_{n}"));
        }
    }
    want.push('\n');
    let mut peak = f64::NEG_INFINITY;
    for (step, (t, &e)) in out.times.iter().zip(&out.equity).enumerate() {
        peak = peak.max(e);
        if step < from {
            continue;
        }
        let dd = ((e / peak - 1.0) * 100.0 * 1e6).round() / 1e6;
        let dd = if dd == 0.0 { 0.0 } else { dd };
        want.push_str(&format!("{},{},{}", time_cell(*t), json(e), json(dd)));
        if legs.len() > 1 {
            for (bars, leg) in legs.iter().zip(&out.legs) {
                let seen = bars.partition_point(|b| b.time <= *t);
                let v = if seen == 0 {
                    f64::NAN
                } else {
                    leg.equity[seen - 1]
                };
                want.push(',');
                want.push_str(&json(v));
            }
        }
        want.push('\n');
    }
    want
}

/// equity.csv written in runs by one thread and its back rows formatted by another
/// ([`EquityCsv::text`]) is the file by hand, wherever the back starts: one symbol and
/// two (each leg's equity forward-filled), from the first step and from a later one,
/// and times whose width changes (the year 10000 takes a sign and a digit more).
#[test]
fn equity_csv_split_anywhere_is_the_file_by_hand() {
    use crate::backtest::engine::{Settings, Sizing};
    use crate::backtest::portfolio::{self, Leg, Segment};
    use crate::strategy::Strategy;
    let schedule = Segment::always(Strategy::Threshold {
        buy_above: 0.0,
        sell_below: -1.0,
    });
    let t0 = DateTime::<Utc>::from_timestamp(1_700_000_040, 0).unwrap();
    let y10k = DateTime::<Utc>::from_timestamp(253_402_297_200, 0).unwrap();
    let cases: Vec<(Vec<Vec<Bar>>, usize)> = vec![
        (vec![stepped_bars(t0, 30_000, 1)], 0),
        (vec![stepped_bars(t0, 30_000, 1)], 12_345),
        (
            vec![
                stepped_bars(t0, 20_000, 1),
                stepped_bars(t0 + Duration::minutes(1), 7_000, 3),
            ],
            0,
        ),
        (
            vec![
                stepped_bars(t0, 20_000, 1),
                stepped_bars(t0 + Duration::minutes(1), 7_000, 3),
            ],
            5_000,
        ),
        // Flat: the held equity's cells stay the same across the year's change.
        (
            vec![stepped_bars(y10k, 200, 1)
                .into_iter()
                .map(|b| Bar {
                    open: 100.0,
                    high: 100.0,
                    low: 100.0,
                    close: 100.0,
                    ..b
                })
                .collect()],
            0,
        ),
    ];
    for (legs_bars, from) in &cases {
        let names: Vec<String> = (0..legs_bars.len()).map(|k| format!("S{k}")).collect();
        let legs: Vec<Leg<'_>> = legs_bars
            .iter()
            .map(|bars| Leg {
                bars,
                schedule: &schedule,
                sizing: Some(Sizing::Qty(3.0)),
                protection: None,
            })
            .collect();
        let out = portfolio::run(&legs, &Settings::default());
        let want = equity_by_hand(&names, legs_bars, &out, *from);
        let csv = EquityCsv {
            names: &names,
            out: &out,
            from: *from,
        };
        let steps = csv.steps();
        let len = steps.len();
        for back in [0, 1, 2, len / 3, len - 1, len] {
            let start = steps.end - back;
            // The front in runs of 1000 steps up to the back's start.
            let (mut got, mut next) = (Vec::new(), steps.start);
            csv.write(&mut got, || {
                let run = next..(next + 1000).min(start);
                next = run.end;
                (!run.is_empty()).then_some(run)
            })
            .unwrap();
            let front = got.clone();
            got.extend(csv.text(start..steps.end));
            assert_eq!(
                String::from_utf8(got).unwrap(),
                want,
                "{} legs from {from}, back of {back}",
                legs_bars.len()
            );
            // The back a megabyte at a time, each piece marked with the step after it,
            // and a writer that takes only the first piece formats the rest itself.
            for takes in [usize::MAX, 1] {
                let (mut got, mut written, mut taken) = (front.clone(), start, 0);
                csv.text_in_pieces(
                    start..steps.end,
                    64 << 10,
                    || None,
                    |next, piece| {
                        if taken == takes {
                            return false;
                        }
                        assert!(next > written && !piece.is_empty());
                        got.extend(piece);
                        (written, taken) = (next, taken + 1);
                        true
                    },
                );
                if takes == usize::MAX {
                    assert_eq!(written, steps.end, "every row sent");
                }
                got.extend(csv.text(written..steps.end));
                assert_eq!(String::from_utf8(got).unwrap(), want, "back of {back}");
                if back == len && len > 10_000 && takes == usize::MAX {
                    assert!(taken > 4, "a back of {back} rows in 64 KiB pieces");
                }
            }
        }
    }
}

/// `push_cell` is `num` (`Display`) to the byte: whole numbers, zeros of both signs,
/// tiny and huge values (exponents), and a wide spread of random bit patterns.
#[test]
fn push_cell_matches_display() {
    let mut vals = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        100.0,
        1e15,
        1e16,
        1e17,
        1e21,
        1e22,
        1e-5,
        1e-7,
        1.5e-7,
        0.1,
        0.3,
        99.24995428,
        -38.687821,
        123456789012.0,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        f64::NAN,
        f64::INFINITY,
    ];
    let mut rng = crate::test_rng::XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..200_000 {
        let x = rng.next_u64();
        vals.push(f64::from_bits(x));
        // Everyday magnitudes too: prices, PnLs and percentages.
        vals.push((x >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((x % 17) as i32 - 8));
    }
    let (mut got, mut scratch) = (String::new(), Vec::new());
    for v in vals {
        got.clear();
        push_cell(&mut got, &mut scratch, v);
        let mut want = String::new();
        num(&mut want, v);
        assert_eq!(got, want, "{v:e}");
    }
}

#[test]
fn fast_time_matches_chrono() {
    let mut clock = FastTime::new();
    for secs in [0i64, 59, 86_399, 86_400, 1_092_873_600, 1_764_100_861] {
        let mut s = String::new();
        clock.write(&mut s, secs);
        let t = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
        assert_eq!(s, time_cell(t));
    }
}

#[test]
fn metrics_json_has_every_label_and_null_for_nan() {
    let t = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
    let times = [t, t + Duration::days(1), t + Duration::days(2)];
    let m = crate::backtest::metrics::compute(&times, &[1.0, 1.0, 1.0], &[5.0; 3], &[], 0).unwrap();
    let v = metrics_json(&m);
    let o = v.as_object().unwrap();
    assert_eq!(o.len(), 33);
    assert_eq!(o["Duration"], json!(2.0));
    assert_eq!(o["SQN"], Value::Null);
    assert_eq!(o["Start"], json!("1970-01-01 00:00:00"));
    for (label, _) in m.rows() {
        assert!(o.contains_key(label), "{label}");
    }
}

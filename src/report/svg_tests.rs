//! The charts: downsampling, scales, escaping and colours.
use super::*;

#[test]
fn downsampling_keeps_extremes_and_ends() {
    let pts: Vec<Point> = (0..10_000)
        .map(|i| (i, ((i * 7919) % 1000) as f64))
        .collect();
    let d = downsample(&pts, 100);
    assert!(d.len() <= 400 && d.len() >= 200);
    assert_eq!(d.first(), pts.first());
    assert_eq!(d.last(), pts.last());
    let max = d.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    assert_eq!(max, 999.0);
    assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(downsample(&pts[..10], 100).len(), 10);
}

/// The point-by-point downsampling [`downsample_by`] replaced (every point's time
/// produced and compared as it came), as the reference it must match.
fn downsample_points(points: &[Point], buckets: usize) -> Vec<Point> {
    let n = points.len();
    let mut it = points.iter().copied();
    let mut next = || it.next().unwrap_or((0, f64::NAN));
    let buckets = buckets.max(1);
    if n <= buckets * 4 {
        return (0..n).map(|_| next()).collect();
    }
    let mut out = Vec::new();
    for b in 0..buckets {
        let len = (b + 1) * n / buckets - b * n / buckets;
        if len == 0 {
            continue;
        }
        let first = next();
        let (mut lo, mut hi, mut last) = (first, first, first);
        for _ in 1..len {
            let p = next();
            if p.1 < lo.1 {
                lo = p;
            }
            if p.1 > hi.1 {
                hi = p;
            }
            last = p;
        }
        let (a, b2) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
        for p in [first, a, b2, last] {
            if out.last() != Some(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// [`downsample`] and [`downsample_by`] (times by index, values in order) match the
/// point-by-point reference on random walks with flat runs, ties, repeated and
/// backward times, NaN gaps and infinities, for bucket counts that do and do not
/// divide the length.
#[test]
fn downsampling_by_index_matches_point_by_point() {
    let mut rng = crate::test_rng::XorShift(0xBB67_AE85_84CA_A73B);
    for round in 0..300 {
        let n = (rng.next_u64() % 20_000) as usize;
        let buckets = 1 + (rng.next_u64() % 700) as usize;
        let (mut t, mut v) = (1_700_000_000i64, 100.0);
        let pts: Vec<Point> = (0..n)
            .map(|_| {
                let x = rng.next_u64();
                t += match x % 50 {
                    0 => 0,
                    1 => -60,
                    _ => 60,
                };
                v += match x >> 8 & 7 {
                    0 | 1 => 0.0,
                    2 => 0.25,
                    3 => -0.25,
                    _ => rng.unit() - 0.5,
                };
                let shown = match x >> 16 & 255 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => f64::NEG_INFINITY,
                    _ => v,
                };
                (t, shown)
            })
            .collect();
        let want = downsample_points(&pts, buckets);
        let got = downsample(&pts, buckets);
        let same = |a: &[Point], b: &[Point]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(p, q)| p.0 == q.0 && p.1.to_bits() == q.1.to_bits())
        };
        assert!(same(&got, &want), "round {round}: n {n}, {buckets} buckets");
        // Values produced in order, each once: a running sum, as a drawdown's peak is.
        let mut sum = 0.0;
        let mut seen = 0;
        let by = downsample_by(
            n,
            buckets,
            |i| pts[i].0,
            |i| {
                assert_eq!(i, seen);
                seen += 1;
                sum += pts[i].1.abs().min(1.0);
                sum
            },
        );
        let mut sum = 0.0;
        let summed: Vec<Point> = pts
            .iter()
            .map(|p| {
                sum += p.1.abs().min(1.0);
                (p.0, sum)
            })
            .collect();
        assert!(
            same(&by, &downsample_points(&summed, buckets)),
            "round {round}"
        );
        assert_eq!(seen, n);
        // Three series in one pass, each as it is alone: the points, their running sum,
        // and the points negated with times shifted (each series its own times).
        let negated: Vec<Point> = pts.iter().map(|p| (p.0 + 7, -p.1)).collect();
        let [a, b, c] = downsample_many(
            n,
            buckets,
            |k, i| if k == 2 { negated[i].0 } else { pts[i].0 },
            |i| [pts[i].1, summed[i].1, negated[i].1],
        );
        assert!(same(&a, &want), "round {round}");
        assert!(same(&b, &by), "round {round}");
        assert!(
            same(&c, &downsample_points(&negated, buckets)),
            "round {round}"
        );
    }
}

#[test]
fn overnight_gaps_take_no_width_and_sessions_are_dated() {
    // Two sessions of minute points, 14:30..20:59 UTC on 2026-11-24 and -25.
    let open = |day: i64| 1_795_530_600 + day * 86_400; // 2026-11-24 14:30:00 UTC
    let pts: Vec<Point> = (0..2)
        .flat_map(|d| (0..390).map(move |k| (open(d) + 60 * k, 100.0 + k as f64)))
        .collect();
    let svg = line_chart(
        "Equity",
        vec![Line {
            name: "equity",
            points: &pts,
            color: "#1f77b4",
            dashed: false,
        }],
        &[],
        Format::Money,
        WIDE,
    );
    // The second session starts one minute after the first ends: at 390/779 of the plot,
    // not at 1050/1829 (57%) as on a calendar axis.
    let (px, _, pw, _) = plot_box(WIDE);
    let want = px + 390.0 / 779.0 * pw;
    let path = svg.split("<path d=\"").nth(1).unwrap();
    let xs: Vec<f64> = path
        .split('"')
        .next()
        .unwrap()
        .split(['M', 'L'])
        .filter(|p| !p.is_empty())
        .map(|p| p.split(',').next().unwrap().parse().unwrap())
        .collect();
    let widest = xs.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(widest < 2.0, "no flat overnight segment: {widest}");
    assert!(xs.iter().any(|x| (x - want).abs() < 1.0), "{want} {xs:?}");
    assert!(svg.contains(">Nov 24</text>") && svg.contains(">Nov 25</text>"));
}

#[test]
fn charts_are_self_contained_svg() {
    let pts: Vec<Point> = (0..500)
        .map(|i| (1_700_000_000 + i * 86_400, 100.0 + i as f64))
        .collect();
    let markers = [Marker {
        t: pts[10].0,
        v: 110.0,
        shape: Shape::Up,
        color: "#2a9d8f",
        label: "Buy <10> & more".into(),
    }];
    let svg = line_chart(
        "Equity",
        vec![Line {
            name: "Strategy",
            points: &pts,
            color: "#1f77b4",
            dashed: false,
        }],
        &markers,
        Format::Money,
        WIDE,
    );
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    assert!(svg.contains("viewBox=\"0 0 960 340\"") && svg.contains("Buy &lt;10&gt; &amp; more"));
    assert!(
        !svg.contains("<script") && !svg.contains("http://")
            || svg.contains("xmlns=\"http://www.w3.org/2000/svg\"")
    );
    let dd = area_chart(
        "Drawdown",
        Line {
            name: "Drawdown",
            points: &pts,
            color: "#c00",
            dashed: false,
        },
        Format::Percent,
        NARROW,
    );
    assert!(dd.contains("fill-opacity"));
    assert!(line_chart("Empty", vec![], &[], Format::Plain, WIDE).contains("no data"));
    let values = vec![vec![1.0, f64::NAN], vec![3.0, 2.0]];
    let labels = ["5".to_string(), "10".to_string()];
    let hm = heatmap(
        &Heatmap {
            title: "SQN",
            x_name: "fast",
            y_name: "slow",
            x_labels: &labels,
            y_labels: &labels,
            values: &values,
            value_name: "SQN",
        },
        WIDE,
    );
    assert!(hm.contains("fast 5, slow 10: SQN 3.0000") && hm.contains("#e4572e"));
    assert_eq!(viridis(0.0), "#440154");
    assert_eq!(viridis(1.0), "#fde725");
}

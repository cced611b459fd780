//! A long series reduced to what a chart's width can show: each bucket's first, lowest,
//! highest and last point, so peaks and troughs survive (a million bars become a drawable
//! path).

use super::Point;

/// At most about `4·buckets` points that keep each bucket's first, lowest, highest and last
/// point, so peaks and troughs survive (a million bars become a drawable path).
pub fn downsample(points: &[Point], buckets: usize) -> Vec<Point> {
    downsample_by(points.len(), buckets, |i| points[i].0, |i| points[i].1)
}

/// [`downsample`] over `n` points whose values `value` produces in order (called exactly
/// once for each index `0..n`, so a derived series, a drawdown or a scaled benchmark, never
/// has to exist whole) and whose times `time` gives by index.
pub fn downsample_by(
    n: usize,
    buckets: usize,
    time: impl Fn(usize) -> i64,
    mut value: impl FnMut(usize) -> f64,
) -> Vec<Point> {
    let [points] = downsample_many(n, buckets, |_, i| time(i), |i| [value(i)]);
    points
}

/// [`downsample_by`] for `K` series of `n` points each in one pass: `values(i)` gives the
/// `K` values at index `i` (called once per index, in order), `time(series, i)` a point's
/// time. Only the values are compared point by point; `time` is asked for just the four
/// points a bucket keeps: a million points' times, four series over, were most of a
/// backtest report's time, and one pass reads the bars once for the series drawn from them.
pub fn downsample_many<const K: usize>(
    n: usize,
    buckets: usize,
    time: impl Fn(usize, usize) -> i64,
    mut values: impl FnMut(usize) -> [f64; K],
) -> [Vec<Point>; K] {
    let buckets = buckets.max(1);
    if n <= buckets * 4 {
        let mut out: [Vec<Point>; K] = std::array::from_fn(|_| Vec::with_capacity(n));
        for i in 0..n {
            for (k, v) in values(i).into_iter().enumerate() {
                out[k].push((time(k, i), v));
            }
        }
        return out;
    }
    let mut out: [Vec<Point>; K] = std::array::from_fn(|_| Vec::with_capacity(buckets * 4));
    let mut start = 0;
    for b in 0..buckets {
        let end = (b + 1) * n / buckets;
        if end == start {
            continue;
        }
        let first = values(start);
        // Each series' first lowest and first highest (strict comparisons, so NaN never
        // wins), by index, and its last value.
        let (mut lo, mut lo_v, mut hi, mut hi_v, mut last_v) =
            ([start; K], first, [start; K], first, first);
        for i in start + 1..end {
            let v = values(i);
            for k in 0..K {
                if v[k] < lo_v[k] {
                    (lo[k], lo_v[k]) = (i, v[k]);
                }
                if v[k] > hi_v[k] {
                    (hi[k], hi_v[k]) = (i, v[k]);
                }
            }
            last_v = v;
        }
        for (k, out) in out.iter_mut().enumerate() {
            let (lo, hi) = ((time(k, lo[k]), lo_v[k]), (time(k, hi[k]), hi_v[k]));
            let (a, b2) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
            for p in [
                (time(k, start), first[k]),
                a,
                b2,
                (time(k, end - 1), last_v[k]),
            ] {
                if out.last() != Some(&p) {
                    out.push(p);
                }
            }
        }
        start = end;
    }
    out
}

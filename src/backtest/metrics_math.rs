//! The metrics' arithmetic as numpy and pandas do it: pairwise sums, two-pass variances,
//! NaN-propagating extremes, log returns, the geometric mean, and β (with the half of it that
//! depends on the closes only, shared by a sweep's runs).

use super::calendar::Calendar;
use chrono::{DateTime, Utc};

/// β = cov(log equity returns, log close returns) / var(log close returns), per bar.
pub(super) fn beta(equity: &[f64], closes: &[f64]) -> f64 {
    beta_with(equity, &LogCloses::of(closes))
}

/// What the metrics of every run over the same times and closes share: β's half that depends
/// on the closes only (their log returns, its mean and its sum of squares: half of β's
/// logarithms) and the times' [`Calendar`]. A sweep scores thousands of runs over the same
/// bars; this is computed once for all of them ([`compute_with_benchmark`]).
#[derive(Debug, Clone)]
pub struct Benchmark {
    /// The times it was built from, kept to compare with; `None` when built without a copy
    /// ([`Benchmark::over`]).
    times: Option<Vec<DateTime<Utc>>>,
    closes: Vec<f64>,
    pub(super) calendar: Option<Calendar>,
    pub(super) logs: LogCloses,
}

/// β's half that depends on the closes only.
#[derive(Debug, Clone)]
pub(super) struct LogCloses {
    y: Vec<f64>,
    my: f64,
    syy: f64,
}

impl LogCloses {
    fn of(closes: &[f64]) -> LogCloses {
        let y = log_returns(closes);
        let my = mean(&y);
        let syy = np_sum_of(y.len(), |i| (y[i] - my) * (y[i] - my));
        LogCloses { syy, y, my }
    }
}

impl Benchmark {
    /// Built from these very times and closes (compared bit for bit)?
    pub(super) fn is_of(&self, times: &[DateTime<Utc>], closes: &[f64]) -> bool {
        self.is_of_times(times)
            && self.closes.len() == closes.len()
            && (std::ptr::eq(self.closes.as_slice(), closes)
                || self
                    .closes
                    .iter()
                    .zip(closes)
                    .all(|(a, b)| a.to_bits() == b.to_bits()))
    }

    /// The closes it was built from.
    pub fn closes(&self) -> &[f64] {
        &self.closes
    }

    /// Built from these very times (its calendar is theirs)?
    pub(super) fn is_of_times(&self, times: &[DateTime<Utc>]) -> bool {
        self.times.as_deref() == Some(times)
    }

    pub fn of(times: &[DateTime<Utc>], closes: &[f64]) -> Benchmark {
        Benchmark::owning(times.to_vec(), closes.to_vec())
    }

    /// The benchmark of `times` and `closes` without a copy of the times (a million bars:
    /// 12 MB): it is of no times as far as [`Benchmark::is_of`] can tell, so only
    /// [`super::compute_over_benchmark`], for a run over the very bars it was built from,
    /// uses it.
    pub fn over(times: &[DateTime<Utc>], closes: Vec<f64>) -> Benchmark {
        Benchmark {
            calendar: Calendar::of(times),
            logs: LogCloses::of(&closes),
            times: None,
            closes,
        }
    }

    /// [`Benchmark::of`] keeping the vectors it is given instead of copies.
    pub fn owning(times: Vec<DateTime<Utc>>, closes: Vec<f64>) -> Benchmark {
        Benchmark {
            calendar: Calendar::of(&times),
            logs: LogCloses::of(&closes),
            times: Some(times),
            closes,
        }
    }
}

/// [`beta`] with the closes' half already computed: the same operations in the same order.
pub(super) fn beta_with(equity: &[f64], bench: &LogCloses) -> f64 {
    let n = equity.len();
    if n < 3 {
        return f64::NAN;
    }
    let (x, y, my) = (log_returns(equity), &bench.y, bench.my);
    let mx = mean(&x);
    let sxy = np_sum_of(x.len().min(y.len()), |i| (x[i] - mx) * (y[i] - my));
    let fact = 1.0 / (n - 2) as f64;
    (sxy * fact) / (bench.syy * fact)
}

/// `ln(v[t+1] / v[t])` for each t. An unchanged positive finite value gives exactly
/// `ln(1.0) = 0.0`, so it skips the logarithm (a flat equity between trades is most bars).
pub(super) fn log_returns(v: &[f64]) -> Vec<f64> {
    v.windows(2)
        .map(|p| {
            if p[1] == p[0] && p[0] != 0.0 && p[0].is_finite() {
                0.0
            } else {
                (p[1] / p[0]).ln()
            }
        })
        .collect()
}

/// The library's `geometric_mean`: exp(mean(ln(1 + r))) − 1; 0 if some 1 + r ≤ 0; NaN if
/// empty.
pub(super) fn geometric_mean(r: &[f64]) -> f64 {
    // One pass: 1 + r (NaN as 1) checked and its logarithm taken together.
    let mut logs: Vec<f64> = Vec::with_capacity(r.len());
    for &x in r {
        let x = if x.is_nan() { 1.0 } else { x + 1.0 };
        if x <= 0.0 {
            return 0.0;
        }
        // ln(1) is exactly 0: a flat period (most of them, out of the market) skips it.
        logs.push(if x == 1.0 { 0.0 } else { x.ln() });
    }
    let len = if r.is_empty() {
        f64::NAN
    } else {
        r.len() as f64
    };
    (np_sum(&logs) / len).exp() - 1.0
}

/// pandas' `Series.mean`: NaN when empty.
pub(super) fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        np_sum(v) / v.len() as f64
    }
}

/// pandas' two-pass `Series.var(ddof=1)`: NaN with fewer than two values.
pub(super) fn variance(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return f64::NAN;
    }
    let avg = np_sum(v) / v.len() as f64;
    let sq: Vec<f64> = v.iter().map(|x| (avg - x) * (avg - x)).collect();
    np_sum(&sq) / (v.len() - 1) as f64
}

/// numpy's `add.reduce` on a contiguous float64 array: `0.0 + pairwise_sum(v)`.
pub(crate) fn np_sum(v: &[f64]) -> f64 {
    0.0 + pairwise_sum(v)
}

/// [`np_sum`] of `f(0), f(1), …, f(n − 1)` without holding them: the same additions in the
/// same order as [`pairwise_sum`] of the collected values, so the same bits. A million-bar
/// β summed two such products; collected first, each was 8 MB of fresh pages.
pub(super) fn np_sum_of(n: usize, f: impl Fn(usize) -> f64 + Copy) -> f64 {
    0.0 + pairwise_sum_of(0, n, f)
}

fn pairwise_sum_of(start: usize, n: usize, f: impl Fn(usize) -> f64 + Copy) -> f64 {
    if n < 8 {
        let mut res = 0.0;
        for i in start..start + n {
            res += f(i);
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        for (j, r) in r.iter_mut().enumerate() {
            *r = f(start + j);
        }
        let mut i = 8;
        while i < n - n % 8 {
            for (j, r) in r.iter_mut().enumerate() {
                *r += f(start + i + j);
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for k in i..n {
            res += f(start + k);
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum_of(start, n2, f) + pairwise_sum_of(start + n2, n - n2, f)
    }
}

/// numpy's `pairwise_sum` (loops_utils.h): 8 accumulators up to 128 values, halving above.
pub(super) fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[i..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// Max skipping NaN (pandas' `max()`); NaN if all are NaN.
pub(super) fn nan_max(m: f64, x: f64) -> f64 {
    if m.is_nan() || x > m {
        x
    } else {
        m
    }
}

pub(super) fn nan_min(m: f64, x: f64) -> f64 {
    if m.is_nan() || x < m {
        x
    } else {
        m
    }
}

/// Python's `x or np.nan`.
pub(super) fn nan_if_zero(x: f64) -> f64 {
    if x == 0.0 {
        f64::NAN
    } else {
        x
    }
}

/// `np.nan_to_num`.
pub(super) fn nan_to_num(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else if x.is_infinite() {
        f64::MAX.copysign(x)
    } else {
        x
    }
}

//! L2-regularised logistic regression, written out rather than pulled from a crate: it is
//! ~150 lines, it builds anywhere Rust does (a Raspberry Pi included), and every step is
//! deterministic (no random initialisation, no threads), so the same bars always give the
//! same model, bit for bit.
//!
//! Features are standardised with the training rows' mean and population standard deviation
//! (a constant column gets standard deviation 1, so it stays 0 and its weight stays 0); the
//! statistics travel with the weights, so prediction standardises new rows the same way.
//!
//! The fit minimises, over intercept `b` and weights `w`,
//!
//! ```text
//! Σᵢ [ ln(1 + e^{ηᵢ}) − yᵢ·ηᵢ ] + (λ/2)·‖w‖²,   ηᵢ = b + w·zᵢ
//! ```
//!
//! (the intercept is not penalised; λ = `l2` is scikit-learn's `1/C`) with Newton's method,
//! which for this loss is iteratively reweighted least squares: with 13 parameters the Hessian
//! is 13×13 and a Cholesky solve costs nothing next to the pass over the rows. A backtracking
//! line search keeps every step downhill, so the fit converges on separable data too (as long
//! as λ > 0, which makes the optimum finite).

/// Scoring is the strategy's (deciding must not depend on this module); the fit uses the
/// very same functions, so a trained model scores a bar here as the tick will.
pub use crate::strategy::predictor::{probability, sigmoid};

/// A fitted model over `d` raw features.
#[derive(Debug, Clone, PartialEq)]
pub struct LogReg {
    pub means: Vec<f64>,
    pub stds: Vec<f64>,
    pub intercept: f64,
    pub weights: Vec<f64>,
    /// Newton steps taken.
    pub iterations: usize,
    /// False if the step limit was reached first, or all labels were one class.
    pub converged: bool,
}

const MAX_ITERATIONS: usize = 100;

/// Fit on `y.len()` rows of `d` features, row-major in `x`.
///
/// With every label the same the optimum is at infinity; the fit then returns zero weights
/// and a smoothed intercept `ln((k + ½)/(n − k + ½))` (k positives of n) and `converged =
/// false`, rather than iterating towards it.
pub fn fit(x: &[f64], d: usize, y: &[bool], l2: f64) -> LogReg {
    let n = y.len();
    assert_eq!(x.len(), n * d, "x must hold n rows of d features");
    assert!(l2 >= 0.0 && l2.is_finite(), "l2 must be >= 0");
    let (means, stds) = standardisation(x, d, n);
    let positives = y.iter().filter(|&&v| v).count();
    if positives == 0 || positives == n {
        let k = positives as f64;
        return LogReg {
            means,
            stds,
            intercept: ((k + 0.5) / (n as f64 - k + 0.5)).ln(),
            weights: vec![0.0; d],
            iterations: 0,
            converged: false,
        };
    }

    // Design matrix with a leading 1 for the intercept: n × p, p = d + 1.
    let p = d + 1;
    let mut z = Vec::with_capacity(n * p);
    for i in 0..n {
        z.push(1.0);
        for j in 0..d {
            z.push((x[i * d + j] - means[j]) / stds[j]);
        }
    }
    let target: Vec<f64> = y.iter().map(|&v| f64::from(u8::from(v))).collect();
    let penalty = |j: usize| if j == 0 { 0.0 } else { l2 };
    let objective = |beta: &[f64]| -> f64 {
        let mut f = 0.0;
        for (row, &t) in z.chunks_exact(p).zip(&target) {
            let eta = dot(row, beta);
            f += softplus(eta) - t * eta;
        }
        f + 0.5 * (1..p).map(|j| penalty(j) * beta[j] * beta[j]).sum::<f64>()
    };

    let mut beta = vec![0.0; p];
    // Start the intercept at the base rate's log-odds: one Newton step fewer, same optimum.
    let rate = positives as f64 / n as f64;
    beta[0] = (rate / (1.0 - rate)).ln();
    let mut f = objective(&beta);
    let tolerance = 1e-10 * (n as f64).max(1.0);
    let mut converged = false;
    let mut iterations = 0;
    let mut grad = vec![0.0; p];
    let mut hess = vec![0.0; p * p];
    let mut trial = vec![0.0; p];
    while iterations < MAX_ITERATIONS {
        grad.iter_mut().for_each(|g| *g = 0.0);
        hess.iter_mut().for_each(|h| *h = 0.0);
        for (row, &t) in z.chunks_exact(p).zip(&target) {
            let prob = sigmoid(dot(row, &beta));
            let residual = prob - t;
            let weight = prob * (1.0 - prob);
            for a in 0..p {
                grad[a] += residual * row[a];
                let wa = weight * row[a];
                for b in 0..=a {
                    hess[a * p + b] += wa * row[b];
                }
            }
        }
        for a in 0..p {
            grad[a] += penalty(a) * beta[a];
            hess[a * p + a] += penalty(a);
            for b in 0..a {
                hess[b * p + a] = hess[a * p + b];
            }
        }
        if grad.iter().all(|g| g.abs() <= tolerance) {
            converged = true;
            break;
        }
        iterations += 1;
        let step = solve_spd(&mut hess, &grad, p);
        let slope: f64 = dot(&grad, &step);
        let mut t = 1.0;
        let mut moved = false;
        for _ in 0..60 {
            for j in 0..p {
                trial[j] = beta[j] - t * step[j];
            }
            let ft = objective(&trial);
            if ft <= f - 1e-4 * t * slope {
                beta.copy_from_slice(&trial);
                f = ft;
                moved = true;
                break;
            }
            t *= 0.5;
        }
        if !moved || step.iter().all(|s| (t * s).abs() < 1e-14) {
            // No step makes progress in floating point: this is the optimum.
            converged = true;
            break;
        }
    }
    LogReg {
        means,
        stds,
        intercept: beta[0],
        weights: beta[1..].to_vec(),
        iterations,
        converged,
    }
}

impl LogReg {
    /// P(label = true) for one row of raw features.
    pub fn probability(&self, row: &[f64]) -> f64 {
        probability(row, &self.means, &self.stds, &self.weights, self.intercept)
    }
}

/// Column means and population standard deviations; a (near-)constant column gets 1.
fn standardisation(x: &[f64], d: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut means = vec![0.0; d];
    let mut stds = vec![1.0; d];
    if n == 0 {
        return (means, stds);
    }
    for j in 0..d {
        let mean = (0..n).map(|i| x[i * d + j]).sum::<f64>() / n as f64;
        let var = (0..n).map(|i| (x[i * d + j] - mean).powi(2)).sum::<f64>() / n as f64;
        means[j] = mean;
        let sd = var.sqrt();
        if sd > 1e-12 * mean.abs().max(1.0) {
            stds[j] = sd;
        }
    }
    (means, stds)
}

#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `ln(1 + e^η)` without overflow.
#[inline]
fn softplus(eta: f64) -> f64 {
    eta.max(0.0) + (-eta.abs()).exp().ln_1p()
}

/// Solve `H·s = g` for a symmetric positive (semi)definite `H` (p × p, overwritten by its
/// Cholesky factor). A pivot that is not positive (a column that is all zeros, or exact
/// collinearity without a penalty) is replaced by a tiny one, which leaves that direction
/// where it is instead of failing.
fn solve_spd(h: &mut [f64], g: &[f64], p: usize) -> Vec<f64> {
    let scale = (0..p)
        .map(|i| h[i * p + i].abs())
        .fold(0.0, f64::max)
        .max(1.0);
    for j in 0..p {
        let mut diag = h[j * p + j] - (0..j).map(|k| h[j * p + k].powi(2)).sum::<f64>();
        if diag <= 1e-12 * scale {
            diag = 1e-12 * scale;
        }
        let root = diag.sqrt();
        h[j * p + j] = root;
        for i in j + 1..p {
            let s = h[i * p + j] - (0..j).map(|k| h[i * p + k] * h[j * p + k]).sum::<f64>();
            h[i * p + j] = s / root;
        }
    }
    let mut s = g.to_vec();
    for i in 0..p {
        let v = s[i] - (0..i).map(|k| h[i * p + k] * s[k]).sum::<f64>();
        s[i] = v / h[i * p + i];
    }
    for i in (0..p).rev() {
        let v = s[i] - (i + 1..p).map(|k| h[k * p + i] * s[k]).sum::<f64>();
        s[i] = v / h[i * p + i];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_feature_leaves_the_base_rate_log_odds() {
        // Intercept-only optimum: σ(b) = mean(y) = 3/4, so b = ln 3, whatever λ (the intercept
        // is not penalised, and the constant column standardises to 0).
        let x = [5.0, 5.0, 5.0, 5.0];
        let y = [true, true, true, false];
        let m = fit(&x, 1, &y, 1.0);
        assert!(m.converged);
        assert!((m.intercept - 3f64.ln()).abs() < 1e-10, "{m:?}");
        assert_eq!(m.weights, [0.0]);
        assert!((m.probability(&[123.0]) - 0.75).abs() < 1e-10);
    }

    #[test]
    fn two_groups_without_penalty_reproduce_each_groups_rate() {
        // One binary feature with an intercept is saturated: the maximum-likelihood fit
        // predicts each group's own rate (closed form), here 1/4 and 2/3.
        let x = [-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0];
        let y = [true, false, false, false, true, true, false];
        let m = fit(&x, 1, &y, 0.0);
        assert!(m.converged, "{m:?}");
        assert!((m.probability(&[-1.0]) - 0.25).abs() < 1e-9);
        assert!((m.probability(&[1.0]) - 2.0 / 3.0).abs() < 1e-9);
        // In raw units: logit(2/3) − logit(1/4) = ln 2 + ln 3 over a distance of 2.
        let raw_slope = m.weights[0] / m.stds[0];
        assert!((raw_slope - 6f64.ln() / 2.0).abs() < 1e-9);
    }

    #[test]
    fn separable_data_with_a_penalty_solves_the_stationarity_equation() {
        // x = −1 → 0, x = +1 → 1 is separable; λ = 1 keeps the optimum finite. x is already
        // standard (mean 0, population sd 1); by symmetry b = 0, and ∂/∂w = 0 reads
        // λ·w = 2·σ(−w). Solve that by bisection, independently of the Newton code.
        let m = fit(&[-1.0, 1.0], 1, &[false, true], 1.0);
        let (mut lo, mut hi) = (0.0f64, 2.0f64);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid - 2.0 * sigmoid(-mid) < 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        assert!(m.converged);
        assert!(m.intercept.abs() < 1e-12, "{m:?}");
        assert!((m.weights[0] - lo).abs() < 1e-9, "{} vs {lo}", m.weights[0]);
        // A stronger penalty shrinks the weight.
        assert!(fit(&[-1.0, 1.0], 1, &[false, true], 10.0).weights[0] < m.weights[0]);
    }

    #[test]
    fn one_class_gives_a_smoothed_constant_and_says_it_did_not_converge() {
        let m = fit(&[1.0, 2.0, 3.0], 1, &[true; 3], 1.0);
        assert!(!m.converged);
        assert_eq!(m.weights, [0.0]);
        assert!((m.probability(&[9.0]) - 3.5 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn fitting_twice_gives_the_same_bits() {
        let x: Vec<f64> = (0..400).map(|i| ((i * 37 % 101) as f64).sin()).collect();
        let y: Vec<bool> = (0..200)
            .map(|i| x[2 * i] + 0.3 * x[2 * i + 1] > 0.1)
            .collect();
        let a = fit(&x, 2, &y, 0.5);
        let b = fit(&x, 2, &y, 0.5);
        assert_eq!(a, b);
        assert!(
            a.converged && a.weights[0] > 0.0 && a.weights[1] > 0.0,
            "{a:?}"
        );
    }

    #[test]
    fn softplus_and_sigmoid_do_not_overflow() {
        assert_eq!(softplus(1000.0), 1000.0);
        assert!(softplus(-1000.0) >= 0.0 && softplus(-1000.0) < 1e-300);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
    }
}

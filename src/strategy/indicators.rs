//! Indicators over closed bars. Pure; `sma` allocation-free.
//!
//! Two ways to the same numbers: [`sma`] for one bar (the tick), and [`Smas`], every bar's SMA
//! of a series for each window a backtest or a whole sweep needs, computed once and shared by
//! every combination that uses the window. Both sum each window oldest first, so they agree bit
//! for bit and a backtest decides exactly as the tick would on the same bars.
//!
//! Why not a running sum (add the new close, subtract the one leaving)? Its rounding depends on
//! where the series starts, so a tick holding the last 200 bars would decide differently from a
//! backtest over years at exact ties (docs/backtest.md, Speed). [`Smas`] gets the speed another
//! way: each window's sums are built a column at a time over blocks of consecutive bars, which
//! the compiler turns into SIMD adds, and one window is computed once for a whole grid.

use crate::domain::Bar;

/// Simple moving average of the last `n` closes of `bars`. `n` must be in `1..=bars.len()`.
///
/// Summed oldest first, as pandas' rolling mean and backtesting.py's SMA see the window.
pub fn sma(bars: &[Bar], n: usize) -> f64 {
    debug_assert!(n >= 1 && n <= bars.len());
    let window = &bars[bars.len() - n..];
    window.iter().map(|b| b.close).sum::<f64>() / n as f64
}

/// Bars summed together per pass: the block's sums stay in L1 while the window's columns are
/// added into them.
const BLOCK: usize = 512;

/// Every bar's SMA of one series of bars, for a set of windows.
#[derive(Debug, Clone, Default)]
pub struct Smas {
    /// Indexed by window; `series[w][i - (w - 1)]` is `sma(&bars[..=i], w)`.
    series: Vec<Option<Box<[f64]>>>,
    /// One pair's order on every bar, without the series ([`Smas::cross_only`]).
    cross: Option<CrossOrder>,
}

/// How SMA(`fast`) and SMA(`slow`) of a series compare on each bar: all a SmaCross decides
/// on ([`crate::strategy::crossing`] asks only `<` and `>` of the two on two bars), in a byte
/// a bar instead of two 8-byte series (a million minute bars: 1 MB, not 16).
#[derive(Debug, Clone)]
pub struct CrossOrder {
    pub fast: usize,
    pub slow: usize,
    /// `order[k]` is for bar `k + slow - 1`: [`CrossOrder::BELOW`] if the fast mean is below
    /// the slow one, [`CrossOrder::ABOVE`] if above, 0 if equal or either is NaN.
    pub order: Box<[u8]>,
}

impl CrossOrder {
    pub const BELOW: u8 = 1;
    pub const ABOVE: u8 = 2;
}

impl Smas {
    /// No windows: every lookup answers `None`.
    pub const EMPTY: Smas = Smas {
        series: Vec::new(),
        cross: None,
    };

    /// Only the order of SMA(`fast`) and SMA(`slow`) on each bar ([`CrossOrder`]), for a
    /// one-symbol SmaCross backtest: the means are those of [`Smas::of_closes`] to the bit,
    /// compared as they are made and not kept. Lookups of the windows answer `None`; `None`
    /// if the pair does not fit the series (`1 <= fast < slow <= closes.len()`).
    pub fn cross_only(closes: &[f64], fast: usize, slow: usize) -> Option<Smas> {
        (fast >= 1 && fast < slow && slow <= closes.len()).then(|| Smas {
            series: Vec::new(),
            cross: Some(CrossOrder {
                fast,
                slow,
                order: cross_order(closes, fast, slow),
            }),
        })
    }

    /// The pair's order table, if this was built by [`Smas::cross_only`] for it.
    pub fn cross(&self, fast: usize, slow: usize) -> Option<&[u8]> {
        self.cross
            .as_ref()
            .filter(|c| (c.fast, c.slow) == (fast, slow))
            .map(|c| &c.order[..])
    }

    /// The SMAs of `bars` for each of `windows` (0 and windows longer than the series are
    /// skipped; [`Smas::at`] answers `None` for them).
    pub fn new(bars: &[Bar], windows: impl IntoIterator<Item = usize>) -> Smas {
        let windows: Vec<usize> = windows.into_iter().collect();
        if windows.iter().all(|&w| w == 0 || w > bars.len()) {
            return Smas::of_closes(&[], windows);
        }
        let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
        Smas::of_closes(&closes, windows)
    }

    /// [`Smas::new`] of bars whose closes are `closes`.
    pub fn of_closes(closes: &[f64], windows: impl IntoIterator<Item = usize>) -> Smas {
        let mut wanted: Vec<usize> = windows
            .into_iter()
            .filter(|&w| w >= 1 && w <= closes.len())
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut series = vec![None; wanted.last().map_or(0, |&w| w + 1)];
        for (&w, means) in wanted.iter().zip(window_means(closes, &wanted)) {
            series[w] = Some(means);
        }
        Smas {
            series,
            cross: None,
        }
    }

    /// `sma(&bars[..=i], window)` for the `bars` this was built from, if `window` was asked for
    /// and `i + 1 >= window`.
    #[inline]
    pub fn at(&self, window: usize, i: usize) -> Option<f64> {
        let s = self.series.get(window)?.as_ref()?;
        s.get(i.checked_sub(window.checked_sub(1)?)?).copied()
    }

    /// The window's whole series, if it was computed: element `j` is the SMA at bar
    /// `j + window - 1` (what [`Smas::at`] answers, without a lookup per bar).
    #[inline]
    pub fn series(&self, window: usize) -> Option<&[f64]> {
        self.series.get(window)?.as_deref()
    }

    /// Has the window been computed?
    pub fn has(&self, window: usize) -> bool {
        matches!(self.series.get(window), Some(Some(_)))
    }
}

/// Series at least this long are summed on two threads (one half of the bars each): a
/// million-bar backtest's two SMAs were a third of its simulation time, on one core.
const PARALLEL_LEN: usize = 1 << 17;

/// For each window `w` of `ws` (ascending, each within `1..=c.len()`), the means
/// `out[j] = (c[j] + c[j+1] + … + c[j+w-1]) / w`, each sum taken oldest first from the same
/// starting value as `Iterator::sum`, so that `out[j]` has the bits of [`sma`]. The windows
/// share their sums: a longer window's sum at `j` goes on from the shorter's (the same
/// additions in the same order), so each output costs the longest window's additions, not
/// the total of all windows' (SmaCross 10/20: 20 per bar, not 30; a sweep's 198 windows:
/// 199, not about 20,000).
fn window_means(c: &[f64], ws: &[usize]) -> Vec<Box<[f64]>> {
    // Zeroed memory (calloc: pages mapped as they are first written, not by a serial fill
    // here), every element overwritten by `means_into`.
    let mut outs: Vec<Box<[f64]>> = ws
        .iter()
        .map(|&w| vec![0.0; c.len() + 1 - w].into_boxed_slice())
        .collect();
    let m = outs.first().map_or(0, |o| o.len());
    if m < PARALLEL_LEN {
        let mut all: Vec<&mut [f64]> = outs.iter_mut().map(|o| &mut o[..]).collect();
        means_into(c, ws, 0, &mut all);
        return outs;
    }
    // Each output depends only on its own window: the halves are independent.
    let cut = m / 2 / BLOCK * BLOCK;
    let (mut first, mut second): (Vec<&mut [f64]>, Vec<&mut [f64]>) = outs
        .iter_mut()
        .map(|o| o.split_at_mut(cut.min(o.len())))
        .unzip();
    std::thread::scope(|scope| {
        scope.spawn(|| means_into(c, ws, cut, &mut second));
        means_into(c, ws, 0, &mut first);
    });
    outs
}

/// [`CrossOrder::order`] of `c`: for each bar from `slow - 1` on, its SMA(`fast`) and
/// SMA(`slow`), each summed oldest first from `Iterator::sum`'s start as [`window_means`]
/// sums them (the same bits), compared and dropped; on both cores when long.
fn cross_order(c: &[f64], fast: usize, slow: usize) -> Box<[u8]> {
    let m = c.len() + 1 - slow;
    // Zeroed memory (calloc), every byte written below.
    let mut order = vec![0u8; m].into_boxed_slice();
    if m < PARALLEL_LEN {
        order_into(c, fast, slow, 0, &mut order);
        return order;
    }
    let cut = m / 2 / BLOCK * BLOCK;
    let (first, second) = order.split_at_mut(cut);
    std::thread::scope(|scope| {
        scope.spawn(|| order_into(c, fast, slow, cut, second));
        order_into(c, fast, slow, 0, first);
    });
    order
}

/// [`cross_order`] for the bars `start + slow - 1 ..` into `out`.
fn order_into(c: &[f64], fast: usize, slow: usize, start: usize, out: &mut [u8]) {
    // The fast window of bar `k + slow - 1` starts `lag` after its slow window.
    let lag = slow - fast;
    let (mut f, mut s) = ([0.0f64; BLOCK], [0.0f64; BLOCK]);
    for (b, out) in out.chunks_mut(BLOCK).enumerate() {
        let j = start + b * BLOCK;
        let len = out.len();
        add_columns(&mut f[..len], c, j + lag, 0..fast);
        add_columns(&mut s[..len], c, j, 0..slow);
        let (fw, sw) = (fast as f64, slow as f64);
        for ((o, &fs), &ss) in out.iter_mut().zip(&f[..len]).zip(&s[..len]) {
            let (fm, sm) = (fs / fw, ss / sw);
            *o = if fm < sm {
                CrossOrder::BELOW
            } else if fm > sm {
                CrossOrder::ABOVE
            } else {
                0
            };
        }
    }
}

/// Columns `ks` of the windows that start at `from`, `from + 1`, …, one per element of
/// `sums`, added into it oldest first; column 0 starts each sum from `Iterator::sum`'s
/// starting value (−0.0: it decides the sign of a sum of zeros), so a sum taken over columns
/// `0..w` has the bits of [`sma`]'s.
fn add_columns(sums: &mut [f64], c: &[f64], from: usize, ks: std::ops::Range<usize>) {
    let zero: f64 = std::iter::empty::<f64>().sum();
    for k in ks {
        let col = &c[from + k..from + k + sums.len()];
        if k == 0 {
            for (a, x) in sums.iter_mut().zip(col) {
                *a = zero + x;
            }
        } else {
            for (a, x) in sums.iter_mut().zip(col) {
                *a += x;
            }
        }
    }
}

/// [`window_means`] into `outs` (whatever they hold): `outs[t][i]` the mean of window
/// `ws[t]` at `start + i`. Longer windows have no more outputs than shorter ones.
fn means_into(c: &[f64], ws: &[usize], start: usize, outs: &mut [&mut [f64]]) {
    let total = outs.first().map_or(0, |o| o.len());
    let mut acc = [0.0f64; BLOCK];
    for base in (0..total).step_by(BLOCK) {
        let j = start + base;
        let len = BLOCK.min(total - base);
        let mut summed = 0;
        for (out, &w) in outs.iter_mut().zip(ws) {
            let len = out.len().saturating_sub(base).min(len);
            if len == 0 {
                break;
            }
            add_columns(&mut acc[..len], c, j, summed..w);
            summed = w;
            let scale = w as f64;
            for (o, a) in out[base..base + len].iter_mut().zip(&acc[..len]) {
                *o = a / scale;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn bars(closes: &[f64]) -> Vec<Bar> {
        closes
            .iter()
            .enumerate()
            .map(|(i, &c)| Bar {
                time: Utc.timestamp_opt(60 * i as i64, 0).unwrap(),
                open: c,
                high: c,
                low: c,
                close: c,
                volume: 1.0,
                trades: 1,
                vwap: c,
            })
            .collect()
    }

    #[test]
    fn smas_are_the_hand_computed_means() {
        let b = bars(&[1.0, 2.0, 4.0, 8.0]);
        let s = Smas::new(&b, [2, 3, 9]);
        assert_eq!(s.at(2, 0), None);
        assert_eq!(s.at(2, 1), Some(1.5));
        assert_eq!(s.at(2, 3), Some(6.0));
        assert_eq!(s.at(3, 2), Some(7.0 / 3.0));
        assert_eq!(s.at(3, 3), Some(14.0 / 3.0));
        assert_eq!(s.at(3, 4), None);
        // Not asked for, or longer than the series.
        assert_eq!((s.at(4, 3), s.at(9, 3), s.at(0, 3)), (None, None, None));
        assert!(s.has(3) && !s.has(9));
    }

    /// Closes whose running sum rounds differently from the window's own sum: the table must
    /// agree with `sma` to the bit, across block boundaries, where a running sum does not.
    #[test]
    fn smas_have_the_bits_of_sma_where_a_running_sum_does_not() {
        let closes: Vec<f64> = (0..3 * BLOCK + 37)
            .map(|i| {
                let x = i as f64;
                1e3 * (1.0 + (x * 0.37).sin()) + 0.1 * (x * 1.3).cos() + 1e-7 * x
            })
            .collect();
        let b = bars(&closes);
        let windows = [1, 2, 3, 10, 20, 199, BLOCK + 3];
        let s = Smas::new(&b, windows);
        let mut running_differs = 0;
        for w in windows {
            let mut run = 0.0;
            for i in 0..b.len() {
                run += closes[i];
                if i >= w {
                    run -= closes[i - w];
                }
                if i + 1 < w {
                    continue;
                }
                let want = sma(&b[..=i], w);
                assert_eq!(s.at(w, i).unwrap().to_bits(), want.to_bits(), "w {w} i {i}");
                running_differs += usize::from((run / w as f64).to_bits() != want.to_bits());
            }
        }
        assert!(running_differs > 100, "{running_differs}");
    }

    /// A pair's order on each bar is the comparison of the two SMAs `sma` gives, on a short
    /// series and one long enough for two threads, with exact ties (a 0.25 price grid) and
    /// NaN closes; the windows themselves are not kept.
    #[test]
    fn a_pairs_order_is_the_comparison_of_its_two_smas() {
        let mut rng = crate::test_rng::XorShift(0x5851_F42D_4C95_7F2D);
        for (n, fast, slow) in [
            (60, 3, 7),
            (500, 1, 2),
            (PARALLEL_LEN + 3 * BLOCK + 5, 10, 20),
        ] {
            let closes: Vec<f64> = (0..n)
                .map(|i| match rng.next_u64() % 50 {
                    0 if i % 5 == 0 => f64::NAN,
                    r => 100.0 + (r % 8) as f64 * 0.25,
                })
                .collect();
            let b = bars(&closes);
            let pair = Smas::cross_only(&closes, fast, slow).unwrap();
            assert!(pair.at(fast, slow).is_none() && pair.at(slow, slow).is_none());
            assert!(pair.cross(fast, slow + 1).is_none());
            let order = pair.cross(fast, slow).unwrap();
            assert_eq!(order.len(), n + 1 - slow);
            let (mut ties, mut below, mut above) = (0, 0, 0);
            for (k, &o) in order.iter().enumerate() {
                let i = k + slow - 1;
                let (f, s) = (sma(&b[..=i], fast), sma(&b[..=i], slow));
                let want = if f < s {
                    CrossOrder::BELOW
                } else if f > s {
                    CrossOrder::ABOVE
                } else {
                    0
                };
                assert_eq!(o, want, "n {n} bar {i}: {f} {s}");
                (below, above, ties) = (
                    below + usize::from(o == CrossOrder::BELOW),
                    above + usize::from(o == CrossOrder::ABOVE),
                    ties + usize::from(o == 0 && f == s),
                );
            }
            assert!(
                below > 0 && above > 0 && ties > 0,
                "n {n}: {below} {above} {ties}"
            );
        }
        assert!(Smas::cross_only(&[1.0, 2.0], 2, 3).is_none());
        assert!(Smas::cross_only(&[1.0, 2.0], 2, 2).is_none());
    }

    /// Windows share their sums on both threads, also a window that fits the series exactly
    /// (its one mean lies before the cut: the second thread has none of it).
    #[test]
    fn windows_of_every_length_share_sums_with_the_bits_of_sma() {
        let n = PARALLEL_LEN + 700;
        let closes: Vec<f64> = (0..n)
            .map(|i| 50.0 + (i as f64 * 0.071).cos() * 3.0 + 1e-7 * (i % 97) as f64)
            .collect();
        let b = bars(&closes);
        let windows = [1, 2, 7, 64, n];
        let s = Smas::new(&b, windows);
        let cut = n / 2 / BLOCK * BLOCK;
        for w in [1, 2, 7, 64] {
            let checked = (w - 1..w + 40).chain(cut - 100..cut + 100).chain(n - 40..n);
            for i in checked {
                let want = sma(&b[..=i], w);
                assert_eq!(s.at(w, i).unwrap().to_bits(), want.to_bits(), "w {w} i {i}");
            }
        }
        assert_eq!(s.at(n, n - 1).unwrap().to_bits(), sma(&b, n).to_bits());
        assert!(s.at(n, n - 2).is_none());
    }

    /// Zeros keep the sign `Iterator::sum` gives them (it starts from −0.0): a window of
    /// −0.0 alone averages to −0.0, one with a +0.0 to +0.0, short series and long alike.
    #[test]
    fn windows_of_signed_zeros_have_the_bits_of_sma() {
        for len in [40, PARALLEL_LEN + 3 * BLOCK] {
            let closes: Vec<f64> = (0..len)
                .map(|i| match i % 7 {
                    0 => 0.0,
                    4 => 1.5,
                    _ => -0.0,
                })
                .collect();
            let b = bars(&closes);
            let s = Smas::new(&b, [1, 2, 3, 5]);
            let mut negative = 0;
            for w in [1, 2, 3, 5] {
                for i in w - 1..len {
                    let (got, want) = (s.at(w, i).unwrap(), sma(&b[..=i], w));
                    assert_eq!(got.to_bits(), want.to_bits(), "len {len} w {w} i {i}");
                    negative += usize::from(got.to_bits() == (-0.0f64).to_bits());
                }
            }
            assert!(negative > 0, "some windows hold only -0.0");
        }
    }

    /// A series long enough to be summed in two halves on two threads: every mean, around
    /// the cut too, has the bits of `sma`.
    #[test]
    fn a_long_series_summed_on_two_threads_has_the_bits_of_sma() {
        let closes: Vec<f64> = (0..PARALLEL_LEN + 2 * BLOCK + 11)
            .map(|i| 100.0 + (i as f64 * 0.013).sin() * 7.0 + 1e-9 * i as f64)
            .collect();
        let b = bars(&closes);
        let s = Smas::new(&b, [3, 20]);
        for w in [3, 20] {
            let cut = (closes.len() + 1 - w) / 2 / BLOCK * BLOCK + w - 1;
            let checked = (w - 1..w + 600)
                .chain(cut - 700..cut + 700)
                .chain(closes.len() - 600..closes.len());
            for i in checked {
                let want = sma(&b[..=i], w);
                assert_eq!(s.at(w, i).unwrap().to_bits(), want.to_bits(), "w {w} i {i}");
            }
        }
    }
}

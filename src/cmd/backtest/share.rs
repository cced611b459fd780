//! The rows of equity.csv shared between the two threads of `backtest`'s output: the thread
//! writing the file takes runs from the front, a block at a time; the main thread, once its
//! own files are written, takes the back half of what is left and formats it for the
//! writer to write after its own. Whichever thread is done first thus takes work off the
//! other, whatever the symbol count or the machine.

use std::ops::Range;
use std::sync::{Mutex, PoisonError};

/// Timeline steps (rows) the writer takes at a time: small enough that the front stops
/// soon after the back is taken, large enough that the lock is taken about 60 times for a
/// million rows.
pub(super) const BLOCK: usize = 16_384;

pub(super) struct Share {
    /// The front's next step and the step it stops at (the back's start, once taken).
    claims: Mutex<(usize, usize)>,
    end: usize,
    block: usize,
}

impl Share {
    pub(super) fn new(steps: Range<usize>, block: usize) -> Share {
        Share {
            claims: Mutex::new((steps.start, steps.end)),
            end: steps.end,
            block: block.max(1),
        }
    }

    fn claims(&self) -> std::sync::MutexGuard<'_, (usize, usize)> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The front's next run of at most a block, each starting where the one before ended;
    /// none once it reaches the back's start.
    pub(super) fn front(&self) -> Option<Range<usize>> {
        let mut c = self.claims();
        let (next, limit) = *c;
        if next >= limit {
            return None;
        }
        let end = (next + self.block).min(limit);
        c.0 = end;
        Some(next..end)
    }

    /// The back half of the steps the front has not taken, when that is at least two
    /// blocks (less is not worth the hand-over); the front stops where it starts. Taken
    /// once.
    pub(super) fn back(&self) -> Option<Range<usize>> {
        let mut c = self.claims();
        let (next, limit) = *c;
        let left = limit.saturating_sub(next);
        if left < 2 * self.block {
            return None;
        }
        let start = next + left / 2;
        c.1 = start;
        Some(start..limit)
    }

    /// The steps after the front's last: the back, whether or not it was taken.
    pub(super) fn rest(&self) -> Range<usize> {
        self.claims().1..self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The front's runs and the back tile the steps exactly, in order, wherever the back
    /// is taken; the back is half of what was left.
    #[test]
    fn front_runs_and_the_back_tile_the_steps() {
        for (steps, taken_after) in [(5..1000, 3), (0..100, 0), (7..7, 0), (0..1000, 30)] {
            let share = Share::new(steps.clone(), 16);
            let mut seen: Vec<usize> = Vec::new();
            for _ in 0..taken_after {
                if let Some(r) = share.front() {
                    assert!(r.len() <= 16);
                    seen.extend(r);
                }
            }
            let left = steps.end - seen.last().map_or(steps.start, |&s| s + 1);
            let back = share.back();
            if let Some(b) = &back {
                assert_eq!(b.len(), left - left / 2, "{steps:?}");
                assert_eq!(share.rest(), b.clone());
            } else {
                assert!(left < 32, "{steps:?}: {left} left, not taken");
                assert!(share.rest().is_empty());
            }
            while let Some(r) = share.front() {
                seen.extend(r);
            }
            seen.extend(share.rest());
            assert_eq!(seen, steps.collect::<Vec<_>>());
        }
    }

    /// Taken from two threads at once, every step is in exactly one run.
    #[test]
    fn two_threads_never_take_a_step_twice() {
        for _ in 0..50 {
            let share = Share::new(0..100_000, 64);
            let (front, back) = std::thread::scope(|scope| {
                let front = scope.spawn(|| {
                    let mut n = Vec::new();
                    while let Some(r) = share.front() {
                        n.push(r);
                    }
                    n
                });
                let back = share.back();
                (front.join().unwrap(), back)
            });
            let mut all: Vec<usize> = front.into_iter().flatten().collect();
            assert_eq!(back.clone().unwrap_or(100_000..100_000), share.rest());
            all.extend(share.rest());
            assert_eq!(all, (0..100_000).collect::<Vec<_>>());
        }
    }
}

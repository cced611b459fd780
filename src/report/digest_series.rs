//! A line of bounded size kept point by point: the dashboard's equity and drawdown.

use crate::report::svg::Point;
use serde::{Deserialize, Serialize};

/// The first buckets' width: a minute, the finest timeframe the bot ticks at.
const FIRST_WIDTH: i64 = 60;
/// Most buckets kept. One more pairs them up (the width doubles), so a line holds between
/// half this and this many buckets, at most two points each: enough detail for a chart a page
/// wide, and a sidecar of about 25 KB however long the history (400 drew no better and cost
/// the tick's refresh 0.5 ms more, a year in: benches/dashboard.rs).
pub const MAX_BUCKETS: usize = 200;

/// Points in time buckets of a width that doubles as the line lengthens, each bucket keeping
/// its lowest and highest point (the first of equals): a drawdown's trough and the equity's
/// peaks survive any coarsening, where keeping every n-th point or a bucket's mean would lose
/// them. The first and last points are kept too, so the line starts and ends where the
/// ledger does. Built by [`Series::add`] alone, so adding points in one pass or a few at a
/// time across processes gives the same series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Seconds per bucket.
    width: i64,
    /// Oldest first.
    buckets: Vec<Bucket>,
    first: Option<Point>,
    last: Option<Point>,
}

/// `k`: the bucket's start over the width; `lo`, `hi`: its lowest and highest points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Bucket {
    k: i64,
    lo: Point,
    hi: Point,
}

impl Bucket {
    fn take(&mut self, p: Point) {
        if p.1 < self.lo.1 {
            self.lo = p;
        }
        if p.1 > self.hi.1 {
            self.hi = p;
        }
    }
}

impl Default for Series {
    fn default() -> Series {
        Series {
            width: FIRST_WIDTH,
            buckets: Vec::new(),
            first: None,
            last: None,
        }
    }
}

impl Series {
    /// One more point, normally later than the last (an earlier one joins the last bucket).
    pub fn add(&mut self, p: Point) {
        self.first.get_or_insert(p);
        self.last = Some(p);
        let k = p.0.div_euclid(self.width);
        match self.buckets.last_mut() {
            Some(b) if k <= b.k => b.take(p),
            _ => {
                self.buckets.push(Bucket { k, lo: p, hi: p });
                while self.buckets.len() > MAX_BUCKETS {
                    self.coarsen();
                }
            }
        }
    }

    /// Double the width: neighbours that now share a bucket merge (their lowest and highest).
    fn coarsen(&mut self) {
        self.width *= 2;
        let mut merged: Vec<Bucket> = Vec::with_capacity(self.buckets.len() / 2 + 1);
        for b in self.buckets.drain(..) {
            let k = b.k.div_euclid(2);
            match merged.last_mut() {
                Some(m) if m.k == k => {
                    m.take(b.lo);
                    m.take(b.hi);
                }
                _ => merged.push(Bucket { k, ..b }),
            }
        }
        self.buckets = merged;
    }

    /// The line to draw, oldest first: the first point, each bucket's lowest and highest in
    /// time order, the last point.
    pub fn points(&self) -> Vec<Point> {
        let mut out: Vec<Point> = Vec::with_capacity(2 * self.buckets.len() + 2);
        let mut push = |p: Point| {
            if out.last() != Some(&p) {
                out.push(p);
            }
        };
        self.first.into_iter().for_each(&mut push);
        for b in &self.buckets {
            let (a, c) = if b.lo.0 <= b.hi.0 {
                (b.lo, b.hi)
            } else {
                (b.hi, b.lo)
            };
            push(a);
            push(c);
        }
        self.last.into_iter().for_each(&mut push);
        out
    }

    /// The lowest point kept (the whole line's lowest: no coarsening drops it).
    pub fn lowest(&self) -> Option<Point> {
        self.buckets
            .iter()
            .map(|b| b.lo)
            .reduce(|a, b| if b.1 < a.1 { b } else { a })
    }

    /// Seconds per bucket, now.
    pub fn width(&self) -> i64 {
        self.width
    }

    /// Buckets kept.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

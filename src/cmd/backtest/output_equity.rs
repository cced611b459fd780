//! equity.csv: equity and drawdown at every timeline step from `from`; with several symbols,
//! each one's equity (forward-filled on the merged timeline) after them. Equity keeps 12
//! significant digits ([`tidy`]); the drawdown is rounded to 1e-6 percent, as it is derived.
//! Rows are built in a stack buffer and written a megabyte at a time; the main thread can
//! format a back part of them for the writer ([`EquityCsv::text_in_pieces`]).

use super::*;

/// Bytes of equity.csv built before they are handed to the writer: a million rows (50 MB)
/// go out a megabyte at a time, so the file is never held whole (each fresh page of a
/// buffer that size is a page fault: a fifth of a million-bar run's system time).
pub(in crate::cmd::backtest) const CHUNK: usize = 1 << 20;

/// An equity.csv row's room: a time (at most 40 bytes with a long year's sign and digits),
/// two [`CELL`]s, two commas and the newline.
pub(super) const ROW: usize = 128;

/// Bytes before a row in its buffer, for the first cell's copy ([`Cell::place`]).
pub(super) const HEAD: usize = 32;

/// equity.csv into `w`, [`CHUNK`] bytes at a time: every row, on this thread.
#[cfg(test)]
pub fn write_equity_csv(
    w: &mut dyn std::io::Write,
    names: &[String],
    out: &PortfolioOutcome,
    from: usize,
) -> std::io::Result<()> {
    let csv = EquityCsv { names, out, from };
    let mut all = Some(csv.steps());
    csv.write(w, || all.take())
}

/// equity.csv's rows, written in runs of timeline steps: the thread writing the file takes
/// runs from the front, and another thread can format the back ones ([`EquityCsv::text`])
/// for it to write after them.
pub struct EquityCsv<'a> {
    pub names: &'a [String],
    pub out: &'a PortfolioOutcome,
    /// The first step written (the out-of-sample start of a walk-forward).
    pub from: usize,
}

/// What a run of rows starts from: the equity's peak before it, and with several symbols
/// the next of each leg's bars and the equity it last had.
pub(super) struct Carry {
    peak: f64,
    next: Vec<usize>,
    last: Vec<f64>,
}

impl EquityCsv<'_> {
    /// The timeline steps that are rows.
    pub fn steps(&self) -> std::ops::Range<usize> {
        let n = self.out.times.len().min(self.out.equity.len());
        self.from.min(n)..n
    }

    fn multi(&self) -> bool {
        self.out.legs.len() > 1
    }

    /// The state a row loop has reached before `step` (a leg's bars reach the timeline in
    /// order, so the bars before `step` are a prefix).
    fn carry_at(&self, step: usize) -> Carry {
        let peak = self.out.equity[..step]
            .iter()
            .fold(f64::NEG_INFINITY, |p, &e| p.max(e));
        let (mut next, mut last) = (Vec::new(), Vec::new());
        if self.multi() {
            for leg in &self.out.legs {
                let k = leg.step_of_bar.partition_point(|&s| (s as usize) < step);
                next.push(k);
                last.push(if k == 0 { f64::NAN } else { leg.equity[k - 1] });
            }
        }
        Carry { peak, next, last }
    }

    /// The header, then the rows of each run `runs` hands out (in order, each starting
    /// where the one before ended, from [`EquityCsv::steps`]' start), into `w`.
    pub fn write(
        &self,
        w: &mut dyn std::io::Write,
        mut runs: impl FnMut() -> Option<std::ops::Range<usize>>,
    ) -> std::io::Result<()> {
        let mut s: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
        s.extend_from_slice(b"time_utc,equity,drawdown_pct");
        if self.multi() {
            for n in self.names {
                s.extend_from_slice(b",equity_");
                s.extend_from_slice(n.as_bytes());
            }
        }
        s.push(b'\n');
        let mut carry = None;
        while let Some(run) = runs() {
            let carry = carry.get_or_insert_with(|| self.carry_at(run.start));
            self.rows(carry, run, &mut s, CHUNK, &mut |s, _| {
                w.write_all(s)?;
                s.clear();
                Ok(())
            })?;
        }
        w.write_all(&s)
    }

    /// The rows of `steps` (after [`EquityCsv::write`]'s runs), for the thread writing the
    /// file to write after them.
    pub fn text(&self, steps: std::ops::Range<usize>) -> Vec<u8> {
        // About 44 bytes a row, and 13 to 16 more for each symbol's equity with several.
        let legs = if self.multi() { self.out.legs.len() } else { 0 };
        let mut s = Vec::with_capacity(steps.len() * (48 + 16 * legs) + ROW);
        let mut carry = self.carry_at(steps.start);
        let _ = self.rows(&mut carry, steps, &mut s, usize::MAX, &mut |_, _| Ok(()));
        s
    }

    /// [`EquityCsv::text`] of `steps` in pieces of about `bytes` (the writer's [`CHUNK`]):
    /// each goes to `send` with the step after its last row, in a buffer `spare` hands back
    /// (one the writer has written) or a new one. Stops early if `send` refuses (the writer
    /// is gone).
    pub fn text_in_pieces(
        &self,
        steps: std::ops::Range<usize>,
        bytes: usize,
        mut spare: impl FnMut() -> Option<Vec<u8>>,
        mut send: impl FnMut(usize, Vec<u8>) -> bool,
    ) {
        let mut buffer = || spare().unwrap_or_else(|| Vec::with_capacity(bytes + ROW));
        let end = steps.end;
        let mut carry = self.carry_at(steps.start);
        let mut s = buffer();
        let sent = self.rows(&mut carry, steps, &mut s, bytes, &mut |s, next| {
            let full = std::mem::replace(s, buffer());
            if send(next, full) {
                Ok(())
            } else {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
        });
        if sent.is_ok() && !s.is_empty() {
            send(end, s);
        }
    }

    /// The rows of `steps` appended to `s`, handed to `flush` (which empties it) whenever
    /// `s` reaches `chunk` bytes.
    ///
    /// Each row is assembled in a stack buffer and appended whole ([`ROW`] bytes, a
    /// fixed-size copy), then the output cut back to the row's length: pushing each piece
    /// (time, cells, newline) was a libc `memmove` call each. The cells are placed right to
    /// left (the drawdown, the equity, then the time) and stay in place while the equity
    /// and its peak do not change.
    fn rows(
        &self,
        carry: &mut Carry,
        steps: std::ops::Range<usize>,
        s: &mut Vec<u8>,
        chunk: usize,
        flush: &mut dyn FnMut(&mut Vec<u8>, usize) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let (out, multi) = (self.out, self.multi());
        let Carry { peak, next, last } = carry;
        let mut clock = FastTime::new();
        let mut row = [0u8; HEAD + ROW];
        // Where the cells in `row` start and end, and the (equity, peak) bits they are of
        // (NaN's bits, which no row's equity has, before the first).
        let (mut cells_at, mut cells_end, mut cells_of) = (0, 0, (f64::NAN.to_bits(), 0));
        for step in steps {
            let (t, e) = (out.times[step], out.equity[step]);
            *peak = peak.max(e);
            if multi {
                for (k, leg) in out.legs.iter().enumerate() {
                    while next[k] < leg.step_of_bar.len()
                        && leg.step_of_bar[next[k]] as usize <= step
                    {
                        last[k] = leg.equity[next[k]];
                        next[k] += 1;
                    }
                }
            }
            let secs = t.timestamp();
            let at = HEAD + clock.set(secs) + 1;
            // Out of the market the equity and its peak stay as they were (half the rows
            // of a million-bar SmaCross run): the cells of the row before, still in place
            // unless the time's width changed.
            if (e.to_bits(), peak.to_bits()) != cells_of || at != cells_at {
                cells_of = (e.to_bits(), peak.to_bits());
                cells_at = at;
                let dd = ((e / *peak - 1.0) * 100.0 * 1e6).round() / 1e6;
                let (equity, dd) = (Cell::of(e), Cell::of(if dd == 0.0 { 0.0 } else { dd }));
                let dd_at = at + equity.len() + 1;
                dd.place(&mut row, dd_at);
                equity.place(&mut row, at);
                row[dd_at - 1] = b',';
                cells_end = dd_at + dd.len();
                row[cells_end] = b'\n';
            }
            clock.put(&mut row, HEAD, secs);
            row[at - 1] = b',';
            if multi {
                s.extend_from_slice(&row[HEAD..cells_end]);
                for &v in last.iter() {
                    s.push(b',');
                    push_f64(s, v);
                }
                s.push(b'\n');
            } else {
                let len = s.len();
                s.extend_from_slice(&row[HEAD..]);
                s.truncate(len + cells_end + 1 - HEAD);
            }
            if s.len() >= chunk {
                flush(s, step + 1)?;
            }
        }
        Ok(())
    }
}

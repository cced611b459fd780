//! The text of `backtest`'s output files: trades.csv, equity.csv, metrics.json, sweep.csv
//! and walk_forward.csv. Pure string building (the command writes them through `out_dir`),
//! so each format is unit-tested without a disk.

use crate::backtest::metrics::Metrics;
use crate::backtest::params;
use crate::backtest::portfolio::PortfolioOutcome;
use crate::backtest::sweep::Sweep;
use crate::backtest::walk_forward::WalkForward;
use crate::domain::Bar;
use crate::store::fast_text::{pair, Scaled};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

/// `YYYY-MM-DD HH:MM:SS`, the bar cache's time format.
pub fn time_cell(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Writes `YYYY-MM-DD HH:MM:SS` for UTC seconds without chrono's formatter: equity.csv of a
/// million minute bars is a million of these. The date part is computed once per day.
struct FastTime {
    day: i64,
    /// The day's `YYYY-MM-DD ` (chrono's text, longer for years past 9999) and its length.
    date: [u8; 32],
    date_len: usize,
}

impl FastTime {
    fn new() -> FastTime {
        FastTime {
            day: i64::MIN,
            date: [0; 32],
            date_len: 0,
        }
    }

    /// Brings the cached date to the day of `secs`; the length of its time (19 bytes but
    /// for years past 9999).
    fn set(&mut self, secs: i64) -> usize {
        let day = secs.div_euclid(86_400);
        if day != self.day || self.date_len == 0 {
            self.day = day;
            let date = DateTime::<Utc>::from_timestamp(day * 86_400, 0)
                .unwrap_or_default()
                .format("%Y-%m-%d ")
                .to_string();
            self.date_len = date.len().min(32);
            self.date[..self.date_len].copy_from_slice(&date.as_bytes()[..self.date_len]);
        }
        self.date_len + 8
    }

    /// The time at `row[at..]` (which has 40 bytes), returning where it ends; nothing
    /// after it is touched.
    fn put(&mut self, row: &mut [u8], at: usize, secs: i64) -> usize {
        self.set(secs);
        // Exactly the date's bytes, a fixed-size copy for the usual four-digit year.
        if self.date_len == 11 {
            row[at..at + 11].copy_from_slice(&self.date[..11]);
        } else {
            row[at..at + self.date_len].copy_from_slice(&self.date[..self.date_len]);
        }
        let at = at + self.date_len;
        let rest = secs.rem_euclid(86_400) as usize;
        // Each field's two digits from the table, one two-byte store each.
        row[at..at + 2].copy_from_slice(pair(rest / 3600));
        row[at + 2] = b':';
        row[at + 3..at + 5].copy_from_slice(pair(rest / 60 % 60));
        row[at + 5] = b':';
        row[at + 6..at + 8].copy_from_slice(pair(rest % 60));
        at + 8
    }

    fn write(&mut self, out: &mut String, secs: i64) {
        let mut row = [0u8; 40];
        let end = self.put(&mut row, 0, secs);
        out.push_str(std::str::from_utf8(&row[..end]).unwrap_or_default());
    }
}

/// Significant digits a CSV number keeps. Sums of fills and commissions carry binary noise
/// in the last of a double's 15-17 digits (`6160.469999999999`, which a spreadsheet shows as
/// is); 12 keep every real digit of a price, a share count or an account's equity to a
/// thousandth of a cent below $10M, and drop the noise.
const DIGITS: i32 = 12;

/// `v` rounded to [`DIGITS`] significant digits: the nearest double to a short decimal,
/// which the shortest round-trip form then prints as that decimal.
fn tidy(v: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    let e = DIGITS - 1 - v.abs().log10().floor() as i32;
    let r = if e >= 0 {
        let p = 10f64.powi(e.min(300));
        (v * p).round() / p
    } else {
        let p = 10f64.powi(-e);
        (v / p).round() * p
    };
    if r.is_finite() {
        r
    } else {
        v
    }
}

/// [`tidy`]`(v)` as `(negative, m, k)`, its value `±m · 10^-k` with no trailing zero in `m`
/// past the point, when that is sure without a logarithm: for `1e-3 <= |v| < 1e11` (every
/// account's equity, most drawdowns and prices) not within 1e-12 of a power of ten, whose
/// decade `d` the table below settles as `log10(|v|).floor()` does. Then `tidy` is
/// `round(v · 10^e) / 10^e` with `e = 11 − d` in `1..=14`, both exact doubles, and the
/// decimal `m · 10^-k` has at most 13 significant digits: no other decimal that short reads
/// back as the same double, so it is the shortest round-trip text of `tidy(v)`, which
/// serde_json and `Display` print. equity.csv writes two million of these for a million bars;
/// the logarithm and the general printer were most of its time.
fn tidy_decimal(v: f64) -> Option<(bool, u64, usize)> {
    const DECADES: [f64; 15] = [
        1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    ];
    const POW10: [f64; 15] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
    ];
    const CLEAR: f64 = 1e-12;
    let a = v.abs();
    // NaN is in no range.
    if !(DECADES[0]..DECADES[14]).contains(&a) {
        return None;
    }
    // The decade from the binary exponent (floor(e2 · log10 2) by 1233/4096, exact over this
    // range), then one comparison: a is in [2^e2, 2^(e2+1)).
    let e2 = (a.to_bits() >> 52) as i32 - 1023;
    let mut i = (((e2 * 1233) >> 12) + 3).clamp(0, 13) as usize;
    if a >= DECADES[i + 1] {
        i += 1;
    }
    if a < DECADES[i] * (1.0 + CLEAR) || a > DECADES[i + 1] * (1.0 - CLEAR) {
        return None;
    }
    // d = i − 3, e = 11 − d. `a · 10^k` is below 2^52, so adding ½ is exact and truncating
    // it rounds half up: `f64::round` on a positive value, without the library call.
    let mut k = 14 - i;
    let mut m = (a * POW10[k] + 0.5) as u64;
    while k > 0 && m % 10 == 0 {
        m /= 10;
        k -= 1;
    }
    Some((v < 0.0, m, k))
}

/// A float for CSV: [`tidy`], shortest round-trip form, empty for NaN.
fn num(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{}", tidy(v));
    }
}

/// [`num`] as a value for `format!` (the tests' reference).
#[cfg(test)]
fn cell(v: f64) -> String {
    let mut s = String::new();
    num(&mut s, v);
    s
}

/// [`num`] without `Display`'s float formatting (a long minute run has tens of thousands of
/// trades, seven floats each): the same shortest round-trip digits from serde_json, whose
/// form differs from `Display`'s only by a trailing `.0` on whole numbers (dropped here) and
/// by exponents (then `Display` writes the cell).
fn push_cell(out: &mut String, scratch: &mut Vec<u8>, v: f64) {
    if let Some((negative, m, k)) = tidy_decimal(v) {
        if negative {
            out.push('-');
        }
        out.push_str(Scaled::new(m, k).as_str());
        return;
    }
    // A commission-free run's commission cell, every trade: `Display`'s `0` and `-0`.
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    if !v.is_finite() {
        return;
    }
    let v = tidy(v);
    scratch.clear();
    let _ = serde_json::to_writer(&mut *scratch, &v);
    let text = std::str::from_utf8(scratch).unwrap_or("e");
    if text.contains(['e', 'E']) {
        let _ = write!(out, "{v}");
    } else {
        out.push_str(text.strip_suffix(".0").unwrap_or(text));
    }
}

/// Every closed trade of every symbol, then the trades still open, oldest entry first within
/// each symbol. Built by pushing cells ([`push_cell`], [`FastTime`]), byte for byte the
/// `format!` of [`num`] and [`time_cell`].
pub fn trades_csv(names: &[String], bars: &[&[Bar]], out: &PortfolioOutcome) -> String {
    let mut s = String::from(
        "symbol,status,direction,size,entry_time,entry_price,exit_time,exit_price,pnl,return_pct,commission,entry_bar,exit_bar\n",
    );
    let mut clock = FastTime::new();
    let mut scratch = Vec::with_capacity(32);
    for ((name, leg), bars) in names.iter().zip(&out.legs).zip(bars) {
        // symbol, status, direction, size, entry_time, entry_price: alike for both kinds.
        let head = |s: &mut String,
                    (clock, scratch): (&mut FastTime, &mut Vec<u8>),
                    status: &str,
                    size: f64,
                    (entry, price): (DateTime<Utc>, f64)| {
            s.push_str(name);
            s.push(',');
            s.push_str(status);
            s.push_str(if size > 0.0 { ",long," } else { ",short," });
            push_cell(s, scratch, size.abs());
            s.push(',');
            clock.write(s, entry.timestamp());
            s.push(',');
            push_cell(s, scratch, price);
        };
        for t in &leg.trades {
            let cells = (&mut clock, &mut scratch);
            head(
                &mut s,
                cells,
                "closed",
                t.size,
                (t.entry_time, t.entry_price),
            );
            s.push(',');
            clock.write(&mut s, t.exit_time.timestamp());
            for v in [t.exit_price, t.pnl, t.return_pct * 100.0, t.commission] {
                s.push(',');
                push_cell(&mut s, &mut scratch, v);
            }
            for bar in [t.entry_bar, t.exit_bar] {
                s.push(',');
                s.push_str(Scaled::new(bar as u64, 0).as_str());
            }
            s.push('\n');
        }
        if let Some(t) = leg.open_trade {
            let last = bars.last().map_or(f64::NAN, |b| b.close);
            let cells = (&mut clock, &mut scratch);
            head(&mut s, cells, "open", t.size, (t.entry_time, t.entry_price));
            s.push_str(",,");
            for v in [
                last,
                t.unrealized_pnl - t.entry_commission,
                (1f64.copysign(t.size) * (last / t.entry_price - 1.0)) * 100.0,
                t.entry_commission,
            ] {
                push_cell(&mut s, &mut scratch, v);
                s.push(',');
            }
            let _ = writeln!(s, "{},", t.entry_bar);
        }
    }
    s
}

/// [`tidy`]`(v)` in serde_json's shortest round-trip form (`.0` on a whole number; through
/// [`tidy_decimal`] when it can, else serde_json itself); nothing for NaN.
fn push_f64(out: &mut Vec<u8>, v: f64) {
    let cell = Cell::of(v);
    let mut row = [0u8; 32 + CELL];
    cell.place(&mut row, 32);
    out.extend_from_slice(&row[32..32 + cell.len()]);
}

/// Room for a [`Cell`], with some to spare: a sign, [`tidy_decimal`]'s digits and point (16
/// bytes at most, as in `0.00123456789012`) and `.0`, or serde_json's longest double
/// (`-2.2250738585072014e-308`, 24 bytes).
const CELL: usize = 40;

/// [`push_f64`]'s text of a number, sized before it is placed in a row.
enum Cell {
    /// [`tidy_decimal`]'s digits: a sign, `m · 10^-k` and `.0` when `k` is 0.
    Digits {
        negative: bool,
        text: Scaled,
        whole: bool,
    },
    /// serde_json's text (empty for NaN).
    Text([u8; CELL], usize),
}

impl Cell {
    fn of(v: f64) -> Cell {
        let digits = |negative, (m, k)| Cell::Digits {
            negative,
            text: Scaled::new(m, k),
            whole: k == 0,
        };
        if let Some((negative, m, k)) = tidy_decimal(v) {
            return digits(negative, (m, k));
        }
        // An even drawdown, the cell of every row at a new peak; serde_json's `0.0`.
        if v == 0.0 && v.is_sign_positive() {
            return digits(false, (0, 0));
        }
        let mut text = [0u8; CELL];
        let mut rest = &mut text[..];
        if v.is_finite() {
            let _ = serde_json::to_writer(&mut rest, &tidy(v));
        }
        let len = CELL - rest.len();
        Cell::Text(text, len)
    }

    fn len(&self) -> usize {
        match self {
            Cell::Digits {
                negative,
                text,
                whole,
            } => usize::from(*negative) + text.len() + 2 * usize::from(*whole),
            Cell::Text(_, len) => *len,
        }
    }

    /// The text at `row[at..at + len]`. The digits go with one fixed-size copy that ends
    /// where they end ([`Scaled::padded`]): up to 32 bytes before `at` are overwritten, so
    /// a row is placed right to left.
    fn place(&self, row: &mut [u8], at: usize) {
        match self {
            Cell::Digits {
                negative,
                text,
                whole,
            } => {
                let end = at + usize::from(*negative) + text.len();
                row[end - 32..end].copy_from_slice(text.padded());
                if *negative {
                    row[at] = b'-';
                }
                if *whole {
                    row[end..end + 2].copy_from_slice(b".0");
                }
            }
            Cell::Text(text, len) => row[at..at + len].copy_from_slice(&text[..*len]),
        }
    }
}

/// equity.csv: equity and drawdown at every timeline step from `from`; with several symbols, each one's
/// equity (forward-filled on the merged timeline) after them. Equity keeps 12 significant
/// digits ([`tidy`]); the drawdown is rounded to 1e-6 percent, as it is derived.
/// Bytes of equity.csv built before they are handed to the writer: a million rows (50 MB)
/// go out a megabyte at a time, so the file is never held whole (each fresh page of a
/// buffer that size is a page fault: a fifth of a million-bar run's system time).
pub(super) const CHUNK: usize = 1 << 20;

/// An equity.csv row's room: a time (at most 40 bytes with a long year's sign and digits),
/// two [`CELL`]s, two commas and the newline.
const ROW: usize = 128;

/// Bytes before a row in its buffer, for the first cell's copy ([`Cell::place`]).
const HEAD: usize = 32;

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
struct Carry {
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

fn days(d: Option<Duration>) -> Value {
    d.and_then(|d| d.num_nanoseconds())
        .map_or(Value::Null, |ns| json!(ns as f64 / 86_400e9))
}

fn n(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

/// Every metric under backtesting.py's label; durations in days, NaN as null.
pub fn metrics_json(m: &Metrics) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Value| {
        o.insert(k.to_string(), v);
    };
    put("Start", json!(time_cell(m.start)));
    put("End", json!(time_cell(m.end)));
    put("Duration", days(Some(m.duration)));
    put("Exposure Time [%]", n(m.exposure_time_pct));
    put("Equity Final [$]", n(m.equity_final));
    put("Equity Peak [$]", n(m.equity_peak));
    put("Commissions [$]", n(m.commissions));
    put("Return [%]", n(m.return_pct));
    put("Buy & Hold Return [%]", n(m.buy_hold_return_pct));
    put("Return (Ann.) [%]", n(m.return_ann_pct));
    put("Volatility (Ann.) [%]", n(m.volatility_ann_pct));
    put("CAGR [%]", n(m.cagr_pct));
    put("Sharpe Ratio", n(m.sharpe_ratio));
    put("Sortino Ratio", n(m.sortino_ratio));
    put("Calmar Ratio", n(m.calmar_ratio));
    put("Alpha [%]", n(m.alpha_pct));
    put("Beta", n(m.beta));
    put("Max. Drawdown [%]", n(m.max_drawdown_pct));
    put("Avg. Drawdown [%]", n(m.avg_drawdown_pct));
    put("Max. Drawdown Duration", days(m.max_drawdown_duration));
    put("Avg. Drawdown Duration", days(m.avg_drawdown_duration));
    put("# Trades", json!(m.trades));
    put("Win Rate [%]", n(m.win_rate_pct));
    put("Best Trade [%]", n(m.best_trade_pct));
    put("Worst Trade [%]", n(m.worst_trade_pct));
    put("Avg. Trade [%]", n(m.avg_trade_pct));
    put("Max. Trade Duration", days(m.max_trade_duration));
    put("Avg. Trade Duration", days(m.avg_trade_duration));
    put("Profit Factor", n(m.profit_factor));
    put("Expectancy [%]", n(m.expectancy_pct));
    put("SQN", n(m.sqn));
    put("Kelly Criterion", n(m.kelly_criterion));
    put("periods_per_year", n(m.periods_per_year));
    Value::Object(o)
}

/// A strategy as `{kind, params...}`.
pub fn strategy_json(s: &crate::strategy::Strategy) -> Value {
    let mut o = Map::new();
    o.insert("kind".into(), json!(params::kind_of(s)));
    for (k, v) in params::params_of(s) {
        o.insert(
            k.into(),
            if k == "allow_short" {
                json!(v != 0.0)
            } else {
                json!(v)
            },
        );
    }
    Value::Object(o)
}

/// sweep.csv: one row per valid combination, best first.
pub fn sweep_csv(sweep: &Sweep) -> String {
    let mut s = String::from("rank,");
    for a in &sweep.axes {
        let _ = write!(s, "{},", a.name);
    }
    let _ = writeln!(
        s,
        "score ({}),trades,return_pct,sharpe,max_drawdown_pct,win_rate_pct,equity_final,sqn",
        sweep.rank.label
    );
    for (i, row) in sweep.rows.iter().enumerate() {
        let _ = write!(s, "{},", i + 1);
        for v in &row.values {
            let _ = write!(s, "{},", params::format_value(*v));
        }
        num(&mut s, row.score);
        if let Some(m) = &row.metrics {
            let _ = write!(s, ",{},", m.trades);
            for v in [
                m.return_pct,
                m.sharpe_ratio,
                m.max_drawdown_pct,
                m.win_rate_pct,
                m.equity_final,
            ] {
                num(&mut s, v);
                s.push(',');
            }
            num(&mut s, m.sqn);
        } else {
            s.push_str(",0,,,,,,");
        }
        s.push('\n');
    }
    s
}

/// walk_forward.csv: one row per window.
pub fn walk_forward_csv(wf: &WalkForward, axes: &[String]) -> String {
    let mut s = String::from("window,train_start,train_end,test_start,test_end,");
    for a in axes {
        let _ = write!(s, "{a},");
    }
    s.push_str("in_sample_score,out_of_sample_score,out_of_sample_return_pct\n");
    let t = |i: usize| time_cell(wf.outcome.times[i]);
    for (k, w) in wf.windows.iter().enumerate() {
        let (tr, te) = (&w.window.train, &w.window.test);
        let _ = write!(
            s,
            "{},{},{},{},{},",
            k + 1,
            t(tr.start),
            t(tr.end - 1),
            t(te.start),
            t(te.end - 1)
        );
        for i in 0..axes.len() {
            if let Some(v) = w.chosen.as_ref().and_then(|c| c.get(i)) {
                s.push_str(&params::format_value(*v));
            }
            s.push(',');
        }
        for v in [w.in_sample_score, w.out_of_sample_score] {
            num(&mut s, v);
            s.push(',');
        }
        num(&mut s, w.out_of_sample_return_pct);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
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
        let bars: Vec<Bar> = (0..70_000)
            .map(|i| {
                let c = 100.0 + (i / 3 % 400) as f64 / 4.0;
                Bar {
                    time: t0 + Duration::minutes(i),
                    open: c,
                    high: c,
                    low: c,
                    close: c,
                    volume: 1.0,
                    trades: 1,
                    vwap: f64::NAN,
                }
            })
            .collect();
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
        (0..n)
            .map(|i| {
                let c = 100.0 + (i / 3 % 400) as f64 / 4.0 - (i % 7) as f64 / 8.0;
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
        let m =
            crate::backtest::metrics::compute(&times, &[1.0, 1.0, 1.0], &[5.0; 3], &[], 0).unwrap();
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
}

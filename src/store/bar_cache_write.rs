//! The bar cache's rows as text, and a big file's rows formatted on two threads and written
//! in order a piece at a time, so that a million-row replace (an import) never holds its
//! 88 MB of text: the two 44 MB halves it used to build were a third of an import's memory,
//! every page of them a fresh fault.

use super::HEADER;
use crate::domain::Bar;
use std::io::{self, Write};
use std::sync::mpsc;

/// Bars formatted and written at a time (about 0.7 MB of text).
const PIECE: usize = 8192;

/// `header` (and a line break, if any header) and a row per bar.
pub(super) fn rows_text(bars: &[Bar], header: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(bars.len() * 80 + header.len() + 1);
    if !header.is_empty() {
        out.extend_from_slice(header.as_bytes());
        out.push(b'\n');
    }
    for b in bars {
        write_row(&mut out, b);
    }
    out
}

/// A bar's row, line break included (ASCII).
pub(super) fn write_row(out: &mut Vec<u8>, b: &Bar) {
    use super::super::fast_text::{push_f64, push_time, push_u64};
    push_time(out, b.time);
    for v in [b.open, b.high, b.low, b.close, b.volume] {
        out.push(b',');
        push_f64(out, v);
    }
    out.push(b',');
    push_u64(out, u64::from(b.trades));
    out.push(b',');
    if b.vwap.is_finite() {
        push_f64(out, b.vwap);
    }
    out.push(b'\n');
}

/// The header and every bar's row to `out` (the parts' bars one after the other), the same
/// bytes as [`rows_text`] with [`HEADER`], in pieces of up to [`PIECE`] bars: this thread formats the even pieces and writes
/// every piece in order, a helper formats the odd ones into a few buffers it gets back
/// (a channel of one holds it at most one piece ahead).
pub(super) fn write_rows(out: &mut impl Write, parts: &[&[Bar]]) -> io::Result<()> {
    let pieces = || parts.iter().flat_map(|bars| bars.chunks(PIECE));
    out.write_all(HEADER.as_bytes())?;
    out.write_all(b"\n")?;
    let capacity = PIECE * 100;
    std::thread::scope(|scope| {
        let (full, formatted) = mpsc::sync_channel::<Vec<u8>>(1);
        let (done, empty) = mpsc::channel::<Vec<u8>>();
        scope.spawn(move || {
            for piece in pieces().skip(1).step_by(2) {
                let mut buf = empty
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(capacity));
                buf.clear();
                piece.iter().for_each(|b| write_row(&mut buf, b));
                if full.send(buf).is_err() {
                    // The writer stopped (a write failed): nothing more is wanted.
                    return;
                }
            }
        });
        let mut own = Vec::with_capacity(capacity);
        for (i, piece) in pieces().enumerate() {
            if i % 2 == 0 {
                own.clear();
                piece.iter().for_each(|b| write_row(&mut own, b));
                out.write_all(&own)?;
            } else {
                // Only a panicking helper hangs up first; the scope passes its panic on.
                let Ok(buf) = formatted.recv() else {
                    return Err(io::Error::other("the row formatter stopped"));
                };
                out.write_all(&buf)?;
                let _ = done.send(buf);
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    /// A writer that takes `left` bytes, then fails as a full disk does.
    struct FullAfter {
        left: usize,
    }

    impl Write for FullAfter {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if b.len() > self.left {
                return Err(io::Error::other("no space left"));
            }
            self.left -= b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Pieces formatted on two threads come out in order, the bytes of one text (an odd
    /// number of pieces, the last one short); a write that fails midway is the error, the
    /// helper thread stops instead of waiting forever.
    #[test]
    fn rows_written_in_pieces_are_the_one_text_and_a_failed_write_stops_both_threads() {
        let start = Utc.with_ymd_and_hms(2024, 1, 2, 14, 30, 0).unwrap();
        let bars: Vec<Bar> = (0..PIECE * 4 + 17)
            .map(|i| {
                let p = 100.0 + (i % 977) as f64 / 100.0;
                Bar {
                    time: start + chrono::Duration::minutes(i as i64),
                    open: p,
                    high: p + 1.0,
                    low: p - 1.0,
                    close: p + 0.25,
                    volume: (i % 13) as f64,
                    trades: i as u32,
                    vwap: if i % 3 == 0 { f64::NAN } else { p + 0.125 },
                }
            })
            .collect();
        let mut out = Vec::new();
        write_rows(&mut out, &[&bars]).unwrap();
        assert_eq!(out, rows_text(&bars, HEADER));
        // In parts, one of them empty: the same bytes.
        let (a, b) = bars.split_at(PIECE + 5);
        let mut parts = Vec::new();
        write_rows(&mut parts, &[a, &[], b]).unwrap();
        assert_eq!(parts, out);
        for left in [0, 10, out.len() / 3, out.len() - 1] {
            let e = write_rows(&mut FullAfter { left }, &[&bars]).unwrap_err();
            assert_eq!(e.to_string(), "no space left");
        }
    }
}

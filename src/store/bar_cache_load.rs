//! Loading a big cache file on two threads into one vector, each thread writing its own rows
//! in place.
//!
//! Two threads parsing into two vectors must then copy the second behind the first: for a
//! million minute bars that was 36 MB copied into fresh pages (each a page fault), then
//! unmapped, 20 ms of one core while the other waited, a tenth of the backtest. Here the
//! vector's spare room is shared out instead. The second thread counts the rows before the
//! cut (a read and a byte count, far cheaper than parsing them), tells the first, and gets
//! the room past them; each thread writes its rows where they will stay. This is the crate's
//! one `unsafe` operation: the vector's length is set once both threads have written every
//! row below it, which [`Share`] counts.

use super::parse::{check_header, parse_rows_into, DateCache, Rows};
use super::*;
use crate::store::files;
use std::mem::MaybeUninit;
use std::ops::ControlFlow;
use std::sync::mpsc;

/// The percentage of a big file's bytes parsed on the calling thread: the other thread first
/// counts the rows in them (about a tenth of the cost of parsing them), so it takes fewer.
const FIRST_SHARE_PERCENT: u64 = 55;

/// No row is shorter: a 19-byte time, five numbers, seven commas and a line break. Room for
/// the file's length over this is room for every row it can hold (only pages written are
/// ever touched).
const SHORTEST_ROW: usize = 32;

/// The rows of a big, well-formed file, parsed on two threads (see the module docs). Each
/// thread reads its part a megabyte at a time into one reused buffer and parses it as it
/// comes. `None` if anything is wrong (I/O, a bad or empty row, disorder): the caller then
/// takes the plain path, which reports the problem with its line number.
pub(super) fn load_in_two(path: &Path, mut file: File) -> Option<Vec<Bar>> {
    let len = file.metadata().ok()?.len();
    let cut = line_start_after(&mut file, len * FIRST_SHARE_PERCENT / 100)?;
    let mut bars: Vec<Bar> = Vec::with_capacity(len as usize / SHORTEST_ROW + 1);
    let (first, second) = std::thread::scope(|scope| {
        let (count_tx, count_rx) = mpsc::sync_channel(1);
        let (room_tx, room_rx) = mpsc::sync_channel(1);
        let second = scope.spawn(move || {
            count_tx.send(rows_before(path, cut)?).ok()?;
            let mut rows = Share::new(room_rx.recv().ok()?);
            let mut file = File::open(path).ok()?;
            parse_range(path, &mut file, (cut, len), false, &mut rows, |_| {})?;
            Some(rows.filled())
        });
        // The first part's rows from the start of the room; the room past them goes to the
        // second thread as soon as it has counted them (checked between reads).
        let mut rows = Share::new(bars.spare_capacity_mut());
        let mut handover = Handover {
            count: Some(count_rx),
            room: room_tx,
        };
        let parsed = parse_range(path, &mut file, (0, cut), true, &mut rows, |rows| {
            handover.offer(rows, false)
        });
        if parsed.is_some() {
            handover.offer(&mut rows, true);
        }
        // A failed first part sends no room: the second thread stops instead of parsing.
        drop(handover);
        let first = parsed.map(|()| rows.filled());
        let second = second.join().ok().flatten();
        (first, second)
    });
    let (first, second) = (first?, second?);
    if !first.whole || first.last.zip(second.first).is_some_and(|(a, b)| b <= a) {
        return None;
    }
    let len = first.count + second.count;
    // SAFETY: the first thread wrote slots 0..first.count of the spare room, every slot of
    // its share (`whole`), and its share ended there; the second thread's share began there
    // and it wrote its first `second.count` slots. So every element below `len` is
    // initialized, and `len` is within the capacity the shares were cut from. `Bar` is
    // `Copy`: nothing is dropped twice or leaked.
    #[allow(unsafe_code)]
    unsafe {
        bars.set_len(len)
    };
    Some(bars)
}

/// The first thread's side of the hand-over: the second thread's count of the first part's
/// rows comes in, the room past them goes out.
struct Handover<'a> {
    count: Option<mpsc::Receiver<usize>>,
    room: mpsc::SyncSender<&'a mut [MaybeUninit<Bar>]>,
}

impl<'a> Handover<'a> {
    /// Once the count is in (waiting for it if `wait`), keep that many slots of `rows` and
    /// send the rest. Nothing is sent if the count never comes (the second thread failed) or
    /// does not fit; the second thread then gets none and fails too.
    fn offer(&mut self, rows: &mut Share<'a>, wait: bool) {
        let n = match &self.count {
            Some(rx) if wait => rx.recv().ok(),
            Some(rx) => rx.try_recv().ok(),
            None => return,
        };
        if let Some(n) = n {
            self.count = None;
            if let Some(room) = rows.split_off(n) {
                let _ = self.room.send(room);
            }
        }
        if wait {
            // Failed or not, the second thread must not wait for a room any longer.
            self.count = None;
        }
    }
}

/// A share of a vector's spare room, filled from its start by one thread.
struct Share<'a> {
    room: &'a mut [MaybeUninit<Bar>],
    count: usize,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

/// What a thread wrote into its [`Share`].
struct Filled {
    count: usize,
    /// Every slot of the share was written.
    whole: bool,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

impl<'a> Share<'a> {
    fn new(room: &'a mut [MaybeUninit<Bar>]) -> Share<'a> {
        Share {
            room,
            count: 0,
            first: None,
            last: None,
        }
    }

    /// Keep the first `n` slots and give away the rest; `None` (nothing given) if more than
    /// `n` rows are already written or there is no room for `n`.
    fn split_off(&mut self, n: usize) -> Option<&'a mut [MaybeUninit<Bar>]> {
        if n < self.count || n > self.room.len() {
            return None;
        }
        let (mine, theirs) = std::mem::take(&mut self.room).split_at_mut(n);
        self.room = mine;
        Some(theirs)
    }

    fn filled(&self) -> Filled {
        Filled {
            count: self.count,
            whole: self.count == self.room.len(),
            first: self.first,
            last: self.last,
        }
    }
}

impl Rows for Share<'_> {
    fn last_time(&self) -> Option<DateTime<Utc>> {
        self.last
    }

    fn push(&mut self, bar: Bar) -> bool {
        let Some(slot) = self.room.get_mut(self.count) else {
            return false;
        };
        slot.write(bar);
        self.count += 1;
        self.first.get_or_insert(bar.time);
        self.last = Some(bar.time);
        true
    }
}

/// The offset just past the first line break at or after `at` (rows are far shorter than
/// the 4 KiB looked at).
fn line_start_after(file: &mut File, at: u64) -> Option<u64> {
    file.seek(SeekFrom::Start(at)).ok()?;
    let mut probe = Vec::with_capacity(4096);
    Read::by_ref(file).take(4096).read_to_end(&mut probe).ok()?;
    let i = probe.iter().position(|&b| b == b'\n')?;
    Some(at + i as u64 + 1)
}

/// The rows before `cut` (a line start): its line breaks, less the header's.
fn rows_before(path: &Path, cut: u64) -> Option<usize> {
    let mut file = File::open(path).ok()?;
    // Small enough to stay in the core's cache between the read and the count.
    let mut buf = vec![0u8; 256 << 10];
    let (mut left, mut breaks) = (cut, 0usize);
    while left > 0 {
        let want = buf.len().min(left as usize);
        let got = file.read(&mut buf[..want]).ok()?;
        if got == 0 {
            return None;
        }
        breaks += memchr::memchr_iter(b'\n', &buf[..got]).count();
        left -= got as u64;
    }
    breaks.checked_sub(1)
}

/// The rows of the bytes `from..to` of `file` (the header first when `header`), read a
/// megabyte at a time, each read's whole lines parsed before the next read
/// ([`files::each_line_chunk`]) into `rows`, and `between` called after each read; `None`
/// on any problem (see [`load_in_two`]).
fn parse_range<R: Rows>(
    path: &Path,
    file: &mut File,
    range: (u64, u64),
    header: bool,
    rows: &mut R,
    mut between: impl FnMut(&mut R),
) -> Option<()> {
    let mut dates = DateCache::default();
    let mut header = header;
    let flow = files::each_line_chunk(file, range, |text| {
        let body = if std::mem::take(&mut header) {
            match check_header(path, text, 1) {
                Ok(body) => body,
                Err(_) => return ControlFlow::Break(()),
            }
        } else {
            text
        };
        match parse_rows_into(path, body, None, rows, &mut dates) {
            Ok(()) => {
                between(rows);
                ControlFlow::Continue(())
            }
            Err(_) => ControlFlow::Break(()),
        }
    })
    .ok()?;
    flow.is_continue().then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A cache text of `n` minute bars whose prices wander over a few decades, so that rows
    /// have different lengths (the count, not a length estimate, places the second part).
    fn bars(n: i64) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let c = 10.0 + (i % 9_973) as f64 * 0.37 + (i / 7) as f64 * 0.001;
                Bar {
                    time: Utc.timestamp_opt(1_764_000_000 + 60 * i, 0).unwrap(),
                    open: c,
                    high: c + 0.5,
                    low: c - 0.25,
                    close: c + 0.125,
                    volume: (i % 1_000) as f64,
                    trades: (i % 50) as u32,
                    vwap: if i % 3 == 0 { f64::NAN } else { c + 0.1 },
                }
            })
            .collect()
    }

    fn text_of(bars: &[Bar], line_end: &str) -> String {
        let mut text = format!("{HEADER}{line_end}");
        for b in bars {
            let mut row = Vec::new();
            super::super::write::write_row(&mut row, b);
            let row = std::str::from_utf8(&row).unwrap();
            text.push_str(row.strip_suffix('\n').unwrap());
            text.push_str(line_end);
        }
        text
    }

    fn load_file(text: &str) -> (Option<Vec<Bar>>, tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("SYN-1Min.csv");
        std::fs::write(&path, text).unwrap();
        assert!(text.len() >= PARALLEL_BYTES, "big enough for two threads");
        let loaded = load_in_two(&path, File::open(&path).unwrap());
        (loaded, dir, path)
    }

    fn same(a: &[Bar], b: &[Bar]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.time == y.time
                    && [x.open, x.high, x.low, x.close, x.volume, x.vwap]
                        .iter()
                        .zip([y.open, y.high, y.low, y.close, y.volume, y.vwap])
                        .all(|(p, q)| p.to_bits() == q.to_bits())
                    && x.trades == y.trades
            })
    }

    #[test]
    fn both_threads_write_every_row_in_place_with_lf_or_crlf() {
        let want = bars(70_000);
        for end in ["\n", "\r\n"] {
            let (loaded, _dir, _) = load_file(&text_of(&want, end));
            let got = loaded.expect("the in-place path takes a well-formed file");
            assert!(same(&got, &want), "line end {end:?}");
        }
        // The last row without its line break is still a row.
        let mut text = text_of(&want, "\n");
        text.pop();
        let got = load_file(&text).0.expect("in place");
        assert!(same(&got, &want));
    }

    #[test]
    fn a_blank_line_bad_row_or_disorder_leaves_it_to_the_plain_path() {
        let want = bars(70_000);
        let text = text_of(&want, "\n");
        let lines: Vec<&str> = text.lines().collect();
        let at = text.len() * FIRST_SHARE_PERCENT as usize / 100;
        let cut = at + text[at..].find('\n').unwrap() + 1;
        // The lines just before and after the cut are `seam` and `seam + 1`.
        let seam = text[..cut].matches('\n').count() - 1;
        let edit = |f: &dyn Fn(&mut Vec<String>)| {
            let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            f(&mut l);
            l.join("\n") + "\n"
        };
        let blank_first = edit(&|l| l.insert(1_000, String::new()));
        let blank_second = edit(&|l| l.insert(60_000, String::new()));
        let bad_first = edit(&|l| l[10] = l[10].replacen(',', ",x", 1));
        let bad_second = edit(&|l| l[69_000] = l[69_000].replacen(',', ",x", 1));
        let disorder_at_the_cut = edit(&|l| l.swap(seam, seam + 1));
        for (name, text) in [
            ("blank line in the first part", &blank_first),
            ("bad row in the first part", &bad_first),
            ("bad row in the second part", &bad_second),
            ("disorder across the cut", &disorder_at_the_cut),
        ] {
            assert!(load_file(text).0.is_none(), "{name}");
        }
        // A blank line after the cut is the second part's business: it skips it as the
        // plain path does.
        let got = load_file(&blank_second).0.expect("in place");
        assert!(same(&got, &want));
        // What the plain path then makes of them: the rows, or the line of the problem.
        let dir = tempfile::tempdir().unwrap();
        let cache = BarCache::new(dir.path());
        let file = cache.path("SYN", Timeframe::Min1);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &blank_first).unwrap();
        assert!(same(&cache.load("SYN", Timeframe::Min1).unwrap(), &want));
        std::fs::write(&file, &disorder_at_the_cut).unwrap();
        let e = cache.load("SYN", Timeframe::Min1).unwrap_err().to_string();
        assert!(e.contains(&format!("line {}", seam + 2)), "{e}");
        std::fs::write(&file, &bad_second).unwrap();
        let e = cache.load("SYN", Timeframe::Min1).unwrap_err().to_string();
        assert!(e.contains("line 69001"), "{e}");
    }

    #[test]
    fn a_share_gives_away_only_room_it_has_not_written() {
        let mut room = vec![MaybeUninit::<Bar>::uninit(); 4];
        let mut share = Share::new(&mut room);
        let b = bars(3);
        assert!(share.push(b[0]) && share.push(b[1]));
        assert!(share.split_off(1).is_none(), "two rows already written");
        assert!(share.split_off(5).is_none(), "only four slots");
        let theirs = share.split_off(3).expect("room for the rest");
        assert_eq!(theirs.len(), 1);
        assert!(!share.filled().whole);
        assert!(share.push(b[2]) && !share.push(b[2]), "three slots kept");
        let filled = share.filled();
        assert!(filled.whole && filled.count == 3);
        assert_eq!(
            (filled.first, filled.last),
            (Some(b[0].time), Some(b[2].time))
        );
    }
}

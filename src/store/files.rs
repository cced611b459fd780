//! Two file primitives everything else builds on, and the one switch for whether writes are
//! synced to the disk.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Whether writes are synced to the disk before they count as done (on unless switched off).
static DURABLE: AtomicBool = AtomicBool::new(true);

/// Switch syncing off (or on again) for the rest of the process. Only `replay` switches it
/// off: its folder is disposable (a crash means running it again), and an fsync per ledger row
/// and state file costs milliseconds, which is the whole budget of a replayed tick. Every
/// live command keeps the default: a power cut on a Pi must not lose an order intent.
/// Off, [`write_atomic`] also rewrites in place rather than through a temp file and a rename.
pub fn set_durable(on: bool) {
    DURABLE.store(on, Ordering::Relaxed);
}

/// See [`set_durable`].
pub fn durable() -> bool {
    DURABLE.load(Ordering::Relaxed)
}

/// Syncs this process asked the disk for: each costs milliseconds on an SD card, so a tick's
/// count is logged (at debug) and must not grow with the number of symbols.
static SYNCS: AtomicU64 = AtomicU64::new(0);

/// How many syncs (file or folder) this process has made so far.
pub fn syncs() -> u64 {
    SYNCS.load(Ordering::Relaxed)
}

fn counted() {
    SYNCS.fetch_add(1, Ordering::Relaxed);
}

/// `f.sync_data()`, unless syncing is switched off ([`set_durable`]): the one call every
/// appended row goes through.
pub fn sync_data(f: &File) -> std::io::Result<()> {
    if durable() {
        counted();
        f.sync_data()
    } else {
        Ok(())
    }
}

/// Replace `path` with `bytes` so that a reader (or a power cut) sees the old file or the
/// new one, never a mix: write a temp file beside it, fsync, rename over, fsync the folder.
///
/// With syncing switched off ([`set_durable`]) the file is rewritten in place instead: a crash
/// mid-write may then leave it torn, which a disposable folder accepts, and a new inode and a
/// rename per write (a fifth of a replayed tick, measured) are saved.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// [`write_atomic`] of whatever `fill` writes to the new file, from its first byte on: a
/// writer can send a big file a piece at a time as it makes it, never holding it whole.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create folder", e))?;
    if !durable() {
        return rewrite_in_place(path, fill).map_err(|e| Error::io(path, "write", e));
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        fill(&mut f)?;
        counted();
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir);
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, "write", e)
    })
}

/// Overwrite `path` from its first byte, then cut it to what `fill` wrote: never truncated
/// to zero first, which ext4 (`auto_da_alloc`) would answer with a flush of the file, as it
/// does for a rename over an existing file.
fn rewrite_in_place(
    path: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    fill(&mut f)?;
    let len = f.stream_position()?;
    f.set_len(len)
}

/// Bytes read at a time by [`each_line_chunk`].
const LINE_CHUNK: usize = 1 << 20;

/// Bytes `from..to` of `file` read [`LINE_CHUNK`] bytes at a time into one reused buffer,
/// and after each read the whole lines so far handed to `each` as text (the range's last
/// piece too, line break or not), until `each` breaks. A big file is so read without ever
/// being held whole: each fresh page of an 88 MB buffer is a page fault. The errors are
/// `read_to_string`'s: invalid UTF-8 is `InvalidData`; a file shorter than `to` is
/// `UnexpectedEof`.
pub fn each_line_chunk<B>(
    file: &mut File,
    (from, to): (u64, u64),
    mut each: impl FnMut(&str) -> ControlFlow<B>,
) -> std::io::Result<ControlFlow<B>> {
    file.seek(SeekFrom::Start(from))?;
    let mut left = to.saturating_sub(from);
    let mut buf: Vec<u8> = Vec::with_capacity(LINE_CHUNK + (64 << 10));
    while left > 0 {
        let got = Read::by_ref(file)
            .take(left.min(LINE_CHUNK as u64))
            .read_to_end(&mut buf)?;
        if got == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        left -= got as u64;
        // Whole lines only; the rest waits for the next read (all of it at the end).
        let end = if left == 0 {
            buf.len()
        } else {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => continue,
            }
        };
        let text = std::str::from_utf8(&buf[..end]).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )
        })?;
        if let ControlFlow::Break(b) = each(text) {
            return Ok(ControlFlow::Break(b));
        }
        buf.drain(..end);
    }
    Ok(ControlFlow::Continue(()))
}

/// Replace `path` atomically (readers see the old file or the new one) but without fsync:
/// for files rewritten every tick that a power cut may lose (the metrics file, the
/// dashboard), where an fsync would cost more than the file is worth.
pub fn replace_quick(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create folder", e))?;
    let tmp = temp_path(path);
    fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io(path, "write", e)
        })
}

/// Remove the temp files [`write_atomic`] leaves beside `path` when its process is killed
/// between create and rename (`<name>.tmp<pid>`). The caller must hold the lock every writer
/// of `path` holds, so that none of these files is being written; `_lock` is the proof.
/// Returns the files removed. Anything else in the folder is left alone.
pub fn remove_leftover_temps(path: &Path, _lock: &super::TickLock) -> Result<Vec<PathBuf>> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let Some(prefix) = path.file_name().map(|n| {
        let mut p = n.to_os_string();
        p.push(".tmp");
        p
    }) else {
        return Ok(Vec::new());
    };
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, "read", e)),
    };
    let prefix = prefix.to_string_lossy().into_owned();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let ours = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            let p = entry.path();
            fs::remove_file(&p).map_err(|e| Error::io(&p, "remove", e))?;
            removed.push(p);
        }
    }
    Ok(removed)
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        counted();
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

/// If the file's last line has no newline (a write cut short by a crash or power cut), cut
/// it off, append the fragment to `<file>.torn` for inspection, and return how many bytes
/// were cut. Every complete line is left untouched.
pub fn repair_torn_tail(path: &Path) -> Result<usize> {
    let mut f = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(path, "open", e)),
    };
    let io = |e| Error::io(path, "repair", e);
    let len = f.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut last = [0u8; 1];
    f.seek(SeekFrom::End(-1)).map_err(io)?;
    f.read_exact(&mut last).map_err(io)?;
    if last[0] == b'\n' {
        return Ok(0);
    }
    // Scan back for the last newline, a block at a time.
    let mut end = len;
    let mut keep = 0u64;
    let mut block = vec![0u8; 8192];
    'scan: while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let chunk = &mut block[..(end - start) as usize];
        f.seek(SeekFrom::Start(start)).map_err(io)?;
        f.read_exact(chunk).map_err(io)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            keep = start + i as u64 + 1;
            break 'scan;
        }
        end = start;
    }
    let mut fragment = Vec::with_capacity((len - keep) as usize);
    f.seek(SeekFrom::Start(keep)).map_err(io)?;
    f.read_to_end(&mut fragment).map_err(io)?;
    let mut torn_name = path.file_name().unwrap_or_default().to_os_string();
    torn_name.push(".torn");
    let torn = path.with_file_name(torn_name);
    let mut side = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&torn)
        .map_err(|e| Error::io(&torn, "write", e))?;
    fragment.push(b'\n');
    side.write_all(&fragment)
        .map_err(|e| Error::io(&torn, "write", e))?;
    f.set_len(keep).map_err(io)?;
    f.sync_all().map_err(io)?;
    let cut = fragment.len() - 1;
    log::warn!(
        "{}: cut off a torn last line ({cut} bytes, kept in {}); every complete line is intact",
        path.display(),
        torn.display()
    );
    Ok(cut)
}

/// Line `n` (0-based: 0 is a CSV's header) of a text file, reading only its start.
pub fn head_line(path: &Path, n: usize) -> Result<Option<String>> {
    use std::io::BufRead;
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, "read", e)),
    };
    Ok(std::io::BufReader::new(f)
        .lines()
        .nth(n)
        .and_then(|l| l.ok()))
}

/// The last `n` complete lines of a text file, reading only its end (a year of ledger rows is
/// tens of megabytes; a status line needs a handful).
pub fn tail_lines(path: &Path, n: usize) -> Result<Vec<String>> {
    Ok(tail_text(path, n, 0)?.lines().map(String::from).collect())
}

/// The last `n` lines of the file as one string (read once, no copy per line), for a caller
/// that parses them in one pass. `line_len` is a guess of a line's length: the first read
/// takes `n` of them (plus a margin), so a tail of a few hundred rows is usually one read.
pub fn tail_text(path: &Path, n: usize, line_len: usize) -> Result<String> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(Error::io(path, "read", e)),
    };
    let io = |e| Error::io(path, "read", e);
    let len = f.metadata().map_err(io)?.len();
    let mut want = (n as u64 + 2)
        .saturating_mul(line_len as u64 + line_len as u64 / 4)
        .max(4096);
    loop {
        let start = len.saturating_sub(want);
        f.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        (&mut f)
            .take(len - start)
            .read_to_end(&mut buf)
            .map_err(io)?;
        let mut text = match String::from_utf8(buf) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        if start > 0 {
            // The first line read is (almost surely) a part of one.
            let cut = text.find('\n').map_or(text.len(), |i| i + 1);
            text.drain(..cut);
        }
        let lines = text.lines().count();
        if lines > n || start == 0 {
            let skip = lines.saturating_sub(n);
            let from = if skip == 0 {
                0
            } else {
                // The byte after the `skip`th newline.
                text.match_indices('\n')
                    .nth(skip - 1)
                    .map_or(text.len(), |(i, _)| i + 1)
            };
            text.drain(..from);
            return Ok(text);
        }
        want = want.saturating_mul(4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_cut_and_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.csv");
        fs::write(&p, "a,b\n1,2\n3,").unwrap();
        assert_eq!(repair_torn_tail(&p).unwrap(), 2);
        assert_eq!(fs::read_to_string(&p).unwrap(), "a,b\n1,2\n");
        assert_eq!(
            fs::read_to_string(dir.path().join("l.csv.torn")).unwrap(),
            "3,\n"
        );
        assert_eq!(
            repair_torn_tail(&p).unwrap(),
            0,
            "a whole file is left alone"
        );
        fs::write(&p, "no newline at all").unwrap();
        repair_torn_tail(&p).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "");
    }

    #[test]
    fn tail_lines_reads_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.csv");
        let text: String = (0..5000).map(|i| format!("row {i}\n")).collect();
        fs::write(&p, text).unwrap();
        assert_eq!(tail_lines(&p, 2).unwrap(), ["row 4998", "row 4999"]);
        assert_eq!(tail_lines(&p, 9000).unwrap().len(), 5000);
        assert!(tail_lines(&dir.path().join("none"), 3).unwrap().is_empty());
    }

    #[test]
    fn tail_text_is_the_last_lines_whatever_the_guess() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.csv");
        let text: String = (0..5000).map(|i| format!("row {i}\n")).collect();
        fs::write(&p, &text).unwrap();
        let last3 = "row 4997\nrow 4998\nrow 4999\n";
        // A guess far too short (one byte a line) grows until it holds them; a long one cuts.
        for guess in [0, 1, 9, 500] {
            assert_eq!(tail_text(&p, 3, guess).unwrap(), last3, "guess {guess}");
        }
        assert_eq!(tail_text(&p, 5000, 9).unwrap(), text);
        assert_eq!(tail_text(&p, 9000, 9).unwrap(), text);
        assert_eq!(tail_text(&p, 0, 9).unwrap(), "");
        // A last line without a newline is still a line.
        fs::write(&p, "a\nb\nc").unwrap();
        assert_eq!(tail_text(&p, 2, 1).unwrap(), "b\nc");
        assert_eq!(tail_text(&dir.path().join("none"), 3, 9).unwrap(), "");
    }

    #[test]
    fn only_our_own_leftover_temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let lock = crate::store::TickLock::acquire(dir.path()).unwrap();
        let state = dir.path().join("state.json");
        for name in [
            "state.json",
            "state.json.tmp4242",
            "state.json.tmp7",
            "state.json.tmp",
            "state.json.tmpx1",
            "state.json.bad",
            "other.json.tmp99",
        ] {
            fs::write(dir.path().join(name), "x").unwrap();
        }
        let mut removed = remove_leftover_temps(&state, &lock).unwrap();
        removed.sort();
        assert_eq!(
            removed,
            [
                dir.path().join("state.json.tmp4242"),
                dir.path().join("state.json.tmp7")
            ]
        );
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "other.json.tmp99",
                "prometheus-bot.lock",
                "state.json",
                "state.json.bad",
                "state.json.tmp",
                "state.json.tmpx1"
            ]
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/state.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}

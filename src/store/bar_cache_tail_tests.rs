//! The tick's reads of a cache file's end (`bar_cache_tail.rs`): the rows parsed and counted,
//! torn and bad lines, sidecars, appends through the file held open.

use super::tests::{bar, push_row};
use super::*;

/// A file's text with `rows` bars of `c`-sized prices (longer rows than the read's guess when
/// `long`), with or without its header.
fn write_rows(cache: &BarCache, rows: usize, long: bool, header: bool) -> Vec<Bar> {
    let bars: Vec<Bar> = (0..rows as i64)
        .map(|i| {
            let c = if long {
                // Shortest round-trip forms of 17 digits: rows of about 150 bytes.
                100.0 + i as f64 / 7.0 + 1e-13
            } else {
                100.0 + i as f64
            };
            bar(i, c)
        })
        .collect();
    let mut text = String::new();
    if header {
        text.push_str(HEADER);
        text.push('\n');
    }
    for b in &bars {
        push_row(&mut text, b);
    }
    let p = cache.path("AAPL", Timeframe::Min1);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    bars
}

#[test]
fn read_tail_parses_the_last_rows_and_counts_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    let missing = cache.read_tail("AAPL", Timeframe::Min1, 3, 10).unwrap();
    assert_eq!((missing.bars.len(), missing.rows), (0, 0));
    assert!(!missing.file.exists);
    for (rows, long, header) in [
        (0, false, true),
        (5, false, true),
        (5, false, false),
        (199, false, true),
        (200, false, true),
        (201, true, true),
        (5_000, true, true),
        (5_000, false, false),
    ] {
        let bars = write_rows(&cache, rows, long, header);
        if header {
            assert_eq!(cache.load("AAPL", Timeframe::Min1).unwrap(), bars);
        }
        for (keep, count) in [(31, 200), (1, 200), (200, 200), (0, 5)] {
            let tail = cache
                .read_tail("AAPL", Timeframe::Min1, keep, count)
                .unwrap();
            let case =
                format!("{rows} rows (long {long}, header {header}), keep {keep} of {count}");
            assert_eq!(tail.bars, bars[rows.saturating_sub(keep)..], "{case}");
            assert_eq!(tail.rows, rows.min(count), "{case}");
            assert!(tail.file.exists, "{case}");
        }
    }
}

#[test]
fn read_tail_counts_no_blank_line_and_cuts_a_torn_one() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    let p = cache.path("AAPL", Timeframe::Min1);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let row = |i: i64| {
        let mut s = String::new();
        push_row(&mut s, &bar(i, 100.0));
        s
    };
    // Three rows and blank lines (which the parser skips) of both endings.
    let text = format!("{HEADER}\n\n{}\r\n{}\n\n{}", row(0), row(1), row(2));
    std::fs::write(&p, &text).unwrap();
    let all = cache.load("AAPL", Timeframe::Min1).unwrap();
    assert_eq!(all.len(), 3);
    let tail = cache.read_tail("AAPL", Timeframe::Min1, 2, 10).unwrap();
    assert_eq!((tail.rows, tail.bars.clone()), (3, all[1..].to_vec()));
    // A torn last line (no newline: a write cut short) is cut off and kept aside.
    std::fs::write(&p, format!("{text}2026-01-01 00:0")).unwrap();
    let tail = cache.read_tail("AAPL", Timeframe::Min1, 5, 10).unwrap();
    assert_eq!((tail.rows, tail.bars), (3, all));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
    let torn = p.with_file_name("AAPL-1Min.csv.torn");
    assert_eq!(std::fs::read_to_string(torn).unwrap(), "2026-01-01 00:0\n");
}

#[test]
fn read_tail_reports_a_bad_row_it_parses_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    write_rows(&cache, 300, false, true);
    let p = cache.path("AAPL", Timeframe::Min1);
    let text = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    // Its time kept: only a price is bad.
    lines[295] = lines[295].replacen(",394.5,", ",two,", 1);
    assert!(lines[295].contains(",two,"), "{}", lines[295]);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let e = cache
        .read_tail("AAPL", Timeframe::Min1, 31, 200)
        .unwrap_err()
        .to_string();
    assert!(e.contains("AAPL-1Min.csv line 296"), "{e}");
    // A price before the window is counted, not parsed: the tick never reads it.
    let tail = cache.read_tail("AAPL", Timeframe::Min1, 4, 200).unwrap();
    assert_eq!((tail.bars.len(), tail.rows), (4, 200));
    // A time out of order before the window, within `count`, is found and named; one
    // beyond `count` is not read.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[200] = lines[199].clone();
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let e = cache
        .read_tail("AAPL", Timeframe::Min1, 4, 200)
        .unwrap_err()
        .to_string();
    assert!(e.contains("AAPL-1Min.csv line 201"), "{e}");
    assert!(e.contains("not after the previous one"), "{e}");
    let bad_time = lines[200].replacen("2025", "20x5", 1);
    lines[200] = bad_time;
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let e = cache
        .read_tail("AAPL", Timeframe::Min1, 4, 200)
        .unwrap_err();
    assert!(e.to_string().contains("line 201"), "{e}");
    let tail = cache.read_tail("AAPL", Timeframe::Min1, 4, 50).unwrap();
    assert_eq!((tail.bars.len(), tail.rows), (4, 50));
}

#[test]
fn append_known_writes_the_header_to_a_new_file_and_checks_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    let bars: Vec<Bar> = (0..3).map(|i| bar(i, 10.0)).collect();
    let tail = cache.read_tail("AAPL", Timeframe::Min1, 2, 2).unwrap();
    let (raw, iex) = (Adjustment::Raw, BarFeed::Iex);
    cache
        .append_known("AAPL", Timeframe::Min1, &tail.file, raw, iex, &bars[..2])
        .unwrap();
    let tail = cache.read_tail("AAPL", Timeframe::Min1, 2, 2).unwrap();
    assert!(tail.file.exists);
    cache
        .append_known("AAPL", Timeframe::Min1, &tail.file, raw, iex, &bars[2..])
        .unwrap();
    assert_eq!(cache.load("AAPL", Timeframe::Min1).unwrap(), bars);
    let e = cache
        .append_known(
            "AAPL",
            Timeframe::Min1,
            &tail.file,
            Adjustment::All,
            iex,
            &bars,
        )
        .unwrap_err();
    assert!(e.to_string().contains("adjust"), "{e}");
}

#[test]
fn tails_read_each_sidecar_the_folder_lists_and_check_the_feed_on_the_length_read() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    assert_eq!(
        cache.tails().read("AAPL", Timeframe::Min1, 1, 5).unwrap(),
        cache.read_tail("AAPL", Timeframe::Min1, 1, 5).unwrap(),
        "no folder yet"
    );
    let sip = CacheMeta {
        adjustment: Adjustment::All,
        feed: Some(BarFeed::Sip),
        covered_from: None,
    };
    let bars = [bar(0, 1.0), bar(1, 2.0)];
    cache.replace("AAPL", Timeframe::Min1, &bars, &sip).unwrap();
    cache
        .replace("BF/B", Timeframe::Min1, &bars, &CacheMeta::default())
        .unwrap();
    let tails = cache.tails();
    let aapl = tails.read("AAPL", Timeframe::Min1, 1, 5).unwrap();
    assert_eq!(
        aapl,
        cache.read_tail("AAPL", Timeframe::Min1, 1, 5).unwrap()
    );
    assert_eq!((&aapl.file.meta, aapl.rows), (&sip, 2));
    let bfb = tails.read("BF/B", Timeframe::Min1, 1, 5).unwrap();
    assert_eq!(bfb.file.meta, CacheMeta::default());
    // A file holding SIP bars refuses IEX bars, and takes SIP ones, on what was read.
    let next = [bar(2, 3.0)];
    let (all, iex) = (Adjustment::All, BarFeed::Iex);
    let e = cache
        .append_known("AAPL", Timeframe::Min1, &aapl.file, all, iex, &next)
        .unwrap_err();
    assert!(e.to_string().contains("refusing to mix in iex"), "{e}");
    cache
        .append_known(
            "AAPL",
            Timeframe::Min1,
            &aapl.file,
            all,
            BarFeed::Sip,
            &next,
        )
        .unwrap();
    assert_eq!(cache.load("AAPL", Timeframe::Min1).unwrap().len(), 3);
}

#[test]
fn tails_reuse_one_buffer_without_reading_the_last_files_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    let long: Vec<Bar> = (0..400).map(|i| bar(i, 100.0 + i as f64 / 7.0)).collect();
    let short = [bar(0, 1.0), bar(1, 2.0)];
    let meta = CacheMeta::default();
    cache
        .replace("LONG", Timeframe::Min1, &long, &meta)
        .unwrap();
    cache
        .replace("SHORT", Timeframe::Min1, &short, &meta)
        .unwrap();
    let tails = cache.tails();
    for name in ["LONG", "SHORT", "LONG", "NONE", "SHORT"] {
        assert_eq!(
            tails.read(name, Timeframe::Min1, 31, 200).unwrap(),
            cache.read_tail(name, Timeframe::Min1, 31, 200).unwrap(),
            "{name}"
        );
    }
    assert_eq!(
        tails.read("SHORT", Timeframe::Min1, 31, 200).unwrap().bars,
        short
    );
}

/// A duplicated row where the tick's window meets the rows only counted (the seam), or
/// inside the window, is found and named as a full parse finds it: never two bars of one
/// minute handed to a strategy, nor a window that silently starts at a repeated minute.
#[test]
fn read_tail_finds_a_duplicate_at_the_windows_seam_and_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    write_rows(&cache, 300, false, true);
    let p = cache.path("AAPL", Timeframe::Min1);
    let text = std::fs::read_to_string(&p).unwrap();
    // Line 0 is the header: data row i is line i + 1. With keep 4 the window is rows
    // 296..300 (lines 297..=300); row 295 (line 296) is the last row only counted.
    for (dup, line) in [(296, 297), (298, 299)] {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines[dup + 1] = lines[dup].clone();
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        let e = cache
            .read_tail("AAPL", Timeframe::Min1, 4, 200)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("AAPL-1Min.csv line {}", line + 1)),
            "{e}"
        );
        assert!(e.contains("not after the previous one"), "{e}");
    }
}

/// A tick's tails keep the first [`HELD_FILES`] files open and append through them, the
/// rest are opened again to append: every file ends with its new bar either way, and no
/// more files than that are held however many symbols there are.
#[test]
fn tails_hold_a_bounded_number_of_files_open_for_the_appends() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    let n = tail::HELD_FILES + 3;
    let names: Vec<String> = (0..n).map(|k| format!("S{k}")).collect();
    let old: Vec<Bar> = (0..3).map(|i| bar(i, 10.0)).collect();
    for name in &names {
        cache
            .replace(name, Timeframe::Min1, &old, &CacheMeta::default())
            .unwrap();
    }
    let tails = cache.tails();
    let read: Vec<Tail> = names
        .iter()
        .map(|name| tails.read(name, Timeframe::Min1, 2, 3).unwrap())
        .collect();
    let held = read.iter().filter(|t| t.file.open.is_some()).count();
    assert_eq!(held, tail::HELD_FILES);
    let new = bar(3, 11.0);
    for (name, tail) in names.iter().zip(&read) {
        assert_eq!(tail.bars, old[1..]);
        cache
            .append_known(
                name,
                Timeframe::Min1,
                &tail.file,
                Adjustment::Raw,
                BarFeed::Iex,
                &[new],
            )
            .unwrap();
    }
    drop(read);
    for name in &names {
        let bars = cache.load(name, Timeframe::Min1).unwrap();
        assert_eq!(bars.len(), 4, "{name}");
        assert_eq!(bars[3], new, "{name}");
    }
}

//! Bar cache: round trips, ordering, adjustments, and the fast parsing paths.

use super::*;
use chrono::TimeZone;

pub(super) fn bar(min: i64, c: f64) -> Bar {
    Bar {
        time: Utc.timestamp_opt(1_764_000_000 + 60 * min, 0).unwrap(),
        open: c,
        high: c + 0.5,
        low: c - 0.5,
        close: c,
        volume: 100.0,
        trades: 3,
        vwap: c + 0.1,
    }
}

#[test]
fn values_round_trip_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    let mut bars: Vec<Bar> = (0..50).map(|i| bar(i, 100.0 + i as f64 / 3.0)).collect();
    bars[7].vwap = f64::NAN;
    cache
        .append(
            "AAPL",
            Timeframe::Min1,
            Adjustment::Raw,
            BarFeed::Iex,
            &bars[..20],
        )
        .unwrap();
    cache
        .append(
            "AAPL",
            Timeframe::Min1,
            Adjustment::Raw,
            BarFeed::Iex,
            &bars[20..],
        )
        .unwrap();
    let back = cache.load("AAPL", Timeframe::Min1).unwrap();
    assert_eq!(back.len(), 50);
    assert!(back[7].vwap.is_nan());
    assert_eq!(back[8], bars[8]);
    assert_eq!(back[49].close.to_bits(), bars[49].close.to_bits());
    let tail = cache.load_tail("AAPL", Timeframe::Min1, 5).unwrap();
    assert_eq!(tail, bars[45..].to_vec());
    assert_eq!(
        cache.load_tail("AAPL", Timeframe::Min1, 500).unwrap().len(),
        50
    );
    assert!(cache
        .load_tail("TSLA", Timeframe::Min1, 5)
        .unwrap()
        .is_empty());
}

#[test]
fn merge_sorts_dedups_and_prefers_new() {
    let old = vec![bar(0, 1.0), bar(1, 2.0), bar(2, 3.0)];
    let new = vec![bar(2, 30.0), bar(3, 4.0), bar(1, 20.0)];
    let m = merge(old, new);
    let closes: Vec<f64> = m.iter().map(|b| b.close).collect();
    assert_eq!(closes, [1.0, 20.0, 30.0, 4.0]);
}

#[test]
fn unsorted_or_bad_rows_are_reported_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    let p = cache.path("AAPL", Timeframe::Day1);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, format!("{HEADER}\n2024-01-02 05:00:00,1,2,0.5,1.5,10,1,\n2024-01-02 05:00:00,1,2,0.5,1.5,10,1,\n")).unwrap();
    let e = cache.load("AAPL", Timeframe::Day1).unwrap_err().to_string();
    assert!(e.contains("AAPL-1Day.csv line 3"), "{e}");
    std::fs::write(
        &p,
        format!("{HEADER}\n2024-01-02 05:00:00,1,two,0.5,1.5,10,1,\n"),
    )
    .unwrap();
    let e = cache.load("AAPL", Timeframe::Day1).unwrap_err().to_string();
    assert!(e.contains("line 2: bad high `two`"), "{e}");
}

#[test]
fn adjustments_are_never_mixed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    let split = CacheMeta {
        adjustment: Adjustment::Split,
        feed: None,
        covered_from: None,
    };
    cache
        .replace("TSLA", Timeframe::Day1, &[bar(0, 1.0)], &split)
        .unwrap();
    assert!(cache
        .check_adjustment("TSLA", Timeframe::Day1, Adjustment::Split)
        .is_ok());
    let e = cache
        .check_adjustment("TSLA", Timeframe::Day1, Adjustment::Raw)
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds `split`-adjusted bars"), "{e}");
    assert!(
        cache
            .check_adjustment("AAPL", Timeframe::Day1, Adjustment::All)
            .is_ok(),
        "no file yet"
    );
    // An append of bars fetched with another adjustment is refused, naming both.
    let e = cache
        .append(
            "TSLA",
            Timeframe::Day1,
            Adjustment::Raw,
            BarFeed::Iex,
            &[bar(1, 2.0)],
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("TSLA-1Day.csv holds `split`-adjusted bars") && e.contains("`raw` bars"),
        "{e}"
    );
    assert_eq!(cache.load("TSLA", Timeframe::Day1).unwrap().len(), 1);
    cache
        .append(
            "TSLA",
            Timeframe::Day1,
            Adjustment::Split,
            BarFeed::Iex,
            &[bar(1, 2.0)],
        )
        .unwrap();
    assert_eq!(cache.load("TSLA", Timeframe::Day1).unwrap().len(), 2);
    assert_eq!("dividend".parse(), Ok(Adjustment::Dividend));
    assert!("spin-off".parse::<Adjustment>().is_err());
}

#[test]
fn fast_number_and_time_parsing_agree_with_the_standard_parsers() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for _ in 0..200_000 {
        let r = next();
        let digits = 1 + (r % 19) as usize;
        let point = (r >> 8) as usize % (digits + 2);
        let mut s = String::new();
        if r >> 20 & 1 == 1 {
            s.push('-');
        }
        for i in 0..digits {
            if i == point && i > 0 {
                s.push('.');
            }
            s.push(char::from(b'0' + (next() % 10) as u8));
        }
        let want: f64 = s.parse().unwrap();
        assert_eq!(parse_f64(&s).map(f64::to_bits), Some(want.to_bits()), "{s}");
    }
    // Any byte in any place of the eight-digit words: a non-digit (those next to '0' and
    // '9' included) must send the cell to `str::parse`, whatever it then says.
    for _ in 0..200_000 {
        let r = next();
        let digits = 1 + (r % 22) as usize;
        let mut s: Vec<u8> = (0..digits).map(|_| b'0' + (next() % 10) as u8).collect();
        let at = (r >> 8) as usize % digits;
        s[at] = b"/:.-+eE a\x10\x7f0"[(r >> 16) as usize % 12];
        if r >> 24 & 1 == 1 {
            let at = (r >> 28) as usize % digits;
            s[at] = b'.';
        }
        let s = String::from_utf8(s).unwrap();
        assert_eq!(
            parse_f64(&s).map(f64::to_bits),
            s.parse::<f64>().ok().map(f64::to_bits),
            "{s}"
        );
    }
    for s in [
        "0",
        "-0",
        "0.1",
        "123.45",
        "1e5",
        "1.5E-3",
        "inf",
        "NaN",
        "",
        "-",
        ".",
        "1.",
        ".5",
        "1.2.3",
        "12a",
        "99999999999999999999.5",
        "9007199254740993",
        "0.30000000000000004",
        "3.14159265358979323846264338327950288",
    ] {
        assert_eq!(
            parse_f64(s).map(f64::to_bits),
            s.parse::<f64>().ok().map(f64::to_bits),
            "{s}"
        );
    }
    let mut dates = DateCache::default();
    for s in [
        "2024-02-29 23:59:59",
        "2024-02-29 00:00:01",
        "1970-01-01 00:00:00",
        "2000-03-01 12:00:00",
        "1900-02-28 00:00:00",
        "2100-12-31 06:07:08",
    ] {
        let want = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc();
        assert_eq!(parse_time_cached(s, &mut dates), Some(want), "{s}");
        assert_eq!(parse_time(s), Some(want), "{s}");
    }
    for bad in [
        "2023-02-29 00:00:00",
        "2024-13-01 00:00:00",
        "2024-04-31 00:00:00",
        "2024-01-01 24:00:00",
        "2024-01-01 00:60:00",
        "2024-01-00 00:00:00",
        "2024-01-01T00:00:00",
        "2024-1-01 00:00:00",
    ] {
        assert_eq!(parse_time_cached(bad, &mut dates), None, "{bad}");
    }
}

#[test]
fn a_big_file_loads_in_two_halves_exactly_and_reports_lines_across_the_seam() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    let bars: Vec<Bar> = (0..90_000)
        .map(|i| bar(i, 100.0 + (i % 977) as f64 / 100.0))
        .collect();
    cache
        .replace("AAPL", Timeframe::Min1, &bars, &CacheMeta::default())
        .unwrap();
    let path = cache.path("AAPL", Timeframe::Min1);
    assert!(
        std::fs::metadata(&path).unwrap().len() > 4 << 20,
        "big enough to split"
    );
    assert_eq!(cache.load("AAPL", Timeframe::Min1).unwrap(), bars);
    // A bad cell late in the file (second half) names its true line.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[80_001] = lines[80_001].replacen(",100", ",x100", 1);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let e = cache.load("AAPL", Timeframe::Min1).unwrap_err().to_string();
    assert!(e.contains("line 80002"), "{e}");
    // Disorder exactly at the seam (each half sorted) is caught too: the first row of
    // the second half repeats the time of the last row of the first.
    let mut text = format!("{HEADER}\n");
    for b in &bars {
        push_row(&mut text, b);
    }
    let body = &text[HEADER.len() + 1..];
    let mid = body.len() / 2 + body[body.len() / 2..].find('\n').unwrap() + 1;
    let seam = body[..mid].matches('\n').count();
    let mut swapped = bars.clone();
    swapped[seam].time = swapped[seam - 1].time;
    let mut text = format!("{HEADER}\n");
    for b in &swapped {
        push_row(&mut text, b);
    }
    std::fs::write(&path, text).unwrap();
    let e = cache.load("AAPL", Timeframe::Min1).unwrap_err().to_string();
    assert!(e.contains(&format!("line {}", seam + 2)), "{e}");
    assert!(e.contains("is not after the previous one"), "{e}");
}

#[test]
fn a_file_keeps_one_feed_and_imported_history_may_be_topped_up_live() {
    let meta = |feed| CacheMeta {
        feed,
        ..CacheMeta::default()
    };
    let (iex, sip, imp) = (BarFeed::Iex, BarFeed::Sip, BarFeed::Import);
    // A new or empty file takes the feed written.
    assert_eq!(meta(Some(sip)).feed_after(false, iex), Ok(Some(iex)));
    assert_eq!(meta(None).feed_after(false, imp), Ok(Some(imp)));
    // An unknown feed stays unknown.
    assert_eq!(meta(None).feed_after(true, iex), Ok(None));
    assert_eq!(meta(Some(sip)).feed_after(true, sip), Ok(Some(sip)));
    // The two live feeds never mix; imported bars go into no fetched file.
    assert!(meta(Some(sip))
        .feed_after(true, iex)
        .unwrap_err()
        .contains("holds sip bars; refusing to mix in iex bars"));
    assert!(meta(Some(iex)).feed_after(true, sip).is_err());
    assert!(meta(Some(iex)).feed_after(true, imp).is_err());
    // Live bars top up an imported history, which stays `import`.
    assert_eq!(meta(Some(imp)).feed_after(true, iex), Ok(Some(imp)));

    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    cache
        .replace("AAPL", Timeframe::Day1, &[bar(0, 1.0)], &meta(Some(sip)))
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join("bars/AAPL-1Day.csv.meta.json")).unwrap();
    assert!(text.contains("\"feed\": \"sip\""), "{text}");
    let e = cache
        .append(
            "AAPL",
            Timeframe::Day1,
            Adjustment::Raw,
            iex,
            &[bar(1, 2.0)],
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("AAPL-1Day.csv holds sip bars; refusing to mix in iex bars"),
        "{e}"
    );
    assert_eq!(
        cache.load("AAPL", Timeframe::Day1).unwrap().len(),
        1,
        "nothing appended"
    );
    cache
        .append(
            "AAPL",
            Timeframe::Day1,
            Adjustment::Raw,
            sip,
            &[bar(1, 2.0)],
        )
        .unwrap();
    assert_eq!(cache.load("AAPL", Timeframe::Day1).unwrap().len(), 2);
}

#[test]
fn merge_keeps_the_later_of_equal_times_with_or_without_the_fast_path() {
    use chrono::Timelike;
    let bar = |m: u32, close: f64| Bar {
        time: Utc.with_ymd_and_hms(2026, 11, 24, 15, m, 0).unwrap(),
        open: close,
        high: close,
        low: close,
        close,
        volume: 1.0,
        trades: 1,
        vwap: close,
    };
    let closes = |bars: &[Bar]| {
        bars.iter()
            .map(|b| (b.time.minute(), b.close))
            .collect::<Vec<_>>()
    };
    // All after: appended as they are.
    let m = merge(
        vec![bar(1, 1.0), bar(2, 2.0)],
        vec![bar(3, 3.0), bar(4, 4.0)],
    );
    assert_eq!(closes(&m), [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]);
    // Overlapping: the new bar replaces the cached one of the same minute.
    let m = merge(
        vec![bar(1, 1.0), bar(2, 2.0)],
        vec![bar(2, 9.0), bar(3, 3.0)],
    );
    assert_eq!(closes(&m), [(1, 1.0), (2, 9.0), (3, 3.0)]);
    // Out of order or earlier: sorted.
    let m = merge(vec![bar(3, 3.0)], vec![bar(2, 2.0), bar(1, 1.0)]);
    assert_eq!(closes(&m), [(1, 1.0), (2, 2.0), (3, 3.0)]);
    assert_eq!(closes(&merge(Vec::new(), vec![bar(1, 1.0)])), [(1, 1.0)]);
    // Into nothing, sorted new bars are the result itself: not copied (an import's million).
    let new = vec![bar(1, 1.0), bar(2, 2.0)];
    let at = new.as_ptr();
    let merged = merge(Vec::with_capacity(4), new);
    assert_eq!(merged.as_ptr(), at);
}

/// A replace of a million-row import is formatted as two halves on two threads: the file is
/// byte for byte the one text of every row, and loads back as the bars.
#[test]
fn a_big_replace_written_in_two_halves_is_the_one_text() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BarCache::new(dir.path());
    let bars: Vec<Bar> = (0..120_001)
        .map(|i| bar(i, 100.0 + (i % 977) as f64 / 100.0))
        .collect();
    cache
        .replace("AAPL", Timeframe::Min1, &bars, &CacheMeta::default())
        .unwrap();
    let path = cache.path("AAPL", Timeframe::Min1);
    let mut one = format!("{HEADER}\n");
    for b in &bars {
        push_row(&mut one, b);
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), one);
    assert_eq!(String::from_utf8(rows_text(&bars, HEADER)).unwrap(), one);
    assert_eq!(cache.load("AAPL", Timeframe::Min1).unwrap(), bars);
}

/// A bar's cache row appended to a text (the writer makes bytes).
pub(super) fn push_row(out: &mut String, b: &Bar) {
    let mut row = Vec::new();
    write_row(&mut row, b);
    out.push_str(std::str::from_utf8(&row).unwrap());
}

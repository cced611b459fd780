//! The fills ledger: adjustments, sides, exact sums, incremental reads, the state's summary.

mod adjustment_tests {
    use super::super::*;
    use crate::broker::Fill;
    use crate::domain::Qty;
    use crate::store::cells::parse_side;
    use chrono::TimeZone;
    use chrono::Utc;

    fn fill(id: &str, side: &str, qty: &str, price: &str) -> Fill {
        Fill {
            id: id.into(),
            time: Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap(),
            last: true,
            price: crate::decimal::Decimal::parse(price).unwrap(),
            qty: Qty::parse(qty).unwrap(),
            side: parse_side(side).unwrap(),
            symbol: "AAPL".into(),
            order_id: "o1".into(),
        }
    }

    #[test]
    fn adjust_rows_move_the_position_but_are_not_fills() {
        let dir = tempfile::tempdir().unwrap();
        let fills = Fills::open(dir.path()).unwrap();
        let bought = fill("f1", "buy", "10", "231");
        fills.append_fills(&[(&bought, "pb-1")], "tick").unwrap();
        let day = Utc.with_ymd_and_hms(2026, 11, 24, 5, 0, 0).unwrap();
        let split = |id: &str, qty: &str| Adjustment {
            time: day,
            symbol: "AAPL".into(),
            qty: Qty::parse(qty).unwrap(),
            kind: FillStatus::Split,
            id: id.into(),
        };
        // A 1-for-4 reverse split of 10 (remove 10, add 2.5), then a 3-for-1 split (+5).
        let rows = [split("s1", "-10"), split("s2", "2.5"), split("s3", "5")];
        fills.append_adjustments(&rows, "reconcile").unwrap();
        let r = fills.recorded().unwrap();
        assert_eq!(
            r.net_qty["AAPL"],
            Qty::parse("7.5").unwrap(),
            "10 - 10 + 2.5 + 5"
        );
        assert!(r.activity_ids.contains("s2"), "recorded once, by id");
        assert!(!r.by_activity.contains_key("s1"), "not compared as a FILL");
        assert_eq!(r.filled_by_order.get(""), None, "no order behind it");
        assert_eq!(r.filled_by_order["o1"], Qty::shares(10));
    }
}

mod ledger_reads {
    use super::super::*;

    use crate::domain::Qty;

    /// fills.csv as every version has written it: its header, then `rows`.
    fn write_ledger(dir: &Path, rows: &[String]) {
        let mut text =
            "time_utc,symbol,side,qty,price,order_id,client_order_id,status,activity_id,source\n"
                .to_string();
        for r in rows {
            text.push_str(r);
            text.push('\n');
        }
        std::fs::write(dir.join("fills.csv"), text).unwrap();
    }

    fn row(side: &str, qty: &str, activity: &str) -> String {
        format!("2026-11-24 15:30:00,TSLA,{side},{qty},230,o1,pb-x,fill,{activity},tick")
    }

    #[test]
    fn sell_short_rows_count_as_sells_in_the_net_position() {
        let dir = tempfile::tempdir().unwrap();
        // +2 bought, -2 sold, -3 sold short (a row written before sides were parsed): -3.
        write_ledger(
            dir.path(),
            &[
                row("buy", "2", "a1"),
                row("sell", "2", "a2"),
                row("sell_short", "3", "a3"),
            ],
        );
        let fills = Fills::open(dir.path()).unwrap();
        assert_eq!(fills.recorded().unwrap().net_qty["TSLA"], Qty::shares(-3));
    }

    /// Read once, then only what was appended: the rows added after a read count, and a file
    /// rewritten underneath (a person edited it) is read whole again.
    #[test]
    fn the_ledger_is_read_whole_once_then_only_its_new_rows() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        write_ledger(dir.path(), &[row("buy", "2", "a1")]);
        let fills = Fills::open(dir.path()).unwrap();
        assert_eq!(fills.recorded().unwrap().net_qty["TSLA"], Qty::shares(2));
        let path = dir.path().join("fills.csv");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(f, "{}", row("buy", "3", "a2")).unwrap();
        let r = fills.recorded().unwrap();
        assert_eq!(r.net_qty["TSLA"], Qty::shares(5), "2 + 3");
        assert!(r.activity_ids.contains("a2"));
        drop(r);
        // Rewritten: a row changed before the end (the sell of 4 replaces the buy of 2).
        write_ledger(dir.path(), &[row("sell", "4", "a1"), row("buy", "3", "a2")]);
        assert_eq!(
            fills.recorded().unwrap().net_qty["TSLA"],
            Qty::shares(-1),
            "-4 + 3, read whole again"
        );
    }

    /// As f64, 0.1 + 0.1 + 0.1 - 0.3 is 5.55e-17, not 0: the bot would think it still holds
    /// shares, and the three fills would not add up to the broker's 0.3.
    #[test]
    fn fractional_fills_sum_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let three = [
            row("buy", "0.1", "a1"),
            row("buy", "0.1", "a2"),
            row("buy", "0.1", "a3"),
        ];
        write_ledger(dir.path(), &three);
        let fills = Fills::open(dir.path()).unwrap();
        let r = fills.recorded().unwrap();
        assert_eq!(r.net_qty["TSLA"], Qty::parse("0.3").unwrap());
        assert_eq!(r.filled_by_order["o1"], Qty::parse("0.3").unwrap());
        let mut four = three.to_vec();
        four.push(row("sell", "0.3", "a4"));
        write_ledger(dir.path(), &four);
        assert_eq!(fills.recorded().unwrap().net_qty["TSLA"], Qty::ZERO);
    }

    #[test]
    fn a_row_with_a_qty_that_is_not_a_number_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write_ledger(
            dir.path(),
            &[row("buy", "1", "a6"), row("buy", "n/a", "a7")],
        );
        let e = Fills::open(dir.path()).unwrap().recorded().unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("fills.csv line 3: column `qty`: \"n/a\" is not a share quantity")
                && text.contains("a7"),
            "{text}"
        );
    }

    #[test]
    fn a_row_with_an_unknown_side_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write_ledger(dir.path(), &[row("borrow", "1", "a9")]);
        let e = Fills::open(dir.path()).unwrap().recorded().unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("fills.csv line 2: column `side`: \"borrow\" is not buy, sell or adjust")
                && text.contains("a9"),
            "{text}"
        );
        write_ledger(dir.path(), &[row("", "1", "a8")]);
        let e = Fills::open(dir.path()).unwrap().recorded().unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("fills.csv line 2: activity a8 has no side"),
            "{text}"
        );
    }
}

mod summary_tests {
    use super::super::*;

    use crate::domain::Qty;

    fn row(symbol: &str, side: &str, qty: &str, activity: &str) -> String {
        format!("2026-11-24 15:30:00,{symbol},{side},{qty},230,o1,pb-x,fill,{activity},tick\n")
    }

    const HEADER: &str =
        "time_utc,symbol,side,qty,price,order_id,client_order_id,status,activity_id,source\n";

    #[test]
    fn a_kept_summary_reads_only_the_rows_appended_since_and_agrees_with_a_whole_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fills.csv");
        let mut text = HEADER.to_string();
        for i in 0..50 {
            text.push_str(&row("AAPL", "buy", "1", &format!("a{i}")));
        }
        std::fs::write(&path, &text).unwrap();
        let fills = Fills::open(dir.path()).unwrap();
        let kept = fills.summary(None).unwrap();
        assert_eq!(kept.net_qty["AAPL"], Qty::shares(50));
        assert_eq!(kept.len, text.len() as u64);

        // Two more rows and an order that ended unfilled.
        let more = row("AAPL", "sell", "3", "b1")
            + &row("TSLA", "buy", "0.5", "b2")
            + "2026-11-24 15:31:00,TSLA,buy,2,,o2,pb-y,canceled,,tick\n";
        std::fs::write(&path, text.clone() + &more).unwrap();
        let next = fills.summary(Some(&kept)).unwrap();
        assert_eq!(next.net_qty["AAPL"], Qty::shares(47), "50 - 3");
        assert_eq!(next.net_qty["TSLA"], Qty::parse("0.5").unwrap());
        assert!(next.ended_unfilled.contains("pb-y"));
        assert!(next.agrees_with(&fills.recorded().unwrap()));
        assert_eq!(next, fills.summary(None).unwrap(), "as a whole read says");

        // Proof that the kept rows are not read again: a row before `len` rewritten with
        // the same length (the last 256 bytes unchanged) is not seen...
        let changed = text.replacen("AAPL,buy,1,230", "AAPL,buy,9,230", 1) + &more;
        std::fs::write(&path, &changed).unwrap();
        assert_eq!(fills.summary(Some(&kept)).unwrap(), next);
        // ...which a whole read (what `reconcile` compares with) does see.
        assert_eq!(
            fills.summary(None).unwrap().net_qty["AAPL"],
            Qty::shares(55)
        );
    }

    #[test]
    fn a_summary_that_no_longer_matches_the_file_reads_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fills.csv");
        std::fs::write(&path, HEADER.to_string() + &row("AAPL", "buy", "4", "a1")).unwrap();
        let fills = Fills::open(dir.path()).unwrap();
        let kept = fills.summary(None).unwrap();
        // The ledger moved aside and a new one started: the tail differs.
        std::fs::write(&path, HEADER.to_string() + &row("MSFT", "buy", "1", "c1")).unwrap();
        let now = fills.summary(Some(&kept)).unwrap();
        assert_eq!(now.net_qty.get("AAPL"), None);
        assert_eq!(now.net_qty["MSFT"], Qty::shares(1));
        // Shorter than the kept length: read whole too.
        std::fs::write(&path, HEADER).unwrap();
        assert!(fills.summary(Some(&kept)).unwrap().net_qty.is_empty());
        // A kept summary that is stale in its hash.
        let wrong = Summary {
            tail_hash: kept.tail_hash ^ 1,
            ..kept
        };
        std::fs::write(&path, HEADER.to_string() + &row("AAPL", "buy", "4", "a1")).unwrap();
        assert_eq!(
            fills.summary(Some(&wrong)).unwrap().net_qty["AAPL"],
            Qty::shares(4)
        );
    }

    #[test]
    fn the_bots_own_entry_price_averages_its_fills_as_the_broker_averages_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fills.csv");
        let fill = |side: &str, qty: &str, price: &str, id: &str| {
            format!("2026-11-24 15:30:00,AAPL,{side},{qty},{price},o{id},pb-{id},fill,a{id},tick\n")
        };
        let steps = [
            // Buy 10 at 100, then 30 at 104: (1,000 + 3,120) / 40 = 103.
            (fill("buy", "10", "100", "1"), Some(103.0)),
            (fill("buy", "30", "104", "2"), Some(103.0)),
            // Selling 20 leaves the average as it was.
            (fill("sell", "20", "110", "3"), Some(103.0)),
            // 20 more at 107: (20 × 103 + 20 × 107) / 40 = 105.
            (fill("buy", "20", "107", "4"), Some(105.0)),
            // A 2-for-1 split (+40 shares, no price): the same cost over 80 shares, 52.50.
            (
                "2026-11-25 09:00:00,AAPL,adjust,40,,,,split,s1,reconcile\n".to_string(),
                Some(52.5),
            ),
            // Through flat into a short of 5: the short's price is its own fill's.
            (fill("sell", "85", "50", "5"), Some(50.0)),
            // Flat: no price.
            (fill("buy", "5", "48", "6"), None),
        ];
        let mut text = HEADER.to_string();
        std::fs::write(&path, &text).unwrap();
        let fills = Fills::open(dir.path()).unwrap();
        let mut kept = fills.summary(None).unwrap();
        for (n, (row, want)) in steps.iter().enumerate() {
            // The first two rows land together; the average is checked after the second.
            text.push_str(row);
            if n == 0 {
                continue;
            }
            std::fs::write(&path, &text).unwrap();
            kept = fills.summary(Some(&kept)).unwrap();
            let got = kept.entry_price.get("AAPL").map(|d| d.to_f64());
            assert_eq!(got, *want, "after row {n}: {row}");
            assert_eq!(kept, fills.summary(None).unwrap(), "read on = whole read");
        }
    }

    #[test]
    fn a_summary_kept_by_an_older_build_is_summed_again_from_the_whole_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fills.csv");
        std::fs::write(&path, HEADER.to_string() + &row("AAPL", "buy", "4", "a1")).unwrap();
        let fills = Fills::open(dir.path()).unwrap();
        // What the state held before entry prices were kept: no version, no prices.
        let old = Summary {
            version: 0,
            entry_price: Default::default(),
            ..fills.summary(None).unwrap()
        };
        let now = fills.summary(Some(&old)).unwrap();
        assert_eq!(now.entry_price["AAPL"].to_f64(), 230.0);
        assert_eq!(now.version, super::super::summary::VERSION);
    }

    /// `based_at`: when the entry price was last based (opened, through zero, adjusted);
    /// extending or reducing keeps it; flat has none. Read on = whole read.
    #[test]
    fn the_entry_price_is_based_at_the_opening_or_the_last_adjustment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fills.csv");
        let fill = |t: &str, side: &str, qty: &str, id: &str| {
            format!("2026-11-{t}:00,AAPL,{side},{qty},100,o{id},pb-{id},fill,a{id},tick\n")
        };
        let steps = [
            (
                fill("23 15:00", "buy", "10", "1"),
                Some("2026-11-23T15:00:00Z"),
            ),
            (
                fill("23 15:01", "buy", "5", "2"),
                Some("2026-11-23T15:00:00Z"),
            ),
            (
                fill("23 15:02", "sell", "3", "3"),
                Some("2026-11-23T15:00:00Z"),
            ),
            (
                "2026-11-24 05:00:00,AAPL,adjust,12,,,,split,s1,reconcile\n".to_string(),
                Some("2026-11-24T05:00:00Z"),
            ),
            (
                fill("24 15:00", "sell", "30", "4"),
                Some("2026-11-24T15:00:00Z"),
            ),
            (fill("24 15:01", "buy", "6", "5"), None),
        ];
        let mut text = HEADER.to_string();
        std::fs::write(&path, &text).unwrap();
        let fills = Fills::open(dir.path()).unwrap();
        let mut kept = fills.summary(None).unwrap();
        for (row, want) in &steps {
            text.push_str(row);
            std::fs::write(&path, &text).unwrap();
            kept = fills.summary(Some(&kept)).unwrap();
            let got = kept
                .based_at
                .get("AAPL")
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            assert_eq!(got.as_deref(), *want, "after {row}");
            assert_eq!(kept, fills.summary(None).unwrap(), "read on = whole read");
        }
    }
}

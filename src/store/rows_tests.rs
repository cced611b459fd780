//! Ledgers as the previous version (fd9606c) wrote them, verbatim, read back into the row
//! structs, and written again to the same bytes. Each literal follows that version's writers
//! cell by cell (tick/rows.rs, orders.rs, fills.rs, reconcile.rs): `Vec<String>` rows, f64
//! prices through Display, quantities as Alpaca's text, empty cells for none.

use super::*;
use crate::store::ledger::Ledger;
use chrono::TimeZone;

fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, h, m, s).unwrap()
}

fn q(text: &str) -> Qty {
    Qty::parse(text).unwrap()
}

fn id(text: &str) -> ClientOrderId {
    text.parse().unwrap()
}

fn dec(text: &str) -> Decimal {
    Decimal::parse(text).unwrap()
}

/// Writes `text` as `R`'s ledger in a new folder, reads every row, then appends those rows to
/// a fresh ledger of the same columns and checks the file is `again`, byte for byte.
fn read_back<R: Row + PartialEq + fmt::Debug>(
    text: &str,
    again_text: &str,
    tail: &[&str],
) -> Vec<R> {
    let old = tempfile::tempdir().unwrap();
    std::fs::write(old.path().join(R::FILE), text).unwrap();
    let ledger = if R::TAIL {
        Ledger::<R>::open_rotating(old.path(), tail).unwrap()
    } else {
        Ledger::<R>::open(old.path()).unwrap()
    };
    let rows = ledger.read_all().unwrap();
    assert_eq!(
        std::fs::read_to_string(ledger.path()).unwrap(),
        text,
        "opening changed nothing"
    );
    let new = tempfile::tempdir().unwrap();
    let again = if R::TAIL {
        Ledger::<R>::open_rotating(new.path(), tail).unwrap()
    } else {
        Ledger::<R>::open(new.path()).unwrap()
    };
    again.append(&rows).unwrap();
    assert_eq!(std::fs::read_to_string(again.path()).unwrap(), again_text);
    rows
}

const DECISIONS: &str = "\
time_utc,symbol,strategy,bar_time_utc,price,position,signal,action,qty,client_order_id,reason
2026-11-24 15:30:02,AAPL,thr,2026-11-24 15:29:00,231,0,buy,order,1,pb-AAPL-1Min-20261124T1529-thr-buy,\"231 above 230, flat\"
2026-11-24 15:30:02,TSLA,sma,2026-11-24 15:29:00,250.25,-2.5,hold,hold,,,already short
2026-11-24 21:00:01,AAPL,thr,,,0,hold,market-closed,,,market closed; next open 2026-11-25 09:30 EST
";

#[test]
fn a_decisions_ledger_of_the_previous_version_reads_back() {
    let rows: Vec<DecisionRow> = read_back(DECISIONS, DECISIONS, &[]);
    assert_eq!(
        rows[0],
        DecisionRow {
            time_utc: t(15, 30, 2),
            symbol: "AAPL".into(),
            strategy: "thr".into(),
            bar_time_utc: Some(t(15, 29, 0)),
            price: Some(231.0),
            position: Qty::ZERO,
            signal: Signal::Buy,
            action: Action::Order,
            qty: Some(Qty::shares(1)),
            client_order_id: Some(id("pb-AAPL-1Min-20261124T1529-thr-buy")),
            reason: "231 above 230, flat".into(),
        }
    );
    assert_eq!(
        (rows[1].price, rows[1].position, rows[1].signal),
        (Some(250.25), q("-2.5"), Signal::Hold)
    );
    assert_eq!((rows[1].qty, &rows[1].client_order_id), (None, &None));
    assert_eq!((rows[2].bar_time_utc, rows[2].price), (None, None));
    assert_eq!(rows[2].action, Action::MarketClosed);
}

const ORDERS: &str = "\
time_utc,symbol,side,qty,price,type,client_order_id,order_id,status,message
2026-11-24 15:30:02,AAPL,buy,1,231,market,pb-AAPL-1Min-20261124T1529-thr-buy,o-1,new,
2026-11-24 15:31:02,TSLA,sell,0.5,250.125,market,pb-TSLA-1Min-20261124T1530-sma-sell,,refused,\"Alpaca said 403: \"\"insufficient qty\"\"\"
2026-11-24 15:33:02,TSLA,sell,0.5,250.125,market,pb-TSLA-1Min-20261124T1532-sma-sell,,not placed,recovered: absent at the broker (by client id and in the order list) after the grace period; never placed
2026-11-24 15:29:59,AAPL,sell,2,,market,pb-AAPL-1Min-20261124T1528-thr-sell,o-0,filled,recovered by reconcile
2026-11-24 15:34:02,AAPL,buy,1,231,market,pb-AAPL-1Min-20261124T1533-thr-buy,,unknown,network error; the next tick looks it up before trading
2026-11-24 15:35:02,AAPL,buy,1,231,market,pb-AAPL-1Min-20261124T1534-thr-buy,,not sent,tick deadline
";

#[test]
fn an_orders_ledger_of_the_previous_version_reads_back() {
    let rows: Vec<OrderRow> = read_back(ORDERS, ORDERS, &[]);
    assert_eq!(
        rows[0],
        OrderRow {
            time_utc: t(15, 30, 2),
            symbol: "AAPL".into(),
            side: Some(Side::Buy),
            qty: Some(Qty::shares(1)),
            price: Some(231.0),
            order_type: "market".into(),
            client_order_id: id("pb-AAPL-1Min-20261124T1529-thr-buy"),
            order_id: Some("o-1".into()),
            status: OrderRowStatus::Broker(OrderStatus::New),
            message: String::new(),
        }
    );
    assert_eq!(rows[1].status, OrderRowStatus::Refused);
    assert_eq!(rows[1].message, "Alpaca said 403: \"insufficient qty\"");
    assert_eq!(
        (rows[1].side, rows[1].qty),
        (Some(Side::Sell), Some(q("0.5")))
    );
    assert_eq!(rows[2].status, OrderRowStatus::NotPlaced);
    assert_eq!(rows[2].order_id, None);
    assert_eq!(
        (rows[3].price, &rows[3].status),
        (None, &OrderRowStatus::Broker(OrderStatus::Filled))
    );
    assert_eq!(rows[4].status, OrderRowStatus::Unknown);
    assert_eq!(rows[5].status, OrderRowStatus::NotSent);
}

const FILLS: &str = "\
time_utc,symbol,side,qty,price,order_id,client_order_id,status,activity_id,source
2026-11-24 15:30:03,AAPL,buy,1,231.07,o-1,pb-AAPL-1Min-20261124T1529-thr-buy,partial_fill,20261124153003::a1,tick
2026-11-24 15:30:04,TSLA,sell_short,0.123456789,250.000000001,o-2,pb-TSLA-1Min-20261124T1529-sma-sell,fill,20261124153004::a2,tick
2026-11-24 15:32:00,AAPL,buy,1,,o-1,pb-AAPL-1Min-20261124T1529-thr-buy,canceled,,tick
2026-11-24 05:00:00,AAPL,adjust,-1,,,,split,split-1,reconcile
2026-11-24 15:40:00,TSLA,adjust,3,,,,confirmed,adjust:TSLA:20261124T154000.000000,reconcile
2026-11-24 15:41:00,AAPL,sell,1,232,o-9,,fill,20261124154100::a3,reconcile
";

#[test]
fn a_fills_ledger_of_the_previous_version_reads_back() {
    // The one cell written differently from the text read: `sell_short` is written `sell`,
    // what every newer row holds.
    let again = FILLS.replace("TSLA,sell_short,", "TSLA,sell,");
    let rows: Vec<FillRow> = read_back(FILLS, &again, &[]);
    assert_eq!(
        rows[0],
        FillRow {
            time_utc: t(15, 30, 3),
            symbol: "AAPL".into(),
            side: Some(FillSide::Trade(Side::Buy)),
            qty: Qty::shares(1),
            price: Some(dec("231.07")),
            order_id: Some("o-1".into()),
            client_order_id: Some(id("pb-AAPL-1Min-20261124T1529-thr-buy")),
            status: FillStatus::PartialFill,
            activity_id: Some("20261124153003::a1".into()),
            source: "tick".into(),
        }
    );
    // `sell_short` (before sides were parsed at the boundary) is a sell.
    assert_eq!(rows[1].side, Some(FillSide::Trade(Side::Sell)));
    assert_eq!(
        rows[1].price.as_ref().map(Decimal::as_str),
        Some("250.000000001")
    );
    assert_eq!(rows[1].signed_qty(), q("-0.123456789"));
    assert_eq!(rows[2].kind(), Ok(FillKind::Ended));
    assert_eq!(rows[2].status, FillStatus::Order(OrderStatus::Canceled));
    assert_eq!(rows[2].signed_qty(), Qty::ZERO);
    assert_eq!(
        rows[3].kind(),
        Ok(FillKind::Adjustment {
            activity_id: "split-1"
        })
    );
    assert_eq!(
        (rows[3].signed_qty(), &rows[3].status),
        (q("-1"), &FillStatus::Split)
    );
    assert_eq!(rows[4].status, FillStatus::Confirmed);
    assert_eq!(rows[5].client_order_id, None);
}

const EQUITY: &str = "\
time_utc,equity,cash,long_market_value,buying_power,AAPL,TSLA
2026-11-24 15:30:02,100011.09751111286868,-23140.2,231,245432.61,1,-0.5
2026-11-24 21:00:01,100000,100000,,,0,0
";

#[test]
fn an_equity_ledger_of_the_previous_version_reads_back_in_the_brokers_digits() {
    let rows: Vec<EquityRow> = read_back(EQUITY, EQUITY, &["AAPL", "TSLA"]);
    assert_eq!(
        rows[0],
        EquityRow {
            time_utc: t(15, 30, 2),
            equity: Some(dec("100011.09751111286868")),
            cash: Some(dec("-23140.2")),
            long_market_value: Some(dec("231")),
            buying_power: Some(dec("245432.61")),
            positions: vec![Qty::shares(1), q("-0.5")],
        }
    );
    // More digits than an f64 holds: the text stays, the number is the nearest f64.
    let equity = rows[0].equity.as_ref().unwrap();
    assert_eq!(equity.as_str(), "100011.09751111286868");
    assert_eq!(equity.to_f64(), 100_011.097_511_112_87);
    assert_eq!(
        (&rows[1].long_market_value, &rows[1].buying_power),
        (&None, &None)
    );
}

#[test]
fn headers_are_the_ones_every_version_wrote() {
    let line = |cols: Vec<String>| cols.join(",");
    for (header, text) in [
        (line(header::<DecisionRow>(&[])), DECISIONS),
        (line(header::<OrderRow>(&[])), ORDERS),
        (line(header::<FillRow>(&[])), FILLS),
        (line(header::<EquityRow>(&["AAPL", "TSLA"])), EQUITY),
    ] {
        assert_eq!(header, text.lines().next().unwrap());
    }
}

/// A row that does not read names the file, the line and the column, whichever cell format
/// refused it (the csv crate's, or one of ours), and the tail's columns by symbol.
#[test]
fn a_cell_that_does_not_read_is_named_by_file_line_and_column() {
    let cases = [
        (
            DECISIONS.replace("15:30:02,TSLA", "15:30,TSLA"),
            "decisions.csv line 3: column `time_utc`: \"2026-11-24 15:30\" is not a time",
        ),
        (
            DECISIONS.replace(",hold,hold,", ",hodl,hold,"),
            "decisions.csv line 3: column `signal`: \"hodl\" is not buy, sell or hold",
        ),
        (
            ORDERS.replace(
                "buy,1,231,market,pb-AAPL-1Min-20261124T1529",
                "buy,1,2x1,market,pb-AAPL-1Min-20261124T1529",
            ),
            "orders.csv line 2: column `price`: \"2x1\" is not a number",
        ),
        (
            FILLS.replace("1,232,o-9", "1,232$,o-9"),
            "fills.csv line 7: column `price`: \"232$\" is not a number",
        ),
        (
            EQUITY.replace(",1,-0.5", ",1,-0.5.1"),
            "equity.csv line 2: column `TSLA`: \"-0.5.1\" is not a share quantity",
        ),
    ];
    for (text, said) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = text.lines().next().unwrap();
        let name = [DECISIONS, ORDERS, FILLS, EQUITY]
            .iter()
            .zip(["decisions.csv", "orders.csv", "fills.csv", "equity.csv"])
            .find(|(t, _)| t.lines().next() == Some(file))
            .unwrap()
            .1;
        std::fs::write(dir.path().join(name), &text).unwrap();
        let e = match name {
            "decisions.csv" => Ledger::<DecisionRow>::open(dir.path())
                .unwrap()
                .read_all()
                .err(),
            "orders.csv" => Ledger::<OrderRow>::open(dir.path())
                .unwrap()
                .read_all()
                .err(),
            "fills.csv" => Ledger::<FillRow>::open(dir.path())
                .unwrap()
                .read_all()
                .err(),
            _ => Ledger::<EquityRow>::open_rotating(dir.path(), &["AAPL", "TSLA"])
                .unwrap()
                .read_all()
                .err(),
        };
        let e = e.expect(said).to_string();
        assert!(e.contains(said), "{e}\nexpected: {said}");
    }
}

/// `status` and `report` read without the lock and never repair: a line torn by a power cut
/// (no newline yet) is not a row to them, and the rows before it are.
#[test]
fn a_reader_stops_before_a_torn_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let torn = format!("{EQUITY}2026-11-24 21:01:00,1000");
    std::fs::write(dir.path().join("equity.csv"), torn).unwrap();
    let ledger = Ledger::<EquityRow>::read_only(dir.path()).unwrap().unwrap();
    assert_eq!(ledger.read_all().unwrap().len(), 2);
    let missing = tempfile::tempdir().unwrap();
    assert!(Ledger::<EquityRow>::read_only(missing.path())
        .unwrap()
        .is_none());
}

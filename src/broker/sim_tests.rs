//! The simulated broker, checked against hand-computed numbers and against the errors the HTTP
//! client makes of Alpaca's own answers.

use super::*;
use crate::alpaca::api_error;
use crate::domain::{ClientOrderId, Qty};

fn q(text: &str) -> Qty {
    Qty::parse(text).unwrap()
}
use chrono::{NaiveDate, TimeZone};

/// 2026-11-24 is a Tuesday in New York winter time: 09:30 New York is 14:30 UTC.
fn utc(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, h, m, 0).unwrap()
}

fn bar(time: DateTime<Utc>, open: f64, close: f64) -> Bar {
    Bar {
        time,
        open,
        high: open.max(close),
        low: open.min(close),
        close,
        volume: 1000.0,
        trades: 0,
        vwap: f64::NAN,
    }
}

/// Four AAPL minute bars from 09:30 New York: (open, close) = (100, 101), (102, 104),
/// (105, 103), (106, 107).
fn minute_bars() -> Vec<Bar> {
    [
        (100.0, 101.0),
        (102.0, 104.0),
        (105.0, 103.0),
        (106.0, 107.0),
    ]
    .iter()
    .enumerate()
    .map(|(i, &(o, c))| bar(utc(24, 14, 30 + i as u32), o, c))
    .collect()
}

/// A sim over [`minute_bars`], its clock at 09:31 New York (the first bar closed).
fn minute_sim(settings: SimSettings) -> Sim {
    let mut sim = Sim::new(settings, utc(24, 14, 31));
    sim.load_bars("AAPL", Timeframe::Min1, minute_bars());
    sim
}

fn settings(cash: f64) -> SimSettings {
    SimSettings {
        cash,
        ..SimSettings::default()
    }
}

fn costly(cash: f64) -> SimSettings {
    SimSettings {
        cash,
        costs: FillModel {
            commission: 0.001,
            commission_fixed: 1.0,
            slippage_bps: 10.0,
        },
        ..SimSettings::default()
    }
}

fn order(side: Side, qty: &str, id: &str) -> OrderRequest {
    let id: ClientOrderId = id.parse().unwrap();
    OrderRequest::market_day("AAPL", side, Qty::parse(qty).unwrap(), &id)
}

/// An amount the port reported, as a number.
trait AsNumber {
    fn number(&self) -> f64;
}

impl AsNumber for Decimal {
    fn number(&self) -> f64 {
        self.to_f64()
    }
}

impl AsNumber for Option<Decimal> {
    fn number(&self) -> f64 {
        self.as_ref().expect("an amount").to_f64()
    }
}

fn num(x: &impl AsNumber) -> f64 {
    x.number()
}

fn close_to(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-9
}

/// The error the HTTP client makes of Alpaca's answer to `POST /v2/orders`.
fn alpaca_says(status: u16, body: &str) -> String {
    format!("{:?}", api_error("POST /v2/orders", status, body))
}

fn refusal(sim: &Sim, request: &OrderRequest) -> String {
    format!("{:?}", sim.submit_order(request).unwrap_err())
}

#[test]
fn a_round_trip_pays_commission_twice_and_slippage_once_in_cash_and_equity() {
    let sim = minute_sim(costly(10000.0));
    // Sent at 09:31, when the 09:31 bar opens at 102: filled at once, and the answer says so.
    // Entry 102 × 1.001 = 102.102; commission 1 + 10 × 102.102 × 0.001 = 2.02102;
    // cash 10 000 − 1 021.02 − 2.02102 = 8 976.95898.
    let placed = sim.submit_order(&order(Side::Buy, "10", "pb-buy")).unwrap();
    assert_eq!(placed.status, OrderStatus::Filled);
    assert_eq!(placed.filled_qty, q("10"));
    assert!(close_to(num(&placed.filled_avg_price), 102.102));
    assert!(close_to(sim.cash(), 8976.95898), "{}", sim.cash());

    // 09:32: marked at the 09:32 bar's opening print, 105: equity 8 976.95898 + 1 050 =
    // 10 026.95898.
    sim.set_now(utc(24, 14, 32)).unwrap();
    let account = sim.account().unwrap();
    assert!(close_to(num(&account.cash), 8976.95898), "{account:?}");
    assert!(close_to(num(&account.equity), 10026.95898), "{account:?}");
    let positions = sim.positions().unwrap();
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].qty, q("10"));
    assert!(close_to(num(&positions[0].avg_entry_price), 102.102));
    // Marked at the last close, 105: 10 × 105.
    assert!(close_to(num(&account.long_market_value), 1050.0));
    let bought = sim.order(&placed.id).unwrap();
    assert_eq!(bought.status, OrderStatus::Filled);
    assert!(close_to(num(&bought.filled_avg_price), 102.102));
    assert_eq!(bought.filled_at, Some(utc(24, 14, 31)), "at the bar's open");

    // The exit at the 09:32 open, 105, raw: commission 1 + 10 × 105 × 0.001 = 2.05;
    // cash 8 976.95898 + 1 050 − 2.05 = 10 024.90898, all of the equity once flat. As the
    // backtest books it: 10 × (105 − 102.102) − 2.02102 − 2.05 = 24.90898 of profit.
    sim.submit_order(&order(Side::Sell, "10", "pb-sell"))
        .unwrap();
    sim.set_now(utc(24, 14, 33)).unwrap();
    let account = sim.account().unwrap();
    assert!(close_to(num(&account.cash), 10024.90898), "{account:?}");
    assert!(close_to(num(&account.equity), 10024.90898), "{account:?}");
    assert!(sim.positions().unwrap().is_empty());

    let fills = sim.fill_activities(utc(24, 14, 0)).unwrap();
    let seen: Vec<(Side, Qty, &str)> = fills
        .iter()
        .map(|f| (f.side, f.qty, if f.last { "fill" } else { "partial_fill" }))
        .collect();
    assert_eq!(
        seen,
        [(Side::Buy, q("10"), "fill"), (Side::Sell, q("10"), "fill")]
    );
    assert!(close_to(fills[0].price.to_f64(), 102.102));
    assert_eq!(fills[1].price.as_str(), "105");
    assert_eq!(fills[1].time, utc(24, 14, 32));
    assert_ne!(fills[0].id, fills[1].id);
    assert_eq!(
        sim.fill_activities(utc(24, 14, 31)).unwrap().len(),
        1,
        "after a time, not at it"
    );
}

#[test]
fn a_buy_that_covers_a_short_and_goes_long_is_a_close_at_the_raw_price_then_an_entry() {
    let sim = minute_sim(costly(10000.0));
    // Short 10 at the 09:31 open: 102 × 0.999 = 101.898; commission 1 + 1.01898 = 2.01898;
    // cash 10 000 + 1 018.98 − 2.01898 = 11 016.96102.
    sim.submit_order(&order(Side::Sell, "10", "pb-short"))
        .unwrap();
    sim.set_now(utc(24, 14, 32)).unwrap();
    assert!(close_to(sim.cash(), 11016.96102), "{}", sim.cash());
    let short = &sim.positions().unwrap()[0];
    assert_eq!(short.qty, q("-10"));
    assert!(close_to(num(&short.avg_entry_price), 101.898));

    // Buy 15 at the 09:32 open, 105: cover 10 at 105 (commission 2.05), then 5 long at
    // 105 × 1.001 = 105.105 (commission 1 + 5 × 105.105 × 0.001 = 1.525525).
    // Cash 11 016.96102 − 1 050 − 2.05 − 525.525 − 1.525525 = 9 437.860495; at 09:33 long 5
    // marked at the 09:33 bar's opening print, 106: equity 9 437.860495 + 530 = 9 967.860495.
    let placed = sim
        .submit_order(&order(Side::Buy, "15", "pb-cover"))
        .unwrap();
    sim.set_now(utc(24, 14, 33)).unwrap();
    assert!(close_to(sim.cash(), 9437.860495), "{}", sim.cash());
    assert!(close_to(sim.equity(), 9967.860495), "{}", sim.equity());
    let long = &sim.positions().unwrap()[0];
    assert_eq!(long.qty, q("5"));
    assert!(close_to(num(&long.avg_entry_price), 105.105));
    let fills = sim.fill_activities(utc(24, 14, 31)).unwrap();
    let seen: Vec<(String, &str)> = fills
        .iter()
        .map(|f| {
            (
                f.qty.to_string(),
                if f.last { "fill" } else { "partial_fill" },
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("10".to_string(), "partial_fill"),
            ("5".to_string(), "fill")
        ]
    );
    assert_eq!(fills[0].price.as_str(), "105");
    assert!(close_to(fills[1].price.to_f64(), 105.105), "{fills:?}");
    // (10 × 105 + 5 × 105.105) / 15 = 105.035.
    let done = sim.order(&placed.id).unwrap();
    assert_eq!(done.status, OrderStatus::Filled);
    assert!(close_to(num(&done.filled_avg_price), 105.035));
}

#[test]
fn an_order_fills_at_the_next_open_or_at_the_close_it_was_decided_on() {
    for (fill, price) in [(Fill::NextOpen, "102"), (Fill::Close, "101")] {
        let sim = minute_sim(SimSettings {
            fill,
            ..settings(10000.0)
        });
        // Decided on the 09:30 bar (close 101), sent at 09:31; the 09:31 bar opens at 102.
        sim.submit_order(&order(Side::Buy, "10", "pb-buy")).unwrap();
        sim.set_now(utc(24, 14, 32)).unwrap();
        let fills = sim.fill_activities(utc(24, 0, 0)).unwrap();
        assert_eq!(fills.len(), 1, "{fill:?}");
        assert_eq!(fills[0].price.as_str(), price, "{fill:?}");
        assert_eq!(fills[0].time, utc(24, 14, 31), "{fill:?}");
        let cash = 10000.0 - 10.0 * price.parse::<f64>().unwrap();
        assert_eq!(sim.cash(), cash, "{fill:?}");
    }
}

#[test]
fn a_day_order_with_no_bar_left_in_its_session_expires_at_the_close() {
    // Bars stop at 15:58 New York (20:58 UTC); an order sent at 15:59 has nothing to fill on.
    let mut sim = Sim::new(settings(10000.0), utc(24, 20, 59));
    sim.load_bars(
        "AAPL",
        Timeframe::Min1,
        vec![
            bar(utc(24, 20, 57), 100.0, 101.0),
            bar(utc(24, 20, 58), 101.0, 102.0),
        ],
    );
    assert!(sim.clock().unwrap().is_open);
    let placed = sim
        .submit_order(&order(Side::Buy, "10", "pb-late"))
        .unwrap();
    sim.set_now(utc(24, 20, 59) + chrono::Duration::seconds(59))
        .unwrap();
    assert_eq!(sim.order(&placed.id).unwrap().status, OrderStatus::New);
    sim.set_now(utc(24, 21, 0)).unwrap();
    assert_eq!(sim.order(&placed.id).unwrap().status, OrderStatus::Expired);
    assert!(!sim.clock().unwrap().is_open);
    assert!(sim.open_orders(&["AAPL"]).unwrap().is_empty());
    assert!(sim.fill_activities(utc(24, 0, 0)).unwrap().is_empty());
    assert_eq!(sim.cash(), 10000.0);
    let account = sim.account().unwrap();
    assert_eq!(
        account.buying_power.as_ref().map(Decimal::as_str),
        Some("10000"),
        "released"
    );
}

#[test]
fn daily_bars_queue_an_order_sent_after_the_close_and_last_equity_is_the_previous_close() {
    // Mon 23, Tue 24, Wed 25 November, stamped at New York midnight (05:00 UTC):
    // (open, close) = (100, 110), (111, 120), (119, 118).
    let days = [(23, 100.0, 110.0), (24, 111.0, 120.0), (25, 119.0, 118.0)];
    let bars = days
        .iter()
        .map(|&(d, o, c)| bar(utc(d, 5, 0), o, c))
        .collect();
    // Monday 17:00 New York: after the close.
    let mut sim = Sim::new(settings(10000.0), utc(23, 22, 0));
    sim.load_bars("AAPL", Timeframe::Day1, bars);
    assert_eq!(sim.sessions().len(), 3);
    let clock = sim.clock().unwrap();
    assert!(!clock.is_open);
    assert_eq!(
        clock
            .next_open
            .unwrap()
            .with_timezone(&chrono_tz::America::New_York)
            .to_rfc3339(),
        "2026-11-24T09:30:00-05:00"
    );
    assert_eq!(
        clock
            .next_close
            .unwrap()
            .with_timezone(&chrono_tz::America::New_York)
            .to_rfc3339(),
        "2026-11-24T16:00:00-05:00"
    );
    let trade = sim.latest_trades(&["AAPL", "MSFT"]).unwrap();
    assert_eq!(trade.len(), 1, "no bars, no trade");
    assert_eq!(
        (trade["AAPL"].price, trade["AAPL"].time),
        (110.0, utc(23, 21, 0))
    );
    assert_eq!(
        num(&sim.account().unwrap().last_equity),
        10000.0,
        "Monday's close is today's, not the previous day's"
    );

    let placed = sim.submit_order(&order(Side::Buy, "10", "pb-buy")).unwrap();
    assert_eq!(placed.status, OrderStatus::Accepted, "queued for the open");

    // Tuesday 12:00: filled at Tuesday's open, 111: cash 8 890. Marked at Monday's close
    // (the last closed bar), 110: equity 9 990; last_equity is Monday's close, 10 000.
    sim.set_now(utc(24, 17, 0)).unwrap();
    let filled = sim.order(&placed.id).unwrap();
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!(filled.filled_at, Some(utc(24, 14, 30)));
    let account = sim.account().unwrap();
    assert_eq!(num(&account.cash), 8890.0);
    assert_eq!(num(&account.equity), 9990.0);
    assert_eq!(num(&account.last_equity), 10000.0);

    // A sell sent at noon: Tuesday's only bar opened at 09:30, so it expires at 16:00.
    let sell = sim
        .submit_order(&order(Side::Sell, "10", "pb-sell"))
        .unwrap();
    assert_eq!(sell.status, OrderStatus::New);
    // Wednesday 12:00: Tuesday closed at 120 with 10 held: 8 890 + 1 200 = 10 090.
    sim.set_now(utc(25, 17, 0)).unwrap();
    assert_eq!(sim.order(&sell.id).unwrap().status, OrderStatus::Expired);
    let account = sim.account().unwrap();
    assert_eq!(num(&account.last_equity), 10090.0);
    assert_eq!(num(&account.equity), 10090.0);
    // Thursday: no session in the data, so none to name.
    sim.set_now(utc(26, 17, 0)).unwrap();
    let clock = sim.clock().unwrap();
    assert!(!clock.is_open && clock.next_open.is_none() && clock.next_close.is_none());
    // Wednesday closed at 118: 8 890 + 1 180 = 10 070.
    assert_eq!(num(&sim.account().unwrap().last_equity), 10070.0);
}

#[test]
fn bars_are_the_closed_ones_within_the_query() {
    let sim = minute_sim(settings(10000.0));
    sim.set_now(utc(24, 14, 32) + chrono::Duration::seconds(30))
        .unwrap();
    let query = |start, end| BarsQuery {
        symbols: &["AAPL", "MSFT"],
        timeframe: Timeframe::Min1,
        start,
        end,
        adjustment: crate::store::bar_cache::Adjustment::Raw,
        feed: crate::config::Feed::Iex,
        max_pages: 1,
    };
    let got = sim.bars(&query(utc(24, 0, 0), None)).unwrap();
    let times: Vec<_> = got["AAPL"].iter().map(|b| b.time).collect();
    assert_eq!(
        times,
        [utc(24, 14, 30), utc(24, 14, 31)],
        "09:32 is still open"
    );
    assert!(!got.contains_key("MSFT"));
    let got = sim
        .bars(&query(utc(24, 14, 31), Some(utc(24, 14, 31))))
        .unwrap();
    assert_eq!(got["AAPL"].len(), 1, "start and end inclusive");
    let other_tf = BarsQuery {
        timeframe: Timeframe::Min5,
        ..query(utc(24, 0, 0), None)
    };
    assert!(sim.bars(&other_tf).unwrap().is_empty());
}

#[test]
fn a_sell_beyond_the_long_position_is_refused_as_alpaca_refuses_it() {
    let no_shorts = SimSettings {
        shorting: false,
        ..settings(10000.0)
    };
    let sim = minute_sim(no_shorts);
    assert_eq!(
        refusal(&sim, &order(Side::Sell, "5", "pb-a")),
        alpaca_says(
            403,
            r#"{"code":40310000,"message":"insufficient qty available for order (requested: 5, available: 0)"}"#
        )
    );
    // Long 10 with shorting on: 11 is still more than is held, and 10 held by a working sell
    // leave none for another.
    let sim = sim_long_10(settings(10000.0));
    assert_eq!(
        refusal(&sim, &order(Side::Sell, "11", "pb-b")),
        alpaca_says(
            403,
            r#"{"code":40310000,"message":"insufficient qty available for order (requested: 11, available: 10)"}"#
        )
    );
    sim.submit_order(&order(Side::Sell, "10", "pb-c")).unwrap();
    assert_eq!(
        refusal(&sim, &order(Side::Sell, "0.5", "pb-d")),
        alpaca_says(
            403,
            r#"{"code":40310000,"message":"insufficient qty available for order (requested: 0.5, available: 0)"}"#
        )
    );
}

/// A sim holding 10 AAPL bought at the 09:31 open, its clock at 09:32:30 (between two bar
/// opens, so that an order sent then stays working).
fn sim_long_10(settings: SimSettings) -> Sim {
    let sim = minute_sim(settings);
    sim.submit_order(&order(Side::Buy, "10", "pb-long"))
        .unwrap();
    sim.set_now(utc(24, 14, 32) + chrono::Duration::seconds(30))
        .unwrap();
    assert_eq!(sim.positions().unwrap()[0].qty, q("10"));
    sim
}

#[test]
fn a_fractional_short_and_an_order_against_a_working_one_are_refused() {
    let sim = minute_sim(settings(10000.0));
    assert_eq!(
        refusal(&sim, &order(Side::Sell, "0.5", "pb-a")),
        alpaca_says(
            403,
            r#"{"code":40310000,"message":"fractional orders cannot be sold short"}"#
        )
    );
    // Half a minute into the 09:31 bar no bar opens: the buy works until the 09:32 open.
    sim.set_now(utc(24, 14, 31) + chrono::Duration::seconds(30))
        .unwrap();
    sim.submit_order(&order(Side::Buy, "1", "pb-b")).unwrap();
    let wash = alpaca_says(
        403,
        r#"{"code":40310000,"message":"potential wash trade detected. use complex orders"}"#,
    );
    assert_eq!(refusal(&sim, &order(Side::Sell, "1", "pb-c")), wash);
    sim.set_now(utc(24, 14, 32)).unwrap();
    sim.submit_order(&order(Side::Sell, "1", "pb-c"))
        .expect("no longer against a working order once the buy filled");
}

#[test]
fn buying_power_counts_what_working_orders_hold() {
    // $1 000 of cash; at 09:31:30 no bar opens, the latest trade is the 09:30 close, 101:
    // 10 shares cost 1 010, and an order stays working until the 09:32 open.
    let between = utc(24, 14, 31) + chrono::Duration::seconds(30);
    let sim = minute_sim(settings(1000.0));
    sim.set_now(between).unwrap();
    let no_power = alpaca_says(
        403,
        r#"{"buying_power":"1000","code":40310000,"cost_basis":"1010","message":"insufficient buying power"}"#,
    );
    assert_eq!(refusal(&sim, &order(Side::Buy, "10", "pb-a")), no_power);
    // 5 shares hold 505; 5 more would need 505 of the 495 left.
    sim.submit_order(&order(Side::Buy, "5", "pb-b")).unwrap();
    assert_eq!(refusal(&sim, &order(Side::Buy, "5", "pb-c")), no_power);
    assert_eq!(
        num(&sim.account().unwrap().buying_power),
        495.0,
        "1 000 less the 505 held"
    );
    sim.submit_order(&order(Side::Buy, "4", "pb-c"))
        .expect("a refused order's client id was never used");
    // A short needs buying power too: flat with $1 000, 10 short at 101 is 1 010.
    let sim = minute_sim(settings(1000.0));
    sim.set_now(between).unwrap();
    assert_eq!(refusal(&sim, &order(Side::Sell, "10", "pb-d")), no_power);
}

#[test]
fn a_client_order_id_is_accepted_once_forever() {
    let sim = minute_sim(settings(10000.0));
    let first = sim.submit_order(&order(Side::Buy, "1", "pb-once")).unwrap();
    let unique = alpaca_says(
        422,
        r#"{"code":40010001,"message":"client_order_id must be unique"}"#,
    );
    let again = sim
        .submit_order(&order(Side::Buy, "1", "pb-once"))
        .unwrap_err();
    assert!(again.is_duplicate_client_id());
    assert_eq!(format!("{again:?}"), unique);
    sim.set_now(utc(24, 14, 35)).unwrap();
    assert_eq!(
        refusal(&sim, &order(Side::Buy, "1", "pb-once")),
        unique,
        "after the fill too"
    );
    let found = sim.order_by_client_id("pb-once").unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.status.clone()),
        (first.id.as_str(), OrderStatus::Filled)
    );
    assert!(sim.order_by_client_id("pb-never").unwrap().is_none());
    let missing = sim.order("no-such-id").unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
    assert_eq!(sim.orders_since(utc(24, 0, 0), None).unwrap().len(), 1);
}

#[test]
fn the_clock_never_goes_back() {
    let sim = minute_sim(settings(10000.0));
    let e = sim.set_now(utc(24, 14, 30)).unwrap_err();
    assert!(e.to_string().contains("cannot go back"), "{e}");
    assert_eq!(sim.now(), utc(24, 14, 31));
}

#[test]
fn the_desk_places_an_order_through_the_sim_reads_it_back_and_the_fill_reaches_the_ledger() {
    use crate::fills::{self, Fills};
    use crate::orders::{Desk, Placed};
    use crate::store::ledger::Ledger;
    use crate::store::rows::OrderRowStatus;
    use crate::store::State;

    let dir = tempfile::tempdir().unwrap();
    let orders = Ledger::open(dir.path()).unwrap();
    let fills = Fills::open(dir.path()).unwrap();
    let sim = minute_sim(settings(10000.0));
    let desk = Desk {
        client: &sim,
        orders: &orders,
        data_dir: dir.path(),
    };
    let mut state = State::default();
    let request = order(Side::Buy, "10", "pb-AAPL-1Min-20261124T1430-thr-buy");
    let now = sim.now();
    match desk.place(&mut state, now, &request, 101.0).unwrap() {
        Placed::Accepted { order, already } => {
            assert!(!already);
            assert_eq!(order.status, OrderStatus::Filled, "at the 09:31 open");
        }
        other => panic!("{other:?}"),
    }
    assert!(state.intents.is_empty(), "settled");
    assert_eq!(state.tracked.len(), 1);
    let rows = orders.read_all().unwrap();
    assert_eq!(rows[0].status, OrderRowStatus::Broker(OrderStatus::Filled));

    // The same decision again: the broker refuses the id, the desk finds the first order.
    match desk.place(&mut state, now, &request, 101.0).unwrap() {
        Placed::Accepted { already, .. } => assert!(already),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        sim.orders_since(utc(24, 0, 0), None).unwrap().len(),
        1,
        "one order"
    );

    // Filled at the 09:31 open, 102: the fill sync writes it once and stops tracking the order.
    sim.set_now(utc(24, 14, 32)).unwrap();
    let synced = fills::sync_tracked(&sim, &fills, &mut state.tracked, &[], sim.now()).unwrap();
    assert_eq!(synced.new_fills.len(), 1);
    assert!(state.tracked.is_empty());
    let recorded = fills.recorded().unwrap();
    assert_eq!(recorded.net_qty["AAPL"], Qty::shares(10));
    let row = &fills.recorded().unwrap().by_activity;
    let (qty, price) = row.values().next().unwrap();
    assert_eq!(
        (qty.to_string(), price.as_ref().unwrap().to_string()),
        ("10".to_string(), "102".to_string())
    );
}

/// The backtest and the simulated broker share one fill model: the same round trip, decided on
/// the same bars, ends with the same equity, in both fill modes.
#[test]
fn the_sim_charges_a_round_trip_as_the_backtest_does() {
    use crate::backtest::engine::{self, Sizing};
    use crate::strategy::Strategy;

    // Closes 100, 105 (above 104: buy), 108, 95 (below 96: sell), 93, 92.
    let prices = [
        (100.0, 100.0),
        (100.0, 105.0),
        (106.0, 108.0),
        (107.0, 95.0),
        (94.0, 93.0),
        (93.0, 92.0),
    ];
    let bars: Vec<Bar> = prices
        .iter()
        .enumerate()
        .map(|(i, &(o, c))| bar(utc(24, 14, 30 + i as u32), o, c))
        .collect();
    let strategy = Strategy::Threshold {
        buy_above: 104.0,
        sell_below: 96.0,
    };
    let costs = costly(10000.0).costs;
    // Next open: in at 106 × 1.001 = 106.106 (commission 1 + 1.06106), out at 94 (commission
    // 1 + 0.94): 10 000 + 10 × (94 − 106.106) − 2.06106 − 1.94 = 9 874.93894.
    // At the close decided on: in at 105 × 1.001 = 105.105 (commission 2.05105), out at 95
    // (commission 1.95): 10 000 − 101.05 − 2.05105 − 1.95 = 9 894.94895.
    for (fill, expected) in [(Fill::NextOpen, 9874.93894), (Fill::Close, 9894.94895)] {
        let backtest_settings = engine::Settings {
            cash: 10000.0,
            commission: costs.commission,
            commission_fixed: costs.commission_fixed,
            slippage_bps: costs.slippage_bps,
            fill,
            sizing: Sizing::Qty(10.0),
            ..engine::Settings::default()
        };
        let backtest = engine::run(&bars, &strategy, &backtest_settings);
        assert_eq!(backtest.trades.len(), 1, "{fill:?}");
        let backtest_equity = *backtest.equity.last().unwrap();
        assert!(
            close_to(backtest_equity, expected),
            "{fill:?}: {backtest_equity}"
        );

        let mut sim = Sim::new(
            SimSettings {
                fill,
                costs,
                ..settings(10000.0)
            },
            utc(24, 14, 30),
        );
        sim.load_bars("AAPL", Timeframe::Min1, bars.clone());
        // Each bar's decision is sent when it closes, as the tick sends it.
        for (i, b) in bars.iter().enumerate() {
            sim.set_now(sim.bar_close(Timeframe::Min1, b)).unwrap();
            let held: f64 = sim
                .positions()
                .unwrap()
                .first()
                .map_or(0.0, |p| p.qty.to_f64());
            let side = match strategy.decide(&bars[..=i], b.close, held).signal {
                crate::domain::Signal::Buy => Side::Buy,
                crate::domain::Signal::Sell => Side::Sell,
                crate::domain::Signal::Hold => continue,
            };
            sim.submit_order(&order(side, "10", &format!("pb-{i}")))
                .unwrap();
        }
        assert!(
            close_to(sim.equity(), expected),
            "{fill:?}: {}",
            sim.equity()
        );
        assert!(sim.positions().unwrap().is_empty(), "{fill:?}");
    }
}

#[path = "sim_tests_market.rs"]
mod market;

use super::*;

fn d(t: &str) -> Decimal {
    Decimal::parse(t).unwrap()
}

fn entry() -> ClientOrderId {
    "pb-AAPL-1Min-20261124T1530-thr-buy".parse().unwrap()
}

fn none(_: &str) -> bool {
    false
}

fn held<'a>(
    p: Protection,
    qty: &str,
    avg: &'a Decimal,
    entry: &'a ClientOrderId,
    spent: &'a dyn Fn(&str) -> bool,
) -> Held<'a> {
    Held {
        symbol: "AAPL",
        protection: p,
        qty: Qty::parse(qty).unwrap(),
        avg_entry_price: Some(avg),
        price: Some(100.0),
        entry: Some(entry),
        spent,
        resting: Vec::new(),
        trading: false,
    }
}

fn stop(pct: f64) -> Protection {
    Protection {
        stop_loss_pct: Some(pct),
        ..Protection::default()
    }
}

fn resting(id: &str, cid: &str, side: Side, qty: i64) -> Resting {
    Resting {
        id: id.into(),
        client_order_id: cid.into(),
        side: Some(side),
        remaining: Qty::shares(qty),
    }
}

#[test]
fn a_long_gets_a_gtc_stop_below_its_average_entry_in_cents_under_the_entrys_id() {
    let (avg, e) = (d("101.37"), entry());
    let out = protect(&held(stop(2.0), "10", &avg, &e, &none));
    let r = out.place.unwrap();
    // 101.37 × 0.98 = 99.3426 → 99.34
    assert_eq!(
        r.kind,
        OrderKind::Stop {
            stop_price: d("99.34")
        }
    );
    assert_eq!(
        (r.side, r.qty, r.time_in_force),
        (Side::Sell, Qty::shares(10), TimeInForce::Gtc)
    );
    assert_eq!(
        r.client_order_id.as_str(),
        "pb-AAPL-1Min-20261124T1530-thr-buy-p1"
    );
    assert!(out.cancel.is_empty() && out.unprotected.is_none());
}

#[test]
fn stop_and_target_are_one_oco_and_a_short_is_protected_with_buys() {
    let (avg, e) = (d("50"), entry());
    let both = Protection {
        stop_loss_pct: Some(3.0),
        take_profit_pct: Some(10.0),
        trailing_stop_pct: None,
    };
    let mut h = held(both, "-4", &avg, &e, &none);
    h.price = Some(50.0);
    let r = protect(&h).place.unwrap();
    // Short at 50: stop above at 51.50, target below at 45.00.
    assert_eq!(r.side, Side::Buy);
    assert_eq!(r.qty, Qty::shares(4));
    assert_eq!(
        r.kind,
        OrderKind::Oco {
            limit_price: d("45.00"),
            stop_price: d("51.50")
        }
    );
    let trailing = Protection {
        trailing_stop_pct: Some(1.5),
        ..Protection::default()
    };
    let r = protect(&held(trailing, "3", &avg, &e, &none))
        .place
        .unwrap();
    assert_eq!(
        r.kind,
        OrderKind::TrailingStop {
            trail_percent: d("1.5")
        }
    );
}

#[test]
fn a_fitting_stop_is_left_alone_and_a_wrong_or_orphaned_one_is_canceled_first() {
    let (avg, e) = (d("100"), entry());
    let cid = "pb-AAPL-1Min-20261124T1530-thr-buy-p1";
    let fits = resting("o1", cid, Side::Sell, 10);
    let mut h = held(stop(2.0), "10", &avg, &e, &none);
    h.resting = vec![fits];
    assert_eq!(protect(&h), Protect::default());
    // The position grew to 15: cancel the 10-share stop, place the next attempt for 15.
    h.qty = Qty::shares(15);
    let out = protect(&h);
    assert_eq!(out.cancel, ["o1"]);
    let r = out.place.unwrap();
    assert_eq!(r.qty, Qty::shares(15));
    assert_eq!(
        r.client_order_id.as_str(),
        "pb-AAPL-1Min-20261124T1530-thr-buy-p2"
    );
    // Flat: the stop would open a short when it triggers.
    h.qty = Qty::ZERO;
    let out = protect(&h);
    assert_eq!((out.cancel, out.place), (vec!["o1".to_string()], None));
}

#[test]
fn an_attempt_that_ended_unfilled_is_never_reused() {
    let (avg, e) = (d("100"), entry());
    let spent = |id: &str| id.ends_with("-p1") || id.ends_with("-p2");
    let r = protect(&held(stop(2.0), "10", &avg, &e, &spent))
        .place
        .unwrap();
    assert_eq!(
        r.client_order_id.as_str(),
        "pb-AAPL-1Min-20261124T1530-thr-buy-p3"
    );
}

#[test]
fn a_price_already_through_the_stop_closes_at_market_under_the_stops_id() {
    let (avg, e) = (d("100"), entry());
    let mut h = held(stop(2.0), "10", &avg, &e, &none);
    h.price = Some(97.5);
    let r = protect(&h).place.unwrap();
    assert_eq!(
        (r.kind, r.time_in_force, r.side),
        (OrderKind::Market, TimeInForce::Day, Side::Sell)
    );
    assert_eq!(
        r.client_order_id.as_str(),
        "pb-AAPL-1Min-20261124T1530-thr-buy-p1"
    );
}

#[test]
fn a_target_already_reached_closes_at_market_too() {
    let (avg, e) = (d("100"), entry());
    let mut h = held(
        Protection {
            take_profit_pct: Some(5.0),
            ..Protection::default()
        },
        "10",
        &avg,
        &e,
        &none,
    );
    h.price = Some(105.0);
    let r = protect(&h).place.unwrap();
    assert_eq!((r.kind, r.side), (OrderKind::Market, Side::Sell));
    h.price = Some(104.99);
    let r = protect(&h).place.unwrap();
    assert_eq!(
        r.kind,
        OrderKind::Limit {
            limit_price: d("105.00")
        }
    );
}

#[test]
fn what_cannot_be_protected_says_why() {
    let (avg, e) = (d("100"), entry());
    let mut h = held(stop(2.0), "10", &avg, &e, &none);
    h.trading = true;
    assert!(protect(&h)
        .unprotected
        .unwrap()
        .contains("waiting for the bot's working order"));
    h.trading = false;
    h.avg_entry_price = None;
    assert!(protect(&h)
        .unprotected
        .unwrap()
        .contains("no average entry price"));
    let fractional = held(
        Protection {
            trailing_stop_pct: Some(2.0),
            ..Protection::default()
        },
        "0.5",
        &avg,
        &e,
        &none,
    );
    assert!(protect(&fractional)
        .unprotected
        .unwrap()
        .contains("whole shares"));
    // A fractional stop is `day`: Alpaca refuses fractional gtc orders.
    let r = protect(&held(stop(2.0), "0.5", &avg, &e, &none))
        .place
        .unwrap();
    assert_eq!(r.time_in_force, TimeInForce::Day);
}

#[test]
fn prices_round_to_what_alpaca_accepts() {
    assert_eq!(price(99.3426).as_str(), "99.34");
    assert_eq!(price(99.345001).as_str(), "99.35");
    assert_eq!(price(0.123456).as_str(), "0.1235");
}

/// The protection to put back after a refused strategy order: the level of the resting one,
/// under the next attempt id (the resting one's, canceled, is spent at the broker); none for
/// a flat position, and none when the price is through the stop (a market close is the next
/// tick's to decide).
#[test]
fn a_replacement_is_the_same_protection_under_the_next_attempts_id() {
    let (avg, e) = (d("101.37"), entry());
    let mut h = held(stop(2.0), "10", &avg, &e, &none);
    h.resting = vec![resting("o1", &format!("{}-p1", e.as_str()), Side::Sell, 10)];
    let r = replacement(&h).unwrap();
    assert_eq!(
        (r.kind.clone(), r.client_order_id.as_str(), r.qty),
        (
            OrderKind::Stop {
                stop_price: d("99.34")
            },
            format!("{}-p2", e.as_str()).as_str(),
            Qty::shares(10)
        )
    );
    h.price = Some(99.0);
    assert_eq!(replacement(&h), None, "through the stop");
    let flat = held(stop(2.0), "0", &avg, &e, &none);
    assert_eq!(replacement(&flat), None);
}

#[test]
fn an_entry_whose_protection_was_put_back_thousands_of_times_is_still_protected() {
    let (avg, e) = (d("100"), entry());
    // A refused exit every minute for over five sessions: 2,000 attempts spent.
    let spent = |id: &str| {
        id.rsplit_once("-p")
            .and_then(|(_, n)| n.parse::<u32>().ok())
            .is_some_and(|n| n <= 2000)
    };
    let r = protect(&held(stop(2.0), "10", &avg, &e, &spent))
        .place
        .unwrap();
    assert_eq!(
        r.client_order_id.as_str(),
        "pb-AAPL-1Min-20261124T1530-thr-buy-p2001"
    );
}

//! The simulated market: sessions, the latest trade and mark at a bar's open, and the
//! protective orders it holds (OCO).

use super::*;

#[test]
fn given_sessions_replace_the_derived_ones_for_an_early_close() {
    // Friday 27 November 2026 closes at 13:00 New York (18:00 UTC).
    let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    let early = Session {
        close: utc(27, 18, 0),
        ..Session::regular(day)
    };
    let mut sim = Sim::new(settings(10_000.0), utc(27, 17, 59));
    sim.load_bars(
        "AAPL",
        Timeframe::Min1,
        vec![
            bar(utc(27, 17, 58), 100.0, 101.0),
            bar(utc(27, 18, 0), 102.0, 103.0),
        ],
    );
    assert_eq!(
        sim.sessions(),
        [Session::regular(day)],
        "derived: 09:30 to 16:00"
    );
    sim.set_sessions(vec![early]);
    let clock = sim.clock().unwrap();
    assert!(clock.is_open);
    assert_eq!(
        clock
            .next_close
            .unwrap()
            .with_timezone(&chrono_tz::America::New_York)
            .to_rfc3339(),
        "2026-11-27T13:00:00-05:00"
    );
    // The 13:00 bar is after the close: the order sent at 12:59 expires instead of filling.
    let placed = sim
        .submit_order(&order(Side::Buy, "1", "pb-early"))
        .unwrap();
    sim.set_now(utc(27, 18, 5)).unwrap();
    assert!(!sim.clock().unwrap().is_open);
    assert_eq!(sim.order(&placed.id).unwrap().status, OrderStatus::Expired);
    // A daily bar of that day closes at the early close.
    let daily = bar(utc(27, 5, 0), 100.0, 103.0);
    assert_eq!(sim.bar_close(Timeframe::Day1, &daily), utc(27, 18, 0));
}

#[test]
fn the_latest_trade_and_the_mark_are_the_price_an_order_sent_now_fills_at() {
    // 09:31: the 09:31 bar opens at 102. Next-open: the opening print, stamped now. Close:
    // the 09:30 bar's close, 101, stamped at its close, 09:31 too.
    for (fill, price) in [(Fill::NextOpen, 102.0), (Fill::Close, 101.0)] {
        let sim = minute_sim(SimSettings {
            fill,
            ..settings(10000.0)
        });
        let trade = sim.latest_trades(&["AAPL"]).unwrap()["AAPL"];
        assert_eq!(
            (trade.price, trade.time),
            (price, utc(24, 14, 31)),
            "{fill:?}"
        );
        let placed = sim.submit_order(&order(Side::Buy, "10", "pb-now")).unwrap();
        assert_eq!(placed.status, OrderStatus::Filled, "{fill:?}");
        assert_eq!(placed.filled_qty, q("10"), "{fill:?}");
        assert_eq!(num(&placed.filled_avg_price), price, "{fill:?}");
        assert_eq!(placed.filled_at, Some(utc(24, 14, 31)), "{fill:?}");
        // Marked at the same price: equity is the starting cash, not yet moved by the market.
        let account = sim.account().unwrap();
        assert_eq!(num(&account.equity), 10000.0, "{fill:?}");
        assert_eq!(num(&account.cash), 10000.0 - 10.0 * price, "{fill:?}");
        // Marked at the fill price: 10 × price.
        assert_eq!(num(&account.long_market_value), 10.0 * price, "{fill:?}");
    }
    // Half a minute later no bar opens: the latest trade is the last closed bar's close (the
    // 09:30 bar's 101, closed at 09:31), in both modes, and a new order waits for a bar.
    for fill in [Fill::NextOpen, Fill::Close] {
        let sim = minute_sim(SimSettings {
            fill,
            ..settings(10000.0)
        });
        sim.set_now(utc(24, 14, 31) + chrono::Duration::seconds(30))
            .unwrap();
        let trade = sim.latest_trades(&["AAPL"]).unwrap()["AAPL"];
        assert_eq!(
            (trade.price, trade.time),
            (101.0, utc(24, 14, 31)),
            "{fill:?}"
        );
        let placed = sim
            .submit_order(&order(Side::Buy, "1", "pb-later"))
            .unwrap();
        let expected = match fill {
            Fill::NextOpen => OrderStatus::New,
            Fill::Close => OrderStatus::Filled,
        };
        assert_eq!(placed.status, expected, "{fill:?}: the market is open");
    }
}

#[test]
fn an_order_sent_at_a_daily_session_open_fills_at_that_days_open_at_once() {
    // Mon 23 (100, 110), Tue 24 (111, 120). Tuesday 09:30 New York is 14:30 UTC.
    let bars = vec![
        bar(utc(23, 5, 0), 100.0, 110.0),
        bar(utc(24, 5, 0), 111.0, 120.0),
    ];
    let mut sim = Sim::new(settings(10000.0), utc(24, 14, 30));
    sim.load_bars("AAPL", Timeframe::Day1, bars);
    assert_eq!(
        sim.bar_open(Timeframe::Day1, &bar(utc(24, 5, 0), 0.0, 0.0)),
        utc(24, 14, 30)
    );
    let trade = sim.latest_trades(&["AAPL"]).unwrap()["AAPL"];
    assert_eq!((trade.price, trade.time), (111.0, utc(24, 14, 30)));
    let placed = sim.submit_order(&order(Side::Buy, "10", "pb-day")).unwrap();
    assert_eq!(placed.status, OrderStatus::Filled);
    // 10 000 − 10 × 111 = 8 890; at Tuesday's close, 120: 8 890 + 1 200 = 10 090.
    assert_eq!(sim.cash(), 8890.0);
    sim.set_now(utc(24, 21, 0)).unwrap();
    assert_eq!(sim.equity(), 10090.0);
}

/// An OCO selling `qty` AAPL: target `limit`, stop `stop`.
fn oco(qty: &str, limit: &str, stop: &str, id: &str) -> OrderRequest {
    OrderRequest {
        kind: crate::broker::OrderKind::Oco {
            limit_price: Decimal::parse(limit).unwrap(),
            stop_price: Decimal::parse(stop).unwrap(),
        },
        ..order(Side::Sell, qty, id)
    }
}

#[test]
fn an_oco_rests_as_a_limit_with_a_held_stop_leg_and_both_end_together() {
    let sim = sim_long_10(settings(10_000.0));
    let placed = sim
        .submit_order(&oco("10", "110", "90", "pb-long-p1"))
        .unwrap();
    assert_eq!(placed.order_type.as_deref(), Some("limit"));
    assert_eq!(placed.legs.len(), 1);
    let leg = &placed.legs[0];
    assert_eq!(
        (leg.order_type.as_deref(), leg.status.clone(), leg.qty),
        (Some("stop"), OrderStatus::Held, q("10"))
    );
    assert_ne!(leg.client_order_id, "pb-long-p1", "Alpaca names the leg");
    // Listed once, the leg nested under its parent; the shares are reserved once.
    let open = sim.open_orders(&[]).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].legs.len(), 1);
    let more = oco("1", "110", "90", "pb-more");
    assert!(refusal(&sim, &more).contains("insufficient qty available"));
    // A buy beside it is not a wash trade (complex orders are exempt).
    sim.submit_order(&order(Side::Buy, "1", "pb-add")).unwrap();
    // Canceling the parent cancels the leg.
    sim.cancel_order(&placed.id).unwrap();
    let after = sim.order(&placed.id).unwrap();
    assert_eq!(after.status, OrderStatus::Canceled);
    assert_eq!(after.legs[0].status, OrderStatus::Canceled);
    assert_eq!(sim.order(&leg.id).unwrap().status, OrderStatus::Canceled);
}

#[test]
fn a_day_protective_order_expires_at_the_close_and_a_gtc_one_rests_on() {
    // Long 10 (at 102, 09:31): a gtc stop for 5 at 90 and a day OCO for 5 (target 200, stop
    // 90), neither reached by bars that stay within 100..107.
    let sim = sim_long_10(settings(10_000.0));
    let gtc = OrderRequest {
        kind: crate::broker::OrderKind::Stop {
            stop_price: Decimal::parse("90").unwrap(),
        },
        time_in_force: crate::broker::TimeInForce::Gtc,
        ..order(Side::Sell, "5", "pb-long-p1")
    };
    let day = OrderRequest {
        time_in_force: crate::broker::TimeInForce::Day,
        ..oco("5", "200", "90", "pb-long-p2")
    };
    let gtc = sim.submit_order(&gtc).unwrap();
    let day = sim.submit_order(&day).unwrap();
    // 15:59:59 New York: both rest. 16:00 (21:00 UTC): the day OCO expires with its leg.
    sim.set_now(utc(24, 20, 59) + chrono::Duration::seconds(59))
        .unwrap();
    assert_eq!(sim.order(&day.id).unwrap().status, OrderStatus::New);
    sim.set_now(utc(24, 21, 0)).unwrap();
    let after = sim.order(&day.id).unwrap();
    assert_eq!(after.status, OrderStatus::Expired);
    assert_eq!(after.legs[0].status, OrderStatus::Expired);
    assert_eq!(sim.order(&gtc.id).unwrap().status, OrderStatus::New);
    let open = sim.open_orders(&[]).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, gtc.id);
}

//! The tick's decisions from in-memory snapshots: no broker, no files, no clock.

use super::*;
use crate::store::state::OrderIntent;
use chrono::{Duration, TimeZone};

/// 10:00 New York on Tuesday 2026-11-24; the session closes at 16:00.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap()
}

/// Minute bars ending on the minute before `now()`, with these closes.
fn bars(closes: &[f64]) -> Vec<Bar> {
    let first = now() - Duration::minutes(closes.len() as i64);
    closes
        .iter()
        .enumerate()
        .map(|(i, &c)| Bar {
            time: first + Duration::minutes(i as i64),
            open: c,
            high: c,
            low: c,
            close: c,
            volume: 100.0,
            trades: 1,
            vwap: c,
        })
        .collect()
}

/// SMA(2) over SMA(3): 8 > 7.67 on the bar before, 5 < 6 on the last: a cross below.
const CROSS_DOWN: [f64; 5] = [6.0, 7.0, 8.0, 8.0, 2.0];
/// 3 < 3.33 before, 4.5 > 4 on the last: a cross above.
const CROSS_UP: [f64; 5] = [5.0, 4.0, 3.0, 3.0, 6.0];

fn q(n: i64) -> Qty {
    Qty::shares(n)
}

fn market(closes: &[f64], held: i64) -> Market {
    Market {
        bars: bars(closes),
        trade: Some(LastTrade {
            time: now() - Duration::seconds(5),
            price: *closes.last().unwrap(),
        }),
        broker: q(held),
        own: q(held),
        ..Market::default()
    }
}

fn snapshot<'a>(symbols: Vec<(Rules<'a>, Market)>) -> Snapshot<'a> {
    Snapshot {
        now: now(),
        timeframe: Timeframe::Min1,
        feed: "iex",
        shared_account: false,
        equity: 100_000.0,
        stop_file: false,
        flatten: false,
        next_close: Some(now() + Duration::hours(6)),
        close_unknown: None,
        flattens_ended_unfilled: Box::leak(Box::default()),
        symbols,
    }
}

fn rules<'a>(name: &'a str, strategy: &'a Strategy, shares: f64) -> Rules<'a> {
    Rules {
        name,
        strategy,
        sizing: Sizing::Qty(shares),
        fractional: false,
    }
}

fn sma(allow_short: bool) -> Strategy {
    Strategy::SmaCross {
        fast: 2,
        slow: 3,
        allow_short,
    }
}

fn only(plan: &Plan) -> &Step {
    assert_eq!(plan.steps.len(), 1);
    &plan.steps[0].1
}

fn sent(step: &Step) -> &Checked {
    match step {
        Step::Send(c) => c,
        Step::Row { row, .. } => panic!("expected an order, got the row {row:?}"),
    }
}

fn row(step: &Step) -> &Row {
    match step {
        Step::Row { row, .. } => row,
        Step::Send(c) => panic!("expected a row, got the order {c:?}"),
    }
}

#[test]
fn a_cross_above_while_flat_is_one_checked_buy_keyed_by_its_bar() {
    let s = sma(false);
    let snap = snapshot(vec![(rules("TSLA", &s, 3.0), market(&CROSS_UP, 0))]);
    let plan = plan(&snap, &State::default(), &Limits::NONE);
    let order = sent(only(&plan));
    assert_eq!((order.side, order.qty), (Side::Buy, q(3)));
    assert_eq!(
        order.client_id.as_str(),
        "pb-TSLA-1Min-20261124T1459-sma-buy",
        "the last bar, 14:59 UTC"
    );
    assert_eq!(order.price, 6.0);
    assert_eq!(order.row.action, Action::Order);
    assert_eq!(order.row.position, Qty::ZERO);
    assert!(order.then.is_none() && order.leg.is_none());
}

#[test]
fn a_reversal_is_a_close_then_an_open_leg_checked_on_the_flat_position() {
    let s = sma(true);
    let snap = snapshot(vec![(rules("TSLA", &s, 2.0), market(&CROSS_DOWN, 5))]);
    let plan = plan(&snap, &State::default(), &Limits::NONE);
    let close = sent(only(&plan));
    assert_eq!(
        (close.side, close.qty),
        (Side::Sell, q(5)),
        "the whole long, never 7"
    );
    let open = sent(close.then.as_deref().expect("an open leg for this tick"));
    assert_eq!((open.side, open.qty), (Side::Sell, q(2)));
    assert_eq!(open.row.position, Qty::ZERO, "checked on the flat position");
    assert_eq!(
        open.client_id.as_str(),
        "pb-TSLA-1Min-20261124T1459-sma-sell-open"
    );
    let leg = close
        .leg
        .as_ref()
        .expect("the same leg, to wait if need be");
    assert_eq!(leg.client_order_id, open.client_id);
    assert!(
        plan.pending_legs.is_empty(),
        "a new leg waits only once its close is accepted"
    );
}

#[test]
fn the_days_order_count_includes_the_orders_planned_before_in_the_same_tick() {
    let s = Strategy::Threshold {
        buy_above: 10.0,
        sell_below: 5.0,
    };
    let limits = Limits {
        max_orders_per_day: Some(1),
        ..Limits::NONE
    };
    let snap = snapshot(vec![
        (rules("AAPL", &s, 1.0), market(&[12.0], 0)),
        (rules("TSLA", &s, 1.0), market(&[12.0], 0)),
    ]);
    let plan = plan(&snap, &State::default(), &limits);
    assert_eq!(sent(&plan.steps[0].1).side, Side::Buy);
    let refused = row(&plan.steps[1].1);
    assert_eq!(refused.action, Action::Refused);
    assert!(
        refused.reason.contains("max_orders_per_day (1) reached"),
        "{refused:?}"
    );
    assert_eq!(refused.order.as_ref().map(|o| o.0), Some(q(1)));
}

#[test]
fn the_kill_switch_refuses_with_the_order_it_would_have_sent() {
    let s = sma(false);
    let mut snap = snapshot(vec![(rules("TSLA", &s, 3.0), market(&CROSS_UP, 0))]);
    snap.stop_file = true;
    let plan = plan(&snap, &State::default(), &Limits::NONE);
    let refused = row(only(&plan));
    assert_eq!(refused.action, Action::Refused);
    assert_eq!(refused.signal, Signal::Buy);
    assert!(refused.reason.contains("kill switch"), "{refused:?}");
}

#[test]
fn an_order_without_a_known_outcome_blocks_its_symbol_only() {
    let s = Strategy::Threshold {
        buy_above: 10.0,
        sell_below: 5.0,
    };
    let state = State {
        intents: vec![OrderIntent {
            client_order_id: "pb-AAPL-x".parse().unwrap(),
            symbol: "AAPL".into(),
            side: "buy".into(),
            qty: q(1),
            price: 12.0,
            created_at: now() - Duration::minutes(1),
        }],
        ..State::default()
    };
    let snap = snapshot(vec![
        (rules("AAPL", &s, 1.0), market(&[12.0], 0)),
        (rules("TSLA", &s, 1.0), market(&[12.0], 0)),
    ]);
    let plan = plan(&snap, &state, &Limits::NONE);
    let blocked = row(&plan.steps[0].1);
    assert_eq!(blocked.action, Action::Refused);
    assert!(blocked.order.is_none());
    assert!(blocked.reason.contains("pb-AAPL-x"), "{blocked:?}");
    assert_eq!(sent(&plan.steps[1].1).side, Side::Buy);
}

#[test]
fn a_waiting_open_leg_holds_while_its_close_works_and_goes_once_flat() {
    let s = sma(true);
    let close_id = "pb-TSLA-1Min-20261124T1457-sma-sell"
        .parse::<ClientOrderId>()
        .unwrap();
    let leg = PendingLeg {
        symbol: "TSLA".into(),
        side: Side::Sell,
        qty: q(2),
        client_order_id: ClientOrderId::reversal_open(&close_id).unwrap(),
        close_client_order_id: close_id,
        bar_time: now() - Duration::minutes(3),
        day: now()
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive(),
        reason: "cross below".into(),
    };
    let state = State {
        pending_legs: vec![leg.clone()],
        ..State::default()
    };
    // The strategy holds on these bars; the close (sell 5) still works.
    let calm = [5.0, 5.0, 5.0, 5.0, 5.0];
    let working = Market {
        open_sell: q(5),
        any_open_sell: q(5),
        wash_sell: q(5),
        ..market(&calm, 5)
    };
    let snap = snapshot(vec![(rules("TSLA", &s, 2.0), working)]);
    let waiting = plan(&snap, &state, &Limits::NONE);
    assert!(row(only(&waiting)).reason.contains("waiting for the close"));
    assert_eq!(waiting.pending_legs, vec![leg.clone()], "still waiting");

    let snap = snapshot(vec![(rules("TSLA", &s, 2.0), market(&calm, 0))]);
    let going = plan(&snap, &state, &Limits::NONE);
    let open = sent(only(&going));
    assert_eq!(open.client_id, leg.client_order_id);
    assert_eq!((open.side, open.qty), (Side::Sell, q(2)));
    assert!(going.pending_legs.is_empty(), "taken");
    assert!(
        state.pending_legs.len() == 1,
        "the plan never changes the state it was given"
    );
}

#[test]
fn a_daily_loss_flatten_closes_the_whole_position_once_per_day() {
    let s = sma(false);
    let mut snap = snapshot(vec![(rules("TSLA", &s, 3.0), market(&CROSS_UP, 7))]);
    snap.flatten = true;
    let plan = plan(&snap, &State::default(), &Limits::NONE);
    let order = sent(only(&plan));
    assert_eq!((order.side, order.qty), (Side::Sell, q(7)));
    assert_eq!(order.row.action, Action::Flatten);
    assert_eq!(
        order.client_id.as_str(),
        "pb-TSLA-1Min-20261124T0000-flat-sell"
    );
}

/// A model that would buy (intercept 5: P(up) 0.9933) but whose training saw `ret_1` at
/// 1.0 ± 0.1: flat bars' `ret_1` of 0 lies 10 training stds out.
fn drifting_model(drift_limit: f64) -> Strategy {
    let mut means = [0.0; crate::strategy::features::N_FEATURES];
    let mut stds = [1.0; crate::strategy::features::N_FEATURES];
    means[0] = 1.0;
    stds[0] = 0.1;
    Strategy::Model {
        path: String::new(),
        threshold: 0.55,
        drift_limit,
        max_age_days: None,
        trade_unvalidated: false,
        model: Some(std::sync::Arc::new(crate::strategy::Predictor {
            timeframe: Timeframe::Min1,
            means,
            stds,
            weights: [0.0; crate::strategy::features::N_FEATURES],
            intercept: 5.0,
        })),
        trained_until: None,
    }
}

#[test]
fn a_drifted_feature_is_a_hold_row_with_the_feature_its_z_and_the_limit() {
    let closes = [100.0; 60];
    let model = drifting_model(4.0);
    let snap = snapshot(vec![(rules("AAPL", &model, 1.0), market(&closes, 0))]);
    let held = plan(&snap, &State::default(), &Limits::NONE);
    let r = row(only(&held));
    assert_eq!(
        (r.signal, r.action, r.order.as_ref()),
        (Signal::Hold, Action::Hold, None)
    );
    assert_eq!(
        r.reason,
        "feature drift: ret_1 is -10.00 training standard deviations from its training mean, \
         beyond drift_limit 4; not trusting the model on data unlike its training"
    );
    // The guard off, the same snapshot buys.
    let model = drifting_model(0.0);
    let snap = snapshot(vec![(rules("AAPL", &model, 1.0), market(&closes, 0))]);
    let bought = plan(&snap, &State::default(), &Limits::NONE);
    assert_eq!(sent(only(&bought)).side, Side::Buy);
}

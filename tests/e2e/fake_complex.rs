//! The fake broker's complex orders (bracket, OTO), held legs, listings and wash-trade table,
//! through plain HTTP as any client sees them. Each rule and its source is in
//! `tests/support/fake_alpaca.rs`; the old fake refused `bracket` and `oto` outright and
//! refused every opposite pair as a wash trade.

use crate::fake_alpaca::{FakeAlpaca, KEY_ID, SECRET};
use serde_json::{json, Value};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(fake: &FakeAlpaca, body: Value) -> (u16, Value) {
    let mut r = agent()
        .post(format!("{}/v2/orders", fake.url()))
        .header("APCA-API-KEY-ID", KEY_ID)
        .header("APCA-API-SECRET-KEY", SECRET)
        .send_json(&body)
        .unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    (r.status().as_u16(), serde_json::from_str(&text).unwrap())
}

fn get(fake: &FakeAlpaca, path: &str) -> Value {
    let mut r = agent()
        .get(format!("{}{path}", fake.url()))
        .header("APCA-API-KEY-ID", KEY_ID)
        .header("APCA-API-SECRET-KEY", SECRET)
        .call()
        .unwrap();
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

fn fake_at(price: f64) -> FakeAlpaca {
    let fake = FakeAlpaca::start();
    fake.set_latest_trade("AAPL", price, fake.now());
    fake
}

/// A market buy of 10 AAPL with a target at 240 and a stop at 210, the legs sent with client
/// ids of their own (which Alpaca ignores).
fn bracket() -> Value {
    json!({"symbol": "AAPL", "side": "buy", "qty": "10", "type": "market",
        "time_in_force": "gtc", "order_class": "bracket", "client_order_id": "mine",
        "take_profit": {"limit_price": "240", "client_order_id": "mine-tp"},
        "stop_loss": {"stop_price": "210", "client_order_id": "mine-sl"}})
}

fn ids(list: &Value) -> Vec<String> {
    let list = list.as_array().unwrap();
    list.iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_bracket_holds_its_legs_until_the_entry_fills_then_rests_its_target_and_holds_its_stop() {
    let fake = fake_at(225.0);
    let (code, parent) = post(&fake, bracket());
    assert_eq!(code, 200, "{parent}");
    assert_eq!(parent["order_class"], "bracket");
    let legs = parent["legs"].as_array().unwrap().clone();
    assert_eq!(legs.len(), 2, "{parent}");
    let (target, stop) = (&legs[0], &legs[1]);
    assert_eq!(
        (&target["type"], &target["limit_price"], &target["side"]),
        (&json!("limit"), &json!("240"), &json!("sell"))
    );
    assert_eq!(
        (&stop["type"], &stop["stop_price"], &stop["side"]),
        (&json!("stop"), &json!("210"), &json!("sell"))
    );
    for leg in &legs {
        assert_eq!(leg["status"], "held", "{leg}");
        assert_eq!(leg["time_in_force"], "gtc");
        assert_eq!(leg["qty"], "10");
        assert!(
            leg["legs"].is_null(),
            "legs are not nested beyond one level"
        );
        let cid = leg["client_order_id"].as_str().unwrap();
        assert!(
            !cid.starts_with("mine"),
            "leg client ids are Alpaca's: {cid}"
        );
        assert_ne!(leg["id"], parent["id"]);
    }
    let (pid, tid, sid) = (
        parent["id"].as_str().unwrap(),
        target["id"].as_str().unwrap(),
        stop["id"].as_str().unwrap(),
    );
    // Before the fill: the open listing shows the entry alone, the held legs count as closed.
    assert_eq!(ids(&get(&fake, "/v2/orders?status=open")), [pid]);
    let mut closed = ids(&get(&fake, "/v2/orders?status=closed"));
    closed.sort();
    let mut legs_ids = vec![tid.to_string(), sid.to_string()];
    legs_ids.sort();
    assert_eq!(closed, legs_ids);
    // A held leg of an unfilled entry never triggers, however far the price goes.
    fake.trade("AAPL", 250.0);
    fake.trade("AAPL", 200.0);
    assert_eq!(get(&fake, &format!("/v2/orders/{tid}"))["status"], "held");
    assert_eq!(get(&fake, &format!("/v2/orders/{sid}"))["status"], "held");

    // The entry fills: the target rests (`new`), the stop stays `held`, 10 shares reserved once.
    fake.fill_open_orders(225.0);
    assert_eq!(get(&fake, &format!("/v2/orders/{pid}"))["status"], "filled");
    assert_eq!(get(&fake, &format!("/v2/orders/{tid}"))["status"], "new");
    assert_eq!(get(&fake, &format!("/v2/orders/{sid}"))["status"], "held");
    let pos = get(&fake, "/v2/positions/AAPL");
    assert_eq!(
        (&pos["qty"], &pos["qty_available"]),
        (&json!("10"), &json!("0"))
    );
    // The parent is closed now: the nested open listing has nothing, the flat one the target.
    assert_eq!(get(&fake, "/v2/orders?status=open&nested=true"), json!([]));
    assert_eq!(ids(&get(&fake, "/v2/orders?status=open")), [tid]);
    let all = get(&fake, "/v2/orders?status=all&nested=true");
    assert_eq!(ids(&all), [pid]);
    assert_eq!(all[0]["legs"].as_array().unwrap().len(), 2);

    // The held stop is live: a trade through 210 fills it there; the target is `replaced`.
    fake.trade("AAPL", 209.0);
    let stop_now = get(&fake, &format!("/v2/orders/{sid}"));
    assert_eq!(
        (&stop_now["status"], &stop_now["filled_avg_price"]),
        (&json!("filled"), &json!("209"))
    );
    assert_eq!(
        get(&fake, &format!("/v2/orders/{tid}"))["status"],
        "replaced"
    );
    assert_eq!(get(&fake, "/v2/positions/AAPL")["code"], 40410000, "flat");
    let fills = fake.activities();
    let sells: Vec<&Value> = fills.iter().filter(|f| f["side"] == "sell").collect();
    assert_eq!(sells.len(), 1, "{fills:?}");
    assert_eq!(sells[0]["order_id"], sid);
}

#[test]
fn a_bracket_whose_target_fills_cancels_its_stop_and_a_canceled_entry_takes_its_legs() {
    let fake = fake_at(225.0);
    let (_, parent) = post(&fake, bracket());
    fake.fill_open_orders(225.0);
    let stop = parent["legs"][1]["id"].as_str().unwrap().to_string();
    fake.trade("AAPL", 241.0);
    let target = get(
        &fake,
        &format!("/v2/orders/{}", parent["legs"][0]["id"].as_str().unwrap()),
    );
    assert_eq!(
        (&target["status"], &target["filled_avg_price"]),
        (&json!("filled"), &json!("240"))
    );
    assert_eq!(
        get(&fake, &format!("/v2/orders/{stop}"))["status"],
        "canceled"
    );

    // A limit entry below the market: canceling it before its fill cancels both legs.
    let mut limit = bracket();
    limit["type"] = "limit".into();
    limit["limit_price"] = "220".into();
    limit["client_order_id"] = "mine-2".into();
    let (code, parent) = post(&fake, limit);
    assert_eq!(code, 200, "{parent}");
    let pid = parent["id"].as_str().unwrap();
    let del = agent()
        .delete(format!("{}/v2/orders/{pid}", fake.url()))
        .header("APCA-API-KEY-ID", KEY_ID)
        .header("APCA-API-SECRET-KEY", SECRET)
        .call()
        .unwrap();
    assert_eq!(del.status().as_u16(), 204);
    let shown = get(&fake, &format!("/v2/orders/{pid}"));
    for leg in shown["legs"].as_array().unwrap() {
        assert_eq!(leg["status"], "canceled", "{shown}");
    }
}

#[test]
fn an_oto_rests_its_one_leg_once_the_entry_fills() {
    let fake = fake_at(225.0);
    let oto = json!({"symbol": "AAPL", "side": "buy", "qty": "5", "type": "market",
        "time_in_force": "day", "order_class": "oto", "stop_loss": {"stop_price": "215"}});
    let (code, parent) = post(&fake, oto);
    assert_eq!(code, 200, "{parent}");
    let leg = parent["legs"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(parent["legs"][0]["status"], "held");
    fake.fill_open_orders(225.0);
    assert_eq!(get(&fake, &format!("/v2/orders/{leg}"))["status"], "new");
    fake.trade("AAPL", 214.5);
    assert_eq!(get(&fake, &format!("/v2/orders/{leg}"))["status"], "filled");
}

#[test]
fn badly_shaped_complex_orders_get_alpacas_refusals() {
    let fake = fake_at(225.0);
    let shaped = |f: &dyn Fn(&mut Value)| {
        let mut b = bracket();
        b.as_object_mut().unwrap().remove("client_order_id");
        f(&mut b);
        post(&fake, b)
    };
    let refused = |(code, body): (u16, Value), want: &str| {
        assert_eq!(code, 422, "{body}");
        assert_eq!(body["message"], want, "{body}");
    };
    refused(
        shaped(&|b| {
            b["type"] = "stop".into();
            b["stop_price"] = "230".into();
        }),
        "bracket orders must be market or limit orders",
    );
    refused(
        shaped(&|b| {
            b.as_object_mut().unwrap().remove("take_profit");
        }),
        "bracket orders require take_profit.limit_price",
    );
    refused(
        shaped(&|b| {
            b.as_object_mut().unwrap().remove("stop_loss");
        }),
        "bracket orders require stop_loss.stop_price",
    );
    refused(
        shaped(&|b| b["time_in_force"] = "ioc".into()),
        "complex orders must be DAY or GTC orders",
    );
    // Against the base price: the latest trade (225) for a market entry, the limit otherwise.
    refused(
        shaped(&|b| b["take_profit"]["limit_price"] = "225.00".into()),
        "take_profit.limit_price must be >= base_price + 0.01",
    );
    refused(
        shaped(&|b| b["stop_loss"]["stop_price"] = "225.00".into()),
        "stop_loss.stop_price must be <= base_price - 0.01",
    );
    // 224.99 is a cent below the base: accepted.
    let (code, body) = shaped(&|b| b["stop_loss"]["stop_price"] = "224.99".into());
    assert_eq!(code, 200, "{body}");
    let del = agent()
        .delete(format!(
            "{}/v2/orders/{}",
            fake.url(),
            body["id"].as_str().unwrap()
        ))
        .header("APCA-API-KEY-ID", KEY_ID)
        .header("APCA-API-SECRET-KEY", SECRET)
        .call()
        .unwrap();
    assert_eq!(del.status().as_u16(), 204);
    refused(
        shaped(&|b| {
            b["side"] = "sell".into();
            b["type"] = "limit".into();
            b["limit_price"] = "226".into();
            b["take_profit"]["limit_price"] = "226".into();
            b["stop_loss"]["stop_price"] = "230".into();
        }),
        "take_profit.limit_price must be <= base_price - 0.01",
    );
    refused(
        shaped(&|b| b["order_class"] = "oto".into()),
        "oto orders require exactly one of take_profit or stop_loss",
    );
    // A bracket is an entry: refused on a symbol already held.
    fake.set_position("AAPL", 3.0, 200.0);
    let (code, body) = shaped(&|_| {});
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        (&body["code"], &body["message"]),
        (
            &json!(42210000),
            &json!("bracket orders must be entry orders")
        )
    );
}

#[test]
fn the_wash_trade_table_refuses_crossing_limits_and_exempts_complex_orders_and_trailing_stops() {
    let fake = fake_at(225.0);
    fake.set_position("AAPL", 10.0, 200.0);
    let order = |side: &str, kind: &str, limit: Option<&str>| {
        let mut b = json!({"symbol": "AAPL", "side": side, "qty": "1", "type": kind,
            "time_in_force": "day"});
        if let Some(l) = limit {
            b["limit_price"] = l.into();
        }
        if kind == "trailing_stop" {
            b["trail_percent"] = "5".into();
        }
        b
    };
    let washed = |(code, body): (u16, Value)| {
        code == 403 && body["message"] == "potential wash trade detected. use complex orders"
    };
    // A resting limit sell at 230: a limit buy below it cannot meet it, one at 230 could.
    let (code, sell) = post(&fake, order("sell", "limit", Some("230")));
    assert_eq!(code, 200, "{sell}");
    let below = post(&fake, order("buy", "limit", Some("229.99")));
    assert_eq!(below.0, 200, "limit buy < limit sell: {}", below.1);
    assert!(washed(post(&fake, order("buy", "limit", Some("230")))));
    // A market or stop buy beside that limit sell: always refused.
    assert!(washed(post(&fake, order("buy", "market", None))));
    // A trailing stop is an exception on either side.
    let trail = post(&fake, order("buy", "trailing_stop", None));
    assert_eq!(trail.0, 200, "{}", trail.1);
}

//! The real tick, in process, through the `Broker` port, against `Sim`: no HTTP, no network.
//! Each minute bar closes, the tick runs exactly as `tick` does (lock, state, ledgers, guards,
//! orders exactly once, fills), and the simulated broker fills at the next bar's open.

use chrono::{DateTime, Duration, TimeZone, Utc};
use prometheus_bot::broker::sim::{Sim, SimSettings};
use prometheus_bot::cmd::tick::run_with;
use prometheus_bot::config::Config;
use prometheus_bot::domain::{Bar, Timeframe};
use prometheus_bot::store::TickLock;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// 09:30 New York on Tuesday 2026-11-24 (EST).
fn open() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 14, 30, 0).unwrap()
}

/// Minute bars from the open; each opens half a dollar above the previous close, so that a
/// next-open fill is told apart from a fill at the close.
fn bars(closes: &[f64]) -> Vec<Bar> {
    let mut prev = closes[0];
    closes
        .iter()
        .enumerate()
        .map(|(i, &close)| {
            let bar = Bar {
                time: open() + Duration::minutes(i as i64),
                open: prev + 0.5,
                high: close.max(prev + 0.5),
                low: close.min(prev + 0.5),
                close,
                volume: 1000.0,
                trades: 10,
                vwap: close,
            };
            prev = close;
            bar
        })
        .collect()
}

fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// A config in `dir` on minute bars (`history = 20`) whose one `[[symbol]]` is TSLA with
/// `symbol` as the rest of its section.
fn tsla_config(dir: &Path, symbol: &str) -> Config {
    let path = dir.join("config.toml");
    let text = format!(
        "[bot]\ntimeframe = \"1Min\"\nhistory = 20\n\n[[symbol]]\nname = \"TSLA\"\n{symbol}"
    );
    std::fs::write(&path, &text).unwrap();
    Config::from_str(&text, &path).unwrap()
}

/// One real tick against `sim` at the open of the bar after `bar` (its close), as `replay`
/// runs it; every order's outcome known.
fn tick_at(config: &Config, sim: &Sim, bar: &Bar) {
    sim.set_now(sim.bar_close(Timeframe::Min1, bar)).unwrap();
    let lock = TickLock::acquire(&config.bot.data_dir).unwrap();
    let ticked = run_with(config, false, sim, &lock, Instant::now()).unwrap();
    assert_eq!(ticked.unknown_outcomes, 0);
}

#[test]
fn the_real_tick_trades_through_the_simulated_broker_exactly_once_per_decision() {
    let dir = tempfile::tempdir().unwrap();
    let config = tsla_config(
        dir.path(),
        "qty = 2\nstrategy = { kind = \"sma_cross\", fast = 2, slow = 3 }\n",
    );

    // SMA(2) vs SMA(3), by hand: at bar 4 (close 6) SMA2 4.5 > SMA3 4 after 3 < 3.33: a cross
    // above, buy. At bar 8 (close 2) SMA2 5 < SMA3 6 after 8 > 7.67: a cross below, sell.
    let closes = [5.0, 4.0, 3.0, 3.0, 6.0, 7.0, 8.0, 8.0, 2.0, 1.0, 1.0, 1.0];
    let series = bars(&closes);
    let mut sim = Sim::new(SimSettings::default(), open());
    sim.load_bars("TSLA", Timeframe::Min1, series.clone());

    for bar in &series {
        tick_at(&config, &sim, bar);
    }

    let ledger = dir.path().join("data/ledger");
    let orders = csv_rows(&ledger.join("orders.csv"));
    let sent: Vec<(&str, &str)> = orders
        .iter()
        .map(|o| (o["side"].as_str(), o["client_order_id"].as_str()))
        .collect();
    assert_eq!(
        sent,
        [
            ("buy", "pb-TSLA-1Min-20261124T1434-sma-buy"),
            ("sell", "pb-TSLA-1Min-20261124T1438-sma-sell")
        ],
        "one order per decision, keyed by the bar decided on"
    );
    let fills = csv_rows(&ledger.join("fills.csv"));
    let filled: Vec<(&str, &str, &str)> = fills
        .iter()
        .map(|f| (f["side"].as_str(), f["qty"].as_str(), f["price"].as_str()))
        .collect();
    // Bought at bar 5's open (6 + 0.5), sold at bar 9's open (2 + 0.5).
    assert_eq!(filled, [("buy", "2", "6.5"), ("sell", "2", "2.5")]);
    // 100,000 + 2 × (2.5 − 6.5) = 99,992, by hand; nothing held at the end.
    assert_eq!(sim.cash(), 99_992.0);
    assert_eq!(sim.equity(), 99_992.0);
    let decisions = csv_rows(&ledger.join("decisions.csv"));
    assert_eq!(decisions.len(), closes.len(), "one decision row per tick");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("data/state.json")).unwrap())
            .unwrap();
    assert!(state["intents"].as_array().unwrap().is_empty());
    assert!(state["tracked"].as_array().unwrap().is_empty(), "{state}");
}

/// The stop the tick places rests at the simulated broker and fills on the bar whose low
/// touches it, at the price and on the bar the backtest engine fills its stop: replay and
/// backtest simulate the same order.
#[test]
fn a_stop_fills_in_replay_where_the_backtest_fills_it() {
    use prometheus_bot::backtest::engine::{self, Settings, Sizing};
    use prometheus_bot::plan::protect::Protection;
    let dir = tempfile::tempdir().unwrap();
    let config = tsla_config(
        dir.path(),
        "qty = 2\nstop_loss_pct = 10\nstrategy = { kind = \"sma_cross\", fast = 2, slow = 3 }\n",
    );
    // Bought at bar 5's open, 6.5; stop 10 % below, 5.85, placed by the next tick (bar 6's
    // open). Bar 8 opens at 8.5 and falls to 2: the stop fills at 5.85, before the strategy's
    // own sell (decided on bar 8) could go out.
    let closes = [5.0, 4.0, 3.0, 3.0, 6.0, 7.0, 8.0, 8.0, 2.0, 1.0, 1.0, 1.0];
    let series = bars(&closes);
    let mut sim = Sim::new(SimSettings::default(), open());
    sim.load_bars("TSLA", Timeframe::Min1, series.clone());
    for bar in &series {
        tick_at(&config, &sim, bar);
    }
    let ledger = dir.path().join("data/ledger");
    let fills = csv_rows(&ledger.join("fills.csv"));
    let filled: Vec<(&str, &str, &str)> = fills
        .iter()
        .filter(|f| f["status"] == "fill")
        .map(|f| {
            (
                f["side"].as_str(),
                f["price"].as_str(),
                f["client_order_id"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        filled,
        [
            ("buy", "6.5", "pb-TSLA-1Min-20261124T1434-sma-buy"),
            ("sell", "5.85", "pb-TSLA-1Min-20261124T1434-sma-buy-p1")
        ]
    );
    let orders = csv_rows(&ledger.join("orders.csv"));
    assert_eq!(
        orders.len(),
        2,
        "no strategy sell after the stop: {orders:?}"
    );
    assert_eq!(orders[1]["type"], "stop");

    let settings = Settings {
        cash: 100_000.0,
        sizing: Sizing::Qty(2.0),
        protection: Protection {
            stop_loss_pct: Some(10.0),
            ..Protection::default()
        },
        ..Settings::default()
    };
    let strategy = config.symbols[0].strategy.clone();
    let out = engine::run(&series, &strategy, &settings);
    assert_eq!(out.trades.len(), 1);
    let t = &out.trades[0];
    assert_eq!(
        (t.entry_bar, t.entry_price, t.exit_bar, t.exit_price),
        (5, 6.5, 8, 5.85)
    );
    // 100,000 + 2 × (5.85 − 6.5) = 99,998.70 by hand, in both.
    assert!((sim.cash() - 99_998.7).abs() < 1e-9, "{}", sim.cash());
    assert!((out.cash - 99_998.7).abs() < 1e-9, "{}", out.cash);
}

/// Run the real tick over `series` against `Sim` with `symbol` (a TSLA `[[symbol]]` body):
/// the fills (side, price, client id), the orders ledger and the simulated cash.
type Filled = Vec<(String, String, String)>;
fn replay_tsla(symbol: &str, series: &[Bar]) -> (Filled, Vec<HashMap<String, String>>, f64) {
    let dir = tempfile::tempdir().unwrap();
    let config = tsla_config(dir.path(), symbol);
    let mut sim = Sim::new(SimSettings::default(), open());
    sim.load_bars("TSLA", Timeframe::Min1, series.to_vec());
    for bar in series {
        tick_at(&config, &sim, bar);
    }
    let ledger = dir.path().join("data/ledger");
    let fills = csv_rows(&ledger.join("fills.csv"))
        .into_iter()
        .filter(|f| f["status"] == "fill")
        .map(|f| {
            (
                f["side"].clone(),
                f["price"].clone(),
                f["client_order_id"].clone(),
            )
        })
        .collect();
    (fills, csv_rows(&ledger.join("orders.csv")), sim.cash())
}

/// Stop and target together rest as one OCO in `Sim` (a limit parent with a stop leg); it
/// fills where the backtest fills the pair, on either side.
#[test]
fn an_oco_fills_in_replay_where_the_backtest_fills_stop_and_target() {
    use prometheus_bot::backtest::engine::{self, Settings, Sizing};
    use prometheus_bot::plan::protect::Protection;
    let closes = [5.0, 4.0, 3.0, 3.0, 6.0, 7.0, 8.0, 8.0, 2.0, 1.0, 1.0, 1.0];
    let series = bars(&closes);
    let strategy_line = "strategy = { kind = \"sma_cross\", fast = 2, slow = 3 }\n";
    let backtest = |stop: f64, target: f64| {
        let settings = Settings {
            cash: 100_000.0,
            sizing: Sizing::Qty(2.0),
            protection: Protection {
                stop_loss_pct: Some(stop),
                take_profit_pct: Some(target),
                trailing_stop_pct: None,
            },
            ..Settings::default()
        };
        let config_text = format!("[[symbol]]\nname = \"X\"\nqty = 1\n{strategy_line}");
        let c = Config::from_str(&config_text, Path::new("/nonexistent/config.toml")).unwrap();
        engine::run(&series, &c.symbols[0].strategy, &settings)
    };
    let entry = "pb-TSLA-1Min-20261124T1434-sma-buy";

    // Target side: bought at 6.5 (bar 5); stop 10 % = 5.85, target 20 % = 7.80, resting from
    // bar 6, which opens at 7.5 and rises to 8: the limit parent fills at 7.80.
    let (fills, orders, cash) = replay_tsla(
        &format!("qty = 2\nstop_loss_pct = 10\ntake_profit_pct = 20\n{strategy_line}"),
        &series,
    );
    let sides: Vec<(&str, &str)> = fills.iter().map(|f| (f.0.as_str(), f.1.as_str())).collect();
    assert_eq!(sides, [("buy", "6.5"), ("sell", "7.8")], "{fills:?}");
    assert_eq!(fills[0].2, entry);
    assert_eq!(orders.len(), 2, "{orders:?}");
    let out = backtest(10.0, 20.0);
    let t = &out.trades[0];
    assert_eq!((t.entry_bar, t.exit_bar, t.exit_price), (5, 6, 7.8));
    assert_eq!(out.trades.len(), 1);
    // 100,000 + 2 × (7.80 − 6.50) = 100,002.60 by hand, in both.
    assert!((cash - 100_002.6).abs() < 1e-9, "{cash}");
    assert!((out.cash - 100_002.6).abs() < 1e-9, "{}", out.cash);

    // Stop side: target 50 % = 9.75 is never reached; bar 8 opens at 8.5 and falls to 2: the
    // stop leg fills at 5.85 and the parent is canceled.
    let (fills, orders, cash) = replay_tsla(
        &format!("qty = 2\nstop_loss_pct = 10\ntake_profit_pct = 50\n{strategy_line}"),
        &series,
    );
    let sides: Vec<(&str, &str)> = fills.iter().map(|f| (f.0.as_str(), f.1.as_str())).collect();
    assert_eq!(sides, [("buy", "6.5"), ("sell", "5.85")], "{fills:?}");
    assert_eq!(
        orders.len(),
        2,
        "no strategy sell after the stop: {orders:?}"
    );
    let out = backtest(10.0, 50.0);
    let t = &out.trades[0];
    assert_eq!((t.entry_bar, t.exit_bar, t.exit_price), (5, 8, 5.85));
    // 100,000 + 2 × (5.85 − 6.50) = 99,998.70.
    assert!((cash - 99_998.7).abs() < 1e-9, "{cash}");
    assert!((out.cash - 99_998.7).abs() < 1e-9, "{}", out.cash);
}

/// A fractional position's stop is a `day` order (Alpaca refuses fractional `gtc`): `Sim`
/// expires it at the session's close, and the next session's first replayed tick puts it
/// back under the next attempt's id, at the same price (seen when it fills).
#[test]
fn a_fractional_positions_day_stop_expires_at_the_close_and_the_next_session_puts_it_back() {
    // Day 1 (Tue 2026-11-24): the SMA cross buys 0.5 at bar 5's open, 6.5 (as above); the
    // stop rests at 6.5 × 0.9 = 5.85 from the next tick. Day 2 (Wed 2026-11-25): closes stay
    // at 8 (no cross below) until bar 3, which opens at 8.5 and falls to 4: through 5.85.
    let day1 = bars(&[5.0, 4.0, 3.0, 3.0, 6.0, 7.0, 8.0, 8.0]);
    let day2: Vec<Bar> = bars(&[8.0, 8.0, 8.0, 4.0, 4.0])
        .into_iter()
        .map(|b| Bar {
            time: b.time + Duration::days(1),
            ..b
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config = tsla_config(
        dir.path(),
        "qty = 0.5\nfractional = true\nstop_loss_pct = 10\n\
         strategy = { kind = \"sma_cross\", fast = 2, slow = 3 }\n",
    );
    let mut sim = Sim::new(SimSettings::default(), open());
    let all: Vec<Bar> = day1.iter().chain(&day2).cloned().collect();
    sim.load_bars("TSLA", Timeframe::Min1, all);
    let ledger = dir.path().join("data/ledger");
    let tick = |bar: &Bar| tick_at(&config, &sim, bar);
    for bar in &day1 {
        tick(bar);
    }
    let entry = "pb-TSLA-1Min-20261124T1434-sma-buy";
    let stops = |rows: &[HashMap<String, String>]| -> Vec<String> {
        rows.iter()
            .filter(|o| o["type"] == "stop")
            .map(|o| o["client_order_id"].clone())
            .collect()
    };
    let orders = csv_rows(&ledger.join("orders.csv"));
    assert_eq!(stops(&orders), [format!("{entry}-p1")], "{orders:?}");
    use prometheus_bot::broker::Broker;
    let status = |cid: &str| {
        let o = sim.order_by_client_id(cid).unwrap().unwrap();
        o.status.to_string()
    };
    assert_eq!(status(&format!("{entry}-p1")), "new");
    // Day 1's close, 16:00 New York (21:00 UTC): the stop has expired, the 0.5 stays.
    let close = Utc.with_ymd_and_hms(2026, 11, 24, 21, 0, 0).unwrap();
    sim.set_now(close - Duration::seconds(1)).unwrap();
    assert_eq!(status(&format!("{entry}-p1")), "new", "until the close");
    sim.set_now(close).unwrap();
    assert_eq!(status(&format!("{entry}-p1")), "expired");
    assert!(sim.open_orders(&["TSLA"]).unwrap().is_empty());
    assert_eq!(sim.positions().unwrap()[0].qty.to_string(), "0.5");

    // Day 2's first tick puts the stop back under the next attempt's id.
    tick(&day2[0]);
    let orders = csv_rows(&ledger.join("orders.csv"));
    assert_eq!(
        stops(&orders),
        [format!("{entry}-p1"), format!("{entry}-p2")],
        "{orders:?}"
    );
    assert_eq!(status(&format!("{entry}-p2")), "new");
    let resting = sim.open_orders(&["TSLA"]).unwrap();
    assert_eq!(resting.len(), 1);
    assert_eq!(resting[0].qty.to_string(), "0.5");
    // Left alone until bar 3 goes through it: filled at 5.85, under the second id.
    for bar in &day2[1..] {
        tick(bar);
    }
    let fills: Vec<(String, String, String, String)> = csv_rows(&ledger.join("fills.csv"))
        .into_iter()
        .filter(|f| f["status"] == "fill")
        .map(|f| {
            let g = |k: &str| f[k].clone();
            (g("side"), g("qty"), g("price"), g("client_order_id"))
        })
        .collect();
    let want = |side: &str, price: &str, cid: String| {
        (side.to_string(), "0.5".to_string(), price.to_string(), cid)
    };
    assert_eq!(
        fills,
        [
            want("buy", "6.5", entry.to_string()),
            want("sell", "5.85", format!("{entry}-p2"))
        ]
    );
    assert_eq!(stops(&csv_rows(&ledger.join("orders.csv"))).len(), 2);
}

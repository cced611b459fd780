//! A local, in-process fake of the Alpaca REST APIs, for tests and benchmarks only.
//!
//! Fakes (shapes per `docs/alpaca-api.md`, section 6): Trading API v2 (`/v2/account`, `/v2/clock`,
//! `/v2/calendar`, `/v2/positions[/{sym}]`, `/v2/orders` POST/GET/DELETE, `/v2/orders/{id}`,
//! `/v2/orders:by_client_order_id`, `/v2/account/activities[/FILL|/SPLIT]`) and Market Data v2 stocks
//! (`/v2/stocks/bars`, `/v2/stocks/{sym}/bars`, `/v2/stocks/trades/latest`,
//! `/v2/stocks/{sym}/trades/latest`) on ONE server. Trading numbers are decimal strings, data numbers
//! are JSON numbers. Auth, error bodies, rate-limit headers, pagination and fault injection follow
//! the doc. Hand-rolled HTTP/1.1 (keep-alive, Content-Length/chunked bodies), one thread per
//! connection, bound to 127.0.0.1 only; it never touches the network.
//!
//! Protective orders (issue 14): `stop`, `limit`, `stop_limit` and `trailing_stop`
//! (`trail_percent`, with `hwm` the best price since placement) rest until `trade` moves the
//! price through them. Complex orders (`order_class`, alpaca-api.md §2.5), each rule with its
//! source where it is coded:
//! - `oco` (exit only): a `limit` parent with `take_profit.limit_price` and one `stop` leg from
//!   `stop_loss.stop_price`, live at once; a fill of either side cancels the other.
//! - `bracket` (an entry: a `market` or `limit` parent with both `take_profit` and
//!   `stop_loss`) and `oto` (one of them): the legs wait `held` until the entry fills; then a
//!   bracket's target is `new` while its stop stays `held` (but live), an OTO's leg is `new`;
//!   one leg filling ends its sibling; canceling the entry before its fill cancels its legs.
//! - Alpaca's 422 refusals for bad shapes: entry type, missing or extra legs, `day`/`gtc`
//!   only, legs against the entry's base price, a bracket on a symbol already held.
//! - Legs carry Alpaca's own ids and client ids (those sent for legs are ignored) and the
//!   parent's qty and time in force. `status=open` does not list held legs (`status=closed`
//!   does); `nested=true` rolls legs under their parent, so a bracket whose entry filled is
//!   missing from `status=open&nested=true`; `status=all` lists everything.
//! - A family's shares are reserved once (`qty_available`); the wash-trade check is the table
//!   Alpaca publishes ([`WASH_TABLE`]), which exempts complex orders and trailing stops.
//!
//! Not faked: quotes, snapshots, latest bars, assets, replace (PATCH), streaming, closing
//! positions via DELETE, bar aggregation (bars are served per timeframe exactly as added).
//!
//! Fills never happen by themselves: drive the lifecycle with `fill_open_orders`, `partially_fill`,
//! `expire_open_orders`, `set_order_status`; corporate actions with `split`. Fills move cash,
//! buying power and positions; equity
//! stays what `set_account` set. Prices for buying-power checks: limit/stop price, else the latest
//! trade, else the close of the newest bar added for the symbol.
#![allow(dead_code)]

use chrono::{DateTime, Datelike, Duration as TimeDelta, FixedOffset, NaiveDate, SecondsFormat};
use chrono::{Utc, Weekday};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const KEY_ID: &str = "PKFAKEKEY00000000001";
pub const SECRET: &str = "fake-secret-abcdefghijklmnopqrstuvwxyz012345";
/// A key of the other environment: with `SECRET` it gets 401 on trading paths (data paths accept it).
pub const WRONG_ENV_KEY_ID: &str = "AKLIVEKEY00000000001";

const JSON_CT: &str = "application/json; charset=UTF-8";
const MAX_LINE: u64 = 64 * 1024;
const MAX_BODY: usize = 8 * 1024 * 1024;
const IDLE: Duration = Duration::from_secs(30);
/// The terminal set (alpaca-api.md §2.12). Every other status, documented (`done_for_day`,
/// `calculated`, `held`, `pending_*`, `accepted_for_bidding`, `stopped`, `suspended`) or not, is
/// open: listed by `status=open` and cancelable.
const FINAL: &[&str] = &["filled", "canceled", "expired", "rejected", "replaced"];
const SIP_MSG: &str = "subscription does not permit querying recent SIP data";
/// NYSE full-day holidays and early closes (13:00 ET) known to the fake; other weekdays trade.
const HOLIDAYS: &str = "2025-01-01 2025-01-09 2025-01-20 2025-02-17 2025-04-18 2025-05-26 \
    2025-06-19 2025-07-04 2025-09-01 2025-11-27 2025-12-25 2026-01-01 2026-01-19 2026-02-16 \
    2026-04-03 2026-05-25 2026-06-19 2026-07-03 2026-09-07 2026-11-26 2026-12-25 2027-01-01 \
    2027-01-18 2027-02-15 2027-03-26 2027-05-31 2027-06-18 2027-07-05 2027-09-06 2027-11-25 \
    2027-12-24";
const EARLY_CLOSES: &str = "2025-07-03 2025-11-28 2025-12-24 2026-11-27 2026-12-24 2027-11-26";

#[derive(Clone, Debug, PartialEq)]
pub struct FakeBar {
    pub t: DateTime<Utc>,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    pub v: u64,
    pub n: u64,
    pub vw: f64,
}

impl FakeBar {
    /// A quiet minute at `c`: opened and closed there, 20 cents either side, 1,000 shares in
    /// 20 trades (the benchmarks' bars).
    pub fn around(t: DateTime<Utc>, c: f64) -> FakeBar {
        FakeBar {
            t,
            o: c,
            h: c + 0.2,
            l: c - 0.2,
            c,
            v: 1000,
            n: 20,
            vw: c,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Fault {
    /// Respond with this status and raw (JSON) body text.
    Status(u16, String),
    /// Respond with an nginx-style HTML error page (`text/html`).
    Html(u16),
    /// Sleep, then answer normally.
    Delay(Duration),
    /// Process normally (side effects happen), then answer 200 with the first half of the body.
    MalformedJson,
    /// 429 `{"message":"too many requests."}`, with or without `X-RateLimit-*` headers.
    RateLimited { headers: bool },
    /// 429 with `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` this far in the future
    /// (alpaca-api.md §4.3: the reset is a Unix epoch in seconds).
    RateLimitedFor(Duration),
    /// Process normally (e.g. create the order), then close the socket without answering.
    CommitThenDrop,
    /// Process normally, then answer after this delay.
    CommitThenDelay(Duration),
}

/// One request as the server saw it.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    pub method: String,
    /// Raw path as sent (not percent-decoded), without the query.
    pub path: String,
    pub raw_query: String,
    /// Percent-decoded query (`+` = space); the last value wins for repeated keys.
    pub query: BTreeMap<String, String>,
    /// Lower-cased header names.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Recorded {
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

pub struct FakeAlpaca {
    inner: Arc<Inner>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

struct Inner {
    st: Mutex<State>,
    stop: AtomicBool,
    /// Requests being handled right now (a `Delay` fault holds one for its whole delay).
    in_flight: AtomicUsize,
    conns: Mutex<HashMap<u64, TcpStream>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeAlpaca {
    /// Binds 127.0.0.1:0 and serves until dropped. Default clock: 2026-03-04T15:00:00Z, open.
    pub fn start() -> FakeAlpaca {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fake alpaca: bind");
        let addr = listener.local_addr().expect("fake alpaca: local_addr");
        let inner = Arc::new(Inner {
            st: Mutex::new(State::new(u64::from(addr.port()))),
            stop: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            conns: Mutex::new(HashMap::new()),
        });
        let srv = Arc::clone(&inner);
        let accept = thread::Builder::new().name("fake-alpaca".into());
        let accept = accept.spawn(move || accept_loop(srv, listener));
        let accept = Some(accept.expect("fake alpaca: spawn"));
        FakeAlpaca {
            inner,
            addr,
            accept,
        }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.st)
    }

    /// `http://127.0.0.1:PORT`, serving both trading and data paths.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the fake clock. Opening the market moves `accepted` orders to `new`. Order and fill
    /// timestamps are this time plus 1 µs per event (so they stay unique and ordered).
    pub fn set_clock(&self, now: DateTime<Utc>, is_open: bool) {
        let mut st = self.st();
        if now < st.now {
            st.last_stamp = DateTime::<Utc>::MIN_UTC;
        }
        (st.now, st.is_open) = (now, is_open);
        let queued = st.orders.iter_mut().filter(|o| o.status == "accepted");
        for o in queued.filter(|_| is_open) {
            (o.status, o.updated) = ("new".into(), now);
        }
    }

    /// Answer `next_open` with this time instead of the calendar's next session, for a
    /// closed-market test that runs on the machine's real clock and must not depend on how
    /// near the real next open is. `None` goes back to the calendar.
    pub fn set_next_open(&self, next_open: Option<DateTime<Utc>>) {
        self.st().next_open = next_open;
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.st().now
    }

    /// Adds bars (kept sorted by `t`; same `t` replaces). Timeframe like `1Min`, `5T`, `1Hour`, `1D`.
    pub fn add_bars(&self, symbol: &str, timeframe: &str, bars: &[FakeBar]) {
        let tf = parse_tf(timeframe).expect("fake alpaca: bad timeframe");
        let mut st = self.st();
        let series = st.bars.entry((symbol.to_string(), tf)).or_default();
        series.extend(bars.iter().map(|b| (b.t, b.clone())));
    }

    /// Forget every bar of `symbol` (any timeframe).
    pub fn clear_bars(&self, symbol: &str) {
        self.st().bars.retain(|(s, _), _| s != symbol);
    }

    pub fn set_latest_trade(&self, symbol: &str, price: f64, t: DateTime<Utc>) {
        let mut st = self.st();
        st.seq += 1;
        let id = 52_983_525_028_000 + st.seq;
        st.trades.insert(symbol.to_string(), (price, t, id));
    }

    /// Sets a position (negative qty = short); qty 0 removes it.
    pub fn set_position(&self, symbol: &str, qty: f64, avg_entry_price: f64) {
        let mut st = self.st();
        st.positions.remove(symbol);
        if qty != 0.0 {
            st.positions
                .insert(symbol.to_string(), (qty, avg_entry_price));
        }
    }

    /// Decimal strings (unparseable -> 0). Defaults: 100000 / 200000 / 100000.
    pub fn set_account(&self, cash: &str, buying_power: &str, equity: &str) {
        let p = |s: &str| s.trim().parse::<f64>().unwrap_or(0.0);
        let mut st = self.st();
        (st.cash, st.bp, st.equity) = (p(cash), p(buying_power), p(equity));
    }

    /// Account `status` (default `ACTIVE`).
    pub fn set_account_status(&self, status: &str) {
        self.st().account_status = status.to_string();
    }

    /// Whether a sell from flat/short opens (or grows) a short. Default on.
    pub fn set_shorting(&self, on: bool) {
        self.st().shorting = on;
    }

    /// Market orders fill in full at the symbol's latest trade as they are accepted, so the
    /// POST answer (the order object as it stands, alpaca-api.md §2.6) already says `filled`.
    /// Alpaca's answer is typically `accepted`/`new`/`pending_new`, the fill coming later
    /// (§2.5, alpacahq/Alpaca-API#107), which is the default here; this is the rarer race, and
    /// what the simulated broker answers when an order fills at the bar opening now.
    pub fn fill_market_orders_on_submit(&self, on: bool) {
        self.st().fill_on_submit = on;
    }

    /// Fractional/notional orders on a non-fractionable symbol -> 422. Default: all fractionable.
    pub fn set_fractionable(&self, symbol: &str, on: bool) {
        let mut st = self.st();
        st.non_fractionable.remove(symbol);
        if !on {
            st.non_fractionable.insert(symbol.to_string());
        }
    }

    /// Server-side cap on bars per page (0 = none; `limit` is honored up to 10000).
    pub fn set_max_page(&self, n: usize) {
        self.st().max_page = n;
    }

    /// Every k-th bars page is cut to half while keeping a non-null token (0 = off).
    pub fn set_short_page_every(&self, k: usize) {
        self.st().short_every = k;
    }

    /// Free (Basic) plan: SIP (or missing feed) with `end` in the last 15 fake minutes -> 403.
    pub fn set_free_plan(&self, on: bool) {
        self.st().free_plan = on;
    }

    /// Enforce a per-minute request budget (wall clock) with 429s; 0 = off (headers say 200, with
    /// Remaining never below 1).
    pub fn set_rate_limit(&self, per_minute: usize) {
        self.st().rl_limit = per_minute;
    }

    /// Injects `fault` into the next `times` requests whose method matches (`*` = any) and whose
    /// percent-decoded path starts with `path_prefix`. Faults are consumed in the order added.
    pub fn fail(&self, method: &str, path_prefix: &str, fault: Fault, times: usize) {
        let f = (method.to_string(), path_prefix.to_string(), fault, times);
        self.st().faults.push(f);
    }

    /// An order POST that reaches the broker late: the client gave up on it (timeout, 5xx with
    /// nothing committed), and the request arrives afterwards. Creates the order from `body` as
    /// POST /v2/orders would; returns the order JSON or the refusal's status.
    pub fn deliver_late(&self, body: &str) -> Result<Value, u16> {
        match self.st().post_order(body) {
            Ok(reply) => Ok(serde_json::from_slice(&reply.body).unwrap_or(Value::Null)),
            Err(reply) => Err(reply.status),
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.st().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.st().requests.clear();
    }

    /// Every order ever created, oldest first, in Alpaca JSON shape.
    pub fn orders(&self) -> Vec<Value> {
        self.st().orders.iter().map(Order::json).collect()
    }

    /// Every FILL activity, oldest first.
    pub fn activities(&self) -> Vec<Value> {
        self.st().fills.iter().map(|f| f.1.clone()).collect()
    }

    /// Every non-trade activity (SPLIT, ...), oldest first.
    pub fn non_trade_activities(&self) -> Vec<Value> {
        self.st().non_trade.iter().map(|f| f.1.clone()).collect()
    }

    /// Drops every fault not yet used up.
    pub fn clear_faults(&self) {
        self.st().faults.clear();
    }

    /// Requests the server is handling right now (received, reply not yet produced). A client
    /// killed mid-request leaves its request running here: wait for 0 before judging the books.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    /// A `new_shares`-for-`old_shares` split of `symbol`, as the clearing firm books it before
    /// the open: the position's qty is multiplied (avg entry price divided) by the ratio and
    /// SPLIT non-trade activities appear. Shape (alpaca-py 0.44 `NonTradeActivity`: `id`,
    /// `activity_type`, `date`, `net_amount`, `description`, `status`, `symbol`, `qty`, `price`,
    /// `per_share_amount`; Alpaca's NTA doc sample sends `qty` as a decimal string): a forward
    /// split is ONE entry adding the new shares, a reverse split is TWO entries, one removing
    /// every old share (negative qty) and one adding the new ones (Alpaca staff on
    /// forum.alpaca.markets/t/clarification-regarding-stock-split/16633; negative qty to
    /// remove, positive to add, as docs.alpaca.markets "Voluntary Corporate Actions" says of
    /// NC entries). Returns the new qty; a symbol without a position gets no activity.
    pub fn split(&self, symbol: &str, new_shares: u32, old_shares: u32) -> f64 {
        let mut st = self.st();
        let Some((old, avg)) = st.positions.get(symbol).copied() else {
            return 0.0;
        };
        let ratio = f64::from(new_shares) / f64::from(old_shares);
        // Alpaca pays fractions in cash unless the account holds fractions: keep it whole here.
        let new = (old * ratio).trunc();
        st.positions
            .insert(symbol.to_string(), (new, avg * old / new));
        let legs = if new > old {
            vec![("ADD", new - old)]
        } else {
            vec![("REMOVE", -old), ("ADD", new)]
        };
        for (what, qty) in legs {
            let day = ny_date(st.now);
            let id = format!("{}000000000::{}", day.format("%Y%m%d"), st.uuid());
            let price = st.price(symbol).unwrap_or(avg / ratio);
            let activity = json!({
                "id": id, "activity_type": "SPLIT", "date": day_str(day), "net_amount": "0",
                "description": format!("{what}, From QTY:{}, To QTY:{}", dec(old), dec(new)),
                "status": "executed", "symbol": symbol, "qty": dec(qty), "price": dec(price),
                "per_share_amount": null
            });
            st.non_trade.push((id, activity));
        }
        new
    }

    /// Every open top-level order -> filled at `price` (its remaining qty); updates positions,
    /// cash, FILLs. Legs are left to `trade`: a bracket's legs wake when its entry fills here,
    /// and filling them at the entry's price would close the position it just opened.
    pub fn fill_open_orders(&self, price: f64) {
        let mut st = self.st();
        for i in 0..st.orders.len() {
            if st.orders[i].is_open() && st.orders[i].parent.is_none() {
                st.fill(i, f64::INFINITY, price);
            }
        }
    }

    /// A trade of `symbol` at `price` (also the latest trade from now on): every live resting
    /// stop, stop_limit, trailing stop and limit it reaches fills, a stop or trailing stop at
    /// `price` (a stop becomes a market order once touched, so a gap fills at the gap's price),
    /// a limit at its limit; a trailing stop first moves its `hwm`. Live: not a bracket or OTO
    /// leg whose entry has not filled. Market orders are left to `fill_open_orders`.
    pub fn trade(&self, symbol: &str, price: f64) {
        let mut st = self.st();
        let now = st.now;
        st.trades.insert(symbol.to_string(), (price, now, 100));
        for i in 0..st.orders.len() {
            if !st.live(&st.orders[i]) {
                continue;
            }
            let o = &mut st.orders[i];
            if o.symbol != symbol || o.kind == "market" {
                continue;
            }
            let sell = o.side == "sell";
            if let (Some(pct), Some(h)) = (o.trail_pct, o.hwm) {
                let best = if sell { h.max(price) } else { h.min(price) };
                o.hwm = Some(best);
                o.stop = Some(if sell {
                    best * (1.0 - pct / 100.0)
                } else {
                    best * (1.0 + pct / 100.0)
                });
            }
            let at = match (o.kind.as_str(), o.stop, o.limit) {
                ("stop" | "trailing_stop", Some(stop), _) => {
                    let touched = if sell { price <= stop } else { price >= stop };
                    touched.then_some(price)
                }
                ("limit", _, Some(limit)) => {
                    let reached = if sell { price >= limit } else { price <= limit };
                    reached.then_some(limit)
                }
                // Touched, a stop_limit becomes a limit, marketable at this trade's price when
                // it is no worse than the limit (the fake keeps no triggered-but-unfilled state).
                ("stop_limit", Some(stop), Some(limit)) => {
                    let touched = if sell { price <= stop } else { price >= stop };
                    let within = if sell { price >= limit } else { price <= limit };
                    (touched && within).then_some(price)
                }
                _ => None,
            };
            if let Some(at) = at.filter(|_| st.orders[i].is_open()) {
                st.fill(i, f64::INFINITY, at);
            }
        }
    }

    /// A cancel that races a fill: the next `DELETE /v2/orders/{id}` of an open order finds it
    /// filled at `price` (the trade came between the caller's last look and its cancel), and
    /// answers as Alpaca does for a final order, 422 "order is already in \"filled\" state"
    /// (alpaca-api.md §5: "a cancel can race a fill"; the caller must read the order back).
    pub fn fill_before_next_cancel(&self, price: f64) {
        self.st().fill_on_cancel = Some(price);
    }

    /// Fills `qty` more of an open order (capped at what remains): `partially_filled` or `filled`.
    pub fn partially_fill(&self, order_id: &str, qty: f64, price: f64) {
        let mut st = self.st();
        let found = st.orders.iter().position(|o| o.id == order_id);
        if let Some(i) = found.filter(|&i| st.orders[i].is_open()) {
            st.fill(i, qty, price);
        }
    }

    pub fn expire_open_orders(&self) {
        let mut st = self.st();
        let t = st.stamp();
        for o in st.orders.iter_mut().filter(|o| o.is_open()) {
            (o.status, o.expired_at, o.updated) = ("expired".into(), Some(t), t);
        }
    }

    /// A paper-account reset: the account starts afresh with $100k, no positions, no orders,
    /// no fills, and client ids become free again. Orders the bot tracked now answer 404
    /// "order not found" by id and by client id (alpaca-api.md §2.8).
    pub fn reset_paper_account(&self) {
        let mut st = self.st();
        st.orders.clear();
        st.client_ids.clear();
        st.fills.clear();
        st.positions.clear();
        (st.cash, st.bp, st.equity) = (100_000.0, 200_000.0, 100_000.0);
    }

    /// Forces a status (`rejected`, `canceled`, `expired`, ...) and sets its timestamp.
    pub fn set_order_status(&self, order_id: &str, status: &str) {
        let mut st = self.st();
        let t = st.stamp();
        let Some(o) = st.orders.iter_mut().find(|o| o.id == order_id) else {
            return;
        };
        (o.status, o.updated) = (status.to_string(), t);
        match status {
            "canceled" => o.canceled_at = Some(t),
            "expired" => o.expired_at = Some(t),
            "rejected" => o.failed_at = Some(t),
            "filled" => o.filled_at = Some(t),
            _ => {}
        }
    }
}

impl Drop for FakeAlpaca {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for (_, c) in lock(&self.inner.conns).drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing

struct Req {
    rec: Recorded,
    path: String,
    keep_alive: bool,
}

struct Reply {
    status: u16,
    ctype: &'static str,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn new(status: u16, ctype: &'static str, body: Vec<u8>) -> Reply {
        let headers = Vec::new();
        Reply {
            status,
            ctype,
            body,
            headers,
        }
    }
    fn json(status: u16, v: Value) -> Reply {
        Reply::new(status, JSON_CT, v.to_string().into_bytes())
    }
}

/// Handlers answer `Err` for error replies so that `?` works on parameter parsing.
type Res = Result<Reply, Reply>;

fn err(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(status, json!({"code": code, "message": message}))
}

fn msg(status: u16, message: &str) -> Reply {
    Reply::json(status, json!({ "message": message }))
}

fn accept_loop(srv: Arc<Inner>, listener: TcpListener) {
    for (id, conn) in (1u64..).zip(listener.incoming()) {
        if srv.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(conn) = conn else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        if let Ok(c) = conn.try_clone() {
            lock(&srv.conns).insert(id, c);
        }
        let s2 = Arc::clone(&srv);
        let builder = thread::Builder::new().name("fake-alpaca-conn".into());
        if builder.spawn(move || serve(s2, conn, id)).is_err() {
            lock(&srv.conns).remove(&id);
        }
    }
}

fn serve(srv: Arc<Inner>, stream: TcpStream, id: u64) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE));
    if let Ok(rd) = stream.try_clone() {
        let mut rd = BufReader::new(rd);
        let mut w = stream;
        loop {
            let req = match read_request(&mut rd, &mut w) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(m) => {
                    let _ = write_reply(&mut w, &msg(400, m), false);
                    break;
                }
            };
            if srv.stop.load(Ordering::SeqCst) {
                break;
            }
            match srv.dispatch(&req) {
                Some(r) if write_reply(&mut w, &r, req.keep_alive).is_ok() && req.keep_alive => {}
                _ => break,
            }
        }
        let _ = w.shutdown(Shutdown::Both);
    }
    lock(&srv.conns).remove(&id);
}

fn read_line(rd: &mut BufReader<TcpStream>) -> Result<Option<String>, &'static str> {
    let mut buf = Vec::new();
    match rd.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf) {
        Ok(0) | Err(_) => Ok(None),
        Ok(_) if !buf.ends_with(b"\n") => Err("line too long"),
        Ok(_) => Ok(Some(String::from_utf8_lossy(&buf).trim_end().to_string())),
    }
}

fn read_request(
    rd: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
) -> Result<Option<Req>, &'static str> {
    let mut line = String::new();
    while line.is_empty() {
        let Some(l) = read_line(rd)? else {
            return Ok(None);
        };
        line = l;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err("bad request line");
    };
    let http10 = parts.next() == Some("HTTP/1.0");
    let mut headers = BTreeMap::new();
    loop {
        let Some(l) = read_line(rd)? else {
            return Ok(None);
        };
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').ok_or("bad header")?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let header = |k: &str| {
        headers
            .get(k)
            .map(|v| v.to_ascii_lowercase())
            .unwrap_or_default()
    };
    let conn = header("connection");
    let keep_alive = if http10 {
        conn.contains("keep-alive")
    } else {
        !conn.contains("close")
    };
    if header("expect") == "100-continue" {
        let _ = w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let mut body = Vec::new();
    if header("transfer-encoding").contains("chunked") {
        loop {
            let size = read_line(rd)?.ok_or("eof in chunked body")?;
            let size = size.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| "bad chunk size")?;
            if size == 0 {
                while read_line(rd)?.is_some_and(|l| !l.is_empty()) {}
                break;
            }
            let start = body.len();
            body.resize(start + size.min(MAX_BODY), 0);
            rd.read_exact(&mut body[start..])
                .map_err(|_| "short chunk")?;
            read_line(rd)?;
        }
    } else if let Some(cl) = headers.get("content-length") {
        let n: usize = cl.parse().map_err(|_| "bad content-length")?;
        body.resize(n.min(MAX_BODY), 0);
        rd.read_exact(&mut body).map_err(|_| "short body")?;
    }
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let query = raw_query.split('&').filter(|kv| !kv.is_empty()).map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (pct_decode(k, true), pct_decode(v, true))
    });
    let rec = Recorded {
        method: method.to_ascii_uppercase(),
        path: raw_path.to_string(),
        raw_query: raw_query.to_string(),
        query: query.collect(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let path = pct_decode(raw_path, false);
    Ok(Some(Req {
        rec,
        path,
        keep_alive,
    }))
}

fn pct_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        match (b[i], hex) {
            (b'+', _) if plus_is_space => out.push(b' '),
            (b'%', Some(h)) => {
                out.push(u8::from_str_radix(&String::from_utf8_lossy(h), 16).unwrap_or(b'?'));
                i += 2;
            }
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        207 => "Multi-Status",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        _ => "Unknown",
    }
}

fn write_reply(w: &mut TcpStream, r: &Reply, keep_alive: bool) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
    if r.status != 204 {
        head += &format!(
            "Content-Type: {}\r\nContent-Length: {}\r\n",
            r.ctype,
            r.body.len()
        );
    }
    for (k, v) in &r.headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    };
    let mut buf = head.into_bytes();
    if r.status != 204 {
        buf.extend_from_slice(&r.body);
    }
    w.write_all(&buf)?;
    w.flush()
}

fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn rl_headers(limit: usize, remaining: usize, reset: u64) -> Vec<(String, String)> {
    vec![
        ("X-RateLimit-Limit".into(), limit.to_string()),
        ("X-RateLimit-Remaining".into(), remaining.to_string()),
        ("X-RateLimit-Reset".into(), reset.to_string()),
    ]
}

fn html_page(code: u16) -> String {
    let t = format!("{code} {}", reason(code));
    let body = format!("<body>\r\n<center><h1>{t}</h1></center>\r\n<hr><center>nginx</center>\r\n");
    format!("<html>\r\n<head><title>{t}</title></head>\r\n{body}</body>\r\n</html>\r\n")
}

impl Inner {
    fn dispatch(&self, req: &Req) -> Option<Reply> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let reply = self.dispatch_counted(req);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        reply
    }

    fn dispatch_counted(&self, req: &Req) -> Option<Reply> {
        let fault = {
            let mut st = lock(&self.st);
            st.requests.push(req.rec.clone());
            st.take_fault(&req.rec.method, &req.path)
        };
        let canned = |status: u16, ctype: &'static str, body: String| {
            let mut r = Reply::new(status, ctype, body.into_bytes());
            r.headers = lock(&self.st).rate().1;
            r
        };
        match fault {
            None => Some(self.handle(req)),
            Some(Fault::Status(code, body)) => Some(canned(code, JSON_CT, body)),
            Some(Fault::Html(code)) => Some(canned(code, "text/html", html_page(code))),
            Some(Fault::RateLimited { headers }) => {
                let mut r = msg(429, "too many requests.");
                if headers {
                    r.headers = rl_headers(200, 0, epoch_secs() + 2);
                }
                Some(r)
            }
            Some(Fault::RateLimitedFor(d)) => {
                let mut r = msg(429, "too many requests.");
                r.headers = rl_headers(200, 0, epoch_secs() + d.as_secs());
                Some(r)
            }
            Some(Fault::Delay(d)) => {
                thread::sleep(d);
                Some(self.handle(req))
            }
            Some(Fault::MalformedJson) => {
                let mut r = self.handle(req);
                (r.status, r.ctype) = (200, JSON_CT);
                r.body.truncate(r.body.len() / 2);
                if r.body.len() < 2 {
                    r.body = b"{\"".to_vec();
                }
                Some(r)
            }
            Some(Fault::CommitThenDrop) => {
                self.handle(req);
                None
            }
            Some(Fault::CommitThenDelay(d)) => {
                let r = self.handle(req);
                thread::sleep(d);
                Some(r)
            }
        }
    }

    /// Routes under the state lock; a panicking handler answers 500 instead of killing the thread.
    fn handle(&self, req: &Req) -> Reply {
        catch_unwind(AssertUnwindSafe(|| {
            let mut st = lock(&self.st);
            let (over, headers) = st.rate();
            let mut r = if over {
                msg(429, "too many requests.")
            } else {
                st.route(req)
            };
            r.headers.extend(headers);
            r
        }))
        .unwrap_or_else(|_| err(500, 50010000, "internal server error"))
    }
}

// ---------------------------------------------------------------------------------------------
// Time, calendar, formatting helpers

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn day_str(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn nth_sunday(y: i32, m: u32, n: u32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(y, m, 1).unwrap_or_default();
    let skip = (7 - first.weekday().num_days_from_sunday()) % 7 + 7 * (n - 1);
    first + TimeDelta::days(i64::from(skip))
}

/// New York offset by the fixed US rule (EDT from 2nd Sunday of March to 1st Sunday of November).
fn ny(t: DateTime<Utc>) -> FixedOffset {
    let at = |d: NaiveDate, h| d.and_hms_opt(h, 0, 0).unwrap_or_default().and_utc();
    let start = at(nth_sunday(t.year(), 3, 2), 7);
    let end = at(nth_sunday(t.year(), 11, 1), 6);
    let hours = if t >= start && t < end { 4 } else { 5 };
    FixedOffset::west_opt(hours * 3600).expect("valid offset")
}

fn ny_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&ny(t)).date_naive()
}

fn ny_rfc3339(t: DateTime<Utc>, f: SecondsFormat) -> String {
    t.with_timezone(&ny(t)).to_rfc3339_opts(f, false)
}

/// UTC instant of New York wall-clock time `h:m` on `d`.
fn ny_at(d: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    let local = d.and_hms_opt(h, m, 0).unwrap_or_default().and_utc();
    let edt = ny(local + TimeDelta::hours(5)).local_minus_utc() == -4 * 3600;
    local + TimeDelta::hours(if edt { 4 } else { 5 })
}

fn is_trading_day(d: NaiveDate) -> bool {
    let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
    !weekend && !HOLIDAYS.contains(&day_str(d))
}

fn next_trading_day(d: NaiveDate) -> NaiveDate {
    let mut n = d + TimeDelta::days(1);
    while !is_trading_day(n) {
        n += TimeDelta::days(1);
    }
    n
}

fn session(d: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let early = EARLY_CLOSES.contains(&day_str(d));
    let close_hour = if early { 13 } else { 16 };
    (ny_at(d, 9, 30), ny_at(d, close_hour, 0))
}

/// Parses RFC 3339 (`Z` or offset) or `YYYY-MM-DD` (midnight UTC; `end_of_day` -> its last ns).
fn parse_time(s: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    let t = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)?
        .and_utc();
    let eod = TimeDelta::days(1) - TimeDelta::nanoseconds(1);
    Some(if end_of_day { t + eod } else { t })
}

/// An optional time parameter; `Err(message)` when present but unparseable.
fn time_param(q: &Query, k: &str, end_of_day: bool) -> Result<Option<DateTime<Utc>>, String> {
    let Some(s) = qv(q, k) else { return Ok(None) };
    parse_time(s, end_of_day)
        .map(Some)
        .ok_or_else(|| format!("invalid {k}: {s}"))
}

fn int_param(q: &Query, k: &str, default: usize) -> Result<usize, String> {
    let Some(s) = qv(q, k) else {
        return Ok(default);
    };
    s.parse().map_err(|_| format!("invalid {k}: {s}"))
}

/// Decimal string: up to 9 decimals, no trailing zeros, no exponent.
fn dec(x: f64) -> String {
    let s = format!("{x:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0" } else { s }.to_string()
}

/// `Some(None)` = absent/null, `None` = not a number (JSON number or decimal string accepted).
fn opt_num(v: Option<&Value>) -> Option<Option<f64>> {
    match v {
        None | Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => n.as_f64().map(Some),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite())
            .map(Some),
        Some(_) => None,
    }
}

/// Minutes in a timeframe (`[1-59]Min|T`, `[1-23]Hour|H`, `1Day|D`).
fn parse_tf(s: &str) -> Option<i64> {
    let i = s.find(|c: char| !c.is_ascii_digit())?;
    let n: i64 = s[..i].parse().ok()?;
    match &s[i..] {
        "Min" | "T" if (1..=59).contains(&n) => Some(n),
        "Hour" | "H" if (1..=23).contains(&n) => Some(n * 60),
        "Day" | "D" if n == 1 => Some(1440),
        _ => None,
    }
}

/// Data-API symbols: comma list (or the path symbol), each upper-case letters, `.` or `/`.
fn symbols_param(q: &Query, single: Option<&str>) -> Result<Vec<String>, Reply> {
    let list = single
        .or(qv(q, "symbols"))
        .ok_or_else(|| msg(400, "missing symbols"))?;
    let syms: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
    let ok = |s: &String| {
        s.bytes()
            .all(|c| c.is_ascii_uppercase() || c == b'.' || c == b'/')
    };
    match syms.iter().find(|s| s.is_empty() || s.len() > 21 || !ok(s)) {
        Some(bad) => Err(msg(400, &format!("invalid symbol: {bad}"))),
        None => Ok(syms),
    }
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn uuid_from(a: u64, b: u64) -> String {
    let (a1, a2, a3) = (a >> 32, (a >> 16) & 0xffff, a & 0xfff);
    let (b1, b2) = (((b >> 48) & 0x3fff) | 0x8000, b & 0xffff_ffff_ffff);
    format!("{a1:08x}-{a2:04x}-4{a3:03x}-{b1:04x}-{b2:012x}")
}

fn asset_id(symbol: &str) -> String {
    let fnv = |h: u64, c: u8| (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3);
    let h = symbol.bytes().fold(0xcbf2_9ce4_8422_2325, fnv);
    uuid_from(mix(h), mix(h ^ 1))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Prefix of every page token, so tokens always contain `+` and `/` (clients must %-encode them).
const TOKEN_MAGIC: [u8; 3] = [0xfb, 0xff, 0xbf];

fn b64(data: &[u8]) -> String {
    let mut out = String::new();
    for ch in data.chunks(3) {
        let n = ch
            .iter()
            .enumerate()
            .fold(0, |a, (i, &b)| a | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            let c = B64[(n >> (18 - 6 * i) & 63) as usize];
            out.push(if i <= ch.len() { char::from(c) } else { '=' });
        }
    }
    out
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    let (mut bits, mut nbits, mut out) = (0u32, 0, Vec::new());
    for c in s.trim_end_matches('=').bytes() {
        bits = (bits << 6) | B64.iter().position(|&x| x == c)? as u32;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    Some(out)
}

fn bar_token(symbol: &str, t: DateTime<Utc>) -> String {
    let mut raw = TOKEN_MAGIC.to_vec();
    raw.extend(format!("{symbol}|{}", t.timestamp_nanos_opt().unwrap_or(0)).bytes());
    b64(&raw)
}

fn parse_bar_token(tok: &str) -> Option<(String, DateTime<Utc>)> {
    let raw = unb64(tok)?;
    let text = String::from_utf8(raw.strip_prefix(&TOKEN_MAGIC[..])?.to_vec()).ok()?;
    let (sym, nanos) = text.split_once('|')?;
    Some((
        sym.to_string(),
        DateTime::from_timestamp_nanos(nanos.parse().ok()?),
    ))
}

fn bar_json(b: &FakeBar) -> Value {
    let t = b.t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    json!({"t": t, "o": b.o, "h": b.h, "l": b.l, "c": b.c, "v": b.v, "n": b.n, "vw": b.vw})
}

// ---------------------------------------------------------------------------------------------
// Domain state

#[derive(Clone, Default)]
struct Order {
    id: String,
    cid: String,
    symbol: String,
    side: String,
    kind: String,
    tif: String,
    intent: &'static str,
    qty: Option<f64>,
    notional: Option<f64>,
    limit: Option<f64>,
    stop: Option<f64>,
    /// `oco`, `bracket` or `oto` for every order of a complex order (parent and legs); empty
    /// for a simple order.
    class: String,
    trail_pct: Option<f64>,
    /// A trailing stop's best price since placement (Alpaca's `hwm`).
    hwm: Option<f64>,
    /// A leg's parent order id.
    parent: Option<String>,
    ext: bool,
    status: String,
    filled: f64,
    avg: Option<f64>,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    filled_at: Option<DateTime<Utc>>,
    canceled_at: Option<DateTime<Utc>>,
    expired_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
}

impl Order {
    fn is_open(&self) -> bool {
        !FINAL.contains(&self.status.as_str())
    }

    /// A leg waiting `held` (on its parent's fill, or a bracket's stop beside its target).
    fn held_leg(&self) -> bool {
        self.status == "held" && self.parent.is_some()
    }

    /// Part of a complex order (alpaca-api.md §2.5 `order_class`).
    fn complex(&self) -> bool {
        ["bracket", "oco", "oto"].contains(&self.class.as_str())
    }

    /// Remaining shares (for notional orders: at `px`).
    fn remaining(&self, px: f64) -> f64 {
        match (self.qty, self.notional) {
            (Some(q), _) => q - self.filled,
            (None, Some(n)) if px > 0.0 => {
                let left = n - self.filled * self.avg.unwrap_or(0.0);
                (left / px * 1e9).floor() / 1e9
            }
            _ => 0.0,
        }
    }

    fn json(&self) -> Value {
        let t = |x: Option<DateTime<Utc>>| x.map(ts);
        json!({
            "id": self.id, "client_order_id": self.cid, "created_at": ts(self.created),
            "updated_at": ts(self.updated), "submitted_at": ts(self.created),
            "filled_at": t(self.filled_at), "expired_at": t(self.expired_at),
            "canceled_at": t(self.canceled_at), "failed_at": t(self.failed_at),
            "replaced_at": null, "replaced_by": null, "replaces": null,
            "asset_id": asset_id(&self.symbol), "symbol": self.symbol, "asset_class": "us_equity",
            "notional": self.notional.map(dec), "qty": self.qty.map(dec),
            "filled_qty": dec(self.filled), "filled_avg_price": self.avg.map(dec),
            "order_class": self.class, "order_type": self.kind, "type": self.kind, "side": self.side,
            "position_intent": self.intent, "time_in_force": self.tif,
            "limit_price": self.limit.map(dec), "stop_price": self.stop.map(dec),
            "status": self.status, "extended_hours": self.ext, "legs": null,
            "trail_percent": self.trail_pct.map(dec), "trail_price": null,
            "hwm": self.hwm.map(dec),
            "subtag": null, "source": null, "expires_at": null
        })
    }
}

/// When Alpaca refuses a new order beside an open one of the opposite side.
#[derive(Clone, Copy, PartialEq)]
enum Wash {
    Always,
    /// Only when the buy's limit price is at or above the sell's.
    IfBuyLimitAtOrAboveSell,
}

/// Alpaca's wash-trade table, "Preventing Wash Trades at Alpaca" on
/// docs.alpaca.markets/docs/user-protection (2026): (existing order type, new order type,
/// rule) for an existing order and a new one on opposite sides of the same symbol, answered
/// 403 "potential wash trade detected. use complex orders" (code 40310000, alpaca-api.md §4.2).
/// The page lists each pair twice, buy-then-sell and sell-then-buy, with the same rule. "If a
/// customer wants to set up a 'take profit' and a 'stop loss' situation, we recommend using a
/// bracket or OCO ... These complex orders and trailing stop orders are exceptions": complex
/// orders (bracket, OCO, and OTO, which Alpaca staff recommend alike on
/// forum.alpaca.markets/t/18200) and trailing stops, on either side, are never refused.
const WASH_TABLE: [(&str, &str, Wash); 16] = [
    ("market", "market", Wash::Always),
    ("market", "limit", Wash::Always),
    ("market", "stop", Wash::Always),
    ("market", "stop_limit", Wash::Always),
    ("stop", "market", Wash::Always),
    ("stop", "limit", Wash::Always),
    ("stop", "stop", Wash::Always),
    ("stop", "stop_limit", Wash::Always),
    ("limit", "market", Wash::Always),
    ("limit", "limit", Wash::IfBuyLimitAtOrAboveSell),
    ("limit", "stop", Wash::Always),
    ("limit", "stop_limit", Wash::IfBuyLimitAtOrAboveSell),
    ("stop_limit", "market", Wash::Always),
    ("stop_limit", "limit", Wash::IfBuyLimitAtOrAboveSell),
    ("stop_limit", "stop", Wash::Always),
    ("stop_limit", "stop_limit", Wash::IfBuyLimitAtOrAboveSell),
];

/// Would `new` (side, type, limit price, part of a complex order) be refused beside the open
/// order `old` (same symbol), by [`WASH_TABLE`]?
fn wash_trade(old: &Order, new: (&str, &str, Option<f64>, bool)) -> bool {
    let (side, kind, limit, complex) = new;
    let exempt = complex || old.complex() || kind == "trailing_stop" || old.kind == "trailing_stop";
    if exempt || old.side == side {
        return false;
    }
    let rule = WASH_TABLE
        .iter()
        .find(|(o, n, _)| *o == old.kind && *n == kind)
        .map(|r| r.2);
    match rule {
        Some(Wash::Always) => true,
        Some(Wash::IfBuyLimitAtOrAboveSell) => {
            let (buy, sell) = if side == "buy" {
                (limit, old.limit)
            } else {
                (old.limit, limit)
            };
            matches!((buy, sell), (Some(b), Some(s)) if b >= s)
        }
        None => false,
    }
}

type Query = BTreeMap<String, String>;

fn qv<'a>(q: &'a Query, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str).filter(|s| !s.is_empty())
}

#[derive(Default)]
struct State {
    /// Set by [`FakeAlpaca::fill_before_next_cancel`]: the next canceled open order fills at
    /// this price first.
    fill_on_cancel: Option<f64>,
    now: DateTime<Utc>,
    is_open: bool,
    /// `next_open` as a test sets it (`set_next_open`), instead of the calendar's.
    next_open: Option<DateTime<Utc>>,
    last_stamp: DateTime<Utc>,
    bars: HashMap<(String, i64), BTreeMap<DateTime<Utc>, FakeBar>>,
    trades: HashMap<String, (f64, DateTime<Utc>, u64)>,
    positions: BTreeMap<String, (f64, f64)>,
    cash: f64,
    bp: f64,
    equity: f64,
    account_status: String,
    shorting: bool,
    fill_on_submit: bool,
    non_fractionable: HashSet<String>,
    max_page: usize,
    short_every: usize,
    pages: usize,
    free_plan: bool,
    rl_limit: usize,
    rl_start: u64,
    rl_count: usize,
    faults: Vec<(String, String, Fault, usize)>,
    requests: Vec<Recorded>,
    orders: Vec<Order>,
    client_ids: HashSet<String>,
    /// FILL activities: (id, JSON); ids sort by time, then creation.
    fills: Vec<(String, Value)>,
    /// Non-trade activities (SPLIT): (id, JSON); ids start with the day, like Alpaca's.
    non_trade: Vec<(String, Value)>,
    seq: u64,
    salt: u64,
}

impl State {
    fn new(salt: u64) -> State {
        State {
            fill_on_cancel: None,
            now: parse_time("2026-03-04T15:00:00Z", false).unwrap_or_default(),
            is_open: true,
            last_stamp: DateTime::<Utc>::MIN_UTC,
            cash: 100_000.0,
            bp: 200_000.0,
            equity: 100_000.0,
            account_status: "ACTIVE".into(),
            shorting: true,
            fill_on_submit: false,
            salt,
            ..State::default()
        }
    }

    /// Strictly increasing timestamps at (or just after) the fake now.
    fn stamp(&mut self) -> DateTime<Utc> {
        self.last_stamp = self.now.max(self.last_stamp + TimeDelta::microseconds(1));
        self.last_stamp
    }

    /// UUID-like id whose first group is a sequence number (so ids sort by creation).
    fn uuid(&mut self) -> String {
        self.seq += 1;
        let r = mix(self.seq ^ (self.salt << 32));
        uuid_from((self.seq << 32) | (r >> 32), mix(r))
    }

    fn rate(&mut self) -> (bool, Vec<(String, String)>) {
        let now = epoch_secs();
        if now >= self.rl_start + 60 {
            (self.rl_start, self.rl_count) = (now, 0);
        }
        self.rl_count += 1;
        let limit = Some(self.rl_limit).filter(|&l| l > 0).unwrap_or(200);
        let over = self.rl_limit > 0 && self.rl_count > self.rl_limit;
        // Not enforcing: never report 0 left, so polite clients do not throttle benchmarks.
        let floor = usize::from(self.rl_limit == 0);
        let left = limit.saturating_sub(self.rl_count).max(floor);
        (over, rl_headers(limit, left, self.rl_start + 60))
    }

    fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let hit = |(m, p, _, n): &(String, String, Fault, usize)| {
            *n > 0 && (m == "*" || m.eq_ignore_ascii_case(method)) && path.starts_with(p.as_str())
        };
        let i = self.faults.iter().position(hit)?;
        self.faults[i].3 -= 1;
        let fault = self.faults[i].2.clone();
        self.faults.retain(|f| f.3 > 0);
        Some(fault)
    }

    /// Latest trade price, else the close of the newest bar of any timeframe.
    fn price(&self, symbol: &str) -> Option<f64> {
        let bars = self.bars.iter().filter(|((s, _), _)| s == symbol);
        let newest = bars
            .filter_map(|(_, series)| series.values().next_back())
            .max_by_key(|b| b.t);
        self.trades.get(symbol).map(|t| t.0).or(newest.map(|b| b.c))
    }

    /// Is this order working at the market now: an open top-level order, an OCO's stop leg
    /// (live beside its limit parent from the start), or a bracket or OTO leg once its entry
    /// has filled (until then it waits, `held`, for shares it could close).
    fn live(&self, o: &Order) -> bool {
        match o.parent.as_deref() {
            _ if !o.is_open() => false,
            None => true,
            Some(_) if o.class == "oco" => true,
            Some(p) => self
                .orders
                .iter()
                .any(|q| q.id == p && q.status == "filled"),
        }
    }

    /// Shares the open orders of one side hold on `symbol`: every top-level order, and the
    /// legs of a filled bracket or OTO entry once per family (its target and stop close the
    /// same shares; alpaca-trade-api-js#87, Alpaca staff: "the amount of shares is allocated
    /// per order"). An OCO's leg is counted in its parent; a leg whose entry has not filled
    /// holds nothing yet.
    fn open_remaining(&self, symbol: &str, side: &str) -> f64 {
        let px = self.price(symbol).unwrap_or(0.0);
        let mut families: BTreeMap<&str, f64> = BTreeMap::new();
        let mut top = 0.0;
        let open = self
            .orders
            .iter()
            .filter(|o| o.is_open() && o.symbol == symbol);
        for o in open.filter(|o| o.side == side) {
            match o.parent.as_deref() {
                None => top += o.remaining(px),
                Some(p) if o.class != "oco" && self.live(o) => {
                    let f = families.entry(p).or_insert(0.0);
                    *f = f.max(o.remaining(px));
                }
                Some(_) => {}
            }
        }
        top + families.values().sum::<f64>()
    }

    /// Long: qty minus open sells (>= 0). Short: qty plus open buys (<= 0).
    fn qty_available(&self, symbol: &str) -> f64 {
        let q = self.positions.get(symbol).map_or(0.0, |p| p.0);
        if q >= 0.0 {
            (q - self.open_remaining(symbol, "sell")).max(0.0)
        } else {
            (q + self.open_remaining(symbol, "buy")).min(0.0)
        }
    }

    fn route(&mut self, req: &Req) -> Reply {
        let h = |k: &str| req.rec.headers.get(k).map(String::as_str);
        let data = req.path.starts_with("/v2/stocks");
        match (h("apca-api-key-id"), h("apca-api-secret-key")) {
            (Some(KEY_ID), Some(SECRET)) => {}
            (Some(WRONG_ENV_KEY_ID), Some(SECRET)) if data => {}
            (Some(WRONG_ENV_KEY_ID), Some(SECRET)) => {
                return err(401, 40110000, "request is not authorized")
            }
            _ => return msg(403, "forbidden."),
        }
        let q = &req.rec.query;
        let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let res = match (req.rec.method.as_str(), segs.as_slice()) {
            ("GET", ["v2", "account"]) => Ok(Reply::json(200, self.account_json())),
            ("GET", ["v2", "clock"]) => Ok(self.clock()),
            ("GET", ["v2", "calendar"]) => self.calendar(q),
            ("GET", ["v2", "positions"]) => {
                let all = self
                    .positions
                    .iter()
                    .map(|(s, p)| self.position_json(s, p.0, p.1));
                Ok(Reply::json(200, Value::Array(all.collect())))
            }
            ("GET", ["v2", "positions", sym]) => {
                let mut all = self.positions.iter();
                match all.find(|(s, _)| s.as_str() == *sym || asset_id(s) == *sym) {
                    Some((s, p)) => Ok(Reply::json(200, self.position_json(s, p.0, p.1))),
                    None => Err(err(404, 40410000, "position does not exist")),
                }
            }
            ("POST", ["v2", "orders"]) => self.post_order(&req.rec.body),
            ("GET", ["v2", "orders"]) => self.list_orders(q),
            ("DELETE", ["v2", "orders"]) => Ok(self.cancel_all()),
            ("GET", ["v2", "orders:by_client_order_id"]) => {
                let cid = qv(q, "client_order_id").unwrap_or("");
                self.order_reply(|o| o.cid == cid)
            }
            ("GET", ["v2", "orders", id]) => self.order_reply(|o| o.id == *id),
            ("DELETE", ["v2", "orders", id]) => self.cancel(id),
            ("GET", ["v2", "account", "activities"]) => self.activities(qv(q, "activity_types"), q),
            ("GET", ["v2", "account", "activities", ty]) => self.activities(Some(ty), q),
            ("GET", ["v2", "stocks", "bars"]) => self.bars(q, None),
            ("GET", ["v2", "stocks", sym, "bars"]) => self.bars(q, Some(sym)),
            ("GET", ["v2", "stocks", "trades", "latest"]) => self.latest_trades(q, None),
            ("GET", ["v2", "stocks", sym, "trades", "latest"]) => self.latest_trades(q, Some(sym)),
            _ => Err(err(404, 40410000, "endpoint not found")),
        };
        res.unwrap_or_else(|e| e)
    }

    fn account_json(&self) -> Value {
        let (mut long, mut short) = (0.0, 0.0);
        for (s, &(q, avg)) in &self.positions {
            let mv = q * self.price(s).unwrap_or(avg);
            *(if q > 0.0 { &mut long } else { &mut short }) += mv;
        }
        let gross = long - short;
        let mut asof = ny_date(self.now) - TimeDelta::days(1);
        while !is_trading_day(asof) {
            asof -= TimeDelta::days(1);
        }
        json!({
            "id": "f4a3e8c2-6b1d-4e0a-9c57-2d8b1e6f0a13", "account_number": "PA3FAKE0ALPC",
            "status": self.account_status, "crypto_status": "ACTIVE", "currency": "USD",
            "buying_power": dec(self.bp), "regt_buying_power": dec(self.bp),
            "effective_buying_power": dec(self.bp),
            "non_marginable_buying_power": dec(self.cash.max(0.0)),
            "options_buying_power": dec(self.cash.max(0.0)), "cash": dec(self.cash),
            "accrued_fees": "0", "portfolio_value": dec(self.equity), "equity": dec(self.equity),
            "last_equity": "100011.09751111286868", "long_market_value": dec(long),
            "short_market_value": dec(short), "position_market_value": dec(gross),
            "initial_margin": dec(gross * 0.5), "maintenance_margin": dec(gross * 0.3),
            "last_maintenance_margin": "0", "sma": "0", "multiplier": "2",
            "pending_transfer_in": "0", "pending_transfer_out": "0", "intraday_adjustments": "0",
            "pending_reg_taf_fees": "0", "trading_blocked": false, "transfers_blocked": false,
            "account_blocked": false, "trade_suspended_by_user": false,
            "shorting_enabled": self.shorting, "created_at": "2024-05-14T13:27:41.539127Z",
            "balance_asof": day_str(asof), "options_approved_level": 0,
            "options_trading_level": 0, "crypto_tier": 1, "admin_configurations": {},
            "user_configurations": null
        })
    }

    fn clock(&self) -> Reply {
        let (mut next_open, mut next_close, mut d) = (None, None, ny_date(self.now));
        while next_close.is_none() || next_open.is_none() {
            if is_trading_day(d) {
                let (o, c) = session(d);
                next_open = next_open.or((o > self.now).then_some(o));
                next_close = next_close.or((c > self.now).then_some(c));
            }
            d += TimeDelta::days(1);
        }
        let et = |t: Option<DateTime<Utc>>| t.map(|t| ny_rfc3339(t, SecondsFormat::Secs));
        let now = ny_rfc3339(self.now, SecondsFormat::AutoSi);
        let (open, close) = (et(self.next_open.or(next_open)), et(next_close));
        let v = json!({"timestamp": now, "is_open": self.is_open, "next_open": open, "next_close": close});
        Reply::json(200, v)
    }

    fn calendar(&self, q: &Query) -> Res {
        let day = |k: &str| match qv(q, k) {
            None => Ok(None),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .or(parse_time(s, false).map(ny_date))
                .map(Some)
                .ok_or_else(|| err(422, 40010001, &format!("invalid {k}"))),
        };
        let start = day("start")?.unwrap_or(ny_date(self.now));
        let end = day("end")?.unwrap_or(start + TimeDelta::days(30));
        let days = start.iter_days().take_while(|d| *d <= end).take(20_000);
        let out = days.filter(|d| is_trading_day(*d)).map(|d| {
            let early = EARLY_CLOSES.contains(&day_str(d));
            let (close, session_close) = if early {
                ("13:00", "1700")
            } else {
                ("16:00", "2000")
            };
            json!({"date": day_str(d), "open": "09:30", "close": close, "session_open": "0400",
                   "session_close": session_close, "settlement_date": day_str(next_trading_day(d))})
        });
        Ok(Reply::json(200, Value::Array(out.collect())))
    }

    fn position_json(&self, symbol: &str, qty: f64, avg: f64) -> Value {
        let px = self.price(symbol).unwrap_or(avg);
        let (mv, cb) = (qty * px, qty * avg);
        let pl = mv - cb;
        let plpc = if cb == 0.0 { 0.0 } else { pl / cb.abs() };
        json!({
            "asset_id": asset_id(symbol), "symbol": symbol, "exchange": "NASDAQ",
            "asset_class": "us_equity", "asset_marginable": true, "qty": dec(qty),
            "qty_available": dec(self.qty_available(symbol)), "avg_entry_price": dec(avg),
            "side": if qty < 0.0 { "short" } else { "long" }, "market_value": dec(mv),
            "cost_basis": dec(cb), "unrealized_pl": dec(pl), "unrealized_plpc": dec(plpc),
            "unrealized_intraday_pl": dec(pl), "unrealized_intraday_plpc": dec(plpc),
            "current_price": dec(px), "lastday_price": dec(px), "change_today": "0"
        })
    }

    /// An order as Alpaca shows it: a parent with its legs in `legs`.
    fn shown(&self, o: &Order) -> Value {
        let mut v = o.json();
        let legs: Vec<Value> = self
            .orders
            .iter()
            .filter(|l| l.parent.as_deref() == Some(o.id.as_str()))
            .map(Order::json)
            .collect();
        if !legs.is_empty() {
            v["legs"] = Value::Array(legs);
        }
        v
    }

    fn order_reply(&self, pred: impl Fn(&Order) -> bool) -> Res {
        match self.orders.iter().find(|o| pred(o)) {
            Some(o) => Ok(Reply::json(200, self.shown(o))),
            None => Err(err(404, 40410000, "order not found")),
        }
    }

    fn cancel(&mut self, id: &str) -> Res {
        if let Some(i) = self.orders.iter().position(|o| o.id == id && o.is_open()) {
            if let Some(price) = self.fill_on_cancel.take() {
                self.fill(i, f64::INFINITY, price);
            }
        }
        let t = self.stamp();
        let o = self.orders.iter_mut().find(|o| o.id == id);
        let o = o.ok_or_else(|| err(404, 40410000, "order not found"))?;
        if !o.is_open() {
            let m = format!("order is already in \"{}\" state", o.status);
            return Err(err(422, 42210000, &m));
        }
        (o.status, o.canceled_at, o.updated) = ("canceled".into(), Some(t), t);
        let id = id.to_string();
        for leg in self
            .orders
            .iter_mut()
            .filter(|l| l.parent.as_deref() == Some(&id))
        {
            if leg.is_open() {
                (leg.status, leg.canceled_at, leg.updated) = ("canceled".into(), Some(t), t);
            }
        }
        Ok(Reply::new(204, JSON_CT, Vec::new()))
    }

    fn cancel_all(&mut self) -> Reply {
        let open = self.orders.iter().filter(|o| o.is_open());
        let ids: Vec<String> = open.map(|o| o.id.clone()).collect();
        for id in &ids {
            let _ = self.cancel(id);
        }
        let out = ids
            .iter()
            .map(|id| json!({"id": id, "status": 200, "body": null}));
        Reply::json(207, Value::Array(out.collect()))
    }

    fn post_order(&mut self, body: &str) -> Res {
        let Ok(Value::Object(b)) = serde_json::from_str::<Value>(body) else {
            return Err(err(400, 40010000, "request body format is invalid"));
        };
        let o = self.new_order(&b)?;
        self.client_ids.insert(o.cid.clone());
        let legs = self.legs(&o, &b);
        self.orders.push(o);
        let at = self.orders.len() - 1;
        self.orders.extend(legs);
        let price = self.price(&self.orders[at].symbol);
        if let Some(price) =
            price.filter(|_| self.fill_on_submit && self.orders[at].kind == "market")
        {
            self.fill(at, f64::INFINITY, price);
        }
        Ok(Reply::json(200, self.shown(&self.orders[at])))
    }

    /// A complex order's legs, all `held` at first (alpaca-api.md §2.12 [live]: "bracket legs
    /// waiting on the parent"), each with Alpaca's own id and client id: client ids sent for
    /// legs are ignored (issue 14). A leg inherits the parent's qty and time in force (its own
    /// `time_in_force` is ignored: alpacahq/Alpaca-API#283).
    /// - `oco` (exit only): the parent is the `limit` (take_profit.limit_price); one `stop`
    ///   leg from stop_loss.stop_price, on the same side, `stop_limit` with
    ///   stop_loss.limit_price.
    /// - `bracket` / `oto`: the closing side; a `limit` leg from take_profit.limit_price,
    ///   then a `stop` (or `stop_limit`) leg from stop_loss.
    fn legs(&mut self, o: &Order, b: &Map<String, Value>) -> Vec<Order> {
        let price = |leg: &str, k: &str| opt_num(b.get(leg).and_then(|l| l.get(k))).flatten();
        let (tp, sl, sl_limit) = (
            price("take_profit", "limit_price"),
            price("stop_loss", "stop_price"),
            price("stop_loss", "limit_price"),
        );
        let (side, intent) = match (o.class.as_str(), o.side.as_str()) {
            ("oco", _) => (o.side.clone(), o.intent),
            (_, "buy") => ("sell".to_string(), "sell_to_close"),
            _ => ("buy".to_string(), "buy_to_close"),
        };
        let stop_kind = if sl_limit.is_some() {
            "stop_limit"
        } else {
            "stop"
        };
        let shapes: Vec<(&str, Option<f64>, Option<f64>)> = match o.class.as_str() {
            "oco" => vec![(stop_kind, sl_limit, sl)],
            "bracket" | "oto" => {
                let target = tp.map(|tp| ("limit", Some(tp), None));
                let stop = sl.map(|sl| (stop_kind, sl_limit, Some(sl)));
                target.into_iter().chain(stop).collect()
            }
            _ => Vec::new(),
        };
        shapes
            .into_iter()
            .map(|(kind, limit, stop)| Order {
                id: self.uuid(),
                cid: self.uuid(),
                side: side.clone(),
                intent,
                kind: kind.into(),
                limit,
                stop,
                trail_pct: None,
                hwm: None,
                status: "held".into(),
                parent: Some(o.id.clone()),
                ..o.clone()
            })
            .collect()
    }

    fn new_order(&mut self, b: &Map<String, Value>) -> Result<Order, Reply> {
        let bad = |m: &str| err(422, 40010001, m);
        let text = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let num = |k: &str| opt_num(b.get(k)).ok_or_else(|| bad(&format!("invalid {k}")));
        let (symbol, side, kind, tif) = (
            text("symbol"),
            text("side"),
            text("type"),
            text("time_in_force"),
        );
        let (qty, notional) = (num("qty")?, num("notional")?);
        let class = text("order_class");
        let oco = class == "oco";
        let entry_class = class == "bracket" || class == "oto";
        let leg_price = |leg: &str, k: &str| {
            opt_num(b.get(leg).and_then(|l| l.get(k)))
                .ok_or_else(|| bad(&format!("invalid {leg}.{k}")))
        };
        let (mut limit, stop) = (num("limit_price")?, num("stop_price")?);
        let trail_pct = num("trail_percent")?;
        let (tp, sl) = (
            leg_price("take_profit", "limit_price")?,
            leg_price("stop_loss", "stop_price")?,
        );
        if oco {
            limit = limit.or(tp);
        }
        let fractional = notional.is_some() || qty.is_some_and(|q| q.fract() != 0.0);
        let nonfrac = self.non_fractionable.contains(&symbol);
        let types = ["market", "limit", "stop", "stop_limit", "trailing_stop"];
        let checks = [
            (symbol.is_empty(), "symbol is required"),
            (side != "buy" && side != "sell", "invalid side"),
            (!types.contains(&kind.as_str()), "invalid order type"),
            (
                !["day", "gtc", "opg", "cls", "ioc", "fok"].contains(&tif.as_str()),
                "invalid time_in_force",
            ),
            (
                !["", "simple", "oco", "bracket", "oto"].contains(&class.as_str()),
                "order_class not supported by the fake",
            ),
            (oco && kind != "limit", "oco orders must be limit orders"),
            (
                oco && (tp.is_none() || sl.is_none()),
                "oco orders require take_profit.limit_price and stop_loss.stop_price",
            ),
            // 422 code 40010001 "bracket orders must be market or limit orders"
            // (Petersoj/alpaca-java#44); the same for `oto` (wording assumed).
            (
                entry_class && kind != "market" && kind != "limit",
                if class == "oto" {
                    "oto orders must be market or limit orders"
                } else {
                    "bracket orders must be market or limit orders"
                },
            ),
            // A bracket needs both legs: 422 "bracket orders require take_profit.limit_price"
            // (TraderAlice/OpenAlice#342, seen on paper); the stop's wording by analogy.
            (
                class == "bracket" && tp.is_none(),
                "bracket orders require take_profit.limit_price",
            ),
            (
                class == "bracket" && sl.is_none(),
                "bracket orders require stop_loss.stop_price",
            ),
            // An OTO takes exactly one leg (OpenAlice#342: one leg -> `oto`, two -> `bracket`;
            // wording assumed).
            (
                class == "oto" && tp.is_none() == sl.is_none(),
                "oto orders require exactly one of take_profit or stop_loss",
            ),
            // Complex orders are `day` or `gtc` only (Alpaca's orders page, as the
            // rustrade-execution Alpaca client documents it; wording assumed).
            (
                (oco || entry_class) && tif != "day" && tif != "gtc",
                "complex orders must be DAY or GTC orders",
            ),
            (
                kind == "trailing_stop" && trail_pct.is_none_or(|p| p <= 0.0),
                "trail_percent or trail_price is required",
            ),
            (
                qty.is_some() && notional.is_some(),
                "only one of qty or notional is accepted",
            ),
            (
                qty.is_none() && notional.is_none(),
                "qty or notional is required",
            ),
            (qty.is_some_and(|q| q <= 0.0), "qty must be > 0"),
            (notional.is_some_and(|n| n <= 0.0), "notional must be > 0"),
            (
                fractional && tif != "day",
                "fractional orders must be DAY orders",
            ),
            (fractional && nonfrac, "requested asset is not fractionable"),
            (
                kind.contains("limit") && limit.is_none(),
                "limit_price is required",
            ),
            (
                kind.starts_with("stop") && stop.is_none(),
                "stop_price is required",
            ),
        ];
        if let Some((_, m)) = checks.iter().find(|c| c.0) {
            return Err(bad(m));
        }
        let target = tp.filter(|_| entry_class);
        for (field, p) in [
            ("limit_price", limit),
            ("stop_price", stop.or(sl)),
            ("take_profit.limit_price", target),
        ] {
            let Some(p) = p else { continue };
            let raw = b
                .get(field)
                .and_then(Value::as_str)
                .map_or_else(|| dec(p), str::to_string);
            let decimals = raw
                .split_once('.')
                .map_or(0, |(_, f)| f.trim_end_matches('0').len());
            if p <= 0.0 || decimals > if p >= 1.0 { 2 } else { 4 } {
                let m = format!("invalid {field} {raw}. sub-penny increment does not fulfill minimum pricing criteria");
                return Err(err(422, 42210000, &m));
            }
        }
        let ext = b.get("extended_hours").and_then(Value::as_bool) == Some(true);
        if ext && !(kind == "limit" && tif == "day") {
            return Err(err(
                422,
                42210000,
                "extended hours order must be DAY limit orders",
            ));
        }
        let cid = match b.get("client_order_id").and_then(Value::as_str) {
            Some(c) if c.chars().count() > 128 => {
                return Err(bad("client_order_id must be no more than 128 characters"))
            }
            Some(c) if self.client_ids.contains(c) => {
                return Err(bad("client_order_id must be unique"))
            }
            Some(c) if !c.is_empty() => c.to_string(),
            _ => self.uuid(),
        };
        let class_set = oco || entry_class;
        let new_one = (side.as_str(), kind.as_str(), limit, class_set);
        if self
            .orders
            .iter()
            .any(|o| o.is_open() && !o.held_leg() && o.symbol == symbol && wash_trade(o, new_one))
        {
            return Err(err(
                403,
                40310000,
                "potential wash trade detected. use complex orders",
            ));
        }
        let held = self.positions.get(&symbol).map_or(0.0, |p| p.0);
        // 422 code 42210000 "bracket orders must be entry orders": seen for a bracket buy on a
        // symbol already held (sentient-trader's BUG-2026-06-25-01, paper) and a bracket sell
        // (alpaca-trade-api-js#248). The fake refuses a bracket whenever a position exists.
        if class == "bracket" && held != 0.0 {
            return Err(err(422, 42210000, "bracket orders must be entry orders"));
        }
        if entry_class {
            self.check_base_price(&symbol, &side, kind == "limit", limit, tp, sl)?;
        }
        if oco
            && (if side == "sell" {
                held <= 0.0
            } else {
                held >= 0.0
            })
        {
            return Err(bad("oco orders must be exit orders: no position to close"));
        }
        let px = limit.or(stop).or(self.price(&symbol));
        let shares = qty
            .or(px.map(|p| notional.unwrap_or(0.0) / p))
            .unwrap_or(0.0);
        if side == "sell" && (held > 0.0 || !self.shorting) {
            let avail = self.qty_available(&symbol);
            if shares > avail + 1e-9 {
                let (r, a) = (dec(shares), dec(avail));
                let m = format!(
                    "insufficient qty available for order (requested: {r}, available: {a})"
                );
                return Err(err(403, 40310000, &m));
            }
        } else if side == "sell" && fractional {
            return Err(err(403, 40310000, "fractional orders cannot be sold short"));
        }
        if side == "buy" || held <= 0.0 {
            let open_buys = self
                .orders
                .iter()
                .filter(|o| o.is_open() && o.side == "buy" && o.parent.is_none());
            let order_px = |o: &Order| o.limit.or(self.price(&o.symbol)).unwrap_or(0.0);
            let committed: f64 = open_buys
                .map(|o| o.remaining(order_px(o)) * order_px(o))
                .sum();
            let avail = self.bp - committed;
            if let Some(cost) = notional
                .or(px.map(|p| shares * p))
                .filter(|c| *c > avail + 1e-9)
            {
                return Err(Reply::json(
                    403,
                    json!({"buying_power": dec(avail), "code": 40310000,
                    "cost_basis": dec(cost), "message": "insufficient buying power"}),
                ));
            }
        }
        let intent = match (side.as_str(), held) {
            ("buy", h) if h < 0.0 => "buy_to_close",
            ("buy", _) => "buy_to_open",
            (_, h) if h > 0.0 => "sell_to_close",
            _ => "sell_to_open",
        };
        let status = if self.is_open { "new" } else { "accepted" };
        let t = self.stamp();
        let id = self.uuid();
        let hwm = trail_pct.and(self.price(&symbol));
        Ok(Order {
            id,
            cid,
            symbol,
            side,
            kind,
            tif,
            intent,
            qty,
            notional,
            limit,
            stop,
            class: if class_set { class } else { String::new() },
            hwm,
            trail_pct,
            ext,
            status: status.into(),
            created: t,
            updated: t,
            ..Order::default()
        })
    }

    /// A bracket's or OTO's legs must lie on the profitable and the losing side of the
    /// entry's expected fill, its `base_price`: the parent's limit price, or for a market
    /// parent the current ask (buy) or bid (sell); the fake has no quotes and uses the latest
    /// trade. Refused otherwise with "take_profit.limit_price must be <= base_price - 0.01"
    /// (a sell entry) and its mirror images (forum.alpaca.markets/t/13049, Alpaca staff's
    /// answer; status 422, code 42210000 assumed).
    fn check_base_price(
        &self,
        symbol: &str,
        side: &str,
        limit_parent: bool,
        limit: Option<f64>,
        tp: Option<f64>,
        sl: Option<f64>,
    ) -> Result<(), Reply> {
        let base = if limit_parent {
            limit
        } else {
            self.price(symbol)
        };
        let Some(base) = base else { return Ok(()) };
        let cent = 0.01 - 1e-9;
        let buy = side == "buy";
        if tp.is_some_and(|tp| {
            if buy {
                tp < base + cent
            } else {
                tp > base - cent
            }
        }) {
            let m = if buy {
                ">= base_price + 0.01"
            } else {
                "<= base_price - 0.01"
            };
            return Err(err(
                422,
                42210000,
                &format!("take_profit.limit_price must be {m}"),
            ));
        }
        if sl.is_some_and(|sl| {
            if buy {
                sl > base - cent
            } else {
                sl < base + cent
            }
        }) {
            let m = if buy {
                "<= base_price - 0.01"
            } else {
                ">= base_price + 0.01"
            };
            return Err(err(
                422,
                42210000,
                &format!("stop_loss.stop_price must be {m}"),
            ));
        }
        Ok(())
    }

    fn list_orders(&self, q: &Query) -> Res {
        let bad = |m: String| err(422, 40010001, &m);
        let status = qv(q, "status").unwrap_or("open");
        if !["open", "closed", "all"].contains(&status) {
            return Err(bad(format!("invalid status: {status}")));
        }
        let limit = int_param(q, "limit", 50).map_err(bad)?.clamp(1, 500);
        let after = time_param(q, "after", false).map_err(bad)?;
        let until = time_param(q, "until", false).map_err(bad)?;
        let symbols: Option<Vec<&str>> = qv(q, "symbols").map(|s| s.split(',').collect());
        let side = qv(q, "side");
        let mut out: Vec<&Order> = self.orders.iter().collect();
        // A held leg waits on its parent and is listed as closed, not open: "sell stop limit
        // order is seen as a closed order with 'Held' status" (alpaca-trade-api-python#322;
        // issue 14: `status=open` misses a bracket's stop leg). A top-level order that is held
        // is still working and listed as open (alpaca-api.md §2.12).
        let listed_open = |o: &Order| o.is_open() && !o.held_leg();
        out.retain(|o| status == "all" || listed_open(o) == (status == "open"));
        // With `nested=true` every leg is under its parent instead of on its own, so a bracket
        // whose entry has filled (the parent is closed) is missing from `status=open&nested=
        // true` with both its legs (alpaca-trade-api-js#87, #80: "once a bracket order is
        // filled ... they are no longer nested", and the nested open listing came back empty).
        let nested = qv(q, "nested") == Some("true");
        if nested {
            out.retain(|o| o.parent.is_none());
        }
        out.retain(|o| after.is_none_or(|a| o.created > a) && until.is_none_or(|u| o.created < u));
        out.retain(|o| {
            symbols
                .as_ref()
                .is_none_or(|s| s.contains(&o.symbol.as_str()))
        });
        out.retain(|o| side.is_none_or(|s| s == o.side));
        out.sort_by_key(|o| o.created);
        if qv(q, "direction") != Some("asc") {
            out.reverse();
        }
        let show = |o: &&Order| if nested { self.shown(o) } else { o.json() };
        let out = out.iter().take(limit).map(show);
        Ok(Reply::json(200, Value::Array(out.collect())))
    }

    fn fill(&mut self, idx: usize, qty: f64, price: f64) {
        let t = self.stamp();
        let act_id = format!("{}::{}", t.format("%Y%m%d%H%M%S%3f"), self.uuid());
        let held = (self.positions.get(&self.orders[idx].symbol)).map_or(0.0, |p| p.0);
        let o = &mut self.orders[idx];
        let remaining = o.remaining(price);
        let q = qty.min(remaining);
        if q <= 0.0 {
            return;
        }
        let done = remaining - q <= 1e-9;
        let cum = o.filled + q;
        o.avg = Some((o.filled * o.avg.unwrap_or(0.0) + q * price) / cum);
        (o.filled, o.updated) = (cum, t);
        o.status = if done { "filled" } else { "partially_filled" }.into();
        o.filled_at = o.filled_at.or(done.then_some(t));
        // A sell that opens or extends a short is reported as `sell_short` (alpaca-api.md
        // §2.11; alpacahq/user-docs PR #139). The fake refuses sells that cross zero.
        let side = if o.side == "sell" && held <= 1e-9 {
            "sell_short"
        } else {
            o.side.as_str()
        };
        let activity = json!({
            "id": act_id, "activity_type": "FILL", "transaction_time": ts(t),
            "type": if done { "fill" } else { "partial_fill" }, "price": dec(price), "qty": dec(q),
            "side": side, "symbol": o.symbol, "leaves_qty": dec(remaining - q),
            "cum_qty": dec(cum), "order_id": o.id, "order_status": o.status
        });
        let (symbol, delta) = (o.symbol.clone(), if o.side == "buy" { q } else { -q });
        let (class, parent, me) = (o.class.clone(), o.parent.clone(), o.id.clone());
        let stop_filled = o.kind.starts_with("stop");
        match (class.as_str(), parent) {
            // One side of an OCO filled: the other is canceled.
            ("oco", family) => {
                let family = family.unwrap_or_else(|| me.clone());
                for s in self.orders.iter_mut() {
                    let sibling = s.id == family || s.parent.as_deref() == Some(family.as_str());
                    if sibling && s.id != me && s.is_open() {
                        (s.status, s.canceled_at, s.updated) = ("canceled".into(), Some(t), t);
                    }
                }
            }
            // A bracket leg filled: its sibling ends. When the stop fills the target becomes
            // `replaced`, when the target fills the stop becomes `canceled` (alpaca-py#198,
            // statuses seen on paper).
            ("bracket", Some(family)) => {
                let end = if stop_filled { "replaced" } else { "canceled" };
                for s in self.orders.iter_mut() {
                    let sibling = s.parent.as_deref() == Some(family.as_str()) && s.id != me;
                    if sibling && s.is_open() {
                        (s.status, s.updated) = (end.into(), t);
                        s.canceled_at = s.canceled_at.or((end == "canceled").then_some(t));
                    }
                }
            }
            // The entry filled completely: its legs wake. A bracket's target becomes `new`
            // while its stop stays `held` (alpaca-api.md §2.12 [live]; alpaca-py#198: "the main
            // ... order has a Filled status, the stop loss has a Held status, and the take
            // profit has a New status"); an OTO's only leg becomes `new` (assumed).
            ("bracket" | "oto", None) if done => {
                for s in self.orders.iter_mut() {
                    let leg = s.parent.as_deref() == Some(me.as_str()) && s.status == "held";
                    if leg && !(class == "bracket" && s.kind.starts_with("stop")) {
                        (s.status, s.updated) = ("new".into(), t);
                    }
                }
            }
            _ => {}
        }
        self.fills.push((act_id, activity));
        let (old, mut avg) = self.positions.remove(&symbol).unwrap_or((0.0, 0.0));
        let new = old + delta;
        if old == 0.0 || old.signum() == delta.signum() {
            avg = (old.abs() * avg + q * price) / new.abs();
        } else if new.signum() != old.signum() {
            avg = price;
        }
        if new.abs() > 1e-9 {
            self.positions.insert(symbol, (new, avg));
        }
        self.cash -= delta * price;
        self.bp -= (new.abs() - old.abs()) * price;
    }

    /// FILL and non-trade activities of the requested types (all when none is named). A
    /// non-trade activity has a `date`, not a `transaction_time` (alpaca-py `NonTradeActivity`):
    /// it counts as New York midnight of that day for `after`/`until`/`date`.
    fn activities(&self, types: Option<&str>, q: &Query) -> Res {
        let wanted = |kind: &str| {
            types.is_none_or(|t| t.split(',').any(|x| x.trim().eq_ignore_ascii_case(kind)))
        };
        let bad = |m: String| err(422, 40010001, &m);
        let page_size = int_param(q, "page_size", 100).map_err(bad)?.clamp(1, 100);
        let after = time_param(q, "after", false).map_err(bad)?;
        let until = time_param(q, "until", false).map_err(bad)?;
        let (date, token) = (qv(q, "date"), qv(q, "page_token"));
        let desc = qv(q, "direction") != Some("asc");
        let time = |v: &Value| {
            let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
            match v["transaction_time"].as_str() {
                Some(s) => parse_time(s, false),
                None => v["date"].as_str().and_then(day).map(|d| ny_at(d, 0, 0)),
            }
        };
        let fills = self.fills.iter().filter(|_| wanted("FILL"));
        let other = self.non_trade.iter();
        let other = other.filter(|(_, v)| v["activity_type"].as_str().is_some_and(wanted));
        let mut items: Vec<&(String, Value)> = fills.chain(other).collect();
        items.retain(|(_, v)| time(v).is_some_and(|t| after.is_none_or(|a| t > a)));
        items.retain(|(_, v)| time(v).is_some_and(|t| until.is_none_or(|u| t < u)));
        items.retain(|(_, v)| {
            date.is_none_or(|d| time(v).map(|t| day_str(ny_date(t))) == Some(d.into()))
        });
        items.retain(|(id, _)| token.is_none_or(|k| (id.as_str() < k) == desc && id != k));
        items.sort_by(|a, b| a.0.cmp(&b.0));
        if desc {
            items.reverse();
        }
        let page = items.iter().take(page_size).map(|f| f.1.clone());
        Ok(Reply::json(200, Value::Array(page.collect())))
    }

    fn bars(&mut self, q: &Query, single: Option<&str>) -> Res {
        let bad = |m: String| msg(400, &m);
        let tf = qv(q, "timeframe").and_then(parse_tf);
        let tf = tf.ok_or_else(|| msg(400, "invalid timeframe"))?;
        let feed = qv(q, "feed");
        let restricted = self.free_plan && matches!(feed, None | Some("sip"));
        let recent = self.now - TimeDelta::minutes(15);
        let today = ny_at(ny_date(self.now), 0, 0);
        let start = time_param(q, "start", false).map_err(bad)?.unwrap_or(today);
        let default_end = if restricted { recent } else { self.now };
        let end = time_param(q, "end", true)
            .map_err(bad)?
            .unwrap_or(default_end);
        let limit = int_param(q, "limit", 1000).map_err(bad)?;
        let desc = qv(q, "sort") == Some("desc");
        let adjustments = ["raw", "split", "dividend", "spin-off", "all"];
        let adj_ok = |a: &str| a.split(',').all(|x| adjustments.contains(&x));
        let checks = [
            (
                !matches!(feed, None | Some("iex" | "sip" | "otc" | "boats")),
                "invalid feed",
            ),
            (end < start, "end should not be before start"),
            (
                !(1..=10000).contains(&limit),
                "invalid limit: must be between 1 and 10000",
            ),
            (
                !matches!(qv(q, "sort"), None | Some("asc" | "desc")),
                "invalid sort",
            ),
            (
                !qv(q, "adjustment").is_none_or(adj_ok),
                "invalid adjustment",
            ),
        ];
        if let Some((_, m)) = checks.iter().find(|c| c.0) {
            return Err(msg(400, m));
        }
        if restricted && end > recent {
            return Err(msg(403, SIP_MSG));
        }
        let mut symbols = symbols_param(q, single)?;
        symbols.sort();
        symbols.dedup();
        // Every finished bar in the window, in response order: symbol-major, then time.
        let span = TimeDelta::minutes(tf);
        let mut items: Vec<(&str, &FakeBar)> = Vec::new();
        for s in &symbols {
            let Some(series) = self.bars.get(&(s.clone(), tf)) else {
                continue;
            };
            let done = series
                .range(start..=end)
                .map(|e| e.1)
                .filter(|b| b.t + span <= self.now);
            let mut v: Vec<&FakeBar> = done.collect();
            if desc {
                v.reverse();
            }
            items.extend(v.into_iter().map(|b| (s.as_str(), b)));
        }
        let from = match qv(q, "page_token") {
            None => 0,
            Some(tok) => {
                let (ts, tt) =
                    parse_bar_token(tok).ok_or_else(|| msg(400, "invalid page_token"))?;
                let before_t = |t: DateTime<Utc>| if desc { t > tt } else { t < tt };
                let before =
                    |(s, b): &&(&str, &FakeBar)| *s < ts.as_str() || (*s == ts && before_t(b.t));
                items.iter().take_while(before).count()
            }
        };
        self.pages += 1;
        let cap = Some(self.max_page).filter(|&m| m > 0).unwrap_or(limit);
        let mut n = cap.min(limit).min(items.len() - from);
        if self.pages.checked_rem(self.short_every) == Some(0) && n >= 2 {
            n /= 2;
        }
        let next = items.get(from + n).map(|(s, b)| bar_token(s, b.t));
        let page = &items[from..from + n];
        if let Some(sym) = single {
            let bars: Vec<Value> = page.iter().map(|(_, b)| bar_json(b)).collect();
            let bars = if bars.is_empty() {
                Value::Null
            } else {
                Value::Array(bars)
            };
            return Ok(Reply::json(
                200,
                json!({"bars": bars, "symbol": sym, "next_page_token": next}),
            ));
        }
        let mut map = Map::new();
        for (s, b) in page {
            if let Value::Array(v) = map.entry(s.to_string()).or_insert_with(|| json!([])) {
                v.push(bar_json(b));
            }
        }
        Ok(Reply::json(
            200,
            json!({"bars": map, "next_page_token": next}),
        ))
    }

    fn latest_trades(&self, q: &Query, single: Option<&str>) -> Res {
        let feed = qv(q, "feed");
        let feeds = ["iex", "sip", "delayed_sip", "otc", "boats", "overnight"];
        if !feed.is_none_or(|f| feeds.contains(&f)) {
            return Err(msg(400, "invalid feed"));
        }
        if self.free_plan && feed == Some("sip") {
            return Err(msg(403, SIP_MSG));
        }
        let symbols = symbols_param(q, single)?;
        let trade = |s: &str| {
            let &(p, t, i) = self.trades.get(s)?;
            let t = t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            Some(json!({"t": t, "x": "V", "p": p, "s": 100, "c": ["@"], "i": i, "z": "C"}))
        };
        if let Some(s) = single {
            return Ok(Reply::json(200, json!({"symbol": s, "trade": trade(s)})));
        }
        let map = symbols.iter().filter_map(|s| Some((s.clone(), trade(s)?)));
        Ok(Reply::json(
            200,
            json!({ "trades": map.collect::<Map<String, Value>>() }),
        ))
    }
}

//! A local, in-process fake of the Alpaca REST APIs, for tests and benchmarks only.
//!
//! Fakes (shapes per `docs/alpaca-api.md`, section 6): Trading API v2 (`/v2/account`, `/v2/clock`,
//! `/v2/calendar`, `/v2/positions[/{sym}]`, `/v2/orders` POST/GET/DELETE, `/v2/orders/{id}`,
//! `/v2/orders:by_client_order_id`, `/v2/account/activities[/FILL]`) and Market Data v2 stocks
//! (`/v2/stocks/bars`, `/v2/stocks/{sym}/bars`, `/v2/stocks/trades/latest`,
//! `/v2/stocks/{sym}/trades/latest`) on ONE server. Trading numbers are decimal strings, data numbers
//! are JSON numbers. Auth, error bodies, rate-limit headers, pagination and fault injection follow
//! the doc. Hand-rolled HTTP/1.1 (keep-alive, Content-Length/chunked bodies), one thread per
//! connection, bound to 127.0.0.1 only; it never touches the network.
//!
//! Not faked: quotes, snapshots, latest bars, assets, bracket/OCO legs, replace (PATCH), streaming,
//! closing positions via DELETE, bar aggregation (bars are served per timeframe exactly as added).
//! Fills never happen by themselves: drive the lifecycle with `fill_open_orders`, `partially_fill`,
//! `expire_open_orders`, `set_order_status`. Fills move cash/buying power and positions; equity
//! stays what `set_account` set.
#![allow(dead_code)]

use chrono::{
    DateTime, Datelike, Duration as TimeDelta, FixedOffset, NaiveDate, SecondsFormat, Utc, Weekday,
};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
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
const FINAL: &[&str] = &["filled", "canceled", "expired", "rejected", "replaced"];
/// NYSE full-day holidays and early closes (13:00 ET) known to the fake; other weekdays trade.
const HOLIDAYS: &str =
    "2025-01-01 2025-01-09 2025-01-20 2025-02-17 2025-04-18 2025-05-26 2025-06-19 \
    2025-07-04 2025-09-01 2025-11-27 2025-12-25 2026-01-01 2026-01-19 2026-02-16 \
    2026-04-03 2026-05-25 2026-06-19 2026-07-03 2026-09-07 2026-11-26 2026-12-25 \
    2027-01-01 2027-01-18 2027-02-15 2027-03-26 2027-05-31 2027-06-18 2027-07-05 \
    2027-09-06 2027-11-25 2027-12-24";
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

#[derive(Clone, Debug)]
pub enum Fault {
    /// Respond with this status and raw (JSON) body text.
    Status(u16, String),
    /// Respond with an nginx-style HTML error page (`text/html`).
    Html(u16),
    /// Sleep, then answer normally.
    Delay(Duration),
    /// Process normally, then answer 200 with the first half of the body.
    MalformedJson,
    /// 429 `{"message":"too many requests."}`, with or without `X-RateLimit-*` headers.
    RateLimited { headers: bool },
    /// Process normally (e.g. create the order), then close the socket without answering.
    CommitThenDrop,
    /// Process normally, then answer after this delay.
    CommitThenDelay(Duration),
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Raw path as sent (not percent-decoded).
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
    conns: Mutex<HashMap<u64, TcpStream>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeAlpaca {
    /// Binds 127.0.0.1:0 and serves until dropped. Default clock: 2026-03-04T15:00:00Z, open.
    pub fn start() -> FakeAlpaca {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fake alpaca: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake alpaca: local_addr");
        let inner = Arc::new(Inner {
            st: Mutex::new(State::new(u64::from(addr.port()))),
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
        });
        let srv = Arc::clone(&inner);
        let accept = thread::Builder::new()
            .name("fake-alpaca".into())
            .spawn(move || {
                let mut next = 0u64;
                for conn in listener.incoming() {
                    if srv.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else {
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    next += 1;
                    let id = next;
                    if let Ok(c) = conn.try_clone() {
                        lock(&srv.conns).insert(id, c);
                    }
                    let s2 = Arc::clone(&srv);
                    let spawned = thread::Builder::new()
                        .name("fake-alpaca-conn".into())
                        .spawn(move || serve(s2, conn, id));
                    if spawned.is_err() {
                        lock(&srv.conns).remove(&id);
                    }
                }
            })
            .expect("fake alpaca: spawn accept thread");
        FakeAlpaca {
            inner,
            addr,
            accept: Some(accept),
        }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.st)
    }

    /// `http://127.0.0.1:PORT`, serving both trading and data paths.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the fake clock. Opening the market moves `accepted` orders to `new`.
    pub fn set_clock(&self, now: DateTime<Utc>, is_open: bool) {
        let mut st = self.st();
        st.now = now;
        st.is_open = is_open;
        st.last_stamp = DateTime::<Utc>::MIN_UTC;
        if is_open {
            for o in st.orders.iter_mut().filter(|o| o.status == "accepted") {
                o.status = "new".into();
                o.updated = now;
            }
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.st().now
    }

    /// Adds bars (kept sorted by `t`; same `t` replaces). Timeframe like `1Min`, `5T`, `1Hour`, `1Day`.
    pub fn add_bars(&self, symbol: &str, timeframe: &str, bars: &[FakeBar]) {
        let tf =
            parse_tf(timeframe).unwrap_or_else(|| panic!("fake alpaca: bad timeframe {timeframe}"));
        let mut st = self.st();
        let series = st.bars.entry((symbol.to_string(), tf)).or_default();
        for b in bars {
            series.insert(b.t, b.clone());
        }
    }

    pub fn set_latest_trade(&self, symbol: &str, price: f64, t: DateTime<Utc>) {
        let mut st = self.st();
        st.seq += 1;
        let id = 52_983_525_028_000 + st.seq;
        st.trades.insert(symbol.to_string(), (price, t, id));
    }

    /// Sets a position (negative = short); qty 0 removes it.
    pub fn set_position(&self, symbol: &str, qty: f64, avg_entry_price: f64) {
        let mut st = self.st();
        if qty == 0.0 {
            st.positions.remove(symbol);
        } else {
            st.positions
                .insert(symbol.to_string(), (qty, avg_entry_price));
        }
    }

    /// Decimal strings (unparseable -> 0). Defaults: 100000 / 200000 / 100000.
    pub fn set_account(&self, cash: &str, buying_power: &str, equity: &str) {
        let mut st = self.st();
        let p = |s: &str| s.trim().parse::<f64>().unwrap_or(0.0);
        (st.cash, st.bp, st.equity) = (p(cash), p(buying_power), p(equity));
    }

    /// Account `status` (default `ACTIVE`).
    pub fn set_account_status(&self, status: &str) {
        self.st().account_status = status.to_string();
    }

    /// Whether selling more than held (from flat/short) opens a short. Default on.
    pub fn set_shorting(&self, on: bool) {
        self.st().shorting = on;
    }

    /// Fractional/notional orders on a non-fractionable symbol -> 422. Default: all fractionable.
    pub fn set_fractionable(&self, symbol: &str, on: bool) {
        let mut st = self.st();
        if on {
            st.non_fractionable.remove(symbol);
        } else {
            st.non_fractionable.insert(symbol.to_string());
        }
    }

    /// Server-side cap on bars per page (0 = none; `limit` is always honored up to 10000).
    pub fn set_max_page(&self, n: usize) {
        self.st().max_page = n;
    }

    /// Every k-th bars page is cut short while keeping a non-null token (0 = off).
    pub fn set_short_page_every(&self, k: usize) {
        self.st().short_every = k;
    }

    /// Free (Basic) plan: SIP (or missing feed) within the last 15 fake minutes -> 403.
    pub fn set_free_plan(&self, on: bool) {
        self.st().free_plan = on;
    }

    /// Enforce a per-minute request budget (real wall clock); 0 = off (headers still say 200).
    pub fn set_rate_limit(&self, per_minute: usize) {
        self.st().rl_limit = per_minute;
    }

    /// Injects `fault` into the next `times` requests whose method matches (`*` = any) and whose
    /// decoded path starts with `path_prefix`.
    pub fn fail(&self, method: &str, path_prefix: &str, fault: Fault, times: usize) {
        if times > 0 {
            self.st()
                .faults
                .push((method.to_string(), path_prefix.to_string(), fault, times));
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
        self.st().fills.iter().map(|f| f.2.clone()).collect()
    }

    /// Every open order -> filled at `price` (remaining qty), with positions, cash and activities.
    pub fn fill_open_orders(&self, price: f64) {
        let mut st = self.st();
        for i in 0..st.orders.len() {
            if st.orders[i].is_open() {
                st.fill(i, f64::INFINITY, price);
            }
        }
    }

    /// Fills `qty` more of an open order (capped at what remains).
    pub fn partially_fill(&self, order_id: &str, qty: f64, price: f64) {
        let mut st = self.st();
        if let Some(i) = st
            .orders
            .iter()
            .position(|o| o.id == order_id && o.is_open())
        {
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

    /// Forces a status (`rejected`, `canceled`, `expired`, ...) and its timestamp.
    pub fn set_order_status(&self, order_id: &str, status: &str) {
        let mut st = self.st();
        let t = st.stamp();
        if let Some(o) = st.orders.iter_mut().find(|o| o.id == order_id) {
            o.status = status.to_string();
            o.updated = t;
            match status {
                "canceled" => o.canceled_at = Some(t),
                "expired" => o.expired_at = Some(t),
                "rejected" => o.failed_at = Some(t),
                "filled" => o.filled_at = Some(t),
                _ => {}
            }
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
    method: String,
    raw_path: String,
    path: String,
    raw_query: String,
    query: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    keep_alive: bool,
}

struct Reply {
    status: u16,
    ctype: &'static str,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn json(status: u16, v: Value) -> Reply {
        Reply {
            status,
            ctype: JSON_CT,
            body: v.to_string().into_bytes(),
            headers: vec![],
        }
    }
}

fn err(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(status, json!({"code": code, "message": message}))
}

fn msg(status: u16, message: &str) -> Reply {
    Reply::json(status, json!({ "message": message }))
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
        Ok(_) => Ok(Some(
            String::from_utf8_lossy(&buf)
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        )),
    }
}

fn read_request(
    rd: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
) -> Result<Option<Req>, &'static str> {
    let line = loop {
        match read_line(rd)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err("bad request line");
    };
    let version = parts.next().unwrap_or("HTTP/1.0");
    let mut headers = BTreeMap::new();
    loop {
        let Some(l) = read_line(rd)? else {
            return Ok(None);
        };
        if l.is_empty() {
            break;
        }
        let Some((k, v)) = l.split_once(':') else {
            return Err("bad header");
        };
        if headers.len() > 200 {
            return Err("too many headers");
        }
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let conn = headers
        .get("connection")
        .map(|c| c.to_ascii_lowercase())
        .unwrap_or_default();
    let keep_alive = if version == "HTTP/1.0" {
        conn.contains("keep-alive")
    } else {
        !conn.contains("close")
    };
    if headers
        .get("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        let _ = w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            let size_line = read_line(rd)?.ok_or("eof in chunked body")?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| "bad chunk size")?;
            if size == 0 {
                while read_line(rd)?.is_some_and(|l| !l.is_empty()) {}
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err("body too large");
            }
            let start = body.len();
            body.resize(start + size, 0);
            rd.read_exact(&mut body[start..])
                .map_err(|_| "short chunk")?;
            read_line(rd)?;
        }
    } else if let Some(cl) = headers.get("content-length") {
        let n: usize = cl.parse().map_err(|_| "bad content-length")?;
        if n > MAX_BODY {
            return Err("body too large");
        }
        body.resize(n, 0);
        rd.read_exact(&mut body).map_err(|_| "short body")?;
    }
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Some(Req {
        method: method.to_ascii_uppercase(),
        path: pct_decode(raw_path, false),
        raw_path: raw_path.to_string(),
        raw_query: raw_query.to_string(),
        query: raw_query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (pct_decode(k, true), pct_decode(v, true))
            })
            .collect(),
        headers,
        body,
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

impl Inner {
    fn dispatch(&self, req: &Req) -> Option<Reply> {
        let fault = {
            let mut st = lock(&self.st);
            st.requests.push(Recorded {
                method: req.method.clone(),
                path: req.raw_path.clone(),
                raw_query: req.raw_query.clone(),
                query: req.query.clone(),
                headers: req.headers.clone(),
                body: String::from_utf8_lossy(&req.body).into_owned(),
            });
            st.take_fault(&req.method, &req.path)
        };
        let canned = |status: u16, ctype: &'static str, body: String| {
            let headers = lock(&self.st).rate().1;
            Reply {
                status,
                ctype,
                body: body.into_bytes(),
                headers,
            }
        };
        match fault {
            None => Some(self.handle(req)),
            Some(Fault::Status(code, body)) => Some(canned(code, JSON_CT, body)),
            Some(Fault::Html(code)) => {
                let title = format!("{code} {}", reason(code));
                let page = format!(
                    "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
                );
                Some(canned(code, "text/html", page))
            }
            Some(Fault::RateLimited { headers }) => {
                let mut r = msg(429, "too many requests.");
                if headers {
                    r.headers = rl_headers(200, 0, epoch_secs() + 2);
                }
                Some(r)
            }
            Some(Fault::Delay(d)) => {
                thread::sleep(d);
                Some(self.handle(req))
            }
            Some(Fault::MalformedJson) => {
                let mut r = self.handle(req);
                (r.status, r.ctype) = (200, JSON_CT);
                r.body.truncate((r.body.len() / 2).max(1));
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

fn nth_sunday(y: i32, m: u32, n: u32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(y, m, 1).unwrap_or_default();
    first
        + TimeDelta::days(i64::from(
            (7 - first.weekday().num_days_from_sunday()) % 7 + 7 * (n - 1),
        ))
}

/// New York offset by the fixed US rule (EDT from 2nd Sunday of March to 1st Sunday of November).
fn ny(t: DateTime<Utc>) -> FixedOffset {
    let y = t.year();
    let start = nth_sunday(y, 3, 2)
        .and_hms_opt(7, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let end = nth_sunday(y, 11, 1)
        .and_hms_opt(6, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let hours = if t >= start && t < end { 4 } else { 5 };
    FixedOffset::west_opt(hours * 3600).expect("valid offset")
}

fn ny_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&ny(t)).date_naive()
}

/// UTC instant of New York wall-clock time `h:m` on `d`.
fn ny_at(d: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    let local = d.and_hms_opt(h, m, 0).unwrap_or_default().and_utc();
    let est = local + TimeDelta::hours(5);
    if ny(est).local_minus_utc() == -4 * 3600 {
        local + TimeDelta::hours(4)
    } else {
        est
    }
}

fn is_trading_day(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
        && !HOLIDAYS.contains(&d.format("%Y-%m-%d").to_string())
}

fn is_early_close(d: NaiveDate) -> bool {
    EARLY_CLOSES.contains(&d.format("%Y-%m-%d").to_string())
}

fn next_trading_day(d: NaiveDate) -> NaiveDate {
    let mut n = d + TimeDelta::days(1);
    while !is_trading_day(n) {
        n += TimeDelta::days(1);
    }
    n
}

fn session(d: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        ny_at(d, 9, 30),
        if is_early_close(d) {
            ny_at(d, 13, 0)
        } else {
            ny_at(d, 16, 0)
        },
    )
}

/// Parses RFC 3339 (`Z` or offset) or `YYYY-MM-DD` (midnight UTC; `end_of_day` -> last ns of it).
fn parse_time(s: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let t = d.and_hms_opt(0, 0, 0)?.and_utc();
    Some(if end_of_day {
        t + TimeDelta::days(1) - TimeDelta::nanoseconds(1)
    } else {
        t
    })
}

/// Decimal string: up to 9 decimals, no trailing zeros, no exponent.
fn dec(x: f64) -> String {
    let s = format!("{x:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
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

fn valid_symbol(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 21
        && s.bytes()
            .all(|c| c.is_ascii_uppercase() || c == b'.' || c == b'/')
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn uuid_from(a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn asset_id(symbol: &str) -> String {
    let h = symbol.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, c| {
        (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3)
    });
    uuid_from(mix(h), mix(h ^ 1))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Bytes in front of every page token so that tokens contain `+` and `/` (clients must %-encode).
const TOKEN_MAGIC: [u8; 3] = [0xfb, 0xff, 0xbf];

fn b64(data: &[u8]) -> String {
    let mut out = String::new();
    for ch in data.chunks(3) {
        let n = ch
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, &b)| a | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= ch.len() {
                char::from(B64[(n >> (18 - 6 * i) & 63) as usize])
            } else {
                '='
            });
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
    json!({"t": b.t.to_rfc3339_opts(SecondsFormat::AutoSi, true), "o": b.o, "h": b.h, "l": b.l,
           "c": b.c, "v": b.v, "n": b.n, "vw": b.vw})
}

// ---------------------------------------------------------------------------------------------
// Domain state

#[derive(Clone)]
struct Order {
    id: String,
    cid: String,
    symbol: String,
    side: String,
    kind: String,
    tif: String,
    intent: String,
    qty: Option<f64>,
    notional: Option<f64>,
    limit: Option<f64>,
    stop: Option<f64>,
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

    /// Remaining shares (for notional orders: at `px`).
    fn remaining(&self, px: f64) -> f64 {
        match (self.qty, self.notional) {
            (Some(q), _) => q - self.filled,
            (None, Some(n)) if px > 0.0 => {
                ((n - self.filled * self.avg.unwrap_or(0.0)) / px * 1e9).floor() / 1e9
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
            "order_class": "", "order_type": self.kind, "type": self.kind, "side": self.side,
            "position_intent": self.intent, "time_in_force": self.tif,
            "limit_price": self.limit.map(dec), "stop_price": self.stop.map(dec),
            "status": self.status, "extended_hours": self.ext, "legs": null,
            "trail_percent": null, "trail_price": null, "hwm": null,
            "subtag": null, "source": null, "expires_at": null
        })
    }
}

type Query = BTreeMap<String, String>;

fn qv<'a>(q: &'a Query, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str).filter(|s| !s.is_empty())
}

struct State {
    now: DateTime<Utc>,
    is_open: bool,
    last_stamp: DateTime<Utc>,
    bars: HashMap<(String, i64), BTreeMap<DateTime<Utc>, FakeBar>>,
    trades: HashMap<String, (f64, DateTime<Utc>, u64)>,
    positions: BTreeMap<String, (f64, f64)>,
    cash: f64,
    bp: f64,
    equity: f64,
    account_status: String,
    shorting: bool,
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
    fills: Vec<(String, DateTime<Utc>, Value)>,
    seq: u64,
    salt: u64,
}

impl State {
    fn new(salt: u64) -> State {
        let now = DateTime::parse_from_rfc3339("2026-03-04T15:00:00Z")
            .map_or(DateTime::UNIX_EPOCH, |t| t.to_utc());
        State {
            now,
            is_open: true,
            last_stamp: DateTime::<Utc>::MIN_UTC,
            bars: HashMap::new(),
            trades: HashMap::new(),
            positions: BTreeMap::new(),
            cash: 100_000.0,
            bp: 200_000.0,
            equity: 100_000.0,
            account_status: "ACTIVE".into(),
            shorting: true,
            non_fractionable: HashSet::new(),
            max_page: 0,
            short_every: 0,
            pages: 0,
            free_plan: false,
            rl_limit: 0,
            rl_start: 0,
            rl_count: 0,
            faults: Vec::new(),
            requests: Vec::new(),
            orders: Vec::new(),
            client_ids: HashSet::new(),
            fills: Vec::new(),
            seq: 0,
            salt,
        }
    }

    /// Strictly increasing timestamps at (or just after) the fake now.
    fn stamp(&mut self) -> DateTime<Utc> {
        let t = self.now.max(self.last_stamp + TimeDelta::microseconds(1));
        self.last_stamp = t;
        t
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
        let limit = if self.rl_limit > 0 {
            self.rl_limit
        } else {
            200
        };
        let over = self.rl_limit > 0 && self.rl_count > self.rl_limit;
        (
            over,
            rl_headers(
                limit,
                limit.saturating_sub(self.rl_count),
                self.rl_start + 60,
            ),
        )
    }

    fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let i = self.faults.iter().position(|(m, p, _, _)| {
            (m == "*" || m.eq_ignore_ascii_case(method)) && path.starts_with(p.as_str())
        })?;
        let f = &mut self.faults[i];
        f.3 -= 1;
        let fault = f.2.clone();
        if f.3 == 0 {
            self.faults.remove(i);
        }
        Some(fault)
    }

    fn price(&self, symbol: &str) -> Option<f64> {
        self.trades.get(symbol).map(|t| t.0)
    }

    fn open_remaining(&self, symbol: &str, side: &str) -> f64 {
        let px = self.price(symbol).unwrap_or(0.0);
        self.orders
            .iter()
            .filter(|o| o.is_open() && o.symbol == symbol && o.side == side)
            .map(|o| o.remaining(px))
            .sum()
    }

    fn qty_available(&self, symbol: &str) -> f64 {
        let q = self.positions.get(symbol).map_or(0.0, |p| p.0);
        if q >= 0.0 {
            (q - self.open_remaining(symbol, "sell")).max(0.0)
        } else {
            (q + self.open_remaining(symbol, "buy")).min(0.0)
        }
    }

    fn route(&mut self, req: &Req) -> Reply {
        let key = req.headers.get("apca-api-key-id").map(String::as_str);
        let secret = req.headers.get("apca-api-secret-key").map(String::as_str);
        let data = req.path.starts_with("/v2/stocks") || req.path.starts_with("/v1beta");
        match (key, secret) {
            (Some(KEY_ID), Some(SECRET)) => {}
            (Some(WRONG_ENV_KEY_ID), Some(SECRET)) if data => {}
            (Some(WRONG_ENV_KEY_ID), Some(SECRET)) => {
                return err(401, 40110000, "request is not authorized")
            }
            _ => return msg(403, "forbidden."),
        }
        let q = &req.query;
        let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        match (req.method.as_str(), segs.as_slice()) {
            ("GET", ["v2", "account"]) => Reply::json(200, self.account_json()),
            ("GET", ["v2", "clock"]) => self.clock(),
            ("GET", ["v2", "calendar"]) => self.calendar(q),
            ("GET", ["v2", "positions"]) => {
                let all: Vec<Value> = self
                    .positions
                    .iter()
                    .map(|(s, p)| self.position_json(s, p.0, p.1))
                    .collect();
                Reply::json(200, Value::Array(all))
            }
            ("GET", ["v2", "positions", sym]) => {
                match self
                    .positions
                    .iter()
                    .find(|(s, _)| s.as_str() == *sym || asset_id(s) == *sym)
                {
                    Some((s, p)) => Reply::json(200, self.position_json(s, p.0, p.1)),
                    None => err(404, 40410000, "position does not exist"),
                }
            }
            ("POST", ["v2", "orders"]) => self.post_order(&req.body),
            ("GET", ["v2", "orders"]) => self.list_orders(q),
            ("DELETE", ["v2", "orders"]) => {
                let t = self.stamp();
                let mut out = Vec::new();
                for o in self.orders.iter_mut().filter(|o| o.is_open()) {
                    (o.status, o.canceled_at, o.updated) = ("canceled".into(), Some(t), t);
                    out.push(json!({"id": o.id, "status": 200, "body": o.json()}));
                }
                Reply::json(207, Value::Array(out))
            }
            ("GET", ["v2", "orders:by_client_order_id"]) => {
                let cid = qv(q, "client_order_id").unwrap_or("");
                match self.orders.iter().find(|o| o.cid == cid) {
                    Some(o) => Reply::json(200, o.json()),
                    None => err(404, 40410000, "order not found"),
                }
            }
            ("GET", ["v2", "orders", id]) => match self.orders.iter().find(|o| o.id == *id) {
                Some(o) => Reply::json(200, o.json()),
                None => err(404, 40410000, "order not found"),
            },
            ("DELETE", ["v2", "orders", id]) => {
                let t = self.stamp();
                match self.orders.iter_mut().find(|o| o.id == *id) {
                    None => err(404, 40410000, "order not found"),
                    Some(o) if !o.is_open() => err(
                        422,
                        42210000,
                        &format!("order is already in \"{}\" state", o.status),
                    ),
                    Some(o) => {
                        (o.status, o.canceled_at, o.updated) = ("canceled".into(), Some(t), t);
                        Reply {
                            status: 204,
                            ctype: JSON_CT,
                            body: vec![],
                            headers: vec![],
                        }
                    }
                }
            }
            ("GET", ["v2", "account", "activities"]) => self.activities(qv(q, "activity_types"), q),
            ("GET", ["v2", "account", "activities", ty]) => self.activities(Some(ty), q),
            ("GET", ["v2", "stocks", "bars"]) => self.bars(q, None),
            ("GET", ["v2", "stocks", sym, "bars"]) => self.bars(q, Some(sym)),
            ("GET", ["v2", "stocks", "trades", "latest"]) => self.latest_trades(q, None),
            ("GET", ["v2", "stocks", sym, "trades", "latest"]) => self.latest_trades(q, Some(sym)),
            _ => err(404, 40410000, "endpoint not found"),
        }
    }

    fn account_json(&self) -> Value {
        let (mut long, mut short) = (0.0, 0.0);
        for (s, &(q, avg)) in &self.positions {
            let mv = q * self.price(s).unwrap_or(avg);
            if q > 0.0 {
                long += mv
            } else {
                short += mv
            }
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
            "balance_asof": asof.format("%Y-%m-%d").to_string(), "options_approved_level": 0,
            "options_trading_level": 0, "crypto_tier": 1, "admin_configurations": {},
            "user_configurations": null
        })
    }

    fn clock(&self) -> Reply {
        let (mut next_open, mut next_close, mut d) = (None, None, ny_date(self.now));
        for _ in 0..40 {
            if is_trading_day(d) {
                let (o, c) = session(d);
                next_open = next_open.or((o > self.now).then_some(o));
                next_close = next_close.or((c > self.now).then_some(c));
                if next_open.is_some() && next_close.is_some() {
                    break;
                }
            }
            d += TimeDelta::days(1);
        }
        let et = |t: DateTime<Utc>| {
            t.with_timezone(&ny(t))
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        };
        Reply::json(
            200,
            json!({
                "timestamp": self.now.with_timezone(&ny(self.now)).to_rfc3339_opts(SecondsFormat::AutoSi, false),
                "is_open": self.is_open, "next_open": next_open.map(et), "next_close": next_close.map(et)
            }),
        )
    }

    fn calendar(&self, q: &Query) -> Reply {
        let day = |k: &str| {
            qv(q, k).map(|s| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .or(parse_time(s, false).map(ny_date))
            })
        };
        let start = match day("start") {
            None => ny_date(self.now),
            Some(Some(d)) => d,
            Some(None) => return err(422, 40010001, "invalid start"),
        };
        let end = match day("end") {
            None => start + TimeDelta::days(30),
            Some(Some(d)) => d,
            Some(None) => return err(422, 40010001, "invalid end"),
        };
        let mut out = Vec::new();
        let mut d = start;
        while d <= end && out.len() < 5000 {
            if is_trading_day(d) {
                let early = is_early_close(d);
                out.push(json!({
                    "date": d.format("%Y-%m-%d").to_string(), "open": "09:30",
                    "close": if early { "13:00" } else { "16:00" }, "session_open": "0400",
                    "session_close": if early { "1700" } else { "2000" },
                    "settlement_date": next_trading_day(d).format("%Y-%m-%d").to_string()
                }));
            }
            d += TimeDelta::days(1);
        }
        Reply::json(200, Value::Array(out))
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

    fn post_order(&mut self, body: &[u8]) -> Reply {
        let Ok(Value::Object(b)) = serde_json::from_slice::<Value>(body) else {
            return err(400, 40010000, "request body format is invalid");
        };
        match self.new_order(&b) {
            Ok(o) => {
                let v = o.json();
                self.client_ids.insert(o.cid.clone());
                self.orders.push(o);
                Reply::json(200, v)
            }
            Err(r) => r,
        }
    }

    fn new_order(&mut self, b: &Map<String, Value>) -> Result<Order, Reply> {
        let text = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let bad = |m: &str| err(422, 40010001, m);
        let num = |k: &str| match b.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| bad(&format!("invalid {k}"))),
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| bad(&format!("invalid {k}"))),
            Some(_) => Err(bad(&format!("invalid {k}"))),
        };
        let (symbol, side, kind, tif) = (
            text("symbol"),
            text("side"),
            text("type"),
            text("time_in_force"),
        );
        if symbol.is_empty() {
            return Err(bad("symbol is required"));
        }
        if !matches!(side.as_str(), "buy" | "sell") {
            return Err(bad(&format!("invalid side: \"{side}\"")));
        }
        if !matches!(
            kind.as_str(),
            "market" | "limit" | "stop" | "stop_limit" | "trailing_stop"
        ) {
            return Err(bad(&format!("invalid order type: \"{kind}\"")));
        }
        if !matches!(tif.as_str(), "day" | "gtc" | "opg" | "cls" | "ioc" | "fok") {
            return Err(bad(&format!("invalid time_in_force: \"{tif}\"")));
        }
        if !matches!(text("order_class").as_str(), "" | "simple") {
            return Err(bad("order_class not supported by the fake"));
        }
        let (qty, notional, limit, stop) = (
            num("qty")?,
            num("notional")?,
            num("limit_price")?,
            num("stop_price")?,
        );
        match (qty, notional) {
            (Some(_), Some(_)) => return Err(bad("only one of qty or notional is accepted")),
            (None, None) => return Err(bad("qty or notional is required")),
            (Some(q), _) if q <= 0.0 => return Err(bad("qty must be > 0")),
            (_, Some(n)) if n <= 0.0 => return Err(bad("notional must be > 0")),
            _ => {}
        }
        let fractional = notional.is_some() || qty.is_some_and(|q| q.fract() != 0.0);
        if fractional && tif != "day" {
            return Err(bad("fractional orders must be DAY orders"));
        }
        if fractional && self.non_fractionable.contains(&symbol) {
            return Err(bad("requested asset is not fractionable"));
        }
        for (field, val, needed) in [
            (
                "limit_price",
                limit,
                matches!(kind.as_str(), "limit" | "stop_limit"),
            ),
            (
                "stop_price",
                stop,
                matches!(kind.as_str(), "stop" | "stop_limit"),
            ),
        ] {
            match val {
                None if needed => return Err(bad(&format!("{field} is required"))),
                Some(p) => {
                    let raw = b
                        .get(field)
                        .and_then(Value::as_str)
                        .map_or_else(|| dec(p), str::to_string);
                    let decimals = raw
                        .split_once('.')
                        .map_or(0, |(_, f)| f.trim_end_matches('0').len());
                    if p <= 0.0 || decimals > if p >= 1.0 { 2 } else { 4 } {
                        return Err(err(422, 42210000, &format!("invalid {field} {raw}. sub-penny increment does not fulfill minimum pricing criteria")));
                    }
                }
                None => {}
            }
        }
        let ext = b
            .get("extended_hours")
            .and_then(Value::as_bool)
            .unwrap_or(false);
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
        let other = if side == "buy" { "sell" } else { "buy" };
        if self
            .orders
            .iter()
            .any(|o| o.is_open() && o.symbol == symbol && o.side == other)
        {
            return Err(err(
                403,
                40310000,
                "potential wash trade detected. use complex orders",
            ));
        }
        let held = self.positions.get(&symbol).map_or(0.0, |p| p.0);
        let px = limit.or(stop).or(self.price(&symbol));
        let shares = qty
            .or_else(|| px.map(|p| notional.unwrap_or(0.0) / p))
            .unwrap_or(0.0);
        if side == "sell" {
            let avail = self.qty_available(&symbol);
            if held > 0.0 || !self.shorting {
                if shares > avail + 1e-9 {
                    return Err(err(
                        403,
                        40310000,
                        &format!(
                            "insufficient qty available for order (requested: {}, available: {})",
                            dec(shares),
                            dec(avail)
                        ),
                    ));
                }
            } else if fractional {
                return Err(err(403, 40310000, "fractional orders cannot be sold short"));
            }
        }
        if side == "buy" || held <= 0.0 {
            let cost = notional.or(px.map(|p| shares * p));
            let committed: f64 = self
                .orders
                .iter()
                .filter(|o| o.is_open() && o.side == "buy")
                .map(|o| {
                    o.remaining(self.price(&o.symbol).unwrap_or(0.0))
                        * o.limit.or(self.price(&o.symbol)).unwrap_or(0.0)
                })
                .sum();
            let avail = self.bp - committed;
            if let Some(cost) = cost.filter(|c| *c > avail + 1e-9) {
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
            ("sell", h) if h > 0.0 => "sell_to_close",
            _ => "sell_to_open",
        };
        let t = self.stamp();
        Ok(Order {
            id: self.uuid(),
            cid,
            symbol,
            side,
            kind,
            tif,
            intent: intent.into(),
            qty,
            notional,
            limit,
            stop,
            ext,
            status: if self.is_open { "new" } else { "accepted" }.into(),
            filled: 0.0,
            avg: None,
            created: t,
            updated: t,
            filled_at: None,
            canceled_at: None,
            expired_at: None,
            failed_at: None,
        })
    }

    fn list_orders(&self, q: &Query) -> Reply {
        let status = qv(q, "status").unwrap_or("open");
        if !matches!(status, "open" | "closed" | "all") {
            return err(422, 40010001, "invalid status");
        }
        let limit = match qv(q, "limit").map(str::parse::<usize>) {
            None => 50,
            Some(Ok(n)) => n.clamp(1, 500),
            Some(Err(_)) => return err(422, 40010001, "invalid limit"),
        };
        let (mut bounds, names) = ([None, None], ["after", "until"]);
        for (b, k) in bounds.iter_mut().zip(names) {
            if let Some(s) = qv(q, k) {
                match parse_time(s, false) {
                    Some(t) => *b = Some(t),
                    None => return err(422, 40010001, &format!("invalid {k}")),
                }
            }
        }
        let symbols: Option<Vec<&str>> =
            qv(q, "symbols").map(|s| s.split(',').map(str::trim).collect());
        let mut out: Vec<&Order> = self
            .orders
            .iter()
            .filter(|o| match status {
                "open" => o.is_open(),
                "closed" => !o.is_open(),
                _ => true,
            })
            .filter(|o| {
                bounds[0].is_none_or(|a| o.created > a) && bounds[1].is_none_or(|u| o.created < u)
            })
            .filter(|o| {
                symbols
                    .as_ref()
                    .is_none_or(|s| s.contains(&o.symbol.as_str()))
            })
            .filter(|o| qv(q, "side").is_none_or(|s| s == o.side))
            .collect();
        out.sort_by_key(|o| o.created);
        if qv(q, "direction") != Some("asc") {
            out.reverse();
        }
        Reply::json(
            200,
            Value::Array(out.iter().take(limit).map(|o| o.json()).collect()),
        )
    }

    fn fill(&mut self, idx: usize, qty: f64, price: f64) {
        let t = self.stamp();
        let act_uuid = self.uuid();
        let o = &mut self.orders[idx];
        let remaining = o.remaining(price);
        let q = qty.min(remaining);
        if q <= 0.0 {
            return;
        }
        let done = remaining - q <= 1e-9;
        let cum = o.filled + q;
        o.avg = Some((o.filled * o.avg.unwrap_or(0.0) + q * price) / cum);
        o.filled = cum;
        o.status = if done { "filled" } else { "partially_filled" }.into();
        o.updated = t;
        if done {
            o.filled_at = Some(t);
        }
        let id = format!("{}::{act_uuid}", t.format("%Y%m%d%H%M%S%3f"));
        let activity = json!({
            "id": id, "activity_type": "FILL", "transaction_time": ts(t),
            "type": if done { "fill" } else { "partial_fill" }, "price": dec(price), "qty": dec(q),
            "side": o.side, "symbol": o.symbol, "leaves_qty": dec(remaining - q),
            "cum_qty": dec(cum), "order_id": o.id, "order_status": o.status
        });
        let (symbol, delta) = (o.symbol.clone(), if o.side == "buy" { q } else { -q });
        self.fills.push((id, t, activity));
        let (old, mut avg) = self.positions.get(&symbol).copied().unwrap_or((0.0, 0.0));
        let new = old + delta;
        if old == 0.0 || old.signum() == delta.signum() {
            avg = (old.abs() * avg + q * price) / new.abs();
        } else if new.abs() > 1e-9 && new.signum() != old.signum() {
            avg = price;
        }
        if new.abs() <= 1e-9 {
            self.positions.remove(&symbol);
        } else {
            self.positions.insert(symbol, (new, avg));
        }
        self.cash -= delta * price;
        self.bp -= (new.abs() - old.abs()) * price;
    }

    fn activities(&self, types: Option<&str>, q: &Query) -> Reply {
        if !types.is_none_or(|t| t.split(',').any(|x| x.trim().eq_ignore_ascii_case("FILL"))) {
            return Reply::json(200, json!([]));
        }
        let page_size = match qv(q, "page_size").map(str::parse::<usize>) {
            None => 100,
            Some(Ok(n)) => n.clamp(1, 100),
            Some(Err(_)) => return err(422, 40010001, "invalid page_size"),
        };
        let mut parsed = [None, None];
        for (slot, k) in parsed.iter_mut().zip(["after", "until"]) {
            if let Some(s) = qv(q, k) {
                match parse_time(s, false) {
                    Some(t) => *slot = Some(t),
                    None => return err(422, 40010001, &format!("invalid {k}")),
                }
            }
        }
        let date = qv(q, "date");
        let desc = qv(q, "direction") != Some("asc");
        let token = qv(q, "page_token");
        let mut items: Vec<&(String, DateTime<Utc>, Value)> = self
            .fills
            .iter()
            .filter(|(_, t, _)| {
                parsed[0].is_none_or(|a| *t > a) && parsed[1].is_none_or(|u| *t < u)
            })
            .filter(|(_, t, _)| {
                date.is_none_or(|d| ny_date(*t).format("%Y-%m-%d").to_string() == d)
            })
            .filter(|(id, _, _)| {
                token.is_none_or(|k| {
                    if desc {
                        id.as_str() < k
                    } else {
                        id.as_str() > k
                    }
                })
            })
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        if desc {
            items.reverse();
        }
        Reply::json(
            200,
            Value::Array(items.iter().take(page_size).map(|f| f.2.clone()).collect()),
        )
    }

    fn bars(&mut self, q: &Query, single: Option<&str>) -> Reply {
        let Some(tf) = qv(q, "timeframe").and_then(parse_tf) else {
            return msg(400, "invalid timeframe");
        };
        let feed = qv(q, "feed");
        if !matches!(feed, None | Some("iex" | "sip" | "otc" | "boats")) {
            return msg(400, "invalid feed");
        }
        let restricted = self.free_plan && matches!(feed, None | Some("sip"));
        let recent = self.now - TimeDelta::minutes(15);
        let start = match qv(q, "start").map(|s| parse_time(s, false)) {
            None => ny_at(ny_date(self.now), 0, 0),
            Some(Some(t)) => t,
            Some(None) => return msg(400, "invalid start"),
        };
        let end = match qv(q, "end").map(|s| parse_time(s, true)) {
            None if restricted => recent,
            None => self.now,
            Some(Some(t)) => t,
            Some(None) => return msg(400, "invalid end"),
        };
        if end < start {
            return msg(400, "end should not be before start");
        }
        if restricted && end > recent {
            return msg(403, "subscription does not permit querying recent SIP data");
        }
        let limit = match qv(q, "limit").map(str::parse::<usize>) {
            None => 1000,
            Some(Ok(n)) if (1..=10000).contains(&n) => n,
            _ => return msg(400, "invalid limit: must be between 1 and 10000"),
        };
        let desc = match qv(q, "sort") {
            None | Some("asc") => false,
            Some("desc") => true,
            _ => return msg(400, "invalid sort"),
        };
        let adj_ok = |a: &str| {
            a.split(',')
                .all(|x| matches!(x, "raw" | "split" | "dividend" | "spin-off" | "all"))
        };
        if !qv(q, "adjustment").is_none_or(adj_ok) {
            return msg(400, "invalid adjustment");
        }
        let mut symbols: Vec<String> = match single {
            Some(s) => vec![s.to_string()],
            None => match qv(q, "symbols") {
                Some(s) => s
                    .split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect(),
                None => return msg(400, "missing symbols"),
            },
        };
        symbols.sort();
        symbols.dedup();
        if let Some(s) = symbols.iter().find(|s| !valid_symbol(s)) {
            return msg(400, &format!("invalid symbol: {s}"));
        }
        let span = TimeDelta::minutes(tf);
        let mut items: Vec<(&str, &FakeBar)> = Vec::new();
        for s in &symbols {
            if let Some(series) = self.bars.get(&(s.clone(), tf)) {
                let mut v: Vec<&FakeBar> = series
                    .range(start..=end)
                    .map(|(_, b)| b)
                    .filter(|b| b.t + span <= self.now)
                    .collect();
                if desc {
                    v.reverse();
                }
                items.extend(v.into_iter().map(|b| (s.as_str(), b)));
            }
        }
        let from = match qv(q, "page_token").map(parse_bar_token) {
            None => 0,
            Some(None) => return msg(400, "invalid page_token"),
            Some(Some((ts, tt))) => items
                .iter()
                .position(|(s, b)| {
                    *s > ts.as_str() || (*s == ts && if desc { b.t <= tt } else { b.t >= tt })
                })
                .unwrap_or(items.len()),
        };
        self.pages += 1;
        let page = if self.max_page > 0 {
            limit.min(self.max_page)
        } else {
            limit
        };
        let mut n = page.min(items.len() - from);
        if self.short_every > 0 && self.pages % self.short_every == 0 && n >= 2 {
            n /= 2;
        }
        let next = items.get(from + n).map(|(s, b)| bar_token(s, b.t));
        let page_items = &items[from..from + n];
        if let Some(sym) = single {
            let bars: Vec<Value> = page_items.iter().map(|(_, b)| bar_json(b)).collect();
            let bars = if bars.is_empty() {
                Value::Null
            } else {
                Value::Array(bars)
            };
            return Reply::json(
                200,
                json!({"bars": bars, "symbol": sym, "next_page_token": next}),
            );
        }
        let mut map = Map::new();
        for (s, b) in page_items {
            if let Value::Array(v) = map.entry(s.to_string()).or_insert_with(|| json!([])) {
                v.push(bar_json(b));
            }
        }
        Reply::json(200, json!({"bars": map, "next_page_token": next}))
    }

    fn latest_trades(&self, q: &Query, single: Option<&str>) -> Reply {
        let feed = qv(q, "feed");
        if !matches!(
            feed,
            None | Some("iex" | "sip" | "delayed_sip" | "otc" | "boats" | "overnight")
        ) {
            return msg(400, "invalid feed");
        }
        if self.free_plan && feed == Some("sip") {
            return msg(403, "subscription does not permit querying recent SIP data");
        }
        let symbols: Vec<&str> = match (single, qv(q, "symbols")) {
            (Some(s), _) => vec![s],
            (None, Some(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .collect(),
            (None, None) => return msg(400, "missing symbols"),
        };
        if let Some(s) = symbols.iter().find(|s| !valid_symbol(s)) {
            return msg(400, &format!("invalid symbol: {s}"));
        }
        let trade = |s: &str| {
            self.trades.get(s).map(|&(p, t, i)| {
                json!({"t": t.to_rfc3339_opts(SecondsFormat::AutoSi, true), "x": "V", "p": p,
                       "s": 100, "c": ["@"], "i": i, "z": "C"})
            })
        };
        if let Some(s) = single {
            return Reply::json(200, json!({"symbol": s, "trade": trade(s)}));
        }
        let map: Map<String, Value> = symbols
            .iter()
            .filter_map(|s| trade(s).map(|t| (s.to_string(), t)))
            .collect();
        Reply::json(200, json!({ "trades": map }))
    }
}

//! The blocking Alpaca client.
//!
//! Every request has a timeout. GETs are retried after a 429 (honouring
//! `X-RateLimit-Reset` when present), a 5xx or a network error, with a bounded, doubling
//! backoff. A POST is never retried: an order whose reply was lost may still exist, so the
//! caller looks it up by `client_order_id` instead.
//!
//! A tick attaches its deadline ([`Alpaca::with_deadline`]): every wait and every request ends
//! by it, because a tick that runs into the next minute overlaps the next tick's decision and
//! can send an order on a stale picture. A GET with no time left gives up with its last error; a
//! POST is not sent unless its whole timeout fits before the deadline (see
//! [`Alpaca::submit_order`]).
//!
//! A host that cannot be resolved (a typo in the URL, no network, no DNS) is not retried: the
//! name will not appear in the next second, and three lookups only delay the error. The error
//! names the host, the config key it came from and what to check; the next tick asks again.

use super::answers::{api_error, explain_subscription_refusal, parse};
use super::requests::OrderBody;
use super::wire::{
    self, Account, BarsPage, Clock, FillActivity, LatestTrades, Order, Position, SplitActivity,
};
use crate::broker::{BarsQuery, OrderRequest};
use crate::config::{AlpacaConfig, Feed};
use crate::credentials::Credentials;
use crate::domain::Bar;
use crate::error::{Error, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use ureq::Agent;

/// Longest a single retry waits, so that a tick stays within its minute.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(15);

pub struct Alpaca {
    agent: Agent,
    trading_url: String,
    data_url: String,
    feed: Feed,
    credentials: Credentials,
    max_retries: u32,
    retry_base: Duration,
    /// The configured timeout of one request.
    timeout: Duration,
    /// No request or wait goes past this instant (`None`: commands without a deadline).
    deadline: Option<Instant>,
}

/// How one HTTP attempt ended.
enum Attempt {
    Done(String),
    /// Worth another try (after the given wait, if the server said).
    Retry(Error, Option<Duration>),
    Fail(Error),
}

impl Alpaca {
    pub fn new(config: &AlpacaConfig, credentials: Credentials) -> Alpaca {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(config.timeout.min(Duration::from_secs(5))))
            .user_agent(concat!("prometheus-bot/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Alpaca {
            agent,
            trading_url: config.trading_url.to_string(),
            data_url: config.data_url.to_string(),
            feed: config.feed,
            credentials,
            max_retries: config.max_retries,
            retry_base: config.retry_base,
            timeout: config.timeout,
            deadline: None,
        }
    }

    /// The same client, but every request, retry wait and `X-RateLimit-Reset` wait ends by
    /// `deadline`, and no order is sent after it.
    pub fn with_deadline(mut self, deadline: Instant) -> Alpaca {
        self.deadline = Some(deadline);
        self
    }

    /// Time left before the deadline (`None` without one; zero once it has passed).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    pub fn clock(&self) -> Result<Clock> {
        self.get(&self.trading_url, "/v2/clock", &[])
    }

    /// The account, refused unless it carries a numeric equity: see
    /// [`Account::checked_equity`].
    pub fn account(&self) -> Result<Account> {
        let account: Account = self.get(&self.trading_url, "/v2/account", &[])?;
        account
            .checked_equity()
            .map_err(|detail| Error::BadResponse {
                endpoint: "GET /v2/account".into(),
                detail,
            })?;
        Ok(account)
    }

    /// Open positions, refused if any quantity is not a number: read as 0 it would make the
    /// bot believe it is flat and trade on that.
    pub fn positions(&self) -> Result<Vec<Position>> {
        let positions: Vec<Position> = self.get(&self.trading_url, "/v2/positions", &[])?;
        for p in &positions {
            if let Err(e) = p.signed_qty() {
                return Err(Error::BadResponse {
                    endpoint: "GET /v2/positions".into(),
                    detail: format!("{} has qty {e}", p.symbol),
                });
            }
        }
        Ok(positions)
    }

    /// Open orders for these symbols (at most 500, far more than a bot this size has).
    pub fn open_orders(&self, symbols: &[&str]) -> Result<Vec<Order>> {
        let query = [
            ("status", "open".to_string()),
            ("limit", "500".into()),
            ("nested", "true".into()),
            ("symbols", symbols.join(",")),
        ];
        self.get(&self.trading_url, "/v2/orders", &query)
    }

    /// The order with this client id, or `None` if Alpaca never created it.
    pub fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<Order>> {
        let query = [("client_order_id", client_order_id.to_string())];
        match self.get(&self.trading_url, "/v2/orders:by_client_order_id", &query) {
            Ok(order) => Ok(Some(order)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every FILL activity after `after`, oldest first.
    pub fn fill_activities(&self, after: DateTime<Utc>) -> Result<Vec<FillActivity>> {
        self.activities("FILL", after, 1000, |a: &FillActivity| a.id.clone())
    }

    /// Every SPLIT activity booked after `after`, oldest first: the share changes no fill
    /// explains.
    pub fn split_activities(&self, after: DateTime<Utc>) -> Result<Vec<SplitActivity>> {
        self.activities("SPLIT", after, 100, |a: &SplitActivity| a.id.clone())
    }

    /// Account activities of one type after `after`, oldest first, following Alpaca's paging:
    /// a page shorter than `page_size` is the last; the next page starts after the last id.
    fn activities<T: DeserializeOwned>(
        &self,
        kind: &str,
        after: DateTime<Utc>,
        max_pages: usize,
        id: impl Fn(&T) -> String,
    ) -> Result<Vec<T>> {
        const PAGE: usize = 100;
        let path = format!("/v2/account/activities/{kind}");
        let mut out: Vec<T> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..max_pages {
            let mut query = vec![
                ("after", rfc3339(after)),
                ("direction", "asc".to_string()),
                ("page_size", PAGE.to_string()),
            ];
            if let Some(last) = out.last() {
                query.push(("page_token", id(last)));
            }
            let page: Vec<T> = self.get(&self.trading_url, &path, &query)?;
            let done = page.len() < PAGE;
            for a in page {
                // `after` is documented as exclusive but has behaved as inclusive: dedupe by id.
                if seen.insert(id(&a)) {
                    out.push(a);
                }
            }
            if done {
                return Ok(out);
            }
        }
        Err(Error::Refused(format!(
            "more than {} {kind} activities: narrow --since",
            max_pages * PAGE
        )))
    }

    /// Every order (any status) submitted after `after`, oldest first, paging by moving
    /// `after` to the last order's submission time (Alpaca's list has no page token).
    pub fn orders_since(
        &self,
        after: DateTime<Utc>,
        symbols: Option<&[&str]>,
    ) -> Result<Vec<Order>> {
        const PAGE: usize = 500;
        let mut out: Vec<Order> = Vec::new();
        let mut cursor = after;
        for _ in 0..1000 {
            let mut query = vec![
                ("status", "all".to_string()),
                ("after", cursor.to_rfc3339_opts(SecondsFormat::Nanos, true)),
                ("direction", "asc".to_string()),
                ("limit", PAGE.to_string()),
                // An OCO's stop leg under its parent: a resting leg is `held` or `new`, and
                // the tick finds it there (Alpaca ignores client ids sent for legs).
                ("nested", "true".to_string()),
            ];
            if let Some(symbols) = symbols {
                query.push(("symbols", symbols.join(",")));
            }
            let page: Vec<Order> = self.get(&self.trading_url, "/v2/orders", &query)?;
            let done = page.len() < PAGE;
            let mut advanced = false;
            for o in page {
                if let Some(t) = o.submitted_at {
                    // `after` is exclusive: step back a microsecond so that orders submitted
                    // in the same instant are not lost, then dedupe by id.
                    if t - chrono::Duration::microseconds(1) > cursor {
                        cursor = t - chrono::Duration::microseconds(1);
                        advanced = true;
                    }
                }
                if !out.iter().any(|seen| seen.id == o.id) {
                    out.push(o);
                }
            }
            if done || !advanced {
                return Ok(out);
            }
        }
        Err(Error::Refused(
            "more than 500,000 orders: narrow --since".into(),
        ))
    }

    pub fn order(&self, order_id: &str) -> Result<Order> {
        let query = [("nested", "true".to_string())];
        self.get(&self.trading_url, &format!("/v2/orders/{order_id}"), &query)
    }

    /// `DELETE /v2/orders/{id}`: 204 when the cancel is accepted (the order then passes
    /// through `pending_cancel`); 422 when the order is already final, which is not a failure
    /// (a cancel can race a fill: the caller reads the order back either way). Not retried,
    /// like a POST, and refused when its timeout does not fit before the deadline.
    pub fn cancel_order(&self, order_id: &str) -> Result<()> {
        let endpoint = "DELETE /v2/orders/{id}";
        if self.remaining().is_some_and(|left| left < self.timeout) {
            return Err(Error::Deadline {
                endpoint: endpoint.to_string(),
            });
        }
        let url = format!("{}/v2/orders/{order_id}", self.trading_url);
        let request = self.authorize(self.agent.delete(&url));
        match self.finish(endpoint, &self.trading_url, request.call()) {
            Attempt::Done(_) => Ok(()),
            Attempt::Fail(Error::Api { status: 422, .. }) => Ok(()),
            Attempt::Retry(e, _) | Attempt::Fail(e) => Err(e),
        }
    }

    /// Place an order. Exactly one attempt: see the module docs.
    ///
    /// Rule for the deadline: the POST is sent only if its whole configured timeout fits
    /// before the deadline, so it is never cut short by it. A POST cut short is an order whose
    /// fate is unknown, which costs the next tick a lookup and can land after the session;
    /// refusing up front leaves nothing in doubt ([`Error::Deadline`], nothing sent).
    pub fn submit_order(&self, order: &OrderRequest) -> Result<Order> {
        let endpoint = "POST /v2/orders";
        if self.remaining().is_some_and(|left| left < self.timeout) {
            return Err(Error::Deadline {
                endpoint: endpoint.to_string(),
            });
        }
        let url = format!("{}/v2/orders", self.trading_url);
        let request = self.authorize(self.agent.post(&url));
        let sent = request.send_json(OrderBody::from(order));
        let body = match self.finish(endpoint, &self.trading_url, sent) {
            Attempt::Done(body) => body,
            Attempt::Retry(e, _) | Attempt::Fail(e) => return Err(e),
        };
        parse(endpoint, &body)
    }

    /// The latest trade per symbol, in one request. Symbols without data are absent.
    pub fn latest_trades(&self, symbols: &[&str]) -> Result<HashMap<String, wire::Trade>> {
        let query = [
            ("symbols", symbols.join(",")),
            ("feed", self.feed.as_str().to_string()),
        ];
        let trades: LatestTrades = self.get(&self.data_url, "/v2/stocks/trades/latest", &query)?;
        Ok(trades
            .trades
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(symbol, trade)| {
                if trade.is_none() {
                    log::warn!("{symbol}: Alpaca sent a null latest trade; no price for it");
                }
                Some((symbol, trade?))
            })
            .collect())
    }

    /// Bars for several symbols, following `next_page_token` until it is null. Pages may be
    /// short while more remains, and a symbol may continue on the next page.
    pub fn bars(
        &self,
        q: &BarsQuery<'_>,
        mut on_page: impl FnMut(usize, usize),
    ) -> Result<HashMap<String, Vec<Bar>>> {
        let mut out: HashMap<String, Vec<Bar>> = HashMap::new();
        let mut token: Option<String> = None;
        let (mut pages, mut total) = (0usize, 0usize);
        loop {
            let mut query = vec![
                ("symbols", q.symbols.join(",")),
                ("timeframe", q.timeframe.as_str().to_string()),
                ("start", rfc3339(q.start)),
                ("limit", "10000".to_string()),
                ("feed", q.feed.as_str().to_string()),
                ("adjustment", q.adjustment.to_string()),
                ("sort", "asc".to_string()),
            ];
            if let Some(end) = q.end {
                query.push(("end", rfc3339(end)));
            }
            if let Some(t) = &token {
                query.push(("page_token", t.clone()));
            }
            let page: BarsPage = self
                .get(&self.data_url, "/v2/stocks/bars", &query)
                .map_err(explain_subscription_refusal)?;
            pages += 1;
            for (symbol, bars) in page.bars.unwrap_or_default() {
                let bars: Vec<Bar> = bars
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(Bar::from)
                    .collect();
                total += bars.len();
                out.entry(symbol).or_default().extend(bars);
            }
            on_page(pages, total);
            token = page.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(out);
            }
            if pages >= q.max_pages {
                return Err(Error::Refused(format!(
                    "bars request still had more pages after {pages} pages ({total} bars); \
                     narrow the date range or raise the page bound"
                )));
            }
        }
    }

    fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        request
            .header("APCA-API-KEY-ID", self.credentials.key_id.expose())
            .header("APCA-API-SECRET-KEY", self.credentials.secret.expose())
    }

    /// GET with retries for 429, 5xx and network errors.
    fn get<T: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        let endpoint = format!("GET {path}");
        let url = format!("{base}{path}");
        let mut attempt = 0;
        let mut last: Option<Error> = None;
        loop {
            let mut request = self.authorize(self.agent.get(&url));
            for (k, v) in query {
                request = request.query(*k, v);
            }
            if let Some(left) = self.remaining() {
                if left.is_zero() {
                    // The last error says more than "deadline" when there was one.
                    return Err(last.unwrap_or(Error::Deadline { endpoint }));
                }
                // Cut this request's timeout to the time left, so it ends by the deadline.
                request = request
                    .config()
                    .timeout_global(Some(left.min(self.timeout)))
                    .build();
            }
            match self.finish(&endpoint, base, request.call()) {
                Attempt::Done(body) => return parse(&endpoint, &body),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(e, _) if attempt >= self.max_retries => return Err(e),
                Attempt::Retry(e, wait) => {
                    let backoff = self.retry_base.saturating_mul(1 << attempt.min(16));
                    let wait = wait.unwrap_or(backoff).min(MAX_RETRY_WAIT);
                    // A wait that reaches the deadline leaves no time to ask again: the last
                    // error is the answer.
                    if self.remaining().is_some_and(|left| wait >= left) {
                        log::warn!("{e}; no retry: the tick's deadline is nearer than the wait");
                        return Err(e);
                    }
                    log::warn!("{e}; retrying in {} ms", wait.as_millis());
                    std::thread::sleep(wait);
                    attempt += 1;
                    last = Some(e);
                }
            }
        }
    }

    /// Classify one HTTP outcome of a request to `base` (the trading or the data URL).
    fn finish(
        &self,
        endpoint: &str,
        base: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Attempt {
        let mut response = match result {
            Ok(r) => r,
            Err(e) if dns_failure(&e) => {
                return Attempt::Fail(Error::Network {
                    endpoint: endpoint.to_string(),
                    detail: self.unresolved(base, &e),
                })
            }
            Err(e) => {
                let e = Error::Network {
                    endpoint: endpoint.to_string(),
                    detail: e.to_string(),
                };
                return Attempt::Retry(e, None);
            }
        };
        let status = response.status().as_u16();
        let reset = response
            .headers()
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok());
        let body = match response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
        {
            Ok(b) => b,
            Err(e) => {
                let e = Error::Network {
                    endpoint: endpoint.to_string(),
                    detail: format!("reading the response: {e}"),
                };
                return Attempt::Retry(e, None);
            }
        };
        if (200..300).contains(&status) {
            return Attempt::Done(body);
        }
        let error = api_error(endpoint, status, &body);
        match status {
            429 => {
                let wait = reset.map(|epoch| {
                    let secs = (epoch - Utc::now().timestamp()).clamp(0, 60) as u64;
                    Duration::from_secs(secs).max(self.retry_base)
                });
                Attempt::Retry(error, wait)
            }
            500..=599 => Attempt::Retry(error, None),
            _ => Attempt::Fail(error),
        }
    }
}

impl Alpaca {
    /// What to say when the host of `base` could not be resolved.
    fn unresolved(&self, base: &str, e: &ureq::Error) -> String {
        let host = url::Url::parse(base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| base.to_string());
        let key = match (base == self.trading_url, base == self.data_url) {
            (true, true) => "trading_url and data_url",
            (false, true) => "data_url",
            _ => "trading_url",
        };
        format!(
            "cannot resolve the host `{host}` ({e}): check {key} in the config, and that this \
             machine is online and its DNS works (e.g. `ping {host}`); not retried, the next \
             tick tries again"
        )
    }
}

/// A failed name lookup, as ureq reports it: its own "host not found" (no address), a lookup
/// that timed out, or the resolver's error. That last one is an `io::Error` whose kind is
/// not public, so it is recognised by std's own prefix on Unix and by Winsock's codes on
/// Windows (WSAHOST_NOT_FOUND, WSATRY_AGAIN, WSANO_RECOVERY, WSANO_DATA).
fn dns_failure(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::HostNotFound | ureq::Error::Timeout(ureq::Timeout::Resolve) => true,
        ureq::Error::Io(io) => {
            io.to_string()
                .starts_with("failed to lookup address information")
                || (cfg!(windows) && matches!(io.raw_os_error(), Some(11001..=11004)))
        }
        _ => false,
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::{RecentSip, Subscription};
    use crate::credentials::Secret;
    use crate::domain::{ClientOrderId, Qty, Side};
    use std::net::TcpListener;

    /// A client for a local port that accepts connections but never answers, and a listener
    /// to tell whether anything connected.
    fn silent_client(timeout: Duration) -> (Alpaca, TcpListener) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let config = AlpacaConfig {
            trading_url: crate::config::Endpoint::parse_base(&url).unwrap(),
            data_url: crate::config::Endpoint::parse_base(&url).unwrap(),
            feed: Feed::Iex,
            live: false,
            subscription: Subscription::Paid,
            recent_sip: RecentSip::Clamp,
            timeout,
            max_retries: 10,
            retry_base: Duration::from_millis(10),
            tick_deadline: Duration::from_secs(40),
        };
        let credentials = Credentials {
            key_id: Secret::new("PKTEST"),
            secret: Secret::new("test-secret"),
        };
        (Alpaca::new(&config, credentials), listener)
    }

    #[test]
    fn no_order_is_sent_unless_its_whole_timeout_fits_before_the_deadline() {
        let (client, listener) = silent_client(Duration::from_secs(2));
        let client = client.with_deadline(Instant::now() + Duration::from_secs(1));
        let id: ClientOrderId = "pb-test".parse().unwrap();
        let order = OrderRequest::market_day("AAPL", Side::Buy, Qty::shares(1), &id);
        let e = client.submit_order(&order).unwrap_err();
        assert!(
            matches!(&e, Error::Deadline { endpoint } if endpoint == "POST /v2/orders"),
            "{e:?}"
        );
        assert!(listener.accept().is_err(), "nothing was sent");
    }

    #[test]
    fn a_get_ends_by_the_deadline_even_while_the_server_is_silent() {
        let (client, _listener) = silent_client(Duration::from_secs(5));
        let client = client.with_deadline(Instant::now() + Duration::from_millis(600));
        let started = Instant::now();
        let e = client.clock().unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1500), "took {took:?}: {e}");

        let (client, listener) = silent_client(Duration::from_secs(5));
        let client = client.with_deadline(Instant::now());
        let e = client.account().unwrap_err();
        assert!(matches!(e, Error::Deadline { .. }), "{e:?}");
        assert!(
            listener.accept().is_err(),
            "a GET past the deadline is not sent"
        );
    }
}

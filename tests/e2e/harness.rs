//! A per-test bot folder, the fake broker, and assertions that dump everything on failure.

use crate::fake_alpaca::{FakeAlpaca, FakeBar, KEY_ID, SECRET};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_prometheus-bot");

/// Tuesday 2026-11-24 10:30:30 New York time, market open.
pub fn open_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 15, 30, 30).unwrap()
}

/// The default test symbols: AAPL on the seed's threshold rule, TSLA on a fast SMA cross.
pub const SYMBOLS: &str = r#"
[[symbol]]
name = "AAPL"
qty = 1
strategy = { kind = "threshold", buy_above = 230.0, sell_below = 220.0 }

[[symbol]]
name = "TSLA"
qty = 2
strategy = { kind = "sma_cross", fast = 2, slow = 3 }
"#;

/// The default symbols, TSLA's SMA cross made stop-and-reverse.
pub fn reversing_symbols() -> String {
    SYMBOLS.replace("slow = 3 }", "slow = 3, allow_short = true }")
}

pub struct Bot {
    pub dir: TempDir,
    /// The working directory the binary is started in: not the config's folder, as under cron.
    pub cwd: TempDir,
    pub fake: FakeAlpaca,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub args: Vec<String>,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\n--- prometheus-bot {:?} exited {}\n--- stdout:\n{}\n--- stderr:\n{}\n",
            self.args, self.code, self.stdout, self.stderr
        )
    }
}

impl Bot {
    /// A bot with the default symbols, the market open, prices set so that a tick holds.
    pub fn new() -> Bot {
        Bot::with_symbols(SYMBOLS)
    }

    pub fn with_symbols(symbols: &str) -> Bot {
        let fake = FakeAlpaca::start();
        fake.set_clock(open_now(), true);
        let bot = Bot {
            dir: tempfile::tempdir().unwrap(),
            cwd: tempfile::tempdir().unwrap(),
            fake,
        };
        bot.write_config(symbols);
        bot.set_price("AAPL", 225.0);
        bot.set_price("TSLA", 250.0);
        bot.set_closes("AAPL", &[225.0; 10]);
        bot.set_closes("TSLA", &[250.0; 10]);
        bot
    }

    /// The bot holds `qty` shares of `symbol`, bought by an earlier tick: the broker shows the
    /// position and the bot's fills ledger has the fill that made it.
    pub fn bot_holds(&self, symbol: &str, qty: f64, price: f64) {
        self.fake.set_position(symbol, qty, price);
        let dir = self.path("data/ledger");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fills.csv");
        let mut text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            "time_utc,symbol,side,qty,price,order_id,client_order_id,status,activity_id,source\n".into()
        });
        let side = if qty < 0.0 { "sell" } else { "buy" };
        text.push_str(&format!(
            "2026-11-23 15:00:00,{symbol},{side},{},{price},earlier-{symbol},pb-{symbol}-earlier,fill,act-earlier-{symbol},tick\n",
            qty.abs()
        ));
        std::fs::write(path, text).unwrap();
    }

    /// Wait until the fake has finished every request it received. A request the bot gave up
    /// on (a timeout, a killed process) may still be running there, and what it does (a late
    /// order) must land before the test moves the fake clock on: in real time, the broker's
    /// clock would not have jumped past the intent grace period meanwhile.
    pub fn wait_idle(&self) {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let waiting = std::time::Instant::now();
        while self.fake.in_flight() > 0 {
            assert!(
                waiting.elapsed() < std::time::Duration::from_secs(5),
                "a request to the fake never ended"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Append a `[risk]` section with these lines to the config.
    pub fn with_risk(&self, lines: &str) {
        let config = std::fs::read_to_string(self.config_path()).unwrap();
        std::fs::write(self.config_path(), format!("{config}\n[risk]\n{lines}\n")).unwrap();
    }

    /// The JSON bodies of every order POST the fake received, in order.
    pub fn posted(&self) -> Vec<serde_json::Value> {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .filter_map(|r| r.json())
            .collect()
    }

    /// Declare the account shared with manual trading, so that positions set on the fake
    /// broker by hand (not through the bot's fills) are accepted.
    pub fn share_account(&self) {
        let config = std::fs::read_to_string(self.config_path()).unwrap();
        std::fs::write(
            self.config_path(),
            format!("{config}\n[risk]\nshared_account = true\n"),
        )
        .unwrap();
    }

    pub fn write_config(&self, symbols: &str) {
        let url = self.fake.url();
        let text = format!(
            "[alpaca]\ntrading_url = \"{url}\"\ndata_url = \"{url}\"\nfeed = \"iex\"\n\
             timeout_secs = 1\nmax_retries = 2\nretry_base_ms = 10\n\n\
             [bot]\ntimeframe = \"1Min\"\nhistory = 20\n{symbols}"
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Latest trade at `price`, five seconds before the fake clock.
    pub fn set_price(&self, symbol: &str, price: f64) {
        self.fake
            .set_latest_trade(symbol, price, self.fake.now() - Duration::seconds(5));
    }

    /// Closed minute bars ending with the last closed minute before the fake clock.
    pub fn set_closes(&self, symbol: &str, closes: &[f64]) {
        let now = self.fake.now();
        let last = Utc
            .timestamp_opt(now.timestamp() / 60 * 60 - 60, 0)
            .unwrap();
        let bars: Vec<FakeBar> = closes
            .iter()
            .enumerate()
            .map(|(i, &c)| FakeBar {
                t: last - Duration::minutes((closes.len() - 1 - i) as i64),
                o: c,
                h: c + 0.5,
                l: c - 0.5,
                c,
                v: 100,
                n: 5,
                vw: c,
            })
            .collect();
        self.fake.add_bars(symbol, "1Min", &bars);
    }

    /// Run the binary with the valid keys in the environment.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[("ALPACA_KEY", KEY_ID), ("ALPACA_SECRET", SECRET)])
    }

    /// Start a tick without waiting for it (output discarded), for kill tests.
    pub fn spawn_tick(&self) -> std::process::Child {
        Command::new(BIN)
            .args(["--config", self.config_path().to_str().unwrap(), "tick"])
            .current_dir(self.cwd.path())
            .env_clear()
            .env("ALPACA_KEY", KEY_ID)
            .env("ALPACA_SECRET", SECRET)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    /// The invariants that must hold after any run, however it ended: every ledger parses,
    /// the state loads, and the broker never holds two orders with one client order id.
    pub fn assert_consistent(&self) {
        for name in ["decisions.csv", "orders.csv", "fills.csv", "equity.csv"] {
            let _ = self.ledger(name);
        }
        if self.path("data/state.json").exists() {
            let _ = self.state();
        }
        let orders = self.fake.orders();
        let mut ids: Vec<&str> = orders
            .iter()
            .map(|o| o["client_order_id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "a client order id twice at the broker");
        let fills = self.ledger("fills.csv");
        let mut acts: Vec<&str> = fills
            .iter()
            .map(|f| f["activity_id"].as_str())
            .filter(|a| !a.is_empty())
            .collect();
        acts.sort_unstable();
        let n = acts.len();
        acts.dedup();
        assert_eq!(acts.len(), n, "a fill recorded twice");
    }

    /// After a clean tick: every broker order is in the orders ledger, no intent is left,
    /// and the fills ledger adds up to the broker's positions.
    pub fn assert_settled(&self) {
        self.assert_consistent();
        let ledger: Vec<String> = self
            .ledger("orders.csv")
            .iter()
            .map(|r| r["order_id"].clone())
            .collect();
        for o in self.fake.orders() {
            let id = o["id"].as_str().unwrap();
            assert!(
                ledger.iter().any(|l| l == id),
                "broker order {id} ({}) missing from orders.csv",
                o["client_order_id"]
            );
        }
        assert!(
            self.state()["intents"].as_array().unwrap().is_empty(),
            "{}",
            self.state()
        );
        let positions = self.broker_json("/v2/positions");
        for symbol in ["AAPL", "TSLA"] {
            let broker: f64 = positions
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["symbol"] == symbol)
                .map_or(0.0, |p| p["qty"].as_str().unwrap().parse().unwrap());
            let ours: f64 = self
                .ledger("fills.csv")
                .iter()
                .filter(|f| f["symbol"] == symbol && !f["activity_id"].is_empty())
                .map(|f| {
                    f["qty"].parse::<f64>().unwrap() * if f["side"] == "sell" { -1.0 } else { 1.0 }
                })
                .sum();
            assert_eq!(broker, ours, "{symbol}: broker position vs fills ledger");
        }
    }

    /// Run with exactly these environment variables (plus the config path).
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_as(&self.config_path(), args, env, None)
    }

    /// The binary with `config`, these arguments and exactly this environment, started in the
    /// bot's working folder; stdout captured unless `stdout` is given. Every stream is checked
    /// for the keys.
    pub fn run_as(
        &self,
        config: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        stdout: Option<std::process::Stdio>,
    ) -> Run {
        let mut full = vec!["--config", config.to_str().unwrap()];
        full.extend_from_slice(args);
        let mut cmd = Command::new(BIN);
        cmd.args(&full).current_dir(self.cwd.path()).env_clear();
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(stdout) = stdout {
            cmd.stdout(stdout);
        }
        let out: Output = cmd.output().unwrap();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            args: full.iter().map(|s| s.to_string()).collect(),
        };
        self.assert_no_secret(&run);
        run
    }

    /// An order placed by hand (not by the bot), straight at the fake broker.
    pub fn place_manual_order(&self, symbol: &str, side: &str, qty: &str, kind: &str) {
        let mut body = serde_json::json!({"symbol": symbol, "side": side, "qty": qty, "type": kind, "time_in_force": "day"});
        if kind == "limit" {
            body["limit_price"] = "1.00".into();
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let resp = agent
            .post(format!("{}/v2/orders", self.fake.url()))
            .header("APCA-API-KEY-ID", KEY_ID)
            .header("APCA-API-SECRET-KEY", SECRET)
            .send_json(&body)
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }

    /// GET a path on the fake broker as a client would see it (JSON).
    pub fn broker_json(&self, path: &str) -> serde_json::Value {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent
            .get(format!("{}{path}", self.fake.url()))
            .header("APCA-API-KEY-ID", KEY_ID)
            .header("APCA-API-SECRET-KEY", SECRET)
            .call()
            .unwrap();
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap()
    }

    /// Move the fake clock on by `minutes`, with a fresh latest trade and closed bars up to the
    /// new last minute for both default symbols, so that a tick may trade.
    pub fn next_minute(&self, minutes: i64, aapl: f64, tsla_closes: &[f64]) {
        self.fake
            .set_clock(self.fake.now() + Duration::minutes(minutes), true);
        self.set_price("AAPL", aapl);
        self.set_price("TSLA", *tsla_closes.last().unwrap_or(&250.0));
        self.set_closes("AAPL", &[aapl; 3]);
        self.set_closes("TSLA", tsla_closes);
    }

    pub fn tick(&self) -> Run {
        self.run(&["tick"])
    }

    /// Rows of a ledger as column → value maps (empty when the file does not exist).
    pub fn ledger(&self, name: &str) -> Vec<HashMap<String, String>> {
        let path = self.path(&format!("data/ledger/{name}"));
        if !path.exists() {
            return Vec::new();
        }
        read_csv(&path)
    }

    pub fn state(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path("data/state.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Requests the bot made, as "METHOD /path".
    pub fn calls(&self) -> Vec<String> {
        self.fake
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    pub fn posts(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.starts_with("POST"))
            .count()
    }

    /// Neither half of the key pair may appear in the run's output or in any file it wrote.
    pub fn assert_no_secret(&self, run: &Run) {
        for secret in [KEY_ID, SECRET] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "key leaked in output{run}"
            );
            for file in files_under(self.dir.path()) {
                if file.file_name().is_some_and(|n| n == ".env") {
                    continue;
                }
                let bytes = std::fs::read(&file).unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains(secret),
                    "key leaked into {}{run}",
                    file.display()
                );
            }
        }
    }
}

/// A CSV file's rows as column → value maps; a row that does not parse fails the test.
pub fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// `assert!` that prints the whole run when it fails.
#[macro_export]
macro_rules! check {
    ($run:expr, $cond:expr) => {
        assert!($cond, "{}\nfailed: {}{}", stringify!($cond), "", $run)
    };
    ($run:expr, $cond:expr, $($msg:tt)+) => {
        assert!($cond, "{}{}", format!($($msg)+), $run)
    };
}

/// A webhook receiver on 127.0.0.1: records each POST body, answers 200 (or 500 while `down`).
pub struct Receiver {
    pub url: String,
    pub bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    pub fn start() -> Receiver {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/hooks/T000/SECRETPATH",
            listener.local_addr().unwrap()
        );
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (b, d) = (bodies.clone(), down.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                let status = if d.load(Ordering::SeqCst) {
                    "500 Internal Server Error"
                } else {
                    b.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                    "200 OK"
                };
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            }
        });
        Receiver { url, bodies, down }
    }

    pub fn texts(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| {
                serde_json::from_str::<serde_json::Value>(b).unwrap()["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }
}

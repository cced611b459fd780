//! Email and Telegram alerts through the real binary, against receivers on 127.0.0.1 written
//! here: an SMTP server with STARTTLS (a self-signed certificate made by rcgen, trusted through
//! `ca_file`), one without STARTTLS, and a Telegram Bot API stand-in. Every stream and every
//! file the bot wrote is searched for the SMTP password and the bot token.

use crate::check;
use crate::fake_alpaca::{Fault, KEY_ID, SECRET};
use crate::harness::{files_under, Bot, Run};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

const PASSWORD: &str = "pw-SMTPSECRET-42";
/// base64("\0bot@example.com\0pw-SMTPSECRET-42"): what AUTH PLAIN carries.
const AUTH_PLAIN: &str = "AGJvdEBleGFtcGxlLmNvbQBwdy1TTVRQU0VDUkVULTQy";
const TOKEN: &str = "123456:TGSECRET-token";

fn append_config(bot: &Bot, extra: &str) {
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(bot.config_path(), format!("{config}\n{extra}\n")).unwrap();
}

/// Run with the keys plus `extra` variables.
fn run(bot: &Bot, extra: &[(&str, &str)]) -> Run {
    let mut env = vec![("ALPACA_KEY", KEY_ID), ("ALPACA_SECRET", SECRET)];
    env.extend_from_slice(extra);
    bot.run_env(&["tick"], &env)
}

/// Neither `secrets` may appear in the run's streams or in any file under the bot's folder
/// (`.env` aside, where a user may keep them).
fn assert_hidden(bot: &Bot, run: &Run, secrets: &[&str]) {
    for secret in secrets {
        check!(
            run,
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{secret} leaked"
        );
        for file in files_under(bot.dir.path()) {
            if file.file_name().is_some_and(|n| n == ".env") {
                continue;
            }
            let text =
                String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
            assert!(
                !text.contains(secret),
                "{secret} leaked into {}",
                file.display()
            );
        }
    }
}

/// A tick that fails on the broker's clock: the "tick failed" alert.
fn failing_tick(bot: &Bot, env: &[(&str, &str)]) -> Run {
    bot.fake.fail(
        "GET",
        "/v2/clock",
        Fault::Status(503, r#"{"message":"down"}"#.into()),
        3,
    );
    let r = run(bot, env);
    check!(r, r.code == 1);
    r
}

// ---- SMTP ---------------------------------------------------------------------------------

/// What the SMTP receiver saw: lines read in clear, lines read inside TLS, messages.
#[derive(Default)]
struct Seen {
    clear: Vec<String>,
    tls: Vec<String>,
    messages: Vec<String>,
}

struct Smtp {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    /// The certificate the test trusts (PEM).
    ca_pem: String,
}

impl Smtp {
    /// A one-connection-at-a-time SMTP server; with `starttls` false it never offers TLS but
    /// would take a login and a message in clear (the client must not try).
    fn start(starttls: bool) -> Smtp {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let ca_pem = cert.cert.pem();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = session(stream, starttls, &config, &s);
            }
        });
        Smtp { port, seen, ca_pem }
    }
}

fn session(
    stream: TcpStream,
    starttls: bool,
    config: &Arc<rustls::ServerConfig>,
    seen: &Mutex<Seen>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(20)))?;
    let mut clear = BufReader::new(stream);
    clear.get_mut().write_all(b"220 localhost test ESMTP\r\n")?;
    loop {
        let mut line = String::new();
        if clear.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_string();
        seen.lock().unwrap().clear.push(line.clone());
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" if starttls => b"250-localhost\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
            "EHLO" => b"250-localhost\r\n250 AUTH PLAIN LOGIN\r\n",
            "STARTTLS" if starttls => {
                clear.get_mut().write_all(b"220 go ahead\r\n")?;
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let tls = rustls::StreamOwned::new(conn, clear.into_inner());
                return inside_tls(BufReader::new(tls), seen);
            }
            "QUIT" => {
                clear.get_mut().write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            "AUTH" => b"235 ok\r\n",
            "DATA" => b"354 go\r\n",
            _ => b"250 ok\r\n",
        };
        clear.get_mut().write_all(answer)?;
    }
}

fn inside_tls<S: Read + Write>(mut s: BufReader<S>, seen: &Mutex<Seen>) -> std::io::Result<()> {
    loop {
        let mut line = String::new();
        if s.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_string();
        seen.lock().unwrap().tls.push(line.clone());
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
            "AUTH" if line == format!("AUTH PLAIN {AUTH_PLAIN}") => b"235 accepted\r\n",
            "AUTH" => b"535 bad login\r\n",
            "DATA" => {
                s.get_mut().write_all(b"354 go\r\n")?;
                s.get_mut().flush()?;
                let mut message = String::new();
                loop {
                    let mut l = String::new();
                    if s.read_line(&mut l)? == 0 || l == ".\r\n" {
                        break;
                    }
                    message.push_str(&l);
                }
                seen.lock().unwrap().messages.push(message);
                b"250 queued\r\n"
            }
            "QUIT" => {
                s.get_mut().write_all(b"221 bye\r\n")?;
                s.get_mut().flush()?;
                return Ok(());
            }
            _ => b"250 ok\r\n",
        };
        s.get_mut().write_all(answer)?;
        s.get_mut().flush()?;
    }
}

fn email_config(bot: &Bot, smtp: &Smtp) {
    std::fs::write(bot.path("smtp-ca.pem"), &smtp.ca_pem).unwrap();
    append_config(
        bot,
        &format!(
            "[alerts.email]\nsmtp_host = \"localhost\"\nsmtp_port = {}\nusername = \"bot@example.com\"\n\
             from = \"bot@example.com\"\nto = [\"me@example.com\"]\nca_file = \"smtp-ca.pem\"",
            smtp.port
        ),
    );
}

#[test]
fn an_alert_arrives_by_email_over_starttls_and_the_password_never_shows() {
    let smtp = Smtp::start(true);
    let bot = Bot::new();
    email_config(&bot, &smtp);
    let env = [("SMTP_PASSWORD", PASSWORD), ("RUST_LOG", "trace")];
    let r = failing_tick(&bot, &env);
    {
        let seen = smtp.seen.lock().unwrap();
        assert_eq!(
            seen.clear,
            ["EHLO localhost", "STARTTLS"],
            "nothing but EHLO and STARTTLS in clear"
        );
        assert!(
            seen.tls.contains(&format!("AUTH PLAIN {AUTH_PLAIN}")),
            "{:?}",
            seen.tls
        );
        assert!(seen
            .tls
            .contains(&"MAIL FROM:<bot@example.com>".to_string()));
        assert!(seen.tls.contains(&"RCPT TO:<me@example.com>".to_string()));
        assert_eq!(seen.messages.len(), 1, "{:?}", seen.messages);
        let m = &seen.messages[0];
        assert!(
            m.contains("\r\nSubject: prometheus-bot: tick failed: Alpaca answered 503"),
            "{m}"
        );
        assert!(
            m.contains("\r\nTo: me@example.com\r\n") && m.contains("From: bot@example.com\r\n"),
            "{m}"
        );
    }
    assert_hidden(&bot, &r, &[PASSWORD, AUTH_PLAIN]);
    check!(r, !r.stderr.contains("alert email unreachable"));
}

#[test]
fn a_server_without_starttls_gets_no_login_and_no_message_and_the_tick_succeeds() {
    let smtp = Smtp::start(false);
    let bot = Bot::new();
    email_config(&bot, &smtp);
    let env = [("SMTP_PASSWORD", PASSWORD)];
    failing_tick(&bot, &env);
    // The next tick succeeds and alerts "recovered": the email is refused, the tick is not.
    let r = run(&bot, &env);
    check!(r, r.code == 0);
    check!(
        r,
        r.stderr
            .contains("alert email unreachable (the server does not offer STARTTLS")
    );
    let seen = smtp.seen.lock().unwrap();
    assert!(
        seen.clear.iter().all(|l| l == "EHLO localhost"),
        "{:?}",
        seen.clear
    );
    assert!(seen.messages.is_empty());
    assert_hidden(&bot, &r, &[PASSWORD, AUTH_PLAIN]);
    let queued = &bot.state()["ops"]["alerts"]["queues"]["email"];
    assert_eq!(
        queued.as_array().unwrap().len(),
        2,
        "both alerts wait: {queued}"
    );
}

// ---- Telegram -----------------------------------------------------------------------------

/// A Bot API stand-in: records (request line, body); answers ok, or 500 while `down`.
struct TelegramApi {
    url: String,
    got: Arc<Mutex<Vec<(String, String)>>>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl TelegramApi {
    fn start() -> TelegramApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (g, d) = (got.clone(), down.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let mut len = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                let reply = if d.load(std::sync::atomic::Ordering::SeqCst) {
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
                } else {
                    g.lock().unwrap().push((
                        request.trim_end().to_string(),
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    let json = r#"{"ok":true,"result":{"message_id":1}}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                        json.len()
                    )
                };
                let mut s = stream;
                let _ = s.write_all(reply.as_bytes());
            }
        });
        TelegramApi { url, got, down }
    }
}

#[test]
fn an_alert_reaches_telegrams_send_message_and_the_token_never_shows() {
    let api = TelegramApi::start();
    let bot = Bot::new();
    append_config(
        &bot,
        &format!(
            "[alerts.telegram]\nchat_id = -100200300\napi_url = \"{}\"",
            api.url
        ),
    );
    // The token in .env, as people keep it; the environment has none.
    std::fs::write(bot.path(".env"), format!("TELEGRAM_BOT_TOKEN={TOKEN}\n")).unwrap();
    let env = [("RUST_LOG", "trace")];
    let r = failing_tick(&bot, &env);
    {
        let got = api.got.lock().unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, format!("POST /bot{TOKEN}/sendMessage HTTP/1.1"));
        let body: serde_json::Value = serde_json::from_str(&got[0].1).unwrap();
        assert_eq!(body["chat_id"], "-100200300");
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .starts_with("prometheus-bot: tick failed: Alpaca answered 503"),
            "{body}"
        );
    }
    assert_hidden(&bot, &r, &[TOKEN]);

    // Down: the tick succeeds, the "recovered" message waits, nothing names the token.
    api.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = run(&bot, &env);
    check!(
        r,
        r.code == 0 && r.stderr.contains("alert telegram unreachable (HTTP 500)")
    );
    assert_hidden(&bot, &r, &[TOKEN]);
    api.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let r = run(&bot, &env);
    check!(r, r.code == 0);
    let got = api.got.lock().unwrap();
    assert!(got.last().unwrap().1.contains("recovered"), "{got:?}");
}

#[test]
fn telegram_without_its_token_says_which_variable_is_missing() {
    let api = TelegramApi::start();
    let bot = Bot::new();
    append_config(
        &bot,
        &format!("[alerts.telegram]\nchat_id = 42\napi_url = \"{}\"", api.url),
    );
    let r = failing_tick(&bot, &[]);
    check!(
        r,
        r.stderr
            .contains("Telegram alerts are off: TELEGRAM_BOT_TOKEN is not set")
    );
    assert!(api.got.lock().unwrap().is_empty());
}

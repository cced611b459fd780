//! A small SMTP submission client: EHLO, STARTTLS (required), EHLO, AUTH, one message, QUIT.
//!
//! Why not a mail crate: the bot sends one short plain-text message to one server; this is
//! about 350 lines over the rustls that ureq already links. lettre (rustls, no default
//! features) brings nine crates the bot does not have (nom, mime, email-encoding, …) for
//! features it never uses, and weighs more: +543 KB stripped for a minimal send beside ureq,
//! where this client, Telegram and their settings together add +400 KB (README, Dependencies).
//!
//! Security rules, each tested against a local server:
//! * STARTTLS is mandatory: a server that does not offer it, or does not accept it, is left
//!   before any login or message is sent. There is no plain-text fallback.
//! * Bytes a server sends after its "go ahead" and before the handshake are refused (the
//!   STARTTLS command-injection attack): nothing read in clear is used after the upgrade.
//! * The certificate is checked against the public roots (or the configured `ca_file`) for
//!   the configured host name.
//! * Errors name the step and the server's reply code, never a reply text (a server could
//!   echo the login) and never the password.

use crate::credentials::Secret;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The whole session, connecting included, however slowly a server answers: every connect,
/// read and write is given only what is left of it.
pub const SESSION: Duration = Duration::from_secs(10);
/// A reply longer than this is not SMTP.
const MAX_REPLY: u64 = 64 * 1024;

/// Where to submit, and how the certificate is checked.
pub struct Server {
    pub host: String,
    pub port: u16,
    pub tls: Arc<rustls::ClientConfig>,
}

/// A login for AUTH PLAIN (or LOGIN when the server offers only that).
pub struct Login<'a> {
    pub user: &'a str,
    pub password: &'a Secret,
}

/// One message: envelope and the full text (headers, blank line, body), lines ending in CRLF.
pub struct Envelope<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub data: &'a str,
}

/// TLS settings: the public roots, plus the certificates of `ca_file` if given.
pub fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Submit one message. `Err` says which step failed, in words a person can act on.
pub fn send(server: &Server, login: Option<Login<'_>>, mail: &Envelope<'_>) -> Result<(), String> {
    send_within(server, login, mail, SESSION)
}

/// [`send`] with another session limit (tests).
fn send_within(
    server: &Server,
    login: Option<Login<'_>>,
    mail: &Envelope<'_>,
    session: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + session;
    let tcp = connect(&server.host, server.port, deadline)?;
    let mut plain = Conn {
        io: BufReader::new(tcp),
        deadline,
    };
    expect(&mut plain, "greeting", 220)?;
    let (_, caps) = command(&mut plain, "EHLO localhost", "EHLO")?;
    if !caps.iter().any(|l| l.eq_ignore_ascii_case("STARTTLS")) {
        return Err(
            "the server does not offer STARTTLS: refused, the password and the message would cross the network in clear (use the provider's port 587)"
                .into(),
        );
    }
    let (code, _) = command(&mut plain, "STARTTLS", "STARTTLS")?;
    if code != 220 {
        return Err(format!(
            "the server refused STARTTLS ({code}): nothing was sent"
        ));
    }
    if !plain.io.buffer().is_empty() {
        return Err("the server sent data before the TLS handshake: refused".into());
    }
    let name = rustls::pki_types::ServerName::try_from(server.host.clone())
        .map_err(|_| format!("`{}` is not a valid TLS server name", server.host))?;
    let conn = rustls::ClientConnection::new(server.tls.clone(), name)
        .map_err(|e| format!("TLS setup: {e}"))?;
    let mut tls = Conn {
        io: BufReader::new(rustls::StreamOwned::new(conn, plain.io.into_inner())),
        deadline,
    };
    // The handshake happens on the first write; its error is a TLS error, said as such.
    let (code, caps) = command(&mut tls, "EHLO localhost", "EHLO after STARTTLS")
        .map_err(|e| format!("TLS with {}: {e}", server.host))?;
    if code != 250 {
        return Err(format!("EHLO after STARTTLS refused ({code})"));
    }
    if let Some(login) = login {
        authenticate(&mut tls, &caps, &login)?;
    }
    let (code, _) = command(&mut tls, &format!("MAIL FROM:<{}>", mail.from), "MAIL FROM")?;
    ok(code, 250, "MAIL FROM (the sender address)")?;
    for to in mail.to {
        let (code, _) = command(&mut tls, &format!("RCPT TO:<{to}>"), "RCPT TO")?;
        if code != 250 && code != 251 {
            return Err(format!("the server refused the recipient {to} ({code})"));
        }
    }
    let (code, _) = command(&mut tls, "DATA", "DATA")?;
    ok(code, 354, "DATA")?;
    let mut data = dot_stuff(mail.data);
    data.push_str(".\r\n");
    write_all(&mut tls, data.as_bytes(), "the message")?;
    expect(&mut tls, "the message", 250)?;
    // QUIT's answer does not matter: the message is accepted.
    let _ = command(&mut tls, "QUIT", "QUIT");
    Ok(())
}

/// A connection, in clear or inside TLS, with the session's deadline.
struct Conn<S> {
    io: BufReader<S>,
    deadline: Instant,
}

/// The TCP socket under a stream, for its timeouts.
trait Socket: Read + Write {
    fn tcp(&self) -> &TcpStream;
}

impl Socket for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Socket for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

impl<S: Socket> Conn<S> {
    /// Give the next read or write only what is left of the session.
    fn arm(&self, step: &str) -> Result<(), String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("timed out at {step}"));
        }
        let tcp = self.io.get_ref().tcp();
        tcp.set_read_timeout(Some(left))
            .and_then(|()| tcp.set_write_timeout(Some(left)))
            .map_err(|e| io_error(&e, step))
    }
}

fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, String> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|_| format!("cannot resolve {host}: check smtp_host and the network"))?;
    let mut last = format!("{host} has no address");
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("timed out connecting to {host}:{port}"));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("cannot connect to {host}:{port}: {e}"),
        }
    }
    Err(last)
}

fn authenticate<S: Socket>(
    s: &mut Conn<S>,
    caps: &[String],
    login: &Login<'_>,
) -> Result<(), String> {
    let mechanisms: Vec<String> = caps
        .iter()
        .filter_map(|l| {
            let upper = l.to_ascii_uppercase();
            upper
                .strip_prefix("AUTH ")
                .or_else(|| upper.strip_prefix("AUTH="))
                .map(str::to_string)
        })
        .flat_map(|m| m.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let refused = |code: u16| {
        format!("the server refused the login ({code}): check username and SMTP_PASSWORD")
    };
    if mechanisms.iter().any(|m| m == "PLAIN") {
        let token = base64(format!("\0{}\0{}", login.user, login.password.expose()).as_bytes());
        let (code, _) = secret_command(s, &format!("AUTH PLAIN {token}"))?;
        return if code == 235 {
            Ok(())
        } else {
            Err(refused(code))
        };
    }
    if mechanisms.iter().any(|m| m == "LOGIN") {
        let (code, _) = command(s, "AUTH LOGIN", "AUTH LOGIN")?;
        ok(code, 334, "AUTH LOGIN")?;
        let (code, _) = secret_command(s, &base64(login.user.as_bytes()))?;
        ok(code, 334, "AUTH LOGIN (username)")?;
        let (code, _) = secret_command(s, &base64(login.password.expose().as_bytes()))?;
        return if code == 235 {
            Ok(())
        } else {
            Err(refused(code))
        };
    }
    Err("the server offers neither AUTH PLAIN nor AUTH LOGIN".into())
}

fn ok(code: u16, want: u16, step: &str) -> Result<(), String> {
    if code == want {
        Ok(())
    } else {
        Err(format!("{step} refused ({code})"))
    }
}

fn expect<S: Socket>(s: &mut Conn<S>, step: &str, want: u16) -> Result<(), String> {
    let (code, _) = reply(s, step)?;
    ok(code, want, step)
}

/// Send a command line and read the reply; `step` names it in errors (the line may not).
fn command<S: Socket>(
    s: &mut Conn<S>,
    line: &str,
    step: &str,
) -> Result<(u16, Vec<String>), String> {
    log::debug!("smtp: {step}");
    write_all(s, format!("{line}\r\n").as_bytes(), step)?;
    reply(s, step)
}

/// A command carrying a credential: never logged, errors name the step only.
fn secret_command<S: Socket>(s: &mut Conn<S>, line: &str) -> Result<(u16, Vec<String>), String> {
    command(s, line, "AUTH")
}

fn write_all<S: Socket>(s: &mut Conn<S>, bytes: &[u8], step: &str) -> Result<(), String> {
    s.arm(step)?;
    let inner = s.io.get_mut();
    inner
        .write_all(bytes)
        .and_then(|()| inner.flush())
        .map_err(|e| io_error(&e, step))
}

fn io_error(e: &std::io::Error, step: &str) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("timed out at {step}")
        }
        // rustls' errors (a bad certificate) name the problem, never the data.
        _ => format!("{step}: {e}"),
    }
}

/// One reply: `250-first`, `250-more`, `250 last`. Returns the code and each line's text.
fn reply<S: Socket>(s: &mut Conn<S>, step: &str) -> Result<(u16, Vec<String>), String> {
    let mut lines = Vec::new();
    let mut read = 0u64;
    loop {
        s.arm(step)?;
        let mut line = String::new();
        let n =
            s.io.by_ref()
                .take(MAX_REPLY - read.min(MAX_REPLY))
                .read_line(&mut line)
                .map_err(|e| io_error(&e, step))?;
        read += n as u64;
        if n == 0 || read >= MAX_REPLY {
            return Err(format!("the server closed the connection at {step}"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let code = line
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("not an SMTP reply at {step}"))?;
        lines.push(line.get(4..).unwrap_or("").to_string());
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, lines));
        }
    }
}

/// CRLF line ends and a doubled leading dot, so no line of the message can end it early.
fn dot_stuff(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.replace("\r\n", "\n").replace('\r', "\n").split('\n') {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// Standard base64 (RFC 4648) with padding.
pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648s_test_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        // RFC 4616's AUTH PLAIN example: "\0tim\0tanstaaftanstaaf".
        assert_eq!(
            base64(b"\0tim\0tanstaaftanstaaf"),
            "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
    }

    /// A server on 127.0.0.1 that runs `script` on its first connection.
    fn scripted(script: impl FnOnce(TcpStream) + Send + 'static) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                script(stream);
            }
        });
        Server {
            host: "127.0.0.1".into(),
            port,
            tls: tls_config(None).unwrap(),
        }
    }

    fn mail() -> (String, Vec<String>) {
        ("a@b.c".into(), vec!["d@e.f".into()])
    }

    #[test]
    fn a_server_that_trickles_forever_is_left_at_the_session_deadline() {
        let server = scripted(|mut s| {
            // A greeting that never ends: one continuation line every 50 ms.
            for _ in 0..200 {
                if s.write_all(b"220-still greeting\r\n").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let (from, to) = mail();
        let envelope = Envelope {
            from: &from,
            to: &to,
            data: "x",
        };
        let t = Instant::now();
        let e = send_within(&server, None, &envelope, Duration::from_millis(400)).unwrap_err();
        assert!(e.contains("timed out at greeting"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }

    #[test]
    fn bytes_sent_before_the_tls_handshake_are_refused() {
        let server = scripted(|s| {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            w.write_all(b"220 hi\r\n").unwrap();
            let mut line = String::new();
            r.read_line(&mut line).unwrap(); // EHLO
            w.write_all(b"250-hi\r\n250 STARTTLS\r\n").unwrap();
            line.clear();
            r.read_line(&mut line).unwrap(); // STARTTLS
                                             // The injection: a reply for a command the client has not sent yet.
            w.write_all(b"220 go ahead\r\n250 injected\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(500));
        });
        let (from, to) = mail();
        let envelope = Envelope {
            from: &from,
            to: &to,
            data: "x",
        };
        let e = send(&server, None, &envelope).unwrap_err();
        assert!(e.contains("before the TLS handshake"), "{e}");
    }

    #[test]
    fn a_line_starting_with_a_dot_cannot_end_the_message() {
        assert_eq!(dot_stuff("a\n.\n..b\r\nc"), "a\r\n..\r\n...b\r\nc\r\n");
    }
}

//! An abusive client against the real server (issue 14): a flood of silent sockets, a
//! slowloris, limits refused at start, and the answers to limits (408, 429) and to rows the
//! server can't read. Real binary, real server on 127.0.0.1; every load is bounded.
//!
//! The attackers connect from other loopback addresses (127.0.0.2, 127.0.0.3: all of
//! 127.0.0.0/8 is loopback on Linux) so the per-IP cap tells them from the real clients.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Silent sockets the attacker tries to hold.
const SILENT_SOCKETS: usize = 1100;

/// The server's default per-IP cap.
const PER_IP_CAP: usize = 256;

/// Raises this process's soft open-file limit to its hard one: the attacker holds more
/// sockets than the usual 1,024.
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let _ = setrlimit(Resource::Nofile, Rlimit { current: now.maximum, maximum: now.maximum });
    let after = getrlimit(Resource::Nofile).current;
    assert!(after.is_none_or(|n| n >= 2 * SILENT_SOCKETS as u64), "the test needs an open-file limit of {}, not {after:?}", 2 * SILENT_SOCKETS);
}

/// `GET /health` on a fresh connection: the status code, or why none came within 5 s.
fn health(addr: &str) -> Result<u16, String> {
    let addr: SocketAddr = addr.parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: hush\r\nConnection: close\r\n\r\n").map_err(|e| format!("write: {e}"))?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&head);
    text[9..12].parse().map_err(|_| format!("not HTTP: {text}"))
}

/// What the attackers saw.
#[derive(Default, Debug)]
struct Seen {
    /// Sockets the attacker had open at its first look, one second after opening 1,100.
    alive_at_first_look: Option<usize>,
    /// Sockets the server closed, in all.
    closed_by_server: usize,
    /// How long each slowloris connection lasted while it kept sending a byte a second.
    slowloris_lasted: Vec<Duration>,
}

/// Opens a TCP connection to `server` from `source` (a loopback address).
async fn connect_from(source: [u8; 4], server: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let s = tokio::net::TcpSocket::new_v4()?;
    s.bind(SocketAddr::from((source, 0)))?;
    s.connect(server).await
}

/// Whether the server closed this socket (end of stream, or an error).
fn closed(s: &tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match s.try_read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// 127.0.0.2 tries to hold [`SILENT_SOCKETS`] silent sockets: it opens them, and every
/// two seconds opens again those the server closed. Until `stop`.
async fn silent_flood(server: SocketAddr, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let mut socks: Vec<Option<tokio::net::TcpStream>> = (0..SILENT_SOCKETS).map(|_| None).collect();
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        for slot in socks.iter_mut() {
            if slot.is_none() {
                *slot = connect_from([127, 0, 0, 2], server).await.ok();
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut alive = 0;
        for slot in socks.iter_mut() {
            if slot.as_ref().is_some_and(closed) {
                *slot = None;
                seen.lock().unwrap().closed_by_server += 1;
            } else if slot.is_some() {
                alive += 1;
            }
        }
        if first {
            seen.lock().unwrap().alive_at_first_look = Some(alive);
            first = false;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// 127.0.0.3 sends a request header one byte a second, again and again, until `stop`.
async fn slowloris(server: SocketAddr, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    use tokio::io::AsyncWriteExt as _;
    let header = b"GET /health HTTP/1.1\r\nHost: hush\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = connect_from([127, 0, 0, 3], server).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let start = Instant::now();
        for byte in header.iter().cycle() {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if s.write_all(&[*byte]).await.is_err() || closed(&s) {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        seen.lock().unwrap().slowloris_lasted.push(start.elapsed());
    }
}

#[test]
fn silent_sockets_and_a_slowloris_do_not_lock_out_real_clients() {
    raise_open_file_limit();
    let dir = tempdir();
    let server = Server::start_with(&dir.path().join("data"), "127.0.0.1:0", &["--header-read-timeout-secs", "3"]);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    ok(&a, &["send", "bob", "before the flood", "--new"]);
    assert_eq!(texts(&read(&b)), vec!["before the flood"]);

    let addr: SocketAddr = server.addr.parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let attackers = {
        let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let flood = tokio::spawn(silent_flood(addr, Arc::clone(&stop), Arc::clone(&seen)));
                let loris = tokio::spawn(slowloris(addr, stop, seen));
                let _ = flood.await;
                let _ = loris.await;
            });
        })
    };
    // Let the flood reach its 1,100 sockets.
    let waited = Instant::now();
    while seen.lock().unwrap().alive_at_first_look.is_none() {
        assert!(waited.elapsed() < Duration::from_secs(60), "the flood never opened its sockets");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Real clients chat on, and /health answers, for well over the header deadline.
    let start = Instant::now();
    let mut round = 0;
    while start.elapsed() < Duration::from_secs(15) || round < 3 {
        round += 1;
        let asked = Instant::now();
        assert_eq!(health(&server.addr), Ok(200), "round {round}");
        assert!(asked.elapsed() < Duration::from_secs(2), "/health took {:?}", asked.elapsed());
        ok(&a, &["send", "bob", &format!("during the flood {round}")]);
        assert_eq!(texts(&read(&b)), vec![format!("during the flood {round}")]);
        ok(&b, &["send", "alice", &format!("reply {round}")]);
        assert_eq!(texts(&read(&a)), vec![format!("reply {round}")]);
    }
    stop.store(true, Ordering::Relaxed);
    attackers.join().unwrap();

    let seen = seen.lock().unwrap();
    let alive = seen.alive_at_first_look.unwrap();
    assert!(alive <= PER_IP_CAP, "the server let one address hold {alive} connections: {seen:?}");
    assert!(
        seen.closed_by_server >= SILENT_SOCKETS,
        "over the cap closed at once, and silent ones after 3 s: {seen:?}"
    );
    assert!(!seen.slowloris_lasted.is_empty(), "{seen:?}");
    for lasted in &seen.slowloris_lasted {
        assert!(*lasted < Duration::from_secs(8), "a slowloris stayed {lasted:?} with a 3 s header deadline: {seen:?}");
    }
    let log = server.log.lock().unwrap().join("\n");
    assert!(!log.contains("Too many open files"), "{log}");
}

/// `hush server EXTRA...` that must refuse to start: its one line on standard error.
fn refused(dir: &std::path::Path, extra: &[&str]) -> String {
    let out = std::process::Command::new(hush_bin())
        .args(["server", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.join("data"))
        .args(extra)
        .env("HUSH_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "hush server {extra:?} started: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one sentence expected, got: {err}");
    err
}

#[test]
fn limits_of_zero_or_absurd_are_refused_at_start() {
    let dir = tempdir();
    for (flag, value) in [
        ("--max-connections", "0"),
        ("--max-connections", "50000000"),
        ("--max-connections-per-ip", "0"),
        ("--header-read-timeout-secs", "0"),
        ("--idle-timeout-secs", "0"),
        ("--request-timeout-secs", "0"),
        ("--max-body-bytes", "0"),
    ] {
        let err = refused(dir.path(), &[flag, value]);
        assert!(err.contains(flag) && err.contains("must be between"), "{flag} {value}: {err}");
    }
    let err = refused(dir.path(), &["--max-connections", "100", "--max-connections-per-ip", "200"]);
    assert!(err.contains("--max-connections-per-ip"), "{err}");
    // The same from the config file.
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "idle_timeout_secs = 0\n").unwrap();
    let err = refused(dir.path(), &["--config", config.to_str().unwrap()]);
    assert!(err.contains("idle_timeout_secs"), "{err}");
    assert!(!dir.path().join("data").exists(), "nothing is created before the settings are checked");
}

/// One request on a fresh connection that the server closes after: the status, the
/// headers (names in lowercase) and the body.
fn raw(addr: &str, request: &[u8]) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.get(9..12)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    // The error bodies are small JSON objects, sent whole (no chunking).
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A `POST /v1/link` for `username` with this selector, closed after.
fn link_request(username: &str, selector: &str) -> Vec<u8> {
    let body = format!(r#"{{"username":"{username}","selector":"{selector}","pake":"AAEC"}}"#);
    format!(
        "POST /v1/link HTTP/1.1\r\nHost: hush\r\nX-Forwarded-For: 198.51.100.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn a_408_says_timeout_a_429_says_when_and_errors_echo_little() {
    let dir = tempdir();
    let server = Server::start_with(&dir.path().join("data"), "127.0.0.1:0", &["--request-timeout-secs", "1"]);
    let a = dir.path().join("a");
    register(&a, "alice", &server.url);

    // A body that never comes: 408 with its own code, not `internal`.
    let started = Instant::now();
    let (status, _, body) = raw(
        &server.addr,
        b"POST /v1/link HTTP/1.1\r\nHost: hush\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    );
    assert_eq!(status, 408, "{body}");
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["error"], "timeout", "{body}");
    assert!(err["message"].as_str().unwrap().ends_with("too long"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // Link requests for alice from one address (as a local proxy names it): ten pass (five
    // are kept, each new one replacing the oldest), the eleventh is told when to come back.
    for selector in ["AAAA", "BBBB", "CCCC", "DDDD", "EEEE", "FFFF", "GGGG", "HHHH", "JJJJ", "KKKK"] {
        let (status, _, body) = raw(&server.addr, &link_request("alice", selector));
        assert_eq!(status, 201, "{body}");
    }
    let (status, headers, body) = raw(&server.addr, &link_request("alice", "MMMM"));
    assert_eq!(status, 429, "{body}");
    let retry_after: u64 = header(&headers, "retry-after").expect("Retry-After on a 429").parse().unwrap();
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["error"], "rate_limited");
    assert!(err["message"].as_str().unwrap().contains("try again"), "{body}");

    // A 60 KB username in a signed path: the answer quotes only the start of it.
    let (state, _) = hush_client::state::Home::lock(&a).unwrap().load(PASS.as_bytes()).unwrap();
    let key = hush_core::identity::SecretKey::from_bytes(&state.device_secret.0).unwrap();
    let signer = hush_client::api::Signer { device_id: &state.device_id, key: &key };
    let path = format!("/v1/users/{}", "a".repeat(60_000));
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: hush\r\nConnection: close\r\n");
    for (k, v) in hush_client::api::Api::signed_headers(&signer, "GET", &path, b"") {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    let (status, _, body) = raw(&server.addr, request.as_bytes());
    assert_eq!(status, 404, "{}", &body[..body.len().min(300)]);
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    let message = err["message"].as_str().unwrap();
    assert!(message.starts_with("there is no user \"aaaa") && message.ends_with('…'), "{message}");
    assert!(message.matches('a').count() <= 100 && body.len() < 400, "{} bytes: {message}", body.len());
}

#[test]
fn an_inbox_row_of_an_unknown_kind_is_skipped_and_reported() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    ok(&a, &["send", "bob", "first", "--new"]);
    assert_eq!(texts(&read(&b)), vec!["first"]);
    ok(&a, &["send", "bob", "second"]);
    ok(&a, &["send", "bob", "third"]);
    let addr = server.addr.clone();
    drop(server);

    // A row this server does not know (written by a newer version, or by hand).
    operator_sql(
        &data,
        "UPDATE messages SET kind = 'from_the_future' WHERE id = (SELECT MIN(m.id) FROM messages m JOIN inbox i ON i.message_id = m.id WHERE m.kind = 'message');",
    );
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics = format!("127.0.0.1:{metrics_port}");
    // The same address: the clients' homes remember it.
    let server = Server::start_with(&data, &addr, &["--metrics-listen", &metrics]);
    // bob reads what comes after it, instead of a 500 on every read.
    assert_eq!(texts(&read(&b)), vec!["third"]);
    ok(&b, &["send", "alice", "still here"]);
    assert_eq!(texts(&read(&a)), vec!["still here"]);

    let log = server.log.lock().unwrap().join("\n");
    assert!(log.contains("skipped an inbox row of an unknown kind") && log.contains("from_the_future"), "{log}");
    let (status, _, scrape) = raw(&metrics, b"GET /metrics HTTP/1.1\r\nHost: hush\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 200);
    let skipped: u64 = scrape
        .lines()
        .find_map(|l| l.strip_prefix("hush_inbox_unknown_rows_total "))
        .expect("the counter is exposed")
        .trim()
        .parse()
        .unwrap();
    assert!(skipped >= 1, "{scrape}");
}

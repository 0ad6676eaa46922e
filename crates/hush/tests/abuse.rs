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

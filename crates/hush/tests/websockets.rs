//! Push WebSockets against the real binary: 2,000 idle sockets of other devices while two
//! people chat (every message delivered, every push arriving), the per-device cap (a
//! device's oldest socket is closed by the newest), revocation closing a device's
//! sockets, and the ping deadline (a socket that never answers a ping is closed, one that
//! does stays open).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use futures_util::StreamExt as _;
use hush_core::auth::{canonical_request, fresh_nonce};
use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
use hush_core::mls::{self, Device, HushProvider};
use hush_proto::{B64, DeviceUpload, RegisterRequest};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Devices of other people holding idle sockets in the crowd test.
const IDLE_DEVICES: usize = 500;
/// Sockets each of them holds (the most a device may).
const SOCKETS_EACH: usize = 4;

/// A device with real keys, registered over the API (faster than the CLI, for crowds).
struct RawDevice {
    username: String,
    identity: SecretKey,
    key: SecretKey,
    device_id: String,
}

impl RawDevice {
    fn new(username: &str) -> RawDevice {
        Self::of(username, SecretKey::generate())
    }

    fn of(username: &str, identity: SecretKey) -> RawDevice {
        RawDevice { username: username.to_owned(), identity, key: SecretKey::generate(), device_id: new_device_id() }
    }

    /// Another device of the same user.
    fn sibling(&self) -> RawDevice {
        Self::of(&self.username, SecretKey::from_bytes(&*self.identity.to_bytes()).expect("key"))
    }

    fn upload(&self) -> DeviceUpload {
        let cert = DeviceCertificate::issue(&self.identity, &self.username, &self.device_id, self.key.public());
        let provider = HushProvider::new().expect("provider");
        let (kps, last) = mls::key_packages(&provider, &Device { key: &self.key, certificate: &cert }, 1).expect("key packages");
        DeviceUpload { certificate: B64(cert.encode()), key_packages: kps.into_iter().map(B64).collect(), last_resort: B64(last) }
    }

    /// The signature headers of a request.
    fn headers(&self, method: &str, path: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let timestamp = hush_core::now_ms();
        let nonce = fresh_nonce();
        let signature = self.key.sign(&canonical_request(method, path, timestamp, &nonce, body));
        vec![
            (hush_proto::HEADER_DEVICE, self.device_id.clone()),
            (hush_proto::HEADER_TIMESTAMP, timestamp.to_string()),
            (hush_proto::HEADER_NONCE, nonce),
            (hush_proto::HEADER_SIGNATURE, URL_SAFE_NO_PAD.encode(signature)),
        ]
    }

    async fn post(&self, http: &reqwest::Client, url: &str, path: &str, body: &impl serde::Serialize) -> reqwest::Response {
        let body = serde_json::to_vec(body).unwrap();
        let mut req = http.post(format!("{url}{path}")).header("content-type", "application/json");
        for (k, v) in self.headers("POST", path, &body) {
            req = req.header(k, v);
        }
        req.body(body).send().await.expect("request")
    }

    /// Registers this device's user with it as the first device.
    async fn register(&self, http: &reqwest::Client, url: &str) {
        let req = RegisterRequest {
            username: self.username.clone(),
            identity_key: B64(self.identity.public().0.to_vec()),
            device: self.upload(),
            invite: None,
        };
        let res = self.post(http, url, "/v1/register", &req).await;
        assert_eq!(res.status().as_u16(), 201, "{:?}", res.text().await);
    }

    /// Adds this device to its user (the user's other devices get a `device_added` item).
    async fn add(&self, http: &reqwest::Client, url: &str) {
        let res = self.post(http, url, "/v1/devices", &self.upload()).await;
        assert_eq!(res.status().as_u16(), 201, "{:?}", res.text().await);
    }

    async fn revoke(&self, http: &reqwest::Client, url: &str, device_id: &str) {
        let res = self.post(http, url, &format!("/v1/devices/{device_id}/revoke"), &serde_json::json!({})).await;
        assert_eq!(res.status().as_u16(), 204, "{:?}", res.text().await);
    }

    async fn websocket(&self, addr: &str) -> Socket {
        connect(&format!("ws://{addr}/v1/ws"), self.headers("GET", "/v1/ws", b"")).await
    }
}

/// Opens a WebSocket with these (signed) headers.
async fn connect(url: &str, headers: Vec<(&'static str, String)>) -> Socket {
    let mut request = url.into_client_request().unwrap();
    for (k, v) in headers {
        request.headers_mut().insert(k, v.parse().unwrap());
    }
    let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket opens");
    socket
}

/// The next text frame or close within `limit` (pings in between are answered).
async fn next_event(socket: &mut Socket, limit: Duration) -> Option<Message> {
    tokio::time::timeout(limit, async {
        loop {
            match socket.next().await {
                Some(Ok(m @ (Message::Text(_) | Message::Close(_)))) => return Some(m),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("nothing within {limit:?}"))
}

/// Whether a frame is already waiting (without waiting).
async fn pending_text(socket: &mut Socket) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_millis(1), socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
            Ok(Some(Ok(Message::Close(c)))) => return Some(format!("closed: {c:?}")),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Some(format!("error: {e}")),
            Ok(None) => return Some("ended".into()),
            Err(_) => return None,
        }
    }
}

/// Server frames (unmasked, short) as (opcode, payload).
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let (op, len) = (bytes[0] & 0x0f, usize::from(bytes[1] & 0x7f));
        assert!(len < 126 && bytes.len() >= 2 + len, "a short frame: {bytes:?}");
        out.push((op, bytes[2..2 + len].to_vec()));
        bytes = &bytes[2 + len..];
    }
    assert!(bytes.is_empty(), "whole frames: {bytes:?}");
    out
}

fn close_code(m: &Option<Message>) -> Option<u16> {
    match m {
        Some(Message::Close(Some(c))) => Some(c.code.into()),
        _ => None,
    }
}

/// The test process needs a descriptor per socket: raise the soft limit to the hard one.
fn raise_fd_limit(want: u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft < want {
        limit.current = Some(limit.maximum.map_or(want, |m| m.min(want)));
        setrlimit(Resource::Nofile, limit).expect("raise the open-file limit");
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    assert!(now >= want, "this test needs {want} open files; the limit is {now}");
}

/// The server's resident memory, in MiB.
fn rss_mib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    kib / 1024
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn two_thousand_idle_websockets_of_other_devices_do_not_stop_a_chat_or_its_pushes() {
    raise_fd_limit(8192);
    let dir = tempdir();
    // The crowd never reads its sockets, so it never answers a ping: no pings while it
    // gathers (the ping test is below).
    let server = Server::start_with(&dir.path().join("data"), "127.0.0.1:0", &["--websocket-ping-secs", "3600", "--max-connections-per-ip", "4000"]);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    let out = hush_stdin(&a, &["send", "bob", "--stdin", "--new"], "hello before the crowd");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(texts(&read(&b)), vec!["hello before the crowd"]);

    let rt = runtime();
    let http = http_client();
    let before = rss_mib(&server);
    // The crowd: other people's devices, each with its sockets, all idle.
    let started = Instant::now();
    let crowd: Vec<RawDevice> = (0..IDLE_DEVICES).map(|i| RawDevice::new(&format!("idle{i:04}"))).collect();
    rt.block_on(async {
        for chunk in crowd.chunks(8) {
            futures_util::future::join_all(chunk.iter().map(|d| d.register(&http, &server.url))).await;
        }
    });
    let registered = started.elapsed();
    let mut idle: Vec<Vec<Socket>> = rt.block_on(async {
        let mut all = Vec::new();
        for d in &crowd {
            let mut sockets = Vec::new();
            for _ in 0..SOCKETS_EACH {
                sockets.push(d.websocket(&server.addr).await);
            }
            all.push(sockets);
        }
        all
    });
    let with_sockets = rss_mib(&server);
    eprintln!(
        "{} devices registered in {registered:?}, {} idle sockets open after {:?}; server memory {before} MiB before, {with_sockets} MiB with them",
        crowd.len(),
        crowd.len() * SOCKETS_EACH,
        started.elapsed()
    );

    // bob listens as the app does: the client library's request, its notifier.
    let (ws_url, ws_headers) = {
        let _runtime = rt.enter();
        let c = hush_client::Client::open(&b, PASS.as_bytes(), &Default::default()).expect("open bob");
        c.websocket_request().expect("websocket request")
    };
    let mut bob_push = rt.block_on(hush_client::push::connect(&ws_url, ws_headers, &Default::default())).expect("bob's push");

    let sent = Instant::now();
    let lines: Vec<String> = (1..=10).map(|i| format!("message {i} past the crowd")).collect();
    for line in &lines {
        ok(&a, &["send", "bob", line]);
        let pushed = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), bob_push.next()).await });
        assert_eq!(pushed, Ok(hush_client::push::Push::Inbox), "bob's push for {line:?} arrives");
    }
    eprintln!("10 messages sent, each pushed, in {:?}", sent.elapsed());
    assert_eq!(texts(&read(&b)), lines, "every message delivered, in order");
    ok(&b, &["send", "alice", "bob answers through the crowd"]);
    assert_eq!(texts(&read(&a)), vec!["bob answers through the crowd"]);

    // None of the idle sockets was woken, closed, or dropped.
    rt.block_on(async {
        for (d, sockets) in crowd.iter().zip(idle.iter_mut()) {
            for s in sockets.iter_mut() {
                assert_eq!(pending_text(s).await, None, "{}'s idle socket got nothing", d.username);
            }
        }
    });

    // A push to one of them wakes its sockets and no one else's.
    rt.block_on(async {
        crowd[0].sibling().add(&http, &server.url).await;
        for s in idle[0].iter_mut() {
            assert_eq!(next_event(s, Duration::from_secs(10)).await.and_then(|m| m.into_text().ok()).as_deref(), Some("inbox"));
        }
        for sockets in &mut idle[1..] {
            for s in sockets.iter_mut() {
                assert_eq!(pending_text(s).await, None);
            }
        }
    });

    // Closing them all leaves a server that still serves.
    rt.block_on(async {
        for sockets in idle.drain(..) {
            for mut s in sockets {
                let _ = s.close(None).await;
            }
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    eprintln!("server memory after the sockets closed: {} MiB", rss_mib(&server));
    ok(&a, &["send", "bob", "after the crowd left"]);
    assert_eq!(texts(&read(&b)), vec!["after the crowd left"]);
}

#[test]
fn a_device_holds_at_most_four_websockets_and_the_oldest_gives_way() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let rt = runtime();
    let http = http_client();
    rt.block_on(async {
        let dev = RawDevice::new("carol");
        dev.register(&http, &server.url).await;
        let mut sockets = Vec::new();
        for _ in 0..4 {
            sockets.push(dev.websocket(&server.addr).await);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for s in &mut sockets {
            assert_eq!(pending_text(s).await, None, "four fit");
        }
        // A fifth closes the oldest, with the code that says why.
        sockets.push(dev.websocket(&server.addr).await);
        let oldest = next_event(&mut sockets[0], Duration::from_secs(5)).await;
        assert_eq!(close_code(&oldest), Some(4409), "{oldest:?}");
        let mut open: Vec<Socket> = sockets.drain(1..).collect();
        for s in &mut open {
            assert_eq!(pending_text(s).await, None, "the other four stay open");
        }

        // The four left get the device's pushes.
        let second = dev.sibling();
        second.add(&http, &server.url).await;
        for s in &mut open {
            let m = next_event(s, Duration::from_secs(5)).await;
            assert_eq!(m.and_then(|m| m.into_text().ok()).as_deref(), Some("inbox"));
        }

        // Six more in a row: still four open, the newest ones.
        let mut newer = Vec::new();
        for _ in 0..6 {
            newer.push(dev.websocket(&server.addr).await);
        }
        for s in open.iter_mut().chain(newer[..2].iter_mut()) {
            let m = next_event(s, Duration::from_secs(5)).await;
            assert_eq!(close_code(&m), Some(4409), "{m:?}");
        }
        for s in &mut newer[2..] {
            assert_eq!(pending_text(s).await, None);
        }

        // Revoking the device closes its sockets (policy violation, 1008).
        second.revoke(&http, &server.url, &dev.device_id).await;
        for s in &mut newer[2..] {
            let m = next_event(s, Duration::from_secs(5)).await;
            assert_eq!(close_code(&m), Some(1008), "{m:?}");
        }
    });
}

#[test]
fn a_websocket_that_never_answers_a_ping_is_closed() {
    let dir = tempdir();
    let server = Server::start_with(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &["--websocket-ping-secs", "1", "--websocket-pong-deadline-secs", "1"],
    );
    let rt = runtime();
    let http = http_client();
    rt.block_on(async {
        let dev = RawDevice::new("dave");
        dev.register(&http, &server.url).await;
        // This one is never read, so its pings are never answered.
        let mut silent = dev.websocket(&server.addr).await;
        // This one is read all along (tungstenite answers each ping as it reads).
        let mut alive = dev.websocket(&server.addr).await;
        let reader = tokio::spawn(async move {
            let mut pings = 0;
            let until = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                match tokio::time::timeout_at(until, alive.next()).await {
                    Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
                    Ok(Some(Ok(m))) => panic!("the answering socket got {m:?}"),
                    Ok(Some(Err(e))) => panic!("the answering socket failed: {e}"),
                    Ok(None) => panic!("the answering socket was closed"),
                    Err(_) => return (pings, alive),
                }
            }
        });
        let (pings, mut alive) = reader.await.expect("reader");
        assert!(pings >= 3, "pinged every second: {pings} pings in 5 s");

        // By now the silent one was closed: its connection ends with the server's close
        // frame (1001). Read as raw bytes: a WebSocket library would first try to answer the
        // pings and fail on the closed connection.
        let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = silent.get_mut() else { panic!("plain TCP") };
        let mut bytes = Vec::new();
        let ended = tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read_to_end(tcp, &mut bytes)).await;
        assert!(matches!(ended, Ok(Ok(_))), "the server closed the silent socket: {ended:?}");
        let frames = frames(&bytes);
        assert!(frames.iter().filter(|(op, _)| *op == 0x9).count() >= 1, "it was pinged: {frames:?}");
        let (op, payload) = frames.last().expect("frames");
        assert_eq!((*op, &payload[..2]), (0x8, &1001u16.to_be_bytes()[..]), "{frames:?}");

        // The answering one still gets pushes.
        dev.sibling().add(&http, &server.url).await;
        let m = next_event(&mut alive, Duration::from_secs(5)).await;
        assert_eq!(m.and_then(|m| m.into_text().ok()).as_deref(), Some("inbox"));
    });
}

#[test]
fn hush_watch_comes_back_after_a_server_restart_and_gives_way_with_a_sentence_when_replaced() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    ok(&a, &["send", "bob", "before the restart", "--new"]);
    let mut watch = std::process::Command::new(hush_bin())
        .arg("--home")
        .arg(&b)
        .args(["watch", "--json"])
        .env("HUSH_PASSPHRASE", PASS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn watch");
    let stdout = watch.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_text = |rx: &std::sync::mpsc::Receiver<String>, watch: &mut std::process::Child| loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = watch.kill();
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut watch.stderr.take().expect("stderr"), &mut err);
            panic!("watch printed no message: {err}");
        };
        let m: serde_json::Value = serde_json::from_str(&line).expect("json line");
        if m["kind"] == "text" {
            return m["text"].as_str().unwrap_or_default().to_owned();
        }
    };
    assert_eq!(next_text(&rx, &mut watch), "before the restart");

    // The server goes away and comes back on the same address: watch reconnects by itself.
    let addr = server.addr.clone();
    server.kill9();
    std::thread::sleep(Duration::from_secs(2));
    let server = Server::start(&data, &addr);
    ok(&a, &["send", "bob", "after the restart"]);
    assert_eq!(next_text(&rx, &mut watch), "after the restart");

    // Four more live connections of bob's device: the oldest, watch's, gives way, and
    // watch says why instead of fighting for it.
    let rt = runtime();
    let _sockets: Vec<Socket> = (0..4)
        .map(|_| {
            let (url, headers) = {
                let c = hush_client::Client::open(&b, PASS.as_bytes(), &Default::default()).expect("open bob");
                c.websocket_request().expect("websocket request")
            };
            rt.block_on(connect(&url, headers))
        })
        .collect();
    let status = watch.wait().expect("watch ends");
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut watch.stderr.take().expect("stderr"), &mut err).expect("stderr");
    assert!(err.contains("reconnecting") && err.contains("the live connection is back"), "{err}");
    assert!(err.contains("opened more live connections elsewhere"), "{err}");
    drop(server);
}

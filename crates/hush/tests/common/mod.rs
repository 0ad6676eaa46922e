//! Test harness: the real `hush` binary, a real `hush server` on 127.0.0.1, and a hostile
//! proxy that sits between clients and the server and misbehaves on purpose.
#![allow(dead_code)]

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::type_complexity, reason = "a failed expectation is the test failing")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

pub const PASS: &str = "correct horse battery staple";

pub fn hush_bin() -> &'static str {
    env!("CARGO_BIN_EXE_hush")
}

/// A `hush server` child process.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub addr: String,
    pub data: PathBuf,
    /// What the server wrote on standard error after its startup line.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts a server on an OS-chosen port (or `listen`) and waits until it listens.
    pub fn start(data: &Path, listen: &str) -> Server {
        Self::start_with(data, listen, &[])
    }

    /// Like [`Server::start`] with more `hush server` flags.
    pub fn start_with(data: &Path, listen: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(hush_bin())
            .args(["server", "--listen", listen, "--data"])
            .arg(data)
            .args(extra)
            .env("HUSH_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut addr = String::new();
        let mut scheme = "http";
        let mut early = Vec::new();
        for line in lines.by_ref() {
            let line = line.expect("read stderr");
            if let Some(rest) = line.strip_prefix("hush server listening on http://") {
                addr = rest.trim().to_owned();
                break;
            }
            if let Some(rest) = line.strip_prefix("hush server listening on https://") {
                addr = rest.trim().to_owned();
                scheme = "https";
                break;
            }
            early.push(line);
        }
        assert!(!addr.is_empty(), "server did not start: {}", early.join("\n"));
        // Keep draining so the server never blocks on a full pipe.
        let log = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                keep.lock().unwrap().push(line);
            }
        });
        Server { child, url: format!("{scheme}://{addr}"), addr, data: data.to_owned(), log }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `hush --home HOME args...` with the test passphrase.
pub fn hush(home: &Path, args: &[&str]) -> Output {
    Command::new(hush_bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .env("HUSH_PASSPHRASE", PASS)
        .output()
        .expect("run hush")
}

/// Like [`hush`] with standard input.
pub fn hush_stdin(home: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(hush_bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .env("HUSH_PASSPHRASE", PASS)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    child.wait_with_output().expect("wait")
}

/// Runs hush and asserts success; returns stdout.
#[track_caller]
pub fn ok(home: &Path, args: &[&str]) -> String {
    let out = hush(home, args);
    assert!(
        out.status.success(),
        "hush {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs hush and asserts failure with one line on stderr; returns stderr.
#[track_caller]
pub fn fails(home: &Path, args: &[&str]) -> String {
    let out = hush(home, args);
    assert!(!out.status.success(), "hush {args:?} should have failed: {}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim().lines().count(), 1, "one sentence expected, got: {err}");
    err
}

pub fn register(home: &Path, user: &str, url: &str) {
    ok(home, &["register", user, "--server", url, "--skip-phrase-check"]);
}

/// Registers and returns the recovery phrase it printed.
pub fn register_with_phrase(home: &Path, user: &str, url: &str) -> String {
    let out = ok(home, &["register", user, "--server", url, "--skip-phrase-check"]);
    let words: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().chars().next().is_some_and(|c| c.is_ascii_digit()))
        .flat_map(|l| l.split_whitespace().filter(|w| !w.ends_with('.')))
        .collect();
    assert_eq!(words.len(), 24, "{out}");
    words.join(" ")
}

/// Messages from `hush read --json`.
pub fn read(home: &Path) -> Vec<serde_json::Value> {
    ok(home, &["read", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// The texts (kind "text") from a read.
pub fn texts(msgs: &[serde_json::Value]) -> Vec<String> {
    msgs.iter()
        .filter(|m| m["kind"] == "text")
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub fn warnings(msgs: &[serde_json::Value]) -> Vec<String> {
    msgs.iter()
        .filter(|m| m["kind"] == "warning")
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Every file under `dir`, concatenated.
pub fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            let kind = e.file_type().expect("type");
            if kind.is_dir() {
                stack.push(e.path());
            } else if kind.is_file() {
                // Not the running server's admin socket.
                out.extend(std::fs::read(e.path()).expect("read"));
            }
        }
    }
    out
}

pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

// ------------------------------------------------------------------ hostile proxy

/// What the proxy does to traffic.
pub type Rewrite = Arc<dyn Fn(&str, &str, Vec<u8>) -> Vec<u8> + Send + Sync>;

/// A real HTTP proxy in front of the real server. `rewrite(method, path, response_body)`
/// may change any answer the clients get.
pub struct Proxy {
    pub url: String,
    rewrite: Arc<Mutex<Option<Rewrite>>>,
    router: Arc<Mutex<Option<Router>>>,
    tap: Arc<Mutex<Option<Tap>>>,
    _rt: tokio::runtime::Runtime,
}

/// Sees each request body: `(method, path, body)`.
pub type Tap = Arc<dyn Fn(&str, &str, &[u8]) + Send + Sync>;

/// Picks another upstream for a request: `(method, path, calling device id)`.
pub type Router = Arc<dyn Fn(&str, &str, Option<&str>) -> Option<String> + Send + Sync>;

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        let rewrite: Arc<Mutex<Option<Rewrite>>> = Arc::new(Mutex::new(None));
        let router: Arc<Mutex<Option<Router>>> = Arc::new(Mutex::new(None));
        let upstream = upstream.to_owned();
        let rw = rewrite.clone();
        let rt_router = router.clone();
        let tap: Arc<Mutex<Option<Tap>>> = Arc::new(Mutex::new(None));
        let rt_tap = tap.clone();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        rt.spawn(async move {
            let client = http_client();
            let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                let client = client.clone();
                let upstream = upstream.clone();
                let rw = rw.clone();
                let rt_router = rt_router.clone();
                let rt_tap = rt_tap.clone();
                async move {
                    let method = req.method().clone();
                    let path = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
                    let headers = req.headers().clone();
                    let device = headers.get(hush_proto::HEADER_DEVICE).and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let route = rt_router.lock().expect("lock").clone();
                    let upstream = route
                        .and_then(|r| r(method.as_str(), &path, device.as_deref()))
                        .unwrap_or(upstream);
                    let body = axum::body::to_bytes(req.into_body(), 64 << 20).await.unwrap_or_default();
                    let t = rt_tap.lock().expect("lock").clone();
                    if let Some(t) = t {
                        t(method.as_str(), &path, &body);
                    }
                    let mut fwd = client.request(method.clone(), format!("{upstream}{path}")).body(body.to_vec());
                    for (k, v) in headers.iter() {
                        if k != "host" && k != "content-length" {
                            fwd = fwd.header(k, v);
                        }
                    }
                    let resp = fwd.send().await.expect("upstream");
                    let status = resp.status();
                    let ctype = resp.headers().get("content-type").cloned();
                    let mut bytes = resp.bytes().await.unwrap_or_default().to_vec();
                    let f = rw.lock().expect("lock").clone();
                    if let Some(f) = f {
                        bytes = f(method.as_str(), &path, bytes);
                    }
                    let mut r = axum::response::Response::builder().status(status);
                    if let Some(c) = ctype {
                        r = r.header("content-type", c);
                    }
                    r.body(axum::body::Body::from(bytes)).expect("response")
                }
            });
            axum::serve(listener, app).await.expect("serve");
        });
        Proxy { url: format!("http://{addr}"), rewrite, router, tap, _rt: rt }
    }

    pub fn tap(&self, t: Option<Tap>) {
        *self.tap.lock().expect("lock") = t;
    }

    pub fn route(&self, r: Option<Router>) {
        *self.router.lock().expect("lock") = r;
    }

    pub fn set(&self, f: Option<Rewrite>) {
        *self.rewrite.lock().expect("lock") = f;
    }
}

/// Rewrites the items of an inbox answer.
pub fn edit_inbox(body: Vec<u8>, f: impl FnOnce(&mut Vec<hush_proto::InboxItem>)) -> Vec<u8> {
    let Ok(mut inbox) = serde_json::from_slice::<hush_proto::InboxResponse>(&body) else {
        return body;
    };
    f(&mut inbox.items);
    serde_json::to_vec(&inbox).expect("json")
}

/// A plain reqwest client. reqwest is built with rustls but no crypto provider of its
/// own (hush hands it a ring configuration), so tests name the process default first.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("hush-test-").tempdir().expect("tempdir")
}

/// Runs SQL on a stopped server's database, as an operator with shell access could.
pub fn operator_sql(data: &Path, sql: &str) {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()")
        .arg(data.join("hush.db"))
        .arg(sql)
        .output()
        .expect("python3");
    assert!(out.status.success(), "sql failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs a query on the server's database as an operator could; each row's columns as
/// text (blobs as lowercase hex).
pub fn operator_query(data: &Path, sql: &str) -> Vec<Vec<String>> {
    let script = "import sqlite3,sys,json\n\
c=sqlite3.connect(sys.argv[1])\n\
rows=[[x.hex() if isinstance(x,bytes) else ('' if x is None else str(x)) for x in r] for r in c.execute(sys.argv[2])]\n\
print(json.dumps(rows))";
    let out = Command::new("python3").arg("-c").arg(script).arg(data.join("hush.db")).arg(sql).output().expect("python3");
    assert!(out.status.success(), "query failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json rows")
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        let kind = e.file_type().expect("type");
        if kind.is_dir() {
            copy_dir(&e.path(), &dest);
        } else if kind.is_file() {
            // Not the running server's admin socket.
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}

/// A device id from `hush whoami --json`.
pub fn device_id(home: &Path) -> String {
    let v: serde_json::Value = serde_json::from_str(&ok(home, &["whoami", "--json"])).expect("json");
    v["device_id"].as_str().expect("device id").to_owned()
}

/// `hush recover USER` on a new home with the recovery phrase.
pub fn recover(home: &Path, user: &str, url: &str, phrase: &str) -> Output {
    Command::new(hush_bin())
        .arg("--home")
        .arg(home)
        .args(["recover", user, "--server", url])
        .env("HUSH_PASSPHRASE", PASS)
        .env("HUSH_RECOVERY_PHRASE", phrase)
        .output()
        .expect("run")
}

/// Makes the proxy answer for `user` with an identity key and a device of the server's
/// own, consistently (directory record and KeyPackage claim).
pub fn answer_for_user_with_forged_keys(proxy: &Proxy, user: &str) {
    use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
    use hush_core::mls::{self, Device, HushProvider};
    use hush_proto::B64;
    let forged = SecretKey::generate();
    let dev = SecretKey::generate();
    let device_id = new_device_id();
    let cert = DeviceCertificate::issue(&forged, user, &device_id, dev.public());
    let provider = HushProvider::new().expect("provider");
    let (kps, _) = mls::key_packages(&provider, &Device { key: &dev, certificate: &cert }, 1).expect("kp");
    let (kp, cert_bytes, ik) = (kps[0].clone(), cert.encode(), forged.public());
    let (record_path, claim_path, user) = (format!("/v1/users/{user}"), format!("/v1/users/{user}/claim"), user.to_owned());
    proxy.set(Some(Arc::new(move |m, p, body| {
        if m == "GET" && p == record_path {
            return serde_json::to_vec(&hush_proto::UserRecord {
                username: user.clone(),
                identity_key: B64(ik.0.to_vec()),
                devices: vec![hush_proto::DeviceRecord { device_id: device_id.clone(), certificate: B64(cert_bytes.clone()) }],
            })
            .expect("json");
        }
        if m == "POST" && p == claim_path {
            return serde_json::to_vec(&hush_proto::ClaimResponse {
                key_packages: vec![hush_proto::ClaimedKeyPackage { device_id: device_id.clone(), key_package: B64(kp.clone()) }],
            })
            .expect("json");
        }
        body
    })));
}

/// The hostile-server set-up: a real server, a proxy in front of it, and one registered
/// home per user, all talking through the proxy.
pub fn behind_proxy(users: &[&str]) -> (tempfile::TempDir, Server, Proxy, Vec<PathBuf>) {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let proxy = Proxy::start(&server.url);
    let homes = users
        .iter()
        .map(|u| {
            let h = dir.path().join(u);
            register(&h, u, &proxy.url);
            h
        })
        .collect();
    (dir, server, proxy, homes)
}

/// Whether a request is an inbox fetch.
pub fn is_inbox(method: &str, path: &str) -> bool {
    method == "GET" && path.starts_with("/v1/inbox")
}

/// Links a new device of `user` at `new_home`, approved from `approver`.
pub fn link_device(new_home: &Path, user: &str, url: &str, approver: &Path) {
    let mut child = Command::new(hush_bin())
        .arg("--home")
        .arg(new_home)
        .args(["device", "link", user, "--server", url])
        .env("HUSH_PASSPHRASE", PASS)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn link");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let code = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.trim().strip_prefix("hush device approve ").map(str::to_owned))
        .expect("a link code");
    assert_eq!(code.len(), 11, "a link code looks like K7QD-482913: {code}");
    let drain = std::thread::spawn(move || lines.count());
    ok(approver, &["device", "approve", &code]);
    assert!(child.wait().expect("wait").success(), "the new device is linked");
    drain.join().expect("drain");
}

/// Lowercase hex (as `operator_query` gives blobs) to bytes.
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

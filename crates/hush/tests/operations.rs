//! Running hush as an operator: the config file, registration by invitation, the admin
//! commands (users, disable, enable, delete-user, stats), the data directory's lock and
//! writability checks, Prometheus metrics and the logs. Real binary, real server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `hush server` whose standard error is kept, line by line.
struct Running {
    child: Child,
    url: String,
    addr: String,
    metrics: Option<String>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// Starts `hush server --data DATA --listen 127.0.0.1:0 EXTRA...` with `HUSH_LOG=log`
    /// and waits until it listens (the plain "listening" line, or the JSON log line).
    fn start(data: &Path, extra: &[&str], log: &str) -> Running {
        Self::start_on("127.0.0.1:0", data, extra, log)
    }

    /// Like [`Running::start`] on this address.
    fn start_on(listen: &str, data: &Path, extra: &[&str], log: &str) -> Running {
        let mut child = Command::new(hush_bin())
            .args(["server", "--listen", listen, "--data"])
            .arg(data)
            .args(extra)
            .env("HUSH_LOG", log)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let keep = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let (mut addr, mut metrics) = (String::new(), None);
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
            if let Some(m) = line.strip_prefix("hush server metrics on http://") {
                metrics = Some(m.trim().trim_end_matches("/metrics").to_owned());
            }
            if let Some(rest) = line.strip_prefix("hush server listening on http://") {
                addr = rest.trim().to_owned();
                break;
            }
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                let msg = v["fields"]["message"].as_str().unwrap_or_default();
                let at = v["fields"]["addr"].as_str().unwrap_or_default().to_owned();
                if msg == "serving metrics" {
                    metrics = Some(at);
                } else if msg == "hush server listening" {
                    addr = at;
                    break;
                }
            }
        }
        assert!(!addr.is_empty(), "server did not start: {:?}", lines.lock().unwrap());
        Running { child, url: format!("http://{addr}"), addr, metrics, lines }
    }

    fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hush server ARGS...` (no home needed).
fn server_cmd(args: &[&str]) -> Output {
    Command::new(hush_bin()).arg("server").args(args).env_remove("HUSH_DATA").env_remove("HUSH_CONFIG").output().expect("run hush server")
}

fn server_ok(args: &[&str]) -> String {
    let out = server_cmd(args);
    assert!(out.status.success(), "hush server {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails with one sentence on standard error; returns it.
#[track_caller]
fn server_fails(args: &[&str]) -> String {
    let out = server_cmd(args);
    assert!(!out.status.success(), "hush server {args:?} should have failed: {}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim().lines().count(), 1, "one sentence expected, got: {err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A plain HTTP/1.1 GET: (status, headers lowercased, body).
fn http_get(addr: &str, path: &str) -> (u16, Vec<(String, String)>, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// Scrapes `/metrics` and parses it with the Prometheus project's own text-format parser
/// (Debian's python3-prometheus-client): `[(sample name, labels, value)]`.
fn scrape(metrics_addr: &str) -> Vec<(String, serde_json::Map<String, serde_json::Value>, f64)> {
    let (status, headers, body) = http_get(metrics_addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    let ctype = headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.clone()).unwrap_or_default();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let script = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for smp in fam.samples:
        out.append([smp.name, smp.labels, smp.value])
print(json.dumps(out))
"#;
    let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the Prometheus parser refused the exposition: {}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<(String, serde_json::Map<String, serde_json::Value>, f64)> = serde_json::from_slice(&out.stdout).unwrap();
    rows
}

fn value(samples: &[(String, serde_json::Map<String, serde_json::Value>, f64)], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).and_then(|x| x.as_str()) == Some(v)))
        .map(|(_, _, v)| *v)
}

/// Waits (up to a minute) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `hush watch` for `home`, its standard error kept.
fn watch(home: &Path) -> Child {
    Command::new(hush_bin())
        .arg("--home")
        .arg(home)
        .args(["watch", "--json"])
        .env("HUSH_PASSPHRASE", PASS)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch")
}

#[test]
fn the_config_file_sets_everything_flags_and_environment_win_and_unknown_keys_are_refused() {
    let dir = tempdir();
    let config = dir.path().join("hush.toml");
    let data = dir.path().join("from-file");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:7790\"\ndata_dir = \"{}\"\nregistration = \"invite\"\nquota_bytes = 1000\nmetrics_listen = \"127.0.0.1:9099\"\nlog_format = \"json\"\n",
            s(&data)
        ),
    )
    .unwrap();
    let printed = server_ok(&["--config", s(&config), "--print-config", "--quota-bytes", "2000"]);
    assert!(printed.contains("listen = \"127.0.0.1:7790\""), "{printed}");
    assert!(printed.contains(&format!("data_dir = \"{}\"", s(&data))), "{printed}");
    assert!(printed.contains("registration = \"invite\""), "{printed}");
    assert!(printed.contains("quota_bytes = 2000"), "the flag wins over the file: {printed}");
    assert!(printed.contains("metrics_listen = \"127.0.0.1:9099\""), "{printed}");
    assert!(printed.contains("log_format = \"json\""), "{printed}");
    assert!(!data.exists(), "--print-config starts nothing");
    // The environment wins over the file too (HUSH_CONFIG names the file).
    let out = Command::new(hush_bin())
        .args(["server", "--print-config"])
        .env("HUSH_CONFIG", &config)
        .env("HUSH_REGISTRATION", "closed")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("registration = \"closed\""));

    // The file really drives the server: invitation-only registration from the file.
    std::fs::write(&config, format!("data_dir = \"{}\"\nregistration = \"invite\"\n", s(&data))).unwrap();
    let server = Running::start(&data, &["--config", s(&config)], "warn");
    let err = fails(&dir.path().join("ann"), &["register", "ann", "--server", &server.url, "--skip-phrase-check"]);
    assert!(err.contains("by invitation only"), "{err}");
    drop(server);

    std::fs::write(&config, "listen = \"127.0.0.1:7790\"\nqouta_bytes = 5\n").unwrap();
    let err = server_fails(&["--config", s(&config)]);
    assert!(err.contains("unknown setting \"qouta_bytes\""), "{err}");
    std::fs::write(&config, "registration = \"sometimes\"\n").unwrap();
    let err = server_fails(&["--config", s(&config), "--print-config"]);
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn invitations_are_single_use_and_expire_registration_can_close_and_linking_still_works() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let server = Running::start_on(&listen, &data, &["--registration", "invite"], "warn");
    let reg = |user: &str, extra: &[&str]| {
        let mut args = vec!["register", user, "--server", &server.url, "--skip-phrase-check"];
        args.extend_from_slice(extra);
        hush(&dir.path().join(user), &args)
    };
    let one_sentence = |out: Output| {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        err
    };
    let err = one_sentence(reg("ann", &[]));
    assert!(
        err.contains("this server registers new accounts by invitation only: ask its operator for an invite"),
        "{err}"
    );

    let out = server_ok(&["invite", "--count", "2", "--data", s(&data)]);
    let tokens: Vec<&str> = out.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(tokens.len(), 2, "{out}");
    assert!(out.contains("single use, expires"), "{out}");
    // Only the token's hash is stored.
    let stored = operator_query(&data, "SELECT hex(token_hash) FROM invites");
    assert_eq!(stored.len(), 2);
    assert!(!contains(&all_bytes(&data), tokens[0]), "a token is stored in clear");

    let registered = reg("ann", &["--invite", tokens[0]]);
    assert!(registered.status.success(), "{}", String::from_utf8_lossy(&registered.stderr));
    let err = one_sentence(reg("ben", &["--invite", tokens[0]]));
    assert!(err.contains("this invitation was used already"), "{err}");
    let err = one_sentence(reg("ben", &["--invite", "not-a-token"]));
    assert!(err.contains("this invitation is not valid"), "{err}");

    let out = server_ok(&["invite", "--expires", "1s", "--json", "--data", s(&data)]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let short = v["tokens"][0].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(1500));
    let err = one_sentence(reg("ben", &["--invite", &short]));
    assert!(err.contains("this invitation expired"), "{err}");
    // The second token of the first batch still works once.
    assert!(reg("ben", &["--invite", tokens[1]]).status.success());

    // Linking a device to an existing account is not registration.
    link_device(&dir.path().join("ann2"), "ann", &server.url, &dir.path().join("ann"));
    drop(server);

    let server = Running::start_on(&listen, &data, &["--registration", "closed"], "warn");
    let out = hush(&dir.path().join("cid"), &["register", "cid", "--server", &server.url, "--skip-phrase-check"]);
    let err = one_sentence(out);
    assert!(err.contains("this server does not register new accounts"), "{err}");
    link_device(&dir.path().join("ben2"), "ben", &server.url, &dir.path().join("ben"));
    ok(&dir.path().join("ben2"), &["send", "ann", "hello from a linked device", "--new"]);
}

#[test]
fn the_operator_lists_disables_enables_and_deletes_accounts() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let err = server_fails(&["users", "--data", s(&data)]);
    assert!(err.contains(&format!("no hush server is running on {}", s(&data))), "{err}");

    let server = Running::start(&data, &["--metrics-listen", "127.0.0.1:0"], "warn");
    let metrics = server.metrics.clone().expect("metrics address");
    let (a, b, c) = (dir.path().join("ann"), dir.path().join("bob"), dir.path().join("cid"));
    for (home, user) in [(&a, "ann"), (&b, "bob"), (&c, "cid")] {
        register(home, user, &server.url);
    }
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, vec![7u8; 50_000]).unwrap();
    ok(&b, &["put", s(&file)]);
    ok(&a, &["send", "bob", "are you there?", "--new"]);

    let users: Vec<serde_json::Value> = serde_json::from_str(&server_ok(&["users", "--json", "--data", s(&data)])).unwrap();
    let names: Vec<&str> = users.iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann", "bob", "cid"]);
    let bob = &users[1];
    assert_eq!(bob["devices"], 1);
    assert_eq!(bob["disabled"], false);
    assert!(bob["storage_bytes"].as_u64().unwrap() >= 50_000, "{bob}");
    assert!(bob["last_active_ms"].as_i64().unwrap() > 0);
    let table = server_ok(&["users", "--data", s(&data)]);
    assert!(table.lines().any(|l| l.starts_with("bob") && l.contains("active")), "{table}");

    let stats: serde_json::Value = serde_json::from_str(&server_ok(&["stats", "--json", "--data", s(&data)])).unwrap();
    assert_eq!(stats["users"], 3);
    assert_eq!(stats["devices"], 3);
    assert!(stats["messages_queued"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["storage_bytes"].as_u64().unwrap() >= 50_000, "{stats}");
    assert!(stats["directory_epoch"].as_u64().unwrap() >= 3, "{stats}");

    // Disabling closes bob's live connection and refuses every signed request.
    let mut w = watch(&b);
    eventually("bob's watch is connected", || value(&scrape(&metrics), "hush_websockets_open", &[]).unwrap_or(0.0) >= 1.0);
    let out = server_ok(&["disable", "bob", "--data", s(&data)]);
    assert!(out.contains("disabled bob"), "{out}");
    let status = w.wait().unwrap();
    assert!(!status.success(), "bob's watch ends when his account is disabled");
    let mut werr = String::new();
    w.stderr.take().unwrap().read_to_string(&mut werr).unwrap();
    assert!(werr.contains("the server closed the live connection"), "{werr}");
    let err = fails(&b, &["read"]);
    assert!(err.contains("this account is disabled by the server's operator"), "{err}");
    let users: Vec<serde_json::Value> = serde_json::from_str(&server_ok(&["users", "--json", "--data", s(&data)])).unwrap();
    assert_eq!(users[1]["disabled"], true);
    let stats: serde_json::Value = serde_json::from_str(&server_ok(&["stats", "--json", "--data", s(&data)])).unwrap();
    assert_eq!(stats["disabled_users"], 1);

    server_ok(&["enable", "bob", "--data", s(&data)]);
    ok(&a, &["send", "bob", "welcome back"]);
    assert_eq!(texts(&read(&b)), ["welcome back"]);

    let err = server_fails(&["disable", "nobody", "--data", s(&data)]);
    assert!(err.contains("there is no user named nobody on this server"), "{err}");
    let err = server_fails(&["delete-user", "bob", "--data", s(&data)]);
    assert!(err.contains("pass --yes"), "{err}");

    // Deleting: rows, queued messages, files and uploads go; the directory says so.
    ok(&a, &["send", "bob", "a message bob never fetches"]);
    let out = server_ok(&["delete-user", "bob", "--yes", "--data", s(&data)]);
    assert!(out.contains("deleted bob: 1 device(s) and 1 file(s)"), "{out}");
    for (table, column) in [("users", "username"), ("devices", "username"), ("blobs", "owner"), ("uploads", "username"), ("backups", "username")] {
        let rows = operator_query(&data, &format!("SELECT COUNT(*) FROM {table} WHERE {column} = 'bob'"));
        assert_eq!(rows[0][0], "0", "{table} still holds bob");
    }
    let bob_device = device_id(&b);
    assert_eq!(operator_query(&data, &format!("SELECT COUNT(*) FROM inbox WHERE device_id = '{bob_device}'"))[0][0], "0");
    assert_eq!(std::fs::read_dir(data.join("blobs")).unwrap().count(), 0, "bob's file bytes are gone");
    let names: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&server_ok(&["users", "--json", "--data", s(&data)]))
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["ann", "cid"]);
    // Someone who looks bob up is told, from the key directory's proof, that he was deleted.
    let err = fails(&c, &["send", "bob", "hello?", "--new"]);
    assert!(err.contains("bob's account was deleted on the server"), "{err}");
    // A name that never existed still reads as unknown.
    let err = fails(&c, &["send", "nobody", "hello?", "--new"]);
    assert!(err.contains("there is no user named nobody"), "{err}");
    // Ann and cid carry on.
    ok(&c, &["send", "ann", "still here", "--new"]);
    assert!(texts(&read(&a)).contains(&"still here".to_owned()));
}

/// Removes the immutable attribute on drop, so the temporary directory can be removed.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    /// `chattr +i` on these paths; `None` where that does not work (no chattr, not root,
    /// or a file system without the attribute).
    fn set(paths: &[&Path]) -> Option<Immutable> {
        let mut done = Immutable(Vec::new());
        for p in paths {
            let ok = Command::new("chattr").arg("+i").arg(p).output().is_ok_and(|o| o.status.success());
            if !ok {
                return None;
            }
            done.0.push(p.to_path_buf());
        }
        Some(done)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg(p).output();
        }
    }
}

/// Makes `dir` refuse new files: `chattr +i` (works for root, which ignores permissions,
/// on file systems with the attribute), else `chmod a-w` (works for anyone else).
fn unwritable(dir: &Path) -> Option<Immutable> {
    if let Some(i) = Immutable::set(&[dir]) {
        return Some(i);
    }
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).ok()?;
    let probe = dir.join("probe");
    if std::fs::write(&probe, b"x").is_ok() {
        let _ = std::fs::remove_file(probe);
        return None;
    }
    Some(Immutable(Vec::new()))
}

#[test]
fn one_server_per_data_directory_and_storage_that_takes_no_writes_is_refused_or_answered_503() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Running::start(&data, &[], "warn");
    let err = server_fails(&["--listen", "127.0.0.1:0", "--data", s(&data)]);
    assert_eq!(err.trim(), format!("hush: another hush server is already using {}", s(&data)));
    register(&dir.path().join("ann"), "ann", &server.url);

    // While it runs: the data directory and the uploads directory stop taking new files.
    // What this exercises: /health's write probe and a chunk's part file both fail to be
    // created (EPERM from the immutable attribute, or EACCES without write permission),
    // which the server answers with 503 and a sentence, not 500. The database file itself
    // stays writable (SQLite keeps it open), so registration and messaging still work.
    let guard = unwritable(&data).map(|g| (g, unwritable(&data.join("uploads"))));
    let Some((_g1, Some(_g2))) = guard else {
        eprintln!("skipped: this machine can't make a directory unwritable (no chattr, and running as root)");
        return;
    };
    let (status, _, body) = http_get(&server.addr, "/health");
    assert_eq!(status, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "unavailable");
    assert_eq!(v["message"], "the server can't write to its storage right now; try again later");
    let file = dir.path().join("f.bin");
    std::fs::write(&file, vec![1u8; 10_000]).unwrap();
    let err = fails(&dir.path().join("ann"), &["put", s(&file)]);
    assert!(err.contains("the server can't write to its storage right now; try again later"), "{err}");
    drop(server);

    // At start: a data directory that takes no new files is refused in one sentence.
    let fresh = dir.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    let _g3 = unwritable(&fresh).expect("made unwritable above");
    let err = server_fails(&["--listen", "127.0.0.1:0", "--data", s(&fresh)]);
    assert!(err.starts_with(&format!("hush: the data directory {} is not writable: ", s(&fresh))), "{err}");
    drop((_g1, _g2));
    let server = Running::start(&data, &[], "warn");
    assert_eq!(http_get(&server.addr, "/health").0, 200, "healthy again once the storage takes writes");
}

#[test]
fn metrics_count_route_templates_and_the_logs_are_plain_with_request_ids() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Running::start(&data, &["--metrics-listen", "127.0.0.1:0"], "info");
    let metrics = server.metrics.clone().expect("metrics address");
    let a = dir.path().join("ann");
    register(&a, "ann", &server.url);
    register(&dir.path().join("bob"), "bob", &server.url);
    ok(&a, &["send", "bob", "hi", "--new"]);
    let mut w = watch(&a);
    eventually("ann's watch is counted", || value(&scrape(&metrics), "hush_websockets_open", &[]).unwrap_or(0.0) >= 1.0);
    let samples = scrape(&metrics);
    let _ = w.kill();
    let _ = w.wait();

    let registered = value(&samples, "hush_http_requests_total", &[("route", "/v1/register"), ("method", "POST"), ("status", "201")]);
    assert_eq!(registered, Some(2.0), "{samples:?}");
    assert!(value(&samples, "hush_http_requests_total", &[("route", "/v1/users/{username}"), ("status", "200")]).is_some());
    assert!(
        samples.iter().all(|(_, l, _)| l.values().all(|v| !v.as_str().unwrap_or_default().contains("bob"))),
        "no username in a label"
    );
    let count = value(&samples, "hush_http_request_duration_seconds_count", &[("route", "/v1/register")]);
    assert_eq!(count, Some(2.0));
    assert!(value(&samples, "hush_http_request_duration_seconds_bucket", &[("route", "/v1/register"), ("le", "+Inf")]) == Some(2.0));
    assert_eq!(value(&samples, "hush_users", &[]), Some(2.0));
    assert_eq!(value(&samples, "hush_devices", &[]), Some(2.0));
    assert!(value(&samples, "hush_inbox_queued_messages", &[]).unwrap() >= 1.0);
    assert!(value(&samples, "hush_key_directory_epoch", &[]).unwrap() >= 2.0);
    assert!(value(&samples, "hush_storage_bytes", &[]).is_some());
    // The API port does not serve metrics.
    assert_eq!(http_get(&server.addr, "/metrics").0, 404);

    // An access log line per request, with the id the answer carries.
    let (status, headers, _) = http_get(&server.addr, "/health");
    assert_eq!(status, 200);
    let id = headers.iter().find(|(k, _)| k == "x-request-id").map(|(_, v)| v.clone()).expect("x-request-id");
    eventually("the access line is written", || server.log().iter().any(|l| l.contains(&id)));
    let log = server.log();
    let line = log.iter().find(|l| l.contains(&id)).unwrap();
    assert!(line.contains("route=/health") && line.contains("status=200") && line.contains("method=GET"), "{line}");
    assert!(line.contains("duration_ms="), "{line}");
    assert!(log.iter().any(|l| l.contains("route=/v1/users/{username}")), "route templates, not paths");
    assert!(!log.iter().any(|l| l.contains("\x1b[")), "no colour codes when stderr is not a terminal");
    assert!(!log.iter().any(|l| l.contains("x-hush-signature")), "no signature header in the log");
    assert!(!log.iter().any(|l| l.contains("sqlx::") || l.contains(" hyper")), "library noise is filtered");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Running::start(&data, &["--log-format", "json"], "info");
    register(&dir.path().join("ann"), "ann", &server.url);
    let (_, headers, _) = http_get(&server.addr, "/health");
    let id = headers.iter().find(|(k, _)| k == "x-request-id").map(|(_, v)| v.clone()).unwrap();
    eventually("the access line is written", || server.log().iter().any(|l| l.contains(&id)));
    let log = server.log();
    assert!(log.len() > 5);
    let mut access = None;
    for line in &log {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["fields"]["request_id"] == id.as_str() {
            access = Some(v);
        }
    }
    let access = access.unwrap();
    assert_eq!(access["target"], "hush::access");
    assert_eq!(access["fields"]["route"], "/health");
    assert_eq!(access["fields"]["status"], 200);
}

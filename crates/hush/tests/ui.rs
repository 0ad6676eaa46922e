//! `hush ui`, the app: its local surface refuses what it must (each refusal a test, over
//! raw HTTP so every header is the test's choice), and people use it in a real browser
//! (headless Chromium driven by Playwright scripts in `tests/ui/`) against a real server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;

/// A running `hush ui`.
struct App {
    child: Child,
    /// `127.0.0.1:PORT`.
    addr: String,
    /// The one-time address it printed.
    url: String,
}

impl App {
    /// Starts `hush ui` on `home`; with `unlock`, the account there is opened at once.
    fn start(home: &Path, unlock: bool) -> App {
        let mut cmd = Command::new(hush_bin());
        cmd.arg("--home").arg(home).args(["ui", "--listen", "127.0.0.1:0", "--no-browser"]);
        if unlock {
            cmd.env("HUSH_PASSPHRASE", PASS);
        } else {
            cmd.env_remove("HUSH_PASSPHRASE");
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn hush ui");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.trim().starts_with("http://").then(|| l.trim().to_owned()))
            .expect("hush ui prints its address");
        std::thread::spawn(move || lines.count());
        let addr = url.trim_start_matches("http://").split('/').next().unwrap().to_owned();
        App { child, addr, url }
    }

    fn path_of_url(&self) -> String {
        self.url.trim_start_matches("http://").trim_start_matches(&self.addr).to_owned()
    }

    /// The session cookie, from the one-time address.
    fn session(&self) -> String {
        let r = raw(&self.addr, "GET", &self.path_of_url(), &[], "");
        assert_eq!(r.status, 303, "{}", r.body);
        let cookie = r.header("set-cookie").expect("a session cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        cookie.split(';').next().unwrap().to_owned()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request with exactly these headers (Host defaults to `addr`).
fn raw(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
    Reply { status, headers, body: body.to_owned() }
}

fn csrf(app: &App, cookie: &str) -> String {
    let r = raw(&app.addr, "GET", "/api/status", &[("Cookie", cookie)], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let json = r.body.lines().find(|l| l.contains("csrf")).unwrap_or(&r.body).to_owned();
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap_or_else(|_| serde_json::from_str(&dechunk(&r.body)).unwrap());
    v["csrf"].as_str().unwrap().to_owned()
}

/// A chunked body, joined.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

#[test]
fn a_request_without_the_session_is_401() {
    let dir = tempdir();
    let app = App::start(&dir.path().join("a"), false);
    for path in ["/", "/app.js", "/api/status", "/api/conversations", "/api/events"] {
        let r = raw(&app.addr, "GET", path, &[], "");
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert!(r.body.contains("one-time"), "{path}: the 401 says what to do: {}", r.body);
    }
    // A made-up cookie is no session either.
    let port = app.addr.rsplit(':').next().unwrap();
    let r = raw(&app.addr, "GET", "/api/status", &[("Cookie", &format!("hush_session_{port}=0000"))], "");
    assert_eq!(r.status, 401);
}

#[test]
fn the_printed_address_works_once_and_a_wrong_token_never() {
    let dir = tempdir();
    let app = App::start(&dir.path().join("a"), false);
    let r = raw(&app.addr, "GET", "/session?token=deadbeef", &[], "");
    assert_eq!(r.status, 401, "{}", r.body);
    let cookie = app.session();
    let r = raw(&app.addr, "GET", "/", &[("Cookie", &cookie)], "");
    assert_eq!(r.status, 200);
    // The same address again, from a browser without the cookie: refused.
    let again = raw(&app.addr, "GET", &app.path_of_url(), &[], "");
    assert_eq!(again.status, 401, "{}", again.body);
    assert!(again.body.contains("already used"), "{}", again.body);
}

#[test]
fn a_host_header_other_than_the_loopback_address_is_refused() {
    let dir = tempdir();
    let app = App::start(&dir.path().join("a"), false);
    let cookie = app.session();
    let port = app.addr.rsplit(':').next().unwrap().to_owned();
    // A DNS name rebound to 127.0.0.1 reaches the app with its own name in Host.
    for host in [format!("attacker.example:{port}"), "attacker.example".to_owned(), format!("127.0.0.2:{port}")] {
        let r = raw(&app.addr, "GET", "/api/status", &[("Host", &host), ("Cookie", &cookie)], "");
        assert_eq!(r.status, 403, "{host}: {}", r.body);
        assert!(r.body.contains("rebinding"), "{}", r.body);
    }
    let ok = raw(&app.addr, "GET", "/api/status", &[("Host", &format!("localhost:{port}")), ("Cookie", &cookie)], "");
    assert_eq!(ok.status, 200);
}

#[test]
fn a_cross_origin_request_is_refused() {
    let dir = tempdir();
    let app = App::start(&dir.path().join("a"), false);
    let cookie = app.session();
    let token = csrf(&app, &cookie);
    let body = r#"{"passphrase":"whatever whatever"}"#;
    for (k, v) in [("Origin", "http://attacker.example"), ("Origin", "null"), ("Sec-Fetch-Site", "cross-site")] {
        let r = raw(
            &app.addr,
            "POST",
            "/api/unlock",
            &[(k, v), ("Cookie", &cookie), ("X-Hush-Csrf", &token), ("Content-Type", "application/json")],
            body,
        );
        assert_eq!(r.status, 403, "{k}: {v}: {}", r.body);
    }
    let r = raw(&app.addr, "GET", "/api/status", &[("Origin", "http://attacker.example"), ("Cookie", &cookie)], "");
    assert_eq!(r.status, 403, "reading is refused too: {}", r.body);
    // The app's own origin passes.
    let own = format!("http://{}", app.addr);
    let r = raw(&app.addr, "GET", "/api/status", &[("Origin", &own), ("Cookie", &cookie)], "");
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_change_without_the_csrf_token_is_refused() {
    let dir = tempdir();
    let app = App::start(&dir.path().join("a"), false);
    let cookie = app.session();
    let body = r#"{"server":"http://127.0.0.1:9","username":"alice","passphrase":"long enough pass"}"#;
    for token in [None, Some("0123")] {
        let mut h = vec![("Cookie", cookie.as_str()), ("Content-Type", "application/json")];
        if let Some(t) = token {
            h.push(("X-Hush-Csrf", t));
        }
        let r = raw(&app.addr, "POST", "/api/register", &h, body);
        assert_eq!(r.status, 403, "{token:?}: {}", r.body);
        assert!(r.body.contains("CSRF"), "{}", r.body);
    }
    assert!(!dir.path().join("a").join("state.hush").exists(), "nothing was registered");
    // With the token, the request reaches the library (which can't reach port 9).
    let token = csrf(&app, &cookie);
    let r = raw(&app.addr, "POST", "/api/register", &[("Cookie", &cookie), ("Content-Type", "application/json"), ("X-Hush-Csrf", &token)], body);
    assert_ne!(r.status, 403, "{}", r.body);
    assert!(r.status >= 400 && r.status < 600 && r.status != 500, "{}: {}", r.status, r.body);
}

#[test]
fn every_answer_carries_a_strict_content_security_policy_and_the_page_loads_nothing_from_outside() {
    let dir = tempdir();
    let app = App::start(&dir.path().join("a"), false);
    let cookie = app.session();
    for path in ["/", "/app.js", "/app.css", "/api/status", "/nowhere"] {
        let r = raw(&app.addr, "GET", path, &[("Cookie", &cookie)], "");
        let csp = r.header("content-security-policy").unwrap_or_else(|| panic!("{path} has a CSP"));
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    let refusal = raw(&app.addr, "GET", "/", &[], "");
    assert!(refusal.header("content-security-policy").is_some(), "refusals too");
    // The page names no other place to load from.
    let index = raw(&app.addr, "GET", "/", &[("Cookie", &cookie)], "").body;
    let script = raw(&app.addr, "GET", "/app.js", &[("Cookie", &cookie)], "").body;
    for text in [&index, &script] {
        for bad in ["src=\"http", "href=\"http", "src=\"//", "import(", "eval("] {
            assert!(!text.contains(bad), "found {bad}");
        }
    }
}

#[test]
fn the_app_listens_only_on_loopback() {
    let dir = tempdir();
    let out = Command::new(hush_bin())
        .arg("--home")
        .arg(dir.path().join("a"))
        .args(["ui", "--listen", "0.0.0.0:0", "--no-browser"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn the_cli_on_a_home_the_app_holds_stops_with_a_sentence_and_resumes_after() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let home = dir.path().join("a");
    register(&home, "alice", &server.url);
    let mut app = App::start(&home, true);
    let cookie = app.session();
    let r = raw(&app.addr, "GET", "/api/status", &[("Cookie", &cookie)], "");
    assert!(r.body.contains("\"open\""), "{}", r.body);
    let out = hush(&home, &["conversation", "list"]);
    assert!(!out.status.success(), "the CLI does not touch a home the app holds");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("open in hush ui"), "{err}");
    let _ = app.child.kill();
    let _ = app.child.wait();
    ok(&home, &["conversation", "list"]);
}

// ---- In a browser ----

/// Where the Playwright scripts live, with their node_modules (`npm ci` there; `.ci/run`
/// does it).
fn scripts() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("ui");
    assert!(
        d.join("node_modules").join("playwright-core").exists(),
        "the browser tests need Playwright: run `npm ci --prefix crates/hush/tests/ui` (.ci/run does)"
    );
    d
}

/// Where screenshots go: `target/ui-shots` (docs/UI.md shows them).
fn shots() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..").join("target").join("ui-shots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs one Playwright script with these variables; its output is shown on failure.
fn browse(script: &str, env: &[(&str, String)]) {
    let dir = scripts();
    let mut cmd = Command::new("node");
    cmd.arg(dir.join(script)).current_dir(&dir).env("HUSH_UI_SHOTS", shots());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run node (Node.js is needed for the browser tests)");
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn people_chat_make_a_group_share_a_file_and_verify_each_other_in_the_app() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let apps: Vec<App> = ["alice", "bob", "carol"].iter().map(|u| App::start(&dir.path().join(u), false)).collect();
    let file = dir.path().join("holiday-video.bin");
    let bytes: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let download = dir.path().join("bob-got.bin");
    browse(
        "chat.mjs",
        &[
            ("HUSH_UI_ALICE", apps[0].url.clone()),
            ("HUSH_UI_BOB", apps[1].url.clone()),
            ("HUSH_UI_CAROL", apps[2].url.clone()),
            ("HUSH_SERVER", server.url.clone()),
            ("HUSH_UI_FILE", file.display().to_string()),
            ("HUSH_UI_DOWNLOAD", download.display().to_string()),
        ],
    );
    let got = std::fs::read(&download).expect("bob downloaded the file");
    assert!(got == bytes, "bob's download is alice's file, byte for byte ({} vs {} bytes)", got.len(), bytes.len());
    // What the browsers did went through the server as ciphertext only.
    assert!(!contains(&all_bytes(&server.data), "holiday"), "the file's name is not on the server");
}

#[test]
fn the_drive_versions_folders_sharing_export_group_changes_and_guardians_work_in_the_app() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let apps: Vec<App> = ["alice", "bob", "carol"].iter().map(|u| App::start(&dir.path().join(u), false)).collect();
    browse(
        "drive.mjs",
        &[
            ("HUSH_UI_ALICE", apps[0].url.clone()),
            ("HUSH_UI_BOB", apps[1].url.clone()),
            ("HUSH_UI_CAROL", apps[2].url.clone()),
            ("HUSH_SERVER", server.url.clone()),
        ],
    );
}

#[test]
fn a_second_device_is_linked_from_the_app_and_sees_the_conversation() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let (a, b) = (dir.path().join("alice"), dir.path().join("bob"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    ok(&a, &["conversation", "create", "book-club", "--with", "bob"]);
    ok(&b, &["send", "book-club", "chapter three tonight"]);
    let alice = App::start(&a, true);
    let alice2 = App::start(&dir.path().join("alice2"), false);
    browse(
        "link.mjs",
        &[
            ("HUSH_UI_ALICE", alice.url.clone()),
            ("HUSH_UI_ALICE2", alice2.url.clone()),
            ("HUSH_SERVER", server.url.clone()),
            ("HUSH_PASSPHRASE", PASS.to_owned()),
            ("HUSH_UI_CONVERSATION", "book-club".to_owned()),
        ],
    );
    // bob's next message reaches the new device too, as the CLI sees it.
    drop(alice2);
    ok(&b, &["send", "book-club", "see you there"]);
    assert!(texts(&read(&dir.path().join("alice2"))).contains(&"see you there".to_owned()));
}

#[test]
fn a_device_the_directory_does_not_vouch_for_raises_an_alert_and_holds_sending() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let proxy = Proxy::start(&server.url);
    let (a, b) = (dir.path().join("alice"), dir.path().join("bob"));
    register(&a, "alice", &proxy.url);
    register(&b, "bob", &proxy.url);
    let alice = App::start(&a, true);
    // The server answers for bob with a device (and identity key) of its own.
    answer_for_user_with_forged_keys(&proxy, "bob");
    browse("alert.mjs", &[("HUSH_UI_ALICE", alice.url.clone()), ("HUSH_UI_PEER", "bob".to_owned())]);
    // Nothing reached bob.
    proxy.set(None);
    assert!(texts(&read(&b)).is_empty());
}

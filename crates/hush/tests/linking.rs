//! Linking a device with a short code and SPAKE2 relayed by the server: a wrong code or an
//! altered PAKE message fails cleanly on both devices, and a request allows one guess.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use std::sync::Arc;

use common::*;

/// Starts `hush device link` and returns it, the code it shows, and its stderr reader.
fn start_link(home: &std::path::Path, user: &str, url: &str) -> (std::process::Child, String, std::thread::JoinHandle<String>) {
    let mut child = std::process::Command::new(hush_bin())
        .arg("--home").arg(home)
        .args(["device", "link", user, "--server", url])
        .env("HUSH_PASSPHRASE", PASS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let code = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.trim().strip_prefix("hush device approve ").map(str::to_owned))
        .expect("a code");
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let _ = lines.count();
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    (child, code, err)
}

#[test]
fn a_wrong_code_fails_on_both_devices_and_burns_the_request() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let a1 = dir.path().join("a1");
    register(&a1, "alice", &server.url);
    let (mut child, code, err) = start_link(&dir.path().join("a2"), "alice", &server.url);
    assert_eq!(code.len(), 11, "a short code: {code}");
    let (selector, digits) = code.split_at(5);
    let wrong: u32 = (digits.parse::<u32>().unwrap() + 1) % 1_000_000;
    let e = fails(&a1, &["device", "approve", &format!("{selector}{wrong:06}")]);
    assert!(e.contains("did not match"), "{e}");
    assert!(!child.wait().unwrap().success());
    assert!(err.join().unwrap().contains("did not match"));
    // One guess per request: the right code now finds nothing to approve.
    let e = fails(&a1, &["device", "approve", &code]);
    assert!(e.contains("no device is waiting") || e.contains("already answered"), "{e}");
    assert!(!dir.path().join("a2").join("state.hush").exists(), "nothing half-made on the new device");
    assert_eq!(ok(&a1, &["device", "list", "--json"]).lines().count(), 1);
}

#[test]
fn an_altered_pake_message_is_refused() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let proxy = Proxy::start(&server.url);
    let a1 = dir.path().join("a1");
    register(&a1, "alice", &server.url);
    // The new device talks through a server that alters the existing device's PAKE message.
    proxy.set(Some(Arc::new(|m, p, body| {
        if m == "GET" && p.starts_with("/v1/link/") {
            let mut st: hush_proto::LinkStatus = serde_json::from_slice(&body).unwrap();
            if let Some(a) = st.answer.as_mut() {
                let n = a.pake.0.len();
                a.pake.0[n - 3] ^= 0x01;
            }
            return serde_json::to_vec(&st).unwrap();
        }
        body
    })));
    let (mut child, code, err) = start_link(&dir.path().join("a2"), "alice", &proxy.url);
    let e = fails(&a1, &["device", "approve", &code]);
    assert!(e.contains("altered") || e.contains("did not match"), "{e}");
    assert!(!child.wait().unwrap().success());
    let e = err.join().unwrap();
    assert!(e.contains("altered"), "{e}");
    assert_eq!(ok(&a1, &["device", "list", "--json"]).lines().count(), 1, "no device was added");
}

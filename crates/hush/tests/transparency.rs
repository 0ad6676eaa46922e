//! Verification and key transparency through the real binary: safety numbers, and a
//! server that substitutes keys, publishes keys behind a user's back, shows people
//! different directories, hands out bad proofs, or rolls its directory back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::type_complexity, reason = "a failed expectation is the test failing")]

mod common;
use std::sync::{Arc, Mutex};

use common::*;
use hush_core::identity::SecretKey;

fn safety(home: &std::path::Path, user: &str) -> serde_json::Value {
    serde_json::from_str(&ok(home, &["verify", user, "--json"])).expect("json")
}

#[test]
fn safety_numbers_match_on_both_sides_and_a_verified_key_change_blocks_sending() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let addr = server.addr.clone();
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    register(&c, "carol", &server.url);

    let ab = safety(&a, "bob");
    let ba = safety(&b, "alice");
    assert_eq!(ab["number"], ba["number"], "both sides see the same number");
    assert_eq!(ab["number"].as_str().unwrap().len(), 60);
    assert_ne!(ab["number"], safety(&a, "carol")["number"]);
    assert_eq!(ab["verified"], false);
    let shown = ok(&a, &["verify", "bob"]);
    assert!(shown.contains("hush verify bob --confirm"), "{shown}");
    assert!(shown.contains('█') || shown.contains('▀') || shown.contains('▄'), "a QR code is drawn:\n{shown}");

    ok(&a, &["verify", "bob", "--confirm"]);
    assert_eq!(safety(&a, "bob")["verified"], true);
    ok(&a, &["send", "bob", "while verified"]);

    // The operator deletes bob and someone registers "bob" again with a new identity key.
    server.kill9();
    drop(server);
    operator_sql(&data, "DELETE FROM key_packages WHERE device_id IN (SELECT device_id FROM devices WHERE username='bob'); \
        DELETE FROM group_members WHERE device_id IN (SELECT device_id FROM devices WHERE username='bob'); \
        DELETE FROM inbox WHERE device_id IN (SELECT device_id FROM devices WHERE username='bob'); \
        DELETE FROM devices WHERE username='bob'; DELETE FROM backups WHERE username='bob'; DELETE FROM users WHERE username='bob';");
    let server = Server::start(&data, &addr);
    let b2 = dir.path().join("b2");
    register(&b2, "bob", &server.url);

    let err = fails(&a, &["send", "bob", "are you still you?"]);
    assert!(err.contains("changed since you verified it"), "{err}");
    assert!(err.contains("hush verify bob"), "{err}");
    let err = fails(&a, &["trust", "bob"]);
    assert!(err.contains("verified"), "{err}");
    let v = safety(&a, "bob");
    assert_eq!(v["key_changed"], true);
    assert_ne!(v["number"], ab["number"], "a new key, a new number");
    assert_eq!(v["number"], safety(&b2, "alice")["number"]);
    // After comparing the new number, alice confirms; sending works again.
    ok(&a, &["verify", "bob", "--confirm"]);
    ok(&a, &["send", "bob", "hello new bob"]);
    assert!(texts(&read(&b2)).contains(&"hello new bob".to_owned()));
}

#[test]
fn keys_the_directory_does_not_vouch_for_are_refused() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let proxy = Proxy::start(&server.url);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &proxy.url);
    register(&b, "bob", &proxy.url);

    // The server answers for bob with an identity key and device of its own, consistently
    // (directory record and KeyPackage), on alice's first contact with bob.
    answer_for_user_with_forged_keys(&proxy, "bob");
    let err = fails(&a, &["send", "bob", "meant for bob", "--new"]);
    assert!(err.contains("refused bob's device") && err.contains("directory does not vouch"), "{err}");

    // A truncated proof, and a malformed one.
    for (what, cut) in [("truncated", true), ("malformed", false)] {
        proxy.set(Some(Arc::new(move |m, p, body| {
            if m == "GET" && p.starts_with("/v1/kt/lookup/bob") {
                let mut v: hush_proto::KtLookup = serde_json::from_slice(&body).unwrap();
                if cut {
                    let n = v.proof.0.len();
                    v.proof.0.truncate(n / 2);
                } else {
                    // Flipping the lowest bit always changes a digit or breaks the
                    // syntax (0x20 could only change a hex letter's case).
                    let n = v.proof.0.len();
                    v.proof.0[n / 2] ^= 0x01;
                }
                return serde_json::to_vec(&v).unwrap();
            }
            body
        })));
        let err = fails(&a, &["send", "bob", "meant for bob", "--new"]);
        assert!(err.contains("proof"), "{what}: {err}");
    }

    // A stale proof: one captured earlier, replayed after the directory moved on.
    proxy.set(None);
    let captured: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let cap = captured.clone();
    proxy.set(Some(Arc::new(move |m, p, body| {
        if m == "GET" && p.starts_with("/v1/kt/lookup/bob") {
            *cap.lock().unwrap() = Some(body.clone());
        }
        body
    })));
    ok(&a, &["verify", "bob"]);
    let old = captured.lock().unwrap().clone().expect("captured");
    register(&dir.path().join("c"), "carol", &proxy.url);
    read(&a); // alice sees the newer root
    proxy.set(Some(Arc::new(move |m, p, body| {
        if m == "GET" && p.starts_with("/v1/kt/lookup/bob") {
            return old.clone();
        }
        body
    })));
    let err = fails(&a, &["send", "bob", "meant for bob", "--new"]);
    assert!(err.contains("rolled back"), "stale: {err}");

    // Nothing of it reached bob; without the tampering it works.
    proxy.set(None);
    ok(&a, &["send", "bob", "meant for bob", "--new"]);
    assert_eq!(texts(&read(&b)), vec!["meant for bob"]);
}

#[test]
fn a_split_view_is_detected_once_the_two_exchange_a_message() {
    let dir = tempdir();
    let data_a = dir.path().join("data-a");
    let mut server_a = Server::start(&data_a, "127.0.0.1:0");
    let addr = server_a.addr.clone();
    let proxy = Proxy::start(&server_a.url);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &proxy.url);
    register(&b, "bob", &proxy.url);
    ok(&a, &["send", "bob", "before the fork", "--new"]);
    assert_eq!(texts(&read(&b)), vec!["before the fork"]);

    // The server forks its directory: one copy for bob, one for everyone else.
    server_a.kill9();
    drop(server_a);
    let data_b = dir.path().join("data-b");
    copy_dir(&data_a, &data_b);
    let server_a = Server::start(&data_a, &addr);
    let server_b = Server::start(&data_b, "127.0.0.1:0");
    register(&dir.path().join("c"), "carol", &server_a.url);
    register(&dir.path().join("d"), "dave", &server_b.url);
    let bob_device = device_id(&b);
    let fork = server_b.url.clone();
    proxy.route(Some(Arc::new(move |_m, p, device| {
        (p.starts_with("/v1/kt/") && device == Some(bob_device.as_str())).then(|| fork.clone())
    })));

    ok(&a, &["send", "bob", "after the fork"]);
    let got = read(&b);
    assert_eq!(texts(&got), vec!["after the fork"]);
    let w = warnings(&got);
    assert!(w.iter().any(|w| w.contains("split view")), "bob is warned: {got:?}");

    ok(&b, &["send", "alice", "reply"]);
    let got = read(&a);
    assert!(warnings(&got).iter().any(|w| w.contains("split view")), "alice is warned: {got:?}");
}

#[test]
fn a_rolled_back_directory_is_refused_by_clients_and_by_the_auditor() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let addr = server.addr.clone();
    let url = server.url.clone();
    let (a, auditor) = (dir.path().join("a"), dir.path().join("auditor"));
    register(&a, "alice", &url);
    // A copy of the directory as it is now.
    server.kill9();
    drop(server);
    let old = dir.path().join("old");
    copy_dir(&data, &old);
    let server = Server::start(&data, &addr);
    register(&dir.path().join("b"), "bob", &url);
    register(&dir.path().join("c"), "carol", &url);
    read(&a);
    let out = ok(&auditor, &["audit", "--server", &url]);
    assert!(out.contains("append-only"), "{out}");
    let out = ok(&auditor, &["audit", "--server", &url]);
    assert!(out.contains("append-only"), "an audit with nothing new passes too: {out}");

    // The operator restores the old copy.
    drop(server);
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&old, &data);
    let _server = Server::start(&data, &addr);
    let err = fails(&a, &["read"]);
    assert!(err.contains("rolled back"), "{err}");
    let err = fails(&auditor, &["audit", "--server", &url]);
    assert!(err.contains("rolled back"), "{err}");
}

fn alarms(msgs: &[serde_json::Value]) -> Vec<String> {
    warnings(msgs).into_iter().filter(|w| w.contains("ALERT")).collect()
}

#[test]
fn a_device_or_identity_key_published_behind_the_users_back_raises_an_alarm() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let addr = server.addr.clone();
    let a = dir.path().join("a");
    register(&a, "alice", &server.url);
    register(&dir.path().join("b"), "bob", &server.url);
    assert!(alarms(&read(&a)).is_empty(), "no alarm for what alice published herself");

    // The operator adds a device of its own to alice's entry and publishes it.
    server.kill9();
    drop(server);
    let fake = hex_encode(&SecretKey::generate().public().0);
    operator_sql(&data, &format!(
        "INSERT INTO devices (device_id, username, public_key, certificate, created_at) \
         VALUES ('f00dfeedf00dfeed', 'alice', X'{fake}', X'00', 0); \
         INSERT OR IGNORE INTO kt_pending (username) VALUES ('alice');"
    ));
    let mut server = Server::start(&data, &addr);
    let got = read(&a);
    let al = alarms(&got);
    assert_eq!(al.len(), 1, "{got:?}");
    assert!(al[0].contains("device you did not add"), "{al:?}");
    assert!(alarms(&read(&a)).is_empty(), "raised once");

    // Then a new identity key for alice.
    server.kill9();
    drop(server);
    let other = hex_encode(&SecretKey::generate().public().0);
    operator_sql(&data, &format!(
        "DELETE FROM devices WHERE device_id = 'f00dfeedf00dfeed'; \
         UPDATE users SET identity_key = X'{other}' WHERE username = 'alice'; \
         INSERT OR IGNORE INTO kt_pending (username) VALUES ('alice');"
    ));
    let _server = Server::start(&data, &addr);
    let out = hush(&a, &["read", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("identity key that is not yours"), "{text}");
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

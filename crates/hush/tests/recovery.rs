//! Recovery without a backdoor, through the real binary: the recovery phrase restores an
//! account on a new device; a wrong phrase, a tampered backup and another account's
//! backup are refused; devices are revoked; the passphrase changes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;
use std::sync::{Arc, Mutex};

#[test]
fn the_recovery_phrase_restores_the_account_contacts_and_conversations() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    let phrase = register_with_phrase(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    register(&c, "carol", &server.url);
    ok(&a, &["verify", "bob", "--confirm"]);
    ok(&a, &["send", "bob", "before the loss"]);
    ok(&a, &["conversation", "create", "club", "--with", "bob,carol"]);
    let doc = dir.path().join("will.txt");
    std::fs::write(&doc, b"my drive survives losing every device").unwrap();
    ok(&a, &["put", doc.to_str().unwrap(), "Documents/will.txt"]);
    read(&a); // the backup follows the new contacts and verification
    read(&b);
    read(&c);
    let old_device = device_id(&a);

    // The server holds no recovery secret it could use.
    let bytes = all_bytes(&data);
    assert!(!contains(&bytes, &phrase));
    for w in phrase.split(' ').collect::<Vec<_>>().windows(3) {
        assert!(!contains(&bytes, &w.join(" ")));
    }

    // Every home of alice is gone.
    std::fs::remove_dir_all(&a).unwrap();
    let wrong = phrase.replace(phrase.split(' ').next().unwrap(), "zoo");
    let out = recover(&dir.path().join("bad"), "alice", &server.url, &wrong);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("recovery phrase"), "{e}");

    let a2 = dir.path().join("a2");
    let out = recover(&a2, "alice", &server.url, &phrase);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&ok(&a2, &["verify", "bob", "--json"])).unwrap();
    assert_eq!(v["verified"], true, "verification kept: {v}");
    // Her drive files open.
    let got = dir.path().join("got.txt");
    ok(&a2, &["get", "Documents/will.txt", "-o", got.to_str().unwrap()]);
    assert_eq!(std::fs::read(&got).unwrap(), b"my drive survives losing every device");

    // Her contacts' clients add the new device; she is back in her conversations.
    read(&b);
    read(&c);
    read(&a2);
    ok(&a2, &["send", "bob", "I'm back"]);
    assert_eq!(texts(&read(&b)), vec!["I'm back"]);
    ok(&a2, &["send", "club", "back in the club"]);
    assert_eq!(texts(&read(&c)), vec!["back in the club"]);
    ok(&b, &["send", "alice", "welcome back"]);
    assert_eq!(texts(&read(&a2)), vec!["welcome back"]);

    // The lost device is revoked: out of the directory and the conversations.
    ok(&a2, &["device", "revoke", &old_device]);
    let devices = ok(&a2, &["device", "list", "--json"]);
    assert_eq!(devices.lines().count(), 1, "{devices}");
    read(&b);
    let members = ok(&b, &["conversation", "members", "alice", "--json"]);
    assert!(!members.contains(&old_device), "{members}");
}

#[test]
fn a_tampered_older_or_another_accounts_backup_is_refused() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let addr = server.addr.clone();
    let url = server.url.clone();
    let a = dir.path().join("a");
    let phrase = register_with_phrase(&a, "alice", &url);
    register(&dir.path().join("b"), "bob", &url);

    // The server serves bob's backup under alice's name.
    server.kill9();
    drop(server);
    operator_sql(&data, "CREATE TABLE alice_first AS SELECT version, blob FROM backups WHERE username='alice'; \
        CREATE TABLE alice_keep AS SELECT version, blob FROM backups WHERE username='alice'; \
        UPDATE backups SET blob = (SELECT blob FROM backups WHERE username='bob'), version = (SELECT version FROM backups WHERE username='bob') WHERE username='alice';");
    let mut server = Server::start(&data, &addr);
    let out = recover(&dir.path().join("x"), "alice", &url, &phrase);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("does not open"), "another account's backup: {e}");

    // Alice's own backup with one bit flipped.
    server.kill9();
    drop(server);
    operator_sql(&data, "UPDATE backups SET blob = (SELECT blob FROM alice_keep), version = (SELECT version FROM alice_keep) WHERE username='alice';");
    let flip = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); b=bytearray(c.execute(\"select blob from backups where username='alice'\").fetchone()[0]); b[40]^=1; c.execute(\"update backups set blob=? where username='alice'\", (bytes(b),)); c.commit()")
        .arg(data.join("hush.db"))
        .output()
        .unwrap();
    assert!(flip.status.success());
    let _server = Server::start(&data, &addr);
    let out = recover(&dir.path().join("y"), "alice", &url, &phrase);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("does not open"), "tampered backup: {e}");
    assert!(!dir.path().join("y").join("state.hush").exists(), "nothing half-written");

    // An older backup of alice's own, served again after a newer one was stored: it opens
    // with the phrase, but the key directory committed to the newer one.
    drop(_server);
    operator_sql(&data, "UPDATE backups SET blob = (SELECT blob FROM alice_keep), version = (SELECT version FROM alice_keep) WHERE username='alice'; DROP TABLE alice_keep;");
    let server = Server::start(&data, &addr);
    ok(&a, &["verify", "bob", "--confirm"]); // a change the backup follows: a newer version
    read(&a);
    let newer = operator_query(&data, "SELECT version FROM backups WHERE username='alice'")[0][0].clone();
    drop(server);
    operator_sql(&data, "UPDATE backups SET version = (SELECT version FROM alice_first), blob = (SELECT blob FROM alice_first) WHERE username='alice';");
    let _server = Server::start(&data, &addr);
    let out = recover(&dir.path().join("w"), "alice", &url, &phrase);
    assert!(!out.status.success(), "an older backup (newest is {newer}) was accepted");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("older backup served again"), "older backup: {e}");
    assert!(!dir.path().join("w").join("state.hush").exists(), "nothing half-written");

    let out = recover(&dir.path().join("z"), "alice", &url, "not a phrase at all");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid recovery phrase"));
}

#[test]
fn a_revoked_device_reads_nothing_sent_afterwards_and_the_passphrase_changes() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let (a1, a2, b) = (dir.path().join("a1"), dir.path().join("a2"), dir.path().join("b"));
    register(&a1, "alice", &server.url);
    register(&b, "bob", &server.url);
    ok(&b, &["send", "alice", "hi alice", "--new"]);
    read(&a1);

    // Link a second device.
    link_device(&a2, "alice", &server.url, &a1);
    read(&a1);
    read(&b);
    read(&a2);
    ok(&b, &["send", "alice", "to both devices"]);
    assert_eq!(texts(&read(&a2)), vec!["to both devices"]);

    let a2_id = device_id(&a2);
    let e = fails(&a1, &["device", "revoke", &device_id(&a1)]);
    assert!(e.contains("device you are using"), "{e}");
    ok(&a1, &["device", "revoke", &a2_id]);
    ok(&b, &["send", "alice", "after the revocation"]);
    assert_eq!(texts(&read(&a1)), vec!["to both devices", "after the revocation"]);
    let e = fails(&a2, &["read"]);
    assert!(e.contains("refused"), "the revoked device is shut out: {e}");

    // Passphrase change: the old one no longer opens the state, the new one does.
    let out = std::process::Command::new(hush_bin())
        .arg("--home").arg(&a1).arg("passphrase")
        .env("HUSH_PASSPHRASE", PASS)
        .env("HUSH_NEW_PASSPHRASE", "a brand new passphrase")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e = fails(&a1, &["whoami"]);
    assert!(e.contains("wrong passphrase"), "{e}");
    let out = std::process::Command::new(hush_bin())
        .arg("--home").arg(&a1).args(["whoami"])
        .env("HUSH_PASSPHRASE", "a brand new passphrase")
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// Starts `hush recover USER --with-guardians` and returns it with the code it shows.
fn start_guardian_recovery(home: &std::path::Path, user: &str, url: &str, wait: u64) -> (std::process::Child, String, std::thread::JoinHandle<String>) {
    let mut child = std::process::Command::new(hush_bin())
        .arg("--home").arg(home)
        .args(["recover", user, "--server", url, "--with-guardians", "--wait", &wait.to_string()])
        .env("HUSH_PASSPHRASE", PASS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let code = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.trim().strip_prefix(&format!("hush recovery approve {user} ")).map(str::to_owned))
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
fn two_of_three_guardians_restore_the_account_and_one_is_not_enough() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let proxy = Proxy::start(&server.url);
    let url = proxy.url.clone();
    let h = |n: &str| dir.path().join(n);
    for u in ["alice", "carol", "dave", "erin"] {
        register(&h(u), u, &url);
    }
    ok(&h("alice"), &["recovery", "guardians", "set", "carol", "dave", "erin", "--threshold", "2"]);
    for g in ["carol", "dave", "erin"] {
        let got = read(&h(g));
        assert!(got.iter().any(|m| m["text"].as_str().unwrap_or("").contains("recovery guardians")), "{g}: {got:?}");
    }
    // A stranger holds no share and can't approve.
    let e = fails(&h("erin"), &["recovery", "approve", "carol", "AAAA-AAAA-AAAA"]);
    assert!(e.contains("not one of carol's guardians"), "{e}");
    std::fs::remove_dir_all(h("alice")).unwrap();

    // One approval of the two needed: it fails and says how many more.
    let (mut child, code, err) = start_guardian_recovery(&h("alice2"), "alice", &url, 4);
    ok(&h("carol"), &["recovery", "approve", "alice", &code]);
    assert!(!child.wait().unwrap().success());
    let e = err.join().unwrap();
    assert!(e.contains("1 of the 2 guardian approvals needed arrived; 1 more needed"), "{e}");

    // A server that injects shares of its own: they don't rebuild the real secret.
    let hpke: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let cap = hpke.clone();
    proxy.tap(Some(Arc::new(move |m, p, body| {
        if m == "POST" && p == "/v1/guardian-requests" {
            let r: hush_proto::GuardianRequest = serde_json::from_slice(body).unwrap();
            *cap.lock().unwrap() = Some(r.hpke_key.0);
        }
    })));
    let inject = hpke.clone();
    proxy.set(Some(Arc::new(move |m, p, body| {
        if m == "GET" && p.starts_with("/v1/guardian-requests/") {
            let Some(key) = inject.lock().unwrap().clone() else { return body };
            let mut v: hush_proto::GuardianShares = serde_json::from_slice(&body).unwrap();
            for i in 1..=2u8 {
                let fake = hush_core::guardians::Share { owner: "alice".into(), set_id: "f0f0f0f0f0f0f0f0".into(), threshold: 2, share: [vec![i], vec![i * 7; 32]].concat() };
                let sealed = hush_core::hpke::seal_with_context(&key, &hush_core::guardians::request_context("alice", &key), &serde_json::to_vec(&fake).unwrap()).unwrap();
                v.shares.push(hush_proto::B64(sealed));
            }
            return serde_json::to_vec(&v).unwrap();
        }
        body
    })));
    let (mut child, _code, err) = start_guardian_recovery(&h("alice3"), "alice", &url, 20);
    assert!(!child.wait().unwrap().success());
    let e = err.join().unwrap();
    assert!(e.contains("forged"), "{e}");
    proxy.set(None);
    proxy.tap(None);

    // Two of three approve: the account is back.
    let (mut child, code, err) = start_guardian_recovery(&h("alice4"), "alice", &url, 60);
    ok(&h("carol"), &["recovery", "approve", "alice", &code]);
    ok(&h("dave"), &["recovery", "approve", "alice", &code]);
    let status = child.wait().unwrap();
    let e = err.join().unwrap();
    assert!(status.success(), "{e}");
    read(&h("carol"));
    read(&h("alice4"));
    ok(&h("alice4"), &["send", "carol", "thanks for the help", "--new"]);
    assert!(texts(&read(&h("carol"))).contains(&"thanks for the help".to_owned()));
}

//! Conversations through the real binary and a real server: one-to-one and groups,
//! offline delivery, order, several devices, removal and late joiners, and what the
//! server's files contain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;

#[test]
fn one_to_one_and_group_offline_in_order_and_no_plaintext_on_server() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    register(&c, "carol", &server.url);

    // bob is not running anything while alice sends: offline delivery.
    let lines: Vec<String> = (1..=5).map(|i| format!("one-to-one secret number {i}")).collect();
    let out = hush_stdin(&a, &["send", "bob", "--stdin", "--new"], &lines.join("\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = read(&b);
    assert_eq!(texts(&got), lines, "all five, in order");
    assert!(got.iter().filter(|m| m["kind"] == "text").all(|m| m["sender"] == "alice" && m["conversation"] == "alice"));
    assert!(read(&b).is_empty(), "read shows only what is new");

    ok(&b, &["send", "alice", "bob's reply, also secret"]);
    assert_eq!(texts(&read(&a)), vec!["bob's reply, also secret"]);

    // A three-person group.
    ok(&a, &["conversation", "create", "trio", "--with", "bob,carol"]);
    ok(&a, &["send", "trio", "group secret from alice"]);
    ok(&c, &["send", "trio", "group secret from carol"]);
    let bob_sees = texts(&read(&b));
    assert_eq!(bob_sees, vec!["group secret from alice", "group secret from carol"]);
    assert_eq!(texts(&read(&c)), vec!["group secret from alice"]);
    assert_eq!(texts(&read(&a)), vec!["group secret from carol"]);

    let list = ok(&b, &["conversation", "list", "--json"]);
    assert!(list.contains("\"trio\""), "{list}");
    let members = ok(&b, &["conversation", "members", "trio", "--json"]);
    for u in ["alice", "bob", "carol"] {
        assert!(members.contains(&format!("\"{u}\"")), "{members}");
    }

    // The server's database and data directory hold none of the plaintexts.
    drop(server);
    let bytes = all_bytes(&dir.path().join("data"));
    assert!(bytes.len() > 10_000, "the server did store things");
    for t in lines.iter().map(String::as_str).chain(["bob's reply, also secret", "group secret from alice", "group secret from carol", "trio"]) {
        assert!(!contains(&bytes, t), "server data contains {t:?}");
    }
    // Nor do the clients' homes: their state is sealed.
    for h in [&a, &b, &c] {
        let bytes = all_bytes(h);
        assert!(!contains(&bytes, "group secret from alice"));
    }
}

#[test]
fn removed_member_sees_nothing_after_and_late_member_nothing_before() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let homes: Vec<_> = ["alice", "bob", "carol", "dave"].iter().map(|u| {
        let h = dir.path().join(u);
        register(&h, u, &server.url);
        h
    }).collect();
    let (a, b, c, d) = (&homes[0], &homes[1], &homes[2], &homes[3]);
    ok(a, &["conversation", "create", "plans", "--with", "bob,carol"]);
    ok(a, &["send", "plans", "before dave joined"]);
    ok(a, &["conversation", "add", "plans", "dave"]);
    ok(a, &["send", "plans", "after dave joined"]);
    let dave = read(d);
    assert_eq!(texts(&dave), vec!["after dave joined"], "a member added later can't read earlier messages");

    ok(a, &["conversation", "remove", "plans", "carol"]);
    ok(a, &["send", "plans", "after carol left"]);
    let carol = read(c);
    assert_eq!(texts(&carol), vec!["before dave joined", "after dave joined"]);
    assert!(carol.iter().any(|m| m["kind"] == "event" && m["text"].as_str().unwrap_or("").contains("removed you")), "{carol:?}");
    assert_eq!(texts(&read(b)), vec!["before dave joined", "after dave joined", "after carol left"]);
    assert_eq!(texts(&read(d)), vec!["after carol left"]);
    // carol can no longer send there.
    let err = fails(c, &["send", "plans", "let me back"]);
    assert!(err.contains("no conversation") || err.contains("no longer a member"), "{err}");
    let members = ok(a, &["conversation", "members", "plans", "--json"]);
    assert!(!members.contains("\"carol\""));
}

#[test]
fn a_user_with_two_devices_sees_everything_on_both() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let (a1, a2, b) = (dir.path().join("a1"), dir.path().join("a2"), dir.path().join("b"));
    register(&a1, "alice", &server.url);
    register(&b, "bob", &server.url);
    ok(&b, &["send", "alice", "hello alice's first device", "--new"]);
    assert_eq!(texts(&read(&a1)), vec!["hello alice's first device"]);
    // History on in this conversation: a device linked later gets what follows.
    ok(&a1, &["conversation", "history", "bob", "on"]);
    ok(&b, &["send", "alice", "kept for new devices"]);
    assert_eq!(texts(&read(&a1)), vec!["kept for new devices"]);
    // A file in alice's drive and one bob shared before the new device existed.
    let note = dir.path().join("note.txt");
    std::fs::write(&note, b"from the drive").unwrap();
    ok(&a1, &["put", note.to_str().unwrap()]);
    std::fs::write(&note, b"from bob").unwrap();
    ok(&b, &["put", note.to_str().unwrap(), "alice:"]);

    // Link a second device: it shows a code, the first device approves it.
    let mut link = std::process::Command::new(hush_bin())
        .arg("--home").arg(&a2)
        .args(["device", "link", "alice", "--server", &server.url])
        .env("HUSH_PASSPHRASE", PASS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn link");
    let stdout = link.stdout.take().expect("stdout");
    let mut code = String::new();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(c) = line.trim().strip_prefix("hush device approve ") {
            code = c.trim().to_owned();
            break;
        }
    }
    // Keep reading so the new device can go on printing.
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    assert!(!code.is_empty(), "the new device shows a code");
    let malformed = fails(&a1, &["device", "approve", "AAAA-AAAA-AAAA"]);
    assert!(malformed.contains("a link code looks like"), "{malformed}");
    let selector = if code.starts_with("AAAA") { "BBBB" } else { "AAAA" };
    let unknown = fails(&a1, &["device", "approve", &format!("{selector}-000000")]);
    assert!(unknown.contains("no device is waiting with that code"), "{unknown}");
    ok(&a1, &["device", "approve", &code]);
    let status = link.wait().expect("wait");
    let rest = rest.join().expect("reader");
    assert!(status.success(), "link finished: {rest}");
    assert!(rest.contains("linked: alice device"), "{rest}");

    let devices = ok(&a1, &["device", "list", "--json"]);
    assert_eq!(devices.lines().count(), 2, "{devices}");

    // alice's first device (and bob) add the new device to the shared conversation.
    read(&a1);
    read(&b);
    let joined = read(&a2);
    assert!(joined.iter().any(|m| m["kind"] == "event"), "{joined:?}");
    assert!(
        joined.iter().any(|m| m["kind"] == "history" && m["text"] == "kept for new devices"),
        "the linked device sees history where it is on: {joined:?}"
    );
    ok(&b, &["send", "alice", "to both of alice's devices"]);
    assert_eq!(texts(&read(&a1)), vec!["to both of alice's devices"]);
    assert_eq!(texts(&read(&a2)), vec!["to both of alice's devices"]);
    // The linked device opens the drive and the files shared before it existed.
    let got = dir.path().join("got.txt");
    ok(&a2, &["get", "note.txt", "-o", got.to_str().unwrap()]);
    assert_eq!(std::fs::read(&got).unwrap(), b"from the drive");
    ok(&a2, &["get", "bob:note.txt", "-o", got.to_str().unwrap(), "--force"]);
    assert_eq!(std::fs::read(&got).unwrap(), b"from bob");

    // What one device sends appears on the other.
    ok(&a2, &["send", "bob", "sent from the second device"]);
    assert_eq!(texts(&read(&b)), vec!["sent from the second device"]);
    let other = read(&a1);
    assert_eq!(texts(&other), vec!["sent from the second device"]);
    assert_eq!(other.iter().find(|m| m["kind"] == "text").map(|m| m["sender"].clone()), Some("alice".into()));
}

#[test]
fn watch_prints_messages_as_they_arrive() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    let mut watch = std::process::Command::new(hush_bin())
        .arg("--home").arg(&b)
        .args(["watch", "--json"])
        .env("HUSH_PASSPHRASE", PASS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn watch");
    let stdout = watch.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // watch holds the home only while it syncs, so bob's other commands still work.
    std::thread::sleep(std::time::Duration::from_millis(500));
    ok(&a, &["send", "bob", "first live message", "--new"]);
    ok(&a, &["send", "bob", "second live message"]);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while seen.len() < 2 && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            let v: serde_json::Value = serde_json::from_str(&line).expect("json");
            if v["kind"] == "text" {
                seen.push(v["text"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(seen, vec!["first live message", "second live message"]);
    assert!(ok(&b, &["whoami"]).contains("bob"));
}

#[test]
fn a_member_who_leaves_reads_nothing_afterwards() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    register(&c, "carol", &server.url);
    ok(&a, &["conversation", "create", "trio", "--with", "bob,carol"]);
    read(&b);
    read(&c);
    ok(&c, &["conversation", "leave", "trio"]);
    // The next member to sync carries out carol's leave with a commit.
    let bob = read(&b);
    assert!(bob.iter().any(|m| m["text"].as_str().unwrap_or("").contains("carol is leaving")), "{bob:?}");
    ok(&a, &["send", "trio", "after carol left"]);
    assert_eq!(texts(&read(&b)), vec!["after carol left"]);
    assert!(texts(&read(&c)).is_empty());
    let members = ok(&a, &["conversation", "members", "trio", "--json"]);
    assert!(!members.contains("\"carol\""), "{members}");
    let list = ok(&c, &["conversation", "list"]);
    assert!(list.contains("[left]"), "{list}");
}

#[test]
fn with_history_on_a_late_member_receives_earlier_messages() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let (a, b, c, d) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"), dir.path().join("d"));
    for (h, u) in [(&a, "alice"), (&b, "bob"), (&c, "carol"), (&d, "dave")] {
        register(h, u, &server.url);
    }
    ok(&a, &["conversation", "create", "book-club", "--with", "bob"]);
    ok(&a, &["conversation", "history", "book-club", "on"]);
    read(&b);
    ok(&a, &["send", "book-club", "chapter one was slow"]);
    ok(&b, &["send", "book-club", "chapter two is better"]);
    read(&a);
    ok(&b, &["conversation", "add", "book-club", "carol"]);
    let got = read(&c);
    let earlier: Vec<_> = got.iter().filter(|m| m["kind"] == "history").map(|m| (m["sender"].as_str().unwrap().to_owned(), m["text"].as_str().unwrap().to_owned())).collect();
    assert_eq!(earlier, vec![("alice".to_owned(), "chapter one was slow".to_owned()), ("bob".to_owned(), "chapter two is better".to_owned())], "{got:?}");
    // Members who were there already don't get it again.
    assert!(read(&a).iter().all(|m| m["kind"] != "history"));

    // With history off (the default), a late member sees nothing earlier.
    ok(&a, &["conversation", "create", "quiet", "--with", "bob"]);
    ok(&a, &["send", "quiet", "before dave"]);
    ok(&a, &["conversation", "add", "quiet", "dave"]);
    assert!(read(&d).iter().all(|m| m["kind"] != "history" && m["text"] != "before dave"));
}

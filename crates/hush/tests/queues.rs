//! Queues with limits, through the real binary and a real server: a full inbox refuses
//! with a sentence naming whose device it is, a user's quota of waiting bytes, the time to
//! live, pages and memory that stay bounded, the database shrinking after a queue is
//! drained, and an inbox row of an unknown kind that never stops a read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use std::time::{Duration, Instant};

use common::*;

/// The server process's resident memory, in bytes (`VmRSS` of /proc/PID/status).
fn rss(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

fn db_size(data: &std::path::Path) -> u64 {
    std::fs::metadata(data.join("hush.db")).expect("hush.db").len()
}

fn count(data: &std::path::Path, sql: &str) -> u64 {
    operator_query(data, sql)[0][0].parse().expect("a number")
}

/// "only the first N of M messages were sent": N.
fn first_sent(stderr: &str) -> usize {
    let rest = stderr.split("only the first ").nth(1).unwrap_or_else(|| panic!("no count in {stderr}"));
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_full_queue_refuses_naming_the_device_and_takes_messages_again_once_drained() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start_with(&data, "127.0.0.1:0", &["--inbox-max-items", "50"]);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    let bob_device = device_id(&b);
    ok(&a, &["send", "bob", "hello", "--new"]);

    // bob is offline: alice's 200 lines stop at his device's cap, and she is told.
    let lines: Vec<String> = (1..=200).map(|i| format!("line {i}")).collect();
    let out = hush_stdin(&a, &["send", "bob", "--stdin"], &lines.join("\n"));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
    assert!(err.contains(&format!("bob's device {bob_device} has 50 undelivered messages")), "{err}");
    assert!(err.contains("of 200 messages were sent"), "{err}");
    let sent = first_sent(&err);
    assert!(sent > 0 && sent < 50, "{err}");
    assert_eq!(count(&data, &format!("SELECT COUNT(*) FROM inbox WHERE device_id = '{bob_device}'")), 50);
    assert_eq!(count(&data, &format!("SELECT items FROM inbox_usage WHERE device_id = '{bob_device}'")), 50);

    // Another message: nothing was sent.
    let err = fails(&a, &["send", "bob", "one more"]);
    assert!(err.contains("nothing was sent, because bob's device"), "{err}");

    // bob reads everything that was accepted, in order; then his queue takes messages again.
    let got = texts(&read(&b));
    let mut expected = vec!["hello".to_owned()];
    expected.extend(lines[..sent].iter().cloned());
    assert_eq!(got, expected);
    ok(&a, &["send", "bob", "after the drain"]);
    assert_eq!(texts(&read(&b)), vec!["after the drain"]);
    assert_eq!(count(&data, &format!("SELECT COUNT(*) FROM inbox WHERE device_id = '{bob_device}'")), 0);
}

#[test]
fn twenty_thousand_messages_to_an_offline_device_stop_at_the_cap_in_bounded_memory_and_the_database_shrinks() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let flags = ["--inbox-max-items", "5000", "--inbox-max-bytes", "12582912"];
    let mut server = Server::start_with(&data, "127.0.0.1:0", &flags);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    ok(&a, &["send", "bob", "hello", "--new"]);
    let before = rss(&server);

    // 20,000 lines of 4,000 characters to an offline device: the 12 MiB cap stops them.
    let lines: Vec<String> = (0..20_000).map(|i| format!("{i:05} {}", "x".repeat(3994))).collect();
    let out = hush_stdin(&a, &["send", "bob", "--stdin"], &lines.join("\n"));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("bob's device") && err.contains("MiB of undelivered messages"), "{err}");
    assert!(err.contains("of 20000 messages were sent"), "{err}");
    let sent = first_sent(&err);
    assert!((2000..3100).contains(&sent), "{err}");
    let full = rss(&server);
    let full_size = db_size(&data);
    assert!(full_size > 8 * 1024 * 1024, "the queue is in the database: {full_size}");

    // bob drains it: pages are at most 4 MiB, so several of them.
    let got = read(&b);
    assert_eq!(texts(&got).len(), sent + 1);
    let drained = rss(&server);
    for (when, bytes) in [("before", before), ("with the queue full", full), ("after the drain", drained)] {
        assert!(bytes < 300 * 1024 * 1024, "the server holds {bytes} bytes {when}");
    }

    // The sweep (at start, then hourly) gives the space back to the file system.
    let addr = server.addr.clone();
    server.kill9();
    let server = Server::start_with(&data, &addr, &flags);
    let deadline = Instant::now() + Duration::from_secs(60);
    while db_size(&data) > full_size / 4 {
        assert!(Instant::now() < deadline, "the database stayed at {} bytes (was {full_size})", db_size(&data));
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "{sent} of 20000 accepted; server RSS {before} / {full} / {drained} bytes; hush.db {full_size} bytes full, {} after the sweep",
        db_size(&data)
    );
    ok(&a, &["send", "bob", "still works"]);
    assert_eq!(texts(&read(&b)), vec!["still works"]);
    drop(server);
}

#[test]
fn messages_older_than_the_time_to_live_are_deleted() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    let lines: Vec<String> = (1..=5).map(|i| format!("old {i}")).collect();
    let out = hush_stdin(&a, &["send", "bob", "--stdin", "--new"], &lines.join("\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(count(&data, "SELECT COUNT(*) FROM inbox") >= 6);

    // 31 days later (the default time to live is 30 days): the sweep at start deletes them.
    let addr = server.addr.clone();
    server.kill9();
    operator_sql(&data, "UPDATE messages SET created_at = created_at - 31 * 86400000");
    let _server = Server::start(&data, &addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&data, "SELECT COUNT(*) FROM inbox") > 0 || count(&data, "SELECT COUNT(*) FROM messages") > 0 {
        assert!(Instant::now() < deadline, "expired messages are still there");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(count(&data, "SELECT COUNT(*) FROM inbox_usage"), 0);
    assert!(texts(&read(&b)).is_empty());
}

#[test]
fn a_user_has_a_quota_of_bytes_waiting_for_delivery() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start_with(&data, "127.0.0.1:0", &["--queue-quota-bytes", "1048576"]);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    ok(&a, &["send", "bob", "hello", "--new"]);
    let lines: Vec<String> = (0..400).map(|i| format!("{i:03} {}", "y".repeat(3996))).collect();
    let out = hush_stdin(&a, &["send", "bob", "--stdin"], &lines.join("\n"));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("your messages waiting for delivery take"), "{err}");
    let sent = first_sent(&err);
    assert!((150..260).contains(&sent), "{err}");
    // Once bob has fetched them, alice may send again.
    assert_eq!(texts(&read(&b)).len(), sent + 1);
    ok(&a, &["send", "bob", "room again"]);
}

#[test]
fn an_inbox_row_of_an_unknown_kind_is_skipped_and_logged() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    let bob_device = device_id(&b);
    ok(&a, &["send", "bob", "before", "--new"]);
    let addr = server.addr.clone();
    server.kill9();
    operator_sql(
        &data,
        &format!(
            "INSERT INTO messages (group_id, sender_device, kind, payload, created_at) \
             VALUES (NULL, NULL, 'from_the_future', x'00', CAST(strftime('%s','now') AS INTEGER) * 1000); \
             INSERT INTO inbox (device_id, message_id) VALUES ('{bob_device}', last_insert_rowid());"
        ),
    );
    let server = Server::start(&data, &addr);
    ok(&a, &["send", "bob", "after"]);
    assert_eq!(texts(&read(&b)), vec!["before", "after"]);
    let log = server.log.lock().unwrap().join("\n");
    assert!(log.contains("skipped an inbox row of an unknown kind") && log.contains("from_the_future"), "{log}");
    assert!(texts(&read(&b)).is_empty());
}

#[test]
fn the_default_limits_are_set_and_a_limit_of_zero_is_refused() {
    let dir = tempdir();
    let out = std::process::Command::new(hush_bin())
        .args(["server", "--print-config", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    let config = String::from_utf8_lossy(&out.stdout);
    for line in [
        "inbox_max_items = 10000",
        "inbox_max_bytes = 268435456",
        "queue_quota_bytes = 1073741824",
        "message_ttl_secs = 2592000",
    ] {
        assert!(config.contains(line), "{config}");
    }
    let out = std::process::Command::new(hush_bin())
        .args(["server", "--listen", "127.0.0.1:0", "--inbox-max-items", "0", "--data"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("--inbox-max-items (inbox_max_items in the config file) is 0 items"), "{err}");
}

//! What the server learns from sizes: the sealed account backup is padded, so its size
//! doesn't follow the number of contacts and conversations
//! (docs/WHAT-THE-SERVER-KNOWS.md; the column-by-column check is
//! crates/hush-server/tests/schema_documented.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;

fn backup_size(data: &std::path::Path, user: &str) -> (u64, usize) {
    let rows = operator_query(data, &format!("SELECT version, blob FROM backups WHERE username = '{user}'"));
    (rows[0][0].parse().unwrap(), rows[0][1].len() / 2)
}

#[test]
fn the_backup_size_does_not_follow_contacts_and_conversations() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let a = dir.path().join("alice");
    register_with_phrase(&a, "alice", &server.url);
    let (v0, first) = backup_size(&data, "alice");
    // 24-byte nonce + padded plaintext + 16-byte tag; the plaintext is a power of two.
    let plain = first - 24 - 16;
    assert!(plain.is_power_of_two() && plain >= 4096, "{first}");
    for (i, user) in ["bob", "carol", "dave", "erin"].iter().enumerate() {
        register(&dir.path().join(user), user, &server.url);
        ok(&a, &["send", "--new", user, "hello"]);
        ok(&a, &["conversation", "create", &format!("club{i}"), "--with", user]);
    }
    let (v1, later) = backup_size(&data, "alice");
    assert!(v1 > v0, "the backup changed ({v0} -> {v1})");
    assert_eq!(later, first, "the sealed backup's size moved with 4 contacts and 8 conversations");
}

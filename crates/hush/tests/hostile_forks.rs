//! Forked groups and stuck devices: a server that gives different members different
//! commits for one epoch, a copied device home, and a member from whom the server withholds
//! their own removal. Each ends in one sentence a person understands, never library text,
//! and a split conversation can be healed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::type_complexity, reason = "a failed expectation is the test failing")]

mod common;
use std::sync::{Arc, Mutex};

use common::*;

const RAW: [&str; 6] = ["Message epoch differs", "AEAD", "generation", "The requested secret", "keeps changing", "Internal"];

#[track_caller]
fn no_raw_text(text: &str) {
    for raw in RAW {
        assert!(!text.contains(raw), "raw library text reached the user: {text}");
    }
}

#[test]
fn a_copied_home_behind_the_group_is_told_so() {
    let (dir, _server, _proxy, h) = behind_proxy(&["alice", "bob", "carol", "dave"]);
    ok(&h[0], &["conversation", "create", "club", "--with", "bob,carol"]);
    read(&h[1]);
    read(&h[2]);
    let copy = dir.path().join("bob-copy");
    copy_dir(&h[1], &copy);
    // The group moves on; the original home takes the change (and acknowledges it, so the
    // server deletes it), the copy never can.
    ok(&h[0], &["conversation", "add", "club", "dave"]);
    read(&h[1]);
    let err = fails(&copy, &["send", "club", "hello"]);
    no_raw_text(&err);
    assert!(
        err.contains("this device is behind club (at epoch") && err.contains("this home may be a copy of another device's home, or the server is withholding them"),
        "{err}"
    );
}

#[test]
fn a_member_whose_removal_was_withheld_is_told_so() {
    let (_dir, _server, proxy, h) = behind_proxy(&["alice", "bob", "carol"]);
    ok(&h[0], &["conversation", "create", "club", "--with", "bob,carol"]);
    read(&h[1]);
    read(&h[2]);
    // The server keeps alice's removal of bob from bob.
    let commits: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let c = commits.clone();
    proxy.tap(Some(Arc::new(move |m, p, body| {
        if m == "POST" && p.ends_with("/commit")
            && let Ok(req) = serde_json::from_slice::<hush_proto::CommitRequest>(body)
        {
            c.lock().expect("lock").push(req.commit.0);
        }
    })));
    let c = commits.clone();
    proxy.set(Some(Arc::new(move |m, p, body| {
        if m != "GET" || !p.starts_with("/v1/inbox") {
            return body;
        }
        let held = c.lock().expect("lock").clone();
        edit_inbox(body, move |items| items.retain(|i| !held.contains(&i.payload.0)))
    })));
    ok(&h[0], &["conversation", "remove", "club", "bob"]);
    assert!(!commits.lock().expect("lock").is_empty());
    let err = fails(&h[1], &["send", "club", "still here?"]);
    no_raw_text(&err);
    assert!(
        err.contains("the server says you are no longer in club, but this device never received the change that removed you"),
        "{err}"
    );
}

#[test]
fn a_forked_group_is_reported_as_a_split_and_healed() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut first = Server::start(&data, "127.0.0.1:0");
    let proxy = Proxy::start(&first.url);
    let names = ["alice", "bob", "carol", "dave", "erin"];
    let h: Vec<_> = names
        .iter()
        .map(|u| {
            let home = dir.path().join(u);
            register(&home, u, &proxy.url);
            home
        })
        .collect();
    ok(&h[0], &["conversation", "create", "club", "--with", "bob,carol"]);
    read(&h[1]);
    read(&h[2]);
    // The operator copies the data directory and runs a second server from the copy.
    first.kill9();
    let copy = dir.path().join("data-copy");
    copy_dir(&data, &copy);
    let s1 = Server::start(&data, "127.0.0.1:0");
    let s2 = Server::start(&copy, "127.0.0.1:0");
    let carol = device_id(&h[2]);
    let erin = device_id(&h[4]);
    let (u1, u2) = (s1.url.clone(), s2.url.clone());
    let on_copy = Arc::new(Mutex::new(true));
    let oc = on_copy.clone();
    proxy.route(Some(Arc::new(move |_m, _p, dev| {
        let copy_side = *oc.lock().expect("lock") && (dev == Some(carol.as_str()) || dev == Some(erin.as_str()));
        Some(if copy_side { u2.clone() } else { u1.clone() })
    })));
    // bob and carol each change the group at the same epoch; each server takes its own.
    ok(&h[1], &["conversation", "add", "club", "dave"]);
    ok(&h[2], &["conversation", "add", "club", "erin"]);
    let got = read(&h[0]);
    assert!(got.iter().any(|m| m["text"] == "bob added dave"), "{got:?}");

    // Now everyone talks to the first server again.
    *on_copy.lock().expect("lock") = false;
    ok(&h[2], &["send", "club", "hello from carol"]);
    ok(&h[1], &["send", "club", "hello from bob"]);
    let split = "this conversation split into two versions at epoch";
    let heal = "(the server delivered different changes to different members): messages from the other version can't be read here; run `hush conversation heal club` to bring everyone back into one";
    for i in [0, 2] {
        let out = ok(&h[i], &["read"]);
        no_raw_text(&out);
        assert_eq!(out.matches(split).count(), 1, "{}: {out}", names[i]);
        assert!(out.contains(heal), "{out}");
    }

    // alice heals it: a new conversation with everyone she sees in it.
    let out = ok(&h[0], &["conversation", "heal", "club"]);
    assert!(out.contains("re-created club"), "{out}");
    for i in 1..4 {
        let out = ok(&h[i], &["read"]);
        no_raw_text(&out);
        assert!(out.contains("alice re-created this conversation to heal a split; earlier messages stay in the old one"), "{}: {out}", names[i]);
        // carol's version also had erin, whom alice's does not: carol is told.
        assert_eq!(i == 2, out.contains("leaves out erin, who is in your version of the old one"), "{}: {out}", names[i]);
    }
    let list = ok(&h[2], &["conversation", "list"]);
    assert!(list.contains("[replaced by "), "{list}");
    ok(&h[2], &["send", "club", "together again"]);
    ok(&h[1], &["send", "club", "yes"]);
    let a = read(&h[0]);
    assert_eq!(texts(&a), vec!["together again", "yes"], "{a:?}");
    let c = read(&h[2]);
    assert_eq!(texts(&c), vec!["yes"], "{c:?}");
    let b = read(&h[1]);
    assert_eq!(texts(&b), vec!["together again"], "{b:?}");
}

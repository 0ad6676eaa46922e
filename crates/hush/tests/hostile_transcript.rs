//! The transcript, against a server that withholds, reorders, duplicates and re-sends
//! messages, and against a copied device: each shows in a sentence, and messages are shown
//! in the order they were sent (DESIGN.md decision 11).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::type_complexity, reason = "a failed expectation is the test failing")]

mod common;
use std::sync::{Arc, Mutex};

use common::*;
use hush_proto::InboxKind;

/// Records the application messages clients post, in order.
fn record_posts(proxy: &Proxy) -> Arc<Mutex<Vec<Vec<u8>>>> {
    let posted: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let p = posted.clone();
    proxy.tap(Some(Arc::new(move |m, path, body| {
        if m == "POST" && path.starts_with("/v1/groups/") && path.ends_with("/messages")
            && let Ok(req) = serde_json::from_slice::<hush_proto::MessageRequest>(body)
        {
            p.lock().expect("lock").push(req.message.0);
        }
    })));
    posted
}

/// No raw library text in anything a person reads.
#[track_caller]
fn no_raw_text(msgs: &[serde_json::Value]) {
    for w in warnings(msgs) {
        for raw in ["Message epoch differs", "AEAD", "generation", "The requested secret", "keeps changing"] {
            assert!(!w.contains(raw), "raw library text reached the user: {w}");
        }
    }
}

#[test]
fn a_withheld_message_is_reported_missing_and_shown_late_when_it_comes() {
    let (_dir, _server, proxy, h) = behind_proxy(&["alice", "bob"]);
    ok(&h[0], &["send", "--new", "bob", "one"]);
    assert_eq!(texts(&read(&h[1])), vec!["one"]);

    let posted = record_posts(&proxy);
    for t in ["two", "three", "four"] {
        ok(&h[0], &["send", "bob", t]);
    }
    let withheld = posted.lock().expect("lock")[0].clone();
    let w = withheld.clone();
    proxy.set(Some(Arc::new(move |m, p, body| {
        if !is_inbox(m, p) {
            return body;
        }
        edit_inbox(body, |items| items.retain(|i| i.payload.0 != w))
    })));
    let got = read(&h[1]);
    assert_eq!(texts(&got), vec!["three", "four"], "{got:?}");
    assert_eq!(
        warnings(&got),
        vec!["1 message from alice is missing: the server withheld or lost it"],
        "{got:?}"
    );
    // Said once, not at every sync.
    let got = read(&h[1]);
    assert!(warnings(&got).is_empty(), "{got:?}");

    // The server hands it over after all: shown, marked late, and the gap is closed.
    proxy.set(None);
    let got = read(&h[1]);
    assert_eq!(texts(&got), vec!["two"], "{got:?}");
    let two = got.iter().find(|m| m["text"] == "two").expect("two");
    assert_eq!(two["late"], true, "{got:?}");
    assert!(warnings(&got).is_empty(), "{got:?}");
    let plain = ok(&h[1], &["read"]);
    assert!(plain.trim().is_empty(), "{plain}");
    ok(&h[0], &["send", "bob", "five"]);
    let out = hush(&h[1], &["read"]);
    let plain = String::from_utf8_lossy(&out.stdout);
    assert!(plain.contains("alice: five") && !plain.contains("missing"), "{plain}");
}

#[test]
fn the_last_late_message_is_printed_as_late() {
    let (_dir, _server, proxy, h) = behind_proxy(&["alice", "bob"]);
    ok(&h[0], &["send", "--new", "bob", "one"]);
    read(&h[1]);
    let posted = record_posts(&proxy);
    ok(&h[0], &["send", "bob", "held back"]);
    ok(&h[0], &["send", "bob", "after"]);
    let w = posted.lock().expect("lock")[0].clone();
    proxy.set(Some(Arc::new(move |m, p, body| {
        if !is_inbox(m, p) {
            return body;
        }
        let w = w.clone();
        edit_inbox(body, move |items| items.retain(|i| i.payload.0 != w))
    })));
    let first = ok(&h[1], &["read"]);
    assert!(first.contains("alice: after") && first.contains("1 message from alice is missing"), "{first}");
    proxy.set(None);
    let later = ok(&h[1], &["read"]);
    assert!(later.contains("alice (late): held back"), "{later}");
}

#[test]
fn messages_delivered_in_reverse_and_twice_are_shown_once_in_the_order_sent() {
    let (_dir, _server, proxy, h) = behind_proxy(&["alice", "bob"]);
    ok(&h[0], &["send", "--new", "bob", "first"]);
    read(&h[1]);
    for t in ["a", "b", "c"] {
        ok(&h[0], &["send", "bob", t]);
    }
    proxy.set(Some(Arc::new(|m, p, body| {
        if !is_inbox(m, p) {
            return body;
        }
        edit_inbox(body, |items| {
            items.reverse();
            let dups: Vec<_> = items
                .iter()
                .filter(|i| i.kind == InboxKind::Message)
                .map(|i| {
                    let mut d = i.clone();
                    d.id += 1_000_000;
                    d
                })
                .collect();
            items.extend(dups);
        })
    })));
    let got = read(&h[1]);
    assert_eq!(texts(&got), vec!["a", "b", "c"], "{got:?}");
    assert!(warnings(&got).is_empty(), "{got:?}");
    assert!(got.iter().all(|m| m["late"] != true), "{got:?}");
}

#[test]
fn a_copied_device_home_that_sends_is_reported_as_a_second_copy() {
    let (dir, _server, _proxy, h) = behind_proxy(&["alice", "bob"]);
    ok(&h[0], &["send", "--new", "bob", "hi"]);
    read(&h[1]);
    // Someone copies bob's home (keys included) and uses it.
    let copy = dir.path().join("bob-copy");
    copy_dir(&h[1], &copy);
    ok(&h[1], &["send", "alice", "from the original"]);
    ok(&copy, &["send", "alice", "from the copy"]);
    ok(&copy, &["send", "alice", "again from the copy"]);
    let got = read(&h[0]);
    no_raw_text(&got);
    let w = warnings(&got);
    let short: String = device_id(&h[1]).chars().take(8).collect();
    assert!(
        w.iter().any(|x| x.starts_with(&format!("a second copy of bob's device {short} is sending: that device's keys were copied"))),
        "{got:?}"
    );
    assert_eq!(w.iter().filter(|x| x.contains("a second copy of bob's device")).count(), 1, "{got:?}");
    assert!(texts(&got).contains(&"from the original".to_owned()), "{got:?}");
}

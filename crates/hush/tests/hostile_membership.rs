//! A hostile server and who is in a conversation: a revoked device handed out again, a new
//! device slipped in, a routing list that differs from the group, members re-added, and
//! settings changed by one member.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::type_complexity, reason = "a failed expectation is the test failing")]

mod common;
use std::sync::{Arc, Mutex};

use common::*;
use hush_proto::{B64, ClaimResponse, ClaimedKeyPackage, DeviceUpload};

fn events(msgs: &[serde_json::Value]) -> Vec<String> {
    msgs.iter().filter(|m| m["kind"] == "event").map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect()
}

#[test]
fn a_revoked_devices_key_package_handed_out_again_never_joins() {
    let (dir, _server, proxy, h) = behind_proxy(&["alice", "bob", "carol"]);
    let (alice, bob, carol) = (&h[0], &h[1], &h[2]);
    // The server keeps what bob's second device uploaded when it was linked.
    let uploaded: Arc<Mutex<Option<DeviceUpload>>> = Arc::default();
    let up = uploaded.clone();
    proxy.tap(Some(Arc::new(move |m, p, body| {
        if m == "POST" && p == "/v1/devices"
            && let Ok(d) = serde_json::from_slice::<DeviceUpload>(body)
        {
            *up.lock().unwrap() = Some(d);
        }
    })));
    let bob2 = dir.path().join("bob2");
    link_device(&bob2, "bob", &proxy.url, bob);
    proxy.tap(None);
    let bob2_id = device_id(&bob2);
    ok(bob, &["device", "revoke", &bob2_id]);
    let upload = uploaded.lock().unwrap().clone().expect("bob2's upload was seen");

    ok(alice, &["conversation", "create", "club", "--with", "carol"]);
    ok(alice, &["conversation", "history", "club", "on"]);
    ok(alice, &["send", "club", "the plan, for members only"]);

    // When alice adds bob, the server hands out the revoked device's KeyPackage with his.
    let kp = upload.key_packages[0].clone();
    let id = bob2_id.clone();
    proxy.set(Some(Arc::new(move |m, p, body| {
        if m == "POST" && p == "/v1/users/bob/claim"
            && let Ok(mut c) = serde_json::from_slice::<ClaimResponse>(&body)
        {
            c.key_packages.push(ClaimedKeyPackage { device_id: id.clone(), key_package: B64(kp.0.clone()) });
            return serde_json::to_vec(&c).unwrap();
        }
        body
    })));
    let e = fails(alice, &["conversation", "add", "club", "bob"]);
    assert!(e.contains("does not list") && e.contains(&bob2_id[..8]), "{e}");
    let members = ok(alice, &["conversation", "members", "club", "--json"]);
    assert!(!members.contains(&bob2_id), "the revoked device is not in the group: {members}");
    assert!(!events(&read(carol)).iter().any(|e| e.contains("bob")), "nothing changed for carol");

    // With an honest answer, bob (his one current device) joins and everyone sees it.
    proxy.set(None);
    ok(alice, &["conversation", "add", "club", "bob"]);
    let members = ok(alice, &["conversation", "members", "club", "--json"]);
    assert!(!members.contains(&bob2_id) && members.contains(&device_id(bob)), "{members}");
    assert!(events(&read(carol)).iter().any(|e| e == "alice added bob"));
}

#[test]
fn a_new_device_of_a_member_is_announced_to_everyone() {
    let (dir, _server, proxy, h) = behind_proxy(&["alice", "bob", "carol"]);
    let (alice, bob, carol) = (&h[0], &h[1], &h[2]);
    ok(alice, &["conversation", "create", "club", "--with", "bob,carol"]);
    read(bob);
    read(carol);
    let bob2 = dir.path().join("bob2");
    link_device(&bob2, "bob", &proxy.url, bob);
    let short = device_id(&bob2)[..8].to_owned();
    // bob's first device brings the new one into the conversations he is in.
    read(bob);
    for who in [alice, carol] {
        let ev = events(&read(who));
        assert!(
            ev.iter().any(|e| e.contains("bob added new device") && e.contains(&short) && e.contains("key directory at epoch")),
            "every member is told: {ev:?}"
        );
    }
    ok(alice, &["send", "club", "hello all four devices"]);
    assert_eq!(texts(&read(&bob2)), vec!["hello all four devices"]);
}

#[test]
fn a_routing_list_that_differs_from_the_group_is_reported() {
    let (_dir, server, _proxy, h) = behind_proxy(&["alice", "bob", "carol"]);
    let (alice, bob, carol) = (&h[0], &h[1], &h[2]);
    ok(alice, &["send", "--new", "bob", "hi"]);
    read(bob);
    let gid = operator_query(&server.data, "SELECT group_id FROM mls_groups")[0][0].clone();
    // The operator also routes alice and bob's messages to carol's device, and stops
    // routing them to bob's.
    let (carol_id, bob_id) = (device_id(carol), device_id(bob));
    operator_sql(
        &server.data,
        &format!(
            "INSERT INTO group_members (group_id, device_id) VALUES (X'{gid}', '{carol_id}'); DELETE FROM group_members WHERE group_id = X'{gid}' AND device_id = '{bob_id}';"
        ),
    );
    ok(alice, &["send", "bob", "are you there?"]);
    let w = warnings(&read(alice));
    assert!(
        w.iter().any(|w| w.contains("delivers this conversation's messages to device") && w.contains(&carol_id[..8]) && w.contains("not a member")),
        "{w:?}"
    );
    assert!(w.iter().any(|w| w.contains("does not deliver") && w.contains(&bob_id[..8])), "{w:?}");
    // Said once, not on every sync.
    ok(alice, &["send", "bob", "again"]);
    assert!(warnings(&read(alice)).is_empty());
}

#[test]
fn a_removed_member_or_one_who_left_can_be_added_back() {
    let (_dir, _server, _proxy, h) = behind_proxy(&["alice", "bob", "carol"]);
    let (alice, bob, carol) = (&h[0], &h[1], &h[2]);
    ok(alice, &["conversation", "create", "club", "--with", "bob,carol"]);
    read(bob);
    read(carol);
    ok(alice, &["conversation", "remove", "club", "carol"]);
    read(bob);
    assert!(events(&read(carol)).iter().any(|e| e == "alice removed you"));
    // `@carol` names the user, as everywhere.
    ok(alice, &["conversation", "add", "club", "@carol"]);
    let got = read(carol);
    assert!(events(&got).iter().any(|e| e == "alice added you back"), "{got:?}");
    assert!(warnings(&got).is_empty(), "{got:?}");
    ok(alice, &["send", "club", "welcome back"]);
    assert_eq!(texts(&read(carol)), vec!["welcome back"]);
    ok(carol, &["send", "club", "glad to be back"]);
    assert_eq!(texts(&read(alice)), vec!["glad to be back"]);
    assert_eq!(texts(&read(bob)), vec!["welcome back", "glad to be back"]);

    // One who left comes back too.
    ok(bob, &["conversation", "leave", "club"]);
    read(alice);
    read(carol);
    read(bob);
    ok(alice, &["conversation", "add", "club", "bob"]);
    ok(carol, &["send", "club", "bob is back"]);
    assert_eq!(texts(&read(bob)), vec!["bob is back"]);
}

#[test]
fn a_members_settings_change_is_shown_to_everyone() {
    let (dir, server, _proxy, h) = behind_proxy(&["alice", "bob", "carol"]);
    let (alice, bob, carol) = (&h[0], &h[1], &h[2]);
    ok(alice, &["conversation", "create", "club", "--with", "bob,carol"]);
    read(alice);
    read(carol);
    // The adder's settings arrive quietly.
    assert!(events(&read(bob)).iter().all(|e| !e.contains("renamed") && !e.contains("history")));
    ok(bob, &["conversation", "rename", "club", "book-club"]);
    ok(bob, &["conversation", "history", "book-club", "on"]);
    for who in [alice, carol] {
        let ev = events(&read(who));
        assert!(ev.iter().any(|e| e == "bob renamed the conversation from club to book-club"), "{ev:?}");
        assert!(ev.iter().any(|e| e.starts_with("bob turned history on")), "{ev:?}");
    }
    ok(carol, &["send", "book-club", "found by its new name"]);
    assert_eq!(texts(&read(alice)), vec!["found by its new name"]);

    // A late member gets earlier messages from the member who added them.
    let dave = dir.path().join("dave");
    register(&dave, "dave", &server.url);
    ok(alice, &["conversation", "add", "book-club", "dave"]);
    let got = read(&dave);
    assert!(got.iter().any(|m| m["kind"] == "history" && m["text"] == "found by its new name"), "{got:?}");
    assert!(events(&got).iter().all(|e| !e.contains("renamed")), "the adder's settings arrive quietly: {got:?}");
}

#[test]
fn a_welcome_never_replaces_a_conversation_this_device_is_in() {
    use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
    use hush_core::mls::{self, Conversation, Device, HushProvider};
    use hush_proto::{InboxItem, InboxKind};
    let (_dir, server, proxy, h) = behind_proxy(&["alice", "bob"]);
    let (alice, bob) = (&h[0], &h[1]);
    ok(alice, &["conversation", "create", "club", "--with", "bob"]);
    read(bob);
    let gid = operator_query(&server.data, "SELECT group_id FROM mls_groups")[0][0].clone();
    let gid = unhex(&gid);
    // The server makes a group of its own with club's id and invites alice with one of
    // her KeyPackages it holds.
    let bob_id = device_id(bob);
    let alice_id = device_id(alice);
    let kp_hex = operator_query(&server.data, &format!("SELECT data FROM key_packages WHERE device_id = '{alice_id}' AND last_resort = 0 LIMIT 1"))[0][0].clone();
    let kp_bytes = unhex(&kp_hex);
    let kp = mls::check_key_package(&kp_bytes).unwrap().key_package;
    let mallory_id = SecretKey::generate();
    let mallory_dev = SecretKey::generate();
    let cert = DeviceCertificate::issue(&mallory_id, "mallory", &new_device_id(), mallory_dev.public());
    let provider = HushProvider::new().unwrap();
    let device = Device { key: &mallory_dev, certificate: &cert };
    let mut forged = Conversation::create_with_id(&provider, &device, &gid).unwrap();
    let welcome = forged.change_members(&provider, &device, vec![kp], &[]).unwrap().welcome.unwrap();
    let inject = Arc::new(Mutex::new(Some(InboxItem {
        id: 9_000_000,
        kind: InboxKind::Welcome,
        group_id: None,
        sender_device: Some(bob_id.clone()),
        payload: B64(welcome),
        received_at: 0,
    })));
    proxy.set(Some(Arc::new(move |m, p, body| {
        if m != "GET" || !p.starts_with("/v1/inbox") {
            return body;
        }
        let inject = inject.clone();
        edit_inbox(body, move |items| {
            if let Some(it) = inject.lock().unwrap().take() {
                items.insert(0, it);
            }
        })
    })));
    let w = warnings(&read(alice));
    assert!(w.iter().any(|w| w.contains("a conversation you are still in") && w.contains("refused")), "{w:?}");
    proxy.set(None);
    // club is still the real conversation with bob.
    let members = ok(alice, &["conversation", "members", "club", "--json"]);
    assert!(members.contains(&bob_id) && !members.contains("mallory"), "{members}");
    ok(alice, &["send", "club", "still the real club"]);
    assert_eq!(texts(&read(bob)), vec!["still the real club"]);
}

#[test]
fn a_commit_whose_answer_is_lost_still_lands_and_nobody_is_left_behind() {
    let (_dir, _server, proxy, h) = behind_proxy(&["alice", "bob", "carol"]);
    let (alice, bob, carol) = (&h[0], &h[1], &h[2]);
    ok(alice, &["conversation", "create", "club", "--with", "bob"]);
    read(bob);
    // The server takes alice's next commit, but its answer is lost on the way back.
    let lose = Arc::new(Mutex::new(true));
    proxy.set(Some(Arc::new(move |m, p, body| {
        if m == "POST" && p.ends_with("/commit") && std::mem::replace(&mut *lose.lock().unwrap(), false) {
            return b"<html>504 Gateway Time-out</html>".to_vec();
        }
        body
    })));
    ok(alice, &["conversation", "add", "club", "carol"]);
    proxy.set(None);
    ok(alice, &["send", "club", "all three of us"]);
    assert_eq!(texts(&read(bob)), vec!["all three of us"]);
    assert_eq!(texts(&read(carol)), vec!["all three of us"]);
    assert!(warnings(&read(alice)).is_empty());
}

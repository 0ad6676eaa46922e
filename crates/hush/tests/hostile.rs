//! A hostile server: the real server behind a real proxy that replays, alters, forges and
//! hides what clients receive. Each time the client must refuse, warn, and carry on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::type_complexity, reason = "a failed expectation is the test failing")]

mod common;
use std::sync::{Arc, Mutex};

use common::*;
use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
use hush_core::mls::{self, Conversation, Device, HushProvider};
use hush_proto::{B64, InboxItem, InboxKind};

#[test]
fn a_replayed_application_message_is_shown_once() {
    let (_dir, _server, proxy, h) = behind_proxy(&["alice", "bob"]);
    ok(&h[0], &["send", "bob", "first", "--new"]);
    // The proxy delivers every message twice, and keeps a copy.
    let captured: Arc<Mutex<Vec<InboxItem>>> = Arc::default();
    let cap = captured.clone();
    proxy.set(Some(Arc::new(move |m, p, body| {
        if !is_inbox(m, p) {
            return body;
        }
        edit_inbox(body, |items| {
            let mut extra = Vec::new();
            for it in items.iter().filter(|i| i.kind == InboxKind::Message) {
                cap.lock().expect("lock").push(it.clone());
                let mut dup = it.clone();
                dup.id += 1_000_000;
                extra.push(dup);
            }
            items.extend(extra);
        })
    })));
    let got = read(&h[1]);
    assert_eq!(texts(&got), vec!["first"], "{got:?}");

    // Later, the proxy replays the old messages in front of a new one.
    ok(&h[0], &["send", "bob", "second"]);
    let old = captured.lock().expect("lock").clone();
    assert!(!old.is_empty());
    proxy.set(Some(Arc::new(move |m, p, body| {
        if !is_inbox(m, p) {
            return body;
        }
        let old = old.clone();
        edit_inbox(body, move |items| {
            if items.is_empty() {
                return;
            }
            let mut replayed = old;
            for (i, r) in replayed.iter_mut().enumerate() {
                r.id = 2_000_000 + i as i64;
            }
            replayed.append(items);
            *items = replayed;
        })
    })));
    let got = read(&h[1]);
    assert_eq!(texts(&got), vec!["second"], "{got:?}");
}

#[test]
fn a_message_changed_in_transit_is_refused_and_the_next_one_still_arrives() {
    let (_dir, _server, proxy, h) = behind_proxy(&["alice", "bob"]);
    ok(&h[0], &["send", "bob", "setting up", "--new"]);
    read(&h[1]);
    ok(&h[0], &["send", "bob", "attack at dawn"]);
    proxy.set(Some(Arc::new(|m, p, body| {
        if !is_inbox(m, p) {
            return body;
        }
        edit_inbox(body, |items| {
            for it in items.iter_mut().filter(|i| i.kind == InboxKind::Message) {
                let n = it.payload.0.len();
                it.payload.0[n - 20] ^= 0x01;
            }
        })
    })));
    let got = read(&h[1]);
    assert!(texts(&got).is_empty(), "{got:?}");
    let w = warnings(&got);
    assert_eq!(w.len(), 1, "{got:?}");
    assert!(w[0].contains("refused"), "{w:?}");

    proxy.set(None);
    ok(&h[0], &["send", "bob", "retreat at noon"]);
    assert_eq!(texts(&read(&h[1])), vec!["retreat at noon"]);
}

#[test]
fn a_commit_no_member_signed_is_refused_and_the_user_warned() {
    let (_dir, _server, proxy, h) = behind_proxy(&["alice", "bob"]);
    ok(&h[0], &["conversation", "create", "club", "--with", "bob"]);
    ok(&h[0], &["send", "club", "welcome to the club"]);
    // Learn the group id and epoch from what bob receives.
    let seen: Arc<Mutex<Option<(Vec<u8>, u64)>>> = Arc::default();
    let s2 = seen.clone();
    proxy.set(Some(Arc::new(move |m, p, body| {
        if is_inbox(m, p) {
            let _ = edit_inbox(body.clone(), |items| {
                for it in items.iter().filter(|i| i.kind == InboxKind::Message) {
                    if let Ok(info) = mls::inspect(&it.payload.0) {
                        *s2.lock().expect("lock") = Some((info.group_id, info.epoch));
                    }
                }
            });
        }
        body
    })));
    assert_eq!(texts(&read(&h[1])), vec!["welcome to the club"]);
    let (gid, epoch) = seen.lock().expect("lock").clone().expect("saw the group");

    // The server forges a commit for that group and epoch, adding a device of its own,
    // signed by a key no member has.
    let mallory_id = SecretKey::generate();
    let mallory_dev = SecretKey::generate();
    let cert = DeviceCertificate::issue(&mallory_id, "mallory", &new_device_id(), mallory_dev.public());
    let provider = HushProvider::new().expect("provider");
    let device = Device { key: &mallory_dev, certificate: &cert };
    let mut forged = Conversation::create_with_id(&provider, &device, &gid).expect("group");
    let mut commit = Vec::new();
    while forged.epoch() <= epoch {
        let extra = SecretKey::generate();
        let c2 = DeviceCertificate::issue(&mallory_id, "mallory", &new_device_id(), extra.public());
        let p2 = HushProvider::new().expect("provider");
        let (kps, _) = mls::key_packages(&p2, &Device { key: &extra, certificate: &c2 }, 1).expect("kp");
        let kp = mls::check_key_package(&kps[0]).expect("kp").key_package;
        commit = forged.change_members(&provider, &device, vec![kp], &[]).expect("commit").commit;
        forged.confirm_commit(&provider).expect("merge");
    }
    assert_eq!(mls::inspect(&commit).expect("framing").epoch, epoch);
    let inject = Arc::new(Mutex::new(Some(InboxItem {
        id: 9_000_000,
        kind: InboxKind::Message,
        group_id: Some(B64(gid.clone())),
        sender_device: Some("0011223344556677".into()),
        payload: B64(commit),
        received_at: 0,
    })));
    proxy.set(Some(Arc::new(move |m, p, body| {
        if !is_inbox(m, p) {
            return body;
        }
        let inject = inject.clone();
        edit_inbox(body, move |items| {
            if let Some(it) = inject.lock().expect("lock").take() {
                items.insert(0, it);
            }
        })
    })));
    let got = read(&h[1]);
    let w = warnings(&got);
    assert_eq!(w.len(), 1, "{got:?}");
    assert!(w[0].contains("refused"), "{w:?}");
    proxy.set(None);
    // The group is unharmed: no mallory, and messages still flow.
    let members = ok(&h[1], &["conversation", "members", "club", "--json"]);
    assert!(!members.contains("mallory"), "{members}");
    ok(&h[0], &["send", "club", "still private"]);
    assert_eq!(texts(&read(&h[1])), vec!["still private"]);
}

#[test]
fn a_key_package_that_does_not_chain_to_the_users_identity_key_is_refused() {
    let (dir, _server, proxy, h) = behind_proxy(&["alice", "bob"]);
    // The server hands out a KeyPackage for "bob" certified by an identity key it holds.
    let mallory_id = SecretKey::generate();
    let dev = SecretKey::generate();
    let cert = DeviceCertificate::issue(&mallory_id, "bob", &new_device_id(), dev.public());
    let provider = HushProvider::new().expect("provider");
    let (kps, _) = mls::key_packages(&provider, &Device { key: &dev, certificate: &cert }, 1).expect("kp");
    let forged = kps[0].clone();
    let forged_device = cert.body().device_id.clone();
    proxy.set(Some(Arc::new(move |m, p, body| {
        if m == "POST" && p.starts_with("/v1/users/bob/claim") {
            let resp = hush_proto::ClaimResponse {
                key_packages: vec![hush_proto::ClaimedKeyPackage { device_id: forged_device.clone(), key_package: B64(forged.clone()) }],
            };
            return serde_json::to_vec(&resp).expect("json");
        }
        body
    })));
    let err = fails(&h[0], &["send", "bob", "for bob only", "--new"]);
    assert!(err.contains("refused bob's device"), "{err}");
    // Nothing reached bob, and nothing of the text reached the server.
    proxy.set(None);
    assert!(texts(&read(&h[1])).is_empty());
    assert!(!contains(&all_bytes(&dir.path().join("data")), "for bob only"));
    // Without the forgery, sending works and bob's pin was not disturbed.
    ok(&h[0], &["send", "bob", "for bob only", "--new"]);
    assert_eq!(texts(&read(&h[1])), vec!["for bob only"]);
}

#[test]
fn two_commits_for_one_epoch_one_wins_and_the_other_lands_after_catching_up() {
    let (_dir, _server, proxy, h) = behind_proxy(&["alice", "bob", "carol", "dave"]);
    ok(&h[0], &["conversation", "create", "race", "--with", "bob"]);
    read(&h[1]);
    // alice adds carol; bob, not yet aware of it (the proxy hides his inbox once), adds
    // dave at the same epoch. The server takes alice's, refuses bob's as stale; bob's
    // client catches up and makes its change again.
    ok(&h[0], &["conversation", "add", "race", "carol"]);
    let hidden = Arc::new(Mutex::new(false));
    let hd = hidden.clone();
    proxy.set(Some(Arc::new(move |m, p, body| {
        if is_inbox(m, p) && !*hd.lock().expect("lock") {
            *hd.lock().expect("lock") = true;
            return serde_json::to_vec(&hush_proto::InboxResponse { items: vec![] }).expect("json");
        }
        body
    })));
    ok(&h[1], &["conversation", "add", "race", "dave"]);
    assert!(*hidden.lock().expect("lock"), "bob's first view was stale");
    proxy.set(None);
    let members = ok(&h[0], &["conversation", "members", "race", "--json"]);
    for u in ["alice", "bob", "carol", "dave"] {
        assert!(members.contains(&format!("\"{u}\"")), "{u} missing: {members}");
    }
    ok(&h[3], &["send", "race", "dave is in"]);
    for (i, home) in h.iter().take(3).enumerate() {
        assert!(texts(&read(home)).contains(&"dave is in".to_owned()), "member {i}");
    }
}

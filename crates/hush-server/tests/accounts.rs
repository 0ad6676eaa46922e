//! Device revocation and the encrypted account backup, end to end: a real server on
//! loopback with a real SQLite database in a temporary directory, real keys, certificates
//! and MLS messages made by hush-core, and the client's own key-directory proof checks.

// Tests state their expectations with unwrap/expect/panic: a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures_util::StreamExt as _;
use hush_core::identity::{SecretKey, new_device_id};
use hush_core::kt::{directory_value, verify_lookup};
use hush_core::mls;
use hush_proto::{
    B64, Backup, ClaimResponse, CommitRequest, GroupInfo, InboxKind, InboxResponse, KtInfo, KtLookup, RECOVERY_DEVICE,
    UserRecord,
};
use hush_server::ServerConfig;
use reqwest::StatusCode;

mod common;

use common::{
    Client, Running, TestDevice, backup, conversation_with, copy_key, devices_of, expect_error, root, sign, websocket,
};

// ---------------------------------------------------------------------------------------
// Harness: tests/common/mod.rs, and what only these tests need

impl Client {
    async fn revoke(&self, server: &Running, by: &TestDevice, device_id: &str) -> reqwest::Response {
        self.raw(server, by, "POST", &format!("/v1/devices/{device_id}/revoke"), Vec::new()).await
    }

    /// `GET /v1/recovery/{username}` signed with `key` as the recovery device.
    async fn recover(&self, server: &Running, username: &str, key: &SecretKey) -> reqwest::Response {
        self.recover_at(server, &format!("/v1/recovery/{username}"), key).await
    }
}

fn revocations(inbox: &InboxResponse) -> Vec<(String, Option<String>)> {
    inbox
        .items
        .iter()
        .filter(|i| i.kind == InboxKind::DeviceRevoked)
        .map(|i| (String::from_utf8(i.payload.0.clone()).unwrap(), i.sender_device.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Revocation

#[tokio::test]
async fn a_revoked_device_is_gone_everywhere_and_its_contacts_are_told() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let client = Client::new();
    let laptop = TestDevice::new("alice");
    let phone = laptop.sibling();
    let bob = TestDevice::new("bob");
    let eve = TestDevice::new("eve");
    client.register(&server, &laptop, 3).await;
    client.add_device(&server, &phone, 3).await;
    client.register(&server, &bob, 2).await;
    client.register(&server, &eve, 1).await;

    // Bob talks with both of alice's devices.
    let mut conv = conversation_with(&client, &server, &bob, &[&laptop]).await;
    let group_hex = hex::encode(conv.id());
    let info: GroupInfo = client.get_json(&server, &bob, &format!("/v1/groups/{group_hex}")).await;
    assert_eq!(info.devices.len(), 3);

    let mut laptop_socket = websocket(&server, &laptop).await;
    let mut bob_socket = websocket(&server, &bob).await;

    // The phone revokes the laptop.
    let res = client.revoke(&server, &phone, &laptop.device_id).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);

    // The laptop can't do anything any more, and its socket is closed.
    let res = client.get(&server, &laptop, "/v1/inbox").await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = client.get(&server, &laptop, "/v1/users/alice").await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = client.revoke(&server, &laptop, &phone.device_id).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let closed = loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), laptop_socket.next())
            .await
            .expect("the revoked device's socket ends within 5 s");
        match frame {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None | Some(Err(_)) => break true,
            Some(Ok(_)) => continue,
        }
    };
    assert!(closed);
    // Bob is woken for the announcement.
    let frame = tokio::time::timeout(Duration::from_secs(5), bob_socket.next())
        .await
        .expect("a push within 5 s")
        .expect("socket open")
        .unwrap();
    assert_eq!(frame.to_text().unwrap(), "inbox");

    // Gone from the directory listing, the claims and the group's routing.
    let user: UserRecord = client.get_json(&server, &bob, "/v1/users/alice").await;
    let listed: Vec<&str> = user.devices.iter().map(|d| d.device_id.as_str()).collect();
    assert_eq!(listed, [phone.device_id.as_str()]);
    let claim: ClaimResponse = client.post(&server, &eve, "/v1/users/alice/claim", &()).await.json().await.unwrap();
    let claimed: Vec<&str> = claim.key_packages.iter().map(|k| k.device_id.as_str()).collect();
    assert_eq!(claimed, [phone.device_id.as_str()]);
    let info: GroupInfo = client.get_json(&server, &bob, &format!("/v1/groups/{group_hex}")).await;
    let mut expected = vec![bob.device_id.clone(), phone.device_id.clone()];
    expected.sort();
    assert_eq!(info.devices, expected);

    // The key directory proves alice's value without the laptop.
    let kt: KtInfo = client.http.get(server.url("/v1/kt/info")).send().await.unwrap().json().await.unwrap();
    let lookup: KtLookup = client.get_json(&server, &bob, "/v1/kt/lookup/alice").await;
    assert_eq!(lookup.root, kt.root);
    let v = verify_lookup(&kt.vrf_public_key.0, &root(&kt.root), "alice", &lookup.proof.0).expect("lookup verifies");
    assert_eq!(v.value, directory_value(&phone.identity.public(), &devices_of(&[&phone])));
    assert_eq!(v.version, 3, "registered, phone added, laptop revoked");

    // Those sharing a group with alice, and alice's other devices, are told; eve is not.
    for (who, told) in [(&bob, true), (&phone, true), (&eve, false)] {
        let seen = revocations(&client.inbox(&server, who).await);
        let expect = if told {
            vec![("alice".to_owned(), Some(laptop.device_id.clone()))]
        } else {
            vec![]
        };
        assert_eq!(seen, expect, "{}'s inbox", who.username);
    }

    // The laptop can't be added back to a group (the server sees routing only: any real
    // commit naming it will do)...
    let stranger = TestDevice::new("carol");
    let (kps, _) = mls::key_packages(&stranger.provider, &stranger.mls(), 1).unwrap();
    let kp = mls::check_key_package(&kps[0]).unwrap().key_package;
    let out = conv.change_members(&bob.provider, &bob.mls(), vec![kp], &[]).unwrap();
    conv.abandon_commit(&bob.provider).unwrap();
    let res = client
        .post(
            &server,
            &bob,
            &format!("/v1/groups/{group_hex}/commit"),
            &CommitRequest {
                commit: B64(out.commit),
                welcome: out.welcome.map(B64),
                added_devices: vec![laptop.device_id.clone()],
                removed_devices: vec![],
            },
        )
        .await;
    let body = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(body.message.contains(&laptop.device_id), "{}", body.message);

    // ...nor registered again, by its id or by its key.
    let res = client.post(&server, &laptop, "/v1/devices", &laptop.upload(1)).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let same_key = TestDevice::with_key("alice", copy_key(&laptop.identity), copy_key(&laptop.key), new_device_id());
    let res = client.post(&server, &same_key, "/v1/devices", &same_key.upload(1)).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;

    // Revoking twice is a conflict.
    let res = client.revoke(&server, &phone, &laptop.device_id).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;

    // Bob can't revoke alice's device; to him it looks like no device at all.
    let res = client.revoke(&server, &bob, &phone.device_id).await;
    let theirs = expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = client.revoke(&server, &bob, &new_device_id()).await;
    let missing = expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(theirs.message, missing.message);
    // Not even the revoked one.
    let res = client.revoke(&server, &bob, &laptop.device_id).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = client.revoke(&server, &bob, "not-a-device").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let user: UserRecord = client.get_json(&server, &bob, "/v1/users/alice").await;
    assert_eq!(user.devices.len(), 1);

    // A device may revoke itself, the last one too.
    let res = client.revoke(&server, &phone, &phone.device_id).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    let res = client.get(&server, &phone, "/v1/inbox").await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let user: UserRecord = client.get_json(&server, &bob, "/v1/users/alice").await;
    assert!(user.devices.is_empty());
    let info: GroupInfo = client.get_json(&server, &bob, &format!("/v1/groups/{group_hex}")).await;
    assert_eq!(info.devices, std::slice::from_ref(&bob.device_id));
    let kt: KtInfo = client.http.get(server.url("/v1/kt/info")).send().await.unwrap().json().await.unwrap();
    let lookup: KtLookup = client.get_json(&server, &bob, "/v1/kt/lookup/alice").await;
    let v = verify_lookup(&kt.vrf_public_key.0, &root(&lookup.root), "alice", &lookup.proof.0).unwrap();
    assert_eq!(v.value, directory_value(&phone.identity.public(), &[]));
    assert_eq!(revocations(&client.inbox(&server, &bob).await).len(), 2);

    server.stop().await;

    // All of it survives a restart.
    let server = Running::start(dir.path()).await;
    let res = client.get(&server, &laptop, "/v1/inbox").await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let user: UserRecord = client.get_json(&server, &bob, "/v1/users/alice").await;
    assert!(user.devices.is_empty());
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Backup and recovery

#[tokio::test]
async fn a_backup_is_stored_by_version_and_fetched_with_the_recovery_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().to_path_buf());
    // Room for a body larger than the largest backup, to see the backup's own limit.
    config.max_body_bytes = 3 * 1024 * 1024;
    let server = Running::start_with(config).await;
    let client = Client::new();
    let alice = TestDevice::new("alice");
    let phone = alice.sibling();
    let bob = TestDevice::new("bob");
    client.register(&server, &alice, 1).await;
    client.add_device(&server, &phone, 1).await;
    client.register(&server, &bob, 1).await;
    let recovery = SecretKey::generate();

    let res = client.put_backup(&server, &alice, "/v1/backup", &backup(&recovery, 1, b"sealed one")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    // Any device of the account may replace it with a later version.
    let res = client.put_backup(&server, &phone, "/v1/backup", &backup(&recovery, 2, b"sealed two")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    for version in [2, 1] {
        let res = client.put_backup(&server, &alice, "/v1/backup", &backup(&recovery, version, b"stale")).await;
        let body = expect_error(res, StatusCode::CONFLICT, "conflict").await;
        assert!(body.message.contains("newer backup"), "{}", body.message);
    }

    // Malformed uploads.
    let mut bad_key = backup(&recovery, 3, b"x");
    bad_key.auth_key = B64(vec![7; 31]);
    let res = client.put_backup(&server, &alice, "/v1/backup", &bad_key).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.put_backup(&server, &alice, "/v1/backup", &backup(&recovery, 3, b"")).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.put_backup(&server, &alice, "/v1/backup", &backup(&recovery, u64::MAX, b"x")).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.put_backup(&server, &alice, "/v1/backup", &backup(&recovery, 3, &vec![1; 1024 * 1024 + 1])).await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    // Unsigned.
    let res = client.put_backup_unsigned(&server, "/v1/backup", &backup(&recovery, 3, b"x")).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // The recovery key fetches the latest version.
    let res = client.recover(&server, "alice", &recovery).await;
    assert_eq!(res.status(), StatusCode::OK);
    let got: Backup = res.json().await.unwrap();
    assert_eq!(got.version, 2);
    assert_eq!(got.blob.0, b"sealed two");

    // A replayed request is refused (failure 1).
    let path = "/v1/recovery/alice";
    let sig = sign(&recovery, RECOVERY_DEVICE, "GET", path, b"");
    let res = client.send_signed(&server, "GET", path, Vec::new(), &sig).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = client.send_signed(&server, "GET", path, Vec::new(), &sig).await;
    let replayed = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // A wrong key (failure 2), an unknown user, a user without a backup: one answer.
    let wrong = SecretKey::generate();
    let res = client.recover(&server, "alice", &wrong).await;
    let wrong_key = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = client.recover(&server, "nobody", &recovery).await;
    let unknown = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = client.recover(&server, "bob", &recovery).await;
    let no_backup = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for other in [&wrong_key, &unknown, &no_backup] {
        assert_eq!(other.message, replayed.message);
    }

    // A device key can't fetch it, as a device or as "recovery"; the recovery key is no
    // device key either.
    let res = client.get(&server, &alice, path).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = client.recover(&server, "alice", &alice.key).await; // failure 3
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let sig = sign(&recovery, RECOVERY_DEVICE, "GET", "/v1/inbox", b"");
    let res = client.send_signed(&server, "GET", "/v1/inbox", Vec::new(), &sig).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Failures 4..=10 are still 401; the 11th wrong attempt is refused, never the right key.
    for _ in 4..=10 {
        let res = client.recover(&server, "alice", &wrong).await;
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let res = client.recover(&server, "alice", &wrong).await;
    let limited = expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(limited.message.contains("hour"), "{}", limited.message);
    let res = client.recover(&server, "alice", &recovery).await;
    assert_eq!(res.status(), StatusCode::OK, "strangers' guesses never lock the owner out");
    // Per account: bob's recovery is not limited by guesses at alice's.
    let bob_recovery = SecretKey::generate();
    let res = client.put_backup(&server, &bob, "/v1/backup", &backup(&bob_recovery, 0, b"bob's")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let got: Backup = client.recover(&server, "bob", &bob_recovery).await.json().await.unwrap();
    assert_eq!((got.version, got.blob.0.as_slice()), (0, &b"bob's"[..]));

    // A backup as large as allowed is stored and comes back whole.
    let big = vec![0x5a; 1024 * 1024];
    let res = client.put_backup(&server, &bob, "/v1/backup", &backup(&bob_recovery, 1, &big)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    let got: Backup = client.recover(&server, "bob", &bob_recovery).await.json().await.unwrap();
    assert_eq!(got.version, 1);
    assert!(got.blob.0 == big);

    server.stop().await;

    // The backups and the count of failures survive a restart.
    let server = Running::start(dir.path()).await;
    let res = client.recover(&server, "alice", &wrong).await;
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let res = client.recover(&server, "alice", &recovery).await;
    assert_eq!(res.status(), StatusCode::OK);
    let got: Backup = client.recover(&server, "bob", &bob_recovery).await.json().await.unwrap();
    assert_eq!(got.version, 1);
    server.stop().await;
}

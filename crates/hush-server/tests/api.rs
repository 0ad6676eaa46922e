//! The server's API, tested against a real server on loopback with a real SQLite database
//! in a temporary directory, and real keys, certificates and MLS messages made by hush-core.

// Tests state their expectations with unwrap/expect/panic: a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt as _;
use hush_core::auth::{canonical_request, fresh_nonce};
use hush_core::identity::{SecretKey, new_device_id};
use hush_core::mls::{self, Incoming, PendingJoin};
use hush_proto::{
    Accepted, ClaimResponse, CommitRequest, ErrorBody, GroupInfo, InboxKind, InboxResponse, KeyPackageCount,
    MessageRequest, RegisteredDevice, UserRecord, B64,
};
use hush_server::{Server, ServerConfig};
use reqwest::StatusCode;

mod common;

use common::{Client, Running, Signature, TestDevice, conversation_with, expect_error, sign, websocket};

// ---------------------------------------------------------------------------------------
// Harness: tests/common/mod.rs, and what only these tests need

/// Sends a signed POST with a chunked body over a bare TCP connection; returns the raw answer.
async fn chunked_post(server: &Running, dev: &TestDevice, path: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let sig = sign(&dev.key, &dev.device_id, "POST", path, body);
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\
         {}: {}\r\n{}: {}\r\n{}: {}\r\n{}: {}\r\n\r\n",
        server.addr,
        hush_proto::HEADER_DEVICE,
        sig.device_id,
        hush_proto::HEADER_TIMESTAMP,
        sig.timestamp,
        hush_proto::HEADER_NONCE,
        sig.nonce,
        hush_proto::HEADER_SIGNATURE,
        sig.signature,
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer and close before it has read everything: write errors are fine.
    for chunk in body.chunks(8 * 1024) {
        if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
            || stream.write_all(chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}
// ---------------------------------------------------------------------------------------
// Directory

#[tokio::test]
async fn register_look_up_and_refuse_a_taken_or_bad_username() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let client = Client::new();

    let alice = TestDevice::new("alice");
    let res = client.post(&server, &alice, "/v1/register", &alice.register_request(3)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let registered: RegisteredDevice = res.json().await.unwrap();
    assert_eq!(registered.username, "alice");
    assert_eq!(registered.device_id, alice.device_id);

    let user: UserRecord = client.get(&server, &alice, "/v1/users/alice").await.json().await.unwrap();
    assert_eq!(user.identity_key.0, alice.identity.public().0.to_vec());
    assert_eq!(user.devices.len(), 1);
    assert_eq!(user.devices[0].device_id, alice.device_id);
    assert_eq!(user.devices[0].certificate.0, alice.cert.encode());

    // Someone else wants "alice" too.
    let mallory = TestDevice::new("alice");
    let res = client.post(&server, &mallory, "/v1/register", &mallory.register_request(1)).await;
    expect_error(res, StatusCode::CONFLICT, "username_taken").await;
    // ...and nothing of theirs was stored.
    let user: UserRecord = client.get(&server, &alice, "/v1/users/alice").await.json().await.unwrap();
    assert_eq!(user.identity_key.0, alice.identity.public().0.to_vec());
    assert_eq!(user.devices.len(), 1);

    let shouty = TestDevice::new("Bob");
    let res = client.post(&server, &shouty, "/v1/register", &shouty.register_request(1)).await;
    let body = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(body.message.contains("lowercase"), "{}", body.message);

    let res = client.get(&server, &alice, "/v1/users/nobody").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    server.stop().await;
}

#[tokio::test]
async fn register_refuses_a_certificate_for_someone_else() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let client = Client::new();

    // A certificate for "carol" sent to register "dave".
    let carol = TestDevice::new("carol");
    let mut req = carol.register_request(1);
    req.username = "dave".into();
    let res = client.post(&server, &carol, "/v1/register", &req).await;
    let body = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(body.message.contains("carol"), "{}", body.message);

    // Key packages of another device.
    let other = TestDevice::new("carol");
    let mut req = carol.register_request(1);
    req.device.key_packages = other.upload(1).key_packages;
    let res = client.post(&server, &carol, "/v1/register", &req).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    // Neither attempt registered anything.
    client.register(&server, &carol, 1).await;
    server.stop().await;
}

#[tokio::test]
async fn a_second_device_is_announced_to_the_users_devices_and_contacts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let client = Client::new();
    let alice = TestDevice::new("alice");
    let bob = TestDevice::new("bob");
    let eve = TestDevice::new("eve");
    for d in [&alice, &bob, &eve] {
        client.register(&server, d, 2).await;
    }
    let _conv = conversation_with(&client, &server, &alice, &[&bob]).await;
    // Bob's welcome is in his inbox; clear it so only the announcement remains.
    let ids: Vec<i64> = client.inbox(&server, &bob).await.items.iter().map(|i| i.id).collect();
    let res = client.post(&server, &bob, "/v1/inbox/ack", &serde_json::json!({ "ids": ids })).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let alice_phone = TestDevice::of("alice", SecretKey::from_bytes(&*alice.identity.to_bytes()).unwrap());
    let res = client.post(&server, &alice_phone, "/v1/devices", &alice_phone.upload(2)).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);

    let user: UserRecord = client.get(&server, &bob, "/v1/users/alice").await.json().await.unwrap();
    assert_eq!(user.devices.len(), 2);

    for (who, expect) in [(&bob, true), (&alice, true), (&eve, false), (&alice_phone, false)] {
        let items = client.inbox(&server, who).await.items;
        let announced = items
            .iter()
            .any(|i| i.kind == InboxKind::DeviceAdded && i.payload.0 == b"alice");
        assert_eq!(announced, expect, "announcement for {}", who.username);
    }

    // A device certified by another identity key can't join alice's account.
    let fake = TestDevice::new("alice");
    let res = client.post(&server, &fake, "/v1/devices", &fake.upload(1)).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    server.stop().await;
}

#[tokio::test]
async fn key_packages_are_claimed_once_then_the_last_resort_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let client = Client::new();
    let alice = TestDevice::new("alice");
    let bob = TestDevice::new("bob");
    client.register(&server, &alice, 1).await;
    client.register(&server, &bob, 2).await;

    let count: KeyPackageCount = client.get(&server, &bob, "/v1/keypackages/count").await.json().await.unwrap();
    assert_eq!(count.remaining, 2);

    let mut seen = Vec::new();
    for _ in 0..4 {
        let claim: ClaimResponse = client.post(&server, &alice, "/v1/users/bob/claim", &()).await.json().await.unwrap();
        assert_eq!(claim.key_packages.len(), 1);
        assert_eq!(claim.key_packages[0].device_id, bob.device_id);
        seen.push(claim.key_packages[0].key_package.0.clone());
    }
    assert_ne!(seen[0], seen[1], "a single-use key package was handed out twice");
    assert_eq!(seen[2], seen[3], "the last-resort key package is handed out when the others are gone");
    assert!(!seen[..2].contains(&seen[2]));
    let count: KeyPackageCount = client.get(&server, &bob, "/v1/keypackages/count").await.json().await.unwrap();
    assert_eq!(count.remaining, 0);

    // Bob tops up.
    let (kps, _) = mls::key_packages(&bob.provider, &bob.mls(), 3).unwrap();
    let res = client
        .post(
            &server,
            &bob,
            "/v1/keypackages",
            &serde_json::json!({ "key_packages": kps.into_iter().map(B64).collect::<Vec<_>>(), "last_resort": null }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let count: KeyPackageCount = client.get(&server, &bob, "/v1/keypackages/count").await.json().await.unwrap();
    assert_eq!(count.remaining, 3);

    // Alice can't upload key packages of Bob's device as hers.
    let (kps, _) = mls::key_packages(&bob.provider, &bob.mls(), 1).unwrap();
    let res = client
        .post(
            &server,
            &alice,
            "/v1/keypackages",
            &serde_json::json!({ "key_packages": kps.into_iter().map(B64).collect::<Vec<_>>(), "last_resort": null }),
        )
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    let res = client.post(&server, &alice, "/v1/users/nobody/claim", &()).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Authentication and malformed requests

#[tokio::test]
async fn bad_signatures_unknown_devices_and_replays_are_refused_alike() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let client = Client::new();
    let alice = TestDevice::new("alice");
    client.register(&server, &alice, 1).await;

    // Signed by another key, in alice's device's name.
    let mallory = SecretKey::generate();
    let sig = sign(&mallory, &alice.device_id, "GET", "/v1/users/alice", b"");
    let res = client.send_signed(&server, "GET", "/v1/users/alice", vec![], &sig).await;
    let bad_sig = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // A device the server never heard of.
    let sig = sign(&mallory, &new_device_id(), "GET", "/v1/users/alice", b"");
    let res = client.send_signed(&server, "GET", "/v1/users/alice", vec![], &sig).await;
    let unknown = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(bad_sig.message, unknown.message, "an unknown device must look like a bad signature");

    // A signature for another path.
    let sig = sign(&alice.key, &alice.device_id, "GET", "/v1/users/bob", b"");
    let res = client.send_signed(&server, "GET", "/v1/users/alice", vec![], &sig).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // No signature at all.
    let res = common::http_client().get(server.url("/v1/users/alice")).send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // A timestamp from an hour ago, validly signed.
    let ts = hush_core::now_ms() - 3_600_000;
    let nonce = fresh_nonce();
    let old = Signature {
        device_id: alice.device_id.clone(),
        timestamp: ts,
        signature: URL_SAFE_NO_PAD.encode(alice.key.sign(&canonical_request("GET", "/v1/users/alice", ts, &nonce, b""))),
        nonce,
    };
    let res = client.send_signed(&server, "GET", "/v1/users/alice", vec![], &old).await;
    let stale = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(stale.message, bad_sig.message, "a stale time must look like a bad signature");

    // The same valid request twice: the second is a replay.
    let sig = sign(&alice.key, &alice.device_id, "GET", "/v1/users/alice", b"");
    let res = client.send_signed(&server, "GET", "/v1/users/alice", vec![], &sig).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = client.send_signed(&server, "GET", "/v1/users/alice", vec![], &sig).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // A tampered body under a valid signature.
    let body = br#"{"group_id":"AAAAAAAAAAAAAAAAAAAAAA"}"#.to_vec();
    let sig = sign(&alice.key, &alice.device_id, "POST", "/v1/groups", &body);
    let mut tampered = body.clone();
    tampered[15] = b'B';
    let res = client.send_signed(&server, "POST", "/v1/groups", tampered, &sig).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    server.stop().await;
}

#[tokio::test]
async fn malformed_oversized_and_misrouted_requests_get_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().to_path_buf());
    config.max_body_bytes = 64 * 1024;
    let server = Running::start_with(config).await;
    let client = Client::new();
    let alice = TestDevice::new("alice");
    client.register(&server, &alice, 1).await;

    let res = client.raw(&server, &alice, "POST", "/v1/groups", b"{not json".to_vec()).await;
    let body = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(body.message.contains("body"), "{}", body.message);

    let res = client.raw(&server, &alice, "POST", "/v1/groups", br#"{"group_id":"AAEC"}"#.to_vec()).await;
    let body = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(body.message.contains("16 bytes"), "{}", body.message);

    let res = client.raw(&server, &alice, "POST", "/v1/register", b"[]".to_vec()).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    let res = client.raw(&server, &alice, "POST", "/v1/groups", vec![b' '; 100 * 1024]).await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    // Also without a length announced up front (chunked body).
    let raw = chunked_post(&server, &alice, "/v1/groups", &vec![b' '; 100 * 1024]).await;
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains(r#""error":"too_large""#), "{raw}");

    // A body must say what it is: JSON, or raw bytes for an upload chunk.
    let body = br#"{"group_id":"AAAAAAAAAAAAAAAAAAAAAA"}"#.to_vec();
    let sig = sign(&alice.key, &alice.device_id, "POST", "/v1/groups", &body);
    let res = client.send_signed_as(&server, "POST", "/v1/groups", "text/plain", body, &sig).await;
    let refused = expect_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    assert!(refused.message.contains("application/json"), "{}", refused.message);
    let res = client.raw(&server, &alice, "PUT", "/v1/uploads/00?offset=0", b"{}".to_vec()).await;
    let refused = expect_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    assert!(refused.message.contains("application/octet-stream"), "{}", refused.message);
    // A method the route does not take is a 405 whatever its body.
    let sig = sign(&alice.key, &alice.device_id, "DELETE", "/v1/uploads/00", b"x");
    let res = client.send_signed_as(&server, "DELETE", "/v1/uploads/00", "application/octet-stream", b"x".to_vec(), &sig).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    // With its parameters and in any case, JSON is JSON.
    let body = br#"{"group_id":"AAEC"}"#.to_vec();
    let sig = sign(&alice.key, &alice.device_id, "POST", "/v1/groups", &body);
    let res = client.send_signed_as(&server, "POST", "/v1/groups", "Application/JSON; charset=utf-8", body, &sig).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    let res = client.get(&server, &alice, "/v1/no-such-thing").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = client.raw(&server, &alice, "DELETE", "/v1/inbox", vec![]).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(res.json::<ErrorBody>().await.is_ok());

    let res = client.get(&server, &alice, "/v1/groups/not-hex").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.get(&server, &alice, "/v1/inbox?limit=lots").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    let res = common::http_client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "ok");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Groups, ordering and delivery

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_commits_for_one_epoch_one_wins_the_other_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let client = Client::new();
    let alice = TestDevice::new("alice");
    let bob = TestDevice::new("bob");
    let carol = TestDevice::new("carol");
    for d in [&alice, &bob, &carol] {
        client.register(&server, d, 2).await;
    }
    let mut conv = conversation_with(&client, &server, &alice, &[]).await;
    let path = format!("/v1/groups/{}/commit", hex::encode(conv.id()));

    // Two commits for epoch 0: one adds bob, the other carol.
    let mut commits = Vec::new();
    for who in [&bob, &carol] {
        let claim: ClaimResponse = client
            .post(&server, &alice, &format!("/v1/users/{}/claim", who.username), &())
            .await
            .json()
            .await
            .unwrap();
        let kp = mls::check_key_package(&claim.key_packages[0].key_package.0).unwrap().key_package;
        let out = conv.change_members(&alice.provider, &alice.mls(), vec![kp], &[]).unwrap();
        conv.abandon_commit(&alice.provider).unwrap();
        commits.push(CommitRequest {
            commit: B64(out.commit),
            welcome: out.welcome.map(B64),
            added_devices: vec![who.device_id.clone()],
            removed_devices: vec![],
        });
    }
    let (a, b) = tokio::join!(
        client.post(&server, &alice, &path, &commits[0]),
        client.post(&server, &alice, &path, &commits[1]),
    );
    let (winner, loser, a_won) = match (a.status(), b.status()) {
        (StatusCode::OK, StatusCode::CONFLICT) => (a, b, true),
        (StatusCode::CONFLICT, StatusCode::OK) => (b, a, false),
        other => panic!("expected one 200 and one 409, got {other:?}"),
    };
    let accepted: Accepted = winner.json().await.unwrap();
    assert_eq!(accepted.epoch, 1);
    let body = expect_error(loser, StatusCode::CONFLICT, "stale_epoch").await;
    assert!(body.message.contains("catch up"), "{}", body.message);

    let (joined, left_out) = if a_won { (&bob, &carol) } else { (&carol, &bob) };
    let info: GroupInfo = client
        .get(&server, &alice, &format!("/v1/groups/{}", hex::encode(conv.id())))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info.epoch, 1);
    let mut expected = vec![alice.device_id.clone(), joined.device_id.clone()];
    expected.sort();
    assert_eq!(info.devices, expected);
    let welcomes = |r: InboxResponse| r.items.iter().filter(|i| i.kind == InboxKind::Welcome).count();
    assert_eq!(welcomes(client.inbox(&server, joined).await), 1);
    assert_eq!(welcomes(client.inbox(&server, left_out).await), 0);

    // Retrying the losing commit as is still fails: its epoch is gone.
    let res = client.post(&server, &alice, &path, &commits[if a_won { 1 } else { 0 }]).await;
    expect_error(res, StatusCode::CONFLICT, "stale_epoch").await;
    server.stop().await;
}

#[tokio::test]
async fn a_message_travels_from_alice_to_bob_and_is_gone_after_ack() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let client = Client::new();
    let alice = TestDevice::new("alice");
    let bob = TestDevice::new("bob");
    let eve = TestDevice::new("eve");
    for d in [&alice, &bob, &eve] {
        client.register(&server, d, 1).await;
    }
    let mut conv = conversation_with(&client, &server, &alice, &[&bob]).await;
    let group_hex = hex::encode(conv.id());

    // Bob joins from the Welcome in his inbox.
    let items = client.inbox(&server, &bob).await.items;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].kind, InboxKind::Welcome);
    assert_eq!(items[0].group_id.as_ref().map(|g| g.0.clone()), Some(conv.id()));
    let mut bob_conv = PendingJoin::new(&bob.provider, &items[0].payload.0).unwrap().trust(|_, _| Ok::<_, ()>(())).unwrap().accept(&bob.provider).unwrap();
    let welcome_id = items[0].id;

    // Bob listens on the WebSocket.
    let mut socket = websocket(&server, &bob).await;

    let ciphertext = conv.encrypt(&alice.provider, &alice.mls(), b"hello bob", b"").unwrap();
    let res = client
        .post(
            &server,
            &alice,
            &format!("/v1/groups/{group_hex}/messages"),
            &MessageRequest {
                message: B64(ciphertext),
            },
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let accepted: Accepted = res.json().await.unwrap();
    assert_eq!(accepted.epoch, 1);

    let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a push within 5 s")
        .expect("socket open")
        .unwrap();
    assert_eq!(frame.to_text().unwrap(), "inbox");

    let items = client
        .get(&server, &bob, &format!("/v1/inbox?after={welcome_id}"))
        .await
        .json::<InboxResponse>()
        .await
        .unwrap()
        .items;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].kind, InboxKind::Message);
    assert_eq!(items[0].sender_device.as_deref(), Some(alice.device_id.as_str()));
    match bob_conv.process(&bob.provider, &items[0].payload.0).unwrap() {
        Incoming::Application { plaintext, sender, .. } => {
            assert_eq!(&plaintext[..], b"hello bob");
            assert_eq!(sender.username, "alice");
        }
        _ => panic!("expected an application message"),
    }

    // Eve is no member: she can't read the group's state or post to it.
    let res = client.get(&server, &eve, &format!("/v1/groups/{group_hex}")).await;
    let forbidden = expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = client.get(&server, &eve, &format!("/v1/groups/{}", "00".repeat(16))).await;
    let missing = expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(forbidden.message, missing.message, "a missing group must look like a forbidden one");
    let res = client
        .post(&server, &eve, &format!("/v1/groups/{group_hex}/messages"), &MessageRequest { message: B64(vec![1, 2, 3]) })
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // A commit is refused on /messages, garbage is refused as malformed.
    let res = client
        .post(&server, &alice, &format!("/v1/groups/{group_hex}/messages"), &MessageRequest { message: B64(vec![1, 2, 3]) })
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    // Eve can't acknowledge Bob's items away; Bob can.
    let all: Vec<i64> = client.inbox(&server, &bob).await.items.iter().map(|i| i.id).collect();
    assert_eq!(all.len(), 2);
    let res = client.post(&server, &eve, "/v1/inbox/ack", &serde_json::json!({ "ids": all })).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(client.inbox(&server, &bob).await.items.len(), 2);
    let res = client.post(&server, &bob, "/v1/inbox/ack", &serde_json::json!({ "ids": all })).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(client.inbox(&server, &bob).await.items.is_empty());

    // Shutting down closes the socket instead of waiting for it.
    server.stop().await;
    let last = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("the socket ends within 5 s");
    assert!(
        matches!(last, None | Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))),
        "{last:?}"
    );
}

#[tokio::test]
async fn messages_must_be_in_the_current_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let client = Client::new();
    let alice = TestDevice::new("alice");
    let bob = TestDevice::new("bob");
    client.register(&server, &alice, 1).await;
    client.register(&server, &bob, 1).await;
    let mut conv = conversation_with(&client, &server, &alice, &[]).await;
    // Made in epoch 0...
    let early = conv.encrypt(&alice.provider, &alice.mls(), b"too late", b"").unwrap();
    // ...then the group moves on to epoch 1 by adding bob.
    let claim: ClaimResponse = client.post(&server, &alice, "/v1/users/bob/claim", &()).await.json().await.unwrap();
    let kp = mls::check_key_package(&claim.key_packages[0].key_package.0).unwrap().key_package;
    let out = conv.change_members(&alice.provider, &alice.mls(), vec![kp], &[]).unwrap();
    let group_hex = hex::encode(conv.id());
    let res = client
        .post(
            &server,
            &alice,
            &format!("/v1/groups/{group_hex}/commit"),
            &CommitRequest {
                commit: B64(out.commit),
                welcome: out.welcome.map(B64),
                added_devices: vec![bob.device_id.clone()],
                removed_devices: vec![],
            },
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .post(&server, &alice, &format!("/v1/groups/{group_hex}/messages"), &MessageRequest { message: B64(early) })
        .await;
    expect_error(res, StatusCode::CONFLICT, "stale_epoch").await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Durability

#[tokio::test]
async fn data_survives_a_crash_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new();
    let alice = TestDevice::new("alice");
    let bob = TestDevice::new("bob");

    let server = Running::start(dir.path()).await;
    client.register(&server, &alice, 1).await;
    client.register(&server, &bob, 1).await;
    let conv = conversation_with(&client, &server, &alice, &[&bob]).await;
    // Acknowledged means stored: the server dies right after answering.
    server.kill().await;

    let server = Running::start(dir.path()).await;
    let user: UserRecord = client.get(&server, &bob, "/v1/users/alice").await.json().await.unwrap();
    assert_eq!(user.identity_key.0, alice.identity.public().0.to_vec());
    let items = client.inbox(&server, &bob).await.items;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].kind, InboxKind::Welcome);
    let info: GroupInfo = client
        .get(&server, &alice, &format!("/v1/groups/{}", hex::encode(conv.id())))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info.epoch, 1);
    server.stop().await;

    // And once more after a clean shutdown.
    let server = Running::start(dir.path()).await;
    assert_eq!(client.inbox(&server, &bob).await.items.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn bind_explains_why_it_cannot_listen() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let other = tempfile::tempdir().unwrap();
    let err = match Server::bind(ServerConfig::new(server.addr, other.path().to_path_buf())).await {
        Ok(_) => panic!("two servers bound one port"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(text.starts_with(&format!("can't listen on {}: ", server.addr)), "{text}");
    assert!(!text.contains("os error"), "{text}");
    server.stop().await;
}

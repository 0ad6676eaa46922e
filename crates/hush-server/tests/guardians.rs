//! Guardian recovery, end to end: the second backup slot (`PUT /v1/backup/guardians`,
//! `GET /v1/recovery/{username}/guardians`) and the guardian request relay
//! (`/v1/guardian-requests*`), against a real server on loopback with a real SQLite
//! database in a temporary directory and real keys and certificates made by hush-core.

// Tests state their expectations with unwrap/expect/panic: a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hush_core::auth::fresh_nonce;
use hush_core::identity::SecretKey;
use hush_proto::{
    B64, Backup, GuardianRequest, GuardianRequestCreated, GuardianShares, PendingGuardianRequests, RECOVERY_DEVICE,
    SealedShare,
};
use reqwest::StatusCode;

mod common;

use common::{Client, Running, TestDevice, backup, database, execute_sql, expect_error, sign};

// ---------------------------------------------------------------------------------------
// Harness: tests/common/mod.rs, and what only these tests need

impl Client {
    /// `GET /v1/recovery/{username}/guardians` signed with `key`.
    async fn recover_guardians(&self, server: &Running, username: &str, key: &SecretKey) -> reqwest::Response {
        self.recover_at(server, &format!("/v1/recovery/{username}/guardians"), key).await
    }

    /// `POST /v1/guardian-requests`, unsigned, with this raw body.
    async fn create_request_raw(&self, server: &Running, body: Vec<u8>) -> reqwest::Response {
        self.post_raw(server, "/v1/guardian-requests", body).await
    }

    async fn create_request(&self, server: &Running, username: &str, hpke_key: &[u8]) -> reqwest::Response {
        let req = GuardianRequest {
            username: username.to_owned(),
            hpke_key: B64(hpke_key.to_vec()),
        };
        self.create_request_raw(server, serde_json::to_vec(&req).unwrap()).await
    }

    async fn post_share(&self, server: &Running, dev: &TestDevice, request_id: &str, sealed: &[u8]) -> reqwest::Response {
        let share = SealedShare {
            sealed: B64(sealed.to_vec()),
        };
        self.post(server, dev, &format!("/v1/guardian-requests/{request_id}/shares"), &share).await
    }

    /// `GET /v1/guardian-requests/{id}`, unsigned.
    async fn shares(&self, server: &Running, request_id: &str) -> reqwest::Response {
        self.get_raw(server, &format!("/v1/guardian-requests/{request_id}")).await
    }

    async fn pending(&self, server: &Running, dev: &TestDevice, username: &str) -> PendingGuardianRequests {
        let res = self.get(server, dev, &format!("/v1/guardian-requests?username={username}")).await;
        assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
        res.json().await.unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// The guardian backup slot

#[tokio::test]
async fn the_guardian_backup_is_a_slot_of_its_own_with_its_own_key_and_failure_count() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let client = Client::new();
    let alice = TestDevice::new("alice");
    let phone = alice.sibling();
    let bob = TestDevice::new("bob");
    client.register(&server, &alice, 1).await;
    client.add_device(&server, &phone, 1).await;
    client.register(&server, &bob, 1).await;
    let phrase_key = SecretKey::generate();
    let guardian_key = SecretKey::generate();

    // Each slot has its own versions.
    let res = client.put_backup(&server, &alice, "/v1/backup", &backup(&phrase_key, 5, b"phrase")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    let res = client
        .put_backup(&server, &alice, "/v1/backup/guardians", &backup(&guardian_key, 1, b"guardians one"))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    let res = client
        .put_backup(&server, &phone, "/v1/backup/guardians", &backup(&guardian_key, 2, b"guardians two"))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    for version in [2, 1] {
        let res = client
            .put_backup(&server, &alice, "/v1/backup/guardians", &backup(&guardian_key, version, b"stale"))
            .await;
        let body = expect_error(res, StatusCode::CONFLICT, "conflict").await;
        assert!(body.message.contains("newer backup"), "{}", body.message);
    }
    // The same rules as the phrase slot.
    let mut bad_key = backup(&guardian_key, 3, b"x");
    bad_key.auth_key = B64(vec![7; 31]);
    let res = client.put_backup(&server, &alice, "/v1/backup/guardians", &bad_key).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.put_backup(&server, &alice, "/v1/backup/guardians", &backup(&guardian_key, 3, b"")).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.put_backup_unsigned(&server, "/v1/backup/guardians", &backup(&guardian_key, 3, b"x")).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Each key fetches its own slot.
    let res = client.recover_guardians(&server, "alice", &guardian_key).await;
    assert_eq!(res.status(), StatusCode::OK);
    let got: Backup = res.json().await.unwrap();
    assert_eq!((got.version, got.blob.0.as_slice()), (2, &b"guardians two"[..]));
    let got: Backup = client
        .recover_at(&server, "/v1/recovery/alice", &phrase_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((got.version, got.blob.0.as_slice()), (5, &b"phrase"[..]));

    // A replay (failure 1), the phrase key (2), a wrong key (3), an unknown user, a user
    // without a guardian backup: one answer.
    let path = "/v1/recovery/alice/guardians";
    let sig = sign(&guardian_key, RECOVERY_DEVICE, "GET", path, b"");
    let res = client.send_signed(&server, "GET", path, Vec::new(), &sig).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = client.send_signed(&server, "GET", path, Vec::new(), &sig).await;
    let replayed = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = client.recover_guardians(&server, "alice", &phrase_key).await;
    let phrase = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let wrong = SecretKey::generate();
    let res = client.recover_guardians(&server, "alice", &wrong).await;
    let wrong_key = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = client.recover_guardians(&server, "nobody", &guardian_key).await;
    let unknown = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let bob_phrase = SecretKey::generate();
    let res = client.put_backup(&server, &bob, "/v1/backup", &backup(&bob_phrase, 0, b"bob's")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = client.recover_guardians(&server, "bob", &bob_phrase).await;
    let no_backup = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for other in [&phrase, &wrong_key, &unknown, &no_backup] {
        assert_eq!(other.message, replayed.message);
    }
    // The guardian key can't fetch the phrase slot (a failure of the phrase slot's count).
    let res = client.recover_at(&server, "/v1/recovery/alice", &guardian_key).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A device key can't sign as a device.
    let res = client.get(&server, &alice, path).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Failures 4..=10 are still 401; the 11th wrong attempt is refused, but never the
    // right key: strangers' guesses can't lock the owner out.
    for _ in 4..=10 {
        let res = client.recover_guardians(&server, "alice", &wrong).await;
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let res = client.recover_guardians(&server, "alice", &wrong).await;
    let limited = expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(limited.message.contains("hour"), "{}", limited.message);
    let res = client.recover_guardians(&server, "alice", &guardian_key).await;
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
    // The phrase slot counts apart: one failure so far, and the right key still works.
    let res = client.recover_at(&server, "/v1/recovery/alice", &phrase_key).await;
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
    // Per account: bob's guardian slot is not limited by guesses at alice's.
    let bob_guardians = SecretKey::generate();
    let res = client
        .put_backup(&server, &bob, "/v1/backup/guardians", &backup(&bob_guardians, 0, b"bob's shares"))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = client.recover_guardians(&server, "bob", &bob_guardians).await;
    assert_eq!(res.status(), StatusCode::OK);

    server.stop().await;

    // The slot and its count survive a restart.
    let server = Running::start(dir.path()).await;
    let res = client.recover_guardians(&server, "alice", &wrong).await;
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let res = client.recover_guardians(&server, "alice", &guardian_key).await;
    assert_eq!(res.status(), StatusCode::OK);
    let got: Backup = client
        .recover_guardians(&server, "bob", &bob_guardians)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((got.version, got.blob.0.as_slice()), (0, &b"bob's shares"[..]));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// The guardian request relay

#[tokio::test]
async fn guardians_relay_sealed_shares_to_the_recovering_device() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let client = Client::new();
    let alice = TestDevice::new("alice");
    let phone = alice.sibling();
    let bob = TestDevice::new("bob");
    let carol = TestDevice::new("carol");
    client.register(&server, &alice, 1).await;
    client.add_device(&server, &phone, 1).await;
    client.register(&server, &bob, 1).await;
    client.register(&server, &carol, 1).await;
    let hpke_key = [0x42; 32];

    // Malformed requests.
    let res = client.create_request(&server, "alice", &[1; 31]).await;
    let body = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(body.message.contains("hpke_key"), "{}", body.message);
    let res = client.create_request_raw(&server, b"{not json".to_vec()).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.create_request(&server, "Not A Name", &hpke_key).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.create_request(&server, "nobody", &hpke_key).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // A request for alice.
    let res = client.create_request(&server, "alice", &hpke_key).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
    let created: GuardianRequestCreated = res.json().await.unwrap();
    let id = created.request_id;
    assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");

    // Any registered device lists it; nobody else.
    let pending = client.pending(&server, &bob, "alice").await;
    assert_eq!(pending.requests.len(), 1);
    assert_eq!(pending.requests[0].request_id, id);
    assert_eq!(pending.requests[0].hpke_key.0, hpke_key);
    assert!(pending.requests[0].created_at > 0);
    assert!(client.pending(&server, &carol, "nobody").await.requests.is_empty());
    assert!(client.pending(&server, &alice, "bob").await.requests.is_empty());
    let res = client.get(&server, &bob, "/v1/guardian-requests").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.get(&server, &bob, "/v1/guardian-requests?username=Not%20A%20Name").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client
        .http
        .get(server.url("/v1/guardian-requests?username=alice"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Nothing posted yet.
    let res = client.shares(&server, &id).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.json::<GuardianShares>().await.unwrap().shares.is_empty());

    // Two guardians post their shares; once each; never the account itself.
    let res = client.post_share(&server, &carol, &id, b"carol's share").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    let res = client.post_share(&server, &bob, &id, b"bob's share").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    let res = client.post_share(&server, &bob, &id, b"bob's second share").await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    for own in [&alice, &phone] {
        let res = client.post_share(&server, own, &id, b"my own share").await;
        expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Malformed shares and ids.
    let res = client.post_share(&server, &carol, &id, b"").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.post_share(&server, &carol, &id, &vec![1; 64 * 1024 + 1]).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.post_share(&server, &carol, "not-an-id", b"x").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.post_share(&server, &carol, &fresh_nonce(), b"x").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = client
        .http
        .post(server.url(&format!("/v1/guardian-requests/{id}/shares")))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&SealedShare { sealed: B64(b"x".to_vec()) }).unwrap())
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // The id fetches both, in the order they arrived.
    let res = client.shares(&server, &id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let got: GuardianShares = res.json().await.unwrap();
    let got: Vec<&[u8]> = got.shares.iter().map(|s| s.0.as_slice()).collect();
    assert_eq!(got, [&b"carol's share"[..], &b"bob's share"[..]]);
    let res = client.shares(&server, "zz").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.shares(&server, &"g".repeat(32)).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.shares(&server, &fresh_nonce()).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // At most five open requests per account: a sixth replaces the oldest (with its
    // shares), so strangers can't fill an account's slots for good.
    for _ in 2..=5 {
        let res = client.create_request(&server, "alice", &hpke_key).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
    }
    let res = client.create_request(&server, "alice", &hpke_key).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
    assert_eq!(client.pending(&server, &bob, "alice").await.requests.len(), 5);
    let res = client.shares(&server, &id).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Per account.
    let res = client.create_request(&server, "bob", &hpke_key).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    server.stop().await;

    // A day later: alice's requests have expired (their clock is turned back here).
    execute_sql(dir.path(), "UPDATE guardian_requests SET expires_at = 1 WHERE username = 'alice'").await;
    let server = Running::start(dir.path()).await;
    let res = client.shares(&server, &id).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = client.post_share(&server, &carol, &id, b"late").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert!(client.pending(&server, &bob, "alice").await.requests.is_empty());
    // The expired ones no longer count, and are deleted with their shares.
    let res = client.create_request(&server, "alice", &hpke_key).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
    assert_eq!(client.pending(&server, &bob, "alice").await.requests.len(), 1);
    assert_eq!(client.pending(&server, &alice, "bob").await.requests.len(), 1);
    server.stop().await;
    {
        let pool = database(dir.path()).await;
        let (requests, shares): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM guardian_requests), (SELECT COUNT(*) FROM guardian_shares)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((requests, shares), (2, 0));
        pool.close().await;
    }
}

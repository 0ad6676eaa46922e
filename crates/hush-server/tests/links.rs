//! Device linking, end to end: the SPAKE2 relay (`/v1/link*`) against a real server on
//! loopback with a real SQLite database in a temporary directory and real keys and
//! certificates made by hush-core. The PAKE messages, confirmations and MACs are opaque to
//! the server, so these tests use placeholder bytes.

// Tests state their expectations with unwrap/expect/panic: a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use hush_core::auth::fresh_nonce;
use hush_core::identity::SecretKey;
use hush_proto::{B64, LinkAnswer, LinkApproval, LinkCreated, LinkDevice, LinkRequest, LinkStatus, PendingLinks};
use reqwest::StatusCode;

mod common;

use common::{Client, Running, TestDevice, database, execute_sql, expect_error};

// ---------------------------------------------------------------------------------------
// Harness: tests/common/mod.rs, and what only these tests need

impl Client {
    /// `POST /v1/link`, unsigned.
    async fn create_link(&self, server: &Running, username: &str, selector: &str, pake: &[u8]) -> reqwest::Response {
        let req = LinkRequest {
            username: username.to_owned(),
            selector: selector.to_owned(),
            pake: B64(pake.to_vec()),
        };
        self.post_raw(server, "/v1/link", serde_json::to_vec(&req).unwrap()).await
    }

    /// `POST /v1/link`, which must succeed: the link id.
    async fn new_link(&self, server: &Running, username: &str, selector: &str) -> String {
        let res = self.create_link(server, username, selector, b"new device pake").await;
        assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
        let created: LinkCreated = res.json().await.unwrap();
        assert_eq!(created.link_id.len(), 32);
        created.link_id
    }

    async fn pending(&self, server: &Running, dev: &TestDevice) -> PendingLinks {
        let res = self.get(server, dev, "/v1/link").await;
        assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
        res.json().await.unwrap()
    }

    async fn answer(&self, server: &Running, dev: &TestDevice, link_id: &str, pake: &[u8], confirm: &[u8]) -> reqwest::Response {
        let answer = LinkAnswer {
            pake: B64(pake.to_vec()),
            confirm: B64(confirm.to_vec()),
        };
        self.post(server, dev, &format!("/v1/link/{link_id}/answer"), &answer).await
    }

    /// `POST /v1/link/{id}/device`, unsigned.
    async fn device(&self, server: &Running, link_id: &str, device_key: &[u8], mac: &[u8]) -> reqwest::Response {
        let device = LinkDevice {
            device_key: B64(device_key.to_vec()),
            mac: B64(mac.to_vec()),
        };
        self.post_raw(server, &format!("/v1/link/{link_id}/device"), serde_json::to_vec(&device).unwrap())
            .await
    }

    async fn approve(&self, server: &Running, dev: &TestDevice, link_id: &str, sealed: &[u8]) -> reqwest::Response {
        let approval = LinkApproval {
            sealed: B64(sealed.to_vec()),
        };
        self.post(server, dev, &format!("/v1/link/{link_id}/approve"), &approval).await
    }

    /// `POST /v1/link/{id}/fail`, unsigned.
    async fn fail(&self, server: &Running, link_id: &str) -> reqwest::Response {
        self.post_raw(server, &format!("/v1/link/{link_id}/fail"), Vec::new()).await
    }

    /// `GET /v1/link/{id}`, unsigned.
    async fn status_raw(&self, server: &Running, link_id: &str) -> reqwest::Response {
        self.get_raw(server, &format!("/v1/link/{link_id}")).await
    }

    async fn status(&self, server: &Running, link_id: &str) -> LinkStatus {
        let res = self.status_raw(server, link_id).await;
        assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
        res.json().await.unwrap()
    }
}


/// Asserts a `204 No Content`.
async fn expect_done(res: reqwest::Response) {
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
}

/// A running server with alice (two devices) and bob registered, and alice's new laptop
/// that is not registered yet.
async fn alice_and_bob(dir: &Path) -> (Running, Client, TestDevice, TestDevice, TestDevice, TestDevice) {
    let server = Running::start(dir).await;
    let client = Client::new();
    let alice = TestDevice::new("alice");
    let phone = alice.sibling();
    let laptop = alice.sibling();
    let bob = TestDevice::new("bob");
    client.register(&server, &alice, 1).await;
    client.add_device(&server, &phone, 1).await;
    client.register(&server, &bob, 1).await;
    (server, client, alice, phone, laptop, bob)
}

// ---------------------------------------------------------------------------------------
// The happy path

#[tokio::test]
async fn a_link_goes_through_its_four_steps_and_its_status_shows_each() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, alice, phone, laptop, _bob) = alice_and_bob(dir.path()).await;

    // 1. The new device posts its PAKE message.
    let res = client.create_link(&server, "alice", "K7Q2", b"laptop pake").await;
    assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
    let id = res.json::<LinkCreated>().await.unwrap().link_id;
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()) && id.len() == 32);
    let status = client.status(&server, &id).await;
    assert!(status.answer.is_none() && status.device.is_none() && status.sealed.is_none() && !status.failed);
    // Every device of the account sees it.
    for dev in [&alice, &phone] {
        let pending = client.pending(&server, dev).await.requests;
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].link_id, id);
        assert_eq!(pending[0].selector, "K7Q2");
        assert_eq!(pending[0].pake.0, b"laptop pake");
        assert!(pending[0].created_at > 0);
    }

    // 2. One existing device answers; the request is no longer pending.
    expect_done(client.answer(&server, &phone, &id, b"phone pake", b"phone confirm").await).await;
    let status = client.status(&server, &id).await;
    let answer = status.answer.expect("the answer is shown");
    assert_eq!((answer.pake.0.as_slice(), answer.confirm.0.as_slice()), (&b"phone pake"[..], &b"phone confirm"[..]));
    assert!(status.device.is_none() && status.sealed.is_none() && !status.failed);
    assert!(client.pending(&server, &alice).await.requests.is_empty());

    // 3. The new device posts its key with a MAC.
    let key = laptop.key.public().0.to_vec();
    expect_done(client.device(&server, &id, &key, b"laptop mac").await).await;
    let status = client.status(&server, &id).await;
    assert!(status.answer.is_some());
    let device = status.device.expect("the device is shown");
    assert_eq!((device.device_key.0, device.mac.0), (key.clone(), b"laptop mac".to_vec()));
    assert!(status.sealed.is_none() && !status.failed);

    // 4. The answering device posts the sealed bundle; reading it does not consume it.
    expect_done(client.approve(&server, &phone, &id, b"sealed bundle").await).await;
    for _ in 0..2 {
        let status = client.status(&server, &id).await;
        assert!(status.answer.is_some() && status.device.is_some() && !status.failed);
        assert_eq!(status.sealed.expect("the bundle is shown").0, b"sealed bundle");
    }

    // The laptop can now register itself as usual.
    client.add_device(&server, &laptop, 1).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Order, once, failure

#[tokio::test]
async fn each_step_comes_in_order_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, alice, phone, laptop, _bob) = alice_and_bob(dir.path()).await;
    let key = laptop.key.public().0.to_vec();
    let id = client.new_link(&server, "alice", "AAAA").await;

    // Nothing before the answer.
    let res = client.device(&server, &id, &key, b"mac").await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let res = client.approve(&server, &alice, &id, b"sealed").await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;

    // One answer, from any device of the account: a second one (a second guess) is refused.
    expect_done(client.answer(&server, &alice, &id, b"pake", b"confirm").await).await;
    for dev in [&alice, &phone] {
        let res = client.answer(&server, dev, &id, b"other pake", b"other confirm").await;
        let body = expect_error(res, StatusCode::CONFLICT, "conflict").await;
        assert!(body.message.contains("already answered"), "{}", body.message);
    }
    assert_eq!(client.status(&server, &id).await.answer.unwrap().pake.0, b"pake");

    // No approval before the device key.
    let res = client.approve(&server, &alice, &id, b"sealed").await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;

    // One device key.
    expect_done(client.device(&server, &id, &key, b"mac").await).await;
    let other = SecretKey::generate().public().0.to_vec();
    let res = client.device(&server, &id, &other, b"other mac").await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(client.status(&server, &id).await.device.unwrap().device_key.0, key);

    // One approval.
    expect_done(client.approve(&server, &alice, &id, b"sealed").await).await;
    let res = client.approve(&server, &phone, &id, b"other sealed").await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(client.status(&server, &id).await.sealed.unwrap().0, b"sealed");
    server.stop().await;
}

#[tokio::test]
async fn a_failed_link_accepts_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, alice, _phone, laptop, _bob) = alice_and_bob(dir.path()).await;
    let key = laptop.key.public().0.to_vec();

    // Failed before any answer: it can't be answered and is no longer pending.
    let id = client.new_link(&server, "alice", "BBBB").await;
    expect_done(client.fail(&server, &id).await).await;
    expect_done(client.fail(&server, &id).await).await;
    assert!(client.status(&server, &id).await.failed);
    assert!(client.pending(&server, &alice).await.requests.is_empty());
    let res = client.answer(&server, &alice, &id, b"pake", b"confirm").await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;

    // Failed after the answer (the new device's confirmation did not match): no device key.
    let id = client.new_link(&server, "alice", "CCCC").await;
    expect_done(client.answer(&server, &alice, &id, b"pake", b"confirm").await).await;
    expect_done(client.fail(&server, &id).await).await;
    let res = client.device(&server, &id, &key, b"mac").await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;

    // Failed after the device key (its MAC did not verify): no approval.
    let id = client.new_link(&server, "alice", "DDDD").await;
    expect_done(client.answer(&server, &alice, &id, b"pake", b"confirm").await).await;
    expect_done(client.device(&server, &id, &key, b"mac").await).await;
    expect_done(client.fail(&server, &id).await).await;
    let res = client.approve(&server, &alice, &id, b"sealed").await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let status = client.status(&server, &id).await;
    assert!(status.failed && status.answer.is_some() && status.device.is_some() && status.sealed.is_none());
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Limits and validation

#[tokio::test]
async fn an_account_keeps_five_unfinished_requests_with_distinct_selectors_the_newest_replacing_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, alice, _phone, laptop, _bob) = alice_and_bob(dir.path()).await;
    let mut ids = Vec::new();
    for selector in ["AAA1", "AAA2", "AAA3", "AAA4"] {
        ids.push(client.new_link(&server, "alice", selector).await);
    }
    // A selector in use: the new device retries with another.
    let res = client.create_link(&server, "alice", "AAA2", b"pake").await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    // Another account may use it.
    client.new_link(&server, "bob", "AAA2").await;
    ids.push(client.new_link(&server, "alice", "AAA5").await);
    // A sixth replaces the oldest unanswered one, so strangers can't fill the slots for
    // good (the rate limit per address holds their pace).
    let answered = &ids[1];
    expect_done(client.answer(&server, &alice, answered, b"pake", b"confirm").await).await;
    let sixth = client.new_link(&server, "alice", "AAA6").await;
    let pending = client.pending(&server, &alice).await.requests;
    assert_eq!(pending.len(), 4, "five unfinished, one of them answered (not listed as pending)");
    assert!(!pending.iter().any(|p| p.selector == "AAA1"), "the oldest unanswered one went");
    assert!(pending.iter().any(|p| p.link_id == sixth));
    // The answered one was kept: its linking goes on.
    expect_done(client.device(&server, answered, &laptop.key.public().0, b"mac").await).await;
    expect_done(client.approve(&server, &alice, answered, b"sealed").await).await;
    // Bob's requests are his own.
    client.new_link(&server, "bob", "AAA6").await;
    // A failed request no longer counts, but its selector stays taken until it expires.
    expect_done(client.fail(&server, &ids[2]).await).await;
    let res = client.create_link(&server, "alice", "AAA3", b"pake").await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    server.stop().await;
}

#[tokio::test]
async fn malformed_link_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, alice, _phone, laptop, _bob) = alice_and_bob(dir.path()).await;

    // Selector: exactly 4 characters of the alphabet (no I, L, O, U, no lowercase).
    for selector in ["", "AB1", "AB123", "ABCI", "ABCL", "ABCO", "ABCU", "ab12", "AB-1", "ABÉ", "ABC "] {
        let res = client.create_link(&server, "alice", selector, b"pake").await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    // PAKE message: 1 to 64 bytes.
    for pake in [&[][..], &[7; 65][..]] {
        let res = client.create_link(&server, "alice", "ABCD", pake).await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let res = client.create_link(&server, "alice", "ABCD", &[7; 64]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Username: valid, and an account.
    let res = client.create_link(&server, "Not A Name!", "ABCE", b"pake").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.create_link(&server, "nobody", "ABCE", b"pake").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Not JSON, or unknown fields.
    let res = client.post_raw(&server, "/v1/link", b"{".to_vec()).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = client.post_raw(&server, "/v1/link", br#"{"username":"alice"}"#.to_vec()).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    // Ids: 32 hex characters, else 400; unknown, 404.
    let unknown = fresh_nonce();
    for bad in ["xyz", "0123456789abcdef0123456789abcdeg"] {
        expect_error(client.status_raw(&server, bad).await, StatusCode::BAD_REQUEST, "bad_request").await;
        expect_error(client.fail(&server, bad).await, StatusCode::BAD_REQUEST, "bad_request").await;
        let res = client.device(&server, bad, &laptop.key.public().0, b"mac").await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        let res = client.answer(&server, &alice, bad, b"pake", b"confirm").await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    expect_error(client.status_raw(&server, &unknown).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(client.fail(&server, &unknown).await, StatusCode::NOT_FOUND, "not_found").await;
    let res = client.device(&server, &unknown, &laptop.key.public().0, b"mac").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = client.answer(&server, &alice, &unknown, b"pake", b"confirm").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = client.approve(&server, &alice, &unknown, b"sealed").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // Answer fields: 1 to 64 bytes each; a refused answer does not use up the request.
    let id = client.new_link(&server, "alice", "EEEE").await;
    for (pake, confirm) in [(&[][..], &b"c"[..]), (&[1; 65][..], &b"c"[..]), (&b"p"[..], &[][..]), (&b"p"[..], &[1; 65][..])] {
        let res = client.answer(&server, &alice, &id, pake, confirm).await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    expect_done(client.answer(&server, &alice, &id, &[1; 64], &[2; 64]).await).await;
    // Device: a valid Ed25519 key and a 1 to 64 byte MAC.
    for (key, mac) in [
        (&[7; 31][..], &b"mac"[..]),
        (&[][..], &b"mac"[..]),
        (&laptop.key.public().0[..], &[][..]),
        (&laptop.key.public().0[..], &[3; 65][..]),
    ] {
        let res = client.device(&server, &id, key, mac).await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    expect_done(client.device(&server, &id, &laptop.key.public().0, &[3; 64]).await).await;
    // Sealed bundle: not empty, at most 256 KiB.
    for sealed in [Vec::new(), vec![0; 256 * 1024 + 1]] {
        let res = client.approve(&server, &alice, &id, &sealed).await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    expect_done(client.approve(&server, &alice, &id, &vec![0; 256 * 1024]).await).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Who may answer

#[tokio::test]
async fn only_a_device_of_the_account_may_see_answer_or_approve() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, alice, _phone, laptop, bob) = alice_and_bob(dir.path()).await;
    let id = client.new_link(&server, "alice", "FFFF").await;

    // Bob does not see it, and can't tell it from an unknown request.
    assert!(client.pending(&server, &bob).await.requests.is_empty());
    let res = client.answer(&server, &bob, &id, b"pake", b"confirm").await;
    let mine = expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = client.answer(&server, &bob, &fresh_nonce(), b"pake", b"confirm").await;
    let unknown = expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(mine.message, unknown.message);
    // Unsigned answers, approvals and listings are refused.
    let answer = LinkAnswer {
        pake: B64(b"pake".to_vec()),
        confirm: B64(b"confirm".to_vec()),
    };
    let res = client.post_raw(&server, &format!("/v1/link/{id}/answer"), serde_json::to_vec(&answer).unwrap()).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = client.post_raw(&server, &format!("/v1/link/{id}/approve"), br#"{"sealed":"AAAA"}"#.to_vec()).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = client.http.get(server.url("/v1/link")).send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Bob's attempts used up nothing.
    assert!(client.status(&server, &id).await.answer.is_none());

    expect_done(client.answer(&server, &alice, &id, b"pake", b"confirm").await).await;
    expect_done(client.device(&server, &id, &laptop.key.public().0, b"mac").await).await;
    let res = client.approve(&server, &bob, &id, b"sealed").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert!(client.status(&server, &id).await.sealed.is_none());
    expect_done(client.approve(&server, &alice, &id, b"sealed").await).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Expiry

#[tokio::test]
async fn expired_link_requests_are_gone_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, alice, _phone, laptop, bob) = alice_and_bob(dir.path()).await;
    let mut ids = Vec::new();
    for selector in ["GGG1", "GGG2", "GGG3", "GGG4", "GGG5"] {
        ids.push(client.new_link(&server, "alice", selector).await);
    }
    expect_done(client.answer(&server, &alice, &ids[1], b"pake", b"confirm").await).await;
    client.new_link(&server, "bob", "GGG1").await;
    server.stop().await;

    // Ten minutes later: alice's requests have expired (their clock is turned back here).
    execute_sql(dir.path(), "UPDATE link_requests SET expires_at = 1 WHERE username = 'alice'").await;
    let server = Running::start(dir.path()).await;
    expect_error(client.status_raw(&server, &ids[0]).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(client.fail(&server, &ids[0]).await, StatusCode::NOT_FOUND, "not_found").await;
    let res = client.answer(&server, &alice, &ids[0], b"pake", b"confirm").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = client.device(&server, &ids[1], &laptop.key.public().0, b"mac").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert!(client.pending(&server, &alice).await.requests.is_empty());
    assert_eq!(client.pending(&server, &bob).await.requests.len(), 1);
    // They no longer count, their selectors are free, and a new request deletes them.
    client.new_link(&server, "alice", "GGG1").await;
    server.stop().await;
    {
        let pool = database(dir.path()).await;
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM link_requests").fetch_one(&pool).await.unwrap();
        assert_eq!(count, 2);
        pool.close().await;
    }
}

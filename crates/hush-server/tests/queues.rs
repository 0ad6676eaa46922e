//! Queue limits at the API: a full recipient queue is a 429 `queue_full` with
//! `Retry-After` and a sentence naming the user and device, nothing is stored for anyone,
//! a commit removing the full device still goes through, and inbox pages stop at 4 MiB.

// Tests state their expectations with unwrap/expect/panic: a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hush_proto::{Accepted, AckRequest, CommitRequest, InboxResponse, MessageRequest, B64};
use hush_server::ServerConfig;
use reqwest::StatusCode;

mod common;

use common::{Client, Running, TestDevice, conversation_with, expect_error};

async fn drain(client: &Client, server: &Running, dev: &TestDevice) {
    let items = client.inbox(server, dev).await.items;
    let ids = items.iter().map(|i| i.id).collect();
    let res = client.post(server, dev, "/v1/inbox/ack", &AckRequest { ids }).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_full_queue_refuses_the_whole_message_and_its_device_can_still_be_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().to_path_buf());
    config.queues.max_items = 3;
    let server = Running::start_with(config).await;
    let client = Client::new();
    let (alice, bob, carol) = (TestDevice::new("alice"), TestDevice::new("bob"), TestDevice::new("carol"));
    for d in [&alice, &bob, &carol] {
        client.register(&server, d, 1).await;
    }
    let mut conv = conversation_with(&client, &server, &alice, &[&bob, &carol]).await;
    let path = format!("/v1/groups/{}/messages", hex::encode(conv.id()));
    // bob's queue: the Welcome and two messages. carol keeps up.
    for text in ["one", "two"] {
        let ct = conv.encrypt(&alice.provider, &alice.mls(), text.as_bytes(), b"").unwrap();
        let res = client.post(&server, &alice, &path, &MessageRequest { message: B64(ct) }).await;
        assert_eq!(res.status(), StatusCode::OK);
        drain(&client, &server, &carol).await;
    }
    let ct = conv.encrypt(&alice.provider, &alice.mls(), b"three", b"").unwrap();
    let res = client.post(&server, &alice, &path, &MessageRequest { message: B64(ct) }).await;
    assert_eq!(res.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("600"));
    let body = expect_error(res, StatusCode::TOO_MANY_REQUESTS, "queue_full").await;
    assert!(
        body.message.starts_with(&format!("bob's device {} has 3 undelivered messages waiting", bob.device_id)),
        "{}",
        body.message
    );
    // Nothing was stored, for carol either.
    assert!(client.inbox(&server, &carol).await.items.is_empty());

    // Removing bob's device is never refused by his full queue.
    let out = conv.change_members(&alice.provider, &alice.mls(), vec![], std::slice::from_ref(&bob.device_id)).unwrap();
    let res = client
        .post(
            &server,
            &alice,
            &format!("/v1/groups/{}/commit", hex::encode(conv.id())),
            &CommitRequest { commit: B64(out.commit), welcome: None, added_devices: vec![], removed_devices: vec![bob.device_id.clone()] },
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
    let _: Accepted = res.json().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn an_inbox_page_stops_at_4_mib() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().to_path_buf());
    config.max_body_bytes = 4 * 1024 * 1024;
    let server = Running::start_with(config).await;
    let client = Client::new();
    let (alice, bob) = (TestDevice::new("alice"), TestDevice::new("bob"));
    for d in [&alice, &bob] {
        client.register(&server, d, 1).await;
    }
    let mut conv = conversation_with(&client, &server, &alice, &[&bob]).await;
    let path = format!("/v1/groups/{}/messages", hex::encode(conv.id()));
    let big = vec![7_u8; 1024 * 1024];
    for _ in 0..6 {
        let ct = conv.encrypt(&alice.provider, &alice.mls(), &big, b"").unwrap();
        let res = client.post(&server, &alice, &path, &MessageRequest { message: B64(ct) }).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // The Welcome and six 1 MiB messages: the first page holds the Welcome and three.
    let page: InboxResponse = client.get_json(&server, &bob, "/v1/inbox?limit=500").await;
    assert_eq!(page.items.len(), 4);
    let total: usize = page.items.iter().map(|i| i.payload.0.len()).sum();
    assert!(total <= 4 * 1024 * 1024, "{total}");
    let last = page.items.last().unwrap().id;
    let rest: InboxResponse = client.get_json(&server, &bob, &format!("/v1/inbox?after={last}&limit=500")).await;
    assert_eq!(rest.items.len(), 3);
    server.stop().await;
}

//! KeyPackage drain: a stranger's claims are cut off with 429 and `Retry-After`, a device
//! tops its supply up after a sync, and a used last-resort KeyPackage is replaced and
//! reported once (real binary, real server on 127.0.0.1).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;

use std::path::Path;

use common::*;
use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
use hush_core::mls::{self, Device, HushProvider};
use hush_proto::B64;

/// Single-use KeyPackages a user's devices have left on the server, and how many of their
/// last-resort ones were handed out since they were uploaded.
fn supply(data: &Path, user: &str) -> (u64, u64) {
    let rows = operator_query(
        data,
        &format!(
            "SELECT COALESCE(SUM(k.last_resort = 0), 0), COALESCE(SUM(k.last_resort = 1 AND k.claimed_at IS NOT NULL), 0)
             FROM key_packages k JOIN devices d ON d.device_id = k.device_id WHERE d.username = '{user}'"
        ),
    );
    (rows[0][0].parse().unwrap(), rows[0][1].parse().unwrap())
}

/// The data of a user's (one device's) last-resort KeyPackage, as hex.
fn last_resort(data: &Path, user: &str) -> String {
    let rows = operator_query(
        data,
        &format!(
            "SELECT k.data FROM key_packages k JOIN devices d ON d.device_id = k.device_id
             WHERE d.username = '{user}' AND k.last_resort = 1"
        ),
    );
    assert_eq!(rows.len(), 1, "one last-resort KeyPackage: {rows:?}");
    rows[0][0].clone()
}

/// `n` conversations `creator` makes with `with` (each claims `with`'s KeyPackages once).
fn conversations(creator: &Path, prefix: &str, with: &str, n: usize) {
    for i in 0..n {
        ok(creator, &["conversation", "create", &format!("{prefix}{i}"), "--with", with]);
    }
}

/// A stranger registered straight through the API (keys made here), so that the test
/// can sign its requests.
struct Stranger {
    key: SecretKey,
    device_id: String,
}

impl Stranger {
    async fn register(http: &reqwest::Client, url: &str, username: &str) -> Stranger {
        let identity = SecretKey::generate();
        let key = SecretKey::generate();
        let device_id = new_device_id();
        let cert = DeviceCertificate::issue(&identity, username, &device_id, key.public());
        let provider = HushProvider::new().unwrap();
        let (kps, last) = mls::key_packages(&provider, &Device { key: &key, certificate: &cert }, 2).unwrap();
        let req = hush_proto::RegisterRequest {
            username: username.to_owned(),
            identity_key: B64(identity.public().0.to_vec()),
            device: hush_proto::DeviceUpload {
                certificate: B64(cert.encode()),
                key_packages: kps.into_iter().map(B64).collect(),
                last_resort: B64(last),
            },
            invite: None,
        };
        let me = Stranger { key, device_id };
        let r = me.post(http, url, "/v1/register", serde_json::to_vec(&req).unwrap()).await;
        assert!(r.status().is_success(), "register: {}", r.text().await.unwrap_or_default());
        me
    }

    async fn post(&self, http: &reqwest::Client, url: &str, path: &str, body: Vec<u8>) -> reqwest::Response {
        let signer = hush_client::api::Signer { device_id: &self.device_id, key: &self.key };
        let mut req = http.post(format!("{url}{path}")).header("content-type", "application/json");
        for (k, v) in hush_client::api::Api::signed_headers(&signer, "POST", path, &body) {
            req = req.header(k, v);
        }
        req.body(body).send().await.expect("send")
    }
}

#[test]
fn a_strangers_claims_are_cut_off_with_429_and_retry_after() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let a = dir.path().join("alice");
    register(&a, "alice", &server.url);
    assert_eq!(supply(&data, "alice"), (20, 0));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (granted, refused) = rt.block_on(async {
        let http = http_client();
        let mallory = Stranger::register(&http, &server.url, "mallory").await;
        let (mut granted, mut refused) = (0, 0);
        for _ in 0..200 {
            let r = mallory.post(&http, &server.url, "/v1/users/alice/claim", Vec::new()).await;
            match r.status().as_u16() {
                200 => {
                    assert_eq!(refused, 0, "a claim was granted after one was refused");
                    granted += 1;
                }
                429 => {
                    let wait: u64 = r
                        .headers()
                        .get("retry-after")
                        .expect("a 429 carries Retry-After")
                        .to_str()
                        .unwrap()
                        .parse()
                        .expect("Retry-After in seconds");
                    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
                    let e: hush_proto::ErrorBody = r.json().await.expect("a JSON error");
                    assert_eq!(e.error, "rate_limited");
                    assert!(e.message.contains("try again later"), "{}", e.message);
                    refused += 1;
                }
                s => panic!("claim answered {s}: {}", r.text().await.unwrap_or_default()),
            }
        }
        (granted, refused)
    });
    assert_eq!((granted, refused), (10, 190), "one stranger gets 10 claims an hour");
    // Half of alice's supply is left, and her last-resort KeyPackage was never handed out.
    assert_eq!(supply(&data, "alice"), (10, 0));

    // Others can still add her, and she tops up at her next sync.
    let b = dir.path().join("bob");
    register(&b, "bob", &server.url);
    ok(&b, &["send", "alice", "still reachable", "--new"]);
    assert_eq!(supply(&data, "alice"), (9, 0));
    assert!(texts(&read(&a)).contains(&"still reachable".to_owned()));
    assert_eq!(supply(&data, "alice"), (20, 0), "alice tops up below 10");
}

#[test]
fn a_supply_used_up_by_friends_is_topped_up_at_the_next_sync() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let [a, b, c, d] = ["alice", "bob", "carol", "dave"].map(|u| {
        let h = dir.path().join(u);
        register(&h, u, &server.url);
        h
    });
    // Bob and carol add alice to 20 conversations: her whole normal supply.
    conversations(&b, "b", "alice", 10);
    conversations(&c, "c", "alice", 10);
    assert_eq!(supply(&data, "alice"), (0, 0));
    let before = last_resort(&data, "alice");

    // Her next sync tops it up (her last-resort KeyPackage stays: it was not used).
    let msgs = read(&a);
    assert!(!msgs.iter().any(|m| m["text"].as_str().unwrap_or_default().contains("last-resort")), "{msgs:?}");
    assert_eq!(supply(&data, "alice"), (20, 0));
    assert_eq!(last_resort(&data, "alice"), before);

    // A new conversation with her gets a fresh single-use KeyPackage, and works.
    ok(&d, &["send", "alice", "hello from dave", "--new"]);
    assert_eq!(supply(&data, "alice"), (19, 0));
    assert!(texts(&read(&a)).contains(&"hello from dave".to_owned()));
}

#[test]
fn a_used_last_resort_key_package_is_replaced_and_reported_once() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let [a, b, c, d] = ["alice", "bob", "carol", "dave"].map(|u| {
        let h = dir.path().join(u);
        register(&h, u, &server.url);
        h
    });
    conversations(&b, "b", "alice", 10);
    conversations(&c, "c", "alice", 10);
    let before = last_resort(&data, "alice");
    // The 21st add gets alice's last-resort KeyPackage.
    ok(&d, &["send", "alice", "via the last resort", "--new"]);
    assert_eq!(supply(&data, "alice"), (0, 1));

    // Alice joins with it, is told, and has a new last-resort KeyPackage and 20 others.
    let msgs = read(&a);
    assert!(texts(&msgs).contains(&"via the last resort".to_owned()), "{msgs:?}");
    let notices: Vec<&serde_json::Value> =
        msgs.iter().filter(|m| m["text"].as_str().unwrap_or_default().contains("last-resort key package was handed out")).collect();
    assert_eq!(notices.len(), 1, "{msgs:?}");
    assert_eq!(notices[0]["kind"], "event");
    assert_eq!(supply(&data, "alice"), (20, 0));
    assert_ne!(last_resort(&data, "alice"), before, "the last-resort KeyPackage was replaced");

    // Told once only.
    let again = read(&a);
    assert!(!again.iter().any(|m| m["text"].as_str().unwrap_or_default().contains("last-resort")), "{again:?}");
    ok(&d, &["send", "alice", "still here"]);
    assert!(texts(&read(&a)).contains(&"still here".to_owned()));
}

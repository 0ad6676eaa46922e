//! Key transparency end to end: a real server on loopback with a real SQLite database in a
//! temporary directory, real keys from hush-core, and the client's own proof checks
//! (`hush_core::kt`) and akd's auditor.

// Tests state their expectations with unwrap/expect/panic: a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hush_core::kt::{Root, directory_value, verify_history, verify_lookup};
use hush_proto::{KtAudit, KtHistory, KtLookup};
use hush_server::{Server, ServerConfig, ServerError};
use reqwest::StatusCode;

mod common;

use common::{Client, Running, TestDevice, devices_of, expect_error_body, root};

// ---------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn lookups_histories_and_audits_verify_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new();
    let server = Running::start(dir.path()).await;

    // Nothing published yet: epoch 0, the empty tree.
    let info = client.kt_info(&server).await;
    assert_eq!(info.root.epoch, 0);
    assert_eq!(info.root.root_hash.0.len(), 32);
    let vrf = info.vrf_public_key.0.clone();
    assert_eq!(vrf.len(), 32);

    let alice = TestDevice::new("alice");
    let bob = TestDevice::new("bob");
    client.register(&server, &alice, 1).await;
    client.register(&server, &bob, 1).await;
    let info = client.kt_info(&server).await;
    assert!(info.root.epoch >= 2, "epoch {}", info.root.epoch);
    assert_eq!(info.vrf_public_key.0, vrf);

    // Bob's entry, proven to alice, is exactly bob's identity key and device list.
    let lookup: KtLookup = client.get_json(&server, &alice, "/v1/kt/lookup/bob").await;
    assert_eq!(lookup.root.epoch, info.root.epoch);
    assert_eq!(lookup.root.root_hash.0, info.root.root_hash.0);
    let v = verify_lookup(&vrf, &root(&lookup.root), "bob", &lookup.proof.0).expect("bob's lookup verifies");
    assert_eq!(v.value, directory_value(&bob.identity.public(), &devices_of(&[&bob])));
    assert_eq!(v.version, 1);

    // The same proof against another root, or for another name, fails.
    let mut other = root(&lookup.root);
    other.hash[0] ^= 1;
    assert!(verify_lookup(&vrf, &other, "bob", &lookup.proof.0).is_err());
    assert!(verify_lookup(&vrf, &root(&lookup.root), "alice", &lookup.proof.0).is_err());

    let first_lookup = lookup.clone();

    // Unknown users, unsigned requests.
    let res = client.get(&server, &alice, "/v1/kt/lookup/carol").await;
    expect_error_body(res, StatusCode::NOT_FOUND, "not_found", false).await;
    let res = client.get(&server, &alice, "/v1/kt/history/carol").await;
    expect_error_body(res, StatusCode::NOT_FOUND, "not_found", false).await;
    let res = client.http.get(server.url("/v1/kt/lookup/bob")).send().await.unwrap();
    expect_error_body(res, StatusCode::UNAUTHORIZED, "unauthorized", false).await;

    // Bob adds a phone: a new epoch, a new value, a history of two versions.
    let bob_phone = bob.sibling();
    client.add_device(&server, &bob_phone, 1).await;
    let lookup: KtLookup = client.get_json(&server, &alice, "/v1/kt/lookup/bob").await;
    assert!(lookup.root.epoch > info.root.epoch);
    let new_value = directory_value(&bob.identity.public(), &devices_of(&[&bob, &bob_phone]));
    let v = verify_lookup(&vrf, &root(&lookup.root), "bob", &lookup.proof.0).unwrap();
    assert_eq!(v.value, new_value);
    assert_eq!(v.version, 2);

    let history: KtHistory = client.get_json(&server, &bob_phone, "/v1/kt/history/bob").await;
    let versions = verify_history(&vrf, &root(&history.root), "bob", &history.proof.0).expect("history verifies");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].value, new_value);
    assert_eq!(versions[0].version, 2);
    assert_eq!(versions[1].value, directory_value(&bob.identity.public(), &devices_of(&[&bob])));
    assert_eq!(versions[1].version, 1);

    // The directory only grew from epoch 1 to the latest.
    let latest = client.kt_info(&server).await.root;
    let audit: KtAudit = client
        .public_json(&server, &format!("/v1/kt/audit?start=1&end={}", latest.epoch))
        .await;
    assert_eq!(audit.hashes.len() as u64, latest.epoch);
    assert_eq!(audit.hashes.last().unwrap().0, latest.root_hash.0);
    let hashes: Vec<[u8; 32]> = audit.hashes.iter().map(|h| h.0.as_slice().try_into().unwrap()).collect();
    let proof: akd::AppendOnlyProof = serde_json::from_slice(&audit.proof.0).unwrap();
    akd::auditor::audit_verify::<akd::WhatsAppV1Configuration>(hashes.clone(), proof.clone())
        .await
        .expect("the audit verifies");
    // Bob's first proof against the (real) root of epoch 1, when only alice was in: fails.
    let epoch1 = Root { epoch: 1, hash: hashes[0] };
    assert!(verify_lookup(&vrf, &epoch1, "bob", &first_lookup.proof.0).is_err());
    // Against a changed history the audit does not verify.
    let mut forged = hashes.clone();
    forged[1][0] ^= 1;
    assert!(akd::auditor::audit_verify::<akd::WhatsAppV1Configuration>(forged, proof).await.is_err());

    // And from the empty tree (epoch 0) on.
    let audit: KtAudit = client.public_json(&server, "/v1/kt/audit?start=0&end=1").await;
    let hashes: Vec<[u8; 32]> = audit.hashes.iter().map(|h| h.0.as_slice().try_into().unwrap()).collect();
    let proof: akd::AppendOnlyProof = serde_json::from_slice(&audit.proof.0).unwrap();
    akd::auditor::audit_verify::<akd::WhatsAppV1Configuration>(hashes, proof)
        .await
        .expect("the audit from epoch 0 verifies");

    // Bad ranges are the client's mistake, said in a sentence.
    for query in [
        "start=2&end=2".to_owned(),
        "start=3&end=2".to_owned(),
        format!("start=1&end={}", latest.epoch + 1),
        "start=1".to_owned(),
        "start=a&end=2".to_owned(),
        "start=-1&end=2".to_owned(),
    ] {
        let res = client.http.get(server.url(&format!("/v1/kt/audit?{query}"))).send().await.unwrap();
        expect_error_body(res, StatusCode::BAD_REQUEST, "bad_request", false).await;
    }

    server.stop().await;

    // After a restart: the same directory, root and VRF key; bob's entry still proves.
    let server = Running::start(dir.path()).await;
    let info = client.kt_info(&server).await;
    assert_eq!(info.vrf_public_key.0, vrf);
    assert_eq!(info.root.epoch, latest.epoch);
    assert_eq!(info.root.root_hash.0, latest.root_hash.0);
    let lookup: KtLookup = client.get_json(&server, &alice, "/v1/kt/lookup/bob").await;
    let v = verify_lookup(&vrf, &root(&lookup.root), "bob", &lookup.proof.0).unwrap();
    assert_eq!(v.value, new_value);

    // Publishing keeps working after the restart.
    let carol = TestDevice::new("carol");
    client.register(&server, &carol, 1).await;
    let lookup: KtLookup = client.get_json(&server, &alice, "/v1/kt/lookup/carol").await;
    assert_eq!(lookup.root.epoch, latest.epoch + 1);
    let v = verify_lookup(&vrf, &root(&lookup.root), "carol", &lookup.proof.0).unwrap();
    assert_eq!(v.value, directory_value(&carol.identity.public(), &devices_of(&[&carol])));
    server.stop().await;
}

#[tokio::test]
async fn a_missing_vrf_key_for_an_existing_directory_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    Client::new().register(&server, &TestDevice::new("alice"), 1).await;
    server.stop().await;

    let key = dir.path().join(hush_server::kt::VRF_KEY_FILE);
    std::fs::remove_file(&key).unwrap();
    let config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().to_path_buf());
    let Err(err) = Server::bind(config).await else {
        panic!("the server started without its VRF key");
    };
    assert!(matches!(err, ServerError::KeyTransparency(_)), "{err}");
    assert!(err.to_string().contains("vrf.key"), "{err}");
    assert!(!key.exists(), "a new key was made for an existing directory");
}

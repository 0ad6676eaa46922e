//! The API contract: `GET /v1/openapi.json` serves the OpenAPI document built from
//! `hush_proto::endpoints`, it names every endpoint, and docs/openapi.json is the same
//! document (regenerate it with the ignored test below when the API changes).

// Tests state their expectations with unwrap/expect/panic: a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use common::Running;
use hush_proto::endpoints::ALL;

/// How to bring docs/openapi.json up to date.
const REGENERATE: &str = "cargo nextest run --release -p hush-server --test openapi --run-ignored only";

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

/// The document the running server serves, and its content type.
async fn served() -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let res = common::http_client().get(server.url("/v1/openapi.json")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let content_type = res.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    let doc = res.json().await.unwrap();
    server.stop().await;
    (doc, content_type)
}

#[tokio::test]
async fn the_checked_in_document_is_the_one_the_server_serves() {
    let (doc, content_type) = served().await;
    assert_eq!(content_type, "application/json");
    let text = std::fs::read_to_string(checked_in())
        .unwrap_or_else(|e| panic!("docs/openapi.json can't be read ({e}); make it with: {REGENERATE}"));
    let file: serde_json::Value = serde_json::from_str(&text).expect("docs/openapi.json is JSON");
    assert!(
        file == doc,
        "docs/openapi.json differs from what GET /v1/openapi.json serves; regenerate it with: {REGENERATE}"
    );
    assert_eq!(text, hush_proto::openapi::document_json(), "docs/openapi.json is not formatted as generated; regenerate it with: {REGENERATE}");
}

#[tokio::test]
async fn the_served_document_names_every_endpoint_once() {
    let (doc, _) = served().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            assert!(
                ALL.iter().any(|(m, p)| p == path && m.as_str().eq_ignore_ascii_case(method)),
                "{method} {path} is in the document but not in hush_proto::endpoints::ALL"
            );
            assert!(op["responses"]["default"].is_object(), "{method} {path} documents no error answer");
        }
    }
    for (method, path) in ALL {
        assert!(
            doc["paths"][path][method.as_str().to_ascii_lowercase()].is_object(),
            "{} {path} is in hush_proto::endpoints::ALL but not in the document",
            method.as_str()
        );
    }
    assert_eq!(operations, ALL.len());
}

/// Writes docs/openapi.json from the running server's document (run it after changing the
/// API: `cargo nextest run --release -p hush-server --test openapi --run-ignored only`).
#[tokio::test]
#[ignore = "writes docs/openapi.json; run it to regenerate the checked-in document"]
async fn regenerate_docs_openapi_json() {
    let (doc, _) = served().await;
    assert_eq!(serde_json::to_value(hush_proto::openapi::document()).unwrap(), doc);
    std::fs::write(checked_in(), hush_proto::openapi::document_json()).unwrap();
}

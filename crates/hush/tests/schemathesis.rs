//! The API contract, checked from outside: schemathesis generates requests from the
//! server's own OpenAPI document (`GET /v1/openapi.json`), valid and invalid, for every
//! operation, signed the way a hush device signs them (`tests/schemathesis/hush_hooks.py`,
//! with a device this test registers), and checks every answer: no server error, and every
//! status, content type, header and body as the document says.
//!
//! schemathesis lives in the virtualenv `.ci/run` makes (`$HOME/.cache/hush-venv`, or the
//! one `HUSH_VENV` names). Excluded: `GET /v1/ws`, the WebSocket upgrade, which is not a
//! request and answer (tests/websockets.rs tests it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;

use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use hush_core::auth::{canonical_request, fresh_nonce};
use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
use hush_core::mls::{self, Device, HushProvider};
use hush_proto::endpoints::{Endpoint as _, WebSocket};
use hush_proto::{B64, DeviceUpload, HEADER_DEVICE, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, RegisterRequest};

/// The pinned versions `.ci/run` installs.
const INSTALL: &str = "python3 -m venv ~/.cache/hush-venv && ~/.cache/hush-venv/bin/pip install \
                       schemathesis==4.32.5 cryptography==50.0.2 (as .ci/run does)";

/// Test cases per operation and phase: enough to find what the generator finds, small
/// enough to stay near a minute on two cores.
const MAX_EXAMPLES: &str = "25";

/// The checks run on every answer.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,negative_data_rejection,\
                      unsupported_method";

fn schemathesis_bin() -> PathBuf {
    let venv = std::env::var_os("HUSH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/hush-venv"));
    let bin = venv.join("bin/schemathesis");
    assert!(
        bin.is_file(),
        "schemathesis is not installed at {}; install it with: {INSTALL}",
        bin.display()
    );
    bin
}

/// Registers a user with one device over the API; returns the device id and its key.
fn register(url: &str, username: &str) -> (String, SecretKey) {
    let identity = SecretKey::generate();
    let key = SecretKey::generate();
    let device_id = new_device_id();
    let cert = DeviceCertificate::issue(&identity, username, &device_id, key.public());
    let provider = HushProvider::new().expect("provider");
    let (kps, last) = mls::key_packages(&provider, &Device { key: &key, certificate: &cert }, 2).expect("key packages");
    let body = serde_json::to_vec(&RegisterRequest {
        username: username.to_owned(),
        identity_key: B64(identity.public().0.to_vec()),
        device: DeviceUpload { certificate: B64(cert.encode()), key_packages: kps.into_iter().map(B64).collect(), last_resort: B64(last) },
        invite: None,
    })
    .unwrap();
    let timestamp = hush_core::now_ms();
    let nonce = fresh_nonce();
    let signature = key.sign(&canonical_request("POST", "/v1/register", timestamp, &nonce, &body));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = runtime.block_on(async {
        http_client()
            .post(format!("{url}/v1/register"))
            .header("content-type", "application/json")
            .header(HEADER_DEVICE, &device_id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_NONCE, nonce)
            .header(HEADER_SIGNATURE, URL_SAFE_NO_PAD.encode(signature))
            .body(body)
            .send()
            .await
            .expect("register")
            .status()
    });
    assert_eq!(status.as_u16(), 201, "registering the test's device");
    (device_id, key)
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_off_the_contract() {
    let bin = schemathesis_bin();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("server"), "127.0.0.1:0");
    let (device_id, key) = register(&server.url, "schemathesis");
    let hooks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let started = std::time::Instant::now();
    let out = Command::new(bin)
        .current_dir(dir.path())
        .args(["run", &format!("{}/v1/openapi.json", server.url), "--url", &server.url])
        .args(["--checks", CHECKS, "--max-examples", MAX_EXAMPLES, "--phases", "examples,coverage,fuzzing"])
        .args(["--exclude-path", WebSocket::PATH])
        .args(["--workers", "2", "--seed", "1", "--generation-database", "none", "--no-color"])
        .args(["--generation-with-security-parameters", "false", "--request-timeout", "30"])
        // More flags, to look closer by hand (e.g. `--report har --report-dir DIR`).
        .args(std::env::var("HUSH_SCHEMATHESIS_ARGS").unwrap_or_default().split_whitespace())
        .env("SCHEMATHESIS_HOOKS", "hush_hooks")
        .env("PYTHONPATH", &hooks)
        .env("HUSH_SCHEMATHESIS_DEVICE", &device_id)
        .env("HUSH_SCHEMATHESIS_KEY", hex::encode(*key.to_bytes()))
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("schemathesis took {:.0?}:\n{stdout}\n{stderr}", started.elapsed());
    server.kill9();
    assert!(out.status.success(), "schemathesis found answers off the contract (its report is above)");
    assert!(stdout.contains("passed"), "schemathesis ran no operation:\n{stdout}");
}

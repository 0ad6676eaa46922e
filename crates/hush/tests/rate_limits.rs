//! Rate limits over time, through the real binary: floods get `429` with `Retry-After`,
//! and a stranger's flood aimed at alice keeps her from neither linking a device nor
//! recovering her account. The server runs `--behind-tls-proxy` so that the flooder can
//! come from addresses of its own (`X-Forwarded-For`), as it would on a real network.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;

use common::*;

/// Sends `n` requests made by `make`, from `addr`; the statuses, and the first 429's
/// `Retry-After` and message.
async fn flood(
    n: usize,
    addr: &str,
    make: impl Fn(usize) -> reqwest::RequestBuilder,
) -> (Vec<u16>, Option<(String, String)>) {
    let mut statuses = Vec::new();
    let mut limited = None;
    for i in 0..n {
        let r = make(i).header("x-forwarded-for", addr).send().await.unwrap();
        let s = r.status().as_u16();
        if s == 429 && limited.is_none() {
            let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            let body: hush_proto::ErrorBody = r.json().await.unwrap();
            limited = Some((retry, body.message));
        }
        statuses.push(s);
    }
    (statuses, limited)
}

#[test]
fn a_strangers_flood_gets_429_with_retry_after_and_never_locks_alice_out_of_linking_or_recovery() {
    let dir = tempdir();
    let server = Server::start_with(&dir.path().join("data"), "127.0.0.1:0", &["--behind-tls-proxy"]);
    let alice = dir.path().join("alice");
    let phrase = register_with_phrase(&alice, "alice", &server.url);
    let url = server.url.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = http_client();
        // Link requests for alice, each with a fresh code, from one address.
        let (statuses, limited) = flood(40, "203.0.113.7", |i| {
            let a = "ABCDEFGHJKMNPQRSTVWXYZ0123456789";
            let selector: String = [i % 32, i / 32 % 32, 0, 0].iter().map(|&k| a.as_bytes()[k] as char).collect();
            http.post(format!("{url}/v1/link")).json(&serde_json::json!({"username": "alice", "selector": selector, "pake": "AAAA"}))
        })
        .await;
        assert!(statuses[..10].iter().all(|s| *s == 201), "{statuses:?}");
        assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
        let (retry, message) = limited.unwrap();
        assert!(retry.parse::<u64>().is_ok_and(|s| s >= 1), "Retry-After: {retry:?}");
        assert!(message.contains("try again in"), "{message}");

        // Wrong recovery attempts at alice's backup, from other addresses.
        for addr in ["203.0.113.8", "203.0.113.9"] {
            let (statuses, limited) = flood(30, addr, |_| {
                let key = hush_core::identity::SecretKey::generate();
                let signer = hush_client::api::Signer { device_id: hush_proto::RECOVERY_DEVICE, key: &key };
                let mut req = http.get(format!("{url}/v1/recovery/alice"));
                for (k, v) in hush_client::api::Api::signed_headers(&signer, "GET", "/v1/recovery/alice", b"") {
                    req = req.header(k, v);
                }
                req
            })
            .await;
            assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
            assert!(statuses.contains(&429), "{statuses:?}");
            assert!(limited.is_some_and(|(retry, _)| !retry.is_empty()), "every 429 says when to come back");
        }

        // Registrations from one address.
        let (statuses, limited) = flood(40, "203.0.113.10", |_| http.post(format!("{url}/v1/register")).header("content-type", "application/json").body("{}"))
        .await;
        assert!(statuses[..30].iter().all(|s| *s == 400 || *s == 401), "{statuses:?}");
        assert!(statuses[30..].iter().all(|s| *s == 429), "{statuses:?}");
        assert!(limited.is_some_and(|(retry, m)| !retry.is_empty() && m.contains("registrations")));
    });

    // alice, from her own address, links a new device and recovers on another one.
    let phone = dir.path().join("alice-phone");
    link_device(&phone, "alice", &server.url, &alice);
    let laptop = dir.path().join("alice-laptop");
    let out = recover(&laptop, "alice", &server.url, &phrase);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ok(&laptop, &["device", "list"]);
}

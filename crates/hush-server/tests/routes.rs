//! The router serves every endpoint `hush_proto::endpoints` names: a request with the
//! endpoint's method on its path (placeholders filled) never gets the router's own `404 no
//! such route` or `405`, whatever the handler then answers (401 unsigned, 400, …).

// Tests state their expectations with unwrap/expect/panic: a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Running;
use hush_proto::ErrorBody;
use hush_proto::endpoints::{ALL, Method};
use reqwest::StatusCode;

/// `template` with every `{param}` replaced by a well-formed id.
fn filled(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str("0123456789abcdef0123456789abcdef");
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn every_endpoint_is_served_by_the_router() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;
    let http = common::http_client();
    let mut unserved = Vec::new();
    for (method, template) in ALL {
        let url = server.url(&filled(template));
        let request = match method {
            Method::Get => http.get(&url),
            Method::Post => http.post(&url),
            Method::Put => http.put(&url),
        };
        let res = request.send().await.unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        let routed_away = status == StatusCode::METHOD_NOT_ALLOWED
            || (status == StatusCode::NOT_FOUND
                && serde_json::from_str::<ErrorBody>(&body).is_ok_and(|e| e.message == "no such route"));
        if routed_away {
            unserved.push(format!("{} {template}: {status} {body}", method.as_str()));
        }
    }
    // The check itself: an unknown route and a wrong method are caught.
    let res = http.get(server.url("/v1/no-such-route")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = http.put(server.url("/v1/register")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(unserved.is_empty(), "endpoints the router does not serve: {unserved:#?}");
    server.stop().await;
}

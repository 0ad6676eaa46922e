//! The HTTP side: every request signed by the device key, every error turned into
//! [`ApiError`] with the server's sentence.

use hush_core::auth::{canonical_request, fresh_nonce};
use hush_core::identity::SecretKey;
use hush_proto as proto;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::error::ApiError;
use crate::tls::Trust;

/// A signed HTTP client for one device.
pub struct Api {
    base: String,
    http: reqwest::Client,
    /// For file transfers: no overall deadline (a large file takes as long as it takes),
    /// but a connection that goes quiet for a minute fails.
    bulk: reqwest::Client,
    trust: Trust,
}

/// Who signs a request.
pub struct Signer<'a> {
    /// Device id header.
    pub device_id: &'a str,
    /// Device key.
    pub key: &'a SecretKey,
}

impl Api {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:7777`, or `https://...`
    /// checked against the authorities `trust` names).
    pub fn new(base: &str, trust: &Trust) -> Result<Self, ApiError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ApiError::Unreachable {
                url: base,
                reason: "the server address must start with http:// or https://".into(),
            });
        }
        let tls = trust
            .client_config(base.starts_with("https://"))
            .map_err(|reason| ApiError::Unreachable { url: base.clone(), reason })?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls.clone())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| ApiError::Unreachable { url: base.clone(), reason: e.to_string() })?;
        let bulk = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(std::time::Duration::from_secs(15))
            .read_timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| ApiError::Unreachable { url: base.clone(), reason: e.to_string() })?;
        Ok(Api { base, http, bulk, trust: trust.clone() })
    }

    /// The server URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The certificate authorities this client trusts.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Signed headers for a request.
    pub fn signed_headers(signer: &Signer<'_>, method: &str, path: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        use base64::Engine as _;
        let ts = hush_core::now_ms();
        let nonce = fresh_nonce();
        let sig = signer.key.sign(&canonical_request(method, path, ts, &nonce, body));
        vec![
            (proto::HEADER_DEVICE, signer.device_id.to_owned()),
            (proto::HEADER_TIMESTAMP, ts.to_string()),
            (proto::HEADER_NONCE, nonce),
            (proto::HEADER_SIGNATURE, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)),
        ]
    }

    async fn send(
        &self,
        signer: Option<&Signer<'_>>,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, ApiError> {
        self.send_with(&self.http, signer, method, path, body, "application/json").await
    }

    async fn send_with(
        &self,
        http: &reqwest::Client,
        signer: Option<&Signer<'_>>,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Result<reqwest::Response, ApiError> {
        let body = body.unwrap_or_default();
        let mut req = http.request(method.clone(), format!("{}{}", self.base, path));
        if let Some(s) = signer {
            for (k, v) in Self::signed_headers(s, method.as_str(), path, &body) {
                req = req.header(k, v);
            }
        }
        if !body.is_empty() {
            req = req.header("content-type", content_type).body(body);
        }
        let resp = req.send().await.map_err(|e| ApiError::Unreachable {
            url: self.base.clone(),
            reason: crate::tls::describe(&e).unwrap_or_else(|| {
                let cause = root_cause(&e);
                // A TLS server's answer to plain HTTP is a TLS alert, not HTTP.
                if self.base.starts_with("http://") && cause.contains("invalid HTTP version") {
                    "it does not answer plain HTTP there (is it an https:// server?)".to_owned()
                } else {
                    cause
                }
            }),
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        if status == 401
            && let Some(seconds_ahead) = clock_off(resp.headers().get("date").and_then(|d| d.to_str().ok()), std::time::SystemTime::now())
        {
            return Err(ApiError::ClockOff { seconds_ahead });
        }
        let text = resp.text().await.unwrap_or_default();
        match serde_json::from_str::<proto::ErrorBody>(&text) {
            Ok(e) => Err(ApiError::Refused { status, code: e.error, message: e.message }),
            Err(_) => Err(ApiError::Refused {
                status,
                code: "unknown".into(),
                message: format!("HTTP {status}"),
            }),
        }
    }

    /// A signed JSON request with a JSON answer.
    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        signer: Option<&Signer<'_>>,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R, ApiError> {
        let bytes = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ApiError::BadAnswer(e.to_string()))?;
        let resp = self.send(signer, method, path, bytes).await?;
        resp.json::<R>().await.map_err(|e| ApiError::BadAnswer(e.to_string()))
    }

    /// A signed request with a raw byte body (a piece of an upload) and a JSON answer.
    pub async fn call_bytes<R: DeserializeOwned>(
        &self,
        signer: &Signer<'_>,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<R, ApiError> {
        let resp = self
            .send_with(&self.bulk, Some(signer), method, path, Some(body), "application/octet-stream")
            .await?;
        resp.json::<R>().await.map_err(|e| ApiError::BadAnswer(e.to_string()))
    }

    /// A signed GET whose answer is a byte stream (a blob download), read by the caller
    /// with `chunk()`.
    pub async fn get_stream(&self, signer: &Signer<'_>, path: &str) -> Result<reqwest::Response, ApiError> {
        self.send_with(&self.bulk, Some(signer), reqwest::Method::GET, path, None, "application/octet-stream")
            .await
    }

    /// A signed request whose answer has no body.
    pub async fn call_empty<B: Serialize>(
        &self,
        signer: Option<&Signer<'_>>,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), ApiError> {
        let bytes = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ApiError::BadAnswer(e.to_string()))?;
        self.send(signer, method, path, bytes).await.map(|_| ())
    }
}

/// How far `now` is ahead of the server's `Date` (in seconds, negative when behind), when
/// that is more than the server accepts in a request's timestamp. The server's 401 is the
/// same for every failed check, so its clock is how a client tells a wrong clock apart.
fn clock_off(server_date: Option<&str>, now: std::time::SystemTime) -> Option<i64> {
    let server = httpdate::parse_http_date(server_date?).ok()?;
    let ahead = match now.duration_since(server) {
        Ok(d) => i64::try_from(d.as_secs()).ok()?,
        Err(e) => -i64::try_from(e.duration().as_secs()).ok()?,
    };
    // `Date` has whole seconds: allow one more than the server does.
    (ahead.unsigned_abs() > (hush_core::auth::MAX_CLOCK_SKEW_MS / 1000).unsigned_abs() + 1).then_some(ahead)
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    #[test]
    fn a_401_names_the_clock_only_when_it_is_far_off() {
        let server = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let date = httpdate::fmt_http_date(server);
        assert_eq!(clock_off(Some(&date), server + Duration::from_secs(3600)), Some(3600));
        assert_eq!(clock_off(Some(&date), server - Duration::from_secs(600)), Some(-600));
        assert_eq!(clock_off(Some(&date), server + Duration::from_secs(60)), None);
        assert_eq!(clock_off(Some("yesterday"), server), None);
        assert_eq!(clock_off(None, server), None);
        let told = ApiError::ClockOff { seconds_ahead: -600 }.to_string();
        assert!(told.contains("10 minutes behind the server's"), "{told}");
        assert!(ApiError::ClockOff { seconds_ahead: 3600 }.to_string().contains("60 minutes ahead"));
    }
}

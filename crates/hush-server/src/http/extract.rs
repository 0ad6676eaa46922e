//! Request extractors: [`PathParam`], and authentication: every request (but `register`, `devices` and `health`, which are
//! checked against the key in their own body) is signed by a registered device.
//!
//! A request carries the device id, a timestamp, a single-use nonce and an Ed25519
//! signature over [`hush_core::auth::canonical_request`] in the `x-hush-*` headers. The
//! server checks, in this order: the headers are well formed, the timestamp is within
//! [`MAX_CLOCK_SKEW_MS`] of its clock, the signature verifies under the device's stored key,
//! and the nonce was never used by this device. A nonce is only spent once the signature
//! verified, so nobody can burn another device's nonces.
//!
//! Account recovery signs the same way with the recovery auth key instead of a device key:
//! its `x-hush-device` is the literal [`RECOVERY_DEVICE`], which no device id can be, and
//! its nonces are spent per account ([`recovery_nonce_scope`], and
//! [`guardian_recovery_nonce_scope`] for the guardian backup's key).

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use hush_core::auth::{
    HeaderValues, MAX_CLOCK_SKEW_MS, SignatureHeaders, canonical_request, parse_signature_headers,
};
use hush_core::identity::PublicKey;
use hush_proto::{HEADER_DEVICE, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, RECOVERY_DEVICE};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::state::AppState;

/// What a device of an account the operator disabled is told on every signed request.
pub const DISABLED: &str = "this account is disabled by the server's operator";

/// A device's last activity is recorded at most this often (ms).
const LAST_SEEN_GRANULARITY_MS: i64 = 60_000;

/// Prune expired nonces once every this many accepted requests.
const PRUNE_NONCES_EVERY: u64 = 1024;

/// A request whose signature headers are well formed and whose timestamp is fresh, with
/// its body read (bounded by the body limit). The signature is not checked yet: call
/// [`SignedRequest::verify`] with the key it should verify under.
pub struct SignedRequest {
    /// The device the request claims to come from (well formed or [`RECOVERY_DEVICE`], not
    /// yet proven).
    pub device_id: String,
    timestamp: i64,
    nonce: String,
    signature: Vec<u8>,
    method: String,
    path_and_query: String,
    /// The request body.
    pub body: Bytes,
}

impl FromRequest<AppState> for SignedRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let headers = req.headers();
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let values = HeaderValues {
            device: get(HEADER_DEVICE),
            timestamp: get(HEADER_TIMESTAMP),
            nonce: get(HEADER_NONCE),
            signature: get(HEADER_SIGNATURE),
        };
        let SignatureHeaders { device_id, timestamp_ms: timestamp, nonce, signature } =
            // Every failed check, a stale time included, gets the same 401.
            parse_signature_headers(&values, RECOVERY_DEVICE, hush_core::now_ms()).map_err(|_| ApiError::Unauthorized)?;
        let method = req.method().as_str().to_owned();
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge
            } else {
                ApiError::BadRequest(format!("could not read the request body: {}", rejection.body_text()))
            }
        })?;
        Ok(SignedRequest {
            device_id,
            timestamp,
            nonce,
            signature,
            method,
            path_and_query,
            body,
        })
    }
}

impl SignedRequest {
    /// Checks the signature under `key`, then spends the nonce (a nonce seen before for
    /// this device is a replay).
    pub async fn verify(&self, key: &PublicKey, state: &AppState) -> Result<(), ApiError> {
        self.verify_scoped(key, &self.device_id, state).await
    }

    /// Like [`SignedRequest::verify`], with the nonce spent for `nonce_scope` instead of the
    /// claimed device (recovery requests, whose nonces are single-use per account).
    pub async fn verify_scoped(&self, key: &PublicKey, nonce_scope: &str, state: &AppState) -> Result<(), ApiError> {
        let signed = canonical_request(&self.method, &self.path_and_query, self.timestamp, &self.nonce, &self.body);
        key.verify(&signed, &self.signature)
            .map_err(|_| ApiError::Unauthorized)?;
        // After this instant the timestamp check refuses the request anyway.
        let expires_at = self.timestamp.saturating_add(MAX_CLOCK_SKEW_MS);
        if !state.store.use_nonce(nonce_scope, &self.nonce, expires_at).await? {
            return Err(ApiError::Unauthorized);
        }
        if state.accepted_requests.fetch_add(1, Ordering::Relaxed).is_multiple_of(PRUNE_NONCES_EVERY) {
            let pruned = state.store.prune_nonces(hush_core::now_ms()).await?;
            tracing::debug!(pruned, "pruned expired nonces");
        }
        Ok(())
    }
}

/// The registered device a request is proven to come from.
#[derive(Debug, Clone)]
pub struct AuthedDevice {
    /// The device id.
    pub device_id: String,
    /// Its owner.
    pub username: String,
    /// Its key.
    pub public_key: PublicKey,
}

/// A request signed by a registered device, with its body.
pub struct Authed {
    /// Who sent it.
    pub device: AuthedDevice,
    /// The raw body; handlers parse it with [`parse_json`].
    pub body: Bytes,
}

impl FromRequest<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let signed = SignedRequest::from_request(req, state).await?;
        if signed.device_id == RECOVERY_DEVICE {
            return Err(ApiError::Unauthorized);
        }
        // An unknown or revoked device answers exactly like a bad signature.
        let Some(stored) = state.store.device_key(&signed.device_id).await? else {
            return Err(ApiError::Unauthorized);
        };
        let public_key = PublicKey::from_slice(&stored.public_key)
            .map_err(|e| ApiError::internal(format!("stored key of device {}: {e}", signed.device_id)))?;
        signed.verify(&public_key, state).await?;
        // Per device only once the signature proved the device: nobody can spend another
        // device's budget.
        if let Err(wait) = state.rate.device(&signed.device_id) {
            return Err(ApiError::slow_down("requests from this device", wait));
        }
        if stored.disabled {
            return Err(ApiError::Forbidden(DISABLED.into()));
        }
        let now = hush_core::now_ms();
        if stored.last_seen_at.is_none_or(|t| now.saturating_sub(t) >= LAST_SEEN_GRANULARITY_MS) {
            // Rounded down to the minute: the operator sees activity, not request times.
            state.store.touch_device(&signed.device_id, now - now % LAST_SEEN_GRANULARITY_MS).await?;
        }
        Ok(Authed {
            device: AuthedDevice {
                device_id: signed.device_id,
                username: stored.username,
                public_key,
            },
            body: signed.body,
        })
    }
}

/// The owner of the nonces of recovery requests for `username` (no device id looks like it).
pub fn recovery_nonce_scope(username: &str) -> String {
    format!("{RECOVERY_DEVICE}:{username}")
}

/// The owner of the nonces of guardian-recovery requests for `username`, apart from the
/// phrase slot's (no device id looks like it either).
pub fn guardian_recovery_nonce_scope(username: &str) -> String {
    format!("{RECOVERY_DEVICE}-guardians:{username}")
}

/// Parses a JSON body; any failure is a `400 bad_request` saying what is wrong.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not what this route expects: {e}")))
}

/// One path segment, with a JSON error if it can't be read.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(s)| PathParam(s))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

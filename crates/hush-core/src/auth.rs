//! Request authentication: each API request is signed by the calling device's Ed25519 key
//! over [`canonical_request`]. The server stores no passwords and no secrets: it checks the
//! signature with the device's public key, the timestamp window, and that the nonce was
//! never used before.

use sha2::{Digest, Sha256};

/// How far a request's timestamp may be from the server's clock.
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// The bytes a device signs for one request. Binds the method, the path with its query,
/// the time, a single-use nonce and a hash of the body, under a domain label.
pub fn canonical_request(
    method: &str,
    path_and_query: &str,
    timestamp_ms: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let body_hash = hex::encode(Sha256::digest(body));
    format!(
        "hush-request-v1\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path_and_query,
        timestamp_ms,
        nonce,
        body_hash
    )
    .into_bytes()
}

/// A fresh random nonce (128 bits, hex).
pub fn fresh_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Whether a nonce has the shape the server accepts (16 to 64 hex characters).
pub fn nonce_well_formed(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_hexdigit())
}

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

/// The four signature headers of a request as text, before any check (`None`: absent, or
/// not visible ASCII).
#[derive(Debug, Clone, Copy, Default)]
pub struct HeaderValues<'a> {
    /// `x-hush-device`.
    pub device: Option<&'a str>,
    /// `x-hush-timestamp`.
    pub timestamp: Option<&'a str>,
    /// `x-hush-nonce`.
    pub nonce: Option<&'a str>,
    /// `x-hush-signature`.
    pub signature: Option<&'a str>,
}

/// Signature headers that are well formed and whose timestamp is fresh (the signature
/// itself is not checked yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// The device the request claims to come from.
    pub device_id: String,
    /// When it was signed, unix milliseconds.
    pub timestamp_ms: i64,
    /// Its single-use nonce.
    pub nonce: String,
    /// The Ed25519 signature (64 bytes).
    pub signature: Vec<u8>,
}

/// Why a request's signature headers are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// A header is missing or malformed.
    #[error("the request's signature headers are missing or malformed")]
    Malformed,
    /// The timestamp is more than [`MAX_CLOCK_SKEW_MS`] away from `now_ms`.
    #[error("the request's timestamp is too far from the server's clock")]
    ClockSkew,
}

/// Checks a request's signature headers, in this order: the device id is well formed (or
/// is `special_device`, the one non-device caller the server knows), the timestamp is a
/// number within [`MAX_CLOCK_SKEW_MS`] of `now_ms`, the nonce is well formed, the
/// signature is 64 bytes of unpadded base64url.
pub fn parse_signature_headers(
    headers: &HeaderValues<'_>,
    special_device: &str,
    now_ms: i64,
) -> Result<SignatureHeaders, HeaderError> {
    use base64::Engine as _;
    let device_id = headers.device.ok_or(HeaderError::Malformed)?;
    if !crate::identity::device_id_well_formed(device_id) && device_id != special_device {
        return Err(HeaderError::Malformed);
    }
    let timestamp_ms: i64 = headers.timestamp.ok_or(HeaderError::Malformed)?.parse().map_err(|_| HeaderError::Malformed)?;
    if now_ms.abs_diff(timestamp_ms) > MAX_CLOCK_SKEW_MS.unsigned_abs() {
        return Err(HeaderError::ClockSkew);
    }
    let nonce = headers.nonce.ok_or(HeaderError::Malformed)?;
    if !nonce_well_formed(nonce) {
        return Err(HeaderError::Malformed);
    }
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(headers.signature.ok_or(HeaderError::Malformed)?)
        .map_err(|_| HeaderError::Malformed)?;
    if signature.len() != 64 {
        return Err(HeaderError::Malformed);
    }
    Ok(SignatureHeaders { device_id: device_id.to_owned(), timestamp_ms, nonce: nonce.to_owned(), signature })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_headers_are_checked_in_order() {
        let sig = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, [7u8; 64]);
        let now = 1_700_000_000_000;
        let ts = now.to_string();
        let good = HeaderValues {
            device: Some("00112233aabbccdd"),
            timestamp: Some(&ts),
            nonce: Some("00112233445566778899aabbccddeeff"),
            signature: Some(&sig),
        };
        let parsed = parse_signature_headers(&good, "recovery", now).expect("well formed");
        assert_eq!(parsed.device_id, "00112233aabbccdd");
        assert_eq!(parsed.timestamp_ms, now);
        assert_eq!(parsed.signature, vec![7u8; 64]);
        let recovery = HeaderValues { device: Some("recovery"), ..good };
        assert!(parse_signature_headers(&recovery, "recovery", now).is_ok());
        let bad_device = HeaderValues { device: Some("someone"), ..good };
        assert_eq!(parse_signature_headers(&bad_device, "recovery", now), Err(HeaderError::Malformed));
        // A stale timestamp is reported before a missing nonce, as the server always did.
        let stale = HeaderValues { nonce: None, ..good };
        assert_eq!(parse_signature_headers(&stale, "recovery", now + MAX_CLOCK_SKEW_MS + 1), Err(HeaderError::ClockSkew));
        assert_eq!(parse_signature_headers(&stale, "recovery", now), Err(HeaderError::Malformed));
        let short = HeaderValues { signature: Some("AAAA"), ..good };
        assert_eq!(parse_signature_headers(&short, "recovery", now), Err(HeaderError::Malformed));
        let extreme = HeaderValues { timestamp: Some("-9223372036854775808"), ..good };
        assert_eq!(parse_signature_headers(&extreme, "recovery", i64::MAX), Err(HeaderError::ClockSkew));
    }
}

//! Wire types of the hush HTTP API, version 1, shared by `hush-server` and `hush-client`.
//!
//! Every binary field travels as unpadded base64url ([`B64`]). Every request except
//! `register`, `health` and the link relay is signed by the calling device's key; the
//! signature headers are named by the `HEADER_*` constants and the signed bytes are built
//! by `hush_core::auth::canonical_request`.
//!
//! The server never sees anything in these types that it could decrypt: MLS messages,
//! Welcomes and KeyPackages are opaque to it apart from their public framing
//! (group id, epoch, content type).

pub mod endpoints;
pub mod fsio;
#[cfg(feature = "openapi")]
pub mod openapi;

mod accounts;
mod files;
mod groups;
mod kt;
mod link;
mod recovery;

pub use accounts::*;
pub use files::*;
pub use groups::*;
pub use kt::*;
pub use link::*;
pub use recovery::*;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Header: the calling device's id.
pub const HEADER_DEVICE: &str = "x-hush-device";
/// Header: unix time in milliseconds when the request was signed.
pub const HEADER_TIMESTAMP: &str = "x-hush-timestamp";
/// Header: a random single-use value (hex), refused if seen again.
pub const HEADER_NONCE: &str = "x-hush-nonce";
/// Header: the Ed25519 signature (base64url) over the canonical request.
pub const HEADER_SIGNATURE: &str = "x-hush-signature";

/// Bytes that serialize as an unpadded base64url string.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct B64(pub Vec<u8>);

impl std::fmt::Debug for B64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ciphertext or public material only, but never worth printing in full.
        write!(f, "B64({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for B64 {
    fn from(v: Vec<u8>) -> Self {
        B64(v)
    }
}

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&URL_SAFE_NO_PAD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        URL_SAFE_NO_PAD
            .decode(s.as_bytes())
            .map(B64)
            .map_err(|_| serde::de::Error::custom("invalid base64url"))
    }
}

/// Every error the server answers with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A stable machine-readable code, see [`codes`].
    pub error: String,
    /// One sentence for a person.
    pub message: String,
}

//

/// Stable error codes.
pub mod codes {
    /// The request body or a parameter is malformed.
    pub const BAD_REQUEST: &str = "bad_request";
    /// The body is larger than the server accepts.
    pub const TOO_LARGE: &str = "too_large";
    /// The request signature, timestamp or nonce is not valid.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// The device may not do this (not a member of the group, for instance).
    pub const FORBIDDEN: &str = "forbidden";
    /// No such user, group or route.
    pub const NOT_FOUND: &str = "not_found";
    /// The username is taken.
    pub const USERNAME_TAKEN: &str = "username_taken";
    /// The message was made for an epoch that is not the group's current one.
    pub const STALE_EPOCH: &str = "stale_epoch";
    /// Something that already exists (a group id, a device id).
    pub const CONFLICT: &str = "conflict";
    /// Too many requests.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// The upload would take the user past their storage quota.
    pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
    /// The request took longer than the server allows (408): sent too slowly, or the
    /// server was too slow to answer it; try again.
    pub const TIMEOUT: &str = "timeout";
    /// The server failed; not the client's fault.
    pub const INTERNAL: &str = "internal";
    /// The server's storage can't take writes right now (read-only or full); try later.
    pub const UNAVAILABLE: &str = "unavailable";
    /// A recipient device's inbox holds as much as the server keeps for one device (429,
    /// with `Retry-After`): nothing was stored; the sentence names the user and device.
    pub const QUEUE_FULL: &str = "queue_full";
    /// The sender's messages waiting for delivery take as many bytes as one user's may
    /// (429, with `Retry-After`): nothing was stored.
    pub const QUEUE_QUOTA_EXCEEDED: &str = "queue_quota_exceeded";
    /// The request's body is not in the media type the route takes (415): JSON everywhere
    /// but upload chunks, which are raw bytes.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
}

/// The close code of a push WebSocket (`GET /v1/ws`) that the server closed because the
/// same device opened more than the server allows at once: the device's oldest goes (as
/// Signal's 4409, "connected elsewhere"). A client that gets it should not reconnect.
pub const WS_CLOSE_REPLACED: u16 = 4409;

/// The close code of a push WebSocket closed because its device was revoked (WebSocket's
/// "policy violation").
pub const WS_CLOSE_REVOKED: u16 = 1008;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64_round_trips_and_rejects_garbage() {
        let v = B64(vec![0, 1, 2, 250, 251, 255]);
        let s = serde_json::to_string(&v).unwrap_or_default();
        assert_eq!(s, "\"AAEC-vv_\"");
        let back: B64 = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(back, v);
        assert!(serde_json::from_str::<B64>("\"***\"").is_err());
    }
}

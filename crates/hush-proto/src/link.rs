//! Linking a new device: the relay both devices post to.

use serde::{Deserialize, Serialize};

use crate::B64;

/// `POST /v1/link` (unauthenticated): a new device asks to join an account. It runs
/// SPAKE2 with the secret half of the code it shows; `pake` is its first message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The account's username.
    pub username: String,
    /// The public half of the code (4 characters), to find the request.
    pub selector: String,
    /// The new device's SPAKE2 message.
    pub pake: B64,
}

/// Answer to [`LinkRequest`]: a random id that is also the capability to follow it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkCreated {
    /// 32 hex characters.
    pub link_id: String,
}

/// One link request waiting for an answer, as an existing device of the account sees it
/// (`GET /v1/link`, authenticated).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingLink {
    /// Its id.
    pub link_id: String,
    /// The public half of the code.
    pub selector: String,
    /// The new device's SPAKE2 message.
    pub pake: B64,
    /// When it was made, unix ms.
    pub created_at: i64,
}

/// `GET /v1/link`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingLinks {
    /// Requests for the caller's account that were not answered yet.
    pub requests: Vec<PendingLink>,
}

/// `POST /v1/link/{id}/answer` (authenticated, a device of the account): the existing
/// device's SPAKE2 message and its key confirmation. Accepted once per request: a wrong
/// code burns the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkAnswer {
    /// The existing device's SPAKE2 message.
    pub pake: B64,
    /// MAC proving it derived the same key.
    pub confirm: B64,
}

/// `POST /v1/link/{id}/device` (unauthenticated, the id is the capability): the new
/// device's signing key, MAC'd with the PAKE key. Accepted once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkDevice {
    /// The new device's Ed25519 public key.
    pub device_key: B64,
    /// MAC over it with the PAKE key.
    pub mac: B64,
}

/// `POST /v1/link/{id}/approve` (authenticated): the account bundle sealed with the PAKE
/// key. Accepted once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkApproval {
    /// Opaque to the server.
    pub sealed: B64,
}

/// `GET /v1/link/{id}` (unauthenticated, the id is the capability): everything posted so
/// far for this request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkStatus {
    /// The existing device's answer, once given.
    pub answer: Option<LinkAnswer>,
    /// The new device's key, once given.
    pub device: Option<LinkDevice>,
    /// The sealed bundle, once approved.
    pub sealed: Option<B64>,
    /// True once either side gave up on it (a failed confirmation).
    pub failed: bool,
}

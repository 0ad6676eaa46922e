//! Recovery: the sealed account backups and the guardians' relay.

use serde::{Deserialize, Serialize};

use crate::{B64, KtHistory};

/// `PUT /v1/backup` (device-authenticated): the account backup, sealed on the device with
/// a key derived from the recovery phrase.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BackupUpload {
    /// Ed25519 public key derived from the recovery phrase; only a request signed by its
    /// secret half may fetch the backup.
    pub auth_key: B64,
    /// Strictly increasing; the server refuses a version not above the one it holds.
    pub version: u64,
    /// The sealed backup (opaque to the server).
    pub blob: B64,
}

/// `GET /v1/recovery/{username}`, signed with the recovery auth key (header
/// `x-hush-device: recovery`): the latest backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Backup {
    /// Its version.
    pub version: u64,
    /// The sealed backup.
    pub blob: B64,
    /// The key directory's complete history of this backup's commitments
    /// (`hush_core::kt::backup_value`), so that the recovering device can refuse an older
    /// backup served again.
    #[serde(default)]
    pub history: Option<KtHistory>,
}

/// The device id header value for requests signed with the recovery auth key.
pub const RECOVERY_DEVICE: &str = "recovery";

/// `POST /v1/guardian-requests` (unauthenticated): a new device asks `username`'s
/// guardians for their shares, to be sealed to `hpke_key`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GuardianRequest {
    /// The account being recovered.
    pub username: String,
    /// The new device's HPKE public key (32 bytes).
    pub hpke_key: B64,
}

/// Answer to [`GuardianRequest`]: a random id that is also the capability to fetch shares.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GuardianRequestCreated {
    /// 32 hex characters.
    pub request_id: String,
}

/// One pending guardian request, as a guardian sees it
/// (`GET /v1/guardian-requests?username=U`, device-authenticated).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingGuardianRequest {
    /// Its id.
    pub request_id: String,
    /// The new device's HPKE key.
    pub hpke_key: B64,
    /// When it was made, unix ms.
    pub created_at: i64,
}

/// `GET /v1/guardian-requests?username=U`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingGuardianRequests {
    /// Unexpired requests for that account.
    pub requests: Vec<PendingGuardianRequest>,
}

/// `POST /v1/guardian-requests/{id}/shares` (device-authenticated): a guardian's share,
/// sealed to the request's HPKE key. One per guardian device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SealedShare {
    /// Opaque to the server.
    pub sealed: B64,
}

/// `GET /v1/guardian-requests/{id}` (unauthenticated; the id is the capability).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GuardianShares {
    /// The sealed shares posted so far.
    pub shares: Vec<B64>,
}

//! The key directory: roots, lookups, histories and audits.

use serde::{Deserialize, Serialize};

use crate::B64;

/// A directory root as the server publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KtRoot {
    /// Epoch number (1 for the first published epoch).
    pub epoch: u64,
    /// The root hash at that epoch (32 bytes).
    pub root_hash: B64,
}

/// `GET /v1/kt/info` (unauthenticated): the directory's VRF public key and latest root.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KtInfo {
    /// The VRF public key clients verify labels with (pinned on first use).
    pub vrf_public_key: B64,
    /// The latest published root.
    pub root: KtRoot,
    /// Every time the server was restored from a backup, oldest first. After a restore the
    /// directory continues from the backup's epoch: epochs published after the backup was
    /// taken are gone, and a client that saw them checks that the restored directory is the
    /// one it saw up to the backup's epoch before it follows the new epochs.
    #[serde(default)]
    pub restores: Vec<KtRestore>,
}

/// One restore of the server from a backup, as `GET /v1/kt/info` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KtRestore {
    /// Counts restores from 1.
    pub generation: u64,
    /// The directory's newest epoch in the backup: the server went back to it.
    pub epoch: u64,
    /// When the backup was taken, unix ms.
    pub backup_taken_at: i64,
    /// When it was restored, unix ms.
    pub restored_at: i64,
}

/// `GET /v1/kt/lookup/{username}` (device-authenticated): a lookup proof at the latest epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KtLookup {
    /// The root it is proven against.
    pub root: KtRoot,
    /// serde-JSON of `akd_core::LookupProof`.
    pub proof: B64,
}

/// `GET /v1/kt/history/{username}` (device-authenticated): the complete key history.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KtHistory {
    /// The root it is proven against.
    pub root: KtRoot,
    /// serde-JSON of `akd_core::HistoryProof`.
    pub proof: B64,
}

/// `GET /v1/kt/audit?start=A&end=B` (unauthenticated): proof that the directory only grew
/// from epoch A to epoch B.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KtAudit {
    /// Root hashes of epochs A..=B, in order.
    pub hashes: Vec<B64>,
    /// serde-JSON of `akd::AppendOnlyProof` between them.
    pub proof: B64,
}

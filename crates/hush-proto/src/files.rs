//! Files: resumable blob uploads, blob downloads, space states (docs/FILES.md).
//!
//! A *space* is named `drive:USERNAME` (a user's personal drive, open to that user's
//! devices) or `conv:GROUP_ID_HEX` (a conversation's shared space, open to the devices that
//! are members of that MLS group). Blobs are opaque age files; rows and states are opaque
//! signed ciphertext. The server checks access, sizes, quotas and version numbers only.

use serde::{Deserialize, Serialize};

use crate::B64;

/// Largest body of one `PUT /v1/uploads/{id}` (8 MiB).
pub const UPLOAD_CHUNK_MAX: usize = 8 * 1024 * 1024;

/// `POST /v1/uploads`: start a resumable upload of one blob of `size` bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UploadStart {
    /// The space the blob is meant for (the caller must have access to it).
    pub space: String,
    /// The exact size of the blob in bytes.
    pub size: u64,
}

/// Answer to `POST /v1/uploads`, `PUT /v1/uploads/{id}?offset=N` and `GET /v1/uploads/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadStatus {
    /// The upload's id; once complete, the blob's id.
    pub upload_id: String,
    /// The declared size.
    pub size: u64,
    /// Bytes received and stored so far; the next `PUT` starts here.
    pub received: u64,
}

/// Answer to `POST /v1/uploads/{id}/complete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlobInfo {
    /// The blob's id (the upload's id).
    pub blob_id: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One row of a space: an entry's signed, encrypted manifest and the blobs it refers to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SpaceRow {
    /// The entry's id (32 hex characters, chosen by the client).
    pub entry_id: String,
    /// Ids of the blobs the entry's manifest refers to (every kept version).
    pub blobs: Vec<String>,
    /// The signed, encrypted manifest (opaque to the server).
    pub row: B64,
}

/// `GET /v1/spaces/{space}`: the space's current signed state and all its rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpaceView {
    /// The state's version (0: nothing written yet).
    pub version: u64,
    /// The signed state (absent at version 0).
    pub state: Option<B64>,
    /// Every row, in entry id order.
    pub rows: Vec<SpaceRow>,
}

/// `POST /v1/spaces/{space}`: replace the state and change rows, if the state is still at
/// `expected_version` (otherwise `409 conflict`: fetch again and redo the change).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SpaceUpdate {
    /// The version the change was made against; the new state's version is this plus one.
    pub expected_version: u64,
    /// The new signed state.
    pub state: B64,
    /// Rows to add or replace.
    pub put: Vec<SpaceRow>,
    /// Entry ids of rows to delete.
    pub delete: Vec<String>,
}

/// `GET /v1/spaces/{space}/states?after=N`: the space's signed states after version `N`, oldest
/// first (versions N+1 up to the current one), so that a client can check that the chain
/// continues the version it saw last. At most [`MAX_SPACE_STATES`] per answer; ask again
/// after the last one for more.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpaceStates {
    /// The signed states, each exactly as its writer posted it.
    pub states: Vec<B64>,
}

/// Query of `GET /v1/spaces/{space}/states`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpaceStatesQuery {
    /// The last version the client already holds (0: from the start).
    pub after: u64,
}

/// Most signed states in one `GET /v1/spaces/{space}/states` answer.
pub const MAX_SPACE_STATES: u64 = 500;

/// Answer to `POST /v1/spaces/{space}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpaceVersion {
    /// The space's version after the change.
    pub version: u64,
}

/// `GET /v1/quota`: the calling user's storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quota {
    /// Bytes held for this user: stored blobs plus uploads in progress.
    pub used: u64,
    /// The user's quota in bytes.
    pub limit: u64,
    /// The largest single blob the server accepts.
    pub max_upload: u64,
}

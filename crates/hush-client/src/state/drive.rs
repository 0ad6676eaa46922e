//! What the drive keeps (persisted): uploads encrypted and started but not finished, so
//! that they resume.

use hush_core::files::FileKey;
use serde::{Deserialize, Serialize};

/// An upload that was encrypted and started but not finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingUpload {
    /// The space it goes to.
    pub space: String,
    /// The path there.
    pub path: String,
    /// The local file.
    pub local: String,
    /// The local file's size and modification time when it was encrypted.
    pub local_size: u64,
    /// Unix ms.
    pub local_modified: i64,
    /// The file version's key.
    pub key: FileKey,
    /// The staged blob's length and SHA-256.
    pub blob_size: u64,
    /// Hex.
    pub blob_sha256: String,
    /// The server's upload id.
    pub upload_id: String,
}

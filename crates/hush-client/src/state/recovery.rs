//! What recovery keeps (persisted): the keys that keep the account backup current, and the
//! guardians with the secret their shares rebuild.

use serde::{Deserialize, Serialize};

use super::SecretBytes;

/// What a device keeps to keep the backup current.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RecoveryState {
    /// The phrase's backup key.
    pub backup_key: SecretBytes,
    /// The phrase's recovery auth key (secret half).
    pub auth_secret: SecretBytes,
    /// The version last uploaded.
    pub version: u64,
    /// SHA-256 of the backup content last uploaded (hex), to upload only on change.
    pub uploaded_hash: String,
}

/// Our guardians, and the secret their shares rebuild (kept to re-seal that backup).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GuardianState {
    /// The guardian secret.
    pub secret: SecretBytes,
    /// The guardians.
    pub guardians: Vec<String>,
    /// How many of them rebuild the secret.
    pub threshold: u8,
    /// The version of the guardian backup last uploaded.
    pub version: u64,
    /// SHA-256 of the content last uploaded there (hex).
    pub uploaded_hash: String,
}

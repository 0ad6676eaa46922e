//! Key transparency, the client's half (no I/O): what the directory commits to for each
//! user, and the checks of the proofs the server hands out (akd_core, WhatsApp v1
//! configuration).
//!
//! The directory (the server's akd) maps each username (the akd label) to
//! [`directory_value`]: the user's identity key and a hash of their current device list.
//! A client checks a lookup proof against a root it holds before it uses a key or a device
//! list, and checks its own user's key history for versions it did not publish.

use akd_core::verify::history::{HistoryParams, HistoryVerificationParams};
use akd_core::{AkdLabel, HistoryProof, LookupProof};
use sha2::{Digest, Sha256};

use crate::identity::PublicKey;

/// The akd configuration hush uses on both sides.
pub type Config = akd_core::WhatsAppV1Configuration;

const VALUE_LABEL: &[u8] = b"hush-kt-v1";
/// Length of a [`directory_value`].
pub const VALUE_LEN: usize = VALUE_LABEL.len() + 32 + 32;

/// Errors from proof checks, as one sentence each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KtError {
    /// The proof bytes do not parse.
    #[error("the key-transparency proof is malformed")]
    Malformed,
    /// The proof does not verify against the root.
    #[error("the key-transparency proof does not verify: {0}")]
    Invalid(String),
    /// The value the directory holds is not what the server said elsewhere.
    #[error("{0}")]
    Mismatch(String),
}

/// A directory root: the epoch and the root hash of the tree at that epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Root {
    /// Epoch number.
    pub epoch: u64,
    /// Root hash.
    pub hash: [u8; 32],
}

/// The akd label of a user.
pub fn label(username: &str) -> AkdLabel {
    AkdLabel(username.as_bytes().to_vec())
}

/// The directory name under which a user's account backup is committed: `backup:USER`
/// for the recovery-phrase slot, `guardian-backup:USER` for the guardians' slot. A colon
/// can't appear in a username, so these never collide with a user's entry.
pub fn backup_name(slot_prefix: &str, username: &str) -> String {
    format!("{slot_prefix}:{username}")
}

/// Prefix of the recovery-phrase backup's directory name.
pub const PHRASE_BACKUP: &str = "backup";
/// Prefix of the guardians' backup's directory name.
pub const GUARDIAN_BACKUP: &str = "guardian-backup";
const BACKUP_VALUE_LABEL: &[u8] = b"hush-backup-v1";

/// What the directory commits to for a backup: `"hush-backup-v1" ‖ version (u64 BE) ‖
/// SHA-256(sealed backup)`. A server that serves an older backup again must either show
/// an older version here than it already committed (the history proves it) or a hash that
/// doesn't match.
pub fn backup_value(version: u64, sealed: &[u8]) -> Vec<u8> {
    let mut v = BACKUP_VALUE_LABEL.to_vec();
    v.extend_from_slice(&version.to_be_bytes());
    v.extend_from_slice(&Sha256::digest(sealed));
    v
}

/// Splits a backup value into its version and hash.
pub fn parse_backup_value(value: &[u8]) -> Result<(u64, [u8; 32]), KtError> {
    let n = BACKUP_VALUE_LABEL.len();
    if value.len() != n + 8 + 32 || !value.starts_with(BACKUP_VALUE_LABEL) {
        return Err(KtError::Mismatch("the directory holds a backup record hush does not recognise".into()));
    }
    let mut version = [0u8; 8];
    version.copy_from_slice(&value[n..n + 8]);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&value[n + 8..]);
    Ok((u64::from_be_bytes(version), hash))
}

/// Hash of a device list: SHA-256 over the devices sorted by id, each as
/// `len ‖ device_id ‖ device_key`.
pub fn devices_hash(devices: &[(String, PublicKey)]) -> [u8; 32] {
    let mut sorted: Vec<&(String, PublicKey)> = devices.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    h.update(b"hush-kt-devices-v1");
    for (id, key) in sorted {
        h.update((id.len() as u32).to_be_bytes());
        h.update(id.as_bytes());
        h.update(key.0);
    }
    h.finalize().into()
}

/// What the directory holds for a user whose account the server's operator deleted (a
/// tombstone: no identity key, no devices). It can't be mistaken for a [`directory_value`],
/// whose length and prefix differ.
pub const DELETED_VALUE: &[u8] = b"hush-kt-deleted-v1";

/// What the directory holds for a user: `"hush-kt-v1" ‖ identity key ‖ devices_hash`.
pub fn directory_value(identity_key: &PublicKey, devices: &[(String, PublicKey)]) -> Vec<u8> {
    let mut v = Vec::with_capacity(VALUE_LEN);
    v.extend_from_slice(VALUE_LABEL);
    v.extend_from_slice(&identity_key.0);
    v.extend_from_slice(&devices_hash(devices));
    v
}

/// Splits a directory value into the identity key and the devices hash.
pub fn parse_value(value: &[u8]) -> Result<(PublicKey, [u8; 32]), KtError> {
    if value.len() != VALUE_LEN || !value.starts_with(VALUE_LABEL) {
        return Err(KtError::Mismatch("the directory holds a value hush does not recognise".into()));
    }
    let ik = PublicKey::from_slice(&value[VALUE_LABEL.len()..VALUE_LABEL.len() + 32])
        .map_err(|_| KtError::Mismatch("the directory holds a malformed identity key".into()))?;
    let mut dh = [0u8; 32];
    dh.copy_from_slice(&value[VALUE_LABEL.len() + 32..]);
    Ok((ik, dh))
}

/// One verified version of a user's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The epoch it was published in.
    pub epoch: u64,
    /// Its version number (1 for the first).
    pub version: u64,
    /// The value.
    pub value: Vec<u8>,
}

/// Checks a lookup proof (serde-JSON of `akd_core::LookupProof`) for `username` against
/// `root`, and returns the value it proves.
pub fn verify_lookup(vrf_public_key: &[u8], root: &Root, username: &str, proof: &[u8]) -> Result<Version, KtError> {
    let proof: LookupProof = serde_json::from_slice(proof).map_err(|_| KtError::Malformed)?;
    let r = akd_core::verify::lookup_verify::<Config>(vrf_public_key, root.hash, root.epoch, label(username), proof)
        .map_err(|e| KtError::Invalid(format!("{e:?}")))?;
    Ok(Version { epoch: r.epoch, version: r.version, value: r.value.0 })
}

/// Checks a complete key-history proof (serde-JSON of `akd_core::HistoryProof`) for
/// `username` against `root`; returns every version, newest first.
pub fn verify_history(vrf_public_key: &[u8], root: &Root, username: &str, proof: &[u8]) -> Result<Vec<Version>, KtError> {
    let proof: HistoryProof = serde_json::from_slice(proof).map_err(|_| KtError::Malformed)?;
    let params = HistoryVerificationParams::Default { history_params: HistoryParams::Complete };
    let rs = akd_core::verify::key_history_verify::<Config>(vrf_public_key, root.hash, root.epoch, label(username), proof, params)
        .map_err(|e| KtError::Invalid(format!("{e:?}")))?;
    Ok(rs.into_iter().map(|r| Version { epoch: r.epoch, version: r.version, value: r.value.0 }).collect())
}

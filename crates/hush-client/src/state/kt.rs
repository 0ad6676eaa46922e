//! What a device keeps about the key directory (persisted): the roots it verified, what
//! it acknowledged of its own history, and the claims of other members still to compare.

use std::collections::{BTreeMap, BTreeSet};

use hush_core::kt::Root;
use serde::{Deserialize, Serialize};

/// What a device keeps about the directory.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct KtState {
    /// The directory's VRF public key, pinned on first use.
    pub vrf_public_key: Option<Vec<u8>>,
    /// The latest root this device verified.
    pub latest: Option<Root>,
    /// Every root verified, by epoch (bounded).
    pub roots: BTreeMap<u64, [u8; 32]>,
    /// Directory values of our own user that we published or can account for (hex).
    pub acknowledged: BTreeSet<String>,
    /// Own values already alarmed about (hex), so an alarm is raised once.
    pub alarmed: BTreeSet<String>,
    /// The epoch at which our own history was last checked.
    pub own_checked_epoch: u64,
    /// Roots other members claimed in their messages, still to be compared.
    pub claims: Vec<Claim>,
    /// Epochs for which a split view was already reported.
    pub split_reported: BTreeSet<u64>,
    /// Each user's device list as last proven by the directory, and the epoch it was
    /// proven at (a newer epoch means look again). Named apart from an earlier format.
    #[serde(default, rename = "proven_devices")]
    pub checked: BTreeMap<String, (u64, BTreeSet<String>)>,
    /// Certificates of our account's devices, revoked ones included, by device id: each
    /// signed by our identity key (checked before it is kept). Every version of our own
    /// directory history must be a device list made of these.
    #[serde(default)]
    pub own_certs: BTreeMap<String, Vec<u8>>,
    /// The server's restores from a backup that this device followed (generations).
    #[serde(default)]
    pub restores_followed: BTreeSet<u64>,
    /// A restore just followed: every contact is checked again at the next sync.
    #[serde(default)]
    pub recheck: Option<RestoreFollowed>,
    /// Devices of our account this device revoked: a restore of the server from an older
    /// backup may list one again, and it is then revoked again.
    #[serde(default)]
    pub revoked_here: BTreeSet<String>,
}

/// A restore of the server this device followed, until its contacts were checked again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreFollowed {
    /// The backup's directory epoch.
    pub epoch: u64,
    /// When the backup was taken, unix ms.
    pub backup_taken_at: i64,
}

/// A root another member said it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claim {
    /// The epoch.
    pub epoch: u64,
    /// Its root hash as the member saw it.
    pub hash: [u8; 32],
    /// Who.
    pub sender: String,
    /// In which conversation (hex id).
    pub conversation: String,
}

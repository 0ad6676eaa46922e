//! Key transparency, the client's side: every identity key and device list this device
//! uses is checked with a lookup proof against a directory root it holds; every new root
//! must be an append-only extension of the last one it saw; its own user's key history is
//! checked for keys or devices it did not publish; and the root it holds travels inside its
//! MLS messages so that a member shown another root for the same epoch (a split view)
//! notices.
//!
//! The modules: this one holds what a device keeps (`KtState` and its parts) and the
//! shared helpers; `roots` moves this device to a new root only along an append-only
//! proof; `lookup` checks a user's key and devices against a root; `own` checks our own
//! user's key history; `claims` carries our root in messages and compares the roots
//! others carry (split views); `restore` follows a restore of the server from a backup;
//! `audit` is the independent auditor's check and the proof check everyone uses.

mod audit;
mod claims;
mod lookup;
mod own;
mod restore;
mod roots;

use std::collections::{BTreeMap, BTreeSet};

use hush_core::kt::Root;
use hush_proto as proto;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::{Client, ClientError};

pub use audit::{AuditReport, AuditState, audit, verify_audit};

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

/// What one device of an account hands another of the same account (a link, a backup):
/// the directory values the account accepted, and the certificates behind them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OwnHistory {
    /// Accepted directory values (hex).
    #[serde(default)]
    pub acknowledged: BTreeSet<String>,
    /// Device certificates, by device id.
    #[serde(default)]
    pub certificates: BTreeMap<String, Vec<u8>>,
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

/// A key-transparency failure, as one sentence.
fn kt_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transparency(e.to_string())
}

/// The root the server sent, checked for shape.
pub(crate) fn root_of(r: &proto::KtRoot) -> Result<Root, ClientError> {
    let hash: [u8; 32] = r
        .root_hash
        .0
        .as_slice()
        .try_into()
        .map_err(|_| kt_err("the server sent a malformed directory root"))?;
    Ok(Root { epoch: r.epoch, hash })
}

impl Client {
    /// A signed `GET` of a directory endpoint.
    async fn kt_get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        Ok(self.api.call::<(), T>(Some(&self.signer()), Method::GET, path, None).await?)
    }
}

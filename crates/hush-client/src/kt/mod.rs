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
pub use crate::state::{Claim, KtState, RestoreFollowed};

pub use audit::{AuditReport, AuditState, audit, verify_audit};

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

/// A key-transparency failure, as one sentence.
fn kt_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::ServerMisbehaved(crate::error::Misbehaviour::Transparency(e.to_string()))
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

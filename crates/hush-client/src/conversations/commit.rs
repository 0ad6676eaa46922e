//! Landing a membership change: build the commit from the current state, post it, and
//! when another member's commit won the epoch, catch up and build it again.

use std::collections::BTreeSet;

use hush_core::mls;
use hush_proto::{self as proto, B64};
use reqwest::Method;

use crate::client::Client;
use crate::error::{ApiError, ClientError};
use crate::transcript::Refusal;

/// How often a change that lost the race for an epoch is retried.
pub(crate) const COMMIT_RETRIES: usize = 8;
/// How often a commit whose answer did not arrive is posted again.
const COMMIT_REPOSTS: usize = 3;

/// What a membership change adds and removes, as planned from the members present.
#[derive(Default)]
pub(crate) struct Plan {
    /// KeyPackages of the devices to add.
    pub(crate) key_packages: Vec<mls::KeyPackage>,
    /// Their device ids (for the server's routing).
    pub(crate) added: Vec<String>,
    /// Device ids to remove.
    pub(crate) removed: Vec<String>,
}

/// A membership change's planning step, run again after each lost race.
pub(crate) type PlanFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Plan, ClientError>> + Send + 'a>>;

impl Client {
    /// Runs a membership change until it lands: build the commit from the current state,
    /// post it; if another commit won the epoch, drop ours, catch up, and build again.
    /// Returns whether a commit was made.
    pub(crate) async fn commit_with_retry<F>(&mut self, id_hex: &str, mut plan: F) -> Result<bool, ClientError>
    where
        F: for<'a> FnMut(&'a mut Client, BTreeSet<String>) -> PlanFuture<'a>,
    {
        let gid = hex::decode(id_hex).map_err(|e| ClientError::Internal(e.to_string()))?;
        let mut stuck = 0;
        for _ in 0..COMMIT_RETRIES {
            let present: BTreeSet<String> = self.members_of(id_hex)?.into_iter().map(|m| m.device_id).collect();
            let Plan { key_packages: kps, added, removed } = plan(self, present).await?;
            let mut conv = self.load_conv(&gid)?;
            if !removed.is_empty() || conv.has_pending_proposals() {
                // Sign the space's state with this device while the leaving devices are
                // still members: after the commit a state they signed is refused.
                self.resign_space(id_hex).await?;
                conv = self.load_conv(&gid)?;
            }
            if kps.is_empty() && removed.is_empty() && !conv.has_pending_proposals() {
                return Ok(false);
            }
            // Commits carry the same authenticated data as messages (directory root, epoch
            // and authenticator), so a commit from another branch of a split is recognised.
            let aad = self.message_aad(id_hex, &conv);
            conv.set_aad(&aad);
            let out = conv.change_members(&self.provider, &self.device(), kps, &removed)?;
            let req = proto::CommitRequest {
                commit: B64(out.commit),
                welcome: out.welcome.map(B64),
                added_devices: added,
                removed_devices: out.removed_devices,
            };
            let path = format!("/v1/groups/{id_hex}/commit");
            // The answer may be lost after the server took the commit: the same commit is
            // posted again (the server recognises it), rather than dropped while the group
            // moved on with it, which would leave this device an epoch behind for good.
            let mut answer = self.api.call::<_, proto::Accepted>(Some(&self.signer()), Method::POST, &path, Some(&req)).await;
            for _ in 0..COMMIT_REPOSTS {
                if !matches!(answer, Err(ApiError::Unreachable { .. } | ApiError::BadAnswer(_))) {
                    break;
                }
                answer = self.api.call::<_, proto::Accepted>(Some(&self.signer()), Method::POST, &path, Some(&req)).await;
            }
            match answer {
                Ok(_) => {
                    conv.confirm_commit(&self.provider)?;
                    self.note_space_key(id_hex, &conv)?;
                    self.save()?;
                    return Ok(true);
                }
                Err(e) if e.code() == Some(proto::codes::STALE_EPOCH) => {
                    conv.abandon_commit(&self.provider)?;
                    self.save()?;
                    let before = conv.epoch();
                    self.sync().await?;
                    if self.still_stuck(id_hex, before) {
                        stuck += 1;
                        if stuck >= 2 {
                            return Err(self.stuck_error(id_hex, Refusal::Stale));
                        }
                    }
                }
                Err(e) if e.code() == Some(proto::codes::FORBIDDEN) => {
                    conv.abandon_commit(&self.provider)?;
                    self.save()?;
                    let before = conv.epoch();
                    self.sync().await?;
                    if self.still_stuck(id_hex, before) {
                        return Err(self.stuck_error(id_hex, Refusal::NotMember));
                    }
                    return Err(e.into());
                }
                Err(e) => {
                    conv.abandon_commit(&self.provider)?;
                    self.save()?;
                    return Err(e.into());
                }
            }
        }
        Err(ClientError::Contended("the conversation keeps changing; try again".into()))
    }
}

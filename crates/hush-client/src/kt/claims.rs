//! Split views: the root this device holds travels in the authenticated data of its MLS
//! messages, and the roots other members' messages carry are compared with the ones this
//! device verified for the same epochs.

use super::Claim;
use crate::{Client, ClientError};

/// The tag in front of the root a message carries in its MLS authenticated data.
const AAD_TAG: &[u8; 8] = b"hush-kt1";

impl Client {
    /// The authenticated data our messages carry: the latest root we verified.
    pub(crate) fn kt_aad(&self) -> Vec<u8> {
        match self.state.kt.latest {
            Some(r) => [AAD_TAG.as_slice(), &r.epoch.to_be_bytes(), &r.hash].concat(),
            None => Vec::new(),
        }
    }

    /// Notes the root a member's message says it holds, to compare after the sync.
    pub(crate) fn note_claimed_root(&mut self, aad: &[u8], sender: &str, conversation: &str) {
        // The root comes first; more (the group's epoch) may follow.
        if aad.len() < 8 + 8 + 32 || &aad[..8] != AAD_TAG {
            return;
        }
        let mut e = [0u8; 8];
        e.copy_from_slice(&aad[8..16]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&aad[16..48]);
        self.state.kt.claims.push(Claim {
            epoch: u64::from_be_bytes(e),
            hash,
            sender: sender.to_owned(),
            conversation: conversation.to_owned(),
        });
    }

    /// Compares every claimed root with the one we verified for that epoch (auditing the
    /// directory forward if we have not seen it yet). A difference is a split view.
    pub(crate) async fn kt_check_claims(&mut self) -> Result<(), ClientError> {
        let claims = std::mem::take(&mut self.state.kt.claims);
        for c in claims {
            if !self.state.kt.roots.contains_key(&c.epoch) {
                let mut latest = self.state.kt.latest.map(|r| r.epoch).unwrap_or(0);
                if c.epoch > latest && latest > 0 {
                    // The sender saw this epoch before sending, and everyone talks to one
                    // directory: an honest server has it by now. A server whose newest
                    // epoch is older is showing this device another directory.
                    if let Ok(r) = self.kt_refresh().await {
                        latest = r.epoch;
                        if c.epoch > latest {
                            if self.state.kt.split_reported.insert(c.epoch) {
                                self.warn(&c.conversation, format!(
                                    "ALERT: {} was shown epoch {} of the key directory, but the server tells this device its newest is epoch {latest}: the server is showing people different views (a split view), so keys in this conversation can't be trusted",
                                    c.sender, c.epoch
                                ));
                            }
                            continue;
                        }
                    }
                }
                let attempt = if c.epoch > latest && latest > 0 {
                    self.kt_audit(latest, c.epoch).await.map(|_| ())
                } else if c.epoch < latest {
                    self.kt_audit(c.epoch, latest).await.map(|_| ())
                } else {
                    self.kt_refresh().await.map(|_| ())
                };
                if let Err(e) = attempt {
                    self.warn(&c.conversation, format!(
                        "could not check the key directory {} saw (epoch {}): {e}",
                        c.sender, c.epoch
                    ));
                    continue;
                }
            }
            if let Some(mine) = self.state.kt.roots.get(&c.epoch)
                && *mine != c.hash
                && self.state.kt.split_reported.insert(c.epoch)
            {
                self.warn(&c.conversation, format!(
                    "ALERT: {} was shown a different key directory than you for epoch {}: the server is showing people different views (a split view), so keys in this conversation can't be trusted",
                    c.sender, c.epoch
                ));
            }
        }
        Ok(())
    }
}

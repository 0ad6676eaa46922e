//! The directory roots this device verified: it moves to a new root only along an
//! append-only proof from the latest one it holds, and remembers (a bounded number of)
//! every root on the way, refusing any that differs from one it verified before.

use hush_core::kt::Root;
use hush_proto as proto;

use super::audit::verify_audit;
use super::{kt_err, root_of};
use crate::{Client, ClientError};

/// How many verified roots a device remembers.
const ROOTS_KEPT: usize = 4096;

impl Client {
    /// Remembers a verified root (the oldest are forgotten past [`ROOTS_KEPT`]).
    fn remember_root(&mut self, epoch: u64, hash: [u8; 32]) {
        self.state.kt.roots.insert(epoch, hash);
        while self.state.kt.roots.len() > ROOTS_KEPT {
            self.state.kt.roots.pop_first();
        }
    }

    /// Fetches the latest root and moves to it, checking that it extends what we saw.
    pub(crate) async fn kt_refresh(&mut self) -> Result<Root, ClientError> {
        let info: proto::KtInfo = self.kt_get("/v1/kt/info").await?;
        match &self.state.kt.vrf_public_key {
            None => self.state.kt.vrf_public_key = Some(info.vrf_public_key.0.clone()),
            Some(k) if *k == info.vrf_public_key.0 => {}
            Some(_) => {
                return Err(kt_err(
                    "the server's key directory changed its signing (VRF) key; refusing to trust it",
                ));
            }
        }
        let root = root_of(&info.root)?;
        self.kt_follow_restores(&info.restores)?;
        self.kt_advance(root).await?;
        Ok(root)
    }

    /// Accepts `root` if it is the latest we hold, or an append-only extension of it.
    pub(super) async fn kt_advance(&mut self, root: Root) -> Result<(), ClientError> {
        match self.state.kt.latest {
            None => {
                self.remember_root(root.epoch, root.hash);
                self.state.kt.latest = Some(root);
            }
            Some(latest) if root.epoch < latest.epoch => {
                // The server always proves against its latest root: an older one means the
                // directory was rolled back (newer keys, revocations, would be hidden).
                return Err(kt_err(format!(
                    "the server showed key directory epoch {} after this device had seen epoch {}: the directory was rolled back",
                    root.epoch, latest.epoch
                )));
            }
            Some(latest) if root.epoch == latest.epoch => {
                if root.hash != latest.hash {
                    return Err(kt_err(format!(
                        "the server showed two different key directories for epoch {}",
                        root.epoch
                    )));
                }
            }
            Some(latest) => {
                let hashes = self.kt_audit(latest.epoch, root.epoch).await?;
                if hashes.last() != Some(&root.hash) {
                    return Err(kt_err("the append-only proof does not end at the root the server showed"));
                }
                self.state.kt.latest = Some(root);
            }
        }
        Ok(())
    }

    /// Verifies that the directory only grew from `start` to `end`; remembers every root
    /// in between; refuses if any differs from one we verified before.
    pub(super) async fn kt_audit(&mut self, start: u64, end: u64) -> Result<Vec<[u8; 32]>, ClientError> {
        let audit: proto::KtAudit = self.kt_get(&format!("/v1/kt/audit?start={start}&end={end}")).await?;
        let hashes = verify_audit(start, end, &audit).await?;
        for (i, h) in hashes.iter().enumerate() {
            let epoch = start + i as u64;
            if let Some(known) = self.state.kt.roots.get(&epoch)
                && known != h
            {
                return Err(kt_err(format!(
                    "the server's append-only proof shows a root for epoch {epoch} that differs from the one this device verified: the directory was forked"
                )));
            }
        }
        for (i, h) in hashes.iter().enumerate() {
            self.remember_root(start + i as u64, *h);
        }
        Ok(hashes)
    }
}

//! Sharing: an entry's manifests sealed again for a conversation's space (the blobs are
//! not uploaded again), and taking them back.

use std::collections::{BTreeMap, BTreeSet};

use hush_core::files::{self, Manifest};

use super::space::Changes;
use super::{Location, usage};
use crate::{Client, ClientError};

impl Client {
    /// Shares a file or folder (everything under it) with a user or conversation: its
    /// manifests are sealed again for the conversation's space; the content is not
    /// uploaded again.
    pub async fn share(&mut self, spec: &str, with: &str) -> Result<Location, ClientError> {
        self.sync().await?;
        let src = self.locate(spec, false).await?;
        let tree = self.load_tree(&src).await?;
        let root = tree.lookup(&src.path).map_err(usage)?.ok_or_else(|| usage("name the file or folder to share"))?.clone();
        let originals: Vec<Manifest> = tree.subtree(&root.entry_id).into_iter().cloned().collect();
        let target_id = self.resolve_or_create(with).await?;
        self.reconcile(&target_id).await?;
        for m in self.members_of(&target_id)? {
            self.ensure_sendable(&m.username)?;
        }
        let dst = Location {
            space: format!("conv:{target_id}"),
            conversation: Some(target_id.clone()),
            path: root.name.clone(),
            label: format!("{with}:"),
        };
        let src_space = src.space.clone();
        self.change_space(&dst, false, |t| {
            if t.children(None).iter().any(|c| c.name == root.name) {
                return Err(usage(format!("{with} already has something named {} in its files; rename one first", root.name)));
            }
            let ids: BTreeMap<String, String> = originals.iter().map(|m| (m.entry_id.clone(), files::new_entry_id())).collect();
            let put = originals
                .iter()
                .map(|m| {
                    let mut c = m.clone();
                    c.entry_id = ids[&m.entry_id].clone();
                    c.parent = if m.entry_id == root.entry_id { None } else { m.parent.as_ref().and_then(|p| ids.get(p).cloned()) };
                    c.shared_from = Some(format!("{src_space}/{}", m.entry_id));
                    // Only the current version is shared, not the kept older ones.
                    let older = c.versions.len().saturating_sub(1);
                    c.versions.drain(..older);
                    c
                })
                .collect();
            Ok(Changes { put, delete: vec![] })
        })
        .await?;
        Ok(dst)
    }

    /// Takes back what was shared from `spec` with a user or conversation.
    pub async fn unshare(&mut self, spec: &str, from: &str) -> Result<usize, ClientError> {
        self.sync().await?;
        let src = self.locate(spec, false).await?;
        let tree = self.load_tree(&src).await?;
        let root = tree.lookup(&src.path).map_err(usage)?.ok_or_else(|| usage("name the file or folder to unshare"))?;
        let origins: BTreeSet<String> =
            tree.subtree(&root.entry_id).iter().map(|m| format!("{}/{}", src.space, m.entry_id)).collect();
        let target_id = self.resolve(from)?.ok_or_else(|| usage(format!("no conversation named {from}")))?;
        let dst = Location { space: format!("conv:{target_id}"), conversation: Some(target_id), path: String::new(), label: format!("{from}:") };
        let mut removed = 0;
        self.change_space(&dst, false, |t| {
            let mut gone = BTreeSet::new();
            for m in t.entries.values() {
                if m.shared_from.as_ref().is_some_and(|s| origins.contains(s)) {
                    for x in t.subtree(&m.entry_id) {
                        gone.insert(x.entry_id.clone());
                    }
                }
            }
            if gone.is_empty() {
                return Err(usage(format!("{spec} isn't shared with {from}")));
            }
            removed = gone.len();
            Ok(Changes { put: vec![], delete: gone.into_iter().collect() })
        })
        .await?;
        Ok(removed)
    }
}

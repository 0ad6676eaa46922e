//! Re-encryption of a conversation's space after a member left: every blob downloaded,
//! checked, encrypted again under a fresh key in one pass, uploaded as a new blob, and
//! every entry sealed again under the current epoch's key.

use std::collections::BTreeMap;
use std::fs;

use hush_core::files::FileKey;

use super::pipeline::{decrypt_checked, hash_file};
use super::space::Changes;
use super::upload::Staged;
use super::{Location, TransferOptions, usage};
use crate::{Client, ClientError};

impl Client {
    /// Re-encrypts every file of a conversation's space under fresh file keys and seals
    /// every entry again under the current epoch's space key (run after removing a
    /// member): the removed member's old keys open none of it any more. Returns how many
    /// file versions were re-encrypted.
    pub async fn reencrypt_space(&mut self, conversation: &str) -> Result<usize, ClientError> {
        self.sync().await?;
        let id = self.resolve(conversation)?.ok_or_else(|| usage(format!("no conversation named {conversation}")))?;
        let loc = Location { space: format!("conv:{id}"), conversation: Some(id), path: String::new(), label: format!("{conversation}:") };
        let tree = self.load_tree(&loc).await?;
        let dir = self.transfers_dir()?;
        let mut fresh: BTreeMap<String, (String, u64, String, FileKey)> = BTreeMap::new();
        let quiet = TransferOptions::default();
        for m in tree.entries.values() {
            for v in &m.versions {
                if fresh.contains_key(&v.blob_id) {
                    continue;
                }
                // Download and check the old blob, decrypt it into the home...
                let part = dir.join(format!("{}.part", v.blob_id));
                self.receive_blob(&part, v, &m.name, &quiet).await?;
                let staged = dir.join(format!("{}.reencrypted.age", v.blob_id));
                let done = async {
                    // ...and encrypt it again under a new key in the same pass (no
                    // plaintext touches the disk), uploaded as a new blob.
                    let key = FileKey::generate();
                    decrypt_checked(&part, &staged, v, Some(key.recipient())).await?;
                    let (blob_size, blob_sha256) = hash_file(&staged).await?;
                    let upload = Staged { path: &staged, space: &loc.space, size: blob_size, name: &m.name };
                    let blob = self.upload_staged(&upload, None, &quiet).await?;
                    Ok::<_, ClientError>((blob.blob_id, blob_size, blob_sha256, key))
                }
                .await;
                for f in [&part, &staged] {
                    let _ = fs::remove_file(f);
                }
                fresh.insert(v.blob_id.clone(), done?);
            }
        }
        let count = fresh.len();
        self.change_space(&loc, true, |t| {
            let put = t
                .entries
                .values()
                .map(|m| {
                    let mut m = m.clone();
                    for v in &mut m.versions {
                        if let Some((blob_id, blob_size, blob_sha256, key)) = fresh.get(&v.blob_id) {
                            v.blob_id = blob_id.clone();
                            v.blob_size = *blob_size;
                            v.blob_sha256 = blob_sha256.clone();
                            v.key = key.clone();
                        }
                    }
                    m
                })
                .collect();
            Ok(Changes { put, delete: vec![] })
        })
        .await?;
        Ok(count)
    }
}

//! Uploads: `put` (a local file, encrypted to a staging file, becomes a new version of an
//! entry) and the one upload protocol it shares with re-encryption: start (or continue) an
//! upload, send the pieces the server lacks, complete it.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use hush_core::files::{self, EntryKind, FileKey, FileVersion, Manifest};
use hush_proto as proto;
use reqwest::Method;
use sha2::{Digest, Sha256};

use super::entries::make_folders;
use super::pipeline::encrypt_to_staging;
use super::progress::{Meter, Stage};
use super::{Location, PendingUpload, PutReport, TransferOptions, check_new_name, io_err, split_path, usage};
use crate::{Client, ClientError};

/// A staged blob (ciphertext in the home) to upload.
pub(super) struct Staged<'a> {
    /// The staging file.
    pub(super) path: &'a Path,
    /// The space it goes to.
    pub(super) space: &'a str,
    /// Its length.
    pub(super) size: u64,
    /// The file's name, for progress reports.
    pub(super) name: &'a str,
}

/// An upload kept in the state's `uploads`, so that a later run continues it.
pub(super) struct Remembered<'a> {
    /// Its key there.
    pub(super) transfer: &'a str,
    /// The record; its `upload_id` is empty until the server started the upload.
    pub(super) pending: PendingUpload,
}

/// What an upload gave.
pub(super) struct Uploaded {
    /// The new blob's id.
    pub(super) blob_id: String,
    /// Where the sending continued from, if the server already held part of it.
    pub(super) resumed_from: Option<u64>,
}

impl Client {
    /// Encrypts and uploads a local file to `dest` (a folder, or a path to create or to add a
    /// version to), continuing an interrupted upload of the same file to the same place.
    pub async fn put(
        &mut self,
        local: &Path,
        dest: Option<&str>,
        keep_versions: usize,
        opts: TransferOptions,
    ) -> Result<PutReport, ClientError> {
        let meta = fs::metadata(local).map_err(|e| io_err("can't read", local, e))?;
        if !meta.is_file() {
            return Err(usage(format!("{} is not a file", local.display())));
        }
        let local_name = local
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| usage(format!("{} has no usable file name", local.display())))?
            .to_owned();
        if keep_versions == 0 {
            return Err(usage("--keep-versions must be at least 1"));
        }
        self.sync().await?;
        let loc = self.put_target(dest, &local_name).await?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
        let canonical = fs::canonicalize(local).map_err(|e| io_err("can't read", local, e))?;
        let transfer = hex::encode(&Sha256::digest(
            format!("{}\n{}\n{}\n{}\n{}", loc.space, loc.path, canonical.display(), meta.len(), modified).as_bytes(),
        )[..16]);
        let staging = self.transfers_dir()?.join(format!("{transfer}.age"));

        // Continue an interrupted upload of this very file to this very place, if its
        // staged ciphertext is intact; otherwise encrypt afresh.
        let pending = self.state.uploads.get(&transfer).cloned().filter(|p| {
            fs::metadata(&staging).is_ok_and(|m| m.len() == p.blob_size)
        });
        let p = match pending {
            Some(p) => p,
            None => {
                // A stale record (its staged ciphertext gone or changed) must never be
                // resumed with new ciphertext.
                if self.state.uploads.remove(&transfer).is_some() {
                    self.save()?;
                }
                let key = FileKey::generate();
                if let Some(progress) = &opts.progress {
                    progress.stage(Stage::Encrypting { name: &local_name, size: meta.len() });
                }
                let (blob_size, blob_sha256) = encrypt_to_staging(&key, local, &staging).await?;
                PendingUpload {
                    space: loc.space.clone(),
                    path: loc.path.clone(),
                    local: canonical.display().to_string(),
                    local_size: meta.len(),
                    local_modified: modified,
                    key,
                    blob_size,
                    blob_sha256,
                    upload_id: String::new(),
                }
            }
        };
        let staged = Staged { path: &staging, space: &loc.space, size: p.blob_size, name: &local_name };
        let remembered = Remembered { transfer: &transfer, pending: p.clone() };
        let uploaded = self.upload_staged(&staged, Some(remembered), &opts).await?;

        let version = FileVersion {
            version: 0,
            blob_id: uploaded.blob_id,
            blob_size: p.blob_size,
            blob_sha256: p.blob_sha256.clone(),
            size: p.local_size,
            mime: files::mime_for(&local_name).to_owned(),
            modified_at: p.local_modified,
            author: self.state.username.clone(),
            key: p.key.clone(),
        };
        let number = self.add_version(&loc, version, keep_versions).await?;
        self.state.uploads.remove(&transfer);
        self.save()?;
        let _ = fs::remove_file(&staging);
        Ok(PutReport {
            location: format!("{}{}", loc.label, loc.path),
            version: number,
            size: p.local_size,
            resumed_from: uploaded.resumed_from,
        })
    }

    /// Where `put` writes: a destination that is a folder (or a space's root, or ends with
    /// a slash) gets the local name.
    async fn put_target(&mut self, dest: Option<&str>, local_name: &str) -> Result<Location, ClientError> {
        let mut loc = self.locate(dest.unwrap_or(""), true).await?;
        let tree = self.load_tree(&loc).await?;
        let ends_with_slash = dest.is_some_and(|d| d.ends_with('/') || d.ends_with(':'));
        match tree.lookup(&loc.path) {
            Ok(None) => loc.path = local_name.to_owned(),
            Ok(Some(m)) if m.kind == EntryKind::Folder => loc.path = format!("{}/{local_name}", loc.path),
            Ok(Some(_)) if ends_with_slash => return Err(usage(format!("{} is a file, not a folder", loc.path))),
            _ if ends_with_slash => loc.path = format!("{}/{local_name}", loc.path),
            _ => {}
        }
        for part in split_path(&loc.path) {
            check_new_name(part)?;
        }
        Ok(loc)
    }

    /// Adds `version` to the file at `loc` (made, with missing folders, if new), keeping
    /// the newest `keep_versions`; returns its version number.
    async fn add_version(&mut self, loc: &Location, version: FileVersion, keep_versions: usize) -> Result<u64, ClientError> {
        let path = loc.path.clone();
        let mut number = 0;
        self.change_space(loc, false, |tree| {
            let parts = split_path(&path);
            let (name, dirs) = parts.split_last().ok_or_else(|| usage("name the file"))?;
            let (mut changes, parent) = make_folders(tree, dirs, false)?;
            let existing = tree.children(parent.as_deref()).into_iter().find(|c| c.name == *name).cloned();
            let mut v = version.clone();
            let entry = match existing {
                Some(e) if e.kind == EntryKind::Folder => return Err(usage(format!("{path} is a folder"))),
                Some(mut e) => {
                    v.version = e.current().map_or(1, |c| c.version + 1);
                    e.versions.push(v);
                    let extra = e.versions.len().saturating_sub(keep_versions);
                    e.versions.drain(..extra);
                    e
                }
                None => {
                    v.version = 1;
                    Manifest {
                        entry_id: files::new_entry_id(),
                        kind: EntryKind::File,
                        parent,
                        name: (*name).to_owned(),
                        created_at: hush_core::now_ms(),
                        versions: vec![v],
                        shared_from: None,
                    }
                }
            };
            number = entry.current().map_or(1, |c| c.version);
            changes.put.push(entry);
            Ok(changes)
        })
        .await?;
        Ok(number)
    }

    /// The upload protocol, for `put` and re-encryption alike. Starts the upload of the
    /// staged blob, or, for a remembered upload the server already started, asks how much
    /// of it the server holds (starting it again, same ciphertext, if the server forgot
    /// it); a remembered upload's record is saved with every new upload id. Then sends
    /// the rest in pieces the server acknowledges, and completes it.
    pub(super) async fn upload_staged(
        &mut self,
        staged: &Staged<'_>,
        mut remembered: Option<Remembered<'_>>,
        opts: &TransferOptions,
    ) -> Result<Uploaded, ClientError> {
        let earlier = remembered.as_ref().map(|r| r.pending.upload_id.clone()).filter(|id| !id.is_empty());
        let (status, started) = match earlier {
            None => match self.start_upload(staged).await {
                Ok(s) => (s, true),
                Err(e) => {
                    // Refused (too large, over quota) or unreachable: nothing stays behind.
                    let _ = fs::remove_file(staged.path);
                    return Err(e);
                }
            },
            Some(id) => match self
                .api
                .call::<(), proto::UploadStatus>(Some(&self.signer()), Method::GET, &format!("/v1/uploads/{id}"), None)
                .await
            {
                Ok(s) => (proto::UploadStatus { upload_id: id, ..s }, false),
                // The server forgot it (expired): start the upload again, same ciphertext.
                Err(e) if e.code() == Some(proto::codes::NOT_FOUND) => (self.start_upload(staged).await?, true),
                Err(e) => return Err(e.into()),
            },
        };
        if started && let Some(r) = remembered.as_mut() {
            r.pending.upload_id = status.upload_id.clone();
            self.state.uploads.insert(r.transfer.to_owned(), r.pending.clone());
            self.save()?;
        }
        let resumed_from = (status.received > 0).then_some(status.received);
        self.send_blob(staged, &status.upload_id, status.received, opts).await?;
        let blob: proto::BlobInfo = self
            .api
            .call::<(), _>(Some(&self.signer()), Method::POST, &format!("/v1/uploads/{}/complete", status.upload_id), None)
            .await?;
        Ok(Uploaded { blob_id: blob.blob_id, resumed_from })
    }

    /// Asks the server for a new upload of the staged blob's size.
    async fn start_upload(&self, staged: &Staged<'_>) -> Result<proto::UploadStatus, ClientError> {
        let start = proto::UploadStart { space: staged.space.to_owned(), size: staged.size };
        Ok(self.api.call(Some(&self.signer()), Method::POST, "/v1/uploads", Some(&start)).await?)
    }

    /// Sends the staged blob from `from` on, in pieces; each answer says where the next
    /// one starts. Each piece is read on a blocking thread, not on the async runtime.
    async fn send_blob(&self, staged: &Staged<'_>, upload_id: &str, from: u64, opts: &TransferOptions) -> Result<(), ClientError> {
        let (staging, blob_size) = (staged.path, staged.size);
        let mut file = File::open(staging).map_err(|e| io_err("can't read", staging, e))?;
        let mut offset = from;
        let mut meter = Meter::new(opts, from, Stage::Uploading { name: staged.name, total: blob_size, from });
        while offset < blob_size {
            let want = usize::try_from((blob_size - offset).min(proto::UPLOAD_CHUNK_MAX as u64)).unwrap_or(proto::UPLOAD_CHUNK_MAX);
            let (at, path) = (offset, staging.to_path_buf());
            let (back, piece) = tokio::task::spawn_blocking(move || -> Result<(File, Vec<u8>), ClientError> {
                let mut piece = vec![0u8; want];
                file.seek(SeekFrom::Start(at)).map_err(|e| io_err("can't read", &path, e))?;
                file.read_exact(&mut piece).map_err(|e| io_err("can't read", &path, e))?;
                Ok((file, piece))
            })
            .await
            .map_err(|e| ClientError::Internal(e.to_string()))??;
            file = back;
            let path = format!("/v1/uploads/{upload_id}?offset={offset}");
            let status: proto::UploadStatus = self.api.call_bytes(&self.signer(), Method::PUT, &path, piece).await?;
            offset = status.received;
            meter.advance(offset).await;
        }
        meter.done();
        Ok(())
    }
}

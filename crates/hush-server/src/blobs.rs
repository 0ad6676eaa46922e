//! Where files live: finished blobs in an object store (`DATA_DIR/blobs`, or any other
//! [`ObjectStore`]) under their id, unfinished uploads in plain part files
//! `DATA_DIR/uploads/<id>.part`, and a lock per upload id so that two requests never write
//! the same part file at once. No request handling here: the handlers are in `http::files` and
//! `http::uploads`.

use std::collections::HashMap;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};

use axum::body::Bytes;
use futures_util::stream::{BoxStream, StreamExt as _};
use object_store::{ObjectStore, ObjectStoreExt as _};
use object_store::path::Path as ObjectPath;

/// Directory (inside the data directory) of the object store that keeps finished files.
pub const BLOBS_DIR: &str = "blobs";

/// Directory (inside the data directory) of unfinished uploads, `<upload_id>.part`.
pub const UPLOADS_DIR: &str = "uploads";

/// Size of the parts a blob is written to the object store in.
pub(crate) const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts being written to the object store at once, at most (bounds the memory a
/// completion takes to about `(PARTS_IN_FLIGHT + 1) * PART_SIZE`).
pub(crate) const PARTS_IN_FLIGHT: usize = 2;
/// Bytes read from the part file at a time when completing an upload.
pub(crate) const COPY_BUFFER: usize = 1024 * 1024;
/// Bytes read from a local blob file at a time when sending it.
pub(crate) const SEND_CHUNK: usize = 256 * 1024;

/// Where blobs and uploads live, and the limits on them.
pub(crate) struct Files {
    /// Finished blobs, named by their id.
    pub objects: Arc<dyn ObjectStore>,
    /// Unfinished uploads, `<upload_id>.part`.
    pub uploads_dir: PathBuf,
    /// Largest blob accepted.
    pub max_upload_bytes: u64,
    /// Each user's quota.
    pub quota_bytes: u64,
    /// One lock per upload id in use.
    pub(crate) locks: Arc<UploadLocks>,
    /// When the object store is the local directory on the same file system as the
    /// uploads: finishing an upload renames its part file into it instead of copying.
    pub local_objects_dir: Option<PathBuf>,
}

impl Files {
    /// Files kept in `objects`, uploads in progress in `uploads_dir` (which must exist).
    pub fn new(objects: Arc<dyn ObjectStore>, uploads_dir: PathBuf, max_upload_bytes: u64, quota_bytes: u64) -> Files {
        Files {
            objects,
            uploads_dir,
            max_upload_bytes,
            quota_bytes,
            locks: Arc::default(),
            local_objects_dir: None,
        }
    }

    pub(crate) fn part_path(&self, upload_id: &str) -> PathBuf {
        self.uploads_dir.join(format!("{upload_id}.part"))
    }

    /// Deletes these blobs' bytes; a failure is logged (the database no longer knows the
    /// blob, so the bytes are only wasted space).
    pub(crate) async fn delete_objects(&self, blob_ids: &[String]) {
        for blob_id in blob_ids {
            match self.objects.delete(&ObjectPath::from(blob_id.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => tracing::error!(%blob_id, error = %e, "could not delete a blob's bytes"),
            }
        }
    }
}

impl Files {
    /// Deletes these uploads' part files; a failure is logged (the database no longer
    /// knows the upload).
    pub(crate) async fn delete_parts(&self, upload_ids: &[String]) {
        for upload_id in upload_ids {
            let _lock = self.locks.lock(upload_id).await;
            match tokio::fs::remove_file(self.part_path(upload_id)).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::error!(%upload_id, error = %e, "could not delete an upload's part file"),
            }
        }
    }
}

/// A lock per upload id, held while an upload's part file or row changes.
#[derive(Default)]
pub(crate) struct UploadLocks {
    held: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds one upload's lock; the entry goes when nobody holds or waits for it.
pub(crate) struct UploadGuard {
    pub(crate) locks: Arc<UploadLocks>,
    upload_id: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl UploadLocks {
    pub(crate) async fn lock(self: &Arc<Self>, upload_id: &str) -> UploadGuard {
        let lock = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            if held.len() > 1024 {
                // Entries left by waiters that gave up.
                held.retain(|_, l| Arc::strong_count(l) > 1);
            }
            Arc::clone(held.entry(upload_id.to_owned()).or_default())
        };
        let guard = lock.lock_owned().await;
        UploadGuard {
            locks: Arc::clone(self),
            upload_id: upload_id.to_owned(),
            guard: Some(guard),
        }
    }
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut held = self.locks.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.get(&self.upload_id).is_some_and(|l| Arc::strong_count(l) == 1) {
            held.remove(&self.upload_id);
        }
    }
}

/// Writes `bytes` at `at` in the part file, dropping anything past `at` first (a crash
/// may have left bytes that were never counted), and syncs them to disk.
pub(crate) fn write_part(path: &Path, at: u64, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)?;
    file.set_len(at)?;
    file.seek(SeekFrom::Start(at))?;
    file.write_all(bytes)?;
    file.sync_data()
}

/// Reads `range` of a local file in chunks of [`SEND_CHUNK`] bytes, each on the blocking
/// pool.
pub(crate) fn file_stream(file: std::fs::File, range: Range<u64>) -> BoxStream<'static, std::io::Result<Bytes>> {
    futures_util::stream::try_unfold((file, range), |(mut file, range)| async move {
        if range.start >= range.end {
            return Ok(None);
        }
        let want = usize::try_from(range.end - range.start).map_or(SEND_CHUNK, |n| n.min(SEND_CHUNK));
        let at = range.start;
        let (file, buf) = tokio::task::spawn_blocking(move || {
            file.seek(SeekFrom::Start(at))?;
            let mut buf = vec![0u8; want];
            file.read_exact(&mut buf)?;
            Ok::<_, std::io::Error>((file, buf))
        })
        .await
        .map_err(std::io::Error::other)??;
        let next = (at + want as u64)..range.end;
        Ok(Some((Bytes::from(buf), (file, next))))
    })
    .boxed()
}

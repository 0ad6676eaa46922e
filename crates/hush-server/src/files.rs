//! Files: resumable blob uploads, blob downloads, spaces and quotas (the routes under
//! `/v1/uploads`, `/v1/blobs`, `/v1/spaces` and `/v1/quota`).
//!
//! A blob is an opaque age file. It is uploaded in chunks of at most
//! [`UPLOAD_CHUNK_MAX`] bytes into a plain file `DATA_DIR/uploads/<id>.part` (each chunk
//! written at the offset the database says was reached, synced, and only then counted),
//! then copied, with bounded memory, into the object store (`DATA_DIR/blobs`, or any other
//! [`ObjectStore`]) under its id. Blobs count against their owner's quota from the moment
//! their upload starts until no row of any space refers to them any more.
//!
//! A space (`drive:USERNAME` or `conv:GROUP_ID_HEX`, see [`space_access`]) is a signed
//! state with a version and rows that refer to blobs; the server only checks access, that
//! a write was made against the current version, and that a row refers only to blobs the
//! writer can read. Everything in a space is ciphertext to it.
//!
//! Every route here is signed by a registered device. Operations on one upload are
//! serialized by a lock per upload id, so two requests never write the same part file at
//! once. A sweep at start and then every [`SWEEP_INTERVAL`] forgets uploads started more
//! than [`STALE_AFTER_MS`] ago and blobs finished that long ago that no row ever referred to.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use futures_util::stream::{BoxStream, StreamExt as _};
use hush_proto::{
    B64, BlobInfo, Quota, SpaceRow, SpaceUpdate, SpaceVersion, SpaceView, UPLOAD_CHUNK_MAX, UploadStart, UploadStatus,
};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart};
use serde::Deserialize;
use tokio::io::AsyncReadExt as _;
use tokio::sync::watch;

use crate::AppState;
use crate::auth::{Authed, AuthedDevice, parse_json};
use crate::error::ApiError;
use crate::routes::PathParam;
use crate::store::{NewUpload, SpaceChange, SpaceName, Store, StoreError, UploadRow, is_lower_hex};

/// Largest body of `PUT /v1/uploads/{id}` the body limit lets through: a full chunk plus
/// slack, so that an oversized chunk gets a sentence rather than a bare limit answer.
pub const UPLOAD_BODY_LIMIT: usize = UPLOAD_CHUNK_MAX + 64 * 1024;
/// Largest body of `POST /v1/spaces/{space}`: 32 MiB.
pub const SPACE_UPDATE_LIMIT: usize = 32 * 1024 * 1024;
/// The longest a chunk upload or an upload's completion may take: a chunk on a slow
/// link, or copying a large blob into the object store, takes longer than an API call.
pub const BULK_REQUEST_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Most unfinished uploads one user may have.
pub const MAX_PENDING_UPLOADS: i64 = 100;
/// Unfinished uploads started this long ago, and finished blobs no row ever referred to
/// this long after they were finished, are forgotten by the sweep: 7 days.
pub const STALE_AFTER_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// How often the sweep runs (it also runs when the server starts).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// Size of the parts a blob is written to the object store in.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts being written to the object store at once, at most (bounds the memory a
/// completion takes to about `(PARTS_IN_FLIGHT + 1) * PART_SIZE`).
const PARTS_IN_FLIGHT: usize = 2;
/// Bytes read from the part file at a time when completing an upload.
const COPY_BUFFER: usize = 1024 * 1024;
/// Bytes read from a local blob file at a time when sending it.
const SEND_CHUNK: usize = 256 * 1024;

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
    locks: Arc<UploadLocks>,
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

    fn part_path(&self, upload_id: &str) -> PathBuf {
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
struct UploadLocks {
    held: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds one upload's lock; the entry goes when nobody holds or waits for it.
struct UploadGuard {
    locks: Arc<UploadLocks>,
    upload_id: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl UploadLocks {
    async fn lock(self: &Arc<Self>, upload_id: &str) -> UploadGuard {
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

/// A byte count for a person: "512 bytes", "1.5 MiB", "16 GiB".
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return if n == 1 { "1 byte".to_owned() } else { format!("{n} bytes") };
    }
    #[allow(clippy::cast_precision_loss)] // one decimal is shown
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

/// Whether `device` may use `space`: `drive:USERNAME` is open to the devices of USERNAME,
/// `conv:GROUP_ID_HEX` to the devices currently members of that conversation. `400` for a
/// name that is neither; `403` otherwise (a conversation that does not exist and one the
/// device is not in look the same).
pub async fn space_access(store: &Store, space: &str, device: &AuthedDevice) -> Result<(), ApiError> {
    let Some(name) = SpaceName::parse(space) else {
        return Err(ApiError::BadRequest(format!(
            "{space:?} is not a space name; spaces are named drive:USERNAME or conv:CONVERSATION_ID (32 lowercase hex characters)"
        )));
    };
    if store.space_accessible(&name, &device.username, &device.device_id).await? {
        return Ok(());
    }
    Err(ApiError::Forbidden(match name {
        SpaceName::Drive(_) => "this is another user's drive; only that user's devices can use it".to_owned(),
        SpaceName::Conv(_) => {
            "this device is not a member of this conversation, so it can't use the conversation's files".to_owned()
        }
    }))
}

/// Checks an upload, blob or entry id: 32 lowercase hex characters.
fn id_ok(what: &str, id: &str) -> Result<(), ApiError> {
    if id.len() == 32 && is_lower_hex(id) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!("{what} is 32 lowercase hex characters, not {id:?}")))
    }
}

/// The one answer for an upload that does not exist, finished, was forgotten, or is
/// another user's.
fn no_such_upload() -> ApiError {
    ApiError::NotFound("no such upload; the server forgets unfinished uploads after a week".into())
}

/// The one answer for a blob that does not exist or that the caller can't read.
fn no_such_file() -> ApiError {
    ApiError::NotFound("no such file".into())
}

fn status(upload: &UploadRow) -> UploadStatus {
    UploadStatus {
        upload_id: upload.upload_id.clone(),
        size: upload.size,
        received: upload.received,
    }
}

/// The caller's unfinished upload (`404` for anyone else's), with `received` corrected
/// down if its part file is shorter (bytes the disk lost are asked for again). With `fix`
/// (only under the upload's lock) the correction is also stored.
async fn own_upload(state: &AppState, upload_id: &str, me: &AuthedDevice, fix: bool) -> Result<Option<UploadRow>, ApiError> {
    let Some(mut upload) = state.store.upload(upload_id).await? else {
        return Ok(None);
    };
    if upload.username != me.username {
        return Err(no_such_upload());
    }
    if upload.received > 0 {
        let on_disk = match tokio::fs::metadata(state.files.part_path(upload_id)).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(ApiError::internal(format!("reading upload {upload_id}'s part file: {e}"))),
        };
        if on_disk < upload.received {
            // Without the lock, the upload may have been completed (or forgotten) since it
            // was read: its row goes before its part file does.
            if !fix && state.store.upload(upload_id).await?.is_none() {
                return Ok(None);
            }
            if fix {
                tracing::warn!(%upload_id, on_disk, recorded = upload.received, "an upload's part file lost bytes; asking for them again");
                state.store.set_received(upload_id, on_disk).await?;
            }
            upload.received = on_disk;
        }
    }
    Ok(Some(upload))
}

/// `POST /v1/uploads`: starts an upload of a blob of `size` bytes meant for `space`.
/// `413 too_large` past the server's largest file, `403 quota_exceeded` past the user's
/// quota (blobs held plus unfinished uploads), `429` past [`MAX_PENDING_UPLOADS`].
pub async fn start_upload(State(state): State<AppState>, authed: Authed) -> Result<Json<UploadStatus>, ApiError> {
    let req: UploadStart = parse_json(&authed.body)?;
    let me = &authed.device;
    space_access(&state.store, &req.space, me).await?;
    let max = state.files.max_upload_bytes;
    if req.size > max {
        return Err(ApiError::FileTooLarge(format!(
            "this file is {}, larger than the {} this server accepts",
            human_bytes(req.size),
            human_bytes(max)
        )));
    }
    let upload_id = hex::encode(rand::random::<[u8; 16]>());
    state
        .store
        .create_upload(
            &NewUpload {
                upload_id: &upload_id,
                username: &me.username,
                device_id: &me.device_id,
                space: &req.space,
                size: req.size,
            },
            state.files.quota_bytes,
            MAX_PENDING_UPLOADS,
            hush_core::now_ms(),
        )
        .await?;
    tracing::info!(username = %me.username, %upload_id, size = req.size, "upload started");
    Ok(Json(UploadStatus {
        upload_id,
        size: req.size,
        received: 0,
    }))
}

/// Query of `PUT /v1/uploads/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkQuery {
    /// Where the chunk starts; must be the upload's `received`.
    pub offset: u64,
}

/// Writes `bytes` at `at` in the part file, dropping anything past `at` first (a crash
/// may have left bytes that were never counted), and syncs them to disk.
fn write_part(path: &Path, at: u64, bytes: &[u8]) -> std::io::Result<()> {
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

/// `PUT /v1/uploads/{id}?offset=N` (raw body, at most [`UPLOAD_CHUNK_MAX`] bytes): the
/// next chunk of the caller's upload. `409` unless N is the upload's `received` (the
/// message names it), `400` past the declared size, `404` for anyone else's upload.
/// Answers the upload's status once the chunk is on disk.
pub async fn put_chunk(
    State(state): State<AppState>,
    PathParam(upload_id): PathParam,
    query: Result<Query<ChunkQuery>, QueryRejection>,
    authed: Authed,
) -> Result<Json<UploadStatus>, ApiError> {
    id_ok("an upload id", &upload_id)?;
    let Query(query) = query.map_err(|_| {
        ApiError::BadRequest("a chunk needs ?offset=N, where it starts in the file".into())
    })?;
    if authed.body.len() > UPLOAD_CHUNK_MAX {
        return Err(ApiError::FileTooLarge(format!(
            "a chunk is at most {}; this one is {}",
            human_bytes(UPLOAD_CHUNK_MAX as u64),
            human_bytes(authed.body.len() as u64)
        )));
    }
    let _lock = state.files.locks.lock(&upload_id).await;
    let mut upload = own_upload(&state, &upload_id, &authed.device, true)
        .await?
        .ok_or_else(no_such_upload)?;
    if query.offset != upload.received {
        return Err(ApiError::Conflict(format!(
            "this upload has {} bytes stored; send the rest from offset {}",
            upload.received, upload.received
        )));
    }
    let len = authed.body.len() as u64;
    let end = upload.received.saturating_add(len);
    if end > upload.size {
        return Err(ApiError::BadRequest(format!(
            "this chunk ends at byte {end}, past the upload's size of {} bytes",
            upload.size
        )));
    }
    if len > 0 {
        let path = state.files.part_path(&upload_id);
        let at = upload.received;
        let body = authed.body;
        tokio::task::spawn_blocking(move || write_part(&path, at, &body))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::io(format_args!("writing upload {upload_id}'s part file"), &e))?;
        state.store.set_received(&upload_id, end).await?;
        upload.received = end;
    }
    Ok(Json(status(&upload)))
}

/// `GET /v1/uploads/{id}`: how far the caller's upload got. A completed upload answers
/// `received == size` (so a client that lost the completion's answer can complete again);
/// `404` for an unknown upload or anyone else's. It takes no lock, so it answers at once
/// even while the upload is being completed.
pub async fn upload_status(
    State(state): State<AppState>,
    PathParam(upload_id): PathParam,
    authed: Authed,
) -> Result<Json<UploadStatus>, ApiError> {
    id_ok("an upload id", &upload_id)?;
    if let Some(upload) = own_upload(&state, &upload_id, &authed.device, false).await? {
        return Ok(Json(status(&upload)));
    }
    match state.store.blob(&upload_id).await? {
        Some(blob) if blob.owner == authed.device.username => Ok(Json(UploadStatus {
            upload_id,
            size: blob.size,
            received: blob.size,
        })),
        _ => Err(no_such_upload()),
    }
}

/// `POST /v1/uploads/{id}/complete`: turns the caller's fully received upload into a blob
/// (`400` saying how many bytes are missing otherwise). Completing a completed upload
/// answers the same again. The work runs in a task of its own, so a request that times
/// out or is dropped does not leave it half done.
pub async fn complete_upload(
    State(state): State<AppState>,
    PathParam(upload_id): PathParam,
    authed: Authed,
) -> Result<Json<BlobInfo>, ApiError> {
    id_ok("an upload id", &upload_id)?;
    let task = tokio::spawn(async move {
        let _lock = state.files.locks.lock(&upload_id).await;
        finish_upload(&state, &upload_id, &authed.device).await
    });
    task.await.map_err(ApiError::internal)?.map(Json)
}

async fn finish_upload(state: &AppState, upload_id: &str, me: &AuthedDevice) -> Result<BlobInfo, ApiError> {
    let Some(upload) = own_upload(state, upload_id, me, true).await? else {
        return match state.store.blob(upload_id).await? {
            Some(blob) if blob.owner == me.username => Ok(BlobInfo {
                blob_id: blob.blob_id,
                size: blob.size,
            }),
            _ => Err(no_such_upload()),
        };
    };
    if upload.received != upload.size {
        let missing = upload.size - upload.received;
        return Err(ApiError::BadRequest(format!(
            "this upload is missing {missing} of its {} bytes; send them from offset {} first",
            upload.size, upload.received
        )));
    }
    let part = state.files.part_path(upload_id);
    match &state.files.local_objects_dir {
        Some(dir) if upload.size > 0 => rename_into_objects(&part, dir, upload_id).await?,
        _ => copy_to_objects(&state.files, &part, upload_id, upload.size).await?,
    }
    let blob = state.store.finish_upload(upload_id, &me.username, hush_core::now_ms()).await?;
    match tokio::fs::remove_file(&part).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::error!(%upload_id, error = %e, "could not delete a finished upload's part file"),
    }
    tracing::info!(username = %me.username, blob_id = %upload_id, size = blob.size, "upload complete");
    Ok(BlobInfo {
        blob_id: blob.blob_id,
        size: blob.size,
    })
}

/// Moves a finished part file into the local object directory (its chunks were already
/// synced as they arrived): a rename and a directory sync, instead of a second copy.
async fn rename_into_objects(part: &Path, dir: &Path, blob_id: &str) -> Result<(), ApiError> {
    let (part, dir, target) = (part.to_path_buf(), dir.to_path_buf(), dir.join(blob_id));
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::File::open(&part)?.sync_all()?;
        std::fs::rename(&part, &target)?;
        std::fs::File::open(&dir)?.sync_all()
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::io(format_args!("storing blob {blob_id}"), &e))
}

/// Copies the first `size` bytes of the part file into the object store as `blob_id`,
/// holding at most a few parts in memory.
async fn copy_to_objects(files: &Files, part: &Path, blob_id: &str, size: u64) -> Result<(), ApiError> {
    let location = ObjectPath::from(blob_id);
    let failed = |e: &dyn std::fmt::Display| ApiError::internal(format!("storing blob {blob_id}: {e}"));
    if size == 0 {
        files.objects.put(&location, PutPayload::new()).await.map_err(|e| failed(&e))?;
        return Ok(());
    }
    let mut file = tokio::fs::File::open(part).await.map_err(|e| failed(&e))?;
    let upload = files.objects.put_multipart(&location).await.map_err(|e| failed(&e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let copied = async {
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
            file.read_exact(&mut buf[..want]).await.map_err(|e| failed(&e))?;
            writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(|e| failed(&e))?;
            writer.write(&buf[..want]);
            left -= want as u64;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    match copied {
        Ok(()) => writer.finish().await.map(|_| ()).map_err(|e| failed(&e)),
        Err(e) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(%blob_id, error = %abort, "could not abort a blob's partial write");
            }
            Err(e)
        }
    }
}

/// Query of `GET /v1/blobs/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobQuery {
    /// Where to start (default 0).
    pub offset: Option<u64>,
}

/// Reads `range` of a local file in chunks of [`SEND_CHUNK`] bytes, each on the blocking
/// pool.
fn file_stream(file: std::fs::File, range: Range<u64>) -> BoxStream<'static, std::io::Result<Bytes>> {
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

/// `GET /v1/blobs/{id}?offset=N`: the blob's bytes from N (default 0) to its end,
/// streamed. Readable by its owner and by whoever may use a space with a row that refers
/// to it; `404 no such file` to anyone else, as for a blob that does not exist.
pub async fn get_blob(
    State(state): State<AppState>,
    PathParam(blob_id): PathParam,
    query: Result<Query<BlobQuery>, QueryRejection>,
    authed: Authed,
) -> Result<Response, ApiError> {
    id_ok("a file id", &blob_id)?;
    let Query(query) = query.map_err(|_| ApiError::BadRequest("the only parameter is ?offset=N, a byte offset".into()))?;
    let me = &authed.device;
    let blob = state
        .store
        .readable_blob(&blob_id, &me.username, &me.device_id)
        .await?
        .ok_or_else(no_such_file)?;
    let offset = query.offset.unwrap_or(0);
    if offset > blob.size {
        return Err(ApiError::BadRequest(format!(
            "offset {offset} is past the end of this file, which has {} bytes",
            blob.size
        )));
    }
    let len = blob.size - offset;
    let body = if len == 0 {
        Body::empty()
    } else {
        let options = GetOptions {
            range: Some(GetRange::Offset(offset)),
            ..GetOptions::default()
        };
        let got = state
            .files
            .objects
            .get_opts(&ObjectPath::from(blob_id.as_str()), options)
            .await
            .map_err(|e| ApiError::internal(format!("reading blob {blob_id}: {e}")))?;
        if got.range != (offset..blob.size) {
            return Err(ApiError::internal(format!(
                "blob {blob_id} has {} bytes in the object store, {} in the database",
                got.meta.size, blob.size
            )));
        }
        match got.payload {
            GetResultPayload::File(file, _) => Body::from_stream(file_stream(file, got.range)),
            GetResultPayload::Stream(stream) => Body::from_stream(stream),
        }
    };
    let mut res = (StatusCode::OK, body).into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(res)
}

/// `GET /v1/spaces/{space}`: the space's signed state and rows (version 0, no state and
/// no rows if nothing was written), to whoever may use it.
pub async fn get_space(
    State(state): State<AppState>,
    PathParam(space): PathParam,
    authed: Authed,
) -> Result<Json<SpaceView>, ApiError> {
    space_access(&state.store, &space, &authed.device).await?;
    let stored = state.store.space(&space).await?;
    Ok(Json(SpaceView {
        version: stored.version,
        state: stored.state.map(B64),
        rows: stored
            .rows
            .into_iter()
            .map(|(entry_id, blobs, row)| SpaceRow {
                entry_id,
                blobs,
                row: B64(row),
            })
            .collect(),
    }))
}

/// `GET /v1/spaces/{space}/states?after=N`: the space's signed states after version N,
/// oldest first (at most [`hush_proto::MAX_SPACE_STATES`]), to whoever may use the space.
pub async fn get_space_states(
    State(state): State<AppState>,
    PathParam(space): PathParam,
    query: Result<Query<hush_proto::SpaceStatesQuery>, QueryRejection>,
    authed: Authed,
) -> Result<Json<hush_proto::SpaceStates>, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::BadRequest("this route needs ?after=N, the last version you hold".into()))?;
    space_access(&state.store, &space, &authed.device).await?;
    let states = state.store.space_states_after(&space, query.after, hush_proto::MAX_SPACE_STATES).await?;
    Ok(Json(hush_proto::SpaceStates { states: states.into_iter().map(B64).collect() }))
}

/// The largest sealed row (manifest) accepted.
const MAX_ROW_BYTES: usize = 64 * 1024;

/// Checks a space update's ids: every entry id and blob id 32 lowercase hex characters,
/// no entry put twice, none both put and deleted.
fn check_update(update: &SpaceUpdate) -> Result<(), ApiError> {
    if update.state.0.is_empty() {
        return Err(ApiError::BadRequest("the space's new state is empty".into()));
    }
    let mut put = BTreeSet::new();
    for row in &update.put {
        id_ok("an entry id", &row.entry_id)?;
        if !put.insert(row.entry_id.as_str()) {
            return Err(ApiError::BadRequest(format!("entry {} is put twice", row.entry_id)));
        }
        for blob_id in &row.blobs {
            id_ok("a file id", blob_id)?;
        }
        // A manifest is a few hundred bytes per kept version: rows are not a place to
        // store data outside the quota.
        if row.row.0.len() > MAX_ROW_BYTES {
            return Err(ApiError::BadRequest(format!(
                "entry {} is {} bytes; an entry's row may be at most {MAX_ROW_BYTES}",
                row.entry_id,
                row.row.0.len()
            )));
        }
    }
    for entry_id in &update.delete {
        id_ok("an entry id", entry_id)?;
        if put.contains(entry_id.as_str()) {
            return Err(ApiError::BadRequest(format!("entry {entry_id} is both put and deleted")));
        }
    }
    Ok(())
}

/// `POST /v1/spaces/{space}`: replaces the state and changes rows, if the space is still
/// at `expected_version` (`409 conflict` otherwise). A row may refer only to blobs the
/// writer can read (`403`). Blobs no row refers to any more are deleted, which frees their
/// owner's quota. Answers the new version.
pub async fn post_space(
    State(state): State<AppState>,
    PathParam(space): PathParam,
    authed: Authed,
) -> Result<Json<SpaceVersion>, ApiError> {
    let me = &authed.device;
    space_access(&state.store, &space, me).await?;
    let update: SpaceUpdate = parse_json(&authed.body)?;
    check_update(&update)?;
    let updated = state
        .store
        .update_space(
            &space,
            &SpaceChange {
                expected_version: update.expected_version,
                state: &update.state.0,
                put: &update.put,
                delete: &update.delete,
            },
            &me.username,
            &me.device_id,
            hush_core::now_ms(),
        )
        .await?;
    // After the commit: the database no longer knows these blobs.
    state.files.delete_objects(&updated.freed).await;
    tracing::info!(
        %space,
        version = updated.version,
        put = update.put.len(),
        deleted = update.delete.len(),
        freed = updated.freed.len(),
        by = %me.device_id,
        "space changed"
    );
    Ok(Json(SpaceVersion {
        version: updated.version,
    }))
}

/// `GET /v1/quota`: the caller's user's storage.
pub async fn get_quota(State(state): State<AppState>, authed: Authed) -> Result<Json<Quota>, ApiError> {
    let used = state.store.quota_used(&authed.device.username).await?;
    Ok(Json(Quota {
        used,
        limit: state.files.quota_bytes,
        max_upload: state.files.max_upload_bytes,
    }))
}

/// Forgets uploads started more than [`STALE_AFTER_MS`] ago (with their part files) and
/// blobs finished that long ago that no row ever referred to (with their bytes).
async fn sweep(store: &Store, files: &Files) -> Result<(), StoreError> {
    let before = hush_core::now_ms().saturating_sub(STALE_AFTER_MS);
    let mut uploads = 0_usize;
    for upload_id in store.stale_uploads(before).await? {
        let _lock = files.locks.lock(&upload_id).await;
        if store.forget_upload(&upload_id, before).await? {
            uploads += 1;
            match tokio::fs::remove_file(files.part_path(&upload_id)).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::error!(%upload_id, error = %e, "could not delete a stale upload's part file"),
            }
        }
    }
    let blobs = store.forget_unlinked_blobs(before).await?;
    files.delete_objects(&blobs).await;
    if uploads > 0 || !blobs.is_empty() {
        tracing::info!(uploads, blobs = blobs.len(), "forgot stale uploads and unused files");
    }
    Ok(())
}

/// Runs [`sweep`] now and every [`SWEEP_INTERVAL`] until shutdown.
pub(crate) async fn sweeper(store: Store, files: Arc<Files>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = sweep(&store, &files).await {
            tracing::error!(error = %e, "sweeping stale uploads failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(1), "1 byte");
        assert_eq!(human_bytes(1023), "1023 bytes");
        assert_eq!(human_bytes(1024), "1 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(16 * 1024 * 1024 * 1024), "16 GiB");
        assert_eq!(human_bytes(u64::MAX), "16 EiB");
    }
}

//! Resumable uploads: start one, send its chunks, ask how far it got, complete it (the
//! blob is then copied or renamed into the object store).

use std::path::Path;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use hush_core::display::human_bytes;
use hush_proto::{BlobInfo, UPLOAD_CHUNK_MAX, UploadStart, UploadStatus};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt as _, PutPayload, WriteMultipart};
use serde::Deserialize;
use tokio::io::AsyncReadExt as _;

use crate::blobs::{Files, PART_SIZE, PARTS_IN_FLIGHT, COPY_BUFFER, write_part};
use crate::limits::MAX_PENDING_UPLOADS;
use crate::state::AppState;
use crate::store::{NewUpload, UploadRow};
use super::error::ApiError;
use super::extract::{Authed, AuthedDevice, parse_json, PathParam};
use super::files::{space_access, id_ok, no_such_upload};

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

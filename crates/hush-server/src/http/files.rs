//! Files: blob downloads, spaces and quotas (the routes under `/v1/blobs`, `/v1/spaces`
//! and `/v1/quota`; the resumable uploads of `/v1/uploads` are in [`super::uploads`]).
//!
//! A blob is an opaque age file. It is uploaded in chunks of at most
//! [`hush_proto::UPLOAD_CHUNK_MAX`] bytes into a plain file `DATA_DIR/uploads/<id>.part` (each chunk
//! written at the offset the database says was reached, synced, and only then counted),
//! then copied, with bounded memory, into the object store (`DATA_DIR/blobs`, or any other
//! [`object_store::ObjectStore`]) under its id. Blobs count against their owner's quota from the moment
//! their upload starts until no row of any space refers to them any more.
//!
//! A space (`drive:USERNAME` or `conv:GROUP_ID_HEX`, see [`space_access`]) is a signed
//! state with a version and rows that refer to blobs; the server only checks access, that
//! a write was made against the current version, and that a row refers only to blobs the
//! writer can read. Everything in a space is ciphertext to it.
//!
//! Every route here is signed by a registered device. Operations on one upload are
//! serialized by a lock per upload id, so two requests never write the same part file at
//! once. A sweep at start and then every [`crate::limits::SWEEP_INTERVAL`] forgets uploads started more
//! than [`crate::limits::STALE_AFTER_MS`] ago and blobs finished that long ago that no row ever referred to.

use std::collections::BTreeSet;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use hush_proto::{B64, Quota, SpaceRow, SpaceUpdate, SpaceVersion, SpaceView};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, GetResultPayload};
use serde::Deserialize;

use crate::blobs::file_stream;
use crate::limits::MAX_ROW_BYTES;
use crate::state::AppState;
use crate::store::{SpaceChange, SpaceName, Store, is_lower_hex};
use super::error::{ApiError, shown};
use super::extract::{Authed, AuthedDevice, parse_json, PathParam};

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
pub(super) fn id_ok(what: &str, id: &str) -> Result<(), ApiError> {
    if id.len() == 32 && is_lower_hex(id) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!("{what} is 32 lowercase hex characters, not {}", shown(id))))
    }
}

/// The one answer for an upload that does not exist, finished, was forgotten, or is
/// another user's.
pub(super) fn no_such_upload() -> ApiError {
    ApiError::NotFound("no such upload; the server forgets unfinished uploads after a week".into())
}

/// The one answer for a blob that does not exist or that the caller can't read.
pub(super) fn no_such_file() -> ApiError {
    ApiError::NotFound("no such file".into())
}

/// Query of `GET /v1/blobs/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobQuery {
    /// Where to start (default 0).
    pub offset: Option<u64>,
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

//! Groups: create one, read the routing view, order commits, post messages.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use hush_core::identity::device_id_well_formed;
use hush_core::mls::{WireKind, inspect, inspect_welcome};
use hush_proto::{Accepted, CommitRequest, CreateGroupRequest, GroupInfo, MessageRequest};

use crate::limits::GROUP_ID_LEN;
use crate::state::AppState;
use crate::store::NewCommit;
use super::error::{ApiError, shown};
use super::extract::{Authed, PathParam, parse_json};

fn group_id_from_hex(hex_id: &str) -> Result<Vec<u8>, ApiError> {
    match hex::decode(hex_id) {
        Ok(id) if id.len() == GROUP_ID_LEN => Ok(id),
        _ => Err(ApiError::BadRequest(format!(
            "a conversation id in the path is {} hex characters",
            GROUP_ID_LEN * 2
        ))),
    }
}

/// `POST /v1/groups`: a new group with the caller as its only member.
pub async fn create_group(State(state): State<AppState>, authed: Authed) -> Result<Response, ApiError> {
    let req: CreateGroupRequest = parse_json(&authed.body)?;
    if req.group_id.0.len() != GROUP_ID_LEN {
        return Err(ApiError::BadRequest(format!(
            "a conversation id is {GROUP_ID_LEN} bytes, not {}",
            req.group_id.0.len()
        )));
    }
    let me = authed.device.device_id;
    state
        .store
        .create_group(&req.group_id.0, &me, hush_core::now_ms())
        .await?;
    let info = GroupInfo {
        epoch: 0,
        devices: vec![me],
    };
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// `GET /v1/groups/{group_id_hex}`: the routing view, for members only.
pub async fn get_group(
    State(state): State<AppState>,
    PathParam(group_hex): PathParam,
    authed: Authed,
) -> Result<Json<GroupInfo>, ApiError> {
    let group_id = group_id_from_hex(&group_hex)?;
    let view = state
        .store
        .group_for_member(&group_id, &authed.device.device_id)
        .await?;
    Ok(Json(GroupInfo {
        epoch: view.epoch,
        devices: view.devices,
    }))
}

fn check_device_list(what: &str, ids: &[String]) -> Result<(), ApiError> {
    for (i, id) in ids.iter().enumerate() {
        if !device_id_well_formed(id) {
            return Err(ApiError::BadRequest(format!("{what} contains {}, which is not a device id", shown(id))));
        }
        if ids[..i].contains(id) {
            return Err(ApiError::BadRequest(format!("{what} names device {id} twice")));
        }
    }
    Ok(())
}

/// `POST /v1/groups/{group_id_hex}/commit`: the first commit for the current epoch wins.
pub async fn commit(
    State(state): State<AppState>,
    PathParam(group_hex): PathParam,
    authed: Authed,
) -> Result<Json<Accepted>, ApiError> {
    let group_id = group_id_from_hex(&group_hex)?;
    let me = &authed.device.device_id;
    // Members only, before anything about the body is revealed.
    state.store.group_for_member(&group_id, me).await?;
    let req: CommitRequest = parse_json(&authed.body)?;
    let info = inspect(&req.commit.0).map_err(|e| ApiError::BadRequest(format!("the commit is not valid: {e}")))?;
    if info.kind != WireKind::Commit {
        return Err(ApiError::BadRequest(
            "this is not a commit; send application messages and proposals to /messages".into(),
        ));
    }
    if info.group_id != group_id {
        return Err(ApiError::BadRequest("the commit is for another conversation".into()));
    }
    if let Some(welcome) = &req.welcome {
        inspect_welcome(&welcome.0).map_err(|e| ApiError::BadRequest(format!("the welcome is not valid: {e}")))?;
    }
    check_device_list("added_devices", &req.added_devices)?;
    check_device_list("removed_devices", &req.removed_devices)?;
    match (&req.welcome, req.added_devices.is_empty()) {
        (None, false) => {
            return Err(ApiError::BadRequest("a commit that adds devices needs a welcome for them".into()));
        }
        (Some(_), true) => {
            return Err(ApiError::BadRequest("a welcome needs the devices it is for in added_devices".into()));
        }
        _ => {}
    }
    let delivered = state
        .store
        .commit(
            &NewCommit {
                group_id: &group_id,
                sender: me,
                epoch: info.epoch,
                commit: &req.commit.0,
                welcome: req.welcome.as_ref().map(|w| w.0.as_slice()),
                added: &req.added_devices,
                removed: &req.removed_devices,
            },
            &state.queues,
            hush_core::now_ms(),
        )
        .await?;
    state.notify(&delivered.recipients);
    Ok(Json(Accepted {
        message_id: delivered.message_id,
        epoch: delivered.epoch,
    }))
}

/// `POST /v1/groups/{group_id_hex}/messages`: an application message or a proposal made in
/// the group's current epoch.
pub async fn post_message(
    State(state): State<AppState>,
    PathParam(group_hex): PathParam,
    authed: Authed,
) -> Result<Json<Accepted>, ApiError> {
    let group_id = group_id_from_hex(&group_hex)?;
    let me = &authed.device.device_id;
    state.store.group_for_member(&group_id, me).await?;
    let req: MessageRequest = parse_json(&authed.body)?;
    let info = inspect(&req.message.0).map_err(|e| ApiError::BadRequest(format!("the message is not valid: {e}")))?;
    if info.kind == WireKind::Commit {
        return Err(ApiError::BadRequest("commits go to /commit, not /messages".into()));
    }
    if info.group_id != group_id {
        return Err(ApiError::BadRequest("the message is for another conversation".into()));
    }
    let delivered = state
        .store
        .post_message(&group_id, me, info.epoch, &req.message.0, &state.queues, hush_core::now_ms())
        .await?;
    state.notify(&delivered.recipients);
    Ok(Json(Accepted {
        message_id: delivered.message_id,
        epoch: delivered.epoch,
    }))
}

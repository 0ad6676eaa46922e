//! The inbox: read, acknowledge, and the push WebSocket.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use hush_proto::{AckRequest, InboxItem, InboxResponse, B64};
use serde::Deserialize;

use crate::limits::{MAX_ACK_IDS, DEFAULT_INBOX_LIMIT, MAX_INBOX_LIMIT, MAX_INBOX_PAGE_BYTES, WEBSOCKET_MAX_MESSAGE, WEBSOCKET_READ_BUFFER};
use crate::state::AppState;
use super::error::ApiError;
use super::extract::{Authed, parse_json, DISABLED};

/// Query of `GET /v1/inbox`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Only items with a larger id.
    pub after: Option<i64>,
    /// Page size.
    pub limit: Option<u32>,
}

/// `GET /v1/inbox?after=ID&limit=N`: the caller's items in order, at most `limit` and
/// [`MAX_INBOX_PAGE_BYTES`] of payload (a larger first item comes alone); messages older
/// than the time to live are not handed out.
pub async fn inbox(
    State(state): State<AppState>,
    query: Result<Query<InboxQuery>, QueryRejection>,
    authed: Authed,
) -> Result<Json<InboxResponse>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_INBOX_LIMIT).clamp(1, MAX_INBOX_LIMIT);
    let (rows, skipped) = state
        .store
        .inbox(
            &authed.device.device_id,
            query.after.unwrap_or(0),
            hush_core::now_ms().saturating_sub(state.queues.ttl_ms),
            limit,
            MAX_INBOX_PAGE_BYTES,
        )
        .await?;
    for _ in 0..skipped {
        state.metrics.unknown_inbox_row();
    }
    Ok(Json(InboxResponse {
        items: rows
            .into_iter()
            .map(|r| InboxItem {
                id: r.id,
                kind: r.kind,
                group_id: r.group_id.map(B64),
                sender_device: r.sender_device,
                payload: B64(r.payload),
                received_at: r.received_at,
            })
            .collect(),
    }))
}

/// `POST /v1/inbox/ack`: delete delivered items of the caller.
pub async fn ack(State(state): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    let req: AckRequest = parse_json(&authed.body)?;
    if req.ids.len() > MAX_ACK_IDS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_ACK_IDS} items can be acknowledged at once"
        )));
    }
    state.store.ack(&authed.device.device_id, &req.ids).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/ws`: a WebSocket that says `inbox` whenever the caller's inbox gets an item.
/// Past the per-device cap, the device's oldest socket is closed (see `crate::ws`).
pub async fn websocket(
    State(state): State<AppState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    authed: Authed,
) -> Result<Response, ApiError> {
    let upgrade = upgrade
        .map_err(|e| ApiError::BadRequest(e.body_text()))?
        .read_buffer_size(WEBSOCKET_READ_BUFFER)
        .max_message_size(WEBSOCKET_MAX_MESSAGE)
        .max_frame_size(WEBSOCKET_MAX_MESSAGE);
    let device_id = authed.device.device_id;
    // Subscribe now, so nothing that happens during the handshake is missed.
    let subscription = state.pushes.subscribe(&device_id);
    let shutdown = state.shutdown.clone();
    // Revoked between the signature check and the subscription: the revocation is gone
    // already. (Returning drops the subscription.)
    match state.store.device_key(&device_id).await? {
        None => return Err(ApiError::Unauthorized),
        Some(d) if d.disabled => return Err(ApiError::Forbidden(DISABLED.into())),
        Some(_) => {}
    }
    let open = state.metrics.websocket_opened();
    Ok(upgrade.on_upgrade(move |socket| async move {
        crate::ws::serve(socket, subscription, shutdown).await;
        drop(open);
    }))
}

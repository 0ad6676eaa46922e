//! Device linking (relay only: the server sees SPAKE2 messages, MACs, a public key and
//! a sealed bundle)
//!
//! The new device posts its SPAKE2 message under a selector (the public half of the code);
//! one existing device of the account answers it once, with its own message and a key
//! confirmation; the new device posts its key with a MAC; the existing device posts the
//! sealed bundle. The server enforces the order and that each step happens once: a wrong
//! code burns the request, so each request is one guess, and an account has at most
//! `MAX_PENDING_LINKS` open requests, each living `LINK_TTL_MS`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use hush_core::identity::PublicKey;
use hush_proto::{B64, LinkAnswer, LinkApproval, LinkCreated, LinkDevice, LinkRequest, LinkStatus, PendingLink, PendingLinks};

use crate::limits::{LINK_TTL_MS, MAX_PENDING_LINKS, MAX_LINK_BUNDLE, MAX_LINK_PAKE, LINK_SELECTOR_LEN, LINK_SELECTOR_ALPHABET};
use crate::state::AppState;
use crate::store::NewLink;
use super::error::ApiError;
use super::extract::{Authed, PathParam, parse_json};

fn link_id_ok(id: &str) -> Result<(), ApiError> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::BadRequest("a link id is 32 hex characters".into()))
    }
}

/// Checks one opaque field of the link protocol: 1 to [`MAX_LINK_PAKE`] bytes.
fn link_field_ok(what: &str, bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.is_empty() || bytes.len() > MAX_LINK_PAKE {
        return Err(ApiError::BadRequest(format!("{what} must be 1 to {MAX_LINK_PAKE} bytes")));
    }
    Ok(())
}

fn link_selector_ok(selector: &str) -> Result<(), ApiError> {
    if selector.len() == LINK_SELECTOR_LEN && selector.bytes().all(|b| LINK_SELECTOR_ALPHABET.as_bytes().contains(&b)) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "a link selector is {LINK_SELECTOR_LEN} characters from {LINK_SELECTOR_ALPHABET}"
        )))
    }
}

/// `POST /v1/link`: a new device asks to join an account (unauthenticated: it has no
/// certificate yet) with its SPAKE2 message. Answers a random id that is the capability to
/// follow the request.
pub async fn create_link(State(state): State<AppState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let req: LinkRequest = parse_json(&body)?;
    hush_core::username::validate(&req.username).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    link_selector_ok(&req.selector)?;
    link_field_ok("pake", &req.pake.0)?;
    let link_id = hush_core::auth::fresh_nonce();
    let now = hush_core::now_ms();
    state
        .store
        .create_link(
            &NewLink {
                link_id: &link_id,
                username: &req.username,
                selector: &req.selector,
                pake: &req.pake.0,
                expires_at: now.saturating_add(LINK_TTL_MS),
            },
            now,
            MAX_PENDING_LINKS,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(LinkCreated { link_id })).into_response())
}

/// `GET /v1/link`: the caller's account's requests that no device answered yet.
pub async fn pending_links(State(state): State<AppState>, authed: Authed) -> Result<Json<PendingLinks>, ApiError> {
    let rows = state.store.pending_links(&authed.device.username, hush_core::now_ms()).await?;
    Ok(Json(PendingLinks {
        requests: rows
            .into_iter()
            .map(|r| PendingLink {
                link_id: r.link_id,
                selector: r.selector,
                pake: B64(r.pake),
                created_at: r.created_at,
            })
            .collect(),
    }))
}

/// `POST /v1/link/{id}/answer`: a device of the account answers the request, once.
pub async fn answer_link(
    State(state): State<AppState>,
    PathParam(link_id): PathParam,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    link_id_ok(&link_id)?;
    let req: LinkAnswer = parse_json(&authed.body)?;
    link_field_ok("pake", &req.pake.0)?;
    link_field_ok("confirm", &req.confirm.0)?;
    state
        .store
        .answer_link(&link_id, &authed.device.username, &req.pake.0, &req.confirm.0, hush_core::now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/link/{id}/device` (unauthenticated; the id is the capability): the new
/// device's key and MAC, once, after the answer.
pub async fn link_device(
    State(state): State<AppState>,
    PathParam(link_id): PathParam,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    link_id_ok(&link_id)?;
    let req: LinkDevice = parse_json(&body)?;
    PublicKey::from_slice(&req.device_key.0)
        .map_err(|_| ApiError::BadRequest("device_key is not a valid Ed25519 public key".into()))?;
    link_field_ok("mac", &req.mac.0)?;
    state
        .store
        .link_device(&link_id, &req.device_key.0, &req.mac.0, hush_core::now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/link/{id}/approve`: a device of the account stores the sealed bundle, once,
/// after the new device's key.
pub async fn approve_link(
    State(state): State<AppState>,
    PathParam(link_id): PathParam,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    link_id_ok(&link_id)?;
    let req: LinkApproval = parse_json(&authed.body)?;
    if req.sealed.0.is_empty() || req.sealed.0.len() > MAX_LINK_BUNDLE {
        return Err(ApiError::BadRequest(format!(
            "the sealed bundle is empty or larger than {} KiB",
            MAX_LINK_BUNDLE / 1024
        )));
    }
    state
        .store
        .approve_link(&link_id, &authed.device.username, &req.sealed.0, hush_core::now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/link/{id}/fail` (unauthenticated; the id is the capability): either side gives
/// up on the request (a confirmation did not match); nothing more is accepted for it.
pub async fn fail_link(State(state): State<AppState>, PathParam(link_id): PathParam) -> Result<StatusCode, ApiError> {
    link_id_ok(&link_id)?;
    state.store.fail_link(&link_id, hush_core::now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/link/{id}` (unauthenticated; the id is the capability): everything posted so
/// far. The request stays until it expires.
pub async fn link_status(State(state): State<AppState>, PathParam(link_id): PathParam) -> Result<Json<LinkStatus>, ApiError> {
    link_id_ok(&link_id)?;
    let Some(link) = state.store.link_state(&link_id, hush_core::now_ms()).await? else {
        return Err(ApiError::NotFound("no such link request, or it expired".into()));
    };
    Ok(Json(LinkStatus {
        answer: link.answer.map(|(pake, confirm)| LinkAnswer {
            pake: B64(pake),
            confirm: B64(confirm),
        }),
        device: link.device.map(|(device_key, mac)| LinkDevice {
            device_key: B64(device_key),
            mac: B64(mac),
        }),
        sealed: link.sealed.map(B64),
        failed: link.failed,
    }))
}

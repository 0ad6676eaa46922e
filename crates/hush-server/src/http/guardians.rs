//! Guardian recovery (relay only: the server sees an HPKE key and sealed shares).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use hush_proto::{B64, GuardianRequest, GuardianRequestCreated, GuardianShares, PendingGuardianRequest, PendingGuardianRequests, SealedShare};
use serde::Deserialize;

use crate::limits::{GUARDIAN_REQUEST_TTL_MS, MAX_PENDING_GUARDIAN_REQUESTS, MAX_SEALED_SHARE};
use crate::state::AppState;
use crate::store::NewGuardianRequest;
use super::error::ApiError;
use super::extract::{Authed, PathParam, parse_json};

fn request_id_ok(id: &str) -> Result<(), ApiError> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::BadRequest("a guardian request id is 32 hex characters".into()))
    }
}

/// `POST /v1/guardian-requests` (unauthenticated: the device recovering the account has no
/// key of it yet): asks the account's guardians for their shares, sealed to `hpke_key`.
/// Answers a random id that is the capability to fetch them.
pub async fn create_guardian_request(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: GuardianRequest = parse_json(&body)?;
    hush_core::username::validate(&req.username).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if req.hpke_key.0.len() != 32 {
        return Err(ApiError::BadRequest("hpke_key is not a 32-byte X25519 public key".into()));
    }
    let request_id = hush_core::auth::fresh_nonce();
    let now = hush_core::now_ms();
    state
        .store
        .create_guardian_request(
            &NewGuardianRequest {
                request_id: &request_id,
                username: &req.username,
                hpke_key: &req.hpke_key.0,
                expires_at: now.saturating_add(GUARDIAN_REQUEST_TTL_MS),
            },
            now,
            MAX_PENDING_GUARDIAN_REQUESTS,
        )
        .await?;
    tracing::info!(username = %req.username, "guardian recovery requested");
    Ok((StatusCode::CREATED, Json(GuardianRequestCreated { request_id })).into_response())
}

/// Query of `GET /v1/guardian-requests`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardianRequestsQuery {
    /// The account whose requests are wanted.
    pub username: String,
}

/// `GET /v1/guardian-requests?username=U`: the unexpired requests for account U, to any
/// registered device (the server does not know who U's guardians are). An unknown user has
/// none.
pub async fn pending_guardian_requests(
    State(state): State<AppState>,
    query: Result<Query<GuardianRequestsQuery>, QueryRejection>,
    _authed: Authed,
) -> Result<Json<PendingGuardianRequests>, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::BadRequest("this route needs ?username=U, the account being recovered".into()))?;
    hush_core::username::validate(&query.username).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let rows = state
        .store
        .pending_guardian_requests(&query.username, hush_core::now_ms())
        .await?;
    Ok(Json(PendingGuardianRequests {
        requests: rows
            .into_iter()
            .map(|r| PendingGuardianRequest {
                request_id: r.request_id,
                hpke_key: B64(r.hpke_key),
                created_at: r.created_at,
            })
            .collect(),
    }))
}

/// `POST /v1/guardian-requests/{id}/shares`: a guardian device's share, sealed to the
/// request's HPKE key. One per device (`409`); not from the account being recovered (`403`).
pub async fn post_guardian_share(
    State(state): State<AppState>,
    PathParam(request_id): PathParam,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    request_id_ok(&request_id)?;
    let req: SealedShare = parse_json(&authed.body)?;
    if req.sealed.0.is_empty() || req.sealed.0.len() > MAX_SEALED_SHARE {
        return Err(ApiError::BadRequest(format!(
            "the sealed share is empty or larger than {} KiB",
            MAX_SEALED_SHARE / 1024
        )));
    }
    let me = &authed.device;
    state
        .store
        .add_guardian_share(&request_id, &me.username, &me.device_id, &req.sealed.0, hush_core::now_ms())
        .await?;
    tracing::info!(guardian = %me.username, device_id = %me.device_id, "guardian share stored");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/guardian-requests/{id}` (unauthenticated; the id is the capability): the sealed
/// shares posted so far, in the order they arrived.
pub async fn guardian_shares(
    State(state): State<AppState>,
    PathParam(request_id): PathParam,
) -> Result<Json<GuardianShares>, ApiError> {
    request_id_ok(&request_id)?;
    match state.store.guardian_shares(&request_id, hush_core::now_ms()).await? {
        Some(shares) => Ok(Json(GuardianShares {
            shares: shares.into_iter().map(B64).collect(),
        })),
        None => Err(ApiError::NotFound("no such guardian request, or it expired".into())),
    }
}

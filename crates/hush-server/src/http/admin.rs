//! The admin API served on the admin socket (`data_dir/admin.sock`): list, disable,
//! enable and delete users, figures, invitations.

use axum::extract::{Path as PathParam, State};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::error::ApiError;
use crate::admin::{InviteRequest, Invites, MAX_INVITES, Stats, UserChanged, invite_hash};
use crate::state::AppState;
use crate::store::{StoreError, UserOverview};

/// The admin API's routes.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/users", get(users))
        .route("/users/{username}/disable", post(disable))
        .route("/users/{username}/enable", post(enable))
        .route("/users/{username}/delete", post(delete_user))
        .route("/stats", get(stats))
        .route("/invites", post(invite))
        .fallback(super::error::not_found)
        .layer(axum::middleware::map_response(super::error::json_errors))
        .with_state(state)
}

async fn users(State(state): State<AppState>) -> Result<Json<Vec<UserOverview>>, ApiError> {
    Ok(Json(state.store.users_overview().await?))
}

async fn set_disabled(state: &AppState, username: &str, disabled: bool) -> Result<Json<UserChanged>, ApiError> {
    let devices = state
        .store
        .set_disabled(username, disabled, hush_core::now_ms())
        .await
        .map_err(|e| no_such_user(e, username))?;
    if disabled {
        // Their open WebSockets close, like a revoked device's.
        for d in &devices {
            state.revoked(d);
        }
    }
    tracing::info!(%username, disabled, "operator changed an account");
    Ok(Json(UserChanged { username: username.to_owned(), devices: devices.len() as u64, files: 0 }))
}

fn no_such_user(e: StoreError, username: &str) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::NotFound(format!("there is no user named {username} on this server")),
        other => other.into(),
    }
}

async fn disable(State(state): State<AppState>, PathParam(username): PathParam<String>) -> Result<Json<UserChanged>, ApiError> {
    set_disabled(&state, &username, true).await
}

async fn enable(State(state): State<AppState>, PathParam(username): PathParam<String>) -> Result<Json<UserChanged>, ApiError> {
    set_disabled(&state, &username, false).await
}

async fn delete_user(State(state): State<AppState>, PathParam(username): PathParam<String>) -> Result<Json<UserChanged>, ApiError> {
    let deleted = state
        .store
        .delete_user(&username, hush_core::now_ms())
        .await
        .map_err(|e| no_such_user(e, &username))?;
    for d in &deleted.devices {
        state.revoked(d);
    }
    state.files.delete_objects(&deleted.blobs).await;
    state.files.delete_parts(&deleted.uploads).await;
    // The tombstone is published now, like a registration.
    if let Err(e) = state.kt.publish_pending().await {
        tracing::error!(error = %e, "publishing a deleted account failed; the scheduled publish will retry");
    }
    tracing::info!(%username, devices = deleted.devices.len(), files = deleted.blobs.len(), "operator deleted an account");
    Ok(Json(UserChanged {
        username,
        devices: deleted.devices.len() as u64,
        files: deleted.blobs.len() as u64,
    }))
}

async fn stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    let stats = state.store.stats().await?;
    let directory_epoch = state.kt.latest_root().await?.epoch;
    Ok(Json(Stats { stats, directory_epoch }))
}

async fn invite(State(state): State<AppState>, Json(req): Json<InviteRequest>) -> Result<Json<Invites>, ApiError> {
    if req.count == 0 || req.count > MAX_INVITES {
        return Err(ApiError::BadRequest(format!("make between 1 and {MAX_INVITES} invitations at a time")));
    }
    let now = hush_core::now_ms();
    let ms = i64::try_from(req.expires_in_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let expires_at_ms = now.saturating_add(ms);
    // Hex: no character a shell or a command line reads as an option or a quote.
    let tokens: Vec<String> = (0..req.count).map(|_| hex::encode(rand::random::<[u8; 20]>())).collect();
    let hashes: Vec<[u8; 32]> = tokens.iter().map(|t| invite_hash(t)).collect();
    state.store.create_invites(&hashes, expires_at_ms, now).await?;
    tracing::info!(count = req.count, "operator made invitations");
    Ok(Json(Invites { tokens, expires_at_ms }))
}

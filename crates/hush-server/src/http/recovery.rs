//! Account backups (phrase and guardians) and recovery with the recovery auth key.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hush_core::identity::PublicKey;
use hush_proto::{B64, KtHistory, Backup, BackupUpload, RECOVERY_DEVICE};

use crate::limits::{MAX_BACKUP_BYTES, MAX_RECOVERY_FAILURES, RECOVERY_WINDOW_MS};
use crate::state::AppState;
use crate::store::{BackupSlot, NewBackup, StoreError};
use super::error::ApiError;
use super::extract::{Authed, SignedRequest, PathParam, guardian_recovery_nonce_scope, parse_json, recovery_nonce_scope};
use super::kt::{publish_now, proof_json};

/// `PUT /v1/backup`: the caller's account backup, sealed on the device, with the recovery
/// auth key that may fetch it. Its version must be above the stored one's (`409`).
pub async fn put_backup(State(state): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    store_backup(&state, BackupSlot::Phrase, authed).await
}

/// `PUT /v1/backup/guardians`: the caller's second backup, whose auth key is derived from
/// the secret its guardians hold shares of. The same rules as `PUT /v1/backup`, in a slot
/// of its own.
pub async fn put_guardian_backup(State(state): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    store_backup(&state, BackupSlot::Guardians, authed).await
}

/// Checks and stores a backup upload in `slot`.
async fn store_backup(state: &AppState, slot: BackupSlot, authed: Authed) -> Result<StatusCode, ApiError> {
    let upload: BackupUpload = parse_json(&authed.body)?;
    PublicKey::from_slice(&upload.auth_key.0)
        .map_err(|_| ApiError::BadRequest("auth_key is not a valid Ed25519 public key".into()))?;
    if upload.blob.0.is_empty() {
        return Err(ApiError::BadRequest("the backup is empty".into()));
    }
    if upload.blob.0.len() > MAX_BACKUP_BYTES {
        return Err(ApiError::TooLarge);
    }
    let version = i64::try_from(upload.version)
        .map_err(|_| ApiError::BadRequest(format!("backup version {} is out of range", upload.version)))?;
    let username = &authed.device.username;
    state
        .store
        .put_backup(
            slot,
            &NewBackup {
                username,
                auth_key: &upload.auth_key.0,
                version,
                blob: &upload.blob.0,
            },
            hush_core::now_ms(),
        )
        .await?;
    tracing::info!(%username, ?slot, version, bytes = upload.blob.0.len(), by = %authed.device.device_id, "stored account backup");
    // Commit it in the key directory now, so that a recovery can't be handed this
    // backup's predecessor.
    publish_now(state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/recovery/{username}`: the account's backup, to a request signed with its
/// recovery auth key (`x-hush-device: recovery`; nonces single-use per account). An
/// unknown user, no backup and a bad signature all answer the same `401`. Wrong attempts
/// are counted: after [`MAX_RECOVERY_FAILURES`] of them in an hour a wrong one is `429`.
/// The right key is always served, so strangers' guesses can't lock the owner out (and
/// guessing a 256-bit phrase online is hopeless anyway).
pub async fn recovery(
    State(state): State<AppState>,
    PathParam(username): PathParam,
    signed: SignedRequest,
) -> Result<Json<Backup>, ApiError> {
    fetch_backup(&state, BackupSlot::Phrase, &username, &signed).await
}

/// `GET /v1/recovery/{username}/guardians`: the account's guardian backup, to a request
/// signed (as `x-hush-device: recovery`) with that backup's auth key, exactly like
/// `GET /v1/recovery/{username}`, with nonces and failures counted apart from it.
pub async fn guardian_recovery(
    State(state): State<AppState>,
    PathParam(username): PathParam,
    signed: SignedRequest,
) -> Result<Json<Backup>, ApiError> {
    fetch_backup(&state, BackupSlot::Guardians, &username, &signed).await
}

/// The backup in `slot` to a request signed with its auth key; see [`recovery`].
async fn fetch_backup(
    state: &AppState,
    slot: BackupSlot,
    username: &str,
    signed: &SignedRequest,
) -> Result<Json<Backup>, ApiError> {
    if signed.device_id != RECOVERY_DEVICE || hush_core::username::validate(username).is_err() {
        return Err(ApiError::Unauthorized);
    }
    let scope = match slot {
        BackupSlot::Phrase => recovery_nonce_scope(username),
        BackupSlot::Guardians => guardian_recovery_nonce_scope(username),
    };
    // The right key is never refused: it proves the 256-bit phrase (or the guardians'
    // secret), so no count of strangers' failures may lock the owner out. Wrong attempts
    // are counted per account, and past the limit they get `429` instead of `401`.
    let checked = async {
        let stored = state.store.backup(slot, username).await?.ok_or(ApiError::Unauthorized)?;
        let key = PublicKey::from_slice(&stored.auth_key)
            .map_err(|e| ApiError::internal(format!("stored {slot:?} recovery auth key of {username}: {e}")))?;
        signed.verify_scoped(&key, &scope, state).await?;
        Ok::<_, ApiError>(stored)
    }
    .await;
    if let Err(ApiError::Unauthorized) = &checked {
        let now = hush_core::now_ms();
        let attempt = state
            .store
            .begin_recovery_attempt(slot, username, now, now.saturating_sub(RECOVERY_WINDOW_MS), MAX_RECOVERY_FAILURES)
            .await;
        if let Err(StoreError::TooMany(m, retry_after)) = attempt {
            tracing::warn!(%username, ?slot, "wrong recovery attempts rate-limited");
            return Err(ApiError::RateLimited { message: m.into(), retry_after });
        }
        attempt?;
    }
    match checked {
        Ok(stored) => {
            tracing::info!(%username, ?slot, version = stored.version, "account backup fetched for recovery");
            let prefix = match slot {
                BackupSlot::Phrase => hush_core::kt::PHRASE_BACKUP,
                BackupSlot::Guardians => hush_core::kt::GUARDIAN_BACKUP,
            };
            let history = match state.kt.history(&hush_core::kt::backup_name(prefix, username)).await {
                Ok((root, proof)) => Some(KtHistory { root: root.into(), proof: proof_json(&proof)? }),
                Err(e) => {
                    tracing::warn!(%username, ?slot, error = %e, "no key-directory record of this backup");
                    None
                }
            };
            Ok(Json(Backup {
                version: stored.version,
                blob: B64(stored.blob),
                history,
            }))
        }
        Err(ApiError::Unauthorized) => {
            tracing::info!(%username, ?slot, "failed recovery attempt");
            Err(ApiError::Unauthorized)
        }
        // The server's failure is no guess of the client's: not counted.
        Err(other) => Err(other),
    }
}

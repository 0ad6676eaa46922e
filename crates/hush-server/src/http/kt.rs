//! The key-transparency directory: info, lookup, history, audit (and publishing on demand).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use hush_proto::{B64, KtAudit, KtHistory, KtInfo, KtLookup};
use serde::Deserialize;

use crate::limits::MAX_AUDIT_EPOCHS;
use crate::state::AppState;
use super::error::ApiError;
use super::extract::{Authed, PathParam};

/// Publishes the change a register or add-device just stored, so the client can get a
/// proof of it at once. The change is already durable (and marked pending): if the publish
/// fails, the scheduled publisher retries, and the request still succeeds.
pub(super) async fn publish_now(state: &AppState) {
    if let Err(e) = state.kt.publish_pending().await {
        tracing::error!(error = %e, "on-demand key-directory publish failed; the scheduled one will retry");
    }
}

/// `GET /v1/kt/info` (unauthenticated): the VRF public key and the latest root.
pub async fn kt_info(State(state): State<AppState>) -> Result<Json<KtInfo>, ApiError> {
    let root = state.kt.latest_root().await?;
    let restores = state
        .store
        .restores()
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|r| hush_proto::KtRestore {
            generation: r.generation,
            epoch: r.epoch,
            backup_taken_at: r.backup_taken_at,
            restored_at: r.restored_at,
        })
        .collect();
    Ok(Json(KtInfo {
        vrf_public_key: B64(state.kt.vrf_public_key().to_vec()),
        root: root.into(),
        restores,
    }))
}

pub(super) fn proof_json<T: serde::Serialize>(proof: &T) -> Result<B64, ApiError> {
    serde_json::to_vec(proof).map(B64).map_err(ApiError::internal)
}

/// `GET /v1/kt/lookup/{username}`: a lookup proof at the latest epoch.
pub async fn kt_lookup(
    State(state): State<AppState>,
    PathParam(username): PathParam,
    _authed: Authed,
) -> Result<Json<KtLookup>, ApiError> {
    let (root, proof) = state.kt.lookup(&username).await?;
    Ok(Json(KtLookup {
        root: root.into(),
        proof: proof_json(&proof)?,
    }))
}

/// `GET /v1/kt/history/{username}`: the complete key history.
pub async fn kt_history(
    State(state): State<AppState>,
    PathParam(username): PathParam,
    _authed: Authed,
) -> Result<Json<KtHistory>, ApiError> {
    let (root, proof) = state.kt.history(&username).await?;
    Ok(Json(KtHistory {
        root: root.into(),
        proof: proof_json(&proof)?,
    }))
}

/// The query of `GET /v1/kt/audit`.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// First epoch.
    pub start: u64,
    /// Last epoch.
    pub end: u64,
}

/// `GET /v1/kt/audit?start=A&end=B` (unauthenticated): the root hashes of epochs A..=B and
/// the proof that the directory only grew between them.
pub async fn kt_audit(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<KtAudit>, ApiError> {
    let Query(q) = query.map_err(|_| {
        ApiError::BadRequest("an audit needs ?start=A&end=B, two epoch numbers with A < B".into())
    })?;
    if q.end.saturating_sub(q.start) > MAX_AUDIT_EPOCHS {
        return Err(ApiError::BadRequest(format!(
            "an audit spans at most {MAX_AUDIT_EPOCHS} epochs; split the range (each part's last hash is the next part's first)"
        )));
    }
    let (hashes, proof) = state.kt.audit(q.start, q.end).await?;
    Ok(Json(KtAudit {
        hashes: hashes.into_iter().map(|h| B64(h.to_vec())).collect(),
        proof: proof_json(&proof)?,
    }))
}

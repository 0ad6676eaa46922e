//! `GET /metrics` on the metrics address: the Prometheus text exposition of the request
//! counts and latencies kept by [`crate::metrics`], with figures from the database and the
//! key directory.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// `GET /metrics` on the metrics address: the text exposition.
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    let stats = match state.store.stats().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "reading figures for the metrics failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "the server can't read its database right now\n").into_response();
        }
    };
    let epoch = match state.kt.latest_root().await {
        Ok(root) => root.epoch as f64,
        Err(e) => {
            tracing::error!(error = %e, "reading the key-directory epoch for the metrics failed");
            f64::NAN
        }
    };
    let gauges = [
        ("hush_inbox_queued_messages", "Deliveries waiting in inboxes (one per message and recipient device).", stats.messages_queued as f64),
        ("hush_key_directory_epoch", "The key directory's latest published epoch.", epoch),
        ("hush_storage_bytes", "Bytes of finished files plus bytes received of unfinished uploads.", stats.storage_bytes as f64),
        ("hush_users", "Accounts.", stats.users as f64),
        ("hush_users_disabled", "Accounts the operator disabled.", stats.disabled_users as f64),
        ("hush_devices", "Devices not revoked.", stats.devices as f64),
    ];
    let body = state.metrics.encode(&gauges);
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

//! The HTTP API of version 1: [`router`] registers every endpoint of
//! [`hush_proto::endpoints`] by its path constant, one module per concern holds the
//! handlers. Each handler validates what it is given (answering 4xx with a sentence),
//! hands the store plain values, and wakes the devices that got mail once the store's
//! transaction has committed.

pub(crate) mod accounts;
pub(crate) mod admin;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod files;
pub(crate) mod groups;
pub(crate) mod guardians;
pub(crate) mod inbox;
pub(crate) mod key_packages;
pub(crate) mod kt;
pub(crate) mod links;
pub(crate) mod metrics;
pub(crate) mod recovery;
pub(crate) mod uploads;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse as _;
use axum::routing::{get, post, put};
use hush_proto::endpoints::{self as ep, Endpoint as _};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use self::error::ApiError;
use crate::config::ServerConfig;
use crate::limits::{BULK_REQUEST_TIMEOUT, SPACE_UPDATE_LIMIT, UPLOAD_BODY_LIMIT};
use crate::state::AppState;

/// Gives `router`'s routes their own body limit (both axum's, for extractors, and a layer
/// that refuses larger bodies before they are read) and timeout.
fn limited(router: Router<AppState>, max_body: usize, timeout: Duration) -> Router<AppState> {
    // Each layer wraps the ones above it: the last is the outermost.
    router
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
}

/// The API routes with their layers. Every route takes bodies up to `max_body_bytes` and
/// answers within `request_timeout`, except: a chunk of an upload (up to
/// [`hush_proto::UPLOAD_CHUNK_MAX`], with [`BULK_REQUEST_TIMEOUT`]), an upload's
/// completion (which copies the file, with the same timeout), and a space update (up to
/// [`SPACE_UPDATE_LIMIT`], or `max_body_bytes` if that is larger).
pub(crate) fn router(state: AppState, config: &ServerConfig) -> Router {
    let metrics = Arc::clone(&state.metrics);
    let sensitive = [HeaderName::from_static(hush_proto::HEADER_SIGNATURE), axum::http::header::AUTHORIZATION];
    let bulk_timeout = config.request_timeout.max(BULK_REQUEST_TIMEOUT);
    let api = Router::new()
        .route(ep::Health::PATH, get(accounts::health))
        .route(ep::Register::PATH, post(accounts::register))
        .route(ep::AddDevice::PATH, post(accounts::add_device))
        .route(ep::OwnDevicesList::PATH, get(accounts::own_devices))
        .route(ep::RevokeDevice::PATH, post(accounts::revoke_device))
        .route(ep::User::PATH, get(accounts::get_user))
        .route(ep::Claim::PATH, post(key_packages::claim_key_packages))
        .route(ep::UploadKeyPackages::PATH, post(key_packages::upload_key_packages))
        .route(ep::CountKeyPackages::PATH, get(key_packages::count_key_packages))
        .route(ep::CreateGroup::PATH, post(groups::create_group))
        .route(ep::Group::PATH, get(groups::get_group))
        .route(ep::Commit::PATH, post(groups::commit))
        .route(ep::PostMessage::PATH, post(groups::post_message))
        .route(ep::Inbox::PATH, get(inbox::inbox))
        .route(ep::Ack::PATH, post(inbox::ack))
        .route(ep::WebSocket::PATH, get(inbox::websocket))
        .route(ep::CreateLink::PATH, post(links::create_link))
        .route(ep::PendingLinksList::PATH, get(links::pending_links))
        .route(ep::Link::PATH, get(links::link_status))
        .route(ep::AnswerLink::PATH, post(links::answer_link))
        .route(ep::LinkNewDevice::PATH, post(links::link_device))
        .route(ep::ApproveLink::PATH, post(links::approve_link))
        .route(ep::FailLink::PATH, post(links::fail_link))
        .route(ep::KtInfoGet::PATH, get(kt::kt_info))
        .route(ep::KtLookupGet::PATH, get(kt::kt_lookup))
        .route(ep::KtHistoryGet::PATH, get(kt::kt_history))
        .route(ep::KtAuditGet::PATH, get(kt::kt_audit))
        .route(ep::PutBackup::PATH, put(recovery::put_backup))
        .route(ep::Recovery::PATH, get(recovery::recovery))
        .route(ep::PutGuardianBackup::PATH, put(recovery::put_guardian_backup))
        .route(ep::GuardianRecovery::PATH, get(recovery::guardian_recovery))
        .route(ep::CreateGuardianRequest::PATH, post(guardians::create_guardian_request))
        .route(ep::GuardianRequests::PATH, get(guardians::pending_guardian_requests))
        .route(ep::GuardianRequestShares::PATH, get(guardians::guardian_shares))
        .route(ep::PostGuardianShare::PATH, post(guardians::post_guardian_share))
        .route(ep::StartUpload::PATH, post(uploads::start_upload))
        .route(ep::Upload::PATH, get(uploads::upload_status))
        .route(ep::Blob::PATH, get(files::get_blob))
        .route(ep::Space::PATH, get(files::get_space))
        .route(ep::SpaceStatesGet::PATH, get(files::get_space_states))
        .route(ep::QuotaGet::PATH, get(files::get_quota))
        .route(ep::OpenApiGet::PATH, get(openapi));
    let api = limited(api, config.max_body_bytes, config.request_timeout);
    let chunks = Router::new().route(ep::PutChunk::PATH, put(uploads::put_chunk));
    let chunks = limited(chunks, UPLOAD_BODY_LIMIT, bulk_timeout);
    let complete = Router::new().route(ep::CompleteUpload::PATH, post(uploads::complete_upload));
    let complete = limited(complete, config.max_body_bytes, bulk_timeout);
    let spaces = Router::new().route(ep::UpdateSpace::PATH, post(files::post_space));
    let spaces = limited(spaces, SPACE_UPDATE_LIMIT.max(config.max_body_bytes), config.request_timeout);
    api.merge(chunks)
        .merge(complete)
        .merge(spaces)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        // Each layer wraps the ones above it: the last is the outermost.
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        .layer(axum::middleware::from_fn(media_type))
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new(sensitive))
        .layer(axum::middleware::from_fn_with_state(state.clone(), by_address))
        .layer(axum::middleware::from_fn_with_state(metrics, crate::metrics::access_log))
        .with_state(state)
}

/// `GET /v1/openapi.json`: the API's OpenAPI document (`hush_proto::openapi`), built once.
async fn openapi() -> axum::response::Response {
    static DOCUMENT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| hush_proto::openapi::document().to_json().unwrap_or_default());
    ([(axum::http::header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str()).into_response()
}

/// The client's address: the peer, or, behind a proxy (`--behind-tls-proxy`, or any peer
/// on this machine, like nginx on loopback), the last address of `X-Forwarded-For` (the
/// one the proxy added). `None` when neither is known (a router driven without a socket),
/// and for a peer on this machine that names no other address.
pub(crate) fn client_address(state: &AppState, req: &axum::http::request::Parts) -> Option<std::net::IpAddr> {
    let peer = req.extensions.get::<axum::extract::ConnectInfo<crate::rate::Peer>>().map(|c| c.0.0.ip());
    if (state.forwarded_for || peer.is_some_and(|p| p.is_loopback()))
        && let Some(ip) = req
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .next_back()
    {
        return Some(ip);
    }
    // This machine naming no one else: the operator's own tools (and the tests); not
    // limited per address.
    peer.filter(|p| !p.is_loopback())
}

/// The rate limits per address (`rate`): every request that names no device (or names
/// `recovery`) counts against its address, and so does each knock at a door anyone can
/// open (register, link, guardian request, recovery), with its own, smaller budget.
async fn by_address(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use crate::rate::Door;
    let (parts, body) = req.into_parts();
    if let Some(ip) = client_address(&state, &parts) {
        let device = parts.headers.get(hush_proto::HEADER_DEVICE).and_then(|v| v.to_str().ok());
        let path = parts.uri.path();
        let post = parts.method == axum::http::Method::POST;
        let mut doors = Vec::with_capacity(2);
        if device.is_none_or(|d| d == hush_proto::RECOVERY_DEVICE) {
            doors.push((Door::Anonymous, "requests"));
        }
        if post && path == ep::Register::PATH {
            doors.push((Door::Register, "registrations"));
        } else if post && path == ep::CreateLink::PATH {
            doors.push((Door::Link, "device links"));
        } else if post && path == ep::CreateGuardianRequest::PATH {
            doors.push((Door::GuardianRequest, "guardian requests"));
        } else if path.starts_with("/v1/recovery/") {
            doors.push((Door::Recovery, "recovery attempts"));
        }
        for (door, what) in doors {
            if let Err(wait) = state.rate.address(door, ip) {
                tracing::info!(%ip, ?door, "rate-limited");
                return ApiError::slow_down(what, wait).into_response();
            }
        }
    }
    next.run(axum::extract::Request::from_parts(parts, body)).await
}

/// Every body says what it is: JSON on every route but an upload chunk, which is raw bytes
/// (`application/octet-stream`). A body with no `Content-Type` or another one is refused
/// with `415` before it is read. Requests without a body are not checked.
async fn media_type(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::header;
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    // Only a route that exists with this method: any other answers 404 or 405 as usual.
    let route = req.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str()).and_then(|path| {
        ep::ALL.iter().find(|(method, template)| method.as_str() == req.method().as_str() && *template == path)
    });
    if has_body && let Some((_, template)) = route {
        let chunk = req.method() == axum::http::Method::PUT && *template == ep::PutChunk::PATH;
        let wanted = if chunk { "application/octet-stream" } else { "application/json" };
        // The media type's essence: parameters (`; charset=utf-8`) and case don't matter.
        let given = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
        if given.as_deref() != Some(wanted) {
            let what = given.map_or_else(|| "no Content-Type".to_owned(), |g| format!("Content-Type {}", error::shown(&g)));
            return ApiError::UnsupportedMediaType(format!("this route takes a body of type {wanted}, not one with {what}"))
                .into_response();
        }
    }
    next.run(req).await
}

//! The server's one error type and the one place it becomes an HTTP answer (a leaf of
//! `http`: it imports no handler).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hush_proto::{ErrorBody, codes};

use hush_core::display::human_bytes;

pub use crate::limits::shown;
use crate::limits::bounded;
use crate::kt::KtError;
use crate::limits::QUEUE_RETRY_AFTER_SECS;
use crate::storage_trouble::{is_db_storage_trouble, is_storage_trouble};
use crate::store::StoreError;

/// Every way a request can fail. Client mistakes carry a sentence for the person; internal
/// failures carry detail for the log only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body or a parameter is malformed or breaks a rule.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than the server accepts.
    #[error("the request body is too large")]
    TooLarge,
    /// A file (or a chunk of one) larger than the server accepts; the sentence names both
    /// sizes.
    #[error("{0}")]
    FileTooLarge(String),
    /// Storing this would take the user past their storage quota.
    #[error("{0}")]
    QuotaExceeded(String),
    /// Missing or invalid signature, a timestamp too far from the server's clock, a nonce
    /// seen before, or an unknown or revoked device. Deliberately one answer for all of them:
    /// a 401 tells a prober nothing about which check failed. (A client whose clock is off
    /// finds out from the answer's `Date` header.)
    #[error("the request is not signed by a known device, or its signature, time or nonce is not valid")]
    Unauthorized,
    /// The body is not in the media type the route takes; the sentence names the one it
    /// takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The device may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not with this method.
    #[error("this route does not accept this method")]
    MethodNotAllowed,
    /// Registering a username that exists.
    #[error("this username is taken; pick another")]
    UsernameTaken,
    /// A message or commit for an epoch that is not the group's current one.
    #[error("another change to this conversation was accepted first; catch up and retry")]
    StaleEpoch,
    /// Creating something that exists.
    #[error("{0}")]
    Conflict(String),
    /// Over a rate limit or a limit of pending things (`429`): the sentence, and the seconds
    /// until a request may pass again (sent as `Retry-After`).
    #[error("{message}")]
    RateLimited {
        /// The sentence.
        message: String,
        /// Seconds until a request passes again (at least 1 on the wire).
        retry_after: u64,
    },
    /// Storing this would take a recipient device's inbox past its cap, or the sender past
    /// their quota of waiting bytes: `429` with `Retry-After`; the code tells which.
    #[error("{1}")]
    Queue(&'static str, String),
    /// The request took longer than the server allows.
    #[error("the request took too long")]
    Timeout,
    /// The server's storage can't take writes right now (read-only, full, or an I/O
    /// error): `503`, the client may try again later. The detail goes to the log.
    #[error("the server can't write to its storage right now; try again later")]
    Unavailable(String),
    /// The server failed; the detail goes to the log, never to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// An internal error from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    /// An I/O error of the server's own storage: [`ApiError::Unavailable`] when the storage
    /// can't take writes (read-only, full, not permitted), else internal.
    pub fn io(context: impl std::fmt::Display, e: &std::io::Error) -> Self {
        if is_storage_trouble(e) {
            ApiError::Unavailable(format!("{context}: {e}"))
        } else {
            ApiError::Internal(format!("{context}: {e}"))
        }
    }

    /// The error a bare status stands for, used to give a JSON body to answers made by
    /// layers that know only a status (body limit, timeout, method routing).
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
            StatusCode::FORBIDDEN => ApiError::Forbidden("this is not allowed".into()),
            StatusCode::NOT_FOUND => ApiError::NotFound("no such route".into()),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => ApiError::Timeout,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType("this route does not take a body of this type".into()),
            StatusCode::CONFLICT => ApiError::Conflict("this conflicts with what the server holds".into()),
            StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(format!("a layer answered {status}")),
            StatusCode::TOO_MANY_REQUESTS => ApiError::RateLimited {
                message: "too many requests; try again later".into(),
                retry_after: DEFAULT_RETRY_AFTER_SECS,
            },
            s if s.is_client_error() => ApiError::BadRequest(
                s.canonical_reason()
                    .map_or_else(|| "the request is not valid".to_owned(), |r| format!("the request is not valid: {}", r.to_lowercase())),
            ),
            s => ApiError::Internal(format!("a layer answered {s}")),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, codes::BAD_REQUEST),
            ApiError::TooLarge | ApiError::FileTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, codes::TOO_LARGE),
            ApiError::QuotaExceeded(_) => (StatusCode::FORBIDDEN, codes::QUOTA_EXCEEDED),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, codes::UNSUPPORTED_MEDIA_TYPE),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, codes::FORBIDDEN),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, codes::NOT_FOUND),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, codes::BAD_REQUEST),
            ApiError::UsernameTaken => (StatusCode::CONFLICT, codes::USERNAME_TAKEN),
            ApiError::StaleEpoch => (StatusCode::CONFLICT, codes::STALE_EPOCH),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, codes::CONFLICT),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMITED),
            ApiError::Queue(code, _) => (StatusCode::TOO_MANY_REQUESTS, code),
            ApiError::Timeout => (StatusCode::REQUEST_TIMEOUT, codes::TIMEOUT),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UsernameTaken => ApiError::UsernameTaken,
            StoreError::Conflict(m) => ApiError::Conflict(m.into()),
            StoreError::NotFound(m) => ApiError::NotFound(m.into()),
            StoreError::Forbidden(m) => ApiError::Forbidden(m.into()),
            StoreError::NotMember => ApiError::Forbidden(e.to_string()),
            StoreError::StaleEpoch { .. } => ApiError::StaleEpoch,
            StoreError::Invalid(m) => ApiError::BadRequest(m),
            StoreError::TooMany(m, retry_after) => ApiError::RateLimited { message: m.into(), retry_after },
            StoreError::Denied(m) => ApiError::Forbidden(m),
            StoreError::Quota { needed, used, quota } => ApiError::QuotaExceeded(format!(
                "this upload needs {} but only {} of your {} quota is left",
                human_bytes(needed),
                human_bytes(quota.saturating_sub(used)),
                human_bytes(quota)
            )),
            StoreError::QueueFull { .. } => {
                ApiError::Queue(codes::QUEUE_FULL, format!("{e}; try again once it has fetched its messages"))
            }
            StoreError::QueueQuota { needed, used, quota } => ApiError::Queue(
                codes::QUEUE_QUOTA_EXCEEDED,
                format!(
                    "your messages waiting for delivery take {} of the {} the server keeps for one user, too much to add {}; try again once their recipients have fetched them",
                    human_bytes(used),
                    human_bytes(quota),
                    human_bytes(needed)
                ),
            ),
            StoreError::Db(e) if is_db_storage_trouble(&e) => ApiError::Unavailable(format!("database: {e}")),
            StoreError::Db(e) => ApiError::Internal(format!("database: {e}")),
        }
    }
}

impl From<KtError> for ApiError {
    fn from(e: KtError) -> Self {
        match e {
            KtError::NotFound(m) => ApiError::NotFound(m),
            KtError::BadRange(m) => ApiError::BadRequest(m),
            KtError::Storage(m) => ApiError::Unavailable(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// The one mapping from [`ApiError`] to an HTTP answer: status + JSON [`ErrorBody`].
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "the server failed; try again later".to_owned()
            }
            ApiError::Unavailable(detail) => {
                tracing::error!(error = %detail, "storage can't take writes");
                self.to_string()
            }
            other => bounded(other.to_string()),
        };
        let body = ErrorBody {
            error: code.to_owned(),
            message,
        };
        // Serializing two strings can't fail; fall back to a fixed body if it ever did.
        let json = serde_json::to_vec(&body)
            .unwrap_or_else(|_| br#"{"error":"internal","message":"the server failed"}"#.to_vec());
        let mut res = (status, json).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // Every 429 says when to come back.
        match &self {
            ApiError::RateLimited { retry_after, .. } => {
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from((*retry_after).max(1)));
            }
            ApiError::Queue(..) => {
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(QUEUE_RETRY_AFTER_SECS));
            }
            _ => {}
        }
        res
    }
}

/// `Retry-After` of a 429 that names no time of its own (made by a layer).
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 60;

/// Response middleware: gives a JSON [`ErrorBody`] to any error answer that lacks one
/// (made by a layer or by axum itself: body limit, timeout, unknown method).
pub async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let mut fixed = ApiError::from_status(status).into_response();
        // Keep the status (e.g. 405's Allow header matters less than the code staying put).
        *fixed.status_mut() = status;
        if let Some(allow) = res.headers().get(header::ALLOW) {
            fixed.headers_mut().insert(header::ALLOW, allow.clone());
        }
        if let Some(retry_after) = res.headers().get(header::RETRY_AFTER) {
            fixed.headers_mut().insert(header::RETRY_AFTER, retry_after.clone());
        }
        return fixed;
    }
    // Every 429 says when to come back, whoever made it.
    let mut res = res;
    if status == StatusCode::TOO_MANY_REQUESTS && !res.headers().contains_key(header::RETRY_AFTER) {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(DEFAULT_RETRY_AFTER_SECS));
    }
    res
}

/// Any unknown route.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// A known route with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

impl ApiError {
    /// The answer to a request over a rate limit (`rate`).
    pub(crate) fn slow_down(what: &str, wait: std::time::Duration) -> ApiError {
        let retry_after = crate::rate::retry_after_secs(wait);
        ApiError::RateLimited { message: format!("too many {what} from here; try again in {retry_after} s"), retry_after }
    }
}

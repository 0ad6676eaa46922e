//! How the app answers a failure: a status, a kind the page acts on, and the library's
//! sentence. A mistake of the person is a 4xx; the server misbehaving is a 502 and also an
//! alert (`chats::record_misbehaviour`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hush_client::{ApiError, ClientError};

/// A failed request, as the page sees it: `{"error": sentence, "kind": kind}`.
#[derive(Debug)]
pub(crate) struct UiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

/// What a route returns.
pub(crate) type Reply = Result<Json<serde_json::Value>, UiError>;

impl UiError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> UiError {
        UiError { status, kind, message: message.into() }
    }

    pub(crate) fn usage(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::BAD_REQUEST, "usage", message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn session() -> UiError {
        UiError::new(
            StatusCode::UNAUTHORIZED,
            "session",
            "no session: open the address `hush ui` printed (it carries a one-time key)",
        )
    }

    pub(crate) fn locked() -> UiError {
        UiError::new(StatusCode::LOCKED, "locked", "the account is not open yet: unlock it with your passphrase")
    }

    /// The sentence.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn conflict(kind: &'static str, message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::CONFLICT, kind, message)
    }
}

impl From<ClientError> for UiError {
    fn from(e: ClientError) -> UiError {
        let message = hush_core::display::escape(&e.to_string()).into_owned();
        let (status, kind) = match &e {
            e if e.is_server_misbehaviour() => (StatusCode::BAD_GATEWAY, "server"),
            ClientError::KeyChanged { .. } | ClientError::VerifiedKeyChanged { .. } => (StatusCode::CONFLICT, "key_changed"),
            ClientError::Api(ApiError::Unreachable { .. } | ApiError::LiveConnection { .. }) => (StatusCode::BAD_GATEWAY, "unreachable"),
            ClientError::Api(ApiError::Refused { status, .. }) if *status < 500 => (StatusCode::BAD_REQUEST, "usage"),
            ClientError::Api(_) => (StatusCode::BAD_GATEWAY, "unreachable"),
            ClientError::Contended(_) => (StatusCode::CONFLICT, "usage"),
            e if e.is_usage() => (StatusCode::BAD_REQUEST, "usage"),
            ClientError::Refused(_) | ClientError::BadDevice { .. } => (StatusCode::CONFLICT, "usage"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        UiError { status, kind, message }
    }
}

impl From<anyhow::Error> for UiError {
    fn from(e: anyhow::Error) -> UiError {
        match e.downcast::<ClientError>() {
            Ok(c) => c.into(),
            Err(e) => UiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({"error": self.message, "kind": self.kind}))).into_response()
    }
}

/// An empty success.
pub(crate) fn done() -> Reply {
    Ok(Json(serde_json::json!({})))
}

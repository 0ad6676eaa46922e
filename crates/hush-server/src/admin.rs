//! The operator's commands (`hush server users`, `disable`, `enable`, `delete-user`,
//! `stats`, `invite`), served by the running server on a Unix socket in its data directory,
//! `DATA_DIR/admin.sock` (mode 0600: whoever may use it may read the data directory
//! anyway). It speaks HTTP/1.1 with JSON bodies; [`call`] is its client.
//!
//! The socket exists only while a server runs: it is removed at shutdown, and a stale one
//! left by a crash is replaced at start (the data directory's lock proves no other server
//! uses it).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use hush_proto::fsio::io_reason;

pub use crate::store::{ServerStats, UserOverview};

/// Name of the admin socket inside the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";

/// Most invitations one command makes.
pub const MAX_INVITES: u32 = 1000;

/// `POST /invites`: make invitations.
#[derive(Debug, Serialize, Deserialize)]
pub struct InviteRequest {
    /// How many (1 to [`MAX_INVITES`]).
    pub count: u32,
    /// How long each stays valid, in seconds.
    pub expires_in_secs: u64,
}

/// The invitations made: single-use tokens to hand to new users.
#[derive(Debug, Serialize, Deserialize)]
pub struct Invites {
    /// The tokens (the server keeps only their SHA-256).
    pub tokens: Vec<String>,
    /// When they expire (ms since the epoch).
    pub expires_at_ms: i64,
}

/// What disabling, enabling or deleting an account touched.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserChanged {
    /// The account.
    pub username: String,
    /// Its devices (not revoked).
    pub devices: u64,
    /// Files deleted with it (deletion only).
    pub files: u64,
}

/// `GET /stats`: the server's figures and its key directory's epoch.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stats {
    /// Figures from the database.
    #[serde(flatten)]
    pub stats: ServerStats,
    /// The key directory's latest published epoch.
    pub directory_epoch: u64,
}

/// The SHA-256 of an invitation token, the only form the server keeps.
pub(crate) fn invite_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

/// Binds the admin socket in `data_dir`, replacing a stale one, readable and writable by
/// the server's user only.
pub(crate) fn bind(data_dir: &Path) -> std::io::Result<(tokio::net::UnixListener, PathBuf)> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = data_dir.join(ADMIN_SOCKET);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = tokio::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok((listener, path))
}

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No server runs on this data directory.
    #[error("no hush server is running on {} (it has no admin socket); start it with `hush server --data {}`", dir.display(), dir.display())]
    NotRunning {
        /// The data directory.
        dir: PathBuf,
    },
    /// The server refused the command; its sentence.
    #[error("{0}")]
    Refused(String),
    /// Talking to the server failed.
    #[error("the server's admin socket {}: {reason}", path.display())]
    Failed {
        /// The socket.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Sends one admin request to the server running on `data_dir` and returns its JSON
/// answer. `method` is `GET` or `POST`; `body` is sent as JSON.
pub async fn call(data_dir: &Path, method: &str, path: &str, body: Option<&serde_json::Value>) -> Result<serde_json::Value, AdminError> {
    let socket = data_dir.join(ADMIN_SOCKET);
    let failed = |reason: String| AdminError::Failed { path: socket.clone(), reason };
    let mut stream = match tokio::net::UnixStream::connect(&socket).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Err(AdminError::NotRunning { dir: data_dir.to_owned() });
        }
        Err(e) => return Err(failed(io_reason(&e))),
    };
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: hush-admin\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| failed(io_reason(&e)))?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.map_err(|e| failed(io_reason(&e)))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| failed("the answer has no header end".into()))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| failed("the answer has no status".into()))?;
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return Err(failed("the answer is chunked, which this client does not read".into()));
    }
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| failed(format!("the answer is not JSON: {e}")))?;
    if (200..300).contains(&status) {
        Ok(value)
    } else {
        let message = value["message"].as_str().unwrap_or("the server refused the command").to_owned();
        Err(AdminError::Refused(message))
    }
}

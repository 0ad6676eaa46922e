//! How the server is configured ([`ServerConfig`], [`Registration`]) and why it could not
//! start or stopped ([`ServerError`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use hush_proto::fsio::io_reason;

use crate::limits::{MAX_WEBSOCKETS_PER_DEVICE, WEBSOCKET_PING_EVERY, WEBSOCKET_PONG_DEADLINE};
use crate::{kt, tls};

/// Bytes in a gibibyte.
const GIB: u64 = 1024 * 1024 * 1024;

/// Where and how the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory for the database (created if missing).
    pub data_dir: PathBuf,
    /// Largest request body accepted, in bytes (default 1 MiB).
    pub max_body_bytes: usize,
    /// Longest a request may take (default 30 s).
    pub request_timeout: Duration,
    /// How often the key directory publishes users whose value changed but was not
    /// published on demand (default 60 s). Nothing pending, nothing published.
    pub kt_publish_interval: Duration,
    /// Largest file (blob) one upload may declare, in bytes (default 16 GiB). Larger ones
    /// are refused with `413 too_large` when the upload starts.
    pub max_upload_bytes: u64,
    /// Storage each user may hold, in bytes (default 64 GiB): their finished files plus
    /// their unfinished uploads. An upload that would pass it is refused with
    /// `403 quota_exceeded`.
    pub quota_bytes: u64,
    /// Who may create an account (default [`Registration::Open`]).
    pub registration: Registration,
    /// Where to serve Prometheus metrics (`GET /metrics`), apart from the API; `None`
    /// (the default) serves none.
    pub metrics_listen: Option<SocketAddr>,
    /// Terminate TLS with this certificate and key (reloaded when the files change);
    /// `None` (the default) serves plain HTTP, for a TLS proxy in front.
    pub tls: Option<tls::TlsFiles>,
    /// Most push WebSockets one device may hold open (default
    /// [`MAX_WEBSOCKETS_PER_DEVICE`]); one more closes the device's oldest.
    pub max_websockets_per_device: usize,
    /// How often each push WebSocket is pinged (default [`WEBSOCKET_PING_EVERY`]).
    pub websocket_ping_every: Duration,
    /// A push WebSocket that sends nothing this long after a ping is closed (default
    /// [`WEBSOCKET_PONG_DEADLINE`]).
    pub websocket_pong_deadline: Duration,
}

/// Who may create an account on the server. Linking a new device to an existing account
/// is not registration and works under every policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone.
    #[default]
    Open,
    /// Whoever has an invitation token from the operator (`hush server invite`), once per
    /// token.
    Invite,
    /// Nobody.
    Closed,
}

impl std::str::FromStr for Registration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(Registration::Open),
            "invite" => Ok(Registration::Invite),
            "closed" => Ok(Registration::Closed),
            _ => Err(format!("\"{s}\" is not a registration policy; use open, invite or closed")),
        }
    }
}

impl std::fmt::Display for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Registration::Open => "open",
            Registration::Invite => "invite",
            Registration::Closed => "closed",
        })
    }
}

impl ServerConfig {
    /// A configuration with default limits.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        ServerConfig {
            listen,
            data_dir,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            kt_publish_interval: Duration::from_secs(60),
            max_upload_bytes: 16 * GIB,
            quota_bytes: 64 * GIB,
            registration: Registration::Open,
            metrics_listen: None,
            tls: None,
            max_websockets_per_device: MAX_WEBSOCKETS_PER_DEVICE,
            websocket_ping_every: WEBSOCKET_PING_EVERY,
            websocket_pong_deadline: WEBSOCKET_PONG_DEADLINE,
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The data directory could not be created.
    #[error("can't create the data directory {}: {}", path.display(), io_reason(source))]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("can't open the database {}: {source}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: sqlx::Error,
    },
    /// The blob store could not be opened.
    #[error("can't open the file store in {}: {reason}", path.display())]
    Blobs {
        /// Its directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another process (a running hush server) holds the data directory's lock.
    #[error("another hush server is already using {}", path.display())]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// The data directory does not take writes (read-only, full, not permitted).
    #[error("the data directory {} is not writable: {reason}", path.display())]
    Unwritable {
        /// The data directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The admin socket could not be created.
    #[error("can't create the admin socket {}: {}", path.display(), io_reason(source))]
    AdminSocket {
        /// The socket's path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key-transparency directory could not be opened.
    #[error("can't open the key-transparency directory: {0}")]
    KeyTransparency(#[source] kt::KtError),
    /// The listening socket could not be bound.
    #[error("can't listen on {addr}: {}", io_reason(source))]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the server stopped on an error: {}", io_reason(.0))]
    Serve(std::io::Error),
    /// The TLS certificate or key could not be used.
    #[error("{0}")]
    Tls(String),
}

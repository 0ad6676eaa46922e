//! How the server is configured ([`ServerConfig`], [`Registration`]) and why it could not
//! start or stopped ([`ServerError`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use hush_proto::fsio::io_reason;

use crate::limits::QueueLimits;
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
    /// Whether a proxy in front says who the client is (`X-Forwarded-For`, its last
    /// address): the rate limits per address then count the client's address, not the
    /// proxy's. Set with `--behind-tls-proxy`; default false (a peer on this machine, such
    /// as nginx on loopback, is believed anyway).
    pub forwarded_for: bool,
    /// Longest a client may take to send a request's header, counted from the connection's
    /// start or from the first byte of the header (default 10 s). A silent new connection,
    /// or one that trickles its header (slowloris), is closed after it.
    pub header_read_timeout: Duration,
    /// Longest a kept-alive connection may stay silent between requests (default 120 s,
    /// longer than clients keep idle connections, so they close first).
    pub idle_timeout: Duration,
    /// Most connections open at once, WebSockets included (default 10,000; lowered at
    /// start to what the process's open-file limit can hold). Over it a new connection is
    /// closed at once.
    pub max_connections: usize,
    /// Most connections open at once from one IP address (an IPv6 /64), WebSockets included
    /// (default 256). Over it a new connection from that address is closed at once.
    pub max_connections_per_ip: usize,
    /// How much may wait for delivery: per device, per sending user, and for how long
    /// (defaults: [`QueueLimits::default`]). Checked at start by
    /// [`ServerConfig::check_queue_limits`].
    pub queues: QueueLimits,
    /// Most push WebSockets one device may hold open (default
    /// 4, `limits::MAX_WEBSOCKETS_PER_DEVICE`); one more closes the device's oldest.
    pub max_websockets_per_device: usize,
    /// How often each push WebSocket is pinged (default 30 s, `limits::WEBSOCKET_PING_EVERY`).
    pub websocket_ping_every: Duration,
    /// A push WebSocket that sends nothing this long after a ping is closed (default
    /// 15 s, `limits::WEBSOCKET_PONG_DEADLINE`).
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
            forwarded_for: false,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: 10_000,
            max_connections_per_ip: 256,
            queues: QueueLimits::default(),
            max_websockets_per_device: MAX_WEBSOCKETS_PER_DEVICE,
            websocket_ping_every: WEBSOCKET_PING_EVERY,
            websocket_pong_deadline: WEBSOCKET_PONG_DEADLINE,
        }
    }

    /// Checks every limit is in its range: `Err` is one sentence naming the setting (with its
    /// flag's name) and the range. A limit of 0 would refuse everything or nothing.
    pub fn validate(&self) -> Result<(), ServerError> {
        let secs = |d: Duration| d.as_secs();
        let checks: [(&str, u64, u64, u64, &str); 6] = [
            ("max-body-bytes", self.max_body_bytes as u64, 1024, GIB, "bytes"),
            ("request-timeout-secs", secs(self.request_timeout), 1, 3600, "seconds"),
            ("header-read-timeout-secs", secs(self.header_read_timeout), 1, 600, "seconds"),
            ("idle-timeout-secs", secs(self.idle_timeout), 1, 86_400, "seconds"),
            ("max-connections", self.max_connections as u64, 1, 1_000_000, "connections"),
            ("max-connections-per-ip", self.max_connections_per_ip as u64, 1, self.max_connections as u64, "connections"),
        ];
        for (name, value, min, max, unit) in checks {
            if value < min || value > max {
                let max_text = if name == "max-connections-per-ip" { format!("{max} (max-connections)") } else { max.to_string() };
                let key = name.replace('-', "_");
                return Err(ServerError::Config(format!(
                    "--{name} ({key} in the config file) is {value} {unit}; it must be between {min} and {max_text}"
                )));
            }
        }
        Ok(())
    }

    /// Checks the queue limits are in their ranges: `Err` is one sentence naming the
    /// setting (with its flag's name) and the range. A limit of 0 would refuse every
    /// message, and a byte limit under the largest request body could refuse every large one.
    pub fn check_queue_limits(&self) -> Result<(), ServerError> {
        let q = &self.queues;
        let body = self.max_body_bytes as u64;
        let ttl_secs = u64::try_from(q.ttl_ms / 1000).unwrap_or(0);
        let checks: [(&str, u64, u64, u64, &str); 4] = [
            ("inbox-max-items", q.max_items, 1, 100_000_000, "items"),
            ("inbox-max-bytes", q.max_bytes, body, 1024 * GIB, "bytes"),
            ("queue-quota-bytes", q.sender_quota_bytes, body, 1024 * GIB, "bytes"),
            ("message-ttl-secs", ttl_secs, 60, 366 * 24 * 60 * 60, "seconds"),
        ];
        for (name, value, min, max, unit) in checks {
            if value < min || value > max {
                let key = name.replace('-', "_");
                let min_text = if unit == "bytes" && min == body { format!("{min} (max-body-bytes)") } else { min.to_string() };
                return Err(ServerError::Config(format!(
                    "--{name} ({key} in the config file) is {value} {unit}; it must be between {min_text} and {max}"
                )));
            }
        }
        Ok(())
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
    /// A setting is out of its range (one sentence naming it).
    #[error("{0}")]
    Config(String),
}

//! hush-server: the MLS delivery service, user directory and ciphertext store of hush.
//!
//! The server orders each group's handshake messages (the first commit for an epoch wins,
//! a stale one gets `409 stale_epoch`), stores messages until every recipient device has
//! acknowledged them, pushes "you have mail" over a WebSocket, and hands out KeyPackages.
//! It reads nothing but the public framing of MLS messages (group id, epoch, content type):
//! everything else is ciphertext to it. It also runs the key-transparency directory (akd,
//! see [`kt`]): every user's identity key and device list, provable to clients and
//! auditable. The API is described by the types in `hush-proto`; every route but
//! `register`, `devices`, `health`, `kt/info`, `kt/audit`, the new device's side of the
//! link relay (creating a link request, posting its key, failing and following it),
//! `recovery`, creating a guardian request and fetching its shares is
//! signed by a registered, unrevoked device (headers `x-hush-device`, `x-hush-timestamp`,
//! `x-hush-nonce`, `x-hush-signature` over `hush_core::auth::canonical_request`);
//! `register` and `devices` are signed by the new device's key, taken from the certificate
//! in their body, and `recovery` by the account's recovery auth key (or its guardian backup's).
//!
//! A revoked device is gone everywhere: it can't sign requests, is not listed, claimed,
//! routed to, added to groups or counted in its user's directory value, and its id and key
//! can't be registered again. An account may keep one sealed backup (`PUT /v1/backup`),
//! fetched with the recovery auth key (`GET /v1/recovery/{username}`, at most
//! `routes::MAX_RECOVERY_FAILURES` failures per account per hour), and a second one for
//! guardian recovery (`PUT /v1/backup/guardians`, `GET /v1/recovery/{username}/guardians`,
//! its own key and failure count). For the latter the server relays, like device links:
//! a recovering device posts a guardian request (an HPKE key, `/v1/guardian-requests`),
//! any registered device may list an account's requests and post one sealed share per
//! device, and the request id fetches the shares.
//!
//! A new device joins an account through the link relay (`/v1/link*`), a SPAKE2 exchange
//! the server passes on without understanding: the new device posts its message under a
//! 4-character selector, one device of the account answers it once (a wrong code burns the
//! request), the new device posts its key with a MAC, and the answering device posts the
//! sealed account bundle. Each step is accepted once and in that order; an account has at
//! most `routes::MAX_PENDING_LINKS` unfinished requests, each living 10 minutes, so an
//! attacker gets few guesses at the code.
//!
//! Files (`/v1/uploads`, `/v1/blobs`, `/v1/spaces`, `/v1/quota`, see `files.rs`) are opaque
//! age blobs uploaded in resumable chunks and kept in an object store (`data_dir/blobs`),
//! and spaces: a user's drive or a conversation's shared folder, a signed state and rows
//! that refer to blobs, written with compare-and-swap on the state's version. Each user's
//! files count against a quota ([`ServerConfig::quota_bytes`]) until no row refers to them.
//!
//! Storage is SQLite (WAL, `synchronous=FULL`): a message is acknowledged only once it is
//! on disk, so it survives a crash of the server or the machine. Uploaded chunks are synced
//! before they are counted, and finished files are written with fsync.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hush_server::ServerError> {
//! use hush_server::{Server, ServerConfig};
//!
//! let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 8443));
//! let config = ServerConfig::new(listen, "/var/lib/hush".into());
//! let server = Server::bind(config).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod admin;
mod auth;
pub mod backup;
pub mod data_dir;
mod error;
mod files;
pub mod kt;
pub mod kt_storage;
mod metrics;
mod routes;
mod store;
pub mod tls;
mod ws;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse as _;
use axum::routing::{get, post, put};
use tokio::sync::{broadcast, watch};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::files::Files;
use crate::kt::Kt;
use crate::store::Store;

/// Name of the database file inside the data directory.
pub const DATABASE_FILE: &str = "hush.db";

/// How many inbox events may queue for a slow WebSocket before it is told to refetch.
const INBOX_EVENTS_CAPACITY: usize = 4096;

/// How many revocations may queue for a slow WebSocket.
const REVOCATIONS_CAPACITY: usize = 256;

/// Bytes in a gibibyte.
const GIB: u64 = 1024 * 1024 * 1024;

/// Directory (inside the data directory) of the object store that keeps finished files.
pub const BLOBS_DIR: &str = "blobs";

/// Directory (inside the data directory) of unfinished uploads, `<upload_id>.part`.
pub const UPLOADS_DIR: &str = "uploads";

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

/// An I/O error as a lowercase phrase without the OS error number
/// ("permission denied" rather than "Permission denied (os error 13)").
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The database.
    pub store: Store,
    /// The key-transparency directory.
    pub kt: Kt,
    /// Ids of devices whose inbox just got an item (sent after the commit).
    pub inbox_events: broadcast::Sender<Arc<str>>,
    /// Ids of devices just revoked (sent after the commit): their WebSockets close.
    pub revocations: broadcast::Sender<Arc<str>>,
    /// Becomes `true` when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Requests authenticated so far (drives nonce pruning).
    pub accepted_requests: Arc<AtomicU64>,
    /// Blobs, unfinished uploads and their limits.
    pub files: Arc<Files>,
    /// Request counts and latencies, open WebSockets.
    pub metrics: Arc<metrics::Metrics>,
    /// Who may register.
    pub registration: Registration,
    /// The data directory (`/health` checks it takes writes).
    pub data_dir: Arc<Path>,
}

impl AppState {
    /// Wakes the WebSockets of these devices.
    pub fn notify(&self, devices: &[String]) {
        for d in devices {
            // No receiver means no open socket: nothing to wake.
            let _ = self.inbox_events.send(Arc::from(d.as_str()));
        }
    }

    /// Closes the WebSockets of a revoked device.
    pub fn revoked(&self, device_id: &str) {
        // No receiver means no open socket: nothing to close.
        let _ = self.revocations.send(Arc::from(device_id));
    }
}

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
/// [`hush_proto::UPLOAD_CHUNK_MAX`], with [`files::BULK_REQUEST_TIMEOUT`]), an upload's
/// completion (which copies the file, with the same timeout), and a space update (up to
/// [`files::SPACE_UPDATE_LIMIT`], or `max_body_bytes` if that is larger).
fn router(state: AppState, config: &ServerConfig) -> Router {
    let metrics = Arc::clone(&state.metrics);
    let sensitive = [HeaderName::from_static(hush_proto::HEADER_SIGNATURE), axum::http::header::AUTHORIZATION];
    let bulk_timeout = config.request_timeout.max(files::BULK_REQUEST_TIMEOUT);
    let api = Router::new()
        .route("/health", get(routes::health))
        .route("/v1/register", post(routes::register))
        .route("/v1/devices", post(routes::add_device).get(routes::own_devices))
        .route("/v1/devices/{device_id}/revoke", post(routes::revoke_device))
        .route("/v1/users/{username}", get(routes::get_user))
        .route("/v1/users/{username}/claim", post(routes::claim_key_packages))
        .route("/v1/keypackages", post(routes::upload_key_packages))
        .route("/v1/keypackages/count", get(routes::count_key_packages))
        .route("/v1/groups", post(routes::create_group))
        .route("/v1/groups/{group_id}", get(routes::get_group))
        .route("/v1/groups/{group_id}/commit", post(routes::commit))
        .route("/v1/groups/{group_id}/messages", post(routes::post_message))
        .route("/v1/inbox", get(routes::inbox))
        .route("/v1/inbox/ack", post(routes::ack))
        .route("/v1/ws", get(routes::websocket))
        .route("/v1/link", post(routes::create_link).get(routes::pending_links))
        .route("/v1/link/{link_id}", get(routes::link_status))
        .route("/v1/link/{link_id}/answer", post(routes::answer_link))
        .route("/v1/link/{link_id}/device", post(routes::link_device))
        .route("/v1/link/{link_id}/approve", post(routes::approve_link))
        .route("/v1/link/{link_id}/fail", post(routes::fail_link))
        .route("/v1/kt/info", get(routes::kt_info))
        .route("/v1/kt/lookup/{username}", get(routes::kt_lookup))
        .route("/v1/kt/history/{username}", get(routes::kt_history))
        .route("/v1/kt/audit", get(routes::kt_audit))
        .route("/v1/backup", put(routes::put_backup))
        .route("/v1/recovery/{username}", get(routes::recovery))
        .route("/v1/backup/guardians", put(routes::put_guardian_backup))
        .route("/v1/recovery/{username}/guardians", get(routes::guardian_recovery))
        .route(
            "/v1/guardian-requests",
            post(routes::create_guardian_request).get(routes::pending_guardian_requests),
        )
        .route("/v1/guardian-requests/{request_id}", get(routes::guardian_shares))
        .route("/v1/guardian-requests/{request_id}/shares", post(routes::post_guardian_share))
        .route("/v1/uploads", post(files::start_upload))
        .route("/v1/uploads/{upload_id}", get(files::upload_status))
        .route("/v1/blobs/{blob_id}", get(files::get_blob))
        .route("/v1/spaces/{space}", get(files::get_space))
        .route("/v1/spaces/{space}/states", get(files::get_space_states))
        .route("/v1/quota", get(files::get_quota));
    let api = limited(api, config.max_body_bytes, config.request_timeout);
    let chunks = Router::new().route("/v1/uploads/{upload_id}", put(files::put_chunk));
    let chunks = limited(chunks, files::UPLOAD_BODY_LIMIT, bulk_timeout);
    let complete = Router::new().route("/v1/uploads/{upload_id}/complete", post(files::complete_upload));
    let complete = limited(complete, config.max_body_bytes, bulk_timeout);
    let spaces = Router::new().route("/v1/spaces/{space}", post(files::post_space));
    let spaces = limited(spaces, files::SPACE_UPDATE_LIMIT.max(config.max_body_bytes), config.request_timeout);
    api.merge(chunks)
        .merge(complete)
        .merge(spaces)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        // Each layer wraps the ones above it: the last is the outermost.
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new(sensitive))
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::access_log))
        .with_state(state)
}

/// A bound, ready-to-run server.
pub struct Server {
    _lock: data_dir::DataDirLock,
    admin: tokio::net::UnixListener,
    admin_path: PathBuf,
    metrics: Option<(tokio::net::TcpListener, SocketAddr)>,
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    config: ServerConfig,
    store: Store,
    kt: Kt,
    files: Arc<Files>,
    /// The certificate store and the acceptor that uses it, when terminating TLS.
    certs: Option<(Arc<tls::CertStore>, tokio_rustls::TlsAcceptor)>,
}

impl Server {
    /// Creates `data_dir` if needed, takes its lock (`data_dir/hush.lock`, held until the
    /// server stops: a second server on the same directory is refused), checks that it
    /// takes writes, opens (or creates) the SQLite database
    /// `data_dir/hush.db` (WAL, `synchronous=FULL`, foreign keys on), brings its schema
    /// up to date, opens the key directory (creating the VRF key `data_dir/vrf.key` on first
    /// start), publishes any user still pending, creates `data_dir/blobs` and
    /// `data_dir/uploads` for files, reads the TLS certificate and key if configured, binds
    /// the TCP listener, the metrics listener (if configured) and the admin socket
    /// `data_dir/admin.sock`.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let certs = match &config.tls {
            Some(files) => {
                let store = tls::CertStore::open(files.clone()).map_err(ServerError::Tls)?;
                let acceptor = store.acceptor().map_err(ServerError::Tls)?;
                Some((store, acceptor))
            }
            None => None,
        };
        tokio::fs::create_dir_all(&config.data_dir)
            .await
            .map_err(|source| ServerError::DataDir {
                path: config.data_dir.clone(),
                source,
            })?;
        data_dir::check_writable(&config.data_dir)?;
        let lock = data_dir::lock_data_dir(&config.data_dir)?;
        let db_path = config.data_dir.join(DATABASE_FILE);
        let store = Store::open_sqlite(&db_path)
            .await
            .map_err(|source| ServerError::Database { path: db_path, source })?;
        let kt = Kt::open(&store, &config.data_dir)
            .await
            .map_err(ServerError::KeyTransparency)?;
        // Users registered before key transparency existed, or left pending by a crash.
        kt.publish_pending().await.map_err(ServerError::KeyTransparency)?;
        let files = open_files(&config).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Listen {
            addr: config.listen,
            source,
        })?;
        let metrics = match config.metrics_listen {
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::Listen { addr, source })?;
                let bound = l.local_addr().map_err(|source| ServerError::Listen { addr, source })?;
                Some((l, bound))
            }
            None => None,
        };
        let (admin, admin_path) = admin::bind(&config.data_dir).map_err(|source| ServerError::AdminSocket {
            path: config.data_dir.join(admin::ADMIN_SOCKET),
            source,
        })?;
        Ok(Server {
            _lock: lock,
            admin,
            admin_path,
            metrics,
            listener,
            local_addr,
            config,
            store,
            kt,
            files,
            certs,
        })
    }

    /// Whether the server terminates TLS (its URL is `https://`).
    pub fn is_tls(&self) -> bool {
        self.certs.is_some()
    }

    /// The address the server listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address metrics are served on, if they are.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, a)| *a)
    }

    /// Serves until `shutdown` completes, then stops accepting, closes WebSockets, lets
    /// requests in flight finish and closes the database.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shutdown_tx = Arc::new(shutdown_tx);
        let shutdown_tx_keep = Arc::clone(&shutdown_tx);
        let (inbox_events, _) = broadcast::channel(INBOX_EVENTS_CAPACITY);
        let (revocations, _) = broadcast::channel(REVOCATIONS_CAPACITY);
        let publisher = tokio::spawn(kt_publisher(
            self.kt.clone(),
            self.config.kt_publish_interval,
            shutdown_rx.clone(),
        ));
        let shutdown_rx_sweeper = shutdown_rx.clone();
        let shutdown_rx_reloader = shutdown_rx.clone();
        let state = AppState {
            store: self.store.clone(),
            kt: self.kt.clone(),
            inbox_events,
            revocations,
            shutdown: shutdown_rx,
            accepted_requests: Arc::new(AtomicU64::new(0)),
            files: Arc::clone(&self.files),
            metrics: Arc::default(),
            registration: self.config.registration,
            data_dir: Arc::from(self.config.data_dir.as_path()),
        };
        let sweeper = tokio::spawn(files::sweeper(self.store.clone(), Arc::clone(&self.files), shutdown_rx_sweeper));
        let admin_app = admin::router(state.clone());
        let mut admin_stop = shutdown_tx_keep.subscribe();
        let admin_server = tokio::spawn(async move {
            axum::serve(self.admin, admin_app)
                .with_graceful_shutdown(async move {
                    let _ = admin_stop.wait_for(|stop| *stop).await;
                })
                .await
        });
        let metrics_server = self.metrics.map(|(listener, addr)| {
            tracing::info!(%addr, "serving metrics");
            let app = Router::new().route("/metrics", get(metrics::scrape)).with_state(state.clone());
            let mut stop = shutdown_tx_keep.subscribe();
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|stop| *stop).await;
                    })
                    .await
            })
        });
        let app = router(state, &self.config);
        tracing::info!(addr = %self.local_addr, "hush server listening");
        let stop = async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = shutdown_tx.send(true);
        };
        let mut reloader = None;
        let served = match self.certs {
            Some((certs, acceptor)) => {
                reloader = Some(tokio::spawn(tls::reloader(certs, shutdown_rx_reloader)));
                let listener = tls::TlsListener::new(self.listener, acceptor, self.local_addr);
                axum::serve(listener, app).with_graceful_shutdown(stop).await
            }
            None => axum::serve(self.listener, app).with_graceful_shutdown(stop).await,
        };
        // The publisher stops between publishes once it sees the shutdown.
        let _ = shutdown_tx_keep.send(true);
        if let Err(e) = publisher.await {
            tracing::error!(error = %e, "the key-transparency publisher failed");
        }
        if let Err(e) = sweeper.await {
            tracing::error!(error = %e, "the upload sweeper failed");
        }
        match admin_server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the admin socket failed"),
            Err(e) => tracing::error!(error = %e, "the admin socket failed"),
        }
        if let Some(task) = metrics_server {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "the metrics listener failed"),
                Err(e) => tracing::error!(error = %e, "the metrics listener failed"),
            }
        }
        if let Err(e) = std::fs::remove_file(&self.admin_path) {
            tracing::warn!(error = %e, "could not remove the admin socket");
        }
        if let Some(Err(e)) = match reloader {
            Some(r) => Some(r.await),
            None => None,
        } {
            tracing::error!(error = %e, "the TLS certificate reloader failed");
        }
        self.store.close().await;
        served.map_err(ServerError::Serve)
    }
}

/// Creates `data_dir/blobs` (the object store of finished files, written with fsync) and
/// `data_dir/uploads` (unfinished uploads).
async fn open_files(config: &ServerConfig) -> Result<Arc<Files>, ServerError> {
    let blobs = config.data_dir.join(BLOBS_DIR);
    let uploads = config.data_dir.join(UPLOADS_DIR);
    for dir in [&blobs, &uploads] {
        tokio::fs::create_dir_all(dir).await.map_err(|source| ServerError::DataDir {
            path: dir.clone(),
            source,
        })?;
    }
    let objects = object_store::local::LocalFileSystem::new_with_prefix(&blobs)
        .map_err(|e| ServerError::Blobs {
            path: blobs.clone(),
            reason: e.to_string(),
        })?
        .with_fsync(true);
    let mut files = Files::new(Arc::new(objects), uploads, config.max_upload_bytes, config.quota_bytes);
    // Both directories live under the data directory: one file system, so a finished
    // upload is renamed into place.
    files.local_objects_dir = Some(blobs);
    Ok(Arc::new(files))
}

/// Publishes pending key-directory changes every `interval` until shutdown. A publish in
/// progress is never interrupted (it runs in its own task).
async fn kt_publisher(kt: Kt, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let interval = interval.max(Duration::from_millis(10));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        match kt.publish_pending().await {
            Ok((_, 0)) => {}
            Ok((root, users)) => tracing::info!(epoch = root.epoch, users, "scheduled key-directory publish"),
            Err(e) => tracing::error!(error = %e, "scheduled key-directory publish failed"),
        }
    }
}

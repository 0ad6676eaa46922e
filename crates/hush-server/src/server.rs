//! The running server: [`Server::bind`] opens everything it needs, [`Server::run`] serves
//! the API, the admin socket and the metrics until shutdown, with the key directory's
//! publisher and the upload sweeper in the background.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::routing::get;
use tokio::sync::watch;

use crate::blobs::{BLOBS_DIR, Files, UPLOADS_DIR};
use crate::config::{ServerConfig, ServerError};
use crate::kt::{Kt, kt_publisher};
use crate::state::AppState;
use crate::store::{DATABASE_FILE, Store};
use crate::ws::Pushes;
use crate::{admin, conn, data_dir, http, sweeper, tls};

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
        config.validate()?;
        config.check_queue_limits()?;
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
    /// requests in flight finish and closes the database. Connections get the deadlines and
    /// caps of [`ServerConfig`] (see `conn.rs`); the soft open-file limit is first raised to
    /// the hard one.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shutdown_tx = Arc::new(shutdown_tx);
        let shutdown_tx_keep = Arc::clone(&shutdown_tx);
        let pushes = Arc::new(Pushes::new(
            self.config.max_websockets_per_device,
            self.config.websocket_ping_every,
            self.config.websocket_pong_deadline,
        ));
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
            pushes,
            shutdown: shutdown_rx,
            accepted_requests: Arc::new(AtomicU64::new(0)),
            files: Arc::clone(&self.files),
            metrics: Arc::default(),
            registration: self.config.registration,
            data_dir: Arc::from(self.config.data_dir.as_path()),
            rate: Arc::default(),
            forwarded_for: self.config.forwarded_for,
            claim_limits: Arc::default(),
            queues: self.config.queues,
        };
        let sweeper = tokio::spawn(sweeper::sweeper(self.store.clone(), Arc::clone(&self.files), self.config.queues, shutdown_rx_sweeper));
        let admin_app = http::admin::router(state.clone());
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
            let app = Router::new().route("/metrics", get(http::metrics::scrape)).with_state(state.clone());
            let mut stop = shutdown_tx_keep.subscribe();
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|stop| *stop).await;
                    })
                    .await
            })
        });
        let mut limits = conn::ConnLimits {
            header_read_timeout: self.config.header_read_timeout,
            idle_timeout: self.config.idle_timeout,
            max_connections: self.config.max_connections,
            max_connections_per_ip: self.config.max_connections_per_ip,
        };
        conn::fit_open_file_limit(&mut limits);
        let gate = conn::Gate::new(limits, Arc::clone(&state.metrics));
        let app = http::router(state, &self.config);
        tracing::info!(addr = %self.local_addr, "hush server listening");
        let stop = async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = shutdown_tx.send(true);
        };
        let mut reloader = None;
        let acceptor = match self.certs {
            Some((certs, acceptor)) => {
                reloader = Some(tokio::spawn(tls::reloader(certs, shutdown_rx_reloader)));
                Some(acceptor)
            }
            None => None,
        };
        conn::serve(self.listener, acceptor, app, gate, stop).await;
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
        Ok(())
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

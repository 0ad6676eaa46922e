//! TLS termination (`hush server --tls-cert FILE --tls-key FILE`): rustls with the ring
//! provider, TLS 1.2 and 1.3, HTTP/1.1 (WebSocket upgrades included).
//!
//! The certificate and key are PEM files, read at start (a missing, unreadable or
//! mismatched pair stops the server with one sentence) and again whenever either file
//! changes (checked every [`RELOAD_POLL`]) or the server gets SIGHUP. New connections get
//! the new certificate; open ones keep theirs. A bad new pair is logged once and the old
//! certificate stays in use.
//!
//! Each connection's handshake runs in its own task with a deadline
//! ([`HANDSHAKE_TIMEOUT`]), so a slow or silent client never holds up the others (see
//! `conn.rs`, which accepts connections and counts them against the caps first).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// How often the certificate files are checked for changes.
pub const RELOAD_POLL: Duration = Duration::from_secs(2);

/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PEM files the server's certificate and key are read from.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The certificate in use, swapped when the files change.
pub(crate) struct CertStore {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' modification times and sizes when last read (good or bad).
    seen: Mutex<Option<Stamp>>,
}

type Stamp = [(Option<SystemTime>, u64); 2];

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore").field("files", &self.files).finish_non_exhaustive()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner())))
    }
}

impl CertStore {
    /// Reads the pair; `Err` is one sentence naming the file at fault.
    pub(crate) fn open(files: TlsFiles) -> Result<Arc<CertStore>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let seen = stamp(&files);
        let key = load(&files, &provider)?;
        Ok(Arc::new(CertStore { files, provider, current: RwLock::new(Arc::new(key)), seen: Mutex::new(Some(seen)) }))
    }

    /// The rustls acceptor that takes its certificate from this store.
    pub(crate) fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("can't set up TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Reads the files again if they changed since last read (or always, with `force`):
    /// a good pair replaces the certificate, a bad one is logged and the old one kept.
    pub(crate) fn reload(&self, force: bool) {
        let now = stamp(&self.files);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if !force && seen.as_ref() == Some(&now) {
                return;
            }
            *seen = Some(now);
        }
        match load(&self.files, &self.provider) {
            Ok(key) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
                tracing::info!(cert = %self.files.cert.display(), "reloaded the TLS certificate");
            }
            Err(e) => tracing::error!("kept the previous TLS certificate: {e}"),
        }
    }
}

fn stamp(files: &TlsFiles) -> Stamp {
    let one = |p: &Path| match std::fs::metadata(p) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    };
    [one(&files.cert), one(&files.key)]
}

/// Reads and checks a certificate chain and its key.
fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let cert_path = files.cert.display();
    let key_path = files.key.display();
    let cert_pem = std::fs::read(&files.cert)
        .map_err(|e| format!("can't read the TLS certificate file {cert_path}: {}", hush_proto::fsio::io_reason(&e)))?;
    let key_pem = zeroize::Zeroizing::new(
        std::fs::read(&files.key).map_err(|e| format!("can't read the TLS key file {key_path}: {}", hush_proto::fsio::io_reason(&e)))?,
    );
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("the TLS certificate file {cert_path} is not valid PEM"))?;
    if chain.is_empty() {
        return Err(format!("the TLS certificate file {cert_path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| format!("the TLS key file {key_path} holds no PEM private key (-----BEGIN PRIVATE KEY-----)"))?;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|_| format!("the TLS key file {key_path} holds a key hush can't use (RSA, ECDSA P-256/P-384 or Ed25519 needed)"))?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        // A key whose public half the provider can't tell: nothing to compare.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(format!("the TLS key in {key_path} does not belong to the certificate in {cert_path}"))
        }
        Err(_) => Err(format!("the TLS certificate file {cert_path} holds a certificate that can't be parsed")),
    }
}

/// Reloads the certificate when its files change or on SIGHUP, until shutdown.
pub(crate) async fn reloader(store: Arc<CertStore>, mut shutdown: watch::Receiver<bool>) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let signal = async {
            match hangup.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let signal = std::future::pending::<()>();
        let force = tokio::select! {
            _ = tokio::time::sleep(RELOAD_POLL) => false,
            _ = signal => true,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let store = Arc::clone(&store);
        // Reading files blocks; keep it off the async workers.
        let _ = tokio::task::spawn_blocking(move || store.reload(force)).await;
    }
}

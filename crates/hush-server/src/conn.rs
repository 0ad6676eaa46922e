//! Connection hygiene: the accept loop that serves the API over HTTP/1.1 (TLS optional),
//! with a header-read deadline, an idle deadline, a global and a per-IP connection cap.
//!
//! Each accepted TCP connection takes a [`Slot`] from the [`Gate`] (one of the server's,
//! one of its IP address's; IPv6 addresses counted per /64). With none left it is closed at
//! once, before a byte is read. The slot lives as long as the socket, WebSocket upgrades
//! included. A watchdog per connection closes it when no header has started within
//! `header_read_timeout` of its start, when a started header is not complete
//! `header_read_timeout` after its first byte (slowloris), or when it stays silent
//! `idle_timeout` after its last answer. A request in flight (and its answer while it is
//! sent) is never cut by these deadlines: its own limit is the request timeout.
//!
//! At start the process's soft open-file limit is raised to its hard limit, and the global
//! cap lowered to what that limit can hold, so a full server refuses connections rather
//! than failing to open its own files.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::metrics::Metrics;

/// Open files kept apart from connections (the database, blobs, uploads, the logs).
const RESERVED_FILES: u64 = 128;

/// How often the watchdog looks again while a request is in flight.
const RECHECK: Duration = Duration::from_secs(1);

/// The deadlines and caps of connections ([`crate::ServerConfig`]'s).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// See [`crate::ServerConfig::header_read_timeout`].
    pub header_read_timeout: Duration,
    /// See [`crate::ServerConfig::idle_timeout`].
    pub idle_timeout: Duration,
    /// See [`crate::ServerConfig::max_connections`].
    pub max_connections: usize,
    /// See [`crate::ServerConfig::max_connections_per_ip`].
    pub max_connections_per_ip: usize,
}

/// Raises the soft open-file limit to the hard one (when it is lower) and lowers
/// `limits.max_connections` to what the soft limit then in force can hold, with a warning.
pub(crate) fn fit_open_file_limit(limits: &mut ConnLimits) {
    let Some(files) = raise_open_file_limit() else {
        return;
    };
    let fits = usize::try_from(files.saturating_sub(RESERVED_FILES).max(files / 2)).unwrap_or(usize::MAX);
    if limits.max_connections > fits {
        tracing::warn!(
            open_file_limit = files,
            configured = limits.max_connections,
            max_connections = fits,
            "the open-file limit can't hold max-connections; serving at most {fits} connections (raise LimitNOFILE or ulimit -n)"
        );
        limits.max_connections = fits;
        limits.max_connections_per_ip = limits.max_connections_per_ip.min(fits);
    }
}

/// The soft open-file limit after raising it to the hard limit; `None` when unlimited or
/// unknown.
#[cfg(unix)]
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    if now.current < now.maximum || (now.maximum.is_none() && now.current.is_some()) {
        let raised = Rlimit { current: now.maximum, maximum: now.maximum };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(error = %e, "could not raise the open-file limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> Option<u64> {
    None
}

/// Why a connection was closed at once.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// The server holds `max_connections`.
    Full,
    /// Its address holds `max_connections_per_ip`.
    PerIp,
}

/// The connection counts, the server's and each address's.
pub(crate) struct Gate {
    limits: ConnLimits,
    /// Open connections, and open connections by address.
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
    metrics: Arc<Metrics>,
}

/// One open connection in the [`Gate`]'s counts; dropping it takes it out.
pub(crate) struct Slot {
    gate: Arc<Gate>,
    key: IpAddr,
}

/// The address a connection is counted under: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by
/// its /64, which one client usually holds whole.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl Gate {
    pub(crate) fn new(limits: ConnLimits, metrics: Arc<Metrics>) -> Arc<Gate> {
        Arc::new(Gate { limits, open: Mutex::new((0, HashMap::new())), metrics })
    }

    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let key = ip_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.0 >= self.limits.max_connections {
            self.metrics.connection_refused(false);
            return Err(Refusal::Full);
        }
        let mine = open.1.entry(key).or_insert(0);
        if *mine >= self.limits.max_connections_per_ip {
            self.metrics.connection_refused(true);
            return Err(Refusal::PerIp);
        }
        *mine += 1;
        open.0 += 1;
        self.metrics.connections_open(1);
        Ok(Slot { gate: Arc::clone(self), key })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.gate.open.lock().unwrap_or_else(|p| p.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.1.remove(&self.key);
            }
        }
        self.gate.metrics.connections_open(-1);
    }
}

/// "No header started" in [`ConnState::head_since`].
const NONE: u64 = u64::MAX;

/// What the watchdog knows of one connection; times in milliseconds since its start.
struct ConnState {
    start: Instant,
    /// Requests whose answer is not yet fully sent.
    in_flight: AtomicUsize,
    /// Whether a request was ever made on it.
    served: AtomicBool,
    /// When the connection went idle: its start, or the end of its last answer.
    idle_since: AtomicU64,
    /// When the first byte of a header came, while idle.
    head_since: AtomicU64,
}

/// Holds a request in [`ConnState::in_flight`] until dropped (with its answer's body).
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle_since.store(self.0.now_ms(), Ordering::Release);
        }
    }
}

impl ConnState {
    fn new() -> Arc<ConnState> {
        Arc::new(ConnState {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    /// Bytes came in: when idle, a header has started.
    fn on_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.head_since.compare_exchange(NONE, self.now_ms(), Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// A request's header is complete.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Release);
        self.head_since.store(NONE, Ordering::Release);
        InFlight(Arc::clone(self))
    }

    /// When the connection is to be closed if nothing happens first; `None` while a request
    /// is in flight.
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let at = |ms: u64, after: Duration| self.start + Duration::from_millis(ms) + after;
        let head = self.head_since.load(Ordering::Acquire);
        if head != NONE {
            return Some(at(head, limits.header_read_timeout));
        }
        let idle = self.idle_since.load(Ordering::Acquire);
        let allowed = if self.served.load(Ordering::Acquire) { limits.idle_timeout } else { limits.header_read_timeout };
        Some(at(idle, allowed))
    }
}

/// A TCP stream that tells its [`ConnState`] when bytes come in, and holds its [`Slot`].
struct Tracked {
    inner: TcpStream,
    state: Arc<ConnState>,
    _slot: Slot,
}

impl AsyncRead for Tracked {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.on_read();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// An answer's body, holding its request in flight until it is sent (or dropped).
struct Answer {
    inner: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Accepts connections until `shutdown` completes, then stops accepting, lets each open
/// connection finish its request in flight, and returns once all are closed (WebSockets
/// are closed by their handlers, see `ws.rs`).
pub(crate) async fn serve(
    mut listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    gate: Arc<Gate>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Each connection holds a sender; `recv` answers `None` once all are gone.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            // axum's accept: retries after errors, backs off when out of files.
            conn = axum::serve::Listener::accept(&mut listener) => conn,
            () = &mut shutdown => break,
        };
        let slot = match gate.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                // Dropping the stream closes it before a byte is read.
                tracing::debug!(%peer, ?why, "closed a connection over the cap");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let conn = Connection { gate: Arc::clone(&gate), app: app.clone(), stop: stop_rx.clone(), _alive: alive_tx.clone() };
        tokio::spawn(conn.run(tcp, peer, slot, tls.clone()));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(alive_tx);
    let _ = alive_rx.recv().await;
}

/// What one connection's task needs.
struct Connection {
    gate: Arc<Gate>,
    app: Router,
    stop: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

impl Connection {
    async fn run(self, tcp: TcpStream, peer: SocketAddr, slot: Slot, tls: Option<TlsAcceptor>) {
        let state = ConnState::new();
        let io = Tracked { inner: tcp, state: Arc::clone(&state), _slot: slot };
        match tls {
            None => self.http(io, state, peer).await,
            Some(acceptor) => match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                Ok(Ok(stream)) => self.http(stream, state, peer).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => {
                    self.gate.metrics.connection_timed_out();
                    tracing::debug!(%peer, "TLS handshake timed out");
                }
            },
        }
    }

    /// Serves HTTP/1.1 on `io` until the client closes, a deadline passes, or the server
    /// stops; a WebSocket upgrade takes the stream (and its slot) along.
    async fn http<I>(mut self, io: I, state: Arc<ConnState>, peer: SocketAddr)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let limits = self.gate.limits;
        let requests = Arc::clone(&state);
        let app = self.app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let in_flight = requests.begin();
            let app = app.clone();
            // Who is asking, for the rate limits per address (`rate`).
            req.extensions_mut().insert(axum::extract::ConnectInfo(crate::rate::Peer(peer)));
            async move {
                let res = app.oneshot(req).await;
                res.map(|r| r.map(|inner| Answer { inner, _in_flight: in_flight }))
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // hyper's own header timeout as a backstop: its clock starts whenever it waits for a
        // header, idle or not, so it can't tell the two deadlines apart.
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout.max(limits.idle_timeout));
        let conn = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
        tokio::pin!(conn);
        let mut stopping = false;
        loop {
            let wake = state.deadline(&limits).unwrap_or_else(|| Instant::now() + RECHECK);
            tokio::select! {
                done = conn.as_mut() => {
                    if let Err(e) = done {
                        tracing::debug!(%peer, error = %e, "connection ended on an error");
                    }
                    return;
                }
                () = tokio::time::sleep_until(wake) => {
                    if state.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                        self.gate.metrics.connection_timed_out();
                        tracing::debug!(%peer, "closed a silent or slow connection");
                        return;
                    }
                }
                _ = self.stop.wait_for(|stop| *stop), if !stopping => {
                    conn.as_mut().graceful_shutdown();
                    stopping = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(ip_key(mapped), IpAddr::from([10, 1, 2, 3]));
    }
}

//! Observability: Prometheus metrics (served on their own address, see
//! [`crate::ServerConfig::metrics_listen`]) and the access log.
//!
//! The exposition is written by hand in the Prometheus text format 0.0.4: a handful of
//! families need no library, and the official `prometheus-client` crate writes the
//! OpenMetrics format instead (its `# EOF` line and `_total` naming differ from 0.0.4).
//!
//! Requests are counted by route *template* (`/v1/users/{username}`, axum's
//! [`MatchedPath`]), never by the path a client sent, so no username or id reaches the
//! metrics; requests no route matched count as `unmatched`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// Upper bounds of the request-latency histogram's buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The header that carries each request's id back to the client.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// One route's latency histogram.
#[derive(Default, Clone)]
struct Histogram {
    /// Observations at or under each bucket's bound (not cumulative; summed on output).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The counters the server keeps in memory (gauges read from the database are filled in
/// at scrape time).
#[derive(Default)]
pub(crate) struct Metrics {
    /// Requests by (route template, method, status).
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// Latency by route template.
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// WebSockets open now.
    websockets: AtomicI64,
    /// Connections open now.
    connections: AtomicI64,
    /// Connections closed at once over the per-IP cap.
    refused_per_ip: AtomicU64,
    /// Connections closed at once over the global cap.
    refused_full: AtomicU64,
    /// Connections closed for a missing, slow or idle header (or TLS handshake).
    timed_out: AtomicU64,
    /// Inbox rows of a kind this server does not know, skipped.
    unknown_inbox_rows: AtomicU64,
}

/// Holds one open WebSocket in the gauge; dropping it takes it out.
pub(crate) struct OpenWebSocket(Arc<Metrics>);

impl Drop for OpenWebSocket {
    fn drop(&mut self) {
        self.0.websockets.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts a WebSocket as open until the guard is dropped.
    pub fn websocket_opened(self: &Arc<Self>) -> OpenWebSocket {
        self.websockets.fetch_add(1, Ordering::Relaxed);
        OpenWebSocket(Arc::clone(self))
    }

    /// Counts connections opened (`1`) or closed (`-1`).
    pub(crate) fn connections_open(&self, delta: i64) {
        self.connections.fetch_add(delta, Ordering::Relaxed);
    }

    /// Counts a connection closed at once, over the per-IP cap or the global one.
    pub(crate) fn connection_refused(&self, per_ip: bool) {
        let counter = if per_ip { &self.refused_per_ip } else { &self.refused_full };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection closed for a missing, slow or idle header.
    pub(crate) fn connection_timed_out(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an inbox row skipped because its kind is unknown.
    pub(crate) fn unknown_inbox_row(&self) {
        self.unknown_inbox_rows.fetch_add(1, Ordering::Relaxed);
    }

    fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((route.to_owned(), method.to_owned(), status)).or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            let h = l.entry(route.to_owned()).or_default();
            if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
                h.buckets[i] += 1;
            }
            h.count += 1;
            h.sum += seconds;
        }
    }

    /// The text exposition, with the gauges read from the database.
    pub(crate) fn encode(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP hush_http_requests_total HTTP requests answered, by route template, method and status.");
        let _ = writeln!(out, "# TYPE hush_http_requests_total counter");
        if let Ok(r) = self.requests.lock() {
            for ((route, method, status), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "hush_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                    escape(route),
                    escape(method)
                );
            }
        }
        let _ = writeln!(out, "# HELP hush_http_request_duration_seconds Time to answer a request, by route template.");
        let _ = writeln!(out, "# TYPE hush_http_request_duration_seconds histogram");
        if let Ok(l) = self.latency.lock() {
            for (route, h) in l.iter() {
                let route = escape(route);
                let mut cumulative = 0;
                for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets.iter()) {
                    cumulative += n;
                    let _ = writeln!(out, "hush_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}");
                }
                let _ = writeln!(out, "hush_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "hush_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
                let _ = writeln!(out, "hush_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
            }
        }
        let counters = [
            (
                "hush_connections_refused_total{reason=\"per_ip\"}",
                "hush_connections_refused_total",
                "Connections closed at once, over the per-IP or the global cap.",
                self.refused_per_ip.load(Ordering::Relaxed),
            ),
            ("hush_connections_refused_total{reason=\"full\"}", "", "", self.refused_full.load(Ordering::Relaxed)),
            (
                "hush_connections_timed_out_total",
                "hush_connections_timed_out_total",
                "Connections closed for a missing, slow or idle request header.",
                self.timed_out.load(Ordering::Relaxed),
            ),
            (
                "hush_inbox_unknown_rows_total",
                "hush_inbox_unknown_rows_total",
                "Inbox rows of an unknown kind, skipped.",
                self.unknown_inbox_rows.load(Ordering::Relaxed),
            ),
        ];
        for (series, family, help, value) in counters {
            if !family.is_empty() {
                let _ = writeln!(out, "# HELP {family} {help}");
                let _ = writeln!(out, "# TYPE {family} counter");
            }
            let _ = writeln!(out, "{series} {value}");
        }
        let ws = self.websockets.load(Ordering::Relaxed);
        let conns = self.connections.load(Ordering::Relaxed);
        let all = [
            ("hush_websockets_open", "WebSockets open now.", ws as f64),
            ("hush_connections_open", "Connections open now, WebSockets included.", conns as f64),
        ];
        for (name, help, value) in all.iter().chain(gauges.iter()) {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A fresh request id: 16 random hex digits.
fn request_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

/// Middleware: gives each request an id (answered in `x-request-id`), counts it in the
/// metrics, and writes one access-log line (target `hush::access`): method, route
/// template, status, duration and request id. Never a header's value or a body.
pub(crate) async fn access_log(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let id = request_id();
    let mut res = next.run(req).await;
    let elapsed = start.elapsed();
    let status = res.status().as_u16();
    metrics.observe(&route, &method, status, elapsed.as_secs_f64());
    let duration_ms = (elapsed.as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
    tracing::info!(target: "hush::access", request_id = %id, method = %method, route = %route, status, duration_ms, "request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    res
}

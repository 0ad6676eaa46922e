//! What every handler shares: [`AppState`].

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::watch;

use crate::blobs::Files;
use crate::claim_limits::ClaimLimits;
use crate::config::Registration;
use crate::kt::Kt;
use crate::limits::QueueLimits;
use crate::metrics;
use crate::store::Store;
use crate::ws::Pushes;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The database.
    pub store: Store,
    /// The key-transparency directory.
    pub kt: Kt,
    /// The open push WebSockets, by device: woken when their device's inbox gets an item,
    /// closed when it is revoked (both after the commit).
    pub pushes: Arc<Pushes>,
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
    /// Rate limits per address and per device.
    pub rate: Arc<crate::rate::Limiters>,
    /// Whether the client's address comes from `X-Forwarded-For` (a proxy in front).
    pub forwarded_for: bool,
    /// KeyPackage claims of the last hour, by claimer and by target.
    pub claim_limits: Arc<ClaimLimits>,
    /// How much may wait for delivery.
    pub queues: QueueLimits,
}

impl AppState {
    /// Wakes the WebSockets of these devices.
    pub fn notify(&self, devices: &[String]) {
        self.pushes.notify(devices);
    }

    /// Closes the WebSockets of a revoked device.
    pub fn revoked(&self, device_id: &str) {
        self.pushes.revoke(device_id);
    }
}

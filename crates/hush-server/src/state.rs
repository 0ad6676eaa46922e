//! What every handler shares: [`AppState`].

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::{broadcast, watch};

use crate::blobs::Files;
use crate::claim_limits::ClaimLimits;
use crate::config::Registration;
use crate::kt::Kt;
use crate::limits::QueueLimits;
use crate::metrics;
use crate::store::Store;

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

//! How a transfer reports itself and keeps its pace. The library shows nothing: it tells
//! the caller's [`Progress`] (the CLI draws a progress bar from it) and sleeps as a rate
//! limit asks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::TransferOptions;

/// A step of a transfer, as it starts.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Stage<'a> {
    /// A local file is encrypted before its upload.
    Encrypting {
        /// The local file's name.
        name: &'a str,
        /// Its plaintext bytes.
        size: u64,
    },
    /// Its ciphertext is uploaded; [`Progress::advance`] follows.
    Uploading {
        /// The local file's name.
        name: &'a str,
        /// Ciphertext bytes in all.
        total: u64,
        /// Where an interrupted upload continues from (0: from the start).
        from: u64,
    },
    /// A blob is downloaded; [`Progress::advance`] follows.
    Downloading {
        /// The entry's name, as the space holds it: someone else's text, escape it
        /// before showing it.
        name: &'a str,
        /// Ciphertext bytes in all.
        total: u64,
        /// Where an interrupted download continues from (0: from the start).
        from: u64,
    },
    /// The downloaded blob is checked against its manifest and decrypted.
    Checking {
        /// The entry's name, as the space holds it: escape it before showing it.
        name: &'a str,
    },
}

/// Told how a transfer goes; the caller decides what to show (the CLI draws a progress
/// bar on a terminal).
pub trait Progress: Send + Sync {
    /// A step starts.
    fn stage(&self, stage: Stage<'_>);
    /// The current upload or download has moved `done` of its total bytes.
    fn advance(&self, done: u64);
    /// The current upload or download is over.
    fn finish(&self);
}

/// One upload or download: paces it to the rate limit and reports it.
pub(super) struct Meter {
    limit: Option<u64>,
    start_at: u64,
    started: Instant,
    progress: Option<Arc<dyn Progress>>,
}

impl Meter {
    /// Starts reporting `stage`, which continues from byte `start_at`.
    pub(super) fn new(opts: &TransferOptions, start_at: u64, stage: Stage<'_>) -> Self {
        if let Some(p) = &opts.progress {
            p.stage(stage);
        }
        Meter { limit: opts.limit_rate.filter(|r| *r > 0), start_at, started: Instant::now(), progress: opts.progress.clone() }
    }

    /// `at` bytes are through: waits as long as the rate limit asks, then reports.
    pub(super) async fn advance(&mut self, at: u64) {
        if let Some(rate) = self.limit {
            let moved = at.saturating_sub(self.start_at);
            let due = Duration::from_secs_f64(moved as f64 / rate as f64);
            let elapsed = self.started.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        }
        if let Some(p) = &self.progress {
            p.advance(at);
        }
    }

    /// The transfer is over.
    pub(super) fn done(&self) {
        if let Some(p) = &self.progress {
            p.finish();
        }
    }
}

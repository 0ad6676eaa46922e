//! The sweep that forgets stale uploads and blobs no row ever referred to, and messages
//! older than their time to live, then gives the freed space back to the file system; at
//! start and then every [`SWEEP_INTERVAL`].

use std::sync::Arc;

use tokio::sync::watch;

use crate::blobs::Files;
use crate::limits::{QueueLimits, STALE_AFTER_MS, SWEEP_INTERVAL};
use crate::store::{Store, StoreError};

/// Forgets uploads started more than [`STALE_AFTER_MS`] ago (with their part files) and
/// blobs finished that long ago that no row ever referred to (with their bytes).
async fn sweep(store: &Store, files: &Files) -> Result<(), StoreError> {
    let before = hush_core::now_ms().saturating_sub(STALE_AFTER_MS);
    let mut uploads = 0_usize;
    for upload_id in store.stale_uploads(before).await? {
        let _lock = files.locks.lock(&upload_id).await;
        if store.forget_upload(&upload_id, before).await? {
            uploads += 1;
            match tokio::fs::remove_file(files.part_path(&upload_id)).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::error!(%upload_id, error = %e, "could not delete a stale upload's part file"),
            }
        }
    }
    let blobs = store.forget_unlinked_blobs(before).await?;
    files.delete_objects(&blobs).await;
    if uploads > 0 || !blobs.is_empty() {
        tracing::info!(uploads, blobs = blobs.len(), "forgot stale uploads and unused files");
    }
    Ok(())
}

/// Deletes messages older than the time to live (with their inbox rows), then gives the
/// database's free pages back to the file system (what acknowledged and expired messages
/// left behind).
async fn sweep_messages(store: &Store, queues: &QueueLimits) -> Result<(), StoreError> {
    let expired = store.expire_messages(hush_core::now_ms().saturating_sub(queues.ttl_ms)).await?;
    if expired > 0 {
        tracing::info!(messages = expired, "deleted messages older than the time to live");
    }
    let pages = store.reclaim_space().await?;
    if pages > 0 {
        tracing::info!(pages, "gave free database pages back to the file system");
    }
    Ok(())
}

/// Runs [`sweep`] and [`sweep_messages`] now and every [`SWEEP_INTERVAL`] until shutdown.
pub(crate) async fn sweeper(store: Store, files: Arc<Files>, queues: QueueLimits, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = sweep(&store, &files).await {
            tracing::error!(error = %e, "sweeping stale uploads failed");
        }
        if let Err(e) = sweep_messages(&store, &queues).await {
            tracing::error!(error = %e, "sweeping expired messages failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

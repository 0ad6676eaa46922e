//! The sweep that forgets stale uploads and blobs no row ever referred to, at start and
//! then every [`SWEEP_INTERVAL`].

use std::sync::Arc;

use tokio::sync::watch;

use crate::blobs::Files;
use crate::limits::{STALE_AFTER_MS, SWEEP_INTERVAL};
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

/// Runs [`sweep`] now and every [`SWEEP_INTERVAL`] until shutdown.
pub(crate) async fn sweeper(store: Store, files: Arc<Files>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = sweep(&store, &files).await {
            tracing::error!(error = %e, "sweeping stale uploads failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

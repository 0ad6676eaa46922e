//! The scheduled publisher: publishes whatever is pending in the directory every
//! `kt_publish_interval` until the server shuts down.

use std::time::Duration;

use tokio::sync::watch;

use super::Kt;

/// Publishes pending key-directory changes every `interval` until shutdown. A publish in
/// progress is never interrupted (it runs in its own task).
pub(crate) async fn kt_publisher(kt: Kt, interval: Duration, mut shutdown: watch::Receiver<bool>) {
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

//! Push: one WebSocket per connected device. The server sends the text frame `inbox`
//! whenever that device's inbox got an item; the device then fetches `GET /v1/inbox`.
//! Nothing else travels on it.
//!
//! The task ends when the client closes or vanishes (no frame heard for
//! [`IDLE_LIMIT`] although the server pings every [`PING_EVERY`]), when its device is
//! revoked, or when the server shuts down, so no task outlives its connection.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// How often the server pings an idle socket.
pub const PING_EVERY: Duration = Duration::from_secs(30);
/// A socket silent for this long (no pong, no frame) is dropped.
pub const IDLE_LIMIT: Duration = Duration::from_secs(75);

/// The frame that says "fetch your inbox".
const INBOX: &str = "inbox";

/// Serves one device's socket until it closes, goes silent, or the server shuts down.
pub async fn serve(
    mut socket: WebSocket,
    device_id: String,
    mut events: broadcast::Receiver<Arc<str>>,
    mut revocations: broadcast::Receiver<Arc<str>>,
    mut shutdown: watch::Receiver<bool>,
) {
    tracing::debug!(%device_id, "websocket opened");
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_heard = Instant::now();
    if *shutdown.borrow_and_update() {
        return;
    }
    loop {
        tokio::select! {
            event = events.recv() => {
                let wake = match event {
                    Ok(id) => *id == *device_id,
                    // Missed some events: one of them may have been ours.
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if wake && socket.send(Message::Text(INBOX.into())).await.is_err() {
                    break;
                }
            }
            revoked = revocations.recv() => match revoked {
                Ok(id) if *id == *device_id => {
                    let bye = CloseFrame { code: close_code::POLICY, reason: "this device was revoked".into() };
                    let _ = socket.send(Message::Close(Some(bye))).await;
                    tracing::debug!(%device_id, "websocket of a revoked device closed");
                    break;
                }
                // Another device's, or missed ones: a revoked device gets no inbox items,
                // so its socket has nothing to carry anyway.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                // Pings are answered by the WebSocket layer; any frame shows the peer is alive.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => last_heard = Instant::now(),
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > IDLE_LIMIT {
                    tracing::debug!(%device_id, "websocket silent for too long; closing");
                    break;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            _ = shutdown.changed() => {
                let bye = CloseFrame { code: close_code::AWAY, reason: "server shutting down".into() };
                let _ = socket.send(Message::Close(Some(bye))).await;
                break;
            }
        }
    }
    tracing::debug!(%device_id, "websocket closed");
}

//! Push: one WebSocket per connected device. The server sends the text frame `inbox`
//! whenever that device's inbox got an item; the device then fetches `GET /v1/inbox`.
//! Nothing else travels on it.
//!
//! A push wakes only the sockets of the devices it concerns: [`Pushes`] keeps, per device,
//! a wake-up signal for each of its open sockets, and a socket's entry goes when its task
//! ends (its [`Subscription`] is dropped), so the memory goes with it. A device holds at
//! most `max_per_device` sockets ([`crate::limits::MAX_WEBSOCKETS_PER_DEVICE`] by default); one more
//! closes its oldest with close code [`WEBSOCKET_REPLACED`].
//!
//! The task ends when the client closes or vanishes (the server pings every `ping_every`,
//! and a socket that sends nothing, no pong and no frame, within `pong_deadline` of a ping
//! is closed), when its device is revoked, when a newer socket of its device replaces it,
//! or when the server shuts down, so no task outlives its connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::limits::WEBSOCKET_REPLACED;

/// The frame that says "fetch your inbox".
const INBOX: &str = "inbox";

/// [`Wake::end`]: the device was revoked.
const REVOKED: u8 = 1;
/// [`Wake::end`]: a newer socket of the device took this one's place.
const REPLACED: u8 = 2;

/// The shortest ping interval or pong deadline used, whatever the configuration says (a
/// zero interval would make the ping timer spin).
const SHORTEST: Duration = Duration::from_millis(100);

/// Every open push socket, by device.
pub struct Pushes {
    max_per_device: usize,
    ping_every: Duration,
    pong_deadline: Duration,
    registry: Mutex<Registry>,
}

/// The sockets of each device, oldest first.
#[derive(Default)]
struct Registry {
    next_id: u64,
    devices: HashMap<String, Vec<(u64, Arc<Wake>)>>,
}

/// One socket's wake-up: a stored permit, so wakes that come while the socket is busy
/// sending collapse into one `inbox` frame (which is all the client needs).
#[derive(Default)]
struct Wake {
    notify: Notify,
    /// Why the socket must end: [`REVOKED`], [`REPLACED`], or 0 (the default) if it must not.
    end: AtomicU8,
}

impl Wake {
    fn end_with(&self, why: u8) {
        self.end.store(why, Ordering::Release);
        self.notify.notify_one();
    }
}

/// One socket's place in [`Pushes`]; dropping it takes the socket out.
pub struct Subscription {
    pushes: Arc<Pushes>,
    device_id: String,
    id: u64,
    wake: Arc<Wake>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.pushes.remove(&self.device_id, self.id);
    }
}

impl Pushes {
    /// At most `max_per_device` sockets per device; each pinged every `ping_every` and
    /// closed when silent for `pong_deadline` after a ping.
    pub fn new(max_per_device: usize, ping_every: Duration, pong_deadline: Duration) -> Pushes {
        Pushes {
            max_per_device: max_per_device.max(1),
            ping_every: ping_every.max(SHORTEST),
            pong_deadline: pong_deadline.max(SHORTEST),
            registry: Mutex::default(),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // The registry stays consistent between statements: a panic elsewhere leaves it usable.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a socket of `device_id`; past the cap, the device's oldest sockets are told to
    /// close.
    pub fn subscribe(self: &Arc<Self>, device_id: &str) -> Subscription {
        let wake = Arc::new(Wake::default());
        let mut registry = self.registry();
        let id = registry.next_id;
        registry.next_id += 1;
        let sockets = registry.devices.entry(device_id.to_owned()).or_default();
        sockets.push((id, Arc::clone(&wake)));
        if sockets.len() > self.max_per_device {
            let over = sockets.len() - self.max_per_device;
            for (_, old) in sockets.drain(..over) {
                old.end_with(REPLACED);
            }
        }
        drop(registry);
        Subscription {
            pushes: Arc::clone(self),
            device_id: device_id.to_owned(),
            id,
            wake,
        }
    }

    fn remove(&self, device_id: &str, id: u64) {
        let mut registry = self.registry();
        let Some(sockets) = registry.devices.get_mut(device_id) else {
            return;
        };
        sockets.retain(|(i, _)| *i != id);
        if sockets.is_empty() {
            registry.devices.remove(device_id);
            // Give back the table's room once most sockets are gone.
            let (len, cap) = (registry.devices.len(), registry.devices.capacity());
            if cap > 64 && len < cap / 4 {
                registry.devices.shrink_to_fit();
            }
        }
    }

    /// Wakes the sockets of these devices, and no other.
    pub fn notify(&self, devices: &[String]) {
        let registry = self.registry();
        for d in devices {
            for (_, wake) in registry.devices.get(d).into_iter().flatten() {
                wake.notify.notify_one();
            }
        }
    }

    /// Closes the sockets of a revoked device.
    pub fn revoke(&self, device_id: &str) {
        let registry = self.registry();
        for (_, wake) in registry.devices.get(device_id).into_iter().flatten() {
            wake.end_with(REVOKED);
        }
    }
}

/// Sends a frame unless the peer stops reading for longer than `limit`.
async fn send(socket: &mut WebSocket, message: Message, limit: Duration) -> bool {
    matches!(tokio::time::timeout(limit, socket.send(message)).await, Ok(Ok(())))
}

/// Sends a close frame (best effort) with this code and reason.
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str, limit: Duration) {
    let bye = CloseFrame { code, reason: reason.into() };
    let _ = send(socket, Message::Close(Some(bye)), limit).await;
}

/// Serves one device's socket until it closes, goes silent, is revoked or replaced, or the
/// server shuts down.
pub async fn serve(mut socket: WebSocket, sub: Subscription, mut shutdown: watch::Receiver<bool>) {
    let device_id = sub.device_id.as_str();
    let (ping_every, deadline_after) = (sub.pushes.ping_every, sub.pushes.pong_deadline);
    tracing::debug!(%device_id, "websocket opened");
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // When a ping is unanswered: the time by which the peer must have sent something.
    let mut deadline: Option<Instant> = None;
    if *shutdown.borrow_and_update() {
        return;
    }
    loop {
        let due = deadline.unwrap_or_else(|| Instant::now() + ping_every + deadline_after);
        tokio::select! {
            () = sub.wake.notify.notified() => match sub.wake.end.load(Ordering::Acquire) {
                REVOKED => {
                    close(&mut socket, hush_proto::WS_CLOSE_REVOKED, "this device was revoked", deadline_after).await;
                    tracing::debug!(%device_id, "websocket of a revoked device closed");
                    break;
                }
                REPLACED => {
                    close(&mut socket, WEBSOCKET_REPLACED, "this device opened too many live connections; this one, its oldest, was closed", deadline_after).await;
                    tracing::debug!(%device_id, "websocket replaced by a newer one of its device");
                    break;
                }
                _ => {
                    if !send(&mut socket, Message::Text(INBOX.into()), deadline_after).await {
                        break;
                    }
                }
            },
            incoming = socket.recv() => match incoming {
                // Pings are answered by the WebSocket layer; any frame shows the peer is alive.
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => deadline = None,
            },
            _ = ping.tick() => {
                if !send(&mut socket, Message::Ping(Default::default()), deadline_after).await {
                    break;
                }
                deadline.get_or_insert_with(|| Instant::now() + deadline_after);
            }
            () = tokio::time::sleep_until(due), if deadline.is_some() => {
                tracing::debug!(%device_id, "websocket did not answer a ping in time; closing");
                close(&mut socket, close_code::AWAY, "no answer to a ping in time", deadline_after).await;
                break;
            }
            _ = shutdown.changed() => {
                close(&mut socket, close_code::AWAY, "server shutting down", deadline_after).await;
                break;
            }
        }
    }
    tracing::debug!(%device_id, "websocket closed");
}

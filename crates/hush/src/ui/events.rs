//! News for the page: an event stream (`GET /api/events`, server-sent events) fed by the
//! push connection to the hush server (each push: sync, then tell the page), by transfers'
//! progress, and by the routes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use hush_client::drive::{Progress, Stage};
use hush_client::push::Push;
use serde_json::json;

use super::{Shared, Ui};

/// `GET /api/events`: one JSON object per event.
pub(crate) async fn stream(State(ui): State<Shared>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = ui.events.subscribe();
    let s = futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(v) => Some((Ok(Event::default().data(v)), rx)),
            // The page fell behind: it refetches anyway.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                Some((Ok(Event::default().data(json!({"type": "changed"}).to_string())), rx))
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    });
    Sse::new(s).keep_alive(KeepAlive::default())
}

/// Follows the server's pushes for the open account: on each, syncs and tells the page.
/// Reconnects when the connection drops; syncs every 30 seconds regardless.
pub(crate) fn follow(ui: Shared) {
    tokio::spawn(async move {
        loop {
            let request = match ui.client.lock().await.as_ref() {
                Some(c) => c.websocket_request(),
                None => return,
            };
            let notifier = match request {
                Ok((url, headers)) => hush_client::push::connect(&url, headers, &ui.trust).await.ok(),
                Err(_) => None,
            };
            sync_now(&ui).await;
            let Some(mut n) = notifier else {
                ui.send_event(json!({"type": "offline"}));
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            };
            let mut live = true;
            loop {
                tokio::select! {
                    push = n.next(), if live => match push {
                        Push::Inbox => {}
                        Push::Lost(_) => break,
                        // Another live connection of this device took over (or it was
                        // revoked): reconnecting would only close another; keep syncing.
                        Push::Replaced | Push::Revoked => live = false,
                    },
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                }
                sync_now(&ui).await;
            }
        }
    });
}

/// Fetches the inbox; a misbehaving server becomes an alert; the page is told.
pub(crate) async fn sync_now(ui: &Ui) {
    let mut guard = ui.client.lock().await;
    let Some(c) = guard.as_mut() else { return };
    let before = c.alerts().len();
    match c.sync().await {
        Ok(_) => {}
        Err(e) if e.is_server_misbehaviour() => {
            let _ = c.alert("", &e.to_string());
        }
        Err(_) => {
            drop(guard);
            ui.send_event(json!({"type": "offline"}));
            return;
        }
    }
    let alerted = c.alerts().len() > before;
    drop(guard);
    if alerted {
        ui.send_event(json!({"type": "alert"}));
    }
    ui.changed();
}

/// A transfer's progress, told to the page (at most a few times a second).
pub(crate) struct PageProgress {
    ui: Shared,
    name: std::sync::Mutex<(String, &'static str, u64, std::time::Instant)>,
}

impl PageProgress {
    pub(crate) fn new(ui: Shared) -> Arc<PageProgress> {
        Arc::new(PageProgress { ui, name: std::sync::Mutex::new((String::new(), "", 0, std::time::Instant::now())) })
    }

    fn tell(&self, done: u64, force: bool) {
        let Ok(mut s) = self.name.lock() else { return };
        if !force && s.3.elapsed() < Duration::from_millis(200) {
            return;
        }
        s.3 = std::time::Instant::now();
        self.ui.send_event(json!({"type": "progress", "name": s.0, "stage": s.1, "done": done, "total": s.2}));
    }
}

impl Progress for PageProgress {
    fn stage(&self, stage: Stage<'_>) {
        let (name, what, total) = match stage {
            Stage::Encrypting { name, size } => (name, "encrypting", size),
            Stage::Uploading { name, total, .. } => (name, "uploading", total),
            Stage::Downloading { name, total, .. } => (name, "downloading", total),
            Stage::Checking { name } => (name, "checking", 0),
            _ => ("", "working", 0),
        };
        if let Ok(mut s) = self.name.lock() {
            *s = (name.to_owned(), what, total, std::time::Instant::now());
        }
        self.tell(0, true);
    }

    fn advance(&self, done: u64) {
        self.tell(done, false);
    }

    fn finish(&self) {
        let total = self.name.lock().map(|s| s.2).unwrap_or(0);
        self.tell(total, true);
    }
}

//! `hush ui`: the app. This process opens the device's [`hush_client::Client`] (the keys
//! never leave it) and serves a web app for it on a loopback address: the page calls a small
//! JSON API (one route per library call, no protocol, crypto or storage here) and hears
//! about news on an event stream.
//!
//! - `guard`: who may talk to it (the one-time URL that becomes a session cookie, the Host
//!   and Origin checks, CSRF, the Content-Security-Policy);
//! - `account`, `chats`, `files`: the API, by screen; `events`: the live stream, the push
//!   connection to the server behind it, and transfer progress;
//! - `reply`: how a library error becomes a status and a sentence; `assets`: the page,
//!   embedded in the binary.

mod account;
mod assets;
mod chats;
mod events;
mod files;
mod guard;
mod reply;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use hush_client::Client;
use hush_client::tls::Trust;
use tokio::sync::{Mutex, broadcast};

pub(crate) use reply::UiError;

/// The running app: one device's client, the session, and the event stream.
pub(crate) struct Ui {
    /// The hush home.
    home: PathBuf,
    /// Authorities trusted for an https server.
    trust: Trust,
    /// Where the app listens (the only Host it answers to).
    addr: SocketAddr,
    /// Who may use it.
    guard: guard::Keys,
    /// The open account, once unlocked (or registered, linked, recovered).
    client: Mutex<Option<Client>>,
    /// News for the page (JSON objects, see `events`).
    events: broadcast::Sender<String>,
    /// Set while this device is being linked to an account.
    linking: std::sync::atomic::AtomicBool,
}

/// The shared handle every route gets.
pub(crate) type Shared = Arc<Ui>;

/// Options of `hush ui`.
pub(crate) struct Options {
    pub(crate) home: PathBuf,
    pub(crate) trust: Trust,
    pub(crate) listen: SocketAddr,
    /// Open the URL in a browser, when one is there.
    pub(crate) open_browser: bool,
    /// Open the account at once with this passphrase (the demo's people).
    pub(crate) passphrase: Option<zeroize::Zeroizing<String>>,
}

/// A started app: its address, the one-time URL to give a person, and the server task.
pub(crate) struct Started {
    pub(crate) url: String,
    pub(crate) task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Binds the loopback address and starts serving; returns the one-time URL.
pub(crate) async fn start(opts: Options) -> anyhow::Result<Started> {
    if !opts.listen.ip().is_loopback() {
        anyhow::bail!("hush ui listens only on a loopback address (127.0.0.1 or ::1), not {}: the app holds your keys", opts.listen.ip());
    }
    // Other hush commands on this home are told the app holds it, instead of waiting.
    hush_client::state::hold_homes_long();
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| anyhow::anyhow!("can't listen on {}: {e}", opts.listen))?;
    let addr = listener.local_addr()?;
    let (events, _) = broadcast::channel(256);
    let ui = Arc::new(Ui {
        home: opts.home,
        trust: opts.trust,
        addr,
        guard: guard::Keys::generate(),
        client: Mutex::new(None),
        events,
        linking: Default::default(),
    });
    if let Some(p) = opts.passphrase {
        let c = Client::open(&ui.home, p.as_bytes(), &ui.trust)?;
        ui.opened(c).await;
    }
    let url = format!("http://{addr}/session?token={}", ui.guard.token());
    let app = router(ui.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.map_err(|e| anyhow::anyhow!("the app stopped: {e}"))
    });
    Ok(Started { url, task })
}

/// `hush ui`: starts, prints the URL (and opens it where a browser exists), serves until
/// Ctrl-C.
pub(crate) async fn run(opts: Options) -> anyhow::Result<()> {
    let open_browser = opts.open_browser;
    let started = start(opts).await?;
    println!("hush ui: open this address in your browser (it works once, and only on this machine):\n\n    {}\n", started.url);
    println!("Keep this running while you use the app; Ctrl-C stops it.");
    if open_browser {
        open_in_browser(&started.url);
    }
    tokio::select! {
        r = started.task => r?,
        _ = crate::signal::shutdown_signal() => Ok(()),
    }
}

/// Asks the desktop to open the URL; nothing happens where there is no desktop.
fn open_in_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() && cfg!(target_os = "linux") {
        return;
    }
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

impl Ui {
    /// Takes an opened account: keeps it, and starts following the server's pushes.
    async fn opened(self: &Arc<Self>, client: Client) {
        // Bytes a stopped app left on their way (the home's lock is ours now).
        let _ = std::fs::remove_dir_all(self.home.join("ui-transfers"));
        *self.client.lock().await = Some(client);
        events::follow(self.clone());
        self.changed();
    }

    /// The open account, or a 423 asking to unlock it first.
    async fn client(&self) -> Result<tokio::sync::MappedMutexGuard<'_, Client>, UiError> {
        let guard = self.client.lock().await;
        tokio::sync::MutexGuard::try_map(guard, Option::as_mut).map_err(|_| UiError::locked())
    }

    /// Tells the page something changed.
    fn changed(&self) {
        self.send_event(serde_json::json!({"type": "changed"}));
    }

    fn send_event(&self, v: serde_json::Value) {
        let _ = self.events.send(v.to_string());
    }
}

fn router(ui: Shared) -> Router {
    let api = Router::new()
        .route("/api/status", get(account::status))
        .route("/api/register", post(account::register))
        .route("/api/unlock", post(account::unlock))
        .route("/api/link", post(account::link))
        .route("/api/recover", post(account::recover))
        .route("/api/passphrase", post(account::passphrase))
        .route("/api/devices", get(account::devices))
        .route("/api/devices/approve", post(account::approve))
        .route("/api/devices/revoke", post(account::revoke))
        .route("/api/guardians", post(account::guardians))
        .route("/api/guardians/approve", post(account::approve_guardian))
        .route("/api/conversations", get(chats::list).post(chats::create))
        .route("/api/conversations/{id}", get(chats::view))
        .route("/api/conversations/{id}/{action}", post(chats::change))
        .route("/api/send", post(chats::send))
        .route("/api/safety/{user}", get(chats::safety))
        .route("/api/safety/{user}/confirm", post(chats::confirm))
        .route("/api/trust/{user}", post(chats::trust))
        .route("/api/alerts", get(chats::alerts))
        .route("/api/alerts/{id}/ack", post(chats::acknowledge))
        .route("/api/files", get(files::list))
        .route("/api/files/upload", post(files::upload))
        .route("/api/files/download", get(files::download))
        .route("/api/files/export", get(files::export))
        .route("/api/files/{action}", post(files::change))
        .route("/api/events", get(events::stream));
    Router::new()
        .merge(api)
        .merge(assets::routes())
        .route("/session", get(guard::exchange))
        .layer(axum::middleware::from_fn_with_state(ui.clone(), guard::check))
        .with_state(ui)
}

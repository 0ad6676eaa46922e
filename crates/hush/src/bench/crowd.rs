//! A crowd of idle push WebSockets for `hush bench`: other people's devices, each
//! registered over the API with real keys (a certificate and KeyPackages, as a client
//! makes them), each holding live connections that answer the server's pings and are never
//! woken by the chat being measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hush_client::api::{Api, Signer};
use hush_client::push::Push;
use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
use hush_core::mls::{self, Device, HushProvider};
use hush_proto::{B64, DeviceUpload, RegisterRequest, RegisteredDevice};
use tokio::task::JoinSet;

/// Live connections held open until this is dropped.
pub(super) struct Crowd {
    _sockets: JoinSet<()>,
    alive: Arc<AtomicUsize>,
    woken: Arc<AtomicUsize>,
    /// How many connections were opened.
    pub(super) opened: usize,
    /// How many devices hold them.
    pub(super) devices: usize,
}

/// Registers `devices` users with one device each, and opens `per_device` push WebSockets
/// for each of them on the server at `url`.
pub(super) async fn gather(url: &str, devices: usize, per_device: usize) -> anyhow::Result<Crowd> {
    let trust = hush_client::tls::Trust::default();
    let api = Api::new(url, &trust)?;
    let ws_url = format!("{}/v1/ws", url.replacen("http", "ws", 1));
    let provider = HushProvider::new()?;
    let mut sockets = JoinSet::new();
    let alive = Arc::new(AtomicUsize::new(0));
    let woken = Arc::new(AtomicUsize::new(0));
    for i in 0..devices {
        let username = format!("crowd{i}");
        let identity = SecretKey::generate();
        let key = SecretKey::generate();
        let device_id = new_device_id();
        let certificate = DeviceCertificate::issue(&identity, &username, &device_id, key.public());
        let (key_packages, last_resort) = mls::key_packages(&provider, &Device { key: &key, certificate: &certificate }, 1)?;
        let request = RegisterRequest {
            username,
            identity_key: B64(identity.public().0.to_vec()),
            device: DeviceUpload {
                certificate: B64(certificate.encode()),
                key_packages: key_packages.into_iter().map(B64).collect(),
                last_resort: B64(last_resort),
            },
            invite: None,
        };
        let signer = Signer { device_id: &device_id, key: &key };
        let _: RegisteredDevice = api.call(Some(&signer), reqwest::Method::POST, "/v1/register", Some(&request)).await?;
        for _ in 0..per_device {
            let headers = Api::signed_headers(&signer, "GET", "/v1/ws", b"");
            let mut socket = hush_client::push::connect(&ws_url, headers, &trust).await?;
            let (alive, woken) = (Arc::clone(&alive), Arc::clone(&woken));
            alive.fetch_add(1, Ordering::Relaxed);
            // Reading answers the server's pings. Nothing is sent to these devices, so a
            // push here is a socket woken for nothing: counted.
            sockets.spawn(async move {
                while socket.next().await == Push::Inbox {
                    woken.fetch_add(1, Ordering::Relaxed);
                }
                alive.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
    let opened = alive.load(Ordering::Relaxed);
    Ok(Crowd { _sockets: sockets, alive, woken, opened, devices })
}

impl Crowd {
    /// How many of the crowd's connections are still open.
    pub(super) fn still_open(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }

    /// How many pushes reached the crowd (none should: nothing is sent to them).
    pub(super) fn woken(&self) -> usize {
        self.woken.load(Ordering::Relaxed)
    }
}

/// This process's resident memory, in MiB (Linux; 0 elsewhere).
pub(super) fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())))
        .flatten()
        .map_or(0, |kib| kib / 1024)
}

//! The account screens: onboarding (register, unlock, link to another device, recover),
//! the passphrase, devices, and guardians.

use axum::Json;
use axum::extract::State;
use hush_client::Client;
use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::reply::{Reply, done};
use super::{Shared, UiError};

/// `GET /api/status`: whether there is an account and whether it is open; the CSRF token.
pub(crate) async fn status(State(ui): State<Shared>) -> Reply {
    let guard = ui.client.lock().await;
    let account = match guard.as_ref() {
        Some(_) => "open",
        None if ui.linking.load(std::sync::atomic::Ordering::Relaxed) => "linking",
        None if ui.home.join("state.hush").exists() => "locked",
        None => "none",
    };
    let c = guard.as_ref();
    Ok(Json(json!({
        "account": account,
        "username": c.map(|c| c.username().to_owned()),
        "device_id": c.map(|c| c.device_id().to_owned()),
        "server": c.map(|c| c.server().to_owned()),
        "fingerprint": c.map(Client::fingerprint),
        "home": ui.home.display().to_string(),
        "csrf": ui.guard.csrf,
    })))
}

/// What onboarding sends.
#[derive(Deserialize)]
pub(crate) struct NewAccount {
    server: String,
    username: String,
    passphrase: Zeroizing<String>,
    #[serde(default)]
    phrase: Option<Zeroizing<String>>,
}

/// Refuses onboarding when an account is open or being linked.
async fn fresh(ui: &Shared, req: &NewAccount) -> Result<(), UiError> {
    if ui.client.lock().await.is_some() || ui.linking.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(UiError::usage("this app already has an account open"));
    }
    if req.passphrase.chars().count() < 8 {
        return Err(UiError::usage("choose a passphrase of at least 8 characters"));
    }
    let s = req.server.trim();
    if !(s.starts_with("https://") || s.starts_with("http://127.0.0.1") || s.starts_with("http://localhost") || s.starts_with("http://[::1]")) {
        return Err(UiError::usage("the server address must start with https:// (http:// only for a server on this machine)"));
    }
    Ok(())
}

/// After onboarding: the home remembers its server, and the account is kept open.
async fn settle(ui: &Shared, server: &str, c: Client) -> Result<(), UiError> {
    crate::client_config::remember(&ui.home, server.trim(), &ui.trust)?;
    ui.opened(c).await;
    Ok(())
}

/// `POST /api/register`: creates the account; answers with the recovery phrase, shown once.
pub(crate) async fn register(State(ui): State<Shared>, Json(req): Json<NewAccount>) -> Reply {
    fresh(&ui, &req).await?;
    let mut c = Client::register(&ui.home, req.server.trim(), &ui.trust, req.username.trim(), req.passphrase.as_bytes()).await?;
    let phrase = c.take_recovery_phrase().map(|p| p.to_text());
    settle(&ui, &req.server, c).await?;
    Ok(Json(json!({"recovery_phrase": phrase.as_deref().map(|p| p.as_str())})))
}

/// The passphrase alone.
#[derive(Deserialize)]
pub(crate) struct Unlock {
    passphrase: Zeroizing<String>,
}

/// `POST /api/unlock`: opens the account in this home.
pub(crate) async fn unlock(State(ui): State<Shared>, Json(req): Json<Unlock>) -> Reply {
    if ui.client.lock().await.is_some() {
        return status(State(ui)).await;
    }
    let (home, trust) = (ui.home.clone(), ui.trust.clone());
    // Deriving the key from the passphrase is slow on purpose: off the async threads.
    let c = tokio::task::spawn_blocking(move || Client::open(&home, req.passphrase.as_bytes(), &trust))
        .await
        .map_err(|e| UiError::from(anyhow::anyhow!("{e}")))??;
    c.clean_stale_outputs();
    ui.opened(c).await;
    status(State(ui)).await
}

/// `POST /api/link`: asks to join an account as a new device; answers with the code to
/// approve on a device already signed in. The rest goes on here; the page hears `linked`
/// or `link_failed`.
pub(crate) async fn link(State(ui): State<Shared>, Json(req): Json<NewAccount>) -> Reply {
    fresh(&ui, &req).await?;
    ui.linking.store(true, std::sync::atomic::Ordering::Relaxed);
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let ui2 = ui.clone();
    let task = tokio::spawn(async move {
        let r = hush_client::link::link_new_device(&ui2.home, req.server.trim(), &ui2.trust, req.username.trim(), req.passphrase.as_bytes(), |code| {
            let _ = tx.send(code.to_owned());
        })
        .await;
        let r = match r {
            Ok(c) => settle(&ui2, &req.server, c).await,
            Err(e) => Err(e.into()),
        };
        ui2.linking.store(false, std::sync::atomic::Ordering::Relaxed);
        match &r {
            Ok(()) => ui2.send_event(json!({"type": "linked"})),
            Err(e) => ui2.send_event(json!({"type": "link_failed", "error": e.message()})),
        }
        r
    });
    match rx.await {
        Ok(code) => Ok(Json(json!({"code": code}))),
        // The sender went without a code: the task failed before it had one.
        Err(_) => match task.await {
            Ok(Err(e)) => Err(e),
            _ => Err(UiError::usage("linking stopped before a code was made")),
        },
    }
}

/// `POST /api/recover`: restores the account from the recovery phrase on this new device.
pub(crate) async fn recover(State(ui): State<Shared>, Json(req): Json<NewAccount>) -> Reply {
    fresh(&ui, &req).await?;
    let phrase = req.phrase.clone().ok_or_else(|| UiError::usage("type your 24-word recovery phrase"))?;
    let c = hush_client::recover(&ui.home, req.server.trim(), &ui.trust, req.username.trim(), &phrase, req.passphrase.as_bytes()).await?;
    settle(&ui, &req.server, c).await?;
    status(State(ui)).await
}

/// Old and new passphrase.
#[derive(Deserialize)]
pub(crate) struct NewPassphrase {
    old: Zeroizing<String>,
    new: Zeroizing<String>,
}

/// `POST /api/passphrase`: seals the state under a new passphrase.
pub(crate) async fn passphrase(State(ui): State<Shared>, Json(req): Json<NewPassphrase>) -> Reply {
    let mut c = ui.client().await?;
    c.check_passphrase(req.old.as_bytes())?;
    if req.new.chars().count() < 8 {
        return Err(UiError::usage("choose a passphrase of at least 8 characters"));
    }
    c.change_passphrase(req.new.as_bytes())?;
    done()
}

/// `GET /api/devices`: this account's devices.
pub(crate) async fn devices(State(ui): State<Shared>) -> Reply {
    let mut c = ui.client().await?;
    let list: Vec<_> = c.devices().await?.into_iter().map(|(id, this)| json!({"device_id": id, "this": this})).collect();
    Ok(Json(json!(list)))
}

/// A link code typed by the person.
#[derive(Deserialize)]
pub(crate) struct Code {
    code: String,
    #[serde(default)]
    owner: String,
}

/// `POST /api/devices/approve`: approves a new device showing this code.
pub(crate) async fn approve(State(ui): State<Shared>, Json(req): Json<Code>) -> Reply {
    let mut c = ui.client().await?;
    let id = hush_client::link::approve(&mut c, req.code.trim()).await?;
    drop(c);
    ui.changed();
    Ok(Json(json!({"device_id": id})))
}

/// A device id.
#[derive(Deserialize)]
pub(crate) struct DeviceId {
    device_id: String,
}

/// `POST /api/devices/revoke`.
pub(crate) async fn revoke(State(ui): State<Shared>, Json(req): Json<DeviceId>) -> Reply {
    let mut c = ui.client().await?;
    c.revoke_device(req.device_id.trim()).await?;
    done()
}

/// Guardians and how many of them together restore the account.
#[derive(Deserialize)]
pub(crate) struct Guardians {
    guardians: Vec<String>,
    threshold: usize,
}

/// `POST /api/guardians`.
pub(crate) async fn guardians(State(ui): State<Shared>, Json(req): Json<Guardians>) -> Reply {
    let mut c = ui.client().await?;
    let users: Vec<String> = req.guardians.iter().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect();
    c.set_guardians(&users, req.threshold).await?;
    done()
}

/// `POST /api/guardians/approve`: sends our share of a friend's recovery to their new device.
pub(crate) async fn approve_guardian(State(ui): State<Shared>, Json(req): Json<Code>) -> Reply {
    let mut c = ui.client().await?;
    c.approve_guardian(req.owner.trim(), req.code.trim()).await?;
    done()
}

//! Linking a new device: the new device asks, an existing device approves with the code
//! the new device shows. See `hush_core::link` for the cryptography.

use std::collections::BTreeMap;
use std::path::Path;

use hush_core::identity::{DeviceCertificate, PublicKey, SecretKey, new_device_id};
use hush_core::link::{self as corelink, LinkKeys};
use hush_core::mls::{self, Device, HushProvider};
use hush_core::sealed::SealKey;
use hush_proto::{self as proto, B64};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::{Api, Signer};
use crate::state::{Contact, Home, SecretBytes, State};
use crate::{Client, ClientError, KEY_PACKAGE_BATCH};

/// How long the new device waits for approval.
const WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// What an existing device hands to a new one, sealed to its link key.
#[derive(Serialize, Deserialize)]
struct Bundle {
    identity_secret: SecretBytes,
    certificate: B64,
    contacts: BTreeMap<String, Contact>,
    #[serde(default)]
    recovery: Option<crate::recovery::RecoveryState>,
}

/// On the new device: asks to join `username`'s account, calls `show_code` with the code
/// to type on an existing device, waits for the approval, and registers this device.
pub async fn link_new_device(
    home_dir: &Path,
    server: &str,
    username: &str,
    passphrase: &[u8],
    show_code: impl FnOnce(&str),
) -> Result<Client, ClientError> {
    hush_core::username::validate(username).map_err(|e| ClientError::Usage(e.to_string()))?;
    if passphrase.is_empty() {
        return Err(ClientError::Usage("the passphrase may not be empty".into()));
    }
    let home = Home::lock(home_dir)?;
    if home.has_state() {
        return Err(ClientError::AccountExists(home_dir.display().to_string()));
    }
    let api = Api::new(server)?;
    let device_key = SecretKey::generate();
    let keys = LinkKeys::generate().map_err(|e| ClientError::Internal(e.to_string()))?;
    let req = proto::LinkRequest {
        username: username.to_owned(),
        device_key: B64(device_key.public().0.to_vec()),
        hpke_key: B64(keys.public.clone()),
    };
    let created: proto::LinkCreated = api.call(None, Method::POST, "/v1/link", Some(&req)).await?;
    show_code(&corelink::code(username, &device_key.public(), &keys.public));

    let deadline = tokio::time::Instant::now() + WAIT;
    let sealed = loop {
        let status: proto::LinkStatus = api
            .call::<(), _>(None, Method::GET, &format!("/v1/link/{}", created.link_id), None)
            .await?;
        if let Some(s) = status.sealed {
            break s;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(ClientError::Usage("no device approved the link within 10 minutes".into()));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let plain = keys
        .open(username, &device_key.public(), &sealed.0)
        .map_err(|e| ClientError::Usage(e.to_string()))?;
    let bundle: Bundle = serde_json::from_slice(&plain).map_err(|_| ClientError::Usage("the approval is malformed".into()))?;
    let identity = SecretKey::from_bytes(&bundle.identity_secret.0).map_err(|e| ClientError::Usage(e.to_string()))?;
    let certificate = DeviceCertificate::decode_and_verify(&bundle.certificate.0).map_err(|e| ClientError::Usage(e.to_string()))?;
    let body = certificate.body().clone();
    if body.username != username || !body.device_key.ct_eq(&device_key.public()) || !body.identity_key.ct_eq(&identity.public()) {
        return Err(ClientError::Usage("the approval's certificate is not for this device".into()));
    }

    let provider = HushProvider::new()?;
    let (kps, last) = mls::key_packages(&provider, &Device { key: &device_key, certificate: &certificate }, KEY_PACKAGE_BATCH)?;
    let upload = proto::DeviceUpload {
        certificate: B64(certificate.encode()),
        key_packages: kps.into_iter().map(B64).collect(),
        last_resort: B64(last),
    };
    let signer = Signer { device_id: &body.device_id, key: &device_key };
    let _: proto::RegisteredDevice = api.call(Some(&signer), Method::POST, "/v1/devices", Some(&upload)).await?;

    let mut contacts = bundle.contacts;
    contacts.entry(username.to_owned()).or_insert(Contact {
        identity_key: identity.public(),
        pinned_at: hush_core::now_ms(),
        changed_key: None,
        verified: true,
    });
    let state = State {
        version: 1,
        server: api.base().to_owned(),
        username: username.to_owned(),
        device_id: body.device_id.clone(),
        identity_secret: SecretBytes(Zeroizing::new(identity.to_bytes().to_vec())),
        device_secret: SecretBytes(Zeroizing::new(device_key.to_bytes().to_vec())),
        certificate: certificate.encode(),
        contacts,
        conversations: Default::default(),
        unread: Vec::new(),
        seen: Default::default(),
        pending_device_checks: Default::default(),
        mls: SecretBytes::default(),
        kt: Default::default(),
        recovery: bundle.recovery,
        guardians: None,
        held_shares: Default::default(),
    };
    let key = SealKey::derive_new(passphrase).map_err(|e| ClientError::Internal(e.to_string()))?;
    let mut client = Client { home, key, state, provider, identity, device_key, certificate, api, fresh_phrase: None };
    client.save()?;
    // Our devices, now including this one, as the directory must show them.
    let own = client.own_device_list().await?;
    client.kt_acknowledge(&hush_core::kt::directory_value(&client.identity.public(), &own));
    let me = client.state.username.clone();
    let ik = client.identity.public();
    client.kt_check_user(&me, &ik, &own).await?;
    client.save()?;
    Ok(client)
}

/// On an existing device: approves the pending request whose code matches. Returns the
/// new device's id.
pub async fn approve(client: &mut Client, typed_code: &str) -> Result<String, ClientError> {
    let pending: proto::PendingLinks = client
        .api
        .call::<(), _>(Some(&client.signer()), Method::GET, "/v1/link", None)
        .await?;
    let username = client.state.username.clone();
    let found = pending.requests.into_iter().find(|r| {
        PublicKey::from_slice(&r.device_key.0)
            .map(|dk| corelink::codes_match(typed_code, &corelink::code(&username, &dk, &r.hpke_key.0)))
            .unwrap_or(false)
    });
    let Some(req) = found else {
        return Err(ClientError::Usage(
            "no device is waiting with that code; check the code on the new device (codes expire after 10 minutes)".into(),
        ));
    };
    let device_key = PublicKey::from_slice(&req.device_key.0).map_err(|e| ClientError::Usage(e.to_string()))?;
    let device_id = new_device_id();
    let cert = DeviceCertificate::issue(&client.identity, &username, &device_id, device_key);
    let bundle = Bundle {
        identity_secret: client.state.identity_secret.clone(),
        certificate: B64(cert.encode()),
        contacts: client.state.contacts.clone(),
        recovery: client.state.recovery.clone(),
    };
    let plain = Zeroizing::new(serde_json::to_vec(&bundle).map_err(|e| ClientError::Internal(e.to_string()))?);
    let sealed = corelink::seal(&username, &device_key, &req.hpke_key.0, &plain).map_err(|e| ClientError::Internal(e.to_string()))?;
    client
        .api
        .call_empty(
            Some(&client.signer()),
            Method::POST,
            &format!("/v1/link/{}/approve", req.link_id),
            Some(&proto::LinkApproval { sealed: B64(sealed) }),
        )
        .await?;
    Ok(device_id)
}

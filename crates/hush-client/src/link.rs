//! Linking a new device: the new device shows a short code, an existing device approves
//! it; the two run SPAKE2 through the server (`hush_core::link`), then the existing device
//! certifies the new one and hands it the account's keys sealed with the PAKE key.

use std::collections::BTreeMap;
use std::path::Path;

use hush_core::identity::{DeviceCertificate, PublicKey, SecretKey, new_device_id};
use hush_core::link::{LinkCode, Pake};
use hush_core::mls::HushProvider;
use hush_core::sealed::SealKey;
use hush_proto::{self as proto, B64};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::{Api, Signer};
use crate::state::{Contact, SecretBytes, State};
use crate::{Client, ClientError};

/// How long either device waits for the other.
const WAIT: std::time::Duration = std::time::Duration::from_secs(600);
const POLL: std::time::Duration = std::time::Duration::from_millis(300);

/// What an existing device hands to a new one, sealed with the PAKE key.
#[derive(Serialize, Deserialize)]
struct Bundle {
    identity_secret: SecretBytes,
    certificate: B64,
    contacts: BTreeMap<String, Contact>,
    #[serde(default)]
    recovery: Option<crate::state::RecoveryState>,
    #[serde(default)]
    drive_keys: BTreeMap<u64, hush_core::files::SpaceKey>,
    #[serde(default)]
    space_keys: BTreeMap<String, BTreeMap<u64, hush_core::files::SpaceKey>>,
    /// The account's accepted directory history and the certificates behind it.
    #[serde(default)]
    kt_history: crate::kt::OwnHistory,
}

fn mismatch() -> ClientError {
    ClientError::Usage(hush_core::link::LinkError::Mismatch.to_string())
}

async fn status(api: &Api, link_id: &str) -> Result<proto::LinkStatus, ClientError> {
    api.call::<(), proto::LinkStatus>(None, Method::GET, &format!("/v1/link/{link_id}"), None)
        .await
        .map_err(|e| match e.code() {
            Some(proto::codes::NOT_FOUND) => ClientError::Usage("the link request expired; start again".into()),
            _ => ClientError::Api(e),
        })
}

async fn give_up(api: &Api, link_id: &str) {
    let _ = api.call_empty::<()>(None, Method::POST, &format!("/v1/link/{link_id}/fail"), None).await;
}

/// On the new device: asks to join `username`'s account, calls `show_code` with the code
/// to type on an existing device, runs the PAKE, and registers this device.
pub async fn link_new_device(
    home_dir: &Path,
    server: &str,
    trust: &crate::tls::Trust,
    username: &str,
    passphrase: &[u8],
    show_code: impl FnOnce(&str),
) -> Result<Client, ClientError> {
    let home = crate::account::new_home(home_dir, username, passphrase)?;
    let api = Api::new(server, trust)?;
    let mut attempt = 0;
    let (code, pake, link_id) = loop {
        let code = LinkCode::generate();
        let pake = Pake::start(username, &code);
        let req = proto::LinkRequest {
            username: username.to_owned(),
            selector: code.selector.clone(),
            pake: B64(pake.message.clone()),
        };
        match api.call::<_, proto::LinkCreated>(None, Method::POST, "/v1/link", Some(&req)).await {
            Ok(c) => break (code, pake, c.link_id),
            Err(e) if e.code() == Some(proto::codes::CONFLICT) && attempt < 3 => attempt += 1,
            Err(e) if e.code() == Some(proto::codes::NOT_FOUND) => {
                return Err(ClientError::Usage(format!("there is no user named {username} on this server")));
            }
            Err(e) => return Err(e.into()),
        }
    };
    show_code(&code.display());
    drop(code);

    let deadline = tokio::time::Instant::now() + WAIT;
    let answer = loop {
        let st = status(&api, &link_id).await?;
        if st.failed {
            return Err(mismatch());
        }
        if let Some(a) = st.answer {
            break a;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(ClientError::Usage("no device approved the link within 10 minutes".into()));
        }
        tokio::time::sleep(POLL).await;
    };
    let session = match pake.finish(&answer.pake.0) {
        Ok(s) if s.check_confirmation(&answer.confirm.0).is_ok() => s,
        _ => {
            give_up(&api, &link_id).await;
            return Err(mismatch());
        }
    };
    let device_key = SecretKey::generate();
    let dev = proto::LinkDevice {
        device_key: B64(device_key.public().0.to_vec()),
        mac: B64(session.device_mac(&device_key.public())),
    };
    api.call_empty(None, Method::POST, &format!("/v1/link/{link_id}/device"), Some(&dev)).await?;
    let sealed = loop {
        let st = status(&api, &link_id).await?;
        if st.failed {
            return Err(mismatch());
        }
        if let Some(s) = st.sealed {
            break s;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(ClientError::Usage("the other device did not finish the link within 10 minutes".into()));
        }
        tokio::time::sleep(POLL).await;
    };
    let plain = session.open(&device_key.public(), &sealed.0).map_err(|_| mismatch())?;
    let bundle: Bundle = serde_json::from_slice(&plain).map_err(|_| ClientError::Usage("the approval is malformed".into()))?;
    let identity = SecretKey::from_bytes(&bundle.identity_secret.0).map_err(|e| ClientError::Usage(e.to_string()))?;
    let certificate = DeviceCertificate::decode_and_verify(&bundle.certificate.0).map_err(|e| ClientError::Usage(e.to_string()))?;
    let body = certificate.body().clone();
    if body.username != username || !body.device_key.ct_eq(&device_key.public()) || !body.identity_key.ct_eq(&identity.public()) {
        return Err(ClientError::Usage("the approval's certificate is not for this device".into()));
    }

    let provider = HushProvider::new()?;
    let upload = crate::account::device_upload(&provider, &device_key, &certificate)?;
    let signer = Signer { device_id: &body.device_id, key: &device_key };
    let _: proto::RegisteredDevice = api.call(Some(&signer), Method::POST, "/v1/devices", Some(&upload)).await?;

    let mut contacts = bundle.contacts;
    contacts.entry(username.to_owned()).or_insert(Contact {
        identity_key: identity.public(),
        pinned_at: hush_core::now_ms(),
        changed_key: None,
        verified: true,
    });
    let mut state = State::new_device(api.base(), username, &identity, &device_key, &certificate, contacts);
    state.recovery = bundle.recovery;
    state.drive_keys = bundle.drive_keys;
    state.space_keys = bundle.space_keys;
    let key = SealKey::derive_new(passphrase).map_err(|e| ClientError::Internal(e.to_string()))?;
    let mut client = Client { home, key, state, provider, identity, device_key, certificate, api, fresh_phrase: None };
    client.kt_adopt_history(bundle.kt_history);
    // Our devices, now including this one, as the directory must show them.
    client.start_new_device().await?;
    Ok(client)
}

/// On an existing device: runs the PAKE with the new device showing `typed_code`,
/// certifies it, and hands it the account's keys. Returns the new device's id.
pub async fn approve(client: &mut Client, typed_code: &str) -> Result<String, ClientError> {
    let code = LinkCode::parse(typed_code).map_err(|e| ClientError::Usage(e.to_string()))?;
    let pending: proto::PendingLinks = client
        .api
        .call::<(), _>(Some(&client.signer()), Method::GET, "/v1/link", None)
        .await?;
    let username = client.state.username.clone();
    let Some(req) = pending.requests.into_iter().find(|r| r.selector == code.selector) else {
        return Err(ClientError::Usage(
            "no device is waiting with that code; check the code on the new device (codes expire after 10 minutes)".into(),
        ));
    };
    let pake = Pake::start(&username, &code);
    let mine = pake.message.clone();
    let session = match pake.finish(&req.pake.0) {
        Ok(s) => s,
        Err(_) => {
            give_up(&client.api, &req.link_id).await;
            return Err(mismatch());
        }
    };
    let answer = proto::LinkAnswer { pake: B64(mine), confirm: B64(session.confirmation()) };
    client
        .api
        .call_empty(Some(&client.signer()), Method::POST, &format!("/v1/link/{}/answer", req.link_id), Some(&answer))
        .await
        .map_err(|e| match e.code() {
            Some(proto::codes::CONFLICT) => ClientError::Usage("that link request was already answered; start again on the new device".into()),
            _ => ClientError::Api(e),
        })?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let dev = loop {
        let st = status(&client.api, &req.link_id).await?;
        if st.failed {
            return Err(mismatch());
        }
        if let Some(d) = st.device {
            break d;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(ClientError::Usage("the new device did not answer within 10 minutes".into()));
        }
        tokio::time::sleep(POLL).await;
    };
    let device_key = PublicKey::from_slice(&dev.device_key.0).map_err(|_| mismatch())?;
    if session.check_device_mac(&device_key, &dev.mac.0).is_err() {
        give_up(&client.api, &req.link_id).await;
        return Err(mismatch());
    }
    let device_id = new_device_id();
    let cert = DeviceCertificate::issue(&client.identity, &username, &device_id, device_key);
    // Kept before anything is published: the version listing the new device is ours.
    client.kt_learn_cert(&cert.encode());
    client.save()?;
    let bundle = Bundle {
        identity_secret: client.state.identity_secret.clone(),
        certificate: B64(cert.encode()),
        contacts: client.state.contacts.clone(),
        recovery: client.state.recovery.clone(),
        drive_keys: client.state.drive_keys.clone(),
        space_keys: client.state.space_keys.clone(),
        kt_history: client.kt_own_history(),
    };
    let plain = Zeroizing::new(serde_json::to_vec(&bundle).map_err(|e| ClientError::Internal(e.to_string()))?);
    let sealed = session.seal(&device_key, &plain);
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

//! The HTTP handlers of API version 1. Each one validates what it is given (answering 4xx
//! with a sentence), hands the store plain values, and wakes the devices that got mail once
//! the store's transaction has committed.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use hush_core::identity::{CertificateBody, DeviceCertificate, PublicKey, device_id_well_formed};
use hush_core::mls::{WireKind, check_key_package, inspect, inspect_welcome};
use hush_proto::{
    Accepted, AckRequest, ClaimResponse, ClaimedKeyPackage, CommitRequest, CreateGroupRequest, DeviceRecord,
    DeviceUpload, GroupInfo, InboxItem, InboxResponse, KeyPackageCount, KeyPackageUpload, MessageRequest,
    RegisterRequest, RegisteredDevice, UserRecord, B64, LinkAnswer, LinkApproval, LinkCreated, LinkDevice,
    LinkRequest, LinkStatus, PendingLink, PendingLinks, KtAudit, KtHistory, KtInfo, KtLookup, Backup, BackupUpload, RECOVERY_DEVICE,
    GuardianRequest, GuardianRequestCreated, GuardianShares, PendingGuardianRequest, PendingGuardianRequests,
    SealedShare,
};
use serde::Deserialize;

use crate::{AppState, Registration};
use crate::auth::{Authed, SignedRequest, guardian_recovery_nonce_scope, parse_json, recovery_nonce_scope};
use crate::error::ApiError;
use crate::store::{BackupSlot, NewBackup, NewCommit, NewDevice, NewGuardianRequest, NewLink, StoreError};

/// Most KeyPackages one request may upload.
pub const MAX_KEY_PACKAGES: usize = 200;
/// Most inbox ids one acknowledgement may carry.
pub const MAX_ACK_IDS: usize = 1000;
/// Inbox page size when the client gives none.
pub const DEFAULT_INBOX_LIMIT: u32 = 100;
/// Largest inbox page.
pub const MAX_INBOX_LIMIT: u32 = 500;
/// Length of an MLS group id in hush.
pub const GROUP_ID_LEN: usize = 16;

/// One path segment, with a JSON error if it can't be read.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(s)| PathParam(s))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

fn group_id_from_hex(hex_id: &str) -> Result<Vec<u8>, ApiError> {
    match hex::decode(hex_id) {
        Ok(id) if id.len() == GROUP_ID_LEN => Ok(id),
        _ => Err(ApiError::BadRequest(format!(
            "a conversation id in the path is {} hex characters",
            GROUP_ID_LEN * 2
        ))),
    }
}

/// `GET /health`.
pub async fn health(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    let dir = state.data_dir.to_path_buf();
    match tokio::task::spawn_blocking(move || crate::data_dir::probe(&dir)).await {
        Ok(Ok(())) => Ok("ok"),
        Ok(Err(e)) => Err(ApiError::Unavailable(format!("the data directory does not take writes: {e}"))),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Any unknown route.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// A known route with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

// ---- devices and users ----

/// Checks KeyPackages: how many, and that each is valid and certified for this very device.
/// Runs on the blocking pool: it is a few hundred signature checks at most.
async fn check_key_packages(
    key_packages: Vec<B64>,
    last_resort: Option<B64>,
    device: CertificateBody,
) -> Result<(Vec<Vec<u8>>, Option<Vec<u8>>), ApiError> {
    if key_packages.len() > MAX_KEY_PACKAGES {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_KEY_PACKAGES} key packages can be uploaded at once"
        )));
    }
    tokio::task::spawn_blocking(move || {
        let check = |what: &str, kp: &B64| -> Result<(), ApiError> {
            let checked = check_key_package(&kp.0)
                .map_err(|e| ApiError::BadRequest(format!("{what} is not valid: {e}")))?;
            let c = &checked.certificate;
            if !c.device_key.ct_eq(&device.device_key)
                || c.device_id != device.device_id
                || c.username != device.username
                || !c.identity_key.ct_eq(&device.identity_key)
            {
                return Err(ApiError::BadRequest(format!(
                    "{what} is not certified for device {} of {}",
                    device.device_id, device.username
                )));
            }
            Ok(())
        };
        for (i, kp) in key_packages.iter().enumerate() {
            check(&format!("key package {i}"), kp)?;
        }
        if let Some(lr) = &last_resort {
            check("the last-resort key package", lr)?;
        }
        Ok((
            key_packages.into_iter().map(|kp| kp.0).collect(),
            last_resort.map(|kp| kp.0),
        ))
    })
    .await
    .map_err(ApiError::internal)?
}

/// The checks shared by register and add-device: the certificate verifies, the request is
/// signed by the certified device key, as the certified device id, and the KeyPackages
/// are this device's.
async fn accept_device(
    state: &AppState,
    signed: &SignedRequest,
    upload: DeviceUpload,
) -> Result<(CertificateBody, NewDevice), ApiError> {
    let cert = DeviceCertificate::decode_and_verify(&upload.certificate.0)
        .map_err(|e| ApiError::BadRequest(format!("the device certificate is not valid: {e}")))?;
    signed.verify(&cert.body().device_key, state).await?;
    let body = cert.body().clone();
    if body.device_id != signed.device_id || !device_id_well_formed(&body.device_id) {
        return Err(ApiError::BadRequest(format!(
            "the certificate is for device {:?}, but the request is signed as device {}",
            body.device_id, signed.device_id
        )));
    }
    let (key_packages, last_resort) =
        check_key_packages(upload.key_packages, Some(upload.last_resort), body.clone()).await?;
    let last_resort = last_resort.ok_or_else(|| ApiError::internal("last-resort key package went missing"))?;
    let device = NewDevice {
        device_id: body.device_id.clone(),
        public_key: body.device_key.0.to_vec(),
        certificate: upload.certificate.0,
        key_packages,
        last_resort,
    };
    Ok((body, device))
}

/// `POST /v1/register`: a new user with its first device.
pub async fn register(State(state): State<AppState>, signed: SignedRequest) -> Result<Response, ApiError> {
    let req: RegisterRequest = parse_json(&signed.body)?;
    let invite = match (state.registration, &req.invite) {
        (Registration::Open, _) => None,
        (Registration::Closed, _) => {
            return Err(ApiError::Forbidden("this server does not register new accounts; ask its operator".into()));
        }
        (Registration::Invite, None) => {
            return Err(ApiError::Forbidden(
                "this server registers new accounts by invitation only: ask its operator for an invite".into(),
            ));
        }
        (Registration::Invite, Some(token)) => Some(crate::admin::invite_hash(token)),
    };
    hush_core::username::validate(&req.username).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let identity_key = PublicKey::from_slice(&req.identity_key.0)
        .map_err(|_| ApiError::BadRequest("identity_key is not a valid Ed25519 public key".into()))?;
    let (cert, device) = accept_device(&state, &signed, req.device).await?;
    if cert.username != req.username {
        return Err(ApiError::BadRequest(format!(
            "the device certificate is for user {:?}, not {:?}",
            cert.username, req.username
        )));
    }
    if !cert.identity_key.ct_eq(&identity_key) {
        return Err(ApiError::BadRequest(
            "the device certificate is not signed by the identity key being registered".into(),
        ));
    }
    state
        .store
        .register_invited(&req.username, &identity_key.0, &device, invite.as_ref(), hush_core::now_ms())
        .await?;
    tracing::info!(username = %req.username, device_id = %device.device_id, "registered user");
    publish_now(&state).await;
    let answer = RegisteredDevice {
        username: req.username,
        device_id: device.device_id,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `POST /v1/devices`: a new device for an existing user, certified by its identity key.
pub async fn add_device(State(state): State<AppState>, signed: SignedRequest) -> Result<Response, ApiError> {
    let upload: DeviceUpload = parse_json(&signed.body)?;
    let (cert, device) = accept_device(&state, &signed, upload).await?;
    let refused = || {
        ApiError::Forbidden(format!(
            "the device certificate is not signed by the identity key of user {}",
            cert.username
        ))
    };
    // An unknown user and a wrong identity key look the same.
    let stored = state.store.identity_key(&cert.username).await?.ok_or_else(refused)?;
    if state.store.is_disabled(&cert.username).await? {
        return Err(ApiError::Forbidden(crate::auth::DISABLED.into()));
    }
    let stored = PublicKey::from_slice(&stored).map_err(ApiError::internal)?;
    if !stored.ct_eq(&cert.identity_key) {
        return Err(refused());
    }
    let delivered = match state
        .store
        .add_device(&cert.username, &stored.0, &device, hush_core::now_ms())
        .await
    {
        Err(StoreError::NotFound(_)) => return Err(refused()),
        other => other?,
    };
    state.notify(&delivered.recipients);
    tracing::info!(username = %cert.username, device_id = %device.device_id, "added device");
    publish_now(&state).await;
    let answer = RegisteredDevice {
        username: cert.username,
        device_id: device.device_id,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `POST /v1/devices/{device_id}/revoke`: the caller revokes one of its user's devices
/// (itself included). It is gone from the directory at once (published before the answer),
/// the devices that share a group with the user and the user's other devices get a
/// `device_revoked` item, and its WebSocket closes. `403` for a device that is not the
/// caller's user's (or does not exist), `409` if revoked already.
pub async fn revoke_device(
    State(state): State<AppState>,
    PathParam(device_id): PathParam,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    if !device_id_well_formed(&device_id) {
        return Err(ApiError::BadRequest(format!("{device_id:?} is not a device id")));
    }
    let me = &authed.device;
    let recipients = state
        .store
        .revoke_device(&me.username, &device_id, hush_core::now_ms())
        .await?;
    tracing::info!(username = %me.username, %device_id, by = %me.device_id, "revoked device");
    // Published before anybody is woken, so the woken find the revocation in the directory.
    publish_now(&state).await;
    state.revoked(&device_id);
    state.notify(&recipients);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/devices`: the caller's user's devices, revoked ones included (its devices
/// account for every version of their key-directory history with them).
pub async fn own_devices(State(state): State<AppState>, authed: Authed) -> Result<Json<hush_proto::OwnDevices>, ApiError> {
    let devices = state.store.device_history(&authed.device.username).await?;
    Ok(Json(hush_proto::OwnDevices {
        devices: devices
            .into_iter()
            .map(|(device_id, key, cert, revoked)| hush_proto::OwnDevice {
                device_id,
                device_key: B64(key),
                certificate: B64(cert),
                revoked,
            })
            .collect(),
    }))
}

/// `GET /v1/users/{username}`.
pub async fn get_user(
    State(state): State<AppState>,
    PathParam(username): PathParam,
    _authed: Authed,
) -> Result<Json<UserRecord>, ApiError> {
    let user = state
        .store
        .user(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no user {username:?}")))?;
    Ok(Json(UserRecord {
        username: user.username,
        identity_key: B64(user.identity_key),
        devices: user
            .devices
            .into_iter()
            .map(|(device_id, certificate)| DeviceRecord {
                device_id,
                certificate: B64(certificate),
            })
            .collect(),
    }))
}

// ---- KeyPackages ----

/// `POST /v1/keypackages`: more KeyPackages for the calling device. Answers the count.
pub async fn upload_key_packages(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<KeyPackageCount>, ApiError> {
    let upload: KeyPackageUpload = parse_json(&authed.body)?;
    let device = &authed.device;
    let identity_key = state
        .store
        .identity_key(&device.username)
        .await?
        .ok_or_else(|| ApiError::internal("an authenticated device has no user"))?;
    let expected = CertificateBody {
        username: device.username.clone(),
        device_id: device.device_id.clone(),
        device_key: device.public_key,
        identity_key: PublicKey::from_slice(&identity_key).map_err(ApiError::internal)?,
        issued_at: 0,
    };
    let (key_packages, last_resort) = check_key_packages(upload.key_packages, upload.last_resort, expected).await?;
    state
        .store
        .add_key_packages(&device.device_id, &key_packages, last_resort.as_deref())
        .await?;
    let remaining = state.store.key_package_count(&device.device_id).await?;
    Ok(Json(KeyPackageCount { remaining }))
}

/// `GET /v1/keypackages/count`.
pub async fn count_key_packages(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<KeyPackageCount>, ApiError> {
    let remaining = state.store.key_package_count(&authed.device.device_id).await?;
    Ok(Json(KeyPackageCount { remaining }))
}

/// `POST /v1/users/{username}/claim`: one KeyPackage per device of the user.
pub async fn claim_key_packages(
    State(state): State<AppState>,
    PathParam(username): PathParam,
    _authed: Authed,
) -> Result<Json<ClaimResponse>, ApiError> {
    let claimed = state
        .store
        .claim(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no user {username:?}")))?;
    Ok(Json(ClaimResponse {
        key_packages: claimed
            .into_iter()
            .map(|(device_id, kp)| ClaimedKeyPackage {
                device_id,
                key_package: B64(kp),
            })
            .collect(),
    }))
}

// ---- groups ----

/// `POST /v1/groups`: a new group with the caller as its only member.
pub async fn create_group(State(state): State<AppState>, authed: Authed) -> Result<Response, ApiError> {
    let req: CreateGroupRequest = parse_json(&authed.body)?;
    if req.group_id.0.len() != GROUP_ID_LEN {
        return Err(ApiError::BadRequest(format!(
            "a conversation id is {GROUP_ID_LEN} bytes, not {}",
            req.group_id.0.len()
        )));
    }
    let me = authed.device.device_id;
    state
        .store
        .create_group(&req.group_id.0, &me, hush_core::now_ms())
        .await?;
    let info = GroupInfo {
        epoch: 0,
        devices: vec![me],
    };
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// `GET /v1/groups/{group_id_hex}`: the routing view, for members only.
pub async fn get_group(
    State(state): State<AppState>,
    PathParam(group_hex): PathParam,
    authed: Authed,
) -> Result<Json<GroupInfo>, ApiError> {
    let group_id = group_id_from_hex(&group_hex)?;
    let view = state
        .store
        .group_for_member(&group_id, &authed.device.device_id)
        .await?;
    Ok(Json(GroupInfo {
        epoch: view.epoch,
        devices: view.devices,
    }))
}

fn check_device_list(what: &str, ids: &[String]) -> Result<(), ApiError> {
    for (i, id) in ids.iter().enumerate() {
        if !device_id_well_formed(id) {
            return Err(ApiError::BadRequest(format!("{what} contains {id:?}, which is not a device id")));
        }
        if ids[..i].contains(id) {
            return Err(ApiError::BadRequest(format!("{what} names device {id} twice")));
        }
    }
    Ok(())
}

/// `POST /v1/groups/{group_id_hex}/commit`: the first commit for the current epoch wins.
pub async fn commit(
    State(state): State<AppState>,
    PathParam(group_hex): PathParam,
    authed: Authed,
) -> Result<Json<Accepted>, ApiError> {
    let group_id = group_id_from_hex(&group_hex)?;
    let me = &authed.device.device_id;
    // Members only, before anything about the body is revealed.
    state.store.group_for_member(&group_id, me).await?;
    let req: CommitRequest = parse_json(&authed.body)?;
    let info = inspect(&req.commit.0).map_err(|e| ApiError::BadRequest(format!("the commit is not valid: {e}")))?;
    if info.kind != WireKind::Commit {
        return Err(ApiError::BadRequest(
            "this is not a commit; send application messages and proposals to /messages".into(),
        ));
    }
    if info.group_id != group_id {
        return Err(ApiError::BadRequest("the commit is for another conversation".into()));
    }
    if let Some(welcome) = &req.welcome {
        inspect_welcome(&welcome.0).map_err(|e| ApiError::BadRequest(format!("the welcome is not valid: {e}")))?;
    }
    check_device_list("added_devices", &req.added_devices)?;
    check_device_list("removed_devices", &req.removed_devices)?;
    match (&req.welcome, req.added_devices.is_empty()) {
        (None, false) => {
            return Err(ApiError::BadRequest("a commit that adds devices needs a welcome for them".into()));
        }
        (Some(_), true) => {
            return Err(ApiError::BadRequest("a welcome needs the devices it is for in added_devices".into()));
        }
        _ => {}
    }
    let delivered = state
        .store
        .commit(
            &NewCommit {
                group_id: &group_id,
                sender: me,
                epoch: info.epoch,
                commit: &req.commit.0,
                welcome: req.welcome.as_ref().map(|w| w.0.as_slice()),
                added: &req.added_devices,
                removed: &req.removed_devices,
            },
            hush_core::now_ms(),
        )
        .await?;
    state.notify(&delivered.recipients);
    Ok(Json(Accepted {
        message_id: delivered.message_id,
        epoch: delivered.epoch,
    }))
}

/// `POST /v1/groups/{group_id_hex}/messages`: an application message or a proposal made in
/// the group's current epoch.
pub async fn post_message(
    State(state): State<AppState>,
    PathParam(group_hex): PathParam,
    authed: Authed,
) -> Result<Json<Accepted>, ApiError> {
    let group_id = group_id_from_hex(&group_hex)?;
    let me = &authed.device.device_id;
    state.store.group_for_member(&group_id, me).await?;
    let req: MessageRequest = parse_json(&authed.body)?;
    let info = inspect(&req.message.0).map_err(|e| ApiError::BadRequest(format!("the message is not valid: {e}")))?;
    if info.kind == WireKind::Commit {
        return Err(ApiError::BadRequest("commits go to /commit, not /messages".into()));
    }
    if info.group_id != group_id {
        return Err(ApiError::BadRequest("the message is for another conversation".into()));
    }
    let delivered = state
        .store
        .post_message(&group_id, me, info.epoch, &req.message.0, hush_core::now_ms())
        .await?;
    state.notify(&delivered.recipients);
    Ok(Json(Accepted {
        message_id: delivered.message_id,
        epoch: delivered.epoch,
    }))
}

// ---- inbox ----

/// Query of `GET /v1/inbox`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Only items with a larger id.
    pub after: Option<i64>,
    /// Page size.
    pub limit: Option<u32>,
}

/// `GET /v1/inbox?after=ID&limit=N`: the caller's items in order.
pub async fn inbox(
    State(state): State<AppState>,
    query: Result<Query<InboxQuery>, QueryRejection>,
    authed: Authed,
) -> Result<Json<InboxResponse>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_INBOX_LIMIT).clamp(1, MAX_INBOX_LIMIT);
    let rows = state
        .store
        .inbox(&authed.device.device_id, query.after.unwrap_or(0), limit)
        .await?;
    Ok(Json(InboxResponse {
        items: rows
            .into_iter()
            .map(|r| InboxItem {
                id: r.id,
                kind: r.kind,
                group_id: r.group_id.map(B64),
                sender_device: r.sender_device,
                payload: B64(r.payload),
                received_at: r.received_at,
            })
            .collect(),
    }))
}

/// `POST /v1/inbox/ack`: delete delivered items of the caller.
pub async fn ack(State(state): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    let req: AckRequest = parse_json(&authed.body)?;
    if req.ids.len() > MAX_ACK_IDS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_ACK_IDS} items can be acknowledged at once"
        )));
    }
    state.store.ack(&authed.device.device_id, &req.ids).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/ws`: a WebSocket that says `inbox` whenever the caller's inbox gets an item.
pub async fn websocket(
    State(state): State<AppState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    authed: Authed,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    // Subscribe now, so nothing that happens during the handshake is missed.
    let events = state.inbox_events.subscribe();
    let revocations = state.revocations.subscribe();
    let shutdown = state.shutdown.clone();
    let device_id = authed.device.device_id;
    // Revoked between the signature check and the subscription: the event is gone already.
    match state.store.device_key(&device_id).await? {
        None => return Err(ApiError::Unauthorized),
        Some(d) if d.disabled => return Err(ApiError::Forbidden(crate::auth::DISABLED.into())),
        Some(_) => {}
    }
    let open = state.metrics.websocket_opened();
    Ok(upgrade.on_upgrade(move |socket| async move {
        crate::ws::serve(socket, device_id, events, revocations, shutdown).await;
        drop(open);
    }))
}

// ---- device linking (relay only: the server sees SPAKE2 messages, MACs, a public key and
// a sealed bundle) ----
//
// The new device posts its SPAKE2 message under a selector (the public half of the code);
// one existing device of the account answers it once, with its own message and a key
// confirmation; the new device posts its key with a MAC; the existing device posts the
// sealed bundle. The server enforces the order and that each step happens once: a wrong
// code burns the request, so each request is one guess, and an account has at most
// `MAX_PENDING_LINKS` open requests, each living `LINK_TTL_MS`.

/// How long a link request lives.
pub const LINK_TTL_MS: i64 = 10 * 60 * 1000;
/// Most unfinished link requests per account.
pub const MAX_PENDING_LINKS: i64 = 5;
/// Largest sealed link bundle.
pub const MAX_LINK_BUNDLE: usize = 256 * 1024;
/// Largest SPAKE2 message, key confirmation or MAC of the link protocol.
pub const MAX_LINK_PAKE: usize = 64;
/// Length of a link selector.
pub const LINK_SELECTOR_LEN: usize = 4;
/// The characters of a link selector (Crockford-like: no I, L, O, U).
pub const LINK_SELECTOR_ALPHABET: &str = "ABCDEFGHJKMNPQRSTVWXYZ0123456789";

fn link_id_ok(id: &str) -> Result<(), ApiError> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::BadRequest("a link id is 32 hex characters".into()))
    }
}

/// Checks one opaque field of the link protocol: 1 to [`MAX_LINK_PAKE`] bytes.
fn link_field_ok(what: &str, bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.is_empty() || bytes.len() > MAX_LINK_PAKE {
        return Err(ApiError::BadRequest(format!("{what} must be 1 to {MAX_LINK_PAKE} bytes")));
    }
    Ok(())
}

fn link_selector_ok(selector: &str) -> Result<(), ApiError> {
    if selector.len() == LINK_SELECTOR_LEN && selector.bytes().all(|b| LINK_SELECTOR_ALPHABET.as_bytes().contains(&b)) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "a link selector is {LINK_SELECTOR_LEN} characters from {LINK_SELECTOR_ALPHABET}"
        )))
    }
}

/// `POST /v1/link`: a new device asks to join an account (unauthenticated: it has no
/// certificate yet) with its SPAKE2 message. Answers a random id that is the capability to
/// follow the request.
pub async fn create_link(State(state): State<AppState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let req: LinkRequest = parse_json(&body)?;
    hush_core::username::validate(&req.username).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    link_selector_ok(&req.selector)?;
    link_field_ok("pake", &req.pake.0)?;
    let link_id = hush_core::auth::fresh_nonce();
    let now = hush_core::now_ms();
    state
        .store
        .create_link(
            &NewLink {
                link_id: &link_id,
                username: &req.username,
                selector: &req.selector,
                pake: &req.pake.0,
                expires_at: now.saturating_add(LINK_TTL_MS),
            },
            now,
            MAX_PENDING_LINKS,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(LinkCreated { link_id })).into_response())
}

/// `GET /v1/link`: the caller's account's requests that no device answered yet.
pub async fn pending_links(State(state): State<AppState>, authed: Authed) -> Result<Json<PendingLinks>, ApiError> {
    let rows = state.store.pending_links(&authed.device.username, hush_core::now_ms()).await?;
    Ok(Json(PendingLinks {
        requests: rows
            .into_iter()
            .map(|r| PendingLink {
                link_id: r.link_id,
                selector: r.selector,
                pake: B64(r.pake),
                created_at: r.created_at,
            })
            .collect(),
    }))
}

/// `POST /v1/link/{id}/answer`: a device of the account answers the request, once.
pub async fn answer_link(
    State(state): State<AppState>,
    PathParam(link_id): PathParam,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    link_id_ok(&link_id)?;
    let req: LinkAnswer = parse_json(&authed.body)?;
    link_field_ok("pake", &req.pake.0)?;
    link_field_ok("confirm", &req.confirm.0)?;
    state
        .store
        .answer_link(&link_id, &authed.device.username, &req.pake.0, &req.confirm.0, hush_core::now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/link/{id}/device` (unauthenticated; the id is the capability): the new
/// device's key and MAC, once, after the answer.
pub async fn link_device(
    State(state): State<AppState>,
    PathParam(link_id): PathParam,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    link_id_ok(&link_id)?;
    let req: LinkDevice = parse_json(&body)?;
    PublicKey::from_slice(&req.device_key.0)
        .map_err(|_| ApiError::BadRequest("device_key is not a valid Ed25519 public key".into()))?;
    link_field_ok("mac", &req.mac.0)?;
    state
        .store
        .link_device(&link_id, &req.device_key.0, &req.mac.0, hush_core::now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/link/{id}/approve`: a device of the account stores the sealed bundle, once,
/// after the new device's key.
pub async fn approve_link(
    State(state): State<AppState>,
    PathParam(link_id): PathParam,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    link_id_ok(&link_id)?;
    let req: LinkApproval = parse_json(&authed.body)?;
    if req.sealed.0.is_empty() || req.sealed.0.len() > MAX_LINK_BUNDLE {
        return Err(ApiError::BadRequest(format!(
            "the sealed bundle is empty or larger than {} KiB",
            MAX_LINK_BUNDLE / 1024
        )));
    }
    state
        .store
        .approve_link(&link_id, &authed.device.username, &req.sealed.0, hush_core::now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/link/{id}/fail` (unauthenticated; the id is the capability): either side gives
/// up on the request (a confirmation did not match); nothing more is accepted for it.
pub async fn fail_link(State(state): State<AppState>, PathParam(link_id): PathParam) -> Result<StatusCode, ApiError> {
    link_id_ok(&link_id)?;
    state.store.fail_link(&link_id, hush_core::now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/link/{id}` (unauthenticated; the id is the capability): everything posted so
/// far. The request stays until it expires.
pub async fn link_status(State(state): State<AppState>, PathParam(link_id): PathParam) -> Result<Json<LinkStatus>, ApiError> {
    link_id_ok(&link_id)?;
    let Some(link) = state.store.link_state(&link_id, hush_core::now_ms()).await? else {
        return Err(ApiError::NotFound("no such link request, or it expired".into()));
    };
    Ok(Json(LinkStatus {
        answer: link.answer.map(|(pake, confirm)| LinkAnswer {
            pake: B64(pake),
            confirm: B64(confirm),
        }),
        device: link.device.map(|(device_key, mac)| LinkDevice {
            device_key: B64(device_key),
            mac: B64(mac),
        }),
        sealed: link.sealed.map(B64),
        failed: link.failed,
    }))
}

// ---- key transparency ----

/// Most epochs one audit request may span: the proof grows with the changes in the range.
pub const MAX_AUDIT_EPOCHS: u64 = 1000;

/// Publishes the change a register or add-device just stored, so the client can get a
/// proof of it at once. The change is already durable (and marked pending): if the publish
/// fails, the scheduled publisher retries, and the request still succeeds.
async fn publish_now(state: &AppState) {
    if let Err(e) = state.kt.publish_pending().await {
        tracing::error!(error = %e, "on-demand key-directory publish failed; the scheduled one will retry");
    }
}

/// `GET /v1/kt/info` (unauthenticated): the VRF public key and the latest root.
pub async fn kt_info(State(state): State<AppState>) -> Result<Json<KtInfo>, ApiError> {
    let root = state.kt.latest_root().await?;
    let restores = state
        .store
        .restores()
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|r| hush_proto::KtRestore {
            generation: r.generation,
            epoch: r.epoch,
            backup_taken_at: r.backup_taken_at,
            restored_at: r.restored_at,
        })
        .collect();
    Ok(Json(KtInfo {
        vrf_public_key: B64(state.kt.vrf_public_key().to_vec()),
        root: root.into(),
        restores,
    }))
}

fn proof_json<T: serde::Serialize>(proof: &T) -> Result<B64, ApiError> {
    serde_json::to_vec(proof).map(B64).map_err(ApiError::internal)
}

/// `GET /v1/kt/lookup/{username}`: a lookup proof at the latest epoch.
pub async fn kt_lookup(
    State(state): State<AppState>,
    PathParam(username): PathParam,
    _authed: Authed,
) -> Result<Json<KtLookup>, ApiError> {
    let (root, proof) = state.kt.lookup(&username).await?;
    Ok(Json(KtLookup {
        root: root.into(),
        proof: proof_json(&proof)?,
    }))
}

/// `GET /v1/kt/history/{username}`: the complete key history.
pub async fn kt_history(
    State(state): State<AppState>,
    PathParam(username): PathParam,
    _authed: Authed,
) -> Result<Json<KtHistory>, ApiError> {
    let (root, proof) = state.kt.history(&username).await?;
    Ok(Json(KtHistory {
        root: root.into(),
        proof: proof_json(&proof)?,
    }))
}

/// The query of `GET /v1/kt/audit`.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// First epoch.
    pub start: u64,
    /// Last epoch.
    pub end: u64,
}

/// `GET /v1/kt/audit?start=A&end=B` (unauthenticated): the root hashes of epochs A..=B and
/// the proof that the directory only grew between them.
pub async fn kt_audit(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<KtAudit>, ApiError> {
    let Query(q) = query.map_err(|_| {
        ApiError::BadRequest("an audit needs ?start=A&end=B, two epoch numbers with A < B".into())
    })?;
    if q.end.saturating_sub(q.start) > MAX_AUDIT_EPOCHS {
        return Err(ApiError::BadRequest(format!(
            "an audit spans at most {MAX_AUDIT_EPOCHS} epochs; split the range (each part's last hash is the next part's first)"
        )));
    }
    let (hashes, proof) = state.kt.audit(q.start, q.end).await?;
    Ok(Json(KtAudit {
        hashes: hashes.into_iter().map(|h| B64(h.to_vec())).collect(),
        proof: proof_json(&proof)?,
    }))
}

// ---- account backup and recovery ----

/// Largest sealed backup, in bytes (the request body limit usually bounds it first).
pub const MAX_BACKUP_BYTES: usize = 1024 * 1024;
/// Most failed recovery attempts per account in [`RECOVERY_WINDOW_MS`].
pub const MAX_RECOVERY_FAILURES: i64 = 10;
/// The window recovery failures are counted in: one hour.
pub const RECOVERY_WINDOW_MS: i64 = 60 * 60 * 1000;

/// `PUT /v1/backup`: the caller's account backup, sealed on the device, with the recovery
/// auth key that may fetch it. Its version must be above the stored one's (`409`).
pub async fn put_backup(State(state): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    store_backup(&state, BackupSlot::Phrase, authed).await
}

/// `PUT /v1/backup/guardians`: the caller's second backup, whose auth key is derived from
/// the secret its guardians hold shares of. The same rules as `PUT /v1/backup`, in a slot
/// of its own.
pub async fn put_guardian_backup(State(state): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    store_backup(&state, BackupSlot::Guardians, authed).await
}

/// Checks and stores a backup upload in `slot`.
async fn store_backup(state: &AppState, slot: BackupSlot, authed: Authed) -> Result<StatusCode, ApiError> {
    let upload: BackupUpload = parse_json(&authed.body)?;
    PublicKey::from_slice(&upload.auth_key.0)
        .map_err(|_| ApiError::BadRequest("auth_key is not a valid Ed25519 public key".into()))?;
    if upload.blob.0.is_empty() {
        return Err(ApiError::BadRequest("the backup is empty".into()));
    }
    if upload.blob.0.len() > MAX_BACKUP_BYTES {
        return Err(ApiError::TooLarge);
    }
    let version = i64::try_from(upload.version)
        .map_err(|_| ApiError::BadRequest(format!("backup version {} is out of range", upload.version)))?;
    let username = &authed.device.username;
    state
        .store
        .put_backup(
            slot,
            &NewBackup {
                username,
                auth_key: &upload.auth_key.0,
                version,
                blob: &upload.blob.0,
            },
            hush_core::now_ms(),
        )
        .await?;
    tracing::info!(%username, ?slot, version, bytes = upload.blob.0.len(), by = %authed.device.device_id, "stored account backup");
    // Commit it in the key directory now, so that a recovery can't be handed this
    // backup's predecessor.
    publish_now(state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/recovery/{username}`: the account's backup, to a request signed with its
/// recovery auth key (`x-hush-device: recovery`; nonces single-use per account). An
/// unknown user, no backup and a bad signature all answer the same `401`. Every attempt is
/// counted before it is checked and uncounted if it succeeds: after
/// [`MAX_RECOVERY_FAILURES`] failures in an hour every attempt is `429`, right ones too,
/// so guessing the phrase online is hopeless.
pub async fn recovery(
    State(state): State<AppState>,
    PathParam(username): PathParam,
    signed: SignedRequest,
) -> Result<Json<Backup>, ApiError> {
    fetch_backup(&state, BackupSlot::Phrase, &username, &signed).await
}

/// `GET /v1/recovery/{username}/guardians`: the account's guardian backup, to a request
/// signed (as `x-hush-device: recovery`) with that backup's auth key, exactly like
/// `GET /v1/recovery/{username}`, with nonces and failures counted apart from it.
pub async fn guardian_recovery(
    State(state): State<AppState>,
    PathParam(username): PathParam,
    signed: SignedRequest,
) -> Result<Json<Backup>, ApiError> {
    fetch_backup(&state, BackupSlot::Guardians, &username, &signed).await
}

/// The backup in `slot` to a request signed with its auth key; see [`recovery`].
async fn fetch_backup(
    state: &AppState,
    slot: BackupSlot,
    username: &str,
    signed: &SignedRequest,
) -> Result<Json<Backup>, ApiError> {
    if signed.device_id != RECOVERY_DEVICE || hush_core::username::validate(username).is_err() {
        return Err(ApiError::Unauthorized);
    }
    let now = hush_core::now_ms();
    let attempt = state
        .store
        .begin_recovery_attempt(slot, username, now, now.saturating_sub(RECOVERY_WINDOW_MS), MAX_RECOVERY_FAILURES)
        .await;
    let attempt = match attempt {
        Err(StoreError::TooMany(m)) => {
            tracing::warn!(%username, ?slot, "recovery attempts rate-limited");
            return Err(ApiError::RateLimited(m.into()));
        }
        other => other?,
    };
    let scope = match slot {
        BackupSlot::Phrase => recovery_nonce_scope(username),
        BackupSlot::Guardians => guardian_recovery_nonce_scope(username),
    };
    let checked = async {
        let stored = state.store.backup(slot, username).await?.ok_or(ApiError::Unauthorized)?;
        let key = PublicKey::from_slice(&stored.auth_key)
            .map_err(|e| ApiError::internal(format!("stored {slot:?} recovery auth key of {username}: {e}")))?;
        signed.verify_scoped(&key, &scope, state).await?;
        Ok::<_, ApiError>(stored)
    }
    .await;
    match checked {
        Ok(stored) => {
            state.store.forget_recovery_attempt(attempt).await?;
            tracing::info!(%username, ?slot, version = stored.version, "account backup fetched for recovery");
            let prefix = match slot {
                BackupSlot::Phrase => hush_core::kt::PHRASE_BACKUP,
                BackupSlot::Guardians => hush_core::kt::GUARDIAN_BACKUP,
            };
            let history = match state.kt.history(&hush_core::kt::backup_name(prefix, username)).await {
                Ok((root, proof)) => Some(KtHistory { root: root.into(), proof: proof_json(&proof)? }),
                Err(e) => {
                    tracing::warn!(%username, ?slot, error = %e, "no key-directory record of this backup");
                    None
                }
            };
            Ok(Json(Backup {
                version: stored.version,
                blob: B64(stored.blob),
                history,
            }))
        }
        Err(ApiError::Unauthorized) => {
            tracing::info!(%username, ?slot, "failed recovery attempt");
            Err(ApiError::Unauthorized)
        }
        Err(other) => {
            // The server's failure is no guess of the client's.
            if let Err(e) = state.store.forget_recovery_attempt(attempt).await {
                tracing::error!(error = %e, "could not uncount a recovery attempt");
            }
            Err(other)
        }
    }
}

// ---- guardian recovery (relay only: the server sees an HPKE key and sealed shares) ----

/// How long a guardian request lives: 24 hours.
pub const GUARDIAN_REQUEST_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// Most unexpired guardian requests per account.
pub const MAX_PENDING_GUARDIAN_REQUESTS: i64 = 5;
/// Largest sealed share.
pub const MAX_SEALED_SHARE: usize = 64 * 1024;

fn request_id_ok(id: &str) -> Result<(), ApiError> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::BadRequest("a guardian request id is 32 hex characters".into()))
    }
}

/// `POST /v1/guardian-requests` (unauthenticated: the device recovering the account has no
/// key of it yet): asks the account's guardians for their shares, sealed to `hpke_key`.
/// Answers a random id that is the capability to fetch them.
pub async fn create_guardian_request(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: GuardianRequest = parse_json(&body)?;
    hush_core::username::validate(&req.username).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if req.hpke_key.0.len() != 32 {
        return Err(ApiError::BadRequest("hpke_key is not a 32-byte X25519 public key".into()));
    }
    let request_id = hush_core::auth::fresh_nonce();
    let now = hush_core::now_ms();
    state
        .store
        .create_guardian_request(
            &NewGuardianRequest {
                request_id: &request_id,
                username: &req.username,
                hpke_key: &req.hpke_key.0,
                expires_at: now.saturating_add(GUARDIAN_REQUEST_TTL_MS),
            },
            now,
            MAX_PENDING_GUARDIAN_REQUESTS,
        )
        .await?;
    tracing::info!(username = %req.username, "guardian recovery requested");
    Ok((StatusCode::CREATED, Json(GuardianRequestCreated { request_id })).into_response())
}

/// Query of `GET /v1/guardian-requests`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardianRequestsQuery {
    /// The account whose requests are wanted.
    pub username: String,
}

/// `GET /v1/guardian-requests?username=U`: the unexpired requests for account U, to any
/// registered device (the server does not know who U's guardians are). An unknown user has
/// none.
pub async fn pending_guardian_requests(
    State(state): State<AppState>,
    query: Result<Query<GuardianRequestsQuery>, QueryRejection>,
    _authed: Authed,
) -> Result<Json<PendingGuardianRequests>, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::BadRequest("this route needs ?username=U, the account being recovered".into()))?;
    hush_core::username::validate(&query.username).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let rows = state
        .store
        .pending_guardian_requests(&query.username, hush_core::now_ms())
        .await?;
    Ok(Json(PendingGuardianRequests {
        requests: rows
            .into_iter()
            .map(|r| PendingGuardianRequest {
                request_id: r.request_id,
                hpke_key: B64(r.hpke_key),
                created_at: r.created_at,
            })
            .collect(),
    }))
}

/// `POST /v1/guardian-requests/{id}/shares`: a guardian device's share, sealed to the
/// request's HPKE key. One per device (`409`); not from the account being recovered (`403`).
pub async fn post_guardian_share(
    State(state): State<AppState>,
    PathParam(request_id): PathParam,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    request_id_ok(&request_id)?;
    let req: SealedShare = parse_json(&authed.body)?;
    if req.sealed.0.is_empty() || req.sealed.0.len() > MAX_SEALED_SHARE {
        return Err(ApiError::BadRequest(format!(
            "the sealed share is empty or larger than {} KiB",
            MAX_SEALED_SHARE / 1024
        )));
    }
    let me = &authed.device;
    state
        .store
        .add_guardian_share(&request_id, &me.username, &me.device_id, &req.sealed.0, hush_core::now_ms())
        .await?;
    tracing::info!(guardian = %me.username, device_id = %me.device_id, "guardian share stored");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/guardian-requests/{id}` (unauthenticated; the id is the capability): the sealed
/// shares posted so far, in the order they arrived.
pub async fn guardian_shares(
    State(state): State<AppState>,
    PathParam(request_id): PathParam,
) -> Result<Json<GuardianShares>, ApiError> {
    request_id_ok(&request_id)?;
    match state.store.guardian_shares(&request_id, hush_core::now_ms()).await? {
        Some(shares) => Ok(Json(GuardianShares {
            shares: shares.into_iter().map(B64).collect(),
        })),
        None => Err(ApiError::NotFound("no such guardian request, or it expired".into())),
    }
}

//! Accounts and devices: `GET /health`, register, add, list and revoke devices, look a user up.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use hush_core::identity::{CertificateBody, DeviceCertificate, PublicKey, device_id_well_formed};
use hush_proto::{DeviceRecord, DeviceUpload, RegisterRequest, RegisteredDevice, UserRecord, B64};

use crate::config::Registration;
use crate::state::AppState;
use crate::store::{NewDevice, StoreError};
use super::error::{ApiError, shown};
use super::extract::{Authed, SignedRequest, PathParam, parse_json, DISABLED};
use super::key_packages::check_key_packages;
use super::kt::publish_now;

/// `GET /health`.
pub async fn health(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    let dir = state.data_dir.to_path_buf();
    match tokio::task::spawn_blocking(move || crate::data_dir::probe(&dir)).await {
        Ok(Ok(())) => Ok("ok"),
        Ok(Err(e)) => Err(ApiError::Unavailable(format!("the data directory does not take writes: {e}"))),
        Err(e) => Err(ApiError::internal(e)),
    }
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
        return Err(ApiError::Forbidden(DISABLED.into()));
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
        return Err(ApiError::BadRequest(format!("{} is not a device id", shown(&device_id))));
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
        .ok_or_else(|| ApiError::NotFound(format!("there is no user {}", shown(&username))))?;
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

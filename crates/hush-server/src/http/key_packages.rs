//! KeyPackages: upload, count, claim (and the check every uploaded KeyPackage passes).

use axum::Json;
use axum::extract::State;
use hush_core::identity::{CertificateBody, PublicKey};
use hush_core::mls::check_key_package;
use hush_proto::{ClaimResponse, ClaimedKeyPackage, KeyPackageCount, KeyPackageUpload, B64};

use crate::claim_limits::Refused;
use crate::limits::{CLAIM_WINDOW, MAX_CLAIMS_PER_CLAIMER, MAX_CLAIMS_PER_TARGET, MAX_KEY_PACKAGES};
use crate::state::AppState;
use super::error::{ApiError, shown};
use super::extract::{Authed, PathParam, parse_json};

/// Checks KeyPackages: how many, and that each is valid and certified for this very device.
/// Runs on the blocking pool: it is a few hundred signature checks at most.
pub(super) async fn check_key_packages(
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
    let (remaining, last_resort_used) = state.store.key_package_count(&device.device_id).await?;
    Ok(Json(KeyPackageCount { remaining, last_resort_used }))
}

/// `GET /v1/keypackages/count`.
pub async fn count_key_packages(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<KeyPackageCount>, ApiError> {
    let (remaining, last_resort_used) = state.store.key_package_count(&authed.device.device_id).await?;
    Ok(Json(KeyPackageCount { remaining, last_resort_used }))
}

/// `POST /v1/users/{username}/claim`: one KeyPackage per device of the user. Claims of
/// another account's KeyPackages are limited per claimer and per target (`crate::limits`).
pub async fn claim_key_packages(
    State(state): State<AppState>,
    PathParam(username): PathParam,
    authed: Authed,
) -> Result<Json<ClaimResponse>, ApiError> {
    if authed.device.username != username {
        let now = std::time::Instant::now();
        if let Err(refused) = state.claim_limits.check(&authed.device.username, &username, now) {
            return Err(claims_refused(refused));
        }
    }
    let claimed = state
        .store
        .claim(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no user {}", shown(&username))))?;
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

/// The answer to a claim over a limit: 429, `Retry-After`, and which limit it was.
fn claims_refused(refused: Refused) -> ApiError {
    let minutes = CLAIM_WINDOW.as_secs() / 60;
    let (message, wait) = match refused {
        Refused::Claimer(wait) => (
            format!("you claimed this user's key packages {MAX_CLAIMS_PER_CLAIMER} times in the last {minutes} minutes; try again later"),
            wait,
        ),
        Refused::Target(wait) => (
            format!("this user's key packages were claimed {MAX_CLAIMS_PER_TARGET} times in the last {minutes} minutes; try again later"),
            wait,
        ),
    };
    ApiError::RateLimited { message, retry_after: crate::rate::retry_after_secs(wait) }
}

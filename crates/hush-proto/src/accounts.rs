//! Accounts and devices, and the KeyPackages other devices claim to add them.

use serde::{Deserialize, Serialize};

use crate::B64;

/// A device's upload when it joins: its certificate and a batch of KeyPackages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceUpload {
    /// Encoded `hush_core::identity::DeviceCertificate`.
    pub certificate: B64,
    /// MLS KeyPackages (TLS-encoded `MlsMessageOut`), each consumed by one add.
    pub key_packages: Vec<B64>,
    /// A last-resort KeyPackage, handed out when the others run out; never consumed.
    pub last_resort: B64,
}

/// `POST /v1/register`: create a user with its first device. Signed by that device's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The requested username.
    pub username: String,
    /// The user's Ed25519 identity public key (32 bytes).
    pub identity_key: B64,
    /// The first device.
    pub device: DeviceUpload,
    /// An invitation token from the server's operator (`hush server invite`), needed when
    /// the server registers new accounts by invitation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

/// Answer to register and to add-device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisteredDevice {
    /// The username.
    pub username: String,
    /// The device id (from the certificate).
    pub device_id: String,
}

/// A device as the directory lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceRecord {
    /// The device id.
    pub device_id: String,
    /// Encoded certificate, signed by the user's identity key. Clients verify it.
    pub certificate: B64,
}

/// `GET /v1/devices`: every device of the calling user, revoked ones included, so that
/// each of its devices can account for every version of its key-directory history with
/// certificates its identity key signed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OwnDevices {
    /// The devices, oldest first.
    pub devices: Vec<OwnDevice>,
}

/// One device in [`OwnDevices`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OwnDevice {
    /// The device id.
    pub device_id: String,
    /// The device key the directory lists for it.
    pub device_key: B64,
    /// Its certificate as the server holds it. Clients verify it.
    pub certificate: B64,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// `GET /v1/users/{username}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserRecord {
    /// The username.
    pub username: String,
    /// The identity public key the server holds for this user. Clients check it
    /// against what they pinned (and, later, key transparency).
    pub identity_key: B64,
    /// The user's current devices.
    pub devices: Vec<DeviceRecord>,
}

/// `POST /v1/keypackages`: upload more KeyPackages for the calling device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyPackageUpload {
    /// KeyPackages to add.
    pub key_packages: Vec<B64>,
    /// Replaces the last-resort KeyPackage when given.
    pub last_resort: Option<B64>,
}

/// `GET /v1/keypackages/count`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyPackageCount {
    /// Ordinary (single-use) KeyPackages left for the calling device.
    pub remaining: u64,
    /// Whether the device's last-resort KeyPackage was handed out since it was uploaded
    /// (its single-use ones had run out): the device should upload a new one.
    #[serde(default)]
    pub last_resort_used: bool,
}

/// One claimed KeyPackage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimedKeyPackage {
    /// The device it belongs to.
    pub device_id: String,
    /// The KeyPackage (TLS-encoded `MlsMessageOut`).
    pub key_package: B64,
}

/// `POST /v1/users/{username}/claim`: one KeyPackage for each of the user's devices.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimResponse {
    /// One per device.
    pub key_packages: Vec<ClaimedKeyPackage>,
}

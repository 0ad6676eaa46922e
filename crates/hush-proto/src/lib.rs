//! Wire types of the hush HTTP API, version 1, shared by `hush-server` and `hush-client`.
//!
//! Every binary field travels as unpadded base64url ([`B64`]). Every request except
//! `register`, `health` and the link relay is signed by the calling device's key; the
//! signature headers are named by the `HEADER_*` constants and the signed bytes are built
//! by `hush_core::auth::canonical_request`.
//!
//! The server never sees anything in these types that it could decrypt: MLS messages,
//! Welcomes and KeyPackages are opaque to it apart from their public framing
//! (group id, epoch, content type).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The API version prefix every route lives under.
pub const API_PREFIX: &str = "/v1";

/// Header: the calling device's id.
pub const HEADER_DEVICE: &str = "x-hush-device";
/// Header: unix time in milliseconds when the request was signed.
pub const HEADER_TIMESTAMP: &str = "x-hush-timestamp";
/// Header: a random single-use value (hex), refused if seen again.
pub const HEADER_NONCE: &str = "x-hush-nonce";
/// Header: the Ed25519 signature (base64url) over the canonical request.
pub const HEADER_SIGNATURE: &str = "x-hush-signature";

/// Bytes that serialize as an unpadded base64url string.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct B64(pub Vec<u8>);

impl std::fmt::Debug for B64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ciphertext or public material only, but never worth printing in full.
        write!(f, "B64({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for B64 {
    fn from(v: Vec<u8>) -> Self {
        B64(v)
    }
}

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&URL_SAFE_NO_PAD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        URL_SAFE_NO_PAD
            .decode(s.as_bytes())
            .map(B64)
            .map_err(|_| serde::de::Error::custom("invalid base64url"))
    }
}

/// A device's upload when it joins: its certificate and a batch of KeyPackages.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
pub struct RegisteredDevice {
    /// The username.
    pub username: String,
    /// The device id (from the certificate).
    pub device_id: String,
}

/// A device as the directory lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
pub struct OwnDevices {
    /// The devices, oldest first.
    pub devices: Vec<OwnDevice>,
}

/// One device in [`OwnDevices`].
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[serde(deny_unknown_fields)]
pub struct KeyPackageUpload {
    /// KeyPackages to add.
    pub key_packages: Vec<B64>,
    /// Replaces the last-resort KeyPackage when given.
    pub last_resort: Option<B64>,
}

/// `GET /v1/keypackages/count`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyPackageCount {
    /// Ordinary (single-use) KeyPackages left for the calling device.
    pub remaining: u64,
}

/// One claimed KeyPackage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimedKeyPackage {
    /// The device it belongs to.
    pub device_id: String,
    /// The KeyPackage (TLS-encoded `MlsMessageOut`).
    pub key_package: B64,
}

/// `POST /v1/users/{username}/claim`: one KeyPackage for each of the user's devices.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimResponse {
    /// One per device.
    pub key_packages: Vec<ClaimedKeyPackage>,
}

/// `POST /v1/groups`: register a new group with the calling device as its only member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    /// The MLS group id (16 random bytes).
    pub group_id: B64,
}

/// `POST /v1/groups/{group_id_hex}/commit`.
///
/// The server reads the commit's public framing (group id, epoch, content type), accepts it
/// only if its epoch is the group's current epoch (first commit wins), fans it out to
/// every current member device but the sender, delivers the Welcome to the added
/// devices, and updates its routing list. Any other case is `409 stale_epoch`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// The commit (TLS-encoded `MlsMessageOut`).
    pub commit: B64,
    /// The Welcome for added devices, if any (TLS-encoded `MlsMessageOut`).
    pub welcome: Option<B64>,
    /// Device ids the commit adds (routing only: the server can't check them).
    pub added_devices: Vec<String>,
    /// Device ids the commit removes.
    pub removed_devices: Vec<String>,
}

/// `POST /v1/groups/{group_id_hex}/messages`: an application message or a proposal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// The MLS message (TLS-encoded `MlsMessageOut`), in the group's current epoch.
    pub message: B64,
}

/// Answer to a commit or a message: where it was placed in the group's order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accepted {
    /// Server-wide message id.
    pub message_id: i64,
    /// The group's epoch after this message.
    pub epoch: u64,
}

/// `GET /v1/groups/{group_id_hex}`: the server's routing view of a group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupInfo {
    /// The group's current epoch as the server has ordered it.
    pub epoch: u64,
    /// The member device ids the server routes to.
    pub devices: Vec<String>,
}

/// What an inbox item carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxKind {
    /// An MLS message of a group: application, proposal or commit.
    Message,
    /// An MLS Welcome for this device.
    Welcome,
    /// A user that shares a group with this device has a new device; the payload is the username.
    DeviceAdded,
    /// A user that shares a group with this device revoked a device; the payload is the username.
    DeviceRevoked,
}

/// One item in a device's inbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxItem {
    /// Inbox-wide increasing id; acknowledge it to delete the item.
    pub id: i64,
    /// What the payload is.
    pub kind: InboxKind,
    /// The group it belongs to (messages and welcomes).
    pub group_id: Option<B64>,
    /// The sending device, as the server claims it (clients rely on MLS, not this).
    pub sender_device: Option<String>,
    /// The payload.
    pub payload: B64,
    /// Server receive time, unix milliseconds.
    pub received_at: i64,
}

/// `GET /v1/inbox?after=ID&limit=N`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxResponse {
    /// Items in server order.
    pub items: Vec<InboxItem>,
}

/// `POST /v1/inbox/ack`: delete delivered items.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// Inbox ids to delete.
    pub ids: Vec<i64>,
}

/// `POST /v1/link` (unauthenticated): a new device asks to join an account. It runs
/// SPAKE2 with the secret half of the code it shows; `pake` is its first message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The account's username.
    pub username: String,
    /// The public half of the code (4 characters), to find the request.
    pub selector: String,
    /// The new device's SPAKE2 message.
    pub pake: B64,
}

/// Answer to [`LinkRequest`]: a random id that is also the capability to follow it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkCreated {
    /// 32 hex characters.
    pub link_id: String,
}

/// One link request waiting for an answer, as an existing device of the account sees it
/// (`GET /v1/link`, authenticated).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLink {
    /// Its id.
    pub link_id: String,
    /// The public half of the code.
    pub selector: String,
    /// The new device's SPAKE2 message.
    pub pake: B64,
    /// When it was made, unix ms.
    pub created_at: i64,
}

/// `GET /v1/link`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLinks {
    /// Requests for the caller's account that were not answered yet.
    pub requests: Vec<PendingLink>,
}

/// `POST /v1/link/{id}/answer` (authenticated, a device of the account): the existing
/// device's SPAKE2 message and its key confirmation. Accepted once per request: a wrong
/// code burns the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkAnswer {
    /// The existing device's SPAKE2 message.
    pub pake: B64,
    /// MAC proving it derived the same key.
    pub confirm: B64,
}

/// `POST /v1/link/{id}/device` (unauthenticated, the id is the capability): the new
/// device's signing key, MAC'd with the PAKE key. Accepted once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkDevice {
    /// The new device's Ed25519 public key.
    pub device_key: B64,
    /// MAC over it with the PAKE key.
    pub mac: B64,
}

/// `POST /v1/link/{id}/approve` (authenticated): the account bundle sealed with the PAKE
/// key. Accepted once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkApproval {
    /// Opaque to the server.
    pub sealed: B64,
}

/// `GET /v1/link/{id}` (unauthenticated, the id is the capability): everything posted so
/// far for this request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkStatus {
    /// The existing device's answer, once given.
    pub answer: Option<LinkAnswer>,
    /// The new device's key, once given.
    pub device: Option<LinkDevice>,
    /// The sealed bundle, once approved.
    pub sealed: Option<B64>,
    /// True once either side gave up on it (a failed confirmation).
    pub failed: bool,
}

/// A directory root as the server publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KtRoot {
    /// Epoch number (1 for the first published epoch).
    pub epoch: u64,
    /// The root hash at that epoch (32 bytes).
    pub root_hash: B64,
}

/// `GET /v1/kt/info` (unauthenticated): the directory's VRF public key and latest root.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KtInfo {
    /// The VRF public key clients verify labels with (pinned on first use).
    pub vrf_public_key: B64,
    /// The latest published root.
    pub root: KtRoot,
    /// Every time the server was restored from a backup, oldest first. After a restore the
    /// directory continues from the backup's epoch: epochs published after the backup was
    /// taken are gone, and a client that saw them checks that the restored directory is the
    /// one it saw up to the backup's epoch before it follows the new epochs.
    #[serde(default)]
    pub restores: Vec<KtRestore>,
}

/// One restore of the server from a backup, as `GET /v1/kt/info` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KtRestore {
    /// Counts restores from 1.
    pub generation: u64,
    /// The directory's newest epoch in the backup: the server went back to it.
    pub epoch: u64,
    /// When the backup was taken, unix ms.
    pub backup_taken_at: i64,
    /// When it was restored, unix ms.
    pub restored_at: i64,
}

/// `GET /v1/kt/lookup/{username}` (device-authenticated): a lookup proof at the latest epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KtLookup {
    /// The root it is proven against.
    pub root: KtRoot,
    /// serde-JSON of `akd_core::LookupProof`.
    pub proof: B64,
}

/// `GET /v1/kt/history/{username}` (device-authenticated): the complete key history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KtHistory {
    /// The root it is proven against.
    pub root: KtRoot,
    /// serde-JSON of `akd_core::HistoryProof`.
    pub proof: B64,
}

/// `GET /v1/kt/audit?start=A&end=B` (unauthenticated): proof that the directory only grew
/// from epoch A to epoch B.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KtAudit {
    /// Root hashes of epochs A..=B, in order.
    pub hashes: Vec<B64>,
    /// serde-JSON of `akd::AppendOnlyProof` between them.
    pub proof: B64,
}

/// `PUT /v1/backup` (device-authenticated): the account backup, sealed on the device with
/// a key derived from the recovery phrase.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupUpload {
    /// Ed25519 public key derived from the recovery phrase; only a request signed by its
    /// secret half may fetch the backup.
    pub auth_key: B64,
    /// Strictly increasing; the server refuses a version not above the one it holds.
    pub version: u64,
    /// The sealed backup (opaque to the server).
    pub blob: B64,
}

/// `GET /v1/recovery/{username}`, signed with the recovery auth key (header
/// `x-hush-device: recovery`): the latest backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    /// Its version.
    pub version: u64,
    /// The sealed backup.
    pub blob: B64,
    /// The key directory's complete history of this backup's commitments
    /// (`hush_core::kt::backup_value`), so that the recovering device can refuse an older
    /// backup served again.
    #[serde(default)]
    pub history: Option<KtHistory>,
}

/// The device id header value for requests signed with the recovery auth key.
pub const RECOVERY_DEVICE: &str = "recovery";

/// `POST /v1/guardian-requests` (unauthenticated): a new device asks `username`'s
/// guardians for their shares, to be sealed to `hpke_key`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardianRequest {
    /// The account being recovered.
    pub username: String,
    /// The new device's HPKE public key (32 bytes).
    pub hpke_key: B64,
}

/// Answer to [`GuardianRequest`]: a random id that is also the capability to fetch shares.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardianRequestCreated {
    /// 32 hex characters.
    pub request_id: String,
}

/// One pending guardian request, as a guardian sees it
/// (`GET /v1/guardian-requests?username=U`, device-authenticated).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingGuardianRequest {
    /// Its id.
    pub request_id: String,
    /// The new device's HPKE key.
    pub hpke_key: B64,
    /// When it was made, unix ms.
    pub created_at: i64,
}

/// `GET /v1/guardian-requests?username=U`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingGuardianRequests {
    /// Unexpired requests for that account.
    pub requests: Vec<PendingGuardianRequest>,
}

/// `POST /v1/guardian-requests/{id}/shares` (device-authenticated): a guardian's share,
/// sealed to the request's HPKE key. One per guardian device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedShare {
    /// Opaque to the server.
    pub sealed: B64,
}

/// `GET /v1/guardian-requests/{id}` (unauthenticated; the id is the capability).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardianShares {
    /// The sealed shares posted so far.
    pub shares: Vec<B64>,
}

/// Every error the server answers with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code, see [`codes`].
    pub error: String,
    /// One sentence for a person.
    pub message: String,
}

// ---------------------------------------------------------------------------------------
// Files: resumable blob uploads, blob downloads, space states (docs/FILES.md)
//
// A *space* is named `drive:USERNAME` (a user's personal drive, open to that user's
// devices) or `conv:GROUP_ID_HEX` (a conversation's shared space, open to the devices that
// are members of that MLS group). Blobs are opaque age files; rows and states are opaque
// signed ciphertext. The server checks access, sizes, quotas and version numbers only.

/// Largest body of one `PUT /v1/uploads/{id}` (8 MiB).
pub const UPLOAD_CHUNK_MAX: usize = 8 * 1024 * 1024;

/// `POST /v1/uploads`: start a resumable upload of one blob of `size` bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadStart {
    /// The space the blob is meant for (the caller must have access to it).
    pub space: String,
    /// The exact size of the blob in bytes.
    pub size: u64,
}

/// Answer to `POST /v1/uploads`, `PUT /v1/uploads/{id}?offset=N` and `GET /v1/uploads/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadStatus {
    /// The upload's id; once complete, the blob's id.
    pub upload_id: String,
    /// The declared size.
    pub size: u64,
    /// Bytes received and stored so far; the next `PUT` starts here.
    pub received: u64,
}

/// Answer to `POST /v1/uploads/{id}/complete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobInfo {
    /// The blob's id (the upload's id).
    pub blob_id: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One row of a space: an entry's signed, encrypted manifest and the blobs it refers to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpaceRow {
    /// The entry's id (32 hex characters, chosen by the client).
    pub entry_id: String,
    /// Ids of the blobs the entry's manifest refers to (every kept version).
    pub blobs: Vec<String>,
    /// The signed, encrypted manifest (opaque to the server).
    pub row: B64,
}

/// `GET /v1/spaces/{space}`: the space's current signed state and all its rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpaceView {
    /// The state's version (0: nothing written yet).
    pub version: u64,
    /// The signed state (absent at version 0).
    pub state: Option<B64>,
    /// Every row, in entry id order.
    pub rows: Vec<SpaceRow>,
}

/// `POST /v1/spaces/{space}`: replace the state and change rows, if the state is still at
/// `expected_version` (otherwise `409 conflict`: fetch again and redo the change).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpaceUpdate {
    /// The version the change was made against; the new state's version is this plus one.
    pub expected_version: u64,
    /// The new signed state.
    pub state: B64,
    /// Rows to add or replace.
    pub put: Vec<SpaceRow>,
    /// Entry ids of rows to delete.
    pub delete: Vec<String>,
}

/// `GET /v1/spaces/{space}/states?after=N`: the space's signed states after version `N`, oldest
/// first (versions N+1 up to the current one), so that a client can check that the chain
/// continues the version it saw last. At most [`MAX_SPACE_STATES`] per answer; ask again
/// after the last one for more.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpaceStates {
    /// The signed states, each exactly as its writer posted it.
    pub states: Vec<B64>,
}

/// Query of `GET /v1/spaces/{space}/states`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpaceStatesQuery {
    /// The last version the client already holds (0: from the start).
    pub after: u64,
}

/// Most signed states in one `GET /v1/spaces/{space}/states` answer.
pub const MAX_SPACE_STATES: u64 = 500;

/// Answer to `POST /v1/spaces/{space}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpaceVersion {
    /// The space's version after the change.
    pub version: u64,
}

/// `GET /v1/quota`: the calling user's storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quota {
    /// Bytes held for this user: stored blobs plus uploads in progress.
    pub used: u64,
    /// The user's quota in bytes.
    pub limit: u64,
    /// The largest single blob the server accepts.
    pub max_upload: u64,
}


/// Stable error codes.
pub mod codes {
    /// The request body or a parameter is malformed.
    pub const BAD_REQUEST: &str = "bad_request";
    /// The body is larger than the server accepts.
    pub const TOO_LARGE: &str = "too_large";
    /// The request signature, timestamp or nonce is not valid.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// The device may not do this (not a member of the group, for instance).
    pub const FORBIDDEN: &str = "forbidden";
    /// No such user, group or route.
    pub const NOT_FOUND: &str = "not_found";
    /// The username is taken.
    pub const USERNAME_TAKEN: &str = "username_taken";
    /// The message was made for an epoch that is not the group's current one.
    pub const STALE_EPOCH: &str = "stale_epoch";
    /// Something that already exists (a group id, a device id).
    pub const CONFLICT: &str = "conflict";
    /// Too many requests.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// The upload would take the user past their storage quota.
    pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
    /// The server failed; not the client's fault.
    pub const INTERNAL: &str = "internal";
    /// The server's storage can't take writes right now (read-only or full); try later.
    pub const UNAVAILABLE: &str = "unavailable";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64_round_trips_and_rejects_garbage() {
        let v = B64(vec![0, 1, 2, 250, 251, 255]);
        let s = serde_json::to_string(&v).unwrap_or_default();
        assert_eq!(s, "\"AAEC-vv_\"");
        let back: B64 = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(back, v);
        assert!(serde_json::from_str::<B64>("\"***\"").is_err());
    }
}

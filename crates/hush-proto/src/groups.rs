//! Groups (conversations), their commits and messages, and each device's inbox.

use serde::{Deserialize, Serialize};

use crate::B64;

/// `POST /v1/groups`: register a new group with the calling device as its only member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// The MLS message (TLS-encoded `MlsMessageOut`), in the group's current epoch.
    pub message: B64,
}

/// Answer to a commit or a message: where it was placed in the group's order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accepted {
    /// Server-wide message id.
    pub message_id: i64,
    /// The group's epoch after this message.
    pub epoch: u64,
}

/// `GET /v1/groups/{group_id_hex}`: the server's routing view of a group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupInfo {
    /// The group's current epoch as the server has ordered it.
    pub epoch: u64,
    /// The member device ids the server routes to.
    pub devices: Vec<String>,
}

/// What an inbox item carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxResponse {
    /// Items in server order.
    pub items: Vec<InboxItem>,
}

/// `POST /v1/inbox/ack`: delete delivered items.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// Inbox ids to delete.
    pub ids: Vec<i64>,
}

//! Every route of API v1, written once. The server's router registers [`Endpoint::PATH`]
//! (axum's `{param}` syntax); the client builds the same call from the same type, so a path,
//! a method, the body sent and the answer expected can't differ between the two sides
//! (the shape mini-redis uses for its commands).
//!
//! ```text
//! client: api.send(&endpoints::Commit { group_id: &hex }, Some(&commit))  ->  Accepted
//! server: .route(endpoints::Commit::PATH, post(handlers::commit))
//! ```
//!
//! Query parameters are fields of the endpoint's type and part of [`Endpoint::path`], and
//! are also listed in [`Endpoint::QUERY`]; a `()` request is a call without a body, a `()`
//! response an answer without one (`204`). Raw byte bodies (upload chunks, blob downloads)
//! are [`RawBytes`]. [`every_endpoint!`] names each endpoint once: [`ALL`] and the OpenAPI
//! document (`openapi` feature) are both made from it.

use serde::{Serialize, de::DeserializeOwned};

use crate::*;

/// The HTTP method of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
}

impl Method {
    /// The method's name as HTTP writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; for the link and guardian relays the random id in the path is the capability.
    Open,
    /// A request signed by a registered device (or, for register and add-device, by the
    /// device being added; for recovery, by the recovery auth key).
    Signed,
}

/// A body that is not JSON: the bytes of an upload chunk or of a blob. (A marker: it
/// derives serde's traits only to satisfy [`Endpoint`]'s bounds and is never serialized.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RawBytes;

/// An answer that is plain text (`/health`'s `ok`). A marker, like [`RawBytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlainText;

/// An answer that switches protocols (`101`, the push WebSocket). A marker, like [`RawBytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Upgrade;

/// The type of a query parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A signed 64-bit integer.
    I64,
    /// An unsigned 32-bit integer.
    U32,
    /// An unsigned 64-bit integer.
    U64,
    /// Text.
    Text,
}

/// One query parameter of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryParam {
    /// Its name in the query string.
    pub name: &'static str,
    /// Whether the server refuses a call without it.
    pub required: bool,
    /// Its value's type.
    pub kind: ParamType,
    /// What it means.
    pub doc: &'static str,
}

/// One route of the API.
pub trait Endpoint {
    /// The HTTP method.
    const METHOD: Method;
    /// The path template, in the router's syntax (`/v1/groups/{group_id}/commit`).
    const PATH: &'static str;
    /// Who may call it.
    const ACCESS: Access;
    /// What it does (the type's doc comment).
    const DOC: &'static str;
    /// Its query parameters.
    const QUERY: &'static [QueryParam] = &[];
    /// Whether success is `201 Created` rather than `200` (or `204` for an empty answer).
    const CREATED: bool = false;
    /// The JSON body sent (`()`: none; [`RawBytes`]: raw bytes).
    type Request: Serialize;
    /// The JSON answer (`()`: an empty answer; [`RawBytes`]: raw bytes; [`PlainText`]: text;
    /// [`Upgrade`]: a switch of protocols).
    type Response: DeserializeOwned;
    /// The concrete path of this call, query string included.
    fn path(&self) -> String;
}

/// Fills `{name}` placeholders of `template` from `values`, in order.
fn fill(template: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    let mut values = values.iter();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        out.push_str(values.next().copied().unwrap_or_default());
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

macro_rules! endpoint {
    ($(#[doc = $doc:literal])* $name:ident, $method:ident $path:literal, $access:ident, $req:ty => $resp:ty $(, created = $created:literal)?) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;
        impl Endpoint for $name {
            const METHOD: Method = Method::$method;
            const PATH: &'static str = $path;
            const ACCESS: Access = Access::$access;
            const DOC: &'static str = concat!($($doc),*);
            $(const CREATED: bool = $created;)?
            type Request = $req;
            type Response = $resp;
            fn path(&self) -> String {
                $path.to_owned()
            }
        }
    };
    ($(#[doc = $doc:literal])* $name:ident { $($field:ident),+ }, $method:ident $path:literal, $access:ident, $req:ty => $resp:ty) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<'a> {
            $(#[doc = concat!("The `{", stringify!($field), "}` of the path.")] pub $field: &'a str,)+
        }
        impl Endpoint for $name<'_> {
            const METHOD: Method = Method::$method;
            const PATH: &'static str = $path;
            const ACCESS: Access = Access::$access;
            const DOC: &'static str = concat!($($doc),*);
            type Request = $req;
            type Response = $resp;
            fn path(&self) -> String {
                fill($path, &[$(self.$field),+])
            }
        }
    };
}

// ---------------------------------------------------------------------------- accounts
endpoint!(
    /// Liveness and storage health (plain text `ok`).
    Health, Get "/health", Open, () => PlainText);
endpoint!(
    /// Create a user with its first device, signed by that device's key.
    Register, Post "/v1/register", Signed, RegisterRequest => RegisteredDevice, created = true);
endpoint!(
    /// Add a device to the calling account (linking, recovery).
    AddDevice, Post "/v1/devices", Signed, DeviceUpload => RegisteredDevice, created = true);
endpoint!(
    /// Every device of the calling user, revoked ones included.
    OwnDevicesList, Get "/v1/devices", Signed, () => OwnDevices);
endpoint!(
    /// Revoke one of the calling user's devices.
    RevokeDevice { device_id }, Post "/v1/devices/{device_id}/revoke", Signed, () => ());
endpoint!(
    /// A user's devices and identity key.
    User { username }, Get "/v1/users/{username}", Signed, () => UserRecord);

// ---------------------------------------------------------------------------- key packages
endpoint!(
    /// Claim one KeyPackage for each of a user's devices.
    Claim { username }, Post "/v1/users/{username}/claim", Signed, () => ClaimResponse);
endpoint!(
    /// Upload more KeyPackages for the calling device.
    UploadKeyPackages, Post "/v1/keypackages", Signed, KeyPackageUpload => KeyPackageCount);
endpoint!(
    /// How many KeyPackages the calling device has left.
    CountKeyPackages, Get "/v1/keypackages/count", Signed, () => KeyPackageCount);

// ---------------------------------------------------------------------------- groups
endpoint!(
    /// Register a new group with the calling device as its only member.
    CreateGroup, Post "/v1/groups", Signed, CreateGroupRequest => GroupInfo, created = true);
endpoint!(
    /// The server's routing view of a group.
    Group { group_id }, Get "/v1/groups/{group_id}", Signed, () => GroupInfo);
endpoint!(
    /// A commit at the group's current epoch (first commit wins).
    Commit { group_id }, Post "/v1/groups/{group_id}/commit", Signed, CommitRequest => Accepted);
endpoint!(
    /// An application message or a proposal.
    PostMessage { group_id }, Post "/v1/groups/{group_id}/messages", Signed, MessageRequest => Accepted);

// ---------------------------------------------------------------------------- inbox
/// The calling device's inbox, oldest first: items after `after`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Inbox {
    /// Only items with a larger id.
    pub after: Option<i64>,
    /// At most this many items.
    pub limit: Option<u32>,
}
impl Endpoint for Inbox {
    const METHOD: Method = Method::Get;
    const PATH: &'static str = "/v1/inbox";
    const ACCESS: Access = Access::Signed;
    const DOC: &'static str = " The calling device's inbox, oldest first: items after `after`, at most `limit`.";
    const QUERY: &'static [QueryParam] = &[
        QueryParam { name: "after", required: false, kind: ParamType::I64, doc: "Only items with a larger id (default 0)." },
        QueryParam { name: "limit", required: false, kind: ParamType::U32, doc: "At most this many items (the server caps it)." },
    ];
    type Request = ();
    type Response = InboxResponse;
    fn path(&self) -> String {
        let mut query = Vec::new();
        if let Some(after) = self.after {
            query.push(format!("after={after}"));
        }
        if let Some(limit) = self.limit {
            query.push(format!("limit={limit}"));
        }
        with_query(Self::PATH, &query)
    }
}
endpoint!(
    /// Delete delivered items.
    Ack, Post "/v1/inbox/ack", Signed, AckRequest => ());
endpoint!(
    /// The push WebSocket (upgrade).
    WebSocket, Get "/v1/ws", Signed, () => Upgrade);

// ---------------------------------------------------------------------------- linking
endpoint!(
    /// A new device asks to join an account.
    CreateLink, Post "/v1/link", Open, LinkRequest => LinkCreated, created = true);
endpoint!(
    /// Link requests waiting for an answer from the calling account.
    PendingLinksList, Get "/v1/link", Signed, () => PendingLinks);
endpoint!(
    /// Everything posted so far for a link request.
    Link { link_id }, Get "/v1/link/{link_id}", Open, () => LinkStatus);
endpoint!(
    /// An existing device's SPAKE2 message and key confirmation.
    AnswerLink { link_id }, Post "/v1/link/{link_id}/answer", Signed, LinkAnswer => ());
endpoint!(
    /// The new device's signing key, MAC'd with the PAKE key.
    LinkNewDevice { link_id }, Post "/v1/link/{link_id}/device", Open, LinkDevice => ());
endpoint!(
    /// The account bundle sealed with the PAKE key.
    ApproveLink { link_id }, Post "/v1/link/{link_id}/approve", Signed, LinkApproval => ());
endpoint!(
    /// The new device reports a wrong code; the request is burnt.
    FailLink { link_id }, Post "/v1/link/{link_id}/fail", Open, () => ());

// ---------------------------------------------------------------------------- key directory
endpoint!(
    /// The directory's VRF public key, latest root and restores.
    KtInfoGet, Get "/v1/kt/info", Open, () => KtInfo);
endpoint!(
    /// A lookup proof at the latest epoch.
    KtLookupGet { username }, Get "/v1/kt/lookup/{username}", Signed, () => KtLookup);
endpoint!(
    /// A user's complete key history.
    KtHistoryGet { username }, Get "/v1/kt/history/{username}", Signed, () => KtHistory);
/// Proof that the directory only grew from epoch `start` to epoch `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KtAuditGet {
    /// The first epoch.
    pub start: u64,
    /// The last epoch.
    pub end: u64,
}
impl Endpoint for KtAuditGet {
    const METHOD: Method = Method::Get;
    const PATH: &'static str = "/v1/kt/audit";
    const ACCESS: Access = Access::Open;
    const DOC: &'static str = " Proof that the directory only grew from epoch `start` to epoch `end`.";
    const QUERY: &'static [QueryParam] = &[
        QueryParam { name: "start", required: true, kind: ParamType::U64, doc: "The first epoch." },
        QueryParam { name: "end", required: true, kind: ParamType::U64, doc: "The last epoch." },
    ];
    type Request = ();
    type Response = KtAudit;
    fn path(&self) -> String {
        with_query(Self::PATH, &[format!("start={}", self.start), format!("end={}", self.end)])
    }
}

// ---------------------------------------------------------------------------- recovery
endpoint!(
    /// The account backup sealed with the recovery phrase's key.
    PutBackup, Put "/v1/backup", Signed, BackupUpload => ());
endpoint!(
    /// The latest phrase backup, signed with the recovery auth key.
    Recovery { username }, Get "/v1/recovery/{username}", Signed, () => Backup);
endpoint!(
    /// The account backup sealed for the guardians.
    PutGuardianBackup, Put "/v1/backup/guardians", Signed, BackupUpload => ());
endpoint!(
    /// The latest guardian backup, signed with the guardians' recovery key.
    GuardianRecovery { username }, Get "/v1/recovery/{username}/guardians", Signed, () => Backup);
endpoint!(
    /// A new device asks a user's guardians for their shares.
    CreateGuardianRequest, Post "/v1/guardian-requests", Open, GuardianRequest => GuardianRequestCreated, created = true);
/// Guardian requests waiting for the calling device's user, as guardian of `username`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardianRequests<'a> {
    /// The user being recovered.
    pub username: &'a str,
}
impl Endpoint for GuardianRequests<'_> {
    const METHOD: Method = Method::Get;
    const PATH: &'static str = "/v1/guardian-requests";
    const ACCESS: Access = Access::Signed;
    const DOC: &'static str = " Guardian requests waiting for the calling device's user, as guardian of `username`.";
    const QUERY: &'static [QueryParam] =
        &[QueryParam { name: "username", required: true, kind: ParamType::Text, doc: "The user being recovered." }];
    type Request = ();
    type Response = PendingGuardianRequests;
    fn path(&self) -> String {
        with_query(Self::PATH, &[format!("username={}", self.username)])
    }
}
endpoint!(
    /// The shares posted so far for a guardian request.
    GuardianRequestShares { request_id }, Get "/v1/guardian-requests/{request_id}", Open, () => GuardianShares);
endpoint!(
    /// A guardian's share, sealed to the request's HPKE key.
    PostGuardianShare { request_id }, Post "/v1/guardian-requests/{request_id}/shares", Signed, SealedShare => ());

// ---------------------------------------------------------------------------- files
endpoint!(
    /// Start a resumable upload of one blob.
    StartUpload, Post "/v1/uploads", Signed, UploadStart => UploadStatus);
endpoint!(
    /// How far an upload got.
    Upload { upload_id }, Get "/v1/uploads/{upload_id}", Signed, () => UploadStatus);
/// One chunk of an upload, written at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutChunk<'a> {
    /// The upload.
    pub upload_id: &'a str,
    /// Where the chunk starts.
    pub offset: u64,
}
impl Endpoint for PutChunk<'_> {
    const METHOD: Method = Method::Put;
    const PATH: &'static str = "/v1/uploads/{upload_id}";
    const ACCESS: Access = Access::Signed;
    const DOC: &'static str = " One chunk of an upload, written at `offset`.";
    const QUERY: &'static [QueryParam] = &[QueryParam {
        name: "offset",
        required: true,
        kind: ParamType::U64,
        doc: "Where the chunk starts: the upload's `received`.",
    }];
    type Request = RawBytes;
    type Response = UploadStatus;
    fn path(&self) -> String {
        with_query(&fill(Self::PATH, &[self.upload_id]), &[format!("offset={}", self.offset)])
    }
}
endpoint!(
    /// Finish an upload: the server checks the blob's hash and size.
    CompleteUpload { upload_id }, Post "/v1/uploads/{upload_id}/complete", Signed, () => BlobInfo);
/// A blob's bytes, from `offset` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob<'a> {
    /// The blob.
    pub blob_id: &'a str,
    /// Where to start.
    pub offset: u64,
}
impl Endpoint for Blob<'_> {
    const METHOD: Method = Method::Get;
    const PATH: &'static str = "/v1/blobs/{blob_id}";
    const ACCESS: Access = Access::Signed;
    const DOC: &'static str = " A blob's bytes, from `offset` on.";
    const QUERY: &'static [QueryParam] =
        &[QueryParam { name: "offset", required: false, kind: ParamType::U64, doc: "Where to start (default 0)." }];
    type Request = ();
    type Response = RawBytes;
    fn path(&self) -> String {
        with_query(&fill(Self::PATH, &[self.blob_id]), &[format!("offset={}", self.offset)])
    }
}
endpoint!(
    /// A space's current signed state and its rows.
    Space { space }, Get "/v1/spaces/{space}", Signed, () => SpaceView);
endpoint!(
    /// Replace a space's state and change rows (compare-and-swap on the version).
    UpdateSpace { space }, Post "/v1/spaces/{space}", Signed, SpaceUpdate => SpaceVersion);
/// A space's signed states after version `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceStatesGet<'a> {
    /// The space.
    pub space: &'a str,
    /// The last version the caller saw.
    pub after: u64,
}
impl Endpoint for SpaceStatesGet<'_> {
    const METHOD: Method = Method::Get;
    const PATH: &'static str = "/v1/spaces/{space}/states";
    const ACCESS: Access = Access::Signed;
    const DOC: &'static str = " A space's signed states after version `after`.";
    const QUERY: &'static [QueryParam] =
        &[QueryParam { name: "after", required: true, kind: ParamType::U64, doc: "The last version the caller saw." }];
    type Request = ();
    type Response = SpaceStates;
    fn path(&self) -> String {
        with_query(&fill(Self::PATH, &[self.space]), &[format!("after={}", self.after)])
    }
}
endpoint!(
    /// The calling user's storage use and quota.
    QuotaGet, Get "/v1/quota", Signed, () => Quota);

// ---------------------------------------------------------------------------- the contract
endpoint!(
    /// This API's OpenAPI 3.1 document (also in docs/openapi.json).
    OpenApiGet, Get "/v1/openapi.json", Open, () => serde_json::Value);

fn with_query(path: &str, query: &[String]) -> String {
    if query.is_empty() { path.to_owned() } else { format!("{path}?{}", query.join("&")) }
}

/// Calls `$callback!` with the name of every endpoint type, once each: the one list that
/// [`ALL`], the router's check and the OpenAPI document are made from.
#[macro_export]
macro_rules! every_endpoint {
    ($callback:ident) => {
        $callback! {
            Health,
            Register,
            AddDevice,
            OwnDevicesList,
            RevokeDevice,
            User,
            Claim,
            UploadKeyPackages,
            CountKeyPackages,
            CreateGroup,
            Group,
            Commit,
            PostMessage,
            Inbox,
            Ack,
            WebSocket,
            CreateLink,
            PendingLinksList,
            Link,
            AnswerLink,
            LinkNewDevice,
            ApproveLink,
            FailLink,
            KtInfoGet,
            KtLookupGet,
            KtHistoryGet,
            KtAuditGet,
            PutBackup,
            Recovery,
            PutGuardianBackup,
            GuardianRecovery,
            CreateGuardianRequest,
            GuardianRequests,
            GuardianRequestShares,
            PostGuardianShare,
            StartUpload,
            Upload,
            PutChunk,
            CompleteUpload,
            Blob,
            Space,
            UpdateSpace,
            SpaceStatesGet,
            QuotaGet,
            OpenApiGet
        }
    };
}

macro_rules! method_and_path {
    ($($name:ident),+ $(,)?) => {
        &[$(($name::METHOD, $name::PATH)),+]
    };
}

/// Every endpoint's method and path template, for checks that the router serves exactly
/// these.
pub const ALL: &[(Method, &str)] = every_endpoint!(method_and_path);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fill_their_templates() {
        assert_eq!(Commit { group_id: "00ff" }.path(), "/v1/groups/00ff/commit");
        assert_eq!(GuardianRecovery { username: "bob" }.path(), "/v1/recovery/bob/guardians");
        assert_eq!(Inbox { after: Some(7), limit: Some(200) }.path(), "/v1/inbox?after=7&limit=200");
        assert_eq!(Inbox::default().path(), "/v1/inbox");
        assert_eq!(PutChunk { upload_id: "ab", offset: 9 }.path(), "/v1/uploads/ab?offset=9");
        assert_eq!(Space { space: "drive:alice" }.path(), "/v1/spaces/drive:alice");
        assert_eq!(KtAuditGet { start: 1, end: 2 }.path(), "/v1/kt/audit?start=1&end=2");
    }

    /// The query names [`Endpoint::path`] writes are the ones [`Endpoint::QUERY`] lists.
    #[test]
    fn query_parameters_are_listed() {
        fn names<E: Endpoint>(call: &E) -> (Vec<String>, Vec<&'static str>) {
            let path = call.path();
            let written = path
                .split_once('?')
                .map(|(_, q)| q.split('&').map(|kv| kv.split('=').next().unwrap_or_default().to_owned()).collect())
                .unwrap_or_default();
            (written, E::QUERY.iter().map(|q| q.name).collect())
        }
        let all = [
            names(&Inbox { after: Some(1), limit: Some(2) }),
            names(&KtAuditGet { start: 1, end: 2 }),
            names(&GuardianRequests { username: "bob" }),
            names(&PutChunk { upload_id: "ab", offset: 0 }),
            names(&Blob { blob_id: "ab", offset: 0 }),
            names(&SpaceStatesGet { space: "drive:bob", after: 0 }),
            names(&Commit { group_id: "00" }),
        ];
        for (written, listed) in all {
            assert_eq!(written, listed);
        }
        assert!(Inbox::QUERY.iter().all(|q| !q.required), "the inbox's parameters are optional");
    }

    #[test]
    fn every_route_is_named_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (method, path) in ALL {
            assert!(path.starts_with("/v1/") || *path == "/health", "{path}");
            assert!(seen.insert((method.as_str(), *path)), "{} {path} twice", method.as_str());
        }
    }
}

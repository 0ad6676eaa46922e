//! Every limit, size and lifetime the server enforces, in one place (a leaf: it imports
//! nothing of this crate, so the HTTP handlers and the store both take them from here).

use std::time::Duration;

use hush_proto::UPLOAD_CHUNK_MAX;

// ---- accounts, key packages, groups, inbox ----

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
/// Most push WebSockets (`GET /v1/ws`) one device may hold open at once. One more closes
/// the device's oldest (close code [`WEBSOCKET_REPLACED`]) rather than being refused, as
/// Signal-Server displaces a device's older connection: a client that reconnects after
/// losing its network is never locked out by its own half-open sockets, and only the
/// device's own key can open them, so no one else can close them.
pub const MAX_WEBSOCKETS_PER_DEVICE: usize = 4;
/// The close code of a push WebSocket closed because the same device opened one more than
/// [`MAX_WEBSOCKETS_PER_DEVICE`] (as Signal's 4409, "connected elsewhere").
pub const WEBSOCKET_REPLACED: u16 = 4409;
/// How often the server pings each push WebSocket.
pub const WEBSOCKET_PING_EVERY: Duration = Duration::from_secs(30);
/// A push WebSocket that sends nothing (no pong, no frame) this long after a ping is closed.
pub const WEBSOCKET_PONG_DEADLINE: Duration = Duration::from_secs(15);
/// The read buffer of a push WebSocket: a client sends only pongs and a close on it, and
/// the library's default, 128 KiB allocated per socket, is 250 MiB for 2,000 idle sockets.
pub const WEBSOCKET_READ_BUFFER: usize = 4 * 1024;
/// Largest frame or message a client may send on a push WebSocket.
pub const WEBSOCKET_MAX_MESSAGE: usize = 4 * 1024;

// ---- device linking ----

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

// ---- key transparency ----

/// Most epochs one audit request may span: the proof grows with the changes in the range.
pub const MAX_AUDIT_EPOCHS: u64 = 1000;

// ---- account backup and recovery ----

/// Largest sealed backup, in bytes (the request body limit usually bounds it first).
pub const MAX_BACKUP_BYTES: usize = 1024 * 1024;
/// Most failed recovery attempts per account in [`RECOVERY_WINDOW_MS`].
pub const MAX_RECOVERY_FAILURES: i64 = 10;
/// The window recovery failures are counted in: one hour.
pub const RECOVERY_WINDOW_MS: i64 = 60 * 60 * 1000;

// ---- guardian recovery ----

/// How long a guardian request lives: 24 hours.
pub const GUARDIAN_REQUEST_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// Most unexpired guardian requests per account.
pub const MAX_PENDING_GUARDIAN_REQUESTS: i64 = 5;
/// Largest sealed share.
pub const MAX_SEALED_SHARE: usize = 64 * 1024;

// ---- files ----

/// Largest body of `PUT /v1/uploads/{id}` the body limit lets through: a full chunk plus
/// slack, so that an oversized chunk gets a sentence rather than a bare limit answer.
pub const UPLOAD_BODY_LIMIT: usize = UPLOAD_CHUNK_MAX + 64 * 1024;
/// Largest body of `POST /v1/spaces/{space}`: 32 MiB.
pub const SPACE_UPDATE_LIMIT: usize = 32 * 1024 * 1024;
/// The longest a chunk upload or an upload's completion may take: a chunk on a slow
/// link, or copying a large blob into the object store, takes longer than an API call.
pub const BULK_REQUEST_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Most unfinished uploads one user may have.
pub const MAX_PENDING_UPLOADS: i64 = 100;
/// Unfinished uploads started this long ago, and finished blobs no row ever referred to
/// this long after they were finished, are forgotten by the sweep: 7 days.
pub const STALE_AFTER_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// How often the sweep runs (it also runs when the server starts).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// The largest sealed row (manifest) accepted.
pub const MAX_ROW_BYTES: usize = 64 * 1024;

//! Every limit, size and lifetime the server enforces, in one place (a leaf: it imports
//! nothing of this crate, so the HTTP handlers and the store both take them from here).

use std::time::Duration;

use hush_proto::UPLOAD_CHUNK_MAX;

// ---- error messages ----

/// Most characters of a client's input (a path segment, an id) quoted back in an error
/// message.
pub const MAX_ECHO_CHARS: usize = 64;

/// Client input to quote in an error message: debug-quoted (escapes included), at most
/// [`MAX_ECHO_CHARS`] characters of it, "…" when cut.
pub fn shown(input: &str) -> String {
    let mut chars = input.chars();
    let head: String = chars.by_ref().take(MAX_ECHO_CHARS).collect();
    if chars.next().is_some() { format!("{head:?}…") } else { format!("{head:?}") }
}

/// Most bytes of an error message: longer ones (which only echoed input makes, such as a
/// parser's "unknown field" naming a client's field) are cut, so an answer never carries
/// kilobytes of what the client sent.
pub const MAX_MESSAGE_BYTES: usize = 200;

/// A message cut to [`MAX_MESSAGE_BYTES`] at a character boundary, "…" when cut.
pub fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

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
/// Most bytes of payload one inbox page carries: a page stops before the item that would
/// pass it (but always holds at least one item), so no page is hundreds of MB.
pub const MAX_INBOX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// `Retry-After` of a post refused because a recipient's queue is full or the sender's
/// quota of waiting messages is used up: seconds.
pub const QUEUE_RETRY_AFTER_SECS: u64 = 600;

/// How much may wait on the server for delivery (the server's configuration sets them;
/// the defaults are [`QueueLimits::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most items one device's inbox may hold (default 10,000).
    pub max_items: u64,
    /// Most payload bytes one device's inbox may hold (default 256 MiB).
    pub max_bytes: u64,
    /// Most payload bytes the devices of one user may have sent that still wait in someone's
    /// inbox (default 1 GiB). A message sent to many devices counts once: it is stored once.
    pub sender_quota_bytes: u64,
    /// How long a message waits for its recipients: older ones are not handed out and the
    /// sweep deletes them (default 30 days, as Signal), in milliseconds.
    pub ttl_ms: i64,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_items: 10_000,
            max_bytes: 256 * 1024 * 1024,
            sender_quota_bytes: 1024 * 1024 * 1024,
            ttl_ms: 30 * 24 * 60 * 60 * 1000,
        }
    }
}

/// Most push WebSockets (`GET /v1/ws`) one device may hold open at once. One more closes
/// the device's oldest (close code [`WEBSOCKET_REPLACED`]) rather than being refused, as
/// Signal-Server displaces a device's older connection: a client that reconnects after
/// losing its network is never locked out by its own half-open sockets, and only the
/// device's own key can open them, so no one else can close them.
pub const MAX_WEBSOCKETS_PER_DEVICE: usize = 4;
/// The close code of a push WebSocket closed because the same device opened one more than
/// [`MAX_WEBSOCKETS_PER_DEVICE`] (as Signal's 4409, "connected elsewhere").
pub const WEBSOCKET_REPLACED: u16 = hush_proto::WS_CLOSE_REPLACED;
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

// ---- rate limits over time (`rate`) ----

/// A rate limit: a burst, refilled at a steady pace.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Requests that may come at once.
    pub burst: u32,
    /// Requests a minute, once the burst is spent.
    pub per_minute: u32,
}

/// Per address, every request that names no device (or `recovery`): 20 a second.
pub const RATE_ANONYMOUS: RateLimit = RateLimit { burst: 400, per_minute: 1200 };
/// Per address, registrations: 30 at once, then one every 6 seconds.
pub const RATE_REGISTER: RateLimit = RateLimit { burst: 30, per_minute: 10 };
/// Per address, new device links: 10 at once, then 2 a minute.
pub const RATE_LINK: RateLimit = RateLimit { burst: 10, per_minute: 2 };
/// Per address, guardian requests: 10 at once, then 2 a minute.
pub const RATE_GUARDIAN_REQUEST: RateLimit = RateLimit { burst: 10, per_minute: 2 };
/// Per address, recovery attempts: 20 at once, then 10 a minute.
pub const RATE_RECOVERY: RateLimit = RateLimit { burst: 20, per_minute: 10 };
/// Per device, signed requests: 5,000 at once, then 1,000 a second (a backstop: a
/// device's own work, like `send --stdin`, must never meet it).
pub const RATE_DEVICE: RateLimit = RateLimit { burst: 5000, per_minute: 60_000 };

// ---- KeyPackage claims ----

/// The window KeyPackage claims are counted in: one hour (a sliding window).
pub const CLAIM_WINDOW: Duration = Duration::from_secs(60 * 60);
/// Most claims one account may make of another account's KeyPackages in [`CLAIM_WINDOW`]
/// (claims of one's own are not counted): half a device's normal supply, so one stranger
/// can't empty it.
pub const MAX_CLAIMS_PER_CLAIMER: usize = 10;
/// Most claims of one account's KeyPackages in [`CLAIM_WINDOW`], from all other accounts.
pub const MAX_CLAIMS_PER_TARGET: usize = 30;

//! hush-server: the MLS delivery service, user directory and ciphertext store of hush.
//!
//! The server orders each group's handshake messages (the first commit for an epoch wins,
//! a stale one gets `409 stale_epoch`), stores messages until every recipient device has
//! acknowledged them, pushes "you have mail" over a WebSocket, and hands out KeyPackages.
//! It reads nothing but the public framing of MLS messages (group id, epoch, content type):
//! everything else is ciphertext to it. It also runs the key-transparency directory (akd,
//! see [`kt`]): every user's identity key and device list, provable to clients and
//! auditable. The API is described by the types in `hush-proto`; every route but
//! `register`, `devices`, `health`, `kt/info`, `kt/audit`, the new device's side of the
//! link relay (creating a link request, posting its key, failing and following it),
//! `recovery`, creating a guardian request and fetching its shares is
//! signed by a registered, unrevoked device (headers `x-hush-device`, `x-hush-timestamp`,
//! `x-hush-nonce`, `x-hush-signature` over `hush_core::auth::canonical_request`);
//! `register` and `devices` are signed by the new device's key, taken from the certificate
//! in their body, and `recovery` by the account's recovery auth key (or its guardian backup's).
//!
//! A revoked device is gone everywhere: it can't sign requests, is not listed, claimed,
//! routed to, added to groups or counted in its user's directory value, and its id and key
//! can't be registered again. An account may keep one sealed backup (`PUT /v1/backup`),
//! fetched with the recovery auth key (`GET /v1/recovery/{username}`: the right key is
//! always served; past `limits::MAX_RECOVERY_FAILURES` wrong attempts per account per
//! hour a wrong one is `429`), and a second one for
//! guardian recovery (`PUT /v1/backup/guardians`, `GET /v1/recovery/{username}/guardians`,
//! its own key and failure count). For the latter the server relays, like device links:
//! a recovering device posts a guardian request (an HPKE key, `/v1/guardian-requests`),
//! any registered device may list an account's requests and post one sealed share per
//! device, and the request id fetches the shares.
//!
//! A new device joins an account through the link relay (`/v1/link*`), a SPAKE2 exchange
//! the server passes on without understanding: the new device posts its message under a
//! 4-character selector, one device of the account answers it once (a wrong code burns the
//! request), the new device posts its key with a MAC, and the answering device posts the
//! sealed account bundle. Each step is accepted once and in that order; an account keeps
//! at most `limits::MAX_PENDING_LINKS` unfinished requests (a new one replaces the oldest),
//! each living 10 minutes, and each address may start only a few a minute (`rate`), so
//! strangers can neither fill the account's slots for good nor get many guesses at a code.
//!
//! Files (`/v1/uploads`, `/v1/blobs`, `/v1/spaces`, `/v1/quota`, see `http/files.rs`, `http/uploads.rs` and `blobs.rs`) are opaque
//! age blobs uploaded in resumable chunks and kept in an object store (`data_dir/blobs`),
//! and spaces: a user's drive or a conversation's shared folder, a signed state and rows
//! that refer to blobs, written with compare-and-swap on the state's version. Each user's
//! files count against a quota ([`ServerConfig::quota_bytes`]) until no row refers to them.
//!
//! Storage is SQLite (WAL, `synchronous=FULL`): a message is acknowledged only once it is
//! on disk, so it survives a crash of the server or the machine. Uploaded chunks are synced
//! before they are counted, and finished files are written with fsync.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hush_server::ServerError> {
//! use hush_server::{Server, ServerConfig};
//!
//! let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 8443));
//! let config = ServerConfig::new(listen, "/var/lib/hush".into());
//! let server = Server::bind(config).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod admin;
pub mod backup;
mod blobs;
mod claim_limits;
mod config;
mod conn;
pub mod data_dir;
mod http;
pub mod kt;
pub mod kt_storage;
mod limits;
mod metrics;
mod rate;
mod server;
mod state;
mod storage_trouble;
mod store;
mod sweeper;
pub mod tls;
mod ws;

pub use blobs::{BLOBS_DIR, UPLOADS_DIR};
pub use config::{Registration, ServerConfig, ServerError};
pub use limits::QueueLimits;
pub use server::Server;
pub use store::DATABASE_FILE;

//! hush-client: the client library the CLI (and the web UI) call.
//!
//! A [`Client`] is one device of one user, opened from its hush home with the passphrase.
//! It registers, creates conversations, sends and receives, and keeps its state sealed on
//! disk. It trusts the server for nothing but delivery: every KeyPackage, Welcome and
//! commit is checked (`hush_core::mls`) and every identity key is compared with the one
//! pinned for that user before it is used.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hush_client::ClientError> {
//! let home = std::path::Path::new("/tmp/alice");
//! let mut alice = hush_client::Client::register(home, "http://127.0.0.1:7777", &hush_client::tls::Trust::system(), "alice", b"passphrase").await?;
//! alice.send("bob", "hello").await?;
//! for m in alice.sync_and_take_unread().await? {
//!     println!("{}: {}", m.sender, m.text);
//! }
//! # Ok(()) }
//! ```
//!
//! Where things are: `client` holds [`Client`] and its home; `account` makes
//! devices; `trust` is the one rule for accepting an identity key; `contacts` looks users
//! up in the key directory; `conversations` creates and changes groups; `send` and `sync`
//! move messages; `state` is what is sealed on disk; `error` sorts what goes wrong.

mod account;
mod alerts;
pub mod api;
mod client;
mod contacts;
mod conversations;
pub mod drive;
mod error;
mod key_packages;
pub mod kt;
pub mod link;
mod membership;
mod names;
pub mod push;
pub mod recovery;
mod safety;
mod send;
pub mod state;
mod sync;
mod timeline;
pub mod tls;
pub mod transcript;
pub mod trust;

pub use client::{Client, Headers};
pub use conversations::MemberView;
pub use error::{ApiError, ClientError, Misbehaviour};
pub use recovery::{recover, recover_with_guardians};
pub use safety::SafetyView;
pub use state::{Alert, ConversationMeta, Received};
pub use timeline::{ContactStatus, TIMELINE_KEPT};
pub use sync::SyncReport;

// A path the drive and key-transparency modules use (`crate::short_device`).
pub(crate) use names::short_device;

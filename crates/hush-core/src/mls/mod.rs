//! hush's use of MLS (RFC 9420) through OpenMLS.
//!
//! Every conversation is an MLS group whose members are devices. hush adds what OpenMLS
//! leaves to the application:
//!
//! - **Credentials.** Each leaf's credential is a `BasicCredential` whose identity is the
//!   device's encoded [`DeviceCertificate`](crate::identity::DeviceCertificate). [`verify_leaf`] checks that the certificate is
//!   signed by the identity key it names and that the leaf's signature key is the
//!   certified device key. The caller then checks that identity key against the one it
//!   trusts for that user (pinned, verified, or proven by key transparency).
//! - **Phases.** A commit from the server comes back from [`Conversation::process`] as an
//!   [`Incoming::Commit`] holding the staged commit and the certificates of every leaf it
//!   adds or updates. Nothing is merged until the caller has checked them and calls
//!   [`Conversation::merge`], which takes only a [`TrustedCommit`]: what
//!   [`PendingCommit::trust`] returns once the caller's trust rule accepted the committer
//!   and every new leaf. A Welcome is likewise a [`PendingJoin`], and only the
//!   [`TrustedJoin`] from [`PendingJoin::trust`] can be joined ([`TrustedJoin::accept`]).
//! - **Server's view.** [`inspect`] reads only the public framing of a message (group id,
//!   epoch, content type) — all the delivery service needs to order handshake messages.

mod conversation;
mod credential;
mod join;
mod provider;
mod wire;

use openmls::prelude::*;

pub use openmls::prelude::KeyPackage;

pub use conversation::{Conversation, Incoming, Member, Outgoing, PendingCommit, Role, TrustedCommit};
pub use credential::{CheckedKeyPackage, check_key_package, key_packages, single_use_key_packages, verify_leaf};
pub use join::{PendingJoin, TrustedJoin};
pub use provider::{Device, HushProvider};
pub use wire::{WireInfo, WireKind, inspect, inspect_welcome, peek_aad};

/// The ciphersuite of every hush group: X25519 DHKEM, AES-128-GCM, SHA-256, Ed25519.
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// How many past epochs a member keeps secrets for, so that an application message sent
/// just before a commit still decrypts after it.
const MAX_PAST_EPOCHS: usize = 3;

/// Errors from MLS processing, as one sentence each.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MlsError {
    /// Bytes that are not a well-formed MLS message of the expected kind.
    #[error("malformed MLS message: {0}")]
    Malformed(String),
    /// A leaf's credential is not a valid hush device certificate for its signature key.
    #[error("a member's credential is not valid: {0}")]
    Credential(String),
    /// OpenMLS refused the message (bad signature, wrong epoch, failed decryption, replay).
    #[error("{0}")]
    Refused(String),
    /// A local failure (storage, randomness) that is not the peer's fault.
    #[error("internal MLS error: {0}")]
    Internal(String),
    /// The requested device is not in the group.
    #[error("device {0} is not a member of this conversation")]
    NotMember(String),
    /// A message used a key of its sender's ratchet that an earlier message already used:
    /// two different messages were made with one device's state (a copied device, or an
    /// old message the server re-sent with altered framing).
    #[error("a message reused the keys of a message already received")]
    KeyReused,
}

fn internal(e: impl std::fmt::Display) -> MlsError {
    MlsError::Internal(e.to_string())
}
fn refused(e: impl std::fmt::Display) -> MlsError {
    MlsError::Refused(e.to_string())
}

/// Leaf capabilities: the defaults plus the last-resort KeyPackage extension.
fn capabilities() -> Capabilities {
    Capabilities::builder().extensions(vec![ExtensionType::LastResort]).build()
}

fn group_create_config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .capabilities(capabilities())
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

fn group_join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

fn encode(m: MlsMessageOut) -> Result<Vec<u8>, MlsError> {
    m.to_bytes().map_err(internal)
}

//! Files: the content format (age v1), the signed and encrypted manifests, and the signed,
//! versioned state of a space. The whole format is written down in `docs/FILES.md`.
//!
//! - **Content.** Each file version gets a fresh age X25519 identity (its *file key*); the
//!   content is a standard age v1 file encrypted to it (STREAM, 64 KiB chunks, last-chunk
//!   flag) and stored as an opaque blob. Chunks can't be swapped, dropped, appended or
//!   spliced from another file: age's STREAM nonces and per-file payload key refuse it.
//! - **Manifest.** Name, folder, sizes, times, MIME type, versions and file keys of one
//!   entry, sealed with the space key (XChaCha20-Poly1305, bound to the space, the entry id
//!   and the key id) and signed by the writing device ([`SealedRow`]).
//! - **State.** The list of every entry id with the SHA-256 of its row, a version number
//!   that only goes up, and the hash of the previous state, signed by the writing device
//!   ([`SignedState`]). A client refuses a listing that doesn't match the state exactly
//!   (an entry hidden, planted, swapped or edited), a state older than one it has seen, and
//!   a signer that isn't trusted for the space.

mod content;
mod keys;
mod manifest;
mod mime;
mod row;
mod state;
mod tree;
#[cfg(test)]
mod tests;

pub use content::{decrypt, encrypt, encrypt_for_recipient, reencrypt_for_recipient};
pub use keys::{FileKey, SpaceKey};
pub use manifest::{EntryKind, FileVersion, Manifest, check_name, new_entry_id};
pub use mime::mime_for;
pub use row::{OpenedRow, SealedRow};
pub use state::{Seen, SignedState, StateBody, check_chain, sha256_hex};
pub use tree::{Tree, open_space};

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::identity::{CertificateBody, DeviceCertificate, SecretKey};
use crate::primitives;

const ROW_SIG_CONTEXT: &[u8] = b"hush-space-row-v1\0";
const ROW_AAD_CONTEXT: &[u8] = b"hush-space-row-aad-v1\0";
const STATE_SIG_CONTEXT: &[u8] = b"hush-space-state-v1\0";
/// Longest entry name, in bytes.
pub const MAX_NAME: usize = 255;

/// Why a file, manifest or space state is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The content failed age's checks: changed, truncated, extended or from another file.
    #[error("the file's content failed its integrity check (changed, cut short, extended or taken from another file)")]
    Content,
    /// The blob doesn't have the length or hash its signed manifest records.
    #[error("the stored file doesn't match its signed manifest ({0})")]
    BlobMismatch(String),
    /// A row or state isn't well formed, or its signature or encryption doesn't check.
    #[error("{0}")]
    Tampered(String),
    /// A key this device doesn't hold.
    #[error("{0}")]
    MissingKey(String),
    /// An age recipient string that doesn't parse.
    #[error("not an age recipient (expected age1…): {0}")]
    BadRecipient(String),
    /// Reading or writing a stream failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The served state doesn't continue the chain from the version this device saw last.
    #[error("the server's copy of this space's folder history does not continue the version this device saw last (version {seen}): the server forked or rewrote it")]
    Forked {
        /// The version this device saw last.
        seen: u64,
    },
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str, what: &str) -> Result<Vec<u8>, FileError> {
    URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .map_err(|_| FileError::Tampered(format!("{what} is not well formed")))
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

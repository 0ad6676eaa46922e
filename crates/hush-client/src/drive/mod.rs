//! Files, the client's side: the personal drive (`drive:USER`) and conversation spaces
//! (`conv:GROUP_ID`). The format lives in `hush_core::files`; this module moves blobs,
//! reads and writes space states, and keeps the keys.
//!
//! - **Put**: the file is encrypted to a staging file in the home (age, fresh key; the
//!   SHA-256 is computed on a second thread), uploaded in 8 MiB pieces that the server
//!   acknowledges (an interrupted upload continues where the server stopped), then the
//!   entry's manifest is sealed and the space's state signed, in one compare-and-swap.
//! - **Get**: the blob is downloaded to a `.part` file in the home (an interrupted download
//!   continues from its length), its length and hash checked against the signed manifest,
//!   decrypted into a temporary file next to the destination, and renamed over the
//!   destination only when every check passed (or, for a link, a device, a pipe or
//!   standard output, a temporary file in the home copied there after the checks). Every
//!   temporary plaintext file is first recorded in `HOME/transfers/outputs`, so that the
//!   next hush command removes what a crash left. A blob that fails its checks after a
//!   resumed download is downloaded once more from the start before `get` gives up, and a
//!   refused blob leaves nothing behind.
//! - **Keys**: a drive has random keys by generation, held by every device of the account
//!   (linking and the recovery backup carry them). A conversation's space key is the MLS
//!   exporter secret of each epoch, so removing a member gives a key they can't derive;
//!   whoever adds members hands them the keys of earlier epochs.
//!
//! The modules: `location` names a space from what the user typed; `space` holds
//! the keys, the writer rule, and reading and writing a space's signed state; `entries`
//! lists and edits folders; `share` seals entries again for a conversation; `upload` is
//! `put` and the one upload protocol; `download` is `get` and `export`; `deliver` puts
//! verified output where it goes; `reencrypt` renews a conversation's file keys;
//! `pipeline` encrypts, decrypts and hashes on two threads; `progress` reports a
//! transfer to the caller's [`Progress`] and keeps its rate limit.

mod deliver;
mod download;
mod entries;
mod location;
mod pipeline;
mod progress;
mod reencrypt;
mod share;
mod space;
mod upload;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hush_core::files;
use serde::Serialize;

use crate::error::Misbehaviour;
use crate::{Client, ClientError};
pub use crate::state::PendingUpload;

pub use progress::{Progress, Stage};

/// How many versions of a file are kept unless the user says otherwise.
pub const DEFAULT_KEEP_VERSIONS: usize = 5;

/// A space and a path in it, as the user named them.
#[derive(Debug, Clone)]
pub struct Location {
    /// `drive:USER` or `conv:HEX`.
    pub space: String,
    /// The conversation id for a conversation space.
    pub conversation: Option<String>,
    /// The path inside the space, without leading or trailing slashes.
    pub path: String,
    /// How to show the space to the user.
    pub label: String,
}

/// How a transfer behaves.
#[derive(Clone, Default)]
pub struct TransferOptions {
    /// Bytes per second at most (`None`: as fast as possible).
    pub limit_rate: Option<u64>,
    /// Told how the transfer goes (`None`: nobody is shown anything).
    pub progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for TransferOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferOptions")
            .field("limit_rate", &self.limit_rate)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// What `put` did.
#[derive(Debug, Clone, Serialize)]
pub struct PutReport {
    /// Where the file is now.
    pub location: String,
    /// The file's version number.
    pub version: u64,
    /// Plaintext bytes.
    pub size: u64,
    /// Where an earlier interrupted upload was continued from.
    pub resumed_from: Option<u64>,
}

/// What `get` did.
#[derive(Debug, Clone, Serialize)]
pub struct GetReport {
    /// Plaintext bytes written.
    pub size: u64,
    /// Where an earlier interrupted download was continued from.
    pub resumed_from: Option<u64>,
}

/// Where `get` and `export` write.
#[derive(Debug, Clone)]
pub enum Destination {
    /// Standard output, once the whole file verified.
    Stdout,
    /// A file. An existing regular file is replaced only with `force`; a link, a device or
    /// a pipe is written through, never replaced.
    File {
        /// The path.
        path: PathBuf,
        /// Replace an existing file.
        force: bool,
    },
}

impl Destination {
    /// How it is named in sentences.
    pub fn describe(&self) -> String {
        match self {
            Destination::Stdout => "standard output".into(),
            Destination::File { path, .. } => path.display().to_string(),
        }
    }
}

/// One entry as `ls` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ListItem {
    /// The name.
    pub name: String,
    /// The path in the space.
    pub path: String,
    /// "file" or "folder".
    pub kind: String,
    /// Plaintext bytes of the current version (0 for folders).
    pub size: u64,
    /// The current version's modification time, unix ms (creation for folders).
    pub modified_at: i64,
    /// Who put the current version (or made the folder), as the row claims.
    pub author: String,
    /// The user whose device signed the entry's row (who last changed it); `ls` shows
    /// "AUTHOR, as claimed by SIGNER" when it differs from `author`.
    pub signed_by: String,
    /// The author as `ls` shows it.
    pub author_shown: String,
    /// The current version number (0 for folders).
    pub version: u64,
    /// How many versions are kept.
    pub versions_kept: usize,
    /// MIME type (files).
    pub mime: String,
}

fn usage(m: impl Into<String>) -> ClientError {
    ClientError::Usage(m.into())
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> ClientError {
    ClientError::io(format!("{what} {}", path.display()), path, &e)
}

/// A file-format failure, sorted by whose doing it is: what the server served that does
/// not check out is its misbehaviour; a missing key or a bad recipient is for the person.
fn file_err(e: files::FileError) -> ClientError {
    use files::FileError;
    let text = e.to_string();
    match e {
        FileError::Content | FileError::Tampered(_) => Misbehaviour::Tampered(text).into(),
        FileError::BlobMismatch(_) => Misbehaviour::BlobMismatch(text).into(),
        FileError::Forked { .. } => Misbehaviour::Forked(text).into(),
        FileError::Io(e) => ClientError::Io { what: "can't read or write the file".into(), path: PathBuf::new(), reason: hush_proto::fsio::io_reason(&e) },
        FileError::MissingKey(_) | FileError::BadRecipient(_) => ClientError::Usage(text),
        _ => ClientError::Usage(text),
    }
}

/// A name this device is about to store (put, mkdir, mv): the format's rules, and no
/// characters that would disguise it on the screens of the others who see it.
fn check_new_name(name: &str) -> Result<(), ClientError> {
    files::check_name(name).map_err(usage)?;
    if hush_core::display::has_unsafe(name) {
        return Err(usage(format!(
            "the name \"{}\" has invisible or direction-changing characters that could disguise it; give it another name",
            hush_core::display::escape(name)
        )));
    }
    Ok(())
}

fn split_path(path: &str) -> Vec<&str> {
    path.split('/').filter(|p| !p.is_empty()).collect()
}

impl Client {
    /// `HOME/transfers`: staged uploads, partial downloads, records of temporary outputs.
    fn transfers_dir(&self) -> Result<PathBuf, ClientError> {
        let dir = self.home().join("transfers");
        fs::create_dir_all(&dir).map_err(|e| io_err("can't create", &dir, e))?;
        Ok(dir)
    }
}

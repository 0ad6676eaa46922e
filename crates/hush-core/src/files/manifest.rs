//! Manifests: what one entry (file or folder) says about itself, and the rules for names.

use super::*;

/// A folder or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A folder.
    Folder,
    /// A file.
    File,
}

/// One stored version of a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileVersion {
    /// 1, 2, 3… for this entry.
    pub version: u64,
    /// The blob holding the age file.
    pub blob_id: String,
    /// The blob's exact length.
    pub blob_size: u64,
    /// SHA-256 of the blob, hex.
    pub blob_sha256: String,
    /// The plaintext's length.
    pub size: u64,
    /// The MIME type guessed from the name.
    pub mime: String,
    /// The local file's modification time when it was put, unix ms.
    pub modified_at: i64,
    /// Who put this version.
    pub author: String,
    /// The key that opens the blob.
    pub key: FileKey,
}

/// Everything about one entry of a space; sealed for the space inside a [`SealedRow`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The entry's id: 32 hex characters, random, never reused.
    pub entry_id: String,
    /// Folder or file.
    pub kind: EntryKind,
    /// The folder it is in (`None`: the space's root).
    pub parent: Option<String>,
    /// Its name in that folder.
    pub name: String,
    /// When it was created, unix ms.
    pub created_at: i64,
    /// For files, the kept versions, oldest first (the last is current).
    pub versions: Vec<FileVersion>,
    /// For a shared copy: `SPACE/ENTRY_ID` of what it was shared from.
    pub shared_from: Option<String>,
}

impl Manifest {
    /// The current version of a file.
    pub fn current(&self) -> Option<&FileVersion> {
        self.versions.last()
    }

    /// Ids of every blob the manifest refers to.
    pub fn blob_ids(&self) -> Vec<String> {
        self.versions.iter().map(|v| v.blob_id.clone()).collect()
    }
}

/// A random entry id.
pub fn new_entry_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Whether `name` may name an entry.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("\"{name}\" can't be a file or folder name"));
    }
    if name.len() > MAX_NAME {
        return Err(format!("a name has at most {MAX_NAME} bytes"));
    }
    if name.contains('/') || name.chars().any(char::is_control) {
        return Err(format!("\"{}\" has a slash or a control character; names can't", name.escape_default()));
    }
    Ok(())
}

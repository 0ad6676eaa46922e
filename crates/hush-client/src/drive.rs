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

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use hush_core::files::{
    self, EntryKind, FileKey, FileVersion, Manifest, SealedRow, Seen, SignedState, SpaceKey, StateBody, Tree, sha256_hex,
};
use hush_core::identity::{CertificateBody, PublicKey};
use hush_proto::{self as proto, B64};
use reqwest::Method;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Client, ClientError};
pub use crate::state::PendingUpload;

/// How many versions of a file are kept unless the user says otherwise.
pub const DEFAULT_KEEP_VERSIONS: usize = 5;
const BLOCK: usize = 1024 * 1024;

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
#[derive(Debug, Clone, Copy, Default)]
pub struct TransferOptions {
    /// Bytes per second at most (`None`: as fast as possible).
    pub limit_rate: Option<u64>,
    /// Draw a progress bar on standard error.
    pub progress: bool,
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

/// How verified content reaches the destination.
enum Deliver {
    /// Rename the temporary file (next to the destination) over it: atomic.
    Rename(PathBuf),
    /// Copy the temporary file (in the home) into this existing link, device or pipe.
    WriteThrough(PathBuf),
    /// Copy the temporary file (in the home) to standard output.
    Stdout,
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
    ClientError::Usage(format!("{what} {}: {}", path.display(), crate::lowercase_io(&e)))
}

fn file_err(e: files::FileError) -> ClientError {
    ClientError::Usage(e.to_string())
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

/// The changes one write makes to a space.
#[derive(Default)]
struct Changes {
    put: Vec<Manifest>,
    delete: Vec<String>,
}

impl Client {
    // ------------------------------------------------------------------ locations

    /// Parses `PATH` (the personal drive) or `CONVERSATION:PATH` (a conversation's space;
    /// a one-to-one conversation is named by the other user). With `create`, a user's
    /// one-to-one conversation is made on first use.
    pub async fn locate(&mut self, spec: &str, create: bool) -> Result<Location, ClientError> {
        if let Some((conv, path)) = spec.split_once(':')
            && !conv.is_empty()
            && !conv.contains('/')
        {
            let id = if create {
                self.resolve_or_create(conv).await?
            } else {
                match self.resolve(conv)? {
                    Some(id) => id,
                    // Files of a conversation this device left stay readable as far as
                    // its keys reach (the server decides whether it still serves them).
                    None => self
                        .state
                        .conversations
                        .values()
                        .filter(|m| !m.active && (m.name == conv || (conv.len() >= 6 && m.id.starts_with(conv))))
                        .max_by_key(|m| m.joined_at)
                        .map(|m| m.id.clone())
                        .ok_or_else(|| usage(format!("no conversation named {conv} (and no one-to-one conversation with a user of that name)")))?,
                }
            };
            return Ok(Location {
                space: format!("conv:{id}"),
                conversation: Some(id),
                path: split_path(path).join("/"),
                label: format!("{conv}:"),
            });
        }
        Ok(Location {
            space: format!("drive:{}", self.state.username),
            conversation: None,
            path: split_path(spec).join("/"),
            label: String::new(),
        })
    }

    // ------------------------------------------------------------------ keys and trust

    /// Remembers the space key of the conversation's current epoch.
    pub(crate) fn note_space_key(&mut self, id_hex: &str, conv: &hush_core::mls::Conversation) -> Result<(), ClientError> {
        if !conv.is_active() {
            return Ok(());
        }
        let (epoch, key) = conv.space_key(&self.provider)?;
        self.state.space_keys.entry(id_hex.to_owned()).or_default().insert(epoch, key);
        self.note_epoch(id_hex, conv);
        Ok(())
    }

    fn keys_for(&self, loc: &Location) -> BTreeMap<u64, SpaceKey> {
        match &loc.conversation {
            None => self.state.drive_keys.clone(),
            Some(id) => self.state.space_keys.get(id).cloned().unwrap_or_default(),
        }
    }

    /// The key new rows of the space are sealed with.
    fn write_key(&mut self, loc: &Location) -> Result<(u64, SpaceKey), ClientError> {
        match &loc.conversation {
            None => {
                if self.state.drive_keys.is_empty() {
                    self.state.drive_keys.insert(1, SpaceKey::generate());
                }
                self.state
                    .drive_keys
                    .iter()
                    .next_back()
                    .map(|(g, k)| (*g, k.clone()))
                    .ok_or_else(|| ClientError::Internal("no drive key".into()))
            }
            Some(id) => {
                let gid = hex::decode(id).map_err(|e| ClientError::Internal(e.to_string()))?;
                let conv = self.load_conv(&gid)?;
                if !conv.is_active() {
                    return Err(usage(format!("you are no longer a member of {}", loc.label.trim_end_matches(':'))));
                }
                self.note_space_key(id, &conv)?;
                Ok(conv.space_key(&self.provider)?)
            }
        }
    }

    /// Who may sign a space's state: for the drive, our own devices; for a conversation,
    /// devices of its current members. Rows may also be signed by anyone whose key we
    /// pinned (a member who has since left wrote them while a member; the state, signed
    /// by a current member, vouches that they belong).
    #[allow(clippy::type_complexity)]
    fn trust_for(
        &self,
        loc: &Location,
        own_devices: BTreeSet<String>,
    ) -> Result<(impl FnMut(&CertificateBody) -> Result<(), String> + use<>, Option<BTreeSet<(String, String)>>), ClientError> {
        let me = self.state.username.clone();
        let my_key = self.identity.public();
        let pinned: BTreeMap<String, PublicKey> =
            self.state.contacts.iter().map(|(u, c)| (u.clone(), c.identity_key)).collect();
        // The devices that may sign the state, as (username, device id). `None`: this
        // device is no longer a member and can't know the current members.
        let writers: Option<BTreeSet<(String, String)>> = match &loc.conversation {
            None => Some(own_devices.into_iter().map(|d| (me.clone(), d)).collect()),
            Some(id) if self.state.conversations.get(id).is_some_and(|m| m.active) => {
                Some(self.members_of(id)?.into_iter().map(|m| (m.username, m.device_id)).collect())
            }
            Some(_) => None,
        };
        let drive = loc.conversation.is_none();
        let check = move |cert: &CertificateBody| -> Result<(), String> {
            let expected = if cert.username == me { Some(my_key) } else { pinned.get(&cert.username).copied() };
            match expected {
                Some(k) if k.ct_eq(&cert.identity_key) => {}
                Some(_) => return Err("a key that isn't the one pinned for that user (a key the server made?)".into()),
                None => return Err("a user this device doesn't know".into()),
            }
            if drive && cert.username != me {
                return Err("someone other than you, in your own drive".into());
            }
            Ok(())
        };
        Ok((check, writers))
    }

    // ------------------------------------------------------------------ reading and writing spaces

    async fn load_tree(&mut self, loc: &Location) -> Result<Tree, ClientError> {
        let view: proto::SpaceView = self
            .api
            .call::<(), _>(Some(&self.signer()), Method::GET, &format!("/v1/spaces/{}", loc.space), None)
            .await?;
        let rows: Vec<(String, Vec<u8>)> = view.rows.into_iter().map(|r| (r.entry_id, r.row.0)).collect();
        let keys = self.keys_for(loc);
        // For the drive: our devices as the key directory proves them now (a revoked
        // device may not sign the drive's state).
        let own_devices = if loc.conversation.is_none() {
            let me = self.state.username.clone();
            self.proven_devices(&me).await?
        } else {
            BTreeSet::new()
        };
        let (mut check, writers) = self.trust_for(loc, own_devices)?;
        let seen = self.state.spaces_seen.get(&loc.space).cloned();
        // More than one version since this device looked: the states in between, so that
        // the whole chain from the version seen last is checked.
        let mut history: Vec<Vec<u8>> = Vec::new();
        if let Some(s) = seen.as_ref().filter(|s| s.version > 0 && view.version > s.version + 1) {
            let mut after = s.version;
            while after + 1 < view.version {
                let got: proto::SpaceStates = self
                    .api
                    .call::<(), _>(Some(&self.signer()), Method::GET, &format!("/v1/spaces/{}/states?after={after}", loc.space), None)
                    .await?;
                // A server that never stops answering is cut off; the chain check then refuses.
                if got.states.is_empty() || history.len() > 200_000 {
                    break;
                }
                after += got.states.len() as u64;
                history.extend(got.states.into_iter().map(|b| b.0));
            }
        }
        // The state must come from a current writer; rows from anyone pinned.
        let mut state_checked = false;
        let mut trust = |cert: &CertificateBody| -> Result<(), String> {
            check(cert)?;
            if !state_checked {
                state_checked = true;
                if writers.as_ref().is_some_and(|w| !w.contains(&(cert.username.clone(), cert.device_id.clone()))) {
                    return Err(format!("a device ({}) that is not a current member of this space (revoked or removed?)", cert.device_id));
                }
            }
            Ok(())
        };
        let tree = files::open_space(
            &loc.space,
            view.version,
            view.state.as_ref().map(|s| s.0.as_slice()),
            &rows,
            seen.as_ref(),
            &history,
            &|id| keys.get(&id).cloned(),
            &mut trust,
        )
        .map_err(|e| match e {
            files::FileError::Forked { seen } => {
                let name = match &loc.conversation {
                    None => "your drive's".to_owned(),
                    Some(id) => {
                        let label = loc.label.trim_end_matches(':');
                        let conv = self.state.conversations.get(id).map(|m| m.name.as_str()).unwrap_or("this conversation");
                        format!("{}'s folder", if label.is_empty() { conv } else { label })
                    }
                };
                usage(format!(
                    "the server's copy of {name} history does not continue the version this device saw last (version {seen}): the server forked or rewrote it"
                ))
            }
            e => file_err(e),
        })?;
        if tree.version > 0 {
            self.state.spaces_seen.insert(loc.space.clone(), Seen { version: tree.version, hash: tree.hash.clone() });
            self.save()?;
        }
        Ok(tree)
    }

    /// Reads the space, lets `plan` decide the changes, seals and signs them, and writes
    /// them if nobody changed the space in between (otherwise reads again and re-plans).
    async fn change_space(
        &mut self,
        loc: &Location,
        always: bool,
        mut plan: impl FnMut(&Tree) -> Result<Changes, ClientError>,
    ) -> Result<(), ClientError> {
        for _ in 0..8 {
            let tree = self.load_tree(loc).await?;
            let changes = plan(&tree)?;
            if changes.put.is_empty() && changes.delete.is_empty() && !(always && tree.version > 0) {
                return Ok(());
            }
            let (key_id, key) = self.write_key(loc)?;
            let mut entries = tree.row_hashes.clone();
            for d in &changes.delete {
                entries.remove(d);
            }
            let mut put = Vec::new();
            for m in &changes.put {
                let row = SealedRow::seal(&loc.space, m, key_id, &key, &self.device_key, &self.certificate).map_err(file_err)?;
                entries.insert(m.entry_id.clone(), sha256_hex(&row));
                put.push(proto::SpaceRow { entry_id: m.entry_id.clone(), blobs: m.blob_ids(), row: B64(row) });
            }
            let body = StateBody {
                space: loc.space.clone(),
                version: tree.version + 1,
                previous: tree.hash.clone(),
                entries,
                written_at: hush_core::now_ms(),
            };
            let state = SignedState::sign(&body, &self.device_key, &self.certificate).map_err(file_err)?;
            let hash = sha256_hex(&state);
            let req = proto::SpaceUpdate { expected_version: tree.version, state: B64(state), put, delete: changes.delete };
            let path = format!("/v1/spaces/{}", loc.space);
            match self.api.call::<_, proto::SpaceVersion>(Some(&self.signer()), Method::POST, &path, Some(&req)).await {
                Ok(_) => {
                    self.state.spaces_seen.insert(loc.space.clone(), Seen { version: body.version, hash });
                    return self.save();
                }
                Err(e) if e.code() == Some(proto::codes::CONFLICT) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(usage("the space keeps changing; try again"))
    }

    /// Signs the drive's state with this device (before another device is revoked).
    pub(crate) async fn resign_drive(&mut self) {
        let loc = Location { space: format!("drive:{}", self.state.username), conversation: None, path: String::new(), label: String::new() };
        if let Err(e) = self.change_space(&loc, true, |_| Ok(Changes::default())).await {
            self.warn("", format!("could not sign your drive's state before the revocation: {e}"));
            let _ = self.save();
        }
    }

    /// Signs the conversation space's state with this device (before members are
    /// removed), so that it never rests on a removed member's signature.
    pub(crate) async fn resign_space(&mut self, id_hex: &str) -> Result<(), ClientError> {
        let loc = Location { space: format!("conv:{id_hex}"), conversation: Some(id_hex.to_owned()), path: String::new(), label: String::new() };
        // A space nobody wrote to has nothing to sign; an unreadable one is reported
        // when someone opens it.
        // The removal itself already succeeded: a failure here is reported, not fatal.
        match self.change_space(&loc, true, |_| Ok(Changes::default())).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.warn(id_hex, format!("could not re-sign this conversation's files after the removal: {e}"));
                self.save()
            }
        }
    }

    // ------------------------------------------------------------------ listing

    /// Lists a folder (or shows one file).
    pub async fn ls(&mut self, spec: &str) -> Result<(Location, Vec<ListItem>), ClientError> {
        self.sync().await?;
        let loc = self.locate(spec, false).await?;
        let tree = self.load_tree(&loc).await?;
        let entry = tree.lookup(&loc.path).map_err(usage)?;
        let items: Vec<&Manifest> = match entry {
            Some(m) if m.kind == EntryKind::File => vec![m],
            Some(m) => tree.children(Some(&m.entry_id)),
            None => tree.children(None),
        };
        let items = items
            .into_iter()
            .map(|m| {
                let cur = m.current();
                ListItem {
                    name: m.name.clone(),
                    path: tree.path_of(&m.entry_id),
                    kind: match m.kind {
                        EntryKind::File => "file".into(),
                        EntryKind::Folder => "folder".into(),
                    },
                    size: cur.map_or(0, |v| v.size),
                    modified_at: cur.map_or(m.created_at, |v| v.modified_at),
                    author: cur.map(|v| v.author.clone()).unwrap_or_default(),
                    signed_by: tree.signers.get(&m.entry_id).cloned().unwrap_or_default(),
                    author_shown: tree.author_shown(&m.entry_id),
                    version: cur.map_or(0, |v| v.version),
                    versions_kept: m.versions.len(),
                    mime: cur.map(|v| v.mime.clone()).unwrap_or_default(),
                }
            })
            .collect();
        Ok((loc, items))
    }

    // ------------------------------------------------------------------ folders

    /// Makes a folder (and any missing parents).
    pub async fn mkdir(&mut self, spec: &str) -> Result<Location, ClientError> {
        self.sync().await?;
        let loc = self.locate(spec, true).await?;
        if loc.path.is_empty() {
            return Err(usage("name the folder to make"));
        }
        let path = loc.path.clone();
        self.change_space(&loc, false, |tree| {
            let (changes, _) = make_folders(tree, &split_path(&path), true)?;
            Ok(changes)
        })
        .await?;
        Ok(loc)
    }

    /// Moves or renames an entry inside one space.
    pub async fn mv(&mut self, from: &str, to: &str) -> Result<(), ClientError> {
        self.sync().await?;
        let src = self.locate(from, false).await?;
        let dst = self.locate(to, false).await?;
        if src.space != dst.space {
            return Err(usage("mv moves inside one space; to give a file to a conversation, use `hush share`"));
        }
        let (sp, dp) = (src.path.clone(), dst.path.clone());
        self.change_space(&src, false, |tree| {
            let m = tree.lookup(&sp).map_err(usage)?.ok_or_else(|| usage("can't move the root of a space"))?;
            let (parent, name) = match tree.lookup(&dp) {
                Ok(Some(d)) if d.kind == EntryKind::Folder => (Some(d.entry_id.clone()), m.name.clone()),
                Ok(Some(_)) => return Err(usage(format!("{dp} already exists; remove it first"))),
                Ok(None) => (None, m.name.clone()),
                Err(_) => {
                    let parts = split_path(&dp);
                    let (last, dir) = parts.split_last().ok_or_else(|| usage("name where to move it"))?;
                    let parent = match tree.lookup(&dir.join("/")).map_err(usage)? {
                        Some(d) if d.kind == EntryKind::Folder => Some(d.entry_id.clone()),
                        Some(_) => return Err(usage(format!("{} is a file, not a folder", dir.join("/")))),
                        None => None,
                    };
                    (parent, (*last).to_owned())
                }
            };
            check_new_name(&name)?;
            if let Some(p) = &parent
                && tree.subtree(&m.entry_id).iter().any(|x| &x.entry_id == p)
            {
                return Err(usage("can't move a folder into itself"));
            }
            if tree.children(parent.as_deref()).iter().any(|c| c.name == name && c.entry_id != m.entry_id) {
                return Err(usage(format!("there is already something named {name} there")));
            }
            let mut moved = m.clone();
            moved.parent = parent;
            moved.name = name;
            Ok(Changes { put: vec![moved], delete: vec![] })
        })
        .await
    }

    /// Removes a file, or a folder with `recursive` (or when empty). The blobs no entry
    /// refers to any more are deleted by the server.
    pub async fn rm(&mut self, spec: &str, recursive: bool) -> Result<usize, ClientError> {
        self.sync().await?;
        let loc = self.locate(spec, false).await?;
        let path = loc.path.clone();
        let mut removed = 0;
        self.change_space(&loc, false, |tree| {
            let m = tree.lookup(&path).map_err(usage)?.ok_or_else(|| usage("name what to remove"))?;
            let all: Vec<String> = tree.subtree(&m.entry_id).iter().map(|x| x.entry_id.clone()).collect();
            if all.len() > 1 && !recursive {
                return Err(usage(format!("{path} is a folder with things in it; use --recursive to remove it all")));
            }
            removed = all.len();
            Ok(Changes { put: vec![], delete: all })
        })
        .await?;
        Ok(removed)
    }

    // ------------------------------------------------------------------ sharing

    /// Shares a file or folder (everything under it) with a user or conversation: its
    /// manifests are sealed again for the conversation's space; the content is not
    /// uploaded again.
    pub async fn share(&mut self, spec: &str, with: &str) -> Result<Location, ClientError> {
        self.sync().await?;
        let src = self.locate(spec, false).await?;
        let tree = self.load_tree(&src).await?;
        let root = tree.lookup(&src.path).map_err(usage)?.ok_or_else(|| usage("name the file or folder to share"))?.clone();
        let originals: Vec<Manifest> = tree.subtree(&root.entry_id).into_iter().cloned().collect();
        let target_id = self.resolve_or_create(with).await?;
        self.reconcile(&target_id).await?;
        for m in self.members_of(&target_id)? {
            self.ensure_sendable(&m.username)?;
        }
        let dst = Location {
            space: format!("conv:{target_id}"),
            conversation: Some(target_id.clone()),
            path: root.name.clone(),
            label: format!("{with}:"),
        };
        let src_space = src.space.clone();
        self.change_space(&dst, false, |t| {
            if t.children(None).iter().any(|c| c.name == root.name) {
                return Err(usage(format!("{with} already has something named {} in its files; rename one first", root.name)));
            }
            let ids: BTreeMap<String, String> = originals.iter().map(|m| (m.entry_id.clone(), files::new_entry_id())).collect();
            let put = originals
                .iter()
                .map(|m| {
                    let mut c = m.clone();
                    c.entry_id = ids[&m.entry_id].clone();
                    c.parent = if m.entry_id == root.entry_id { None } else { m.parent.as_ref().and_then(|p| ids.get(p).cloned()) };
                    c.shared_from = Some(format!("{src_space}/{}", m.entry_id));
                    // Only the current version is shared, not the kept older ones.
                    let older = c.versions.len().saturating_sub(1);
                    c.versions.drain(..older);
                    c
                })
                .collect();
            Ok(Changes { put, delete: vec![] })
        })
        .await?;
        Ok(dst)
    }

    /// Takes back what was shared from `spec` with a user or conversation.
    pub async fn unshare(&mut self, spec: &str, from: &str) -> Result<usize, ClientError> {
        self.sync().await?;
        let src = self.locate(spec, false).await?;
        let tree = self.load_tree(&src).await?;
        let root = tree.lookup(&src.path).map_err(usage)?.ok_or_else(|| usage("name the file or folder to unshare"))?;
        let origins: BTreeSet<String> =
            tree.subtree(&root.entry_id).iter().map(|m| format!("{}/{}", src.space, m.entry_id)).collect();
        let target_id = self.resolve(from)?.ok_or_else(|| usage(format!("no conversation named {from}")))?;
        let dst = Location { space: format!("conv:{target_id}"), conversation: Some(target_id), path: String::new(), label: format!("{from}:") };
        let mut removed = 0;
        self.change_space(&dst, false, |t| {
            let mut gone = BTreeSet::new();
            for m in t.entries.values() {
                if m.shared_from.as_ref().is_some_and(|s| origins.contains(s)) {
                    for x in t.subtree(&m.entry_id) {
                        gone.insert(x.entry_id.clone());
                    }
                }
            }
            if gone.is_empty() {
                return Err(usage(format!("{spec} isn't shared with {from}")));
            }
            removed = gone.len();
            Ok(Changes { put: vec![], delete: gone.into_iter().collect() })
        })
        .await?;
        Ok(removed)
    }

    // ------------------------------------------------------------------ put

    /// Encrypts and uploads a local file to `dest` (a folder, or a path to create or to add a
    /// version to), continuing an interrupted upload of the same file to the same place.
    pub async fn put(
        &mut self,
        local: &Path,
        dest: Option<&str>,
        keep_versions: usize,
        opts: TransferOptions,
    ) -> Result<PutReport, ClientError> {
        let meta = fs::metadata(local).map_err(|e| io_err("can't read", local, e))?;
        if !meta.is_file() {
            return Err(usage(format!("{} is not a file", local.display())));
        }
        let local_name = local
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| usage(format!("{} has no usable file name", local.display())))?
            .to_owned();
        if keep_versions == 0 {
            return Err(usage("--keep-versions must be at least 1"));
        }
        self.sync().await?;
        let mut loc = self.locate(dest.unwrap_or(""), true).await?;
        // A destination that is a folder (or a space's root, or ends with a slash) gets
        // the local name.
        let tree = self.load_tree(&loc).await?;
        let ends_with_slash = dest.is_some_and(|d| d.ends_with('/') || d.ends_with(':'));
        match tree.lookup(&loc.path) {
            Ok(None) => loc.path = local_name.clone(),
            Ok(Some(m)) if m.kind == EntryKind::Folder => loc.path = format!("{}/{local_name}", loc.path),
            Ok(Some(_)) if ends_with_slash => return Err(usage(format!("{} is a file, not a folder", loc.path))),
            _ if ends_with_slash => loc.path = format!("{}/{local_name}", loc.path),
            _ => {}
        }
        for part in split_path(&loc.path) {
            check_new_name(part)?;
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
        let canonical = fs::canonicalize(local).map_err(|e| io_err("can't read", local, e))?;
        let transfer = hex::encode(&Sha256::digest(
            format!("{}\n{}\n{}\n{}\n{}", loc.space, loc.path, canonical.display(), meta.len(), modified).as_bytes(),
        )[..16]);
        let staging = self.transfers_dir()?.join(format!("{transfer}.age"));

        // Continue an interrupted upload of this very file to this very place, if its
        // staged ciphertext is intact; otherwise encrypt afresh.
        let mut pending = self.state.uploads.get(&transfer).cloned().filter(|p| {
            fs::metadata(&staging).is_ok_and(|m| m.len() == p.blob_size)
        });
        if pending.is_none() {
            // A stale record (its staged ciphertext gone or changed) must never be
            // resumed with new ciphertext.
            if self.state.uploads.remove(&transfer).is_some() {
                self.save()?;
            }
            let key = FileKey::generate();
            if opts.progress {
                eprintln!("encrypting {local_name} ({})…", human(meta.len()));
            }
            let (blob_size, blob_sha256) = encrypt_to_staging(&key, local, &staging).await?;
            let status: proto::UploadStatus = match self
                .api
                .call(Some(&self.signer()), Method::POST, "/v1/uploads", Some(&proto::UploadStart { space: loc.space.clone(), size: blob_size }))
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    // Refused (too large, over quota) or unreachable: nothing stays behind.
                    let _ = fs::remove_file(&staging);
                    return Err(e.into());
                }
            };
            let p = PendingUpload {
                space: loc.space.clone(),
                path: loc.path.clone(),
                local: canonical.display().to_string(),
                local_size: meta.len(),
                local_modified: modified,
                key,
                blob_size,
                blob_sha256,
                upload_id: status.upload_id,
            };
            self.state.uploads.insert(transfer.clone(), p.clone());
            self.save()?;
            pending = Some(p);
        }
        let Some(mut p) = pending else {
            return Err(ClientError::Internal("no pending upload".into()));
        };
        let status = match self
            .api
            .call::<(), proto::UploadStatus>(Some(&self.signer()), Method::GET, &format!("/v1/uploads/{}", p.upload_id), None)
            .await
        {
            Ok(s) => s,
            // The server forgot it (expired): start the upload again, same ciphertext.
            Err(e) if e.code() == Some(proto::codes::NOT_FOUND) => {
                let s: proto::UploadStatus = self
                    .api
                    .call(Some(&self.signer()), Method::POST, "/v1/uploads", Some(&proto::UploadStart { space: loc.space.clone(), size: p.blob_size }))
                    .await?;
                p.upload_id = s.upload_id.clone();
                self.state.uploads.insert(transfer.clone(), p.clone());
                self.save()?;
                s
            }
            Err(e) => return Err(e.into()),
        };
        let resumed_from = (status.received > 0).then_some(status.received);
        self.send_blob(&staging, &p.upload_id, p.blob_size, status.received, &local_name, opts).await?;
        let blob: proto::BlobInfo = self
            .api
            .call::<(), _>(Some(&self.signer()), Method::POST, &format!("/v1/uploads/{}/complete", p.upload_id), None)
            .await?;

        let version = FileVersion {
            version: 0,
            blob_id: blob.blob_id,
            blob_size: p.blob_size,
            blob_sha256: p.blob_sha256.clone(),
            size: p.local_size,
            mime: files::mime_for(&local_name).to_owned(),
            modified_at: p.local_modified,
            author: self.state.username.clone(),
            key: p.key.clone(),
        };
        let path = loc.path.clone();
        let mut number = 0;
        self.change_space(&loc, false, |tree| {
            let parts = split_path(&path);
            let (name, dirs) = parts.split_last().ok_or_else(|| usage("name the file"))?;
            let (mut changes, parent) = make_folders(tree, dirs, false)?;
            let existing = tree.children(parent.as_deref()).into_iter().find(|c| c.name == *name).cloned();
            let mut v = version.clone();
            let entry = match existing {
                Some(e) if e.kind == EntryKind::Folder => return Err(usage(format!("{path} is a folder"))),
                Some(mut e) => {
                    v.version = e.current().map_or(1, |c| c.version + 1);
                    e.versions.push(v);
                    let extra = e.versions.len().saturating_sub(keep_versions);
                    e.versions.drain(..extra);
                    e
                }
                None => {
                    v.version = 1;
                    Manifest {
                        entry_id: files::new_entry_id(),
                        kind: EntryKind::File,
                        parent,
                        name: (*name).to_owned(),
                        created_at: hush_core::now_ms(),
                        versions: vec![v],
                        shared_from: None,
                    }
                }
            };
            number = entry.current().map_or(1, |c| c.version);
            changes.put.push(entry);
            Ok(changes)
        })
        .await?;
        self.state.uploads.remove(&transfer);
        self.save()?;
        let _ = fs::remove_file(&staging);
        Ok(PutReport { location: format!("{}{}", loc.label, loc.path), version: number, size: p.local_size, resumed_from })
    }

    fn transfers_dir(&self) -> Result<PathBuf, ClientError> {
        let dir = self.home().join("transfers");
        fs::create_dir_all(&dir).map_err(|e| io_err("can't create", &dir, e))?;
        Ok(dir)
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_blob(&self, staging: &Path, upload_id: &str, blob_size: u64, from: u64, name: &str, opts: TransferOptions) -> Result<(), ClientError> {
        let mut file = File::open(staging).map_err(|e| io_err("can't read", staging, e))?;
        file.seek(SeekFrom::Start(from)).map_err(|e| io_err("can't read", staging, e))?;
        let mut offset = from;
        let mut meter = Meter::new(format!("uploading {name}"), blob_size, from, opts);
        let mut buf = vec![0u8; proto::UPLOAD_CHUNK_MAX];
        while offset < blob_size {
            let want = usize::try_from((blob_size - offset).min(buf.len() as u64)).unwrap_or(buf.len());
            file.read_exact(&mut buf[..want]).map_err(|e| io_err("can't read", staging, e))?;
            let path = format!("/v1/uploads/{upload_id}?offset={offset}");
            let status: proto::UploadStatus = self.api.call_bytes(&self.signer(), Method::PUT, &path, buf[..want].to_vec()).await?;
            offset = status.received;
            file.seek(SeekFrom::Start(offset)).map_err(|e| io_err("can't read", staging, e))?;
            meter.advance(offset).await;
        }
        meter.done();
        Ok(())
    }

    // ------------------------------------------------------------------ re-encryption

    /// Re-encrypts every file of a conversation's space under fresh file keys and seals
    /// every entry again under the current epoch's space key (run after removing a
    /// member): the removed member's old keys open none of it any more. Returns how many
    /// file versions were re-encrypted.
    pub async fn reencrypt_space(&mut self, conversation: &str) -> Result<usize, ClientError> {
        self.sync().await?;
        let id = self.resolve(conversation)?.ok_or_else(|| usage(format!("no conversation named {conversation}")))?;
        let loc = Location { space: format!("conv:{id}"), conversation: Some(id), path: String::new(), label: format!("{conversation}:") };
        let tree = self.load_tree(&loc).await?;
        let dir = self.transfers_dir()?;
        let mut fresh: BTreeMap<String, (String, u64, String, FileKey)> = BTreeMap::new();
        let quiet = TransferOptions::default();
        for m in tree.entries.values() {
            for v in &m.versions {
                if fresh.contains_key(&v.blob_id) {
                    continue;
                }
                // Download and check the old blob, decrypt it into the home...
                let part = dir.join(format!("{}.part", v.blob_id));
                self.receive_blob(&part, v, &m.name, quiet).await?;
                let staged = dir.join(format!("{}.reencrypted.age", v.blob_id));
                let done = async {
                    // ...and encrypt it again under a new key in the same pass (no
                    // plaintext touches the disk), uploaded as a new blob.
                    let key = FileKey::generate();
                    decrypt_checked(&part, &staged, v, Some(key.recipient())).await?;
                    let (blob_size, blob_sha256) = hash_file(&staged).await?;
                    let start: proto::UploadStatus = self
                        .api
                        .call(Some(&self.signer()), Method::POST, "/v1/uploads", Some(&proto::UploadStart { space: loc.space.clone(), size: blob_size }))
                        .await?;
                    self.send_blob(&staged, &start.upload_id, blob_size, 0, &m.name, quiet).await?;
                    let blob: proto::BlobInfo = self
                        .api
                        .call::<(), _>(Some(&self.signer()), Method::POST, &format!("/v1/uploads/{}/complete", start.upload_id), None)
                        .await?;
                    Ok::<_, ClientError>((blob.blob_id, blob_size, blob_sha256, key))
                }
                .await;
                for f in [&part, &staged] {
                    let _ = fs::remove_file(f);
                }
                fresh.insert(v.blob_id.clone(), done?);
            }
        }
        let count = fresh.len();
        self.change_space(&loc, true, |t| {
            let put = t
                .entries
                .values()
                .map(|m| {
                    let mut m = m.clone();
                    for v in &mut m.versions {
                        if let Some((blob_id, blob_size, blob_sha256, key)) = fresh.get(&v.blob_id) {
                            v.blob_id = blob_id.clone();
                            v.blob_size = *blob_size;
                            v.blob_sha256 = blob_sha256.clone();
                            v.key = key.clone();
                        }
                    }
                    m
                })
                .collect();
            Ok(Changes { put, delete: vec![] })
        })
        .await?;
        Ok(count)
    }

    // ------------------------------------------------------------------ get and export

    /// Downloads, checks and decrypts a file to `out`; nothing reaches `out` unless every
    /// check passed.
    pub async fn get(&mut self, spec: &str, out: &Destination, version: Option<u64>, opts: TransferOptions) -> Result<GetReport, ClientError> {
        self.fetch(spec, out, version, opts, None).await
    }

    /// Like [`Client::get`], but writes a standard age file for `recipient` (`age1…`).
    pub async fn export(&mut self, spec: &str, recipient: &str, out: &Destination, opts: TransferOptions) -> Result<GetReport, ClientError> {
        // Refuse a bad recipient before downloading anything.
        files::encrypt_for_recipient(recipient, std::io::empty(), std::io::sink()).map_err(file_err)?;
        self.fetch(spec, out, None, opts, Some(recipient.trim().to_owned())).await
    }

    /// Removes the temporary plaintext files an interrupted `get` or `export` left (each
    /// is recorded in `HOME/transfers/outputs` before it is created). The home's lock is
    /// held, so no other hush process is writing them.
    pub fn clean_stale_outputs(&self) {
        let dir = self.home().join("transfers").join("outputs");
        let Ok(records) = fs::read_dir(&dir) else { return };
        for r in records.flatten() {
            if let Ok(bytes) = fs::read(r.path()) {
                #[cfg(unix)]
                let target = PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(bytes));
                #[cfg(not(unix))]
                let target = PathBuf::from(String::from_utf8_lossy(&bytes).into_owned());
                // Only files hush names this way, whatever the record says.
                let ours = target.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(".hush-") && n.ends_with(".partial"));
                if ours {
                    let _ = fs::remove_file(&target);
                }
            }
            let _ = fs::remove_file(r.path());
        }
    }

    /// Records a temporary plaintext file before it exists; returns the record.
    fn record_output(&self, tmp: &Path) -> Result<PathBuf, ClientError> {
        let dir = self.transfers_dir()?.join("outputs");
        fs::create_dir_all(&dir).map_err(|e| io_err("can't create", &dir, e))?;
        let record = dir.join(hush_core::message::new_id());
        let absolute = std::path::absolute(tmp).map_err(|e| io_err("can't write", tmp, e))?;
        fs::write(&record, absolute.as_os_str().as_encoded_bytes()).map_err(|e| io_err("can't write", &record, e))?;
        Ok(record)
    }

    /// Decides, before anything is downloaded, how the verified file reaches `out`.
    fn plan_destination(&self, out: &Destination) -> Result<Deliver, ClientError> {
        let (path, force) = match out {
            Destination::Stdout => return Ok(Deliver::Stdout),
            Destination::File { path, force } => (path, *force),
        };
        let exists = |p: &Path| usage(format!("{} already exists; pass --force to replace it", p.display()));
        match fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if !dir.is_dir() {
                    return Err(usage(format!("the folder {} doesn't exist", dir.display())));
                }
                Ok(Deliver::Rename(path.clone()))
            }
            Err(e) => Err(io_err("can't write", path, e)),
            Ok(meta) if meta.file_type().is_symlink() => match fs::metadata(path) {
                Err(_) => Err(usage(format!("{} is a link that points nowhere; give another file name", path.display()))),
                Ok(t) if t.is_dir() => Err(usage(format!("{} is a folder; give the file name to write", path.display()))),
                Ok(t) if t.is_file() && !force => Err(exists(path)),
                Ok(_) => Ok(Deliver::WriteThrough(path.clone())),
            },
            Ok(meta) if meta.is_dir() => Err(usage(format!("{} is a folder; give the file name to write", path.display()))),
            Ok(meta) if meta.is_file() => {
                if force {
                    Ok(Deliver::Rename(path.clone()))
                } else {
                    Err(exists(path))
                }
            }
            // A device, a pipe or a socket: written through.
            Ok(_) => Ok(Deliver::WriteThrough(path.clone())),
        }
    }

    async fn fetch(
        &mut self,
        spec: &str,
        out: &Destination,
        version: Option<u64>,
        opts: TransferOptions,
        recipient: Option<String>,
    ) -> Result<GetReport, ClientError> {
        self.clean_stale_outputs();
        let deliver = self.plan_destination(out)?;
        self.sync().await?;
        let loc = self.locate(spec, false).await?;
        let tree = self.load_tree(&loc).await?;
        let m = tree.lookup(&loc.path).map_err(usage)?.ok_or_else(|| usage("name the file to get"))?;
        if m.kind == EntryKind::Folder {
            return Err(usage(format!("{} is a folder; get the files in it one by one", loc.path)));
        }
        let v = match version {
            None => m.current().cloned(),
            Some(n) => m.versions.iter().find(|v| v.version == n).cloned(),
        }
        .ok_or_else(|| {
            let kept: Vec<String> = m.versions.iter().map(|v| v.version.to_string()).collect();
            usage(format!("{} has no version {}; kept: {}", loc.path, version.unwrap_or(0), kept.join(", ")))
        })?;
        let name = m.name.clone();

        // 1. The blob, into the home, continuing an interrupted download.
        let part = self.transfers_dir()?.join(format!("{}.part", v.blob_id));
        let mut resumed_from = self.receive_blob(&part, &v, &name, opts).await.inspect_err(|e| {
            // Bytes a check refused are never continued from.
            if !is_short_download(e) {
                let _ = fs::remove_file(&part);
            }
        })?;

        // 2. Check and decrypt into a temporary file (recorded first, so that a crash
        // leaves nothing the next run doesn't remove); deliver only when the hash, the
        // length and every age chunk verified.
        let label = match out {
            Destination::File { path, .. } => path.file_name().and_then(|n| n.to_str()).unwrap_or("file").to_owned(),
            Destination::Stdout => "stdout".to_owned(),
        };
        let tmp_name = format!(".{label}.hush-{}.partial", hush_core::message::new_id());
        let tmp = match &deliver {
            Deliver::Rename(p) => match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.join(&tmp_name),
                _ => PathBuf::from(&tmp_name),
            },
            Deliver::WriteThrough(_) | Deliver::Stdout => self.transfers_dir()?.join(&tmp_name),
        };
        let record = self.record_output(&tmp)?;
        let result = async {
            if opts.progress {
                eprintln!("checking and decrypting {}…", hush_core::display::escape(&name));
            }
            let mut checked = decrypt_checked(&part, &tmp, &v, recipient.clone()).await;
            if checked.is_err() && resumed_from.is_some() {
                // What an earlier download left may not be what this server holds now
                // (a server that served wrong bytes then, an honest one now): once more
                // from the start before giving up.
                let _ = fs::remove_file(&part);
                let _ = fs::remove_file(&tmp);
                resumed_from = None;
                self.receive_blob(&part, &v, &name, opts).await?;
                checked = decrypt_checked(&part, &tmp, &v, recipient.clone()).await;
            }
            let size = checked?;
            deliver_file(&tmp, &deliver)?;
            Ok::<_, ClientError>(size)
        }
        .await;
        let _ = fs::remove_file(&tmp);
        let _ = fs::remove_file(&record);
        match result {
            Ok(size) => {
                let _ = fs::remove_file(&part);
                Ok(GetReport { size, resumed_from })
            }
            Err(e) => {
                // A blob that failed its checks is not kept for a later resume; one cut
                // short is (run the same command again to continue).
                if !is_short_download(&e) {
                    let _ = fs::remove_file(&part);
                }
                Err(e)
            }
        }
    }

    /// Downloads the blob into `part`, continuing from what an interrupted download left
    /// there; returns where it continued from, if it did.
    async fn receive_blob(&self, part: &Path, v: &FileVersion, name: &str, opts: TransferOptions) -> Result<Option<u64>, ClientError> {
        let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let from = if have > v.blob_size { 0 } else { have };
        let resumed_from = (from > 0).then_some(from);
        if from == v.blob_size {
            return Ok(resumed_from);
        }
        let mut file = OpenOptions::new().create(true).append(false).write(true).truncate(false).open(part).map_err(|e| io_err("can't write", part, e))?;
        file.set_len(from).map_err(|e| io_err("can't write", part, e))?;
        file.seek(SeekFrom::Start(from)).map_err(|e| io_err("can't write", part, e))?;
        let path = format!("/v1/blobs/{}?offset={from}", v.blob_id);
        let mut resp = self.api.get_stream(&self.signer(), &path).await?;
        let mut offset = from;
        let mut meter = Meter::new(format!("downloading {}", hush_core::display::escape(name)), v.blob_size, from, opts);
        loop {
            let chunk = resp
                .chunk()
                .await
                .map_err(|e| ClientError::Api(crate::api::ApiError::Unreachable { url: self.server().to_owned(), reason: e.to_string() }))?;
            let Some(chunk) = chunk else { break };
            offset += chunk.len() as u64;
            if offset > v.blob_size {
                drop(file);
                let _ = fs::remove_file(part);
                return Err(file_err(files::FileError::BlobMismatch("the server sent more bytes than the file has".into())));
            }
            file.write_all(&chunk).map_err(|e| io_err("can't write", part, e))?;
            meter.advance(offset).await;
        }
        file.sync_data().map_err(|e| io_err("can't write", part, e))?;
        meter.done();
        if offset != v.blob_size {
            return Err(file_err(files::FileError::BlobMismatch(format!(
                "the server sent {offset} of {} bytes; {SHORT_DOWNLOAD}",
                v.blob_size
            ))));
        }
        Ok(resumed_from)
    }
}

/// Whether a download stopped short (the connection or the server cut it): what arrived is
/// kept to continue from.
fn is_short_download(e: &ClientError) -> bool {
    matches!(e, ClientError::Api(_)) || e.to_string().contains(SHORT_DOWNLOAD)
}

/// The end of the sentence for a download cut short.
const SHORT_DOWNLOAD: &str = "run the same command again to continue";

/// Puts the verified temporary file where it goes.
fn deliver_file(tmp: &Path, deliver: &Deliver) -> Result<(), ClientError> {
    match deliver {
        Deliver::Rename(out) => {
            fs::rename(tmp, out).map_err(|e| io_err("can't write", out, e))?;
            let dir = match out.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
        }
        Deliver::WriteThrough(out) => {
            let mut from = File::open(tmp).map_err(|e| io_err("can't read", tmp, e))?;
            // Opened without creating or replacing anything: through the link, into the
            // device or the pipe.
            let mut to = OpenOptions::new().write(true).truncate(true).open(out).map_err(|e| io_err("can't write", out, e))?;
            std::io::copy(&mut from, &mut to).map_err(|e| io_err("can't write", out, e))?;
            to.flush().map_err(|e| io_err("can't write", out, e))?;
        }
        Deliver::Stdout => {
            let mut from = File::open(tmp).map_err(|e| io_err("can't read", tmp, e))?;
            let stdout = std::io::stdout();
            let mut to = stdout.lock();
            std::io::copy(&mut from, &mut to)
                .and_then(|_| to.flush())
                .map_err(|e| ClientError::Usage(format!("can't write to standard output: {}", crate::lowercase_io(&e))))?;
        }
    }
    Ok(())
}

/// Folders along `dirs` from the root, made where missing (unless `must_be_new` asks for
/// the last one to be new). Returns the changes and the last folder's id.
fn make_folders(tree: &Tree, dirs: &[&str], must_be_new: bool) -> Result<(Changes, Option<String>), ClientError> {
    let mut changes = Changes::default();
    let mut parent: Option<String> = None;
    let mut made = false;
    for (i, name) in dirs.iter().enumerate() {
        check_new_name(name)?;
        let existing = if made { None } else { tree.children(parent.as_deref()).into_iter().find(|c| c.name == *name) };
        match existing {
            Some(e) if e.kind == EntryKind::File => return Err(usage(format!("{} is a file, not a folder", dirs[..=i].join("/")))),
            Some(_) if must_be_new && i + 1 == dirs.len() => return Err(usage(format!("{} already exists", dirs.join("/")))),
            Some(e) => parent = Some(e.entry_id.clone()),
            None => {
                let m = Manifest {
                    entry_id: files::new_entry_id(),
                    kind: EntryKind::Folder,
                    parent: parent.clone(),
                    name: (*name).to_owned(),
                    created_at: hush_core::now_ms(),
                    versions: vec![],
                    shared_from: None,
                };
                parent = Some(m.entry_id.clone());
                changes.put.push(m);
                made = true;
            }
        }
    }
    Ok((changes, parent))
}

// ---------------------------------------------------------------------- pipelines

/// Sends what is written, in blocks, to another thread.
struct ChannelWriter {
    tx: Option<SyncSender<Vec<u8>>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BLOCK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let block = std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK + 64 * 1024));
        match &self.tx {
            Some(tx) => tx.send(block).map_err(|_| std::io::Error::other("the writing thread stopped")),
            None => Ok(()),
        }
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.flush();
        self.tx = None;
    }
}

/// Reads blocks another thread sends.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    block: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.block.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.block = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.block.len() - self.pos);
        out[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Encrypts `local` into `staging` on this thread while another hashes and writes the
/// ciphertext (both cores busy). Returns the blob's length and SHA-256.
async fn encrypt_to_staging(key: &FileKey, local: &Path, staging: &Path) -> Result<(u64, String), ClientError> {
    let key = key.clone();
    let (local, staging) = (local.to_path_buf(), staging.to_path_buf());
    tokio::task::spawn_blocking(move || -> Result<(u64, String), ClientError> {
        let input = File::open(&local).map_err(|e| io_err("can't read", &local, e))?;
        let mut out = File::create(&staging).map_err(|e| io_err("can't write", &staging, e))?;
        let (tx, rx) = sync_channel::<Vec<u8>>(4);
        let writer = std::thread::spawn(move || -> std::io::Result<(u64, String)> {
            let mut h = Sha256::new();
            let mut n = 0u64;
            for block in rx {
                h.update(&block);
                out.write_all(&block)?;
                n += block.len() as u64;
            }
            out.sync_all()?;
            Ok((n, hex::encode(h.finalize())))
        });
        let sink = ChannelWriter { tx: Some(tx), buf: Vec::with_capacity(BLOCK + 64 * 1024) };
        let encrypted = files::encrypt(&key, std::io::BufReader::with_capacity(BLOCK, input), sink);
        let written = writer.join().map_err(|_| ClientError::Internal("the writing thread panicked".into()))?;
        encrypted.map_err(file_err)?;
        written.map_err(|e| io_err("can't write", &staging, e))
    })
    .await
    .map_err(|e| ClientError::Internal(e.to_string()))?
}

/// A file's length and SHA-256 (hex).
async fn hash_file(path: &Path) -> Result<(u64, String), ClientError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<(u64, String), ClientError> {
        let mut f = File::open(&path).map_err(|e| io_err("can't read", &path, e))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; BLOCK];
        let mut n = 0u64;
        loop {
            let got = f.read(&mut buf).map_err(|e| io_err("can't read", &path, e))?;
            if got == 0 {
                break;
            }
            h.update(&buf[..got]);
            n += got as u64;
        }
        Ok((n, hex::encode(h.finalize())))
    })
    .await
    .map_err(|e| ClientError::Internal(e.to_string()))?
}

/// Reads and hashes the blob on one thread while this one decrypts it (or re-encrypts it
/// for an age recipient) into `tmp`. Fails unless the length and hash match the manifest
/// and every age check passed.
async fn decrypt_checked(part: &Path, tmp: &Path, v: &FileVersion, recipient: Option<String>) -> Result<u64, ClientError> {
    let (part, tmp, v) = (part.to_path_buf(), tmp.to_path_buf(), v.clone());
    tokio::task::spawn_blocking(move || -> Result<u64, ClientError> {
        let mut input = File::open(&part).map_err(|e| io_err("can't read", &part, e))?;
        let (tx, rx) = sync_channel::<Vec<u8>>(4);
        let reader = std::thread::spawn(move || -> std::io::Result<(u64, String)> {
            let mut h = Sha256::new();
            let mut n = 0u64;
            loop {
                let mut block = vec![0u8; BLOCK];
                let got = input.read(&mut block)?;
                if got == 0 {
                    break;
                }
                block.truncate(got);
                h.update(&block);
                n += got as u64;
                if tx.send(block).is_err() {
                    break;
                }
            }
            Ok((n, hex::encode(h.finalize())))
        });
        let out = File::create(&tmp).map_err(|e| io_err("can't write", &tmp, e))?;
        let mut out = std::io::BufWriter::with_capacity(BLOCK, out);
        let source = ChannelReader { rx, block: Vec::new(), pos: 0 };
        let decrypted = match &recipient {
            None => files::decrypt(&v.key, source, &mut out),
            Some(r) => files::reencrypt_for_recipient(&v.key, r, source, &mut out),
        };
        let (n, hash) = reader
            .join()
            .map_err(|_| ClientError::Internal("the reading thread panicked".into()))?
            .map_err(|e| io_err("can't read", &part, e))?;
        // The manifest's length and hash first: they name what the server changed.
        if n != v.blob_size {
            return Err(file_err(files::FileError::BlobMismatch(format!("it has {n} bytes, the manifest says {}", v.blob_size))));
        }
        if hash != v.blob_sha256 {
            return Err(file_err(files::FileError::BlobMismatch("its SHA-256 differs from the manifest's".into())));
        }
        let size = decrypted.map_err(file_err)?;
        if recipient.is_none() && size != v.size {
            return Err(file_err(files::FileError::BlobMismatch(format!("it decrypts to {size} bytes, the manifest says {}", v.size))));
        }
        let f = out.into_inner().map_err(|e| io_err("can't write", &tmp, e.into_error()))?;
        f.sync_all().map_err(|e| io_err("can't write", &tmp, e))?;
        Ok(size)
    })
    .await
    .map_err(|e| ClientError::Internal(e.to_string()))?
}

// ---------------------------------------------------------------------- progress and pace

/// A progress bar on standard error and an optional rate limit.
struct Meter {
    label: String,
    total: u64,
    start_at: u64,
    started: Instant,
    last_draw: Option<Instant>,
    opts: TransferOptions,
}

impl Meter {
    fn new(label: String, total: u64, start_at: u64, opts: TransferOptions) -> Self {
        if opts.progress && start_at > 0 {
            eprintln!("{label}: continuing from {} of {}", human(start_at), human(total));
        }
        Meter { label, total, start_at, started: Instant::now(), last_draw: None, opts }
    }

    async fn advance(&mut self, at: u64) {
        let moved = at.saturating_sub(self.start_at);
        if let Some(rate) = self.opts.limit_rate.filter(|r| *r > 0) {
            let due = std::time::Duration::from_secs_f64(moved as f64 / rate as f64);
            let elapsed = self.started.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        }
        if self.opts.progress && self.last_draw.is_none_or(|t| t.elapsed().as_millis() >= 200) {
            self.last_draw = Some(Instant::now());
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            let pct = (at * 100).checked_div(self.total).unwrap_or(100);
            let filled = usize::try_from(pct / 5).unwrap_or(20).min(20);
            eprint!(
                "\r{} [{}{}] {:>3}% {} of {}  {}/s   ",
                self.label,
                "#".repeat(filled),
                " ".repeat(20 - filled),
                pct,
                human(at),
                human(self.total),
                human((moved as f64 / secs) as u64)
            );
            let _ = std::io::stderr().flush();
        }
    }

    fn done(&self) {
        if self.opts.progress && self.last_draw.is_some() {
            eprintln!();
        }
    }
}

/// Bytes in binary units, one decimal.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

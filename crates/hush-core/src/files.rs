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

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::identity::{CertificateBody, DeviceCertificate, SecretKey};

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

// ---------------------------------------------------------------------------------------
// Keys

/// A 32-byte space key; zeroized on drop, never printed.
#[derive(Clone)]
pub struct SpaceKey(pub Zeroizing<[u8; 32]>);

impl SpaceKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        SpaceKey(Zeroizing::new(rand::random()))
    }

    /// From bytes (32 of them).
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let a: [u8; 32] = bytes.try_into().ok()?;
        Some(SpaceKey(Zeroizing::new(a)))
    }
}

impl PartialEq for SpaceKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for SpaceKey {}

impl std::fmt::Debug for SpaceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpaceKey(***)")
    }
}

impl Serialize for SpaceKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(URL_SAFE_NO_PAD.encode(self.0.as_slice())))
    }
}

impl<'de> Deserialize<'de> for SpaceKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(text.as_bytes()).map_err(|_| serde::de::Error::custom("bad key"))?);
        SpaceKey::from_slice(&bytes).ok_or_else(|| serde::de::Error::custom("bad key length"))
    }
}

/// A file version's key: an age X25519 identity made for that version alone.
#[derive(Clone)]
pub struct FileKey(age::x25519::Identity);

impl FileKey {
    /// A fresh key.
    pub fn generate() -> Self {
        FileKey(age::x25519::Identity::generate())
    }
}

impl FileKey {
    /// The key's public half as an age recipient string (`age1…`).
    pub fn recipient(&self) -> String {
        self.0.to_public().to_string()
    }
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(***)")
    }
}

impl Serialize for FileKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use age::secrecy::ExposeSecret as _;
        s.serialize_str(self.0.to_string().expose_secret())
    }
}

impl<'de> Deserialize<'de> for FileKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        text.parse::<age::x25519::Identity>()
            .map(FileKey)
            .map_err(|_| serde::de::Error::custom("bad file key"))
    }
}

// ---------------------------------------------------------------------------------------
// Content

/// Encrypts `input` to `key` as an age v1 file written to `output`; returns the plaintext
/// length. Memory stays at a few chunks whatever the size.
pub fn encrypt<R: Read, W: Write>(key: &FileKey, input: R, output: W) -> Result<u64, FileError> {
    encrypt_to(&key.0.to_public(), input, output)
}

/// Encrypts `input` as an age v1 file for an age recipient (`age1…`), for export.
pub fn encrypt_for_recipient<R: Read, W: Write>(recipient: &str, input: R, output: W) -> Result<u64, FileError> {
    let r: age::x25519::Recipient = recipient
        .trim()
        .parse()
        .map_err(|e: &str| FileError::BadRecipient(e.to_owned()))?;
    encrypt_to(&r, input, output)
}

fn encrypt_to<R: Read, W: Write>(recipient: &age::x25519::Recipient, mut input: R, output: W) -> Result<u64, FileError> {
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
        .map_err(|e| FileError::Io(std::io::Error::other(e.to_string())))?;
    let mut writer = encryptor.wrap_output(output)?;
    let n = std::io::copy(&mut input, &mut writer)?;
    writer.finish()?;
    Ok(n)
}

/// Decrypts an age v1 file made by [`encrypt`] into `output`; returns the plaintext length.
/// Anything that fails age's checks is [`FileError::Content`]; `output` may then hold a
/// prefix, so callers write to a temporary file and keep it only on success.
pub fn decrypt<R: Read, W: Write>(key: &FileKey, input: R, mut output: W) -> Result<u64, FileError> {
    let decryptor = age::Decryptor::new(input).map_err(|_| FileError::Content)?;
    let mut reader = decryptor
        .decrypt(std::iter::once(&key.0 as &dyn age::Identity))
        .map_err(|_| FileError::Content)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData || e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(FileError::Content);
            }
            Err(e) => return Err(FileError::Io(e)),
        };
        output.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok(total)
}

/// Decrypts a file made by [`encrypt`] and encrypts it again for an age recipient
/// (`age1…`) in one pass: the export to a standard age file. Returns the plaintext length.
pub fn reencrypt_for_recipient<R: Read, W: Write>(key: &FileKey, recipient: &str, input: R, output: W) -> Result<u64, FileError> {
    let r: age::x25519::Recipient = recipient
        .trim()
        .parse()
        .map_err(|e: &str| FileError::BadRecipient(e.to_owned()))?;
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
        .map_err(|e| FileError::Io(std::io::Error::other(e.to_string())))?;
    let mut writer = encryptor.wrap_output(output)?;
    let n = decrypt(key, input, &mut writer)?;
    writer.finish()?;
    Ok(n)
}

// ---------------------------------------------------------------------------------------
// Manifests

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

/// A manifest sealed with a space key and signed by the writing device.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RowEnvelope {
    key_id: u64,
    nonce: String,
    ciphertext: String,
    certificate: String,
    signature: String,
}

/// A sealed row: what the server stores for an entry.
pub struct SealedRow;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str, what: &str) -> Result<Vec<u8>, FileError> {
    URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .map_err(|_| FileError::Tampered(format!("{what} is not well formed")))
}

fn row_aad(space: &str, entry_id: &str, key_id: u64) -> Vec<u8> {
    let mut aad = ROW_AAD_CONTEXT.to_vec();
    for part in [space.as_bytes(), entry_id.as_bytes()] {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad
}

fn row_signed_bytes(space: &str, entry_id: &str, key_id: u64, nonce: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let mut m = ROW_SIG_CONTEXT.to_vec();
    m.extend_from_slice(&row_aad(space, entry_id, key_id));
    m.extend_from_slice(nonce);
    m.extend_from_slice(&Sha256::digest(ciphertext));
    m
}

/// An opened row: the manifest and the certificate of the device that wrote it.
#[derive(Debug)]
pub struct OpenedRow {
    /// The manifest.
    pub manifest: Manifest,
    /// Who wrote the row (certificate verified; the caller decides whether it trusts it).
    pub writer: CertificateBody,
    /// The key id it was sealed under.
    pub key_id: u64,
}

impl SealedRow {
    /// Seals a manifest for `space` under `(key_id, key)`, signed by the device.
    pub fn seal(
        space: &str,
        manifest: &Manifest,
        key_id: u64,
        key: &SpaceKey,
        device_key: &SecretKey,
        certificate: &DeviceCertificate,
    ) -> Result<Vec<u8>, FileError> {
        let plain = Zeroizing::new(serde_json::to_vec(manifest).map_err(|e| FileError::Tampered(e.to_string()))?);
        let nonce: [u8; 24] = rand::random();
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key.0.as_slice()));
        let aad = row_aad(space, &manifest.entry_id, key_id);
        let ciphertext = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain.as_slice(), aad: &aad })
            .map_err(|_| FileError::Tampered("sealing failed".into()))?;
        let signature = device_key.sign(&row_signed_bytes(space, &manifest.entry_id, key_id, &nonce, &ciphertext));
        let env = RowEnvelope {
            key_id,
            nonce: b64(&nonce),
            ciphertext: b64(&ciphertext),
            certificate: b64(&certificate.encode()),
            signature: b64(&signature),
        };
        serde_json::to_vec(&env).map_err(|e| FileError::Tampered(e.to_string()))
    }

    /// Opens a row stored for `entry_id` in `space`: checks the writer's certificate and
    /// signature, then decrypts with the key `keys` gives for its key id.
    pub fn open(
        space: &str,
        entry_id: &str,
        bytes: &[u8],
        keys: &dyn Fn(u64) -> Option<SpaceKey>,
    ) -> Result<OpenedRow, FileError> {
        let bad = || FileError::Tampered(format!("the entry {} is damaged or was changed on the server", short(entry_id)));
        let env: RowEnvelope = serde_json::from_slice(bytes).map_err(|_| bad())?;
        let nonce = unb64(&env.nonce, "a row nonce")?;
        let ciphertext = unb64(&env.ciphertext, "a row")?;
        let cert = DeviceCertificate::decode_and_verify(&unb64(&env.certificate, "a row certificate")?).map_err(|_| bad())?;
        let signature = unb64(&env.signature, "a row signature")?;
        if nonce.len() != 24 {
            return Err(bad());
        }
        cert.body()
            .device_key
            .verify(&row_signed_bytes(space, entry_id, env.key_id, &nonce, &ciphertext), &signature)
            .map_err(|_| bad())?;
        let key = keys(env.key_id).ok_or_else(|| {
            FileError::MissingKey(format!(
                "the entry {} is sealed with a space key this device doesn't hold (key {}); a member who has it can hand it over",
                short(entry_id),
                env.key_id
            ))
        })?;
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key.0.as_slice()));
        let plain = Zeroizing::new(
            cipher
                .decrypt(XNonce::from_slice(&nonce), Payload { msg: &ciphertext, aad: &row_aad(space, entry_id, env.key_id) })
                .map_err(|_| bad())?,
        );
        let manifest: Manifest = serde_json::from_slice(&plain).map_err(|_| bad())?;
        if manifest.entry_id != entry_id {
            return Err(bad());
        }
        Ok(OpenedRow { manifest, writer: cert.body().clone(), key_id: env.key_id })
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

// ---------------------------------------------------------------------------------------
// Space state

/// What a space state commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateBody {
    /// The space's name (`drive:USER` or `conv:GROUP_ID_HEX`).
    pub space: String,
    /// 1, 2, 3…: each change adds one.
    pub version: u64,
    /// SHA-256 (hex) of the previous signed state, empty for version 1.
    pub previous: String,
    /// Every entry id with the SHA-256 (hex) of its row.
    pub entries: BTreeMap<String, String>,
    /// The writer's clock, unix ms.
    pub written_at: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateEnvelope {
    body: String,
    certificate: String,
    signature: String,
}

/// A signed space state.
pub struct SignedState;

/// SHA-256 hex of bytes (row and state hashes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl SignedState {
    /// Signs a state body.
    pub fn sign(body: &StateBody, device_key: &SecretKey, certificate: &DeviceCertificate) -> Result<Vec<u8>, FileError> {
        let body_bytes = serde_json::to_vec(body).map_err(|e| FileError::Tampered(e.to_string()))?;
        let signature = device_key.sign(&[STATE_SIG_CONTEXT, &body_bytes].concat());
        let env = StateEnvelope { body: b64(&body_bytes), certificate: b64(&certificate.encode()), signature: b64(&signature) };
        serde_json::to_vec(&env).map_err(|e| FileError::Tampered(e.to_string()))
    }

    /// Checks a signed state's signature and returns its body and its writer.
    pub fn open(bytes: &[u8]) -> Result<(StateBody, CertificateBody), FileError> {
        let bad = || FileError::Tampered("the space's signed state is damaged or was changed on the server".into());
        let env: StateEnvelope = serde_json::from_slice(bytes).map_err(|_| bad())?;
        let body_bytes = unb64(&env.body, "the state")?;
        let cert = DeviceCertificate::decode_and_verify(&unb64(&env.certificate, "the state's certificate")?).map_err(|_| bad())?;
        let signature = unb64(&env.signature, "the state's signature")?;
        cert.body()
            .device_key
            .verify(&[STATE_SIG_CONTEXT, &body_bytes].concat(), &signature)
            .map_err(|_| bad())?;
        let body: StateBody = serde_json::from_slice(&body_bytes).map_err(|_| bad())?;
        Ok((body, cert.body().clone()))
    }
}

/// What a client last saw of a space: the version and the state's hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The version.
    pub version: u64,
    /// SHA-256 (hex) of the signed state.
    pub hash: String,
}

/// A space's listing after every check.
#[derive(Debug)]
pub struct Tree {
    /// The space.
    pub space: String,
    /// The state's version (0: empty space).
    pub version: u64,
    /// SHA-256 of the signed state (empty at version 0).
    pub hash: String,
    /// Every entry by id.
    pub entries: BTreeMap<String, Manifest>,
    /// The SHA-256 (hex) of each entry's row, as the signed state lists them.
    pub row_hashes: BTreeMap<String, String>,
    /// For each entry, the user whose device signed its row (who last changed it). A
    /// version's `author` is what the row claims; when the current version's author is
    /// not this user, listings say so (see [`Tree::author_shown`]).
    pub signers: BTreeMap<String, String>,
}

/// Checks that the served state continues the chain from `seen`: every state after
/// `seen.version` up to the served one is signed by a device `signer_ok` accepts, names
/// this space, has the next version number and names the previous state's hash.
///
/// `history` holds the signed states after `seen.version`, oldest first, as the server
/// answered them (it may also hold the served state and later ones; they are ignored).
/// Anything that breaks the chain, or a history that stops short, is [`FileError::Forked`].
pub fn check_chain(
    space: &str,
    seen: &Seen,
    served: &StateBody,
    served_hash: &str,
    history: &[Vec<u8>],
    signer_ok: &mut dyn FnMut(&CertificateBody) -> Result<(), String>,
) -> Result<(), FileError> {
    let forked = || FileError::Forked { seen: seen.version };
    if served.version <= seen.version {
        return if served.version == seen.version && served_hash == seen.hash { Ok(()) } else { Err(forked()) };
    }
    let mut previous = seen.hash.clone();
    let mut next = seen.version + 1;
    for bytes in history {
        if next == served.version {
            break;
        }
        let (body, writer) = SignedState::open(bytes).map_err(|_| forked())?;
        if body.space != space || body.version != next || body.previous != previous {
            return Err(forked());
        }
        signer_ok(&writer).map_err(|e| {
            FileError::Tampered(format!("version {} of this space is signed by {}: {e}", body.version, writer.username))
        })?;
        previous = sha256_hex(bytes);
        next += 1;
    }
    if next != served.version || served.previous != previous {
        return Err(forked());
    }
    Ok(())
}

/// Checks a space's signed state and rows as the server served them, and returns the tree.
///
/// Refused: a state not signed by a device `trust` accepts, for another space, older than
/// `seen` or not continuing it (the states in between, `history`, are checked with
/// [`check_chain`]; their signers with `trust`); a row missing (hidden), extra (planted) or
/// not matching its hash (swapped or edited); a row whose writer `trust` refuses or that
/// doesn't open with the space's keys; a tree whose folders don't hold together.
#[allow(clippy::too_many_arguments)]
pub fn open_space(
    space: &str,
    version: u64,
    state: Option<&[u8]>,
    rows: &[(String, Vec<u8>)],
    seen: Option<&Seen>,
    history: &[Vec<u8>],
    keys: &dyn Fn(u64) -> Option<SpaceKey>,
    trust: &mut dyn FnMut(&CertificateBody) -> Result<(), String>,
) -> Result<Tree, FileError> {
    let Some(state) = state else {
        if let Some(s) = seen
            && s.version > 0
        {
            return Err(FileError::Tampered(format!(
                "the server says this space is empty, but this device already saw version {} of it (rolled back?)",
                s.version
            )));
        }
        if !rows.is_empty() {
            return Err(FileError::Tampered("the server lists entries in a space that has no signed state (planted?)".into()));
        }
        return Ok(Tree {
            space: space.to_owned(),
            version: 0,
            hash: String::new(),
            entries: BTreeMap::new(),
            row_hashes: BTreeMap::new(),
            signers: BTreeMap::new(),
        });
    };
    let (body, writer) = SignedState::open(state)?;
    trust(&writer).map_err(|e| FileError::Tampered(format!("the space's state is signed by {}: {e}", writer.username)))?;
    if body.space != space {
        return Err(FileError::Tampered("the server served the state of another space".into()));
    }
    if body.version != version {
        return Err(FileError::Tampered("the server's version number doesn't match the signed state".into()));
    }
    let hash = sha256_hex(state);
    if let Some(s) = seen {
        if body.version < s.version {
            return Err(FileError::Tampered(format!(
                "the server served version {} of this space, older than version {} this device already saw (rolled back?)",
                body.version, s.version
            )));
        }
        if s.version > 0 {
            check_chain(space, s, &body, &hash, history, trust)?;
        }
    }
    let served: BTreeSet<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    if served.len() != rows.len() {
        return Err(FileError::Tampered("the server listed an entry twice".into()));
    }
    for id in body.entries.keys() {
        if !served.contains(id.as_str()) {
            return Err(FileError::Tampered(format!("the server hid the entry {} from this listing", short(id))));
        }
    }
    let mut entries = BTreeMap::new();
    let mut signers = BTreeMap::new();
    for (id, row) in rows {
        let Some(expected) = body.entries.get(id) else {
            return Err(FileError::Tampered(format!(
                "the server listed an entry {} that the signed state doesn't have (planted?)",
                short(id)
            )));
        };
        if &sha256_hex(row) != expected {
            return Err(FileError::Tampered(format!(
                "the entry {} isn't the one the signed state names (swapped or edited on the server)",
                short(id)
            )));
        }
        let opened = SealedRow::open(space, id, row, keys)?;
        trust(&opened.writer)
            .map_err(|e| FileError::Tampered(format!("the entry {} is signed by {}: {e}", short(id), opened.writer.username)))?;
        signers.insert(id.clone(), opened.writer.username.clone());
        entries.insert(id.clone(), opened.manifest);
    }
    check_tree(&entries)?;
    Ok(Tree { space: space.to_owned(), version: body.version, hash, entries, row_hashes: body.entries, signers })
}

/// Folders hold together: parents exist and are folders, no cycles, names unique in a
/// folder, files have versions and folders none.
fn check_tree(entries: &BTreeMap<String, Manifest>) -> Result<(), FileError> {
    let bad = |m: String| Err(FileError::Tampered(m));
    let mut names = BTreeSet::new();
    for (id, m) in entries {
        if check_name(&m.name).is_err() {
            return bad(format!("the entry {} has an invalid name", short(id)));
        }
        let hex_of = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        for v in &m.versions {
            if !hex_of(&v.blob_id, 32) || !hex_of(&v.blob_sha256, 64) {
                return bad(format!("the entry {} names its content in a way hush refuses", short(id)));
            }
            if crate::username::validate(&v.author).is_err()
                || v.mime.len() > 127
                || !v.mime.bytes().all(|b| b.is_ascii_graphic())
            {
                return bad(format!("the entry {} has an invalid author or type", short(id)));
            }
        }
        match m.kind {
            EntryKind::File if m.versions.is_empty() => return bad(format!("the file {} has no content", m.name)),
            EntryKind::Folder if !m.versions.is_empty() => return bad(format!("the folder {} has content", m.name)),
            _ => {}
        }
        if !names.insert((m.parent.clone(), m.name.clone())) {
            return bad(format!("two entries are named {} in one folder", m.name));
        }
        // Walk up to the root; more steps than entries means a cycle.
        let mut at = m.parent.clone();
        let mut steps = 0;
        while let Some(p) = at {
            let Some(parent) = entries.get(&p) else {
                return bad(format!("{} is in a folder that isn't in the space", m.name));
            };
            if parent.kind != EntryKind::Folder {
                return bad(format!("{} is inside a file", m.name));
            }
            steps += 1;
            if steps > entries.len() {
                return bad("the folders form a cycle".into());
            }
            at = parent.parent.clone();
        }
    }
    Ok(())
}

impl Tree {
    /// Who put an entry's current version, as a listing shows it: the author the row names
    /// when that is the user whose device signed the row, otherwise both ("alice, as
    /// claimed by bob"): a row's author is only what its signer says, so another member
    /// who renamed, moved or re-sealed the entry, or one who lies about who wrote it, is
    /// never hidden behind the claimed name.
    pub fn author_shown(&self, id: &str) -> String {
        let Some(m) = self.entries.get(id) else { return String::new() };
        let signer = self.signers.get(id).map(String::as_str).unwrap_or_default();
        match m.current() {
            Some(v) if v.author == signer => v.author.clone(),
            Some(v) => format!("{}, as claimed by {signer}", v.author),
            None => signer.to_owned(),
        }
    }

    /// The entry at a slash-separated path (`""` or `"/"`: the root, `None`).
    pub fn lookup(&self, path: &str) -> Result<Option<&Manifest>, String> {
        let mut at: Option<&Manifest> = None;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let parent = at.map(|m| m.entry_id.clone());
            at = Some(
                self.entries
                    .values()
                    .find(|m| m.parent == parent && m.name == part)
                    .ok_or_else(|| format!("no such file or folder: {path}"))?,
            );
        }
        Ok(at)
    }

    /// The entries directly in a folder (`None`: the root), by name.
    pub fn children(&self, folder: Option<&str>) -> Vec<&Manifest> {
        let mut v: Vec<&Manifest> = self.entries.values().filter(|m| m.parent.as_deref() == folder).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// An entry and everything under it, the entry first.
    pub fn subtree(&self, id: &str) -> Vec<&Manifest> {
        let mut out = Vec::new();
        let mut queue = vec![id.to_owned()];
        while let Some(i) = queue.pop() {
            if let Some(m) = self.entries.get(&i) {
                out.push(m);
                queue.extend(self.entries.values().filter(|c| c.parent.as_deref() == Some(i.as_str())).map(|c| c.entry_id.clone()));
            }
        }
        out
    }

    /// The path of an entry.
    pub fn path_of(&self, id: &str) -> String {
        let mut parts = Vec::new();
        let mut at = Some(id.to_owned());
        while let Some(i) = at {
            match self.entries.get(&i) {
                Some(m) => {
                    parts.push(m.name.clone());
                    at = m.parent.clone();
                }
                None => break,
            }
            if parts.len() > self.entries.len() {
                break;
            }
        }
        parts.reverse();
        parts.join("/")
    }
}

/// A MIME type from a file name's extension (a short table of common types).
pub fn mime_for(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "txt" | "md" => "text/plain",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "age" => "application/x-age-encryption",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn roundtrip(len: usize) {
        let key = FileKey::generate();
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut blob = Vec::new();
        encrypt(&key, data.as_slice(), &mut blob).unwrap();
        let mut out = Vec::new();
        decrypt(&key, blob.as_slice(), &mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn content_round_trips_at_chunk_edges() {
        for len in [0, 1, 65535, 65536, 65537, 3 * 65536 + 5] {
            roundtrip(len);
        }
    }

    #[test]
    fn content_refuses_truncation_extension_swaps_and_other_keys() {
        let key = FileKey::generate();
        let data = vec![9u8; 3 * 65536 + 100];
        let mut blob = Vec::new();
        encrypt(&key, data.as_slice(), &mut blob).unwrap();
        let header = blob.len() - (data.len() + 4 * 16);
        let chunk = 65536 + 16;
        let fails = |b: &[u8]| decrypt(&key, b, std::io::sink()).is_err();
        // Cut at a chunk boundary.
        assert!(fails(&blob[..header + 2 * chunk]));
        // A chunk appended.
        let mut longer = blob.clone();
        longer.extend_from_slice(&blob[header..header + chunk]);
        assert!(fails(&longer));
        // Two chunks swapped.
        let mut swapped = blob.clone();
        let (a, b) = (blob[header..header + chunk].to_vec(), blob[header + chunk..header + 2 * chunk].to_vec());
        swapped[header..header + chunk].copy_from_slice(&b);
        swapped[header + chunk..header + 2 * chunk].copy_from_slice(&a);
        assert!(fails(&swapped));
        // Another key.
        assert!(decrypt(&FileKey::generate(), blob.as_slice(), std::io::sink()).is_err());
        // One bit anywhere.
        for at in [0, 20, header - 1, header + 3, blob.len() - 1] {
            let mut flipped = blob.clone();
            flipped[at] ^= 1;
            assert!(fails(&flipped), "bit flip at {at} accepted");
        }
    }

    #[test]
    fn rows_and_states_verify_and_refuse_changes() {
        let identity = SecretKey::generate();
        let device = SecretKey::generate();
        let cert = DeviceCertificate::issue(&identity, "alice", &crate::identity::new_device_id(), device.public());
        let key = SpaceKey::generate();
        let m = Manifest {
            entry_id: new_entry_id(),
            kind: EntryKind::Folder,
            parent: None,
            name: "Photos".into(),
            created_at: 1,
            versions: vec![],
            shared_from: None,
        };
        let row = SealedRow::seal("drive:alice", &m, 1, &key, &device, &cert).unwrap();
        let keys = |id: u64| (id == 1).then(|| key.clone());
        assert_eq!(SealedRow::open("drive:alice", &m.entry_id, &row, &keys).unwrap().manifest.name, "Photos");
        assert!(SealedRow::open("drive:bob", &m.entry_id, &row, &keys).is_err());
        assert!(SealedRow::open("drive:alice", &new_entry_id(), &row, &keys).is_err());
        assert!(matches!(SealedRow::open("drive:alice", &m.entry_id, &row, &|_| None), Err(FileError::MissingKey(_))));

        let body = StateBody {
            space: "drive:alice".into(),
            version: 1,
            previous: String::new(),
            entries: [(m.entry_id.clone(), sha256_hex(&row))].into(),
            written_at: 1,
        };
        let state = SignedState::sign(&body, &device, &cert).unwrap();
        let rows = vec![(m.entry_id.clone(), row.clone())];
        let mut ok = |_: &CertificateBody| Ok(());
        let tree = open_space("drive:alice", 1, Some(&state), &rows, None, &[], &keys, &mut ok).unwrap();
        assert_eq!(tree.lookup("Photos").unwrap().unwrap().entry_id, m.entry_id);
        // Hidden, planted, rolled back, untrusted.
        assert!(open_space("drive:alice", 1, Some(&state), &[], None, &[], &keys, &mut ok).is_err());
        let mut planted = rows.clone();
        planted.push((new_entry_id(), row.clone()));
        assert!(open_space("drive:alice", 1, Some(&state), &planted, None, &[], &keys, &mut ok).is_err());
        let seen = Seen { version: 2, hash: "x".into() };
        assert!(open_space("drive:alice", 1, Some(&state), &rows, Some(&seen), &[], &keys, &mut ok).is_err());
        let mut no = |_: &CertificateBody| Err("not trusted".to_owned());
        assert!(open_space("drive:alice", 1, Some(&state), &rows, None, &[], &keys, &mut no).is_err());
    }

    #[test]
    fn a_fork_two_versions_ahead_is_refused() {
        let identity = SecretKey::generate();
        let device = SecretKey::generate();
        let cert = DeviceCertificate::issue(&identity, "alice", &crate::identity::new_device_id(), device.public());
        let chain = |from: &[u8], tag: i64, n: u64| -> Vec<Vec<u8>> {
            let mut out: Vec<Vec<u8>> = vec![];
            let mut previous = if from.is_empty() { String::new() } else { sha256_hex(from) };
            let start = if from.is_empty() { 1 } else { SignedState::open(from).unwrap().0.version + 1 };
            for v in start..start + n {
                let body = StateBody { space: "drive:alice".into(), version: v, previous, entries: BTreeMap::new(), written_at: tag };
                let st = SignedState::sign(&body, &device, &cert).unwrap();
                previous = sha256_hex(&st);
                out.push(st);
            }
            out
        };
        let base = chain(&[], 0, 1).remove(0);
        let seen = Seen { version: 1, hash: sha256_hex(&base) };
        let honest = chain(&base, 1, 3);
        let other = chain(&chain(&[], 9, 1)[0], 2, 3); // a different version 1, then 2..4
        let keys = |_: u64| None;
        let mut ok = |_: &CertificateBody| Ok(());
        let last = honest.last().unwrap();
        open_space("drive:alice", 4, Some(last), &[], Some(&seen), &honest, &keys, &mut ok).expect("the chain continues");
        let fork = other.last().unwrap();
        let err = open_space("drive:alice", 4, Some(fork), &[], Some(&seen), &other, &keys, &mut ok).unwrap_err();
        assert!(matches!(err, FileError::Forked { seen: 1 }), "{err}");
        // The honest history with a forked head, or a history that stops short.
        assert!(matches!(open_space("drive:alice", 4, Some(fork), &[], Some(&seen), &honest, &keys, &mut ok), Err(FileError::Forked { .. })));
        assert!(matches!(open_space("drive:alice", 4, Some(last), &[], Some(&seen), &honest[..1], &keys, &mut ok), Err(FileError::Forked { .. })));
    }
}

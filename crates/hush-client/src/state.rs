//! The device's local state, sealed at rest in the hush home.
//!
//! One file, `HOME/state.hush`, holds everything: keys, contacts and their pinned identity
//! keys, conversations, unread messages and the MLS state. It is sealed with a key derived
//! from the passphrase (`hush_core::sealed`) and replaced atomically (write a temporary
//! file, fsync, rename, fsync the directory), so a crash leaves either the old or the new
//! state, never half of one. `HOME/lock` serializes hush processes using the same home.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use hush_core::files::SpaceKey;
use hush_core::identity::PublicKey;
use hush_core::sealed::{SealError, SealKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::ClientError;

const STATE_FILE: &str = "state.hush";
const LOCK_FILE: &str = "lock";
/// How many delivered message fingerprints are remembered for de-duplication.
const SEEN_LIMIT: usize = 20_000;

/// Secret bytes inside the sealed state; never printed.
/// Serialized as base64 only inside the sealed state.
#[derive(Clone, Default)]
pub struct SecretBytes(pub Zeroizing<Vec<u8>>);

impl Serialize for SecretBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_slice()));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        let text = Zeroizing::new(String::deserialize(d)?);
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(|v| SecretBytes(Zeroizing::new(v)))
            .map_err(|_| serde::de::Error::custom("invalid secret encoding"))
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(***)")
    }
}

/// What we know of another user (or ourselves).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Contact {
    /// The identity key pinned on first use.
    pub identity_key: PublicKey,
    /// When it was pinned, unix ms.
    pub pinned_at: i64,
    /// A different identity key the directory now shows; blocks sending until the user
    /// accepts it (`hush trust`, or `hush verify --confirm` for a verified contact).
    pub changed_key: Option<PublicKey>,
    /// Whether the user compared safety numbers and confirmed this key.
    #[serde(default)]
    pub verified: bool,
}

/// One conversation as this device knows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationMeta {
    /// Group id, hex.
    pub id: String,
    /// The name (empty for one-to-one until metadata arrives).
    pub name: String,
    /// Whether it is a one-to-one conversation.
    pub direct: bool,
    /// When this device joined, unix ms.
    pub joined_at: i64,
    /// False once this device left or was removed.
    pub active: bool,
    /// Whether members hand earlier messages to devices and members who join.
    #[serde(default)]
    pub history: bool,
    /// The device that added this one (from its Welcome): the only one whose hand-over of
    /// earlier space keys is taken.
    #[serde(default)]
    pub added_by: Option<String>,
    /// Whether the settings (name, one-to-one, history) came from the adder or the
    /// creator; after that, every change is shown and the one-to-one flag never changes.
    #[serde(default)]
    pub settled: bool,
    /// Who was in it when this device was removed (its group state is then forgotten):
    /// only one of them may add this device back.
    #[serde(default)]
    pub former_members: Vec<String>,
}

/// A message or event waiting to be read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Received {
    /// Conversation id, hex.
    pub conversation_id: String,
    /// Conversation display name.
    pub conversation: String,
    /// Sender username ("" for events from hush itself).
    pub sender: String,
    /// Sender device id.
    pub sender_device: String,
    /// "text", "event" or "warning".
    pub kind: String,
    /// The text.
    pub text: String,
    /// Sender's clock, unix ms.
    pub sent_at: i64,
    /// Server receive time, unix ms.
    pub received_at: i64,
    /// Arrived after a later message of the same sender was already shown.
    #[serde(default)]
    pub late: bool,
}

/// Everything a device keeps.
#[derive(Serialize, Deserialize)]
pub struct State {
    /// Format version.
    pub version: u32,
    /// Server URL.
    pub server: String,
    /// Our username.
    pub username: String,
    /// Our device id.
    pub device_id: String,
    /// The user's identity secret key (all linked devices hold it).
    pub identity_secret: SecretBytes,
    /// This device's secret key.
    pub device_secret: SecretBytes,
    /// This device's certificate.
    pub certificate: Vec<u8>,
    /// Pinned identity keys by username.
    pub contacts: BTreeMap<String, Contact>,
    /// Conversations by id (hex).
    pub conversations: BTreeMap<String, ConversationMeta>,
    /// Messages and events not yet read.
    pub unread: Vec<Received>,
    /// Fingerprints of delivered messages (SHA-256 of ciphertext, payload ids), bounded.
    pub seen: VecDeque<String>,
    /// Users whose new devices must be added to our shared conversations.
    pub pending_device_checks: BTreeSet<String>,
    /// The OpenMLS state.
    pub mls: SecretBytes,
    /// What this device verified of the key directory.
    #[serde(default)]
    pub kt: crate::kt::KtState,
    /// Keys to keep the account backup current (from the recovery phrase).
    #[serde(default)]
    pub recovery: Option<crate::recovery::RecoveryState>,
    /// Our guardians and the secret their shares rebuild (to keep that backup current).
    #[serde(default)]
    pub guardians: Option<crate::recovery::GuardianState>,
    /// Shares we hold as a guardian, by owner.
    #[serde(default)]
    pub held_shares: BTreeMap<String, hush_core::guardians::Share>,
    /// Recent messages of conversations with history on, by conversation id (bounded).
    #[serde(default)]
    pub history: BTreeMap<String, VecDeque<hush_core::message::HistoryItem>>,
    /// The personal drive's keys by generation (every device of the account holds them).
    #[serde(default)]
    pub drive_keys: BTreeMap<u64, SpaceKey>,
    /// Conversation space keys by conversation id, then MLS epoch.
    #[serde(default)]
    pub space_keys: BTreeMap<String, BTreeMap<u64, SpaceKey>>,
    /// The newest state of each space this device has verified (refuses rollbacks).
    #[serde(default)]
    pub spaces_seen: BTreeMap<String, hush_core::files::Seen>,
    /// Uploads encrypted and started but not finished, by transfer id (for resuming).
    #[serde(default)]
    pub uploads: BTreeMap<String, crate::drive::PendingUpload>,
    /// Conversations whose membership changed: their devices are checked against the key
    /// directory and the server's routing list after the sync.
    #[serde(default)]
    pub membership_checks: BTreeSet<String>,
    /// Devices that joined a conversation for a user already in it, to be announced once
    /// the key directory has vouched for them.
    #[serde(default)]
    pub new_devices: Vec<NewDevice>,
    /// Differences between the server's routing and the group already reported (so each
    /// is said once).
    #[serde(default)]
    pub routing_reported: BTreeSet<String>,
    /// Message sequences, epoch authenticators and healed conversations.
    #[serde(default)]
    pub transcript: crate::transcript::TranscriptState,
}

/// A device that a commit added for a user who was already a member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewDevice {
    /// Conversation id, hex.
    pub conversation: String,
    /// Whose device.
    pub user: String,
    /// The device id.
    pub device: String,
    /// Who added it.
    pub added_by: String,
    /// From which device.
    pub added_by_device: String,
    /// When the commit arrived, unix ms.
    pub at: i64,
}

impl State {
    /// The state of a device that just joined `username`'s account.
    pub fn new_device(
        server: &str,
        username: &str,
        identity: &hush_core::identity::SecretKey,
        device_key: &hush_core::identity::SecretKey,
        certificate: &hush_core::identity::DeviceCertificate,
        contacts: BTreeMap<String, Contact>,
    ) -> State {
        State {
            version: 1,
            server: server.to_owned(),
            username: username.to_owned(),
            device_id: certificate.body().device_id.clone(),
            identity_secret: SecretBytes(Zeroizing::new(identity.to_bytes().to_vec())),
            device_secret: SecretBytes(Zeroizing::new(device_key.to_bytes().to_vec())),
            certificate: certificate.encode(),
            contacts,
            conversations: Default::default(),
            unread: Vec::new(),
            seen: Default::default(),
            pending_device_checks: Default::default(),
            mls: SecretBytes::default(),
            kt: Default::default(),
            recovery: None,
            guardians: None,
            held_shares: Default::default(),
            history: Default::default(),
            drive_keys: Default::default(),
            space_keys: Default::default(),
            spaces_seen: Default::default(),
            uploads: Default::default(),
            membership_checks: Default::default(),
            new_devices: Default::default(),
            routing_reported: Default::default(),
            transcript: Default::default(),
        }
    }
}

/// How many messages per conversation are kept to hand to new devices and members.
pub const HISTORY_KEPT: usize = 200;

impl State {
    /// Remembers a message for the conversation's history, if history is on there.
    pub fn remember(&mut self, conversation: &str, item: hush_core::message::HistoryItem) {
        if !self.conversations.get(conversation).is_some_and(|m| m.history) {
            return;
        }
        let log = self.history.entry(conversation.to_owned()).or_default();
        log.push_back(item);
        while log.len() > HISTORY_KEPT {
            log.pop_front();
        }
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("username", &self.username)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl State {
    /// Whether a fingerprint was seen; records it if not.
    pub fn first_time(&mut self, fingerprint: &str) -> bool {
        if self.seen.iter().any(|s| s == fingerprint) {
            return false;
        }
        self.seen.push_back(fingerprint.to_owned());
        while self.seen.len() > SEEN_LIMIT {
            self.seen.pop_front();
        }
        true
    }
}

/// The home directory with its lock held.
pub struct Home {
    dir: PathBuf,
    _lock: File,
}

impl Home {
    /// Opens (creating if needed) a home directory and takes its lock, waiting for
    /// another hush process on the same home to finish.
    pub fn lock(dir: &Path) -> Result<Home, ClientError> {
        fs::create_dir_all(dir).map_err(|e| ClientError::Home(format!("can't create {}: {e}", dir.display())))?;
        restrict_dir(dir);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(|e| ClientError::Home(format!("can't open the lock in {}: {e}", dir.display())))?;
        lock.lock()
            .map_err(|e| ClientError::Home(format!("can't lock {}: {e}", dir.display())))?;
        Ok(Home { dir: dir.to_owned(), _lock: lock })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether an account exists here.
    pub fn has_state(&self) -> bool {
        self.dir.join(STATE_FILE).exists()
    }

    /// Reads the sealed state and derives its key from the passphrase.
    pub fn load(&self, passphrase: &[u8]) -> Result<(State, SealKey), ClientError> {
        let path = self.dir.join(STATE_FILE);
        let sealed = fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ClientError::NoAccount(self.dir.display().to_string()),
            _ => ClientError::Home(format!("can't read {}: {e}", path.display())),
        })?;
        let key = SealKey::derive_for(passphrase, &sealed).map_err(seal_err)?;
        let plain = key.open(&sealed).map_err(seal_err)?;
        let state: State = serde_json::from_slice(&plain)
            .map_err(|e| ClientError::Home(format!("the local state is damaged: {e}")))?;
        Ok((state, key))
    }

    /// Seals and writes the state atomically.
    pub fn save(&self, state: &State, key: &SealKey) -> Result<(), ClientError> {
        let plain = Zeroizing::new(
            serde_json::to_vec(state).map_err(|e| ClientError::Internal(e.to_string()))?,
        );
        let sealed = key.seal(&plain);
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        let io = |e: std::io::Error| ClientError::Home(format!("can't write the local state: {e}"));
        {
            let mut f = File::create(&tmp).map_err(io)?;
            f.write_all(&sealed).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        fs::rename(&tmp, self.dir.join(STATE_FILE)).map_err(io)?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn seal_err(e: SealError) -> ClientError {
    match e {
        SealError::WrongPassphraseOrTampered => ClientError::WrongPassphrase,
        other => ClientError::Home(other.to_string()),
    }
}

#[cfg(unix)]
fn restrict_dir(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
}
#[cfg(not(unix))]
fn restrict_dir(_dir: &Path) {}

//! The device's local state, sealed at rest in the hush home.
//!
//! One file, `HOME/state.hush`, holds everything: keys, contacts and their pinned identity
//! keys, conversations, unread messages and the MLS state. It is sealed with a key derived
//! from the passphrase (`hush_core::sealed`) and replaced atomically (write a temporary
//! file, fsync, rename, fsync the directory), so a crash leaves either the old or the new
//! state, never half of one. `HOME/lock` serializes hush processes using the same home.
//!
//! The persisted types are a leaf: each feature's part of the state (key transparency,
//! recovery, uploads, the transcript) is defined here, next to [`State`], and depends on
//! nothing of the client above it.

mod contacts;
mod drive;
mod home;
mod kt;
mod recovery;
mod secret;
mod transcript;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use hush_core::files::SpaceKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use contacts::{Contact, ConversationMeta, Received};
pub use drive::PendingUpload;
pub use home::{Home, hold_homes_long};
pub use kt::{Claim, KtState, RestoreFollowed};
pub use recovery::{GuardianState, RecoveryState};
pub use secret::SecretBytes;
pub use transcript::{PeerLog, Sent, TranscriptState, Verdict};
pub(crate) use transcript::Placed;

/// How many delivered message fingerprints are remembered for de-duplication.
const SEEN_LIMIT: usize = 20_000;

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
    pub kt: KtState,
    /// Keys to keep the account backup current (from the recovery phrase).
    #[serde(default)]
    pub recovery: Option<RecoveryState>,
    /// Our guardians and the secret their shares rebuild (to keep that backup current).
    #[serde(default)]
    pub guardians: Option<GuardianState>,
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
    pub uploads: BTreeMap<String, PendingUpload>,
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
    pub transcript: TranscriptState,
    /// Messages already read, by conversation id, newest last (bounded): what an app shows
    /// as the conversation's history on this device.
    #[serde(default)]
    pub timeline: BTreeMap<String, VecDeque<Received>>,
    /// Alerts the person has not acknowledged yet (and the last few acknowledged ones).
    #[serde(default)]
    pub alerts: Vec<Alert>,
}

/// Something the person must see: the server misbehaved, a key changed, a message is
/// missing. Shown until acknowledged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alert {
    /// Unique on this device.
    pub id: u64,
    /// What it is about: a conversation id (hex), or `@user` before a conversation exists.
    pub subject: String,
    /// The conversation's or user's display name.
    pub about: String,
    /// The sentence.
    pub text: String,
    /// When it was raised, unix ms.
    pub at: i64,
    /// Whether sending to the subject waits until the person acknowledged it.
    pub blocking: bool,
    /// Whether the person acknowledged it.
    pub acknowledged: bool,
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
            timeline: Default::default(),
            alerts: Default::default(),
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

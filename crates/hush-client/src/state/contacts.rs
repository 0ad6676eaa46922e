//! Who and what this device knows: contacts with their pinned keys, conversations, and
//! messages waiting to be read.

use hush_core::identity::PublicKey;
use serde::{Deserialize, Serialize};

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

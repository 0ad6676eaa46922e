//! The plaintext inside an MLS application message.
//!
//! The sender is not in here: it comes from the MLS leaf that signed the message, whose
//! certificate has been checked.

use serde::{Deserialize, Serialize};

/// Most bytes of text one message may carry.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// One application payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Payload {
    /// A text message.
    Text {
        /// Random id chosen by the sender (hex), for de-duplication.
        id: String,
        /// Sender's clock, unix milliseconds.
        sent_at: i64,
        /// The text.
        text: String,
    },
    /// A guardian share for the recipient to keep (sent one-to-one by its owner).
    GuardianShare {
        /// Random id (hex).
        id: String,
        /// The share.
        share: crate::guardians::Share,
    },
    /// Conversation metadata, sent by whoever adds members so that new members learn it.
    Meta {
        /// Random id (hex).
        id: String,
        /// The conversation's name, or empty for a one-to-one conversation.
        name: String,
        /// Whether this is a one-to-one conversation.
        direct: bool,
        /// Whether members hand earlier messages to devices and members who join.
        #[serde(default)]
        history: bool,
    },
    /// The conversation's file-space keys of earlier epochs, handed by whoever adds devices
    /// or members so that they can open files added before they joined.
    SpaceKeys {
        /// Random id (hex).
        id: String,
        /// Space keys with their MLS epochs (a list: JSON maps can't have number keys).
        keys: Vec<(u64, crate::files::SpaceKey)>,
    },
    /// Earlier messages, handed by a member to devices and members who just joined (only
    /// in conversations with history on). Relayed, so shown as "via" that member.
    History {
        /// Random id (hex).
        id: String,
        /// Oldest first.
        messages: Vec<HistoryItem>,
    },
    /// This conversation replaces an earlier one (re-created to heal a split): members
    /// mark the old one as replaced. Taken only from a member of the old conversation.
    Replaces {
        /// Random id (hex).
        id: String,
        /// The old conversation's id (hex).
        replaces: String,
    },
}

impl Payload {
    /// A new text message.
    pub fn text(text: &str) -> Self {
        Payload::Text {
            id: new_id(),
            sent_at: crate::now_ms(),
            text: text.to_owned(),
        }
    }

    /// The payload's id.
    pub fn id(&self) -> &str {
        match self {
            Payload::Text { id, .. }
            | Payload::Meta { id, .. }
            | Payload::GuardianShare { id, .. }
            | Payload::History { id, .. }
            | Payload::Replaces { id, .. }
            | Payload::SpaceKeys { id, .. } => id,
        }
    }

    /// Encodes for encryption.
    pub fn encode(&self) -> Vec<u8> {
        #[allow(clippy::expect_used, reason = "strings, numbers and byte lists always serialize to JSON")]
        serde_json::to_vec(self).expect("a payload serializes")
    }

    /// Decodes a decrypted payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// A payload with its place in its sender's sequence in one conversation (DESIGN.md
/// decision 11): the receiver sees a withheld, reordered or duplicated message, and a
/// second copy of a device sending (two payloads with one number). All of it is inside the
/// MLS-encrypted, signed plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// 1, 2, 3 … per (conversation, sending device).
    pub seq: u64,
    /// SHA-256 (hex) of the encoded envelope this device sent before in this conversation;
    /// empty for the first.
    pub prev: String,
    /// The payload.
    pub payload: Payload,
}

impl Envelope {
    /// Encodes for encryption.
    pub fn encode(&self) -> Vec<u8> {
        #[allow(clippy::expect_used, reason = "strings, numbers and byte lists always serialize to JSON")]
        serde_json::to_vec(self).expect("a payload serializes")
    }

    /// Decodes a decrypted plaintext: an envelope, or a bare payload (sequence number 0,
    /// not part of any sequence).
    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        match serde_json::from_slice::<Envelope>(bytes) {
            Ok(e) => Ok(e),
            Err(e) => match Payload::decode(bytes) {
                Ok(payload) => Ok(Envelope { seq: 0, prev: String::new(), payload }),
                Err(_) => Err(e),
            },
        }
    }
}

/// One earlier message in a [`Payload::History`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryItem {
    /// Who sent it (as the relaying member's device saw it).
    pub sender: String,
    /// The sender's clock, unix ms.
    pub sent_at: i64,
    /// The text.
    pub text: String,
}

/// A fresh random 128-bit id, hex.
pub fn new_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed expectation is the test failing")]
    use super::*;

    #[test]
    fn every_payload_round_trips() {
        let payloads = vec![
            Payload::text("hi"),
            Payload::Meta { id: new_id(), name: "club".into(), direct: false, history: true },
            Payload::History { id: new_id(), messages: vec![HistoryItem { sender: "bob".into(), sent_at: 1, text: "x".into() }] },
            Payload::SpaceKeys { id: new_id(), keys: vec![(0, crate::files::SpaceKey::generate()), (7, crate::files::SpaceKey::generate())] },
            Payload::Replaces { id: new_id(), replaces: "ab".repeat(16) },
        ];
        for p in payloads {
            assert_eq!(Payload::decode(&p.encode()).unwrap(), p);
            let e = Envelope { seq: 3, prev: "00".repeat(32), payload: p.clone() };
            assert_eq!(Envelope::decode(&e.encode()).unwrap(), e);
            assert_eq!(Envelope::decode(&p.encode()).unwrap().seq, 0);
        }
    }
}

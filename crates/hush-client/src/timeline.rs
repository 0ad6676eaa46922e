//! The conversation as this device shows it: messages already read (a bounded timeline,
//! sealed with the rest of the state), the ones still unread, and what this device sent.
//! The CLI's `read` and an app's view of a conversation both move messages from unread to
//! the timeline, so either shows the same history afterwards.

use crate::client::Client;
use crate::error::ClientError;
use crate::state::Received;

/// How many read messages each conversation keeps on this device.
pub const TIMELINE_KEPT: usize = 300;

/// What a person sees about a contact: whether they compared safety numbers, and whether
/// the directory now shows a key other than the one pinned.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct ContactStatus {
    /// Safety number compared and confirmed for the key pinned now.
    pub verified: bool,
    /// The directory shows another identity key: sending waits for `trust` or `verify`.
    pub key_changed: bool,
}

impl Client {
    /// The conversation's messages on this device, oldest first: the timeline, then what
    /// is still unread.
    pub fn conversation_log(&self, conversation_id: &str) -> Vec<Received> {
        let mut out: Vec<Received> = self.state.timeline.get(conversation_id).map(|t| t.iter().cloned().collect()).unwrap_or_default();
        out.extend(self.state.unread.iter().filter(|m| m.conversation_id == conversation_id).cloned());
        out
    }

    /// How many messages (texts, not events or warnings) of a conversation are unread.
    pub fn unread_in(&self, conversation_id: &str) -> usize {
        self.state.unread.iter().filter(|m| m.conversation_id == conversation_id && m.kind == "text").count()
    }

    /// Marks every message of one conversation read, and saves.
    pub fn mark_conversation_read(&mut self, conversation_id: &str) -> Result<(), ClientError> {
        let (read, keep): (Vec<Received>, Vec<Received>) =
            std::mem::take(&mut self.state.unread).into_iter().partition(|m| m.conversation_id == conversation_id);
        self.state.unread = keep;
        if read.is_empty() {
            return Ok(());
        }
        self.keep_in_timeline(read);
        self.save()
    }

    /// Moves messages that reached the reader into their conversations' timelines.
    pub(crate) fn keep_in_timeline(&mut self, read: impl IntoIterator<Item = Received>) {
        for m in read {
            let t = self.state.timeline.entry(m.conversation_id.clone()).or_default();
            t.push_back(m);
            while t.len() > TIMELINE_KEPT {
                t.pop_front();
            }
        }
    }

    /// Records texts this device sent, as read messages of the conversation.
    pub(crate) fn record_sent(&mut self, conversation_id: &str, texts: &[String]) {
        let conversation = self.state.conversations.get(conversation_id).map(|m| self.display_name(m)).unwrap_or_default();
        let now = hush_core::now_ms();
        let sent: Vec<Received> = texts
            .iter()
            .map(|t| Received {
                conversation_id: conversation_id.to_owned(),
                conversation: conversation.clone(),
                sender: self.state.username.clone(),
                sender_device: self.state.device_id.clone(),
                kind: "text".into(),
                text: t.clone(),
                sent_at: now,
                received_at: now,
                late: false,
            })
            .collect();
        self.keep_in_timeline(sent);
    }

    /// A conversation's name as people see it (the other person's name for a one-to-one
    /// conversation).
    pub fn conversation_name(&self, conversation_id: &str) -> Option<String> {
        self.state.conversations.get(conversation_id).map(|m| self.display_name(m))
    }

    /// Whether a contact is verified, and whether their key changed.
    pub fn contact_status(&self, user: &str) -> ContactStatus {
        self.state
            .contacts
            .get(user)
            .map(|c| ContactStatus { verified: c.verified && c.changed_key.is_none(), key_changed: c.changed_key.is_some() })
            .unwrap_or_default()
    }

    /// Checks a passphrase against the sealed state (before changing it, say).
    pub fn check_passphrase(&self, passphrase: &[u8]) -> Result<(), ClientError> {
        self.home.load(passphrase).map(|_| ())
    }
}

impl Client {
    /// The conversation a target names (`#id`, `@user`, a name), if there is one.
    pub fn conversation_id(&self, target: &str) -> Result<Option<String>, ClientError> {
        self.resolve(target)
    }
}

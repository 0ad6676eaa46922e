//! The authenticated transcript (DESIGN.md decision 11): what the server can do to the
//! order and the number of messages, and to the group itself, made visible.
//!
//! - **Sequence.** Every application payload a device sends in a conversation travels in
//!   an [`Envelope`] with a counter (1, 2, 3 … per conversation and sending device) and the
//!   SHA-256 of the device's previous envelope there, inside the MLS-encrypted plaintext.
//!   A receiver keeps, per conversation and sending device, the numbers and hashes it has
//!   seen: a number skipped is a message withheld (reported after the sync, "1 message from
//!   alice is missing"), one arriving after a later one is shown as late, texts of one sync
//!   are shown in the order they were sent, and two different payloads with one number (or
//!   a previous-hash that is not the hash this device holds) are two copies of one device.
//!   What can't be seen: the last messages before a sender falls silent (nothing after them
//!   says they existed) until that sender's next message arrives.
//! - **Forks.** Every message's authenticated data also carries the MLS epoch and its epoch
//!   authenticator as the sender holds them; it can be read even when the message can't be
//!   decrypted, so a message from another branch of a forked group (same epoch, another
//!   authenticator) is recognised as such, and so is a commit for an epoch already passed.
//!   `hush conversation heal` re-creates the conversation with the same people
//!   ([`Payload::Replaces`]).
//! - **Stuck devices.** A device whose changes were delivered elsewhere (a copied home) or
//!   withheld (its own removal) is told so instead of retrying for ever.

use std::collections::{BTreeMap, BTreeSet};

use hush_core::message::{Envelope, Payload};
use hush_core::mls::{self, Conversation, MlsError, WireKind};
use hush_proto as proto;

use crate::client::Client;
use crate::error::{ClientError, Misbehaviour};
use crate::state::Placed;
pub use crate::state::{PeerLog, Sent, TranscriptState, Verdict};

/// The tag in front of the epoch and authenticator in a message's authenticated data.
const EPOCH_TAG: &[u8; 8] = b"hush-ep1";
/// How many past epochs MLS keeps keys for (`hush_core::mls`).
const PAST_EPOCHS: u64 = 3;

/// The authenticated data naming the epoch and authenticator a message was made in.
pub(crate) fn epoch_aad(epoch: u64, authenticator: &[u8]) -> Vec<u8> {
    [EPOCH_TAG.as_slice(), &epoch.to_be_bytes(), authenticator].concat()
}

/// Finds the epoch claim in a message's authenticated data (after the directory root, if
/// any).
fn epoch_claim(aad: &[u8]) -> Option<(u64, String)> {
    let at = aad.windows(EPOCH_TAG.len()).position(|w| w == EPOCH_TAG)?;
    let rest = &aad[at + EPOCH_TAG.len()..];
    if rest.len() < 8 {
        return None;
    }
    let epoch = u64::from_be_bytes(rest[..8].try_into().ok()?);
    Some((epoch, hex::encode(&rest[8..])))
}

/// "1 message" / "3 messages".
fn messages(n: usize) -> String {
    if n == 1 { "1 message".into() } else { format!("{n} messages") }
}

/// What kind of trouble a send ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `409 stale_epoch`.
    Stale,
    /// `403`: not a member.
    NotMember,
}

impl Refusal {
    /// Classifies a server refusal of a group message or commit.
    pub(crate) fn of(e: &ClientError) -> Option<Refusal> {
        match e {
            ClientError::Api(a) if a.code() == Some(proto::codes::STALE_EPOCH) => Some(Refusal::Stale),
            ClientError::Api(a) if a.code() == Some(proto::codes::FORBIDDEN) => Some(Refusal::NotMember),
            _ => None,
        }
    }
}

impl Client {
    /// The conversation's name as shown.
    pub(crate) fn shown_name(&self, id_hex: &str) -> String {
        self.state
            .conversations
            .get(id_hex)
            .map(|m| self.display_name(m))
            .unwrap_or_else(|| id_hex.chars().take(8).collect())
    }

    /// The group's epoch as this device holds it, and whether it is still a member.
    pub(crate) fn group_epoch(&self, id_hex: &str) -> Option<(u64, bool)> {
        let gid = hex::decode(id_hex).ok()?;
        let conv = Conversation::load(&self.provider, &gid).ok()??;
        Some((conv.epoch(), conv.is_active()))
    }

    /// Remembers the epoch authenticator of the group's current epoch.
    pub(crate) fn note_epoch(&mut self, id_hex: &str, conv: &Conversation) {
        if conv.is_active() {
            self.state.transcript.note_epoch(id_hex, conv.epoch(), &conv.epoch_authenticator());
        }
    }

    /// The authenticated data of a message we send in `conv`: the directory root we hold
    /// and the group's epoch with its authenticator.
    pub(crate) fn message_aad(&mut self, id_hex: &str, conv: &Conversation) -> Vec<u8> {
        self.note_epoch(id_hex, conv);
        [self.kt_aad(), epoch_aad(conv.epoch(), &conv.epoch_authenticator())].concat()
    }

    /// Where a received payload stands in its sender's sequence: None to drop it silently
    /// (a duplicate); otherwise whether it is late. A second copy of the device is
    /// reported (once) and the payload still shown.
    pub(crate) fn place_received(
        &mut self,
        id_hex: &str,
        sender: &hush_core::identity::CertificateBody,
        env: &Envelope,
        plaintext: &[u8],
    ) -> Option<bool> {
        match self.state.transcript.receive(id_hex, &sender.device_id, &sender.username, env, plaintext) {
            Verdict::Fresh { late } => Some(late),
            Verdict::Duplicate => None,
            Verdict::Clone => {
                if self.state.transcript.first_clone_report(id_hex, &sender.device_id) {
                    let short: String = sender.device_id.chars().take(8).collect();
                    let user = &sender.username;
                    self.warn(id_hex, format!(
                        "a second copy of {user}'s device {short} is sending: that device's keys were copied (or an old copy of its home is in use); if {user} did not do this, {user} should revoke that device (`hush device revoke`)"
                    ));
                }
                Some(false)
            }
        }
    }

    /// Notes a text just added to the unread list, to order it at the end of the sync.
    pub(crate) fn placed_text(&mut self, id_hex: &str, device: &str, seq: u64) {
        if seq == 0 || self.state.unread.is_empty() {
            return;
        }
        let index = self.state.unread.len() - 1;
        self.state.transcript.placed.push(Placed { index, conversation: id_hex.to_owned(), device: device.to_owned(), seq });
    }

    /// After a whole inbox batch: texts of one sender in one conversation are put in the
    /// order they were sent, and numbers still missing are reported once.
    pub(crate) fn finish_transcript(&mut self) {
        let placed = std::mem::take(&mut self.state.transcript.placed);
        let mut groups: BTreeMap<(String, String), Vec<Placed>> = BTreeMap::new();
        for p in placed {
            let fits = self
                .state
                .unread
                .get(p.index)
                .is_some_and(|r| r.conversation_id == p.conversation && r.sender_device == p.device && r.kind == "text");
            if fits {
                groups.entry((p.conversation.clone(), p.device.clone())).or_default().push(p);
            }
        }
        for list in groups.into_values() {
            let mut slots: Vec<usize> = list.iter().map(|p| p.index).collect();
            slots.sort_unstable();
            slots.dedup();
            if slots.len() != list.len() {
                continue;
            }
            let mut by_seq = list;
            by_seq.sort_by_key(|p| p.seq);
            let items: Vec<_> = by_seq.iter().map(|p| self.state.unread[p.index].clone()).collect();
            for (slot, item) in slots.into_iter().zip(items) {
                self.state.unread[slot] = item;
            }
        }
        let mut notices = Vec::new();
        for (conversation, devices) in &mut self.state.transcript.peers {
            for log in devices.values_mut() {
                let new: Vec<u64> = log.missing.difference(&log.reported).copied().collect();
                if !new.is_empty() {
                    log.reported.extend(new.iter().copied());
                    let (verb, it) = if new.len() == 1 { ("is", "it") } else { ("are", "them") };
                    notices.push((
                        conversation.clone(),
                        format!("{} from {} {verb} missing: the server withheld or lost {it}", messages(new.len()), log.username),
                    ));
                }
                log.shown = log.highest;
            }
        }
        for (conversation, text) in notices {
            self.warn(&conversation, text);
        }
    }

    /// A sentence for a group message this device could not process. None when it was
    /// already said (a split is reported once).
    pub(crate) fn explain_refusal(&mut self, id_hex: &str, bytes: &[u8], err: ClientError) -> Option<String> {
        let mls_err = match err {
            ClientError::Mls(e @ (MlsError::Refused(_) | MlsError::Malformed(_) | MlsError::Internal(_) | MlsError::KeyReused)) => e,
            other => return Some(format!("a message was refused and not shown: {other}")),
        };
        let name = self.shown_name(id_hex);
        let Ok(info) = mls::inspect(bytes) else {
            return Some(format!("a message in {name} was refused and not shown: it was damaged on the way and could not be read"));
        };
        let Some((mine, _)) = self.group_epoch(id_hex) else {
            return Some(format!("a message in {name} could not be read: this device holds no state for that conversation"));
        };
        if matches!(mls_err, MlsError::KeyReused) {
            return Some(format!(
                "a message in {name} reused the keys of one already received: a second copy of a member's device is sending (its keys were copied), or the server re-sent an old message"
            ));
        }
        let claim = mls::peek_aad(bytes).as_deref().and_then(epoch_claim);
        let held = |e: u64| self.state.transcript.epochs.get(id_hex).and_then(|m| m.get(&e)).cloned();
        let fork_at = match (info.kind, &claim) {
            (WireKind::Commit, _) if info.epoch < mine => Some(info.epoch + 1),
            (_, Some((e, auth))) if *e == info.epoch && held(*e).is_some_and(|h| h != *auth) => Some(*e),
            _ => None,
        };
        if let Some(epoch) = fork_at {
            // Once per split (conversation and epoch), so that one report never hides a
            // later split of the same conversation.
            if !self.state.transcript.forks_reported.insert(format!("{id_hex}:{epoch}")) {
                return None;
            }
            let heal_name = self.state.conversations.get(id_hex).map(|m| if m.direct || m.name.is_empty() { name.clone() } else { m.name.clone() }).unwrap_or_else(|| name.clone());
            return Some(format!(
                "this conversation split into two versions at epoch {epoch} (the server delivered different changes to different members): messages from the other version can't be read here; run `hush conversation heal {heal_name}` to bring everyone back into one"
            ));
        }
        let what = if info.kind == WireKind::Commit { "a change to" } else { "a message in" };
        if info.epoch > mine {
            return Some(format!(
                "{what} {name} was made in a version of the conversation this device never received (epoch {}, this device is at {mine}): the server withheld changes from this device, or the conversation split{}",
                info.epoch,
                self.restore_hint(&name)
            ));
        }
        if info.epoch + PAST_EPOCHS < mine {
            return Some(format!(
                "{what} {name} was made several versions ago (epoch {}, this device is at {mine}) and this device no longer holds its keys: the server held it back too long",
                info.epoch
            ));
        }
        let refused = if info.kind == WireKind::Commit { "was refused and not applied" } else { "was refused and not shown" };
        Some(format!("{what} {name} {refused}: it could not be decrypted or verified, so it was damaged or forged on the way"))
    }

    /// The sentence for a device the server keeps refusing while a sync brings nothing new
    /// for the conversation.
    pub(crate) fn stuck_error(&self, id_hex: &str, why: Refusal) -> ClientError {
        let name = self.shown_name(id_hex);
        match why {
            Refusal::NotMember => ClientError::ServerMisbehaved(Misbehaviour::Withheld(format!(
                "the server says you are no longer in {name}, but this device never received the change that removed you: someone removed you and the server withheld it, or another copy of this device received it"
            ))),
            Refusal::Stale => {
                let epoch = self.group_epoch(id_hex).map(|(e, _)| e).unwrap_or_default();
                ClientError::ServerMisbehaved(Misbehaviour::Withheld(format!(
                    "this device is behind {name} (at epoch {epoch}) and the changes that would bring it up to date were delivered elsewhere: this home may be a copy of another device's home, or the server is withholding them{}",
                    self.restore_hint(&name)
                )))
            }
        }
    }

    /// After a refusal and a sync: whether the device is stuck (the sync brought nothing
    /// for this conversation, which is still active here).
    pub(crate) fn still_stuck(&self, id_hex: &str, epoch_before: u64) -> bool {
        self.group_epoch(id_hex).is_some_and(|(e, active)| active && e == epoch_before)
    }

    /// Where the old conversation points after a heal.
    pub fn replaced_by(&self, id_hex: &str) -> Option<String> {
        self.state.transcript.replaced.get(id_hex).cloned()
    }

    /// A member re-created a conversation to heal a split: the old one is marked replaced.
    pub(crate) fn accept_replaces(&mut self, new_id: &str, old_id: &str, sender: &str, at: i64) {
        if old_id == new_id || !self.state.conversations.contains_key(old_id) {
            return;
        }
        let was_member = self.members_of(old_id).is_ok_and(|m| m.iter().any(|m| m.username == sender));
        if !was_member {
            self.warn(new_id, format!("{sender} said this conversation replaces another that {sender} is not in; ignored"));
            return;
        }
        // Healing brings everyone back. The member who heals sees only its own version, so
        // someone added on the other one may be missing: never silently.
        let old_users: BTreeSet<String> = self.members_of(old_id).unwrap_or_default().into_iter().map(|m| m.username).collect();
        let new_users: BTreeSet<String> = self.members_of(new_id).unwrap_or_default().into_iter().map(|m| m.username).collect();
        let left_out: Vec<String> = old_users.difference(&new_users).cloned().collect();
        if !left_out.is_empty() {
            let who = left_out.join(", ");
            self.warn(
                new_id,
                format!("{sender}'s re-created conversation leaves out {who}, who {} in your version of the old one; if they belong, add them (`hush conversation add`)", if left_out.len() == 1 { "is" } else { "are" }),
            );
        }
        if let Some(m) = self.state.conversations.get_mut(old_id) {
            m.active = false;
        }
        self.state.transcript.replaced.insert(old_id.to_owned(), new_id.to_owned());
        self.event(new_id, format!("{sender} re-created this conversation to heal a split; earlier messages stay in the old one"), at);
    }

    /// Re-creates a conversation with the same people (all their proven devices), name and
    /// settings, and tells everyone it replaces the old one (`hush conversation heal`).
    pub async fn heal(&mut self, target: &str) -> Result<String, ClientError> {
        self.sync().await?;
        let old = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        let meta = self
            .state
            .conversations
            .get(&old)
            .cloned()
            .ok_or_else(|| ClientError::Internal("unknown conversation".into()))?;
        let users: Vec<String> = self
            .members_of(&old)?
            .into_iter()
            .map(|m| m.username)
            .filter(|u| u != &self.state.username)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if users.is_empty() {
            return Err(ClientError::Usage(format!("{target} has no other members to bring back")));
        }
        // Out of the way first, so the name finds the new one (put back if that fails).
        if let Some(m) = self.state.conversations.get_mut(&old) {
            m.active = false;
        }
        let made = self.new_conversation(&meta.name, meta.direct, &users).await;
        let new = match made {
            Ok(id) => id,
            Err(e) => {
                if let Some(m) = self.state.conversations.get_mut(&old) {
                    m.active = true;
                }
                self.save()?;
                return Err(e);
            }
        };
        self.state.transcript.replaced.insert(old.clone(), new.clone());
        self.save()?;
        if meta.history {
            self.set_history(&new, true).await?;
        }
        let payload = Payload::Replaces { id: hush_core::message::new_id(), replaces: old };
        self.send_payloads(&new, std::slice::from_ref(&payload)).await?;
        Ok(new)
    }
}

#[cfg(test)]mod tests {
    use super::*;

    #[test]
    fn epoch_claims_are_found_after_the_directory_root() {
        let aad = [b"hush-kt1".as_slice(), &[0u8; 40], &epoch_aad(7, &[9u8; 32])].concat();
        assert_eq!(epoch_claim(&aad), Some((7, hex::encode([9u8; 32]))));
        assert_eq!(epoch_claim(b"hush-kt1"), None);
    }

}

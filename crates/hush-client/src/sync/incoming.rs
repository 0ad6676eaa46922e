//! One group message: decrypted and verified, its sender's key checked against the pins,
//! then applied: a payload (text, settings, keys, history …) or a commit.

use std::collections::BTreeSet;

use hush_core::message::Payload;
use hush_core::identity::CertificateBody;
use hush_core::mls::{Conversation, Incoming, PendingCommit, Role};

use crate::client::Client;
use crate::error::{ClientError, Misbehaviour};
use crate::names::short_device;
use crate::state::{NewDevice, Received};

impl Client {
    pub(crate) fn process_group_message(&mut self, gid_hex: &str, bytes: &[u8], at: i64) -> Result<(), ClientError> {
        let gid = hex::decode(gid_hex).map_err(|_| ClientError::ServerMisbehaved(Misbehaviour::Malformed("message without a conversation".into())))?;
        let Some(mut conv) = Conversation::load(&self.provider, &gid)? else {
            return Err(ClientError::ServerMisbehaved(Misbehaviour::Withheld("a message for a conversation this device is not in".into())));
        };
        if !conv.is_active() {
            return Ok(());
        }
        // Anything that moved in a conversation brings a check of its members against the
        // directory and the server's routing after the sync.
        self.state.membership_checks.insert(gid_hex.to_owned());
        match conv.process(&self.provider, bytes)? {
            Incoming::Application { sender, plaintext, aad } => {
                let epoch = conv.epoch();
                self.on_application(gid_hex, epoch, sender, &plaintext, &aad, at)?;
            }
            Incoming::LeaveProposal { sender } => {
                self.event(gid_hex, format!("{} is leaving", sender.username), at);
            }
            Incoming::Commit(pending) => self.on_commit(gid_hex, conv, *pending, at)?,
        }
        Ok(())
    }

    /// A verified application message: its sender's key checked, its place in the sender's
    /// sequence taken, then its payload applied.
    fn on_application(&mut self, gid_hex: &str, epoch: u64, sender: CertificateBody, plaintext: &[u8], aad: &[u8], at: i64) -> Result<(), ClientError> {
        self.note_claimed_root(aad, &sender.username, gid_hex);
        self.check_trust(&sender)?;
        let envelope = hush_core::message::Envelope::decode(plaintext)
            .map_err(|_| ClientError::Refused(format!("{} sent a message this version of hush can't read", sender.username)))?;
        let Some(late) = self.place_received(gid_hex, &sender, &envelope, plaintext) else {
            return Ok(());
        };
        let seq = envelope.seq;
        let payload = envelope.payload;
        if !self.state.first_time(&format!("id:{}", payload.id())) {
            return Ok(());
        }
        match payload {
            Payload::Replaces { replaces, .. } => {
                self.accept_replaces(gid_hex, &replaces, &sender.username, at);
            }
            Payload::Text { sent_at, text, .. } => {
                self.state.remember(
                    gid_hex,
                    hush_core::message::HistoryItem { sender: sender.username.clone(), sent_at, text: text.clone() },
                );
                let conversation = self
                    .state
                    .conversations
                    .get(gid_hex)
                    .map(|m| self.display_name(m))
                    .unwrap_or_default();
                let device = sender.device_id.clone();
                self.state.unread.push(Received {
                    conversation_id: gid_hex.to_owned(),
                    conversation,
                    sender: sender.username,
                    sender_device: sender.device_id,
                    kind: "text".into(),
                    text,
                    sent_at,
                    received_at: at,
                    late,
                });
                self.placed_text(gid_hex, &device, seq);
            }
            Payload::GuardianShare { share, .. } => {
                // Only the owner may hand out shares of their own account.
                if share.owner != sender.username {
                    return Err(ClientError::Refused(format!(
                        "{} sent a guardian share for {}; ignored",
                        sender.username, share.owner
                    )));
                }
                let owner = share.owner.clone();
                self.state.held_shares.insert(owner.clone(), share);
                self.event(gid_hex, format!("{owner} made you one of their recovery guardians"), at);
            }
            Payload::Meta { name, direct, history, .. } => {
                self.apply_settings(gid_hex, &sender, name, direct, history, at);
            }
            Payload::SpaceKeys { keys, .. } => {
                // Only from the device that added us, only keys of epochs before
                // ours that we lack; never overwrite a key this device derived.
                if !self.added_us(gid_hex, &sender.device_id) {
                    return Ok(());
                }
                let held = self.state.space_keys.entry(gid_hex.to_owned()).or_default();
                for (e, k) in keys {
                    if e < epoch {
                        held.entry(e).or_insert(k);
                    }
                }
            }
            Payload::History { messages, .. } => {
                // Only a device that has no history of its own yet takes it, and only
                // where history is on; it is shown as relayed by the member.
                // Only from the device that added this one, as for space keys: any
                // other member could invent a past.
                let fresh = self.state.history.get(gid_hex).is_none_or(|l| l.is_empty());
                let on = self.state.conversations.get(gid_hex).is_some_and(|m| m.history);
                let from_adder = self.added_us(gid_hex, &sender.device_id);
                if fresh && on && !from_adder {
                    self.warn(
                        gid_hex,
                        format!("{} sent earlier messages, but only the member who added you may hand them over; they were not shown", sender.username),
                    );
                }
                if fresh && on && from_adder {
                    let conversation = self.state.conversations.get(gid_hex).map(|m| self.display_name(m)).unwrap_or_default();
                    for h in messages {
                        self.state.unread.push(Received {
                            conversation_id: gid_hex.to_owned(),
                            conversation: conversation.clone(),
                            sender: h.sender.clone(),
                            sender_device: String::new(),
                            kind: "history".into(),
                            text: h.text.clone(),
                            sent_at: h.sent_at,
                            received_at: at,
                            late: false,
                        });
                        self.state.remember(gid_hex, h);
                    }
                    self.event(gid_hex, format!("earlier messages above were handed over by {}", sender.username), at);
                }
            }
        }
        Ok(())
    }

    /// A staged commit: the committer and every device it adds checked against the pins, then
    /// merged, and what changed told to the reader.
    fn on_commit(&mut self, gid_hex: &str, mut conv: Conversation, pending: PendingCommit, at: i64) -> Result<(), ClientError> {
        let committer_name = pending.committer.username.clone();
        let pending = pending.trust(|cert, role| match role {
            Role::Author => self.check_trust(cert),
            Role::Member => self.check_trust(cert).map_err(|e| ClientError::BadDevice {
                user: cert.username.clone(),
                reason: format!("{committer_name} tried to add a device that does not chain to the pinned identity key: {e}"),
            }),
        })?;
        let committer = pending.committer.username.clone();
        let committer_device = pending.committer.device_id.clone();
        let removes_me = pending.removes_me;
        let before = device_set(&conv);
        conv.merge(&self.provider, pending)?;
        if removes_me {
            let former: Vec<String> = before.iter().map(|(u, _)| u.clone()).collect::<BTreeSet<_>>().into_iter().collect();
            if let Some(m) = self.state.conversations.get_mut(gid_hex) {
                m.active = false;
                m.former_members = former;
            }
            // The group's secrets are of no more use; forgetting them also lets a
            // later Welcome add this device back.
            conv.delete(&self.provider)?;
            self.event(gid_hex, format!("{committer} removed you"), at);
            return Ok(());
        }
        self.note_space_key(gid_hex, &conv)?;
        let after = device_set(&conv);
        let users_before: BTreeSet<&String> = before.iter().map(|(u, _)| u).collect();
        let users_after: BTreeSet<&String> = after.iter().map(|(u, _)| u).collect();
        for u in users_after.difference(&users_before) {
            self.event(gid_hex, format!("{committer} added {u}"), at);
        }
        for u in users_before.difference(&users_after) {
            if *u == &committer {
                self.event(gid_hex, format!("{u} left"), at);
            } else {
                self.event(gid_hex, format!("{u} left or was removed by {committer}"), at);
            }
        }
        // Devices of people who were members before and still are: every change is
        // shown, a new device once the key directory has vouched for it.
        for (u, d) in after.difference(&before) {
            if users_before.contains(u) {
                self.state.new_devices.push(NewDevice {
                    conversation: gid_hex.to_owned(),
                    user: u.clone(),
                    device: d.clone(),
                    added_by: committer.clone(),
                    added_by_device: committer_device.clone(),
                    at,
                });
            }
        }
        for (u, d) in before.difference(&after) {
            if users_after.contains(u) {
                self.event(gid_hex, format!("{u}'s device {} was removed from this conversation by {committer}", short_device(d)), at);
            }
        }
        if after != before {
            self.state.membership_checks.insert(gid_hex.to_owned());
        }
        Ok(())
    }
}

/// Every (user, device id) in a group, from its verified leaves.
fn device_set(conv: &Conversation) -> BTreeSet<(String, String)> {
    conv.members()
        .into_iter()
        .filter_map(|m| m.certificate.ok())
        .map(|c| (c.username, c.device_id))
        .collect()
}

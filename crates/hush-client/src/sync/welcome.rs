//! Joining a conversation from an invitation (an MLS Welcome): every member's key checked
//! against the pins, and a Welcome that would replace a conversation refused.

use std::collections::BTreeSet;

use hush_core::mls::{Conversation, PendingJoin};

use crate::client::Client;
use crate::error::ClientError;
use crate::state::ConversationMeta;

impl Client {
    pub(crate) fn join(&mut self, welcome: &[u8], at: i64) -> Result<(), ClientError> {
        // The inviter and every member, against the pins (the one trust rule).
        let pending = PendingJoin::new(&self.provider, welcome)?.trust(|cert, _role| self.check_trust(cert))?;
        let inviter = pending.inviter.username.clone();
        let inviter_device = pending.inviter.device_id.clone();
        let group_id = pending.group_id();
        // Every hush group id is 16 random bytes; anything else is not one of ours.
        if group_id.len() != 16 {
            return Err(ClientError::Refused("the invitation is for a conversation id hush never makes".into()));
        }
        let gid_hex = hex::encode(&group_id);
        // A Welcome for a group id this device holds: only to add it back after a removal
        // or a leave it knew of, and only from someone who was in the conversation then.
        // It never replaces a conversation this device is still in (that would hand the
        // name and the place of a real conversation to whoever made the new group).
        let previous = self.state.conversations.get(&gid_hex).cloned();
        if let Some(prev) = &previous {
            let held = Conversation::load(&self.provider, &group_id)?;
            let still_in = prev.active && held.as_ref().is_some_and(|c| c.is_active());
            if still_in {
                return Err(ClientError::Refused(format!(
                    "{inviter} invited you into a conversation you are still in ({}); the invitation was refused and the conversation you have is kept",
                    self.display_name(prev)
                )));
            }
            let former: BTreeSet<String> = match &held {
                Some(c) => c.members().into_iter().filter_map(|m| m.certificate.ok()).map(|c| c.username).collect(),
                None => prev.former_members.iter().cloned().collect(),
            };
            if !former.contains(&inviter) {
                return Err(ClientError::Refused(format!(
                    "{inviter} invited you back into a conversation {inviter} was not in when you left it; the invitation was refused"
                )));
            }
        } else if pending.replaces_existing {
            return Err(ClientError::Refused("an invitation was for a conversation this device holds under another name; it was refused".into()));
        }
        let conv = pending.accept(&self.provider)?;
        let id_hex = hex::encode(conv.id());
        self.note_space_key(&id_hex, &conv)?;
        self.state.conversations.insert(
            id_hex.clone(),
            ConversationMeta {
                id: id_hex.clone(),
                // The adder's metadata names it.
                name: String::new(),
                direct: false,
                joined_at: at,
                active: true,
                history: false,
                added_by: Some(inviter_device),
                settled: false,
                former_members: Vec::new(),
            },
        );
        self.state.membership_checks.insert(id_hex.clone());
        if previous.is_none() {
            self.event(&id_hex, format!("{inviter} added you"), at);
        } else {
            self.event(&id_hex, format!("{inviter} added you back"), at);
        }
        Ok(())
    }
}

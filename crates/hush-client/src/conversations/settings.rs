//! A conversation's settings (name, one-to-one, history) and what a member who adds devices
//! hands them: the settings, earlier space keys and, with history on, recent messages.

use hush_core::identity::CertificateBody;
use hush_core::message::Payload;

use crate::client::Client;
use crate::error::ClientError;

impl Client {
    pub(crate) async fn send_meta(&mut self, id_hex: &str) -> Result<(), ClientError> {
        let meta = self
            .state
            .conversations
            .get(id_hex)
            .cloned()
            .ok_or_else(|| ClientError::Internal("unknown conversation".into()))?;
        let payload = Payload::Meta { id: hush_core::message::new_id(), name: meta.name, direct: meta.direct, history: meta.history };
        self.send_payload(id_hex, &payload).await?;
        // Whoever adds devices or members hands them the space keys of earlier epochs, so
        // that files added before they joined open for them.
        let keys: Vec<_> = self.state.space_keys.get(id_hex).map(|k| k.clone().into_iter().collect()).unwrap_or_default();
        if !keys.is_empty() {
            self.send_payload(id_hex, &Payload::SpaceKeys { id: hush_core::message::new_id(), keys }).await?;
        }
        // With history on, whoever adds devices or members hands them the recent messages.
        if meta.history {
            let messages: Vec<_> = self.state.history.get(id_hex).map(|l| l.iter().cloned().collect()).unwrap_or_default();
            if !messages.is_empty() {
                let payload = Payload::History { id: hush_core::message::new_id(), messages };
                self.send_payload(id_hex, &payload).await?;
            }
        }
        Ok(())
    }

    /// Turns history for new devices and members on or off in a conversation; every
    /// member learns the setting.
    pub async fn set_history(&mut self, target: &str, on: bool) -> Result<(), ClientError> {
        self.sync().await?;
        let id = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        if let Some(m) = self.state.conversations.get_mut(&id) {
            m.history = on;
        }
        self.save()?;
        let meta = self.state.conversations.get(&id).cloned().ok_or_else(|| ClientError::Internal("unknown conversation".into()))?;
        let payload = Payload::Meta { id: hush_core::message::new_id(), name: meta.name, direct: meta.direct, history: on };
        self.send_payload(&id, &payload).await
    }

    /// Renames a group conversation; every member is told who renamed it.
    pub async fn rename(&mut self, target: &str, new_name: &str) -> Result<(), ClientError> {
        if new_name.trim().is_empty() || new_name.len() > 64 {
            return Err(ClientError::Usage("a conversation name has 1 to 64 characters".into()));
        }
        self.sync().await?;
        let id = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        let meta = self.state.conversations.get(&id).cloned().ok_or_else(|| ClientError::Internal("unknown conversation".into()))?;
        if meta.direct {
            return Err(ClientError::Usage("a one-to-one conversation has no name of its own; create a group to name it".into()));
        }
        if self.state.conversations.values().any(|m| m.active && !m.direct && m.name == new_name && m.id != id) {
            return Err(ClientError::Usage(format!("you already have a conversation named {new_name}")));
        }
        if let Some(m) = self.state.conversations.get_mut(&id) {
            m.name = new_name.to_owned();
        }
        self.save()?;
        let payload = Payload::Meta { id: hush_core::message::new_id(), name: new_name.to_owned(), direct: false, history: meta.history };
        self.send_payload(&id, &payload).await
    }

    /// Whether `device` is the one that added this device to the conversation (the only
    /// one whose settings, earlier space keys and earlier messages are taken on joining).
    pub(crate) fn added_us(&self, gid_hex: &str, device: &str) -> bool {
        self.state.conversations.get(gid_hex).and_then(|m| m.added_by.as_deref()) == Some(device)
    }

    /// Applies a member's settings message. The first one from the device that added this
    /// one sets everything quietly; after that each change is shown to the reader, and a
    /// conversation never turns from one-to-one into a group or back.
    pub(crate) fn apply_settings(&mut self, gid_hex: &str, sender: &CertificateBody, name: String, direct: bool, history: bool, at: i64) {
        let Some(m) = self.state.conversations.get(gid_hex).cloned() else {
            return;
        };
        let who = &sender.username;
        if !m.settled && self.added_us(gid_hex, &sender.device_id) {
            if let Some(m) = self.state.conversations.get_mut(gid_hex) {
                m.name = name;
                m.direct = direct;
                m.history = history;
                m.settled = true;
            }
            return;
        }
        if m.settled && direct != m.direct {
            let what = if m.direct { "a one-to-one conversation into a group" } else { "this group into a one-to-one conversation" };
            self.warn(gid_hex, format!("{who} tried to turn {what}; that can't change, so it was ignored"));
            return;
        }
        let mut events = Vec::new();
        if !m.direct && name != m.name && !name.trim().is_empty() {
            events.push(format!("{who} renamed the conversation from {} to {name}", m.name));
        }
        if history != m.history {
            let state = if history { "on: members who join are handed recent messages" } else { "off" };
            events.push(format!("{who} turned history {state}"));
        }
        if let Some(c) = self.state.conversations.get_mut(gid_hex) {
            if !c.direct && !name.trim().is_empty() {
                c.name = name;
            }
            c.history = history;
            if !c.settled {
                c.direct = direct;
            }
        }
        for e in events {
            self.event(gid_hex, e, at);
        }
    }
}

//! Who is in a conversation, checked after every sync.
//!
//! MLS makes membership changes signed by a member, but a member's client can be fooled
//! by its server (a revoked device's KeyPackage handed out again), and the server decides
//! where messages actually go. So after each sync, for every conversation whose members
//! changed or that carried traffic:
//!
//! - every device in the group must be one the key directory lists for its user now; a
//!   device it does not list is reported and removed before anything more is sent;
//! - a new device of someone already in the conversation is announced to every member,
//!   with the directory epoch that vouched for it;
//! - the server's routing list must equal the group's devices (compared when the server
//!   and this device are at the same epoch); a difference is reported once.
//!
//! The adding side refuses an unlisted device outright (`Client::claim`).

use std::collections::BTreeSet;

use hush_proto as proto;
use reqwest::Method;

use crate::client::Client;
use crate::error::ClientError;
use crate::names::short_device;

impl Client {
    /// Whether the key directory lists `device` for `user`, looked up afresh if the cached
    /// proof does not list it; the epoch of the proof that does.
    async fn directory_lists(&mut self, user: &str, device: &str) -> Result<Option<u64>, ClientError> {
        let mut proven = self.proven_devices(user).await?;
        if !proven.contains(device) {
            self.state.kt.checked.remove(user);
            proven = self.proven_devices(user).await?;
        }
        let epoch = self.state.kt.checked.get(user).map(|(e, _)| *e).unwrap_or(0);
        Ok(proven.contains(device).then_some(epoch))
    }

    /// Announces new devices of existing members, then checks every conversation whose
    /// membership changed or that carried traffic against the directory and the server's
    /// routing list.
    pub(crate) async fn check_membership(&mut self) -> Result<(), ClientError> {
        let mut checks = std::mem::take(&mut self.state.membership_checks);
        for nd in std::mem::take(&mut self.state.new_devices) {
            if !self.state.conversations.get(&nd.conversation).is_some_and(|m| m.active) {
                continue;
            }
            // Added and removed again before this device looked (bob linked a device and
            // revoked it while we were away): nothing is left to announce or to remove.
            let still_there = self.members_of(&nd.conversation)?.iter().any(|m| m.device_id == nd.device);
            if !still_there {
                continue;
            }
            let short = short_device(&nd.device).to_owned();
            let by = if nd.added_by == nd.user { format!("{} added", nd.user) } else { format!("{} added {}'s", nd.added_by, nd.user) };
            match self.directory_lists(&nd.user, &nd.device).await {
                Ok(Some(epoch)) => {
                    self.event(&nd.conversation, format!("{by} new device {short} to this conversation (listed in the key directory at epoch {epoch})"), nd.at);
                }
                Ok(None) => {
                    self.warn(
                        &nd.conversation,
                        format!("{by} device {short} to this conversation, but the key directory does not list it for {}: it may be revoked or forged, so it is removed before anything more is sent here", nd.user),
                    );
                    checks.insert(nd.conversation.clone());
                }
                Err(e) => {
                    self.warn(&nd.conversation, format!("could not check {}'s new device {short} against the key directory: {e}", nd.user));
                }
            }
        }
        for id in checks {
            if !self.state.conversations.get(&id).is_some_and(|m| m.active) {
                continue;
            }
            if let Err(e) = self.check_devices_listed(&id).await {
                self.warn(&id, format!("could not check this conversation's devices against the key directory: {e}"));
            }
            if let Err(e) = self.check_routing(&id).await {
                self.warn(&id, format!("could not compare the server's delivery list with this conversation's members: {e}"));
            }
        }
        Ok(())
    }

    /// Every device in the group must be listed by the key directory for its user; if one
    /// is not, it is removed (with the rest of [`Client::reconcile`]).
    async fn check_devices_listed(&mut self, id_hex: &str) -> Result<(), ClientError> {
        let members = self.members_of(id_hex)?;
        let mut unlisted = false;
        for m in &members {
            if self.directory_lists(&m.username, &m.device_id).await?.is_none() {
                unlisted = true;
            }
        }
        if unlisted {
            Box::pin(self.reconcile(id_hex)).await?;
        }
        Ok(())
    }

    /// Compares the server's routing list with the group's devices, when both are at the
    /// same epoch; reports each difference once.
    pub(crate) async fn check_routing(&mut self, id_hex: &str) -> Result<(), ClientError> {
        let gid = hex::decode(id_hex).map_err(|e| ClientError::Internal(e.to_string()))?;
        let path = format!("/v1/groups/{id_hex}");
        let info: proto::GroupInfo = match self.api.call::<(), _>(Some(&self.signer()), Method::GET, &path, None).await {
            Ok(info) => info,
            // Not a member on the server's side: what that means is said where it matters
            // (sending); nothing to compare here.
            Err(e) if e.code() == Some(proto::codes::FORBIDDEN) || e.code() == Some(proto::codes::NOT_FOUND) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let conv = self.load_conv(&gid)?;
        if info.epoch != conv.epoch() {
            return Ok(());
        }
        let members = self.members_of(id_hex)?;
        let in_group: BTreeSet<&str> = members.iter().map(|m| m.device_id.as_str()).collect();
        let routed: BTreeSet<&str> = info.devices.iter().map(String::as_str).collect();
        let mut reports = Vec::new();
        for d in routed.difference(&in_group) {
            reports.push((
                format!("{id_hex}:extra:{d}"),
                format!(
                    "the server delivers this conversation's messages to device {} as well, which is not a member: it can't read them, but the server is not following the conversation's membership",
                    short_device(d)
                ),
            ));
        }
        for d in in_group.difference(&routed) {
            let user = members.iter().find(|m| m.device_id == *d).map(|m| m.username.clone()).unwrap_or_default();
            // A device its owner just revoked leaves the server's routing before the commit
            // that removes it from the group: not withheld, only not yet removed (the
            // directory check removes it).
            if self.directory_lists(&user, d).await?.is_none() {
                self.state.membership_checks.insert(id_hex.to_owned());
                continue;
            }
            reports.push((
                format!("{id_hex}:missing:{d}"),
                format!(
                    "the server does not deliver this conversation's messages to {user}'s device {}, which is a member: the server is withholding messages from it{}",
                    short_device(d),
                    self.restore_hint(&self.shown_name(id_hex))
                ),
            ));
        }
        for (key, text) in reports {
            if self.state.routing_reported.insert(key) {
                self.warn(id_hex, text);
            }
        }
        Ok(())
    }
}

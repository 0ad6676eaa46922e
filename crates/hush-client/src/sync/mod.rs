//! Receiving: fetching the inbox, processing each item (`incoming` for group messages,
//! `welcome` for invitations), the unread list, and the checks that follow a sync.

mod incoming;
mod welcome;

use hush_core::mls::MlsError;
use hush_proto as proto;
use reqwest::Method;
use sha2::{Digest, Sha256};

use crate::client::Client;
use crate::conversations::Plan;
use crate::error::ClientError;
use crate::state::Received;

/// The result of a sync.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Inbox items processed.
    pub processed: usize,
}

impl Client {
    /// Fetches and processes the inbox; returns and clears what was not yet read.
    pub async fn sync_and_take_unread(&mut self) -> Result<Vec<Received>, ClientError> {
        let out = self.sync_and_peek_unread().await?;
        self.mark_read(out.len())?;
        Ok(out)
    }

    /// Fetches and processes the inbox; returns what was not yet read, oldest first,
    /// without marking it read: call [`Client::mark_read`] with how many of them reached
    /// the reader.
    pub async fn sync_and_peek_unread(&mut self) -> Result<Vec<Received>, ClientError> {
        self.sync().await?;
        Ok(self.unread())
    }

    /// What was not yet read, oldest first (nothing is marked read).
    pub fn unread(&self) -> Vec<Received> {
        let mut out = self.state.unread.clone();
        // Names are settled by now (metadata arrives just after an invitation).
        for m in &mut out {
            if let Some(meta) = self.state.conversations.get(&m.conversation_id) {
                m.conversation = self.display_name(meta);
            }
        }
        out
    }

    /// Marks the first `count` messages of [`Client::unread`] read, and saves.
    pub fn mark_read(&mut self, count: usize) -> Result<(), ClientError> {
        let n = count.min(self.state.unread.len());
        let read: Vec<_> = self.state.unread.drain(..n).collect();
        // A warning that reached the reader was seen: its alert is acknowledged.
        for w in read.iter().filter(|m| m.kind == "warning") {
            for a in self.state.alerts.iter_mut().filter(|a| a.subject == w.conversation_id && a.text == w.text) {
                a.acknowledged = true;
            }
        }
        self.keep_in_timeline(read);
        self.save()
    }

    /// Fetches the inbox, processes every item, saves, then acknowledges. Then adds new
    /// devices of our contacts to shared conversations, and commits pending leaves.
    pub async fn sync(&mut self) -> Result<SyncReport, ClientError> {
        let mut report = SyncReport::default();
        // The directory first: a restore of the server is followed before anything else.
        self.kt_refresh().await?;
        loop {
            let resp: proto::InboxResponse = self
                .api
                .call::<(), _>(Some(&self.signer()), Method::GET, "/v1/inbox?limit=200", None)
                .await?;
            if resp.items.is_empty() {
                break;
            }
            let ids: Vec<i64> = resp.items.iter().map(|i| i.id).collect();
            for item in resp.items {
                self.process_item(item);
                report.processed += 1;
            }
            // Saved before acknowledging: a crash in between means redelivery, which the
            // fingerprints de-duplicate; never a lost message.
            self.save()?;
            self.api
                .call_empty(Some(&self.signer()), Method::POST, "/v1/inbox/ack", Some(&proto::AckRequest { ids }))
                .await?;
        }
        // The whole batch is in: order each sender's texts, report what is still missing.
        self.finish_transcript();
        // Key transparency: compare the roots members claimed, and check our own history.
        self.kt_check_claims().await?;
        self.kt_check_own_history().await?;
        self.kt_recheck_after_restore().await?;
        self.save()?;
        self.after_sync().await?;
        if let Err(e) = self.backup_if_changed().await {
            self.warn("", format!("could not update your account backup on the server: {e}"));
            self.save()?;
        }
        // Enough KeyPackages on the server for others to add this device.
        if let Err(e) = self.keep_key_packages().await {
            self.warn("", format!("could not upload new key packages to the server: {e}"));
            self.save()?;
        }
        Ok(report)
    }

    pub(crate) fn warn(&mut self, conversation_id: &str, text: String) {
        let conversation = self
            .state
            .conversations
            .get(conversation_id)
            .map(|m| self.display_name(m))
            .unwrap_or_default();
        // An app shows it until acknowledged, and holds sending to the conversation.
        self.raise_alert(conversation_id, &conversation, &text, true);
        self.state.unread.push(Received {
            conversation_id: conversation_id.to_owned(),
            conversation,
            sender: String::new(),
            sender_device: String::new(),
            kind: "warning".into(),
            text,
            sent_at: hush_core::now_ms(),
            received_at: hush_core::now_ms(),
            late: false,
        });
    }

    pub(crate) fn event(&mut self, conversation_id: &str, text: String, at: i64) {
        let conversation = self
            .state
            .conversations
            .get(conversation_id)
            .map(|m| self.display_name(m))
            .unwrap_or_default();
        self.state.unread.push(Received {
            conversation_id: conversation_id.to_owned(),
            conversation,
            sender: String::new(),
            sender_device: String::new(),
            kind: "event".into(),
            text,
            sent_at: at,
            received_at: at,
            late: false,
        });
    }

    pub(crate) fn process_item(&mut self, item: proto::InboxItem) {
        let fingerprint = hex::encode(Sha256::digest(&item.payload.0));
        let gid_hex = item.group_id.as_ref().map(|g| hex::encode(&g.0)).unwrap_or_default();
        match item.kind {
            proto::InboxKind::DeviceAdded | proto::InboxKind::DeviceRevoked => {
                if let Ok(user) = String::from_utf8(item.payload.0)
                    && hush_core::username::validate(&user).is_ok()
                {
                    self.state.pending_device_checks.insert(user);
                }
            }
            proto::InboxKind::Welcome => {
                if !self.state.first_time(&fingerprint) {
                    return;
                }
                if let Err(e) = self.join(&item.payload.0, item.received_at) {
                    self.warn(&gid_hex, invitation_refused(e));
                }
            }
            proto::InboxKind::Message => {
                if !self.state.first_time(&fingerprint) {
                    // The same ciphertext again: a redelivery or a replay. Shown once.
                    return;
                }
                if let Err(e) = self.process_group_message(&gid_hex, &item.payload.0, item.received_at)
                    && let Some(text) = self.explain_refusal(&gid_hex, &item.payload.0, e)
                {
                    self.warn(&gid_hex, text);
                }
            }
        }
    }

    pub(crate) async fn after_sync(&mut self) -> Result<(), ClientError> {
        // Devices added or revoked by people we share conversations with (ourselves
        // included): bring each shared conversation in line with the key directory.
        let users: Vec<String> = std::mem::take(&mut self.state.pending_device_checks).into_iter().collect();
        for user in users {
            self.state.kt.checked.remove(&user);
            let ids: Vec<String> = self
                .state
                .conversations
                .values()
                .filter(|m| m.active)
                .map(|m| m.id.clone())
                .collect();
            for id in ids {
                let members = self.members_of(&id)?;
                if !members.iter().any(|m| m.username == user) {
                    continue;
                }
                if let Err(e) = Box::pin(self.reconcile(&id)).await {
                    self.warn(&id, format!("could not bring {user}'s devices up to date: {e}"));
                }
            }
        }
        // Members checked against the key directory, new devices announced, routing compared.
        self.check_membership().await?;
        // Leaves proposed by members: whoever syncs first commits them.
        let ids: Vec<String> = self.state.conversations.values().filter(|m| m.active).map(|m| m.id.clone()).collect();
        for id in ids {
            let gid = hex::decode(&id).map_err(|e| ClientError::Internal(e.to_string()))?;
            if self.load_conv(&gid)?.has_pending_proposals() {
                Box::pin(self.commit_with_retry(&id, |_c, _p| Box::pin(async { Ok(Plan::default()) }))).await?;
            }
        }
        self.save()
    }
}

/// Why an invitation was refused, as a sentence (never the MLS library's own text).
fn invitation_refused(e: ClientError) -> String {
    match e {
        ClientError::Mls(MlsError::Credential(reason)) => format!("refused an invitation to a conversation: a member's device certificate is not valid ({reason})"),
        ClientError::Mls(_) => "refused an invitation to a conversation: it could not be opened or verified, so it was damaged or forged on the way".to_owned(),
        other => format!("refused an invitation to a conversation: {other}"),
    }
}

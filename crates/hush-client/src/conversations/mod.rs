//! Conversations: what this device is in, who is in them, and the membership changes a user
//! asks for (create, add, remove, leave). Finding one by name is in `resolve`, settings
//! (name, history) in `settings`, and landing a change against other members' in `commit`.

mod commit;
mod resolve;
mod settings;

use std::collections::BTreeSet;

use hush_core::mls::Conversation;
use hush_proto::{self as proto, B64};
use reqwest::Method;

use crate::client::Client;
use crate::error::ClientError;
use crate::names::user_names;
use crate::state::ConversationMeta;
use crate::transcript::Refusal;

pub(crate) use commit::{COMMIT_RETRIES, Plan};

/// A member of a conversation as this device's MLS state shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberView {
    /// Username.
    pub username: String,
    /// Device id.
    pub device_id: String,
    /// Identity key fingerprint.
    pub fingerprint: String,
}

impl Client {
    /// The conversations this device knows.
    pub fn conversations(&self) -> Vec<(ConversationMeta, Vec<MemberView>)> {
        self.state
            .conversations
            .values()
            .map(|m| (m.clone(), self.members_of(&m.id).unwrap_or_default()))
            .collect()
    }

    pub(crate) fn members_of(&self, id_hex: &str) -> Result<Vec<MemberView>, ClientError> {
        let id = hex::decode(id_hex).map_err(|e| ClientError::Internal(e.to_string()))?;
        let conv = Conversation::load(&self.provider, &id)?
            .ok_or_else(|| ClientError::Internal("conversation state missing".into()))?;
        Ok(conv
            .members()
            .into_iter()
            .filter_map(|m| m.certificate.ok())
            .map(|c| MemberView { fingerprint: c.identity_key.fingerprint(), username: c.username, device_id: c.device_id })
            .collect())
    }

    /// Members of a conversation named by the user.
    pub fn members(&self, target: &str) -> Result<Vec<MemberView>, ClientError> {
        let id = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        self.members_of(&id)
    }

    pub(crate) fn display_name(&self, meta: &ConversationMeta) -> String {
        if meta.direct || meta.name.is_empty() {
            let others: BTreeSet<String> = self
                .members_of(&meta.id)
                .unwrap_or_default()
                .into_iter()
                .map(|m| m.username)
                .filter(|u| u != &self.state.username)
                .collect();
            if others.is_empty() {
                return if meta.name.is_empty() { meta.id[..8].to_owned() } else { meta.name.clone() };
            }
            return others.into_iter().collect::<Vec<_>>().join(",");
        }
        meta.name.clone()
    }

    pub(crate) fn load_conv(&self, gid: &[u8]) -> Result<Conversation, ClientError> {
        Conversation::load(&self.provider, gid)?.ok_or_else(|| ClientError::Internal("conversation state missing".into()))
    }

    /// Creates a group conversation with these users (all their devices, and ours).
    pub async fn create_conversation(&mut self, name: &str, with: &[String]) -> Result<String, ClientError> {
        let with = &user_names(with);
        if name.trim().is_empty() || name.len() > 64 {
            return Err(ClientError::Usage("a conversation name has 1 to 64 characters".into()));
        }
        if with.is_empty() {
            return Err(ClientError::Usage("name at least one other user with --with".into()));
        }
        if self.state.conversations.values().any(|m| m.active && !m.direct && m.name == name) {
            return Err(ClientError::Usage(format!("you already have a conversation named {name}")));
        }
        self.sync().await?;
        self.new_conversation(name, false, with).await
    }

    pub(crate) async fn new_conversation(&mut self, name: &str, direct: bool, with: &[String]) -> Result<String, ClientError> {
        for u in with {
            if u == &self.state.username {
                return Err(ClientError::Usage("you are in every conversation you create; name the others".into()));
            }
            self.ensure_sendable(u)?;
            self.lookup_user(u).await?;
        }
        let conv = Conversation::create(&self.provider, &self.device())?;
        let id = conv.id();
        let id_hex = hex::encode(&id);
        self.note_space_key(&id_hex, &conv)?;
        self.api
            .call_empty(Some(&self.signer()), Method::POST, "/v1/groups", Some(&proto::CreateGroupRequest { group_id: B64(id) }))
            .await?;
        self.state.conversations.insert(
            id_hex.clone(),
            ConversationMeta { id: id_hex.clone(), name: name.to_owned(), direct, joined_at: hush_core::now_ms(), active: true, history: false, added_by: None, settled: true, former_members: Vec::new() },
        );
        self.save()?;
        let mut users: Vec<String> = with.to_vec();
        users.push(self.state.username.clone());
        self.add_users(&id_hex, &users).await?;
        Ok(id_hex)
    }

    /// Adds users (all their devices) to a conversation.
    pub async fn add_to(&mut self, target: &str, users: &[String]) -> Result<(), ClientError> {
        let users = &user_names(users);
        self.sync().await?;
        let id = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        for u in users {
            self.ensure_sendable(u)?;
            self.lookup_user(u).await?;
        }
        self.add_users(&id, users).await
    }

    /// Adds every device of `users` not yet in the conversation; retries when another
    /// change wins the epoch; then tells new members the conversation's name.
    pub(crate) async fn add_users(&mut self, id_hex: &str, users: &[String]) -> Result<(), ClientError> {
        let users = users.to_vec();
        let changed = self
            .commit_with_retry(id_hex, move |c, present| {
                let users = users.clone();
                Box::pin(async move {
                    let mut kps = Vec::new();
                    let mut added = Vec::new();
                    for u in &users {
                        let devices = c.lookup_user(u).await?;
                        if devices.iter().all(|d| present.contains(d)) {
                            continue;
                        }
                        let proven: BTreeSet<String> = devices.into_iter().collect();
                        for kp in c.claim(u, &proven).await? {
                            if !present.contains(&kp.certificate.device_id) && kp.certificate.device_id != c.state.device_id {
                                added.push(kp.certificate.device_id.clone());
                                kps.push(kp.key_package);
                            }
                        }
                    }
                    Ok(Plan { key_packages: kps, added, removed: Vec::new() })
                })
            })
            .await?;
        if changed {
            self.send_meta(id_hex).await?;
        }
        Ok(())
    }

    /// Removes users (all their devices) from a conversation.
    pub async fn remove_from(&mut self, target: &str, users: &[String]) -> Result<(), ClientError> {
        let users = &user_names(users);
        self.sync().await?;
        let id = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        let members = self.members_of(&id)?;
        for u in users {
            if !members.iter().any(|m| &m.username == u) {
                return Err(ClientError::Usage(format!("{u} is not in this conversation")));
            }
            if u == &self.state.username {
                return Err(ClientError::Usage("to remove yourself, use `hush conversation leave`".into()));
            }
        }
        let users = users.to_vec();
        let id2 = id.clone();
        self.commit_with_retry(&id, move |c, _present| {
            let users = users.clone();
            let id2 = id2.clone();
            Box::pin(async move {
                let ids: Vec<String> = c
                    .members_of(&id2)?
                    .into_iter()
                    .filter(|m| users.contains(&m.username))
                    .map(|m| m.device_id)
                    .collect();
                Ok(Plan { removed: ids, ..Plan::default() })
            })
        })
        .await
        .map(|_| ())
    }

    /// Leaves a conversation: a proposal that the next member to commit carries out.
    pub async fn leave(&mut self, target: &str) -> Result<(), ClientError> {
        self.sync().await?;
        let id = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        let gid = hex::decode(&id).map_err(|e| ClientError::Internal(e.to_string()))?;
        let mut stuck = 0;
        for _ in 0..COMMIT_RETRIES {
            let mut conv = self.load_conv(&gid)?;
            let before = conv.epoch();
            let proposal = conv.leave(&self.provider, &self.device())?;
            match self.post_message(&gid, proposal).await {
                Ok(()) => {
                    if let Some(m) = self.state.conversations.get_mut(&id) {
                        m.active = false;
                    }
                    self.save()?;
                    return Ok(());
                }
                Err(e) if Refusal::of(&e).is_some() => {
                    let why = Refusal::of(&e).unwrap_or(Refusal::Stale);
                    self.sync().await?;
                    if self.still_stuck(&id, before) {
                        stuck += 1;
                        if why == Refusal::NotMember || stuck >= 2 {
                            return Err(self.stuck_error(&id, why));
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::Contended("the conversation keeps changing; try again".into()))
    }
}

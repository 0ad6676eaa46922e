//! Sending: texts and other payloads to a conversation or a user, after bringing the
//! group's devices in line with the key directory; encrypted in batches, the state sealed
//! before anything is posted.

use std::collections::BTreeSet;

use hush_core::message::{MAX_TEXT_BYTES, Payload};
use hush_proto::{self as proto, B64};
use reqwest::Method;
use sha2::{Digest, Sha256};

use crate::client::Client;
use crate::conversations::{COMMIT_RETRIES, Plan};
use crate::error::{ApiError, ClientError};
use crate::state::Sent;
use crate::transcript::Refusal;

impl Client {
    /// Sends a text to a conversation (by name or id) or to a user (their 1:1
    /// conversation, created on first use).
    pub async fn send(&mut self, target: &str, text: &str) -> Result<(), ClientError> {
        self.send_many(target, &[text.to_owned()]).await
    }

    /// Sends several texts in order.
    pub async fn send_many(&mut self, target: &str, texts: &[String]) -> Result<(), ClientError> {
        for t in texts {
            if t.len() > MAX_TEXT_BYTES {
                return Err(ClientError::Usage(format!("a message has at most {MAX_TEXT_BYTES} bytes")));
            }
        }
        self.sync().await?;
        let payloads: Vec<Payload> = texts.iter().map(|t| Payload::text(t)).collect();
        self.send_to(target, &payloads).await?;
        if let Some(id) = self.resolve(target)? {
            self.record_sent(&id, texts);
            self.save()?;
        }
        Ok(())
    }

    /// Sends payloads to a conversation or a user's one-to-one conversation (made on first
    /// use), after bringing its devices in line with the key directory.
    pub(crate) async fn send_to(&mut self, target: &str, payloads: &[Payload]) -> Result<(), ClientError> {
        let id = self.resolve_or_create(target).await?;
        self.reconcile(&id).await.map_err(|e| with_progress(e, 0, payloads.len()))?;
        if let Err(e) = self.check_routing(&id).await {
            self.warn(&id, format!("could not compare the server's delivery list with this conversation's members: {e}"));
        }
        for m in self.members_of(&id)? {
            self.ensure_sendable(&m.username)?;
        }
        self.send_payloads(&id, payloads).await
    }

    /// Before sending: every member's devices in the group must be the devices the key
    /// directory vouches for now. Users are looked up again whenever the directory moved
    /// on since their last check (a changed identity key stops the send right here);
    /// devices no longer listed are removed and new ones added, in one commit.
    pub(crate) async fn reconcile(&mut self, id_hex: &str) -> Result<(), ClientError> {
        let members = self.members_of(id_hex)?;
        let users: BTreeSet<String> = members.iter().map(|m| m.username.clone()).collect();
        let mut changed = false;
        for u in &users {
            let listed = self.proven_devices(u).await?;
            let in_group: BTreeSet<String> = members.iter().filter(|m| &m.username == u).map(|m| m.device_id.clone()).collect();
            if listed != in_group {
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
        let users: Vec<String> = users.into_iter().collect();
        let id2 = id_hex.to_owned();
        let did = self
            .commit_with_retry(id_hex, move |c, present| {
                let users = users.clone();
                let id2 = id2.clone();
                Box::pin(async move {
                    let members = c.members_of(&id2)?;
                    let mut kps = Vec::new();
                    let mut added = Vec::new();
                    let mut removed = Vec::new();
                    for u in &users {
                        let listed: BTreeSet<String> = c.lookup_user(u).await?.into_iter().collect();
                        for m in members.iter().filter(|m| &m.username == u) {
                            if !listed.contains(&m.device_id) && m.device_id != c.state.device_id {
                                removed.push(m.device_id.clone());
                            }
                        }
                        if listed.iter().any(|d| !present.contains(d)) {
                            for kp in c.claim(u, &listed).await? {
                                let d = kp.certificate.device_id.clone();
                                if !present.contains(&d) && d != c.state.device_id {
                                    added.push(d);
                                    kps.push(kp.key_package);
                                }
                            }
                        }
                    }
                    Ok(Plan { key_packages: kps, added, removed })
                })
            })
            .await?;
        if did {
            self.send_meta(id_hex).await?;
        }
        Ok(())
    }

    pub(crate) async fn send_payload(&mut self, id_hex: &str, payload: &Payload) -> Result<(), ClientError> {
        self.send_payloads(id_hex, std::slice::from_ref(payload)).await
    }

    /// Encrypts a batch, seals the state once (so no ratchet generation is ever reused
    /// after a crash), then posts each message in order. If the group moved on, the rest
    /// are encrypted again in the new epoch after catching up.
    pub(crate) async fn send_payloads(&mut self, id_hex: &str, payloads: &[Payload]) -> Result<(), ClientError> {
        const BATCH: usize = 256;
        let gid = hex::decode(id_hex).map_err(|e| ClientError::Internal(e.to_string()))?;
        let mut next = 0;
        let mut stale = 0;
        let mut stuck = 0;
        // Each payload's place in our sequence is fixed once (encrypting again after a lost
        // race reuses it) and saved with the ratchet before anything is posted.
        let mut posted = self.state.transcript.sent.get(id_hex).cloned().unwrap_or_default();
        let envelopes = self.state.transcript.seal(id_hex, payloads);
        'outer: while next < payloads.len() {
            let mut conv = self.load_conv(&gid)?;
            if !conv.is_active() {
                return Err(ClientError::Usage("you are no longer a member of this conversation".into()));
            }
            let end = (next + BATCH).min(payloads.len());
            let mut cts = Vec::with_capacity(end - next);
            let aad = self.message_aad(id_hex, &conv);
            for e in &envelopes[next..end] {
                cts.push(conv.encrypt(&self.provider, &self.device(), e, &aad)?);
            }
            self.save()?;
            let epoch_before = conv.epoch();
            for ct in cts {
                match self.post_message(&gid, ct).await {
                    Ok(()) => {
                        posted = Sent { seq: posted.seq + 1, prev: hex::encode(Sha256::digest(&envelopes[next])) };
                        if let Payload::Text { sent_at, text, .. } = &payloads[next] {
                            let item = hush_core::message::HistoryItem {
                                sender: self.state.username.clone(),
                                sent_at: *sent_at,
                                text: text.clone(),
                            };
                            self.state.remember(id_hex, item);
                        }
                        next += 1;
                    }
                    Err(e) if Refusal::of(&e).is_some() => {
                        let why = Refusal::of(&e).unwrap_or(Refusal::Stale);
                        stale += 1;
                        if stale > COMMIT_RETRIES {
                            self.unsend(id_hex, posted)?;
                            return Err(ClientError::Contended("the conversation keeps changing; try again".into()));
                        }
                        self.sync().await?;
                        if self.still_stuck(id_hex, epoch_before) {
                            stuck += 1;
                            if why == Refusal::NotMember || stuck >= 2 {
                                self.unsend(id_hex, posted)?;
                                return Err(self.stuck_error(id_hex, why));
                            }
                        }
                        continue 'outer;
                    }
                    Err(e) => {
                        if matches!(e, ClientError::Api(ApiError::Refused { .. })) {
                            self.unsend(id_hex, posted)?;
                        }
                        return Err(with_progress(e, next, payloads.len()));
                    }
                }
            }
        }
        self.save()
    }

    /// The server refused the rest of a batch: our sequence goes back to the last payload
    /// it accepted, so that nobody is told of messages that were never sent.
    pub(crate) fn unsend(&mut self, id_hex: &str, posted: Sent) -> Result<(), ClientError> {
        self.state.transcript.sent.insert(id_hex.to_owned(), posted);
        self.save()
    }

    pub(crate) async fn post_message(&mut self, gid: &[u8], message: Vec<u8>) -> Result<(), ClientError> {
        let path = format!("/v1/groups/{}/messages", hex::encode(gid));
        let _: proto::Accepted = self
            .api
            .call(Some(&self.signer()), Method::POST, &path, Some(&proto::MessageRequest { message: B64(message) }))
            .await?;
        Ok(())
    }
}

/// A post refused because a recipient device's queue is full (or the sender's quota of
/// waiting messages is used up), said with how much of the batch went out before it: the
/// messages before were delivered, none after.
fn with_progress(e: ClientError, sent: usize, total: usize) -> ClientError {
    match e {
        ClientError::Api(ApiError::Refused { status, code, message })
            if code == proto::codes::QUEUE_FULL || code == proto::codes::QUEUE_QUOTA_EXCEEDED =>
        {
            let what = if sent == 0 {
                "nothing was sent".to_owned()
            } else {
                format!("only the first {sent} of {total} messages were sent")
            };
            ClientError::Api(ApiError::Refused { status, code, message: format!("{what}, because {message}") })
        }
        other => other,
    }
}

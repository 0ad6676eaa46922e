//! A space's keys, who may write it, and reading and writing its signed state: the one
//! place rows are sealed and a state is signed ([`Client::change_space`]) and the one place
//! they are opened and checked ([`Client::load_tree`]).

use std::collections::{BTreeMap, BTreeSet};

use hush_core::files::{self, Manifest, SealedRow, Seen, SignedState, SpaceKey, StateBody, Tree, sha256_hex};
use hush_core::identity::CertificateBody;
use hush_proto::{self as proto, B64};
use reqwest::Method;

use super::{Location, file_err, usage};
use crate::error::Misbehaviour;
use crate::trust::{Decision, Policy};
use crate::{Client, ClientError};

/// The changes one write makes to a space.
#[derive(Default)]
pub(super) struct Changes {
    /// Entries added or changed.
    pub(super) put: Vec<Manifest>,
    /// Entry ids removed.
    pub(super) delete: Vec<String>,
}

impl Client {
    /// Remembers the space key of the conversation's current epoch.
    pub(crate) fn note_space_key(&mut self, id_hex: &str, conv: &hush_core::mls::Conversation) -> Result<(), ClientError> {
        if !conv.is_active() {
            return Ok(());
        }
        let (epoch, key) = conv.space_key(&self.provider)?;
        self.state.space_keys.entry(id_hex.to_owned()).or_default().insert(epoch, key);
        self.note_epoch(id_hex, conv);
        Ok(())
    }

    fn keys_for(&self, loc: &Location) -> BTreeMap<u64, SpaceKey> {
        match &loc.conversation {
            None => self.state.drive_keys.clone(),
            Some(id) => self.state.space_keys.get(id).cloned().unwrap_or_default(),
        }
    }

    /// The key new rows of the space are sealed with.
    fn write_key(&mut self, loc: &Location) -> Result<(u64, SpaceKey), ClientError> {
        match &loc.conversation {
            None => {
                if self.state.drive_keys.is_empty() {
                    self.state.drive_keys.insert(1, SpaceKey::generate());
                }
                self.state
                    .drive_keys
                    .iter()
                    .next_back()
                    .map(|(g, k)| (*g, k.clone()))
                    .ok_or_else(|| ClientError::Internal("no drive key".into()))
            }
            Some(id) => {
                let gid = hex::decode(id).map_err(|e| ClientError::Internal(e.to_string()))?;
                let conv = self.load_conv(&gid)?;
                if !conv.is_active() {
                    return Err(usage(format!("you are no longer a member of {}", loc.label.trim_end_matches(':'))));
                }
                self.note_space_key(id, &conv)?;
                Ok(conv.space_key(&self.provider)?)
            }
        }
    }

    /// Who may sign a space's state: for the drive, our own devices; for a conversation,
    /// devices of its current members. Rows may also be signed by anyone whose key we
    /// pinned (a member who has since left wrote them while a member; the state, signed
    /// by a current member, vouches that they belong).
    #[allow(clippy::type_complexity)]
    fn trust_for(
        &self,
        loc: &Location,
        own_devices: BTreeSet<String>,
    ) -> Result<(impl FnMut(&CertificateBody) -> Result<(), String> + use<>, Option<BTreeSet<(String, String)>>), ClientError> {
        let me = self.state.username.clone();
        // The one trust rule (crate::trust), with the policy that never pins: a space's
        // signer must be a user this device already holds a key for.
        let pins = self.pins();
        // The devices that may sign the state, as (username, device id). `None`: this
        // device is no longer a member and can't know the current members.
        let writers: Option<BTreeSet<(String, String)>> = match &loc.conversation {
            None => Some(own_devices.into_iter().map(|d| (me.clone(), d)).collect()),
            Some(id) if self.state.conversations.get(id).is_some_and(|m| m.active) => {
                Some(self.members_of(id)?.into_iter().map(|m| (m.username, m.device_id)).collect())
            }
            Some(_) => None,
        };
        let drive = loc.conversation.is_none();
        let check = move |cert: &CertificateBody| -> Result<(), String> {
            match pins.decide(cert, Policy::KnownOnly) {
                Decision::Pinned => {}
                Decision::Changed => return Err("a key that isn't the one pinned for that user (a key the server made?)".into()),
                Decision::Unknown | Decision::PinNow => return Err("a user this device doesn't know".into()),
            }
            if drive && cert.username != me {
                return Err("someone other than you, in your own drive".into());
            }
            Ok(())
        };
        Ok((check, writers))
    }

    /// Reads the space's rows and signed state and checks them: the chain from the
    /// version this device saw last, the keys, and who signed what.
    pub(super) async fn load_tree(&mut self, loc: &Location) -> Result<Tree, ClientError> {
        let view: proto::SpaceView = self
            .api
            .call::<(), _>(Some(&self.signer()), Method::GET, &format!("/v1/spaces/{}", loc.space), None)
            .await?;
        let rows: Vec<(String, Vec<u8>)> = view.rows.into_iter().map(|r| (r.entry_id, r.row.0)).collect();
        let keys = self.keys_for(loc);
        // For the drive: our devices as the key directory proves them now (a revoked
        // device may not sign the drive's state).
        let own_devices = if loc.conversation.is_none() {
            let me = self.state.username.clone();
            self.proven_devices(&me).await?
        } else {
            BTreeSet::new()
        };
        let (mut check, writers) = self.trust_for(loc, own_devices)?;
        let seen = self.state.spaces_seen.get(&loc.space).cloned();
        // More than one version since this device looked: the states in between, so that
        // the whole chain from the version seen last is checked.
        let mut history: Vec<Vec<u8>> = Vec::new();
        if let Some(s) = seen.as_ref().filter(|s| s.version > 0 && view.version > s.version + 1) {
            let mut after = s.version;
            while after + 1 < view.version {
                let got: proto::SpaceStates = self
                    .api
                    .call::<(), _>(Some(&self.signer()), Method::GET, &format!("/v1/spaces/{}/states?after={after}", loc.space), None)
                    .await?;
                // A server that never stops answering is cut off; the chain check then refuses.
                if got.states.is_empty() || history.len() > 200_000 {
                    break;
                }
                after += got.states.len() as u64;
                history.extend(got.states.into_iter().map(|b| b.0));
            }
        }
        // The state must come from a current writer; rows from anyone pinned.
        let mut state_checked = false;
        let mut trust = |cert: &CertificateBody| -> Result<(), String> {
            check(cert)?;
            if !state_checked {
                state_checked = true;
                if writers.as_ref().is_some_and(|w| !w.contains(&(cert.username.clone(), cert.device_id.clone()))) {
                    return Err(format!("a device ({}) that is not a current member of this space (revoked or removed?)", cert.device_id));
                }
            }
            Ok(())
        };
        let tree = files::open_space(
            &loc.space,
            view.version,
            view.state.as_ref().map(|s| s.0.as_slice()),
            &rows,
            seen.as_ref(),
            &history,
            &|id| keys.get(&id).cloned(),
            &mut trust,
        )
        .map_err(|e| match e {
            files::FileError::Forked { seen } => {
                let name = match &loc.conversation {
                    None => "your drive's".to_owned(),
                    Some(id) => {
                        let label = loc.label.trim_end_matches(':');
                        let conv = self.state.conversations.get(id).map(|m| m.name.as_str()).unwrap_or("this conversation");
                        format!("{}'s folder", if label.is_empty() { conv } else { label })
                    }
                };
                ClientError::from(Misbehaviour::Forked(format!(
                    "the server's copy of {name} history does not continue the version this device saw last (version {seen}): the server forked or rewrote it"
                )))
            }
            e => file_err(e),
        })?;
        if tree.version > 0 {
            self.state.spaces_seen.insert(loc.space.clone(), Seen { version: tree.version, hash: tree.hash.clone() });
            self.save()?;
        }
        Ok(tree)
    }

    /// Reads the space, lets `plan` decide the changes, seals and signs them, and writes
    /// them if nobody changed the space in between (otherwise reads again and re-plans).
    pub(super) async fn change_space(
        &mut self,
        loc: &Location,
        always: bool,
        mut plan: impl FnMut(&Tree) -> Result<Changes, ClientError>,
    ) -> Result<(), ClientError> {
        for _ in 0..8 {
            let tree = self.load_tree(loc).await?;
            let changes = plan(&tree)?;
            if changes.put.is_empty() && changes.delete.is_empty() && !(always && tree.version > 0) {
                return Ok(());
            }
            let (key_id, key) = self.write_key(loc)?;
            let mut entries = tree.row_hashes.clone();
            for d in &changes.delete {
                entries.remove(d);
            }
            let mut put = Vec::new();
            for m in &changes.put {
                let row = SealedRow::seal(&loc.space, m, key_id, &key, &self.device_key, &self.certificate).map_err(file_err)?;
                entries.insert(m.entry_id.clone(), sha256_hex(&row));
                put.push(proto::SpaceRow { entry_id: m.entry_id.clone(), blobs: m.blob_ids(), row: B64(row) });
            }
            let body = StateBody {
                space: loc.space.clone(),
                version: tree.version + 1,
                previous: tree.hash.clone(),
                entries,
                written_at: hush_core::now_ms(),
            };
            let state = SignedState::sign(&body, &self.device_key, &self.certificate).map_err(file_err)?;
            let hash = sha256_hex(&state);
            let req = proto::SpaceUpdate { expected_version: tree.version, state: B64(state), put, delete: changes.delete };
            let path = format!("/v1/spaces/{}", loc.space);
            match self.api.call::<_, proto::SpaceVersion>(Some(&self.signer()), Method::POST, &path, Some(&req)).await {
                Ok(_) => {
                    self.state.spaces_seen.insert(loc.space.clone(), Seen { version: body.version, hash });
                    return self.save();
                }
                Err(e) if e.code() == Some(proto::codes::CONFLICT) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ClientError::Contended("the space keeps changing; try again".into()))
    }

    /// Signs the drive's state with this device (before another device is revoked).
    pub(crate) async fn resign_drive(&mut self) {
        let loc = Location { space: format!("drive:{}", self.state.username), conversation: None, path: String::new(), label: String::new() };
        if let Err(e) = self.change_space(&loc, true, |_| Ok(Changes::default())).await {
            self.warn("", format!("could not sign your drive's state before the revocation: {e}"));
            let _ = self.save();
        }
    }

    /// Signs the conversation space's state with this device (before members are
    /// removed), so that it never rests on a removed member's signature.
    pub(crate) async fn resign_space(&mut self, id_hex: &str) -> Result<(), ClientError> {
        let loc = Location { space: format!("conv:{id_hex}"), conversation: Some(id_hex.to_owned()), path: String::new(), label: String::new() };
        // A space nobody wrote to has nothing to sign; an unreadable one is reported
        // when someone opens it.
        // The removal itself already succeeded: a failure here is reported, not fatal.
        match self.change_space(&loc, true, |_| Ok(Changes::default())).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.warn(id_hex, format!("could not re-sign this conversation's files after the removal: {e}"));
                self.save()
            }
        }
    }
}

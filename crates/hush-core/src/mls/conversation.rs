//! A conversation: one MLS group, with commits staged until their new leaves are checked.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use zeroize::Zeroizing;

use crate::identity::CertificateBody;

use super::credential::verify_leaf;
use super::provider::{Device, HushProvider};
use super::{MlsError, encode, group_create_config, internal, refused};

/// A member as the group's ratchet tree shows it, with its certificate checked.
#[derive(Debug, Clone)]
pub struct Member {
    /// Leaf index.
    pub index: u32,
    /// The certificate, if it verified (a group only ever admits verified leaves, so an
    /// error here means local state is damaged).
    pub certificate: Result<CertificateBody, String>,
}

/// A conversation: one MLS group.
pub struct Conversation {
    pub(super) group: MlsGroup,
}

/// What a commit produced for the server.
pub struct Outgoing {
    /// The commit.
    pub commit: Vec<u8>,
    /// The Welcome for added devices, if any.
    pub welcome: Option<Vec<u8>>,
    /// Every device the commit removes: those asked for and those whose leave proposals
    /// it carries out (the server needs them for routing).
    pub removed_devices: Vec<String>,
}

/// A message processed but not yet acted on.
pub enum Incoming {
    /// A decrypted application message from a verified member.
    Application {
        /// The sender's certificate.
        sender: CertificateBody,
        /// The plaintext.
        plaintext: Zeroizing<Vec<u8>>,
        /// The authenticated additional data the sender attached (not secret).
        aad: Vec<u8>,
    },
    /// A member proposes to leave; stored, to be committed by whoever commits next.
    LeaveProposal {
        /// Who leaves.
        sender: CertificateBody,
    },
    /// A commit, staged; check [`PendingCommit`] and then [`Conversation::merge`] it.
    Commit(Box<PendingCommit>),
}

/// A staged commit with the certificates the caller must check before merging.
pub struct PendingCommit {
    staged: StagedCommit,
    /// Who made the commit.
    pub committer: CertificateBody,
    /// The leaves the commit adds (or updates), with their certificates verified.
    pub new_leaves: Vec<CertificateBody>,
    /// The members the commit removes.
    pub removed: Vec<CertificateBody>,
    /// Whether this device is removed by it.
    pub removes_me: bool,
    /// The epoch the group will be in after merging.
    pub new_epoch: u64,
}

impl Conversation {
    /// A new group with this device as its only member.
    pub fn create(provider: &HushProvider, device: &Device<'_>) -> Result<Self, MlsError> {
        Self::create_with_id(provider, device, &rand::random::<[u8; 16]>())
    }

    /// A new group with a chosen id (tests use it to play a server forging a group).
    pub fn create_with_id(provider: &HushProvider, device: &Device<'_>, id: &[u8]) -> Result<Self, MlsError> {
        let group_id = GroupId::from_slice(id);
        let group = MlsGroup::new_with_group_id(
            provider,
            device.key,
            &group_create_config(),
            group_id,
            device.credential_with_key(),
        )
        .map_err(internal)?;
        Ok(Conversation { group })
    }

    /// Loads a group from the provider's storage.
    pub fn load(provider: &HushProvider, group_id: &[u8]) -> Result<Option<Self>, MlsError> {
        Ok(MlsGroup::load(provider.storage(), &GroupId::from_slice(group_id))
            .map_err(internal)?
            .map(|group| Conversation { group }))
    }

    /// The group id.
    pub fn id(&self) -> Vec<u8> {
        self.group.group_id().as_slice().to_vec()
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.group.epoch().as_u64()
    }

    /// The conversation's file-space key for the current epoch: an MLS exporter secret
    /// (RFC 9420 §8.5), so every commit (an add, a removal) gives a new one that only the
    /// members of that epoch can derive.
    pub fn space_key(&self, provider: &HushProvider) -> Result<(u64, crate::files::SpaceKey), MlsError> {
        let secret = Zeroizing::new(
            self.group
                .export_secret(provider.crypto(), "hush space key v1", &[], 32)
                .map_err(|e| MlsError::Internal(e.to_string()))?,
        );
        let key = crate::files::SpaceKey::from_slice(&secret).ok_or_else(|| MlsError::Internal("exporter length".into()))?;
        Ok((self.epoch(), key))
    }

    /// The current epoch's authenticator (RFC 9420 §8.7): equal for every member in the
    /// same epoch of the same group, different on another branch of a forked group.
    pub fn epoch_authenticator(&self) -> Vec<u8> {
        self.group.epoch_authenticator().as_slice().to_vec()
    }

    /// Whether this device is still a member.
    pub fn is_active(&self) -> bool {
        self.group.is_active()
    }

    /// Current members with their certificates.
    pub fn members(&self) -> Vec<Member> {
        self.group
            .members()
            .map(|m| Member {
                index: m.index.u32(),
                certificate: verify_leaf(&m.credential, &m.signature_key).map_err(|e| e.to_string()),
            })
            .collect()
    }

    /// Encrypts an application message for the group. `aad` is authenticated, not secret.
    pub fn encrypt(
        &mut self,
        provider: &HushProvider,
        device: &Device<'_>,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, MlsError> {
        self.group.set_aad(aad.to_vec());
        let out = self
            .group
            .create_message(provider, device.key, plaintext)
            .map_err(refused)?;
        encode(out)
    }

    /// Stages a commit that adds these KeyPackages and removes these devices. The commit
    /// stays pending until [`Conversation::confirm_commit`] (the server accepted it) or
    /// [`Conversation::abandon_commit`] (it lost the race for the epoch).
    pub fn change_members(
        &mut self,
        provider: &HushProvider,
        device: &Device<'_>,
        add: Vec<KeyPackage>,
        remove_device_ids: &[String],
    ) -> Result<Outgoing, MlsError> {
        let mut remove = Vec::new();
        let mut removed_devices = remove_device_ids.to_vec();
        let members = self.members();
        for p in self.group.pending_proposals() {
            if let Proposal::Remove(r) = p.proposal()
                && let Some(Ok(cert)) = members.iter().find(|m| m.index == r.removed().u32()).map(|m| m.certificate.clone())
                && !removed_devices.contains(&cert.device_id)
            {
                removed_devices.push(cert.device_id);
            }
        }
        for id in remove_device_ids {
            let idx = self
                .members()
                .into_iter()
                .find(|m| m.certificate.as_ref().is_ok_and(|c| &c.device_id == id))
                .map(|m| LeafNodeIndex::new(m.index))
                .ok_or_else(|| MlsError::NotMember(id.clone()))?;
            remove.push(idx);
        }
        let bundle = self
            .group
            .commit_builder()
            .consume_proposal_store(true)
            .propose_adds(add)
            .propose_removals(remove)
            .load_psks(provider.storage())
            .map_err(internal)?
            .build(provider.rand(), provider.crypto(), device.key, |_| true)
            .map_err(refused)?
            .stage_commit(provider)
            .map_err(refused)?;
        let welcome = bundle.to_welcome_msg().map(encode).transpose()?;
        let commit = encode(bundle.into_commit())?;
        Ok(Outgoing { commit, welcome, removed_devices })
    }

    /// Sets the authenticated data (not secret) of the next commit this device makes, as
    /// [`Conversation::encrypt`] does for an application message.
    pub fn set_aad(&mut self, aad: &[u8]) {
        self.group.set_aad(aad.to_vec());
    }

    /// Whether proposals (a member's leave) wait for a commit.
    pub fn has_pending_proposals(&self) -> bool {
        self.group.has_pending_proposals()
    }

    /// The server accepted our pending commit: move to the new epoch.
    pub fn confirm_commit(&mut self, provider: &HushProvider) -> Result<(), MlsError> {
        self.group.merge_pending_commit(provider).map_err(internal)
    }

    /// Another commit won the epoch: drop ours.
    pub fn abandon_commit(&mut self, provider: &HushProvider) -> Result<(), MlsError> {
        self.group.clear_pending_commit(provider.storage()).map_err(internal)
    }

    /// A proposal that removes this device, for another member to commit.
    pub fn leave(&mut self, provider: &HushProvider, device: &Device<'_>) -> Result<Vec<u8>, MlsError> {
        encode(self.group.leave_group(provider, device.key).map_err(refused)?)
    }

    /// Decrypts and verifies one message from the server. Commits come back staged.
    pub fn process(&mut self, provider: &HushProvider, bytes: &[u8]) -> Result<Incoming, MlsError> {
        let msg = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| MlsError::Malformed(e.to_string()))?;
        let pm = msg
            .try_into_protocol_message()
            .map_err(|_| MlsError::Malformed("not a group message".into()))?;
        // Sender's leaf before processing (a committer may replace its own leaf).
        let members: Vec<_> = self.group.members().collect();
        let processed = self.group.process_message(provider, pm).map_err(|e| {
            use openmls::framing::errors::{MessageDecryptionError, SecretTreeError};
            use openmls::prelude::{ProcessMessageError, ValidationError};
            match e {
                ProcessMessageError::ValidationError(ValidationError::UnableToDecrypt(
                    MessageDecryptionError::SecretTreeError(SecretTreeError::SecretReuseError),
                )) => MlsError::KeyReused,
                e => refused(e),
            }
        })?;
        let sender_cert = match processed.sender() {
            Sender::Member(idx) => {
                let m = members
                    .iter()
                    .find(|m| m.index == *idx)
                    .ok_or_else(|| MlsError::Refused("sender is not a member".into()))?;
                verify_leaf(&m.credential, &m.signature_key)?
            }
            _ => return Err(MlsError::Refused("hush accepts messages from members only".into())),
        };
        let aad = processed.aad().to_vec();
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(app) => Ok(Incoming::Application {
                sender: sender_cert,
                plaintext: Zeroizing::new(app.into_bytes()),
                aad,
            }),
            ProcessedMessageContent::ProposalMessage(queued) => {
                let self_remove = match queued.proposal() {
                    Proposal::Remove(r) => queued.sender() == &Sender::Member(r.removed()),
                    _ => false,
                };
                if !self_remove {
                    return Err(MlsError::Refused(
                        "a member proposed a change other than leaving; hush members commit changes directly".into(),
                    ));
                }
                self.group
                    .store_pending_proposal(provider.storage(), *queued)
                    .map_err(internal)?;
                Ok(Incoming::LeaveProposal { sender: sender_cert })
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                let mut new_leaves = Vec::new();
                if let Some(leaf) = staged.update_path_leaf_node() {
                    new_leaves.push(verify_leaf(leaf.credential(), leaf.signature_key().as_slice())?);
                }
                for add in staged.add_proposals() {
                    let leaf = add.add_proposal().key_package().leaf_node();
                    new_leaves.push(verify_leaf(leaf.credential(), leaf.signature_key().as_slice())?);
                }
                for update in staged.update_proposals() {
                    let leaf = update.update_proposal().leaf_node();
                    new_leaves.push(verify_leaf(leaf.credential(), leaf.signature_key().as_slice())?);
                }
                let mut removed = Vec::new();
                for r in staged.remove_proposals() {
                    let idx = r.remove_proposal().removed();
                    if let Some(m) = members.iter().find(|m| m.index == idx) {
                        removed.push(verify_leaf(&m.credential, &m.signature_key)?);
                    }
                }
                // An update path may not change who the committer is.
                if let Some(first) = new_leaves.first()
                    && staged.update_path_leaf_node().is_some()
                    && (first.username != sender_cert.username || first.identity_key != sender_cert.identity_key)
                {
                    return Err(MlsError::Credential("a commit changed its author's identity".into()));
                }
                Ok(Incoming::Commit(Box::new(PendingCommit {
                    removes_me: staged.self_removed(),
                    new_epoch: staged.epoch().as_u64(),
                    staged: *staged,
                    committer: sender_cert,
                    new_leaves,
                    removed,
                })))
            }
            // Our own commits are merged when the server accepts them and are never echoed;
            // external joins are not part of hush.
            _ => Err(MlsError::Refused("unexpected message kind for this conversation".into())),
        }
    }

    /// Merges a commit whose committer and new leaves the caller's trust rule accepted
    /// ([`PendingCommit::trust`]): an unchecked commit can't reach this.
    pub fn merge(&mut self, provider: &HushProvider, commit: TrustedCommit) -> Result<(), MlsError> {
        self.group
            .merge_staged_commit(provider, commit.0.staged)
            .map_err(internal)
    }

    /// Forgets the group's state (after leaving or being removed).
    pub fn delete(mut self, provider: &HushProvider) -> Result<(), MlsError> {
        self.group.delete(provider.storage()).map_err(internal)
    }
}

/// Whose certificate the trust rule is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The member who made the commit, or who sent the Welcome.
    Author,
    /// A leaf the commit adds or updates, or a member listed in the Welcome.
    Member,
}

impl PendingCommit {
    /// Asks the caller's trust rule about the committer and every leaf the commit adds or
    /// updates (each certificate is already verified against its own identity key; the
    /// rule decides whether that identity key is the user's). Only what passes can be
    /// merged.
    pub fn trust<E>(self, mut rule: impl FnMut(&CertificateBody, Role) -> Result<(), E>) -> Result<TrustedCommit, E> {
        rule(&self.committer, Role::Author)?;
        for leaf in &self.new_leaves {
            rule(leaf, Role::Member)?;
        }
        Ok(TrustedCommit(self))
    }
}

/// A commit the trust rule accepted: the only kind [`Conversation::merge`] takes.
pub struct TrustedCommit(PendingCommit);

impl std::ops::Deref for TrustedCommit {
    type Target = PendingCommit;
    fn deref(&self) -> &PendingCommit {
        &self.0
    }
}

//! hush's use of MLS (RFC 9420) through OpenMLS.
//!
//! Every conversation is an MLS group whose members are devices. hush adds what OpenMLS
//! leaves to the application:
//!
//! - **Credentials.** Each leaf's credential is a `BasicCredential` whose identity is the
//!   device's encoded [`DeviceCertificate`]. [`verify_leaf`] checks that the certificate is
//!   signed by the identity key it names and that the leaf's signature key is the
//!   certified device key. The caller then checks that identity key against the one it
//!   trusts for that user (pinned, verified, or proven by key transparency).
//! - **Phases.** A commit from the server comes back from [`Conversation::process`] as an
//!   [`Incoming::Commit`] holding the staged commit and the certificates of every leaf it
//!   adds or updates. Nothing is merged until the caller has checked them and calls
//!   [`Conversation::merge`]; a Welcome is likewise a [`PendingJoin`] until
//!   [`PendingJoin::accept`].
//! - **Server's view.** [`inspect`] reads only the public framing of a message (group id,
//!   epoch, content type) — all the delivery service needs to order handshake messages.

use std::collections::HashMap;
use std::sync::RwLock;

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_libcrux_crypto::CryptoProvider;
use openmls_memory_storage::MemoryStorage;
use openmls_traits::signatures::{Signer, SignerError};
use zeroize::Zeroizing;

pub use openmls::prelude::KeyPackage;

use crate::identity::{CertificateBody, DeviceCertificate, PublicKey, SecretKey};

/// The ciphersuite of every hush group: X25519 DHKEM, AES-128-GCM, SHA-256, Ed25519.
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// How many past epochs a member keeps secrets for, so that an application message sent
/// just before a commit still decrypts after it.
const MAX_PAST_EPOCHS: usize = 3;

/// Errors from MLS processing, as one sentence each.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MlsError {
    /// Bytes that are not a well-formed MLS message of the expected kind.
    #[error("malformed MLS message: {0}")]
    Malformed(String),
    /// A leaf's credential is not a valid hush device certificate for its signature key.
    #[error("a member's credential is not valid: {0}")]
    Credential(String),
    /// OpenMLS refused the message (bad signature, wrong epoch, failed decryption, replay).
    #[error("{0}")]
    Refused(String),
    /// A local failure (storage, randomness) that is not the peer's fault.
    #[error("internal MLS error: {0}")]
    Internal(String),
    /// The requested device is not in the group.
    #[error("device {0} is not a member of this conversation")]
    NotMember(String),
    /// A message used a key of its sender's ratchet that an earlier message already used:
    /// two different messages were made with one device's state (a copied device, or an
    /// old message the server re-sent with altered framing).
    #[error("a message reused the keys of a message already received")]
    KeyReused,
}

fn internal(e: impl std::fmt::Display) -> MlsError {
    MlsError::Internal(e.to_string())
}
fn refused(e: impl std::fmt::Display) -> MlsError {
    MlsError::Refused(e.to_string())
}

/// OpenMLS provider: libcrux crypto and an in-memory store that the client seals to disk.
pub struct HushProvider {
    crypto: CryptoProvider,
    storage: MemoryStorage,
}

impl HushProvider {
    /// A provider with empty storage.
    pub fn new() -> Result<Self, MlsError> {
        Ok(HushProvider {
            crypto: CryptoProvider::new().map_err(|e| internal(format!("{e:?}")))?,
            storage: MemoryStorage::default(),
        })
    }

    /// The whole MLS state (group secrets included) as bytes, to be sealed by the caller.
    pub fn export_state(&self) -> Result<Zeroizing<Vec<u8>>, MlsError> {
        let values = self.storage.values.read().map_err(internal)?;
        let mut out = Zeroizing::new(Vec::new());
        out.extend_from_slice(&(values.len() as u64).to_be_bytes());
        // Sorted so that the same state always gives the same bytes.
        let mut keys: Vec<&Vec<u8>> = values.keys().collect();
        keys.sort();
        for k in keys {
            let v = &values[k];
            out.extend_from_slice(&(k.len() as u64).to_be_bytes());
            out.extend_from_slice(&(v.len() as u64).to_be_bytes());
            out.extend_from_slice(k);
            out.extend_from_slice(v);
        }
        Ok(out)
    }

    /// Restores a provider from [`HushProvider::export_state`] output.
    pub fn import_state(bytes: &[u8]) -> Result<Self, MlsError> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], MlsError> {
            if b.len() < n {
                return Err(MlsError::Internal("truncated MLS state".into()));
            }
            let (head, tail) = b.split_at(n);
            *b = tail;
            Ok(head)
        }
        fn take_u64(b: &mut &[u8]) -> Result<usize, MlsError> {
            let raw: [u8; 8] = take(b, 8)?.try_into().map_err(internal)?;
            usize::try_from(u64::from_be_bytes(raw)).map_err(internal)
        }
        let mut b = bytes;
        let count = take_u64(&mut b)?;
        let mut map = HashMap::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let kl = take_u64(&mut b)?;
            let vl = take_u64(&mut b)?;
            let k = take(&mut b, kl)?.to_vec();
            let v = take(&mut b, vl)?.to_vec();
            map.insert(k, v);
        }
        if !b.is_empty() {
            return Err(MlsError::Internal("trailing bytes in MLS state".into()));
        }
        Ok(HushProvider {
            crypto: CryptoProvider::new().map_err(|e| internal(format!("{e:?}")))?,
            storage: MemoryStorage {
                values: RwLock::new(map),
            },
        })
    }
}

impl OpenMlsProvider for HushProvider {
    type CryptoProvider = CryptoProvider;
    type RandProvider = CryptoProvider;
    type StorageProvider = MemoryStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }
    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }
    fn rand(&self) -> &Self::RandProvider {
        &self.crypto
    }
}

/// The device key signs MLS messages directly.
impl Signer for SecretKey {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(SecretKey::sign(self, payload).to_vec())
    }
    fn signature_scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

/// A device as MLS sees it: its signing key and certificate.
pub struct Device<'a> {
    /// The device key.
    pub key: &'a SecretKey,
    /// Its certificate.
    pub certificate: &'a DeviceCertificate,
}

impl Device<'_> {
    fn credential_with_key(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(self.certificate.encode()).into(),
            signature_key: self.key.public().0.to_vec().into(),
        }
    }
}

/// Checks one leaf: its credential must be a hush device certificate, validly signed by
/// the identity key it names, for exactly this leaf's signature key. Returns what the
/// certificate says; the caller checks the identity key against the user's trusted key.
pub fn verify_leaf(credential: &Credential, signature_key: &[u8]) -> Result<CertificateBody, MlsError> {
    let basic = BasicCredential::try_from(credential.clone())
        .map_err(|_| MlsError::Credential("not a basic credential".into()))?;
    let cert = DeviceCertificate::decode_and_verify(basic.identity())
        .map_err(|e| MlsError::Credential(e.to_string()))?;
    let leaf_key =
        PublicKey::from_slice(signature_key).map_err(|e| MlsError::Credential(e.to_string()))?;
    if !leaf_key.ct_eq(&cert.body().device_key) {
        return Err(MlsError::Credential(format!(
            "the leaf's signature key is not the key certified for {}'s device {}",
            cert.body().username,
            cert.body().device_id
        )));
    }
    Ok(cert.body().clone())
}

/// Makes `count` single-use KeyPackages and one last-resort KeyPackage, each encoded for
/// the wire. Their private keys stay in the provider.
pub fn key_packages(
    provider: &HushProvider,
    device: &Device<'_>,
    count: usize,
) -> Result<(Vec<Vec<u8>>, Vec<u8>), MlsError> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(capabilities())
            .build(CIPHERSUITE, provider, device.key, device.credential_with_key())
            .map_err(internal)?;
        out.push(encode(MlsMessageOut::from(bundle.key_package().clone()))?);
    }
    let last = KeyPackage::builder()
        .leaf_node_capabilities(capabilities())
        .mark_as_last_resort()
        .build(CIPHERSUITE, provider, device.key, device.credential_with_key())
        .map_err(internal)?;
    Ok((out, encode(MlsMessageOut::from(last.key_package().clone()))?))
}

fn encode(m: MlsMessageOut) -> Result<Vec<u8>, MlsError> {
    m.to_bytes().map_err(internal)
}

/// A KeyPackage whose signature and credential have been checked.
pub struct CheckedKeyPackage {
    /// The KeyPackage, ready to add.
    pub key_package: KeyPackage,
    /// What its certificate says (identity key not yet checked against trust).
    pub certificate: CertificateBody,
}

/// Parses a wire KeyPackage, checks its signature, lifetime, ciphersuite and credential.
pub fn check_key_package(bytes: &[u8]) -> Result<CheckedKeyPackage, MlsError> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| MlsError::Malformed(e.to_string()))?;
    let MlsMessageBodyIn::KeyPackage(kp_in) = msg.extract() else {
        return Err(MlsError::Malformed("not a KeyPackage".into()));
    };
    let crypto = CryptoProvider::new().map_err(|e| internal(format!("{e:?}")))?;
    let key_package = kp_in
        .validate(&crypto, ProtocolVersion::Mls10)
        .map_err(|e| MlsError::Credential(format!("KeyPackage does not verify: {e}")))?;
    if key_package.ciphersuite() != CIPHERSUITE {
        return Err(MlsError::Malformed("KeyPackage uses another ciphersuite".into()));
    }
    let leaf = key_package.leaf_node();
    let certificate = verify_leaf(leaf.credential(), leaf.signature_key().as_slice())?;
    Ok(CheckedKeyPackage {
        key_package,
        certificate,
    })
}

/// What a message's public framing says: all the server reads of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireInfo {
    /// The group the message is for.
    pub group_id: Vec<u8>,
    /// The epoch it was made in.
    pub epoch: u64,
    /// Its kind.
    pub kind: WireKind,
}

/// Kinds of group messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireKind {
    /// An application message.
    Application,
    /// A proposal.
    Proposal,
    /// A commit.
    Commit,
}

/// The authenticated data of an encrypted group message, read without decrypting it (so
/// not yet verified: only for explaining why a message could not be read).
pub fn peek_aad(bytes: &[u8]) -> Option<Vec<u8>> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).ok()?;
    match msg.try_into_protocol_message().ok()? {
        ProtocolMessage::PrivateMessage(p) => Some(p.aad().to_vec()),
        ProtocolMessage::PublicMessage(_) => None,
    }
}

/// Reads the public framing of a group message (public or private).
pub fn inspect(bytes: &[u8]) -> Result<WireInfo, MlsError> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| MlsError::Malformed(e.to_string()))?;
    let pm = msg
        .try_into_protocol_message()
        .map_err(|_| MlsError::Malformed("not a group message".into()))?;
    let kind = match pm.content_type() {
        ContentType::Application => WireKind::Application,
        ContentType::Proposal => WireKind::Proposal,
        ContentType::Commit => WireKind::Commit,
    };
    Ok(WireInfo {
        group_id: pm.group_id().as_slice().to_vec(),
        epoch: pm.epoch().as_u64(),
        kind,
    })
}

/// Checks that bytes are a Welcome message.
pub fn inspect_welcome(bytes: &[u8]) -> Result<(), MlsError> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| MlsError::Malformed(e.to_string()))?;
    match msg.extract() {
        MlsMessageBodyIn::Welcome(_) => Ok(()),
        _ => Err(MlsError::Malformed("not a Welcome".into())),
    }
}

/// Leaf capabilities: the defaults plus the last-resort KeyPackage extension.
fn capabilities() -> Capabilities {
    Capabilities::builder().extensions(vec![ExtensionType::LastResort]).build()
}

fn group_create_config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .capabilities(capabilities())
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

fn group_join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

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
    group: MlsGroup,
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

    /// Merges a commit whose certificates the caller has accepted.
    pub fn merge(&mut self, provider: &HushProvider, pending: PendingCommit) -> Result<(), MlsError> {
        self.group
            .merge_staged_commit(provider, pending.staged)
            .map_err(internal)
    }

    /// Forgets the group's state (after leaving or being removed).
    pub fn delete(mut self, provider: &HushProvider) -> Result<(), MlsError> {
        self.group.delete(provider.storage()).map_err(internal)
    }
}

/// A Welcome processed but not yet joined: check [`PendingJoin::members`] first.
pub struct PendingJoin {
    staged: StagedWelcome,
    /// Every member of the group with its verified certificate.
    pub members: Vec<CertificateBody>,
    /// Who sent the Welcome.
    pub inviter: CertificateBody,
    /// Whether this device already holds a group with this id (it is being added back).
    pub replaces_existing: bool,
}

impl PendingJoin {
    /// Processes a Welcome for one of our KeyPackages; verifies every leaf's certificate.
    pub fn new(provider: &HushProvider, welcome: &[u8]) -> Result<Self, MlsError> {
        let msg = MlsMessageIn::tls_deserialize_exact(welcome).map_err(|e| MlsError::Malformed(e.to_string()))?;
        let MlsMessageBodyIn::Welcome(w) = msg.extract() else {
            return Err(MlsError::Malformed("not a Welcome".into()));
        };
        // A Welcome for a group this device still holds (it was removed and is added back,
        // or its removal never reached it) replaces the old state; the caller learns which
        // from `replaces_existing` before accepting.
        let builder = StagedWelcome::build_from_welcome(provider, &group_join_config(), w).map_err(refused)?;
        let group_id = builder.processed_welcome().unverified_group_info().group_id().clone();
        let replaces_existing = MlsGroup::load(provider.storage(), &group_id).map_err(internal)?.is_some();
        let staged = builder.replace_old_group().build().map_err(refused)?;
        let mut members = Vec::new();
        for m in staged.members() {
            members.push(verify_leaf(&m.credential, &m.signature_key)?);
        }
        let sender = staged.welcome_sender().map_err(internal)?;
        let inviter = verify_leaf(sender.credential(), sender.signature_key().as_slice())?;
        Ok(PendingJoin {
            staged,
            members,
            inviter,
            replaces_existing,
        })
    }

    /// The group id.
    pub fn group_id(&self) -> Vec<u8> {
        self.staged.group_context().group_id().as_slice().to_vec()
    }

    /// Joins the group, replacing any state this device held for the same group id.
    pub fn accept(self, provider: &HushProvider) -> Result<Conversation, MlsError> {
        if self.replaces_existing
            && let Some(mut old) = MlsGroup::load(provider.storage(), self.staged.group_context().group_id()).map_err(internal)?
        {
            old.delete(provider.storage()).map_err(internal)?;
        }
        Ok(Conversation {
            group: self.staged.into_group(provider).map_err(internal)?,
        })
    }
}

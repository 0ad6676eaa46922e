//! Recovery, the client's side: the account backup kept current on the server (sealed
//! with the recovery phrase's backup key), restoring an account on a new device from the
//! phrase, revoking devices, and changing the passphrase.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
use hush_core::mls::HushProvider;
use hush_core::recovery::{RecoveryPhrase, open_backup, seal_backup};
use hush_core::sealed::SealKey;
use hush_proto::{self as proto, B64};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::api::{Api, Signer};
use crate::state::{Contact, Home, SecretBytes, State};
use crate::error::Misbehaviour;
use crate::{Client, ClientError};
pub use crate::state::{GuardianState, RecoveryState};

/// What the backup holds: enough to become the user again on a new device.
#[derive(Serialize, Deserialize)]
struct BackupBundle {
    username: String,
    identity_secret: SecretBytes,
    contacts: BTreeMap<String, Contact>,
    acknowledged: BTreeSet<String>,
    #[serde(default)]
    drive_keys: BTreeMap<u64, hush_core::files::SpaceKey>,
    #[serde(default)]
    space_keys: BTreeMap<String, BTreeMap<u64, hush_core::files::SpaceKey>>,
    /// Certificates of the account's devices, revoked ones included (with `acknowledged`,
    /// the account's accepted directory history).
    #[serde(default)]
    own_certs: BTreeMap<String, Vec<u8>>,
}

/// Pads a backup's JSON with trailing spaces (which JSON ignores) to a size bucket, so that
/// the sealed backup's size, which the server sees, doesn't follow every contact and
/// conversation: the next power of two from 4 KiB, then whole multiples of 64 KiB.
fn pad_backup(plain: &mut Zeroizing<Vec<u8>>) {
    const STEP: usize = 64 * 1024;
    let n = plain.len();
    let target = if n <= STEP { n.max(4096).next_power_of_two() } else { n.div_ceil(STEP) * STEP };
    // Reserve first so that no unzeroized copy of the plaintext is left behind by a regrow.
    let mut padded = Zeroizing::new(Vec::with_capacity(target));
    padded.extend_from_slice(plain);
    padded.resize(target, b' ');
    *plain = padded;
}

fn err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Internal(e.to_string())
}

impl Client {
    /// Makes the recovery phrase for a new account and keeps its keys (not the words).
    pub(crate) fn setup_recovery(&mut self) -> RecoveryPhrase {
        let phrase = RecoveryPhrase::generate();
        let keys = phrase.keys();
        self.state.recovery = Some(RecoveryState {
            backup_key: SecretBytes(Zeroizing::new(keys.backup_key.to_vec())),
            auth_secret: SecretBytes(Zeroizing::new(keys.auth_key.to_bytes().to_vec())),
            version: 0,
            uploaded_hash: String::new(),
        });
        phrase
    }

    fn backup_plaintext(&self) -> Result<(Zeroizing<Vec<u8>>, String), ClientError> {
        let bundle = BackupBundle {
            username: self.state.username.clone(),
            identity_secret: self.state.identity_secret.clone(),
            contacts: self.state.contacts.clone(),
            acknowledged: self.state.kt.acknowledged.clone(),
            drive_keys: self.state.drive_keys.clone(),
            space_keys: self.state.space_keys.clone(),
            own_certs: self.state.kt.own_certs.clone(),
        };
        let mut plain = Zeroizing::new(serde_json::to_vec(&bundle).map_err(err)?);
        pad_backup(&mut plain);
        let hash = hex::encode(Sha256::digest(plain.as_slice()));
        Ok((plain, hash))
    }

    /// Uploads a new version of each backup (phrase, guardians) whose content changed.
    pub(crate) async fn backup_if_changed(&mut self) -> Result<(), ClientError> {
        self.guardian_backup_if_changed().await?;
        let Some(rs) = self.state.recovery.clone() else {
            return Ok(());
        };
        let (plain, hash) = self.backup_plaintext()?;
        if hash == rs.uploaded_hash {
            return Ok(());
        }
        let key: [u8; 32] = rs.backup_key.0.as_slice().try_into().map_err(err)?;
        let auth = SecretKey::from_bytes(&rs.auth_secret.0).map_err(err)?;
        let mut version = rs.version + 1;
        for _ in 0..3 {
            let upload = proto::BackupUpload {
                auth_key: B64(auth.public().0.to_vec()),
                version,
                blob: B64(seal_backup(&key, &self.state.username, version, &plain)),
            };
            match self.api.call_empty(Some(&self.signer()), Method::PUT, "/v1/backup", Some(&upload)).await {
                Ok(()) => {
                    if let Some(r) = self.state.recovery.as_mut() {
                        r.version = version;
                        r.uploaded_hash = hash;
                    }
                    return self.save();
                }
                // Another device of ours uploaded a newer one: go past it.
                Err(e) if e.code() == Some(proto::codes::CONFLICT) => {
                    let current = fetch_backup(&self.api, &self.state.username, &auth).await?;
                    version = current.version + 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ClientError::Contended("the backup keeps changing on the server; try again".into()))
    }

    async fn guardian_backup_if_changed(&mut self) -> Result<(), ClientError> {
        let Some(gs) = self.state.guardians.clone() else {
            return Ok(());
        };
        let (plain, hash) = self.backup_plaintext()?;
        if hash == gs.uploaded_hash {
            return Ok(());
        }
        let secret: [u8; 32] = gs.secret.0.as_slice().try_into().map_err(err)?;
        let keys = hush_core::guardians::keys(&secret);
        let version = gs.version + 1;
        let upload = proto::BackupUpload {
            auth_key: B64(keys.auth_key.public().0.to_vec()),
            version,
            blob: B64(seal_backup(&keys.backup_key, &self.state.username, version, &plain)),
        };
        self.api
            .call_empty(Some(&self.signer()), Method::PUT, "/v1/backup/guardians", Some(&upload))
            .await?;
        if let Some(g) = self.state.guardians.as_mut() {
            g.version = version;
            g.uploaded_hash = hash;
        }
        self.save()
    }

    /// Names guardians: a new guardian secret, split so that `threshold` of them rebuild
    /// it; the backup it unlocks is stored first, then each guardian gets their share
    /// end-to-end encrypted. Shares of earlier guardians stop working.
    pub async fn set_guardians(&mut self, guardians: &[String], threshold: usize) -> Result<(), ClientError> {
        let mut unique: Vec<String> = Vec::new();
        for g in guardians {
            if g == &self.state.username {
                return Err(ClientError::Usage("you can't be your own guardian".into()));
            }
            if !unique.contains(g) {
                unique.push(g.clone());
            }
        }
        self.sync().await?;
        for g in &unique {
            self.lookup_user(g).await?;
            self.ensure_sendable(g)?;
        }
        let (secret, shares) = hush_core::guardians::split(&self.state.username, threshold, unique.len())
            .map_err(|e| ClientError::Usage(e.to_string()))?;
        let previous_version = self.state.guardians.as_ref().map(|g| g.version).unwrap_or(0);
        self.state.guardians = Some(GuardianState {
            secret: SecretBytes(Zeroizing::new(secret.to_vec())),
            guardians: unique.clone(),
            threshold: u8::try_from(threshold).unwrap_or(u8::MAX),
            version: previous_version,
            uploaded_hash: String::new(),
        });
        self.save()?;
        self.guardian_backup_if_changed().await?;
        for (g, share) in unique.iter().zip(shares) {
            let payload = hush_core::message::Payload::GuardianShare { id: hush_core::message::new_id(), share };
            self.send_to(g, std::slice::from_ref(&payload)).await?;
        }
        self.save()
    }

    /// As a guardian: hands our share of `owner`'s account to the recovery request whose
    /// code `owner` read out to us.
    pub async fn approve_guardian(&mut self, owner: &str, typed_code: &str) -> Result<(), ClientError> {
        self.sync().await?;
        let share = self
            .state
            .held_shares
            .get(owner)
            .cloned()
            .ok_or_else(|| ClientError::Usage(format!("you are not one of {owner}'s guardians (no share of theirs on this device)")))?;
        let pending: proto::PendingGuardianRequests = self
            .api
            .call::<(), _>(Some(&self.signer()), Method::GET, &format!("/v1/guardian-requests?username={owner}"), None)
            .await?;
        let found = pending.requests.into_iter().find(|r| {
            hush_core::hpke::codes_match(typed_code, &hush_core::guardians::request_code(owner, &r.hpke_key.0))
        });
        let Some(req) = found else {
            return Err(ClientError::Usage(format!(
                "no recovery request of {owner} shows that code; check it with {owner} (requests last 24 hours)"
            )));
        };
        let plain = Zeroizing::new(serde_json::to_vec(&share).map_err(err)?);
        let sealed = hush_core::hpke::seal_with_context(
            &req.hpke_key.0,
            &hush_core::guardians::request_context(owner, &req.hpke_key.0),
            &plain,
        )
        .map_err(err)?;
        self.api
            .call_empty(
                Some(&self.signer()),
                Method::POST,
                &format!("/v1/guardian-requests/{}/shares", req.request_id),
                Some(&proto::SealedShare { sealed: B64(sealed) }),
            )
            .await?;
        Ok(())
    }

    /// The recovery phrase made at registration, once: it is not stored anywhere.
    pub fn take_recovery_phrase(&mut self) -> Option<RecoveryPhrase> {
        self.fresh_phrase.take()
    }

    /// Revokes one of this account's other devices: the server stops serving it, the key
    /// directory drops it, and it is removed from every conversation.
    pub async fn revoke_device(&mut self, device_id: &str) -> Result<(), ClientError> {
        if device_id == self.state.device_id {
            return Err(ClientError::Usage("this is the device you are using; revoke it from another of your devices".into()));
        }
        if !hush_core::identity::device_id_well_formed(device_id) {
            return Err(ClientError::Usage(format!("{device_id} is not a device id (16 hex characters; see `hush device list`)")));
        }
        // Sign the drive's state with this device first: once the device is revoked, a
        // state it signed is refused.
        self.resign_drive().await;
        // Keep the certificates of our devices, the one revoked included: every device of
        // ours accounts for the directory versions that listed it with them.
        let _ = self.own_device_list().await;
        self.api
            .call_empty::<()>(Some(&self.signer()), Method::POST, &format!("/v1/devices/{device_id}/revoke"), None)
            .await
            .map_err(|e| match e.code() {
                Some(proto::codes::FORBIDDEN) | Some(proto::codes::NOT_FOUND) => {
                    ClientError::Usage(format!("you have no device {device_id}"))
                }
                Some(proto::codes::CONFLICT) => ClientError::Usage(format!("device {device_id} is already revoked")),
                _ => ClientError::Api(e),
            })?;
        self.state.kt.revoked_here.insert(device_id.to_owned());
        let me = self.state.username.clone();
        self.state.kt.checked.remove(&me);
        let ids: Vec<String> = self.state.conversations.values().filter(|m| m.active).map(|m| m.id.clone()).collect();
        for id in ids {
            self.reconcile(&id).await?;
        }
        self.save()
    }

    /// Re-seals the local state under a new passphrase.
    pub fn change_passphrase(&mut self, new_passphrase: &[u8]) -> Result<(), ClientError> {
        if new_passphrase.is_empty() {
            return Err(ClientError::Usage("the passphrase may not be empty".into()));
        }
        self.key = SealKey::derive_new(new_passphrase).map_err(err)?;
        self.save()
    }
}

async fn fetch_backup(api: &Api, username: &str, auth: &SecretKey) -> Result<proto::Backup, ClientError> {
    let signer = Signer { device_id: proto::RECOVERY_DEVICE, key: auth };
    api.call::<(), proto::Backup>(Some(&signer), Method::GET, &format!("/v1/recovery/{username}"), None)
        .await
        .map_err(|e| match e.code() {
            Some(proto::codes::UNAUTHORIZED) => ClientError::Usage(format!(
                "the server has no backup of {username} that this recovery phrase unlocks: check the phrase and the username"
            )),
            Some(proto::codes::RATE_LIMITED) => ClientError::Usage("too many recovery attempts for this account; wait an hour".into()),
            _ => ClientError::Api(e),
        })
}

/// Refuses a backup that isn't the newest the key directory committed to: every backup
/// version the account's devices stored was published there (`hush_core::kt::backup_value`),
/// and the directory only grows, so a server serving an older backup again is caught by
/// the history's newest version being higher, by versions that go backwards, or by a hash
/// that doesn't match.
async fn check_newest_backup(api: &Api, prefix: &str, username: &str, backup: &proto::Backup) -> Result<(), ClientError> {
    let name = hush_core::kt::backup_name(prefix, username);
    let refuse = |what: fn(String) -> Misbehaviour, m: String| ClientError::ServerMisbehaved(what(format!("refusing the backup the server served: {m}")));
    let history = backup
        .history
        .as_ref()
        .ok_or_else(|| refuse(Misbehaviour::RolledBack, "the key directory has no record of it, so hush can't tell whether it is the newest".into()))?;
    let info: proto::KtInfo = api.call::<(), _>(None, Method::GET, "/v1/kt/info", None).await?;
    let root = crate::kt::root_of(&history.root)?;
    let versions = hush_core::kt::verify_history(&info.vrf_public_key.0, &root, &name, &history.proof.0)
        .map_err(|e| refuse(Misbehaviour::Tampered, format!("the key directory's record of it doesn't verify ({e})")))?;
    // Newest first: the backup versions committed must only ever have gone up.
    let mut committed = Vec::new();
    for v in &versions {
        committed.push(hush_core::kt::parse_backup_value(&v.value).map_err(|e| refuse(Misbehaviour::Malformed, e.to_string()))?);
    }
    if committed.windows(2).any(|w| w[0].0 <= w[1].0) {
        return Err(refuse(Misbehaviour::RolledBack, "the key directory shows this account's backup going back to an earlier version".into()));
    }
    let Some((newest, hash)) = committed.first().copied() else {
        return Err(refuse(Misbehaviour::RolledBack, "the key directory has no record of it".into()));
    };
    if backup.version < newest {
        return Err(refuse(Misbehaviour::RolledBack, format!(
            "it is version {}, but the key directory shows that version {newest} was stored since (an older backup served again)",
            backup.version
        )));
    }
    if backup.version == newest && Sha256::digest(&backup.blob.0).as_slice() != hash.as_slice() {
        return Err(refuse(Misbehaviour::Forked, "it differs from the version the key directory committed to".into()));
    }
    Ok(())
}

/// On a new device: restores `username`'s account from the recovery phrase. The backup
/// must open with the phrase for this account, its identity key must be the one the
/// server and the key directory hold; then this device is certified and registered, and
/// the user's contacts add it to their conversations as they sync.
pub async fn recover(
    home_dir: &Path,
    server: &str,
    trust: &crate::tls::Trust,
    username: &str,
    phrase_text: &str,
    passphrase: &[u8],
) -> Result<Client, ClientError> {
    let phrase = RecoveryPhrase::parse(phrase_text).map_err(|e| ClientError::Usage(e.to_string()))?;
    let home = crate::account::new_home(home_dir, username, passphrase)?;
    let api = Api::new(server, trust)?;
    let keys = phrase.keys();
    let backup = fetch_backup(&api, username, &keys.auth_key).await?;
    let plain = open_backup(&keys.backup_key, username, backup.version, &backup.blob.0)
        .map_err(|e| ClientError::Usage(e.to_string()))?;
    check_newest_backup(&api, hush_core::kt::PHRASE_BACKUP, username, &backup).await?;
    let recovery = RecoveryState {
        backup_key: SecretBytes(Zeroizing::new(keys.backup_key.to_vec())),
        auth_secret: SecretBytes(Zeroizing::new(keys.auth_key.to_bytes().to_vec())),
        version: backup.version,
        uploaded_hash: String::new(),
    };
    restore(home, api, username, &plain, Some(recovery), passphrase).await
}

/// On a new device: asks `username`'s guardians for their shares (call `show_code` with
/// the code to read out to them), waits up to `wait` for enough of them, rebuilds the
/// guardian secret, and restores the account from the backup it unlocks.
pub async fn recover_with_guardians(
    home_dir: &Path,
    server: &str,
    trust: &crate::tls::Trust,
    username: &str,
    passphrase: &[u8],
    wait: std::time::Duration,
    show_code: impl FnOnce(&str),
) -> Result<Client, ClientError> {
    let home = crate::account::new_home(home_dir, username, passphrase)?;
    let api = Api::new(server, trust)?;
    let keys = hush_core::hpke::Receiver::generate().map_err(err)?;
    let req = proto::GuardianRequest { username: username.to_owned(), hpke_key: B64(keys.public.clone()) };
    let created: proto::GuardianRequestCreated = api
        .call(None, Method::POST, "/v1/guardian-requests", Some(&req))
        .await
        .map_err(|e| match e.code() {
            Some(proto::codes::NOT_FOUND) => ClientError::Usage(format!("there is no user named {username} on this server")),
            _ => ClientError::Api(e),
        })?;
    show_code(&hush_core::guardians::request_code(username, &keys.public));
    let context = hush_core::guardians::request_context(username, &keys.public);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let got: proto::GuardianShares = api
            .call::<(), _>(None, Method::GET, &format!("/v1/guardian-requests/{}", created.request_id), None)
            .await?;
        let mut shares: Vec<hush_core::guardians::Share> = Vec::new();
        let mut forged = 0usize;
        for sealed in &got.shares {
            match keys.open_with_context(&context, &sealed.0).ok().and_then(|p| serde_json::from_slice::<hush_core::guardians::Share>(&p).ok()) {
                Some(s) if s.owner == username => shares.push(s),
                _ => forged += 1,
            }
        }
        // The largest group of shares from one set.
        let mut best: Vec<hush_core::guardians::Share> = Vec::new();
        for s in &shares {
            let same: Vec<_> = shares.iter().filter(|x| x.set_id == s.set_id).cloned().collect();
            if same.len() > best.len() {
                best = same;
            }
        }
        let needed = best.first().map(|s| usize::from(s.threshold));
        if let Some(needed) = needed
            && best.len() >= needed
        {
            let secret = hush_core::guardians::combine(&best[..needed]).map_err(|e| ClientError::Usage(e.to_string()))?;
            let gkeys = hush_core::guardians::keys(&secret);
            let signer = Signer { device_id: proto::RECOVERY_DEVICE, key: &gkeys.auth_key };
            let backup: proto::Backup = api
                .call::<(), _>(Some(&signer), Method::GET, &format!("/v1/recovery/{username}/guardians"), None)
                .await
                .map_err(|e| match e.code() {
                    Some(proto::codes::UNAUTHORIZED) => ClientError::Usage(
                        "the guardians' shares do not rebuild a secret the server knows: a share is forged or from an earlier set of guardians".into(),
                    ),
                    _ => ClientError::Api(e),
                })?;
            let plain = open_backup(&gkeys.backup_key, username, backup.version, &backup.blob.0)
                .map_err(|e| ClientError::Usage(e.to_string()))?;
            check_newest_backup(&api, hush_core::kt::GUARDIAN_BACKUP, username, &backup).await?;
            return restore(home, api, username, &plain, None, passphrase).await;
        }
        if tokio::time::Instant::now() >= deadline {
            let mut msg = match needed {
                Some(n) => format!(
                    "{} of the {n} guardian approvals needed arrived; {} more needed — ask another guardian to run `hush recovery approve {username} CODE`",
                    best.len(),
                    n - best.len()
                ),
                None => "no guardian has approved yet".to_owned(),
            };
            if forged > 0 {
                msg.push_str(&format!(" ({forged} share(s) did not open and were refused)"));
            }
            return Err(ClientError::Usage(msg));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Becomes the user again on this device from an opened backup: the backup's identity key
/// certifies a new device, which the server accepts only if that key is the user's, and
/// the key directory must vouch for it.
async fn restore(
    home: Home,
    api: Api,
    username: &str,
    plain: &[u8],
    recovery: Option<RecoveryState>,
    passphrase: &[u8],
) -> Result<Client, ClientError> {
    let bundle: BackupBundle = serde_json::from_slice(plain).map_err(|_| ClientError::Usage("the backup is malformed".into()))?;
    if bundle.username != username {
        return Err(ClientError::Usage("the backup is of another account".into()));
    }
    let identity = SecretKey::from_bytes(&bundle.identity_secret.0).map_err(|e| ClientError::Usage(e.to_string()))?;
    let device_key = SecretKey::generate();
    let device_id = new_device_id();
    let certificate = DeviceCertificate::issue(&identity, username, &device_id, device_key.public());
    let provider = HushProvider::new()?;
    let upload = crate::account::device_upload(&provider, &device_key, &certificate)?;
    let signer = Signer { device_id: &device_id, key: &device_key };
    let _: proto::RegisteredDevice = api
        .call(Some(&signer), Method::POST, "/v1/devices", Some(&upload))
        .await
        .map_err(|e| match e.code() {
            Some(proto::codes::FORBIDDEN) => ClientError::Usage(format!(
                "the backup's identity key is not {username}'s identity key on this server; refusing it"
            )),
            _ => ClientError::Api(e),
        })?;

    let mut state = State::new_device(api.base(), username, &identity, &device_key, &certificate, bundle.contacts);
    state.drive_keys = bundle.drive_keys;
    state.space_keys = bundle.space_keys;
    state.recovery = recovery;
    let key = SealKey::derive_new(passphrase).map_err(err)?;
    let mut client = Client { home, key, state, provider, identity, device_key, certificate, api, fresh_phrase: None };
    client.kt_adopt_history(crate::kt::OwnHistory { acknowledged: bundle.acknowledged, certificates: bundle.own_certs });
    // The key directory must show this identity key with our devices, this one included.
    client.start_new_device().await?;
    Ok(client)
}

//! Key transparency, the client's side: every identity key and device list this device
//! uses is checked with a lookup proof against a directory root it holds; every new root
//! must be an append-only extension of the last one it saw; its own user's key history is
//! checked for keys or devices it did not publish; and the root it holds travels inside its
//! MLS messages so that a member shown another root for the same epoch (a split view)
//! notices.

use std::collections::{BTreeMap, BTreeSet};

use hush_core::identity::{DeviceCertificate, PublicKey};
use hush_core::kt::{self, Root};
use hush_proto as proto;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::{Client, ClientError};
pub use crate::state::{Claim, KtState, RestoreFollowed};

/// How many verified roots a device remembers.
const ROOTS_KEPT: usize = 4096;
/// The tag in front of the root a message carries in its MLS authenticated data.
const AAD_TAG: &[u8; 8] = b"hush-kt1";

/// What one device of an account hands another of the same account (a link, a backup):
/// the directory values the account accepted, and the certificates behind them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OwnHistory {
    /// Accepted directory values (hex).
    #[serde(default)]
    pub acknowledged: BTreeSet<String>,
    /// Device certificates, by device id.
    #[serde(default)]
    pub certificates: BTreeMap<String, Vec<u8>>,
}

/// A device as a directory version lists it: id and key.
type Dev = (String, [u8; 32]);

fn hash_of(set: &BTreeSet<Dev>) -> [u8; 32] {
    let list: Vec<(String, PublicKey)> = set.iter().map(|(id, k)| (id.clone(), PublicKey(*k))).collect();
    kt::devices_hash(&list)
}

/// Largest pool of devices searched exhaustively when a version is not a small change
/// from the one before it.
const EXHAUSTIVE: usize = 14;
/// How many exhaustive searches one check of our history may make.
const EXHAUSTIVE_SEARCHES: usize = 4;

/// Finds the set of devices from `pool` whose devices hash is `target`: first `prev`
/// itself, then `prev` with one or two devices added or removed (each change to a
/// directory entry is published on its own), then, for a small pool, every subset.
fn explain(target: &[u8; 32], pool: &[Dev], prev: &BTreeSet<Dev>, budget: &mut usize) -> Option<BTreeSet<Dev>> {
    let toggle = |set: &mut BTreeSet<Dev>, d: &Dev| {
        if !set.remove(d) {
            set.insert(d.clone());
        }
    };
    let mut base = prev.clone();
    base.retain(|d| pool.contains(d));
    if hash_of(&base) == *target {
        return Some(base);
    }
    for (i, a) in pool.iter().enumerate() {
        let mut one = base.clone();
        toggle(&mut one, a);
        if hash_of(&one) == *target {
            return Some(one);
        }
        for b in &pool[i + 1..] {
            let mut two = one.clone();
            toggle(&mut two, b);
            if hash_of(&two) == *target {
                return Some(two);
            }
        }
    }
    if pool.len() <= EXHAUSTIVE && *budget > 0 {
        *budget -= 1;
        for mask in 0u32..(1u32 << pool.len()) {
            let set: BTreeSet<Dev> = pool.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, d)| d.clone()).collect();
            if hash_of(&set) == *target {
                return Some(set);
            }
        }
    }
    None
}

fn kt_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transparency(e.to_string())
}

pub(crate) fn root_of(r: &proto::KtRoot) -> Result<Root, ClientError> {
    let hash: [u8; 32] = r
        .root_hash
        .0
        .as_slice()
        .try_into()
        .map_err(|_| kt_err("the server sent a malformed directory root"))?;
    Ok(Root { epoch: r.epoch, hash })
}

impl Client {
    async fn kt_get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        Ok(self.api.call::<(), T>(Some(&self.signer()), Method::GET, path, None).await?)
    }

    fn remember_root(&mut self, epoch: u64, hash: [u8; 32]) {
        self.state.kt.roots.insert(epoch, hash);
        while self.state.kt.roots.len() > ROOTS_KEPT {
            self.state.kt.roots.pop_first();
        }
    }

    /// Fetches the latest root and moves to it, checking that it extends what we saw.
    pub(crate) async fn kt_refresh(&mut self) -> Result<Root, ClientError> {
        let info: proto::KtInfo = self.kt_get("/v1/kt/info").await?;
        match &self.state.kt.vrf_public_key {
            None => self.state.kt.vrf_public_key = Some(info.vrf_public_key.0.clone()),
            Some(k) if *k == info.vrf_public_key.0 => {}
            Some(_) => {
                return Err(kt_err(
                    "the server's key directory changed its signing (VRF) key; refusing to trust it",
                ));
            }
        }
        let root = root_of(&info.root)?;
        self.kt_follow_restores(&info.restores)?;
        self.kt_advance(root).await?;
        Ok(root)
    }

    /// Follows restores of the server from a backup that this device has not seen yet.
    /// The directory went back to the backup's epoch: this device goes back to the newest
    /// root it holds at or before that epoch (so the append-only proof it asks for next
    /// checks the restored directory against the roots it verified up to the backup) and
    /// forgets the roots, claims and space versions of the lost epochs. Every contact is
    /// checked again against the keys pinned for them at the next sync
    /// ([`Client::kt_recheck_after_restore`]); a change is an alert like any other.
    fn kt_follow_restores(&mut self, restores: &[proto::KtRestore]) -> Result<(), ClientError> {
        for r in restores {
            if self.state.kt.restores_followed.contains(&r.generation) {
                continue;
            }
            let Some(latest) = self.state.kt.latest else {
                // This device never saw the directory before the restore: nothing to follow.
                self.state.kt.restores_followed.insert(r.generation);
                continue;
            };
            let taken = hush_core::display::date_utc(r.backup_taken_at);
            if latest.epoch > r.epoch {
                let Some((&epoch, &hash)) = self.state.kt.roots.range(..=r.epoch).next_back() else {
                    return Err(kt_err(format!(
                        "the server says it was restored from a backup taken {taken} (key directory epoch {}), but this device holds no directory root that old to check it against; this account may have been created after that backup (register again) or the server is lying",
                        r.epoch
                    )));
                };
                self.state.kt.roots.retain(|e, _| *e <= r.epoch);
                self.state.kt.latest = Some(Root { epoch, hash });
                self.state.kt.claims.retain(|c| c.epoch <= r.epoch);
                self.state.kt.split_reported.retain(|e| *e <= r.epoch);
                for (proven_at, _) in self.state.kt.checked.values_mut() {
                    if *proven_at > r.epoch {
                        *proven_at = 0;
                    }
                }
                self.warn("", format!(
                    "the server was restored from a backup taken {taken}: its key directory went back from epoch {} (the newest this device saw) to epoch {}. What reached the server after the backup is gone from it (messages not yet delivered, files, new accounts and devices, revocations). hush checks the restored directory against what this device saw up to epoch {} and checks every contact again against the keys you pinned",
                    latest.epoch, r.epoch, r.epoch
                ));
            } else {
                self.warn("", format!(
                    "the server was restored from a backup taken {taken} (key directory epoch {}); messages and files that reached the server after the backup are gone from it. hush checks every contact again against the keys you pinned",
                    r.epoch
                ));
            }
            // Space versions seen after the backup are gone too: the next listing starts
            // again from what the server holds (still signed and checked).
            self.state.spaces_seen.clear();
            self.state.kt.own_checked_epoch = 0;
            self.state.kt.recheck = Some(RestoreFollowed { epoch: r.epoch, backup_taken_at: r.backup_taken_at });
            self.state.kt.restores_followed.insert(r.generation);
        }
        Ok(())
    }

    /// Once this device followed a restore of the server that happened while it existed:
    /// the words to add where a conversation lost a change, naming the way back.
    pub(crate) fn restore_hint(&self, conversation: &str) -> String {
        if self.state.kt.restores_followed.is_empty() {
            return String::new();
        }
        format!(
            "; or the server's restore from a backup lost that change: run `hush conversation heal {conversation}` to bring everyone back into one conversation"
        )
    }

    /// After following a restore: every contact's identity key and devices are looked up
    /// again; a key that is not the pinned one is refused and reported as usual, devices
    /// that differ from the ones proven before are listed, and a contact the restored
    /// server does not know is named. Conversations are then brought in line with the
    /// directory (devices gone since the backup leave them).
    pub(crate) async fn kt_recheck_after_restore(&mut self) -> Result<(), ClientError> {
        let Some(note) = self.state.kt.recheck.clone() else { return Ok(()) };
        // Our own revocations made after the backup are undone on the server: make them again.
        let listed = self.kt_get::<proto::OwnDevices>("/v1/devices").await.map(|d| d.devices).unwrap_or_default();
        let again: Vec<String> = listed
            .into_iter()
            .filter(|d| !d.revoked && self.state.kt.revoked_here.contains(&d.device_id))
            .map(|d| d.device_id)
            .collect();
        for id in again {
            let short = crate::short_device(&id).to_owned();
            match Box::pin(self.revoke_device(&id)).await {
                Ok(()) => self.warn("", format!(
                    "ALERT: your device {short}, which you revoked, was active again on the restored server (the revocation came after the backup); it is revoked again"
                )),
                Err(e) => self.warn("", format!(
                    "ALERT: your device {short}, which you revoked, is active again on the restored server and could not be revoked again ({e}); revoke it with `hush device revoke {id}`"
                )),
            }
        }
        let contacts: Vec<String> = self.state.contacts.keys().cloned().collect();
        let (mut same, mut changed, mut gone, mut failed) = (0usize, Vec::new(), Vec::new(), Vec::new());
        for user in &contacts {
            let before = self.state.kt.checked.remove(user).map(|(_, d)| d);
            let exists = self
                .api
                .call::<(), proto::UserRecord>(Some(&self.signer()), Method::GET, &format!("/v1/users/{user}"), None)
                .await;
            match exists {
                Err(e) if e.code() == Some(proto::codes::NOT_FOUND) => {
                    gone.push(user.clone());
                    continue;
                }
                Err(e) => {
                    failed.push(format!("{user} ({e})"));
                    continue;
                }
                Ok(_) => {}
            }
            match self.proven_devices(user).await {
                Ok(now) => match before {
                    Some(before) if before != now => {
                        let added: Vec<&str> = now.difference(&before).map(|d| crate::short_device(d)).collect();
                        let removed: Vec<&str> = before.difference(&now).map(|d| crate::short_device(d)).collect();
                        let mut parts = Vec::new();
                        if !added.is_empty() {
                            parts.push(format!("listed again or new: {}", added.join(", ")));
                        }
                        if !removed.is_empty() {
                            parts.push(format!("no longer listed: {}", removed.join(", ")));
                        }
                        changed.push(format!("{user}'s devices ({})", parts.join("; ")));
                    }
                    _ => same += 1,
                },
                Err(ClientError::KeyChanged { .. } | ClientError::VerifiedKeyChanged { .. }) => {
                    changed.push(format!("{user}'s identity key (nothing is sent to them until you check it: `hush trust {user}`)"));
                }
                Err(e) => failed.push(format!("{user} ({e})")),
            }
            self.state.pending_device_checks.insert(user.clone());
        }
        let mut text = format!(
            "after the server's restore (backup taken {}, key directory epoch {}) every contact was checked again: {same} unchanged",
            hush_core::display::date_utc(note.backup_taken_at),
            note.epoch
        );
        if !changed.is_empty() {
            text = format!("ALERT: {text}; changed since you last checked: {}", changed.join(", "));
        }
        if !gone.is_empty() {
            text.push_str(&format!("; not on the restored server (their accounts were made after the backup or deleted): {}", gone.join(", ")));
        }
        if !failed.is_empty() {
            text.push_str(&format!("; could not be checked: {}", failed.join(", ")));
        }
        self.warn("", text);
        self.state.kt.recheck = None;
        self.save()
    }

    /// Accepts `root` if it is the latest we hold, or an append-only extension of it.
    async fn kt_advance(&mut self, root: Root) -> Result<(), ClientError> {
        match self.state.kt.latest {
            None => {
                self.remember_root(root.epoch, root.hash);
                self.state.kt.latest = Some(root);
            }
            Some(latest) if root.epoch < latest.epoch => {
                // The server always proves against its latest root: an older one means the
                // directory was rolled back (newer keys, revocations, would be hidden).
                return Err(kt_err(format!(
                    "the server showed key directory epoch {} after this device had seen epoch {}: the directory was rolled back",
                    root.epoch, latest.epoch
                )));
            }
            Some(latest) if root.epoch == latest.epoch => {
                if root.hash != latest.hash {
                    return Err(kt_err(format!(
                        "the server showed two different key directories for epoch {}",
                        root.epoch
                    )));
                }
            }
            Some(latest) => {
                let hashes = self.kt_audit(latest.epoch, root.epoch).await?;
                if hashes.last() != Some(&root.hash) {
                    return Err(kt_err("the append-only proof does not end at the root the server showed"));
                }
                self.state.kt.latest = Some(root);
            }
        }
        Ok(())
    }

    /// Verifies that the directory only grew from `start` to `end`; remembers every root
    /// in between; refuses if any differs from one we verified before.
    async fn kt_audit(&mut self, start: u64, end: u64) -> Result<Vec<[u8; 32]>, ClientError> {
        let audit: proto::KtAudit = self.kt_get(&format!("/v1/kt/audit?start={start}&end={end}")).await?;
        let hashes = verify_audit(start, end, &audit).await?;
        for (i, h) in hashes.iter().enumerate() {
            let epoch = start + i as u64;
            if let Some(known) = self.state.kt.roots.get(&epoch)
                && known != h
            {
                return Err(kt_err(format!(
                    "the server's append-only proof shows a root for epoch {epoch} that differs from the one this device verified: the directory was forked"
                )));
            }
        }
        for (i, h) in hashes.iter().enumerate() {
            self.remember_root(start + i as u64, *h);
        }
        Ok(hashes)
    }

    /// Checks that the directory vouches for `user`'s identity key and exactly these
    /// devices.
    pub(crate) async fn kt_check_user(
        &mut self,
        user: &str,
        identity_key: &PublicKey,
        devices: &[(String, PublicKey)],
    ) -> Result<(), ClientError> {
        self.kt_refresh().await?;
        let lookup: proto::KtLookup = self.kt_get(&format!("/v1/kt/lookup/{user}")).await?;
        let root = root_of(&lookup.root)?;
        self.kt_advance(root).await?;
        let vrf = self.state.kt.vrf_public_key.clone().unwrap_or_default();
        let proven = kt::verify_lookup(&vrf, &root, user, &lookup.proof.0).map_err(|e| ClientError::BadDevice {
            user: user.into(),
            reason: e.to_string(),
        })?;
        if proven.value != kt::directory_value(identity_key, devices) {
            return Err(ClientError::BadDevice {
                user: user.into(),
                reason: "the key directory does not vouch for the identity key and devices the server gave".into(),
            });
        }
        Ok(())
    }

    /// Whether the key directory proves that the server's operator deleted `user`'s
    /// account (its current value is the tombstone [`kt::DELETED_VALUE`]). Any failure to
    /// prove it answers `false`: a server can't make a user look deleted without publishing
    /// the tombstone in the directory for everyone to see.
    pub(crate) async fn kt_user_deleted(&mut self, user: &str) -> bool {
        let Ok(lookup) = self.kt_get::<proto::KtLookup>(&format!("/v1/kt/lookup/{user}")).await else {
            return false;
        };
        let Ok(root) = root_of(&lookup.root) else { return false };
        if self.kt_advance(root).await.is_err() {
            return false;
        }
        let vrf = self.state.kt.vrf_public_key.clone().unwrap_or_default();
        kt::verify_lookup(&vrf, &root, user, &lookup.proof.0).is_ok_and(|p| p.value == kt::DELETED_VALUE)
    }

    /// Acknowledges our own current directory value (after registering or linking).
    pub(crate) fn kt_acknowledge(&mut self, value: &[u8]) {
        self.state.kt.acknowledged.insert(hex::encode(value));
    }

    /// Keeps a certificate of one of our devices, if our identity key signed it for us.
    pub(crate) fn kt_learn_cert(&mut self, bytes: &[u8]) -> Option<DeviceCertificate> {
        let cert = DeviceCertificate::decode_and_verify(bytes).ok()?;
        let b = cert.body();
        if b.username != self.state.username || !b.identity_key.ct_eq(&self.identity.public()) {
            return None;
        }
        self.state.kt.own_certs.insert(b.device_id.clone(), bytes.to_vec());
        Some(cert)
    }

    /// What this device knows of the account's accepted history, to hand to another
    /// device of the account (a link, a backup).
    pub(crate) fn kt_own_history(&self) -> OwnHistory {
        OwnHistory { acknowledged: self.state.kt.acknowledged.clone(), certificates: self.state.kt.own_certs.clone() }
    }

    /// Takes in the accepted history another device of the account handed over; each
    /// certificate is checked against our identity key.
    pub(crate) fn kt_adopt_history(&mut self, history: OwnHistory) {
        self.state.kt.acknowledged.extend(history.acknowledged);
        for cert in history.certificates.values() {
            self.kt_learn_cert(cert);
        }
    }

    /// Checks our own key history: every version must carry our identity key and a
    /// device list made only of devices whose certificates our identity key signed (every
    /// device of ours holds them, and the server lists them, revoked ones included; it
    /// can't make one). A device list the server can't back that way, an identity key
    /// that is not ours, or a removed device listed again raises an alarm once per event,
    /// not once per version or per sync.
    pub(crate) async fn kt_check_own_history(&mut self) -> Result<(), ClientError> {
        let root = self.kt_refresh().await?;
        if root.epoch == self.state.kt.own_checked_epoch {
            return Ok(());
        }
        let me = self.state.username.clone();
        let history: proto::KtHistory = self.kt_get(&format!("/v1/kt/history/{me}")).await?;
        let hroot = root_of(&history.root)?;
        self.kt_advance(hroot).await?;
        let vrf = self.state.kt.vrf_public_key.clone().unwrap_or_default();
        let versions = kt::verify_history(&vrf, &hroot, &me, &history.proof.0).map_err(kt_err)?;
        let mine = self.identity.public();

        // The devices the server lists for us, revoked ones included: those our identity
        // key certified are ours; the others are only names for what we did not add.
        let listed = self.kt_get::<proto::OwnDevices>("/v1/devices").await.map(|d| d.devices).unwrap_or_default();
        let mut unbacked: Vec<Dev> = Vec::new();
        for d in &listed {
            let Ok(key) = <[u8; 32]>::try_from(d.device_key.0.as_slice()) else { continue };
            let backed = self
                .kt_learn_cert(&d.certificate.0)
                .is_some_and(|c| c.body().device_id == d.device_id && c.body().device_key.0 == key);
            if !backed {
                unbacked.push((d.device_id.clone(), key));
            }
        }
        let mut backed: Vec<Dev> = Vec::new();
        for bytes in self.state.kt.own_certs.values() {
            if let Ok(c) = DeviceCertificate::decode_and_verify(bytes) {
                backed.push((c.body().device_id.clone(), c.body().device_key.0));
            }
        }
        unbacked.retain(|d| !backed.contains(d));
        let everything: Vec<Dev> = backed.iter().chain(unbacked.iter()).cloned().collect();

        let mut prev: BTreeSet<Dev> = BTreeSet::new();
        let mut present: BTreeSet<String> = BTreeSet::new();
        let mut gone: BTreeSet<String> = BTreeSet::new();
        let mut unexplained_since: Option<u64> = None;
        let mut budget = EXHAUSTIVE_SEARCHES;
        // Oldest first.
        for v in versions.iter().rev() {
            let hexv = hex::encode(&v.value);
            let parsed = kt::parse_value(&v.value);
            if let Ok((ik, _)) = &parsed
                && !ik.ct_eq(&mine)
            {
                let event = format!("identity:{}", hex::encode(ik.0));
                if self.state.kt.alarmed.insert(event) {
                    self.alarm(format!(
                        "ALERT: the key directory lists an identity key that is not yours ({}) for {me} (directory epoch {}): you did not publish it, so someone controlling the server may be trying to impersonate you; tell your contacts not to accept it (`hush trust`) until they have compared safety numbers with you (`hush verify`).",
                        ik.fingerprint(), v.epoch
                    ));
                }
                continue;
            }
            let found = match &parsed {
                Ok((_, dh)) => explain(dh, &backed, &prev, &mut budget).or_else(|| explain(dh, &everything, &prev, &mut budget)),
                Err(_) => None,
            };
            let Some(set) = found else {
                if self.state.kt.acknowledged.contains(&hexv) {
                    continue;
                }
                let since = *unexplained_since.get_or_insert(v.version);
                if self.state.kt.alarmed.insert(format!("unlisted:{since}")) {
                    self.alarm(format!(
                        "ALERT: the key directory lists a device you did not add for {me} (directory epoch {}): the server shows no certificate from your identity key for it, so someone controlling the server may be trying to impersonate you or read your messages; tell your contacts, and compare safety numbers with them (`hush verify`) before they trust a new device of yours.",
                        v.epoch
                    ));
                }
                continue;
            };
            unexplained_since = None;
            let ids: BTreeSet<String> = set.iter().map(|d| d.0.clone()).collect();
            let mut clean = true;
            for d in &set {
                if unbacked.contains(d) {
                    clean = false;
                    if self.state.kt.alarmed.insert(format!("device:{}:{}", d.0, hex::encode(d.1))) {
                        self.alarm(format!(
                            "ALERT: the key directory lists a device you did not add for {me} (device {}, directory epoch {}): its certificate is not signed by your identity key, so someone controlling the server may be trying to impersonate you or read your messages; tell your contacts, and compare safety numbers with them (`hush verify`) before they trust a new device of yours.",
                            d.0, v.epoch
                        ));
                    }
                }
                if gone.contains(&d.0) {
                    clean = false;
                    if self.state.kt.alarmed.insert(format!("returned:{}", d.0)) {
                        self.alarm(format!(
                            "ALERT: the key directory lists your removed device {} for {me} again (directory epoch {}): a revoked device never comes back, so someone controlling the server may be letting it read your messages; tell your contacts, and revoke it again (`hush device revoke {}`).",
                            d.0, v.epoch, d.0
                        ));
                    }
                }
            }
            gone.extend(present.difference(&ids).cloned());
            present = ids;
            prev = set;
            if clean {
                self.state.kt.acknowledged.insert(hexv);
            }
        }
        self.state.kt.own_checked_epoch = hroot.epoch;
        Ok(())
    }

    /// Our devices as the server lists them, each certificate checked against our own
    /// identity key (and kept, to account for our directory history later).
    pub(crate) async fn own_device_list(&mut self) -> Result<Vec<(String, PublicKey)>, ClientError> {
        let me = self.state.username.clone();
        let rec: proto::UserRecord = self.kt_get(&format!("/v1/users/{me}")).await?;
        let mine = self.identity.public();
        let mut out = Vec::new();
        for d in rec.devices {
            let cert = DeviceCertificate::decode_and_verify(&d.certificate.0).map_err(kt_err)?;
            let b = cert.body();
            if b.username != me || !b.identity_key.ct_eq(&mine) || b.device_id != d.device_id {
                return Err(kt_err("a device listed for you is not certified by your identity key"));
            }
            out.push((b.device_id.clone(), b.device_key));
            self.state.kt.own_certs.insert(d.device_id.clone(), d.certificate.0.clone());
        }
        Ok(out)
    }

    fn alarm(&mut self, text: String) {
        self.warn("", text);
    }

    /// The authenticated data our messages carry: the latest root we verified.
    pub(crate) fn kt_aad(&self) -> Vec<u8> {
        match self.state.kt.latest {
            Some(r) => [AAD_TAG.as_slice(), &r.epoch.to_be_bytes(), &r.hash].concat(),
            None => Vec::new(),
        }
    }

    /// Notes the root a member's message says it holds, to compare after the sync.
    pub(crate) fn note_claimed_root(&mut self, aad: &[u8], sender: &str, conversation: &str) {
        // The root comes first; more (the group's epoch) may follow.
        if aad.len() < 8 + 8 + 32 || &aad[..8] != AAD_TAG {
            return;
        }
        let mut e = [0u8; 8];
        e.copy_from_slice(&aad[8..16]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&aad[16..48]);
        self.state.kt.claims.push(Claim {
            epoch: u64::from_be_bytes(e),
            hash,
            sender: sender.to_owned(),
            conversation: conversation.to_owned(),
        });
    }

    /// Compares every claimed root with the one we verified for that epoch (auditing the
    /// directory forward if we have not seen it yet). A difference is a split view.
    pub(crate) async fn kt_check_claims(&mut self) -> Result<(), ClientError> {
        let claims = std::mem::take(&mut self.state.kt.claims);
        for c in claims {
            if !self.state.kt.roots.contains_key(&c.epoch) {
                let mut latest = self.state.kt.latest.map(|r| r.epoch).unwrap_or(0);
                if c.epoch > latest && latest > 0 {
                    // The sender saw this epoch before sending, and everyone talks to one
                    // directory: an honest server has it by now. A server whose newest
                    // epoch is older is showing this device another directory.
                    if let Ok(r) = self.kt_refresh().await {
                        latest = r.epoch;
                        if c.epoch > latest {
                            if self.state.kt.split_reported.insert(c.epoch) {
                                self.warn(&c.conversation, format!(
                                    "ALERT: {} was shown epoch {} of the key directory, but the server tells this device its newest is epoch {latest}: the server is showing people different views (a split view), so keys in this conversation can't be trusted",
                                    c.sender, c.epoch
                                ));
                            }
                            continue;
                        }
                    }
                }
                let attempt = if c.epoch > latest && latest > 0 {
                    self.kt_audit(latest, c.epoch).await.map(|_| ())
                } else if c.epoch < latest {
                    self.kt_audit(c.epoch, latest).await.map(|_| ())
                } else {
                    self.kt_refresh().await.map(|_| ())
                };
                if let Err(e) = attempt {
                    self.warn(&c.conversation, format!(
                        "could not check the key directory {} saw (epoch {}): {e}",
                        c.sender, c.epoch
                    ));
                    continue;
                }
            }
            if let Some(mine) = self.state.kt.roots.get(&c.epoch)
                && *mine != c.hash
                && self.state.kt.split_reported.insert(c.epoch)
            {
                self.warn(&c.conversation, format!(
                    "ALERT: {} was shown a different key directory than you for epoch {}: the server is showing people different views (a split view), so keys in this conversation can't be trusted",
                    c.sender, c.epoch
                ));
            }
        }
        Ok(())
    }
}

/// Verifies an append-only proof from `start` to `end`; returns the root hashes.
pub async fn verify_audit(start: u64, end: u64, audit: &proto::KtAudit) -> Result<Vec<[u8; 32]>, ClientError> {
    if end <= start {
        return Err(kt_err("an empty audit range"));
    }
    let expected = usize::try_from(end - start + 1).map_err(kt_err)?;
    if audit.hashes.len() != expected {
        return Err(kt_err(format!(
            "the append-only proof names {} roots for epochs {start}..={end}",
            audit.hashes.len()
        )));
    }
    let mut hashes = Vec::with_capacity(expected);
    for h in &audit.hashes {
        let arr: [u8; 32] = h.0.as_slice().try_into().map_err(|_| kt_err("a malformed root hash in the append-only proof"))?;
        hashes.push(arr);
    }
    let proof: akd::AppendOnlyProof =
        serde_json::from_slice(&audit.proof.0).map_err(|_| kt_err("the append-only proof is malformed"))?;
    akd::auditor::audit_verify::<kt::Config>(hashes.clone(), proof)
        .await
        .map_err(|e| kt_err(format!("the append-only proof does not verify: {e:?}")))?;
    Ok(hashes)
}

/// What an auditor remembers between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditState {
    /// The directory's VRF public key.
    pub vrf_public_key: Vec<u8>,
    /// The latest root audited.
    pub root: Root,
}

/// The result of an audit.
#[derive(Debug, Clone)]
pub struct AuditReport {
    /// First epoch of the range checked this run.
    pub from: u64,
    /// Latest epoch, now audited.
    pub to: u64,
    /// What to remember for the next run.
    pub state: AuditState,
}

/// Audits a server's key directory as an independent auditor: every epoch since the last
/// audit (or since the first) must be an append-only extension of the one before, the
/// root remembered from the last run must still be there, and the directory must not have
/// gone back.
pub async fn audit(server: &str, trust: &crate::tls::Trust, previous: Option<&AuditState>) -> Result<AuditReport, ClientError> {
    const CHUNK: u64 = 64;
    let api = crate::api::Api::new(server, trust)?;
    let info: proto::KtInfo = api.call::<(), _>(None, Method::GET, "/v1/kt/info", None).await?;
    let latest = root_of(&info.root)?;
    let mut from = 1;
    if let Some(prev) = previous {
        if prev.vrf_public_key != info.vrf_public_key.0 {
            return Err(kt_err("the directory's VRF key is not the one audited before"));
        }
        if latest.epoch < prev.root.epoch {
            return Err(kt_err(format!(
                "the directory was rolled back: it is at epoch {}, but epoch {} was audited before",
                latest.epoch, prev.root.epoch
            )));
        }
        if latest.epoch == prev.root.epoch && latest.hash != prev.root.hash {
            return Err(kt_err(format!("the directory's root for epoch {} changed since the last audit", latest.epoch)));
        }
        from = prev.root.epoch;
    }
    let mut last: Option<[u8; 32]> = previous.map(|p| p.root.hash);
    let mut start = from;
    while start < latest.epoch {
        let end = (start + CHUNK).min(latest.epoch);
        let audit: proto::KtAudit = api
            .call::<(), _>(None, Method::GET, &format!("/v1/kt/audit?start={start}&end={end}"), None)
            .await?;
        let hashes = verify_audit(start, end, &audit).await?;
        if let Some(prev_hash) = last
            && hashes.first() != Some(&prev_hash)
        {
            return Err(kt_err(format!(
                "the directory's root for epoch {start} is not the one audited before: it was rolled back or forked"
            )));
        }
        last = hashes.last().copied();
        start = end;
    }
    if latest.epoch > from && last != Some(latest.hash) {
        return Err(kt_err("the latest root is not the end of the audited chain"));
    }
    Ok(AuditReport {
        from,
        to: latest.epoch,
        state: AuditState { vrf_public_key: info.vrf_public_key.0, root: latest },
    })
}

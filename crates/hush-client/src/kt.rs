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

/// How many verified roots a device remembers.
const ROOTS_KEPT: usize = 4096;
/// The tag in front of the root a message carries in its MLS authenticated data.
const AAD_TAG: &[u8; 8] = b"hush-kt1";

/// What a device keeps about the directory.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct KtState {
    /// The directory's VRF public key, pinned on first use.
    pub vrf_public_key: Option<Vec<u8>>,
    /// The latest root this device verified.
    pub latest: Option<Root>,
    /// Every root verified, by epoch (bounded).
    pub roots: BTreeMap<u64, [u8; 32]>,
    /// Directory values of our own user that we published or can account for (hex).
    pub acknowledged: BTreeSet<String>,
    /// Own values already alarmed about (hex), so an alarm is raised once.
    pub alarmed: BTreeSet<String>,
    /// The epoch at which our own history was last checked.
    pub own_checked_epoch: u64,
    /// Roots other members claimed in their messages, still to be compared.
    pub claims: Vec<Claim>,
    /// Epochs for which a split view was already reported.
    pub split_reported: BTreeSet<u64>,
    /// Each user's device list as last proven by the directory, and the epoch it was
    /// proven at (a newer epoch means look again). Named apart from an earlier format.
    #[serde(default, rename = "proven_devices")]
    pub checked: BTreeMap<String, (u64, BTreeSet<String>)>,
}

/// A root another member said it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claim {
    /// The epoch.
    pub epoch: u64,
    /// Its root hash as the member saw it.
    pub hash: [u8; 32],
    /// Who.
    pub sender: String,
    /// In which conversation (hex id).
    pub conversation: String,
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
        self.kt_advance(root).await?;
        Ok(root)
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

    /// Acknowledges our own current directory value (after registering or linking).
    pub(crate) fn kt_acknowledge(&mut self, value: &[u8]) {
        self.state.kt.acknowledged.insert(hex::encode(value));
    }

    /// Checks our own key history: every version must be one we published or can account
    /// for (our identity key and devices whose certificates our identity key signed).
    /// Anything else raises an alarm, once.
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
        // What we can account for now: our key and the devices our identity key certified.
        let current = self.own_device_list().await.ok().map(|d| kt::directory_value(&self.identity.public(), &d));
        for v in versions {
            let hexv = hex::encode(&v.value);
            if self.state.kt.acknowledged.contains(&hexv) {
                continue;
            }
            if current.as_deref() == Some(v.value.as_slice()) {
                self.state.kt.acknowledged.insert(hexv);
                continue;
            }
            if self.state.kt.alarmed.insert(hexv) {
                let what = match kt::parse_value(&v.value) {
                    Ok((ik, _)) if !ik.ct_eq(&self.identity.public()) => format!("an identity key that is not yours ({})", ik.fingerprint()),
                    _ => "a device list with a device you did not add".to_owned(),
                };
                self.alarm(format!(
                    "ALERT: the key directory lists {what} for {me} (epoch {}, version {}). You did not publish it: someone controlling the server may be trying to impersonate you.",
                    v.epoch, v.version
                ));
            }
        }
        self.state.kt.own_checked_epoch = hroot.epoch;
        Ok(())
    }

    /// Our devices as the server lists them, each certificate checked against our own
    /// identity key.
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
pub async fn audit(server: &str, previous: Option<&AuditState>) -> Result<AuditReport, ClientError> {
    const CHUNK: u64 = 64;
    let api = crate::api::Api::new(server)?;
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

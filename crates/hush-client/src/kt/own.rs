//! Our own user's key history: every version the directory lists for us must carry our
//! identity key and a device list made of devices our identity key certified; anything
//! else raises an alarm once. Also the account's accepted history that one device hands
//! another (a link, a backup).

use std::collections::BTreeSet;

use hush_core::identity::{DeviceCertificate, PublicKey};
use hush_core::kt;
use hush_proto as proto;

use super::{OwnHistory, kt_err, root_of};
use crate::{Client, ClientError};

/// A device as a directory version lists it: id and key.
type Dev = (String, [u8; 32]);

/// The devices hash the directory holds for this set.
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

impl Client {
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

    /// Raises an alarm about our own history.
    fn alarm(&mut self, text: String) {
        self.warn("", text);
    }
}

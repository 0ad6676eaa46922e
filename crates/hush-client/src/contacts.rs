//! Other users as the key directory shows them: looking a user up (identity key and every
//! device certificate, proven by the directory, then checked against the pin), claiming
//! their KeyPackages, and making someone a contact.

use std::collections::BTreeSet;

use hush_core::identity::{CertificateBody, DeviceCertificate, PublicKey};
use hush_core::mls;
use hush_proto as proto;
use reqwest::Method;

use crate::client::Client;
use crate::error::ClientError;
use crate::names::short_device;

impl Client {
    /// Looks a user up in the directory and checks their identity key and every device
    /// certificate. Returns the verified device ids.
    pub(crate) async fn lookup_user(&mut self, user: &str) -> Result<Vec<String>, ClientError> {
        hush_core::username::validate(user).map_err(|e| ClientError::Usage(format!("{user}: {e}")))?;
        let found = self
            .api
            .call::<(), proto::UserRecord>(Some(&self.signer()), Method::GET, &format!("/v1/users/{user}"), None)
            .await;
        let rec = match found {
            Ok(rec) => rec,
            Err(e) if e.code() == Some(proto::codes::NOT_FOUND) => {
                // The key directory, not the server's word, says whether it was deleted.
                if self.kt_user_deleted(user).await {
                    return Err(ClientError::Usage(format!("{user}'s account was deleted on the server")));
                }
                return Err(ClientError::Usage(format!("there is no user named {user} on this server")));
            }
            Err(e) => return Err(ClientError::Api(e)),
        };
        let ik = PublicKey::from_slice(&rec.identity_key.0)
            .map_err(|_| ClientError::BadDevice { user: user.into(), reason: "the directory's identity key is malformed".into() })?;
        let mut devices = Vec::new();
        let mut listed = Vec::new();
        for d in &rec.devices {
            let cert = DeviceCertificate::decode_and_verify(&d.certificate.0)
                .map_err(|e| ClientError::BadDevice { user: user.into(), reason: e.to_string() })?;
            let body = cert.body();
            if body.username != user || !body.identity_key.ct_eq(&ik) || body.device_id != d.device_id {
                return Err(ClientError::BadDevice { user: user.into(), reason: "a device certificate does not match the directory".into() });
            }
            devices.push(d.device_id.clone());
            listed.push((d.device_id.clone(), body.device_key));
        }
        // The key directory must vouch for this identity key and exactly these devices.
        self.kt_check_user(user, &ik, &listed).await?;
        let checked = self.check_trust_inner(&CertificateBody {
            username: user.into(),
            device_id: String::new(),
            device_key: ik,
            identity_key: ik,
            issued_at: 0,
        }, true);
        if checked.is_err() {
            // Remember the changed key, so that `hush trust` / `hush verify` can show it.
            self.save()?;
        }
        checked?;
        Ok(devices)
    }

    /// Claims one KeyPackage per device of `user` and checks each against the pinned key
    /// and against `proven`, the devices the key directory has just vouched for: a device
    /// the directory does not list (revoked, or never published) never joins.
    pub(crate) async fn claim(&mut self, user: &str, proven: &BTreeSet<String>) -> Result<Vec<mls::CheckedKeyPackage>, ClientError> {
        self.ensure_sendable(user)?;
        let resp: proto::ClaimResponse = self
            .api
            .call::<(), _>(Some(&self.signer()), Method::POST, &format!("/v1/users/{user}/claim"), None)
            .await
            .map_err(|e| match e.code() {
                Some(proto::codes::NOT_FOUND) => ClientError::Usage(format!("there is no user named {user} on this server")),
                _ => ClientError::Api(e),
            })?;
        let mut out = Vec::new();
        for c in resp.key_packages {
            let checked = mls::check_key_package(&c.key_package.0)
                .map_err(|e| ClientError::BadDevice { user: user.into(), reason: e.to_string() })?;
            if checked.certificate.username != user || checked.certificate.device_id != c.device_id {
                return Err(ClientError::BadDevice {
                    user: user.into(),
                    reason: "the server handed out a KeyPackage for another device".into(),
                });
            }
            if !proven.contains(&checked.certificate.device_id) {
                return Err(ClientError::BadDevice {
                    user: user.into(),
                    reason: format!(
                        "the server handed out a KeyPackage for device {}, which the key directory does not list for {user} (a revoked or unpublished device); nothing was changed",
                        short_device(&checked.certificate.device_id)
                    ),
                });
            }
            self.check_trust(&checked.certificate).map_err(|e| match e {
                ClientError::KeyChanged { .. } => ClientError::BadDevice {
                    user: user.into(),
                    reason: format!("its KeyPackage does not chain to {user}'s identity key ({e})"),
                },
                e => e,
            })?;
            out.push(checked);
        }
        if out.is_empty() {
            return Err(ClientError::Usage(format!("{user} has no devices that can be reached")));
        }
        Ok(out)
    }

    /// A user's device ids as the key directory proves them, looked up again only when the
    /// directory moved on since the last check.
    pub(crate) async fn proven_devices(&mut self, user: &str) -> Result<BTreeSet<String>, ClientError> {
        let epoch = self.state.kt.latest.map(|r| r.epoch).unwrap_or(0);
        if let Some((e, devices)) = self.state.kt.checked.get(user)
            && *e == epoch
            && epoch > 0
        {
            return Ok(devices.clone());
        }
        let devices: BTreeSet<String> = self.lookup_user(user).await?.into_iter().collect();
        let now = self.state.kt.latest.map(|r| r.epoch).unwrap_or(0);
        self.state.kt.checked.insert(user.to_owned(), (now, devices.clone()));
        Ok(devices)
    }

    /// Makes `user` a contact: looks them up in the key directory (their identity key is
    /// pinned from now on), after the person confirmed they mean this user.
    pub async fn introduce(&mut self, user: &str) -> Result<(), ClientError> {
        if user == self.state.username {
            return Err(ClientError::Usage("to talk to your other devices, create a conversation".into()));
        }
        self.lookup_user(user).await?;
        self.save()
    }
}

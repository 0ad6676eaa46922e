//! Making a device: registering a new account, and the steps every new device shares (a
//! fresh home, its first KeyPackages, its first check against the key directory), used by
//! registration here, by linking (`link.rs`) and by recovery (`recovery.rs`).

use std::path::Path;

use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
use hush_core::mls::{self, Device, HushProvider};
use hush_core::sealed::SealKey;
use hush_proto::{self as proto, B64};
use reqwest::Method;

use crate::api::{Api, Signer};
use crate::client::Client;
use crate::error::ClientError;
use crate::state::{Contact, Home, State};
use crate::tls;

/// How many single-use KeyPackages a device keeps on the server.
pub(crate) const KEY_PACKAGE_BATCH: usize = 20;

/// Checks what every new device needs before anything is made: a valid username, a
/// passphrase, and a home that holds no account yet (its lock taken).
pub(crate) fn new_home(home_dir: &Path, username: &str, passphrase: &[u8]) -> Result<Home, ClientError> {
    hush_core::username::validate(username).map_err(|e| ClientError::Usage(e.to_string()))?;
    if passphrase.is_empty() {
        return Err(ClientError::Usage("the passphrase may not be empty".into()));
    }
    let home = Home::lock(home_dir)?;
    if home.has_state() {
        return Err(ClientError::AccountExists(home_dir.display().to_string()));
    }
    Ok(home)
}

/// A new device's certificate and a batch of its KeyPackages, for the server.
pub(crate) fn device_upload(provider: &HushProvider, device_key: &SecretKey, certificate: &DeviceCertificate) -> Result<proto::DeviceUpload, ClientError> {
    let (kps, last) = mls::key_packages(provider, &Device { key: device_key, certificate }, KEY_PACKAGE_BATCH)?;
    Ok(proto::DeviceUpload {
        certificate: B64(certificate.encode()),
        key_packages: kps.into_iter().map(B64).collect(),
        last_resort: B64(last),
    })
}

impl Client {
    /// Seals a new device's first state, then checks that the key directory shows our
    /// identity key with exactly our devices (this one included) and acknowledges that.
    pub(crate) async fn start_new_device(&mut self) -> Result<(), ClientError> {
        self.save()?;
        let own = self.own_device_list().await?;
        let ik = self.identity.public();
        self.kt_acknowledge(&hush_core::kt::directory_value(&ik, &own));
        let me = self.state.username.clone();
        self.kt_check_user(&me, &ik, &own).await?;
        self.save()
    }

    /// Creates an account: identity key, first device, KeyPackages, registration.
    pub async fn register(home_dir: &Path, server: &str, trust: &tls::Trust, username: &str, passphrase: &[u8]) -> Result<Client, ClientError> {
        Self::register_invited(home_dir, server, trust, username, passphrase, None).await
    }

    /// Like [`Client::register`], with an invitation token from the server's operator (a
    /// server that registers by invitation only needs one).
    pub async fn register_invited(
        home_dir: &Path,
        server: &str,
        trust: &tls::Trust,
        username: &str,
        passphrase: &[u8],
        invite: Option<&str>,
    ) -> Result<Client, ClientError> {
        let home = new_home(home_dir, username, passphrase)?;
        let api = Api::new(server, trust)?;
        let identity = SecretKey::generate();
        let device_key = SecretKey::generate();
        let device_id = new_device_id();
        let certificate = DeviceCertificate::issue(&identity, username, &device_id, device_key.public());
        let provider = HushProvider::new()?;
        let req = proto::RegisterRequest {
            username: username.to_owned(),
            identity_key: B64(identity.public().0.to_vec()),
            device: device_upload(&provider, &device_key, &certificate)?,
            invite: invite.map(str::to_owned),
        };
        let signer = Signer { device_id: &device_id, key: &device_key };
        let _: proto::RegisteredDevice = api
            .call(Some(&signer), Method::POST, "/v1/register", Some(&req))
            .await
            .map_err(|e| match e.code() {
                Some(proto::codes::USERNAME_TAKEN) => ClientError::Usage(format!("the username {username} is taken on this server")),
                _ => ClientError::Api(e),
            })?;
        let mut contacts = std::collections::BTreeMap::new();
        contacts.insert(
            username.to_owned(),
            Contact { identity_key: identity.public(), pinned_at: hush_core::now_ms(), changed_key: None, verified: true },
        );
        let mut state = State::new_device(api.base(), username, &identity, &device_key, &certificate, contacts);
        // The personal drive's first key; linked and recovered devices receive it.
        state.drive_keys.insert(1, hush_core::files::SpaceKey::generate());
        let key = SealKey::derive_new(passphrase).map_err(|e| ClientError::Internal(e.to_string()))?;
        let mut client = Client { home, key, state, provider, identity, device_key, certificate, api, fresh_phrase: None };
        // The server published us in its key directory: pin its VRF key and first root,
        // and check that it holds exactly our key and this device.
        client.start_new_device().await?;
        // The recovery phrase, and the first backup it unlocks.
        let phrase = client.setup_recovery();
        client.fresh_phrase = Some(phrase);
        client.save()?;
        // The account exists now whatever happens to the backup; a failure is reported
        // and the next sync tries again.
        if let Err(e) = client.backup_if_changed().await {
            client.warn("", format!("could not store your account backup on the server yet: {e}"));
            client.save()?;
        }
        Ok(client)
    }
}

//! The client itself: [`Client`], one device of one user opened from its sealed home, and
//! what every part of the crate needs from it (saving, signing, its MLS device).

use std::path::Path;

use hush_core::identity::{DeviceCertificate, SecretKey};
use hush_core::mls::{Device, HushProvider};
use hush_core::sealed::SealKey;

use crate::api::{Api, Signer};
use crate::error::ClientError;
use crate::state::{Home, SecretBytes, State};
use crate::tls;

/// Signed request headers.
pub type Headers = Vec<(&'static str, String)>;

/// One device of one user.
pub struct Client {
    pub(crate) home: Home,
    pub(crate) key: SealKey,
    pub(crate) state: State,
    pub(crate) provider: HushProvider,
    pub(crate) identity: SecretKey,
    pub(crate) device_key: SecretKey,
    pub(crate) certificate: DeviceCertificate,
    pub(crate) api: Api,
    /// The recovery phrase made at registration, until the caller takes it; never stored.
    pub(crate) fresh_phrase: Option<hush_core::recovery::RecoveryPhrase>,
}

impl Client {
    /// Opens the account in a home directory; `trust` names the certificate authorities
    /// trusted for an `https://` server.
    pub fn open(home_dir: &Path, passphrase: &[u8], trust: &tls::Trust) -> Result<Client, ClientError> {
        let home = Home::lock(home_dir)?;
        if !home.has_state() {
            return Err(ClientError::NoAccount(home_dir.display().to_string()));
        }
        let (state, key) = home.load(passphrase)?;
        let provider = if state.mls.0.is_empty() {
            HushProvider::new()?
        } else {
            HushProvider::import_state(&state.mls.0)?
        };
        let identity = SecretKey::from_bytes(&state.identity_secret.0).map_err(|e| ClientError::Internal(e.to_string()))?;
        let device_key = SecretKey::from_bytes(&state.device_secret.0).map_err(|e| ClientError::Internal(e.to_string()))?;
        let certificate = DeviceCertificate::decode_and_verify(&state.certificate).map_err(|e| ClientError::Internal(e.to_string()))?;
        let api = Api::new(&state.server, trust)?;
        Ok(Client { home, key, state, provider, identity, device_key, certificate, api, fresh_phrase: None })
    }

    /// Seals the state to disk.
    pub(crate) fn save(&mut self) -> Result<(), ClientError> {
        self.state.mls = SecretBytes(self.provider.export_state()?);
        self.home.save(&self.state, &self.key)
    }

    pub(crate) fn signer(&self) -> Signer<'_> {
        Signer { device_id: &self.state.device_id, key: &self.device_key }
    }

    pub(crate) fn device(&self) -> Device<'_> {
        Device { key: &self.device_key, certificate: &self.certificate }
    }

    /// Our username.
    pub fn username(&self) -> &str {
        &self.state.username
    }

    /// Our device id.
    pub fn device_id(&self) -> &str {
        &self.state.device_id
    }

    /// The server URL.
    pub fn server(&self) -> &str {
        &self.state.server
    }

    /// The certificate authorities trusted for the server (also for the push socket).
    pub fn tls_trust(&self) -> &tls::Trust {
        self.api.trust()
    }

    /// Our identity key's fingerprint.
    pub fn fingerprint(&self) -> String {
        self.identity.public().fingerprint()
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        self.home.dir()
    }

    /// Signed headers for a websocket upgrade on `path`.
    pub fn signed_headers(&self, method: &str, path: &str) -> Headers {
        Api::signed_headers(&self.signer(), method, path, b"")
    }

    /// The URL and signed headers for the live push connection.
    pub fn websocket_request(&self) -> Result<(String, Headers), ClientError> {
        let base = self.api.base();
        let ws = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}/v1/ws")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}/v1/ws")
        } else {
            return Err(ClientError::Usage(format!("bad server address {base}")));
        };
        Ok((ws, self.signed_headers("GET", "/v1/ws")))
    }

    /// This account's devices, as the directory lists them (each certificate checked);
    /// the flag marks this device.
    pub async fn devices(&mut self) -> Result<Vec<(String, bool)>, ClientError> {
        let me = self.state.username.clone();
        let ids = self.lookup_user(&me).await?;
        Ok(ids.into_iter().map(|id| {
            let this = id == self.state.device_id;
            (id, this)
        }).collect())
    }
}

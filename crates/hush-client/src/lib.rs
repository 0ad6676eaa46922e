//! hush-client: the client library the CLI (and the web UI) call.
//!
//! A [`Client`] is one device of one user, opened from its hush home with the passphrase.
//! It registers, creates conversations, sends and receives, and keeps its state sealed on
//! disk. It trusts the server for nothing but delivery: every KeyPackage, Welcome and
//! commit is checked (`hush_core::mls`) and every identity key is compared with the one
//! pinned for that user before it is used.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hush_client::ClientError> {
//! let home = std::path::Path::new("/tmp/alice");
//! let mut alice = hush_client::Client::register(home, "http://127.0.0.1:7777", &hush_client::tls::Trust::system(), "alice", b"passphrase").await?;
//! alice.send("bob", "hello").await?;
//! for m in alice.sync_and_take_unread().await? {
//!     println!("{}: {}", m.sender, m.text);
//! }
//! # Ok(()) }
//! ```

pub mod api;
pub mod drive;
pub mod kt;
pub mod link;
mod membership;
pub mod push;
pub mod tls;
pub mod recovery;
pub mod state;
pub mod transcript;

use std::collections::BTreeSet;
use std::path::Path;

use hush_core::identity::{CertificateBody, DeviceCertificate, PublicKey, SecretKey, new_device_id};
use hush_core::message::{MAX_TEXT_BYTES, Payload};
use hush_core::mls::{self, Conversation, Device, HushProvider, Incoming, MlsError, PendingJoin};
use hush_core::sealed::SealKey;
use hush_proto::{self as proto, B64};
use reqwest::Method;
use sha2::{Digest, Sha256};

pub use api::ApiError;
pub use recovery::{recover, recover_with_guardians};
use api::{Api, Signer};
pub use state::{ConversationMeta, Received};
use state::{Contact, Home, NewDevice, SecretBytes, State};

/// Signed request headers.
pub type Headers = Vec<(&'static str, String)>;

/// What a membership change adds (KeyPackages and their device ids) and removes.
type Plan = (Vec<mls::KeyPackage>, Vec<String>, Vec<String>);
/// A membership change's planning step, run again after each lost race.
type PlanFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Plan, ClientError>> + Send + 'a>>;

/// How many single-use KeyPackages a device keeps on the server.
const KEY_PACKAGE_BATCH: usize = 20;
/// How often a change that lost the race for an epoch is retried.
const COMMIT_RETRIES: usize = 8;
/// How often a commit whose answer did not arrive is posted again.
const COMMIT_REPOSTS: usize = 3;

/// Everything that can go wrong, each as one sentence a person can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No account in this home.
    #[error("no hush account in {0}; run `hush register` first")]
    NoAccount(String),
    /// Registering over an existing account.
    #[error("{0} already holds an account; use another --home")]
    AccountExists(String),
    /// The passphrase does not open the local state.
    #[error("wrong passphrase (or the local state was changed)")]
    WrongPassphrase,
    /// The home directory can't be used.
    #[error("{0}")]
    Home(String),
    /// The server refused or could not be reached.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A contact's identity key differs from the pinned one.
    #[error("{user}'s identity key changed since you first saw it (was {old}, now {new}); nothing is sent to {user} until you check with them and run `hush trust {user}`")]
    KeyChanged {
        /// The user.
        user: String,
        /// Old fingerprint.
        old: String,
        /// New fingerprint.
        new: String,
    },
    /// A verified contact's identity key changed.
    #[error("{user}'s identity key changed since you verified it, so nothing is sent to {user}; compare the new safety number with them (`hush verify {user}`) and, if it matches, run `hush verify {user} --confirm`")]
    VerifiedKeyChanged {
        /// The user.
        user: String,
    },
    /// A certificate or KeyPackage that does not chain to the user's identity key.
    #[error("refused {user}'s device: {reason}")]
    BadDevice {
        /// The user.
        user: String,
        /// Why.
        reason: String,
    },
    /// Input the user can fix.
    #[error("{0}")]
    Usage(String),
    /// A key-transparency check failed: the server's directory can't be trusted.
    #[error("key transparency: {0}")]
    Transparency(String),
    /// MLS refused something.
    #[error(transparent)]
    Mls(#[from] MlsError),
    /// A bug or local failure.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The result of a sync.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Inbox items processed.
    pub processed: usize,
}

/// A safety number as `hush verify` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SafetyView {
    /// The other user.
    pub user: String,
    /// 60 digits.
    pub number: String,
    /// What the QR code encodes.
    pub qr_payload: String,
    /// Whether this key is verified.
    pub verified: bool,
    /// Whether the directory shows a key other than the one pinned.
    pub key_changed: bool,
    /// Whether the contact was verified before (possibly with an older key).
    pub was_verified: bool,
}

/// One device of one user.
pub struct Client {
    home: Home,
    key: SealKey,
    state: State,
    provider: HushProvider,
    identity: SecretKey,
    device_key: SecretKey,
    certificate: DeviceCertificate,
    api: Api,
    /// The recovery phrase made at registration, until the caller takes it; never stored.
    fresh_phrase: Option<hush_core::recovery::RecoveryPhrase>,
}

/// A member of a conversation as this device's MLS state shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberView {
    /// Username.
    pub username: String,
    /// Device id.
    pub device_id: String,
    /// Identity key fingerprint.
    pub fingerprint: String,
}

/// Checks what every new device needs before anything is made: a valid username, a
/// passphrase, and a home that holds no account yet (its lock taken).
fn new_home(home_dir: &Path, username: &str, passphrase: &[u8]) -> Result<Home, ClientError> {
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
fn device_upload(provider: &HushProvider, device_key: &SecretKey, certificate: &DeviceCertificate) -> Result<proto::DeviceUpload, ClientError> {
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
    async fn start_new_device(&mut self) -> Result<(), ClientError> {
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
    fn save(&mut self) -> Result<(), ClientError> {
        self.state.mls = SecretBytes(self.provider.export_state()?);
        self.home.save(&self.state, &self.key)
    }

    fn signer(&self) -> Signer<'_> {
        Signer { device_id: &self.state.device_id, key: &self.device_key }
    }

    fn device(&self) -> Device<'_> {
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

    // ---------------------------------------------------------------- trust

    /// Checks a certificate's identity key against the pin for its user; pins on first use.
    /// Only the directory's own answer may record a changed key for the user to accept
    /// (`from_directory`); a KeyPackage, Welcome or commit with another key is refused
    /// without touching the pin, so a forged one can't be "accepted" by mistake.
    fn check_trust(&mut self, cert: &CertificateBody) -> Result<(), ClientError> {
        self.check_trust_inner(cert, false)
    }

    fn check_trust_inner(&mut self, cert: &CertificateBody, from_directory: bool) -> Result<(), ClientError> {
        match self.state.contacts.get_mut(&cert.username) {
            None => {
                self.state.contacts.insert(
                    cert.username.clone(),
                    Contact { identity_key: cert.identity_key, pinned_at: hush_core::now_ms(), changed_key: None, verified: false },
                );
                Ok(())
            }
            Some(c) if c.identity_key.ct_eq(&cert.identity_key) => Ok(()),
            Some(c) => {
                let old = c.identity_key.fingerprint();
                if from_directory {
                    c.changed_key = Some(cert.identity_key);
                    if c.verified {
                        return Err(ClientError::VerifiedKeyChanged { user: cert.username.clone() });
                    }
                }
                Err(ClientError::KeyChanged { user: cert.username.clone(), old, new: cert.identity_key.fingerprint() })
            }
        }
    }

    fn ensure_sendable(&self, user: &str) -> Result<(), ClientError> {
        if let Some(c) = self.state.contacts.get(user)
            && let Some(new) = c.changed_key
        {
            if c.verified {
                return Err(ClientError::VerifiedKeyChanged { user: user.to_owned() });
            }
            return Err(ClientError::KeyChanged {
                user: user.to_owned(),
                old: c.identity_key.fingerprint(),
                new: new.fingerprint(),
            });
        }
        Ok(())
    }

    /// The safety number with `user` (looked up and checked in the directory), its QR
    /// payload, and whether it is verified.
    pub async fn safety_number(&mut self, user: &str) -> Result<SafetyView, ClientError> {
        if user == self.state.username {
            return Err(ClientError::Usage("a safety number is between you and someone else".into()));
        }
        // Looks the user up (and, for a changed key, records it without failing here).
        match self.lookup_user(user).await {
            Ok(_) | Err(ClientError::KeyChanged { .. }) | Err(ClientError::VerifiedKeyChanged { .. }) => {}
            Err(e) => return Err(e),
        }
        self.save()?;
        let contact = self
            .state
            .contacts
            .get(user)
            .cloned()
            .ok_or_else(|| ClientError::Internal("contact missing after lookup".into()))?;
        let theirs = contact.changed_key.unwrap_or(contact.identity_key);
        let me = self.identity.public();
        let number = hush_core::safety::safety_number(&self.state.username, &me, user, &theirs);
        Ok(SafetyView {
            user: user.to_owned(),
            number,
            qr_payload: hush_core::safety::qr_payload(&self.state.username, &me, user, &theirs),
            verified: contact.verified && contact.changed_key.is_none(),
            key_changed: contact.changed_key.is_some(),
            was_verified: contact.verified,
        })
    }

    /// Records that the user compared the safety number with `user` and it matched: the key
    /// the directory shows now is accepted and marked verified.
    pub async fn confirm_verified(&mut self, user: &str) -> Result<SafetyView, ClientError> {
        let view = self.safety_number(user).await?;
        if let Some(c) = self.state.contacts.get_mut(user) {
            if let Some(new) = c.changed_key.take() {
                c.identity_key = new;
                c.pinned_at = hush_core::now_ms();
            }
            c.verified = true;
        }
        self.save()?;
        Ok(SafetyView { verified: true, key_changed: false, was_verified: true, ..view })
    }

    /// Accepts a contact's changed identity key after the user checked it out of band.
    pub fn trust(&mut self, user: &str) -> Result<String, ClientError> {
        let c = self
            .state
            .contacts
            .get_mut(user)
            .ok_or_else(|| ClientError::Usage(format!("you have no contact named {user}")))?;
        if c.verified && c.changed_key.is_some() {
            return Err(ClientError::VerifiedKeyChanged { user: user.to_owned() });
        }
        let Some(new) = c.changed_key.take() else {
            return Ok(format!("{user}'s identity key has not changed ({})", c.identity_key.fingerprint()));
        };
        c.identity_key = new;
        c.pinned_at = hush_core::now_ms();
        self.save()?;
        Ok(format!("{user}'s new identity key {} is now trusted", new.fingerprint()))
    }

    /// Looks a user up in the directory and checks their identity key and every device
    /// certificate. Returns the verified device ids.
    async fn lookup_user(&mut self, user: &str) -> Result<Vec<String>, ClientError> {
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
    async fn claim(&mut self, user: &str, proven: &BTreeSet<String>) -> Result<Vec<mls::CheckedKeyPackage>, ClientError> {
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

    // ---------------------------------------------------------------- conversations

    /// The conversations this device knows.
    pub fn conversations(&self) -> Vec<(ConversationMeta, Vec<MemberView>)> {
        self.state
            .conversations
            .values()
            .map(|m| (m.clone(), self.members_of(&m.id).unwrap_or_default()))
            .collect()
    }

    fn members_of(&self, id_hex: &str) -> Result<Vec<MemberView>, ClientError> {
        let id = hex::decode(id_hex).map_err(|e| ClientError::Internal(e.to_string()))?;
        let conv = Conversation::load(&self.provider, &id)?
            .ok_or_else(|| ClientError::Internal("conversation state missing".into()))?;
        Ok(conv
            .members()
            .into_iter()
            .filter_map(|m| m.certificate.ok())
            .map(|c| MemberView { fingerprint: c.identity_key.fingerprint(), username: c.username, device_id: c.device_id })
            .collect())
    }

    /// Members of a conversation named by the user.
    pub fn members(&self, target: &str) -> Result<Vec<MemberView>, ClientError> {
        let id = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        self.members_of(&id)
    }

    fn display_name(&self, meta: &ConversationMeta) -> String {
        if meta.direct || meta.name.is_empty() {
            let others: BTreeSet<String> = self
                .members_of(&meta.id)
                .unwrap_or_default()
                .into_iter()
                .map(|m| m.username)
                .filter(|u| u != &self.state.username)
                .collect();
            if others.is_empty() {
                return if meta.name.is_empty() { meta.id[..8].to_owned() } else { meta.name.clone() };
            }
            return others.into_iter().collect::<Vec<_>>().join(",");
        }
        meta.name.clone()
    }

    /// Finds a conversation: `#NAME` is always a conversation (by name or id prefix),
    /// `@NAME` always the user NAME (the most recent one-to-one conversation with them), and
    /// a bare NAME either, but never both: a bare name that is both a conversation and a
    /// user is refused with a sentence naming the two forms, so a conversation can't hide
    /// a user of the same name (or the other way round).
    fn resolve(&self, target: &str) -> Result<Option<String>, ClientError> {
        let (name, as_user, as_conv) = match (target.strip_prefix('@'), target.strip_prefix('#')) {
            (Some(n), _) => (n, true, false),
            (_, Some(n)) => (n, false, true),
            _ => (target, true, true),
        };
        let conv = if as_conv { self.resolve_group(name)? } else { None };
        let user = if as_user { self.resolve_direct(name) } else { None };
        if as_user && as_conv && conv.is_some() && (user.is_some() || self.state.contacts.contains_key(name)) {
            let name = hush_core::display::escape(name);
            return Err(ClientError::Usage(format!(
                "{name} is both a conversation and a user; write #{name} for the conversation or @{name} for the user"
            )));
        }
        Ok(conv.or(user))
    }

    /// An active group conversation by name or id prefix.
    fn resolve_group(&self, name: &str) -> Result<Option<String>, ClientError> {
        let active = || self.state.conversations.values().filter(|m| m.active);
        let by_name: Vec<_> = active().filter(|m| !m.direct && m.name == name).collect();
        if by_name.len() > 1 {
            return Err(ClientError::Usage(format!(
                "several conversations are named {}; use its id from `hush conversation list`",
                hush_core::display::escape(name)
            )));
        }
        if let Some(m) = by_name.first() {
            return Ok(Some(m.id.clone()));
        }
        if name.len() >= 6 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let by_id: Vec<_> = active().filter(|m| m.id.starts_with(&name.to_ascii_lowercase())).collect();
            if by_id.len() == 1 {
                return Ok(Some(by_id[0].id.clone()));
            }
        }
        Ok(None)
    }

    /// The most recently joined active one-to-one conversation with `user`.
    fn resolve_direct(&self, user: &str) -> Option<String> {
        let mut direct: Vec<_> = self
            .state
            .conversations
            .values()
            .filter(|m| m.active && m.direct)
            .filter(|m| {
                let members = self.members_of(&m.id).unwrap_or_default();
                members.iter().any(|x| x.username == user) && members.iter().all(|x| x.username == user || x.username == self.state.username)
            })
            .collect();
        direct.sort_by_key(|m| m.joined_at);
        direct.last().map(|m| m.id.clone())
    }

    /// If sending to `target` would start a conversation with a user this device has never
    /// seen (neither a conversation nor a contact), that user: the caller asks the person
    /// (or needs an explicit flag in scripts) and then calls [`Client::introduce`].
    pub fn new_contact_needed(&self, target: &str) -> Result<Option<String>, ClientError> {
        if target.starts_with('#') || self.resolve(target)?.is_some() {
            return Ok(None);
        }
        let user = target.strip_prefix('@').unwrap_or(target);
        let left = self.state.conversations.values().any(|m| !m.active && !m.direct && m.name == target);
        if left || user == self.state.username || hush_core::username::validate(user).is_err() || self.state.contacts.contains_key(user) {
            return Ok(None);
        }
        Ok(Some(user.to_owned()))
    }

    /// The conversation or contact whose name is closest to `name` (at most two edits
    /// away), for "did you mean 'weekend'?".
    pub fn did_you_mean(&self, name: &str) -> Option<String> {
        let name = name.strip_prefix('@').or_else(|| name.strip_prefix('#')).unwrap_or(name);
        let groups = self.state.conversations.values().filter(|m| m.active && !m.direct).map(|m| m.name.as_str());
        let contacts = self.state.contacts.keys().map(String::as_str).filter(|u| *u != self.state.username);
        groups
            .chain(contacts)
            .filter(|c| *c != name)
            .map(|c| (edit_distance(name, c), c))
            .filter(|(d, _)| *d <= 2)
            .min()
            .map(|(_, c)| c.to_owned())
    }

    /// The sentence for a name that is neither a conversation nor a contact.
    fn stranger_sentence(&self, user: &str) -> String {
        let hint = self.did_you_mean(user).map(|s| format!(" (did you mean '{}'?)", hush_core::display::escape(&s))).unwrap_or_default();
        format!("{user} is neither a conversation nor one of your contacts{hint}; to start a conversation with the user {user}, add --new")
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

    /// Creates a group conversation with these users (all their devices, and ours).
    pub async fn create_conversation(&mut self, name: &str, with: &[String]) -> Result<String, ClientError> {
        let with = &user_names(with);
        if name.trim().is_empty() || name.len() > 64 {
            return Err(ClientError::Usage("a conversation name has 1 to 64 characters".into()));
        }
        if with.is_empty() {
            return Err(ClientError::Usage("name at least one other user with --with".into()));
        }
        if self.state.conversations.values().any(|m| m.active && !m.direct && m.name == name) {
            return Err(ClientError::Usage(format!("you already have a conversation named {name}")));
        }
        self.sync().await?;
        self.new_conversation(name, false, with).await
    }

    async fn new_conversation(&mut self, name: &str, direct: bool, with: &[String]) -> Result<String, ClientError> {
        for u in with {
            if u == &self.state.username {
                return Err(ClientError::Usage("you are in every conversation you create; name the others".into()));
            }
            self.ensure_sendable(u)?;
            self.lookup_user(u).await?;
        }
        let conv = Conversation::create(&self.provider, &self.device())?;
        let id = conv.id();
        let id_hex = hex::encode(&id);
        self.note_space_key(&id_hex, &conv)?;
        self.api
            .call_empty(Some(&self.signer()), Method::POST, "/v1/groups", Some(&proto::CreateGroupRequest { group_id: B64(id) }))
            .await?;
        self.state.conversations.insert(
            id_hex.clone(),
            ConversationMeta { id: id_hex.clone(), name: name.to_owned(), direct, joined_at: hush_core::now_ms(), active: true, history: false, added_by: None, settled: true, former_members: Vec::new() },
        );
        self.save()?;
        let mut users: Vec<String> = with.to_vec();
        users.push(self.state.username.clone());
        self.add_users(&id_hex, &users).await?;
        Ok(id_hex)
    }

    /// Adds users (all their devices) to a conversation.
    pub async fn add_to(&mut self, target: &str, users: &[String]) -> Result<(), ClientError> {
        let users = &user_names(users);
        self.sync().await?;
        let id = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        for u in users {
            self.ensure_sendable(u)?;
            self.lookup_user(u).await?;
        }
        self.add_users(&id, users).await
    }

    /// Adds every device of `users` not yet in the conversation; retries when another
    /// change wins the epoch; then tells new members the conversation's name.
    async fn add_users(&mut self, id_hex: &str, users: &[String]) -> Result<(), ClientError> {
        let users = users.to_vec();
        let changed = self
            .commit_with_retry(id_hex, move |c, present| {
                let users = users.clone();
                Box::pin(async move {
                    let mut kps = Vec::new();
                    let mut added = Vec::new();
                    for u in &users {
                        let devices = c.lookup_user(u).await?;
                        if devices.iter().all(|d| present.contains(d)) {
                            continue;
                        }
                        let proven: BTreeSet<String> = devices.into_iter().collect();
                        for kp in c.claim(u, &proven).await? {
                            if !present.contains(&kp.certificate.device_id) && kp.certificate.device_id != c.state.device_id {
                                added.push(kp.certificate.device_id.clone());
                                kps.push(kp.key_package);
                            }
                        }
                    }
                    Ok((kps, added, Vec::new()))
                })
            })
            .await?;
        if changed {
            self.send_meta(id_hex).await?;
        }
        Ok(())
    }

    async fn send_meta(&mut self, id_hex: &str) -> Result<(), ClientError> {
        let meta = self
            .state
            .conversations
            .get(id_hex)
            .cloned()
            .ok_or_else(|| ClientError::Internal("unknown conversation".into()))?;
        let payload = Payload::Meta { id: hush_core::message::new_id(), name: meta.name, direct: meta.direct, history: meta.history };
        self.send_payload(id_hex, &payload).await?;
        // Whoever adds devices or members hands them the space keys of earlier epochs, so
        // that files added before they joined open for them.
        let keys: Vec<_> = self.state.space_keys.get(id_hex).map(|k| k.clone().into_iter().collect()).unwrap_or_default();
        if !keys.is_empty() {
            self.send_payload(id_hex, &Payload::SpaceKeys { id: hush_core::message::new_id(), keys }).await?;
        }
        // With history on, whoever adds devices or members hands them the recent messages.
        if meta.history {
            let messages: Vec<_> = self.state.history.get(id_hex).map(|l| l.iter().cloned().collect()).unwrap_or_default();
            if !messages.is_empty() {
                let payload = Payload::History { id: hush_core::message::new_id(), messages };
                self.send_payload(id_hex, &payload).await?;
            }
        }
        Ok(())
    }

    /// Turns history for new devices and members on or off in a conversation; every
    /// member learns the setting.
    pub async fn set_history(&mut self, target: &str, on: bool) -> Result<(), ClientError> {
        self.sync().await?;
        let id = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        if let Some(m) = self.state.conversations.get_mut(&id) {
            m.history = on;
        }
        self.save()?;
        let meta = self.state.conversations.get(&id).cloned().ok_or_else(|| ClientError::Internal("unknown conversation".into()))?;
        let payload = Payload::Meta { id: hush_core::message::new_id(), name: meta.name, direct: meta.direct, history: on };
        self.send_payload(&id, &payload).await
    }

    /// Renames a group conversation; every member is told who renamed it.
    pub async fn rename(&mut self, target: &str, new_name: &str) -> Result<(), ClientError> {
        if new_name.trim().is_empty() || new_name.len() > 64 {
            return Err(ClientError::Usage("a conversation name has 1 to 64 characters".into()));
        }
        self.sync().await?;
        let id = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        let meta = self.state.conversations.get(&id).cloned().ok_or_else(|| ClientError::Internal("unknown conversation".into()))?;
        if meta.direct {
            return Err(ClientError::Usage("a one-to-one conversation has no name of its own; create a group to name it".into()));
        }
        if self.state.conversations.values().any(|m| m.active && !m.direct && m.name == new_name && m.id != id) {
            return Err(ClientError::Usage(format!("you already have a conversation named {new_name}")));
        }
        if let Some(m) = self.state.conversations.get_mut(&id) {
            m.name = new_name.to_owned();
        }
        self.save()?;
        let payload = Payload::Meta { id: hush_core::message::new_id(), name: new_name.to_owned(), direct: false, history: meta.history };
        self.send_payload(&id, &payload).await
    }

    /// Whether `device` is the one that added this device to the conversation (the only
    /// one whose settings, earlier space keys and earlier messages are taken on joining).
    fn added_us(&self, gid_hex: &str, device: &str) -> bool {
        self.state.conversations.get(gid_hex).and_then(|m| m.added_by.as_deref()) == Some(device)
    }

    /// Applies a member's settings message. The first one from the device that added this
    /// one sets everything quietly; after that each change is shown to the reader, and a
    /// conversation never turns from one-to-one into a group or back.
    fn apply_settings(&mut self, gid_hex: &str, sender: &CertificateBody, name: String, direct: bool, history: bool, at: i64) {
        let Some(m) = self.state.conversations.get(gid_hex).cloned() else {
            return;
        };
        let who = &sender.username;
        if !m.settled && self.added_us(gid_hex, &sender.device_id) {
            if let Some(m) = self.state.conversations.get_mut(gid_hex) {
                m.name = name;
                m.direct = direct;
                m.history = history;
                m.settled = true;
            }
            return;
        }
        if m.settled && direct != m.direct {
            let what = if m.direct { "a one-to-one conversation into a group" } else { "this group into a one-to-one conversation" };
            self.warn(gid_hex, format!("{who} tried to turn {what}; that can't change, so it was ignored"));
            return;
        }
        let mut events = Vec::new();
        if !m.direct && name != m.name && !name.trim().is_empty() {
            events.push(format!("{who} renamed the conversation from {} to {name}", m.name));
        }
        if history != m.history {
            let state = if history { "on: members who join are handed recent messages" } else { "off" };
            events.push(format!("{who} turned history {state}"));
        }
        if let Some(c) = self.state.conversations.get_mut(gid_hex) {
            if !c.direct && !name.trim().is_empty() {
                c.name = name;
            }
            c.history = history;
            if !c.settled {
                c.direct = direct;
            }
        }
        for e in events {
            self.event(gid_hex, e, at);
        }
    }

    /// Removes users (all their devices) from a conversation.
    pub async fn remove_from(&mut self, target: &str, users: &[String]) -> Result<(), ClientError> {
        let users = &user_names(users);
        self.sync().await?;
        let id = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        let members = self.members_of(&id)?;
        for u in users {
            if !members.iter().any(|m| &m.username == u) {
                return Err(ClientError::Usage(format!("{u} is not in this conversation")));
            }
            if u == &self.state.username {
                return Err(ClientError::Usage("to remove yourself, use `hush conversation leave`".into()));
            }
        }
        let users = users.to_vec();
        let id2 = id.clone();
        self.commit_with_retry(&id, move |c, _present| {
            let users = users.clone();
            let id2 = id2.clone();
            Box::pin(async move {
                let ids: Vec<String> = c
                    .members_of(&id2)?
                    .into_iter()
                    .filter(|m| users.contains(&m.username))
                    .map(|m| m.device_id)
                    .collect();
                Ok((Vec::new(), Vec::new(), ids))
            })
        })
        .await
        .map(|_| ())
    }

    /// Leaves a conversation: a proposal that the next member to commit carries out.
    pub async fn leave(&mut self, target: &str) -> Result<(), ClientError> {
        self.sync().await?;
        let id = self.resolve(target)?.ok_or_else(|| ClientError::Usage(format!("no conversation named {target}")))?;
        let gid = hex::decode(&id).map_err(|e| ClientError::Internal(e.to_string()))?;
        let mut stuck = 0;
        for _ in 0..COMMIT_RETRIES {
            let mut conv = self.load_conv(&gid)?;
            let before = conv.epoch();
            let proposal = conv.leave(&self.provider, &self.device())?;
            match self.post_message(&gid, proposal).await {
                Ok(()) => {
                    if let Some(m) = self.state.conversations.get_mut(&id) {
                        m.active = false;
                    }
                    self.save()?;
                    return Ok(());
                }
                Err(e) if transcript::Refusal::of(&e).is_some() => {
                    let why = transcript::Refusal::of(&e).unwrap_or(transcript::Refusal::Stale);
                    self.sync().await?;
                    if self.still_stuck(&id, before) {
                        stuck += 1;
                        if why == transcript::Refusal::NotMember || stuck >= 2 {
                            return Err(self.stuck_error(&id, why));
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::Usage("the conversation keeps changing; try again".into()))
    }

    fn load_conv(&self, gid: &[u8]) -> Result<Conversation, ClientError> {
        Conversation::load(&self.provider, gid)?.ok_or_else(|| ClientError::Internal("conversation state missing".into()))
    }

    /// Runs a membership change until it lands: build the commit from the current state,
    /// post it; if another commit won the epoch, drop ours, catch up, and build again.
    /// Returns whether a commit was made.
    async fn commit_with_retry<F>(&mut self, id_hex: &str, mut plan: F) -> Result<bool, ClientError>
    where
        F: for<'a> FnMut(&'a mut Client, BTreeSet<String>) -> PlanFuture<'a>,
    {
        let gid = hex::decode(id_hex).map_err(|e| ClientError::Internal(e.to_string()))?;
        let mut stuck = 0;
        for _ in 0..COMMIT_RETRIES {
            let present: BTreeSet<String> = self.members_of(id_hex)?.into_iter().map(|m| m.device_id).collect();
            let (kps, added, removed) = plan(self, present).await?;
            let mut conv = self.load_conv(&gid)?;
            if !removed.is_empty() || conv.has_pending_proposals() {
                // Sign the space's state with this device while the leaving devices are
                // still members: after the commit a state they signed is refused.
                self.resign_space(id_hex).await?;
                conv = self.load_conv(&gid)?;
            }
            if kps.is_empty() && removed.is_empty() && !conv.has_pending_proposals() {
                return Ok(false);
            }
            // Commits carry the same authenticated data as messages (directory root, epoch
            // and authenticator), so a commit from another branch of a split is recognised.
            let aad = self.message_aad(id_hex, &conv);
            conv.set_aad(&aad);
            let out = conv.change_members(&self.provider, &self.device(), kps, &removed)?;
            let req = proto::CommitRequest {
                commit: B64(out.commit),
                welcome: out.welcome.map(B64),
                added_devices: added,
                removed_devices: out.removed_devices,
            };
            let path = format!("/v1/groups/{id_hex}/commit");
            // The answer may be lost after the server took the commit: the same commit is
            // posted again (the server recognises it), rather than dropped while the group
            // moved on with it, which would leave this device an epoch behind for good.
            let mut answer = self.api.call::<_, proto::Accepted>(Some(&self.signer()), Method::POST, &path, Some(&req)).await;
            for _ in 0..COMMIT_REPOSTS {
                if !matches!(answer, Err(ApiError::Unreachable { .. } | ApiError::BadAnswer(_))) {
                    break;
                }
                answer = self.api.call::<_, proto::Accepted>(Some(&self.signer()), Method::POST, &path, Some(&req)).await;
            }
            match answer {
                Ok(_) => {
                    conv.confirm_commit(&self.provider)?;
                    self.note_space_key(id_hex, &conv)?;
                    self.save()?;
                    return Ok(true);
                }
                Err(e) if e.code() == Some(proto::codes::STALE_EPOCH) => {
                    conv.abandon_commit(&self.provider)?;
                    self.save()?;
                    let before = conv.epoch();
                    self.sync().await?;
                    if self.still_stuck(id_hex, before) {
                        stuck += 1;
                        if stuck >= 2 {
                            return Err(self.stuck_error(id_hex, transcript::Refusal::Stale));
                        }
                    }
                }
                Err(e) if e.code() == Some(proto::codes::FORBIDDEN) => {
                    conv.abandon_commit(&self.provider)?;
                    self.save()?;
                    let before = conv.epoch();
                    self.sync().await?;
                    if self.still_stuck(id_hex, before) {
                        return Err(self.stuck_error(id_hex, transcript::Refusal::NotMember));
                    }
                    return Err(e.into());
                }
                Err(e) => {
                    conv.abandon_commit(&self.provider)?;
                    self.save()?;
                    return Err(e.into());
                }
            }
        }
        Err(ClientError::Usage("the conversation keeps changing; try again".into()))
    }

    // ---------------------------------------------------------------- sending

    /// Sends a text to a conversation (by name or id) or to a user (their 1:1
    /// conversation, created on first use).
    pub async fn send(&mut self, target: &str, text: &str) -> Result<(), ClientError> {
        self.send_many(target, &[text.to_owned()]).await
    }

    /// Sends several texts in order.
    pub async fn send_many(&mut self, target: &str, texts: &[String]) -> Result<(), ClientError> {
        for t in texts {
            if t.len() > MAX_TEXT_BYTES {
                return Err(ClientError::Usage(format!("a message has at most {MAX_TEXT_BYTES} bytes")));
            }
        }
        self.sync().await?;
        let payloads: Vec<Payload> = texts.iter().map(|t| Payload::text(t)).collect();
        self.send_to(target, &payloads).await
    }

    /// Sends payloads to a conversation or a user's one-to-one conversation (made on first
    /// use), after bringing its devices in line with the key directory.
    pub(crate) async fn send_to(&mut self, target: &str, payloads: &[Payload]) -> Result<(), ClientError> {
        let id = self.resolve_or_create(target).await?;
        self.reconcile(&id).await?;
        if let Err(e) = self.check_routing(&id).await {
            self.warn(&id, format!("could not compare the server's delivery list with this conversation's members: {e}"));
        }
        for m in self.members_of(&id)? {
            self.ensure_sendable(&m.username)?;
        }
        self.send_payloads(&id, payloads).await
    }

    /// A conversation by name or id, or a user's one-to-one conversation (made on first
    /// use).
    pub(crate) async fn resolve_or_create(&mut self, target: &str) -> Result<String, ClientError> {
        Ok(match self.resolve(target)? {
            Some(id) => id,
            None => {
                let hint = || self.did_you_mean(target).map(|s| format!(" (did you mean '{}'?)", hush_core::display::escape(&s))).unwrap_or_default();
                if let Some(name) = target.strip_prefix('#') {
                    return Err(ClientError::Usage(format!("no conversation named {}{}", hush_core::display::escape(name), hint())));
                }
                if self.state.conversations.values().any(|m| !m.active && !m.direct && m.name == target) {
                    return Err(ClientError::Usage(format!("you are no longer a member of {}", hush_core::display::escape(target))));
                }
                let user = target.strip_prefix('@').unwrap_or(target);
                if hush_core::username::validate(user).is_err() {
                    return Err(ClientError::Usage(format!("no conversation or user named {}{}", hush_core::display::escape(target), hint())));
                }
                if user == self.state.username {
                    return Err(ClientError::Usage("to talk to your other devices, create a conversation".into()));
                }
                // Never a conversation with someone new by accident (a typo of a
                // conversation's name): the person says so first (see `introduce`).
                if !self.state.contacts.contains_key(user) {
                    return Err(ClientError::Usage(self.stranger_sentence(user)));
                }
                self.new_conversation("", true, &[user.to_owned()]).await?
            }
        })
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

    /// Before sending: every member's devices in the group must be the devices the key
    /// directory vouches for now. Users are looked up again whenever the directory moved
    /// on since their last check (a changed identity key stops the send right here);
    /// devices no longer listed are removed and new ones added, in one commit.
    async fn reconcile(&mut self, id_hex: &str) -> Result<(), ClientError> {
        let members = self.members_of(id_hex)?;
        let users: BTreeSet<String> = members.iter().map(|m| m.username.clone()).collect();
        let mut changed = false;
        for u in &users {
            let listed = self.proven_devices(u).await?;
            let in_group: BTreeSet<String> = members.iter().filter(|m| &m.username == u).map(|m| m.device_id.clone()).collect();
            if listed != in_group {
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
        let users: Vec<String> = users.into_iter().collect();
        let id2 = id_hex.to_owned();
        let did = self
            .commit_with_retry(id_hex, move |c, present| {
                let users = users.clone();
                let id2 = id2.clone();
                Box::pin(async move {
                    let members = c.members_of(&id2)?;
                    let mut kps = Vec::new();
                    let mut added = Vec::new();
                    let mut removed = Vec::new();
                    for u in &users {
                        let listed: BTreeSet<String> = c.lookup_user(u).await?.into_iter().collect();
                        for m in members.iter().filter(|m| &m.username == u) {
                            if !listed.contains(&m.device_id) && m.device_id != c.state.device_id {
                                removed.push(m.device_id.clone());
                            }
                        }
                        if listed.iter().any(|d| !present.contains(d)) {
                            for kp in c.claim(u, &listed).await? {
                                let d = kp.certificate.device_id.clone();
                                if !present.contains(&d) && d != c.state.device_id {
                                    added.push(d);
                                    kps.push(kp.key_package);
                                }
                            }
                        }
                    }
                    Ok((kps, added, removed))
                })
            })
            .await?;
        if did {
            self.send_meta(id_hex).await?;
        }
        Ok(())
    }

    async fn send_payload(&mut self, id_hex: &str, payload: &Payload) -> Result<(), ClientError> {
        self.send_payloads(id_hex, std::slice::from_ref(payload)).await
    }

    /// Encrypts a batch, seals the state once (so no ratchet generation is ever reused
    /// after a crash), then posts each message in order. If the group moved on, the rest
    /// are encrypted again in the new epoch after catching up.
    async fn send_payloads(&mut self, id_hex: &str, payloads: &[Payload]) -> Result<(), ClientError> {
        const BATCH: usize = 256;
        let gid = hex::decode(id_hex).map_err(|e| ClientError::Internal(e.to_string()))?;
        let mut next = 0;
        let mut stale = 0;
        let mut stuck = 0;
        // Each payload's place in our sequence is fixed once (encrypting again after a lost
        // race reuses it) and saved with the ratchet before anything is posted.
        let mut posted = self.state.transcript.sent.get(id_hex).cloned().unwrap_or_default();
        let envelopes = self.state.transcript.seal(id_hex, payloads);
        'outer: while next < payloads.len() {
            let mut conv = self.load_conv(&gid)?;
            if !conv.is_active() {
                return Err(ClientError::Usage("you are no longer a member of this conversation".into()));
            }
            let end = (next + BATCH).min(payloads.len());
            let mut cts = Vec::with_capacity(end - next);
            let aad = self.message_aad(id_hex, &conv);
            for e in &envelopes[next..end] {
                cts.push(conv.encrypt(&self.provider, &self.device(), e, &aad)?);
            }
            self.save()?;
            let epoch_before = conv.epoch();
            for ct in cts {
                match self.post_message(&gid, ct).await {
                    Ok(()) => {
                        posted = transcript::Sent { seq: posted.seq + 1, prev: hex::encode(Sha256::digest(&envelopes[next])) };
                        if let Payload::Text { sent_at, text, .. } = &payloads[next] {
                            let item = hush_core::message::HistoryItem {
                                sender: self.state.username.clone(),
                                sent_at: *sent_at,
                                text: text.clone(),
                            };
                            self.state.remember(id_hex, item);
                        }
                        next += 1;
                    }
                    Err(e) if transcript::Refusal::of(&e).is_some() => {
                        let why = transcript::Refusal::of(&e).unwrap_or(transcript::Refusal::Stale);
                        stale += 1;
                        if stale > COMMIT_RETRIES {
                            self.unsend(id_hex, posted)?;
                            return Err(ClientError::Usage("the conversation keeps changing; try again".into()));
                        }
                        self.sync().await?;
                        if self.still_stuck(id_hex, epoch_before) {
                            stuck += 1;
                            if why == transcript::Refusal::NotMember || stuck >= 2 {
                                self.unsend(id_hex, posted)?;
                                return Err(self.stuck_error(id_hex, why));
                            }
                        }
                        continue 'outer;
                    }
                    Err(e) => {
                        if matches!(e, ClientError::Api(ApiError::Refused { .. })) {
                            self.unsend(id_hex, posted)?;
                        }
                        return Err(e);
                    }
                }
            }
        }
        self.save()
    }

    /// The server refused the rest of a batch: our sequence goes back to the last payload
    /// it accepted, so that nobody is told of messages that were never sent.
    fn unsend(&mut self, id_hex: &str, posted: transcript::Sent) -> Result<(), ClientError> {
        self.state.transcript.sent.insert(id_hex.to_owned(), posted);
        self.save()
    }

    async fn post_message(&mut self, gid: &[u8], message: Vec<u8>) -> Result<(), ClientError> {
        let path = format!("/v1/groups/{}/messages", hex::encode(gid));
        let _: proto::Accepted = self
            .api
            .call(Some(&self.signer()), Method::POST, &path, Some(&proto::MessageRequest { message: B64(message) }))
            .await?;
        Ok(())
    }

    // ---------------------------------------------------------------- receiving

    /// Fetches and processes the inbox; returns and clears what was not yet read.
    pub async fn sync_and_take_unread(&mut self) -> Result<Vec<Received>, ClientError> {
        let out = self.sync_and_peek_unread().await?;
        self.mark_read(out.len())?;
        Ok(out)
    }

    /// Fetches and processes the inbox; returns what was not yet read, oldest first,
    /// without marking it read: call [`Client::mark_read`] with how many of them reached
    /// the reader.
    pub async fn sync_and_peek_unread(&mut self) -> Result<Vec<Received>, ClientError> {
        self.sync().await?;
        Ok(self.unread())
    }

    /// What was not yet read, oldest first (nothing is marked read).
    pub fn unread(&self) -> Vec<Received> {
        let mut out = self.state.unread.clone();
        // Names are settled by now (metadata arrives just after an invitation).
        for m in &mut out {
            if let Some(meta) = self.state.conversations.get(&m.conversation_id) {
                m.conversation = self.display_name(meta);
            }
        }
        out
    }

    /// Marks the first `count` messages of [`Client::unread`] read, and saves.
    pub fn mark_read(&mut self, count: usize) -> Result<(), ClientError> {
        let n = count.min(self.state.unread.len());
        self.state.unread.drain(..n);
        self.save()
    }

    /// Fetches the inbox, processes every item, saves, then acknowledges. Then adds new
    /// devices of our contacts to shared conversations, and commits pending leaves.
    pub async fn sync(&mut self) -> Result<SyncReport, ClientError> {
        let mut report = SyncReport::default();
        // The directory first: a restore of the server is followed before anything else.
        self.kt_refresh().await?;
        loop {
            let resp: proto::InboxResponse = self
                .api
                .call::<(), _>(Some(&self.signer()), Method::GET, "/v1/inbox?limit=200", None)
                .await?;
            if resp.items.is_empty() {
                break;
            }
            let ids: Vec<i64> = resp.items.iter().map(|i| i.id).collect();
            for item in resp.items {
                self.process_item(item);
                report.processed += 1;
            }
            // Saved before acknowledging: a crash in between means redelivery, which the
            // fingerprints de-duplicate; never a lost message.
            self.save()?;
            self.api
                .call_empty(Some(&self.signer()), Method::POST, "/v1/inbox/ack", Some(&proto::AckRequest { ids }))
                .await?;
        }
        // The whole batch is in: order each sender's texts, report what is still missing.
        self.finish_transcript();
        // Key transparency: compare the roots members claimed, and check our own history.
        self.kt_check_claims().await?;
        self.kt_check_own_history().await?;
        self.kt_recheck_after_restore().await?;
        self.save()?;
        self.after_sync().await?;
        if let Err(e) = self.backup_if_changed().await {
            self.warn("", format!("could not update your account backup on the server: {e}"));
            self.save()?;
        }
        Ok(report)
    }

    fn warn(&mut self, conversation_id: &str, text: String) {
        let conversation = self
            .state
            .conversations
            .get(conversation_id)
            .map(|m| self.display_name(m))
            .unwrap_or_default();
        self.state.unread.push(Received {
            conversation_id: conversation_id.to_owned(),
            conversation,
            sender: String::new(),
            sender_device: String::new(),
            kind: "warning".into(),
            text,
            sent_at: hush_core::now_ms(),
            received_at: hush_core::now_ms(),
            late: false,
        });
    }

    fn event(&mut self, conversation_id: &str, text: String, at: i64) {
        let conversation = self
            .state
            .conversations
            .get(conversation_id)
            .map(|m| self.display_name(m))
            .unwrap_or_default();
        self.state.unread.push(Received {
            conversation_id: conversation_id.to_owned(),
            conversation,
            sender: String::new(),
            sender_device: String::new(),
            kind: "event".into(),
            text,
            sent_at: at,
            received_at: at,
            late: false,
        });
    }

    fn process_item(&mut self, item: proto::InboxItem) {
        let fingerprint = hex::encode(Sha256::digest(&item.payload.0));
        let gid_hex = item.group_id.as_ref().map(|g| hex::encode(&g.0)).unwrap_or_default();
        match item.kind {
            proto::InboxKind::DeviceAdded | proto::InboxKind::DeviceRevoked => {
                if let Ok(user) = String::from_utf8(item.payload.0)
                    && hush_core::username::validate(&user).is_ok()
                {
                    self.state.pending_device_checks.insert(user);
                }
            }
            proto::InboxKind::Welcome => {
                if !self.state.first_time(&fingerprint) {
                    return;
                }
                if let Err(e) = self.join(&item.payload.0, item.received_at) {
                    self.warn(&gid_hex, invitation_refused(e));
                }
            }
            proto::InboxKind::Message => {
                if !self.state.first_time(&fingerprint) {
                    // The same ciphertext again: a redelivery or a replay. Shown once.
                    return;
                }
                if let Err(e) = self.process_group_message(&gid_hex, &item.payload.0, item.received_at)
                    && let Some(text) = self.explain_refusal(&gid_hex, &item.payload.0, e)
                {
                    self.warn(&gid_hex, text);
                }
            }
        }
    }

    fn join(&mut self, welcome: &[u8], at: i64) -> Result<(), ClientError> {
        let pending = PendingJoin::new(&self.provider, welcome)?;
        for m in pending.members.clone() {
            self.check_trust(&m)?;
        }
        let inviter = pending.inviter.username.clone();
        let inviter_device = pending.inviter.device_id.clone();
        let group_id = pending.group_id();
        // Every hush group id is 16 random bytes; anything else is not one of ours.
        if group_id.len() != 16 {
            return Err(ClientError::Usage("the invitation is for a conversation id hush never makes".into()));
        }
        let gid_hex = hex::encode(&group_id);
        // A Welcome for a group id this device holds: only to add it back after a removal
        // or a leave it knew of, and only from someone who was in the conversation then.
        // It never replaces a conversation this device is still in (that would hand the
        // name and the place of a real conversation to whoever made the new group).
        let previous = self.state.conversations.get(&gid_hex).cloned();
        if let Some(prev) = &previous {
            let held = Conversation::load(&self.provider, &group_id)?;
            let still_in = prev.active && held.as_ref().is_some_and(|c| c.is_active());
            if still_in {
                return Err(ClientError::Usage(format!(
                    "{inviter} invited you into a conversation you are still in ({}); the invitation was refused and the conversation you have is kept",
                    self.display_name(prev)
                )));
            }
            let former: BTreeSet<String> = match &held {
                Some(c) => c.members().into_iter().filter_map(|m| m.certificate.ok()).map(|c| c.username).collect(),
                None => prev.former_members.iter().cloned().collect(),
            };
            if !former.contains(&inviter) {
                return Err(ClientError::Usage(format!(
                    "{inviter} invited you back into a conversation {inviter} was not in when you left it; the invitation was refused"
                )));
            }
        } else if pending.replaces_existing {
            return Err(ClientError::Usage("an invitation was for a conversation this device holds under another name; it was refused".into()));
        }
        let conv = pending.accept(&self.provider)?;
        let id_hex = hex::encode(conv.id());
        self.note_space_key(&id_hex, &conv)?;
        self.state.conversations.insert(
            id_hex.clone(),
            ConversationMeta {
                id: id_hex.clone(),
                // The adder's metadata names it.
                name: String::new(),
                direct: false,
                joined_at: at,
                active: true,
                history: false,
                added_by: Some(inviter_device),
                settled: false,
                former_members: Vec::new(),
            },
        );
        self.state.membership_checks.insert(id_hex.clone());
        if previous.is_none() {
            self.event(&id_hex, format!("{inviter} added you"), at);
        } else {
            self.event(&id_hex, format!("{inviter} added you back"), at);
        }
        Ok(())
    }

    fn process_group_message(&mut self, gid_hex: &str, bytes: &[u8], at: i64) -> Result<(), ClientError> {
        let gid = hex::decode(gid_hex).map_err(|_| ClientError::Usage("message without a conversation".into()))?;
        let Some(mut conv) = Conversation::load(&self.provider, &gid)? else {
            return Err(ClientError::Usage("a message for a conversation this device is not in".into()));
        };
        if !conv.is_active() {
            return Ok(());
        }
        // Anything that moved in a conversation brings a check of its members against the
        // directory and the server's routing after the sync.
        self.state.membership_checks.insert(gid_hex.to_owned());
        match conv.process(&self.provider, bytes)? {
            Incoming::Application { sender, plaintext, aad } => {
                self.note_claimed_root(&aad, &sender.username, gid_hex);
                self.check_trust(&sender)?;
                let envelope = hush_core::message::Envelope::decode(&plaintext)
                    .map_err(|_| ClientError::Usage(format!("{} sent a message this version of hush can't read", sender.username)))?;
                let Some(late) = self.place_received(gid_hex, &sender, &envelope, &plaintext) else {
                    return Ok(());
                };
                let seq = envelope.seq;
                let payload = envelope.payload;
                if !self.state.first_time(&format!("id:{}", payload.id())) {
                    return Ok(());
                }
                match payload {
                    Payload::Replaces { replaces, .. } => {
                        self.accept_replaces(gid_hex, &replaces, &sender.username, at);
                    }
                    Payload::Text { sent_at, text, .. } => {
                        self.state.remember(
                            gid_hex,
                            hush_core::message::HistoryItem { sender: sender.username.clone(), sent_at, text: text.clone() },
                        );
                        let conversation = self
                            .state
                            .conversations
                            .get(gid_hex)
                            .map(|m| self.display_name(m))
                            .unwrap_or_default();
                        let device = sender.device_id.clone();
                        self.state.unread.push(Received {
                            conversation_id: gid_hex.to_owned(),
                            conversation,
                            sender: sender.username,
                            sender_device: sender.device_id,
                            kind: "text".into(),
                            text,
                            sent_at,
                            received_at: at,
                            late,
                        });
                        self.placed_text(gid_hex, &device, seq);
                    }
                    Payload::GuardianShare { share, .. } => {
                        // Only the owner may hand out shares of their own account.
                        if share.owner != sender.username {
                            return Err(ClientError::Usage(format!(
                                "{} sent a guardian share for {}; ignored",
                                sender.username, share.owner
                            )));
                        }
                        let owner = share.owner.clone();
                        self.state.held_shares.insert(owner.clone(), share);
                        self.event(gid_hex, format!("{owner} made you one of their recovery guardians"), at);
                    }
                    Payload::Meta { name, direct, history, .. } => {
                        self.apply_settings(gid_hex, &sender, name, direct, history, at);
                    }
                    Payload::SpaceKeys { keys, .. } => {
                        // Only from the device that added us, only keys of epochs before
                        // ours that we lack; never overwrite a key this device derived.
                        if !self.added_us(gid_hex, &sender.device_id) {
                            return Ok(());
                        }
                        let epoch = conv.epoch();
                        let held = self.state.space_keys.entry(gid_hex.to_owned()).or_default();
                        for (e, k) in keys {
                            if e < epoch {
                                held.entry(e).or_insert(k);
                            }
                        }
                    }
                    Payload::History { messages, .. } => {
                        // Only a device that has no history of its own yet takes it, and only
                        // where history is on; it is shown as relayed by the member.
                        // Only from the device that added this one, as for space keys: any
                        // other member could invent a past.
                        let fresh = self.state.history.get(gid_hex).is_none_or(|l| l.is_empty());
                        let on = self.state.conversations.get(gid_hex).is_some_and(|m| m.history);
                        let from_adder = self.added_us(gid_hex, &sender.device_id);
                        if fresh && on && !from_adder {
                            self.warn(
                                gid_hex,
                                format!("{} sent earlier messages, but only the member who added you may hand them over; they were not shown", sender.username),
                            );
                        }
                        if fresh && on && from_adder {
                            let conversation = self.state.conversations.get(gid_hex).map(|m| self.display_name(m)).unwrap_or_default();
                            for h in messages {
                                self.state.unread.push(Received {
                                    conversation_id: gid_hex.to_owned(),
                                    conversation: conversation.clone(),
                                    sender: h.sender.clone(),
                                    sender_device: String::new(),
                                    kind: "history".into(),
                                    text: h.text.clone(),
                                    sent_at: h.sent_at,
                                    received_at: at,
                                    late: false,
                                });
                                self.state.remember(gid_hex, h);
                            }
                            self.event(gid_hex, format!("earlier messages above were handed over by {}", sender.username), at);
                        }
                    }
                }
            }
            Incoming::LeaveProposal { sender } => {
                self.event(gid_hex, format!("{} is leaving", sender.username), at);
            }
            Incoming::Commit(pending) => {
                self.check_trust(&pending.committer)?;
                for leaf in &pending.new_leaves {
                    if let Err(e) = self.check_trust(leaf) {
                        return Err(ClientError::BadDevice {
                            user: leaf.username.clone(),
                            reason: format!("{} tried to add a device that does not chain to the pinned identity key: {e}", pending.committer.username),
                        });
                    }
                }
                let committer = pending.committer.username.clone();
                let committer_device = pending.committer.device_id.clone();
                let removes_me = pending.removes_me;
                let before = device_set(&conv);
                conv.merge(&self.provider, *pending)?;
                if removes_me {
                    let former: Vec<String> = before.iter().map(|(u, _)| u.clone()).collect::<BTreeSet<_>>().into_iter().collect();
                    if let Some(m) = self.state.conversations.get_mut(gid_hex) {
                        m.active = false;
                        m.former_members = former;
                    }
                    // The group's secrets are of no more use; forgetting them also lets a
                    // later Welcome add this device back.
                    conv.delete(&self.provider)?;
                    self.event(gid_hex, format!("{committer} removed you"), at);
                    return Ok(());
                }
                self.note_space_key(gid_hex, &conv)?;
                let after = device_set(&conv);
                let users_before: BTreeSet<&String> = before.iter().map(|(u, _)| u).collect();
                let users_after: BTreeSet<&String> = after.iter().map(|(u, _)| u).collect();
                for u in users_after.difference(&users_before) {
                    self.event(gid_hex, format!("{committer} added {u}"), at);
                }
                for u in users_before.difference(&users_after) {
                    if *u == &committer {
                        self.event(gid_hex, format!("{u} left"), at);
                    } else {
                        self.event(gid_hex, format!("{u} left or was removed by {committer}"), at);
                    }
                }
                // Devices of people who were members before and still are: every change is
                // shown, a new device once the key directory has vouched for it.
                for (u, d) in after.difference(&before) {
                    if users_before.contains(u) {
                        self.state.new_devices.push(NewDevice {
                            conversation: gid_hex.to_owned(),
                            user: u.clone(),
                            device: d.clone(),
                            added_by: committer.clone(),
                            added_by_device: committer_device.clone(),
                            at,
                        });
                    }
                }
                for (u, d) in before.difference(&after) {
                    if users_after.contains(u) {
                        self.event(gid_hex, format!("{u}'s device {} was removed from this conversation by {committer}", short_device(d)), at);
                    }
                }
                if after != before {
                    self.state.membership_checks.insert(gid_hex.to_owned());
                }
            }
        }
        Ok(())
    }

    async fn after_sync(&mut self) -> Result<(), ClientError> {
        // Devices added or revoked by people we share conversations with (ourselves
        // included): bring each shared conversation in line with the key directory.
        let users: Vec<String> = std::mem::take(&mut self.state.pending_device_checks).into_iter().collect();
        for user in users {
            self.state.kt.checked.remove(&user);
            let ids: Vec<String> = self
                .state
                .conversations
                .values()
                .filter(|m| m.active)
                .map(|m| m.id.clone())
                .collect();
            for id in ids {
                let members = self.members_of(&id)?;
                if !members.iter().any(|m| m.username == user) {
                    continue;
                }
                if let Err(e) = Box::pin(self.reconcile(&id)).await {
                    self.warn(&id, format!("could not bring {user}'s devices up to date: {e}"));
                }
            }
        }
        // Members checked against the key directory, new devices announced, routing compared.
        self.check_membership().await?;
        // Leaves proposed by members: whoever syncs first commits them.
        let ids: Vec<String> = self.state.conversations.values().filter(|m| m.active).map(|m| m.id.clone()).collect();
        for id in ids {
            let gid = hex::decode(&id).map_err(|e| ClientError::Internal(e.to_string()))?;
            if self.load_conv(&gid)?.has_pending_proposals() {
                Box::pin(self.commit_with_retry(&id, |_c, _p| Box::pin(async { Ok((Vec::new(), Vec::new(), Vec::new())) }))).await?;
            }
        }
        self.save()
    }
}


/// An I/O error as a lowercase phrase without the OS error number ("no such file or
/// directory" rather than "No such file or directory (os error 2)").
/// Levenshtein distance between two names, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

pub(crate) fn lowercase_io(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.find(" (os error").map_or(text.as_str(), |i| &text[..i]);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Every (user, device id) in a group, from its verified leaves.
fn device_set(conv: &Conversation) -> BTreeSet<(String, String)> {
    conv.members()
        .into_iter()
        .filter_map(|m| m.certificate.ok())
        .map(|c| (c.username, c.device_id))
        .collect()
}

/// A device id as people see it: its first eight characters.
pub(crate) fn short_device(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// User names as typed: `@bob` and `bob` both name the user bob.
fn user_names(list: &[String]) -> Vec<String> {
    list.iter().map(|u| u.strip_prefix('@').unwrap_or(u).to_owned()).collect()
}

/// Why an invitation was refused, as a sentence (never the MLS library's own text).
fn invitation_refused(e: ClientError) -> String {
    match e {
        ClientError::Mls(MlsError::Credential(reason)) => format!("refused an invitation to a conversation: a member's device certificate is not valid ({reason})"),
        ClientError::Mls(_) => "refused an invitation to a conversation: it could not be opened or verified, so it was damaged or forged on the way".to_owned(),
        other => format!("refused an invitation to a conversation: {other}"),
    }
}

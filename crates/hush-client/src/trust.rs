//! Whose identity key is accepted: the one rule for every certificate this device meets (in
//! a KeyPackage, a Welcome, a commit, a directory answer, a row of a shared space), with
//! its two policies named. [`decide`] compares the key presented with the one pinned;
//! [`Policy`] says what becomes of a user with no pin yet.
//!
//! - Messages ([`Policy::PinOnFirstUse`]): the first key seen for a user is pinned; later a
//!   different key is refused until the person accepts it (`hush trust`, or `hush verify
//!   --confirm` for a verified contact), and only the directory's own answer records the
//!   changed key for them to accept.
//! - The drive's writer check ([`Policy::KnownOnly`]): a row or state signed by a user this
//!   device never pinned is refused; it runs on a [`Pins`] snapshot ([`Client::pins`]).

use std::collections::BTreeMap;

use hush_core::identity::{CertificateBody, PublicKey};

use crate::client::Client;
use crate::error::ClientError;
use crate::state::Contact;

/// What becomes of an identity key for a user this device has not pinned yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Pin it (trust on first use): conversations, KeyPackages, Welcomes, commits.
    PinOnFirstUse,
    /// Refuse it: only users already pinned are accepted (the drive's writer check).
    KnownOnly,
}

/// What [`decide`] found for a presented identity key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It is the key pinned for the user.
    Pinned,
    /// The user has no pin and the policy pins this key now.
    PinNow,
    /// The user has no pin and the policy accepts known users only.
    Unknown,
    /// The user's pinned key is another one.
    Changed,
}

impl Decision {
    /// Whether the key may be used.
    pub fn accepted(self) -> bool {
        matches!(self, Decision::Pinned | Decision::PinNow)
    }
}

/// The rule: `presented` against `pinned` (the key pinned for its user, if any), under
/// `policy`.
pub fn decide(pinned: Option<&PublicKey>, presented: &PublicKey, policy: Policy) -> Decision {
    match (pinned, policy) {
        (Some(k), _) if k.ct_eq(presented) => Decision::Pinned,
        (Some(_), _) => Decision::Changed,
        (None, Policy::PinOnFirstUse) => Decision::PinNow,
        (None, Policy::KnownOnly) => Decision::Unknown,
    }
}

/// The identity keys this device holds, as a snapshot: for checks that run after the
/// borrow of the client ends (the drive checks each signer of a space with one). A
/// snapshot never pins; use it with [`Policy::KnownOnly`].
#[derive(Debug, Clone, Default)]
pub struct Pins {
    keys: BTreeMap<String, PublicKey>,
}

impl Pins {
    /// [`decide`] for a certificate's user and identity key.
    pub fn decide(&self, cert: &CertificateBody, policy: Policy) -> Decision {
        decide(self.keys.get(&cert.username), &cert.identity_key, policy)
    }
}

impl Client {
    /// The pinned identity keys now: every contact's, and ours (this device's identity key).
    pub fn pins(&self) -> Pins {
        let mut keys: BTreeMap<String, PublicKey> = self.state.contacts.iter().map(|(u, c)| (u.clone(), c.identity_key)).collect();
        keys.insert(self.state.username.clone(), self.identity.public());
        Pins { keys }
    }

    /// Checks a certificate's identity key against the pin for its user; pins on first use.
    /// Only the directory's own answer may record a changed key for the user to accept
    /// (`from_directory`); a KeyPackage, Welcome or commit with another key is refused
    /// without touching the pin, so a forged one can't be "accepted" by mistake.
    pub(crate) fn check_trust(&mut self, cert: &CertificateBody) -> Result<(), ClientError> {
        self.check_trust_inner(cert, false)
    }

    /// [`Client::check_trust`], for the directory's answer when `from_directory`.
    pub(crate) fn check_trust_inner(&mut self, cert: &CertificateBody, from_directory: bool) -> Result<(), ClientError> {
        let pinned = self.state.contacts.get(&cert.username).map(|c| c.identity_key);
        match decide(pinned.as_ref(), &cert.identity_key, Policy::PinOnFirstUse) {
            Decision::Pinned => Ok(()),
            Decision::PinNow => {
                self.state.contacts.insert(
                    cert.username.clone(),
                    Contact { identity_key: cert.identity_key, pinned_at: hush_core::now_ms(), changed_key: None, verified: false },
                );
                Ok(())
            }
            // Not under PinOnFirstUse; refused like a device that does not chain.
            Decision::Unknown => Err(ClientError::BadDevice {
                user: cert.username.clone(),
                reason: "a user this device doesn't know".into(),
            }),
            Decision::Changed => {
                let user = cert.username.clone();
                let Some(c) = self.state.contacts.get_mut(&user) else {
                    return Err(ClientError::Internal("contact missing after its pin was read".into()));
                };
                let old = c.identity_key.fingerprint();
                if from_directory {
                    c.changed_key = Some(cert.identity_key);
                    if c.verified {
                        return Err(ClientError::VerifiedKeyChanged { user });
                    }
                }
                Err(ClientError::KeyChanged { user, old, new: cert.identity_key.fingerprint() })
            }
        }
    }

    pub(crate) fn ensure_sendable(&self, user: &str) -> Result<(), ClientError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use hush_core::identity::SecretKey;

    #[test]
    fn the_two_policies_differ_only_for_a_user_with_no_pin() {
        let a = SecretKey::generate().public();
        let b = SecretKey::generate().public();
        for policy in [Policy::PinOnFirstUse, Policy::KnownOnly] {
            assert_eq!(decide(Some(&a), &a, policy), Decision::Pinned);
            assert_eq!(decide(Some(&a), &b, policy), Decision::Changed);
        }
        assert_eq!(decide(None, &a, Policy::PinOnFirstUse), Decision::PinNow);
        assert_eq!(decide(None, &a, Policy::KnownOnly), Decision::Unknown);
        assert!(Decision::PinNow.accepted() && !Decision::Unknown.accepted() && !Decision::Changed.accepted());
    }
}

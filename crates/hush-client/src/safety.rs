//! Safety numbers: what `hush verify` shows and confirms.

use crate::client::Client;
use crate::error::ClientError;

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

impl Client {
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
}

impl Client {
    /// Confirms `user` from the text of the QR code their device shows (scanned, or pasted):
    /// it must encode both identity keys exactly as this device sees them.
    pub async fn confirm_scanned(&mut self, user: &str, scanned: &str) -> Result<SafetyView, ClientError> {
        let view = self.safety_number(user).await?;
        let matches: bool = subtle::ConstantTimeEq::ct_eq(scanned.trim().as_bytes(), view.qr_payload.as_bytes()).into();
        if !matches {
            return Err(ClientError::Usage(format!(
                "that code is not the one {user}'s device should show: the keys differ, or it is someone else's code; nothing was verified"
            )));
        }
        self.confirm_verified(user).await
    }
}

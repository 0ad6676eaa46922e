//! Recovery without a backdoor: a 24-word phrase (BIP-39, 256 bits) made on the device at
//! registration. The phrase never leaves the device; from it come two keys (HKDF-SHA256):
//!
//! - the **backup key**, which seals the account backup (XChaCha20-Poly1305, bound to the
//!   username and the backup's version) that the server stores;
//! - the **recovery auth key** (Ed25519), whose public half the server stores so that
//!   only someone holding the phrase can even download the sealed backup.
//!
//! The server holds neither the phrase nor anything derived from it that it could use.

use bip39::Mnemonic;
use zeroize::Zeroizing;

use crate::primitives;
use crate::identity::SecretKey;

const SALT: &[u8] = b"hush-recovery-v1";
const BACKUP_LABEL: &[u8] = b"hush-backup-v1";

/// Errors from recovery material, one sentence each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// Not 24 words from the BIP-39 English list with a valid checksum.
    #[error("that is not a valid recovery phrase (24 words from the BIP-39 English list): {0}")]
    BadPhrase(String),
    /// The backup does not open with this phrase for this account and version.
    #[error("the backup does not open with this recovery phrase: wrong phrase, a backup of another account, or it was changed")]
    WrongPhraseOrTampered,
    /// Malformed backup bytes.
    #[error("the backup is malformed")]
    Malformed,
}

/// A recovery phrase. No `Debug`; the words are zeroized on drop.
pub struct RecoveryPhrase(Mnemonic);

impl RecoveryPhrase {
    /// A fresh phrase from 256 random bits.
    pub fn generate() -> Self {
        let entropy = Zeroizing::new(rand::random::<[u8; 32]>());
        #[allow(clippy::expect_used, reason = "BIP-39 accepts 32 bytes of entropy (24 words)")]
        RecoveryPhrase(Mnemonic::from_entropy(entropy.as_slice()).expect("32 bytes is a valid BIP-39 entropy length"))
    }

    /// Parses a phrase a person typed (case, extra spaces ignored).
    pub fn parse(text: &str) -> Result<Self, RecoveryError> {
        let normalized = Zeroizing::new(text.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" "));
        let m = Mnemonic::parse_normalized(&normalized).map_err(|e| RecoveryError::BadPhrase(e.to_string()))?;
        if m.word_count() != 24 {
            return Err(RecoveryError::BadPhrase(format!("it has {} words, not 24", m.word_count())));
        }
        Ok(RecoveryPhrase(m))
    }

    /// The 24 words.
    pub fn words(&self) -> Vec<&'static str> {
        self.0.words().collect()
    }

    /// The phrase as one line, in a buffer zeroized on drop.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(self.words().join(" "))
    }

    /// The two keys the phrase stands for.
    pub fn keys(&self) -> RecoveryKeys {
        let entropy = Zeroizing::new(self.0.to_entropy());
        keys_from_secret(&entropy, SALT)
    }
}

/// The backup key and recovery auth key a 256-bit secret stands for, under a salt that
/// names its use (the phrase, or the guardians' secret).
pub fn keys_from_secret(secret: &[u8], salt: &[u8]) -> RecoveryKeys {
    let backup = primitives::hkdf32(salt, secret, b"backup key");
    let auth = primitives::hkdf32(salt, secret, b"recovery auth key");
    RecoveryKeys { backup_key: backup, auth_key: SecretKey::from_seed(&auth) }
}

/// Keys derived from a recovery phrase. No `Debug`; zeroized on drop.
pub struct RecoveryKeys {
    /// Seals the backup.
    pub backup_key: Zeroizing<[u8; 32]>,
    /// Signs the request that fetches the backup.
    pub auth_key: SecretKey,
}

fn aad(username: &str, version: u64) -> Vec<u8> {
    let mut a = Vec::with_capacity(BACKUP_LABEL.len() + 4 + username.len() + 8);
    a.extend_from_slice(BACKUP_LABEL);
    a.extend_from_slice(&(username.len() as u32).to_be_bytes());
    a.extend_from_slice(username.as_bytes());
    a.extend_from_slice(&version.to_be_bytes());
    a
}

/// Seals a backup of `username`'s account at `version`: `nonce[24] ‖ ciphertext`.
pub fn seal_backup(backup_key: &[u8; 32], username: &str, version: u64, plaintext: &[u8]) -> Vec<u8> {
    primitives::seal(backup_key, &aad(username, version), plaintext)
}

/// Opens a backup; fails unless it was sealed with this key for this username and version.
pub fn open_backup(backup_key: &[u8; 32], username: &str, version: u64, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecoveryError> {
    if sealed.len() < primitives::NONCE_LEN + primitives::TAG_LEN {
        return Err(RecoveryError::Malformed);
    }
    primitives::open(backup_key, &aad(username, version), sealed).map_err(|_| RecoveryError::WrongPhraseOrTampered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrase_round_trip_keys_and_backup_binding() {
        let p = RecoveryPhrase::generate();
        assert_eq!(p.words().len(), 24);
        let again = RecoveryPhrase::parse(&format!("  {}  ", p.to_text().to_uppercase())).expect("parses");
        assert_eq!(again.keys().backup_key, p.keys().backup_key);
        assert_eq!(again.keys().auth_key.public(), p.keys().auth_key.public());

        let k = p.keys();
        let sealed = seal_backup(&k.backup_key, "alice", 3, b"account");
        assert_eq!(open_backup(&k.backup_key, "alice", 3, &sealed).expect("opens").as_slice(), b"account");
        assert!(open_backup(&k.backup_key, "bob", 3, &sealed).is_err(), "another account");
        assert!(open_backup(&k.backup_key, "alice", 2, &sealed).is_err(), "another version");
        let other = RecoveryPhrase::generate().keys();
        assert!(open_backup(&other.backup_key, "alice", 3, &sealed).is_err(), "another phrase");
        let mut t = sealed.clone();
        t[30] ^= 1;
        assert!(open_backup(&k.backup_key, "alice", 3, &t).is_err(), "tampered");

        // A word changed breaks the checksum (almost always) or gives other keys.
        let mut words = p.words();
        words[5] = if words[5] == "abandon" { "ability" } else { "abandon" };
        match RecoveryPhrase::parse(&words.join(" ")) {
            Err(_) => {}
            Ok(q) => assert_ne!(q.keys().backup_key, k.backup_key),
        }
        assert!(RecoveryPhrase::parse("hello world").is_err());
    }
}

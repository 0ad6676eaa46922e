//! Passphrase-sealed blobs: the client's local store at rest.
//!
//! Format: `"HUSHSEAL1" ‖ m_cost u32 ‖ t_cost u32 ‖ p_cost u32 ‖ salt[16] ‖ nonce[24] ‖
//! XChaCha20-Poly1305(key, nonce, plaintext, aad = everything before the ciphertext)`,
//! where `key = Argon2id(passphrase, salt, m, t, p)`. Changing any byte fails to open.

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::primitives;

const MAGIC: &[u8; 9] = b"HUSHSEAL1";
const HEADER_LEN: usize = 9 + 12 + 16 + 24;

/// Argon2id cost: 64 MiB, 3 passes, 1 lane (about 0.2 s on the reference machine).
pub const DEFAULT_COST: (u32, u32, u32) = (64 * 1024, 3, 1);

/// Why a sealed blob can't be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Not a sealed blob, or damaged.
    #[error("the file is not a hush sealed file or is damaged")]
    Malformed,
    /// Wrong passphrase, or the ciphertext was changed.
    #[error("wrong passphrase, or the file was changed")]
    WrongPassphraseOrTampered,
    /// Key derivation failed (parameters out of range).
    #[error("key derivation failed: {0}")]
    Kdf(String),
}

/// A key derived from a passphrase, with the salt and cost that made it; zeroized on drop.
pub struct SealKey {
    key: Zeroizing<[u8; 32]>,
    salt: [u8; 16],
    cost: (u32, u32, u32),
}

impl SealKey {
    /// Derives a key with a fresh salt.
    pub fn derive_new(passphrase: &[u8]) -> Result<Self, SealError> {
        Self::derive(passphrase, rand::random(), DEFAULT_COST)
    }

    /// Derives the key a sealed blob was made with.
    pub fn derive_for(passphrase: &[u8], sealed: &[u8]) -> Result<Self, SealError> {
        let (salt, cost) = parse_header(sealed)?;
        Self::derive(passphrase, salt, cost)
    }

    fn derive(passphrase: &[u8], salt: [u8; 16], cost: (u32, u32, u32)) -> Result<Self, SealError> {
        // Refuse absurd costs from a damaged header instead of allocating gigabytes.
        if cost.0 > 4 * 1024 * 1024 || cost.1 > 64 || cost.2 > 16 {
            return Err(SealError::Malformed);
        }
        let params = Params::new(cost.0, cost.1, cost.2, Some(32)).map_err(|e| SealError::Kdf(e.to_string()))?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, &salt, key.as_mut())
            .map_err(|e| SealError::Kdf(e.to_string()))?;
        Ok(SealKey { key, salt, cost })
    }

    /// Seals a plaintext under this key with a fresh nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; 24] = rand::random();
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.cost.0.to_be_bytes());
        out.extend_from_slice(&self.cost.1.to_be_bytes());
        out.extend_from_slice(&self.cost.2.to_be_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&nonce);
        let ct = primitives::encrypt(&self.key, &nonce, &out, plaintext);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a blob sealed under this key.
    pub fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (salt, cost) = parse_header(sealed)?;
        if salt != self.salt || cost != self.cost {
            return Err(SealError::WrongPassphraseOrTampered);
        }
        let (header, ct) = sealed.split_at(HEADER_LEN);
        let mut nonce = [0u8; primitives::NONCE_LEN];
        nonce.copy_from_slice(&header[HEADER_LEN - primitives::NONCE_LEN..]);
        primitives::decrypt(&self.key, &nonce, header, ct).map_err(|_| SealError::WrongPassphraseOrTampered)
    }
}

/// Argon2id cost: memory KiB, passes, lanes.
type Cost = (u32, u32, u32);

fn parse_header(sealed: &[u8]) -> Result<([u8; 16], Cost), SealError> {
    if sealed.len() < HEADER_LEN + 16 || &sealed[..9] != MAGIC {
        return Err(SealError::Malformed);
    }
    let u = |i: usize| u32::from_be_bytes([sealed[i], sealed[i + 1], sealed[i + 2], sealed[i + 3]]);
    let cost = (u(9), u(13), u(17));
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&sealed[21..37]);
    Ok((salt, cost))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_wrong_passphrase_and_tamper() {
        let key = SealKey::derive(b"correct horse", [7; 16], (1024, 1, 1)).expect("kdf");
        let sealed = key.seal(b"secret state");
        assert_eq!(key.open(&sealed).expect("opens").as_slice(), b"secret state");

        let again = SealKey::derive_for(b"correct horse", &sealed).expect("kdf");
        assert_eq!(again.open(&sealed).expect("opens").as_slice(), b"secret state");

        let wrong = SealKey::derive_for(b"battery staple", &sealed).expect("kdf");
        assert!(matches!(wrong.open(&sealed), Err(SealError::WrongPassphraseOrTampered)));

        for i in HEADER_LEN..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x80;
            assert!(key.open(&t).is_err(), "byte {i}");
        }
        assert!(!sealed.windows(12).any(|w| w == b"secret state"));
    }
}

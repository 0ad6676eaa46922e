//! Linking a new device to an account.
//!
//! The new device makes a device key and an HPKE key pair (X25519, HKDF-SHA256,
//! ChaCha20-Poly1305; RFC 9180 through the MLS crypto provider) and posts their public
//! halves to the server. It shows a code: 60 bits of SHA-256 over the username and both
//! public keys. On an existing device the user types that code; the existing device finds
//! the request whose keys give the same code, signs a certificate for the device key, and
//! seals the account's secrets to the HPKE key, bound to the same request. A server that
//! swaps the keys in transit changes the code, so the approval finds nothing to approve;
//! to get past it, the server would have to find other keys with the same 60-bit code
//! within the minutes the request lives.
//!
//! (A PAKE with a shorter code is the planned replacement; see docs/ARCHITECTURE.md.)

use openmls_traits::crypto::OpenMlsCrypto as _;
use openmls_traits::types::{HpkeAeadType, HpkeCiphertext, HpkeConfig, HpkeKdfType, HpkeKemType};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::identity::PublicKey;

const INFO: &[u8] = b"hush-link-v1";
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKMNPQRSTVWXYZ0123456789";

fn config() -> HpkeConfig {
    HpkeConfig(HpkeKemType::DhKem25519, HpkeKdfType::HkdfSha256, HpkeAeadType::ChaCha20Poly1305)
}

/// Errors while linking.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The sealed bundle does not open: altered in transit or not for this request.
    #[error("the approval does not open with this device's key: it was altered or is not for this request")]
    BadBundle,
    /// Crypto provider failure.
    #[error("link crypto failed: {0}")]
    Crypto(String),
}

/// The new device's HPKE key pair for one link request. No `Debug`; zeroized on drop.
pub struct LinkKeys {
    private: Zeroizing<Vec<u8>>,
    /// The public key to publish.
    pub public: Vec<u8>,
}

impl LinkKeys {
    /// A fresh key pair.
    pub fn generate() -> Result<Self, LinkError> {
        let crypto = openmls_libcrux_crypto::CryptoProvider::new().map_err(|e| LinkError::Crypto(format!("{e:?}")))?;
        let ikm = Zeroizing::new(rand::random::<[u8; 32]>());
        let kp = crypto
            .derive_hpke_keypair(config(), ikm.as_slice())
            .map_err(|e| LinkError::Crypto(format!("{e:?}")))?;
        Ok(LinkKeys { private: Zeroizing::new(kp.private.to_vec()), public: kp.public })
    }

    /// Opens a bundle sealed to this key for the request (username, device key).
    pub fn open(&self, username: &str, device_key: &PublicKey, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, LinkError> {
        self.open_with_context(&context(username, device_key, &self.public), sealed)
    }

    /// Opens something sealed to this key with [`seal_with_context`] under `context`.
    pub fn open_with_context(&self, context: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, LinkError> {
        if sealed.len() < 2 {
            return Err(LinkError::BadBundle);
        }
        let kl = usize::from(u16::from_be_bytes([sealed[0], sealed[1]]));
        if sealed.len() < 2 + kl {
            return Err(LinkError::BadBundle);
        }
        let ct = HpkeCiphertext {
            kem_output: sealed[2..2 + kl].to_vec().into(),
            ciphertext: sealed[2 + kl..].to_vec().into(),
        };
        let crypto = openmls_libcrux_crypto::CryptoProvider::new().map_err(|e| LinkError::Crypto(format!("{e:?}")))?;
        crypto
            .hpke_open(config(), &ct, &self.private, INFO, context)
            .map(Zeroizing::new)
            .map_err(|_| LinkError::BadBundle)
    }
}

fn context(username: &str, device_key: &PublicKey, hpke_public: &[u8]) -> Vec<u8> {
    let mut c = Vec::new();
    for part in [username.as_bytes(), &device_key.0, hpke_public] {
        c.extend_from_slice(&(part.len() as u32).to_be_bytes());
        c.extend_from_slice(part);
    }
    c
}

/// Seals the account bundle to the new device's HPKE key, bound to its request.
pub fn seal(username: &str, device_key: &PublicKey, hpke_public: &[u8], bundle: &[u8]) -> Result<Vec<u8>, LinkError> {
    seal_with_context(hpke_public, &context(username, device_key, hpke_public), bundle)
}

/// Seals bytes to an HPKE public key, bound to `context` (authenticated, not secret).
pub fn seal_with_context(hpke_public: &[u8], context: &[u8], bundle: &[u8]) -> Result<Vec<u8>, LinkError> {
    let crypto = openmls_libcrux_crypto::CryptoProvider::new().map_err(|e| LinkError::Crypto(format!("{e:?}")))?;
    let ct = crypto
        .hpke_seal(config(), hpke_public, INFO, context, bundle)
        .map_err(|e| LinkError::Crypto(format!("{e:?}")))?;
    let kem = ct.kem_output.as_slice();
    let mut out = Vec::with_capacity(2 + kem.len() + ct.ciphertext.as_slice().len());
    out.extend_from_slice(&u16::try_from(kem.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(kem);
    out.extend_from_slice(ct.ciphertext.as_slice());
    Ok(out)
}

/// The code a person compares: 12 characters (60 bits) as `XXXX-XXXX-XXXX`.
pub fn code(username: &str, device_key: &PublicKey, hpke_public: &[u8]) -> String {
    code_of(b"hush-link-code-v1", &context(username, device_key, hpke_public))
}

/// A 60-bit code over `label ‖ data`, as `XXXX-XXXX-XXXX`.
pub fn code_of(label: &[u8], data: &[u8]) -> String {
    let digest = Sha256::digest([label, data].concat());
    let mut bits: u64 = u64::from_be_bytes([digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7]]);
    let mut s = String::new();
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        s.push(char::from(ALPHABET[(bits >> 59) as usize & 31]));
        bits <<= 5;
    }
    s
}

/// Compares a typed code with a computed one: case, spaces and dashes ignored; constant time.
pub fn codes_match(typed: &str, computed: &str) -> bool {
    let norm = |s: &str| -> Vec<u8> {
        s.bytes().filter(|b| b.is_ascii_alphanumeric()).map(|b| b.to_ascii_uppercase()).collect()
    };
    let (a, b) = (norm(typed), norm(computed));
    a.len() == b.len() && bool::from(a.ct_eq(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SecretKey;

    #[test]
    fn seal_open_and_binding() {
        let keys = LinkKeys::generate().expect("keys");
        let dev = SecretKey::generate().public();
        let sealed = seal("alice", &dev, &keys.public, b"account secrets").expect("seal");
        assert_eq!(keys.open("alice", &dev, &sealed).expect("open").as_slice(), b"account secrets");
        // Bound to the request: another username or device key does not open it.
        assert!(keys.open("mallory", &dev, &sealed).is_err());
        assert!(keys.open("alice", &SecretKey::generate().public(), &sealed).is_err());
        let mut t = sealed.clone();
        let n = t.len();
        t[n - 1] ^= 1;
        assert!(keys.open("alice", &dev, &t).is_err());

        let c = code("alice", &dev, &keys.public);
        assert_eq!(c.len(), 14);
        assert!(codes_match(&c.to_lowercase().replace('-', " "), &c));
        let other = LinkKeys::generate().expect("keys");
        assert!(!codes_match(&code("alice", &dev, &other.public), &c));
    }
}

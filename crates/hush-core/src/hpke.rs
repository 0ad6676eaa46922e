//! Sealing to a device's one-time HPKE key (RFC 9180: DHKEM-X25519, HKDF-SHA256,
//! ChaCha20-Poly1305, through the MLS crypto provider), and short codes a person compares.
//! Used when a guardian hands a share to a recovering device.

use openmls_traits::crypto::OpenMlsCrypto as _;
use openmls_traits::types::{HpkeAeadType, HpkeCiphertext, HpkeConfig, HpkeKdfType, HpkeKemType};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;


const INFO: &[u8] = b"hush-seal-v1";
use crate::ids::CODE_ALPHABET as ALPHABET;

fn config() -> HpkeConfig {
    HpkeConfig(HpkeKemType::DhKem25519, HpkeKdfType::HkdfSha256, HpkeAeadType::ChaCha20Poly1305)
}

/// Errors while sealing or opening.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The sealed bundle does not open: altered in transit or not for this request.
    #[error("it does not open with this device's key: it was altered or is not for this request")]
    BadBundle,
    /// Crypto provider failure.
    #[error("link crypto failed: {0}")]
    Crypto(String),
}

/// A one-time HPKE key pair. No `Debug`; zeroized on drop.
pub struct Receiver {
    private: Zeroizing<Vec<u8>>,
    /// The public key to publish.
    pub public: Vec<u8>,
}

impl Receiver {
    /// A fresh key pair.
    pub fn generate() -> Result<Self, SealError> {
        let crypto = openmls_libcrux_crypto::CryptoProvider::new().map_err(|e| SealError::Crypto(format!("{e:?}")))?;
        let ikm = Zeroizing::new(rand::random::<[u8; 32]>());
        let kp = crypto
            .derive_hpke_keypair(config(), ikm.as_slice())
            .map_err(|e| SealError::Crypto(format!("{e:?}")))?;
        Ok(Receiver { private: Zeroizing::new(kp.private.to_vec()), public: kp.public })
    }

    /// Opens something sealed to this key with [`seal_with_context`] under `context`.
    pub fn open_with_context(&self, context: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < 2 {
            return Err(SealError::BadBundle);
        }
        let kl = usize::from(u16::from_be_bytes([sealed[0], sealed[1]]));
        if sealed.len() < 2 + kl {
            return Err(SealError::BadBundle);
        }
        let ct = HpkeCiphertext {
            kem_output: sealed[2..2 + kl].to_vec().into(),
            ciphertext: sealed[2 + kl..].to_vec().into(),
        };
        let crypto = openmls_libcrux_crypto::CryptoProvider::new().map_err(|e| SealError::Crypto(format!("{e:?}")))?;
        crypto
            .hpke_open(config(), &ct, &self.private, INFO, context)
            .map(Zeroizing::new)
            .map_err(|_| SealError::BadBundle)
    }
}

/// Seals bytes to an HPKE public key, bound to `context` (authenticated, not secret).
pub fn seal_with_context(hpke_public: &[u8], context: &[u8], bundle: &[u8]) -> Result<Vec<u8>, SealError> {
    let crypto = openmls_libcrux_crypto::CryptoProvider::new().map_err(|e| SealError::Crypto(format!("{e:?}")))?;
    let ct = crypto
        .hpke_seal(config(), hpke_public, INFO, context, bundle)
        .map_err(|e| SealError::Crypto(format!("{e:?}")))?;
    let kem = ct.kem_output.as_slice();
    let mut out = Vec::with_capacity(2 + kem.len() + ct.ciphertext.as_slice().len());
    #[allow(clippy::expect_used, reason = "the X25519 KEM output is 32 bytes")]
    out.extend_from_slice(&u16::try_from(kem.len()).expect("a KEM output is 32 bytes").to_be_bytes());
    out.extend_from_slice(kem);
    out.extend_from_slice(ct.ciphertext.as_slice());
    Ok(out)
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

    #[test]
    fn seal_open_binding_and_codes() {
        let r = Receiver::generate().expect("keys");
        let sealed = seal_with_context(&r.public, b"context", b"share").expect("seal");
        assert_eq!(r.open_with_context(b"context", &sealed).expect("open").as_slice(), b"share");
        assert!(r.open_with_context(b"other", &sealed).is_err());
        let mut t = sealed.clone();
        let n = t.len();
        t[n - 1] ^= 1;
        assert!(r.open_with_context(b"context", &t).is_err());
        let c = code_of(b"label", &r.public);
        assert_eq!(c.len(), 14);
        assert!(codes_match(&c.to_lowercase().replace('-', " "), &c));
        assert!(!codes_match(&code_of(b"label", b"x"), &c));
    }
}

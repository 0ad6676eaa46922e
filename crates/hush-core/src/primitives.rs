//! The symmetric primitives hush's own envelopes are built from, in one place (as age-core's
//! `primitives.rs`): XChaCha20-Poly1305 with a random 24-byte nonce, HKDF-SHA256 to 32-byte
//! keys, and HMAC-SHA256 checked in constant time. The sealed local store, the account
//! backup, the link bundle and the file drive's rows use these; none of them calls the
//! cipher directly.
//!
//! The few failures these crates can report can't happen with the sizes used here; each is
//! an `expect` that names the invariant, not a silent fallback.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Bytes of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;
/// Bytes of a Poly1305 tag.
pub const TAG_LEN: usize = 16;

/// A ciphertext did not open: wrong key, wrong associated data, or changed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ciphertext does not open with this key")]
pub struct AeadError;

/// Encrypts `plaintext` under `key` and `nonce`, authenticating `aad`: `ciphertext ‖ tag`.
pub fn encrypt(key: &[u8; 32], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    #[allow(clippy::expect_used, reason = "XChaCha20-Poly1305 only refuses plaintexts over 256 GiB, far beyond any envelope hush seals in memory")]
    cipher
        .encrypt(XNonce::from_slice(nonce), Payload { msg: plaintext, aad })
        .expect("an in-memory plaintext is under XChaCha20-Poly1305's 256 GiB limit")
}

/// Decrypts `ciphertext ‖ tag` made by [`encrypt`] with the same key, nonce and `aad`.
pub fn decrypt(key: &[u8; 32], nonce: &[u8; NONCE_LEN], aad: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, AeadError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad }).map(Zeroizing::new).map_err(|_| AeadError)
}

/// Encrypts with a fresh random nonce: `nonce ‖ ciphertext ‖ tag`.
pub fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&encrypt(key, &nonce, aad, plaintext));
    out
}

/// Opens `nonce ‖ ciphertext ‖ tag` made by [`seal`].
pub fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, AeadError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(AeadError);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(nonce);
    decrypt(key, &n, aad, ciphertext)
}

/// HKDF-SHA256 from `ikm` under `salt`, one 32-byte key per `info` label.
pub fn hkdf32(salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    #[allow(clippy::expect_used, reason = "HKDF-SHA256 can expand up to 8160 bytes; 32 is always allowed")]
    hk.expand(info, out.as_mut()).expect("32 bytes is within HKDF-SHA256's output limit");
    out
}

fn hmac_of(key: &[u8; 32], data: &[u8]) -> Hmac<Sha256> {
    #[allow(clippy::expect_used, reason = "HMAC takes keys of any length")]
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts a 32-byte key");
    m.update(data);
    m
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    hmac_of(key, data).finalize().into_bytes().into()
}

/// Whether `tag` is the HMAC-SHA256 of `data` under `key` (constant time).
pub fn hmac_verify(key: &[u8; 32], data: &[u8], tag: &[u8]) -> bool {
    hmac_of(key, data).verify_slice(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bytes_open_only_with_the_same_key_and_aad() {
        let key = [7u8; 32];
        let sealed = seal(&key, b"aad", b"hello");
        assert_eq!(sealed.len(), NONCE_LEN + 5 + TAG_LEN);
        assert_eq!(open(&key, b"aad", &sealed).unwrap().as_slice(), b"hello");
        assert_eq!(open(&key, b"other", &sealed), Err(AeadError));
        assert_eq!(open(&[8u8; 32], b"aad", &sealed), Err(AeadError));
        let mut flipped = sealed.clone();
        flipped[NONCE_LEN] ^= 1;
        assert_eq!(open(&key, b"aad", &flipped), Err(AeadError));
        assert_eq!(open(&key, b"aad", &sealed[..NONCE_LEN + TAG_LEN - 1]), Err(AeadError));
    }

    #[test]
    fn rfc5869_case_1_prefix_and_rfc4231_case_2() {
        // RFC 5869 A.1: IKM 22 x 0x0b, salt 00..0c, info f0..f9; the first 32 bytes of OKM.
        let okm = hkdf32(&(0u8..=0x0c).collect::<Vec<_>>(), &[0x0b; 22], &(0xf0u8..=0xf9).collect::<Vec<_>>());
        assert_eq!(hex::encode(okm.as_slice()), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
        // RFC 4231 test case 2 uses the 4-byte key "Jefe"; HMAC pads keys, so the same key
        // zero-padded to 32 bytes gives the same tag.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let tag = hmac(&key, b"what do ya want for nothing?");
        assert_eq!(hex::encode(tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(hmac_verify(&key, b"what do ya want for nothing?", &tag));
        assert!(!hmac_verify(&key, b"what do ya want for nothing!", &tag));
    }
}

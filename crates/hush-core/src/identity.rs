//! Identities and devices (cross-signing).
//!
//! Each user has one Ed25519 **identity key**. Each device has its own Ed25519 **device
//! key**, which signs API requests and MLS messages, and a [`DeviceCertificate`] — the
//! username, the device id, the device key and the identity key, signed by the identity
//! key. Every MLS leaf carries the certificate as its credential, so any member can check
//! that a leaf belongs to the user it claims and that the user's identity key is the one
//! they trust.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Domain label under which identity keys sign device certificates.
const CERT_CONTEXT: &[u8] = b"hush-device-certificate-v1\0";

/// Errors about keys and certificates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Bytes that are not a key of the right length or not a valid point.
    #[error("not a valid Ed25519 public key")]
    BadPublicKey,
    /// A secret key of the wrong length.
    #[error("not a valid Ed25519 secret key")]
    BadSecretKey,
    /// The certificate bytes do not parse.
    #[error("malformed device certificate")]
    MalformedCertificate,
    /// The certificate's signature does not verify under its identity key.
    #[error("device certificate signature is not valid")]
    BadCertificateSignature,
    /// A signature that does not verify.
    #[error("signature is not valid")]
    BadSignature,
}

/// A 32-byte Ed25519 public key, always canonically encoded and never of small order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "[u8; 32]", into = "[u8; 32]")]
pub struct PublicKey(pub [u8; 32]);

impl TryFrom<[u8; 32]> for PublicKey {
    type Error = IdentityError;
    fn try_from(bytes: [u8; 32]) -> Result<Self, IdentityError> {
        PublicKey::from_slice(&bytes)
    }
}

impl From<PublicKey> for [u8; 32] {
    fn from(k: PublicKey) -> [u8; 32] {
        k.0
    }
}

/// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const ORDER_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0x10,
];

/// Whether a little-endian 32-byte scalar is below L (the only form hush accepts for s).
fn scalar_is_canonical(s: &[u8; 32]) -> bool {
    for i in (0..32).rev() {
        if s[i] != ORDER_L[i] {
            return s[i] < ORDER_L[i];
        }
    }
    false
}

/// Whether a compressed Edwards point encodes its y coordinate below p = 2^255 − 19 (the
/// only encoding hush accepts; the sign bit with x = 0 only occurs on small-order points,
/// refused separately).
fn point_is_canonical(p: &[u8; 32]) -> bool {
    let top_is_max = p[31] & 0x7f == 0x7f && p[1..31].iter().all(|&b| b == 0xff);
    !(top_is_max && p[0] >= 0xed)
}

/// Parses a public key: 32 bytes, a canonical encoding of a curve point that is not of
/// small order.
fn strict_key(bytes: &[u8; 32]) -> Result<VerifyingKey, IdentityError> {
    if !point_is_canonical(bytes) {
        return Err(IdentityError::BadPublicKey);
    }
    let vk = VerifyingKey::from_bytes(bytes).map_err(|_| IdentityError::BadPublicKey)?;
    if vk.is_weak() {
        return Err(IdentityError::BadPublicKey);
    }
    Ok(vk)
}

/// The one Ed25519 check for every signature hush verifies (certificates, rows, states,
/// request authentication, including the recovery and guardian auth keys).
///
/// Strict whatever features other crates switch on in ed25519-dalek (akd's `vrf` turns on
/// `legacy_compatibility`, under which dalek accepts any s below 2^253, so s + L would
/// verify): s must be below L, the key and R canonically encoded and not of small order,
/// and the equation checked without the cofactor (`verify_strict`, which compares R's
/// exact bytes).
pub fn verify_ed25519(key: &[u8; 32], message: &[u8], signature: &[u8]) -> Result<(), IdentityError> {
    let vk = strict_key(key)?;
    let sig: [u8; 64] = signature.try_into().map_err(|_| IdentityError::BadSignature)?;
    let mut r = [0u8; 32];
    r.copy_from_slice(&sig[..32]);
    let mut s = [0u8; 32];
    s.copy_from_slice(&sig[32..]);
    if !scalar_is_canonical(&s) || !point_is_canonical(&r) {
        return Err(IdentityError::BadSignature);
    }
    let sig = Signature::from_bytes(&sig);
    vk.verify_strict(message, &sig).map_err(|_| IdentityError::BadSignature)
}

impl PublicKey {
    /// Parses and checks a public key: canonical encoding, a curve point, not of small
    /// order (keys of small order are refused wherever hush reads one).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, IdentityError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| IdentityError::BadPublicKey)?;
        strict_key(&arr)?;
        Ok(PublicKey(arr))
    }

    /// Verifies an Ed25519 signature with [`verify_ed25519`] (strict: s < L, canonical
    /// points, no small-order key or R).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), IdentityError> {
        verify_ed25519(&self.0, message, signature)
    }

    /// A short human-readable fingerprint: first 16 bytes of SHA-256, hex in groups of 4.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0);
        let hex = hex::encode(&digest[..16]);
        hex.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &PublicKey) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", hex::encode(&self.0[..8]))
    }
}

/// An Ed25519 secret key (identity or device). Zeroized on drop; no `Debug`, no `Serialize`.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        SecretKey(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// The key whose 32 secret bytes are `seed` (a derived key; Ed25519 takes any 32 bytes).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// Restores a key from its 32 secret bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdentityError> {
        let arr: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes.try_into().map_err(|_| IdentityError::BadSecretKey)?);
        Ok(SecretKey(SigningKey::from_bytes(&arr)))
    }

    /// The 32 secret bytes, in a buffer that is zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// What an identity key vouches for: that `device_key` is a device of `username`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertificateBody {
    /// The user.
    pub username: String,
    /// The device's id (16 hex characters).
    pub device_id: String,
    /// The device's signing key.
    pub device_key: PublicKey,
    /// The identity key that signs this.
    pub identity_key: PublicKey,
    /// When the identity key signed it, unix milliseconds.
    pub issued_at: i64,
}

/// A device certificate: the body's exact bytes and the identity key's signature over them.
///
/// Encoding: `u16 big-endian body length ‖ body (JSON) ‖ 64-byte signature`. The signature
/// covers the exact body bytes, so no canonical re-encoding is ever needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCertificate {
    body: CertificateBody,
    body_bytes: Vec<u8>,
    signature: [u8; 64],
}

impl DeviceCertificate {
    /// Issues a certificate for a device, signed by the user's identity key.
    pub fn issue(
        identity: &SecretKey,
        username: &str,
        device_id: &str,
        device_key: PublicKey,
    ) -> Self {
        let body = CertificateBody {
            username: username.to_owned(),
            device_id: device_id.to_owned(),
            device_key,
            identity_key: identity.public(),
            issued_at: crate::now_ms(),
        };
        #[allow(clippy::expect_used, reason = "a struct of strings, byte arrays and integers always serializes to JSON")]
        let body_bytes = serde_json::to_vec(&body).expect("a certificate body serializes");
        let signature = identity.sign(&[CERT_CONTEXT, &body_bytes].concat());
        DeviceCertificate {
            body,
            body_bytes,
            signature,
        }
    }

    /// Parses a certificate and checks its signature under the identity key it names.
    /// The caller must still check that this identity key is the one it trusts for
    /// `body().username`.
    pub fn decode_and_verify(bytes: &[u8]) -> Result<Self, IdentityError> {
        if bytes.len() < 2 + 64 {
            return Err(IdentityError::MalformedCertificate);
        }
        let len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        if bytes.len() != 2 + len + 64 {
            return Err(IdentityError::MalformedCertificate);
        }
        let body_bytes = bytes[2..2 + len].to_vec();
        let signature: [u8; 64] = bytes[2 + len..]
            .try_into()
            .map_err(|_| IdentityError::MalformedCertificate)?;
        let body: CertificateBody =
            serde_json::from_slice(&body_bytes).map_err(|_| IdentityError::MalformedCertificate)?;
        // Both keys were checked when the body was parsed (PublicKey refuses non-canonical
        // and small-order keys); checked again here so that the rule can't be lost.
        PublicKey::from_slice(&body.device_key.0)?;
        PublicKey::from_slice(&body.identity_key.0)?;
        body.identity_key
            .verify(&[CERT_CONTEXT, &body_bytes].concat(), &signature)
            .map_err(|_| IdentityError::BadCertificateSignature)?;
        Ok(DeviceCertificate {
            body,
            body_bytes,
            signature,
        })
    }

    /// The encoded certificate.
    pub fn encode(&self) -> Vec<u8> {
        #[allow(clippy::expect_used, reason = "a body is a validated username, a hex device id, two keys and a time: a few hundred bytes")]
        let len = u16::try_from(self.body_bytes.len()).expect("a certificate body is under 64 KiB");
        let mut out = Vec::with_capacity(2 + self.body_bytes.len() + 64);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.body_bytes);
        out.extend_from_slice(&self.signature);
        out
    }

    /// What the certificate says.
    pub fn body(&self) -> &CertificateBody {
        &self.body
    }
}

/// A fresh random device id: 8 random bytes as 16 hex characters.
pub fn new_device_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

/// Whether a string has the shape of a device id.
pub fn device_id_well_formed(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_round_trip_and_tamper() {
        let identity = SecretKey::generate();
        let device = SecretKey::generate();
        let cert = DeviceCertificate::issue(&identity, "alice", "00112233aabbccdd", device.public());
        let bytes = cert.encode();
        let back = DeviceCertificate::decode_and_verify(&bytes).expect("valid");
        assert_eq!(back.body().username, "alice");
        assert_eq!(back.body().device_key, device.public());
        assert_eq!(back.body().identity_key, identity.public());

        // Any flipped bit anywhere makes it fail.
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            assert!(DeviceCertificate::decode_and_verify(&t).is_err(), "bit at {i}");
        }
    }

    #[test]
    fn a_certificate_signed_by_another_identity_is_not_alices() {
        let alice = SecretKey::generate();
        let mallory = SecretKey::generate();
        let device = SecretKey::generate();
        let forged = DeviceCertificate::issue(&mallory, "alice", "00112233aabbccdd", device.public());
        let parsed = DeviceCertificate::decode_and_verify(&forged.encode()).expect("self-consistent");
        // Self-consistent, but it names mallory's key: the caller's pin check refuses it.
        assert!(!parsed.body().identity_key.ct_eq(&alice.public()));
    }
}

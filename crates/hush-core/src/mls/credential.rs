//! Leaf credentials and KeyPackages: a leaf is a hush device certificate, checked against the
//! leaf's signature key.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_libcrux_crypto::CryptoProvider;

use crate::identity::{CertificateBody, DeviceCertificate, PublicKey};

use super::provider::{Device, HushProvider};
use super::{CIPHERSUITE, MlsError, capabilities, encode, internal};

/// Checks one leaf: its credential must be a hush device certificate, validly signed by
/// the identity key it names, for exactly this leaf's signature key. Returns what the
/// certificate says; the caller checks the identity key against the user's trusted key.
pub fn verify_leaf(credential: &Credential, signature_key: &[u8]) -> Result<CertificateBody, MlsError> {
    let basic = BasicCredential::try_from(credential.clone())
        .map_err(|_| MlsError::Credential("not a basic credential".into()))?;
    let cert = DeviceCertificate::decode_and_verify(basic.identity())
        .map_err(|e| MlsError::Credential(e.to_string()))?;
    let leaf_key =
        PublicKey::from_slice(signature_key).map_err(|e| MlsError::Credential(e.to_string()))?;
    if !leaf_key.ct_eq(&cert.body().device_key) {
        return Err(MlsError::Credential(format!(
            "the leaf's signature key is not the key certified for {}'s device {}",
            cert.body().username,
            cert.body().device_id
        )));
    }
    Ok(cert.body().clone())
}

/// Makes `count` single-use KeyPackages and one last-resort KeyPackage, each encoded for
/// the wire. Their private keys stay in the provider.
pub fn key_packages(
    provider: &HushProvider,
    device: &Device<'_>,
    count: usize,
) -> Result<(Vec<Vec<u8>>, Vec<u8>), MlsError> {
    let out = single_use_key_packages(provider, device, count)?;
    let last = KeyPackage::builder()
        .leaf_node_capabilities(capabilities())
        .mark_as_last_resort()
        .build(CIPHERSUITE, provider, device.key, device.credential_with_key())
        .map_err(internal)?;
    Ok((out, encode(MlsMessageOut::from(last.key_package().clone()))?))
}

/// `count` single-use KeyPackages only (a top-up that keeps the last-resort one); their
/// private keys go into the provider's store, like [`key_packages`]'s.
pub fn single_use_key_packages(provider: &HushProvider, device: &Device<'_>, count: usize) -> Result<Vec<Vec<u8>>, MlsError> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(capabilities())
            .build(CIPHERSUITE, provider, device.key, device.credential_with_key())
            .map_err(internal)?;
        out.push(encode(MlsMessageOut::from(bundle.key_package().clone()))?);
    }
    Ok(out)
}

/// A KeyPackage whose signature and credential have been checked.
pub struct CheckedKeyPackage {
    /// The KeyPackage, ready to add.
    pub key_package: KeyPackage,
    /// What its certificate says (identity key not yet checked against trust).
    pub certificate: CertificateBody,
}

/// Parses a wire KeyPackage, checks its signature, lifetime, ciphersuite and credential.
pub fn check_key_package(bytes: &[u8]) -> Result<CheckedKeyPackage, MlsError> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| MlsError::Malformed(e.to_string()))?;
    let MlsMessageBodyIn::KeyPackage(kp_in) = msg.extract() else {
        return Err(MlsError::Malformed("not a KeyPackage".into()));
    };
    let crypto = CryptoProvider::new().map_err(|e| internal(format!("{e:?}")))?;
    let key_package = kp_in
        .validate(&crypto, ProtocolVersion::Mls10)
        .map_err(|e| MlsError::Credential(format!("KeyPackage does not verify: {e}")))?;
    if key_package.ciphersuite() != CIPHERSUITE {
        return Err(MlsError::Malformed("KeyPackage uses another ciphersuite".into()));
    }
    let leaf = key_package.leaf_node();
    let certificate = verify_leaf(leaf.credential(), leaf.signature_key().as_slice())?;
    Ok(CheckedKeyPackage {
        key_package,
        certificate,
    })
}


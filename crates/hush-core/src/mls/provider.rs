//! The OpenMLS provider (crypto and the in-memory store the client seals to disk) and the
//! device as MLS sees it.

use std::collections::HashMap;
use std::sync::RwLock;

use openmls::prelude::*;
use openmls_libcrux_crypto::CryptoProvider;
use openmls_memory_storage::MemoryStorage;
use openmls_traits::signatures::{Signer, SignerError};
use zeroize::Zeroizing;
use crate::identity::{DeviceCertificate, SecretKey};

use super::{MlsError, internal};

/// OpenMLS provider: libcrux crypto and an in-memory store that the client seals to disk.
pub struct HushProvider {
    crypto: CryptoProvider,
    storage: MemoryStorage,
}

impl HushProvider {
    /// A provider with empty storage.
    pub fn new() -> Result<Self, MlsError> {
        Ok(HushProvider {
            crypto: CryptoProvider::new().map_err(|e| internal(format!("{e:?}")))?,
            storage: MemoryStorage::default(),
        })
    }

    /// The whole MLS state (group secrets included) as bytes, to be sealed by the caller.
    pub fn export_state(&self) -> Result<Zeroizing<Vec<u8>>, MlsError> {
        let values = self.storage.values.read().map_err(internal)?;
        let mut out = Zeroizing::new(Vec::new());
        out.extend_from_slice(&(values.len() as u64).to_be_bytes());
        // Sorted so that the same state always gives the same bytes.
        let mut keys: Vec<&Vec<u8>> = values.keys().collect();
        keys.sort();
        for k in keys {
            let v = &values[k];
            out.extend_from_slice(&(k.len() as u64).to_be_bytes());
            out.extend_from_slice(&(v.len() as u64).to_be_bytes());
            out.extend_from_slice(k);
            out.extend_from_slice(v);
        }
        Ok(out)
    }

    /// Restores a provider from [`HushProvider::export_state`] output.
    pub fn import_state(bytes: &[u8]) -> Result<Self, MlsError> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], MlsError> {
            if b.len() < n {
                return Err(MlsError::Internal("truncated MLS state".into()));
            }
            let (head, tail) = b.split_at(n);
            *b = tail;
            Ok(head)
        }
        fn take_u64(b: &mut &[u8]) -> Result<usize, MlsError> {
            let raw: [u8; 8] = take(b, 8)?.try_into().map_err(internal)?;
            usize::try_from(u64::from_be_bytes(raw)).map_err(internal)
        }
        let mut b = bytes;
        let count = take_u64(&mut b)?;
        let mut map = HashMap::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let kl = take_u64(&mut b)?;
            let vl = take_u64(&mut b)?;
            let k = take(&mut b, kl)?.to_vec();
            let v = take(&mut b, vl)?.to_vec();
            map.insert(k, v);
        }
        if !b.is_empty() {
            return Err(MlsError::Internal("trailing bytes in MLS state".into()));
        }
        Ok(HushProvider {
            crypto: CryptoProvider::new().map_err(|e| internal(format!("{e:?}")))?,
            storage: MemoryStorage {
                values: RwLock::new(map),
            },
        })
    }
}

impl OpenMlsProvider for HushProvider {
    type CryptoProvider = CryptoProvider;
    type RandProvider = CryptoProvider;
    type StorageProvider = MemoryStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }
    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }
    fn rand(&self) -> &Self::RandProvider {
        &self.crypto
    }
}

/// The device key signs MLS messages directly.
impl Signer for SecretKey {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(SecretKey::sign(self, payload).to_vec())
    }
    fn signature_scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

/// A device as MLS sees it: its signing key and certificate.
pub struct Device<'a> {
    /// The device key.
    pub key: &'a SecretKey,
    /// Its certificate.
    pub certificate: &'a DeviceCertificate,
}

impl Device<'_> {
    pub(super) fn credential_with_key(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(self.certificate.encode()).into(),
            signature_key: self.key.public().0.to_vec().into(),
        }
    }
}

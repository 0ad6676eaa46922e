//! Rows: a manifest sealed with the space key and signed by the writing device.

use super::*;

/// A manifest sealed with a space key and signed by the writing device.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RowEnvelope {
    key_id: u64,
    nonce: String,
    ciphertext: String,
    certificate: String,
    signature: String,
}

/// A sealed row: what the server stores for an entry.
pub struct SealedRow;



fn row_aad(space: &str, entry_id: &str, key_id: u64) -> Vec<u8> {
    let mut aad = ROW_AAD_CONTEXT.to_vec();
    for part in [space.as_bytes(), entry_id.as_bytes()] {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad
}

fn row_signed_bytes(space: &str, entry_id: &str, key_id: u64, nonce: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let mut m = ROW_SIG_CONTEXT.to_vec();
    m.extend_from_slice(&row_aad(space, entry_id, key_id));
    m.extend_from_slice(nonce);
    m.extend_from_slice(&Sha256::digest(ciphertext));
    m
}

/// An opened row: the manifest and the certificate of the device that wrote it.
#[derive(Debug)]
pub struct OpenedRow {
    /// The manifest.
    pub manifest: Manifest,
    /// Who wrote the row (certificate verified; the caller decides whether it trusts it).
    pub writer: CertificateBody,
    /// The key id it was sealed under.
    pub key_id: u64,
}

impl SealedRow {
    /// Seals a manifest for `space` under `(key_id, key)`, signed by the device.
    pub fn seal(
        space: &str,
        manifest: &Manifest,
        key_id: u64,
        key: &SpaceKey,
        device_key: &SecretKey,
        certificate: &DeviceCertificate,
    ) -> Result<Vec<u8>, FileError> {
        let plain = Zeroizing::new(serde_json::to_vec(manifest).map_err(|e| FileError::Tampered(e.to_string()))?);
        let nonce: [u8; primitives::NONCE_LEN] = rand::random();
        let aad = row_aad(space, &manifest.entry_id, key_id);
        let ciphertext = primitives::encrypt(&key.0, &nonce, &aad, plain.as_slice());
        let signature = device_key.sign(&row_signed_bytes(space, &manifest.entry_id, key_id, &nonce, &ciphertext));
        let env = RowEnvelope {
            key_id,
            nonce: b64(&nonce),
            ciphertext: b64(&ciphertext),
            certificate: b64(&certificate.encode()),
            signature: b64(&signature),
        };
        serde_json::to_vec(&env).map_err(|e| FileError::Tampered(e.to_string()))
    }

    /// Opens a row stored for `entry_id` in `space`: checks the writer's certificate and
    /// signature, then decrypts with the key `keys` gives for its key id.
    pub fn open(
        space: &str,
        entry_id: &str,
        bytes: &[u8],
        keys: &dyn Fn(u64) -> Option<SpaceKey>,
    ) -> Result<OpenedRow, FileError> {
        let bad = || FileError::Tampered(format!("the entry {} is damaged or was changed on the server", short(entry_id)));
        let env: RowEnvelope = serde_json::from_slice(bytes).map_err(|_| bad())?;
        let nonce = unb64(&env.nonce, "a row nonce")?;
        let ciphertext = unb64(&env.ciphertext, "a row")?;
        let cert = DeviceCertificate::decode_and_verify(&unb64(&env.certificate, "a row certificate")?).map_err(|_| bad())?;
        let signature = unb64(&env.signature, "a row signature")?;
        let nonce: [u8; primitives::NONCE_LEN] = nonce.as_slice().try_into().map_err(|_| bad())?;
        cert.body()
            .device_key
            .verify(&row_signed_bytes(space, entry_id, env.key_id, &nonce, &ciphertext), &signature)
            .map_err(|_| bad())?;
        let key = keys(env.key_id).ok_or_else(|| {
            FileError::MissingKey(format!(
                "the entry {} is sealed with a space key this device doesn't hold (key {}); a member who has it can hand it over",
                short(entry_id),
                env.key_id
            ))
        })?;
        let plain = primitives::decrypt(&key.0, &nonce, &row_aad(space, entry_id, env.key_id), &ciphertext).map_err(|_| bad())?;
        let manifest: Manifest = serde_json::from_slice(&plain).map_err(|_| bad())?;
        if manifest.entry_id != entry_id {
            return Err(bad());
        }
        Ok(OpenedRow { manifest, writer: cert.body().clone(), key_id: env.key_id })
    }
}


//! Space states: the signed, versioned list of a space's rows, and the check that a served state continues the chain this device saw.

use super::*;

/// What a space state commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateBody {
    /// The space's name (`drive:USER` or `conv:GROUP_ID_HEX`).
    pub space: String,
    /// 1, 2, 3…: each change adds one.
    pub version: u64,
    /// SHA-256 (hex) of the previous signed state, empty for version 1.
    pub previous: String,
    /// Every entry id with the SHA-256 (hex) of its row.
    pub entries: BTreeMap<String, String>,
    /// The writer's clock, unix ms.
    pub written_at: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateEnvelope {
    body: String,
    certificate: String,
    signature: String,
}

/// A signed space state.
pub struct SignedState;

/// SHA-256 hex of bytes (row and state hashes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl SignedState {
    /// Signs a state body.
    pub fn sign(body: &StateBody, device_key: &SecretKey, certificate: &DeviceCertificate) -> Result<Vec<u8>, FileError> {
        let body_bytes = serde_json::to_vec(body).map_err(|e| FileError::Tampered(e.to_string()))?;
        let signature = device_key.sign(&[STATE_SIG_CONTEXT, &body_bytes].concat());
        let env = StateEnvelope { body: b64(&body_bytes), certificate: b64(&certificate.encode()), signature: b64(&signature) };
        serde_json::to_vec(&env).map_err(|e| FileError::Tampered(e.to_string()))
    }

    /// Checks a signed state's signature and returns its body and its writer.
    pub fn open(bytes: &[u8]) -> Result<(StateBody, CertificateBody), FileError> {
        let bad = || FileError::Tampered("the space's signed state is damaged or was changed on the server".into());
        let env: StateEnvelope = serde_json::from_slice(bytes).map_err(|_| bad())?;
        let body_bytes = unb64(&env.body, "the state")?;
        let cert = DeviceCertificate::decode_and_verify(&unb64(&env.certificate, "the state's certificate")?).map_err(|_| bad())?;
        let signature = unb64(&env.signature, "the state's signature")?;
        cert.body()
            .device_key
            .verify(&[STATE_SIG_CONTEXT, &body_bytes].concat(), &signature)
            .map_err(|_| bad())?;
        let body: StateBody = serde_json::from_slice(&body_bytes).map_err(|_| bad())?;
        Ok((body, cert.body().clone()))
    }
}

/// What a client last saw of a space: the version and the state's hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The version.
    pub version: u64,
    /// SHA-256 (hex) of the signed state.
    pub hash: String,
}



/// Checks that the served state continues the chain from `seen`: every state after
/// `seen.version` up to the served one is signed by a device `signer_ok` accepts, names
/// this space, has the next version number and names the previous state's hash.
///
/// `history` holds the signed states after `seen.version`, oldest first, as the server
/// answered them (it may also hold the served state and later ones; they are ignored).
/// Anything that breaks the chain, or a history that stops short, is [`FileError::Forked`].
pub fn check_chain(
    space: &str,
    seen: &Seen,
    served: &StateBody,
    served_hash: &str,
    history: &[Vec<u8>],
    signer_ok: &mut dyn FnMut(&CertificateBody) -> Result<(), String>,
) -> Result<(), FileError> {
    let forked = || FileError::Forked { seen: seen.version };
    if served.version <= seen.version {
        return if served.version == seen.version && served_hash == seen.hash { Ok(()) } else { Err(forked()) };
    }
    let mut previous = seen.hash.clone();
    let mut next = seen.version + 1;
    for bytes in history {
        if next == served.version {
            break;
        }
        let (body, writer) = SignedState::open(bytes).map_err(|_| forked())?;
        if body.space != space || body.version != next || body.previous != previous {
            return Err(forked());
        }
        signer_ok(&writer).map_err(|e| {
            FileError::Tampered(format!("version {} of this space is signed by {}: {e}", body.version, writer.username))
        })?;
        previous = sha256_hex(bytes);
        next += 1;
    }
    if next != served.version || served.previous != previous {
        return Err(forked());
    }
    Ok(())
}

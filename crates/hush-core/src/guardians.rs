//! Guardians (social recovery): a random 256-bit guardian secret, split k-of-n with
//! Shamir's scheme over GF(256) (`vsss-rs`), one share per guardian. The secret stands for
//! a second backup key and recovery auth key (`recovery::keys_from_secret`), so any k
//! guardians together can restore the account and fewer learn nothing. Choosing new
//! guardians makes a new secret: old shares then rebuild a secret whose backup the server
//! no longer holds.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::recovery::{RecoveryKeys, keys_from_secret};

const SALT: &[u8] = b"hush-guardians-v1";
/// Most guardians a user may name.
pub const MAX_GUARDIANS: usize = 16;

/// Errors about shares, one sentence each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardianError {
    /// Threshold and count that make no sense.
    #[error("{0}")]
    BadParameters(String),
    /// Shares that do not combine.
    #[error("the guardian shares do not fit together: {0}")]
    BadShares(String),
}

/// What a guardian holds for one user, and hands to that user's new device on approval.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// Whose account.
    pub owner: String,
    /// Which split it belongs to (random, hex); shares of different sets never combine.
    pub set_id: String,
    /// How many shares rebuild the secret.
    pub threshold: u8,
    /// The share bytes (identifier ‖ value).
    pub share: Vec<u8>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share")
            .field("owner", &self.owner)
            .field("set_id", &self.set_id)
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.share);
    }
}

/// A fresh guardian secret and its split into `count` shares, `threshold` of which rebuild it.
pub fn split(owner: &str, threshold: usize, count: usize) -> Result<(Zeroizing<[u8; 32]>, Vec<Share>), GuardianError> {
    if count > MAX_GUARDIANS {
        return Err(GuardianError::BadParameters(format!("at most {MAX_GUARDIANS} guardians")));
    }
    if threshold < 2 || threshold > count {
        return Err(GuardianError::BadParameters(format!(
            "the threshold must be at least 2 and at most the number of guardians ({count})"
        )));
    }
    let secret = Zeroizing::new(rand::random::<[u8; 32]>());
    let raw = vsss_rs::Gf256::split_array(threshold, count, secret.as_slice(), rand::rngs::OsRng)
        .map_err(|e| GuardianError::BadParameters(format!("{e:?}")))?;
    let set_id = hex::encode(rand::random::<[u8; 8]>());
    let threshold = u8::try_from(threshold).map_err(|_| GuardianError::BadParameters("threshold too large".into()))?;
    let shares = raw
        .into_iter()
        .map(|share| Share { owner: owner.to_owned(), set_id: set_id.clone(), threshold, share })
        .collect();
    Ok((secret, shares))
}

/// Rebuilds the secret from `threshold` shares of one set.
pub fn combine(shares: &[Share]) -> Result<Zeroizing<[u8; 32]>, GuardianError> {
    let first = shares.first().ok_or_else(|| GuardianError::BadShares("no shares".into()))?;
    if shares.iter().any(|s| s.set_id != first.set_id || s.owner != first.owner || s.threshold != first.threshold) {
        return Err(GuardianError::BadShares("they come from different sets".into()));
    }
    if shares.len() < usize::from(first.threshold) {
        return Err(GuardianError::BadShares(format!(
            "{} of {} needed",
            shares.len(),
            first.threshold
        )));
    }
    let raw: Vec<Vec<u8>> = shares.iter().map(|s| s.share.clone()).collect();
    let secret = Zeroizing::new(
        vsss_rs::Gf256::combine_array(&raw).map_err(|e| GuardianError::BadShares(format!("{e:?}")))?,
    );
    let arr: [u8; 32] = secret.as_slice().try_into().map_err(|_| GuardianError::BadShares("wrong length".into()))?;
    Ok(Zeroizing::new(arr))
}

/// What a guardian's share is sealed under for a recovery request: the owner and the new
/// device's HPKE key.
pub fn request_context(owner: &str, hpke_public: &[u8]) -> Vec<u8> {
    let mut c = b"hush-guardian-share-v1".to_vec();
    c.extend_from_slice(&(owner.len() as u32).to_be_bytes());
    c.extend_from_slice(owner.as_bytes());
    c.extend_from_slice(hpke_public);
    c
}

/// The code the recovering device shows and each guardian types: a fingerprint of the
/// request, so a guardian never hands a share to a request the server made up.
pub fn request_code(owner: &str, hpke_public: &[u8]) -> String {
    crate::hpke::code_of(b"hush-guardian-code-v1", &request_context(owner, hpke_public))
}

/// The backup key and auth key a guardian secret stands for.
pub fn keys(secret: &[u8; 32]) -> RecoveryKeys {
    keys_from_secret(secret, SALT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_k_rebuild_fewer_dont_and_sets_dont_mix() {
        let (secret, shares) = split("alice", 2, 3).expect("split");
        assert_eq!(shares.len(), 3);
        for pair in [[0, 1], [0, 2], [1, 2]] {
            let picked: Vec<Share> = pair.iter().map(|&i| shares[i].clone()).collect();
            assert_eq!(*combine(&picked).expect("combine"), *secret);
        }
        assert!(combine(&shares[..1]).is_err(), "one of three reveals nothing usable");
        let (_, other) = split("alice", 2, 3).expect("split");
        assert!(combine(&[shares[0].clone(), other[1].clone()]).is_err());
        // A forged share combines to some other secret, never this one.
        let mut forged = shares[1].clone();
        forged.share[5] ^= 0x55;
        let got = combine(&[shares[0].clone(), forged]);
        assert!(got.map(|g| *g != *secret).unwrap_or(true));
        assert!(split("alice", 1, 3).is_err());
        assert!(split("alice", 4, 3).is_err());
    }
}

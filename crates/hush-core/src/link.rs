//! Linking a new device to an account with a short code and a PAKE.
//!
//! The new device shows a code `SSSS-NNNNNN`: a 4-character selector that finds the
//! request and a 6-digit secret that never leaves the two devices. Both run SPAKE2
//! (symmetric, Ed25519 group, RustCrypto `spake2`) with the secret as the password and the
//! username and selector as the identity, relayed by the server. From the shared key (HKDF
//! over both messages) come a key confirmation for the existing device, a MAC for the new
//! device's signing key, and the key that seals the account bundle (XChaCha20-Poly1305).
//!
//! The server, or anyone, who wants in must guess the 6 digits in one try: the server
//! accepts one answer per request, so a wrong guess burns it, and an altered PAKE
//! message makes the key confirmation fail on both ends.

use spake2::{Ed25519Group, Identity, Password, Spake2};
use zeroize::Zeroizing;

use crate::primitives;
use crate::identity::PublicKey;

use crate::ids::{CODE_ALPHABET as ALPHABET, LINK_SELECTOR_LEN};

/// Errors while linking, one sentence each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// A code that is not `SSSS-NNNNNN`.
    #[error("a link code looks like K7QD-482913 (4 letters or digits, then 6 digits)")]
    BadCode,
    /// The PAKE or a confirmation failed.
    #[error("the code did not match, or a message between the devices was altered; start the link again")]
    Mismatch,
    /// A malformed PAKE message.
    #[error("a malformed link message")]
    Malformed,
}

/// A link code. The secret half is zeroized on drop and never printed by `Debug`.
pub struct LinkCode {
    /// The public half: finds the request on the server.
    pub selector: String,
    secret: Zeroizing<String>,
}

impl LinkCode {
    /// A fresh code.
    pub fn generate() -> Self {
        let r: [u8; LINK_SELECTOR_LEN] = rand::random();
        let selector = r.iter().map(|b| char::from(ALPHABET[usize::from(*b) & 31])).collect();
        let n: u32 = rand::Rng::gen_range(&mut rand::thread_rng(), 0..1_000_000);
        LinkCode { selector, secret: Zeroizing::new(format!("{n:06}")) }
    }

    /// Parses what a person typed (case, spaces and dashes ignored).
    pub fn parse(text: &str) -> Result<Self, LinkError> {
        let clean: String = text.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
        if clean.len() != LINK_SELECTOR_LEN + 6 {
            return Err(LinkError::BadCode);
        }
        let (sel, digits) = clean.split_at(LINK_SELECTOR_LEN);
        if !sel.bytes().all(|b| ALPHABET.contains(&b)) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LinkError::BadCode);
        }
        Ok(LinkCode { selector: sel.to_owned(), secret: Zeroizing::new(digits.to_owned()) })
    }

    /// The code as shown: `SSSS-NNNNNN`.
    pub fn display(&self) -> String {
        format!("{}-{}", self.selector, self.secret.as_str())
    }
}

impl std::fmt::Debug for LinkCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LinkCode({}-******)", self.selector)
    }
}

/// One side of the PAKE, after sending its message.
pub struct Pake {
    state: Spake2<Ed25519Group>,
    /// This side's message, to send.
    pub message: Vec<u8>,
}

impl Pake {
    /// Starts the PAKE for `username`'s link request with this code.
    pub fn start(username: &str, code: &LinkCode) -> Self {
        let identity = format!("hush-link-v2|{username}|{}", code.selector);
        let (state, message) =
            Spake2::<Ed25519Group>::start_symmetric(&Password::new(code.secret.as_bytes()), &Identity::new(identity.as_bytes()));
        Pake { state, message }
    }

    /// Finishes with the other side's message.
    pub fn finish(self, theirs: &[u8]) -> Result<LinkSession, LinkError> {
        let mine = self.message.clone();
        let key = Zeroizing::new(self.state.finish(theirs).map_err(|_| LinkError::Malformed)?);
        // Both sides name the two messages in the same order.
        let (a, b) = if mine <= theirs.to_vec() { (mine, theirs.to_vec()) } else { (theirs.to_vec(), mine) };
        let mut transcript = Vec::with_capacity(8 + a.len() + b.len());
        transcript.extend_from_slice(&(a.len() as u32).to_be_bytes());
        transcript.extend_from_slice(&a);
        transcript.extend_from_slice(&(b.len() as u32).to_be_bytes());
        transcript.extend_from_slice(&b);
        Ok(LinkSession {
            confirm: primitives::hkdf32(&transcript, key.as_slice(), b"existing device confirms"),
            device_mac: primitives::hkdf32(&transcript, key.as_slice(), b"new device key mac"),
            seal: primitives::hkdf32(&transcript, key.as_slice(), b"bundle key"),
        })
    }
}

/// Keys both devices derived from the PAKE. No `Debug`; zeroized on drop.
pub struct LinkSession {
    confirm: Zeroizing<[u8; 32]>,
    device_mac: Zeroizing<[u8; 32]>,
    seal: Zeroizing<[u8; 32]>,
}

fn mac(key: &[u8; 32], data: &[u8]) -> Vec<u8> {
    primitives::hmac(key, data).to_vec()
}

fn check(key: &[u8; 32], data: &[u8], tag: &[u8]) -> Result<(), LinkError> {
    if primitives::hmac_verify(key, data, tag) { Ok(()) } else { Err(LinkError::Mismatch) }
}

impl LinkSession {
    /// The existing device's key confirmation.
    pub fn confirmation(&self) -> Vec<u8> {
        mac(&self.confirm, b"hush-link-confirm")
    }

    /// Checks the existing device's key confirmation (constant time).
    pub fn check_confirmation(&self, tag: &[u8]) -> Result<(), LinkError> {
        check(&self.confirm, b"hush-link-confirm", tag)
    }

    /// The MAC the new device sends with its signing key.
    pub fn device_mac(&self, device_key: &PublicKey) -> Vec<u8> {
        mac(&self.device_mac, &device_key.0)
    }

    /// Checks the new device's MAC (constant time).
    pub fn check_device_mac(&self, device_key: &PublicKey, tag: &[u8]) -> Result<(), LinkError> {
        check(&self.device_mac, &device_key.0, tag)
    }

    /// Seals the account bundle for the new device, bound to its signing key.
    pub fn seal(&self, device_key: &PublicKey, bundle: &[u8]) -> Vec<u8> {
        primitives::seal(&self.seal, &device_key.0, bundle)
    }

    /// Opens the account bundle.
    pub fn open(&self, device_key: &PublicKey, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, LinkError> {
        if sealed.len() < primitives::NONCE_LEN + primitives::TAG_LEN {
            return Err(LinkError::Malformed);
        }
        primitives::open(&self.seal, &device_key.0, sealed).map_err(|_| LinkError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SecretKey;

    #[test]
    fn same_code_agrees_wrong_code_or_altered_message_does_not() {
        let code = LinkCode::generate();
        let typed = LinkCode::parse(&code.display().to_lowercase()).expect("parses");
        let new = Pake::start("alice", &code);
        let old = Pake::start("alice", &typed);
        let (new_msg, old_msg) = (new.message.clone(), old.message.clone());
        let s_new = new.finish(&old_msg).expect("new");
        let s_old = old.finish(&new_msg).expect("old");
        s_new.check_confirmation(&s_old.confirmation()).expect("confirms");
        let dk = SecretKey::generate().public();
        s_old.check_device_mac(&dk, &s_new.device_mac(&dk)).expect("mac");
        let sealed = s_old.seal(&dk, b"bundle");
        assert_eq!(s_new.open(&dk, &sealed).expect("opens").as_slice(), b"bundle");
        assert!(s_new.open(&SecretKey::generate().public(), &sealed).is_err());

        // A wrong secret: confirmation fails.
        let wrong = LinkCode::parse(&format!("{}-{:06}", code.selector, (code.secret.parse::<u32>().unwrap_or(0) + 1) % 1_000_000)).expect("parses");
        let new = Pake::start("alice", &code);
        let bad = Pake::start("alice", &wrong);
        let (nm, bm) = (new.message.clone(), bad.message.clone());
        let s_new = new.finish(&bm).expect("finish");
        let s_bad = bad.finish(&nm).expect("finish");
        assert!(s_new.check_confirmation(&s_bad.confirmation()).is_err());

        // An altered message: confirmation fails too.
        let new = Pake::start("alice", &code);
        let old = Pake::start("alice", &typed);
        let mut altered = old.message.clone();
        altered[10] ^= 1;
        let nm = new.message.clone();
        match new.finish(&altered) {
            Err(_) => {}
            Ok(s_new) => {
                let s_old = old.finish(&nm).expect("old");
                assert!(s_new.check_confirmation(&s_old.confirmation()).is_err());
            }
        }
        assert!(LinkCode::parse("ABCD-12345").is_err());
        assert!(LinkCode::parse("ABCI-123456").is_err());
        assert!(!format!("{code:?}").contains(code.secret.as_str()));
    }
}

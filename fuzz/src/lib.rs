//! What the fuzz targets and the seed generator share: fixed keys and names, and the one
//! framing used to pack several byte strings into a fixture or a fuzz input.

use hush_core::files::SpaceKey;
use hush_core::identity::SecretKey;

/// The passphrase of the sealed-store fixture.
pub const PASSPHRASE: &[u8] = b"fuzzing passphrase";
/// The space the files targets open.
pub const SPACE: &str = "drive:alice";
/// The entry the row target opens.
pub const ENTRY: &str = "00112233445566778899aabbccddeeff";
/// The user whose key-transparency proofs the kt target checks.
pub const KT_USER: &str = "alice";
/// The account the recovery target's backups are bound to.
pub const BACKUP_USER: &str = "alice";
/// The link code the link target's two sides share.
pub const LINK_CODE: &str = "K7QD-482913";

/// Alice's identity key (fixed, so that fixtures and targets agree).
pub fn alice_identity() -> SecretKey {
    SecretKey::from_seed(&[1; 32])
}

/// Alice's device key.
pub fn alice_device() -> SecretKey {
    SecretKey::from_seed(&[2; 32])
}

/// The space key every row is sealed with (key id 1).
pub fn space_key() -> SpaceKey {
    SpaceKey(zeroize::Zeroizing::new([9; 32]))
}

/// The backup key of the recovery target.
pub const BACKUP_KEY: [u8; 32] = [5; 32];

/// Packs byte strings: each as a 4-byte big-endian length and the bytes.
pub fn pack(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Unpacks what [`pack`] made; a short or truncated length ends the list (fuzz inputs are
/// read the same way, so any bytes give some list).
pub fn unpack(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let n = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let rest = &data[4..];
        let n = n.min(rest.len());
        out.push(&rest[..n]);
        data = &rest[n..];
    }
    out
}

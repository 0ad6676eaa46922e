//! Safety numbers: a number two people compare (in person or over another channel) to
//! check that each holds the other's real identity key.
//!
//! Each side's half is 30 digits derived from its username and identity key by iterated
//! SHA-512 (the construction of Signal's numeric fingerprints, with hush's own label);
//! the number is the two halves ordered by username, so both people see the same 60
//! digits. Any change of either key changes the number.

use sha2::{Digest, Sha512};

use crate::identity::PublicKey;

const VERSION: &[u8] = &[0, 1];
const LABEL: &[u8] = b"hush-safety-number-v1";
const ITERATIONS: usize = 5200;

fn half(username: &str, key: &PublicKey) -> String {
    let mut hash = Sha512::new()
        .chain_update(VERSION)
        .chain_update(LABEL)
        .chain_update(key.0)
        .chain_update((username.len() as u32).to_be_bytes())
        .chain_update(username.as_bytes())
        .finalize();
    for _ in 0..ITERATIONS {
        hash = Sha512::new().chain_update(hash).chain_update(key.0).finalize();
    }
    // Six chunks of 5 bytes, each read as a number mod 100000: 30 digits.
    (0..6)
        .map(|i| {
            let c = &hash[i * 5..i * 5 + 5];
            let n = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", n % 100_000)
        })
        .collect()
}

/// The 60-digit safety number of two users, the same whichever side computes it.
pub fn safety_number(user_a: &str, key_a: &PublicKey, user_b: &str, key_b: &PublicKey) -> String {
    let (a, b) = (half(user_a, key_a), half(user_b, key_b));
    if user_a <= user_b { a + &b } else { b + &a }
}

/// The number in 12 groups of 5 digits, as people read it.
pub fn grouped(number: &str) -> String {
    number
        .as_bytes()
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the QR code encodes: the version, both usernames and both keys, so a scanner can
/// compare key by key.
pub fn qr_payload(user_a: &str, key_a: &PublicKey, user_b: &str, key_b: &PublicKey) -> String {
    let mut pair = [(user_a, key_a), (user_b, key_b)];
    pair.sort_by(|x, y| x.0.cmp(y.0));
    format!(
        "hush-verify-v1:{}:{}:{}:{}",
        pair[0].0,
        hex::encode(pair[0].1.0),
        pair[1].0,
        hex::encode(pair[1].1.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SecretKey;

    #[test]
    fn same_on_both_sides_and_differs_when_a_key_does() {
        let (a, b, m) = (SecretKey::generate().public(), SecretKey::generate().public(), SecretKey::generate().public());
        let n1 = safety_number("alice", &a, "bob", &b);
        let n2 = safety_number("bob", &b, "alice", &a);
        assert_eq!(n1, n2);
        assert_eq!(n1.len(), 60);
        assert!(n1.bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(n1, safety_number("alice", &a, "bob", &m));
        assert_ne!(n1, safety_number("alice", &m, "bob", &b));
        assert_eq!(grouped(&n1).split(' ').count(), 12);
        assert_eq!(qr_payload("alice", &a, "bob", &b), qr_payload("bob", &b, "alice", &a));
    }
}

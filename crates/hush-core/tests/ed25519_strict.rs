//! hush's one Ed25519 check (`identity::verify_ed25519`, behind `PublicKey::verify`) against
//! Wycheproof's Ed25519 vectors, plus the two forms the issue found accepted: a signature
//! whose s was replaced by s + L, and a device certificate for a key of small order.
//!
//! The workspace builds ed25519-dalek with `legacy_compatibility` (akd_core's `vrf` feature
//! switches it on, and Cargo applies it to every user of the crate), so these tests run
//! against exactly the build hush ships.
//!
//! Vectors: `tests/vectors/ed25519_test.json` is `testvectors_v1/ed25519_test.json` from
//! github.com/C2SP/wycheproof (commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166). It has only
//! "valid" and "invalid" results. Should a later copy add "acceptable" ones, hush refuses
//! them: an acceptable vector is one a careful verifier may refuse (a malleable or
//! non-canonical form), and hush wants exactly one valid form of every signature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hush_core::identity::{DeviceCertificate, PublicKey, SecretKey, verify_ed25519};

#[derive(serde::Deserialize)]
struct File {
    #[serde(rename = "testGroups")]
    groups: Vec<Group>,
}

#[derive(serde::Deserialize)]
struct Group {
    #[serde(rename = "publicKey")]
    public_key: Key,
    tests: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Key {
    pk: String,
}

#[derive(serde::Deserialize)]
struct Case {
    #[serde(rename = "tcId")]
    id: u64,
    comment: String,
    msg: String,
    sig: String,
    result: String,
}

#[test]
fn every_wycheproof_vector_gets_its_expected_answer() {
    let file: File = serde_json::from_str(include_str!("vectors/ed25519_test.json")).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for g in &file.groups {
        let pk = hex::decode(&g.public_key.pk).unwrap();
        for t in &g.tests {
            let msg = hex::decode(&t.msg).unwrap();
            let sig = hex::decode(&t.sig).unwrap();
            let accepted = match <[u8; 32]>::try_from(pk.as_slice()) {
                Ok(key) => verify_ed25519(&key, &msg, &sig).is_ok(),
                Err(_) => false,
            };
            // The same answer through the public-key type every caller uses.
            let via_type = PublicKey::from_slice(&pk).is_ok_and(|k| k.verify(&msg, &sig).is_ok());
            assert_eq!(accepted, via_type, "tcId {}", t.id);
            match t.result.as_str() {
                "valid" => {
                    assert!(accepted, "tcId {} ({}) is valid but refused", t.id, t.comment);
                    valid += 1;
                }
                "invalid" | "acceptable" => {
                    assert!(!accepted, "tcId {} ({}) is {} but accepted", t.id, t.comment, t.result);
                    invalid += 1;
                }
                other => panic!("tcId {}: unknown result {other}", t.id),
            }
        }
    }
    assert!(valid > 50 && invalid > 50, "the vectors were read ({valid} valid, {invalid} invalid)");
}

/// Adds L to a little-endian scalar (s < L, so s + L < 2^253 still fits in 32 bytes).
fn add_order(s: &[u8]) -> [u8; 32] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(s[i]) + u16::from(L[i]) + carry;
        out[i] = (v & 0xff) as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    out
}

#[test]
fn a_signature_with_s_plus_l_is_refused() {
    let key = SecretKey::generate();
    let msg = b"hush row";
    let sig = key.sign(msg);
    key.public().verify(msg, &sig).expect("the honest signature verifies");
    let mut forged = sig;
    forged[32..].copy_from_slice(&add_order(&sig[32..]));
    assert_ne!(forged, sig);
    // What the dependency alone does with this build's features (documented, not required):
    let dalek = ed25519_dalek::VerifyingKey::from_bytes(&key.public().0)
        .unwrap()
        .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&forged))
        .is_ok();
    eprintln!("ed25519-dalek's verify_strict alone accepts s + L in this build: {dalek}");
    assert!(key.public().verify(msg, &forged).is_err(), "s + L must be refused");
}

/// A certificate body with any 32 bytes as the device key, signed by a real identity key
/// (what a hostile server or member could hand out).
fn certificate_with_device_key(identity: &SecretKey, device_key: [u8; 32]) -> Vec<u8> {
    let body = serde_json::json!({
        "username": "alice",
        "device_id": "00112233aabbccdd",
        "device_key": device_key.to_vec(),
        "identity_key": identity.public().0.to_vec(),
        "issued_at": 1,
    });
    let body_bytes = serde_json::to_vec(&body).unwrap();
    let sig = identity.sign(&[b"hush-device-certificate-v1\0".as_slice(), &body_bytes].concat());
    let mut out = (body_bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&body_bytes);
    out.extend_from_slice(&sig);
    out
}

#[test]
fn a_certificate_for_a_small_order_device_key_is_refused() {
    let identity = SecretKey::generate();
    // The same construction with an ordinary key is accepted, so the refusal below is
    // about the key alone.
    let honest = certificate_with_device_key(&identity, SecretKey::generate().public().0);
    DeviceCertificate::decode_and_verify(&honest).expect("an ordinary device key is accepted");

    let mut small_order: Vec<[u8; 32]> = Vec::new();
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1; // (0, 1), order 1
    small_order.push(identity_point);
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f; // (0, -1), order 2
    small_order.push(minus_one);
    // A point of order 8.
    small_order.push(<[u8; 32]>::try_from(hex::decode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a").unwrap()).unwrap());
    // (0, 1) written non-canonically (y = p + 1).
    let mut non_canonical = [0xffu8; 32];
    non_canonical[0] = 0xee;
    non_canonical[31] = 0x7f;
    small_order.push(non_canonical);
    for key in small_order {
        assert!(PublicKey::from_slice(&key).is_err(), "{} parses as a public key", hex::encode(key));
        let cert = certificate_with_device_key(&identity, key);
        assert!(DeviceCertificate::decode_and_verify(&cert).is_err(), "a certificate for {} is accepted", hex::encode(key));
    }
    // A small-order key signs "everything" under a cofactored check; not here.
    assert!(verify_ed25519(&identity_point, b"anything", &[0u8; 64]).is_err());
}

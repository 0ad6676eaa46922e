//! What `Debug` shows of hush-core's secret-holding types (a `{:?}` in a log line or a
//! panic message must never print a key, a share, a phrase or a code).
//!
//! - Types with a redacting `Debug` are built from known secret bytes; the output is pinned
//!   exactly and searched for the secret in hex, base64 and decimal-array form.
//! - Types with no `Debug` at all can't be printed; `assert_no_debug!` makes that a
//!   compile-time fact, so adding a `Debug` to one of them fails to compile here. If you add
//!   one on purpose, make it redact, and move the type to the pinned tests below.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use hush_core::files::{EntryKind, FileKey, FileVersion, Manifest, SpaceKey};
use hush_core::guardians::Share;
use hush_core::identity::SecretKey;
use hush_core::link::LinkCode;
use hush_core::message::Payload;
use hush_core::recovery::RecoveryPhrase;

/// Compiles only if `$t` does not implement `Debug` (the `static_assertions` crate's
/// `assert_not_impl_any!` technique: with a `Debug` impl the method call is ambiguous).
macro_rules! assert_no_debug {
    ($($t:ty),+ $(,)?) => {
        $(
            const _: fn() = || {
                trait AmbiguousIfDebug<A> {
                    fn some_item() {}
                }
                impl<T: ?Sized> AmbiguousIfDebug<()> for T {}
                #[allow(dead_code, reason = "only its type is used")]
                struct IsDebug;
                impl<T: ?Sized + std::fmt::Debug> AmbiguousIfDebug<IsDebug> for T {}
                let _ = <$t as AmbiguousIfDebug<_>>::some_item;
            };
        )+
    };
}

// No `Debug` at all: these hold keys (or MLS group secrets) and can't be printed.
assert_no_debug!(
    hush_core::identity::SecretKey,
    hush_core::sealed::SealKey,
    hush_core::link::Pake,
    hush_core::link::LinkSession,
    hush_core::recovery::RecoveryPhrase,
    hush_core::recovery::RecoveryKeys,
    hush_core::hpke::Receiver,
    hush_core::mls::HushProvider,
    hush_core::mls::Conversation,
    hush_core::mls::PendingJoin,
    hush_core::mls::PendingCommit,
    hush_core::mls::Incoming,
    hush_core::mls::Device<'static>,
);

/// Fails if `shown` holds `secret` (or a 6-byte run of it) in hex, base64 or as a
/// decimal array.
fn assert_hides(shown: &str, secret: &[u8]) {
    assert!(secret.len() >= 6, "a secret long enough to search for");
    let lower = shown.to_lowercase();
    for w in secret.windows(6) {
        assert!(!lower.contains(&hex::encode(w)), "{shown:?} shows the secret in hex");
        let decimal = w.iter().map(u8::to_string).collect::<Vec<_>>().join(", ");
        assert!(!shown.contains(&decimal), "{shown:?} shows the secret as numbers");
    }
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        let b64 = engine.encode(secret);
        assert!(!shown.contains(&b64[..8]), "{shown:?} shows the secret in base64");
    }
}

/// A secret whose bytes can't show up by chance.
fn secret(label: &str) -> [u8; 32] {
    Sha256::digest(label.as_bytes()).into()
}

/// A fixed file key and the 32 bytes it encodes (bech32 of SHA-256("hush vector file key 1")).
const FILE_KEY: &str = "AGE-SECRET-KEY-1DENLKGUCMNSU9USA0KGDKUACX3ERKP0YT74W8WWDCC0S00CC3P7SMZF45P";

fn file_key() -> FileKey {
    serde_json::from_value(serde_json::Value::String(FILE_KEY.into())).unwrap()
}

fn assert_hides_file_key(shown: &str) {
    assert!(!shown.to_uppercase().contains("AGE-SECRET-KEY"), "{shown:?} shows a file key");
    assert!(!shown.to_uppercase().contains(&FILE_KEY[16..30]), "{shown:?} shows a file key's bech32");
    assert_hides(shown, &secret("hush vector file key 1"));
}

#[test]
fn space_key() {
    let bytes = secret("space key");
    let key = SpaceKey::from_slice(&bytes).unwrap();
    let shown = format!("{key:?}");
    assert_eq!(shown, "SpaceKey(***)");
    assert_hides(&shown, &bytes);
    assert_hides(&format!("{key:#?}"), &bytes);
}

#[test]
fn file_key_and_the_manifests_that_hold_it() {
    let key = file_key();
    assert_eq!(format!("{key:?}"), "FileKey(***)");
    assert_hides_file_key(&format!("{key:#?}"));

    let version = FileVersion {
        version: 1,
        blob_id: "00000000000000000000000000000001".into(),
        blob_size: 10,
        blob_sha256: "ab".repeat(32),
        size: 5,
        mime: "text/plain".into(),
        modified_at: 7,
        author: "alice".into(),
        key,
    };
    let manifest = Manifest {
        entry_id: "0123456789abcdef0123456789abcdef".into(),
        kind: EntryKind::File,
        parent: None,
        name: "notes.txt".into(),
        created_at: 6,
        versions: vec![version],
        shared_from: None,
    };
    let shown = format!("{manifest:?}");
    assert_eq!(
        shown,
        "Manifest { entry_id: \"0123456789abcdef0123456789abcdef\", kind: File, parent: None, name: \"notes.txt\", \
         created_at: 6, versions: [FileVersion { version: 1, blob_id: \"00000000000000000000000000000001\", \
         blob_size: 10, blob_sha256: \"abababababababababababababababababababababababababababababababab\", size: 5, \
         mime: \"text/plain\", modified_at: 7, author: \"alice\", key: FileKey(***) }], shared_from: None }"
    );
    assert_hides_file_key(&shown);
    assert_hides_file_key(&format!("{manifest:#?}"));
}

#[test]
fn link_code_shows_the_selector_only() {
    let code = LinkCode::parse("k7qd-482913").unwrap();
    let shown = format!("{code:?}");
    assert_eq!(shown, "LinkCode(K7QD-******)");
    assert!(!shown.contains("482913") && !format!("{code:#?}").contains("482913"));
    assert_eq!(code.display(), "K7QD-482913", "the digits are there to hide");
}

#[test]
fn guardian_share_shows_whose_and_which_set_only() {
    let bytes: Vec<u8> = [1u8].into_iter().chain(secret("share")).collect();
    let share = Share { owner: "alice".into(), set_id: "0011223344556677".into(), threshold: 2, share: bytes.clone() };
    let shown = format!("{share:?}");
    assert_eq!(shown, "Share { owner: \"alice\", set_id: \"0011223344556677\", threshold: 2, .. }");
    assert_hides(&shown, &bytes);
    assert_hides(&format!("{share:#?}"), &bytes);
}

#[test]
fn payloads_that_carry_keys_or_shares() {
    let key = secret("space key in a payload");
    let p = Payload::SpaceKeys { id: "00".repeat(16), keys: vec![(3, SpaceKey::from_slice(&key).unwrap())] };
    let shown = format!("{p:?}");
    assert_eq!(shown, "SpaceKeys { id: \"00000000000000000000000000000000\", keys: [(3, SpaceKey(***))] }");
    assert_hides(&shown, &key);

    let bytes: Vec<u8> = [2u8].into_iter().chain(secret("share in a payload")).collect();
    let share = Share { owner: "bob".into(), set_id: "8899aabbccddeeff".into(), threshold: 3, share: bytes.clone() };
    let p = Payload::GuardianShare { id: "11".repeat(16), share };
    let shown = format!("{p:?}");
    assert_eq!(
        shown,
        "GuardianShare { id: \"11111111111111111111111111111111\", share: Share { owner: \"bob\", set_id: \"8899aabbccddeeff\", threshold: 3, .. } }"
    );
    assert_hides(&shown, &bytes);
}

/// The buffers hush hands secrets out in (`SecretKey::to_bytes`, `RecoveryKeys::backup_key`,
/// `RecoveryPhrase::to_text`, `guardians::split`/`combine`, every `open`) print nothing
/// (zeroize 1.9's `Debug` for `Zeroizing`).
#[test]
fn zeroizing_buffers() {
    let key = SecretKey::from_bytes(&secret("device key")).unwrap();
    let bytes = key.to_bytes();
    assert_eq!(format!("{bytes:?}"), "Zeroizing { .. }");
    assert_eq!(format!("{bytes:#?}"), "Zeroizing { .. }");

    let phrase = RecoveryPhrase::parse(&bip39::Mnemonic::from_entropy(&secret("phrase")).unwrap().to_string()).unwrap();
    let text = phrase.to_text();
    assert_eq!(format!("{text:?}"), "Zeroizing { .. }");
    let keys = phrase.keys();
    assert_eq!(format!("{:?}", keys.backup_key), "Zeroizing { .. }");

    let (guardian_secret, shares) = hush_core::guardians::split("alice", 2, 3).unwrap();
    assert_eq!(format!("{guardian_secret:?}"), "Zeroizing { .. }");
    assert!(!format!("{shares:?}").contains(&format!("{:?}", shares[0].share)));

    let opened: Zeroizing<Vec<u8>> = Zeroizing::new(b"opened plaintext".to_vec());
    assert_eq!(format!("{opened:?}"), "Zeroizing { .. }");
}

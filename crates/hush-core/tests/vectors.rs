//! Known-answer vectors for hush's own formats: the bytes hush persists, sends between
//! devices or shows people to compare. One JSON file per format in `tests/vectors/` (bytes
//! in lowercase hex, text as strings), each holding fixed inputs, the keys that open it and
//! the bytes hush produced for them. (`ed25519_test.json` there is Wycheproof's, read by
//! `ed25519_strict.rs`.)
//!
//! For every file, `known_answer` checks both directions: hush decodes (opens, verifies) the
//! stored bytes to exactly the inputs, and hush's encoder, given the inputs, produces the
//! stored bytes. Where the encoder draws a nonce, a salt or the time, the stored bytes were
//! produced once, and the test checks hush's fresh output against the format as written
//! out in this file (`spec_*` functions), with the random parts taken from that output.
//! `a_changed_byte_fails` flips bytes of every stored value (each byte of small ones, a
//! spread sample of large ones; `^ 0x01` and `^ 0x80`), drops the last byte and appends one,
//! and checks that the stored value then no longer checks, so a vector can't silently stop
//! pinning anything.
//!
//! **If a test here fails, you changed a persisted format** (or one people compare). Old
//! stores, rows, states, backups, certificates and directory entries still hold the old
//! bytes. Don't edit or regenerate the vector: give the format a new version (a new magic,
//! label or field), keep reading the old one, and add a vector file for the new version.
//!
//! Regenerating writes the files from the inputs in this file; it is for adding a format or
//! a case, and only for the files named:
//!
//! ```text
//! HUSH_REGENERATE_VECTORS=payload,kt cargo test --release -p hush-core --test vectors -- --ignored regenerate
//! ```
//!
//! (`HUSH_REGENERATE_VECTORS=all` rewrites every file. Files whose format draws a nonce get
//! new random bytes, so review the diff. `state` reads `row.json`, so write `row` first.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use hush_core::identity::{CertificateBody, DeviceCertificate, PublicKey, SecretKey};

// ---------------------------------------------------------------------------------------
// The machinery: stored values with their checks, loading and saving files.

/// Checks that (possibly changed) stored bytes are the right answer for a file's inputs.
type Check = Box<dyn Fn(&[u8]) -> Result<(), String>>;

/// One stored value of a vector file and the check that it is what hush makes of the
/// file's inputs (decoded or opened by hush where the format has a decoder; compared with
/// hush's output where it is one-way, such as a safety number).
struct Stored {
    what: String,
    bytes: Vec<u8>,
    check: Check,
}

fn stored(what: impl Into<String>, bytes: impl Into<Vec<u8>>, check: impl Fn(&[u8]) -> Result<(), String> + 'static) -> Stored {
    Stored { what: what.into(), bytes: bytes.into(), check: Box::new(check) }
}

/// A one-way value: the stored bytes must equal what hush computes now.
fn equals(what: impl Into<String>, stored_bytes: impl Into<Vec<u8>>, computed: impl Into<Vec<u8>>) -> Stored {
    let computed = computed.into();
    stored(what, stored_bytes, move |b| if b == computed.as_slice() { Ok(()) } else { Err("differs from what hush computes".into()) })
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("vectors")
}

fn load<T: DeserializeOwned>(name: &str) -> T {
    let path = dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn save<T: Serialize>(name: &str, value: &T) {
    let path = dir().join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).expect("json") + "\n";
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!("wrote {}", path.display());
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn unhex32(s: &str) -> [u8; 32] {
    unhex(s).try_into().expect("32 bytes")
}

/// A fixed 32-byte value named by a label (keys, salts and seeds of the vectors).
fn seed(label: &str) -> [u8; 32] {
    Sha256::digest(label.as_bytes()).into()
}

fn secret(hex_key: &str) -> SecretKey {
    SecretKey::from_bytes(&unhex(hex_key)).expect("secret key")
}

fn public(hex_key: &str) -> PublicKey {
    PublicKey::from_slice(&unhex(hex_key)).expect("public key")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn xchacha_seal(key: &[u8; 32], nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    XChaCha20Poly1305::new(key.into())
        .encrypt(XNonce::from_slice(nonce), chacha20poly1305::aead::Payload { msg: plaintext, aad })
        .expect("seal")
}

/// Byte positions to change: every one of a small value, a spread sample of a large one.
fn positions(len: usize) -> Vec<usize> {
    if len <= 600 {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..32).chain(len - 32..len).chain((32..len - 32).step_by(len / 536)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn known_answer(values: Vec<Stored>, other_checks: Result<(), String>) {
    assert!(!values.is_empty());
    for s in &values {
        (s.check)(&s.bytes).unwrap_or_else(|e| panic!("{}: {e}", s.what));
    }
    other_checks.unwrap_or_else(|e| panic!("{e}"));
}

fn a_changed_byte_fails(values: Vec<Stored>) {
    assert!(!values.is_empty());
    for s in &values {
        (s.check)(&s.bytes).unwrap_or_else(|e| panic!("{}: the stored value itself doesn't check: {e}", s.what));
        for i in positions(s.bytes.len()) {
            for mask in [0x01u8, 0x80] {
                let mut m = s.bytes.clone();
                m[i] ^= mask;
                assert!((s.check)(&m).is_err(), "{}: byte {i} ^ {mask:#04x} still checks: the vector doesn't pin it", s.what);
            }
        }
        let mut longer = s.bytes.clone();
        longer.push(0);
        assert!((s.check)(&longer).is_err(), "{}: a byte appended still checks", s.what);
        if let Some((_, shorter)) = s.bytes.split_last() {
            assert!((s.check)(shorter).is_err(), "{}: the last byte dropped still checks", s.what);
        }
    }
}

/// Each format module has `values()` (its stored values and their checks), `other_checks()`
/// (the encoder and the rest) and `regenerate()`.
macro_rules! vector_tests {
    () => {
        #[test]
        fn known_answer() {
            super::known_answer(values(), other_checks());
        }

        #[test]
        fn a_changed_byte_fails() {
            super::a_changed_byte_fails(values());
        }
    };
}

/// Every vector file, in the order `regenerate` writes them.
const FORMATS: &[(&str, fn())] = &[
    ("certificate", certificate::regenerate),
    ("sealed_store", sealed_store::regenerate),
    ("content", content::regenerate),
    ("row", row::regenerate),
    ("state", state::regenerate),
    ("kt", kt::regenerate),
    ("canonical_request", canonical_request::regenerate),
    ("safety_number", safety_number::regenerate),
    ("codes", codes::regenerate),
    ("hpke", hpke::regenerate),
    ("recovery", recovery::regenerate),
    ("guardians", guardians::regenerate),
    ("payload", payload::regenerate),
    ("provider_state", provider_state::regenerate),
];

#[test]
#[ignore = "writes tests/vectors/*.json: HUSH_REGENERATE_VECTORS=name,name (or all)"]
fn regenerate() {
    let Ok(which) = std::env::var("HUSH_REGENERATE_VECTORS") else {
        eprintln!("set HUSH_REGENERATE_VECTORS to a comma-separated list of vector names (or all) to write them");
        return;
    };
    let names: Vec<&str> = which.split(',').map(str::trim).collect();
    for n in &names {
        assert!(*n == "all" || FORMATS.iter().any(|(f, _)| f == n), "no vector file named {n}");
    }
    for (name, write) in FORMATS {
        if names.contains(&"all") || names.contains(name) {
            write();
        }
    }
}

#[test]
fn every_vector_file_is_checked() {
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .expect("tests/vectors")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "ed25519_test.json")
        .collect();
    on_disk.sort();
    let mut known: Vec<String> = FORMATS.iter().map(|(n, _)| format!("{n}.json")).collect();
    known.sort();
    assert_eq!(on_disk, known, "a vector file without a check here, or a check without its file");
}

// ---------------------------------------------------------------------------------------
// Device certificates (identity.rs).

mod certificate {
    use super::*;

    const CONTEXT: &[u8] = b"hush-device-certificate-v1\0";

    #[derive(Clone, Serialize, Deserialize)]
    pub struct File {
        format: String,
        identity_secret: String,
        identity_public: String,
        device_secret: String,
        device_public: String,
        username: String,
        device_id: String,
        issued_at: i64,
        /// The body's JSON, as signed.
        body: String,
        pub encoded: String,
    }

    impl File {
        fn body(&self) -> CertificateBody {
            CertificateBody {
                username: self.username.clone(),
                device_id: self.device_id.clone(),
                device_key: public(&self.device_public),
                identity_key: public(&self.identity_public),
                issued_at: self.issued_at,
            }
        }

        /// The device key and its certificate, for the row and state vectors.
        pub fn device(&self) -> (SecretKey, DeviceCertificate) {
            let cert = DeviceCertificate::decode_and_verify(&unhex(&self.encoded)).expect("certificate");
            (secret(&self.device_secret), cert)
        }

        pub fn device_secret_hex(&self) -> String {
            self.device_secret.clone()
        }
    }

    /// `u16 BE body length ‖ body ‖ Ed25519(identity, CONTEXT ‖ body)`.
    fn spec_encode(identity: &SecretKey, body: &[u8]) -> Vec<u8> {
        let mut out = u16::try_from(body.len()).expect("short body").to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out.extend_from_slice(&identity.sign(&[CONTEXT, body].concat()));
        out
    }

    pub fn make() -> File {
        let identity = SecretKey::from_bytes(&seed("hush vector identity key")).expect("key");
        let device = SecretKey::from_bytes(&seed("hush vector device key")).expect("key");
        let body = CertificateBody {
            username: "alice".into(),
            device_id: "00112233aabbccdd".into(),
            device_key: device.public(),
            identity_key: identity.public(),
            issued_at: 1_700_000_000_000,
        };
        let body_json = serde_json::to_vec(&body).expect("json");
        File {
            format: "u16 BE body length ‖ body (JSON) ‖ Ed25519(identity key, \"hush-device-certificate-v1\\0\" ‖ body)".into(),
            identity_secret: hex::encode(*identity.to_bytes()),
            identity_public: hex::encode(identity.public().0),
            device_secret: hex::encode(*device.to_bytes()),
            device_public: hex::encode(device.public().0),
            username: body.username.clone(),
            device_id: body.device_id.clone(),
            issued_at: body.issued_at,
            body: String::from_utf8(body_json.clone()).expect("utf-8"),
            encoded: hex::encode(spec_encode(&identity, &body_json)),
        }
    }

    pub fn regenerate() {
        save("certificate", &make());
    }

    fn values() -> Vec<Stored> {
        let f: File = load("certificate");
        let expected = f.body();
        vec![stored("certificate.json encoded", unhex(&f.encoded), move |b| {
            let cert = DeviceCertificate::decode_and_verify(b).map_err(err)?;
            ensure!(*cert.body() == expected, "decodes to {:?}", cert.body());
            ensure!(cert.encode() == b, "re-encodes differently");
            Ok(())
        })]
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("certificate");
        let identity = secret(&f.identity_secret);
        let device = secret(&f.device_secret);
        ensure!(hex::encode(identity.public().0) == f.identity_public, "identity public key");
        ensure!(hex::encode(device.public().0) == f.device_public, "device public key");
        ensure!(serde_json::to_string(&f.body()).map_err(err)? == f.body, "the body's JSON");
        ensure!(spec_encode(&identity, f.body.as_bytes()) == unhex(&f.encoded), "encoded is not the spec's bytes");
        // hush's encoder, whose only free input is the clock.
        let issued = DeviceCertificate::issue(&identity, &f.username, &f.device_id, device.public());
        let mut body = f.body();
        body.issued_at = issued.body().issued_at;
        ensure!(*issued.body() == body, "issue() made {:?}", issued.body());
        let body_json = serde_json::to_vec(&body).map_err(err)?;
        ensure!(issued.encode() == spec_encode(&identity, &body_json), "issue().encode() doesn't follow the format");
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// The sealed store, HUSHSEAL1 (sealed.rs).

mod sealed_store {
    use super::*;
    use hush_core::sealed::{DEFAULT_COST, SealKey};

    #[derive(Clone, Serialize, Deserialize)]
    struct File {
        format: String,
        note: String,
        passphrase: String,
        m_cost: u32,
        t_cost: u32,
        p_cost: u32,
        salt: String,
        nonce: String,
        plaintext: String,
        sealed: String,
    }

    fn argon2id(passphrase: &[u8], salt: &[u8], (m, t, p): (u32, u32, u32)) -> [u8; 32] {
        let params = argon2::Params::new(m, t, p, Some(32)).expect("params");
        let mut key = [0u8; 32];
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password_into(passphrase, salt, &mut key)
            .expect("argon2");
        key
    }

    /// `"HUSHSEAL1" ‖ m ‖ t ‖ p (u32 BE) ‖ salt[16] ‖ nonce[24] ‖ XChaCha20-Poly1305(key,
    /// nonce, plaintext, aad = the header)`, key = Argon2id(passphrase, salt, m, t, p).
    fn spec_seal(passphrase: &[u8], cost: (u32, u32, u32), salt: &[u8], nonce: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = b"HUSHSEAL1".to_vec();
        for c in [cost.0, cost.1, cost.2] {
            out.extend_from_slice(&c.to_be_bytes());
        }
        out.extend_from_slice(salt);
        out.extend_from_slice(nonce);
        let ct = xchacha_seal(&argon2id(passphrase, salt, cost), nonce, &out, plaintext);
        out.extend_from_slice(&ct);
        out
    }

    fn header_cost(b: &[u8]) -> (u32, u32, u32) {
        let u = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        (u(9), u(13), u(17))
    }

    pub fn regenerate() {
        // hush derives with DEFAULT_COST only (64 MiB); the vector uses a small cost, which
        // the header carries, so that checking each changed byte stays fast.
        let cost = (1024, 1, 1);
        let (salt, nonce) = (seed("hush vector seal salt"), seed("hush vector seal nonce"));
        let (passphrase, salt, nonce) = ("correct horse battery staple", &salt[..16], &nonce[..24]);
        let plaintext = b"hush local store: the state of one device";
        save(
            "sealed_store",
            &File {
                format: "\"HUSHSEAL1\" ‖ m_cost u32 BE ‖ t_cost u32 BE ‖ p_cost u32 BE ‖ salt[16] ‖ nonce[24] ‖ XChaCha20-Poly1305(Argon2id(passphrase, salt, m, t, p), nonce, plaintext, aad = everything before the ciphertext)".into(),
                note: "written by this test's spec_seal with a fixed salt and nonce and a small cost (SealKey always draws them and uses DEFAULT_COST); hush opens it, and hush's own output is checked against spec_seal".into(),
                passphrase: passphrase.into(),
                m_cost: cost.0,
                t_cost: cost.1,
                p_cost: cost.2,
                salt: hex::encode(salt),
                nonce: hex::encode(nonce),
                plaintext: hex::encode(plaintext),
                sealed: hex::encode(spec_seal(passphrase.as_bytes(), cost, salt, nonce, plaintext)),
            },
        );
    }

    fn values() -> Vec<Stored> {
        let f: File = load("sealed_store");
        let (passphrase, plaintext) = (f.passphrase.clone(), unhex(&f.plaintext));
        vec![stored("sealed_store.json sealed", unhex(&f.sealed), move |b| {
            // A guard of this test's memory, not part of the format: the changes
            // a_changed_byte_fails makes keep the cost at most 65 MiB, or hush refuses it.
            if b.len() >= 21 {
                let (m, _, _) = header_cost(b);
                assert!(m <= 66_560 || m > 4 * 1024 * 1024, "a changed byte would make the test derive a {m} KiB key");
            }
            let key = SealKey::derive_for(passphrase.as_bytes(), b).map_err(err)?;
            let opened = key.open(b).map_err(err)?;
            ensure!(opened.as_slice() == plaintext, "opens to other bytes");
            Ok(())
        })]
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("sealed_store");
        let (salt, nonce, plaintext) = (unhex(&f.salt), unhex(&f.nonce), unhex(&f.plaintext));
        let cost = (f.m_cost, f.t_cost, f.p_cost);
        ensure!(spec_seal(f.passphrase.as_bytes(), cost, &salt, &nonce, &plaintext) == unhex(&f.sealed), "sealed is not the spec's bytes");
        let wrong = SealKey::derive_for(b"wrong passphrase", &unhex(&f.sealed)).map_err(err)?;
        ensure!(wrong.open(&unhex(&f.sealed)).is_err(), "opens with another passphrase");
        // hush's encoder: a fresh salt and nonce, DEFAULT_COST.
        let key = SealKey::derive_new(f.passphrase.as_bytes()).map_err(err)?;
        let out = key.seal(&plaintext);
        ensure!(out.len() > 61 && out.starts_with(b"HUSHSEAL1"), "hush's output has no HUSHSEAL1 header");
        ensure!(header_cost(&out) == DEFAULT_COST, "hush's output names cost {:?}", header_cost(&out));
        let spec = spec_seal(f.passphrase.as_bytes(), DEFAULT_COST, &out[21..37], &out[37..61], &plaintext);
        ensure!(out == spec, "hush's output doesn't follow the format");
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// File content: age v1 to the version's file key (files.rs encrypt/decrypt).

mod content {
    use super::*;
    use hush_core::files::{self, FileKey};

    /// A file key, fixed for the vectors (age's bech32 of SHA-256("hush vector content key")).
    const FILE_KEY: &str = "AGE-SECRET-KEY-1L0PA43S77EAKKGWFV2NFTYNCSE40G5PTKVUXZ48W97TZ37C4ZWFSSHC8FX";

    #[derive(Clone, Serialize, Deserialize)]
    struct File {
        format: String,
        file_key: String,
        recipient: String,
        plaintext: String,
        blob: String,
    }

    fn file_key(s: &str) -> FileKey {
        serde_json::from_value(serde_json::Value::String(s.into())).expect("file key")
    }

    fn age_decrypt(identity: &str, blob: &[u8]) -> Result<Vec<u8>, String> {
        use std::io::Read as _;
        let identity: age::x25519::Identity = identity.parse().map_err(err)?;
        let decryptor = age::Decryptor::new(blob).map_err(err)?;
        let mut reader = decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(err)?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(err)?;
        Ok(out)
    }

    pub fn regenerate() {
        let key = file_key(FILE_KEY);
        let plaintext: Vec<u8> = b"hush file content, one age STREAM chunk\n".repeat(3);
        let mut blob = Vec::new();
        files::encrypt(&key, plaintext.as_slice(), &mut blob).expect("encrypt");
        save(
            "content",
            &File {
                format: "age v1 (age-encryption.org/v1), one X25519 recipient: the version's file key".into(),
                file_key: FILE_KEY.into(),
                recipient: key.recipient(),
                plaintext: hex::encode(&plaintext),
                blob: hex::encode(&blob),
            },
        );
    }

    fn values() -> Vec<Stored> {
        let f: File = load("content");
        let (key, plaintext) = (file_key(&f.file_key), unhex(&f.plaintext));
        vec![stored("content.json blob", unhex(&f.blob), move |b| {
            let mut out = Vec::new();
            let n = files::decrypt(&key, b, &mut out).map_err(err)?;
            ensure!(out == plaintext && n == plaintext.len() as u64, "decrypts to other bytes");
            Ok(())
        })]
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("content");
        let (key, plaintext) = (file_key(&f.file_key), unhex(&f.plaintext));
        ensure!(key.recipient() == f.recipient, "the file key's recipient");
        // The stored blob and hush's fresh output are standard age files.
        ensure!(age_decrypt(&f.file_key, &unhex(&f.blob))? == plaintext, "age doesn't open the stored blob");
        let mut blob = Vec::new();
        files::encrypt(&key, plaintext.as_slice(), &mut blob).map_err(err)?;
        ensure!(blob.starts_with(b"age-encryption.org/v1\n-> X25519 "), "hush's output is not an age v1 X25519 file");
        ensure!(age_decrypt(&f.file_key, &blob)? == plaintext, "age doesn't open hush's output");
        let mut exported = Vec::new();
        files::encrypt_for_recipient(&f.recipient, plaintext.as_slice(), &mut exported).map_err(err)?;
        ensure!(age_decrypt(&f.file_key, &exported)? == plaintext, "age doesn't open hush's export");
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// Manifest rows (files.rs SealedRow).

mod row {
    use super::*;
    use hush_core::files::{EntryKind, FileKey, FileVersion, Manifest, SealedRow, SpaceKey};

    const ROW_AAD: &[u8] = b"hush-space-row-aad-v1\0";
    const ROW_SIG: &[u8] = b"hush-space-row-v1\0";
    const KEY_1: &str = "AGE-SECRET-KEY-1DENLKGUCMNSU9USA0KGDKUACX3ERKP0YT74W8WWDCC0S00CC3P7SMZF45P";
    const KEY_2: &str = "AGE-SECRET-KEY-1GHHSVMVTYZKAR36TAL59LDD4J9JNLDTHAXGE5UUQNDSZTM0LE6HQF6JZMG";

    #[derive(Clone, Serialize, Deserialize)]
    pub struct File {
        format: String,
        pub space: String,
        pub entry_id: String,
        pub key_id: u64,
        pub space_key: String,
        device_secret: String,
        certificate: String,
        /// The sealed plaintext: the manifest's JSON.
        manifest: String,
        pub row: String,
    }

    /// The entry the vector seals: a file with two versions, in the space's root.
    pub fn manifest() -> Manifest {
        let version = |n: u64, key: &str| FileVersion {
            version: n,
            blob_id: format!("{n:032x}"),
            blob_size: 1000 + n,
            blob_sha256: hex::encode(seed(&format!("hush vector blob {n}"))),
            size: 900 + n,
            mime: "application/pdf".into(),
            modified_at: 1_700_000_000_000 + i64::try_from(n).expect("small"),
            author: "alice".into(),
            key: serde_json::from_value::<FileKey>(serde_json::Value::String(key.into())).expect("file key"),
        };
        Manifest {
            entry_id: "0123456789abcdef0123456789abcdef".into(),
            kind: EntryKind::File,
            parent: None,
            name: "report – final.pdf".into(),
            created_at: 1_699_999_999_999,
            versions: vec![version(1, KEY_1), version(2, KEY_2)],
            shared_from: Some("drive:bob/fedcba9876543210fedcba9876543210".into()),
        }
    }

    pub fn keys(f: &File) -> impl Fn(u64) -> Option<SpaceKey> + 'static {
        let (id, key) = (f.key_id, unhex(&f.space_key));
        move |k| (k == id).then(|| SpaceKey::from_slice(&key).expect("32 bytes"))
    }

    fn aad(space: &str, entry_id: &str, key_id: u64) -> Vec<u8> {
        let mut a = ROW_AAD.to_vec();
        for part in [space.as_bytes(), entry_id.as_bytes()] {
            a.extend_from_slice(&(part.len() as u64).to_be_bytes());
            a.extend_from_slice(part);
        }
        a.extend_from_slice(&key_id.to_be_bytes());
        a
    }

    /// `{"key_id":N,"nonce":B,"ciphertext":B,"certificate":B,"signature":B}` (B: base64url,
    /// no padding); ciphertext = XChaCha20-Poly1305(space key, nonce, manifest JSON, aad);
    /// signature = Ed25519(device, ROW_SIG ‖ aad ‖ nonce ‖ SHA-256(ciphertext)).
    fn spec_row(f: &File, nonce: &[u8]) -> String {
        let aad = aad(&f.space, &f.entry_id, f.key_id);
        let ct = xchacha_seal(&unhex32(&f.space_key), nonce, &aad, f.manifest.as_bytes());
        let signed = [ROW_SIG, &aad, nonce, &Sha256::digest(&ct)].concat();
        let sig = secret(&f.device_secret).sign(&signed);
        format!(
            "{{\"key_id\":{},\"nonce\":\"{}\",\"ciphertext\":\"{}\",\"certificate\":\"{}\",\"signature\":\"{}\"}}",
            f.key_id,
            b64(nonce),
            b64(&ct),
            b64(&unhex(&f.certificate)),
            b64(&sig)
        )
    }

    fn nonce_of(row: &[u8]) -> Result<Vec<u8>, String> {
        let v: serde_json::Value = serde_json::from_slice(row).map_err(err)?;
        URL_SAFE_NO_PAD.decode(v["nonce"].as_str().ok_or("no nonce")?).map_err(err)
    }

    pub fn regenerate() {
        let c = certificate::make();
        let (device, cert) = c.device();
        let m = manifest();
        let mut f = File {
            format: "JSON {key_id, nonce, ciphertext, certificate, signature} (base64url, no padding); ciphertext = XChaCha20-Poly1305(space key, nonce, manifest JSON, aad = \"hush-space-row-aad-v1\\0\" ‖ u64 BE len ‖ space ‖ u64 BE len ‖ entry_id ‖ key_id u64 BE); signature = Ed25519(device key, \"hush-space-row-v1\\0\" ‖ aad ‖ nonce ‖ SHA-256(ciphertext))".into(),
            space: "drive:alice".into(),
            entry_id: m.entry_id.clone(),
            key_id: 3,
            space_key: hex::encode(seed("hush vector space key")),
            device_secret: c.device_secret_hex(),
            certificate: hex::encode(cert.encode()),
            manifest: serde_json::to_string(&m).expect("json"),
            row: String::new(),
        };
        let key = SpaceKey::from_slice(&unhex(&f.space_key)).expect("key");
        let row = SealedRow::seal(&f.space, &m, f.key_id, &key, &device, &cert).expect("seal");
        f.row = String::from_utf8(row).expect("utf-8");
        save("row", &f);
    }

    fn values() -> Vec<Stored> {
        let f: File = load("row");
        let cert = DeviceCertificate::decode_and_verify(&unhex(&f.certificate)).expect("certificate");
        let keys = keys(&f);
        let g = f.clone();
        vec![
            stored("row.json row", f.row.as_bytes(), move |b| {
                let opened = SealedRow::open(&g.space, &g.entry_id, b, &keys).map_err(err)?;
                ensure!(serde_json::to_string(&opened.manifest).map_err(err)? == g.manifest, "opens to another manifest");
                ensure!(opened.writer == *cert.body(), "written by {:?}", opened.writer);
                ensure!(opened.key_id == g.key_id, "key id {}", opened.key_id);
                Ok(())
            }),
            stored("row.json manifest", f.manifest.as_bytes(), move |b| {
                let m: Manifest = serde_json::from_slice(b).map_err(err)?;
                ensure!(serde_json::to_string(&m).map_err(err)? == serde_json::to_string(&manifest()).map_err(err)?, "decodes to another manifest");
                Ok(())
            }),
        ]
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("row");
        ensure!(serde_json::to_string(&manifest()).map_err(err)? == f.manifest, "the manifest's JSON");
        let row = f.row.as_bytes();
        ensure!(spec_row(&f, &nonce_of(row)?) == f.row, "row is not the spec's bytes");
        ensure!(SealedRow::open("drive:bob", &f.entry_id, row, &keys(&f)).is_err(), "opens for another space");
        // hush's encoder: a fresh nonce.
        let cert = DeviceCertificate::decode_and_verify(&unhex(&f.certificate)).map_err(err)?;
        let key = SpaceKey::from_slice(&unhex(&f.space_key)).ok_or("space key")?;
        let out = SealedRow::seal(&f.space, &manifest(), f.key_id, &key, &secret(&f.device_secret), &cert).map_err(err)?;
        ensure!(out == spec_row(&f, &nonce_of(&out)?).as_bytes(), "hush's row doesn't follow the format");
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// Signed space states (files.rs SignedState), and the listing they vouch for.

mod state {
    use super::*;
    use hush_core::files::{Seen, SignedState, StateBody, open_space, sha256_hex};

    const STATE_SIG: &[u8] = b"hush-space-state-v1\0";

    #[derive(Clone, Serialize, Deserialize)]
    struct File {
        format: String,
        device_secret: String,
        certificate: String,
        states: Vec<Case>,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct Case {
        space: String,
        version: u64,
        previous: String,
        entries: BTreeMap<String, String>,
        written_at: i64,
        /// The body's JSON, as signed.
        body: String,
        signed: String,
    }

    impl Case {
        fn body(&self) -> StateBody {
            StateBody {
                space: self.space.clone(),
                version: self.version,
                previous: self.previous.clone(),
                entries: self.entries.clone(),
                written_at: self.written_at,
            }
        }
    }

    /// `{"body":B,"certificate":B,"signature":B}`, signature = Ed25519(device,
    /// STATE_SIG ‖ body JSON).
    fn spec_state(device: &SecretKey, certificate: &[u8], body: &[u8]) -> String {
        let sig = device.sign(&[STATE_SIG, body].concat());
        format!("{{\"body\":\"{}\",\"certificate\":\"{}\",\"signature\":\"{}\"}}", b64(body), b64(certificate), b64(&sig))
    }

    pub fn regenerate() {
        let c = certificate::make();
        let (device, cert) = c.device();
        let r: row::File = load("row");
        let entries: BTreeMap<String, String> = [(r.entry_id.clone(), sha256_hex(r.row.as_bytes()))].into();
        let mut states: Vec<Case> = Vec::new();
        for version in 1..=2u64 {
            let previous = states.last().map(|s| sha256_hex(s.signed.as_bytes())).unwrap_or_default();
            let body = StateBody {
                space: r.space.clone(),
                version,
                previous,
                entries: entries.clone(),
                written_at: 1_700_000_000_000 + i64::try_from(version).expect("small"),
            };
            let signed = SignedState::sign(&body, &device, &cert).expect("sign");
            states.push(Case {
                space: body.space.clone(),
                version,
                previous: body.previous.clone(),
                entries: body.entries.clone(),
                written_at: body.written_at,
                body: serde_json::to_string(&body).expect("json"),
                signed: String::from_utf8(signed).expect("utf-8"),
            });
        }
        save(
            "state",
            &File {
                format: "JSON {body, certificate, signature} (base64url, no padding); body = StateBody JSON {space, version, previous, entries, written_at}; signature = Ed25519(device key, \"hush-space-state-v1\\0\" ‖ body)".into(),
                device_secret: c.device_secret_hex(),
                certificate: hex::encode(cert.encode()),
                states,
            },
        );
    }

    fn values() -> Vec<Stored> {
        let f: File = load("state");
        let writer = DeviceCertificate::decode_and_verify(&unhex(&f.certificate)).expect("certificate").body().clone();
        f.states
            .iter()
            .map(|case| {
                let (body, writer) = (case.body(), writer.clone());
                stored(format!("state.json version {}", case.version), case.signed.as_bytes(), move |b| {
                    let (got, by) = SignedState::open(b).map_err(err)?;
                    ensure!(got == body, "opens to {got:?}");
                    ensure!(by == writer, "signed by {by:?}");
                    Ok(())
                })
            })
            .collect()
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("state");
        let device = secret(&f.device_secret);
        let cert = DeviceCertificate::decode_and_verify(&unhex(&f.certificate)).map_err(err)?;
        for case in &f.states {
            ensure!(serde_json::to_string(&case.body()).map_err(err)? == case.body, "version {}: the body's JSON", case.version);
            // Ed25519 is deterministic: hush's encoder gives exactly the stored bytes.
            let signed = SignedState::sign(&case.body(), &device, &cert).map_err(err)?;
            ensure!(signed == case.signed.as_bytes(), "version {}: sign() gives other bytes", case.version);
            ensure!(spec_state(&device, &cert.encode(), case.body.as_bytes()) == case.signed, "version {}: not the spec's bytes", case.version);
        }
        // The listing the second state vouches for: the row of row.json, after version 1.
        let [v1, v2] = f.states.as_slice() else { return Err("two states".into()) };
        ensure!(v2.previous == sha256_hex(v1.signed.as_bytes()), "version 2 names version 1");
        let r: row::File = load("row");
        let rows = vec![(r.entry_id.clone(), r.row.clone().into_bytes())];
        let seen = Seen { version: 1, hash: sha256_hex(v1.signed.as_bytes()) };
        let mut trust = |w: &CertificateBody| if w.username == "alice" { Ok(()) } else { Err("not alice".to_owned()) };
        let tree = open_space(&r.space, 2, Some(v2.signed.as_bytes()), &rows, Some(&seen), &[], &row::keys(&r), &mut trust).map_err(err)?;
        ensure!(tree.version == 2 && tree.hash == sha256_hex(v2.signed.as_bytes()), "tree version {} hash {}", tree.version, tree.hash);
        ensure!(tree.path_of(&r.entry_id) == row::manifest().name, "the listing has {:?}", tree.path_of(&r.entry_id));
        ensure!(tree.author_shown(&r.entry_id) == "alice", "author {}", tree.author_shown(&r.entry_id));
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// Key-transparency values (kt.rs).

mod kt {
    use super::*;
    use hush_core::kt;

    #[derive(Clone, Serialize, Deserialize)]
    struct File {
        format: String,
        directory: Vec<DirectoryCase>,
        backup: Vec<BackupCase>,
        deleted: String,
        names: Vec<NameCase>,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct DirectoryCase {
        identity_key: String,
        /// (device id, device key), in the order given to hush.
        devices: Vec<(String, String)>,
        devices_hash: String,
        value: String,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct BackupCase {
        version: u64,
        sealed: String,
        value: String,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct NameCase {
        prefix: String,
        username: String,
        name: String,
    }

    fn devices(case: &DirectoryCase) -> Vec<(String, PublicKey)> {
        case.devices.iter().map(|(id, k)| (id.clone(), public(k))).collect()
    }

    fn prefix(name: &str) -> &'static str {
        match name {
            "PHRASE_BACKUP" => kt::PHRASE_BACKUP,
            "GUARDIAN_BACKUP" => kt::GUARDIAN_BACKUP,
            other => panic!("no prefix {other}"),
        }
    }

    /// SHA-256("hush-kt-devices-v1" ‖ for each device by id: u32 BE len ‖ id ‖ key).
    fn spec_devices_hash(devices: &[(String, PublicKey)]) -> [u8; 32] {
        let mut sorted = devices.to_vec();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut h = Sha256::new();
        h.update(b"hush-kt-devices-v1");
        for (id, key) in sorted {
            h.update(u32::try_from(id.len()).expect("short").to_be_bytes());
            h.update(id.as_bytes());
            h.update(key.0);
        }
        h.finalize().into()
    }

    pub fn regenerate() {
        let key = |label: &str| SecretKey::from_bytes(&seed(label)).expect("key").public();
        let ik = key("hush vector identity key");
        let cases: Vec<(PublicKey, Vec<(String, PublicKey)>)> = vec![
            (ik, vec![]),
            (ik, vec![("00112233aabbccdd".into(), key("hush vector device key"))]),
            (
                key("hush vector identity key 2"),
                vec![("ffeeddccbbaa9988".into(), key("hush vector device 3")), ("0123456789abcdef".into(), key("hush vector device 4"))],
            ),
        ];
        let directory = cases
            .into_iter()
            .map(|(ik, devices)| DirectoryCase {
                identity_key: hex::encode(ik.0),
                devices: devices.iter().map(|(id, k)| (id.clone(), hex::encode(k.0))).collect(),
                devices_hash: hex::encode(kt::devices_hash(&devices)),
                value: hex::encode(kt::directory_value(&ik, &devices)),
            })
            .collect();
        let backup = [(1u64, b"sealed backup one".to_vec()), (u64::MAX - 1, b"".to_vec())]
            .into_iter()
            .map(|(version, sealed)| BackupCase { version, sealed: hex::encode(&sealed), value: hex::encode(kt::backup_value(version, &sealed)) })
            .collect();
        let names = [("PHRASE_BACKUP", "alice"), ("GUARDIAN_BACKUP", "bob.b")]
            .into_iter()
            .map(|(p, u)| NameCase { prefix: p.into(), username: u.into(), name: kt::backup_name(prefix(p), u) })
            .collect();
        save(
            "kt",
            &File {
                format: "directory value = \"hush-kt-v1\" ‖ identity key ‖ devices_hash, devices_hash = SHA-256(\"hush-kt-devices-v1\" ‖ for each device sorted by id: u32 BE len ‖ id ‖ key); backup value = \"hush-backup-v1\" ‖ version u64 BE ‖ SHA-256(sealed backup); deleted = \"hush-kt-deleted-v1\"; backup names PREFIX:USER".into(),
                directory,
                backup,
                deleted: hex::encode(kt::DELETED_VALUE),
                names,
            },
        );
    }

    fn values() -> Vec<Stored> {
        let f: File = load("kt");
        let mut out = Vec::new();
        for (i, case) in f.directory.iter().enumerate() {
            let (ik, dh) = (public(&case.identity_key), unhex32(&case.devices_hash));
            out.push(stored(format!("kt.json directory[{i}] value"), unhex(&case.value), move |b| {
                let (got_ik, got_dh) = kt::parse_value(b).map_err(err)?;
                ensure!(got_ik == ik && got_dh == dh, "parses to other keys");
                Ok(())
            }));
            out.push(equals(format!("kt.json directory[{i}] devices_hash"), unhex(&case.devices_hash), kt::devices_hash(&devices(case))));
        }
        for (i, case) in f.backup.iter().enumerate() {
            let (version, hash): (u64, [u8; 32]) = (case.version, Sha256::digest(unhex(&case.sealed)).into());
            out.push(stored(format!("kt.json backup[{i}] value"), unhex(&case.value), move |b| {
                ensure!(kt::parse_backup_value(b).map_err(err)? == (version, hash), "parses to another version or hash");
                Ok(())
            }));
        }
        out.push(equals("kt.json deleted", unhex(&f.deleted), kt::DELETED_VALUE));
        for case in &f.names {
            out.push(equals(format!("kt.json name {}", case.name), case.name.as_bytes(), kt::backup_name(prefix(&case.prefix), &case.username)));
        }
        out
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("kt");
        for (i, case) in f.directory.iter().enumerate() {
            let (ik, mut devices) = (public(&case.identity_key), devices(case));
            let mut spec = b"hush-kt-v1".to_vec();
            spec.extend_from_slice(&ik.0);
            spec.extend_from_slice(&spec_devices_hash(&devices));
            ensure!(spec == unhex(&case.value), "directory[{i}]: not the spec's bytes");
            ensure!(kt::directory_value(&ik, &devices) == unhex(&case.value), "directory[{i}]: directory_value");
            ensure!(spec.len() == kt::VALUE_LEN, "VALUE_LEN");
            devices.reverse();
            ensure!(kt::directory_value(&ik, &devices) == unhex(&case.value), "directory[{i}]: depends on the devices' order");
        }
        for (i, case) in f.backup.iter().enumerate() {
            let sealed = unhex(&case.sealed);
            let spec = [b"hush-backup-v1".as_slice(), &case.version.to_be_bytes(), &Sha256::digest(&sealed)].concat();
            ensure!(spec == unhex(&case.value), "backup[{i}]: not the spec's bytes");
            ensure!(kt::backup_value(case.version, &sealed) == spec, "backup[{i}]: backup_value");
        }
        ensure!(kt::label("alice").0 == b"alice", "the akd label of a user is the username's bytes");
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// What a device signs for each request (auth.rs).

mod canonical_request {
    use super::*;
    use hush_core::auth::canonical_request;

    #[derive(Clone, Serialize, Deserialize)]
    struct File {
        format: String,
        cases: Vec<Case>,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct Case {
        method: String,
        path_and_query: String,
        timestamp_ms: i64,
        nonce: String,
        body: String,
        canonical: String,
    }

    pub fn regenerate() {
        let inputs: [(&str, &str, i64, &str, &[u8]); 4] = [
            ("GET", "/v1/keys/alice", 1_700_000_000_000, "00112233445566778899aabbccddeeff", b""),
            ("post", "/v1/messages?after=42&limit=10", 1_700_000_000_123, "0f1e2d3c4b5a69788796a5b4c3d2e1f0", b"{\"group\":\"ab\"}"),
            ("Put", "/v1/spaces/drive%3Aalice/rows/0123", 0, "ffffffffffffffff", b"\x00\x01\x02\xff"),
            ("DELETE", "/", -1, "abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd", b"x"),
        ];
        let cases = inputs
            .into_iter()
            .map(|(m, p, t, n, b)| Case {
                method: m.into(),
                path_and_query: p.into(),
                timestamp_ms: t,
                nonce: n.into(),
                body: hex::encode(b),
                canonical: String::from_utf8(canonical_request(m, p, t, n, b)).expect("utf-8"),
            })
            .collect();
        save(
            "canonical_request",
            &File { format: "\"hush-request-v1\\n\" METHOD (uppercased) \"\\n\" path?query \"\\n\" timestamp_ms \"\\n\" nonce \"\\n\" hex(SHA-256(body))".into(), cases },
        );
    }

    fn values() -> Vec<Stored> {
        let f: File = load("canonical_request");
        f.cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let computed = canonical_request(&c.method, &c.path_and_query, c.timestamp_ms, &c.nonce, &unhex(&c.body));
                equals(format!("canonical_request.json cases[{i}]"), c.canonical.as_bytes(), computed)
            })
            .collect()
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("canonical_request");
        for c in &f.cases {
            let spec = format!(
                "hush-request-v1\n{}\n{}\n{}\n{}\n{}",
                c.method.to_ascii_uppercase(),
                c.path_and_query,
                c.timestamp_ms,
                c.nonce,
                hex::encode(Sha256::digest(unhex(&c.body)))
            );
            ensure!(spec == c.canonical, "{}: not the spec's text", c.path_and_query);
        }
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// Safety numbers (safety.rs): what two people compare.

mod safety_number {
    use super::*;
    use hush_core::safety;

    #[derive(Clone, Serialize, Deserialize)]
    struct File {
        format: String,
        cases: Vec<Case>,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct Case {
        user_a: String,
        key_a: String,
        user_b: String,
        key_b: String,
        number: String,
        grouped: String,
        qr: String,
    }

    pub fn regenerate() {
        let key = |label: &str| SecretKey::from_bytes(&seed(label)).expect("key").public();
        let inputs = [
            ("alice", key("hush vector identity key"), "bob", key("hush vector identity key 2")),
            ("zoe", key("hush vector identity key 3"), "adam", key("hush vector identity key 4")),
            ("carol", key("hush vector identity key"), "carol.2", key("hush vector identity key")),
        ];
        let cases = inputs
            .into_iter()
            .map(|(a, ka, b, kb)| {
                let number = safety::safety_number(a, &ka, b, &kb);
                Case {
                    user_a: a.into(),
                    key_a: hex::encode(ka.0),
                    user_b: b.into(),
                    key_b: hex::encode(kb.0),
                    grouped: safety::grouped(&number),
                    qr: safety::qr_payload(a, &ka, b, &kb),
                    number,
                }
            })
            .collect();
        save(
            "safety_number",
            &File {
                format: "each half: 30 digits from SHA-512 iterated 5200 times over (version 0x0001 ‖ \"hush-safety-number-v1\" ‖ key ‖ u32 BE len ‖ username, then hash ‖ key); halves ordered by username; grouped in fives; QR: hush-verify-v1:USER:HEXKEY:USER:HEXKEY sorted by username".into(),
                cases,
            },
        );
    }

    fn values() -> Vec<Stored> {
        let f: File = load("safety_number");
        let mut out = Vec::new();
        for (i, c) in f.cases.iter().enumerate() {
            let (ka, kb) = (public(&c.key_a), public(&c.key_b));
            let number = safety::safety_number(&c.user_a, &ka, &c.user_b, &kb);
            assert_eq!(number, safety::safety_number(&c.user_b, &kb, &c.user_a, &ka), "the same from both sides");
            out.push(equals(format!("safety_number.json cases[{i}] number"), c.number.as_bytes(), number.clone()));
            out.push(equals(format!("safety_number.json cases[{i}] grouped"), c.grouped.as_bytes(), safety::grouped(&number)));
            let qr = safety::qr_payload(&c.user_a, &ka, &c.user_b, &kb);
            assert_eq!(qr, safety::qr_payload(&c.user_b, &kb, &c.user_a, &ka), "the same from both sides");
            out.push(equals(format!("safety_number.json cases[{i}] qr"), c.qr.as_bytes(), qr));
        }
        out
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("safety_number");
        for c in &f.cases {
            ensure!(c.number.len() == 60 && c.number.bytes().all(|b| b.is_ascii_digit()), "60 digits");
        }
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// Codes people type or compare: hpke::code_of and link codes (hpke.rs, link.rs).

mod codes {
    use super::*;
    use hush_core::hpke;
    use hush_core::link::LinkCode;

    #[derive(Clone, Serialize, Deserialize)]
    struct File {
        format: String,
        codes: Vec<CodeCase>,
        link_codes: Vec<LinkCase>,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct CodeCase {
        label: String,
        data: String,
        code: String,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct LinkCase {
        typed: String,
        /// What hush shows for it, or `None` if it is refused.
        display: Option<String>,
    }

    pub fn regenerate() {
        let codes = [("hush-guardian-code-v1", b"".to_vec()), ("label", seed("hush vector hpke public").to_vec()), ("hush-link-v2", b"alice".to_vec())]
            .into_iter()
            .map(|(l, d)| CodeCase { label: l.into(), code: hpke::code_of(l.as_bytes(), &d), data: hex::encode(d) })
            .collect();
        let link_codes = ["K7QD-482913", "k7qd 482913", " k 7 q d - 4 8 2 9 1 3 ", "ZZ99-000000", "ABCI-123456", "ABCD-12345", "ABCD-1234567", "ABCD-12345X"]
            .into_iter()
            .map(|t| LinkCase { typed: t.into(), display: LinkCode::parse(t).ok().map(|c| c.display()) })
            .collect();
        save(
            "codes",
            &File {
                format: "code_of(label, data): the first 60 bits of SHA-256(label ‖ data), 5 bits a character over ABCDEFGHJKMNPQRSTVWXYZ0123456789, XXXX-XXXX-XXXX; link codes SSSS-NNNNNN (selector over that alphabet, 6 digits), case, spaces and dashes ignored".into(),
                codes,
                link_codes,
            },
        );
    }

    fn values() -> Vec<Stored> {
        let f: File = load("codes");
        let mut out: Vec<Stored> = f
            .codes
            .iter()
            .map(|c| equals(format!("codes.json code of {}", c.label), c.code.as_bytes(), hpke::code_of(c.label.as_bytes(), &unhex(&c.data))))
            .collect();
        for c in &f.link_codes {
            if let Some(display) = &c.display {
                let parsed = LinkCode::parse(&c.typed).map(|l| (l.display(), l.selector.clone()));
                out.push(stored(format!("codes.json link code {:?}", c.typed), display.as_bytes(), move |b| {
                    let (shown, selector) = parsed.clone().map_err(err)?;
                    ensure!(shown.as_bytes() == b && selector.as_bytes() == &b[..4.min(b.len())], "shown as {shown}");
                    Ok(())
                }));
            }
        }
        out
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("codes");
        for c in &f.codes {
            ensure!(hpke::codes_match(&c.code.to_lowercase().replace('-', " "), &c.code), "{} doesn't match itself typed", c.code);
        }
        for c in f.link_codes.iter().filter(|c| c.display.is_none()) {
            ensure!(LinkCode::parse(&c.typed).is_err(), "{:?} is accepted", c.typed);
        }
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// Sealing to a one-time HPKE key (hpke.rs).

mod hpke {
    use super::*;
    use hush_core::hpke::{Receiver, seal_with_context};
    use openmls_traits::crypto::OpenMlsCrypto as _;
    use openmls_traits::types::{HpkeAeadType, HpkeCiphertext, HpkeConfig, HpkeKdfType, HpkeKemType};

    const INFO: &[u8] = b"hush-seal-v1";

    #[derive(Clone, Serialize, Deserialize)]
    struct File {
        format: String,
        note: String,
        ikm: String,
        public: String,
        private: String,
        context: String,
        plaintext: String,
        sealed: String,
    }

    fn config() -> HpkeConfig {
        HpkeConfig(HpkeKemType::DhKem25519, HpkeKdfType::HkdfSha256, HpkeAeadType::ChaCha20Poly1305)
    }

    fn crypto() -> openmls_libcrux_crypto::CryptoProvider {
        openmls_libcrux_crypto::CryptoProvider::new().expect("provider")
    }

    /// `u16 BE len ‖ kem output ‖ ciphertext`, RFC 9180 base mode, info "hush-seal-v1".
    fn spec_open(private: &[u8], context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, String> {
        ensure!(sealed.len() >= 2, "short");
        let kl = usize::from(u16::from_be_bytes([sealed[0], sealed[1]]));
        ensure!(sealed.len() >= 2 + kl, "short");
        let ct = HpkeCiphertext { kem_output: sealed[2..2 + kl].to_vec().into(), ciphertext: sealed[2 + kl..].to_vec().into() };
        crypto().hpke_open(config(), &ct, private, INFO, context).map_err(|e| format!("{e:?}"))
    }

    fn spec_seal(public: &[u8], context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let ct = crypto().hpke_seal(config(), public, INFO, context, plaintext).expect("seal");
        let kem = ct.kem_output.as_slice();
        [&u16::try_from(kem.len()).expect("short").to_be_bytes(), kem, ct.ciphertext.as_slice()].concat()
    }

    pub fn regenerate() {
        let ikm = seed("hush vector hpke ikm");
        let kp = crypto().derive_hpke_keypair(config(), &ikm).expect("keys");
        let context = hush_core::guardians::request_context("alice", &kp.public);
        let plaintext = b"a guardian's share, sealed to the recovering device";
        let sealed = seal_with_context(&kp.public, &context, plaintext).expect("seal");
        save(
            "hpke",
            &File {
                format: "u16 BE len ‖ kem output ‖ ciphertext; RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, info \"hush-seal-v1\", aad = context".into(),
                note: "sealed by hush; hush::hpke::Receiver can only be generated at random, so the stored bytes are opened here with the provider and the private key derived from ikm the way Receiver::generate derives its key".into(),
                ikm: hex::encode(ikm),
                public: hex::encode(&kp.public),
                private: hex::encode(&*kp.private),
                context: hex::encode(&context),
                plaintext: hex::encode(plaintext),
                sealed: hex::encode(sealed),
            },
        );
    }

    fn values() -> Vec<Stored> {
        let f: File = load("hpke");
        let (private, context, plaintext) = (unhex(&f.private), unhex(&f.context), unhex(&f.plaintext));
        vec![stored("hpke.json sealed", unhex(&f.sealed), move |b| {
            ensure!(spec_open(&private, &context, b)? == plaintext, "opens to other bytes");
            Ok(())
        })]
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("hpke");
        let (public, private, context, plaintext) = (unhex(&f.public), unhex(&f.private), unhex(&f.context), unhex(&f.plaintext));
        let kp = crypto().derive_hpke_keypair(config(), &unhex(&f.ikm)).map_err(|e| format!("{e:?}"))?;
        ensure!(kp.public == public && *kp.private == *private, "the key pair derived from ikm");
        // hush's encoder follows the format...
        let out = seal_with_context(&public, &context, &plaintext).map_err(err)?;
        ensure!(out.len() == 2 + 32 + plaintext.len() + 16 && out[..2] == [0, 32], "hush's output is not u16 len ‖ 32-byte kem output ‖ ciphertext");
        ensure!(spec_open(&private, &context, &out)? == plaintext, "hush's output doesn't open by the format");
        ensure!(spec_open(&private, b"another context", &out).is_err(), "the context is not bound");
        // ...and hush's decoder reads it.
        let r = Receiver::generate().map_err(err)?;
        let sealed = spec_seal(&r.public, &context, &plaintext);
        ensure!(r.open_with_context(&context, &sealed).map_err(err)?.as_slice() == plaintext, "hush doesn't open the format");
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// The recovery phrase, its keys and the sealed account backup (recovery.rs).

mod recovery {
    use super::*;
    use hush_core::recovery::{RecoveryPhrase, keys_from_secret, open_backup, seal_backup};

    const SALT: &[u8] = b"hush-recovery-v1";

    #[derive(Clone, Serialize, Deserialize)]
    struct File {
        format: String,
        phrase: String,
        entropy: String,
        backup_key: String,
        auth_public: String,
        backups: Vec<Backup>,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct Backup {
        username: String,
        version: u64,
        plaintext: String,
        sealed: String,
    }

    /// `nonce[24] ‖ XChaCha20-Poly1305(backup key, nonce, plaintext, aad = "hush-backup-v1" ‖
    /// u32 BE len ‖ username ‖ version u64 BE)`.
    fn spec_seal(key: &[u8; 32], username: &str, version: u64, nonce: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut aad = b"hush-backup-v1".to_vec();
        aad.extend_from_slice(&u32::try_from(username.len()).expect("short").to_be_bytes());
        aad.extend_from_slice(username.as_bytes());
        aad.extend_from_slice(&version.to_be_bytes());
        [nonce, &xchacha_seal(key, nonce, &aad, plaintext)].concat()
    }

    pub fn regenerate() {
        let entropy = seed("hush vector recovery entropy");
        let phrase = bip39::Mnemonic::from_entropy(&entropy).expect("entropy").to_string();
        let keys = RecoveryPhrase::parse(&phrase).expect("phrase").keys();
        let backups = [("alice", 1u64, b"the account, sealed".to_vec()), ("bob.b", 7, Vec::new())]
            .into_iter()
            .map(|(u, v, p)| Backup {
                username: u.into(),
                version: v,
                sealed: hex::encode(seal_backup(&keys.backup_key, u, v, &p)),
                plaintext: hex::encode(p),
            })
            .collect();
        save(
            "recovery",
            &File {
                format: "phrase: BIP-39 English, 24 words, of 256-bit entropy; keys = HKDF-SHA256(salt \"hush-recovery-v1\", entropy): \"backup key\" (32 bytes), \"recovery auth key\" (Ed25519 secret); backup = nonce[24] ‖ XChaCha20-Poly1305(backup key, nonce, plaintext, aad = \"hush-backup-v1\" ‖ u32 BE len ‖ username ‖ version u64 BE)".into(),
                phrase,
                entropy: hex::encode(entropy),
                backup_key: hex::encode(*keys.backup_key),
                auth_public: hex::encode(keys.auth_key.public().0),
                backups,
            },
        );
    }

    fn values() -> Vec<Stored> {
        let f: File = load("recovery");
        let (backup_key, auth_public) = (unhex32(&f.backup_key), public(&f.auth_public));
        let mut out = vec![stored("recovery.json phrase", f.phrase.as_bytes(), move |b| {
            let phrase = RecoveryPhrase::parse(std::str::from_utf8(b).map_err(err)?).map_err(err)?;
            let keys = phrase.keys();
            ensure!(*keys.backup_key == backup_key && keys.auth_key.public() == auth_public, "stands for other keys");
            ensure!(phrase.to_text().as_bytes() == b, "reads back as {}", phrase.to_text().as_str());
            Ok(())
        })];
        for (i, backup) in f.backups.iter().enumerate() {
            let (username, version, plaintext) = (backup.username.clone(), backup.version, unhex(&backup.plaintext));
            out.push(stored(format!("recovery.json backups[{i}]"), unhex(&backup.sealed), move |b| {
                ensure!(open_backup(&backup_key, &username, version, b).map_err(err)?.as_slice() == plaintext, "opens to other bytes");
                Ok(())
            }));
        }
        out
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("recovery");
        let key = unhex32(&f.backup_key);
        ensure!(bip39::Mnemonic::from_entropy(&unhex(&f.entropy)).map_err(err)?.to_string() == f.phrase, "the phrase is BIP-39 of the entropy");
        let derived = keys_from_secret(&unhex(&f.entropy), SALT);
        ensure!(*derived.backup_key == key && hex::encode(derived.auth_key.public().0) == f.auth_public, "keys_from_secret(entropy)");
        let typed = format!("  {}  ", f.phrase.to_uppercase().replace(' ', "   "));
        ensure!(*RecoveryPhrase::parse(&typed).map_err(err)?.keys().backup_key == key, "typed with capitals and spaces");
        for b in &f.backups {
            let (sealed, plaintext) = (unhex(&b.sealed), unhex(&b.plaintext));
            ensure!(spec_seal(&key, &b.username, b.version, &sealed[..24], &plaintext) == sealed, "{}: not the spec's bytes", b.username);
            ensure!(open_backup(&key, &b.username, b.version + 1, &sealed).is_err(), "{}: opens at another version", b.username);
            // hush's encoder: a fresh nonce.
            let out = seal_backup(&key, &b.username, b.version, &plaintext);
            ensure!(out.len() >= 24 && spec_seal(&key, &b.username, b.version, &out[..24], &plaintext) == out, "hush's backup doesn't follow the format");
        }
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// Guardian shares and requests (guardians.rs).

mod guardians {
    use super::*;
    use hush_core::guardians::{self, Share};

    #[derive(Clone, Serialize, Deserialize)]
    struct File {
        format: String,
        owner: String,
        threshold: u8,
        set_id: String,
        secret: String,
        backup_key: String,
        auth_public: String,
        shares: Vec<ShareCase>,
        requests: Vec<Request>,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct ShareCase {
        share: String,
        json: String,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct Request {
        owner: String,
        hpke_public: String,
        context: String,
        code: String,
    }

    impl File {
        fn share(&self, bytes: Vec<u8>) -> Share {
            Share { owner: self.owner.clone(), set_id: self.set_id.clone(), threshold: self.threshold, share: bytes }
        }
    }

    pub fn regenerate() {
        let (secret, shares) = guardians::split("alice", 2, 3).expect("split");
        let keys = guardians::keys(&secret);
        let requests = [("alice", seed("hush vector hpke public").to_vec()), ("bob.b", Vec::new())]
            .into_iter()
            .map(|(o, p)| Request {
                owner: o.into(),
                context: hex::encode(guardians::request_context(o, &p)),
                code: guardians::request_code(o, &p),
                hpke_public: hex::encode(p),
            })
            .collect();
        save(
            "guardians",
            &File {
                format: "share: Shamir over GF(256) per byte of the 32-byte secret (vsss-rs Gf256), identifier byte ‖ 32 value bytes; Share JSON {owner, set_id, threshold, share: [bytes]}; keys = HKDF-SHA256(salt \"hush-guardians-v1\", secret) as for the phrase; request context = \"hush-guardian-share-v1\" ‖ u32 BE len ‖ owner ‖ hpke public; code = code_of(\"hush-guardian-code-v1\", context)".into(),
                owner: shares[0].owner.clone(),
                threshold: shares[0].threshold,
                set_id: shares[0].set_id.clone(),
                secret: hex::encode(*secret),
                backup_key: hex::encode(*keys.backup_key),
                auth_public: hex::encode(keys.auth_key.public().0),
                shares: shares.iter().map(|s| ShareCase { share: hex::encode(&s.share), json: serde_json::to_string(s).expect("json") }).collect(),
                requests,
            },
        );
    }

    fn values() -> Vec<Stored> {
        let f: File = load("guardians");
        let secret = unhex32(&f.secret);
        let mut out = Vec::new();
        for (i, case) in f.shares.iter().enumerate() {
            let expected = f.share(unhex(&case.share));
            out.push(stored(format!("guardians.json shares[{i}] json"), case.json.as_bytes(), move |b| {
                let s: Share = serde_json::from_slice(b).map_err(err)?;
                ensure!(s == expected, "decodes to another share");
                Ok(())
            }));
            // The share's bytes with the next one rebuild the secret.
            let (g, next) = (f.clone(), unhex(&f.shares[(i + 1) % f.shares.len()].share));
            out.push(stored(format!("guardians.json shares[{i}] share"), unhex(&case.share), move |b| {
                let got = guardians::combine(&[g.share(b.to_vec()), g.share(next.clone())]).map_err(err)?;
                ensure!(*got == secret, "rebuilds another secret");
                Ok(())
            }));
        }
        for r in &f.requests {
            let p = unhex(&r.hpke_public);
            out.push(equals(format!("guardians.json context for {}", r.owner), unhex(&r.context), guardians::request_context(&r.owner, &p)));
            out.push(equals(format!("guardians.json code for {}", r.owner), r.code.as_bytes(), guardians::request_code(&r.owner, &p)));
        }
        out
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("guardians");
        let secret = unhex32(&f.secret);
        let shares: Vec<Share> = f.shares.iter().map(|c| f.share(unhex(&c.share))).collect();
        for (s, c) in shares.iter().zip(&f.shares) {
            ensure!(serde_json::to_string(s).map_err(err)? == c.json, "a share's JSON");
        }
        for pair in [[0, 1], [0, 2], [1, 2], [2, 0]] {
            let picked: Vec<Share> = pair.iter().map(|&i| shares[i].clone()).collect();
            ensure!(*guardians::combine(&picked).map_err(err)? == secret, "shares {pair:?} rebuild another secret");
        }
        ensure!(guardians::combine(&shares[..1]).is_err(), "one share of a 2-of-3 rebuilds");
        let keys = guardians::keys(&secret);
        ensure!(hex::encode(*keys.backup_key) == f.backup_key && hex::encode(keys.auth_key.public().0) == f.auth_public, "the keys the secret stands for");
        for r in &f.requests {
            let p = unhex(&r.hpke_public);
            let spec = [b"hush-guardian-share-v1".as_slice(), &u32::try_from(r.owner.len()).map_err(err)?.to_be_bytes(), r.owner.as_bytes(), &p].concat();
            ensure!(spec == unhex(&r.context), "{}: the context is not the spec's bytes", r.owner);
            ensure!(hush_core::hpke::code_of(b"hush-guardian-code-v1", &spec) == r.code, "{}: the code", r.owner);
        }
        // hush's split: identifiers 1..=n, then one value byte per secret byte.
        let (fresh, split) = guardians::split("carol", 3, 5).map_err(err)?;
        for (i, s) in split.iter().enumerate() {
            ensure!(s.share.len() == 33 && usize::from(s.share[0]) == i + 1, "share {i} is {} bytes, identifier {}", s.share.len(), s.share[0]);
            ensure!(s.threshold == 3 && s.set_id.len() == 16 && s.set_id.bytes().all(|b| b.is_ascii_hexdigit()), "share {i}'s fields");
        }
        ensure!(*guardians::combine(&split[2..]).map_err(err)? == *fresh, "a fresh split doesn't rebuild");
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// The plaintext inside MLS application messages (message.rs).

mod payload {
    use super::*;
    use hush_core::files::SpaceKey;
    use hush_core::guardians::Share;
    use hush_core::message::{Envelope, HistoryItem, Payload};

    #[derive(Clone, Serialize, Deserialize)]
    struct File {
        format: String,
        cases: Vec<Case>,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct Case {
        name: String,
        encoded: String,
    }

    #[derive(Clone, Debug, PartialEq)]
    enum Value {
        Payload(Payload),
        Envelope(Envelope),
    }

    /// The cases: a name, the value, and whether hush writes it (false: an older form hush
    /// still reads, checked by decoding only).
    fn cases() -> Vec<(&'static str, Value, bool)> {
        let id = || "00112233445566778899aabbccddeeff".to_owned();
        let text = Payload::Text { id: id(), sent_at: 1_700_000_000_123, text: "hello, wörld \"quoted\"\n👋".into() };
        let space_key = |l: &str| SpaceKey::from_slice(&seed(l)).expect("32 bytes");
        let share = Share { owner: "alice".into(), set_id: "0011223344556677".into(), threshold: 2, share: [1u8].into_iter().chain(seed("hush vector share")).collect() };
        vec![
            ("text", Value::Payload(text.clone()), true),
            ("meta", Value::Payload(Payload::Meta { id: id(), name: "club".into(), direct: false, history: true }), true),
            ("meta_direct", Value::Payload(Payload::Meta { id: id(), name: String::new(), direct: true, history: false }), true),
            (
                "meta_before_history",
                Value::Payload(Payload::Meta { id: id(), name: "old".into(), direct: false, history: false }),
                false,
            ),
            ("guardian_share", Value::Payload(Payload::GuardianShare { id: id(), share }), true),
            (
                "space_keys",
                Value::Payload(Payload::SpaceKeys { id: id(), keys: vec![(0, space_key("hush vector space key")), (7, space_key("hush vector space key 7"))] }),
                true,
            ),
            (
                "history",
                Value::Payload(Payload::History {
                    id: id(),
                    messages: vec![
                        HistoryItem { sender: "bob".into(), sent_at: 1, text: "first".into() },
                        HistoryItem { sender: "alice".into(), sent_at: 2, text: String::new() },
                    ],
                }),
                true,
            ),
            ("replaces", Value::Payload(Payload::Replaces { id: id(), replaces: "ab".repeat(16) }), true),
            ("envelope", Value::Envelope(Envelope { seq: 3, prev: hex::encode(seed("hush vector previous envelope")), payload: text.clone() }), true),
            ("envelope_first", Value::Envelope(Envelope { seq: 1, prev: String::new(), payload: text.clone() }), true),
            ("bare_payload_as_envelope", Value::Envelope(Envelope { seq: 0, prev: String::new(), payload: text }), false),
        ]
    }

    fn encode(v: &Value) -> Vec<u8> {
        match v {
            Value::Payload(p) => p.encode(),
            Value::Envelope(e) => e.encode(),
        }
    }

    fn decode(like: &Value, b: &[u8]) -> Result<Value, String> {
        Ok(match like {
            Value::Payload(_) => Value::Payload(Payload::decode(b).map_err(err)?),
            Value::Envelope(_) => Value::Envelope(Envelope::decode(b).map_err(err)?),
        })
    }

    pub fn regenerate() {
        let cases = cases()
            .into_iter()
            .map(|(name, v, _)| {
                let encoded = match (name, &v) {
                    // What hush wrote before Meta had `history`.
                    ("meta_before_history", Value::Payload(Payload::Meta { id, name: n, direct, .. })) => {
                        format!(r#"{{"type":"meta","id":"{id}","name":"{n}","direct":{direct}}}"#)
                    }
                    ("bare_payload_as_envelope", Value::Envelope(e)) => String::from_utf8(e.payload.encode()).expect("utf-8"),
                    _ => String::from_utf8(encode(&v)).expect("utf-8"),
                };
                Case { name: name.into(), encoded }
            })
            .collect();
        save(
            "payload",
            &File {
                format: "JSON; Payload tagged by \"type\" (snake_case variant names), unknown fields refused; Envelope {seq, prev, payload}; a bare Payload decodes as an Envelope with seq 0; SpaceKey as base64url, Share's bytes as a number array".into(),
                cases,
            },
        );
    }

    fn values() -> Vec<Stored> {
        let f: File = load("payload");
        let cases = cases();
        assert_eq!(f.cases.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), cases.iter().map(|c| c.0).collect::<Vec<_>>(), "the file's cases");
        f.cases
            .iter()
            .zip(cases)
            .map(|(c, (name, value, _))| {
                stored(format!("payload.json {name}"), c.encoded.as_bytes(), move |b| {
                    let got = decode(&value, b)?;
                    ensure!(got == value, "decodes to {got:?}");
                    Ok(())
                })
            })
            .collect()
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("payload");
        for ((name, value, written), c) in cases().into_iter().zip(&f.cases) {
            if written {
                ensure!(encode(&value) == c.encoded.as_bytes(), "{name}: hush encodes {}", String::from_utf8_lossy(&encode(&value)));
            }
        }
        Ok(())
    }

    vector_tests!();
}

// ---------------------------------------------------------------------------------------
// The MLS state a client seals into its store (mls.rs HushProvider::export_state).

mod provider_state {
    use super::*;
    use hush_core::mls::HushProvider;

    #[derive(Clone, Serialize, Deserialize)]
    struct File {
        format: String,
        /// (key, value), not in key order.
        entries: Vec<(String, String)>,
        encoded: String,
    }

    /// `u64 BE count ‖ for each entry in key order: u64 BE key len ‖ u64 BE value len ‖ key ‖ value`.
    fn spec_encode(entries: &[(String, String)]) -> Vec<u8> {
        let mut sorted: Vec<(Vec<u8>, Vec<u8>)> = entries.iter().map(|(k, v)| (unhex(k), unhex(v))).collect();
        sorted.sort();
        let mut out = (sorted.len() as u64).to_be_bytes().to_vec();
        for (k, v) in sorted {
            out.extend_from_slice(&(k.len() as u64).to_be_bytes());
            out.extend_from_slice(&(v.len() as u64).to_be_bytes());
            out.extend_from_slice(&k);
            out.extend_from_slice(&v);
        }
        out
    }

    pub fn regenerate() {
        let entries: Vec<(String, String)> =
            [("ff01", "0a0b0c"), ("00", ""), ("", "01"), ("6b6579", "76616c7565")].iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let encoded = hex::encode(spec_encode(&entries));
        let provider = HushProvider::import_state(&unhex(&encoded)).expect("import");
        assert_eq!(hex::encode(provider.export_state().expect("export").as_slice()), encoded);
        save(
            "provider_state",
            &File {
                format: "u64 BE count ‖ for each entry in key order: u64 BE key len ‖ u64 BE value len ‖ key ‖ value (OpenMLS storage keys and values, opaque here)".into(),
                entries,
                encoded,
            },
        );
    }

    fn values() -> Vec<Stored> {
        let f: File = load("provider_state");
        let expected = spec_encode(&f.entries);
        vec![stored("provider_state.json encoded", unhex(&f.encoded), move |b| {
            let provider = HushProvider::import_state(b).map_err(err)?;
            ensure!(provider.export_state().map_err(err)?.as_slice() == expected, "holds other entries");
            Ok(())
        })]
    }

    fn other_checks() -> Result<(), String> {
        let f: File = load("provider_state");
        ensure!(spec_encode(&f.entries) == unhex(&f.encoded), "encoded is not the spec's bytes");
        ensure!(HushProvider::new().map_err(err)?.export_state().map_err(err)?.as_slice() == 0u64.to_be_bytes(), "an empty state");
        Ok(())
    }

    vector_tests!();
}

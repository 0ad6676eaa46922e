//! Every decoder and decrypt entry point meets random and truncated bytes: it must answer
//! with an error, never panic. (A deterministic stand-in for fuzzing, run on every CI.)

use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
use hush_core::mls::{self, Conversation, Device, HushProvider, PendingJoin};
use rand::{Rng, SeedableRng};

fn inputs(valid: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6875_7368);
    let mut out: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0xff; 3], vec![0; 4096]];
    for _ in 0..300 {
        let n = rng.gen_range(0..600);
        out.push((0..n).map(|_| rng.r#gen()).collect());
    }
    for v in valid {
        for cut in [1, 2, v.len() / 2, v.len().saturating_sub(1)] {
            out.push(v[..cut.min(v.len())].to_vec());
        }
        for _ in 0..40 {
            let mut m = v.clone();
            if m.is_empty() {
                continue;
            }
            let i = rng.gen_range(0..m.len());
            m[i] ^= 1 << rng.gen_range(0..8);
            out.push(m);
        }
    }
    out
}

#[test]
fn decoders_refuse_garbage_without_panicking() {
    let identity = SecretKey::generate();
    let key = SecretKey::generate();
    let cert = DeviceCertificate::issue(&identity, "alice", &new_device_id(), key.public());
    let provider = HushProvider::new().expect("provider");
    let device = Device { key: &key, certificate: &cert };
    let (kps, last) = mls::key_packages(&provider, &device, 1).expect("kps");
    let mut conv = Conversation::create(&provider, &device).expect("group");
    let app = conv.encrypt(&provider, &device, b"hello", b"").expect("encrypt");

    let valid = vec![cert.encode(), kps[0].clone(), last, app];
    for bytes in inputs(&valid) {
        let _ = DeviceCertificate::decode_and_verify(&bytes);
        let _ = mls::inspect(&bytes);
        let _ = mls::inspect_welcome(&bytes);
        let _ = mls::check_key_package(&bytes);
        let _ = PendingJoin::new(&provider, &bytes);
        let _ = conv.process(&provider, &bytes);
        let _ = hush_core::message::Payload::decode(&bytes);
        let _ = HushProvider::import_state(&bytes);
        let _ = hush_core::kt::parse_value(&bytes);
        let root = hush_core::kt::Root { epoch: 1, hash: [7; 32] };
        let _ = hush_core::kt::verify_lookup(&[1; 32], &root, "alice", &bytes);
        let _ = hush_core::kt::verify_history(&[1; 32], &root, "alice", &bytes);
        let _ = hush_core::recovery::open_backup(&[3; 32], "alice", 1, &bytes);
        let _ = hush_core::sealed::SealKey::derive_for(b"pw", &bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = hush_core::link::LinkCode::parse(&text);
        let _ = hush_core::recovery::RecoveryPhrase::parse(&text);
        let _ = hush_core::username::validate(&text);
    }
    // The group survived all of it.
    let again = conv.encrypt(&provider, &device, b"still fine", b"").expect("encrypt");
    assert_eq!(mls::inspect(&again).expect("framing").group_id, conv.id());
}


// ---------------------------------------------------------------------------------------
// The file formats, sealing, linking, guardians, the sealed store and backups: each decoder
// meets random bytes, cuts of a valid value of its own format and single-byte changes of
// it. Authenticated formats must refuse every one; the others must answer without
// panicking.

mod formats {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

    use chacha20poly1305::aead::{Aead, KeyInit};
    use hush_core::files::{
        self, EntryKind, FileKey, FileVersion, Manifest, SealedRow, Seen, SignedState, SpaceKey, StateBody, open_space,
        sha256_hex,
    };
    use hush_core::identity::{CertificateBody, DeviceCertificate, SecretKey, new_device_id};
    use rand::{Rng, SeedableRng};
    use sha2::{Digest, Sha256};

    /// Random bytes, cuts of `valid` (every one, or a spread of 300 for long values) and
    /// single-byte changes of it (at every position, or 400 random ones for long values).
    fn attacks(valid: &[u8], seed: u64) -> Vec<Vec<u8>> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut out: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0xff; 61], b"{}".to_vec(), b"null".to_vec(), b"[]".to_vec()];
        for _ in 0..100 {
            let n = rng.gen_range(0..2 * valid.len().max(64));
            out.push((0..n).map(|_| rng.r#gen()).collect());
        }
        let step = (valid.len() / 300).max(1);
        for cut in (0..valid.len()).step_by(step).chain([valid.len().saturating_sub(1)]) {
            out.push(valid[..cut].to_vec());
        }
        let positions: Vec<usize> =
            if valid.len() <= 400 { (0..valid.len()).collect() } else { (0..400).map(|_| rng.gen_range(0..valid.len())).collect() };
        for i in positions {
            let mut m = valid.to_vec();
            m[i] ^= rng.gen_range(1..=255u8);
            out.push(m);
        }
        out
    }

    /// [`attacks`], plus JSON of the right shape with wrong contents: each top-level field
    /// replaced by an empty string, a short string, 0, a huge number or null, or left out.
    fn json_attacks(valid: &[u8], seed: u64) -> Vec<Vec<u8>> {
        let mut out = attacks(valid, seed);
        let serde_json::Value::Object(map) = serde_json::from_slice(valid).expect("json") else { return out };
        for (k, field) in &map {
            let replacements =
                [serde_json::json!(""), serde_json::json!("AAAA"), serde_json::json!(0), serde_json::json!(u64::MAX), serde_json::Value::Null];
            for replacement in replacements.into_iter().filter(|r| r != field) {
                let mut m = map.clone();
                m.insert(k.clone(), replacement);
                out.push(serde_json::to_vec(&m).expect("json"));
            }
            let mut without = map.clone();
            without.remove(k);
            out.push(serde_json::to_vec(&without).expect("json"));
        }
        out
    }

    struct Writer {
        key: SecretKey,
        cert: DeviceCertificate,
    }

    fn writer() -> Writer {
        let identity = SecretKey::generate();
        let key = SecretKey::generate();
        let cert = DeviceCertificate::issue(&identity, "alice", &new_device_id(), key.public());
        Writer { key, cert }
    }

    fn manifest(entry_id: &str) -> Manifest {
        Manifest {
            entry_id: entry_id.into(),
            kind: EntryKind::File,
            parent: None,
            name: "notes.txt".into(),
            created_at: 1,
            versions: vec![FileVersion {
                version: 1,
                blob_id: "00".repeat(16),
                blob_size: 10,
                blob_sha256: "00".repeat(32),
                size: 5,
                mime: "text/plain".into(),
                modified_at: 2,
                author: "alice".into(),
                key: FileKey::generate(),
            }],
            shared_from: None,
        }
    }

    /// A row sealed and signed like `SealedRow::seal` (docs/FILES.md), around any plaintext:
    /// one that verifies and decrypts, so that what is inside meets the manifest checks.
    fn row_around(w: &Writer, space: &str, entry_id: &str, key: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
        let mut aad = b"hush-space-row-aad-v1\0".to_vec();
        for part in [space.as_bytes(), entry_id.as_bytes()] {
            aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
            aad.extend_from_slice(part);
        }
        aad.extend_from_slice(&1u64.to_be_bytes());
        let nonce = [7u8; 24];
        let ct = chacha20poly1305::XChaCha20Poly1305::new(key.into())
            .encrypt(chacha20poly1305::XNonce::from_slice(&nonce), chacha20poly1305::aead::Payload { msg: plaintext, aad: &aad })
            .unwrap();
        let sig = w.key.sign(&[b"hush-space-row-v1\0".as_slice(), &aad, &nonce, &Sha256::digest(&ct)].concat());
        let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b);
        serde_json::to_vec(&serde_json::json!({
            "key_id": 1, "nonce": b64(&nonce), "ciphertext": b64(&ct), "certificate": b64(&w.cert.encode()), "signature": b64(&sig),
        }))
        .unwrap()
    }

    #[test]
    fn rows_refuse_garbage() {
        let w = writer();
        let raw_key: [u8; 32] = rand::random();
        let space_key = SpaceKey::from_slice(&raw_key).unwrap();
        let keys = |id: u64| (id == 1).then(|| space_key.clone());
        let entry = files::new_entry_id();
        let m = manifest(&entry);
        let row = SealedRow::seal("drive:alice", &m, 1, &space_key, &w.key, &w.cert).unwrap();
        assert!(SealedRow::open("drive:alice", &entry, &row, &keys).is_ok());
        let crafted = row_around(&w, "drive:alice", &entry, &raw_key, &serde_json::to_vec(&m).unwrap());
        assert!(SealedRow::open("drive:alice", &entry, &crafted, &keys).is_ok(), "row_around seals like hush");

        for bad in json_attacks(&row, 1) {
            assert!(SealedRow::open("drive:alice", &entry, &bad, &keys).is_err(), "{:?}", String::from_utf8_lossy(&bad));
        }
        // Valid seal and signature around a plaintext that is not a manifest, or is the
        // manifest of another entry.
        let plain = serde_json::to_vec(&m).unwrap();
        let other = serde_json::to_vec(&manifest(&files::new_entry_id())).unwrap();
        for bad in json_attacks(&plain, 2).into_iter().chain([other]) {
            let crafted = row_around(&w, "drive:alice", &entry, &raw_key, &bad);
            if let Ok(opened) = SealedRow::open("drive:alice", &entry, &crafted, &keys) {
                assert_eq!(opened.manifest.entry_id, entry, "a manifest for another entry was accepted");
            }
        }
    }

    #[test]
    fn states_and_listings_refuse_garbage() {
        let w = writer();
        let space_key = SpaceKey::generate();
        let keys = |id: u64| (id == 1).then(|| space_key.clone());
        let entry = files::new_entry_id();
        let row = SealedRow::seal("drive:alice", &manifest(&entry), 1, &space_key, &w.key, &w.cert).unwrap();
        let rows = vec![(entry.clone(), row.clone())];
        let body =
            StateBody { space: "drive:alice".into(), version: 1, previous: String::new(), entries: [(entry.clone(), sha256_hex(&row))].into(), written_at: 3 };
        let state = SignedState::sign(&body, &w.key, &w.cert).unwrap();
        let mut trust = |_: &CertificateBody| Ok(());
        assert!(open_space("drive:alice", 1, Some(&state), &rows, None, &[], &keys, &mut trust).is_ok());

        // Versions 2 and 3 after the version 1 this device saw; the history between is garbage.
        let seen = Seen { version: 1, hash: sha256_hex(&state) };
        let v2 = SignedState::sign(&StateBody { version: 2, previous: seen.hash.clone(), ..body.clone() }, &w.key, &w.cert).unwrap();
        let v3 = SignedState::sign(&StateBody { version: 3, previous: sha256_hex(&v2), ..body.clone() }, &w.key, &w.cert).unwrap();
        let (v3_body, _) = SignedState::open(&v3).unwrap();
        assert!(files::check_chain("drive:alice", &seen, &v3_body, &sha256_hex(&v3), std::slice::from_ref(&v2), &mut trust).is_ok());

        for bad in json_attacks(&state, 3) {
            assert!(SignedState::open(&bad).is_err(), "{:?}", String::from_utf8_lossy(&bad));
            assert!(open_space("drive:alice", 1, Some(&bad), &rows, None, &[], &keys, &mut trust).is_err());
        }
        for bad in json_attacks(&v2, 4) {
            assert!(files::check_chain("drive:alice", &seen, &v3_body, &sha256_hex(&v3), &[bad], &mut trust).is_err());
        }
        // The rows the state names: any other bytes are refused.
        for bad in json_attacks(&row, 5) {
            let served = vec![(entry.clone(), bad)];
            assert!(open_space("drive:alice", 1, Some(&state), &served, None, &[], &keys, &mut trust).is_err());
        }
    }

    #[test]
    fn manifests_and_state_bodies_decode_without_panicking() {
        for bytes in json_attacks(&serde_json::to_vec(&manifest(&files::new_entry_id())).unwrap(), 6) {
            let _ = serde_json::from_slice::<Manifest>(&bytes);
        }
        let body = StateBody {
            space: "drive:alice".into(),
            version: 1,
            previous: String::new(),
            entries: [("00".repeat(16), "11".repeat(32))].into(),
            written_at: 3,
        };
        for bytes in json_attacks(&serde_json::to_vec(&body).unwrap(), 7) {
            let _ = serde_json::from_slice::<StateBody>(&bytes);
        }
    }

    #[test]
    fn content_refuses_garbage() {
        let key = FileKey::generate();
        let mut blob = Vec::new();
        files::encrypt(&key, &b"file content, a few bytes of it"[..], &mut blob).unwrap();
        assert!(files::decrypt(&key, blob.as_slice(), std::io::sink()).is_ok());
        let recipient = FileKey::generate().recipient();
        for bad in attacks(&blob, 8) {
            assert!(files::decrypt(&key, bad.as_slice(), std::io::sink()).is_err(), "{} bytes", bad.len());
            assert!(files::reencrypt_for_recipient(&key, &recipient, bad.as_slice(), std::io::sink()).is_err());
        }
        for text in attacks(recipient.as_bytes(), 9) {
            let _ = files::encrypt_for_recipient(&String::from_utf8_lossy(&text), &b"x"[..], std::io::sink());
        }
        let key_json = br#""AGE-SECRET-KEY-1DENLKGUCMNSU9USA0KGDKUACX3ERKP0YT74W8WWDCC0S00CC3P7SMZF45P""#;
        assert!(serde_json::from_slice::<FileKey>(key_json).is_ok());
        for text in attacks(key_json, 10) {
            let _ = serde_json::from_slice::<FileKey>(&text);
        }
    }

    #[test]
    fn hpke_refuses_garbage() {
        let r = hush_core::hpke::Receiver::generate().unwrap();
        let sealed = hush_core::hpke::seal_with_context(&r.public, b"context", b"a share").unwrap();
        assert!(r.open_with_context(b"context", &sealed).is_ok());
        for bad in attacks(&sealed, 11) {
            assert!(r.open_with_context(b"context", &bad).is_err(), "{bad:?}");
        }
        for bad in attacks(&r.public, 12) {
            let _ = hush_core::hpke::seal_with_context(&bad, b"context", b"a share");
        }
    }

    #[test]
    fn link_refuses_garbage() {
        use hush_core::link::{LinkCode, Pake};
        let code = LinkCode::parse("K7QD-482913").unwrap();
        let (new, old) = (Pake::start("alice", &code), Pake::start("alice", &code));
        let (new_msg, old_msg) = (new.message.clone(), old.message.clone());
        let (s_new, s_old) = (new.finish(&old_msg).unwrap(), old.finish(&new_msg).unwrap());
        let device = SecretKey::generate().public();
        let sealed = s_old.seal(&device, b"account bundle");
        let (confirmation, mac) = (s_old.confirmation(), s_new.device_mac(&device));
        assert!(s_new.open(&device, &sealed).is_ok());
        assert!(s_new.check_confirmation(&confirmation).is_ok() && s_old.check_device_mac(&device, &mac).is_ok());
        for bad in attacks(&sealed, 13) {
            assert!(s_new.open(&device, &bad).is_err(), "{bad:?}");
        }
        for bad in attacks(&confirmation, 14) {
            assert!(s_new.check_confirmation(&bad).is_err());
        }
        for bad in attacks(&mac, 15) {
            assert!(s_old.check_device_mac(&device, &bad).is_err());
        }
        // A changed PAKE message: refused, or a key the other side doesn't share.
        for bad in attacks(&old_msg, 16) {
            if let Ok(session) = Pake::start("alice", &code).finish(&bad) {
                assert!(session.check_confirmation(&confirmation).is_err());
            }
        }
        for text in attacks(b"K7QD-482913", 17) {
            let _ = LinkCode::parse(&String::from_utf8_lossy(&text));
        }
    }

    #[test]
    fn guardian_shares_refuse_garbage() {
        use hush_core::guardians::{Share, combine, split};
        let (secret, shares) = split("alice", 2, 3).unwrap();
        for bad in attacks(&shares[1].share, 18) {
            // Shamir's shares carry no MAC: a changed one rebuilds another secret, or none.
            let mut forged = shares[1].clone();
            forged.share = bad;
            if let Ok(got) = combine(&[shares[0].clone(), forged]) {
                assert_ne!(*got, *secret);
            }
        }
        for bytes in json_attacks(&serde_json::to_vec(&shares[0]).unwrap(), 19) {
            let Ok(parsed) = serde_json::from_slice::<Share>(&bytes) else { continue };
            let _ = combine(&[parsed.clone(), shares[2].clone()]);
            let _ = combine(&[parsed.clone(), parsed.clone()]);
            let _ = combine(&[parsed]);
        }
        // Made-up shares of odd lengths, counts and thresholds.
        let mut rng = rand::rngs::StdRng::seed_from_u64(20);
        for _ in 0..300 {
            let threshold = rng.gen_range(0..4);
            let made: Vec<Share> = (0..rng.gen_range(0..5))
                .map(|_| Share {
                    owner: "alice".into(),
                    set_id: "00".into(),
                    threshold,
                    share: (0..rng.gen_range(0..40)).map(|_| rng.r#gen()).collect(),
                })
                .collect();
            let _ = combine(&made);
        }
        assert!(combine(&[]).is_err());
    }

    #[test]
    fn the_sealed_store_refuses_garbage() {
        use hush_core::sealed::SealKey;
        let key = SealKey::derive_new(b"passphrase").unwrap();
        let sealed = key.seal(b"the local store");
        assert!(key.open(&sealed).is_ok());
        for bad in attacks(&sealed, 21) {
            assert!(key.open(&bad).is_err(), "{bad:?}");
            // Deriving costs an Argon2 run (64 MiB) when the header parses: only the ones
            // refused before that here.
            if bad.len() < 61 + 16 || !bad.starts_with(b"HUSHSEAL1") {
                assert!(SealKey::derive_for(b"passphrase", &bad).is_err());
            }
        }
        // Costs out of range in an otherwise valid header: refused before deriving.
        for (at, value) in [(9, 4 * 1024 * 1024 + 1), (9, u32::MAX), (9, 0), (13, 65), (13, 0), (17, 17), (17, 0)] {
            let mut bad = sealed.clone();
            bad[at..at + 4].copy_from_slice(&u32::to_be_bytes(value));
            assert!(SealKey::derive_for(b"passphrase", &bad).is_err(), "cost field at {at} = {value}");
        }
    }

    #[test]
    fn recovery_backups_refuse_garbage() {
        use hush_core::recovery::{RecoveryPhrase, open_backup, seal_backup};
        let phrase = RecoveryPhrase::generate();
        let keys = phrase.keys();
        let sealed = seal_backup(&keys.backup_key, "alice", 4, b"account backup");
        assert!(open_backup(&keys.backup_key, "alice", 4, &sealed).is_ok());
        for bad in attacks(&sealed, 22) {
            assert!(open_backup(&keys.backup_key, "alice", 4, &bad).is_err(), "{bad:?}");
        }
        for text in attacks(phrase.to_text().as_bytes(), 23) {
            // Another phrase whose checksum happens to hold stands for other keys.
            if let Ok(p) = RecoveryPhrase::parse(&String::from_utf8_lossy(&text))
                && p.to_text() != phrase.to_text()
            {
                assert_ne!(*p.keys().backup_key, *keys.backup_key);
            }
        }
    }

    #[test]
    fn messages_directory_values_and_mls_state_decode_without_panicking() {
        use hush_core::message::{Envelope, Payload};
        let payload = Payload::text("hello");
        let envelope = Envelope { seq: 2, prev: "00".repeat(32), payload: payload.clone() };
        for bytes in json_attacks(&envelope.encode(), 24).into_iter().chain(json_attacks(&payload.encode(), 25)) {
            let _ = Envelope::decode(&bytes);
            let _ = Payload::decode(&bytes);
        }
        let key = SecretKey::generate().public();
        for bytes in attacks(&hush_core::kt::directory_value(&key, &[("00112233aabbccdd".into(), key)]), 26) {
            let _ = hush_core::kt::parse_value(&bytes);
        }
        for bytes in attacks(&hush_core::kt::backup_value(3, b"sealed"), 27) {
            let _ = hush_core::kt::parse_backup_value(&bytes);
        }
        // An MLS state with two entries: u64 count, then u64 key len, u64 value len, key, value.
        let mut state = 2u64.to_be_bytes().to_vec();
        for (k, v) in [(b"k1".as_slice(), b"v1".as_slice()), (b"k2", b"")] {
            state.extend_from_slice(&(k.len() as u64).to_be_bytes());
            state.extend_from_slice(&(v.len() as u64).to_be_bytes());
            state.extend_from_slice(k);
            state.extend_from_slice(v);
        }
        assert!(hush_core::mls::HushProvider::import_state(&state).is_ok());
        for bytes in attacks(&state, 28) {
            let _ = hush_core::mls::HushProvider::import_state(&bytes);
        }
    }
}

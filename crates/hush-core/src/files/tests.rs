//! Unit tests of the file format.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn roundtrip(len: usize) {
    let key = FileKey::generate();
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let mut blob = Vec::new();
    encrypt(&key, data.as_slice(), &mut blob).unwrap();
    let mut out = Vec::new();
    decrypt(&key, blob.as_slice(), &mut out).unwrap();
    assert_eq!(out, data);
}

#[test]
fn content_round_trips_at_chunk_edges() {
    for len in [0, 1, 65535, 65536, 65537, 3 * 65536 + 5] {
        roundtrip(len);
    }
}

#[test]
fn content_refuses_truncation_extension_swaps_and_other_keys() {
    let key = FileKey::generate();
    let data = vec![9u8; 3 * 65536 + 100];
    let mut blob = Vec::new();
    encrypt(&key, data.as_slice(), &mut blob).unwrap();
    let header = blob.len() - (data.len() + 4 * 16);
    let chunk = 65536 + 16;
    let fails = |b: &[u8]| decrypt(&key, b, std::io::sink()).is_err();
    // Cut at a chunk boundary.
    assert!(fails(&blob[..header + 2 * chunk]));
    // A chunk appended.
    let mut longer = blob.clone();
    longer.extend_from_slice(&blob[header..header + chunk]);
    assert!(fails(&longer));
    // Two chunks swapped.
    let mut swapped = blob.clone();
    let (a, b) = (blob[header..header + chunk].to_vec(), blob[header + chunk..header + 2 * chunk].to_vec());
    swapped[header..header + chunk].copy_from_slice(&b);
    swapped[header + chunk..header + 2 * chunk].copy_from_slice(&a);
    assert!(fails(&swapped));
    // Another key.
    assert!(decrypt(&FileKey::generate(), blob.as_slice(), std::io::sink()).is_err());
    // One bit anywhere.
    for at in [0, 20, header - 1, header + 3, blob.len() - 1] {
        let mut flipped = blob.clone();
        flipped[at] ^= 1;
        assert!(fails(&flipped), "bit flip at {at} accepted");
    }
}

#[test]
fn rows_and_states_verify_and_refuse_changes() {
    let identity = SecretKey::generate();
    let device = SecretKey::generate();
    let cert = DeviceCertificate::issue(&identity, "alice", &crate::identity::new_device_id(), device.public());
    let key = SpaceKey::generate();
    let m = Manifest {
        entry_id: new_entry_id(),
        kind: EntryKind::Folder,
        parent: None,
        name: "Photos".into(),
        created_at: 1,
        versions: vec![],
        shared_from: None,
    };
    let row = SealedRow::seal("drive:alice", &m, 1, &key, &device, &cert).unwrap();
    let keys = |id: u64| (id == 1).then(|| key.clone());
    assert_eq!(SealedRow::open("drive:alice", &m.entry_id, &row, &keys).unwrap().manifest.name, "Photos");
    assert!(SealedRow::open("drive:bob", &m.entry_id, &row, &keys).is_err());
    assert!(SealedRow::open("drive:alice", &new_entry_id(), &row, &keys).is_err());
    assert!(matches!(SealedRow::open("drive:alice", &m.entry_id, &row, &|_| None), Err(FileError::MissingKey(_))));

    let body = StateBody {
        space: "drive:alice".into(),
        version: 1,
        previous: String::new(),
        entries: [(m.entry_id.clone(), sha256_hex(&row))].into(),
        written_at: 1,
    };
    let state = SignedState::sign(&body, &device, &cert).unwrap();
    let rows = vec![(m.entry_id.clone(), row.clone())];
    let mut ok = |_: &CertificateBody| Ok(());
    let tree = open_space("drive:alice", 1, Some(&state), &rows, None, &[], &keys, &mut ok).unwrap();
    assert_eq!(tree.lookup("Photos").unwrap().unwrap().entry_id, m.entry_id);
    // Hidden, planted, rolled back, untrusted.
    assert!(open_space("drive:alice", 1, Some(&state), &[], None, &[], &keys, &mut ok).is_err());
    let mut planted = rows.clone();
    planted.push((new_entry_id(), row.clone()));
    assert!(open_space("drive:alice", 1, Some(&state), &planted, None, &[], &keys, &mut ok).is_err());
    let seen = Seen { version: 2, hash: "x".into() };
    assert!(open_space("drive:alice", 1, Some(&state), &rows, Some(&seen), &[], &keys, &mut ok).is_err());
    let mut no = |_: &CertificateBody| Err("not trusted".to_owned());
    assert!(open_space("drive:alice", 1, Some(&state), &rows, None, &[], &keys, &mut no).is_err());
}

#[test]
fn a_fork_two_versions_ahead_is_refused() {
    let identity = SecretKey::generate();
    let device = SecretKey::generate();
    let cert = DeviceCertificate::issue(&identity, "alice", &crate::identity::new_device_id(), device.public());
    let chain = |from: &[u8], tag: i64, n: u64| -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = vec![];
        let mut previous = if from.is_empty() { String::new() } else { sha256_hex(from) };
        let start = if from.is_empty() { 1 } else { SignedState::open(from).unwrap().0.version + 1 };
        for v in start..start + n {
            let body = StateBody { space: "drive:alice".into(), version: v, previous, entries: BTreeMap::new(), written_at: tag };
            let st = SignedState::sign(&body, &device, &cert).unwrap();
            previous = sha256_hex(&st);
            out.push(st);
        }
        out
    };
    let base = chain(&[], 0, 1).remove(0);
    let seen = Seen { version: 1, hash: sha256_hex(&base) };
    let honest = chain(&base, 1, 3);
    let other = chain(&chain(&[], 9, 1)[0], 2, 3); // a different version 1, then 2..4
    let keys = |_: u64| None;
    let mut ok = |_: &CertificateBody| Ok(());
    let last = honest.last().unwrap();
    open_space("drive:alice", 4, Some(last), &[], Some(&seen), &honest, &keys, &mut ok).expect("the chain continues");
    let fork = other.last().unwrap();
    let err = open_space("drive:alice", 4, Some(fork), &[], Some(&seen), &other, &keys, &mut ok).unwrap_err();
    assert!(matches!(err, FileError::Forked { seen: 1 }), "{err}");
    // The honest history with a forked head, or a history that stops short.
    assert!(matches!(open_space("drive:alice", 4, Some(fork), &[], Some(&seen), &honest, &keys, &mut ok), Err(FileError::Forked { .. })));
    assert!(matches!(open_space("drive:alice", 4, Some(last), &[], Some(&seen), &honest[..1], &keys, &mut ok), Err(FileError::Forked { .. })));
}

//! Writes the fixtures (`fixtures/*.bin`) and seed corpora (`corpus/<target>/`) of the fuzz
//! targets: a few real, valid inputs each. Run from `fuzz/`:
//! `cargo run --release --features seeds --example seeds`. Most outputs hold fresh randomness,
//! so running it again changes them (the targets and seeds still agree).

use std::collections::BTreeMap;
use std::path::Path;

use akd::ecvrf::HardCodedAkdVRF;
use akd::storage::StorageManager;
use akd::storage::memory::AsyncInMemoryDatabase;
use akd::{AkdLabel, AkdValue, AzksParallelismConfig, Directory, HistoryParams};
use hush_core::files::{self, EntryKind, FileKey, FileVersion, Manifest, SealedRow, SignedState, StateBody, sha256_hex};
use hush_core::identity::{DeviceCertificate, SecretKey};
use hush_core::message::{Envelope, HistoryItem, Payload};
use hush_core::mls::{self, Conversation, Device, HushProvider, PendingJoin};
use hush_core::{guardians, hpke, kt, link, recovery, sealed};
use hush_fuzz::pack;
use hush_proto::B64;

fn write(dir: &str, name: &str, bytes: &[u8]) {
    let d = Path::new(dir);
    std::fs::create_dir_all(d).unwrap();
    std::fs::write(d.join(name), bytes).unwrap();
}

fn seed(target: &str, name: &str, bytes: &[u8]) {
    write(&format!("corpus/{target}"), name, bytes);
}

fn with(selector: u8, bytes: &[u8]) -> Vec<u8> {
    [&[selector][..], bytes].concat()
}

struct User {
    identity: SecretKey,
    device: SecretKey,
    cert: DeviceCertificate,
}

fn user(name: &str, device_id: &str) -> User {
    let identity = SecretKey::generate();
    let device = SecretKey::generate();
    let cert = DeviceCertificate::issue(&identity, name, device_id, device.public());
    User { identity, device, cert }
}

impl User {
    fn dev(&self) -> Device<'_> {
        Device { key: &self.device, certificate: &self.cert }
    }
}

fn mls_seeds() -> Vec<u8> {
    let alice = user("alice", "a1a1a1a1a1a1a1a1");
    let bob = user("bob", "b0b0b0b0b0b0b0b0");
    let carol = user("carol", "c0c0c0c0c0c0c0c0");
    let _ = &alice.identity;
    let pa = HushProvider::new().unwrap();
    let pb = HushProvider::new().unwrap();
    let pc = HushProvider::new().unwrap();
    let (bob_kps, bob_last) = mls::key_packages(&pb, &bob.dev(), 1).unwrap();
    let (carol_kps, _) = mls::key_packages(&pc, &carol.dev(), 1).unwrap();
    let bob_pre = pb.export_state().unwrap();

    let mut conv = Conversation::create(&pa, &alice.dev()).unwrap();
    let bob_kp = mls::check_key_package(&bob_kps[0]).unwrap().key_package;
    let out = conv.change_members(&pa, &alice.dev(), vec![bob_kp], &[]).unwrap();
    conv.confirm_commit(&pa).unwrap();
    let welcome = out.welcome.unwrap();
    let joined = PendingJoin::new(&pb, &welcome).unwrap().trust(|_, _| Ok::<(), ()>(())).unwrap();
    let bob_conv = joined.accept(&pb).unwrap();
    let bob_post = pb.export_state().unwrap();
    let gid = bob_conv.id();

    let text = Envelope { seq: 1, prev: String::new(), payload: Payload::text("hello bob") }.encode();
    let app = conv.encrypt(&pa, &alice.dev(), &text, b"hush-kt1").unwrap();
    let app2 = conv.encrypt(&pa, &alice.dev(), b"{\"type\":\"text\"}", b"").unwrap();
    let carol_kp = mls::check_key_package(&carol_kps[0]).unwrap().key_package;
    let add = conv.change_members(&pa, &alice.dev(), vec![carol_kp], &[]).unwrap();
    conv.abandon_commit(&pa).unwrap();
    let remove = conv.change_members(&pa, &alice.dev(), vec![], &["b0b0b0b0b0b0b0b0".into()]).unwrap();
    conv.abandon_commit(&pa).unwrap();
    let leave = conv.leave(&pa, &alice.dev()).unwrap();

    seed("mls_process", "application", &pack(&[&app]));
    seed("mls_process", "two-applications", &pack(&[&app, &app2]));
    seed("mls_process", "commit-add", &pack(&[&add.commit]));
    seed("mls_process", "commit-remove-me", &pack(&[&remove.commit]));
    seed("mls_process", "leave-proposal", &pack(&[&leave]));
    seed("mls_process", "application-then-commit", &pack(&[&app, &add.commit, &app2]));
    seed("mls_welcome", "welcome", &welcome);
    seed("mls_wire", "key-package", &bob_kps[0]);
    seed("mls_wire", "last-resort-key-package", &bob_last);
    seed("mls_wire", "welcome", &welcome);
    seed("mls_wire", "application", &app);
    seed("mls_wire", "commit", &add.commit);
    seed("mls_wire", "proposal", &leave);
    seed("certificate", "alice", &alice.cert.encode());
    seed("certificate", "public-key", &alice.identity.public().0);
    write("fixtures", "mls.bin", &pack(&[&bob_pre, &bob_post, &gid]));
    bob_post.to_vec()
}

fn manifest(id: &str, kind: EntryKind, parent: Option<&str>, name: &str) -> Manifest {
    let versions = match kind {
        EntryKind::Folder => vec![],
        EntryKind::File => vec![FileVersion {
            version: 1,
            blob_id: "0123456789abcdef0123456789abcdef".into(),
            blob_size: 200,
            blob_sha256: sha256_hex(b"blob"),
            size: 5,
            mime: files::mime_for(name).into(),
            modified_at: 1_700_000_000_000,
            author: "alice".into(),
            key: FileKey::generate(),
        }],
    };
    Manifest {
        entry_id: id.into(),
        kind,
        parent: parent.map(Into::into),
        name: name.into(),
        created_at: 1_700_000_000_000,
        versions,
        shared_from: None,
    }
}

fn files_seeds() {
    let device = hush_fuzz::alice_device();
    let cert = DeviceCertificate::issue(&hush_fuzz::alice_identity(), "alice", "00112233aabbccdd", device.public());
    let key = hush_fuzz::space_key();
    let space = hush_fuzz::SPACE;
    let folder = manifest("ffffffffffffffffffffffffffffffff", EntryKind::Folder, None, "docs");
    let file = manifest(hush_fuzz::ENTRY, EntryKind::File, Some("ffffffffffffffffffffffffffffffff"), "report.pdf");
    let row = SealedRow::seal(space, &file, 1, &key, &device, &cert).unwrap();
    let state = |version: u64, previous: String, entries: BTreeMap<String, String>| {
        let body = StateBody { space: space.into(), version, previous, entries, written_at: 1_700_000_000_000 };
        SignedState::sign(&body, &device, &cert).unwrap()
    };
    let v1 = state(1, String::new(), BTreeMap::from([(hush_fuzz::ENTRY.to_owned(), sha256_hex(&row))]));
    let v2 = state(2, sha256_hex(&v1), BTreeMap::new());
    seed("files_envelopes", "row", &with(0, &row));
    seed("files_envelopes", "state", &with(1, &v1));
    seed("files_envelopes", "listing", &with(2, &pack(&[&v1, hush_fuzz::ENTRY.as_bytes(), &row])));
    seed("files_envelopes", "chain", &with(3, &pack(&[&v1, &v2])));
    seed("files_tree", "folder-and-file", &serde_json::to_vec(&vec![folder.clone(), file.clone()]).unwrap());
    seed("files_tree", "file", &serde_json::to_vec(&vec![manifest(hush_fuzz::ENTRY, EntryKind::File, None, "a.txt")]).unwrap());

    let fk = FileKey::generate();
    write("fixtures", "content.bin", &pack(&[&serde_json::to_vec(&fk).unwrap()]));
    for (name, len) in [("small", 5usize), ("empty", 0), ("two-chunks", 64 * 1024 + 10)] {
        let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        files::encrypt(&fk, plain.as_slice(), &mut out).unwrap();
        seed("files_content", name, &out);
    }
}

async fn kt_seeds() {
    type Config = kt::Config;
    let storage = StorageManager::new_no_cache(AsyncInMemoryDatabase::new());
    let dir = Directory::<Config, _, _>::new(storage, HardCodedAkdVRF {}, AzksParallelismConfig::default()).await.unwrap();
    let ik = SecretKey::generate().public();
    let value = |devices: &[(String, hush_core::identity::PublicKey)]| AkdValue(kt::directory_value(&ik, devices));
    let alice = kt::label(hush_fuzz::KT_USER);
    let dev = SecretKey::generate().public();
    let mut hashes = Vec::new();
    let e1 = dir.publish(vec![(alice.clone(), value(&[]))]).await.unwrap();
    hashes.push(e1.1);
    let e2 = dir
        .publish(vec![
            (alice.clone(), value(&[("a1a1a1a1a1a1a1a1".into(), dev)])),
            (AkdLabel(b"bob".to_vec()), value(&[])),
            (AkdLabel(kt::backup_name(kt::PHRASE_BACKUP, "alice").into_bytes()), AkdValue(kt::backup_value(1, b"sealed"))),
        ])
        .await
        .unwrap();
    hashes.push(e2.1);
    let e3 = dir.publish(vec![(AkdLabel(b"carol".to_vec()), value(&[]))]).await.unwrap();
    hashes.push(e3.1);
    let (lookup, root) = dir.lookup(alice.clone()).await.unwrap();
    let (history, _) = dir.key_history(&alice, HistoryParams::Complete).await.unwrap();
    let audit = dir.audit(1, 3).await.unwrap();
    let vrf = dir.get_public_key().await.unwrap().to_bytes().to_vec();
    write("fixtures", "kt.bin", &pack(&[&vrf, &root.0.to_be_bytes(), &root.1, &hashes.concat()]));
    seed("kt_proofs", "lookup", &with(0, &serde_json::to_vec(&lookup).unwrap()));
    seed("kt_proofs", "history", &with(1, &serde_json::to_vec(&history).unwrap()));
    seed("kt_proofs", "value", &with(2, &kt::directory_value(&ik, &[])));
    seed("kt_proofs", "backup-value", &with(2, &kt::backup_value(3, b"sealed")));
    seed("kt_proofs", "audit", &with(3, &serde_json::to_vec(&audit).unwrap()));
    // The client's view of the same directory, as the server sends it.
    let root = hush_proto::KtRoot { epoch: root.0, root_hash: B64(root.1.to_vec()) };
    let lookup = hush_proto::KtLookup { root, proof: B64(serde_json::to_vec(&lookup).unwrap()) };
    seed("proto_json", "kt-lookup", &with(24, &serde_json::to_vec(&lookup).unwrap()));
}

fn other_seeds(mls_state: &[u8]) {
    let key = sealed::SealKey::derive_new(hush_fuzz::PASSPHRASE).unwrap();
    write("fixtures", "sealed.bin", &key.seal(b"fixture"));
    seed("sealed_store", "sealed-mls-state", &with(0, &key.seal(mls_state)));
    seed("sealed_store", "sealed-json", &with(0, &key.seal(b"{\"username\":\"alice\"}")));
    seed("sealed_store", "mls-state", &with(1, mls_state));

    let code = link::LinkCode::parse(hush_fuzz::LINK_CODE).unwrap();
    let a = link::Pake::start("alice", &code);
    let b = link::Pake::start("alice", &code);
    seed("link", "pake-message", &with(0, &b.message));
    let (bm, session) = (b.message.clone(), a.finish(&b.message).unwrap());
    let _ = bm;
    let dk = hush_fuzz::alice_device().public();
    let sealed = session.seal(&dk, b"{\"bundle\":1}");
    seed("link", "session", &with(1, &pack(&[&session.confirmation(), &session.device_mac(&dk), &sealed])));
    seed("message", "link-code", hush_fuzz::LINK_CODE.as_bytes());

    let phrase = recovery::RecoveryPhrase::generate();
    seed("recovery", "phrase", &with(0, phrase.to_text().as_bytes()));
    let backup = recovery::seal_backup(&hush_fuzz::BACKUP_KEY, hush_fuzz::BACKUP_USER, 1, b"{}");
    seed("recovery", "backup", &with(1, &backup));
    let (_, shares) = guardians::split("alice", 2, 3).unwrap();
    seed("recovery", "shares", &with(2, &serde_json::to_vec(&shares[..2]).unwrap()));
    let receiver = hpke::Receiver::generate().unwrap();
    let context = guardians::request_context("alice", &receiver.public);
    let sealed_share = hpke::seal_with_context(&receiver.public, &context, &serde_json::to_vec(&shares[0]).unwrap()).unwrap();
    seed("recovery", "sealed-share", &with(3, &sealed_share));
    seed("recovery", "code", &with(4, hpke::code_of(b"label", b"data").as_bytes()));

    let payloads = [
        ("text", Payload::text("hello \u{202e}world")),
        ("meta", Payload::Meta { id: "01".into(), name: "team".into(), direct: false, history: true }),
        ("space-keys", Payload::SpaceKeys { id: "02".into(), keys: vec![(3, hush_fuzz::space_key())] }),
        ("history", Payload::History {
            id: "03".into(),
            messages: vec![HistoryItem { sender: "bob".into(), sent_at: 1_700_000_000_000, text: "hi".into() }],
        }),
        ("replaces", Payload::Replaces { id: "04".into(), replaces: "00".repeat(16) }),
        ("guardian-share", Payload::GuardianShare { id: "05".into(), share: shares[2].clone() }),
    ];
    for (name, payload) in payloads {
        seed("message", name, &Envelope { seq: 2, prev: sha256_hex(b"x"), payload: payload.clone() }.encode());
        seed("message", &format!("bare-{name}"), &payload.encode());
    }
    seed("message", "space-drive", b"drive:alice");
    seed("message", "space-conv", format!("conv:{}", "ab".repeat(16)).as_bytes());

    let ts = "1700000000000";
    let headers = format!("00112233aabbccdd\n{ts}\n00112233445566778899aabbccddeeff\n{}", "A".repeat(86));
    let now = 1_700_000_000_000i64.to_be_bytes();
    seed("request_headers", "device", &[&now[..], headers.as_bytes()].concat());
    let recovery_headers = headers.replacen("00112233aabbccdd", "recovery", 1);
    seed("request_headers", "recovery", &[&now[..], recovery_headers.as_bytes()].concat());

    seed("proto_json", "error-body", &with(12, br#"{"error":"bad_request","message":"no"}"#));
    seed("proto_json", "inbox", &with(18, br#"{"items":[{"id":1,"kind":"message","group_id":"AAEC","sender_device":"b0b0b0b0b0b0b0b0","payload":"AAEC","received_at":5}]}"#));
    seed("proto_json", "commit", &with(8, br#"{"commit":"AAEC","welcome":null,"added_devices":["a"],"removed_devices":[]}"#));
    seed("proto_json", "space-view", &with(49, br#"{"version":1,"state":"AAEC","rows":[{"entry_id":"00","blobs":["ab"],"row":"AA"}]}"#));
    seed("proto_json", "register", &with(41, br#"{"username":"alice","identity_key":"AAEC","device":{"certificate":"AA","key_packages":["AA"],"last_resort":"AA"}}"#));
}

fn main() {
    let state = mls_seeds();
    files_seeds();
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(kt_seeds());
    other_seeds(&state);
    println!("fixtures/ and corpus/ written");
}

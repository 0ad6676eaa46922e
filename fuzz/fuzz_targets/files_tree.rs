//! What a member who may write a space can put in it: any manifests, validly sealed and
//! signed. Input: a JSON array of manifests; each is sealed as a row, a state listing them
//! is signed, and the listing is opened (`open_space`: every row, the folder tree). A tree
//! that opens is walked the way listings and downloads walk it; every entry must be found
//! again at its own path.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use hush_core::files::{Manifest, SealedRow, SignedState, SpaceKey, StateBody, open_space, sha256_hex};
use hush_core::identity::DeviceCertificate;
use libfuzzer_sys::fuzz_target;

fn keys(id: u64) -> Option<SpaceKey> {
    (id == 1).then(hush_fuzz::space_key)
}

fn certificate() -> &'static DeviceCertificate {
    static CERT: OnceLock<DeviceCertificate> = OnceLock::new();
    CERT.get_or_init(|| {
        DeviceCertificate::issue(&hush_fuzz::alice_identity(), "alice", "00112233aabbccdd", hush_fuzz::alice_device().public())
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(manifests) = serde_json::from_slice::<Vec<Manifest>>(data) else { return };
    if manifests.len() > 64 {
        return;
    }
    let space = hush_fuzz::SPACE;
    let device = hush_fuzz::alice_device();
    let key = hush_fuzz::space_key();
    let mut rows = Vec::new();
    let mut entries = BTreeMap::new();
    for m in &manifests {
        let row = SealedRow::seal(space, m, 1, &key, &device, certificate()).unwrap();
        entries.insert(m.entry_id.clone(), sha256_hex(&row));
        rows.push((m.entry_id.clone(), row));
    }
    let body = StateBody { space: space.into(), version: 1, previous: String::new(), entries, written_at: 0 };
    let state = SignedState::sign(&body, &device, certificate()).unwrap();
    let mut trust_all = |_: &hush_core::identity::CertificateBody| Ok::<(), String>(());
    let Ok(tree) = open_space(space, 1, Some(&state), &rows, None, &[], &keys, &mut trust_all) else { return };
    let _ = tree.children(None);
    for id in tree.entries.keys() {
        let path = tree.path_of(id);
        let found = tree.lookup(&path).unwrap().unwrap();
        assert_eq!(&found.entry_id, id, "{path}");
        let _ = tree.subtree(id);
        let _ = tree.children(Some(id));
        let _ = tree.author_shown(id);
        let _ = hush_core::display::escape(&path);
    }
});

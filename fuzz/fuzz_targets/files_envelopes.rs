//! The server-stored halves of a space: sealed rows (`SealedRow::open`), signed states
//! (`SignedState::open`), a whole listing (`open_space`) and the chain between states
//! (`check_chain`). The first byte picks which; rows open under the fixed space key
//! (key id 1) of `hush_fuzz::space_key`.
#![no_main]

use hush_core::files::{SealedRow, Seen, SignedState, SpaceKey, check_chain, open_space, sha256_hex};
use libfuzzer_sys::fuzz_target;

fn keys(id: u64) -> Option<SpaceKey> {
    (id == 1).then(hush_fuzz::space_key)
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let space = hush_fuzz::SPACE;
    let mut trust_all = |_: &hush_core::identity::CertificateBody| Ok::<(), String>(());
    match which % 4 {
        0 => {
            if let Ok(row) = SealedRow::open(space, hush_fuzz::ENTRY, rest, &keys) {
                assert_eq!(row.manifest.entry_id, hush_fuzz::ENTRY);
            }
        }
        1 => {
            let _ = SignedState::open(rest);
        }
        2 => {
            // A state, then (entry id, row) pairs.
            let parts = hush_fuzz::unpack(rest);
            let Some((state, rows)) = parts.split_first() else { return };
            let rows: Vec<(String, Vec<u8>)> = rows
                .chunks_exact(2)
                .map(|p| (String::from_utf8_lossy(p[0]).into_owned(), p[1].to_vec()))
                .collect();
            let version = SignedState::open(state).map(|(b, _)| b.version).unwrap_or(1);
            if let Ok(tree) = open_space(space, version, Some(state), &rows, None, &[], &keys, &mut trust_all) {
                assert_eq!(tree.entries.len(), rows.len());
            }
        }
        _ => {
            // The state seen before, the states after it, the served state last.
            let parts = hush_fuzz::unpack(rest);
            let (Some(first), Some(last)) = (parts.first(), parts.last()) else { return };
            let Ok((seen_body, _)) = SignedState::open(first) else { return };
            let Ok((served, _)) = SignedState::open(last) else { return };
            let seen = Seen { version: seen_body.version, hash: sha256_hex(first) };
            let history: Vec<Vec<u8>> = parts[1..].iter().map(|p| p.to_vec()).collect();
            let _ = check_chain(space, &seen, &served, &sha256_hex(last), &history, &mut trust_all);
        }
    }
});

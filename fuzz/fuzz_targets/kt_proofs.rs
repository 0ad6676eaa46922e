//! Key-transparency proofs from the server, checked against a root this device holds
//! (fixtures/kt.bin: a real directory's VRF key, root and audited roots): lookup proofs
//! (`kt::verify_lookup`), key histories (`kt::verify_history`), the values they prove
//! (`kt::parse_value`, `parse_backup_value`), and the append-only proofs the auditor checks
//! (`akd::auditor::audit_verify`, as `hush audit` calls it). The first byte picks which.
#![no_main]

use std::sync::OnceLock;

use hush_core::kt::{self, Root};
use libfuzzer_sys::fuzz_target;

static FIXTURE: &[u8] = include_bytes!("../fixtures/kt.bin");

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().unwrap())
}

fn values(v: &[u8]) {
    let _ = kt::parse_value(v);
    let _ = kt::parse_backup_value(v);
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let fixture = hush_fuzz::unpack(FIXTURE);
    let vrf = fixture[0];
    let root = Root { epoch: u64::from_be_bytes(fixture[1].try_into().unwrap()), hash: fixture[2].try_into().unwrap() };
    match which % 4 {
        0 => {
            if let Ok(v) = kt::verify_lookup(vrf, &root, hush_fuzz::KT_USER, rest) {
                values(&v.value);
            }
        }
        1 => {
            if let Ok(versions) = kt::verify_history(vrf, &root, hush_fuzz::KT_USER, rest) {
                for v in versions {
                    values(&v.value);
                }
            }
        }
        2 => values(rest),
        _ => {
            let hashes: Vec<[u8; 32]> = fixture[3].chunks_exact(32).map(|c| c.try_into().unwrap()).collect();
            let Ok(proof) = serde_json::from_slice::<akd::AppendOnlyProof>(rest) else { return };
            let _ = runtime().block_on(akd::auditor::audit_verify::<kt::Config>(hashes, proof));
        }
    }
});

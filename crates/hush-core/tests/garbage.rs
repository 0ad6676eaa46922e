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

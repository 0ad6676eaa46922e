//! Welcomes through hush's MLS wrapper (`PendingJoin::new`: every leaf's certificate is
//! checked), for a device holding the private keys of the KeyPackages it published
//! (fixtures/mls.bin: Bob's state before he joined). A Welcome that passes is trusted and
//! joined, as a client does once its trust rule accepts it.
#![no_main]

use hush_core::mls::{HushProvider, PendingJoin};
use libfuzzer_sys::fuzz_target;

static FIXTURE: &[u8] = include_bytes!("../fixtures/mls.bin");

fuzz_target!(|data: &[u8]| {
    let fixture = hush_fuzz::unpack(FIXTURE);
    let provider = HushProvider::import_state(fixture[0]).unwrap();
    let Ok(pending) = PendingJoin::new(&provider, data) else { return };
    let _ = pending.group_id();
    let Ok(trusted) = pending.trust(|_, _| Ok::<(), ()>(())) else { return };
    if let Ok(conv) = trusted.accept(&provider) {
        let _ = conv.members();
        let _ = conv.space_key(&provider);
        let _ = conv.epoch_authenticator();
    }
});

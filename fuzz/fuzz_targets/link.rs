//! Linking a device: the other side's SPAKE2 message (`Pake::finish`), and what the
//! existing device sends back over the relay: its key confirmation, and the sealed account
//! bundle (`LinkSession::check_confirmation`, `check_device_mac`, `open`). The first byte
//! picks which; both sides run honestly with a fixed code, so the session is real.
#![no_main]

use hush_core::link::{LinkCode, Pake};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let code = LinkCode::parse(hush_fuzz::LINK_CODE).unwrap();
    let new_device = Pake::start("alice", &code);
    match which % 2 {
        0 => {
            if let Ok(session) = new_device.finish(rest) {
                let _ = session.confirmation();
            }
        }
        _ => {
            let existing = Pake::start("alice", &code);
            let theirs = existing.message.clone();
            let session = new_device.finish(&theirs).unwrap();
            let key = hush_fuzz::alice_device().public();
            let parts = hush_fuzz::unpack(rest);
            let part = |i: usize| parts.get(i).copied().unwrap_or_default();
            let _ = session.check_confirmation(part(0));
            let _ = session.check_device_mac(&key, part(1));
            let _ = session.open(&key, part(2));
        }
    }
});

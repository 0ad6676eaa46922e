//! Incoming group messages through hush's MLS wrapper (`Conversation::process`), for a
//! real two-member group (fixtures/mls.bin: Bob's state after joining Alice's group).
//! Input: up to four messages (`hush_fuzz::pack`), processed in order; a commit is
//! trusted and merged, as a client does once its trust rule accepts it. Every run starts
//! from the same state.
#![no_main]

use hush_core::mls::{Conversation, HushProvider, Incoming};
use libfuzzer_sys::fuzz_target;

static FIXTURE: &[u8] = include_bytes!("../fixtures/mls.bin");

fuzz_target!(|data: &[u8]| {
    let fixture = hush_fuzz::unpack(FIXTURE);
    let provider = HushProvider::import_state(fixture[1]).unwrap();
    let mut conv = Conversation::load(&provider, fixture[2]).unwrap().unwrap();
    for message in hush_fuzz::unpack(data).into_iter().take(4) {
        match conv.process(&provider, message) {
            Ok(Incoming::Commit(pending)) => {
                let removes_me = pending.removes_me;
                let Ok(trusted) = pending.trust(|_, _| Ok::<(), ()>(())) else { return };
                if conv.merge(&provider, trusted).is_err() {
                    return;
                }
                let _ = conv.members();
                if removes_me {
                    assert!(!conv.is_active());
                    return;
                }
                let _ = conv.space_key(&provider);
            }
            Ok(Incoming::Application { plaintext, .. }) => {
                let _ = hush_core::message::Envelope::decode(&plaintext);
            }
            Ok(Incoming::LeaveProposal { .. }) => {
                let _ = conv.has_pending_proposals();
            }
            Err(_) => {}
        }
    }
});

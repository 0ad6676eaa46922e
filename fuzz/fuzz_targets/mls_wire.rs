//! MLS messages as the server reads their public framing (`mls::inspect`,
//! `inspect_welcome`), the authenticated data a client peeks at (`peek_aad`), and
//! KeyPackages as both sides check them (`check_key_package`, full signature and
//! credential check).
#![no_main]

use hush_core::mls;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mls::inspect(data);
    let _ = mls::inspect_welcome(data);
    let _ = mls::peek_aad(data);
    if let Ok(kp) = mls::check_key_package(data) {
        assert!(!kp.certificate.username.is_empty());
    }
});

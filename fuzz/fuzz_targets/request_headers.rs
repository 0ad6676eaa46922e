//! The `x-hush-*` signature headers as the server parses them before any signature check
//! (`hush_core::auth::parse_signature_headers`, called by the server's extractor).
//! Input: 8 bytes of the server's clock, then the four header values separated by `\n`
//! (a value of `\0` stands for a missing header).
#![no_main]

use hush_core::auth::{HeaderValues, MAX_CLOCK_SKEW_MS, nonce_well_formed, parse_signature_headers};
use hush_core::identity::device_id_well_formed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((clock, rest)) = data.split_first_chunk::<8>() else { return };
    let now = i64::from_be_bytes(*clock);
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let mut parts = text.split('\n').map(|p| if p == "\0" { None } else { Some(p) });
    let values = HeaderValues {
        device: parts.next().flatten(),
        timestamp: parts.next().flatten(),
        nonce: parts.next().flatten(),
        signature: parts.next().flatten(),
    };
    if let Ok(h) = parse_signature_headers(&values, hush_proto::RECOVERY_DEVICE, now) {
        assert!(device_id_well_formed(&h.device_id) || h.device_id == hush_proto::RECOVERY_DEVICE);
        assert!(now.abs_diff(h.timestamp_ms) <= MAX_CLOCK_SKEW_MS.unsigned_abs());
        assert!(nonce_well_formed(&h.nonce));
        assert_eq!(h.signature.len(), 64);
        // The bytes a device signs are built from what was accepted.
        let _ = hush_core::auth::canonical_request("POST", "/v1/x", h.timestamp_ms, &h.nonce, b"");
    }
});

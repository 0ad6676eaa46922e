//! Device certificates (`DeviceCertificate::decode_and_verify`), as they arrive in MLS
//! leaves, KeyPackages, rows, states and the server's device records, and public keys
//! (`PublicKey::from_slice`). A certificate that verifies must encode back to its bytes.
#![no_main]

use hush_core::identity::{DeviceCertificate, PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = DeviceCertificate::decode_and_verify(data) {
        assert_eq!(cert.encode(), data);
        let body = cert.body();
        assert!(PublicKey::from_slice(&body.device_key.0).is_ok());
        let _ = body.identity_key.fingerprint();
    }
    if let Ok(key) = PublicKey::from_slice(data) {
        let _ = key.verify(b"message", &[0; 64]);
    }
});

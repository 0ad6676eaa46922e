//! File content as the server hands it back: an age v1 file decrypted with the file key
//! its manifest names (`files::decrypt`; the key is fixed in fixtures/content.bin).
#![no_main]

use hush_core::files::{FileKey, decrypt};
use libfuzzer_sys::fuzz_target;

static FIXTURE: &[u8] = include_bytes!("../fixtures/content.bin");

fuzz_target!(|data: &[u8]| {
    let fixture = hush_fuzz::unpack(FIXTURE);
    let key: FileKey = serde_json::from_slice(fixture[0]).unwrap();
    let mut out = Vec::new();
    if let Ok(n) = decrypt(&key, data, &mut out) {
        assert_eq!(n, out.len() as u64);
    }
});

//! The client's sealed store read back from disk: a passphrase-sealed blob changed by
//! whoever could write the home (`SealKey::open`, under the key of fixtures/sealed.bin),
//! and the MLS state inside it (`HushProvider::import_state`). The first byte picks which.
#![no_main]

use std::sync::OnceLock;

use hush_core::mls::HushProvider;
use hush_core::sealed::SealKey;
use libfuzzer_sys::fuzz_target;

static FIXTURE: &[u8] = include_bytes!("../fixtures/sealed.bin");

fn key() -> &'static SealKey {
    static KEY: OnceLock<SealKey> = OnceLock::new();
    KEY.get_or_init(|| SealKey::derive_for(hush_fuzz::PASSPHRASE, FIXTURE).unwrap())
}

fn import(bytes: &[u8]) {
    if let Ok(p) = HushProvider::import_state(bytes) {
        let exported = p.export_state().unwrap();
        let again = HushProvider::import_state(&exported).unwrap();
        assert_eq!(again.export_state().unwrap().as_slice(), exported.as_slice());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    if which % 2 == 0 {
        if let Ok(plain) = key().open(rest) {
            import(&plain);
        }
    } else {
        import(rest);
    }
});

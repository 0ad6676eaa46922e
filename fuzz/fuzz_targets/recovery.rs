//! Recovery material from outside: a typed recovery phrase (`RecoveryPhrase::parse`), an
//! account backup from the server (`recovery::open_backup`), guardian shares as a
//! recovering device receives them (`hpke::Receiver::open_with_context`, then
//! `guardians::combine`), and the codes people compare (`hpke::codes_match`). The first
//! byte picks which.
#![no_main]

use std::sync::OnceLock;

use hush_core::guardians::{self, Share};
use hush_core::hpke::{self, Receiver};
use hush_core::recovery::{self, RecoveryPhrase};
use libfuzzer_sys::fuzz_target;

fn receiver() -> &'static Receiver {
    static R: OnceLock<Receiver> = OnceLock::new();
    R.get_or_init(|| Receiver::generate().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 5 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            if let Ok(phrase) = RecoveryPhrase::parse(text) {
                assert_eq!(phrase.words().len(), 24);
                let again = RecoveryPhrase::parse(&phrase.to_text()).unwrap();
                assert_eq!(again.keys().backup_key, phrase.keys().backup_key);
            }
        }
        1 => {
            let _ = recovery::open_backup(&hush_fuzz::BACKUP_KEY, hush_fuzz::BACKUP_USER, 1, rest);
        }
        2 => {
            let Ok(shares) = serde_json::from_slice::<Vec<Share>>(rest) else { return };
            if let Ok(secret) = guardians::combine(&shares) {
                let _ = guardians::keys(&secret);
            }
        }
        3 => {
            let context = guardians::request_context("alice", &receiver().public);
            if let Ok(plain) = receiver().open_with_context(&context, rest) {
                let _ = serde_json::from_slice::<Share>(&plain);
            }
        }
        _ => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            let computed = hpke::code_of(b"label", b"data");
            let _ = hpke::codes_match(text, &computed);
        }
    }
});

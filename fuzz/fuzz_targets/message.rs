//! What other users write: the plaintext of an application message
//! (`message::Envelope::decode`, every payload kind), and the text a client shows or
//! checks from it and from the server (display escaping, space names, usernames, entry
//! names, MIME types, link codes).
#![no_main]

use hush_core::message::{Envelope, Payload};
use hush_core::{display, files, ids, link, username};
use libfuzzer_sys::fuzz_target;

fn show(s: &str) {
    let escaped = display::escape(s);
    assert!(!display::has_unsafe(&escaped));
    let _ = display::escape_lines(s, "  ");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::decode(data) {
        let again = Envelope::decode(&env.encode()).unwrap();
        assert_eq!(again, env);
        match &env.payload {
            Payload::Text { text, sent_at, .. } => {
                show(text);
                let _ = display::date_utc(*sent_at);
            }
            Payload::Meta { name, .. } => show(name),
            Payload::History { messages, .. } => {
                for m in messages {
                    show(&m.text);
                    show(&m.sender);
                    let _ = display::date_utc(m.sent_at);
                }
            }
            Payload::GuardianShare { share, .. } => {
                let _ = hush_core::guardians::combine(std::slice::from_ref(share));
            }
            _ => {}
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        show(text);
        if let Some(space) = ids::SpaceName::parse(text) {
            assert_eq!(space.to_string(), text);
        }
        if username::validate(text).is_ok() {
            assert!(ids::SpaceName::parse(&format!("drive:{text}")).is_some());
        }
        let _ = files::check_name(text);
        let _ = files::mime_for(text);
        if let Ok(code) = link::LinkCode::parse(text) {
            assert!(link::LinkCode::parse(&code.display()).is_ok());
        }
        let _ = ids::is_link_selector(text);
    }
    if let Some(bytes) = data.get(..8) {
        let n = u64::from_be_bytes(bytes.try_into().unwrap());
        let _ = display::human_bytes(n);
        let _ = display::date_utc(n as i64);
    }
});

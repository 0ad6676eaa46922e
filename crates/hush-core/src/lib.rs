//! hush-core: the parts of hush that involve no I/O.
//!
//! - [`display`]: text from others made safe to show (control and bidi characters escaped).
//! - [`files`]: the file format: age v1 content, sealed and signed manifests, signed and
//!   versioned space states. **This is where a file is encrypted** ([`files::encrypt`]).
//! - [`guardians`]: k-of-n splitting of the guardians' recovery secret.
//! - [`ids`]: group ids, space names and the code alphabet, shared by client and server.
//! - [`identity`]: user identity keys, device keys and the device certificates that
//!   chain one to the other (cross-signing).
//! - [`kt`]: key transparency: what the directory commits to, and the proof checks.
//! - [`username`]: the rules for usernames.
//! - [`auth`]: the canonical bytes a device signs for each API request.
//! - [`mls`]: hush's use of OpenMLS (RFC 9420): KeyPackages, groups, and the credential
//!   checks every commit and Welcome must pass before it is merged. **This is where a
//!   message is encrypted** ([`mls::Conversation::encrypt`]) and decrypted
//!   ([`mls::Conversation::process`]).
//! - [`link`]: linking a new device with a short code and SPAKE2.
//! - [`hpke`]: sealing to a device's one-time HPKE key, and codes people compare.
//! - [`message`]: the plaintext payload carried inside MLS application messages.
//! - [`primitives`]: the AEAD, HKDF and HMAC every hush envelope is built from.
//! - [`recovery`]: the recovery phrase, and the sealed account backup it unlocks.
//! - [`safety`]: safety numbers and their QR payload.
//! - [`sealed`]: passphrase-sealed blobs, used for the client's local store at rest.
//!
//! Secrets live in types that do not implement `Debug` or `Serialize` in the clear and are
//! zeroized on drop.

pub mod auth;
pub mod display;
pub mod files;
pub mod guardians;
pub mod hpke;
pub mod identity;
pub mod ids;
pub mod kt;
pub mod message;
pub mod link;
pub mod mls;
pub mod primitives;
pub mod recovery;
pub mod safety;
pub mod sealed;
pub mod username;

/// Current time in unix milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

//! Names and ids both sides of the wire agree on: group ids, hex rules, space names and the
//! alphabet of the short codes people type. The client builds these and the server parses
//! them; keeping them here means the two can't drift apart.

use std::fmt;

/// Bytes in a conversation (MLS group) id; on the wire and in space names it is
/// `2 * GROUP_ID_LEN` lowercase hex digits.
pub const GROUP_ID_LEN: usize = 16;

/// The alphabet of codes people read aloud or type (link selectors, comparison codes):
/// upper-case letters and digits without I, L, O and U, so nothing looks like anything else.
pub const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKMNPQRSTVWXYZ0123456789";

/// Characters in a link code's selector (the part before the digits).
pub const LINK_SELECTOR_LEN: usize = 4;

/// Whether `s` is exactly `len` lowercase hex digits. Ids have one spelling: upper case is
/// refused, so that one id never has two names.
pub fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `s` is a link selector: [`LINK_SELECTOR_LEN`] characters of [`CODE_ALPHABET`].
pub fn is_link_selector(s: &str) -> bool {
    s.len() == LINK_SELECTOR_LEN && s.bytes().all(|b| CODE_ALPHABET.contains(&b))
}

/// A space's name: `drive:USERNAME` or `conv:GROUP_ID_HEX`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpaceName {
    /// A user's personal drive, open to that user's devices.
    Drive(String),
    /// A conversation's shared space, open to the devices that are members of the group.
    Conv(Vec<u8>),
}

impl SpaceName {
    /// The drive of `username` (not validated: [`SpaceName::parse`] is the checked way in).
    pub fn drive(username: &str) -> SpaceName {
        SpaceName::Drive(username.to_owned())
    }

    /// The space of the conversation whose id is `group_id_hex`, if that is a group id.
    pub fn conv_hex(group_id_hex: &str) -> Option<SpaceName> {
        if !is_lower_hex(group_id_hex, GROUP_ID_LEN * 2) {
            return None;
        }
        hex::decode(group_id_hex).ok().map(SpaceName::Conv)
    }

    /// Parses a space name. The group id must be lowercase hex of the right length and the
    /// username valid, so that every space has exactly one name. `None` for anything else.
    pub fn parse(name: &str) -> Option<SpaceName> {
        if let Some(username) = name.strip_prefix("drive:") {
            crate::username::validate(username).ok()?;
            Some(SpaceName::Drive(username.to_owned()))
        } else if let Some(hex_id) = name.strip_prefix("conv:") {
            SpaceName::conv_hex(hex_id)
        } else {
            None
        }
    }
}

impl fmt::Display for SpaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpaceName::Drive(user) => write!(f, "drive:{user}"),
            SpaceName::Conv(id) => write!(f, "conv:{}", hex::encode(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_names_have_one_spelling() {
        let id = "00112233445566778899aabbccddeeff";
        let conv = SpaceName::parse(&format!("conv:{id}")).expect("a conversation space");
        assert_eq!(conv.to_string(), format!("conv:{id}"));
        assert_eq!(SpaceName::conv_hex(id), Some(conv));
        assert_eq!(SpaceName::parse("drive:alice"), Some(SpaceName::drive("alice")));
        assert_eq!(SpaceName::drive("alice").to_string(), "drive:alice");
        // Upper case, a short id, an unknown kind and an invalid username are refused.
        assert_eq!(SpaceName::parse(&format!("conv:{}", id.to_uppercase())), None);
        assert_eq!(SpaceName::parse("conv:0011"), None);
        assert_eq!(SpaceName::parse("home:alice"), None);
        assert_eq!(SpaceName::parse("drive:Al ice"), None);
    }

    #[test]
    fn selectors_use_the_code_alphabet() {
        assert!(is_link_selector("AB7Z"));
        assert!(!is_link_selector("ABIZ"));
        assert!(!is_link_selector("AB7"));
        assert!(!is_lower_hex("ABCD", 4));
        assert!(is_lower_hex("abcd", 4));
        assert!(!is_lower_hex("abcd", 6));
    }
}

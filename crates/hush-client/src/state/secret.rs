//! Secret bytes inside the sealed state: never printed, serialized (as base64) only there.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Secret bytes inside the sealed state; never printed.
/// Serialized as base64 only inside the sealed state.
#[derive(Clone, Default)]
pub struct SecretBytes(pub Zeroizing<Vec<u8>>);

impl Serialize for SecretBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_slice()));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        let text = Zeroizing::new(String::deserialize(d)?);
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(|v| SecretBytes(Zeroizing::new(v)))
            .map_err(|_| serde::de::Error::custom("invalid secret encoding"))
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(***)")
    }
}

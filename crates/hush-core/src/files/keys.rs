//! Keys: a space's key (rows) and each file version's age identity (content).

use super::*;

/// A 32-byte space key; zeroized on drop, never printed.
#[derive(Clone)]
pub struct SpaceKey(pub Zeroizing<[u8; 32]>);

impl SpaceKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        SpaceKey(Zeroizing::new(rand::random()))
    }

    /// From bytes (32 of them).
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let a: [u8; 32] = bytes.try_into().ok()?;
        Some(SpaceKey(Zeroizing::new(a)))
    }
}

impl PartialEq for SpaceKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for SpaceKey {}

impl std::fmt::Debug for SpaceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpaceKey(***)")
    }
}

impl Serialize for SpaceKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(URL_SAFE_NO_PAD.encode(self.0.as_slice())))
    }
}

impl<'de> Deserialize<'de> for SpaceKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(text.as_bytes()).map_err(|_| serde::de::Error::custom("bad key"))?);
        SpaceKey::from_slice(&bytes).ok_or_else(|| serde::de::Error::custom("bad key length"))
    }
}

/// A file version's key: an age X25519 identity made for that version alone.
#[derive(Clone)]
pub struct FileKey(pub(super) age::x25519::Identity);

impl FileKey {
    /// A fresh key.
    pub fn generate() -> Self {
        FileKey(age::x25519::Identity::generate())
    }
}

impl FileKey {
    /// The key's public half as an age recipient string (`age1…`).
    pub fn recipient(&self) -> String {
        self.0.to_public().to_string()
    }
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(***)")
    }
}

impl Serialize for FileKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use age::secrecy::ExposeSecret as _;
        s.serialize_str(self.0.to_string().expose_secret())
    }
}

impl<'de> Deserialize<'de> for FileKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        text.parse::<age::x25519::Identity>()
            .map(FileKey)
            .map_err(|_| serde::de::Error::custom("bad file key"))
    }
}

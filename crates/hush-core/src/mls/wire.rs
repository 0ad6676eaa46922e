//! The server's view of a message: its public framing only.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;

use super::MlsError;

/// What a message's public framing says: all the server reads of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireInfo {
    /// The group the message is for.
    pub group_id: Vec<u8>,
    /// The epoch it was made in.
    pub epoch: u64,
    /// Its kind.
    pub kind: WireKind,
}

/// Kinds of group messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireKind {
    /// An application message.
    Application,
    /// A proposal.
    Proposal,
    /// A commit.
    Commit,
}

/// The authenticated data of an encrypted group message, read without decrypting it (so
/// not yet verified: only for explaining why a message could not be read).
pub fn peek_aad(bytes: &[u8]) -> Option<Vec<u8>> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).ok()?;
    match msg.try_into_protocol_message().ok()? {
        ProtocolMessage::PrivateMessage(p) => Some(p.aad().to_vec()),
        ProtocolMessage::PublicMessage(_) => None,
    }
}

/// Reads the public framing of a group message (public or private).
pub fn inspect(bytes: &[u8]) -> Result<WireInfo, MlsError> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| MlsError::Malformed(e.to_string()))?;
    let pm = msg
        .try_into_protocol_message()
        .map_err(|_| MlsError::Malformed("not a group message".into()))?;
    let kind = match pm.content_type() {
        ContentType::Application => WireKind::Application,
        ContentType::Proposal => WireKind::Proposal,
        ContentType::Commit => WireKind::Commit,
    };
    Ok(WireInfo {
        group_id: pm.group_id().as_slice().to_vec(),
        epoch: pm.epoch().as_u64(),
        kind,
    })
}

/// Checks that bytes are a Welcome message.
pub fn inspect_welcome(bytes: &[u8]) -> Result<(), MlsError> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| MlsError::Malformed(e.to_string()))?;
    match msg.extract() {
        MlsMessageBodyIn::Welcome(_) => Ok(()),
        _ => Err(MlsError::Malformed("not a Welcome".into())),
    }
}

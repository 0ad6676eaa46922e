//! Joining from a Welcome: every leaf is checked before the group is joined.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;

use crate::identity::CertificateBody;

use super::conversation::{Conversation, Role};
use super::credential::verify_leaf;
use super::provider::HushProvider;
use super::{MlsError, group_join_config, internal, refused};


/// A Welcome processed but not yet joined: check [`PendingJoin::members`] first.
pub struct PendingJoin {
    staged: StagedWelcome,
    /// Every member of the group with its verified certificate.
    pub members: Vec<CertificateBody>,
    /// Who sent the Welcome.
    pub inviter: CertificateBody,
    /// Whether this device already holds a group with this id (it is being added back).
    pub replaces_existing: bool,
}

impl PendingJoin {
    /// Processes a Welcome for one of our KeyPackages; verifies every leaf's certificate.
    pub fn new(provider: &HushProvider, welcome: &[u8]) -> Result<Self, MlsError> {
        let msg = MlsMessageIn::tls_deserialize_exact(welcome).map_err(|e| MlsError::Malformed(e.to_string()))?;
        let MlsMessageBodyIn::Welcome(w) = msg.extract() else {
            return Err(MlsError::Malformed("not a Welcome".into()));
        };
        // A Welcome for a group this device still holds (it was removed and is added back,
        // or its removal never reached it) replaces the old state; the caller learns which
        // from `replaces_existing` before accepting.
        let builder = StagedWelcome::build_from_welcome(provider, &group_join_config(), w).map_err(refused)?;
        let group_id = builder.processed_welcome().unverified_group_info().group_id().clone();
        let replaces_existing = MlsGroup::load(provider.storage(), &group_id).map_err(internal)?.is_some();
        let staged = builder.replace_old_group().build().map_err(refused)?;
        let mut members = Vec::new();
        for m in staged.members() {
            members.push(verify_leaf(&m.credential, &m.signature_key)?);
        }
        let sender = staged.welcome_sender().map_err(internal)?;
        let inviter = verify_leaf(sender.credential(), sender.signature_key().as_slice())?;
        Ok(PendingJoin {
            staged,
            members,
            inviter,
            replaces_existing,
        })
    }

    /// The group id.
    pub fn group_id(&self) -> Vec<u8> {
        self.staged.group_context().group_id().as_slice().to_vec()
    }

    /// Asks the caller's trust rule about the inviter and every member (each certificate
    /// already verified against its own identity key). Only a Welcome that passes can be
    /// joined.
    pub fn trust<E>(self, mut rule: impl FnMut(&CertificateBody, Role) -> Result<(), E>) -> Result<TrustedJoin, E> {
        rule(&self.inviter, Role::Author)?;
        for m in &self.members {
            rule(m, Role::Member)?;
        }
        Ok(TrustedJoin(self))
    }
}

/// A Welcome the trust rule accepted: the only kind that can be joined.
pub struct TrustedJoin(PendingJoin);

impl std::ops::Deref for TrustedJoin {
    type Target = PendingJoin;
    fn deref(&self) -> &PendingJoin {
        &self.0
    }
}

impl TrustedJoin {
    /// Joins the group, replacing any state this device held for the same group id.
    pub fn accept(self, provider: &HushProvider) -> Result<Conversation, MlsError> {
        let join = self.0;
        if join.replaces_existing
            && let Some(mut old) = MlsGroup::load(provider.storage(), join.staged.group_context().group_id()).map_err(internal)?
        {
            old.delete(provider.storage()).map_err(internal)?;
        }
        Ok(Conversation {
            group: join.staged.into_group(provider).map_err(internal)?,
        })
    }
}

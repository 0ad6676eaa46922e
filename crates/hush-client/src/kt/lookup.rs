//! A user's identity key and devices checked against the directory: a lookup proof for
//! the latest root, and the tombstone of a deleted account.

use hush_core::identity::PublicKey;
use hush_core::kt;
use hush_proto as proto;

use super::root_of;
use crate::{Client, ClientError};

impl Client {
    /// Checks that the directory vouches for `user`'s identity key and exactly these
    /// devices.
    pub(crate) async fn kt_check_user(
        &mut self,
        user: &str,
        identity_key: &PublicKey,
        devices: &[(String, PublicKey)],
    ) -> Result<(), ClientError> {
        self.kt_refresh().await?;
        let lookup: proto::KtLookup = self.kt_get(&format!("/v1/kt/lookup/{user}")).await?;
        let root = root_of(&lookup.root)?;
        self.kt_advance(root).await?;
        let vrf = self.state.kt.vrf_public_key.clone().unwrap_or_default();
        let proven = kt::verify_lookup(&vrf, &root, user, &lookup.proof.0).map_err(|e| ClientError::BadDevice {
            user: user.into(),
            reason: e.to_string(),
        })?;
        if proven.value != kt::directory_value(identity_key, devices) {
            return Err(ClientError::BadDevice {
                user: user.into(),
                reason: "the key directory does not vouch for the identity key and devices the server gave".into(),
            });
        }
        Ok(())
    }

    /// Whether the key directory proves that the server's operator deleted `user`'s
    /// account (its current value is the tombstone [`kt::DELETED_VALUE`]). Any failure to
    /// prove it answers `false`: a server can't make a user look deleted without publishing
    /// the tombstone in the directory for everyone to see.
    pub(crate) async fn kt_user_deleted(&mut self, user: &str) -> bool {
        let Ok(lookup) = self.kt_get::<proto::KtLookup>(&format!("/v1/kt/lookup/{user}")).await else {
            return false;
        };
        let Ok(root) = root_of(&lookup.root) else { return false };
        if self.kt_advance(root).await.is_err() {
            return false;
        }
        let vrf = self.state.kt.vrf_public_key.clone().unwrap_or_default();
        kt::verify_lookup(&vrf, &root, user, &lookup.proof.0).is_ok_and(|p| p.value == kt::DELETED_VALUE)
    }
}

//! Keeping this device's KeyPackages on the server after each sync: a batch when fewer
//! than [`LOW_WATER`] are left, and a new last-resort one when the old one was handed out
//! (then the person is told once: someone claimed more than the normal supply).

use hush_core::mls;
use hush_proto::{self as proto, B64};
use reqwest::Method;

use crate::account::KEY_PACKAGE_BATCH;
use crate::client::Client;
use crate::error::ClientError;

/// Below this many single-use KeyPackages on the server, the device tops up to
/// [`KEY_PACKAGE_BATCH`].
pub(crate) const LOW_WATER: u64 = 10;

impl Client {
    /// Asks the server how many KeyPackages this device has left and whether its
    /// last-resort one was used; uploads more, or a new last-resort one, as needed.
    pub(crate) async fn keep_key_packages(&mut self) -> Result<(), ClientError> {
        let count: proto::KeyPackageCount = self
            .api
            .call::<(), _>(Some(&self.signer()), Method::GET, "/v1/keypackages/count", None)
            .await?;
        let missing = if count.remaining < LOW_WATER {
            KEY_PACKAGE_BATCH.saturating_sub(usize::try_from(count.remaining).unwrap_or(KEY_PACKAGE_BATCH))
        } else {
            0
        };
        if missing == 0 && !count.last_resort_used {
            return Ok(());
        }
        let device = self.device();
        let (key_packages, last_resort) = if count.last_resort_used {
            let (kps, last) = mls::key_packages(&self.provider, &device, missing)?;
            (kps, Some(B64(last)))
        } else {
            (mls::single_use_key_packages(&self.provider, &device, missing)?, None)
        };
        // Their private keys are sealed to disk before the server can hand one out.
        self.save()?;
        let upload = proto::KeyPackageUpload {
            key_packages: key_packages.into_iter().map(B64).collect(),
            last_resort,
        };
        let _: proto::KeyPackageCount = self
            .api
            .call(Some(&self.signer()), Method::POST, "/v1/keypackages", Some(&upload))
            .await?;
        if count.last_resort_used {
            self.event(
                "",
                format!(
                    "this device's last-resort key package was handed out: others claimed more than its normal supply of \
                     {KEY_PACKAGE_BATCH} (possibly someone trying to use them up); a new one was uploaded"
                ),
                hush_core::now_ms(),
            );
            self.save()?;
        }
        Ok(())
    }
}

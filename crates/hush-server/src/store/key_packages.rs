//! KeyPackages: uploading, counting, claiming.

use sqlx::Row as _;

use super::{Store, StoreError};

impl Store {
    // ---- KeyPackages ----

    /// Adds KeyPackages for a device; replaces its last-resort one when given.
    pub async fn add_key_packages(
        &self,
        device_id: &str,
        key_packages: &[Vec<u8>],
        last_resort: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        Self::insert_key_packages(&mut tx, device_id, key_packages, last_resort).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many single-use KeyPackages a device has left, and whether its last-resort one
    /// was handed out since it was uploaded.
    pub async fn key_package_count(&self, device_id: &str) -> Result<(u64, bool), StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(last_resort = 0), 0),
                    COALESCE(MAX(last_resort = 1 AND claimed_at IS NOT NULL), 0)
             FROM key_packages WHERE device_id = ?",
        )
        .bind(device_id)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get(0)?;
        let used: bool = row.try_get(1)?;
        Ok((u64::try_from(n).unwrap_or(0), used))
    }

    /// One KeyPackage for each of a user's devices that is not revoked: the oldest
    /// single-use one (removed), or else the last-resort one (kept). `None` for an unknown
    /// user. Devices with no KeyPackage at all are left out.
    pub async fn claim(&self, username: &str) -> Result<Option<Vec<(String, Vec<u8>)>>, StoreError> {
        let mut tx = self.write_tx().await?;
        let exists = sqlx::query("SELECT 1 FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let devices: Vec<String> =
            sqlx::query(
                "SELECT device_id FROM devices WHERE username = ? AND revoked_at IS NULL
                 ORDER BY created_at, device_id",
            )
                .bind(username)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
        let mut claimed = Vec::with_capacity(devices.len());
        for device_id in devices {
            let row = sqlx::query(
                "SELECT id, data, last_resort FROM key_packages WHERE device_id = ?
                 ORDER BY last_resort ASC, id ASC LIMIT 1",
            )
            .bind(&device_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { continue };
            let id: i64 = row.try_get(0)?;
            let data: Vec<u8> = row.try_get(1)?;
            let last_resort: bool = row.try_get(2)?;
            if last_resort {
                // Kept, and marked: the device is told, and uploads a new one.
                sqlx::query("UPDATE key_packages SET claimed_at = ? WHERE id = ?")
                    .bind(hush_core::now_ms())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query("DELETE FROM key_packages WHERE id = ?")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            claimed.push((device_id, data));
        }
        tx.commit().await?;
        Ok(Some(claimed))
    }
}

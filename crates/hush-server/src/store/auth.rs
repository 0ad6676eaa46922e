//! Authentication: device keys, nonces.

use sqlx::Row as _;

use super::{Store, StoreError};

/// What authentication needs to know about a device.
pub struct DeviceKey {
    /// The owner.
    pub username: String,
    /// The device's public key.
    pub public_key: Vec<u8>,
    /// Whether the server's operator disabled the owner's account.
    pub disabled: bool,
    /// When the device last made a signed request (to the minute), if it did since it was
    /// recorded.
    pub last_seen_at: Option<i64>,
}

impl Store {
    // ---- authentication ----

    /// The owner and public key of a device; `None` for an unknown or revoked one.
    pub async fn device_key(&self, device_id: &str) -> Result<Option<DeviceKey>, StoreError> {
        let row = sqlx::query(
            "SELECT d.username, d.public_key, u.disabled_at IS NOT NULL, d.last_seen_at
             FROM devices d JOIN users u ON u.username = d.username
             WHERE d.device_id = ? AND d.revoked_at IS NULL",
        )
            .bind(device_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(DeviceKey {
                username: r.try_get(0)?,
                public_key: r.try_get(1)?,
                disabled: r.try_get(2)?,
                last_seen_at: r.try_get(3)?,
            }),
            None => None,
        })
    }

    /// Records a nonce; `false` if this device used it before (a replay).
    pub async fn use_nonce(&self, device_id: &str, nonce: &str, expires_at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT OR IGNORE INTO nonces (device_id, nonce, expires_at) VALUES (?, ?, ?)")
            .bind(device_id)
            .bind(nonce)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets nonces whose requests can no longer pass the timestamp check.
    pub async fn prune_nonces(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM nonces WHERE expires_at < ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

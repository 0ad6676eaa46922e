//! Accounts and devices: registering, adding and revoking devices, the user directory.

use hush_proto::InboxKind;
use sqlx::{Row as _, Sqlite, Transaction};

use super::{Store, StoreError, is_unique_violation, Delivered};

/// A device to insert, already validated.
pub struct NewDevice {
    /// Its id.
    pub device_id: String,
    /// Its Ed25519 public key.
    pub public_key: Vec<u8>,
    /// Its encoded certificate.
    pub certificate: Vec<u8>,
    /// Single-use KeyPackages.
    pub key_packages: Vec<Vec<u8>>,
    /// The last-resort KeyPackage.
    pub last_resort: Vec<u8>,
}

/// A user and their devices.
pub struct StoredUser {
    /// The username.
    pub username: String,
    /// The identity key.
    pub identity_key: Vec<u8>,
    /// `(device_id, certificate)`, oldest first.
    pub devices: Vec<(String, Vec<u8>)>,
}

impl Store {
    // ---- directory ----

    pub(super) async fn insert_device(
        tx: &mut Transaction<'static, Sqlite>,
        username: &str,
        device: &NewDevice,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO devices (device_id, username, public_key, certificate, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&device.device_id)
        .bind(username)
        .bind(&device.public_key)
        .bind(&device.certificate)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("a device with this id or this key is already registered, or was revoked")
            } else {
                StoreError::Db(e)
            }
        })?;
        Self::insert_key_packages(tx, &device.device_id, &device.key_packages, Some(&device.last_resort)).await
    }

    pub(super) async fn insert_key_packages(
        tx: &mut Transaction<'static, Sqlite>,
        device_id: &str,
        key_packages: &[Vec<u8>],
        last_resort: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        for kp in key_packages {
            sqlx::query("INSERT INTO key_packages (device_id, data, last_resort) VALUES (?, ?, 0)")
                .bind(device_id)
                .bind(kp)
                .execute(&mut **tx)
                .await?;
        }
        if let Some(lr) = last_resort {
            sqlx::query("DELETE FROM key_packages WHERE device_id = ? AND last_resort = 1")
                .bind(device_id)
                .execute(&mut **tx)
                .await?;
            sqlx::query("INSERT INTO key_packages (device_id, data, last_resort) VALUES (?, ?, 1)")
                .bind(device_id)
                .bind(lr)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Creates a user with its first device and KeyPackages, all or nothing.
    #[cfg(test)]
    pub async fn register(&self, username: &str, identity_key: &[u8], device: &NewDevice, now: i64) -> Result<(), StoreError> {
        self.register_invited(username, identity_key, device, None, now).await
    }

    /// Like `Store::register`, spending the invitation whose token hashes to `invite` in
    /// the same transaction (`Denied` with a sentence if it is unknown, used or expired).
    pub async fn register_invited(
        &self,
        username: &str,
        identity_key: &[u8],
        device: &NewDevice,
        invite: Option<&[u8; 32]>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        if let Some(hash) = invite {
            Self::spend_invite(&mut tx, hash, now).await?;
        }
        let taken = sqlx::query("SELECT 1 FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Err(StoreError::UsernameTaken);
        }
        sqlx::query("INSERT INTO users (username, identity_key, created_at) VALUES (?, ?, ?)")
            .bind(username)
            .bind(identity_key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        Self::insert_device(&mut tx, username, device, now).await?;
        Self::mark_kt_pending(&mut tx, username).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's identity key.
    pub async fn identity_key(&self, username: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT identity_key FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    /// Adds a device to an existing user whose identity key is `identity_key` (checked
    /// again inside the transaction), and tells every device that shares a group with the
    /// user, and the user's other devices, with a `device_added` item.
    pub async fn add_device(
        &self,
        username: &str,
        identity_key: &[u8],
        device: &NewDevice,
        now: i64,
    ) -> Result<Delivered, StoreError> {
        let mut tx = self.write_tx().await?;
        let stored: Option<Vec<u8>> = sqlx::query("SELECT identity_key FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        if stored.as_deref() != Some(identity_key) {
            return Err(StoreError::NotFound("no user with this identity key"));
        }
        Self::insert_device(&mut tx, username, device, now).await?;
        Self::mark_kt_pending(&mut tx, username).await?;
        let recipients: Vec<String> = sqlx::query(
            "SELECT DISTINCT device_id FROM (
                 SELECT other.device_id AS device_id
                 FROM devices d
                 JOIN group_members mine ON mine.device_id = d.device_id
                 JOIN group_members other ON other.group_id = mine.group_id
                 WHERE d.username = ?1
                 UNION
                 SELECT device_id FROM devices WHERE username = ?1 AND revoked_at IS NULL
             ) WHERE device_id <> ?2
             ORDER BY device_id",
        )
        .bind(username)
        .bind(&device.device_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
        let message_id = Self::insert_message(
            &mut tx,
            None,
            Some(&device.device_id),
            InboxKind::DeviceAdded,
            username.as_bytes(),
            &recipients,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Delivered {
            message_id,
            epoch: 0,
            recipients,
        })
    }

    /// A user with their devices (revoked ones left out).
    pub async fn user(&self, username: &str) -> Result<Option<StoredUser>, StoreError> {
        let Some(identity_key) = self.identity_key(username).await? else {
            return Ok(None);
        };
        let devices = sqlx::query(
            "SELECT device_id, certificate FROM devices WHERE username = ? AND revoked_at IS NULL
             ORDER BY created_at, device_id",
        )
        .bind(username)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?;
        Ok(Some(StoredUser {
            username: username.to_owned(),
            identity_key,
            devices,
        }))
    }

    /// Every device of a user, revoked ones included, oldest first, as `(device_id,
    /// public key, certificate, revoked)`.
    pub async fn device_history(&self, username: &str) -> Result<Vec<(String, Vec<u8>, Vec<u8>, bool)>, StoreError> {
        let rows = sqlx::query(
            "SELECT device_id, public_key, certificate, revoked_at IS NOT NULL FROM devices WHERE username = ?
             ORDER BY created_at, device_id",
        )
        .bind(username)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    // ---- revocation ----

    /// Revokes device `device_id` of user `username`, in one transaction: marks it revoked,
    /// stops routing to it (group memberships), deletes its inbox (and the messages no inbox
    /// refers to any more) and its KeyPackages, marks the user for the next key-directory
    /// publish, and tells every other device that shares a group with the user's devices,
    /// and the user's other devices, with a `device_revoked` item (payload: the username,
    /// sender: the revoked device). Answers the devices that got the item.
    ///
    /// `Forbidden` if there is no such device or it belongs to someone else (the two look
    /// the same); `Conflict` if it is revoked already.
    pub async fn revoke_device(&self, username: &str, device_id: &str, now: i64) -> Result<Vec<String>, StoreError> {
        const NOT_YOURS: &str = "there is no such device among this account's devices";
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT username, revoked_at FROM devices WHERE device_id = ?")
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Err(StoreError::Forbidden(NOT_YOURS));
        };
        let owner: String = row.try_get(0)?;
        let revoked_at: Option<i64> = row.try_get(1)?;
        if owner != username {
            return Err(StoreError::Forbidden(NOT_YOURS));
        }
        if revoked_at.is_some() {
            return Err(StoreError::Conflict("this device is revoked already"));
        }
        // Before the memberships go: whoever shares a group with any of the user's devices,
        // the revoked one included.
        let recipients: Vec<String> = sqlx::query(
            "SELECT DISTINCT device_id FROM (
                 SELECT other.device_id AS device_id
                 FROM devices d
                 JOIN group_members mine ON mine.device_id = d.device_id
                 JOIN group_members other ON other.group_id = mine.group_id
                 WHERE d.username = ?1 AND d.revoked_at IS NULL
                 UNION
                 SELECT device_id FROM devices WHERE username = ?1 AND revoked_at IS NULL
             ) AS r
             WHERE device_id <> ?2
               AND EXISTS (SELECT 1 FROM devices x WHERE x.device_id = r.device_id AND x.revoked_at IS NULL)
             ORDER BY device_id",
        )
        .bind(username)
        .bind(device_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;

        sqlx::query("UPDATE devices SET revoked_at = ? WHERE device_id = ?")
            .bind(now)
            .bind(device_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM group_members WHERE device_id = ?")
            .bind(device_id)
            .execute(&mut *tx)
            .await?;
        let mut dropped: Vec<i64> = sqlx::query("DELETE FROM inbox WHERE device_id = ? RETURNING message_id")
            .bind(device_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        dropped.sort_unstable();
        dropped.dedup();
        for message_id in dropped {
            sqlx::query(
                "DELETE FROM messages WHERE id = ?1
                 AND NOT EXISTS (SELECT 1 FROM inbox WHERE message_id = ?1)",
            )
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM key_packages WHERE device_id = ?")
            .bind(device_id)
            .execute(&mut *tx)
            .await?;
        Self::mark_kt_pending(&mut tx, username).await?;
        // Nobody to tell (the user's last device revoked itself, sharing no group): no
        // message that no inbox would ever refer to.
        if !recipients.is_empty() {
            Self::insert_message(
                &mut tx,
                None,
                Some(device_id),
                InboxKind::DeviceRevoked,
                username.as_bytes(),
                &recipients,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(recipients)
    }
}

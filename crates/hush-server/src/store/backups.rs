//! Account backups (phrase and guardians) and recovery attempts.

use sqlx::Row as _;

use super::{Store, StoreError};

/// Which of an account's two backups: the one sealed under the recovery phrase, or the one
/// whose key is split among guardians. Each has its own table, auth key and failure count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupSlot {
    /// `PUT /v1/backup`, `GET /v1/recovery/{username}`.
    Phrase,
    /// `PUT /v1/backup/guardians`, `GET /v1/recovery/{username}/guardians`.
    Guardians,
}

impl BackupSlot {
    /// The `kind` of this slot's rows in `recovery_attempts`.
    fn attempt_kind(self) -> &'static str {
        match self {
            BackupSlot::Phrase => "phrase",
            BackupSlot::Guardians => "guardians",
        }
    }

    fn select_version_sql(self) -> &'static str {
        match self {
            BackupSlot::Phrase => "SELECT version FROM backups WHERE username = ?",
            BackupSlot::Guardians => "SELECT version FROM guardian_backups WHERE username = ?",
        }
    }

    fn select_sql(self) -> &'static str {
        match self {
            BackupSlot::Phrase => "SELECT auth_key, version, blob FROM backups WHERE username = ?",
            BackupSlot::Guardians => "SELECT auth_key, version, blob FROM guardian_backups WHERE username = ?",
        }
    }

    fn upsert_sql(self) -> &'static str {
        match self {
            BackupSlot::Phrase => {
                "INSERT INTO backups (username, auth_key, version, blob, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (username) DO UPDATE SET
                     auth_key = excluded.auth_key, version = excluded.version,
                     blob = excluded.blob, updated_at = excluded.updated_at"
            }
            BackupSlot::Guardians => {
                "INSERT INTO guardian_backups (username, auth_key, version, blob, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (username) DO UPDATE SET
                     auth_key = excluded.auth_key, version = excluded.version,
                     blob = excluded.blob, updated_at = excluded.updated_at"
            }
        }
    }
}

/// A backup to store, already validated.
#[derive(Clone, Copy)]
pub struct NewBackup<'a> {
    /// The account.
    pub username: &'a str,
    /// The recovery auth key (a valid Ed25519 public key).
    pub auth_key: &'a [u8],
    /// Its version (must be above the stored one's).
    pub version: i64,
    /// The sealed backup.
    pub blob: &'a [u8],
}

/// A stored backup.
pub struct StoredBackup {
    /// The recovery auth key recovery requests are verified with.
    pub auth_key: Vec<u8>,
    /// Its version.
    pub version: u64,
    /// The sealed backup.
    pub blob: Vec<u8>,
}

impl Store {
    // ---- account backup ----

    /// Stores (or replaces) a user's sealed backup in `slot`, whose version must be above the stored
    /// one's (`Conflict` otherwise).
    pub async fn put_backup(&self, slot: BackupSlot, backup: &NewBackup<'_>, now: i64) -> Result<(), StoreError> {
        let NewBackup { username, auth_key, version, blob } = *backup;
        let mut tx = self.write_tx().await?;
        let stored: Option<i64> = sqlx::query(slot.select_version_sql())
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        if stored.is_some_and(|v| v >= version) {
            return Err(StoreError::Conflict("a newer backup is already stored"));
        }
        sqlx::query(slot.upsert_sql())
            .bind(username)
            .bind(auth_key)
            .bind(version)
            .bind(blob)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // The key directory commits to every backup version (see hush_core::kt::backup_value).
        let prefix = match slot {
            BackupSlot::Phrase => hush_core::kt::PHRASE_BACKUP,
            BackupSlot::Guardians => hush_core::kt::GUARDIAN_BACKUP,
        };
        Self::mark_kt_pending(&mut tx, &hush_core::kt::backup_name(prefix, username)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's backup stored in `slot`, if any.
    pub async fn backup(&self, slot: BackupSlot, username: &str) -> Result<Option<StoredBackup>, StoreError> {
        let row = sqlx::query(slot.select_sql())
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let version: i64 = row.try_get(1)?;
        Ok(Some(StoredBackup {
            auth_key: row.try_get(0)?,
            version: u64::try_from(version)
                .map_err(|_| StoreError::Db(sqlx::Error::Decode("negative backup version in the database".into())))?,
            blob: row.try_get(2)?,
        }))
    }

    /// Counts a failed recovery attempt at `username`'s backup in `slot`: `TooMany` if `max`
    /// failures at that slot were counted since `since` (nothing is counted then), else the
    /// attempt's id. Each slot has its own count.
    pub async fn begin_recovery_attempt(
        &self,
        slot: BackupSlot,
        username: &str,
        now: i64,
        since: i64,
        max: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM recovery_attempts WHERE attempt_at < ?")
            .bind(since)
            .execute(&mut *tx)
            .await?;
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) FROM recovery_attempts WHERE kind = ? AND username = ? AND attempt_at >= ?",
        )
        .bind(slot.attempt_kind())
        .bind(username)
        .bind(since)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if count >= max {
            return Err(StoreError::TooMany(
                "too many failed recovery attempts for this account; try again in an hour",
                60 * 60,
            ));
        }
        let id: i64 = sqlx::query("INSERT INTO recovery_attempts (kind, username, attempt_at) VALUES (?, ?, ?) RETURNING id")
            .bind(slot.attempt_kind())
            .bind(username)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        tx.commit().await?;
        Ok(id)
    }
}

//! The SQL of running the server: invitations, disabling and deleting accounts, devices'
//! last activity, and the figures the operator's commands and the metrics show.

use sqlx::{Row as _, Sqlite, Transaction};

use super::{Store, StoreError};

/// One account as the operator's `hush server users` shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct UserOverview {
    /// The username.
    pub username: String,
    /// Devices not revoked.
    pub devices: u64,
    /// When one of its devices last made a signed request (ms since the epoch, to the
    /// minute), or when it registered if none did since this was recorded.
    pub last_active_ms: i64,
    /// Bytes of its files and unfinished uploads.
    pub storage_bytes: u64,
    /// Whether the operator disabled it.
    pub disabled: bool,
}

/// Figures about the whole server.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ServerStats {
    /// Accounts.
    pub users: u64,
    /// Accounts the operator disabled.
    pub disabled_users: u64,
    /// Devices not revoked.
    pub devices: u64,
    /// Deliveries waiting in inboxes (one per message and recipient device).
    pub messages_queued: u64,
    /// Bytes of finished files plus bytes received of unfinished uploads.
    pub storage_bytes: u64,
}

/// What deleting an account removed, for the caller to finish outside the database.
#[derive(Debug, Default)]
pub struct DeletedUser {
    /// Its devices (their WebSockets close).
    pub devices: Vec<String>,
    /// Its finished files, whose bytes go too.
    pub blobs: Vec<String>,
    /// Its unfinished uploads, whose part files go too.
    pub uploads: Vec<String>,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Stores the hashes of new invitation tokens, valid until `expires_at`.
    pub async fn create_invites(&self, hashes: &[[u8; 32]], expires_at: i64, now: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for h in hashes {
            sqlx::query("INSERT INTO invites (token_hash, created_at, expires_at) VALUES (?, ?, ?)")
                .bind(h.as_slice())
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks the invitation whose token hashes to `hash` used, if it can be.
    pub(super) async fn spend_invite(tx: &mut Transaction<'static, Sqlite>, hash: &[u8; 32], now: i64) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT expires_at, used_at FROM invites WHERE token_hash = ?")
            .bind(hash.as_slice())
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else {
            return Err(StoreError::Denied(
                "this invitation is not valid on this server; check it, or ask the server's operator for a new one".into(),
            ));
        };
        let expires_at: i64 = row.try_get(0)?;
        let used_at: Option<i64> = row.try_get(1)?;
        if used_at.is_some() {
            return Err(StoreError::Denied(
                "this invitation was used already; each invitation creates one account, so ask the server's operator for a new one".into(),
            ));
        }
        if expires_at <= now {
            return Err(StoreError::Denied(
                "this invitation expired; ask the server's operator for a new one".into(),
            ));
        }
        sqlx::query("UPDATE invites SET used_at = ? WHERE token_hash = ?")
            .bind(now)
            .bind(hash.as_slice())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Records that a device made a signed request now (callers do it at most once a
    /// minute per device).
    pub async fn touch_device(&self, device_id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE devices SET last_seen_at = ? WHERE device_id = ?")
            .bind(now)
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Disables or enables an account. Answers its devices not revoked; `NotFound` for an
    /// unknown user.
    pub async fn set_disabled(&self, username: &str, disabled: bool, now: i64) -> Result<Vec<String>, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE users SET disabled_at = CASE WHEN ?1 THEN COALESCE(disabled_at, ?2) END WHERE username = ?3")
            .bind(disabled)
            .bind(now)
            .bind(username)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("there is no user with this name on this server"));
        }
        let devices = sqlx::query("SELECT device_id FROM devices WHERE username = ? AND revoked_at IS NULL")
            .bind(username)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<Vec<String>, _>>()?;
        tx.commit().await?;
        Ok(devices)
    }

    /// Whether the operator disabled this account (`false` for an unknown one).
    pub async fn is_disabled(&self, username: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM users WHERE username = ? AND disabled_at IS NOT NULL")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Whether the operator deleted an account of this name (and none registered since).
    pub async fn is_deleted(&self, username: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "SELECT 1 FROM deleted_users WHERE username = ?1 AND NOT EXISTS (SELECT 1 FROM users WHERE username = ?1)",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// Deletes an account and everything kept for it, in one transaction: its devices
    /// (revoked ones too) and their KeyPackages, group memberships, nonces and inboxes (and
    /// the messages no inbox refers to any more), its link and guardian requests, backups,
    /// recovery attempts, uploads, files and drive. Records the deletion (`deleted_users`)
    /// and marks the name for the next key-directory publish, which publishes the
    /// tombstone. Messages its devices sent that others have not fetched yet stay for
    /// them. `NotFound` for an unknown user.
    pub async fn delete_user(&self, username: &str, now: i64) -> Result<DeletedUser, StoreError> {
        let mut tx = self.write_tx().await?;
        if sqlx::query("SELECT 1 FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound("there is no user with this name on this server"));
        }
        let strings = |rows: Vec<sqlx::sqlite::SqliteRow>| rows.iter().map(|r| r.try_get(0)).collect::<Result<Vec<String>, _>>();
        let all_devices = strings(
            sqlx::query("SELECT device_id FROM devices WHERE username = ?")
                .bind(username)
                .fetch_all(&mut *tx)
                .await?,
        )?;
        let live_devices = strings(
            sqlx::query("SELECT device_id FROM devices WHERE username = ? AND revoked_at IS NULL")
                .bind(username)
                .fetch_all(&mut *tx)
                .await?,
        )?;
        let blobs = strings(sqlx::query("SELECT blob_id FROM blobs WHERE owner = ?").bind(username).fetch_all(&mut *tx).await?)?;
        let uploads = strings(sqlx::query("SELECT upload_id FROM uploads WHERE username = ?").bind(username).fetch_all(&mut *tx).await?)?;
        for device in &all_devices {
            for sql in [
                "DELETE FROM inbox WHERE device_id = ?",
                "DELETE FROM group_members WHERE device_id = ?",
                "DELETE FROM key_packages WHERE device_id = ?",
                "DELETE FROM nonces WHERE device_id = ?",
                "DELETE FROM guardian_shares WHERE device_id = ?",
            ] {
                sqlx::query(sql).bind(device).execute(&mut *tx).await?;
            }
        }
        sqlx::query("DELETE FROM messages WHERE NOT EXISTS (SELECT 1 FROM inbox WHERE inbox.message_id = messages.id)")
            .execute(&mut *tx)
            .await?;
        let drive = format!("drive:{username}");
        for sql in [
            "DELETE FROM space_row_blobs WHERE space = ?",
            "DELETE FROM space_rows WHERE space = ?",
            "DELETE FROM space_state_history WHERE space = ?",
            "DELETE FROM space_states WHERE space = ?",
        ] {
            sqlx::query(sql).bind(&drive).execute(&mut *tx).await?;
        }
        for blob in &blobs {
            sqlx::query("DELETE FROM space_row_blobs WHERE blob_id = ?").bind(blob).execute(&mut *tx).await?;
        }
        for sql in [
            "DELETE FROM guardian_shares WHERE request_id IN (SELECT request_id FROM guardian_requests WHERE username = ?)",
            "DELETE FROM guardian_requests WHERE username = ?",
            "DELETE FROM link_requests WHERE username = ?",
            "DELETE FROM backups WHERE username = ?",
            "DELETE FROM guardian_backups WHERE username = ?",
            "DELETE FROM recovery_attempts WHERE username = ?",
            "DELETE FROM uploads WHERE username = ?",
            "DELETE FROM blobs WHERE owner = ?",
            "DELETE FROM devices WHERE username = ?",
            "DELETE FROM users WHERE username = ?",
        ] {
            sqlx::query(sql).bind(username).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO deleted_users (username, deleted_at) VALUES (?1, ?2) ON CONFLICT (username) DO UPDATE SET deleted_at = ?2")
            .bind(username)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        Self::mark_kt_pending(&mut tx, username).await?;
        tx.commit().await?;
        Ok(DeletedUser { devices: live_devices, blobs, uploads })
    }

    /// Every account, by name.
    pub async fn users_overview(&self) -> Result<Vec<UserOverview>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.username,
                    (SELECT COUNT(*) FROM devices d WHERE d.username = u.username AND d.revoked_at IS NULL),
                    COALESCE((SELECT MAX(d.last_seen_at) FROM devices d WHERE d.username = u.username), u.created_at),
                    (SELECT COALESCE(SUM(size), 0) FROM blobs WHERE owner = u.username)
                      + (SELECT COALESCE(SUM(size), 0) FROM uploads WHERE username = u.username),
                    u.disabled_at IS NOT NULL
             FROM users u ORDER BY u.username",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UserOverview {
                    username: r.try_get(0)?,
                    devices: count(r.try_get(1)?),
                    last_active_ms: r.try_get(2)?,
                    storage_bytes: count(r.try_get(3)?),
                    disabled: r.try_get(4)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Db)
    }

    /// Figures about the whole server.
    pub async fn stats(&self) -> Result<ServerStats, StoreError> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM users),
                    (SELECT COUNT(*) FROM users WHERE disabled_at IS NOT NULL),
                    (SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL),
                    (SELECT COUNT(*) FROM inbox),
                    (SELECT COALESCE(SUM(size), 0) FROM blobs) + (SELECT COALESCE(SUM(received), 0) FROM uploads)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(ServerStats {
            users: count(r.try_get(0)?),
            disabled_users: count(r.try_get(1)?),
            devices: count(r.try_get(2)?),
            messages_queued: count(r.try_get(3)?),
            storage_bytes: count(r.try_get(4)?),
        })
    }
}

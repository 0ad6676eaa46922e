//! What the key-transparency directory publishes: pending names, users' keys, recorded roots.

use sqlx::{Row as _, Sqlite, Transaction};

use super::{Store, StoreError, epoch_from_db, epoch_to_db};

impl Store {
    // ---- key transparency ----

    /// Marks a user whose directory value changed (new user, new device) for the next
    /// key-transparency publish. A later change gets a new id, so a publish that read the
    /// older one does not clear it (see [`Store::kt_clear_pending`]).
    pub(super) async fn mark_kt_pending(tx: &mut Transaction<'static, Sqlite>, username: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT OR REPLACE INTO kt_pending (username) VALUES (?)")
            .bind(username)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Users waiting to be published, as `(pending id, username)`, oldest first.
    pub async fn kt_pending(&self, limit: u32) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query("SELECT id, username FROM kt_pending ORDER BY id LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Db)
    }

    /// Clears these pending marks, unless the user changed again since they were read.
    pub async fn kt_clear_pending(&self, done: &[(i64, String)]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for (id, username) in done {
            sqlx::query("DELETE FROM kt_pending WHERE id = ? AND username = ?")
                .bind(id)
                .bind(username)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What a user's directory value is made of: the identity key and every device that
    /// is not revoked, as `(device_id, public key)`. `None` for an unknown user.
    pub async fn kt_user_keys(&self, username: &str) -> Result<Option<(Vec<u8>, Vec<(String, Vec<u8>)>)>, StoreError> {
        // One read transaction: the key and the devices come from the same snapshot.
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query("SELECT identity_key FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let identity_key: Vec<u8> = row.try_get(0)?;
        let devices = sqlx::query(
            "SELECT device_id, public_key FROM devices WHERE username = ? AND revoked_at IS NULL ORDER BY device_id",
        )
            .bind(username)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        tx.commit().await?;
        Ok(Some((identity_key, devices)))
    }

    /// Records the root hash of a published epoch (a second record of one epoch must
    /// carry the same hash: the directory can't have two roots for an epoch).
    pub async fn kt_record_root(&self, epoch: u64, root_hash: &[u8], now: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let existing = sqlx::query("SELECT root_hash FROM kt_roots WHERE epoch = ?")
            .bind(epoch_to_db(epoch)?)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = existing {
            let stored: Vec<u8> = row.try_get(0)?;
            if stored != root_hash {
                return Err(StoreError::Db(sqlx::Error::Protocol(format!(
                    "the key directory's root for epoch {epoch} differs from the one recorded"
                ))));
            }
            return Ok(());
        }
        sqlx::query("INSERT INTO kt_roots (epoch, root_hash, published_at) VALUES (?, ?, ?)")
            .bind(epoch_to_db(epoch)?)
            .bind(root_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The recorded root hashes of epochs `start..=end`, in order (missing ones are left out).
    pub async fn kt_roots(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let rows = sqlx::query("SELECT epoch, root_hash FROM kt_roots WHERE epoch BETWEEN ? AND ? ORDER BY epoch")
            .bind(epoch_to_db(start)?)
            .bind(epoch_to_db(end)?)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((epoch_from_db(r.try_get(0)?)?, r.try_get(1)?)))
            .collect()
    }
}

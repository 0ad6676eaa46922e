//! Queue limits: what may wait for delivery (per device, per sending user), the time to
//! live of waiting messages, and giving the space of deleted ones back to the file system.
//!
//! The counts come from `inbox_usage` and `sender_usage`, which triggers keep up to date
//! on every insert and delete of `inbox` and `messages` (migration 0013), so that each
//! check is a few point lookups whatever the queues hold.

use hush_core::display::human_bytes;
use sqlx::{Row as _, Sqlite, Transaction};

use crate::limits::QueueLimits;

use super::{Store, StoreError};

/// Messages the sweep deletes per transaction (the write lock is given back in between).
const EXPIRE_BATCH: i64 = 1000;

/// What a message about to be stored must fit in.
pub(super) struct Fit<'a> {
    /// The sending device.
    pub sender: &'a str,
    /// Payload bytes stored (the commit and its Welcome count once each).
    pub stored: u64,
    /// Each recipient device and the payload bytes its inbox gets.
    pub recipients: Vec<(&'a str, u64)>,
}

impl Store {
    /// Refuses a message that would take a recipient device's inbox past its cap
    /// ([`StoreError::QueueFull`], naming the first such device and its user) or the
    /// sender's user past their quota of waiting bytes ([`StoreError::QueueQuota`]).
    /// Runs inside the write transaction that stores the message.
    pub(super) async fn check_queues(
        tx: &mut Transaction<'static, Sqlite>,
        fit: &Fit<'_>,
        limits: &QueueLimits,
    ) -> Result<(), StoreError> {
        for (device_id, bytes) in &fit.recipients {
            let row = sqlx::query("SELECT items, bytes FROM inbox_usage WHERE device_id = ?")
                .bind(device_id)
                .fetch_optional(&mut **tx)
                .await?;
            let (items, held) = match row {
                Some(r) => (count(r.try_get(0)?), count(r.try_get(1)?)),
                None => (0, 0),
            };
            let waiting = if items.saturating_add(1) > limits.max_items {
                format!("{items} undelivered messages")
            } else if held.saturating_add(*bytes) > limits.max_bytes {
                format!("{} of undelivered messages", human_bytes(held))
            } else {
                continue;
            };
            let username: String = sqlx::query("SELECT username FROM devices WHERE device_id = ?")
                .bind(device_id)
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?
                .unwrap_or_else(|| "a user".to_owned());
            return Err(StoreError::QueueFull { username, device_id: (*device_id).to_owned(), waiting });
        }
        let used: i64 = sqlx::query(
            "SELECT COALESCE(SUM(u.bytes), 0) FROM sender_usage u
             JOIN devices d ON d.device_id = u.device_id
             WHERE d.username = (SELECT username FROM devices WHERE device_id = ?)",
        )
        .bind(fit.sender)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
        let used = count(used);
        if used.saturating_add(fit.stored) > limits.sender_quota_bytes {
            return Err(StoreError::QueueQuota { needed: fit.stored, used, quota: limits.sender_quota_bytes });
        }
        Ok(())
    }

    /// Deletes every message that arrived before `before` (unix ms) with its inbox rows, in
    /// batches; returns how many messages went.
    pub async fn expire_messages(&self, before: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let mut tx = self.write_tx().await?;
            sqlx::query(
                "DELETE FROM inbox WHERE message_id IN
                 (SELECT id FROM messages WHERE created_at < ?1 ORDER BY created_at, id LIMIT ?2)",
            )
            .bind(before)
            .bind(EXPIRE_BATCH)
            .execute(&mut *tx)
            .await?;
            let gone = sqlx::query(
                "DELETE FROM messages WHERE id IN
                 (SELECT id FROM messages WHERE created_at < ?1 ORDER BY created_at, id LIMIT ?2)",
            )
            .bind(before)
            .bind(EXPIRE_BATCH)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            total += gone;
            if gone < u64::try_from(EXPIRE_BATCH).unwrap_or(u64::MAX) {
                return Ok(total);
            }
        }
    }

    /// Gives the database file's free pages back to the file system (incremental vacuum,
    /// then a checkpoint that writes the shorter file and empties the WAL); returns the
    /// pages freed.
    pub async fn reclaim_space(&self) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let free: i64 = sqlx::query("PRAGMA freelist_count").fetch_one(&mut *conn).await?.try_get(0)?;
        if free == 0 {
            return Ok(0);
        }
        sqlx::query("PRAGMA incremental_vacuum").execute(&mut *conn).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut *conn).await?;
        Ok(free)
    }

    /// Makes sure the database can give space back: a database made before incremental
    /// vacuum was turned on is converted once, with a full `VACUUM`.
    pub(super) async fn reclaim_setup(&self) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let mode: i64 = sqlx::query("PRAGMA auto_vacuum").fetch_one(&mut *conn).await?.try_get(0)?;
        // 2 is INCREMENTAL.
        if mode != 2 {
            tracing::info!("turning on incremental vacuum: rewriting the database once");
            sqlx::query("PRAGMA auto_vacuum = INCREMENTAL").execute(&mut *conn).await?;
            sqlx::query("VACUUM").execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// A count from the database (never negative; read as 0 if it were).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

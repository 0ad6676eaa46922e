//! The SQL of restores from a backup (see `crate::backup`).

use sqlx::Row as _;

use super::Store;

/// One restore, as `GET /v1/kt/info` lists it.
#[derive(Debug, Clone)]
pub struct RestoreRow {
    /// Counts restores from 1.
    pub generation: u64,
    /// The backup's newest directory epoch.
    pub epoch: u64,
    /// When the backup was taken, unix ms.
    pub backup_taken_at: i64,
    /// When it was restored, unix ms.
    pub restored_at: i64,
}

impl Store {
    /// Records a restore of a backup taken at `backup_taken_at` whose directory was at
    /// `epoch`, in one transaction with what it implies: one-time KeyPackages are
    /// forgotten (some were handed out after the backup, and their devices deleted the
    /// keys; each device's last-resort package remains), and every conversation accepts
    /// its next commit at the epoch its members reached.
    pub async fn record_restore(&self, epoch: u64, backup_taken_at: i64, restored_at: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO restores (epoch, backup_taken_at, restored_at) VALUES (?, ?, ?)")
            .bind(i64::try_from(epoch).unwrap_or(i64::MAX))
            .bind(backup_taken_at)
            .bind(restored_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM key_packages WHERE last_resort = 0").execute(&mut *tx).await?;
        sqlx::query("UPDATE mls_groups SET resync = 1").execute(&mut *tx).await?;
        tx.commit().await
    }

    /// Whether the group's epoch was lost in a restore and no commit has been taken since.
    pub(super) async fn resyncing(tx: &mut sqlx::SqliteConnection, group_id: &[u8]) -> Result<bool, sqlx::Error> {
        let flag: Option<i64> = sqlx::query("SELECT resync FROM mls_groups WHERE group_id = ?")
            .bind(group_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        Ok(flag.unwrap_or(0) != 0)
    }

    /// Every restore, oldest first.
    pub async fn restores(&self) -> Result<Vec<RestoreRow>, sqlx::Error> {
        let rows = sqlx::query("SELECT generation, epoch, backup_taken_at, restored_at FROM restores ORDER BY generation")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RestoreRow {
                    generation: u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                    epoch: u64::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                    backup_taken_at: r.try_get(2)?,
                    restored_at: r.try_get(3)?,
                })
            })
            .collect()
    }
}

//! The schema migrations (`crates/hush-server/migrations/*.sql`) and their runner.
//!
//! The runner keeps its own bookkeeping table, `schema_version`, rather than sqlx's
//! `_sqlx_migrations`: databases made by earlier servers carry it, and must keep working.

use sqlx::Row as _;

use super::Store;

/// Schema migrations, applied in order; the index + 1 is the schema version.
/// Never edit one that has shipped: append a new one.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_core.sql"),
    include_str!("../../migrations/0002_link_requests.sql"),
    include_str!("../../migrations/0003_key_directory.sql"),
    include_str!("../../migrations/0004_revocation_and_backups.sql"),
    include_str!("../../migrations/0005_guardian_recovery.sql"),
    include_str!("../../migrations/0006_link_requests_v2.sql"),
    include_str!("../../migrations/0007_files.sql"),
    include_str!("../../migrations/0008_kt_pending_any_name.sql"),
    include_str!("../../migrations/0009_space_state_history.sql"),
    include_str!("../../migrations/0010_last_commit.sql"),
    include_str!("../../migrations/0011_operator.sql"),
    include_str!("../../migrations/0012_restores.sql"),
    include_str!("../../migrations/0013_key_package_claims.sql"),
    include_str!("../../migrations/0014_queues.sql"),
];

impl Store {
    pub(super) async fn migrate(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            .execute(&mut *tx)
            .await?;
        let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if current > known {
            return Err(sqlx::Error::Configuration(
                format!(
                    "the database has schema version {current}, newer than this server knows ({known}); \
                     run a newer hush-server"
                )
                .into(),
            ));
        }
        for (version, sql) in (1_i64..).zip(MIGRATIONS.iter()) {
            if version <= current {
                continue;
            }
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
                .bind(version)
                .execute(&mut *tx)
                .await?;
            tracing::info!(version, "applied database migration");
        }
        tx.commit().await
    }
}

//! Everything the server keeps, and every SQL statement it runs.
//!
//! The store knows nothing of HTTP or MLS: callers validate what they hand it, and it
//! answers with plain rows or a [`StoreError`] that says which rule a write broke.
//! All SQL lives in this module (one file per concern, the schema in
//! `crates/hush-server/migrations/*.sql`, see [`migrations`]) so that a PostgreSQL store
//! can be added beside it and run against the same tests.
//!
//! Durability: the database runs in WAL mode with `synchronous=FULL`, so a write is on disk
//! when its transaction's `commit` returns; handlers only answer 2xx after that. Every
//! transaction that writes starts with `BEGIN IMMEDIATE`, which takes SQLite's single write
//! lock up front: two writers never both read the old state and then both write (no lost
//! update), and none fails half-way with `SQLITE_BUSY` on upgrading a read lock.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

mod accounts;
mod admin;
mod auth;
mod backups;
mod files;
mod groups;
mod guardians;
mod inbox;
mod key_packages;
mod kt;
mod links;
mod migrations;
mod queues;
mod restores;

pub use accounts::NewDevice;
pub use admin::{ServerStats, UserOverview};
pub use backups::{BackupSlot, NewBackup};
pub(crate) use files::is_lower_hex;
pub use files::{NewUpload, SpaceChange, SpaceName, UploadRow};
pub use groups::{Delivered, NewCommit};
pub use guardians::NewGuardianRequest;
pub use links::NewLink;

/// Name of the database file inside the data directory.
pub const DATABASE_FILE: &str = "hush.db";

/// Why a store operation did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Registering a username that exists.
    #[error("this username is taken")]
    UsernameTaken,
    /// Creating something that exists already.
    #[error("{0}")]
    Conflict(&'static str),
    /// The named thing does not exist.
    #[error("{0}")]
    NotFound(&'static str),
    /// The caller may not touch this (or it does not exist: the two look the same).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The calling device is not a member of the group (or the group does not exist).
    #[error("this device is not a member of this conversation")]
    NotMember,
    /// A message or commit made for another epoch than the group's current one.
    #[error("the message is for epoch {sent}, the conversation is at epoch {current}")]
    StaleEpoch {
        /// The epoch the message was made in.
        sent: u64,
        /// The group's epoch.
        current: u64,
    },
    /// The request names devices in a way that contradicts the server's view.
    #[error("{0}")]
    Invalid(String),
    /// Too many of something pending; the second field is how many seconds until trying
    /// again may work (the `Retry-After` of the 429).
    #[error("{0}")]
    TooMany(&'static str, u64),
    /// The caller may not do this; the sentence says why.
    #[error("{0}")]
    Denied(String),
    /// An upload would take its user past their storage quota.
    #[error("this upload needs {needed} bytes, {used} of the quota of {quota} bytes are used")]
    Quota {
        /// The upload's size.
        needed: u64,
        /// Bytes the user holds already.
        used: u64,
        /// The user's quota.
        quota: u64,
    },
    /// A recipient device's inbox holds as much as the server keeps for one device.
    #[error("{username}'s device {device_id} has {waiting} waiting, the most the server keeps for one device")]
    QueueFull {
        /// The device's user.
        username: String,
        /// The device.
        device_id: String,
        /// What it has waiting, in words ("10000 undelivered messages", "256.0 MiB of undelivered messages").
        waiting: String,
    },
    /// The sender's devices have as many bytes waiting in others' inboxes as one user may.
    #[error("this message needs {needed} bytes, and {used} of the {quota} bytes your messages may take while they wait for delivery are used")]
    QueueQuota {
        /// The message's size (with its Welcome, for a commit).
        needed: u64,
        /// Bytes of this user's messages waiting now.
        used: u64,
        /// The quota.
        quota: u64,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

fn epoch_from_db(epoch: i64) -> Result<u64, StoreError> {
    u64::try_from(epoch)
        .map_err(|_| StoreError::Db(sqlx::Error::Decode("negative epoch in the database".into())))
}

fn epoch_to_db(epoch: u64) -> Result<i64, StoreError> {
    // An epoch this large can't be a real group's; refuse it rather than wrap.
    i64::try_from(epoch).map_err(|_| StoreError::Invalid(format!("epoch {epoch} is out of range")))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// The server's database.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and brings its schema up
    /// to date.
    pub async fn open_sqlite(path: &Path) -> Result<Store, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Only takes effect on a new database; `reclaim_setup` converts an old one.
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let store = Store { pool };
        store.migrate().await?;
        store.reclaim_setup().await?;
        Ok(store)
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The connection pool (akd's storage shares the database file).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

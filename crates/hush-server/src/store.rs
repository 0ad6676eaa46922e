//! Everything the server keeps, and every SQL statement it runs.
//!
//! The store knows nothing of HTTP or MLS: callers validate what they hand it, and it
//! answers with plain rows or a [`StoreError`] that says which rule a write broke.
//! All SQL lives in this module so that a PostgreSQL store can be added beside it and run
//! against the same tests.
//!
//! Durability: the database runs in WAL mode with `synchronous=FULL`, so a write is on disk
//! when its transaction's `commit` returns; handlers only answer 2xx after that. Every
//! transaction that writes starts with `BEGIN IMMEDIATE`, which takes SQLite's single write
//! lock up front: two writers never both read the old state and then both write (no lost
//! update), and none fails half-way with `SQLITE_BUSY` on upgrading a read lock.

use std::path::Path;
use std::time::Duration;

use hush_proto::InboxKind;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row as _, Sqlite, Transaction};

mod admin;
mod files;
mod restores;

pub use admin::{ServerStats, UserOverview};
pub(crate) use files::is_lower_hex;
pub use files::{NewUpload, SpaceChange, SpaceName, UploadRow};

/// Schema migrations, applied in order; the index + 1 is the schema version.
/// Never edit one that has shipped: append a new one.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE users (
    username     TEXT PRIMARY KEY,
    identity_key BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE TABLE devices (
    device_id   TEXT PRIMARY KEY,
    username    TEXT NOT NULL REFERENCES users(username),
    public_key  BLOB NOT NULL UNIQUE,
    certificate BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX devices_by_user ON devices(username);
CREATE TABLE key_packages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   TEXT NOT NULL REFERENCES devices(device_id),
    data        BLOB NOT NULL,
    last_resort INTEGER NOT NULL
);
CREATE INDEX key_packages_by_device ON key_packages(device_id, last_resort, id);
CREATE TABLE mls_groups (
    group_id   BLOB PRIMARY KEY,
    epoch      INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE group_members (
    group_id  BLOB NOT NULL REFERENCES mls_groups(group_id),
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    PRIMARY KEY (group_id, device_id)
);
CREATE INDEX group_members_by_device ON group_members(device_id);
CREATE TABLE messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id      BLOB REFERENCES mls_groups(group_id),
    sender_device TEXT,
    kind          TEXT NOT NULL,
    payload       BLOB NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE inbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id  TEXT NOT NULL REFERENCES devices(device_id),
    message_id INTEGER NOT NULL REFERENCES messages(id)
);
CREATE INDEX inbox_by_device ON inbox(device_id, id);
CREATE INDEX inbox_by_message ON inbox(message_id);
CREATE TABLE nonces (
    device_id  TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
CREATE INDEX nonces_by_expiry ON nonces(expires_at);
"#, r#"
CREATE TABLE link_requests (
    link_id    TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users(username),
    device_key BLOB NOT NULL,
    hpke_key   BLOB NOT NULL,
    sealed     BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX link_requests_by_user ON link_requests(username, expires_at);
"#, r#"
CREATE TABLE akd_records (
    key   BLOB PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE akd_value_states (
    username  BLOB NOT NULL,
    epoch     INTEGER NOT NULL,
    version   INTEGER NOT NULL,
    label_val BLOB NOT NULL,
    label_len INTEGER NOT NULL,
    value     BLOB NOT NULL,
    PRIMARY KEY (username, epoch)
) WITHOUT ROWID;
CREATE INDEX akd_value_states_by_version ON akd_value_states(username, version);
CREATE TABLE kt_roots (
    epoch        INTEGER PRIMARY KEY,
    root_hash    BLOB NOT NULL,
    published_at INTEGER NOT NULL
);
CREATE TABLE kt_pending (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE REFERENCES users(username)
);
INSERT INTO kt_pending (username) SELECT username FROM users ORDER BY username;
"#, r#"
ALTER TABLE devices ADD COLUMN revoked_at INTEGER;
CREATE TABLE backups (
    username   TEXT PRIMARY KEY REFERENCES users(username),
    auth_key   BLOB NOT NULL,
    version    INTEGER NOT NULL,
    blob       BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE recovery_attempts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    username   TEXT NOT NULL,
    attempt_at INTEGER NOT NULL
);
CREATE INDEX recovery_attempts_by_user ON recovery_attempts(username, attempt_at);
CREATE INDEX recovery_attempts_by_time ON recovery_attempts(attempt_at);
"#, r#"
CREATE TABLE guardian_backups (
    username   TEXT PRIMARY KEY REFERENCES users(username),
    auth_key   BLOB NOT NULL,
    version    INTEGER NOT NULL,
    blob       BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
ALTER TABLE recovery_attempts ADD COLUMN kind TEXT NOT NULL DEFAULT 'phrase';
DROP INDEX recovery_attempts_by_user;
CREATE INDEX recovery_attempts_by_user ON recovery_attempts(kind, username, attempt_at);
CREATE TABLE guardian_requests (
    request_id TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users(username),
    hpke_key   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX guardian_requests_by_user ON guardian_requests(username, expires_at);
CREATE INDEX guardian_requests_by_expiry ON guardian_requests(expires_at);
CREATE TABLE guardian_shares (
    request_id TEXT NOT NULL REFERENCES guardian_requests(request_id),
    device_id  TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (request_id, device_id)
);
"#, r#"
DROP TABLE link_requests;
CREATE TABLE link_requests (
    link_id        TEXT PRIMARY KEY,
    username       TEXT NOT NULL REFERENCES users(username),
    selector       TEXT NOT NULL,
    pake           BLOB NOT NULL,
    answer_pake    BLOB,
    answer_confirm BLOB,
    device_key     BLOB,
    device_mac     BLOB,
    sealed         BLOB,
    failed         INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX link_requests_by_user ON link_requests(username, expires_at);
"#, r#"
CREATE TABLE uploads (
    upload_id  TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users(username),
    device_id  TEXT NOT NULL,
    space      TEXT NOT NULL,
    size       INTEGER NOT NULL,
    received   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX uploads_by_user ON uploads(username);
CREATE INDEX uploads_by_time ON uploads(created_at);
CREATE TABLE blobs (
    blob_id    TEXT PRIMARY KEY,
    owner      TEXT NOT NULL REFERENCES users(username),
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    linked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX blobs_by_owner ON blobs(owner);
CREATE INDEX blobs_unlinked ON blobs(linked, created_at);
CREATE TABLE space_states (
    space      TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    state      BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE space_rows (
    space    TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    row      BLOB NOT NULL,
    PRIMARY KEY (space, entry_id)
);
CREATE TABLE space_row_blobs (
    space    TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    blob_id  TEXT NOT NULL,
    PRIMARY KEY (space, entry_id, blob_id)
);
CREATE INDEX space_row_blobs_by_blob ON space_row_blobs(blob_id);
"#, r#"
-- The key directory also commits to account backups (`backup:USER`,
-- `guardian-backup:USER`), which are not usernames: kt_pending names any directory entry.
CREATE TABLE kt_pending_new (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE
);
INSERT INTO kt_pending_new (id, username) SELECT id, username FROM kt_pending;
DROP TABLE kt_pending;
ALTER TABLE kt_pending_new RENAME TO kt_pending;
"#, r#"
-- Every signed state of every space, so that a client can check the whole chain from the
-- version it saw last to the current one (a fork two or more versions ahead is caught).
CREATE TABLE space_state_history (
    space   TEXT NOT NULL,
    version INTEGER NOT NULL,
    state   BLOB NOT NULL,
    PRIMARY KEY (space, version)
);
INSERT INTO space_state_history (space, version, state) SELECT space, version, state FROM space_states;
"#, r#"
-- The SHA-256 of the commit that moved each group to its current epoch, so that a committer
-- whose answer was lost can post the same commit again and be told it was taken.
ALTER TABLE mls_groups ADD COLUMN last_commit TEXT;
"#, r#"
-- Running the server: invitations (only the SHA-256 of each token), accounts the operator
-- disabled or deleted, and when each device last made a signed request (to the minute).
CREATE TABLE invites (
    token_hash BLOB PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE devices ADD COLUMN last_seen_at INTEGER;
CREATE TABLE deleted_users (
    username   TEXT PRIMARY KEY,
    deleted_at INTEGER NOT NULL
);
"#, r#"
-- Every restore of this server from a backup (see backup.rs), listed to clients by
-- GET /v1/kt/info so that they follow the directory back to the backup's epoch.
CREATE TABLE restores (
    generation      INTEGER PRIMARY KEY AUTOINCREMENT,
    epoch           INTEGER NOT NULL,
    backup_taken_at INTEGER NOT NULL,
    restored_at     INTEGER NOT NULL
);
-- 1 for a conversation whose epoch the server lost in a restore: the next commit is taken
-- at whatever epoch its members reached, and sets it back to 0.
ALTER TABLE mls_groups ADD COLUMN resync INTEGER NOT NULL DEFAULT 0;
"#];

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

/// A new guardian request, already validated.
#[derive(Debug, Clone, Copy)]
pub struct NewGuardianRequest<'a> {
    /// Random id (the capability to fetch the shares).
    pub request_id: &'a str,
    /// The account being recovered.
    pub username: &'a str,
    /// The new device's HPKE key.
    pub hpke_key: &'a [u8],
    /// When it expires, unix ms.
    pub expires_at: i64,
}

/// An unexpired guardian request.
#[derive(Debug, Clone)]
pub struct GuardianRequestRow {
    /// Its id.
    pub request_id: String,
    /// The new device's HPKE key.
    pub hpke_key: Vec<u8>,
    /// When it was made.
    pub created_at: i64,
}

/// A new device-link request, already validated.
#[derive(Debug, Clone, Copy)]
pub struct NewLink<'a> {
    /// Random id (the capability to follow the request).
    pub link_id: &'a str,
    /// The account.
    pub username: &'a str,
    /// The public half of the code.
    pub selector: &'a str,
    /// The new device's SPAKE2 message.
    pub pake: &'a [u8],
    /// When it expires, unix ms.
    pub expires_at: i64,
}

/// A device-link request waiting for an answer.
#[derive(Debug, Clone)]
pub struct LinkRow {
    /// Its id.
    pub link_id: String,
    /// The public half of the code.
    pub selector: String,
    /// The new device's SPAKE2 message.
    pub pake: Vec<u8>,
    /// When it was made.
    pub created_at: i64,
}

/// Everything posted so far for an unexpired device-link request.
#[derive(Debug, Clone)]
pub struct LinkState {
    /// The existing device's SPAKE2 message and key confirmation, once answered.
    pub answer: Option<(Vec<u8>, Vec<u8>)>,
    /// The new device's signing key and its MAC, once posted.
    pub device: Option<(Vec<u8>, Vec<u8>)>,
    /// The sealed account bundle, once approved.
    pub sealed: Option<Vec<u8>>,
    /// Whether either side gave up on it.
    pub failed: bool,
}

/// The steps of a link request taken so far, read inside a write transaction.
struct LinkProgress {
    username: String,
    answered: bool,
    has_device: bool,
    sealed: bool,
    failed: bool,
}

/// The one answer for a link request that does not exist, expired, or belongs to another
/// account (the three look the same to the caller).
const NO_SUCH_LINK: &str = "no such link request, or it expired";
/// A link request either side gave up on.
const LINK_FAILED: &str = "this link request failed; start again on the new device";

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
    /// Too many of something pending.
    #[error("{0}")]
    TooMany(&'static str),
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
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

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

/// A user and their devices.
pub struct StoredUser {
    /// The username.
    pub username: String,
    /// The identity key.
    pub identity_key: Vec<u8>,
    /// `(device_id, certificate)`, oldest first.
    pub devices: Vec<(String, Vec<u8>)>,
}

/// The server's routing view of a group.
pub struct GroupView {
    /// Current epoch.
    pub epoch: u64,
    /// Member device ids, sorted.
    pub devices: Vec<String>,
}

/// A commit to order and deliver; the caller has read its framing.
pub struct NewCommit<'a> {
    /// The group.
    pub group_id: &'a [u8],
    /// The committing device.
    pub sender: &'a str,
    /// The epoch the commit was made in.
    pub epoch: u64,
    /// The commit bytes.
    pub commit: &'a [u8],
    /// The Welcome for added devices.
    pub welcome: Option<&'a [u8]>,
    /// Devices the commit adds.
    pub added: &'a [String],
    /// Devices the commit removes.
    pub removed: &'a [String],
}

/// A message that was stored and put into inboxes.
#[derive(Debug)]
pub struct Delivered {
    /// The message's id.
    pub message_id: i64,
    /// The group's epoch after it.
    pub epoch: u64,
    /// Every device that got a new inbox item (to be woken up).
    pub recipients: Vec<String>,
}

/// One inbox item joined with its message.
pub struct InboxRow {
    /// Inbox id.
    pub id: i64,
    /// What it is.
    pub kind: InboxKind,
    /// The group, if any.
    pub group_id: Option<Vec<u8>>,
    /// Sending device, if any.
    pub sender_device: Option<String>,
    /// Payload.
    pub payload: Vec<u8>,
    /// When the server stored the message, unix ms.
    pub received_at: i64,
}

fn kind_str(kind: InboxKind) -> &'static str {
    match kind {
        InboxKind::Message => "message",
        InboxKind::Welcome => "welcome",
        InboxKind::DeviceAdded => "device_added",
        InboxKind::DeviceRevoked => "device_revoked",
    }
}

fn kind_from_str(s: &str) -> Result<InboxKind, StoreError> {
    match s {
        "message" => Ok(InboxKind::Message),
        "welcome" => Ok(InboxKind::Welcome),
        "device_added" => Ok(InboxKind::DeviceAdded),
        "device_revoked" => Ok(InboxKind::DeviceRevoked),
        other => Err(StoreError::Db(sqlx::Error::Decode(
            format!("unknown message kind {other:?} in the database").into(),
        ))),
    }
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
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let store = Store { pool };
        store.migrate().await?;
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

    async fn migrate(&self) -> Result<(), sqlx::Error> {
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

    // ---- directory ----

    async fn insert_device(
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

    async fn insert_key_packages(
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

    /// Like [`Store::register`], spending the invitation whose token hashes to `invite` in
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

    // ---- key transparency ----

    /// Marks a user whose directory value changed (new user, new device) for the next
    /// key-transparency publish. A later change gets a new id, so a publish that read the
    /// older one does not clear it (see [`Store::kt_clear_pending`]).
    async fn mark_kt_pending(tx: &mut Transaction<'static, Sqlite>, username: &str) -> Result<(), StoreError> {
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

    /// How many single-use KeyPackages a device has left.
    pub async fn key_package_count(&self, device_id: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM key_packages WHERE device_id = ? AND last_resort = 0")
            .bind(device_id)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
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
            if !last_resort {
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

    // ---- groups and messages ----

    /// Creates a group at epoch 0 with one member.
    pub async fn create_group(&self, group_id: &[u8], device_id: &str, now: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO mls_groups (group_id, epoch, created_at) VALUES (?, 0, ?)")
            .bind(group_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("a conversation with this id exists already")
                } else {
                    StoreError::Db(e)
                }
            })?;
        sqlx::query("INSERT INTO group_members (group_id, device_id) VALUES (?, ?)")
            .bind(group_id)
            .bind(device_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The group as `device_id` may see it: `NotMember` if it is not a member or the group
    /// does not exist (the two look the same).
    pub async fn group_for_member(&self, group_id: &[u8], device_id: &str) -> Result<GroupView, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let view = Self::group_view(&mut conn, group_id).await?;
        match view {
            Some(v) if v.devices.iter().any(|d| d == device_id) => Ok(v),
            _ => Err(StoreError::NotMember),
        }
    }

    async fn group_view(conn: &mut sqlx::SqliteConnection, group_id: &[u8]) -> Result<Option<GroupView>, StoreError> {
        let Some(row) = sqlx::query("SELECT epoch FROM mls_groups WHERE group_id = ?")
            .bind(group_id)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let epoch = epoch_from_db(row.try_get(0)?)?;
        let devices = sqlx::query("SELECT device_id FROM group_members WHERE group_id = ? ORDER BY device_id")
            .bind(group_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        Ok(Some(GroupView { epoch, devices }))
    }

    async fn insert_message(
        tx: &mut Transaction<'static, Sqlite>,
        group_id: Option<&[u8]>,
        sender: Option<&str>,
        kind: InboxKind,
        payload: &[u8],
        recipients: &[String],
        now: i64,
    ) -> Result<i64, StoreError> {
        let message_id: i64 = sqlx::query(
            "INSERT INTO messages (group_id, sender_device, kind, payload, created_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(group_id)
        .bind(sender)
        .bind(kind_str(kind))
        .bind(payload)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
        for device_id in recipients {
            sqlx::query("INSERT INTO inbox (device_id, message_id) VALUES (?, ?)")
                .bind(device_id)
                .bind(message_id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(message_id)
    }

    /// Orders a commit: accepted only if it is for the group's current epoch (the first
    /// commit for an epoch wins). Delivers it to every member but the sender (removed ones
    /// included), the Welcome to the added devices, updates the members and moves the
    /// group to the next epoch — in one transaction.
    pub async fn commit(&self, c: &NewCommit<'_>, now: i64) -> Result<Delivered, StoreError> {
        let mut tx = self.write_tx().await?;
        let view = match Self::group_view(&mut tx, c.group_id).await? {
            Some(v) if v.devices.iter().any(|d| d == c.sender) => v,
            _ => return Err(StoreError::NotMember),
        };
        // After a restore the server's epoch may be behind the one the members reached
        // (commits taken after the backup are gone): the first commit from a member decides.
        let base_epoch = if c.epoch > view.epoch && Self::resyncing(&mut tx, c.group_id).await? { c.epoch } else { view.epoch };
        if c.epoch != base_epoch {
            // The same commit posted again (its sender never got our answer): it was taken.
            if c.epoch.checked_add(1) == Some(view.epoch) {
                let last: Option<String> = sqlx::query("SELECT last_commit FROM mls_groups WHERE group_id = ?")
                    .bind(c.group_id)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                if last.as_deref() == Some(hush_core::files::sha256_hex(c.commit).as_str()) {
                    return Ok(Delivered { message_id: 0, epoch: view.epoch, recipients: Vec::new() });
                }
            }
            return Err(StoreError::StaleEpoch {
                sent: c.epoch,
                current: view.epoch,
            });
        }
        // A removed device the server no longer routes to (deleted, or never routed) is
        // fine: the list is routing only, and the MLS group may still hold its leaf.
        for added in c.added {
            if view.devices.contains(added) && !c.removed.contains(added) {
                return Err(StoreError::Invalid(format!(
                    "device {added} is already a member of this conversation"
                )));
            }
            let exists = sqlx::query("SELECT 1 FROM devices WHERE device_id = ? AND revoked_at IS NULL")
                .bind(added)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !exists {
                return Err(StoreError::Invalid(format!("there is no device {added}")));
            }
        }

        // The conditional update is the ordering point: with the write lock held it can't
        // fail, but it makes "exactly one commit per epoch" hold by itself.
        let new_epoch = base_epoch
            .checked_add(1)
            .ok_or_else(|| StoreError::Invalid("the conversation is at its last epoch".into()))?;
        let moved = sqlx::query("UPDATE mls_groups SET epoch = ?, last_commit = ?, resync = 0 WHERE group_id = ? AND epoch = ?")
            .bind(epoch_to_db(new_epoch)?)
            .bind(hush_core::files::sha256_hex(c.commit))
            .bind(c.group_id)
            .bind(epoch_to_db(view.epoch)?)
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::StaleEpoch {
                sent: c.epoch,
                current: new_epoch,
            });
        }

        let mut recipients: Vec<String> = view.devices.iter().filter(|d| *d != c.sender).cloned().collect();
        let message_id = Self::insert_message(
            &mut tx,
            Some(c.group_id),
            Some(c.sender),
            InboxKind::Message,
            c.commit,
            &recipients,
            now,
        )
        .await?;
        if let Some(welcome) = c.welcome {
            Self::insert_message(
                &mut tx,
                Some(c.group_id),
                Some(c.sender),
                InboxKind::Welcome,
                welcome,
                c.added,
                now,
            )
            .await?;
        }
        for removed in c.removed {
            sqlx::query("DELETE FROM group_members WHERE group_id = ? AND device_id = ?")
                .bind(c.group_id)
                .bind(removed)
                .execute(&mut *tx)
                .await?;
        }
        for added in c.added {
            sqlx::query("INSERT INTO group_members (group_id, device_id) VALUES (?, ?)")
                .bind(c.group_id)
                .bind(added)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        for added in c.added {
            if !recipients.contains(added) {
                recipients.push(added.clone());
            }
        }
        Ok(Delivered {
            message_id,
            epoch: new_epoch,
            recipients,
        })
    }

    /// Stores an application message or proposal made in the group's current epoch and
    /// delivers it to every member but the sender.
    pub async fn post_message(
        &self,
        group_id: &[u8],
        sender: &str,
        epoch: u64,
        message: &[u8],
        now: i64,
    ) -> Result<Delivered, StoreError> {
        let mut tx = self.write_tx().await?;
        let view = match Self::group_view(&mut tx, group_id).await? {
            Some(v) if v.devices.iter().any(|d| d == sender) => v,
            _ => return Err(StoreError::NotMember),
        };
        if epoch > view.epoch && Self::resyncing(&mut tx, group_id).await? {
            // Restored from a backup: the members are further on than the server's copy.
            sqlx::query("UPDATE mls_groups SET epoch = ? WHERE group_id = ?")
                .bind(epoch_to_db(epoch)?)
                .bind(group_id)
                .execute(&mut *tx)
                .await?;
        } else if epoch != view.epoch {
            return Err(StoreError::StaleEpoch {
                sent: epoch,
                current: view.epoch,
            });
        }
        let recipients: Vec<String> = view.devices.into_iter().filter(|d| d != sender).collect();
        let message_id = Self::insert_message(
            &mut tx,
            Some(group_id),
            Some(sender),
            InboxKind::Message,
            message,
            &recipients,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Delivered {
            message_id,
            epoch,
            recipients,
        })
    }

    // ---- inbox ----

    /// A device's inbox items with an id above `after`, oldest first.
    pub async fn inbox(&self, device_id: &str, after: i64, limit: u32) -> Result<Vec<InboxRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.id, m.kind, m.group_id, m.sender_device, m.payload, m.created_at
             FROM inbox i JOIN messages m ON m.id = i.message_id
             WHERE i.device_id = ? AND i.id > ?
             ORDER BY i.id ASC LIMIT ?",
        )
        .bind(device_id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(1)?;
                Ok(InboxRow {
                    id: r.try_get(0)?,
                    kind: kind_from_str(&kind)?,
                    group_id: r.try_get(2)?,
                    sender_device: r.try_get(3)?,
                    payload: r.try_get(4)?,
                    received_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    // ---- device linking (relay only: the server sees opaque SPAKE2 messages and MACs) ----

    /// Records a link request for an existing user (`NotFound` otherwise), after deleting
    /// expired ones. At most `max_pending` unexpired, unfinished (not failed, not sealed)
    /// requests per user (`TooMany`); the selector must not be used by another unexpired
    /// request of the user (`Conflict`).
    pub async fn create_link(&self, link: &NewLink<'_>, now: i64, max_pending: i64) -> Result<(), StoreError> {
        let NewLink { link_id, username, selector, pake, expires_at } = *link;
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM link_requests WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let exists = sqlx::query("SELECT 1 FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::NotFound("there is no such user"));
        }
        let pending: i64 = sqlx::query(
            "SELECT COUNT(*) FROM link_requests \
             WHERE username = ? AND expires_at > ? AND failed = 0 AND sealed IS NULL",
        )
        .bind(username)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if pending >= max_pending {
            return Err(StoreError::TooMany(
                "too many devices are waiting to be linked to this account; try again in 10 minutes",
            ));
        }
        let taken = sqlx::query("SELECT 1 FROM link_requests WHERE username = ? AND selector = ? AND expires_at > ?")
            .bind(username)
            .bind(selector)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Err(StoreError::Conflict(
                "another link request of this account uses this code; make a new code",
            ));
        }
        sqlx::query(
            "INSERT INTO link_requests (link_id, username, selector, pake, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(link_id)
        .bind(username)
        .bind(selector)
        .bind(pake)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Unexpired link requests of a user that were neither answered nor failed, oldest first.
    pub async fn pending_links(&self, username: &str, now: i64) -> Result<Vec<LinkRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT link_id, selector, pake, created_at FROM link_requests \
             WHERE username = ? AND expires_at > ? AND answer_pake IS NULL AND failed = 0 \
             ORDER BY created_at, link_id",
        )
        .bind(username)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(LinkRow {
                    link_id: r.try_get(0)?,
                    selector: r.try_get(1)?,
                    pake: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// The progress of an unexpired link request, inside a write transaction.
    async fn link_progress(
        tx: &mut Transaction<'static, Sqlite>,
        link_id: &str,
        now: i64,
    ) -> Result<Option<LinkProgress>, StoreError> {
        let row = sqlx::query(
            "SELECT username, answer_pake IS NOT NULL, device_key IS NOT NULL, sealed IS NOT NULL, failed \
             FROM link_requests WHERE link_id = ? AND expires_at > ?",
        )
        .bind(link_id)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        Ok(Some(LinkProgress {
            username: r.try_get(0)?,
            answered: r.try_get::<i64, _>(1)? != 0,
            has_device: r.try_get::<i64, _>(2)? != 0,
            sealed: r.try_get::<i64, _>(3)? != 0,
            failed: r.try_get::<i64, _>(4)? != 0,
        }))
    }

    /// Stores the answer of a device of `username` to that user's unexpired link request:
    /// `NotFound` if there is none, `Conflict` if it was answered already or failed. One
    /// answer per request: a wrong code costs the new device its request.
    pub async fn answer_link(
        &self,
        link_id: &str,
        username: &str,
        pake: &[u8],
        confirm: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let progress = Self::link_progress(&mut tx, link_id, now).await?;
        let Some(p) = progress.filter(|p| p.username == username) else {
            return Err(StoreError::NotFound(NO_SUCH_LINK));
        };
        if p.failed {
            return Err(StoreError::Conflict(LINK_FAILED));
        }
        if p.answered {
            return Err(StoreError::Conflict(
                "this link request was already answered; start again on the new device",
            ));
        }
        sqlx::query("UPDATE link_requests SET answer_pake = ?, answer_confirm = ? WHERE link_id = ?")
            .bind(pake)
            .bind(confirm)
            .bind(link_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores the new device's key and MAC for an unexpired link request: `NotFound` if
    /// there is none, `Conflict` if it was not answered yet, has a key already, or failed.
    pub async fn link_device(&self, link_id: &str, device_key: &[u8], mac: &[u8], now: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(p) = Self::link_progress(&mut tx, link_id, now).await? else {
            return Err(StoreError::NotFound(NO_SUCH_LINK));
        };
        if p.failed {
            return Err(StoreError::Conflict(LINK_FAILED));
        }
        if !p.answered {
            return Err(StoreError::Conflict(
                "no device of the account has answered this link request yet",
            ));
        }
        if p.has_device {
            return Err(StoreError::Conflict("this link request already has its device key"));
        }
        sqlx::query("UPDATE link_requests SET device_key = ?, device_mac = ? WHERE link_id = ?")
            .bind(device_key)
            .bind(mac)
            .bind(link_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores the sealed bundle for an unexpired link request of `username`: `NotFound` if
    /// there is none, `Conflict` if the new device has not posted its key yet, it was
    /// approved already, or it failed.
    pub async fn approve_link(&self, link_id: &str, username: &str, sealed: &[u8], now: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let progress = Self::link_progress(&mut tx, link_id, now).await?;
        let Some(p) = progress.filter(|p| p.username == username) else {
            return Err(StoreError::NotFound(NO_SUCH_LINK));
        };
        if p.failed {
            return Err(StoreError::Conflict(LINK_FAILED));
        }
        if !p.has_device {
            return Err(StoreError::Conflict("the new device has not sent its key for this link request yet"));
        }
        if p.sealed {
            return Err(StoreError::Conflict("this link request was already approved"));
        }
        sqlx::query("UPDATE link_requests SET sealed = ? WHERE link_id = ?")
            .bind(sealed)
            .bind(link_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks an unexpired link request failed (again is fine): nothing more is accepted for
    /// it. `NotFound` if there is none.
    pub async fn fail_link(&self, link_id: &str, now: i64) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE link_requests SET failed = 1 WHERE link_id = ? AND expires_at > ?")
            .bind(link_id)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound(NO_SUCH_LINK));
        }
        Ok(())
    }

    /// Everything posted so far for an unexpired link request; `None` if it is unknown or
    /// expired. Reading does not consume it: it lives until it expires.
    pub async fn link_state(&self, link_id: &str, now: i64) -> Result<Option<LinkState>, StoreError> {
        let row = sqlx::query(
            "SELECT answer_pake, answer_confirm, device_key, device_mac, sealed, failed \
             FROM link_requests WHERE link_id = ? AND expires_at > ?",
        )
        .bind(link_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let both = |a: Option<Vec<u8>>, b: Option<Vec<u8>>| a.zip(b);
        Ok(Some(LinkState {
            answer: both(r.try_get(0)?, r.try_get(1)?),
            device: both(r.try_get(2)?, r.try_get(3)?),
            sealed: r.try_get(4)?,
            failed: r.try_get::<i64, _>(5)? != 0,
        }))
    }

    /// Deletes these inbox items of this device (others' are untouched), and every message
    /// no inbox refers to any more. Unknown ids are ignored.
    pub async fn ack(&self, device_id: &str, ids: &[i64]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for id in ids {
            let deleted = sqlx::query("DELETE FROM inbox WHERE id = ? AND device_id = ? RETURNING message_id")
                .bind(id)
                .bind(device_id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = deleted {
                let message_id: i64 = row.try_get(0)?;
                sqlx::query(
                    "DELETE FROM messages WHERE id = ?1
                     AND NOT EXISTS (SELECT 1 FROM inbox WHERE message_id = ?1)",
                )
                .bind(message_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
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

    /// Counts a recovery attempt at `username`'s backup in `slot` before it is checked:
    /// `TooMany` if `max` attempts at that slot were counted since `since` (nothing is
    /// counted then), else the attempt's id, for [`Store::forget_recovery_attempt`] once it
    /// succeeded. Counting first, in one write transaction, keeps concurrent guesses within
    /// the limit too. Each slot has its own count.
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

    /// Uncounts an attempt that succeeded (or failed on the server's side).
    pub async fn forget_recovery_attempt(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM recovery_attempts WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- guardian recovery (relay only: the server sees an HPKE key and sealed shares) ----

    /// Deletes expired guardian requests and their shares.
    async fn prune_guardian_requests(tx: &mut Transaction<'static, Sqlite>, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM guardian_shares WHERE request_id IN
                 (SELECT request_id FROM guardian_requests WHERE expires_at <= ?)",
        )
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM guardian_requests WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Records a guardian request for an existing user (`NotFound` otherwise); at most
    /// `max_pending` unexpired requests per user (`TooMany`). Expired ones are deleted first.
    pub async fn create_guardian_request(
        &self,
        request: &NewGuardianRequest<'_>,
        now: i64,
        max_pending: i64,
    ) -> Result<(), StoreError> {
        let NewGuardianRequest { request_id, username, hpke_key, expires_at } = *request;
        let mut tx = self.write_tx().await?;
        Self::prune_guardian_requests(&mut tx, now).await?;
        let exists = sqlx::query("SELECT 1 FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::NotFound("there is no such user"));
        }
        let pending: i64 = sqlx::query("SELECT COUNT(*) FROM guardian_requests WHERE username = ? AND expires_at > ?")
            .bind(username)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if pending >= max_pending {
            return Err(StoreError::TooMany(
                "too many guardian recovery requests are open for this account; try again tomorrow",
            ));
        }
        sqlx::query(
            "INSERT INTO guardian_requests (request_id, username, hpke_key, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(request_id)
        .bind(username)
        .bind(hpke_key)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Unexpired guardian requests for a user, oldest first (none for an unknown user).
    pub async fn pending_guardian_requests(&self, username: &str, now: i64) -> Result<Vec<GuardianRequestRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT request_id, hpke_key, created_at FROM guardian_requests \
             WHERE username = ? AND expires_at > ? ORDER BY created_at, request_id",
        )
        .bind(username)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(GuardianRequestRow {
                    request_id: r.try_get(0)?,
                    hpke_key: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Stores the sealed share of guardian device `device_id` of user `guardian` for an
    /// unexpired request: `NotFound` if there is none, `Forbidden` if the guardian is the
    /// account being recovered, `Conflict` if this device posted a share already.
    pub async fn add_guardian_share(
        &self,
        request_id: &str,
        guardian: &str,
        device_id: &str,
        sealed: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let owner: Option<String> =
            sqlx::query("SELECT username FROM guardian_requests WHERE request_id = ? AND expires_at > ?")
                .bind(request_id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        let Some(owner) = owner else {
            return Err(StoreError::NotFound("no such guardian request, or it expired"));
        };
        if owner == guardian {
            return Err(StoreError::Forbidden(
                "a device of the account being recovered can't be its guardian",
            ));
        }
        let inserted = sqlx::query(
            "INSERT INTO guardian_shares (request_id, device_id, sealed, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(request_id)
        .bind(device_id)
        .bind(sealed)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict("this device has already sent its share for this request"));
            }
            other => other?,
        };
        tx.commit().await?;
        Ok(())
    }

    /// The sealed shares of an unexpired guardian request in the order they arrived;
    /// `None` if it is unknown or expired.
    pub async fn guardian_shares(&self, request_id: &str, now: i64) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        // One read transaction: the request and its shares as of one instant. A share's
        // rowid is above those of the shares of its request inserted before it.
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM guardian_requests WHERE request_id = ? AND expires_at > ?")
            .bind(request_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let shares = sqlx::query("SELECT sealed FROM guardian_shares WHERE request_id = ? ORDER BY rowid")
            .bind(request_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<Vec<Vec<u8>>, _>>()?;
        tx.commit().await?;
        Ok(Some(shares))
    }
}

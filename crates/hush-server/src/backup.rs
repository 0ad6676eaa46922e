//! Backups of a server's data directory, taken while it serves, and restoring one.
//!
//! A backup is a directory holding a consistent copy of the database (SQLite's
//! `VACUUM INTO`, one read transaction, so every table — messages, spaces, the key
//! directory — is from the same instant), the key directory's VRF key, every finished file
//! the copy refers to, and `hush-backup.json` saying when it was taken and at which
//! directory epoch. It is written under a temporary name and renamed when complete: a
//! backup directory either is whole or does not exist.
//!
//! Restoring copies it into an empty data directory (locked like a running server's) and
//! records the restore in the database: `GET /v1/kt/info` lists it, so that clients that
//! saw directory epochs published after the backup was taken check the restored directory
//! against the roots they hold up to the backup's epoch and then follow it, instead of
//! refusing it as rolled back forever. The restore also forgets one-time KeyPackages (some
//! may have been used after the backup; the devices deleted their keys) and marks every
//! conversation as out of step (the store's commit rule takes their next commit at the epoch they reached).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sqlx::Connection as _;
use sqlx::Row as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::kt::VRF_KEY_FILE;
use hush_proto::fsio::io_reason;

use crate::blobs::BLOBS_DIR;
use crate::store::DATABASE_FILE;

/// Name of the file that describes a backup.
pub const MANIFEST_FILE: &str = "hush-backup.json";

/// The backup format this server writes and reads.
const FORMAT: u32 = 1;

/// What a backup holds, written next to it as [`MANIFEST_FILE`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Backup format version.
    pub format: u32,
    /// When the database copy was taken, unix ms.
    pub taken_at: i64,
    /// The database schema version of the copy.
    pub schema_version: i64,
    /// The newest key-directory epoch in the copy.
    pub directory_epoch: u64,
    /// Accounts in the copy.
    pub users: u64,
    /// Finished files in the copy.
    pub blobs: u64,
    /// Their bytes.
    pub blob_bytes: u64,
    /// Files the copy refers to that were deleted before they could be copied (their
    /// last reference went away while the backup ran).
    pub blobs_missing: u64,
}

/// Why a backup or restore failed; each a sentence for the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The data directory holds no database.
    #[error("{} holds no hush database ({DATABASE_FILE}): is it the server's data directory?", .0.display())]
    NoDatabase(PathBuf),
    /// The backup's destination exists.
    #[error("{} already exists: give a new directory for the backup", .0.display())]
    DestinationExists(PathBuf),
    /// The data directory to restore into is not empty.
    #[error("{} is not empty: restore into an empty or new directory (move the old one away first)", .0.display())]
    NotEmpty(PathBuf),
    /// The directory given is not a backup.
    #[error("{} is not a hush backup ({reason})", path.display())]
    NotABackup {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("can't {action} {}: {}", path.display(), io_reason(source))]
    Io {
        /// What was being done ("copy", "write", …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database refused.
    #[error("the database {} refused: {source}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: sqlx::Error,
    },
    /// The data directory is in use or can't be locked.
    #[error("{0}")]
    Locked(String),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_owned();
    move |source| BackupError::Io { action, path, source }
}

fn db(path: &Path) -> impl FnOnce(sqlx::Error) -> BackupError {
    let path = path.to_owned();
    move |source| BackupError::Database { path, source }
}

async fn connect(path: &Path) -> Result<SqliteConnection, BackupError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(30));
    SqliteConnection::connect_with(&options).await.map_err(db(path))
}

/// Copies `from` to `to` and syncs it.
fn copy_synced(from: &Path, to: &Path) -> Result<u64, BackupError> {
    let bytes = std::fs::copy(from, to).map_err(io("copy", from))?;
    std::fs::File::open(to).and_then(|f| f.sync_all()).map_err(io("sync", to))?;
    Ok(bytes)
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io("sync", dir))
}

/// `dest` with `.partial` added to its name, next to it.
fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    dest.with_file_name(name)
}

/// Takes a backup of the server's data directory `data_dir` into the new directory `dest`,
/// while the server runs or not. Unfinished uploads are left out (their clients start them
/// again).
pub async fn backup(data_dir: &Path, dest: &Path) -> Result<Manifest, BackupError> {
    let db_path = data_dir.join(DATABASE_FILE);
    if !db_path.is_file() {
        return Err(BackupError::NoDatabase(data_dir.to_owned()));
    }
    if dest.exists() {
        return Err(BackupError::DestinationExists(dest.to_owned()));
    }
    let staging = partial_path(dest);
    if staging.exists() {
        // Left by a backup that failed half-way: never part of a finished backup.
        std::fs::remove_dir_all(&staging).map_err(io("remove", &staging))?;
    }
    std::fs::create_dir_all(staging.join(BLOBS_DIR)).map_err(io("create", &staging))?;
    let copy_db = staging.join(DATABASE_FILE);
    let copy_text = copy_db
        .to_str()
        .ok_or_else(|| BackupError::DestinationExists(dest.to_owned()))?
        .to_owned();

    // One read transaction: the copy is the database at one instant.
    let taken_at = hush_core::now_ms();
    let mut source = connect(&db_path).await?;
    sqlx::query("VACUUM INTO ?").bind(&copy_text).execute(&mut source).await.map_err(db(&db_path))?;
    source.close().await.map_err(db(&db_path))?;

    // Trim the copy: unfinished uploads stay behind (their parts are not copied).
    let mut copy = connect(&copy_db).await?;
    sqlx::query("DELETE FROM uploads").execute(&mut copy).await.map_err(db(&copy_db))?;
    let schema_version: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        .fetch_one(&mut copy)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(db(&copy_db))?;
    let epoch: i64 = sqlx::query("SELECT COALESCE(MAX(epoch), 0) FROM kt_roots")
        .fetch_one(&mut copy)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(db(&copy_db))?;
    let users: i64 = sqlx::query("SELECT COUNT(*) FROM users")
        .fetch_one(&mut copy)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(db(&copy_db))?;
    let blob_ids: Vec<String> = sqlx::query("SELECT blob_id FROM blobs ORDER BY blob_id")
        .fetch_all(&mut copy)
        .await
        .map_err(db(&copy_db))?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()
        .map_err(db(&copy_db))?;
    copy.close().await.map_err(db(&copy_db))?;
    std::fs::File::open(&copy_db).and_then(|f| f.sync_all()).map_err(io("sync", &copy_db))?;

    copy_synced(&data_dir.join(VRF_KEY_FILE), &staging.join(VRF_KEY_FILE))?;

    // Every finished file the copy refers to. Files are never changed once written, so a
    // file copied now is the file the copy names.
    let (mut blobs, mut blob_bytes, mut blobs_missing) = (0u64, 0u64, 0u64);
    for id in &blob_ids {
        // Ids are lowercase hex (checked when stored), never a path.
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let from = data_dir.join(BLOBS_DIR).join(id);
        match std::fs::metadata(&from) {
            Ok(_) => {
                blob_bytes += copy_synced(&from, &staging.join(BLOBS_DIR).join(id))?;
                blobs += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => blobs_missing += 1,
            Err(e) => return Err(io("read", &from)(e)),
        }
    }
    sync_dir(&staging.join(BLOBS_DIR))?;

    let manifest = Manifest {
        format: FORMAT,
        taken_at,
        schema_version,
        directory_epoch: u64::try_from(epoch).unwrap_or(0),
        users: u64::try_from(users).unwrap_or(0),
        blobs,
        blob_bytes,
        blobs_missing,
    };
    let manifest_path = staging.join(MANIFEST_FILE);
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| io("write", &manifest_path)(std::io::Error::other(e)))?;
    std::fs::write(&manifest_path, text).map_err(io("write", &manifest_path))?;
    std::fs::File::open(&manifest_path).and_then(|f| f.sync_all()).map_err(io("sync", &manifest_path))?;
    sync_dir(&staging)?;
    std::fs::rename(&staging, dest).map_err(io("rename", &staging))?;
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(manifest)
}

/// Reads and checks a backup's manifest.
pub fn read_manifest(backup: &Path) -> Result<Manifest, BackupError> {
    let not = |reason: String| BackupError::NotABackup { path: backup.to_owned(), reason };
    let path = backup.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|e| not(format!("{MANIFEST_FILE}: {}", io_reason(&e))))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| not(format!("{MANIFEST_FILE} is damaged: {e}")))?;
    if manifest.format != FORMAT {
        return Err(not(format!("it has format {}, this server reads format {FORMAT}", manifest.format)));
    }
    for name in [DATABASE_FILE, VRF_KEY_FILE] {
        if !backup.join(name).is_file() {
            return Err(not(format!("{name} is missing")));
        }
    }
    Ok(manifest)
}

/// Restores the backup `backup` into `data_dir`, which must be empty or not exist, and
/// records the restore (see the module documentation). The server must not be running
/// on `data_dir` (it is locked while this runs).
pub async fn restore(backup: &Path, data_dir: &Path) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(backup)?;
    std::fs::create_dir_all(data_dir).map_err(io("create", data_dir))?;
    let _lock = crate::data_dir::lock_data_dir(data_dir).map_err(|e| BackupError::Locked(e.to_string()))?;
    let occupied = std::fs::read_dir(data_dir)
        .map_err(io("read", data_dir))?
        .filter_map(Result::ok)
        .any(|e| e.file_name() != crate::data_dir::LOCK_FILE);
    if occupied {
        return Err(BackupError::NotEmpty(data_dir.to_owned()));
    }

    // Everything is copied under temporary names first, then moved into place: a restore
    // that fails half-way leaves no database the server would start on.
    let staging = data_dir.join(".restore.partial");
    std::fs::create_dir_all(staging.join(BLOBS_DIR)).map_err(io("create", &staging))?;
    copy_synced(&backup.join(DATABASE_FILE), &staging.join(DATABASE_FILE))?;
    copy_synced(&backup.join(VRF_KEY_FILE), &staging.join(VRF_KEY_FILE))?;
    let blobs_from = backup.join(BLOBS_DIR);
    if blobs_from.is_dir() {
        for entry in std::fs::read_dir(&blobs_from).map_err(io("read", &blobs_from))? {
            let entry = entry.map_err(io("read", &blobs_from))?;
            copy_synced(&entry.path(), &staging.join(BLOBS_DIR).join(entry.file_name()))?;
        }
    }
    sync_dir(&staging.join(BLOBS_DIR))?;

    // Record the restore in the copy before it goes live.
    let store = crate::store::Store::open_sqlite(&staging.join(DATABASE_FILE))
        .await
        .map_err(db(&staging.join(DATABASE_FILE)))?;
    store
        .record_restore(manifest.directory_epoch, manifest.taken_at, hush_core::now_ms())
        .await
        .map_err(|e| BackupError::Database { path: staging.join(DATABASE_FILE), source: e })?;
    store.close().await;

    // The database last (with any journal SQLite left): until it is in place, there is
    // nothing a server would start on.
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(&staging)
        .map_err(io("read", &staging))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    names.sort_by_key(|n| n == DATABASE_FILE);
    for name in names {
        let from = staging.join(&name);
        std::fs::rename(&from, data_dir.join(&name)).map_err(io("move", &from))?;
    }
    std::fs::remove_dir_all(&staging).map_err(io("remove", &staging))?;
    sync_dir(data_dir)?;
    Ok(manifest)
}

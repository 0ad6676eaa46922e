//! Telling "the storage can't take writes right now" (read-only, full, not permitted) from
//! other failures, for I/O and database errors alike (a leaf: the store, the key directory
//! and the HTTP errors all ask it).

use std::io::ErrorKind;

/// Whether an I/O error means the storage can't take writes right now (read-only, full,
/// or not permitted), as opposed to a bug or a missing file.
pub(crate) fn is_storage_trouble(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ReadOnlyFilesystem | ErrorKind::StorageFull | ErrorKind::PermissionDenied | ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(1 | 13 | 28 | 30 | 122))
}

/// Whether a database error means the storage can't take writes right now: SQLite's
/// `SQLITE_READONLY`, `SQLITE_IOERR`, `SQLITE_FULL` or `SQLITE_CANTOPEN` (any extended code
/// of them), or an I/O error of that kind.
pub(crate) fn is_db_storage_trouble(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .is_some_and(|c| matches!(c & 0xff, 8 | 10 | 13 | 14)),
        sqlx::Error::Io(io) => is_storage_trouble(io),
        _ => false,
    }
}

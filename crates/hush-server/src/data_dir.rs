//! The data directory's lock: one server (or restore) at a time.

use std::path::{Path, PathBuf};

use crate::ServerError;

/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "hush.lock";

/// Holds the data directory's exclusive lock until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
    path: PathBuf,
}

impl DataDirLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the exclusive lock on `dir` (which must exist), or says who holds it.
pub fn lock_data_dir(dir: &Path) -> Result<DataDirLock, ServerError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ServerError::DataDir { path: dir.to_owned(), source })?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file, path }),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::DataDir {
            path: dir.to_owned(),
            source: std::io::Error::other("another hush server is already using it"),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ServerError::DataDir { path: dir.to_owned(), source }),
    }
}

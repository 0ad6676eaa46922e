//! The data directory's safety checks: one server at a time (an exclusive lock on
//! `DATA_DIR/hush.lock`, held for the server's life), and a directory the server can write
//! to (checked at start and by `/health`).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use hush_proto::fsio::io_reason;

use crate::config::ServerError;

/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "hush.lock";

/// Name of the short-lived file the writability check writes and removes.
const PROBE_FILE: &str = ".hush-write-probe";

/// An exclusive lock on a data directory: no other hush server (nor `hush server restore`)
/// uses the directory while this value lives. Dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DataDirLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first says so explicitly.
        let _ = self.file.unlock();
    }
}

/// Takes the exclusive lock on `dir/hush.lock` (creating the directory and the file if
/// needed). Fails with [`ServerError::Locked`] when another process holds it, and with
/// [`ServerError::Unwritable`] when the lock file can't be created.
pub fn lock_data_dir(dir: &Path) -> Result<DataDirLock, ServerError> {
    std::fs::create_dir_all(dir).map_err(|source| ServerError::DataDir {
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| ServerError::Unwritable {
            path: dir.to_owned(),
            reason: io_reason(&e),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { file, path }),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::Locked { path: dir.to_owned() }),
        Err(std::fs::TryLockError::Error(e)) => Err(ServerError::Unwritable {
            path: dir.to_owned(),
            reason: io_reason(&e),
        }),
    }
}

/// Checks that `dir` takes new data: writes a small file, syncs it to disk and removes it.
/// Fails with [`ServerError::Unwritable`] naming why (read-only, full, not permitted).
pub fn check_writable(dir: &Path) -> Result<(), ServerError> {
    probe(dir).map_err(|e| ServerError::Unwritable {
        path: dir.to_owned(),
        reason: io_reason(&e),
    })
}

/// Writes, syncs and removes the probe file.
pub(crate) fn probe(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(PROBE_FILE);
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&path)?;
        f.write_all(b"hush")?;
        f.sync_all()
    })();
    let removed = std::fs::remove_file(&path);
    written?;
    match removed {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_data_dir(dir.path()).unwrap();
        let second = lock_data_dir(dir.path()).unwrap_err();
        assert!(matches!(second, ServerError::Locked { .. }), "{second}");
        assert_eq!(
            second.to_string(),
            format!("another hush server is already using {}", dir.path().display())
        );
        drop(first);
        lock_data_dir(dir.path()).unwrap();
        check_writable(dir.path()).unwrap();
        assert!(!dir.path().join(PROBE_FILE).exists());
    }
}

//! The hush home: its lock, and the sealed state file in it, replaced atomically (write a
//! temporary file, fsync, rename, fsync the directory).

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use hush_core::sealed::{SealError, SealKey};
use zeroize::Zeroizing;

use super::State;
use crate::error::ClientError;

const STATE_FILE: &str = "state.hush";
const LOCK_FILE: &str = "lock";

/// What a long-running holder of the lock (`hush ui`) writes into the lock file.
const LONG_HOLDER: &str = "hush ui";

/// Set once by a process that keeps its home open for long (`hush ui`).
static HELD_LONG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks this process as one that keeps its home open (the app): other hush processes
/// that find the home locked then stop at once with a sentence naming it, instead of
/// waiting.
pub fn hold_homes_long() {
    HELD_LONG.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The home directory with its lock held.
pub struct Home {
    dir: PathBuf,
    _lock: File,
}

impl Drop for Home {
    fn drop(&mut self) {
        // The note goes before the lock does (closing the file releases it).
        let _ = self._lock.set_len(0);
    }
}

impl Home {
    /// Opens (creating if needed) a home directory and takes its lock, waiting for
    /// another hush process on the same home to finish.
    pub fn lock(dir: &Path) -> Result<Home, ClientError> {
        fs::create_dir_all(dir).map_err(|e| io_error(format!("can't create {}", dir.display()), dir, &e))?;
        restrict_dir(dir);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(|e| io_error(format!("can't open the lock in {}", dir.display()), &dir.join(LOCK_FILE), &e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                // A long-running holder (the app) says so in the lock file: waiting for it
                // would hang, so say who holds the home instead. A short command is waited for.
                let holder = fs::read_to_string(dir.join(LOCK_FILE)).unwrap_or_default();
                if let Some(what) = holder.trim().strip_prefix(LONG_HOLDER) {
                    return Err(ClientError::Usage(format!(
                        "{} is open in hush ui{what}; use the app, or stop it before running other hush commands on this home",
                        dir.display()
                    )));
                }
                lock.lock()
                    .map_err(|e| io_error(format!("can't lock {}", dir.display()), &dir.join(LOCK_FILE), &e))?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_error(format!("can't lock {}", dir.display()), &dir.join(LOCK_FILE), &e)),
        }
        // Say who holds it (an earlier holder's note, even of a killed app, goes).
        let _ = lock.set_len(0);
        if HELD_LONG.load(std::sync::atomic::Ordering::Relaxed) {
            use std::io::Write as _;
            let _ = (&lock).write_all(format!("{LONG_HOLDER} (process {})\n", std::process::id()).as_bytes());
        }
        Ok(Home { dir: dir.to_owned(), _lock: lock })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether an account exists here.
    pub fn has_state(&self) -> bool {
        self.dir.join(STATE_FILE).exists()
    }

    /// Reads the sealed state and derives its key from the passphrase.
    pub fn load(&self, passphrase: &[u8]) -> Result<(State, SealKey), ClientError> {
        let path = self.dir.join(STATE_FILE);
        let sealed = fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ClientError::NoAccount(self.dir.display().to_string()),
            _ => io_error(format!("can't read {}", path.display()), &path, &e),
        })?;
        let key = SealKey::derive_for(passphrase, &sealed).map_err(seal_err)?;
        let plain = key.open(&sealed).map_err(seal_err)?;
        let state: State = serde_json::from_slice(&plain)
            .map_err(|e| ClientError::Home(format!("the local state is damaged: {e}")))?;
        Ok((state, key))
    }

    /// Seals and writes the state atomically.
    pub fn save(&self, state: &State, key: &SealKey) -> Result<(), ClientError> {
        let plain = Zeroizing::new(
            serde_json::to_vec(state).map_err(|e| ClientError::Internal(e.to_string()))?,
        );
        let sealed = key.seal(&plain);
        let path = self.dir.join(STATE_FILE);
        hush_proto::fsio::write_atomic(&path, &sealed)
            .map_err(|e| io_error("can't write the local state".into(), &path, &e))
    }
}

/// A failure on the home's files, worded as the OS says it (with its error number).
fn io_error(what: String, path: &Path, e: &std::io::Error) -> ClientError {
    ClientError::Io { what, path: path.to_owned(), reason: e.to_string() }
}

fn seal_err(e: SealError) -> ClientError {
    match e {
        SealError::WrongPassphraseOrTampered => ClientError::WrongPassphrase,
        other => ClientError::Home(other.to_string()),
    }
}

#[cfg(unix)]
fn restrict_dir(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
}
#[cfg(not(unix))]
fn restrict_dir(_dir: &Path) {}

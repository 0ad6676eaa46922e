//! The directory's VRF key: 32 random bytes in `data_dir/vrf.key`, created with mode 0600
//! on first start and kept in memory (zeroed on drop).

use std::path::Path;
use std::sync::Arc;

use akd::ecvrf::{VRFKeyStorage, VrfError};
use zeroize::Zeroizing;

use super::{KtError, VRF_KEY_LEN};

/// akd's [`VRFKeyStorage`] over a 32-byte secret read once from a file and kept in memory
/// (zeroed on drop). `Debug` does not show it.
#[derive(Clone)]
pub struct FileVrf {
    pub(super) secret: Arc<Zeroizing<[u8; VRF_KEY_LEN]>>,
}

impl std::fmt::Debug for FileVrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileVrf(..)")
    }
}

#[async_trait::async_trait]
impl VRFKeyStorage for FileVrf {
    async fn retrieve(&self) -> Result<Vec<u8>, VrfError> {
        Ok(self.secret.to_vec())
    }
}

impl FileVrf {
    /// Reads the secret from `path`, or creates it (32 random bytes, mode 0600, written to a
    /// temporary file, synced and renamed into place) if the file does not exist and
    /// `may_create`.
    pub fn load_or_create(path: &Path, may_create: bool) -> Result<FileVrf, KtError> {
        let fail = |reason: String| KtError::VrfKey {
            path: path.to_path_buf(),
            reason,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let secret: [u8; VRF_KEY_LEN] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| fail(format!("is {} bytes long, not {VRF_KEY_LEN}", bytes.len())))?;
                Ok(FileVrf {
                    secret: Arc::new(Zeroizing::new(secret)),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !may_create {
                    return Err(fail(
                        "is missing, but the database already holds a key directory made with it; \
                         restore the file from a backup (a new key would invalidate every entry)"
                            .into(),
                    ));
                }
                let mut secret = Zeroizing::new([0u8; VRF_KEY_LEN]);
                rand::RngCore::try_fill_bytes(&mut rand::rngs::OsRng, secret.as_mut_slice())
                    .map_err(|e| fail(format!("can't get random bytes: {e}")))?;
                write_secret(path, secret.as_slice()).map_err(|e| fail(format!("can't be created: {e}")))?;
                tracing::info!(path = %path.display(), "created a new key-transparency VRF key");
                Ok(FileVrf {
                    secret: Arc::new(secret),
                })
            }
            Err(e) => Err(fail(format!("can't be read: {e}"))),
        }
    }

    /// The VRF public key clients verify labels with.
    pub async fn public_key(&self) -> Result<Vec<u8>, KtError> {
        let pk = self
            .get_vrf_public_key()
            .await
            .map_err(|e| KtError::Akd(format!("VRF key: {e:?}")))?;
        Ok(pk.to_bytes().to_vec())
    }
}

/// Writes a new secret file durably, readable by its owner only.
fn write_secret(path: &Path, secret: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("key.tmp");
    // A leftover from a crash mid-creation holds no key anybody used.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(secret)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // Makes the rename durable; not every platform can open a directory.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

//! Key transparency, the server's half: an akd directory (WhatsApp v1 configuration) that
//! maps each username to `hush_core::kt::directory_value(identity key, devices)`, stored in
//! the server's SQLite database ([`crate::kt_storage`]), with a VRF key kept in
//! `data_dir/vrf.key`.
//!
//! **Publishing.** A register or add-device marks the user in `kt_pending` inside its own
//! transaction, then publishes before answering, so the client can fetch a proof of its new
//! value at once. A background task publishes whatever is still pending every
//! `kt_publish_interval` (after a failed on-demand publish, or a crash between the two), and
//! does nothing when nothing is pending. Publishes run one at a time (a write lock that
//! proof generation shares as readers, which also keeps akd's object cache coherent) and in
//! their own task, so a request that times out can't cancel a publish half-way.
//!
//! **Epochs.** akd can't publish an empty epoch: until the first user is published the
//! directory is at epoch 0 and `/v1/kt/info` answers epoch 0 with the empty tree's root
//! hash. Every later publish with a changed value makes a new epoch (1, 2, …). The root
//! hash of every epoch, 0 included, is recorded in `kt_roots` (akd itself only knows the
//! latest), which the audit route hands out.
//!
//! **VRF key.** 32 random bytes, created with mode 0600 on first start; refused if missing
//! while the database already holds a directory (a new key would orphan every entry).
//! It is never logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use akd::directory::Directory;
use akd::errors::{AkdError, StorageError};
use akd::storage::StorageManager;
use akd::{AkdLabel, AkdValue, AppendOnlyProof, AzksParallelismConfig, EpochHash, HistoryParams, HistoryProof, LookupProof};
use hush_core::identity::PublicKey;
use tokio::sync::RwLock;

use crate::kt_storage::SqliteAkdDb;

mod bench;
mod publisher;
mod vrf;

pub use bench::{KtBenchReport, bench};
pub(crate) use publisher::kt_publisher;
pub use vrf::FileVrf;
use crate::store::{Store, StoreError};

/// The akd configuration (the one `hush_core::kt` verifies with).
pub type KtConfig = akd::WhatsAppV1Configuration;

/// The server's akd directory type.
pub type KtDirectory = Directory<KtConfig, SqliteAkdDb, FileVrf>;

/// Name of the VRF secret key file inside the data directory.
pub const VRF_KEY_FILE: &str = "vrf.key";

/// Length of the VRF secret key.
const VRF_KEY_LEN: usize = 32;

/// Most users one publish takes from `kt_pending` (the rest go in the next one).
const PUBLISH_BATCH: u32 = 10_000;

/// Longest an akd object stays in the in-memory cache.
const CACHE_ITEM_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);

/// Largest size of akd's in-memory object cache.
const CACHE_LIMIT_BYTES: usize = 64 * 1024 * 1024;

/// How often akd's cache sheds expired items.
const CACHE_CLEAN_FREQUENCY: std::time::Duration = std::time::Duration::from_secs(60);

/// Why key transparency failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KtError {
    /// The VRF key file could not be read or created.
    #[error("the key-transparency VRF key {}: {reason}", path.display())]
    VrfKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// akd failed.
    #[error("key directory: {0}")]
    Akd(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(String),
    /// No such label in the directory.
    #[error("{0}")]
    NotFound(String),
    /// An epoch range that can't be audited.
    #[error("{0}")]
    BadRange(String),
    /// The database can't take writes right now (read-only, full, I/O error).
    #[error("database: {0}")]
    Storage(String),
}

impl From<StoreError> for KtError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Db(e) => e.into(),
            other => KtError::Db(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for KtError {
    fn from(e: sqlx::Error) -> Self {
        if crate::storage_trouble::is_db_storage_trouble(&e) {
            KtError::Storage(e.to_string())
        } else {
            KtError::Db(e.to_string())
        }
    }
}

impl From<AkdError> for KtError {
    fn from(e: AkdError) -> Self {
        // akd's errors are `Debug`/`Display`; keep the text for the log.
        KtError::Akd(e.to_string())
    }
}

// ---- the directory service ----

/// A published root: epoch and root hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Root {
    /// The epoch (0 before anything was published).
    pub epoch: u64,
    /// The root hash of the tree at that epoch.
    pub hash: [u8; 32],
}

impl From<EpochHash> for Root {
    fn from(e: EpochHash) -> Self {
        Root { epoch: e.0, hash: e.1 }
    }
}

impl From<Root> for hush_proto::KtRoot {
    fn from(r: Root) -> Self {
        hush_proto::KtRoot {
            epoch: r.epoch,
            root_hash: hush_proto::B64(r.hash.to_vec()),
        }
    }
}

/// The key directory the server runs: cheap to clone (shared state).
#[derive(Clone)]
pub(crate) struct Kt {
    directory: KtDirectory,
    storage: StorageManager<SqliteAkdDb>,
    store: Store,
    vrf_public_key: Arc<Vec<u8>>,
    /// Publishes take it for writing, proofs for reading.
    lock: Arc<RwLock<()>>,
}

impl std::fmt::Debug for Kt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kt").finish_non_exhaustive()
    }
}

impl Kt {
    /// Opens the directory in the store's database (creating it at epoch 0 on first start)
    /// with the VRF key in `data_dir/vrf.key`, and records the current root.
    pub async fn open(store: &Store, data_dir: &Path) -> Result<Kt, KtError> {
        let db = SqliteAkdDb::new(store.pool().clone());
        let fresh = db.is_empty().await?;
        let vrf = FileVrf::load_or_create(&data_dir.join(VRF_KEY_FILE), fresh)?;
        let vrf_public_key = vrf.public_key().await?;
        let storage = StorageManager::new(
            db,
            Some(CACHE_ITEM_LIFETIME),
            Some(CACHE_LIMIT_BYTES),
            Some(CACHE_CLEAN_FREQUENCY),
        );
        let directory = KtDirectory::new(storage.clone(), vrf, AzksParallelismConfig::default()).await?;
        let kt = Kt {
            directory,
            storage,
            store: store.clone(),
            vrf_public_key: Arc::new(vrf_public_key),
            lock: Arc::new(RwLock::new(())),
        };
        let root = kt.record_current_root().await?;
        tracing::info!(epoch = root.epoch, "key directory open");
        Ok(kt)
    }

    /// The VRF public key (32 bytes).
    pub fn vrf_public_key(&self) -> &[u8] {
        &self.vrf_public_key
    }

    /// Records the directory's current root in `kt_roots` (no-op if it is there).
    async fn record_current_root(&self) -> Result<Root, KtError> {
        let root = Root::from(self.directory.get_epoch_hash().await?);
        self.store
            .kt_record_root(root.epoch, &root.hash, hush_core::now_ms())
            .await?;
        Ok(root)
    }

    /// The latest root.
    pub async fn latest_root(&self) -> Result<Root, KtError> {
        let _read = self.lock.read().await;
        Ok(self.directory.get_epoch_hash().await?.into())
    }

    /// Publishes every pending user's current value, in a task of its own (so the caller
    /// being cancelled can't interrupt it). Returns the root after it, and how many
    /// users were published.
    pub async fn publish_pending(&self) -> Result<(Root, usize), KtError> {
        let kt = self.clone();
        tokio::spawn(async move { kt.publish_pending_now().await })
            .await
            .map_err(|e| KtError::Akd(format!("the publish task failed: {e}")))?
    }

    async fn publish_pending_now(&self) -> Result<(Root, usize), KtError> {
        let _write = self.lock.write().await;
        // The root before this publish must be on record, or there would be a gap.
        let mut root = self.record_current_root().await?;
        let mut total = 0;
        loop {
            let pending = self.store.kt_pending(PUBLISH_BATCH).await?;
            if pending.is_empty() {
                return Ok((root, total));
            }
            let mut updates = Vec::with_capacity(pending.len());
            for (_, username) in &pending {
                // A deleted account's value is a tombstone; a name with nothing (a backup
                // of a deleted account) just leaves the queue.
                if let Some(value) = self.value_of(username).await? {
                    updates.push((hush_core::kt::label(username), AkdValue(value)));
                }
            }
            let count = updates.len();
            match self.directory.publish(updates).await {
                Ok(epoch_hash) => root = epoch_hash.into(),
                Err(e) => {
                    // akd fills its cache before writing: drop whatever a failed commit
                    // left there, so the next reads come from the database.
                    self.storage.flush_cache().await;
                    return Err(e.into());
                }
            }
            self.store
                .kt_record_root(root.epoch, &root.hash, hush_core::now_ms())
                .await?;
            self.store.kt_clear_pending(&pending).await?;
            total += count;
            tracing::info!(epoch = root.epoch, users = count, "published key directory epoch");
            if pending.len() < PUBLISH_BATCH as usize {
                return Ok((root, total));
            }
        }
    }

    /// A user's directory value as the database holds it now.
    async fn value_of(&self, username: &str) -> Result<Option<Vec<u8>>, KtError> {
        // An account backup's commitment (see `hush_core::kt::backup_value`).
        for (prefix, slot) in [
            (hush_core::kt::PHRASE_BACKUP, crate::store::BackupSlot::Phrase),
            (hush_core::kt::GUARDIAN_BACKUP, crate::store::BackupSlot::Guardians),
        ] {
            if let Some(user) = username.strip_prefix(prefix).and_then(|r| r.strip_prefix(':')) {
                let stored = self.store.backup(slot, user).await?;
                return Ok(stored.map(|b| hush_core::kt::backup_value(b.version, &b.blob)));
            }
        }
        let Some((identity_key, devices)) = self.store.kt_user_keys(username).await? else {
            // An account the operator deleted: the directory publishes a tombstone.
            if self.store.is_deleted(username).await? {
                return Ok(Some(hush_core::kt::DELETED_VALUE.to_vec()));
            }
            return Ok(None);
        };
        let bad = |what: &str| KtError::Akd(format!("stored {what} of {username} is not a valid public key"));
        let identity_key = PublicKey::from_slice(&identity_key).map_err(|_| bad("identity key"))?;
        let devices = devices
            .into_iter()
            .map(|(id, key)| Ok((id, PublicKey::from_slice(&key).map_err(|_| bad("device key"))?)))
            .collect::<Result<Vec<_>, KtError>>()?;
        Ok(Some(hush_core::kt::directory_value(&identity_key, &devices)))
    }

    /// A lookup proof for `username` at the latest epoch, with the root it verifies under.
    pub async fn lookup(&self, username: &str) -> Result<(Root, LookupProof), KtError> {
        let _read = self.lock.read().await;
        match self.directory.lookup(hush_core::kt::label(username)).await {
            Ok((proof, epoch_hash)) => Ok((epoch_hash.into(), proof)),
            Err(e) => Err(not_found_or(e, username)),
        }
    }

    /// The complete key-history proof for `username`, with the root it verifies under.
    pub async fn history(&self, username: &str) -> Result<(Root, HistoryProof), KtError> {
        let _read = self.lock.read().await;
        let label: AkdLabel = hush_core::kt::label(username);
        match self.directory.key_history(&label, HistoryParams::Complete).await {
            Ok((proof, epoch_hash)) => Ok((epoch_hash.into(), proof)),
            Err(e) => Err(not_found_or(e, username)),
        }
    }

    /// The root hashes of epochs `start..=end` and the proof that the directory only grew
    /// between them. Needs `start < end <= latest`.
    pub async fn audit(&self, start: u64, end: u64) -> Result<(Vec<[u8; 32]>, AppendOnlyProof), KtError> {
        let _read = self.lock.read().await;
        let latest = self.directory.get_epoch_hash().await?.0;
        if start >= end {
            return Err(KtError::BadRange(format!(
                "the audit range needs start < end; got start {start}, end {end}"
            )));
        }
        if end > latest {
            return Err(KtError::BadRange(format!(
                "the key directory is at epoch {latest}; end {end} is beyond it"
            )));
        }
        let roots = self.store.kt_roots(start, end).await?;
        let expected = end - start + 1;
        if roots.len() as u64 != expected || roots.iter().zip(start..).any(|((e, _), want)| *e != want) {
            return Err(KtError::Akd(format!(
                "kt_roots lacks some of the epochs {start}..={end}"
            )));
        }
        let hashes = roots
            .into_iter()
            .map(|(epoch, h)| {
                <[u8; 32]>::try_from(h.as_slice())
                    .map_err(|_| KtError::Akd(format!("the recorded root of epoch {epoch} is not 32 bytes")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let proof = self.directory.audit(start, end).await?;
        Ok((hashes, proof))
    }
}

/// akd's "not found" as [`KtError::NotFound`]; anything else as it is.
fn not_found_or(e: AkdError, username: &str) -> KtError {
    match e {
        AkdError::Storage(StorageError::NotFound(_)) => {
            KtError::NotFound(format!("there is no user {} in the key directory", crate::limits::shown(username)))
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    use crate::store::NewDevice;
    use hush_core::identity::SecretKey;

    fn device(id: &str) -> (NewDevice, PublicKey) {
        let key = SecretKey::generate().public();
        let d = NewDevice {
            device_id: id.to_owned(),
            public_key: key.0.to_vec(),
            certificate: vec![1],
            key_packages: Vec::new(),
            last_resort: vec![2],
        };
        (d, key)
    }

    #[tokio::test]
    async fn only_pending_users_are_published_and_every_root_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
        let kt = Kt::open(&store, dir.path()).await.unwrap();
        assert_eq!(kt.latest_root().await.unwrap().epoch, 0);
        // Nothing pending: no epoch.
        let (root, n) = kt.publish_pending().await.unwrap();
        assert_eq!((root.epoch, n), (0, 0));

        let ik = SecretKey::generate().public();
        let (d1, k1) = device("d1");
        let (d2, k2) = device("d2");
        store.register("ann", &ik.0, &d1, 0).await.unwrap();
        store.register("ben", &SecretKey::generate().public().0, &d2, 0).await.unwrap();
        let (root, n) = kt.publish_pending().await.unwrap();
        assert_eq!((root.epoch, n), (1, 2), "both users in one epoch");
        assert_eq!(kt.publish_pending().await.unwrap(), (root, 0));

        let (d3, k3) = device("d3");
        store.add_device("ann", &ik.0, &d3, 0).await.unwrap();
        let (root2, n) = kt.publish_pending().await.unwrap();
        assert_eq!((root2.epoch, n), (2, 1));
        let (proof_root, proof) = kt.lookup("ann").await.unwrap();
        assert_eq!(proof_root, root2);
        let v = hush_core::kt::verify_lookup(
            kt.vrf_public_key(),
            &hush_core::kt::Root { epoch: root2.epoch, hash: root2.hash },
            "ann",
            &serde_json::to_vec(&proof).unwrap(),
        )
        .unwrap();
        let devices = [("d1".to_owned(), k1), ("d3".to_owned(), k3)];
        assert_eq!(v.value, hush_core::kt::directory_value(&ik, &devices));
        let _ = k2;

        let roots = store.kt_roots(0, 10).await.unwrap();
        assert_eq!(roots.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(matches!(kt.lookup("nobody").await, Err(KtError::NotFound(_))));
        assert!(matches!(kt.audit(1, 3).await, Err(KtError::BadRange(_))));
        assert!(matches!(kt.audit(1, 1).await, Err(KtError::BadRange(_))));
        assert_eq!(kt.audit(0, 2).await.unwrap().0.len(), 3);
    }

    #[tokio::test]
    async fn the_scheduled_publisher_publishes_what_is_pending_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
        let kt = Kt::open(&store, dir.path()).await.unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(kt_publisher(kt.clone(), std::time::Duration::from_millis(20), stopped));
        let (d1, _) = device("d1");
        store.register("ann", &SecretKey::generate().public().0, &d1, 0).await.unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while kt.latest_root().await.unwrap().epoch == 0 {
            assert!(tokio::time::Instant::now() < deadline, "nothing was published");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(kt.lookup("ann").await.is_ok());
        stop.send(true).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), task).await.unwrap().unwrap();
    }

    /// Timing of proofs over a directory of 2000 users (run with `--ignored --nocapture`).
    #[tokio::test]
    #[ignore]
    async fn proof_timings() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
        let kt = Kt::open(&store, dir.path()).await.unwrap();
        for i in 0..2000 {
            let (d, _) = device(&format!("d{i}"));
            store.register(&format!("u{i}"), &SecretKey::generate().public().0, &d, 0).await.unwrap();
        }
        let t = std::time::Instant::now();
        kt.publish_pending().await.unwrap();
        println!("publish 2000: {:?}", t.elapsed());
        let t = std::time::Instant::now();
        for i in 0..200 {
            kt.lookup(&format!("u{}", i * 7)).await.unwrap();
        }
        println!("lookup: {:?} each", t.elapsed() / 200);
        // Cold: a fresh directory over the same database (empty cache).
        let kt2 = Kt::open(&store, dir.path()).await.unwrap();
        let t = std::time::Instant::now();
        for i in 0..200 {
            kt2.lookup(&format!("u{}", i * 7 + 1)).await.unwrap();
        }
        println!("cold lookup: {:?} each", t.elapsed() / 200);
        let t = std::time::Instant::now();
        kt.history("u5").await.unwrap();
        println!("history: {:?}", t.elapsed());
    }

    #[test]
    fn the_vrf_key_is_created_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VRF_KEY_FILE);
        assert!(FileVrf::load_or_create(&path, false).is_err(), "may not create when told not to");
        let a = FileVrf::load_or_create(&path, true).unwrap();
        let b = FileVrf::load_or_create(&path, true).unwrap();
        assert_eq!(*a.secret, *b.secret);
        assert_eq!(std::fs::read(&path).unwrap().len(), VRF_KEY_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(format!("{a:?}"), "FileVrf(..)");
        std::fs::write(&path, b"short").unwrap();
        assert!(FileVrf::load_or_create(&path, true).is_err());
    }
}

//! `hush bench`'s measurement of the directory: publish time, proof size and timings.

use std::path::Path;

use akd::AkdValue;

use super::{Kt, KtError, Root};
use crate::store::{DATABASE_FILE, Store};

/// Figures from [`bench()`].
#[derive(Debug, Clone)]
pub struct KtBenchReport {
    /// Users published in one epoch.
    pub users: usize,
    /// Time to publish them (akd over SQLite, durable).
    pub publish: std::time::Duration,
    /// Size of one lookup proof as sent on the wire (serde-JSON), bytes.
    pub lookup_proof_bytes: usize,
    /// Mean time to generate one lookup proof.
    pub lookup_generate: std::time::Duration,
    /// Mean time for a client to verify one lookup proof (`hush_core::kt::verify_lookup`).
    pub lookup_verify: std::time::Duration,
}

/// Measures the directory for `hush bench`: `users` users (each an identity key and one
/// device) published in a single epoch into a fresh directory in `data_dir`, then
/// `samples` lookup proofs generated and verified as a client would.
pub async fn bench(data_dir: &Path, users: usize, samples: usize) -> Result<KtBenchReport, KtError> {
    use std::time::Instant;
    std::fs::create_dir_all(data_dir).map_err(|e| KtError::Akd(format!("can't create {}: {e}", data_dir.display())))?;
    let store = Store::open_sqlite(&data_dir.join(DATABASE_FILE)).await?;
    let kt = Kt::open(&store, data_dir).await?;
    let mut updates = Vec::with_capacity(users);
    for i in 0..users {
        let ik = hush_core::identity::SecretKey::generate().public();
        let dk = hush_core::identity::SecretKey::generate().public();
        let value = hush_core::kt::directory_value(&ik, &[(format!("{i:016x}"), dk)]);
        updates.push((hush_core::kt::label(&format!("user{i}")), AkdValue(value)));
    }
    let t = Instant::now();
    let root: Root = kt.directory.publish(updates).await?.into();
    let publish = t.elapsed();
    let samples = samples.max(1);
    let (mut generate, mut verify, mut bytes) = (std::time::Duration::ZERO, std::time::Duration::ZERO, 0);
    for k in 0..samples {
        let name = format!("user{}", (k * 7919) % users.max(1));
        let t = Instant::now();
        let (_, proof) = kt.lookup(&name).await?;
        generate += t.elapsed();
        let wire = serde_json::to_vec(&proof).map_err(|e| KtError::Akd(e.to_string()))?;
        bytes = wire.len();
        let t = Instant::now();
        hush_core::kt::verify_lookup(kt.vrf_public_key(), &hush_core::kt::Root { epoch: root.epoch, hash: root.hash }, &name, &wire)
            .map_err(|e| KtError::Akd(e.to_string()))?;
        verify += t.elapsed();
    }
    store.close().await;
    let n = u32::try_from(samples).unwrap_or(u32::MAX);
    Ok(KtBenchReport {
        users,
        publish,
        lookup_proof_bytes: bytes,
        lookup_generate: generate / n,
        lookup_verify: verify / n,
    })
}

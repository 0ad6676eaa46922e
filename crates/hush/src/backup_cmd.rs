//! `hush server backup` and `hush server restore`: the operator's side of
//! `hush_server::backup`.

use std::path::Path;

fn utc(ms: i64) -> String {
    hush_core::display::date_utc(ms)
}

pub async fn backup(data: &Path, dest: &Path) -> anyhow::Result<()> {
    let m = hush_server::backup::backup(data, dest).await?;
    println!(
        "backup written to {}: {} accounts, {} files ({} bytes), key directory at epoch {}, taken {}",
        dest.display(),
        m.users,
        m.blobs,
        m.blob_bytes,
        m.directory_epoch,
        utc(m.taken_at)
    );
    if m.blobs_missing > 0 {
        eprintln!(
            "warning: {} files were deleted while the backup ran (nothing referred to them any more); the backup refers to them but does not hold them",
            m.blobs_missing
        );
    }
    Ok(())
}

pub async fn restore(backup: &Path, data: &Path) -> anyhow::Result<()> {
    let m = hush_server::backup::restore(backup, data).await?;
    println!(
        "restored the backup taken {} into {}: {} accounts, {} files, key directory at epoch {}",
        utc(m.taken_at),
        data.display(),
        m.users,
        m.blobs,
        m.directory_epoch
    );
    println!(
        "lost: everything after the backup was taken (accounts, devices, messages not yet delivered, files, revocations); clients are told of the restore when they next connect"
    );
    Ok(())
}

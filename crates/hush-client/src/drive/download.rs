//! Downloads: `get` and `export`. The blob goes to a `.part` file in the home (continued
//! after an interruption), is checked against the signed manifest and decrypted (or
//! re-encrypted for an age recipient) into a recorded temporary file, and only then
//! delivered.

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use hush_core::files::{self, EntryKind, FileVersion};

use super::deliver::deliver_file;
use super::pipeline::decrypt_checked;
use super::progress::{Meter, Stage};
use super::{Destination, GetReport, TransferOptions, file_err, io_err, usage};
use crate::{Client, ClientError};

impl Client {
    /// Downloads, checks and decrypts a file to `out`; nothing reaches `out` unless every
    /// check passed.
    pub async fn get(&mut self, spec: &str, out: &Destination, version: Option<u64>, opts: TransferOptions) -> Result<GetReport, ClientError> {
        self.fetch(spec, out, version, opts, None).await
    }

    /// Like [`Client::get`], but writes a standard age file for `recipient` (`age1…`).
    pub async fn export(&mut self, spec: &str, recipient: &str, out: &Destination, opts: TransferOptions) -> Result<GetReport, ClientError> {
        // Refuse a bad recipient before downloading anything.
        files::encrypt_for_recipient(recipient, std::io::empty(), std::io::sink()).map_err(file_err)?;
        self.fetch(spec, out, None, opts, Some(recipient.trim().to_owned())).await
    }

    /// Downloads the blob of one version of the file at `spec`, checks it, decrypts it (or
    /// re-encrypts it for an age `recipient`) and delivers it to `out`.
    async fn fetch(
        &mut self,
        spec: &str,
        out: &Destination,
        version: Option<u64>,
        opts: TransferOptions,
        recipient: Option<String>,
    ) -> Result<GetReport, ClientError> {
        self.clean_stale_outputs();
        let deliver = self.plan_destination(out)?;
        self.sync().await?;
        let loc = self.locate(spec, false).await?;
        let tree = self.load_tree(&loc).await?;
        let m = tree.lookup(&loc.path).map_err(usage)?.ok_or_else(|| usage("name the file to get"))?;
        if m.kind == EntryKind::Folder {
            return Err(usage(format!("{} is a folder; get the files in it one by one", loc.path)));
        }
        let v = match version {
            None => m.current().cloned(),
            Some(n) => m.versions.iter().find(|v| v.version == n).cloned(),
        }
        .ok_or_else(|| {
            let kept: Vec<String> = m.versions.iter().map(|v| v.version.to_string()).collect();
            usage(format!("{} has no version {}; kept: {}", loc.path, version.unwrap_or(0), kept.join(", ")))
        })?;
        let name = m.name.clone();

        // 1. The blob, into the home, continuing an interrupted download.
        let part = self.transfers_dir()?.join(format!("{}.part", v.blob_id));
        let mut resumed_from = self.receive_blob(&part, &v, &name, &opts).await.inspect_err(|e| {
            // Bytes a check refused are never continued from.
            if !is_short_download(e) {
                let _ = fs::remove_file(&part);
            }
        })?;

        // 2. Check and decrypt into a temporary file (recorded first, so that a crash
        // leaves nothing the next run doesn't remove); deliver only when the hash, the
        // length and every age chunk verified.
        let tmp = self.temporary_output(out, &deliver)?;
        let record = self.record_output(&tmp)?;
        let result = async {
            if let Some(progress) = &opts.progress {
                progress.stage(Stage::Checking { name: &name });
            }
            let mut checked = decrypt_checked(&part, &tmp, &v, recipient.clone()).await;
            if checked.is_err() && resumed_from.is_some() {
                // What an earlier download left may not be what this server holds now
                // (a server that served wrong bytes then, an honest one now): once more
                // from the start before giving up.
                let _ = fs::remove_file(&part);
                let _ = fs::remove_file(&tmp);
                resumed_from = None;
                self.receive_blob(&part, &v, &name, &opts).await?;
                checked = decrypt_checked(&part, &tmp, &v, recipient.clone()).await;
            }
            let size = checked?;
            deliver_file(&tmp, &deliver)?;
            Ok::<_, ClientError>(size)
        }
        .await;
        let _ = fs::remove_file(&tmp);
        let _ = fs::remove_file(&record);
        match result {
            Ok(size) => {
                let _ = fs::remove_file(&part);
                Ok(GetReport { size, resumed_from })
            }
            Err(e) => {
                // A blob that failed its checks is not kept for a later resume; one cut
                // short is (run the same command again to continue).
                if !is_short_download(&e) {
                    let _ = fs::remove_file(&part);
                }
                Err(e)
            }
        }
    }

    /// Downloads the blob into `part`, continuing from what an interrupted download left
    /// there; returns where it continued from, if it did.
    pub(super) async fn receive_blob(&self, part: &Path, v: &FileVersion, name: &str, opts: &TransferOptions) -> Result<Option<u64>, ClientError> {
        let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let from = if have > v.blob_size { 0 } else { have };
        let resumed_from = (from > 0).then_some(from);
        if from == v.blob_size {
            return Ok(resumed_from);
        }
        let mut file = OpenOptions::new().create(true).append(false).write(true).truncate(false).open(part).map_err(|e| io_err("can't write", part, e))?;
        file.set_len(from).map_err(|e| io_err("can't write", part, e))?;
        file.seek(SeekFrom::Start(from)).map_err(|e| io_err("can't write", part, e))?;
        let path = format!("/v1/blobs/{}?offset={from}", v.blob_id);
        let mut resp = self.api.get_stream(&self.signer(), &path).await?;
        let mut offset = from;
        let mut meter = Meter::new(opts, from, Stage::Downloading { name, total: v.blob_size, from });
        loop {
            let chunk = resp
                .chunk()
                .await
                .map_err(|e| ClientError::Api(crate::api::ApiError::Unreachable { url: self.server().to_owned(), reason: e.to_string() }))?;
            let Some(chunk) = chunk else { break };
            offset += chunk.len() as u64;
            if offset > v.blob_size {
                drop(file);
                let _ = fs::remove_file(part);
                return Err(file_err(files::FileError::BlobMismatch("the server sent more bytes than the file has".into())));
            }
            file.write_all(&chunk).map_err(|e| io_err("can't write", part, e))?;
            meter.advance(offset).await;
        }
        file.sync_data().map_err(|e| io_err("can't write", part, e))?;
        meter.done();
        if offset != v.blob_size {
            return Err(file_err(files::FileError::BlobMismatch(format!(
                "the server sent {offset} of {} bytes; {SHORT_DOWNLOAD}",
                v.blob_size
            ))));
        }
        Ok(resumed_from)
    }
}

/// Whether a download stopped short (the connection or the server cut it): what arrived is
/// kept to continue from.
fn is_short_download(e: &ClientError) -> bool {
    matches!(e, ClientError::Api(_)) || e.to_string().contains(SHORT_DOWNLOAD)
}

/// The end of the sentence for a download cut short.
const SHORT_DOWNLOAD: &str = "run the same command again to continue";

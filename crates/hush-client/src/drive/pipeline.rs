//! The two-thread pipelines that keep both cores busy: encrypting into a staging file
//! while another thread hashes and writes, hashing a file, and reading and hashing a blob
//! while this thread decrypts (or re-encrypts) it, refusing it unless it matches its
//! manifest.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use hush_core::files::{self, FileKey, FileVersion};
use sha2::{Digest, Sha256};

use super::{file_err, io_err};
use crate::ClientError;

/// How much is handed from one thread to the other at a time.
const BLOCK: usize = 1024 * 1024;

/// Sends what is written, in blocks, to another thread.
struct ChannelWriter {
    tx: Option<SyncSender<Vec<u8>>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BLOCK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let block = std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK + 64 * 1024));
        match &self.tx {
            Some(tx) => tx.send(block).map_err(|_| std::io::Error::other("the writing thread stopped")),
            None => Ok(()),
        }
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.flush();
        self.tx = None;
    }
}

/// Reads blocks another thread sends.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    block: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.block.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.block = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.block.len() - self.pos);
        out[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Encrypts `local` into `staging` on this thread while another hashes and writes the
/// ciphertext (both cores busy). Returns the blob's length and SHA-256.
pub(super) async fn encrypt_to_staging(key: &FileKey, local: &Path, staging: &Path) -> Result<(u64, String), ClientError> {
    let key = key.clone();
    let (local, staging) = (local.to_path_buf(), staging.to_path_buf());
    tokio::task::spawn_blocking(move || -> Result<(u64, String), ClientError> {
        let input = File::open(&local).map_err(|e| io_err("can't read", &local, e))?;
        let mut out = File::create(&staging).map_err(|e| io_err("can't write", &staging, e))?;
        let (tx, rx) = sync_channel::<Vec<u8>>(4);
        let writer = std::thread::spawn(move || -> std::io::Result<(u64, String)> {
            let mut h = Sha256::new();
            let mut n = 0u64;
            for block in rx {
                h.update(&block);
                out.write_all(&block)?;
                n += block.len() as u64;
            }
            out.sync_all()?;
            Ok((n, hex::encode(h.finalize())))
        });
        let sink = ChannelWriter { tx: Some(tx), buf: Vec::with_capacity(BLOCK + 64 * 1024) };
        let encrypted = files::encrypt(&key, std::io::BufReader::with_capacity(BLOCK, input), sink);
        let written = writer.join().map_err(|_| ClientError::Internal("the writing thread panicked".into()))?;
        encrypted.map_err(file_err)?;
        written.map_err(|e| io_err("can't write", &staging, e))
    })
    .await
    .map_err(|e| ClientError::Internal(e.to_string()))?
}

/// A file's length and SHA-256 (hex).
pub(super) async fn hash_file(path: &Path) -> Result<(u64, String), ClientError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<(u64, String), ClientError> {
        let mut f = File::open(&path).map_err(|e| io_err("can't read", &path, e))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; BLOCK];
        let mut n = 0u64;
        loop {
            let got = f.read(&mut buf).map_err(|e| io_err("can't read", &path, e))?;
            if got == 0 {
                break;
            }
            h.update(&buf[..got]);
            n += got as u64;
        }
        Ok((n, hex::encode(h.finalize())))
    })
    .await
    .map_err(|e| ClientError::Internal(e.to_string()))?
}

/// Reads and hashes the blob on one thread while this one decrypts it (or re-encrypts it
/// for an age recipient) into `tmp`. Fails unless the length and hash match the manifest
/// and every age check passed.
pub(super) async fn decrypt_checked(part: &Path, tmp: &Path, v: &FileVersion, recipient: Option<String>) -> Result<u64, ClientError> {
    let (part, tmp, v) = (part.to_path_buf(), tmp.to_path_buf(), v.clone());
    tokio::task::spawn_blocking(move || -> Result<u64, ClientError> {
        let mut input = File::open(&part).map_err(|e| io_err("can't read", &part, e))?;
        let (tx, rx) = sync_channel::<Vec<u8>>(4);
        let reader = std::thread::spawn(move || -> std::io::Result<(u64, String)> {
            let mut h = Sha256::new();
            let mut n = 0u64;
            loop {
                let mut block = vec![0u8; BLOCK];
                let got = input.read(&mut block)?;
                if got == 0 {
                    break;
                }
                block.truncate(got);
                h.update(&block);
                n += got as u64;
                if tx.send(block).is_err() {
                    break;
                }
            }
            Ok((n, hex::encode(h.finalize())))
        });
        let out = File::create(&tmp).map_err(|e| io_err("can't write", &tmp, e))?;
        let mut out = std::io::BufWriter::with_capacity(BLOCK, out);
        let source = ChannelReader { rx, block: Vec::new(), pos: 0 };
        let decrypted = match &recipient {
            None => files::decrypt(&v.key, source, &mut out),
            Some(r) => files::reencrypt_for_recipient(&v.key, r, source, &mut out),
        };
        let (n, hash) = reader
            .join()
            .map_err(|_| ClientError::Internal("the reading thread panicked".into()))?
            .map_err(|e| io_err("can't read", &part, e))?;
        // The manifest's length and hash first: they name what the server changed.
        if n != v.blob_size {
            return Err(file_err(files::FileError::BlobMismatch(format!("it has {n} bytes, the manifest says {}", v.blob_size))));
        }
        if hash != v.blob_sha256 {
            return Err(file_err(files::FileError::BlobMismatch("its SHA-256 differs from the manifest's".into())));
        }
        let size = decrypted.map_err(file_err)?;
        if recipient.is_none() && size != v.size {
            return Err(file_err(files::FileError::BlobMismatch(format!("it decrypts to {size} bytes, the manifest says {}", v.size))));
        }
        let f = out.into_inner().map_err(|e| io_err("can't write", &tmp, e.into_error()))?;
        f.sync_all().map_err(|e| io_err("can't write", &tmp, e))?;
        Ok(size)
    })
    .await
    .map_err(|e| ClientError::Internal(e.to_string()))?
}

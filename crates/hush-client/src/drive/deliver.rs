//! Where verified output goes: the destination planned before anything is downloaded
//! (never clobbered without `--force`; links, devices and pipes written through), the
//! temporary file recorded before it exists (so that a crash leaves no plaintext the next
//! command doesn't remove), and the delivery once every check passed.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Destination, io_err, usage};
use crate::{Client, ClientError};

/// How verified content reaches the destination.
pub(super) enum Deliver {
    /// Rename the temporary file (next to the destination) over it: atomic.
    Rename(PathBuf),
    /// Copy the temporary file (in the home) into this existing link, device or pipe.
    WriteThrough(PathBuf),
    /// Copy the temporary file (in the home) to standard output.
    Stdout,
}

impl Client {
    /// Removes the temporary plaintext files an interrupted `get` or `export` left (each
    /// is recorded in `HOME/transfers/outputs` before it is created). The home's lock is
    /// held, so no other hush process is writing them.
    pub fn clean_stale_outputs(&self) {
        let dir = self.home().join("transfers").join("outputs");
        let Ok(records) = fs::read_dir(&dir) else { return };
        for r in records.flatten() {
            if let Ok(bytes) = fs::read(r.path()) {
                #[cfg(unix)]
                let target = PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(bytes));
                #[cfg(not(unix))]
                let target = PathBuf::from(String::from_utf8_lossy(&bytes).into_owned());
                // Only files hush names this way, whatever the record says.
                let ours = target.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(".hush-") && n.ends_with(".partial"));
                if ours {
                    let _ = fs::remove_file(&target);
                }
            }
            let _ = fs::remove_file(r.path());
        }
    }

    /// Records a temporary plaintext file before it exists; returns the record.
    pub(super) fn record_output(&self, tmp: &Path) -> Result<PathBuf, ClientError> {
        let dir = self.transfers_dir()?.join("outputs");
        fs::create_dir_all(&dir).map_err(|e| io_err("can't create", &dir, e))?;
        let record = dir.join(hush_core::message::new_id());
        let absolute = std::path::absolute(tmp).map_err(|e| io_err("can't write", tmp, e))?;
        fs::write(&record, absolute.as_os_str().as_encoded_bytes()).map_err(|e| io_err("can't write", &record, e))?;
        Ok(record)
    }

    /// Decides, before anything is downloaded, how the verified file reaches `out`.
    pub(super) fn plan_destination(&self, out: &Destination) -> Result<Deliver, ClientError> {
        let (path, force) = match out {
            Destination::Stdout => return Ok(Deliver::Stdout),
            Destination::File { path, force } => (path, *force),
        };
        let exists = |p: &Path| usage(format!("{} already exists; pass --force to replace it", p.display()));
        match fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if !dir.is_dir() {
                    return Err(usage(format!("the folder {} doesn't exist", dir.display())));
                }
                Ok(Deliver::Rename(path.clone()))
            }
            Err(e) => Err(io_err("can't write", path, e)),
            Ok(meta) if meta.file_type().is_symlink() => match fs::metadata(path) {
                Err(_) => Err(usage(format!("{} is a link that points nowhere; give another file name", path.display()))),
                Ok(t) if t.is_dir() => Err(usage(format!("{} is a folder; give the file name to write", path.display()))),
                Ok(t) if t.is_file() && !force => Err(exists(path)),
                Ok(_) => Ok(Deliver::WriteThrough(path.clone())),
            },
            Ok(meta) if meta.is_dir() => Err(usage(format!("{} is a folder; give the file name to write", path.display()))),
            Ok(meta) if meta.is_file() => {
                if force {
                    Ok(Deliver::Rename(path.clone()))
                } else {
                    Err(exists(path))
                }
            }
            // A device, a pipe or a socket: written through.
            Ok(_) => Ok(Deliver::WriteThrough(path.clone())),
        }
    }

    /// The temporary file verified content is written to before delivery: next to the
    /// destination when it will be renamed there, in the home otherwise.
    pub(super) fn temporary_output(&self, out: &Destination, deliver: &Deliver) -> Result<PathBuf, ClientError> {
        let label = match out {
            Destination::File { path, .. } => path.file_name().and_then(|n| n.to_str()).unwrap_or("file").to_owned(),
            Destination::Stdout => "stdout".to_owned(),
        };
        let tmp_name = format!(".{label}.hush-{}.partial", hush_core::message::new_id());
        Ok(match deliver {
            Deliver::Rename(p) => match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.join(&tmp_name),
                _ => PathBuf::from(&tmp_name),
            },
            Deliver::WriteThrough(_) | Deliver::Stdout => self.transfers_dir()?.join(&tmp_name),
        })
    }
}

/// Puts the verified temporary file where it goes.
pub(super) fn deliver_file(tmp: &Path, deliver: &Deliver) -> Result<(), ClientError> {
    match deliver {
        Deliver::Rename(out) => {
            fs::rename(tmp, out).map_err(|e| io_err("can't write", out, e))?;
            let dir = match out.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
        }
        Deliver::WriteThrough(out) => {
            let mut from = File::open(tmp).map_err(|e| io_err("can't read", tmp, e))?;
            // Opened without creating or replacing anything: through the link, into the
            // device or the pipe.
            let mut to = OpenOptions::new().write(true).truncate(true).open(out).map_err(|e| io_err("can't write", out, e))?;
            std::io::copy(&mut from, &mut to).map_err(|e| io_err("can't write", out, e))?;
            to.flush().map_err(|e| io_err("can't write", out, e))?;
        }
        Deliver::Stdout => {
            let mut from = File::open(tmp).map_err(|e| io_err("can't read", tmp, e))?;
            let stdout = std::io::stdout();
            let mut to = stdout.lock();
            std::io::copy(&mut from, &mut to)
                .and_then(|_| to.flush())
                .map_err(|e| ClientError::Usage(format!("can't write to standard output: {}", hush_proto::fsio::io_reason(&e))))?;
        }
    }
    Ok(())
}

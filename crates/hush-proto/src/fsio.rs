//! The two file-system facts both sides share: how a file is replaced durably, and how an
//! I/O error reads in a sentence. (hush-core does no I/O; this is the lowest crate that may.)

use std::io::{self, Write as _};
use std::path::Path;

/// Replaces `path` with `bytes` so that a crash leaves either the old file or the new one,
/// never a mix: the bytes go to a temporary file in the same directory (created readable by
/// its owner only), which is flushed to disk, renamed over `path`, and the directory is
/// flushed so the rename survives a power cut.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".hush-write-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// Flushes a directory's entries (a rename in it) to disk. Not every platform can open a
/// directory; there the rename is as durable as the platform makes it.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        // An error here means the platform can't flush directories; nothing more to do.
        let _ = d.sync_all();
    }
}

/// An I/O error as a lowercase phrase without the OS error number ("permission denied"
/// rather than "Permission denied (os error 13)"), to end a sentence with.
pub fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.find(" (os error").map_or(text.as_str(), |i| &text[..i]);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_whole_file_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        write_atomic(&path, b"first version, longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn a_write_into_a_missing_directory_fails_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("missing/state"), b"x").unwrap_err();
        assert_eq!(io_reason(&err), "no such file or directory");
    }
}

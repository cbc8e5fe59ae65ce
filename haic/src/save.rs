//! Crash-safe writing: a temporary file in the same directory, fsynced, renamed over the target,
//! then the directory fsynced, so the file is always either the old or the new version.

use std::{
    fs::{self, File},
    io::Write,
    path::{Path, PathBuf},
};

use crate::error::Error;

/// `<file>.bak`: the previous version, kept by saves that ask for it.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".bak");
    PathBuf::from(name)
}

/// Replaces `path` with `bytes` atomically, keeping the old version as `<file>.bak` when
/// `keep_backup` is set and the file exists.
pub fn write_atomic(path: &Path, bytes: &[u8], keep_backup: bool) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let io = |error| Error::io(path, error);
    let mut temp = tempfile::Builder::new()
        .prefix(".haic-save-")
        .tempfile_in(dir)
        .map_err(io)?;
    temp.write_all(bytes).map_err(io)?;
    let existing = fs::metadata(path).ok();
    if let Some(metadata) = &existing {
        temp.as_file()
            .set_permissions(metadata.permissions())
            .map_err(io)?;
    }
    temp.as_file().sync_all().map_err(io)?;
    if keep_backup && existing.is_some() {
        let backup = backup_path(path);
        let mut copy = tempfile::Builder::new()
            .prefix(".haic-backup-")
            .tempfile_in(dir)
            .map_err(|error| Error::io(&backup, error))?;
        let mut original = File::open(path).map_err(io)?;
        std::io::copy(&mut original, &mut copy).map_err(|error| Error::io(&backup, error))?;
        copy.as_file()
            .sync_all()
            .map_err(|error| Error::io(&backup, error))?;
        copy.persist(&backup)
            .map_err(|error| Error::io(&backup, error.error))?;
    }
    temp.persist(path).map_err(|error| io(error.error))?;
    sync_dir(dir).map_err(|error| Error::io(dir, error))
}

/// Makes the rename durable: on Unix a directory entry change is only on disk once the
/// directory itself is fsynced.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

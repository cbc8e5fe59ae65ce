//! Crash-safe writing: a temporary file in the same directory, fsynced, renamed over the target,
//! then the directory fsynced, so the file is always either the old or the new version.
//!
//! Files keep the permissions they should have: a replaced file keeps its own, its `.bak` gets
//! them too, a file made from another (a conversion, an export) gets that file's, and any other
//! new file is created as `File::create` would (0666 less the umask), never the 0600 of a
//! temporary file.

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
    write(path, bytes, keep_backup, None)
}

/// Writes `bytes`, made from the file `source` (converted, exported), atomically to `path`: a
/// new file gets `source`'s permissions; an existing one keeps its own.
pub fn write_derived(path: &Path, bytes: &[u8], source: &Path) -> Result<(), Error> {
    write(path, bytes, false, Some(source))
}

fn write(path: &Path, bytes: &[u8], keep_backup: bool, source: Option<&Path>) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let io = |error| Error::io(path, error);
    let existing = fs::metadata(path).ok();
    let permissions = match (&existing, source) {
        (Some(metadata), _) => Some(metadata.permissions()),
        (None, Some(source)) => Some(
            fs::metadata(source)
                .map_err(|error| Error::io(source, error))?
                .permissions(),
        ),
        (None, None) => None,
    };
    let mut temp = temporary(dir, ".haic-save-").map_err(io)?;
    temp.write_all(bytes).map_err(io)?;
    if let Some(permissions) = &permissions {
        temp.as_file()
            .set_permissions(permissions.clone())
            .map_err(io)?;
    }
    temp.as_file().sync_all().map_err(io)?;
    if keep_backup && let Some(metadata) = &existing {
        let backup = backup_path(path);
        let backup_io = |error| Error::io(&backup, error);
        let mut copy = temporary(dir, ".haic-backup-").map_err(backup_io)?;
        let mut original = File::open(path).map_err(io)?;
        std::io::copy(&mut original, &mut copy).map_err(backup_io)?;
        copy.as_file()
            .set_permissions(metadata.permissions())
            .map_err(backup_io)?;
        copy.as_file().sync_all().map_err(backup_io)?;
        copy.persist(&backup)
            .map_err(|error| backup_io(error.error))?;
    }
    temp.persist(path).map_err(|error| io(error.error))?;
    sync_dir(dir).map_err(|error| Error::io(dir, error))
}

/// A temporary file in `dir` created with the mode an ordinary new file gets (the umask
/// applies), rather than tempfile's private 0600.
fn temporary(dir: &Path, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
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

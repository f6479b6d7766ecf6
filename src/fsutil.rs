//! Writing files atomically with owner-only permissions.
//!
//! Exports, plan files and backups hold personal data (and exports hold password hashes), so they
//! are created with mode 0600 and appear under their final name only when complete: the content
//! goes to a temporary file in the same directory, is flushed to disk, then renamed over the
//! target. A crash or a full disk leaves either the old file or the new one, never half of one.
//! This module does not choose paths or formats; callers do.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Writes `contents` to `path` atomically, with mode 0600 on Unix.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |writer| writer.write_all(contents))
}

/// Writes a file atomically through `write`, which receives a buffered writer; mode 0600 on Unix.
///
/// Use this to serialize a large document straight to disk without building it in memory first.
/// If `write` fails, the temporary file is removed and the target is left untouched.
pub fn write_atomic_with<F>(path: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut BufWriter<&mut File>) -> io::Result<()>,
{
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // `tempfile` creates the file with mode 0600 on Unix, so the data is never readable by
    // others, not even for the moment before the rename.
    let mut temporary = tempfile::Builder::new()
        .prefix(".poolsync-")
        .suffix(".tmp")
        .tempfile_in(directory)?;
    {
        let mut writer = BufWriter::new(temporary.as_file_mut());
        write(&mut writer)?;
        writer.flush()?;
    }
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|error| error.error)?;
    sync_directory(directory)
}

/// Makes the rename itself durable: on Unix a rename is only on disk once its directory is.
#[cfg(unix)]
fn sync_directory(directory: &Path) -> io::Result<()> {
    File::open(directory)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_directory: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftover_temporary_files(directory: &Path) -> Vec<String> {
        std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".poolsync-"))
            .collect()
    }

    #[test]
    fn replaces_the_file_with_owner_only_mode_and_leaves_no_temporary_file() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("export.json");
        std::fs::write(&path, "old").unwrap();
        write_atomic(&path, b"{\"users\": []}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"users\": []}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(leftover_temporary_files(directory.path()).is_empty());
    }

    #[test]
    fn a_failing_writer_keeps_the_old_file() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("plan.json");
        std::fs::write(&path, "old").unwrap();
        let result = write_atomic_with(&path, |writer| {
            writer.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert_eq!(result.unwrap_err().to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(leftover_temporary_files(directory.path()).is_empty());
    }
}

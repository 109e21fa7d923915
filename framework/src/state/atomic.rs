//! Crash-safe file replacement in the state dir: write a temporary file in
//! the same directory, fsync it, rename it over the target, fsync the
//! directory. A crash leaves either the old or the new content, plus maybe a
//! temporary file, which [`remove_temp_files`] deletes at the next open.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Prefix of temporary files; no state file starts with it.
pub(super) const TEMP_PREFIX: &str = ".tmp.";

/// Replaces `dir/name` with `bytes` atomically and durably.
pub(super) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(
        "{TEMP_PREFIX}{name}.{}",
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes `dir/name` durably; false when it did not exist.
pub(super) fn remove_durably(dir: &Path, name: &str) -> io::Result<bool> {
    match fs::remove_file(dir.join(name)) {
        Ok(()) => sync_dir(dir).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes the temporary files a crash left in `dir`; returns how many.
pub(super) fn remove_temp_files(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// `fsync` on the directory, so a rename or unlink survives a power loss.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "f.json", b"one").unwrap();
        write_atomic(dir.path(), "f.json", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("f.json")).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temporaries_left_by_a_crash_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".tmp.f.json.abc"), b"half").unwrap();
        fs::write(dir.path().join("f.json"), b"whole").unwrap();
        assert_eq!(remove_temp_files(dir.path()).unwrap(), 1);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f.json"]);
    }

    #[test]
    fn removing_a_missing_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!remove_durably(dir.path(), "nope").unwrap());
        fs::write(dir.path().join("yes"), b"").unwrap();
        assert!(remove_durably(dir.path(), "yes").unwrap());
    }
}

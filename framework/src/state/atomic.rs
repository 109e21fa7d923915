//! Crash-safe file replacement in the state dir: write a temporary file in
//! the same directory, fsync it, rename it over the target, fsync the
//! directory. A crash leaves either the old or the new content, plus maybe a
//! temporary file, which [`remove_temp_files`] deletes at the next open.
//! [`write_batch`] does the same for many files with one directory `fsync`
//! for the whole batch (and one `syncfs` for the data of a large batch).

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

/// Up to this many files a batch syncs each file (`fdatasync`); more are
/// made durable by one `syncfs`, which also flushes what other programs
/// left dirty on the filesystem (an OVSDB log beside the state dir).
const SYNC_EACH_MAX: usize = 16;

/// Replaces (`Some`) or removes (`None`) many files of `dir` at once,
/// atomically per file and durably for the batch: every temporary file is
/// written and its data made durable (`fdatasync` each for a few files, one
/// `syncfs` for more than [`SYNC_EACH_MAX`]), then each is renamed over
/// its target, removals are unlinked, and one `fsync` of the directory makes
/// the names durable. A file that fails is left as it was (its temporary
/// removed) and named in the errors; the others are still written.
pub(super) fn write_batch(
    dir: &Path,
    changes: Vec<(String, Option<Vec<u8>>)>,
) -> Vec<(String, io::Error)> {
    let mut errors = Vec::new();
    let mut staged = Vec::new();
    let mut removals = Vec::new();
    let sync_each = changes.iter().filter(|(_, b)| b.is_some()).count() <= SYNC_EACH_MAX;
    for (name, bytes) in changes {
        let Some(bytes) = bytes else {
            removals.push(name);
            continue;
        };
        let tmp = dir.join(format!(
            "{TEMP_PREFIX}{name}.{}",
            uuid::Uuid::new_v4().simple()
        ));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(&bytes)?;
                if sync_each {
                    f.sync_data()?;
                }
                Ok(())
            });
        match written {
            Ok(()) => staged.push((name, tmp)),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                errors.push((name, e));
            }
        }
    }
    if !sync_each && !staged.is_empty() {
        let synced = File::open(dir).and_then(|d| nix::unistd::syncfs(&d).map_err(io::Error::from));
        if let Err(e) = synced {
            for (name, tmp) in staged.drain(..) {
                let _ = fs::remove_file(&tmp);
                errors.push((name, io::Error::new(e.kind(), e.to_string())));
            }
        }
    }
    let mut changed = false;
    for (name, tmp) in staged {
        match fs::rename(&tmp, dir.join(&name)) {
            Ok(()) => changed = true,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                errors.push((name, e));
            }
        }
    }
    for name in removals {
        match fs::remove_file(dir.join(&name)) {
            Ok(()) => changed = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => errors.push((name, e)),
        }
    }
    if changed {
        if let Err(e) = sync_dir(dir) {
            errors.push((dir.display().to_string(), e));
        }
    }
    errors
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
    fn a_batch_writes_and_removes_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "old.json", b"old").unwrap();
        write_atomic(dir.path(), "gone.json", b"gone").unwrap();
        let errors = write_batch(
            dir.path(),
            vec![
                ("old.json".into(), Some(b"new".to_vec())),
                ("fresh.json".into(), Some(b"fresh".to_vec())),
                ("gone.json".into(), None),
                ("never.json".into(), None),
            ],
        );
        assert!(errors.is_empty(), "{errors:?}");
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["fresh.json", "old.json"]);
        assert_eq!(fs::read(dir.path().join("old.json")).unwrap(), b"new");
    }

    #[test]
    fn a_large_batch_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let n = SYNC_EACH_MAX * 3;
        let changes = (0..n)
            .map(|i| (format!("t{i}.json"), Some(format!("{i}").into_bytes())))
            .collect();
        let errors = write_batch(dir.path(), changes);
        assert!(errors.is_empty(), "{errors:?}");
        for i in 0..n {
            let got = fs::read(dir.path().join(format!("t{i}.json"))).unwrap();
            assert_eq!(got, format!("{i}").into_bytes());
        }
        assert_eq!(remove_temp_files(dir.path()).unwrap(), 0);
    }

    #[test]
    fn a_file_of_a_batch_that_cannot_be_replaced_is_named_and_the_rest_written() {
        let dir = tempfile::tempdir().unwrap();
        // A directory in the way: the rename over it fails.
        fs::create_dir(dir.path().join("blocked.json")).unwrap();
        fs::write(dir.path().join("blocked.json").join("inside"), b"x").unwrap();
        let errors = write_batch(
            dir.path(),
            vec![
                ("blocked.json".into(), Some(b"new".to_vec())),
                ("ok.json".into(), Some(b"ok".to_vec())),
            ],
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "blocked.json");
        assert_eq!(fs::read(dir.path().join("ok.json")).unwrap(), b"ok");
        assert_eq!(remove_temp_files(dir.path()).unwrap(), 0);
    }

    #[test]
    fn removing_a_missing_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!remove_durably(dir.path(), "nope").unwrap());
        fs::write(dir.path().join("yes"), b"").unwrap();
        assert!(remove_durably(dir.path(), "yes").unwrap());
    }
}

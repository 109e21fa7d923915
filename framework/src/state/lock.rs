//! The state dir's lock: an exclusive `flock` on `<dir>/lock`, held for the
//! life of the store, with the holder's pid written inside so a second
//! framework process can say who holds it (like `flock -n <dir>/lock`).
//! The kernel drops the lock when the process dies: no stale locks.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::StateError;

/// File name of the lock inside the state dir.
pub(super) const LOCK_FILE: &str = "lock";

/// A held lock; released on drop.
#[derive(Debug)]
pub(super) struct DirLock {
    _file: Flock<File>,
}

impl DirLock {
    /// Takes the lock of `dir` without waiting.
    pub(super) fn acquire(dir: &Path) -> Result<DirLock, StateError> {
        let path = dir.join(LOCK_FILE);
        let io_error = |source| StateError::Lock {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error)?;
        let mut locked = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                return Err(StateError::Locked {
                    dir: dir.to_owned(),
                    pid: holder_pid(&mut file),
                })
            }
            Err((_, errno)) => return Err(io_error(errno.into())),
        };
        let pid = std::process::id();
        locked.set_len(0).map_err(io_error)?;
        locked.rewind().map_err(io_error)?;
        writeln!(locked, "{pid}").map_err(io_error)?;
        locked.sync_all().map_err(io_error)?;
        Ok(DirLock { _file: locked })
    }
}

fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_pid() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        match err {
            StateError::Locked { pid, .. } => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Locked, got {other}"),
        }
        drop(held);
        DirLock::acquire(dir.path()).expect("the lock is free once dropped");
        assert!(dir.path().join(LOCK_FILE).exists());
    }
}

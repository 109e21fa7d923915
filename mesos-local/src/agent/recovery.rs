//! Start-up cleanup of a previous agent run in the same work directory
//! (Mesos' `--recover=cleanup`): mesos-local does not reattach to old
//! executors, so every process group recorded in
//! `meta/.../pids/forked.pid` that still runs in its recorded sandbox is
//! killed, and the metadata is removed. A pid whose process now works in
//! another directory (pid reuse) is left alone.

use std::fs;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use tracing::{info, warn};

use super::process::signal_group;

/// `<work_dir>/meta`.
pub(crate) fn meta_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("meta")
}

/// Every `forked.pid` file under `dir`.
fn pid_files(dir: &Path, found: &mut Vec<PathBuf>, depth: usize) {
    if depth > 16 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            pid_files(&path, found, depth + 1);
        } else if path.file_name().is_some_and(|n| n == "forked.pid") {
            found.push(path);
        }
    }
}

/// The sandbox a pid file belongs to: the same path under `work_dir`
/// without the `meta/` prefix and the `pids/forked.pid` suffix.
fn sandbox_of(work_dir: &Path, pid_file: &Path) -> Option<PathBuf> {
    let run_dir = pid_file.parent()?.parent()?;
    let relative = run_dir.strip_prefix(meta_dir(work_dir)).ok()?;
    Some(work_dir.join(relative))
}

/// Kills what a previous run left behind and removes its metadata.
pub(crate) fn cleanup_previous_run(work_dir: &Path) {
    let meta = meta_dir(work_dir);
    let mut files = Vec::new();
    pid_files(&meta, &mut files, 0);
    for file in files {
        let Some(pid) = fs::read_to_string(&file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        else {
            continue;
        };
        let Some(sandbox) = sandbox_of(work_dir, &file) else {
            continue;
        };
        let cwd = fs::read_link(format!("/proc/{pid}/cwd")).ok();
        if cwd.as_deref() == Some(sandbox.as_path()) {
            info!(pid, sandbox = %sandbox.display(), "killing executor left by a previous agent run");
            signal_group(pid, Signal::SIGKILL);
        }
    }
    if meta.exists() {
        if let Err(e) = fs::remove_dir_all(&meta) {
            warn!(dir = %meta.display(), error = %e, "cannot remove old agent metadata");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    #[test]
    fn pid_files_map_back_to_their_sandbox() {
        let work = Path::new("/w");
        let file = Path::new("/w/meta/slaves/a/frameworks/f/executors/e/runs/c/pids/forked.pid");
        assert_eq!(
            sandbox_of(work, file),
            Some(PathBuf::from("/w/slaves/a/frameworks/f/executors/e/runs/c"))
        );
    }

    #[test]
    fn a_leftover_executor_in_its_sandbox_is_killed() {
        let work = tempfile::tempdir().expect("tempdir");
        let sandbox = work.path().join("slaves/a/frameworks/f/executors/e/runs/c");
        fs::create_dir_all(&sandbox).expect("sandbox");
        let mut child = Command::new("setsid")
            .args(["sleep", "30"])
            .current_dir(&sandbox)
            .stdout(Stdio::null())
            .spawn()
            .expect("sleep started");
        // Wait until setsid(1) has made the sleep its own group leader.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let leads_group = || {
            fs::read_to_string(format!("/proc/{}/stat", child.id()))
                .ok()
                .and_then(|s| s.rsplit(')').next().map(str::to_string))
                .and_then(|rest| rest.split_whitespace().nth(2).map(str::to_string))
                == Some(child.id().to_string())
        };
        while !leads_group() {
            assert!(
                std::time::Instant::now() < deadline,
                "waiting for setsid to take effect"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let pid_file =
            meta_dir(work.path()).join("slaves/a/frameworks/f/executors/e/runs/c/pids/forked.pid");
        fs::create_dir_all(pid_file.parent().expect("parent")).expect("meta");
        fs::write(&pid_file, child.id().to_string()).expect("pid file");
        cleanup_previous_run(work.path());
        let status = child.wait().expect("waited");
        assert!(!status.success(), "the leftover process was killed");
        assert!(!meta_dir(work.path()).exists());
    }
}

//! A private state directory per test instance and the commands run inside it.
//!
//! Every OVS/OVN tool honours `OVS_RUNDIR OVS_DBDIR OVS_LOGDIR OVN_RUNDIR
//! OVN_DBDIR OVN_LOGDIR`; [`ovs_command`] points all six at the instance's
//! directory so nothing a test starts touches `/var/run/openvswitch` or
//! `/var/run/ovn`, and parallel tests (separate processes under nextest) never
//! share a socket, pidfile or database.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use tracing::debug;

/// Environment variable that keeps test directories (and prints their path)
/// instead of removing them on drop: `OVN_MESOS_KEEP_TEST_DIR=1`.
pub const KEEP_ENV: &str = "OVN_MESOS_KEEP_TEST_DIR";

/// Prefix of every test directory, under [`std::env::temp_dir`].
pub const DIR_PREFIX: &str = "ovn-mesos-test-";

/// Unix socket paths must stay below this many bytes (`sun_path` is 108 bytes
/// including the NUL; we keep a margin).
pub const MAX_SOCKET_PATH: usize = 100;

/// Longest file name the harness puts next to a socket, e.g.
/// `ovn-controller.4194304.ctl` (the default control socket of ovn-controller).
const LONGEST_NAME: usize = 32;

/// The environment variables that move OVS/OVN state into a directory.
pub const STATE_VARS: [&str; 6] = [
    "OVS_RUNDIR",
    "OVS_DBDIR",
    "OVS_LOGDIR",
    "OVN_RUNDIR",
    "OVN_DBDIR",
    "OVN_LOGDIR",
];

/// A `Command` for `program` with all OVS/OVN state variables set to `dir`.
pub fn ovs_command(dir: &Path, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for var in STATE_VARS {
        cmd.env(var, dir);
    }
    cmd
}

/// Runs `cmd` to completion; returns its stdout with trailing whitespace
/// trimmed. The error names the full command line, the exit status and stderr.
pub fn run_command(mut cmd: Command) -> anyhow::Result<String> {
    let line = command_line(&cmd);
    debug!(command = %line, "running");
    let out = cmd
        .output()
        .with_context(|| format!("cannot run `{line}`"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!(
            "`{line}` failed ({}): {}{}",
            out.status,
            stderr.trim_end(),
            if stdout.is_empty() {
                String::new()
            } else {
                format!("\nstdout: {stdout}")
            }
        );
    }
    Ok(stdout)
}

/// The command line of `cmd` for messages, arguments with spaces quoted.
pub fn command_line(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        if arg.is_empty() || arg.contains(char::is_whitespace) {
            parts.push(format!("'{arg}'"));
        } else {
            parts.push(arg.into_owned());
        }
    }
    parts.join(" ")
}

/// A private temporary directory holding one instance's databases, sockets,
/// pidfiles and logs. Removed on drop unless `OVN_MESOS_KEEP_TEST_DIR=1`.
#[derive(Debug)]
pub struct WorkDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl WorkDir {
    /// Creates `ovn-mesos-test-XXXXXX` under [`std::env::temp_dir`], or under
    /// `/tmp` when `TMPDIR` is so long that socket paths would pass
    /// [`MAX_SOCKET_PATH`].
    pub fn new() -> anyhow::Result<WorkDir> {
        let mut base = std::env::temp_dir();
        if fits(&base).is_err() {
            base = PathBuf::from("/tmp");
        }
        fits(&base)?;
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(&base)
            .with_context(|| format!("cannot create a test directory in {}", base.display()))?;
        let path = dir.path().to_path_buf();
        fits(&path)?;
        Ok(WorkDir {
            dir: Some(dir),
            path,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<dir>/<name>`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// `<dir>/<name>` for a unix socket; fails if the path is too long to bind.
    pub fn socket(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.file(name);
        if path.as_os_str().len() >= MAX_SOCKET_PATH {
            bail!(
                "unix socket path {} is {} bytes, the limit is {MAX_SOCKET_PATH}",
                path.display(),
                path.as_os_str().len()
            );
        }
        Ok(path)
    }

    /// A `Command` for `program` with the OVS/OVN state variables set here.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        ovs_command(&self.path, program)
    }

    /// Runs `program args...` here (see [`run_command`]).
    pub fn run<S: AsRef<OsStr>>(&self, program: &str, args: &[S]) -> anyhow::Result<String> {
        let mut cmd = self.command(program);
        cmd.args(args);
        run_command(cmd)
    }
}

/// Whether sockets in a directory below `base` stay under the length limit.
fn fits(base: &Path) -> anyhow::Result<()> {
    // "/" + prefix + 6 random characters + "/" + the longest file name.
    let len = base.as_os_str().len() + 1 + DIR_PREFIX.len() + 6 + 1 + LONGEST_NAME;
    if len >= MAX_SOCKET_PATH {
        bail!(
            "test directories under {} would make unix socket paths of {len} bytes \
             (limit {MAX_SOCKET_PATH}); set TMPDIR to a shorter directory",
            base.display()
        );
    }
    Ok(())
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let keep = std::env::var(KEEP_ENV).is_ok_and(|v| v == "1");
        if let Some(dir) = self.dir.take() {
            if keep {
                let path = dir.keep();
                eprintln!("{KEEP_ENV}=1: keeping {}", path.display());
            } else if let Err(e) = dir.close() {
                eprintln!("cannot remove {}: {e}", self.path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_work_dir_is_private_short_and_removed_on_drop() {
        let a = WorkDir::new().unwrap();
        let b = WorkDir::new().unwrap();
        assert_ne!(a.path(), b.path());
        let name = a.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(DIR_PREFIX), "{name}");
        assert!(a.socket("ovn-controller.4194304.ctl").is_ok());
        let path = a.path().to_path_buf();
        if std::env::var(KEEP_ENV).is_err() {
            drop(a);
            assert!(!path.exists(), "{} still exists", path.display());
        }
    }

    #[test]
    fn a_socket_name_too_long_is_refused() {
        let dir = WorkDir::new().unwrap();
        let err = dir.socket(&"x".repeat(120)).unwrap_err().to_string();
        assert!(err.contains("limit is 100"), "{err}");
    }

    #[test]
    fn commands_get_the_state_directory_and_failures_name_the_command() {
        let dir = WorkDir::new().unwrap();
        let out = dir
            .run("sh", &["-c", "echo $OVS_RUNDIR $OVN_LOGDIR"])
            .unwrap();
        let want = format!("{0} {0}", dir.path().display());
        assert_eq!(out, want);
        let err = dir
            .run("sh", &["-c", "echo oops >&2; exit 3"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`sh -c 'echo oops >&2; exit 3'`"), "{err}");
        assert!(err.contains("oops"), "{err}");
    }
}

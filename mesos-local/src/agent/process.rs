//! Starting and stopping executor and task processes: the command line of
//! a `CommandInfo` (`/bin/sh -c value` when `shell`, else `value` exec'd
//! with `arguments`), its own session and process group (`setsid()` in
//! the child before `exec`, like the Mesos launcher, so the group exists
//! by the time `spawn` returns), the sandbox as working directory with
//! `stdout`/`stderr` files there, an exact environment, and a pid file so
//! a restarted agent can clean up. Signals go to the whole process group
//! (`kill -- -PGID`).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use std::process::Stdio;

use mesos_proto::v1::CommandInfo;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tracing::{debug, info};

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The command info names nothing to run.
    #[error("invalid command: {0}")]
    Command(String),
    /// The sandbox or its output files could not be prepared.
    #[error("cannot prepare sandbox {dir}")]
    Sandbox {
        /// The sandbox.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `fork`/`exec` failed.
    #[error("cannot start '{program}'")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// What to run and where.
#[derive(Debug, Clone)]
pub(crate) struct ProcessSpec {
    pub command: CommandInfo,
    pub directory: PathBuf,
    pub env: BTreeMap<String, String>,
    /// Written with the pid once started.
    pub pid_file: Option<PathBuf>,
}

/// `(program, args, argv0)` of a command.
pub(crate) fn command_line(
    command: &CommandInfo,
) -> Result<(String, Vec<String>, Option<String>), LaunchError> {
    let value = command
        .value
        .clone()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| LaunchError::Command("'CommandInfo.value' is not set".into()))?;
    if command.shell() {
        Ok(("/bin/sh".into(), vec!["-c".into(), value], None))
    } else {
        let argv0 = command.arguments.first().cloned();
        let args = command.arguments.iter().skip(1).cloned().collect();
        Ok((value, args, argv0))
    }
}

/// Starts the process in its own session; stdout/stderr are appended to
/// files in the sandbox.
pub(crate) fn spawn(spec: &ProcessSpec) -> Result<Child, LaunchError> {
    let (program, args, argv0) = command_line(&spec.command)?;
    let sandbox_error = |source| LaunchError::Sandbox {
        dir: spec.directory.clone(),
        source,
    };
    fs::create_dir_all(&spec.directory).map_err(sandbox_error)?;
    let open = |name: &str| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec.directory.join(name))
    };
    let stdout = open("stdout").map_err(sandbox_error)?;
    let stderr = open("stderr").map_err(sandbox_error)?;
    let mut command = Command::new(&program);
    if let Some(argv0) = &argv0 {
        command.arg0(argv0);
    }
    new_session_on_exec(&mut command);
    command
        .args(&args)
        .env_clear()
        .envs(&spec.env)
        .current_dir(&spec.directory)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .kill_on_drop(false);
    let child = command.spawn().map_err(|source| LaunchError::Spawn {
        program: program.clone(),
        source,
    })?;
    if let (Some(pid), Some(pid_file)) = (child.id(), &spec.pid_file) {
        if let Some(parent) = pid_file.parent() {
            let _ = fs::create_dir_all(parent);
        }
        let _ = fs::write(pid_file, pid.to_string());
    }
    info!(pid = ?child.id(), program = %program, dir = %spec.directory.display(), "process started");
    Ok(child)
}

/// Makes the child call `setsid()` between `fork` and `exec`. `spawn`
/// returns only once the `exec` succeeded, so a signal sent to the group
/// right after `spawn` reaches it: a `setsid(1)` wrapper would leave a
/// window in which the group does not exist yet and `killpg` misses.
#[allow(unsafe_code)]
fn new_session_on_exec(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before `exec` and only
    // calls `setsid(2)`, which is async-signal-safe; it allocates nothing
    // and touches no lock. The child of a fork is never a group leader, so
    // `setsid` succeeds.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
}

/// Sends `signal` to the process group `pgid` (ignores a group that is
/// already gone).
pub(crate) fn signal_group(pgid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pgid) else { return };
    if raw <= 1 {
        return;
    }
    match killpg(Pid::from_raw(raw), signal) {
        Ok(()) => debug!(pgid, ?signal, "signalled process group"),
        Err(e) => debug!(pgid, ?signal, error = %e, "process group not signalled"),
    }
}

/// Text of a wait status like stout's `WSTRINGIFY`: `exited with status
/// 3` or `terminated with signal Killed`.
pub(crate) fn describe_wait_status(status: i32) -> String {
    let exited = status & 0x7f == 0;
    if exited {
        format!("exited with status {}", (status >> 8) & 0xff)
    } else {
        let signal = status & 0x7f;
        let name = Signal::try_from(signal)
            .map(signal_name)
            .unwrap_or("Unknown signal");
        format!("terminated with signal {name}")
    }
}

/// `strsignal()` names of the usual signals.
fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::SIGTERM => "Terminated",
        Signal::SIGKILL => "Killed",
        Signal::SIGINT => "Interrupt",
        Signal::SIGHUP => "Hangup",
        Signal::SIGQUIT => "Quit",
        Signal::SIGABRT => "Aborted",
        Signal::SIGSEGV => "Segmentation fault",
        Signal::SIGPIPE => "Broken pipe",
        Signal::SIGUSR1 => "User defined signal 1",
        Signal::SIGUSR2 => "User defined signal 2",
        _ => signal.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::time::Duration;

    #[test]
    fn shell_commands_run_through_sh() {
        let command = CommandInfo {
            value: Some("echo hi".into()),
            ..Default::default()
        };
        assert_eq!(
            command_line(&command).expect("valid"),
            ("/bin/sh".into(), vec!["-c".into(), "echo hi".into()], None)
        );
    }

    #[test]
    fn non_shell_commands_use_arguments_with_argv0() {
        let command = CommandInfo {
            value: Some("/bin/echo".into()),
            shell: Some(false),
            arguments: vec!["echo".into(), "a".into(), "b".into()],
            ..Default::default()
        };
        let (program, args, argv0) = command_line(&command).expect("valid");
        assert_eq!(program, "/bin/echo");
        assert_eq!(args, vec!["a", "b"]);
        assert_eq!(argv0.as_deref(), Some("echo"));
        assert!(command_line(&CommandInfo::default()).is_err());
    }

    #[test]
    fn wait_statuses_read_like_stout() {
        assert_eq!(describe_wait_status(3 << 8), "exited with status 3");
        assert_eq!(describe_wait_status(0), "exited with status 0");
        assert_eq!(
            describe_wait_status(15),
            "terminated with signal Terminated"
        );
        assert_eq!(describe_wait_status(9), "terminated with signal Killed");
    }

    #[tokio::test]
    async fn a_spawned_process_leads_its_own_session_and_writes_stdout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = ProcessSpec {
            command: CommandInfo {
                value: Some("echo sid=$(cut -d' ' -f6 /proc/$$/stat) pid=$$".into()),
                ..Default::default()
            },
            directory: dir.path().join("sandbox"),
            env: BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]),
            pid_file: Some(dir.path().join("pids/forked.pid")),
        };
        let mut child = spawn(&spec).expect("started");
        let pid = child.id().expect("pid");
        let status = child.wait().await.expect("waited");
        assert!(status.success());
        let out = fs::read_to_string(spec.directory.join("stdout")).expect("stdout file");
        let sid: u32 = out
            .split_whitespace()
            .find_map(|w| w.strip_prefix("sid="))
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("sid in {out:?}"));
        assert_eq!(sid, pid, "the process leads its own session: {out}");
        let recorded = fs::read_to_string(dir.path().join("pids/forked.pid")).expect("pid file");
        assert_eq!(recorded, pid.to_string());
    }

    #[tokio::test]
    async fn the_group_exists_as_soon_as_spawn_returns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = |i: usize| ProcessSpec {
            command: CommandInfo {
                value: Some("sleep 1000".into()),
                ..Default::default()
            },
            directory: dir.path().join(format!("sandbox-{i}")),
            env: BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]),
            pid_file: None,
        };
        // A KILL that arrives right after the launch must reach the task.
        for i in 0..20 {
            let mut child = spawn(&spec(i)).expect("started");
            let pid = child.id().expect("pid");
            assert_eq!(
                nix::unistd::getpgid(Some(Pid::from_raw(pid as i32))),
                Ok(Pid::from_raw(pid as i32)),
                "launch {i}: the process leads its group when spawn returns"
            );
            signal_group(pid, Signal::SIGTERM);
            let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .unwrap_or_else(|_| panic!("launch {i}: SIGTERM to the group did not end it"))
                .expect("waited");
            assert_eq!(
                describe_wait_status(status.into_raw()),
                "terminated with signal Terminated",
                "launch {i}"
            );
        }
    }
}

//! The task's process: where its command is (Mesos refuses a task with both
//! an `ExecutorInfo` and a `CommandInfo`, so a task for this executor carries
//! its `CommandInfo` in `TaskInfo.data`, as Mesos JSON or protobuf;
//! `TaskInfo.command` is used when present), `CommandInfo` semantics
//! (`shell=true`: `sh -c <value>`; `shell=false`: `value` is the program and
//! `arguments` its argv),
//! the environment, the sandbox as working directory with `stdout`/`stderr`
//! files appended to, its own process group, and entry into the task's
//! network namespace through the `exec-in-netns` helper. Killing signals the
//! whole group: SIGTERM, then SIGKILL after the grace period.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use mesos_proto::v1::{environment::variable::Type as VarType, CommandInfo, TaskInfo};
use mesos_proto::Encoding;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tracing::debug;

use crate::exec_in_netns::{HelperArgs, GO};
use crate::netns;
use ovn::report::Chain;

/// Why a task's command cannot run.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The task has no `command` nor `data`, or its value is empty.
    #[error(
        "task has no command to run (neither TaskInfo.command nor a CommandInfo in TaskInfo.data)"
    )]
    NoCommand,
    /// `TaskInfo.data` is not a `CommandInfo` (JSON or protobuf).
    #[error("TaskInfo.data is not a CommandInfo in Mesos JSON or protobuf: {0}")]
    BadData(String),
    /// Opening the sandbox's output files or spawning failed.
    #[error("cannot start the task's command: {0}")]
    Spawn(#[source] std::io::Error),
}

/// What to run, resolved from a `CommandInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// The file to execute (searched in `PATH`).
    pub program: String,
    /// Its argv, `argv[0]` included.
    pub argv: Vec<String>,
    /// Extra environment (`CommandInfo.environment`, VALUE variables).
    pub env: Vec<(String, String)>,
}

impl CommandSpec {
    /// The command of `task`: `TaskInfo.command`, else the `CommandInfo` in
    /// `TaskInfo.data` (Mesos JSON when it starts with `{`, else protobuf).
    pub fn from_task(task: &TaskInfo) -> Result<CommandSpec, CommandError> {
        if task.command.is_some() {
            return Self::from_command(task.command.as_ref());
        }
        let data = task.data.as_deref().ok_or(CommandError::NoCommand)?;
        let command: CommandInfo = if data.trim_ascii_start().starts_with(b"{") {
            mesos_proto::from_json_slice(data)
                .map_err(|e| CommandError::BadData(Chain(&e).to_string()))?
        } else {
            Encoding::Protobuf
                .decode(data)
                .map_err(|e| CommandError::BadData(Chain(&e).to_string()))?
        };
        Self::from_command(Some(&command))
    }

    /// Reads a `CommandInfo` (`shell` defaults to true). Like Mesos, with
    /// `shell=false` `value` is the file executed and `arguments` its whole
    /// argv (`execvp(value, arguments)`), `[value]` when empty.
    pub fn from_command(command: Option<&CommandInfo>) -> Result<CommandSpec, CommandError> {
        let c = command.ok_or(CommandError::NoCommand)?;
        let value = c
            .value
            .clone()
            .filter(|v| !v.trim().is_empty())
            .ok_or(CommandError::NoCommand)?;
        let (program, argv) = if c.shell() {
            (
                "sh".to_owned(),
                vec!["sh".to_owned(), "-c".to_owned(), value],
            )
        } else if c.arguments.is_empty() {
            (value.clone(), vec![value])
        } else {
            (value, c.arguments.clone())
        };
        let env = c
            .environment
            .iter()
            .flat_map(|e| e.variables.iter())
            .filter(|v| v.r#type() == VarType::Value || v.r#type() == VarType::Unknown)
            .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
            .collect();
        Ok(CommandSpec { program, argv, env })
    }

    /// The helper's arguments: `exec-in-netns [--gate] [--resolv-conf <file>]
    /// <netns file> <program> -- <argv>...`.
    pub fn helper_args(
        &self,
        netns: &str,
        resolv_conf: Option<&Path>,
        gated: bool,
    ) -> Vec<OsString> {
        HelperArgs {
            gated,
            resolv_conf: resolv_conf.map(Path::to_path_buf),
            netns: netns::path_of(netns),
            program: self.program.clone().into(),
            argv: self.argv.iter().map(OsString::from).collect(),
        }
        .to_args()
    }
}

/// A task process (the leader of its own process group): first the helper
/// waiting at its gate ([`TaskProcess::prepare`]), then the command
/// ([`TaskProcess::start`]).
#[derive(Debug)]
pub struct TaskProcess {
    child: Child,
    pid: Pid,
    gate: Option<ChildStdin>,
}

impl TaskProcess {
    /// Starts the helper for `spec` (this executor's binary, `helper`), which
    /// waits at its gate and then enters namespace `netns` (which need not
    /// exist yet), bind-mounts `resolv_conf` (which need not exist until the
    /// gate opens) onto `/etc/resolv.conf` if given, and runs the command in
    /// `sandbox`, output appended to `<sandbox>/stdout` and
    /// `<sandbox>/stderr`. Blocks for the fork and exec: call it off the
    /// async threads (`spawn_blocking`).
    pub fn prepare(
        helper: &Path,
        netns: &str,
        resolv_conf: Option<&Path>,
        spec: &CommandSpec,
        sandbox: &Path,
    ) -> Result<TaskProcess, CommandError> {
        let append = |name: &str| -> Result<std::fs::File, CommandError> {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(sandbox.join(name))
                .map_err(CommandError::Spawn)
        };
        let mut cmd = Command::new(helper);
        cmd.args(spec.helper_args(netns, resolv_conf, true))
            .current_dir(sandbox)
            .env("MESOS_SANDBOX", sandbox)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(append("stdout")?)
            .stderr(append("stderr")?)
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd.spawn().map_err(CommandError::Spawn)?;
        let pid = Pid::from_raw(child.id().map_or(0, |p| p as i32));
        let gate = child.stdin.take();
        debug!(%pid, netns, argv = ?spec.argv, "task process prepared");
        Ok(TaskProcess { child, pid, gate })
    }

    /// Opens the gate: the helper enters the namespace and runs the command.
    pub async fn start(&mut self) -> Result<(), CommandError> {
        let mut gate = self.gate.take().ok_or_else(|| {
            CommandError::Spawn(std::io::Error::other("the task was already started"))
        })?;
        gate.write_all(&[GO]).await.map_err(CommandError::Spawn)?;
        debug!(pid = %self.pid, "task process started");
        Ok(())
    }

    /// Calls the launch off: closes the gate (the helper exits without
    /// running anything), kills the group to be sure, and reaps it.
    pub async fn abort(mut self) {
        self.gate = None;
        self.signal_group(Signal::SIGKILL);
        let _ = self.child.wait().await;
    }

    /// The process (and process group) id.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Sends `signal` to the task's whole process group.
    pub fn signal_group(&self, signal: Signal) {
        if let Err(e) = killpg(self.pid, signal) {
            debug!(pid = %self.pid, %signal, error = %Chain(&e), "killpg failed (group already gone?)");
        }
    }

    /// SIGTERM to the group, SIGKILL after `grace` if still running; returns
    /// the exit status.
    pub async fn terminate(&mut self, grace: Duration) -> std::io::Result<ExitStatus> {
        self.signal_group(Signal::SIGTERM);
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => {
                // The leader is gone; make sure nothing else of the group stays.
                self.signal_group(Signal::SIGKILL);
                status
            }
            Err(_) => {
                self.signal_group(Signal::SIGKILL);
                self.child.wait().await
            }
        }
    }
}

/// Describes an exit status for `TaskStatus.message`: `exited with status 3`
/// or `killed by signal 9 (SIGKILL)`.
pub fn describe_exit(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(s) => format!("killed by signal {sig} ({s})"),
            Err(_) => format!("killed by signal {sig}"),
        },
        (None, None) => "ended with an unknown status".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use mesos_proto::v1::{environment::Variable, Environment};

    use super::*;

    #[test]
    fn a_shell_command_runs_under_sh_c() {
        let c = CommandInfo {
            value: Some("echo hi && sleep 1".into()),
            environment: Some(Environment {
                variables: vec![Variable {
                    name: "GREETING".into(),
                    value: Some("hello".into()),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        };
        let s = CommandSpec::from_command(Some(&c)).unwrap();
        assert_eq!(s.argv, ["sh", "-c", "echo hi && sleep 1"]);
        assert_eq!(s.env, [("GREETING".to_owned(), "hello".to_owned())]);
        let args = s.helper_args("ovnm-0123456789", None, true);
        assert_eq!(args[0], "exec-in-netns");
        assert_eq!(args[1], "--gate");
        assert_eq!(args[2], "/var/run/netns/ovnm-0123456789");
        assert_eq!(args[3], "sh");
        assert_eq!(args[4], "--");
        assert_eq!(args[5], "sh");
        let resolv = Path::new("/run/ovn-mesos/netns/ovnm-0123456789/resolv.conf");
        let args = s.helper_args("ovnm-0123456789", Some(resolv), false);
        assert_eq!(args[1..3], ["--resolv-conf", resolv.to_str().unwrap()]);
        assert_eq!(args[3], "/var/run/netns/ovnm-0123456789");
    }

    #[test]
    fn an_argv_command_keeps_its_program_and_arguments() {
        let c = CommandInfo {
            shell: Some(false),
            value: Some("/usr/bin/python3".into()),
            arguments: vec!["python3".into(), "-m".into(), "http.server".into()],
            ..Default::default()
        };
        let s = CommandSpec::from_command(Some(&c)).unwrap();
        assert_eq!(s.program, "/usr/bin/python3");
        assert_eq!(s.argv, ["python3", "-m", "http.server"]);
    }

    #[test]
    fn a_command_in_task_data_is_read_as_json_or_protobuf() {
        let json = TaskInfo {
            data: Some(br#"{"value": "echo from data", "shell": true}"#.to_vec()),
            ..Default::default()
        };
        assert_eq!(
            CommandSpec::from_task(&json).unwrap().argv,
            ["sh", "-c", "echo from data"]
        );
        let c = CommandInfo {
            value: Some("/bin/true".into()),
            shell: Some(false),
            ..Default::default()
        };
        let proto = TaskInfo {
            data: Some(Encoding::Protobuf.encode(&c).unwrap()),
            ..Default::default()
        };
        assert_eq!(CommandSpec::from_task(&proto).unwrap().program, "/bin/true");
        let bad = TaskInfo {
            data: Some(b"{not json".to_vec()),
            ..Default::default()
        };
        assert!(matches!(
            CommandSpec::from_task(&bad),
            Err(CommandError::BadData(_))
        ));
        assert!(matches!(
            CommandSpec::from_task(&TaskInfo::default()),
            Err(CommandError::NoCommand)
        ));
    }

    #[test]
    fn a_missing_command_is_an_error() {
        assert!(matches!(
            CommandSpec::from_command(None),
            Err(CommandError::NoCommand)
        ));
        let empty = CommandInfo::default();
        assert!(matches!(
            CommandSpec::from_command(Some(&empty)),
            Err(CommandError::NoCommand)
        ));
    }

    #[test]
    fn exit_statuses_are_described_for_humans() {
        assert_eq!(
            describe_exit(&ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
        assert_eq!(
            describe_exit(&ExitStatus::from_raw(9)),
            "killed by signal 9 (SIGKILL)"
        );
    }
}

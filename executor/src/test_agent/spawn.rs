//! Starting the executor binary as a Mesos agent does: the `MESOS_*`
//! environment (agent endpoint, framework and executor ids, sandbox,
//! checkpointing, grace period), its own process group, stderr (its log) in
//! `<sandbox>/executor.log`. The handle signals by pid only and stops the
//! process on drop (SIGTERM, then SIGKILL).

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;

use crate::proc_info;

/// How to start one executor.
#[derive(Debug, Clone)]
pub struct ExecutorSpec {
    pub binary: PathBuf,
    /// `MESOS_AGENT_ENDPOINT`.
    pub agent_endpoint: String,
    pub framework_id: String,
    pub executor_id: String,
    /// `MESOS_DIRECTORY` and `MESOS_SANDBOX` (created if missing).
    pub sandbox: PathBuf,
    /// `MESOS_CHECKPOINT=1`.
    pub checkpoint: bool,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`.
    pub grace: Duration,
    /// `MESOS_RECOVERY_TIMEOUT` (checkpointing only).
    pub recovery_timeout: Duration,
    /// More variables (`OVN_MESOS_OVS_DB`, `OVN_MESOS_HOST_NETNS` ...).
    pub env: Vec<(String, String)>,
}

/// A running executor process.
#[derive(Debug)]
pub struct ExecutorProcess {
    child: Child,
    log: PathBuf,
    exited: Option<ExitStatus>,
}

impl ExecutorProcess {
    /// Starts the executor.
    pub fn spawn(spec: &ExecutorSpec) -> std::io::Result<ExecutorProcess> {
        std::fs::create_dir_all(&spec.sandbox)?;
        let log = spec.sandbox.join("executor.log");
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        let child = Command::new(&spec.binary)
            .env("MESOS_AGENT_ENDPOINT", &spec.agent_endpoint)
            .env("MESOS_FRAMEWORK_ID", &spec.framework_id)
            .env("MESOS_EXECUTOR_ID", &spec.executor_id)
            .env("MESOS_DIRECTORY", &spec.sandbox)
            .env("MESOS_SANDBOX", &spec.sandbox)
            .env("MESOS_CHECKPOINT", if spec.checkpoint { "1" } else { "0" })
            .env("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", ms(spec.grace))
            .env("MESOS_RECOVERY_TIMEOUT", ms(spec.recovery_timeout))
            .env("MESOS_SUBSCRIPTION_BACKOFF_MAX", "500ms")
            .env("MESOS_HTTP_COMMAND_EXECUTOR", "0")
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.sandbox)
            .stdin(Stdio::null())
            .stdout(File::create(spec.sandbox.join("executor.stdout"))?)
            .stderr(File::create(&log)?)
            .process_group(0)
            .spawn()?;
        Ok(ExecutorProcess {
            child,
            log,
            exited: None,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The executor's log (its stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Resident memory in KiB while it runs.
    pub fn rss_kib(&self) -> Option<u64> {
        proc_info::rss_kib(self.pid())
    }

    /// The exit status, if it has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Waits (polling) for the exit, up to `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(s) = self.try_exit() {
                return Ok(s);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "executor {} still running after {timeout:?}; log:\n{}",
                    self.pid(),
                    self.log()
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Sends `signal` to the executor (not its tasks).
    pub fn signal(&mut self, signal: Signal) {
        if self.try_exit().is_none() {
            let _ = kill(Pid::from_raw(self.pid()), signal);
        }
    }

    /// SIGKILL, as a crash would: nothing is cleaned up.
    pub fn kill9(&mut self) {
        self.signal(Signal::SIGKILL);
        let _ = self.child.wait().map(|s| self.exited = Some(s));
    }
}

impl Drop for ExecutorProcess {
    fn drop(&mut self) {
        if self.try_exit().is_some() {
            return;
        }
        self.signal(Signal::SIGTERM);
        for _ in 0..500 {
            if self.try_exit().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
    }
}

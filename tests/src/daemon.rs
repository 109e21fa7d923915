//! One OVS/OVN daemon started with `--detach --pidfile`, stopped on drop.
//!
//! Started with the flags of the reference scripts
//! (`-vconsole:off -vfile:info --pidfile=X.pid --unixctl=X.ctl --log-file=X.log
//! --detach --no-chdir`); `--detach` returns once the daemon is ready, so no
//! sleeps. Stopping is graceful then forced: `ovs-appctl -t X.ctl exit`, then
//! SIGTERM, then SIGKILL, each followed by polling `/proc/PID` with a deadline.
//! The pid is read right after start (the daemon deletes its pidfile on exit)
//! together with the process start time, so a recycled pid is never signalled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tracing::{debug, warn};

use crate::poll::wait_for;
use crate::workdir::{ovs_command, run_command};

/// How long each stop stage (exit, SIGTERM, SIGKILL) waits for the process.
const STAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// How to start a daemon: the program, its own arguments and options for
/// later kinds (control socket chosen by the daemon, network namespace).
#[derive(Debug, Clone)]
pub struct DaemonSpec {
    /// Base name of the pid, ctl and log files (`nb` gives `nb.pid` ...).
    pub name: String,
    /// The program, e.g. `ovsdb-server`.
    pub program: String,
    /// Arguments before the common daemon flags.
    pub args: Vec<String>,
    /// Pass `--unixctl=<dir>/<name>.ctl`. When false the daemon picks its
    /// default `<rundir>/<program>.<pid>.ctl` (ovn-controller 23.03 rejects
    /// `--unixctl`).
    pub unixctl: bool,
    /// Run as `ip netns exec <netns> <program> ...`.
    pub netns: Option<String>,
    /// Extra arguments of `ovs-appctl exit`, e.g. `--cleanup` for ovs-vswitchd.
    pub exit_args: Vec<String>,
}

impl DaemonSpec {
    /// A spec with no arguments, `--unixctl` on, in the current netns.
    pub fn new(name: &str, program: &str) -> DaemonSpec {
        DaemonSpec {
            name: name.to_string(),
            program: program.to_string(),
            args: Vec::new(),
            unixctl: true,
            netns: None,
            exit_args: Vec::new(),
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> DaemonSpec {
        self.args.push(arg.into());
        self
    }

    /// Lets the daemon choose its control socket `<program>.<pid>.ctl`.
    pub fn default_unixctl(mut self) -> DaemonSpec {
        self.unixctl = false;
        self
    }

    /// Runs the daemon inside network namespace `netns`.
    pub fn in_netns(mut self, netns: &str) -> DaemonSpec {
        self.netns = Some(netns.to_string());
        self
    }

    /// Extra arguments for `ovs-appctl exit` (e.g. `--cleanup`).
    pub fn exit_with(mut self, args: &[&str]) -> DaemonSpec {
        self.exit_args = args.iter().map(|a| a.to_string()).collect();
        self
    }
}

/// A daemon started with `--detach --pidfile`; stops on drop.
#[derive(Debug)]
pub struct Daemon {
    /// Base name of its files.
    pub name: String,
    /// Process id of the detached daemon.
    pub pid: i32,
    /// `<dir>/<name>.pid` (deleted by the daemon when it exits cleanly).
    pub pidfile: PathBuf,
    /// Its control socket for `ovs-appctl -t`.
    pub ctl: PathBuf,
    /// `<dir>/<name>.log`.
    pub log: PathBuf,
    spec: DaemonSpec,
    dir: PathBuf,
    start_time: Option<u64>,
}

impl Daemon {
    /// Starts `spec` with its state in `dir` (`ovsdb-server X.db ... --detach`)
    /// and returns once the daemon reports ready.
    pub fn start(dir: &Path, spec: DaemonSpec) -> anyhow::Result<Daemon> {
        let pidfile = dir.join(format!("{}.pid", spec.name));
        let log = dir.join(format!("{}.log", spec.name));
        let named_ctl = dir.join(format!("{}.ctl", spec.name));
        let mut cmd = match &spec.netns {
            Some(ns) => {
                let mut cmd = ovs_command(dir, "ip");
                cmd.args(["netns", "exec", ns, &spec.program]);
                cmd
            }
            None => ovs_command(dir, &spec.program),
        };
        cmd.args(&spec.args);
        cmd.args(["-vconsole:off", "-vfile:info"]);
        cmd.arg(format!("--pidfile={}", pidfile.display()));
        if spec.unixctl {
            cmd.arg(format!("--unixctl={}", named_ctl.display()));
        }
        cmd.arg(format!("--log-file={}", log.display()));
        cmd.args(["--detach", "--no-chdir"]);
        if let Err(e) = run_command(cmd) {
            bail!(
                "{e:#}\nlast lines of {}:\n{}",
                log.display(),
                tail(&log, 15)
            );
        }
        let pid = read_pid(&pidfile)?;
        let ctl = if spec.unixctl {
            named_ctl
        } else {
            let program = Path::new(&spec.program)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| spec.program.clone());
            dir.join(format!("{program}.{pid}.ctl"))
        };
        debug!(daemon = %spec.name, pid, "started");
        Ok(Daemon {
            name: spec.name.clone(),
            pid,
            pidfile,
            ctl,
            log,
            start_time: proc_start_time(pid),
            spec,
            dir: dir.to_path_buf(),
        })
    }

    /// Starts the same spec again in the same directory (after [`Self::stop`]
    /// or [`Self::kill9`]); stops the running instance first if there is one.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        let fresh = Daemon::start(&self.dir, self.spec.clone())?;
        *self = fresh;
        Ok(())
    }

    /// `/proc/PID/status` exists, the state is not `Z` (PID 1 reaps detached
    /// daemons slowly here) and the process is the one we started.
    pub fn is_alive(&self) -> bool {
        pid_is_alive(self.pid) && proc_start_time(self.pid) == self.start_time
    }

    /// Graceful then forced stop: `ovs-appctl -t <ctl> exit [exit_args]`, wait,
    /// SIGTERM, wait, SIGKILL, wait. Idempotent; Err only if the process
    /// survives SIGKILL.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if !self.is_alive() {
            return Ok(());
        }
        let mut exit = ovs_command(&self.dir, "ovs-appctl");
        exit.arg("--timeout=10")
            .arg("-t")
            .arg(&self.ctl)
            .arg("exit");
        exit.args(&self.spec.exit_args);
        match run_command(exit) {
            Ok(_) if self.wait_gone(STAGE_TIMEOUT) => return Ok(()),
            Ok(_) => warn!(daemon = %self.name, pid = self.pid, "did not exit, sending SIGTERM"),
            Err(e) => warn!(daemon = %self.name, error = %e, "exit failed, sending SIGTERM"),
        }
        self.signal(Signal::SIGTERM);
        if self.wait_gone(STAGE_TIMEOUT) {
            return Ok(());
        }
        warn!(daemon = %self.name, pid = self.pid, "ignored SIGTERM, sending SIGKILL");
        self.kill9();
        if self.is_alive() {
            bail!("{} (pid {}) survived SIGKILL", self.name, self.pid);
        }
        Ok(())
    }

    /// SIGKILL by pid and wait until the process is gone (for crash tests).
    /// Leaves its pidfile and sockets behind, as a crash would.
    pub fn kill9(&mut self) {
        if !self.is_alive() {
            return;
        }
        self.signal(Signal::SIGKILL);
        if !self.wait_gone(STAGE_TIMEOUT) {
            warn!(daemon = %self.name, pid = self.pid, "still alive after SIGKILL");
        }
    }

    /// The spec the daemon was started from.
    pub fn spec(&self) -> &DaemonSpec {
        &self.spec
    }

    fn signal(&self, signal: Signal) {
        if self.is_alive() {
            if let Err(e) = kill(Pid::from_raw(self.pid), signal) {
                debug!(daemon = %self.name, pid = self.pid, error = %e, "kill failed");
            }
        }
    }

    fn wait_gone(&self, timeout: Duration) -> bool {
        let what = format!("{} (pid {}) to exit", self.name, self.pid);
        wait_for(&what, timeout, || Ok((!self.is_alive()).then_some(()))).is_ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("stopping {}: {e:#}", self.name);
        }
    }
}

/// Whether `/proc/PID/status` exists with a state other than `Z` (zombie) or
/// `X` (dead).
pub fn pid_is_alive(pid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .map(|s| {
            let s = s.trim_start();
            !(s.starts_with('Z') || s.starts_with('X'))
        })
        .unwrap_or(false)
}

/// Start time of `pid` in clock ticks since boot (`/proc/PID/stat` field 22).
fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn read_pid(pidfile: &Path) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(pidfile)
        .with_context(|| format!("cannot read pidfile {}", pidfile.display()))?;
    text.trim()
        .parse()
        .with_context(|| format!("bad pid {:?} in {}", text.trim(), pidfile.display()))
}

/// The last `n` lines of a file, or a note that it cannot be read.
pub fn tail(path: &Path, n: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_alive_and_has_a_start_time() {
        let me = std::process::id() as i32;
        assert!(pid_is_alive(me));
        assert!(proc_start_time(me).is_some());
    }

    #[test]
    fn a_pid_without_a_proc_entry_is_not_alive() {
        // Above the kernel's PID_MAX_LIMIT (2^22), so never a real process.
        assert!(!pid_is_alive(4_194_305));
        assert_eq!(proc_start_time(4_194_305), None);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.log");
        std::fs::write(&f, "a\nb\nc\n").unwrap();
        assert_eq!(tail(&f, 2), "b\nc");
        assert!(tail(&dir.path().join("none"), 2).starts_with("(cannot read"));
    }
}

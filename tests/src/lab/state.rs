//! What a lab created, on disk (`<dir>/lab-state.json`, rewritten after every
//! step), and the teardown that undoes it: the same code stops a lab through
//! its handle and cleans up after a lab whose owner died
//! ([`super::Lab::cleanup_stale`]).
//!
//! Teardown order: processes by rank (workloads and mesos-local, ZooKeeper,
//! then ovn-controller, `ovs-vswitchd` with `exit --cleanup`, the Open_vSwitch
//! databases, northd, NB/SB), each graceful (`ovs-appctl -t <ctl> exit`) then
//! SIGTERM then SIGKILL, by pid and only if its start time still matches;
//! then links (`ip -n <ns> link del`, so veths go before their namespaces,
//! whose deletion frees veths asynchronously), then namespaces in reverse
//! creation order (`ip netns del`), then the directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::daemon::pid_is_alive;
use crate::poll::wait_for;
use crate::workdir::{run_command, KEEP_ENV};

/// The state file's name in the lab directory.
pub const STATE_FILE: &str = "lab-state.json";

/// How long each stop stage waits for a process.
const STAGE: Duration = Duration::from_secs(5);

/// Stop ranks: lower stops first.
pub mod rank {
    /// Processes in containers and daemons added with `Lab::spawn`.
    pub const WORKLOAD: u8 = 0;
    /// `mesos-local agent` (stops its executors).
    pub const MESOS_AGENT: u8 = 1;
    /// `mesos-local master`.
    pub const MESOS_MASTER: u8 = 2;
    /// ZooKeeper (HA mode), after the masters and agents that use it.
    pub const ZOOKEEPER: u8 = 3;
    /// `ovn-controller` (removes its chassis and tunnel ports; needs SB).
    pub const CONTROLLER: u8 = 4;
    /// `ovs-vswitchd` (`exit --cleanup` removes its tap devices).
    pub const VSWITCHD: u8 = 5;
    /// The hosts' Open_vSwitch database servers.
    pub const OVSDB: u8 = 6;
    /// `ovn-northd`.
    pub const NORTHD: u8 = 7;
    /// NB and SB database servers.
    pub const CENTRAL_DB: u8 = 8;
}

/// A process the lab started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// What it is, e.g. `mesos-agent1/ovs-vswitchd`.
    pub name: String,
    pub pid: i32,
    /// `/proc/PID/stat` start time, so a recycled pid is never signalled.
    pub start_time: Option<u64>,
    /// Stop order, see [`rank`].
    pub rank: u8,
    /// Control socket for `ovs-appctl -t <ctl> exit` (OVS/OVN daemons).
    pub ctl: Option<PathBuf>,
    /// Extra arguments of `exit`, e.g. `--cleanup`.
    pub exit_args: Vec<String>,
}

/// A link to delete before its namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub netns: String,
    pub name: String,
}

/// Everything a lab created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabState {
    pub dir: PathBuf,
    pub prefix: String,
    /// In creation order.
    pub netns: Vec<String>,
    pub links: Vec<LinkRecord>,
    pub processes: Vec<ProcessRecord>,
}

impl LabState {
    /// An empty state for a lab in `dir`.
    pub fn new(dir: &Path, prefix: &str) -> LabState {
        LabState {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            netns: Vec::new(),
            links: Vec::new(),
            processes: Vec::new(),
        }
    }

    /// `<dir>/lab-state.json`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Reads the state file of the lab in `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<LabState> {
        let path = LabState::path(dir);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the lab state {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("bad lab state in {}", path.display()))
    }

    /// Writes the state file (to a temp file, then renamed into place).
    pub fn save(&self) -> anyhow::Result<()> {
        let path = LabState::path(&self.dir);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("cannot rename {} into place", tmp.display()))
    }

    /// Records a process (with its current start time).
    pub fn add_process(
        &mut self,
        name: &str,
        pid: i32,
        rank: u8,
        ctl: Option<PathBuf>,
        exit_args: &[String],
    ) {
        self.processes.push(ProcessRecord {
            name: name.to_string(),
            pid,
            start_time: proc_start_time(pid),
            rank,
            ctl,
            exit_args: exit_args.to_vec(),
        });
    }

    /// The recorded processes still running.
    pub fn live_processes(&self) -> Vec<&ProcessRecord> {
        self.processes.iter().filter(|p| is_running(p)).collect()
    }

    /// The recorded namespaces still present.
    pub fn live_netns(&self) -> Vec<&String> {
        self.netns.iter().filter(|n| netns_exists(n)).collect()
    }

    /// Stops every process, deletes links, namespaces and (unless
    /// `OVN_MESOS_KEEP_TEST_DIR=1`) the directory. Idempotent; keeps going
    /// after errors and returns the first.
    pub fn teardown(&self) -> anyhow::Result<()> {
        let mut first: Option<anyhow::Error> = None;
        let mut note = |r: anyhow::Result<()>| {
            if let Err(e) = r {
                warn!(error = %format!("{e:#}"), "lab teardown");
                first.get_or_insert(e);
            }
        };
        let mut procs: Vec<&ProcessRecord> = self.processes.iter().collect();
        procs.sort_by_key(|p| p.rank);
        for p in procs {
            note(stop_process(p));
        }
        for link in &self.links {
            if netns_exists(&link.netns) && link_exists(&link.netns, &link.name) {
                note(ip(&["-n", &link.netns, "link", "del", &link.name]).map(drop));
            }
        }
        for ns in self.netns.iter().rev() {
            if netns_exists(ns) {
                note(ip(&["netns", "del", ns]).map(drop));
            }
        }
        if std::env::var(KEEP_ENV).is_ok_and(|v| v == "1") {
            eprintln!("{KEEP_ENV}=1: keeping {}", self.dir.display());
        } else if self.dir.exists() {
            note(
                std::fs::remove_dir_all(&self.dir)
                    .with_context(|| format!("cannot remove {}", self.dir.display())),
            );
        }
        info!(dir = %self.dir.display(), "lab torn down");
        first.map_or(Ok(()), Err)
    }
}

/// Whether the recorded process still runs (same pid and start time).
pub fn is_running(p: &ProcessRecord) -> bool {
    pid_is_alive(p.pid) && proc_start_time(p.pid) == p.start_time
}

/// Graceful (`ovs-appctl exit`), then SIGTERM, then SIGKILL.
fn stop_process(p: &ProcessRecord) -> anyhow::Result<()> {
    if !is_running(p) {
        return Ok(());
    }
    let gone = |stage: &str| {
        wait_for(
            &format!("{} (pid {}) to exit after {stage}", p.name, p.pid),
            STAGE,
            || Ok((!is_running(p)).then_some(())),
        )
        .is_ok()
    };
    if let Some(ctl) = p.ctl.as_ref().filter(|c| c.exists()) {
        let mut cmd = std::process::Command::new("ovs-appctl");
        cmd.arg("--timeout=10").arg("-t").arg(ctl).arg("exit");
        cmd.args(&p.exit_args);
        match run_command(cmd) {
            Ok(_) if gone("exit") => {
                debug!(process = %p.name, pid = p.pid, "exited");
                return Ok(());
            }
            Ok(_) => warn!(process = %p.name, pid = p.pid, "did not exit, sending SIGTERM"),
            Err(e) => warn!(process = %p.name, error = %e, "exit failed, sending SIGTERM"),
        }
    }
    let _ = kill(Pid::from_raw(p.pid), Signal::SIGTERM);
    if gone("SIGTERM") {
        return Ok(());
    }
    warn!(process = %p.name, pid = p.pid, "ignored SIGTERM, sending SIGKILL");
    if is_running(p) {
        let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
    }
    if gone("SIGKILL") {
        Ok(())
    } else {
        anyhow::bail!("{} (pid {}) survived SIGKILL", p.name, p.pid)
    }
}

/// Start time of `pid` in clock ticks since boot (`/proc/PID/stat` field 22).
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `/var/run/netns/<name>` exists.
pub fn netns_exists(name: &str) -> bool {
    Path::new("/var/run/netns").join(name).exists()
}

fn link_exists(netns: &str, name: &str) -> bool {
    ip(&["-n", netns, "link", "show", "dev", name]).is_ok()
}

/// `ip <args>`.
pub fn ip(args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = std::process::Command::new("ip");
    cmd.args(args);
    run_command(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = LabState::new(dir.path(), "lx-");
        s.netns.push("lx-underlay".into());
        s.links.push(LinkRecord {
            netns: "lx-underlay".into(),
            name: "u-master".into(),
        });
        s.add_process("me", std::process::id() as i32, rank::WORKLOAD, None, &[]);
        s.save().unwrap();
        assert_eq!(LabState::load(dir.path()).unwrap(), s);
        assert_eq!(s.live_processes().len(), 1, "this test process runs");
    }

    #[test]
    fn a_process_with_another_start_time_is_not_ours() {
        let p = ProcessRecord {
            name: "recycled".into(),
            pid: std::process::id() as i32,
            start_time: Some(1),
            rank: 0,
            ctl: None,
            exit_args: Vec::new(),
        };
        assert!(!is_running(&p));
        assert!(stop_process(&p).is_ok(), "nothing to stop");
    }

    #[test]
    fn teardown_of_an_empty_lab_removes_its_directory() {
        let dir = tempfile::tempdir().unwrap().keep();
        let s = LabState::new(&dir, "lx-");
        s.save().unwrap();
        if std::env::var(KEEP_ENV).is_err() {
            s.teardown().unwrap();
            assert!(!dir.exists());
        }
    }
}

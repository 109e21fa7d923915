//! The seed's three-host lab on one machine: network namespaces joined by an
//! underlay bridge, real OVS/OVN in every host (geneve between them) and
//! `mesos-local` master and agents (`docs/ovn-here.md`, "The three-host lab",
//! and [`plan`] for the addresses).
//!
//! ```no_run
//! use ovn_mesos_tests::lab::{Host, Lab, LabConfig};
//! let mut lab = Lab::start(LabConfig::for_test())?;
//! lab.network_init_seed()?;
//! let a = lab.container(Host::Agent1, "a", "coke1", None)?;
//! let b = lab.container(Host::Agent2, "b", "coke1", None)?;
//! lab.exec_in(&a.netns, &["ping", "-c1", &b.ip().to_string()])?;
//! lab.stop()?;
//! # anyhow::Ok(())
//! ```
//!
//! With [`LabConfig::ha`] the lab also runs ZooKeeper on 10.10.1.11:2181 in
//! `mesos-master` and one `mesos-local master` per chassis host contending
//! through it ([`plan`], [`ha`]); [`Lab::mesos_master`] is then
//! `zk://10.10.1.11:2181/mesos`.
//!
//! Every step is logged (`tracing`, target `ovn_mesos_tests::lab`) with its
//! time. Everything created is listed in `<dir>/lab-state.json` as it is
//! created, so [`Lab::stop`], `Drop` and [`Lab::cleanup_stale`] (after an
//! owner that died) undo exactly that ([`state`]).

mod binaries;
mod container;
mod enter;
mod ha;
mod hosts;
mod mesos;
pub mod plan;
mod seed;
mod spawn;
pub mod state;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tracing::info;

use crate::daemon::Daemon;
use crate::logs::LogCheck;
use crate::workdir::{run_command, STATE_VARS};
use crate::zookeeper::ZooKeeper;

/// Kept here for callers that name it through the lab.
pub use crate::binaries::ovn_mesos_binary;
pub use binaries::chassis_script;
pub use container::Container;
pub use enter::in_netns;
pub use ha::ZOOKEEPER_PROCESS;
pub use plan::{Host, LabConfig};
pub use seed::{seed_steps, SeedStep};
pub use state::LabState;

/// A running lab; [`Lab::stop`] or drop tears it down.
#[derive(Debug)]
pub struct Lab {
    config: LabConfig,
    dir: PathBuf,
    state: LabState,
    daemons: Vec<(Host, Daemon)>,
    children: Vec<Child>,
    /// HA mode: the ZooKeeper server (its pid is in the state too).
    zookeeper: Option<ZooKeeper>,
    containers: u32,
    startup: Duration,
    stopped: bool,
}

impl Lab {
    /// Builds the whole lab (underlay, per-host OVS, OVN central, chassis,
    /// tunnels, mesos-local) and returns once every chassis has its geneve
    /// tunnels and every agent is registered. On error, whatever was
    /// created is torn down.
    pub fn start(config: LabConfig) -> anyhow::Result<Lab> {
        config.validate().map_err(anyhow::Error::msg)?;
        for ns in config.all_netns() {
            if state::netns_exists(&ns) {
                bail!("network namespace {ns} exists: is a lab running? (`ovn-mesos-lab down`)");
            }
        }
        let dir = prepare_dir(config.dir.as_deref())?;
        let t0 = Instant::now();
        let mut lab = Lab {
            state: LabState::new(&dir, &config.prefix),
            config,
            dir,
            daemons: Vec::new(),
            children: Vec::new(),
            zookeeper: None,
            containers: 0,
            startup: Duration::ZERO,
            stopped: false,
        };
        lab.state.save()?;
        info!(dir = %lab.dir.display(), prefix = %lab.config.prefix, "starting lab");
        lab.boot()
            .with_context(|| format!("starting the lab in {}", lab.dir.display()))?;
        lab.startup = t0.elapsed();
        info!(ms = lab.startup.as_millis() as u64, "lab up");
        Ok(lab)
    }

    fn boot(&mut self) -> anyhow::Result<()> {
        self.step("underlay, host namespaces and NICs", Lab::build_underlay)?;
        for host in Host::CHASSIS {
            self.step(
                &format!("{host}: ovsdb-server, ovs-vswitchd, chassis config, br-phy"),
                |lab| lab.start_host_ovs(host),
            )?;
        }
        self.step("underlay reachable from every agent", Lab::check_underlay)?;
        self.step(
            "OVN central (NB/SB on tcp 10.10.1.11, northd)",
            Lab::start_central,
        )?;
        self.step("ovn-controller on every host", Lab::start_controllers)?;
        self.step(
            "chassis registered, geneve mesh, tunnel neighbours",
            Lab::wait_tunnels,
        )?;
        if self.config.ha {
            self.step("ZooKeeper on 10.10.1.11:2181", Lab::start_zookeeper)?;
        }
        if self.config.mesos {
            let what = if self.config.ha {
                "3 mesos-local masters through ZooKeeper, 2 agents"
            } else {
                "mesos-local master and agents"
            };
            self.step(what, Lab::start_mesos)?;
        }
        Ok(())
    }

    /// Runs one start step, logging its time.
    fn step(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Lab) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let t = Instant::now();
        f(self).with_context(|| format!("lab step: {what}"))?;
        info!(
            step = what,
            ms = t.elapsed().as_millis() as u64,
            "lab step done"
        );
        Ok(())
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &LabConfig {
        &self.config
    }

    /// The lab's directory (per-host state in `<dir>/<short host name>`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of `host`'s daemons (`OVS_RUNDIR` and `OVN_RUNDIR`).
    pub fn host_dir(&self, host: Host) -> PathBuf {
        self.dir.join(host.short())
    }

    /// The network namespace of `host`.
    pub fn netns(&self, host: Host) -> String {
        self.config.netns(host)
    }

    /// What was created so far.
    pub fn state(&self) -> &LabState {
        &self.state
    }

    /// How long [`Lab::start`] took.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// NB over the underlay, `tcp:10.10.1.11:6641` (from inside any host).
    pub fn nb_remote(&self) -> String {
        format!("tcp:{}:{}", Host::Master.ip(), plan::NB_PORT)
    }

    /// SB over the underlay, `tcp:10.10.1.11:6642`.
    pub fn sb_remote(&self) -> String {
        format!("tcp:{}:{}", Host::Master.ip(), plan::SB_PORT)
    }

    /// NB on its unix socket in the lab dir (reachable from any namespace,
    /// e.g. the test process).
    pub fn nb_unix_remote(&self) -> String {
        format!(
            "unix:{}",
            self.host_dir(Host::Master).join("ovnnb_db.sock").display()
        )
    }

    /// SB on its unix socket.
    pub fn sb_unix_remote(&self) -> String {
        format!(
            "unix:{}",
            self.host_dir(Host::Master).join("ovnsb_db.sock").display()
        )
    }

    /// `unix:<host dir>/db.sock`, the host's Open_vSwitch database.
    pub fn ovs_remote(&self, host: Host) -> String {
        format!("unix:{}", self.host_dir(host).join("db.sock").display())
    }

    /// The mesos master, `10.10.1.11:5050` (inside the lab's namespaces);
    /// in HA mode the masters' group, `zk://10.10.1.11:2181/mesos`.
    pub fn mesos_master(&self) -> String {
        self.zk_url(plan::ZK_MESOS_PATH)
            .unwrap_or_else(|| self.mesos_master_of(Host::Master))
    }

    /// The environment of commands run in `host` ([`Lab::exec`]), see [`host_env`].
    pub fn host_env(&self, host: Host) -> Vec<(String, String)> {
        host_env(&self.dir, host)
    }

    /// `ip netns exec <host> <argv>` with [`Lab::host_env`]; stdout trimmed.
    pub fn exec(&self, host: Host, argv: &[&str]) -> anyhow::Result<String> {
        run_command(host_command(&self.state, host, argv))
    }

    /// `ip netns exec <netns> <argv>` (e.g. a container's namespace).
    pub fn exec_in(&self, netns: &str, argv: &[&str]) -> anyhow::Result<String> {
        run_command(netns_command(netns, argv))
    }

    /// `curl -sS -m 5 <url>` from `outside` (10.10.1.1).
    pub fn curl(&self, url: &str) -> anyhow::Result<String> {
        self.exec(Host::Outside, &["curl", "-sS", "-m", "5", url])
    }

    /// `ovn-nbctl --db=<NB unix socket> --timeout=20 <args>`.
    pub fn nbctl(&self, args: &[&str]) -> anyhow::Result<String> {
        ctl("ovn-nbctl", &self.nb_unix_remote(), args)
    }

    /// `ovn-sbctl --db=<SB unix socket> --timeout=20 <args>`.
    pub fn sbctl(&self, args: &[&str]) -> anyhow::Result<String> {
        ctl("ovn-sbctl", &self.sb_unix_remote(), args)
    }

    /// `ovs-vsctl --db=<host's db> --timeout=20 <args>` (waits for
    /// ovs-vswitchd unless `--no-wait` is among `args`).
    pub fn vsctl(&self, host: Host, args: &[&str]) -> anyhow::Result<String> {
        ctl("ovs-vsctl", &self.ovs_remote(host), args)
    }

    /// `ovs-appctl -t <host's ovs-vswitchd ctl> <args>`.
    pub fn vswitchd_appctl(&self, host: Host, args: &[&str]) -> anyhow::Result<String> {
        let ctl = self
            .daemon(host, "ovs-vswitchd")
            .map(|d| d.ctl.clone())
            .with_context(|| format!("{host} has no ovs-vswitchd"))?;
        let mut cmd = Command::new("ovs-appctl");
        cmd.arg("-t").arg(ctl).args(args);
        run_command(cmd)
    }

    /// One of the lab's OVS/OVN daemons of `host` by file name
    /// (`ovs-vswitchd`, `ovn-controller`, `ovsdb-server`, `ovnnb_db` ...).
    pub fn daemon(&self, host: Host, name: &str) -> Option<&Daemon> {
        self.daemons
            .iter()
            .find(|(h, d)| *h == host && d.name == name)
            .map(|(_, d)| d)
    }

    /// Err listing the `|ERR|`/`|EMER|` lines of the lab's OVS/OVN daemons'
    /// logs (none are expected in a healthy lab).
    pub fn check_logs(&self) -> anyhow::Result<()> {
        self.check_logs_allowing(&[])
    }

    /// [`Lab::check_logs`], with the lines holding one of `allowed` left
    /// out (errors a test knows to be harmless; each caller says why).
    pub fn check_logs_allowing(&self, allowed: &[&str]) -> anyhow::Result<()> {
        let mut check = LogCheck::new(self.daemons.iter().map(|(_, d)| d.log.clone()).collect());
        for a in allowed {
            check.allow(*a);
        }
        check.check()
    }

    /// Leaves the lab running and forgets the handle (for `ovn-mesos-lab up`);
    /// stop it later with [`Lab::cleanup_stale`] on the returned directory.
    pub fn detach(mut self) -> PathBuf {
        self.stopped = true;
        for (_, d) in self.daemons.drain(..) {
            std::mem::forget(d);
        }
        if let Some(zk) = self.zookeeper.take() {
            zk.detach();
        }
        self.children.clear();
        self.dir.clone()
    }

    /// Tears the lab down (see [`state`]); returns how long it took.
    /// Idempotent.
    pub fn stop(&mut self) -> anyhow::Result<Duration> {
        let t = Instant::now();
        if self.stopped {
            return Ok(Duration::ZERO);
        }
        self.stopped = true;
        let result = self.state.teardown();
        for child in &mut self.children {
            let _ = child.try_wait();
        }
        // Stopped by the teardown (by pid): this reaps it.
        drop(self.zookeeper.take());
        let took = t.elapsed();
        info!(ms = took.as_millis() as u64, "lab stopped");
        result.map(|_| took)
    }

    /// Tears down the lab whose state file is in `dir` (its owner was
    /// killed, or `ovn-mesos-lab up` left it running). Ok(false) when `dir`
    /// holds no lab state.
    pub fn cleanup_stale(dir: &Path) -> anyhow::Result<bool> {
        if !LabState::path(dir).exists() {
            return Ok(false);
        }
        let state = LabState::load(dir)?;
        info!(dir = %dir.display(), processes = state.processes.len(), netns = state.netns.len(), "cleaning up a stale lab");
        state.teardown()?;
        Ok(true)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("stopping the lab in {}: {e:#}", self.dir.display());
        }
    }
}

/// The environment of commands run in `host` of the lab in `dir`: the
/// host's `OVS_*`/`OVN_*` directories (so `ovs-vsctl`, `ovs-appctl -t
/// ovs-vswitchd`, `ovn-appctl -t ovn-controller` and on the master
/// `ovn-nbctl` find its daemons) and `OVN_NB_DB`/`OVN_SB_DB` on the underlay.
pub fn host_env(dir: &Path, host: Host) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if host.is_chassis() {
        let d = dir.join(host.short()).display().to_string();
        env.extend(STATE_VARS.iter().map(|v| (v.to_string(), d.clone())));
    }
    let master = Host::Master.ip();
    env.push((
        "OVN_NB_DB".into(),
        format!("tcp:{master}:{}", plan::NB_PORT),
    ));
    env.push((
        "OVN_SB_DB".into(),
        format!("tcp:{master}:{}", plan::SB_PORT),
    ));
    env
}

/// `ip netns exec <host's netns> <argv>` with [`host_env`], for the lab
/// described by `state` (also one left running by `ovn-mesos-lab up`).
pub fn host_command(state: &LabState, host: Host, argv: &[&str]) -> Command {
    let mut cmd = netns_command(&format!("{}{}", state.prefix, host.name()), argv);
    cmd.envs(host_env(&state.dir, host));
    cmd
}

/// Polls the agents' Open_vSwitch databases (`agent_ovs`, as
/// [`Lab::ovs_remote`] names them: a `Drop` that has no lab handle can
/// call this) until no task port (`ovnm...`) is on `br-int`: every
/// executor removed its task's container.
pub fn wait_task_ports_removed(agent_ovs: &[String], timeout: Duration) -> anyhow::Result<()> {
    crate::poll::wait_for(
        "every executor to remove its task's port from br-int",
        timeout,
        || {
            for db in agent_ovs {
                let mut cmd = Command::new("ovs-vsctl");
                cmd.args([&format!("--db={db}"), "--timeout=5", "list-ports", "br-int"]);
                if run_command(cmd)?.lines().any(|p| p.starts_with("ovnm")) {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        },
    )
}

/// `ip netns exec <netns> <argv...>`.
fn netns_command(netns: &str, argv: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", netns]).args(argv);
    cmd
}

/// `<tool> --db=<remote> --timeout=20 <args>`.
fn ctl(tool: &str, remote: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = Command::new(tool);
    cmd.arg(format!("--db={remote}"))
        .arg("--timeout=20")
        .args(args);
    run_command(cmd)
}

/// The lab directory: `dir` (created; must be empty) or a fresh temp dir.
fn prepare_dir(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .with_context(|| format!("cannot create the lab directory {}", d.display()))?;
            if std::fs::read_dir(d)?.next().is_some() {
                bail!(
                    "the lab directory {} is not empty (a lab there? `ovn-mesos-lab down --dir {0}`)",
                    d.display()
                );
            }
            std::fs::canonicalize(d)?
        }
        None => tempfile::Builder::new()
            .prefix("ovn-mesos-lab-")
            .tempdir_in(short_temp_dir())?
            .keep(),
    };
    // The longest socket: <dir>/<host>/ovn-controller.<pid>.ctl.
    let longest = path.as_os_str().len() + "/outside/ovn-controller.4194304.ctl".len();
    if longest >= crate::workdir::MAX_SOCKET_PATH {
        bail!(
            "lab directory {} is too long for unix socket paths",
            path.display()
        );
    }
    Ok(path)
}

/// The temp dir, or `/tmp` when `TMPDIR` is long.
fn short_temp_dir() -> PathBuf {
    let t = std::env::temp_dir();
    if t.as_os_str().len() > 40 {
        PathBuf::from("/tmp")
    } else {
        t
    }
}

//! Helpers of the `vagrant/` lab tests: the lab's expected address plan and
//! its two modes, the check tools (found or a clear failure), the Vagrantfile
//! evaluated by ruby with a recording stub of `Vagrant.configure`, and the
//! provisioning renderer run into a temporary DESTDIR.

pub mod files;
pub mod rendered;
pub mod vagrantfile;
pub mod zookeeper;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context};

/// The master's overlay address: Mesos master, OVN NB/SB.
pub const MASTER_IP: &str = "10.10.1.11";
/// The host's address on the lab network (the tenants' next hop).
pub const GATEWAY_IP: &str = "10.10.1.1";
/// The gateway NIC name given to the renderer (a VM detects its own).
pub const GATEWAY_NIC: &str = "enp0s9";

/// The lab's ZooKeeper with `LAB_HA=1`: one server on the master.
pub const ZK_ADDRESS: &str = "10.10.1.11:2181";
/// Where the Mesos masters elect their leader (and the agents and the
/// framework find it) with `LAB_HA=1`.
pub const MESOS_ZK: &str = "zk://10.10.1.11:2181/mesos";
/// Where the ovn-mesos instances elect their leader with `LAB_HA=1`.
pub const OVN_MESOS_ZK: &str = "zk://10.10.1.11:2181/ovn-mesos";
/// The port of the framework's HTTP API (`OVN_MESOS_API` left at its default).
pub const API_PORT: u16 = 8089;

/// The lab's modes: one Mesos master and one framework on `mesos-master`
/// (the default), or high availability (`LAB_HA=1`): ZooKeeper on
/// `mesos-master`, a Mesos master and an ovn-mesos instance on every VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Default,
    Ha,
}

impl Mode {
    /// Both modes.
    pub const ALL: [Mode; 2] = [Mode::Default, Mode::Ha];

    /// The host settings of `vagrant up` that select the mode.
    pub fn host_settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Mode::Default => &[],
            Mode::Ha => &[("LAB_HA", "1")],
        }
    }

    /// True with `LAB_HA=1`.
    pub fn is_ha(self) -> bool {
        self == Mode::Ha
    }

    /// The Mesos master as the agents and the framework are given it.
    pub fn mesos_master(self) -> String {
        match self {
            Mode::Default => format!("{MASTER_IP}:5050"),
            Mode::Ha => MESOS_ZK.to_string(),
        }
    }

    /// The Mesos daemons of `vm`: its role, and a master on every VM with
    /// `LAB_HA=1`.
    pub fn mesos_roles(self, vm: &Vm) -> Vec<&'static str> {
        match (self, vm.role) {
            (Mode::Ha, "agent") => vec!["master", "agent"],
            (_, role) => vec![role],
        }
    }

    /// Whether `vm` runs `ovn-mesos run` (`ovn-mesos.service`).
    pub fn runs_framework(self, vm: &Vm) -> bool {
        self.is_ha() || vm.role == "master"
    }

    /// Whether `vm` runs the lab's ZooKeeper.
    pub fn runs_zookeeper(self, vm: &Vm) -> bool {
        self.is_ha() && vm.role == "master"
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Default => "default",
            Mode::Ha => "LAB_HA=1",
        })
    }
}

/// One VM of the lab as the seed's address plan has it.
#[derive(Debug, Clone, Copy)]
pub struct Vm {
    pub name: &'static str,
    pub role: &'static str,
    pub overlay_ip: &'static str,
    /// The address of the NIC that a tenant's gateway router owns.
    pub gateway_nic_ip: Option<&'static str>,
}

/// mesos-master (coke's gateway 10.10.1.12), mesos-agent1 (pepsi's gateway
/// 10.10.1.14), mesos-agent2.
pub const LAB: [Vm; 3] = [
    Vm {
        name: "mesos-master",
        role: "master",
        overlay_ip: "10.10.1.11",
        gateway_nic_ip: Some("10.10.1.12"),
    },
    Vm {
        name: "mesos-agent1",
        role: "agent",
        overlay_ip: "10.10.1.13",
        gateway_nic_ip: Some("10.10.1.14"),
    },
    Vm {
        name: "mesos-agent2",
        role: "agent",
        overlay_ip: "10.10.1.15",
        gateway_nic_ip: None,
    },
];

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `vagrant/` in the repository.
pub fn vagrant_dir() -> PathBuf {
    repo().join("vagrant")
}

/// The path of a check tool on PATH; panics with how to install it when
/// missing (the checks never skip silently).
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed but the vagrant/ checks need it: \
                 run scripts/install-deps.sh (Debian package `{name}`)"
            )
        })
}

/// Runs `cmd`, returning its output whatever the exit status.
pub fn output(cmd: &mut Command) -> anyhow::Result<Output> {
    cmd.output().with_context(|| format!("cannot run {cmd:?}"))
}

/// Runs `cmd` and returns stdout; Err names the command, status and stderr.
pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = output(cmd)?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// `provision.sh --render-only` for one VM with its Vagrantfile environment,
/// the checkout as LAB_SRC, the given Mesos implementation and `extra`.
pub fn render_command(env: &BTreeMap<String, String>, destdir: &Path, mesos_impl: &str) -> Command {
    let mut cmd = Command::new(tool("bash"));
    cmd.arg(vagrant_dir().join("provisioning/provision.sh"))
        .arg("--render-only")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env)
        .env("LAB_SRC", repo())
        .env("MESOS_IMPL", mesos_impl)
        .env("DESTDIR", destdir);
    if env.contains_key("PUBLIC_IP2") {
        cmd.env("GATEWAY_NIC", GATEWAY_NIC);
    }
    cmd
}

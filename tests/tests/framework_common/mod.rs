//! Shared setup of the `ovn-mesos run` tests: OVN central and one chassis
//! (real daemons, private dirs), the seed topology written with
//! `ovn::topology` (tenants coke and pepsi, gateway routers on the chassis,
//! networks coke1 and pepsi1 on 192.168.1.0/24), a mesos-local master (in
//! this process, or as a separate `mesos-local master` process that a test
//! can kill and start again on the same port) and one in-process agent whose
//! hostname is the chassis' system-id (so `requested-chassis` matches) and
//! whose executors get `OVN_MESOS_OVS_DB` / `OVN_MESOS_HOST_NETNS` of the
//! chassis.
//!
//! [`Lab::start_ha`] starts the masters as a ZooKeeper group instead:
//! several `mesos-local master --zk zk://.../mesos` processes contending
//! through a real ZooKeeper, the agent following the leader with
//! `--master zk://.../mesos`, and [`Lab::master`] the `zk://` URL (so
//! `ovn-mesos run --master` follows the leader too).
//!
//! The tests are synchronous; [`Lab`] owns a tokio runtime for mesos-local
//! and the async clients. Everything stops on drop, also when a test fails:
//! the framework processes ([`process::Framework`]), the agent (it kills
//! its executors), the master, the daemons; task namespaces left by killed
//! executors are deleted.

#![allow(dead_code)]

pub mod checks;
pub mod nb;
pub mod process;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use mesos_local::agent::{self, AgentHandle};
use mesos_local::config::{AgentConfig, MasterConfig};
use mesos_local::master::{self, MasterHandle};
use mesos_local::testing::{MesosProcess, TEST_RESOURCES};
use ovn::nb::NB_DB;
use ovn::ovsdb::{Client, ClientConfig};
use ovn::topology::{
    gateway_init, monitor_nb, network_init, tenant_init, GatewayMode, GatewaySpec, NetworkSpec,
    TenantSpec,
};
use ovn_mesos_tests::{wait_for, Chassis, OvnCentral, ZooKeeper};

pub use process::Framework;

/// How long a launch, a kill or a restart may take.
pub const WAIT: Duration = Duration::from_secs(40);

/// The chassis' system-id (= the agent's hostname).
pub const CHASSIS: &str = "fw-chassis-1";

/// Where the master runs.
pub enum MasterKind {
    /// In this process.
    InProcess,
    /// A `mesos-local master` child process (can be restarted).
    Process,
}

enum MesosMaster {
    InProcess(MasterHandle),
    Process {
        process: MesosProcess,
        log: PathBuf,
    },
    /// `mesos-local master --zk` processes (`None` once killed).
    Group(Vec<GroupMaster>),
}

/// One master of a ZooKeeper group.
struct GroupMaster {
    addr: String,
    process: Option<MesosProcess>,
}

/// The ZooKeeper path of [`Lab::start_ha`]'s group (Mesos' `--zk`).
pub const HA_GROUP: &str = "/mesos";

/// ZooKeeper session timeout of [`Lab::start_ha`]'s masters and agent.
pub const HA_SESSION_TIMEOUT: Duration = Duration::from_secs(2);

/// Central, chassis, mesos-local and the topology of one test.
pub struct Lab {
    pub rt: tokio::runtime::Runtime,
    agent: Option<AgentHandle>,
    master: Option<MesosMaster>,
    master_addr: String,
    /// Task namespaces seen, deleted on drop if still there.
    pub netns_seen: std::cell::RefCell<Vec<String>>,
    pub chassis: Chassis,
    pub central: OvnCentral,
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
    pub executor: PathBuf,
}

impl Lab {
    /// Daemons, the seed topology and a master with one agent.
    pub fn start(kind: MasterKind) -> Lab {
        let mut lab = Lab::seeded();
        lab.start_master(kind, 0);
        lab.start_agent();
        lab
    }

    /// Daemons, the seed topology, `masters` `mesos-local master --zk
    /// <zk>/mesos` processes (session timeout [`HA_SESSION_TIMEOUT`]) and
    /// one agent with `--master zk://.../mesos`, registered with the
    /// leader. [`Lab::master`] is the `zk://` URL.
    pub fn start_ha(zk: &ZooKeeper, masters: usize) -> Lab {
        let mut lab = Lab::seeded();
        lab.start_group(&zk.zk_url(HA_GROUP), masters);
        lab.start_agent();
        lab
    }

    /// Daemons and the seed topology, no master and no agent yet.
    fn seeded() -> Lab {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let central = OvnCentral::start().expect("OVN central");
        let chassis = Chassis::start(&central, CHASSIS).expect("chassis");
        let dir = tempfile::Builder::new()
            .prefix("ovn-mesos-fw-")
            .tempdir()
            .expect("temp dir");
        let bin = ovn_mesos_tests::binaries::ovn_mesos_binary().expect("ovn-mesos binary");
        let executor =
            ovn_mesos_tests::binaries::executor_binary().expect("ovn-mesos-executor binary");
        let lab = Lab {
            rt,
            agent: None,
            master: None,
            master_addr: String::new(),
            netns_seen: Default::default(),
            chassis,
            central,
            dir,
            bin,
            executor,
        };
        lab.rt
            .block_on(seed_topology(&lab.central.nb_remote(), CHASSIS))
            .expect("seed topology");
        lab
    }

    /// The master's `ip:port` (with [`Lab::start_ha`]: the `zk://` URL).
    pub fn master(&self) -> &str {
        &self.master_addr
    }

    fn start_master(&mut self, kind: MasterKind, port: u16) {
        let work = self.dir.path().join("master");
        let master = match kind {
            MasterKind::InProcess => {
                let config = MasterConfig {
                    port,
                    work_dir: Some(work),
                    allocation_interval: Duration::from_millis(50),
                    ..MasterConfig::default()
                };
                MesosMaster::InProcess(self.rt.block_on(master::start(config)).expect("master"))
            }
            MasterKind::Process => {
                let log = self.dir.path().join("master.log");
                let port = port.to_string();
                let work = work.display().to_string();
                let args = [
                    "master",
                    "--ip",
                    "127.0.0.1",
                    "--port",
                    &port,
                    "--work-dir",
                    &work,
                    "--allocation-interval",
                    "50ms",
                ];
                let process = MesosProcess::start(&args, 1, &log).expect("mesos-local master");
                MesosMaster::Process { process, log }
            }
        };
        self.master_addr = match &master {
            MesosMaster::InProcess(m) => m.endpoint(),
            MesosMaster::Process { process, .. } => process.addresses()[0].clone(),
            MesosMaster::Group(_) => unreachable!("start_group"),
        };
        self.master = Some(master);
    }

    /// `count` `mesos-local master --zk <url>` processes on free ports,
    /// logs `<test dir>/master-<i>.log`.
    fn start_group(&mut self, url: &str, count: usize) {
        let timeout = format!("{}secs", HA_SESSION_TIMEOUT.as_secs());
        let masters = (0..count)
            .map(|i| {
                let work = self.dir.path().join(format!("master-{i}"));
                let log = self.dir.path().join(format!("master-{i}.log"));
                let process = MesosProcess::zk_master(url, &timeout, &work, &log)
                    .expect("mesos-local master");
                GroupMaster {
                    addr: process.addresses()[0].clone(),
                    process: Some(process),
                }
            })
            .collect();
        self.master = Some(MesosMaster::Group(masters));
        self.master_addr = url.to_owned();
    }

    /// The `ip:port` of every master of [`Lab::start_ha`]'s group that has
    /// not been killed.
    pub fn live_masters(&self) -> Vec<String> {
        match &self.master {
            Some(MesosMaster::Group(masters)) => masters
                .iter()
                .filter(|m| m.process.is_some())
                .map(|m| m.addr.clone())
                .collect(),
            _ => panic!("live_masters needs Lab::start_ha"),
        }
    }

    /// The group's leader, once every live master's `/redirect` points at
    /// it and its `/state` says it leads (`None` while they disagree; an
    /// error while one of them knows no leader or the one named does not
    /// lead: see [`mesos_local::testing::agreed_leader`]).
    pub fn agreed_leader(&self) -> anyhow::Result<Option<String>> {
        let live = self.live_masters();
        let live: Vec<&str> = live.iter().map(String::as_str).collect();
        self.rt.block_on(mesos_local::testing::agreed_leader(&live))
    }

    /// Waits until the live masters agree on a leader (see
    /// [`Lab::agreed_leader`]); its `ip:port`.
    pub fn wait_leader(&self) -> String {
        wait_for("the masters to agree on a leader", WAIT, || {
            self.agreed_leader()
        })
        .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// SIGKILLs (by pid) the group's master at `addr` (a crash).
    pub fn kill_master(&mut self, addr: &str) {
        let Some(MesosMaster::Group(masters)) = &mut self.master else {
            panic!("kill_master needs Lab::start_ha");
        };
        let master = masters
            .iter_mut()
            .find(|m| m.addr == addr)
            .unwrap_or_else(|| panic!("no master {addr}"));
        let mut process = master.process.take().expect("master already killed");
        process.kill();
    }

    /// `GET http://<addr>/state` of one master, not following redirects
    /// (Err unless 200: a follower answers 307).
    pub fn state_of(&self, addr: &str) -> anyhow::Result<serde_json::Value> {
        self.rt.block_on(mesos_local::testing::master_state(addr))
    }

    /// The in-process agent's id, once registered.
    pub fn agent_id(&self) -> Option<String> {
        self.agent.as_ref().and_then(AgentHandle::agent_id)
    }

    fn start_agent(&mut self) {
        let env = BTreeMap::from([
            (
                "PATH".to_string(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            ),
            ("OVN_MESOS_OVS_DB".into(), self.chassis.ovs_remote()),
            ("OVN_MESOS_HOST_NETNS".into(), self.chassis.netns().into()),
            ("OVN_MESOS_LOG".into(), "info".into()),
        ]);
        let config = AgentConfig {
            master: self.master_addr.clone(),
            port: 0,
            work_dir: self.dir.path().join("agent"),
            resources: Some(TEST_RESOURCES.into()),
            hostname: Some(CHASSIS.into()),
            zk_session_timeout: if self.master_addr.starts_with("zk://") {
                HA_SESSION_TIMEOUT
            } else {
                AgentConfig::default().zk_session_timeout
            },
            executor_environment: Some(env),
            executor_shutdown_grace_period: Duration::from_secs(3),
            status_update_retry_interval: Duration::from_secs(1),
            ..AgentConfig::default()
        };
        let agent = self.rt.block_on(agent::start(config)).expect("agent");
        let registered = self.rt.block_on(agent.wait_registered(WAIT));
        assert!(registered.is_some(), "the agent registered with the master");
        self.agent = Some(agent);
    }

    /// SIGKILLs the master process and starts it again on the same port
    /// (mesos-local keeps no registry: agents and the framework come back).
    pub fn restart_master(&mut self) {
        let port: u16 = self
            .master_addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("master port");
        match self.master.take() {
            Some(MesosMaster::Process { mut process, log }) => {
                process.kill();
                let old = log.with_extension("log.1");
                let _ = std::fs::rename(&log, old);
            }
            _ => panic!("restart_master needs MasterKind::Process"),
        }
        self.start_master(MasterKind::Process, port);
    }

    /// The master's `/state` as JSON (with [`Lab::start_ha`]: the
    /// current leader's).
    pub fn master_state(&self) -> anyhow::Result<serde_json::Value> {
        if let Some(MesosMaster::Group(_)) = &self.master {
            let leader = self.agreed_leader()?.context("no agreed leader")?;
            return self.state_of(&leader);
        }
        let (status, body) = self.http_get(&format!("http://{}/state", self.master_addr))?;
        anyhow::ensure!(status == 200, "GET /state: {status}");
        Ok(body)
    }

    /// `GET url`: status and JSON body (`null` when not JSON).
    pub fn http_get(&self, url: &str) -> anyhow::Result<(u16, serde_json::Value)> {
        self.http(reqwest::Method::GET, url)
    }

    /// `method url`: status and JSON body (`Null` when not JSON).
    pub fn http(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        self.rt.block_on(async {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()?;
            let response = client.request(method, url).send().await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            Ok((
                status,
                serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
            ))
        })
    }

    /// `ovn-mesos --nb <nb> <args>`: (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = std::process::Command::new(&self.bin)
            .arg("--nb")
            .arg(self.central.nb_remote())
            .args(args)
            .output()
            .expect("run ovn-mesos");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A fresh state dir under the test dir.
    pub fn state_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The shipped task file `name` (`apachecoke.json` ...).
    pub fn shipped(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tasks")
            .join(name)
    }

    /// Writes `text` to `<test dir>/<name>` and returns its path.
    pub fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("task dir");
        }
        std::fs::write(&path, text).expect("write task file");
        path
    }

    /// Notes a task namespace so drop removes it if an executor left it.
    pub fn note_netns(&self, netns: &str) {
        let mut seen = self.netns_seen.borrow_mut();
        if !seen.iter().any(|n| n == netns) {
            seen.push(netns.to_owned());
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(agent) = self.agent.take() {
            self.rt.block_on(agent.shutdown());
        }
        match self.master.take() {
            Some(MesosMaster::InProcess(m)) => self.rt.block_on(m.shutdown()),
            Some(MesosMaster::Process { mut process, .. }) => process.stop(),
            Some(MesosMaster::Group(masters)) => {
                for mut process in masters.into_iter().filter_map(|m| m.process) {
                    process.stop();
                }
            }
            None => {}
        }
        // Tasks outlive a stopped framework, and executors killed with the
        // agent leave their task's processes behind: remove every task
        // namespace whose processes run in this test's sandboxes.
        let mut namespaces = self.netns_seen.borrow().clone();
        namespaces.extend(namespaces_with_cwd_under(self.dir.path()));
        for ns in &namespaces {
            remove_netns(ns);
        }
        if std::thread::panicking() || std::env::var_os("OVN_MESOS_KEEP_TEST_DIR").is_some() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
            eprintln!("test dir kept: {}", kept.keep().display());
        }
    }
}

/// Kills what runs in namespace `ns` and deletes it (`ip netns pids`,
/// `ip netns del`), if it still exists.
pub fn remove_netns(ns: &str) {
    if !Path::new("/var/run/netns").join(ns).exists() {
        return;
    }
    for pid in netns_pids(ns) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", ns])
        .status();
}

/// Task namespaces (`ovnm-*`) with a process whose cwd is under `dir`.
pub fn namespaces_with_cwd_under(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/var/run/netns") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|ns| ns.starts_with("ovnm-"))
        .filter(|ns| {
            netns_pids(ns).into_iter().any(|pid| {
                std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
            })
        })
        .collect()
}

/// `kill <signal>` (`-STOP`, `-CONT` ...) to each of `pids`.
pub fn signal_pids(pids: &[i32], signal: &str) {
    for pid in pids {
        let _ = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status();
    }
}

/// `ip netns pids <ns>`.
pub fn netns_pids(ns: &str) -> Vec<i32> {
    std::process::Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `ip netns exec <ns> <args>`: stdout, or Err with the status and stderr.
pub fn in_netns(ns: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .context("ip netns exec")?;
    anyhow::ensure!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A free loopback port for `--api` (bound, read, released).
pub fn free_api_addr() -> SocketAddr {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// The seed topology: tenants coke and pepsi (cluster 192.168.0.0/16), a
/// localnet gateway each on `chassis` (NB only: 10.10.1.12 and 10.10.1.14),
/// networks coke1 and pepsi1 on 192.168.1.0/24.
async fn seed_topology(nb_remote: &str, chassis: &str) -> anyhow::Result<()> {
    let nb = Client::connect(monitor_nb(ClientConfig::new(nb_remote, NB_DB)?)).await?;
    for (tenant, gw) in [("coke", "10.10.1.12"), ("pepsi", "10.10.1.14")] {
        let cluster = "192.168.0.0/16".parse()?;
        tenant_init(
            &nb,
            &TenantSpec {
                name: tenant.into(),
                cluster_subnet: Some(cluster),
                service_subnet: None,
            },
        )
        .await?;
        let gateway = GatewaySpec {
            tenant: tenant.into(),
            cluster_subnet: Some(cluster),
            physical_ip: format!("{gw}/24").parse()?,
            default_gw: "10.10.1.1".parse()?,
            mode: GatewayMode::Localnet {
                physnet: "physnet".into(),
                bridge: "br-ex".into(),
                interface: None,
            },
            system_id: Some(chassis.into()),
        };
        gateway_init(&nb, None, &gateway).await?;
        network_init(
            &nb,
            &NetworkSpec {
                tenant: tenant.into(),
                name: format!("{tenant}1"),
                subnet: "192.168.1.0/24".parse()?,
            },
        )
        .await?;
    }
    nb.close().await;
    Ok(())
}

/// Adds network `name` with `subnet` to tenant coke.
pub fn add_network(lab: &Lab, name: &str, subnet: &str) {
    let (ok, _, err) = lab.cli(&[
        "network-init",
        "--tenant-name=coke",
        &format!("--network-name={name}"),
        &format!("--subnet={subnet}"),
    ]);
    assert!(ok, "network-init {name}: {err}");
}

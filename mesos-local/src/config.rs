//! Plain configuration structs of the master, the agent and the one-process
//! cluster, with Mesos' defaults. The CLI fills them from flags and
//! `MESOS_LOCAL_*` environment variables; tests build them directly.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

pub use crate::zookeeper::ZkConfig;
use crate::zookeeper::DEFAULT_SESSION_TIMEOUT;

/// The master's settings.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// Address to listen on.
    pub ip: IpAddr,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// Hostname advertised in `MasterInfo` (default: the IP).
    pub hostname: Option<String>,
    /// Working directory (created if missing; the master keeps its state in
    /// memory, so nothing else is written there).
    pub work_dir: Option<PathBuf>,
    /// Scheduler stream heartbeat period (Mesos: 15 s).
    pub heartbeat_interval: Duration,
    /// Period of the master's pings to each agent (`--agent_ping_timeout`).
    pub agent_ping_timeout: Duration,
    /// Unanswered pings before an agent is unreachable
    /// (`--max_agent_ping_timeouts`).
    pub max_agent_ping_timeouts: u32,
    /// Period of batch allocation (`--allocation_interval`).
    pub allocation_interval: Duration,
    /// Rescind offers not used within this time (`--offer_timeout`).
    pub offer_timeout: Option<Duration>,
    /// Completed frameworks kept for `/state` (`--max_completed_frameworks`).
    pub max_completed_frameworks: usize,
    /// Completed tasks kept per framework
    /// (`--max_completed_tasks_per_framework`).
    pub max_completed_tasks_per_framework: usize,
    /// Events queued per subscriber before it counts as gone.
    pub event_queue_capacity: usize,
    /// `--zk`: contend for leadership through ZooKeeper (only the leader
    /// serves; the others redirect). `None`: a standalone master that
    /// leads from the start.
    pub zk: Option<ZkConfig>,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 5050,
            hostname: None,
            work_dir: None,
            heartbeat_interval: Duration::from_secs(15),
            agent_ping_timeout: Duration::from_secs(15),
            max_agent_ping_timeouts: 5,
            allocation_interval: Duration::from_secs(1),
            offer_timeout: None,
            max_completed_frameworks: 50,
            max_completed_tasks_per_framework: 1000,
            event_queue_capacity: 1 << 16,
            zk: None,
        }
    }
}

/// The agent's settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The master's `ip:port`, or `zk://host:port[,...]/path` to follow
    /// the leading master of a ZooKeeper group.
    pub master: String,
    /// Session timeout asked of ZooKeeper when `master` is a `zk://` URL
    /// (`--zk_session_timeout`).
    pub zk_session_timeout: Duration,
    /// Address to listen on (and to advertise to executors).
    pub ip: IpAddr,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// Sandboxes and metadata live under this directory.
    pub work_dir: PathBuf,
    /// `--resources` (Mesos syntax or JSON); default: detected cpus and
    /// memory, `disk:10240`, `ports:[31000-32000]`.
    pub resources: Option<String>,
    /// `--attributes` (`rack:r1;zone:2`).
    pub attributes: Option<String>,
    /// Hostname advertised (default: the IP).
    pub hostname: Option<String>,
    /// Kill an executor that has not subscribed within this time.
    pub executor_registration_timeout: Duration,
    /// Default time between SHUTDOWN and SIGKILL of an executor.
    pub executor_shutdown_grace_period: Duration,
    /// First retry interval of an unacknowledged status update (doubles).
    pub status_update_retry_interval: Duration,
    /// Largest retry interval of a status update.
    pub status_update_retry_max: Duration,
    /// Period of HEARTBEAT events to subscribed executors.
    pub executor_heartbeat_interval: Duration,
    /// Bench setting: answer every launched task with TASK_RUNNING and
    /// TASK_FINISHED at once, starting no process.
    pub noop_executor: bool,
    /// Bench setting (implies `noop_executor`): tasks stay TASK_RUNNING,
    /// started by no process, until killed (then TASK_KILLED).
    pub noop_hold: bool,
    /// `--executor_environment_variables`: the base environment of
    /// executors (default: only `PATH`).
    pub executor_environment: Option<BTreeMap<String, String>>,
    /// Status updates queued per task before the oldest non-terminal one
    /// is dropped (logged).
    pub max_pending_updates_per_task: usize,
    /// Largest pause between attempts to reach the master.
    pub registration_backoff_max: Duration,
    /// `MESOS_RECOVERY_TIMEOUT` given to checkpointing executors.
    pub recovery_timeout: Duration,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            master: "127.0.0.1:5050".into(),
            zk_session_timeout: DEFAULT_SESSION_TIMEOUT,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 5051,
            work_dir: std::env::temp_dir().join("mesos-local"),
            resources: None,
            attributes: None,
            hostname: None,
            executor_registration_timeout: Duration::from_secs(60),
            executor_shutdown_grace_period: Duration::from_secs(5),
            status_update_retry_interval: Duration::from_secs(10),
            status_update_retry_max: Duration::from_secs(600),
            executor_heartbeat_interval: Duration::from_secs(30),
            noop_executor: false,
            noop_hold: false,
            executor_environment: None,
            max_pending_updates_per_task: 64,
            registration_backoff_max: Duration::from_secs(1),
            recovery_timeout: Duration::from_secs(900),
        }
    }
}

/// `masters` masters and `agents` agents in one process (`mesos-local
/// run`).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The master (template of every master: master `i` listens on
    /// `port + i`, or a free port when 0, with work directory
    /// `work_dir/master-<i>` when there are several); the agents' `master`
    /// is its address, or the ZooKeeper URL with `zk`.
    pub master: MasterConfig,
    /// How many masters (more than one needs `master.zk`).
    pub masters: usize,
    /// Template of every agent: `master` is replaced, `port` is the first
    /// agent's port (each next one +1, or 0 for all when 0), and each
    /// agent gets `work_dir/agent-<i>`.
    pub agent: AgentConfig,
    /// How many agents.
    pub agents: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            master: MasterConfig::default(),
            agent: AgentConfig {
                port: 0,
                ..AgentConfig::default()
            },
            agents: 1,
            masters: 1,
        }
    }
}

/// Version reported by `GET /version` and in `MasterInfo`: the Mesos
/// release whose HTTP API mesos-local follows.
pub const MESOS_VERSION: &str = "1.11.0";

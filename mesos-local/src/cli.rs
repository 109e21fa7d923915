//! The command line (clap): `mesos-local master|agent|run`, every flag
//! also read from a `MESOS_LOCAL_*` environment variable, durations in
//! stout notation (`5secs`). Turns arguments into the plain config
//! structs of [`crate::config`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{AgentConfig, ClusterConfig, MasterConfig};
use crate::duration::parse_flag as duration;
use crate::zookeeper::{ZkConfig, ZkUrl};

/// mesos-local: a local Mesos master and agents (v1 scheduler and executor
/// HTTP APIs).
#[derive(Debug, Parser)]
#[command(name = "mesos-local", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a master.
    Master(MasterArgs),
    /// Run an agent registered with a master.
    Agent(AgentArgs),
    /// Run a master and N agents in one process.
    Run(RunArgs),
    /// A minimal v1 executor used by the tests and the bench (see
    /// `mesos_local::test_executor`).
    #[command(hide = true)]
    TestExecutor,
}

/// Master timing flags (shared by `master` and `run`).
#[derive(Debug, Clone, Args)]
pub struct MasterTuning {
    /// Scheduler stream heartbeat period.
    #[arg(long, env = "MESOS_LOCAL_HEARTBEAT_INTERVAL", default_value = "15secs", value_parser = duration)]
    pub heartbeat_interval: Duration,
    /// Period of the master's pings to agents.
    #[arg(long, env = "MESOS_LOCAL_AGENT_PING_TIMEOUT", default_value = "15secs", value_parser = duration)]
    pub agent_ping_timeout: Duration,
    /// Missed pings before an agent is unreachable.
    #[arg(long, env = "MESOS_LOCAL_MAX_AGENT_PING_TIMEOUTS", default_value_t = 5)]
    pub max_agent_ping_timeouts: u32,
    /// Period of batch offer allocation.
    #[arg(long, env = "MESOS_LOCAL_ALLOCATION_INTERVAL", default_value = "1secs", value_parser = duration)]
    pub allocation_interval: Duration,
    /// Rescind offers unused for this long (default: never).
    #[arg(long, env = "MESOS_LOCAL_OFFER_TIMEOUT", value_parser = duration)]
    pub offer_timeout: Option<Duration>,
}

/// ZooKeeper flags of masters (shared by `master` and `run`).
#[derive(Debug, Clone, Args)]
pub struct ZkArgs {
    /// Contend for leadership in this ZooKeeper group,
    /// `zk://[user:password@]host:port[,host:port...]/path`: the master
    /// with the lowest `json.info_` znode leads, the others redirect.
    #[arg(long, env = "MESOS_LOCAL_ZK", value_parser = ZkUrl::parse)]
    pub zk: Option<ZkUrl>,
    /// ZooKeeper session timeout.
    #[arg(long, env = "MESOS_LOCAL_ZK_SESSION_TIMEOUT", default_value = "10secs", value_parser = duration)]
    pub zk_session_timeout: Duration,
}

impl ZkArgs {
    fn config(&self) -> Option<ZkConfig> {
        self.zk.clone().map(|url| ZkConfig {
            url,
            session_timeout: self.zk_session_timeout,
        })
    }
}

/// `mesos-local master`.
#[derive(Debug, Clone, Args)]
pub struct MasterArgs {
    /// IP address to listen on.
    #[arg(long, env = "MESOS_LOCAL_IP", default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, env = "MESOS_LOCAL_PORT", default_value_t = 5050)]
    pub port: u16,
    /// Working directory.
    #[arg(long, env = "MESOS_LOCAL_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Hostname to advertise (default: the IP).
    #[arg(long, env = "MESOS_LOCAL_HOSTNAME")]
    pub hostname: Option<String>,
    #[command(flatten)]
    pub zk: ZkArgs,
    #[command(flatten)]
    pub tuning: MasterTuning,
}

/// Agent resources and attributes (shared by `agent` and `run`).
#[derive(Debug, Clone, Args)]
pub struct AgentShape {
    /// Resources, e.g. "cpus:4;mem:4096;ports:[31000-32000]" (or JSON).
    #[arg(long, env = "MESOS_LOCAL_RESOURCES")]
    pub resources: Option<String>,
    /// Attributes, e.g. "rack:r1;zone:2".
    #[arg(long, env = "MESOS_LOCAL_ATTRIBUTES")]
    pub attributes: Option<String>,
}

/// Agent behaviour flags (shared by `agent` and `run`).
#[derive(Debug, Clone, Args)]
pub struct AgentTuning {
    /// Kill executors that have not subscribed within this time.
    #[arg(long, env = "MESOS_LOCAL_EXECUTOR_REGISTRATION_TIMEOUT", default_value = "1mins", value_parser = duration)]
    pub executor_registration_timeout: Duration,
    /// Default time between SHUTDOWN and SIGKILL of an executor.
    #[arg(long, env = "MESOS_LOCAL_EXECUTOR_SHUTDOWN_GRACE_PERIOD", default_value = "5secs", value_parser = duration)]
    pub executor_shutdown_grace_period: Duration,
    /// First retry interval of unacknowledged status updates (doubles).
    #[arg(long, env = "MESOS_LOCAL_STATUS_UPDATE_RETRY_INTERVAL", default_value = "10secs", value_parser = duration)]
    pub status_update_retry_interval: Duration,
    /// Period of HEARTBEAT events to executors.
    #[arg(long, env = "MESOS_LOCAL_EXECUTOR_HEARTBEAT_INTERVAL", default_value = "30secs", value_parser = duration)]
    pub executor_heartbeat_interval: Duration,
    /// Base environment of executors as a JSON object (default: PATH only).
    #[arg(long, env = "MESOS_LOCAL_EXECUTOR_ENVIRONMENT_VARIABLES", value_parser = parse_env_json)]
    pub executor_environment_variables: Option<BTreeMap<String, String>>,
    /// Bench setting: answer tasks with RUNNING and FINISHED, run nothing.
    #[arg(long, env = "MESOS_LOCAL_NOOP_EXECUTOR")]
    pub noop_executor: bool,
    /// Bench setting: answer tasks with RUNNING and keep them up, running
    /// nothing, until killed (then KILLED); implies --noop-executor.
    #[arg(long, env = "MESOS_LOCAL_NOOP_HOLD")]
    pub noop_hold: bool,
}

/// `mesos-local agent`.
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// The master's ip:port, or `zk://host:port[,...]/path` to follow the
    /// leading master of that ZooKeeper group.
    #[arg(long, env = "MESOS_LOCAL_MASTER")]
    pub master: String,
    /// ZooKeeper session timeout (with a `zk://` master).
    #[arg(long, env = "MESOS_LOCAL_ZK_SESSION_TIMEOUT", default_value = "10secs", value_parser = duration)]
    pub zk_session_timeout: Duration,
    /// IP address to listen on (executors reach the agent there).
    #[arg(long, env = "MESOS_LOCAL_IP", default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, env = "MESOS_LOCAL_PORT", default_value_t = 5051)]
    pub port: u16,
    /// Directory for sandboxes and metadata.
    #[arg(long, env = "MESOS_LOCAL_WORK_DIR")]
    pub work_dir: PathBuf,
    /// Hostname to advertise (default: the IP).
    #[arg(long, env = "MESOS_LOCAL_HOSTNAME")]
    pub hostname: Option<String>,
    #[command(flatten)]
    pub shape: AgentShape,
    #[command(flatten)]
    pub tuning: AgentTuning,
}

/// `mesos-local run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// IP address of the master and agents.
    #[arg(long, env = "MESOS_LOCAL_IP", default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// Port of the first master (the other masters, then the agents, use
    /// the next ports; 0: any free ports).
    #[arg(long, env = "MESOS_LOCAL_PORT", default_value_t = 5050)]
    pub port: u16,
    /// Number of masters (more than one needs --zk).
    #[arg(long, env = "MESOS_LOCAL_MASTERS", default_value_t = 1)]
    pub masters: usize,
    #[command(flatten)]
    pub zk: ZkArgs,
    /// Number of agents.
    #[arg(long, env = "MESOS_LOCAL_AGENTS", default_value_t = 1)]
    pub agents: usize,
    /// Work directory (agent i uses `DIR/agent-i`); default: a temp dir.
    #[arg(long, env = "MESOS_LOCAL_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    #[command(flatten)]
    pub shape: AgentShape,
    #[command(flatten)]
    pub master: MasterTuning,
    #[command(flatten)]
    pub agent: AgentTuning,
}

fn parse_env_json(text: &str) -> Result<BTreeMap<String, String>, String> {
    serde_json::from_str(text).map_err(|e| format!("expected a JSON object of strings: {e}"))
}

fn master_config(
    ip: IpAddr,
    port: u16,
    work_dir: Option<PathBuf>,
    hostname: Option<String>,
    zk: &ZkArgs,
    t: &MasterTuning,
) -> MasterConfig {
    MasterConfig {
        ip,
        port,
        hostname,
        work_dir,
        zk: zk.config(),
        heartbeat_interval: t.heartbeat_interval,
        agent_ping_timeout: t.agent_ping_timeout,
        max_agent_ping_timeouts: t.max_agent_ping_timeouts,
        allocation_interval: t.allocation_interval,
        offer_timeout: t.offer_timeout,
        ..MasterConfig::default()
    }
}

fn agent_config(shape: &AgentShape, t: &AgentTuning, base: AgentConfig) -> AgentConfig {
    AgentConfig {
        resources: shape.resources.clone(),
        attributes: shape.attributes.clone(),
        executor_registration_timeout: t.executor_registration_timeout,
        executor_shutdown_grace_period: t.executor_shutdown_grace_period,
        status_update_retry_interval: t.status_update_retry_interval,
        executor_heartbeat_interval: t.executor_heartbeat_interval,
        executor_environment: t.executor_environment_variables.clone(),
        noop_executor: t.noop_executor || t.noop_hold,
        noop_hold: t.noop_hold,
        ..base
    }
}

impl MasterArgs {
    /// The master's config.
    pub fn config(&self) -> MasterConfig {
        master_config(
            self.ip,
            self.port,
            self.work_dir.clone(),
            self.hostname.clone(),
            &self.zk,
            &self.tuning,
        )
    }
}

impl AgentArgs {
    /// The agent's config.
    pub fn config(&self) -> AgentConfig {
        let base = AgentConfig {
            master: self.master.clone(),
            zk_session_timeout: self.zk_session_timeout,
            ip: self.ip,
            port: self.port,
            work_dir: self.work_dir.clone(),
            hostname: self.hostname.clone(),
            ..AgentConfig::default()
        };
        agent_config(&self.shape, &self.tuning, base)
    }
}

impl RunArgs {
    /// The cluster's config.
    pub fn config(&self) -> ClusterConfig {
        let work_dir = self.work_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("mesos-local-{}", std::process::id()))
        });
        let masters = u16::try_from(self.masters.max(1)).unwrap_or(u16::MAX);
        let base = AgentConfig {
            ip: self.ip,
            port: if self.port == 0 {
                0
            } else {
                self.port.saturating_add(masters)
            },
            work_dir: work_dir.clone(),
            zk_session_timeout: self.zk.zk_session_timeout,
            ..AgentConfig::default()
        };
        ClusterConfig {
            master: master_config(
                self.ip,
                self.port,
                Some(work_dir.join("master")),
                None,
                &self.zk,
                &self.master,
            ),
            agent: agent_config(&self.shape, &self.agent, base),
            agents: self.agents,
            masters: self.masters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_flags_fill_the_config() {
        let cli = Cli::try_parse_from([
            "mesos-local",
            "agent",
            "--master",
            "10.0.0.1:5050",
            "--ip",
            "10.0.0.2",
            "--work-dir",
            "/tmp/a",
            "--resources",
            "cpus:2;mem:512",
            "--attributes",
            "rack:r1",
            "--status-update-retry-interval",
            "100ms",
            "--noop-executor",
        ])
        .expect("valid flags");
        let Command::Agent(args) = cli.command else {
            panic!("agent subcommand")
        };
        let config = args.config();
        assert_eq!(config.master, "10.0.0.1:5050");
        assert_eq!(config.port, 5051);
        assert_eq!(config.resources.as_deref(), Some("cpus:2;mem:512"));
        assert_eq!(
            config.status_update_retry_interval,
            Duration::from_millis(100)
        );
        assert!(config.noop_executor);
        assert!(!config.noop_hold);
    }

    #[test]
    fn noop_hold_implies_the_noop_executor() {
        let cli = Cli::try_parse_from(["mesos-local", "run", "--agents", "2", "--noop-hold"])
            .expect("valid flags");
        let Command::Run(args) = cli.command else {
            panic!("run subcommand")
        };
        let config = args.config();
        assert!(config.agent.noop_executor);
        assert!(config.agent.noop_hold);
    }

    #[test]
    fn run_gives_agents_the_next_ports() {
        let cli = Cli::try_parse_from([
            "mesos-local",
            "run",
            "--port",
            "6050",
            "--agents",
            "3",
            "--work-dir",
            "/tmp/x",
        ])
        .expect("valid flags");
        let Command::Run(args) = cli.command else {
            panic!("run subcommand")
        };
        let config = args.config();
        assert_eq!(config.agents, 3);
        assert_eq!(config.master.port, 6050);
        assert_eq!(config.agent.port, 6051);
    }

    #[test]
    fn zk_flags_fill_the_configs() {
        let cli = Cli::try_parse_from([
            "mesos-local",
            "master",
            "--zk",
            "zk://127.0.0.1:2181/mesos",
            "--zk-session-timeout",
            "2secs",
        ])
        .expect("valid flags");
        let Command::Master(args) = cli.command else {
            panic!("master subcommand")
        };
        let zk = args.config().zk.expect("zk");
        assert_eq!(zk.url.servers, "127.0.0.1:2181");
        assert_eq!(zk.url.path, "/mesos");
        assert_eq!(zk.session_timeout, Duration::from_secs(2));

        let cli = Cli::try_parse_from(["mesos-local", "master"]).expect("valid flags");
        let Command::Master(args) = cli.command else {
            panic!("master subcommand")
        };
        assert_eq!(args.config().zk, None);

        let cli = Cli::try_parse_from([
            "mesos-local",
            "run",
            "--port",
            "6050",
            "--masters",
            "3",
            "--zk",
            "zk://127.0.0.1:2181/mesos",
        ])
        .expect("valid flags");
        let Command::Run(args) = cli.command else {
            panic!("run subcommand")
        };
        let config = args.config();
        assert_eq!(config.masters, 3);
        assert_eq!(config.master.port, 6050);
        assert_eq!(config.agent.port, 6053, "agents after the masters");
        assert!(config.master.zk.is_some());
        assert_eq!(config.agent.zk_session_timeout, Duration::from_secs(10));

        assert!(Cli::try_parse_from(["mesos-local", "master", "--zk", "127.0.0.1:2181"]).is_err());
    }

    #[test]
    fn bad_durations_are_refused() {
        let parsed = Cli::try_parse_from(["mesos-local", "master", "--heartbeat-interval", "5"]);
        assert!(parsed.is_err());
    }
}

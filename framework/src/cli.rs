//! The `ovn-mesos` command line: clap definitions only. Every option can also
//! come from an environment variable; the NB address follows `ovn-nbctl`
//! (`--nb`, `OVN_NB_DB`, default `unix:$OVN_RUNDIR/ovnnb_db.sock`).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnetwork::Ipv4Network;
use mesos_proto::duration;

use crate::mesos::{MasterSpec, ZooKeeperUrl};

/// A Mesos framework with OVN networking built in.
#[derive(Debug, Parser)]
#[command(name = "ovn-mesos", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// OVN Northbound database: `unix:PATH` or `tcp:IP:PORT`, comma-separated for
    /// a clustered NB (default `unix:$OVN_RUNDIR/ovnnb_db.sock`).
    #[arg(long, env = "OVN_NB_DB", global = true)]
    pub nb: Option<String>,

    /// The local Open vSwitch database (default `unix:$OVS_RUNDIR/db.sock`, with
    /// OVS_RUNDIR defaulting to /var/run/openvswitch).
    #[arg(long, env = "OVN_MESOS_OVS_DB", global = true)]
    pub ovs_db: Option<String>,

    /// How long to keep trying to reach a database before giving up (stout
    /// notation, as Mesos flags: `500ms`, `10secs`, `2mins`).
    #[arg(long, env = "OVN_MESOS_DB_TIMEOUT", global = true, default_value = "10secs", value_parser = duration::parse_flag)]
    pub db_timeout: Duration,

    /// Log filter (tracing `EnvFilter` syntax, e.g. `info,ovn=debug`); default
    /// `info` for `run` and `teardown`, `warn` for the other commands.
    #[arg(long, env = "OVN_MESOS_LOG", global = true)]
    pub log: Option<String>,
}

impl GlobalArgs {
    /// The NB address, `ovn-nbctl`'s default when none is given.
    pub fn nb_remote(&self) -> String {
        self.nb.clone().unwrap_or_else(|| {
            let rundir = std::env::var("OVN_RUNDIR").unwrap_or_else(|_| "/var/run/ovn".into());
            format!("unix:{rundir}/ovnnb_db.sock")
        })
    }

    /// The local OVS DB address, `ovs-vsctl`'s default when none is given.
    pub fn ovs_remote(&self) -> String {
        self.ovs_db.clone().unwrap_or_else(|| {
            let rundir =
                std::env::var("OVS_RUNDIR").unwrap_or_else(|_| "/var/run/openvswitch".into());
            format!("unix:{rundir}/db.sock")
        })
    }
}

// Parsed once per process: the size of `Run` costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a tenant: its router and join switch (`ovn-mesos-init tenant-init`).
    TenantInit(TenantInitArgs),
    /// Create a gateway router for a tenant on this chassis (`ovn-mesos-init gateway-init`).
    GatewayInit(GatewayInitArgs),
    /// Create a network (logical switch) for a tenant (`ovn-mesos-init network-init`).
    NetworkInit(NetworkInitArgs),
    /// Delete a network created by network-init.
    NetworkDelete(NetworkDeleteArgs),
    /// Delete a tenant's gateway router on a chassis.
    GatewayDelete(GatewayDeleteArgs),
    /// Delete a tenant created by tenant-init.
    TenantDelete(TenantDeleteArgs),
    /// Show a service's VIPs and backends (reads NB; the framework need not run).
    Vip(VipArgs),
    /// Run the framework: subscribe to the Mesos master and keep the task
    /// files' services running, each task on its own logical switch port.
    Run(RunArgs),
    /// Tear the framework down: Mesos kills its tasks; their ports, the
    /// services' load balancers and the saved framework id are deleted.
    Teardown(TeardownArgs),
    /// The commands that talk to a running framework over its HTTP API
    /// (`apply`, `scale`, `delete`, `cancel`, `get`, `events`).
    #[command(flatten)]
    Client(ClientCommand),
}

/// Where the Mesos master is and how to talk to it.
#[derive(Debug, Args)]
pub struct MasterArgs {
    /// The Mesos master, as for mesos-execute: `HOST:PORT` (e.g. `$OVERLAY_IP:5050`)
    /// or `http://HOST:PORT` (a non-leading master redirects to the leader), or
    /// `zk://HOST:PORT[,HOST:PORT...]/PATH` to follow the leader the masters
    /// elect in ZooKeeper (as their `--zk`).
    #[arg(long, env = "OVN_MESOS_MASTER", value_parser = MasterSpec::parse)]
    pub master: MasterSpec,

    /// The state dir: the framework id and the task records (not used with
    /// `--zk`).
    #[arg(
        long,
        env = "OVN_MESOS_STATE_DIR",
        default_value = "/var/lib/ovn-mesos"
    )]
    pub state_dir: PathBuf,

    /// High availability: `zk://HOST:PORT[,HOST:PORT...]/PATH`. The instances
    /// given the same URL elect one leader there (a Curator-compatible latch
    /// under `PATH/leader`), which schedules; the others stand by. The
    /// framework id, the definitions and the deployments are kept under
    /// `PATH/state` instead of the state dir.
    #[arg(long, env = "OVN_MESOS_ZK", value_parser = ZooKeeperUrl::parse)]
    pub zk: Option<ZooKeeperUrl>,

    /// The ZooKeeper session timeout of `--zk`: a leader cut off from
    /// ZooKeeper this long stops scheduling, and a standby takes over once
    /// ZooKeeper expires the session.
    #[arg(long, env = "OVN_MESOS_ZK_SESSION_TIMEOUT", default_value = "10secs", value_parser = duration::parse_flag)]
    pub zk_session_timeout: Duration,

    /// Speak JSON to the master instead of protobuf.
    #[arg(long, env = "OVN_MESOS_JSON")]
    pub json: bool,

    /// The framework's name.
    #[arg(long, env = "OVN_MESOS_NAME", default_value = "ovn-mesos")]
    pub name: String,

    /// The role whose resources the framework uses.
    #[arg(long, env = "OVN_MESOS_ROLE", default_value = "*")]
    pub role: String,

    /// The user tasks run as (default: the current user).
    #[arg(long, env = "OVN_MESOS_USER")]
    pub user: Option<String>,

    /// The framework's principal, for masters that authenticate.
    #[arg(long, env = "OVN_MESOS_PRINCIPAL")]
    pub principal: Option<String>,

    /// How long Mesos keeps the tasks running while the framework is away.
    #[arg(long, env = "OVN_MESOS_FAILOVER_TIMEOUT", default_value = "1weeks", value_parser = duration::parse_flag)]
    pub failover_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub master: MasterArgs,

    /// Task files (mesos-execute TaskInfo JSON) or directories of them.
    #[arg(long, env = "OVN_MESOS_TASKS", required = true, num_args = 1.., value_delimiter = ',')]
    pub tasks: Vec<PathBuf>,

    /// Where the HTTP API listens (`/v1/services`, `/v1/tasks`, `/health`, `/metrics`).
    #[arg(long, env = "OVN_MESOS_API", default_value = "127.0.0.1:8089")]
    pub api: std::net::SocketAddr,

    /// The API's `HOST:PORT` as the other instances and clients reach it
    /// (with `--zk`, the leader publishes it; standbys redirect there);
    /// default: `--api`, with this host's name for an unspecified address.
    #[arg(long, env = "OVN_MESOS_ADVERTISE_API")]
    pub advertise_api: Option<String>,

    /// The executor: a path on the agents, or an http(s)/file URI the agents
    /// fetch (default: `ovn-mesos-executor` beside this binary).
    #[arg(long, env = "OVN_MESOS_EXECUTOR")]
    pub executor: Option<String>,

    /// An extra flag for the executor (repeat for several).
    #[arg(
        long = "executor-arg",
        env = "OVN_MESOS_EXECUTOR_ARGS",
        value_delimiter = ' ',
        allow_hyphen_values = true
    )]
    pub executor_args: Vec<String>,

    /// The containers' MTU (underlay MTU - 58 with geneve).
    #[arg(long, env = "OVN_MESOS_MTU", default_value_t = 1400)]
    pub mtu: u32,

    /// The DNS domain: a task of tenant `coke` gets its own /etc/resolv.conf
    /// searching `coke.<domain>`, where OVN answers its tenant's service
    /// names (`<service>.coke.<domain>`). Lower-cased.
    #[arg(
        long,
        env = "OVN_MESOS_DNS_DOMAIN",
        default_value = crate::launch::DEFAULT_DNS_DOMAIN,
        value_parser = crate::launch::parse_dns_domain
    )]
    pub dns_domain: String,

    /// A nameserver for the tasks' resolv.conf, IPv4, not loopback (repeat,
    /// or separate with commas, for up to 3; default: each agent's own
    /// non-loopback nameservers, else the task's gateway, which answers
    /// service names only).
    #[arg(
        long = "dns-server",
        env = "OVN_MESOS_DNS_SERVERS",
        value_name = "IP",
        value_delimiter = ','
    )]
    pub dns_servers: Vec<Ipv4Addr>,

    /// The agent attribute naming the agent's OVN chassis (system-id); agents
    /// without it use their hostname.
    #[arg(
        long,
        env = "OVN_MESOS_CHASSIS_ATTRIBUTE",
        default_value = "ovn-chassis"
    )]
    pub chassis_attribute: String,

    /// Implicit reconciliation period.
    #[arg(long, env = "OVN_MESOS_RECONCILE_INTERVAL", default_value = "10mins", value_parser = duration::parse_flag)]
    pub reconcile_interval: Duration,

    /// The shortest time between two writes of the service load balancers:
    /// the first change after a quiet spell goes at once, changes during
    /// churn are gathered (0 writes every change).
    #[arg(long, env = "OVN_MESOS_VIP_INTERVAL", default_value = "250ms", value_parser = duration::parse_flag)]
    pub vip_interval: Duration,
}

#[derive(Debug, Args)]
pub struct TeardownArgs {
    #[command(flatten)]
    pub master: MasterArgs,
}

#[derive(Debug, Args)]
pub struct TenantInitArgs {
    #[arg(long, env = "OVN_MESOS_TENANT")]
    pub tenant_name: String,
    /// The tenant's cluster subnet (every network of the tenant lies inside it).
    #[arg(long)]
    pub cluster_ip_subnet: Option<Ipv4Network>,
    /// The tenant's service subnet, where its services' east-west VIPs come
    /// from (default 10.96.0.0/16; once set it cannot change).
    #[arg(long)]
    pub service_subnet: Option<Ipv4Network>,
}

#[derive(Debug, Args)]
pub struct GatewayInitArgs {
    #[arg(long, env = "OVN_MESOS_TENANT")]
    pub tenant_name: String,
    /// The tenant's cluster subnet, SNATed to the physical IP on the way out.
    #[arg(long)]
    pub cluster_ip_subnet: Ipv4Network,
    /// The gateway's external address with its prefix, e.g. 10.10.1.12/24.
    #[arg(long)]
    pub physical_ip: Ipv4Network,
    /// The next hop for traffic leaving the tenant, e.g. 10.10.1.1.
    #[arg(long)]
    pub default_gw: Ipv4Addr,
    /// Physical-interface mode: this NIC is plugged into br-int as the external
    /// switch's port. With --localnet, the NIC is added to the localnet bridge.
    #[arg(long)]
    pub physical_interface: Option<String>,
    /// Localnet mode: the external switch gets a localnet port on this physical
    /// network, mapped to --bridge in `ovn-bridge-mappings`.
    #[arg(long, value_name = "PHYSNET")]
    pub localnet: Option<String>,
    /// The OVS bridge of the localnet mode.
    #[arg(long, default_value = "br-ex")]
    pub bridge: String,
    /// The chassis to pin the gateway router to (default: this host's OVS system-id).
    #[arg(long, env = "OVN_MESOS_SYSTEM_ID")]
    pub system_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct NetworkInitArgs {
    #[arg(long, env = "OVN_MESOS_TENANT")]
    pub tenant_name: String,
    /// The network's name, which is also its logical switch's name.
    #[arg(long)]
    pub network_name: String,
    #[arg(long)]
    pub subnet: Ipv4Network,
}

#[derive(Debug, Args)]
pub struct NetworkDeleteArgs {
    #[arg(long, env = "OVN_MESOS_TENANT")]
    pub tenant_name: String,
    #[arg(long)]
    pub network_name: String,
    /// Also delete the task ports still on the network.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct GatewayDeleteArgs {
    #[arg(long, env = "OVN_MESOS_TENANT")]
    pub tenant_name: String,
    /// The gateway's chassis (default: this host's OVS system-id).
    #[arg(long, env = "OVN_MESOS_SYSTEM_ID")]
    pub system_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct TenantDeleteArgs {
    #[arg(long, env = "OVN_MESOS_TENANT")]
    pub tenant_name: String,
    /// Also delete the tenant's networks and gateways.
    #[arg(long)]
    pub cascade: bool,
}

#[derive(Debug, Args)]
pub struct VipArgs {
    /// The service's name.
    pub service: String,
    /// The tenant, when several tenants have a service of that name.
    #[arg(long, env = "OVN_MESOS_TENANT")]
    pub tenant: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// OVN Southbound database (`tcp:IP:PORT`, `unix:PATH`): when given, each
    /// backend is marked with what OVN's health checks last found
    /// (`Service_Monitor`: online, offline), so a backend that is listed but
    /// not served shows.
    #[arg(long, env = "OVN_SB_DB")]
    pub sb: Option<String>,
}

/// The API address the client commands use when neither `--api` nor
/// `OVN_MESOS_API` is given: where `ovn-mesos run` listens by default.
pub const DEFAULT_API: &str = "http://127.0.0.1:8089";

/// The subcommands that talk to a running framework over its HTTP API.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create or update task definitions from files or directories of them
    /// (`POST /v1/definitions`, one request per file).
    Apply(ApplyArgs),
    /// Set how many instances a definition runs
    /// (`PUT /v1/definitions/NAME/instances`).
    Scale(ScaleArgs),
    /// Delete a definition: its tasks are killed and its service goes
    /// (`DELETE /v1/definitions/NAME`).
    Delete(DeleteArgs),
    /// Cancel the deployment of a definition, rolling it back to the
    /// version it replaced (`DELETE /v1/deployments/NAME`).
    Cancel(CancelArgs),
    /// List definitions, services, tasks or deployments as a table or JSON.
    Get(GetArgs),
    /// Follow the framework's events, one JSON object a line (`GET /v1/events`).
    Events(EventsArgs),
}

/// Where the framework's HTTP API is, for the client commands.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The framework's HTTP API: `http://HOST:PORT` or `HOST:PORT` (the
    /// address `ovn-mesos run --api` listens on).
    #[arg(long, env = "OVN_MESOS_API", default_value = DEFAULT_API)]
    pub api: String,
}

/// The arguments of `ovn-mesos apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Where the API is.
    #[command(flatten)]
    pub api: ApiArgs,
    /// A task definition file (any name) or a directory of `*.json` ones,
    /// read in name order (repeat for several).
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    pub files: Vec<PathBuf>,
}

/// The arguments of `ovn-mesos scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Where the API is.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The definition's name (its task id).
    pub name: String,
    /// How many instances it should run.
    pub instances: u32,
}

/// The arguments of `ovn-mesos delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Where the API is.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The definition's name (its task id).
    pub name: String,
}

/// The arguments of `ovn-mesos cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Where the API is.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The definition whose deployment to cancel.
    pub name: String,
}

/// What `ovn-mesos get` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Resource {
    /// The task definitions (`GET /v1/definitions`).
    #[value(alias = "definition", alias = "defs", alias = "def")]
    Definitions,
    /// The load-balanced services (`GET /v1/services`).
    #[value(alias = "service", alias = "svc")]
    Services,
    /// The tasks (`GET /v1/tasks`).
    #[value(alias = "task")]
    Tasks,
    /// The deployments in progress (`GET /v1/deployments`).
    #[value(alias = "deployment", alias = "deploy")]
    Deployments,
}

/// How `ovn-mesos get` prints a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns under upper-case headers.
    #[default]
    Table,
    /// The API's list as pretty-printed JSON.
    Json,
}

/// The arguments of `ovn-mesos get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Where the API is.
    #[command(flatten)]
    pub api: ApiArgs,
    /// What to list.
    pub resource: Resource,
    /// The output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// After the list, follow the framework's events and print the list
    /// again after each change (at most every 200 ms) until interrupted.
    #[arg(short = 'w', long)]
    pub watch: bool,
}

/// The arguments of `ovn-mesos events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Where the API is.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Only events of this type (repeat, or separate with commas, for
    /// several; default: every event).
    #[arg(long = "type", value_name = "TYPE", value_delimiter = ',')]
    pub types: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_seed_gateway_init_flags_parse() {
        let cli = Cli::try_parse_from([
            "ovn-mesos",
            "gateway-init",
            "--cluster-ip-subnet=192.168.0.0/16",
            "--physical-interface=enp0s9",
            "--physical-ip=10.10.1.12/24",
            "--default-gw=10.10.1.1",
            "--tenant-name=coke",
        ])
        .unwrap();
        match cli.command {
            Command::GatewayInit(a) => {
                assert_eq!(a.tenant_name, "coke");
                assert_eq!(a.physical_ip.ip(), Ipv4Addr::new(10, 10, 1, 12));
                assert_eq!(a.physical_ip.prefix(), 24);
                assert_eq!(a.physical_interface.as_deref(), Some("enp0s9"));
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn a_bad_cidr_is_a_usage_error() {
        let err = Cli::try_parse_from([
            "ovn-mesos",
            "network-init",
            "--tenant-name=coke",
            "--network-name=coke1",
            "--subnet=192.168.1.0/33",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("--subnet"), "{err}");
    }

    /// The `run` command line with its required flags and `extra`.
    fn run_args(extra: &[&str]) -> Result<RunArgs, clap::Error> {
        let mut line = vec!["ovn-mesos", "run", "--master=m:5050", "--tasks=tasks"];
        line.extend(extra);
        match Cli::try_parse_from(line)?.command {
            Command::Run(args) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_master_is_host_port_or_a_zookeeper_url() {
        let master = |value: &str| -> Result<MasterSpec, clap::Error> {
            let flag = format!("--master={value}");
            match Cli::try_parse_from(["ovn-mesos", "teardown", flag.as_str()])?.command {
                Command::Teardown(args) => Ok(args.master.master),
                other => panic!("parsed as {other:?}"),
            }
        };
        assert_eq!(
            master("m:5050").unwrap(),
            MasterSpec::Direct("m:5050".into())
        );
        assert_eq!(
            master("zk://z1:2181,z2:2181/mesos").unwrap().to_string(),
            "zk://z1:2181,z2:2181/mesos"
        );
        for (bad, reason) in [
            ("zk://z1:2181", "no path"),
            ("zk://z1:2181/", "root"),
            ("zk:///mesos", "no ZooKeeper server"),
            ("zk://z1:21x/mesos", "bad port"),
            ("zk://u:p@z1:2181/mesos", "credentials"),
            ("ftp://m:21", "not http or https"),
        ] {
            let text = master(bad).unwrap_err().to_string();
            assert!(
                text.contains(bad) && text.contains("--master") && text.contains(reason),
                "{bad}: {text}"
            );
        }
    }

    #[test]
    fn the_dns_flags_parse_with_their_defaults() {
        let args = run_args(&[]).unwrap();
        assert_eq!(args.dns_domain, "ovn-mesos");
        assert!(args.dns_servers.is_empty());
        let args = run_args(&[
            "--dns-domain=Mesos.Example.COM",
            "--dns-server=10.0.0.2",
            "--dns-server",
            "10.0.0.3,10.0.0.4",
        ])
        .unwrap();
        assert_eq!(args.dns_domain, "mesos.example.com");
        assert_eq!(
            args.dns_servers,
            [
                Ipv4Addr::new(10, 0, 0, 2),
                Ipv4Addr::new(10, 0, 0, 3),
                Ipv4Addr::new(10, 0, 0, 4)
            ]
        );
    }

    #[test]
    fn a_bad_dns_domain_or_server_is_a_usage_error_naming_it() {
        let err = run_args(&["--dns-domain", "ovn_mesos"]).unwrap_err();
        let text = err.to_string();
        let first = text.lines().next().unwrap_or_default();
        assert!(first.contains("--dns-domain"), "{text}");
        assert!(
            first.contains(
                r#"DNS domain "ovn_mesos" is not a domain name: label "ovn_mesos" has '_'"#
            ),
            "{text}"
        );
        let err = run_args(&["--dns-server", "10.0.0.2,dns.example"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("--dns-server") && text.contains("dns.example"),
            "{text}"
        );
    }

    /// Set when this test binary runs again as a child of
    /// [`the_dns_flags_come_from_the_environment`], with the variables set.
    const ENV_CHILD: &str = "OVN_MESOS_TEST_CLI_ENV_CHILD";

    /// clap reads the variables from the process environment, which a test
    /// must not change under the others' feet: the test runs itself again
    /// as a child process with them set.
    #[test]
    fn the_dns_flags_come_from_the_environment() {
        if std::env::var_os(ENV_CHILD).is_some() {
            let args = run_args(&[]).unwrap();
            assert_eq!(args.dns_domain, "dns.example");
            assert_eq!(
                args.dns_servers,
                [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)]
            );
            let err = run_args(&["--dns-domain", "x..y"]).unwrap_err();
            assert!(err.to_string().contains("x..y"), "the flag wins: {err}");
            return;
        }
        let name = "cli::tests::the_dns_flags_come_from_the_environment";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(ENV_CHILD, "1")
            .env("OVN_MESOS_DNS_DOMAIN", "DNS.Example")
            .env("OVN_MESOS_DNS_SERVERS", "10.0.0.2,10.0.0.3")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn the_database_timeout_takes_stout_durations() {
        let cli =
            Cli::try_parse_from(["ovn-mesos", "--db-timeout", "500ms", "vip", "web"]).unwrap();
        assert_eq!(cli.global.db_timeout, Duration::from_millis(500));
        let cli = Cli::try_parse_from(["ovn-mesos", "vip", "web"]).unwrap();
        assert_eq!(cli.global.db_timeout, Duration::from_secs(10));
        assert!(Cli::try_parse_from(["ovn-mesos", "--db-timeout", "fast", "vip", "web"]).is_err());
    }
}

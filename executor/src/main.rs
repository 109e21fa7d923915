//! `ovn-mesos-executor`: parses flags (each also an environment variable) and
//! the Mesos environment, sets up logging, runs the executor on a
//! single-threaded runtime and exits 0 on a clean stop, 1 when the agent was
//! lost, 64 on bad usage. `exec-in-netns` is the helper through which task
//! commands enter their namespace (handled before anything else starts).

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use mesos_proto::Encoding;
use ovn::report::Chain;
use ovn_mesos_executor::config::{default_ovs_db, ExecutorConfig};
use ovn_mesos_executor::duration;
use ovn_mesos_executor::exec_in_netns::{
    exec_in_netns, ExecError, HelperArgs, SUBCOMMAND, USAGE as HELPER_USAGE,
};
use ovn_mesos_executor::MesosEnv;
use tokio::signal::unix::{signal, SignalKind};

/// Exit status for bad usage (sysexits EX_USAGE).
const USAGE: u8 = 64;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Wire {
    Protobuf,
    Json,
}

/// The ovn-mesos custom executor (started by a Mesos agent, configured by
/// its environment).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Local Open_vSwitch database [default: unix:$OVS_RUNDIR/db.sock,
    /// OVS_RUNDIR defaulting to /var/run/openvswitch].
    #[arg(long, env = "OVN_MESOS_OVS_DB")]
    ovs_db: Option<String>,
    /// Named network namespace holding ovs-vswitchd, where veth host ends go
    /// [default: the executor's own].
    #[arg(long, env = "OVN_MESOS_HOST_NETNS")]
    host_netns: Option<String>,
    /// How long to wait for ovn-controller to install a task's port.
    #[arg(long, env = "OVN_MESOS_INSTALL_TIMEOUT", default_value = "30secs", value_parser = duration)]
    install_timeout: Duration,
    /// Bound of one connection attempt to the local OVSDB.
    #[arg(long, env = "OVN_MESOS_OVSDB_TIMEOUT", default_value = "5secs", value_parser = duration)]
    ovsdb_timeout: Duration,
    /// Encoding of executor API calls and events.
    #[arg(
        long,
        env = "OVN_MESOS_EXECUTOR_ENCODING",
        value_enum,
        default_value = "protobuf"
    )]
    encoding: Wire,
    /// Exit once every task ended and every update was acknowledged.
    #[arg(long, env = "OVN_MESOS_EXIT_WHEN_IDLE", default_value_t = true, action = clap::ArgAction::Set)]
    exit_when_idle: bool,
    /// Log filter (tracing-subscriber syntax).
    #[arg(long, env = "OVN_MESOS_LOG", default_value = "info")]
    log: String,
}

fn duration(s: &str) -> Result<Duration, String> {
    duration::parse_flag(s)
}

fn main() -> ExitCode {
    let raw: Vec<OsString> = std::env::args_os().collect();
    if raw.get(1).is_some_and(|a| a == SUBCOMMAND) {
        return helper(&raw[2..]);
    }
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}", e.to_string().lines().next().unwrap_or("bad usage"));
            return ExitCode::from(USAGE);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let mesos = match MesosEnv::from_env() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("ovn-mesos-executor: {}", Chain(&e));
            return ExitCode::from(USAGE);
        }
    };
    let helper = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ovn-mesos-executor: cannot find its own binary: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = ExecutorConfig {
        mesos,
        encoding: match args.encoding {
            Wire::Protobuf => Encoding::Protobuf,
            Wire::Json => Encoding::Json,
        },
        ovs_db: args
            .ovs_db
            .unwrap_or_else(|| default_ovs_db(std::env::var("OVS_RUNDIR").ok().as_deref())),
        host_netns: args.host_netns.filter(|n| !n.is_empty()),
        install_timeout: args.install_timeout,
        ovsdb_timeout: args.ovsdb_timeout,
        exit_when_idle: args.exit_when_idle,
        helper,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ovn-mesos-executor: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(async { ovn_mesos_executor::run(config, stop_signal()).await }) {
        Ok(outcome) if outcome.is_clean() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            tracing::error!(error = %Chain(&e), "executor failed");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGTERM or SIGINT.
async fn stop_signal() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// `exec-in-netns [--gate] [--resolv-conf <file>] <netns file> <program> --
/// <argv>...`: never returns on success; 125 when the gate closed (launch
/// called off), 127 when the command could not be started.
fn helper(args: &[OsString]) -> ExitCode {
    let Some(args) = HelperArgs::parse(args) else {
        eprintln!("usage: ovn-mesos-executor {HELPER_USAGE}");
        return ExitCode::from(USAGE);
    };
    match exec_in_netns(&args) {
        ExecError::CalledOff => ExitCode::from(125),
        err => {
            eprintln!("ovn-mesos-executor {SUBCOMMAND}: {}", Chain(&err));
            ExitCode::from(127)
        }
    }
}

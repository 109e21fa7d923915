//! `ovn-mesos-lab`: the seed's three-host lab (network namespaces, real
//! OVS/OVN, mesos-local) on this machine, for the demo and for poking.
//!
//! ```text
//! ovn-mesos-lab up     [--dir D] [--seed] [--no-mesos] [--ha]   start, leave running, print how to poke
//! ovn-mesos-lab exec   [--dir D] HOST -- ARGV...                run ARGV inside HOST with its OVS/OVN env
//! ovn-mesos-lab seed   [--dir D]                                the seed's network steps (ovn-mesos CLI)
//! ovn-mesos-lab status [--dir D]                                what runs, what exists
//! ovn-mesos-lab pid    [--dir D] NAME                           the pid of the lab's running process NAME
//! ovn-mesos-lab down   [--dir D]                                stop a running or interrupted lab
//! ```
//!
//! `--ha` adds ZooKeeper on 10.10.1.11:2181 (in `mesos-master`) and runs a
//! mesos-local master in each of the three hosts, contending through it
//! (`zk://10.10.1.11:2181/mesos`); the agents follow the leader.
//!
//! `up` also writes `D/lab.env` (shell variables: `LAB_DIR`, `NB`, `MESOS_MASTER`,
//! `MESOS_MASTERS`, in HA mode `ZK`, the binaries) for scripts that run
//! further steps (`. D/lab.env`). The demo uses the seed's namespace names
//! (no prefix), so one demo lab runs at a time. Bad usage exits 64; `pid` of
//! a process that is not running exits 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use mesos_local::testing::{workspace_binary, MESOS_LOCAL};
use ovn_mesos_tests::binaries::{OVN_MESOS, OVN_MESOS_EXECUTOR};
use ovn_mesos_tests::lab::plan::{ZK_MESOS_PATH, ZK_OVN_MESOS_PATH};
use ovn_mesos_tests::lab::state::{is_running, netns_exists};
use ovn_mesos_tests::lab::{host_command, seed_steps, Host, Lab, LabConfig, LabState};
use tracing_subscriber::EnvFilter;

/// The seed's three-host Mesos + OVN lab on one machine.
#[derive(Debug, Parser)]
#[command(name = "ovn-mesos-lab")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Args)]
struct DirArg {
    /// The lab's directory (state, sockets, logs).
    #[arg(long, env = "OVN_MESOS_LAB_DIR", default_value_os_t = default_dir())]
    dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start the lab and leave it running.
    Up {
        #[command(flatten)]
        dir: DirArg,
        /// Also run the seed's network steps (tenants coke and pepsi).
        #[arg(long)]
        seed: bool,
        /// Do not start mesos-local.
        #[arg(long)]
        no_mesos: bool,
        /// High availability: ZooKeeper on 10.10.1.11:2181 and a mesos-local
        /// master in each host, contending through it.
        #[arg(long)]
        ha: bool,
    },
    /// Run a command inside a host (mesos-master, mesos-agent1, mesos-agent2, outside).
    Exec {
        #[command(flatten)]
        dir: DirArg,
        host: Host,
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
    /// Run the seed's network steps with the ovn-mesos CLI.
    Seed {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Show the lab's processes and namespaces.
    Status {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Print the pid of the lab's process NAME (as `status` lists it, e.g.
    /// `mesos-master-agent1` or `mesos-master/zookeeper`) if it runs.
    Pid {
        #[command(flatten)]
        dir: DirArg,
        name: String,
    },
    /// Stop the lab (also one whose `up` was interrupted).
    Down {
        #[command(flatten)]
        dir: DirArg,
    },
}

fn default_dir() -> PathBuf {
    std::env::temp_dir().join("ovn-mesos-lab")
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(64);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("OVN_MESOS_LAB_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ovn-mesos-lab: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Up {
            dir,
            seed,
            no_mesos,
            ha,
        } => {
            let mut config = LabConfig::demo(dir.dir);
            config.mesos = !no_mesos;
            config.ha = ha;
            let lab = Lab::start(config)?;
            if seed {
                lab.network_init_seed()?;
            }
            write_env(&lab)?;
            print_howto(&lab);
            lab.detach();
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Exec { dir, host, argv } => {
            let state = LabState::load(&dir.dir)?;
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            let status = host_command(&state, host, &args)
                .status()
                .with_context(|| format!("cannot run {args:?} in {host}"))?;
            Ok(ExitCode::from(
                status.code().unwrap_or(1).clamp(0, 255) as u8
            ))
        }
        Cmd::Seed { dir } => {
            let state = LabState::load(&dir.dir)?;
            let cli = ovn_mesos_tests::binaries::ovn_mesos_binary()?
                .display()
                .to_string();
            for step in seed_steps() {
                let mut argv = vec![cli.as_str()];
                argv.extend(step.args.iter().map(String::as_str));
                println!("{}: ovn-mesos {}", step.host, step.args.join(" "));
                let status = host_command(&state, step.host, &argv).status()?;
                anyhow::ensure!(
                    status.success(),
                    "ovn-mesos {} failed ({status})",
                    step.args[0]
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Status { dir } => status(&dir.dir),
        Cmd::Pid { dir, name } => {
            let state = LabState::load(&dir.dir)?;
            match state
                .processes
                .iter()
                .find(|p| p.name == name && is_running(p))
            {
                Some(p) => {
                    println!("{}", p.pid);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!(
                        "ovn-mesos-lab: no running process {name:?} in {}",
                        dir.dir.display()
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Cmd::Down { dir } => {
            if Lab::cleanup_stale(&dir.dir)? {
                println!("lab in {} stopped and removed", dir.dir.display());
            } else {
                println!("no lab state in {}", dir.dir.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn status(dir: &Path) -> anyhow::Result<ExitCode> {
    let Ok(state) = LabState::load(dir) else {
        println!("no lab in {}", dir.display());
        return Ok(ExitCode::from(3));
    };
    println!("lab in {}", state.dir.display());
    let mut alive = 0;
    for p in &state.processes {
        let up = is_running(p);
        alive += usize::from(up);
        println!(
            "  {:<28} pid {:<8} {}",
            p.name,
            p.pid,
            if up { "running" } else { "gone" }
        );
    }
    for ns in &state.netns {
        println!(
            "  netns {:<22} {}",
            ns,
            if netns_exists(ns) { "present" } else { "gone" }
        );
    }
    println!("{alive}/{} processes running", state.processes.len());
    Ok(if alive == state.processes.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `<dir>/lab.env`: shell variables for scripts that run further steps.
fn write_env(lab: &Lab) -> anyhow::Result<()> {
    let mut text = String::from("# written by ovn-mesos-lab up; source it: . lab.env\n");
    let mut var = |k: &str, v: &str| text.push_str(&format!("{k}='{v}'\n"));
    var("LAB_DIR", &lab.dir().display().to_string());
    var("NB", &lab.nb_remote());
    var("NB_UNIX", &lab.nb_unix_remote());
    var("MESOS_MASTER", &lab.mesos_master());
    let masters: Vec<String> = lab
        .mesos_master_hosts()
        .into_iter()
        .map(|h| lab.mesos_master_of(h))
        .collect();
    var("MESOS_MASTERS", &masters.join(" "));
    if lab.config().ha {
        var("ZK", &lab.config().zookeeper_address());
        if let Some(url) = lab.zk_url(ZK_OVN_MESOS_PATH) {
            var("ZK_OVN_MESOS", &url);
        }
    }
    for host in Host::ALL {
        let key = host.short().to_uppercase();
        var(&format!("NETNS_{key}"), &lab.netns(host));
        if host.is_chassis() {
            var(&format!("OVS_DB_{key}"), &lab.ovs_remote(host));
        }
    }
    for which in [OVN_MESOS, OVN_MESOS_EXECUTOR, MESOS_LOCAL] {
        if let Ok(p) = workspace_binary(which) {
            var(which.env, &p.display().to_string());
        }
    }
    let path = lab.dir().join("lab.env");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn print_howto(lab: &Lab) {
    let d = lab.dir().display();
    let m = lab.netns(Host::Master);
    println!(
        "lab up in {:.1} s, state in {d}\n\
         \n\
         poke it (each host is a network namespace; its daemons' files are in {d}/<master|agent1|agent2>):\n\
         \x20 ovn-mesos-lab exec --dir {d} mesos-master -- ovn-nbctl show\n\
         \x20 ovn-mesos-lab exec --dir {d} mesos-agent1 -- ovs-vsctl show\n\
         \x20 ovn-mesos-lab exec --dir {d} mesos-agent1 -- ovs-appctl -t ovs-vswitchd tnl/neigh/show\n\
         \x20 ip netns exec {m} env OVS_RUNDIR={d}/master OVN_RUNDIR={d}/master ovn-sbctl show\n\
         \x20 ip netns exec {o} curl {curl} http://{mm}/state      # mesos master{ha}\n\
         \x20 ip netns exec {o} curl 10.10.1.12:32350         # a VIP on coke's gateway, once a service exists\n\
         variables for scripts: . {d}/lab.env\n\
         \n\
         stop: ovn-mesos-lab down --dir {d}",
        lab.startup_time().as_secs_f64(),
        o = lab.netns(Host::Outside),
        mm = lab.mesos_master_of(Host::Master),
        curl = if lab.config().ha { "-sL" } else { "-s" },
        ha = if lab.config().ha {
            format!(
                " (the leader's, through a redirect)\n\
                 \x20 masters in every host, leader elected in ZooKeeper at {} (path {ZK_MESOS_PATH})",
                lab.config().zookeeper_address()
            )
        } else {
            String::new()
        },
    );
}

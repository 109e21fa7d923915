//! The `mesos-local` binary: parses the command line, starts a master, an
//! agent or a whole cluster (see the library), prints where it listens on
//! stdout, and runs until SIGINT or SIGTERM. Bad usage exits 64.

use std::process::ExitCode;

use clap::Parser;
use mesos_local::cli::{Cli, Command};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

/// mimalloc: the master and agents allocate many small, short-lived
/// buffers per request; glibc malloc spent a fifth of the master's time on
/// them in the launch benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code of bad usage (`EX_USAGE`).
const EX_USAGE: u8 = 64;

async fn wait_for_stop() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Master(args) => {
            let master = mesos_local::master::start(args.config()).await?;
            println!("mesos-local master listening on http://{}", master.addr);
            // A master that loses leadership exits with status 1, as a
            // Mesos master does (`EXIT(EXIT_FAILURE)`); its supervisor
            // restarts it.
            tokio::select! {
                () = wait_for_stop() => master.shutdown().await,
                reason = master.aborted() => {
                    master.shutdown().await;
                    anyhow::bail!("{reason}");
                }
            }
        }
        Command::Agent(args) => {
            let agent = mesos_local::agent::start(args.config()).await?;
            println!("mesos-local agent listening on http://{}", agent.addr);
            wait_for_stop().await;
            agent.shutdown().await;
        }
        Command::Run(args) => {
            let mut cluster = mesos_local::cluster::start(args.config()).await?;
            for master in cluster.masters() {
                println!("mesos-local master listening on http://{}", master.addr);
            }
            for agent in &cluster.agents {
                println!("mesos-local agent listening on http://{}", agent.addr);
            }
            // `run` supervises its masters: one that aborts (lost
            // leadership) is started again on its port.
            let stop = wait_for_stop();
            tokio::pin!(stop);
            loop {
                let (i, reason) = tokio::select! {
                    () = &mut stop => break,
                    aborted = cluster.master_aborted() => aborted,
                };
                eprintln!("mesos-local: master {i} aborted: {reason}; restarting it");
                match cluster.restart_master(i).await {
                    Ok(master) => {
                        println!("mesos-local master listening on http://{}", master.addr)
                    }
                    Err(e) => {
                        cluster.shutdown().await;
                        return Err(anyhow::Error::new(e).context(format!("restarting master {i}")));
                    }
                }
            }
            cluster.shutdown().await;
        }
        Command::TestExecutor => mesos_local::test_executor::run().await?,
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            let reason = text
                .lines()
                .next()
                .unwrap_or("bad usage")
                .trim_start_matches("error: ");
            eprintln!("mesos-local: {reason}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let filter = EnvFilter::try_from_env("MESOS_LOCAL_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mesos-local: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesos-local: {e:#}");
            ExitCode::FAILURE
        }
    }
}

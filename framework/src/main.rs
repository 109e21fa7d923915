//! `ovn-mesos`: parse the command line, initialise logging, run one command,
//! exit 0, 1 (failure) or 64 (bad usage) with a one-line reason.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use ovn_mesos::cli::{Cli, Command};
use ovn_mesos::{client, exit, network, run};
use tracing_subscriber::EnvFilter;

/// Worker threads of `ovn-mesos run`'s runtime.
const RUN_WORKERS: usize = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ovn-mesos: {}", exit::usage_line(&e.to_string()));
            return ExitCode::from(exit::USAGE);
        }
    };
    let daemon = matches!(cli.command, Command::Run(_) | Command::Teardown(_));
    let filter = cli
        .global
        .log
        .clone()
        .unwrap_or_else(|| if daemon { "info" } else { "warn" }.to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .init();
    // `run`: the scheduler's event loop runs on this thread and its
    // helpers (ACCEPTs, acknowledgements, the HTTP API, the OVSDB
    // connection) on two workers, so none of them waits for the others.
    let mut builder = if daemon {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(RUN_WORKERS);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return exit::report(&anyhow::Error::new(e).context("cannot start the runtime")),
    };
    let mut stdout = std::io::stdout();
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Run(args) => run::run(&cli.global, args).await,
            Command::Teardown(args) => run::teardown(&cli.global, args, &mut stdout).await,
            Command::Client(command) => {
                client::run(command, &mut stdout, &mut std::io::stderr()).await
            }
            other => network::run(&cli.global, other, &mut stdout).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::report(&e),
    }
}

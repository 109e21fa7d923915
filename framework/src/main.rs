//! `ovn-mesos`: parse the command line, initialise logging, run one command,
//! exit 0, 1 (failure) or 64 (bad usage) with a one-line reason.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use ovn_mesos::cli::Cli;
use ovn_mesos::{exit, network};
use tracing_subscriber::EnvFilter;

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
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_new(&cli.global.log).unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return exit::report(&anyhow::Error::new(e).context("cannot start the runtime")),
    };
    let mut stdout = std::io::stdout();
    match runtime.block_on(network::run(&cli.global, &cli.command, &mut stdout)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::report(&e),
    }
}

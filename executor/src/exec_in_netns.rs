//! The `exec-in-netns` helper: `ovn-mesos-executor exec-in-netns [--gate]
//! <netns file> <program> -- <argv0> <args>...` enters the network namespace and replaces itself
//! with the program (`ip netns exec`, `nsenter --net=<file>`), in safe Rust:
//! `setns` then `execvp`. The executor spawns task commands through it, so the
//! task's process is the helper's pid, in its own process group.
//!
//! With `--gate` it first waits for one byte [`GO`] on stdin (then takes
//! `/dev/null` as stdin); end of file instead means the launch was called off
//! and it exits without running anything. The executor starts the helper
//! while it waits for OVN, and opens the gate once the network is ready, so
//! process start-up is off the launch's critical path.
//!
//! Must run before any other thread starts (it is the first thing `main` does
//! for this subcommand): `setns` changes only the calling thread.

use std::ffi::{CString, NulError, OsString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nix::unistd::execvp;

/// The subcommand's name.
pub const SUBCOMMAND: &str = "exec-in-netns";
/// The flag making the helper wait for [`GO`] on stdin.
pub const GATE_FLAG: &str = "--gate";
/// The byte that opens the gate.
pub const GO: u8 = b'g';

/// Why the helper could not run the program.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("no program given")]
    NoProgram,
    #[error("argument contains a NUL byte")]
    Nul(#[from] NulError),
    #[error("cannot open network namespace {path}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot enter network namespace {path}: {errno}")]
    Enter { path: String, errno: Errno },
    #[error("cannot execute {program}: {errno}")]
    Exec { program: String, errno: Errno },
    /// The gate closed without [`GO`]: the launch was called off.
    #[error("the launch was called off before the command started")]
    CalledOff,
    #[error("cannot replace stdin with /dev/null: {0}")]
    Stdin(String),
}

/// Waits at the gate if `gated`, then enters `netns` (a namespace file such
/// as `/var/run/netns/<name>`) and executes `program` (searched in `PATH`)
/// with `argv` (`argv[0]` included; `[program]` when empty). Returns only on
/// error.
pub fn exec_in_netns(
    netns: &Path,
    program: &OsString,
    argv: &[OsString],
    gated: bool,
) -> ExecError {
    match try_exec(netns, program, argv, gated) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// Reads one byte from stdin: [`GO`] passes, anything else (end of file)
/// is [`ExecError::CalledOff`]; then stdin becomes `/dev/null`.
fn wait_at_gate() -> Result<(), ExecError> {
    let mut byte = [0u8; 1];
    match nix::unistd::read(std::io::stdin(), &mut byte) {
        Ok(1) if byte[0] == GO => {}
        _ => return Err(ExecError::CalledOff),
    }
    let null = File::open("/dev/null").map_err(|e| ExecError::Stdin(e.to_string()))?;
    nix::unistd::dup2_stdin(&null).map_err(|e| ExecError::Stdin(e.to_string()))
}

fn try_exec(
    netns: &Path,
    program: &OsString,
    argv: &[OsString],
    gated: bool,
) -> Result<std::convert::Infallible, ExecError> {
    if program.is_empty() {
        return Err(ExecError::NoProgram);
    }
    if gated {
        wait_at_gate()?;
    }
    let program = CString::new(program.as_bytes())?;
    let mut args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    if args.is_empty() {
        args.push(program.clone());
    }
    let program = &program;
    let path = netns.display().to_string();
    let file = File::open(netns).map_err(|source| ExecError::Open {
        path: path.clone(),
        source,
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|errno| ExecError::Enter { path, errno })?;
    drop(file);
    execvp(program, &args).map_err(|errno| ExecError::Exec {
        program: program.to_string_lossy().into_owned(),
        errno,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_namespace_or_program_is_reported_without_exec() {
        assert!(matches!(
            exec_in_netns(Path::new("/nonexistent"), &OsString::new(), &[], false),
            ExecError::NoProgram
        ));
        let e = exec_in_netns(
            Path::new("/var/run/netns/ovnm-not-there"),
            &"true".into(),
            &[],
            false,
        );
        assert!(
            e.to_string()
                .starts_with("cannot open network namespace /var/run/netns/ovnm-not-there"),
            "{e}"
        );
    }
}

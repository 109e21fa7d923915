//! The `exec-in-netns` helper: `ovn-mesos-executor exec-in-netns [--gate]
//! [--resolv-conf <file>] <netns file> <program> -- <argv0> <args>...` enters
//! the network namespace and replaces itself with the program (`ip netns
//! exec`, `nsenter --net=<file>`), in safe Rust: `setns` then `execvp`. The
//! executor spawns task commands through it, so the task's process is the
//! helper's pid, in its own process group.
//!
//! With `--gate` it first waits for one byte [`GO`] on stdin (then takes
//! `/dev/null` as stdin); end of file instead means the launch was called off
//! and it exits without running anything. The executor starts the helper
//! while it waits for OVN, and opens the gate once the network is ready, so
//! process start-up is off the launch's critical path.
//!
//! With `--resolv-conf <file>` the program gets `<file>` as its
//! `/etc/resolv.conf`, as `ip netns exec` gives `/etc/netns/<name>/resolv.conf`:
//! the helper makes a mount namespace of its own (`unshare(CLONE_NEWNS)`),
//! turns every mount in it into a slave of the host's (`mount --make-rslave
//! /`: the host's mounts still show, none made here goes back), and
//! bind-mounts the file onto `/etc/resolv.conf` ([`bind_onto`], which also
//! covers a symlinked one). The host's file is not touched.
//!
//! Must run before any other thread starts (it is the first thing `main` does
//! for this subcommand): `setns` and `unshare` change only the calling thread.

use std::ffi::{CString, NulError, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::execvp;

/// The subcommand's name.
pub const SUBCOMMAND: &str = "exec-in-netns";
/// The flag making the helper wait for [`GO`] on stdin.
pub const GATE_FLAG: &str = "--gate";
/// The flag naming the file to bind-mount onto [`RESOLV_CONF`].
pub const RESOLV_CONF_FLAG: &str = "--resolv-conf";
/// The byte that opens the gate.
pub const GO: u8 = b'g';
/// The resolver configuration a `--resolv-conf` file replaces.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// The helper's usage, after the binary's name.
pub const USAGE: &str =
    "exec-in-netns [--gate] [--resolv-conf <file>] <netns file> <program> -- <argv>...";

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
    /// The task's resolv.conf could not be put in place.
    #[error("cannot bind-mount {file} onto {onto}: {step}: {errno}")]
    ResolvConf {
        file: String,
        onto: String,
        step: &'static str,
        errno: Errno,
    },
    #[error("cannot execute {program}: {errno}")]
    Exec { program: String, errno: Errno },
    /// The gate closed without [`GO`]: the launch was called off.
    #[error("the launch was called off before the command started")]
    CalledOff,
    #[error("cannot replace stdin with /dev/null: {0}")]
    Stdin(String),
}

/// What the helper is asked to do: its command line after the subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperArgs {
    /// Wait for [`GO`] on stdin first.
    pub gated: bool,
    /// The file to bind-mount onto [`RESOLV_CONF`] for the program.
    pub resolv_conf: Option<PathBuf>,
    /// The namespace file, `/var/run/netns/<name>`.
    pub netns: PathBuf,
    /// The file to execute (searched in `PATH`).
    pub program: OsString,
    /// Its argv, `argv[0]` included (`[program]` when empty).
    pub argv: Vec<OsString>,
}

impl HelperArgs {
    /// Reads `[--gate] [--resolv-conf <file>] <netns file> <program> --
    /// <argv>...` (the flags in any order); None on bad usage.
    pub fn parse(args: &[OsString]) -> Option<HelperArgs> {
        let (mut gated, mut resolv_conf) = (false, None);
        let mut rest = args;
        loop {
            match rest.first()?.to_str() {
                Some(GATE_FLAG) => {
                    gated = true;
                    rest = &rest[1..];
                }
                Some(RESOLV_CONF_FLAG) => {
                    resolv_conf = Some(PathBuf::from(rest.get(1)?));
                    rest = &rest[2..];
                }
                _ => break,
            }
        }
        let [netns, program, separator, argv @ ..] = rest else {
            return None;
        };
        (separator == "--").then(|| HelperArgs {
            gated,
            resolv_conf,
            netns: PathBuf::from(netns),
            program: program.clone(),
            argv: argv.to_vec(),
        })
    }

    /// The command line [`HelperArgs::parse`] reads, the subcommand first.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![SUBCOMMAND.into()];
        if self.gated {
            args.push(GATE_FLAG.into());
        }
        if let Some(file) = &self.resolv_conf {
            args.extend([RESOLV_CONF_FLAG.into(), file.clone().into_os_string()]);
        }
        args.extend([
            self.netns.clone().into_os_string(),
            self.program.clone(),
            "--".into(),
        ]);
        args.extend(self.argv.iter().cloned());
        args
    }
}

/// Waits at the gate if asked, enters the namespace, puts the resolv.conf
/// in place if given, and executes the program. Returns only on error.
pub fn exec_in_netns(args: &HelperArgs) -> ExecError {
    match try_exec(args) {
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

fn try_exec(a: &HelperArgs) -> Result<std::convert::Infallible, ExecError> {
    if a.program.is_empty() {
        return Err(ExecError::NoProgram);
    }
    if a.gated {
        wait_at_gate()?;
    }
    let program = CString::new(a.program.as_bytes())?;
    let mut args: Vec<CString> = a
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    if args.is_empty() {
        args.push(program.clone());
    }
    let program = &program;
    let path = a.netns.display().to_string();
    let file = File::open(&a.netns).map_err(|source| ExecError::Open {
        path: path.clone(),
        source,
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|errno| ExecError::Enter { path, errno })?;
    drop(file);
    if let Some(resolv_conf) = &a.resolv_conf {
        own_mount_namespace(resolv_conf)?;
        bind_onto(resolv_conf, Path::new(RESOLV_CONF))?;
    }
    execvp(program, &args).map_err(|errno| ExecError::Exec {
        program: program.to_string_lossy().into_owned(),
        errno,
    })
}

/// Moves the calling thread into a new mount namespace whose mounts are
/// slaves of the ones it came from: the host's mounts and unmounts still
/// show in it, none made in it shows outside. (`file` is for the message.)
pub fn own_mount_namespace(file: &Path) -> Result<(), ExecError> {
    let err = |step, errno| resolv_err(file, Path::new(RESOLV_CONF), step, errno);
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| err("unshare(CLONE_NEWNS)", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| err("make / a recursive slave mount", e))
}

/// Bind-mounts file `file` onto `onto`, in the calling thread's mount
/// namespace (which must not be the host's: see [`own_mount_namespace`]).
///
/// * A file: the mount covers it.
/// * A symlink (`/etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf`):
///   the mount covers the link itself, reached through an `O_PATH |
///   O_NOFOLLOW` descriptor, so reading `onto` gives `file` whether the link
///   leads to a file or nowhere, the file it leads to stays visible as it
///   is, and the host replacing that file (systemd-resolved renames a new
///   one over it) does not undo the mount. Should the kernel refuse a mount
///   on a link, the mount covers the file the link leads to instead.
/// * Nothing: an empty file is made as the mount point (resolvers read an
///   empty resolv.conf as a missing one, so the host's resolution is the
///   same).
pub fn bind_onto(file: &Path, onto: &Path) -> Result<(), ExecError> {
    let err = |step, errno| resolv_err(file, onto, step, errno);
    let link = match std::fs::symlink_metadata(onto) {
        Ok(meta) => meta.file_type().is_symlink(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(onto)
                .map_err(|e| err("create the missing mount point", errno_of(&e)))?;
            false
        }
        Err(e) => return Err(err("look at the mount point", errno_of(&e))),
    };
    let point = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(onto)
        .map_err(|e| err("open the mount point", errno_of(&e)))?;
    let bind = |target: &Path| {
        mount(
            Some(file),
            target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    let by_fd = PathBuf::from(format!("/proc/self/fd/{}", point.as_raw_fd()));
    match bind(&by_fd) {
        Ok(()) => Ok(()),
        Err(errno) if link => match std::fs::canonicalize(onto) {
            Ok(resolved) => bind(&resolved).map_err(|e| err("bind-mount", e)),
            Err(_) => Err(err("bind-mount on a symlink", errno)),
        },
        Err(errno) => Err(err("bind-mount", errno)),
    }
}

fn resolv_err(file: &Path, onto: &Path, step: &'static str, errno: Errno) -> ExecError {
    ExecError::ResolvConf {
        file: file.display().to_string(),
        onto: onto.display().to_string(),
        step,
        errno,
    }
}

fn errno_of(e: &io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn args(netns: &str, program: &str) -> HelperArgs {
        HelperArgs {
            gated: false,
            resolv_conf: None,
            netns: netns.into(),
            program: program.into(),
            argv: Vec::new(),
        }
    }

    #[test]
    fn a_missing_namespace_or_program_is_reported_without_exec() {
        assert!(matches!(
            exec_in_netns(&args("/nonexistent", "")),
            ExecError::NoProgram
        ));
        let e = exec_in_netns(&args("/var/run/netns/ovnm-not-there", "true"));
        assert!(
            e.to_string()
                .starts_with("cannot open network namespace /var/run/netns/ovnm-not-there"),
            "{e}"
        );
    }

    #[test]
    fn the_command_line_reads_back_with_or_without_flags() {
        let full = HelperArgs {
            gated: true,
            resolv_conf: Some("/run/ovn-mesos/netns/ovnm-0123456789/resolv.conf".into()),
            netns: "/var/run/netns/ovnm-0123456789".into(),
            program: "sh".into(),
            argv: os(&["sh", "-c", "cat /etc/resolv.conf"]),
        };
        let line = full.to_args();
        assert_eq!(
            line,
            os(&[
                SUBCOMMAND,
                "--gate",
                "--resolv-conf",
                "/run/ovn-mesos/netns/ovnm-0123456789/resolv.conf",
                "/var/run/netns/ovnm-0123456789",
                "sh",
                "--",
                "sh",
                "-c",
                "cat /etc/resolv.conf",
            ])
        );
        assert_eq!(HelperArgs::parse(&line[1..]), Some(full.clone()));
        let reordered = os(&["--resolv-conf", "/f", "--gate", "/ns", "p", "--"]);
        let parsed = HelperArgs::parse(&reordered).expect("flags in any order");
        assert!(parsed.gated);
        assert_eq!(parsed.resolv_conf, Some(PathBuf::from("/f")));
        assert!(parsed.argv.is_empty());
        let plain = args("/ns", "p");
        assert_eq!(HelperArgs::parse(&plain.to_args()[1..]), Some(plain));
    }

    #[test]
    fn bad_helper_command_lines_are_refused() {
        for bad in [
            &[][..],
            &["only-one"],
            &["/ns", "p", "x"],
            &["--resolv-conf"],
            &["--resolv-conf", "/f", "/ns", "p"],
            &["--gate"],
        ] {
            assert_eq!(HelperArgs::parse(&os(bad)), None, "{bad:?}");
        }
    }
}

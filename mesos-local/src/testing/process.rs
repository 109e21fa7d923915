//! `mesos-local` as child processes, for tests that need the master and
//! agents in other processes (pymesos, agent crashes, the framework's
//! end-to-end tests where each agent runs in its own network namespace):
//! started with `--port 0`, their addresses read from stdout
//! (`... listening on http://ip:port`), stopped by pid (SIGTERM, then
//! SIGKILL) on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a process may take to report its addresses.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The binary is not available.
    #[error(transparent)]
    Binary(#[from] super::BinaryError),
    /// The process could not be spawned.
    #[error("cannot start {binary}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// It did not print its addresses in time (or exited).
    #[error("mesos-local did not report its addresses within {0:?}; its stderr is in {1}")]
    NotReady(Duration, String),
}

/// A running `mesos-local` process (master, agent or `run`).
#[derive(Debug)]
pub struct MesosProcess {
    child: Child,
    addresses: Vec<String>,
}

impl MesosProcess {
    /// Starts `mesos-local <args>` (stderr to `log`) and waits until it
    /// has printed `listening` address lines.
    pub fn start(
        args: &[&str],
        listening: usize,
        log: &Path,
    ) -> Result<MesosProcess, ProcessError> {
        let binary = super::binary()?;
        let spawn_error = |source| ProcessError::Spawn {
            binary: binary.clone(),
            source,
        };
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(spawn_error)?;
        }
        let stderr = std::fs::File::create(log).map_err(spawn_error)?;
        let mut child = Command::new(&binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(spawn_error)?;
        let stdout = child.stdout.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut process = MesosProcess {
            child,
            addresses: Vec::new(),
        };
        while process.addresses.len() < listening {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some((_, address)) = line.split_once("listening on http://") {
                        process.addresses.push(address.trim().to_string());
                    }
                }
                Err(_) => {
                    process.stop();
                    return Err(ProcessError::NotReady(
                        READY_TIMEOUT,
                        log.display().to_string(),
                    ));
                }
            }
        }
        Ok(process)
    }

    /// Starts `mesos-local master --zk <zk_url>` on a free loopback port
    /// (work dir `work`, stderr to `log`), with the ZooKeeper session
    /// timeout `session_timeout` (`2secs`) and a 50 ms allocation interval:
    /// one master of a group, as the HA tests run them.
    pub fn zk_master(
        zk_url: &str,
        session_timeout: &str,
        work: &Path,
        log: &Path,
    ) -> Result<MesosProcess, ProcessError> {
        let work = work.display().to_string();
        let args = [
            "master",
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--work-dir",
            &work,
            "--zk",
            zk_url,
            "--zk-session-timeout",
            session_timeout,
            "--allocation-interval",
            "50ms",
        ];
        MesosProcess::start(&args, 1, log)
    }

    /// The `ip:port` addresses printed, in order.
    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status once the process has exited (reaped), `None` while
    /// it runs. A master that lost leadership exits with status 1.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL now (a crash: executors are left behind).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, wait up to 10 s, then SIGKILL.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }
}

impl Drop for MesosProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running `mesos-local run` process: master and agents.
#[derive(Debug)]
pub struct ProcessCluster {
    process: MesosProcess,
}

impl ProcessCluster {
    /// Starts `mesos-local run --ip 127.0.0.1 --port 0 --agents N
    /// --work-dir DIR <extra>`; stderr goes to `DIR/mesos-local.log`.
    pub fn start(
        agents: usize,
        work_dir: &Path,
        extra: &[&str],
    ) -> Result<ProcessCluster, ProcessError> {
        let agents_arg = agents.to_string();
        let dir = work_dir.to_string_lossy().into_owned();
        let mut args = vec![
            "run",
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--agents",
            &agents_arg,
            "--work-dir",
            &dir,
        ];
        args.extend_from_slice(extra);
        let process = MesosProcess::start(&args, agents + 1, &work_dir.join("mesos-local.log"))?;
        Ok(ProcessCluster { process })
    }

    /// The master's `ip:port`.
    pub fn master(&self) -> &str {
        &self.process.addresses()[0]
    }

    /// The agents' `ip:port`s.
    pub fn agents(&self) -> &[String] {
        &self.process.addresses()[1..]
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGTERM, wait up to 10 s, then SIGKILL.
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

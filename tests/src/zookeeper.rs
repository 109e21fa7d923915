//! A real ZooKeeper for a test: a standalone server or an N-member ensemble,
//! each member a `java` process started from Debian's `zookeeper` package jars
//! with a private config, data directory and log in the instance's temp dir.
//!
//! Member `i` (0-based; its `myid` is `i+1`) uses the files `zk{i+1}.cfg`
//! (zoo.cfg), `zk{i+1}.log4j` (log4j 1.2 config), `zk{i+1}.log` (the server
//! log), `zk{i+1}.out` (the JVM's stdout and stderr, normally empty) and the
//! data directory `zk{i+1}/` (with `myid`). Ports are free loopback ports
//! chosen by the harness (bound to port 0, read, released); a start that
//! loses a port race ("Address already in use") is retried with new ports.
//!
//! [`ZooKeeper::start_with`] and [`ZooKeeper::ensemble_with`] place the
//! servers elsewhere ([`Placement`]): another listening address and a fixed
//! client port (the lab's 10.10.1.11:2181), inside a network namespace (the
//! JVM runs under `ip netns exec`, which execs it, so the pid is still the
//! JVM's; the harness' four-letter words are sent from inside the namespace
//! too), in a directory of the caller's. [`ZooKeeper::detach`] leaves the
//! servers running for a caller that stops them by pid later (the lab, whose
//! state file records the pid).
//!
//! Servers run as `java` [`JVM_OPTIONS`] `-cp` [`CLASSPATH`] [`MAIN_CLASS`]
//! `zk{i+1}.cfg`, directly (not the packaged scripts, no systemd), with
//! tickTime [`TICK_MS`] ms so that elections and session expiry are fast, and
//! a re-election notification interval capped at 1 s (instead of 60 s) so
//! that a member without quorum notices a restarted peer at once; sessions
//! negotiate timeouts between [`MIN_SESSION_TIMEOUT`] and
//! [`MAX_SESSION_TIMEOUT`]. `forceSync=no`: no fsync per transaction, which
//! loses nothing when a test kills a process (only a machine crash would).
//!
//! Readiness is polled with the four-letter words `ruok` (the client port is
//! up) and `srvr` (`Mode: standalone|leader|follower`, or
//! [`NOT_SERVING`] while a member has no quorum). Members stop with SIGTERM,
//! then SIGKILL, by pid of the child process the harness holds, so a stopped
//! member leaves no process (not even a zombie) and no pid is ever reused
//! under our feet. Dropping a [`ZooKeeper`] stops every member and removes the
//! directory (a temp dir of its own, not a [`Placement::dir`]) unless
//! `OVN_MESOS_KEEP_TEST_DIR=1`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tracing::{debug, warn};

use crate::daemon::{pid_is_alive, tail};
use crate::poll::wait_for;
use crate::workdir::{command_line, WorkDir};

/// The ZooKeeper server jar of Debian's `libzookeeper-java` (pulled by the
/// `zookeeper` package); its manifest `Class-Path` names its dependencies.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// The server's classpath: the ZooKeeper jar plus an SLF4J binding and log4j
/// 1.2 (the jar's manifest has only `slf4j-api`, so without these the server
/// would log nothing).
pub const CLASSPATH: [&str; 3] = [
    ZOOKEEPER_JAR,
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
];

/// The server's main class (standalone and quorum alike).
pub const MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

/// The JVM, looked up in `PATH`.
pub const JAVA: &str = "java";

/// JVM options: a small heap, the serial collector and C1 only (faster
/// start, fewer threads), no `/tmp/hsperfdata_*` files.
pub const JVM_OPTIONS: [&str; 6] = [
    "-Xmx128m",
    "-Xms16m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
];

/// `tickTime` in milliseconds: ZooKeeper's time unit.
pub const TICK_MS: u64 = 200;
/// `initLimit` in ticks (a follower's initial sync with the leader).
pub const INIT_LIMIT: u32 = 10;
/// `syncLimit` in ticks (how far a follower may lag before it is dropped).
pub const SYNC_LIMIT: u32 = 10;
/// Shortest session timeout the servers grant (2 ticks, ZooKeeper's default).
pub const MIN_SESSION_TIMEOUT: Duration = Duration::from_millis(2 * TICK_MS);
/// Longest session timeout the servers grant (20 ticks, ZooKeeper's
/// default): a client asking for more gets this.
pub const MAX_SESSION_TIMEOUT: Duration = Duration::from_millis(20 * TICK_MS);

/// What `srvr` answers while a member has no quorum (or is still electing).
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// How long [`ZooKeeper::start`]/[`ZooKeeper::ensemble`] wait for the
/// servers to serve (a JVM start takes well under a second alone, a few
/// seconds on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long each stop stage (SIGTERM, SIGKILL) waits for the process.
const STAGE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connect and read timeout of one four-letter-word exchange.
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(2);
/// Silence after (part of) an answer that ends a four-letter-word read when
/// the server does not close the connection. The server writes an answer at
/// once (in 2 kB pieces for long ones), then closes.
pub const FOUR_LETTER_QUIET: Duration = Duration::from_millis(250);
/// Attempts with fresh ports when a start loses a port race.
const START_ATTEMPTS: usize = 3;

/// Error lines the surviving members log when a peer disappears (killed or
/// stopped), excused in [`ZooKeeper::check_logs`] once a member of an
/// ensemble was killed or stopped (also by [`ZooKeeper::stop_all`]). Seen
/// with ZooKeeper 3.8 here: routine for a quorum, yet logged at ERROR.
pub const PEER_LOSS_ERRORS: [&str; 2] = [
    // The leader's handler of a follower whose connection was reset, and
    // its sender thread.
    "Unexpected exception in LearnerHandler",
    "Exception while sending packets in LearnerHandler",
];

/// Error lines of an ensemble's leader election, always excused: two peers
/// that connect to each other at once keep one connection (the one from the
/// higher id) and the sender on the dropped one logs this at ERROR.
pub const ELECTION_ERRORS: [&str; 1] = ["Failed to send last message"];

/// Error lines about the sockets of four-letter words (the harness' own
/// `ruok`/`srvr` polls), always excused. A standalone server that gets one
/// before its database is loaded fails to close the socket
/// (NullPointerException in `ZooKeeperServer.removeCnxn`, the answer was sent
/// already); a member that changes state closes its client connections and
/// may cut off an answer in flight.
pub const HARNESS_ERRORS: [&str; 2] = [
    "Error closing a command socket",
    "Error sending data synchronously",
];

/// A member's role as `srvr` reports it (`Mode: ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A server without peers.
    Standalone,
    /// The ensemble's leader.
    Leader,
    /// A follower of the leader.
    Follower,
    /// Anything else (`observer`, `read-only`).
    Other(String),
}

impl Mode {
    /// Parses the `Mode:` line of `srvr` output; `Ok(None)` when the member
    /// says [`NOT_SERVING`].
    pub fn parse_srvr(text: &str) -> anyhow::Result<Option<Mode>> {
        if text.contains(NOT_SERVING) {
            return Ok(None);
        }
        let mode = text
            .lines()
            .find_map(|l| l.strip_prefix("Mode:").map(str::trim))
            .with_context(|| format!("no `Mode:` in srvr output:\n{text}"))?;
        Ok(Some(match mode {
            "standalone" => Mode::Standalone,
            "leader" => Mode::Leader,
            "follower" => Mode::Follower,
            other => Mode::Other(other.to_string()),
        }))
    }

    /// The epoch of the `Zxid:` line of `srvr` output (its upper 32 bits).
    pub fn parse_epoch(text: &str) -> Option<u64> {
        let zxid = text
            .lines()
            .find_map(|l| l.strip_prefix("Zxid:").map(str::trim))?;
        let zxid = u64::from_str_radix(zxid.trim_start_matches("0x"), 16).ok()?;
        Some(zxid >> 32)
    }
}

/// Where the servers of [`ZooKeeper::start_with`] /
/// [`ZooKeeper::ensemble_with`] run; the default (what [`ZooKeeper::start`]
/// and [`ZooKeeper::ensemble`] use) is loopback, free ports, this network
/// namespace and a fresh temp dir removed on drop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// The address the servers listen on (client and quorum ports);
    /// default 127.0.0.1. In a network namespace it must be one of its
    /// addresses.
    pub address: Option<Ipv4Addr>,
    /// The client port of a standalone server (refused for an ensemble);
    /// default a free port.
    pub client_port: Option<u16>,
    /// The network namespace (a name under `/var/run/netns`) the servers
    /// run in; default this process' namespace.
    pub netns: Option<String>,
    /// The directory of the configs, data and logs (created if missing; it
    /// must hold no `zk*` files); it is left in place on drop, for its owner
    /// to remove. Default: a fresh temp dir, removed on drop.
    pub dir: Option<PathBuf>,
}

impl Placement {
    fn address(&self) -> Ipv4Addr {
        self.address.unwrap_or(Ipv4Addr::LOCALHOST)
    }

    /// Whether a start that lost a port race may be tried again: only with
    /// free ports and a directory of our own (a fixed port would be lost
    /// again; a given directory already holds the first attempt's files).
    fn retryable(&self) -> bool {
        self.client_port.is_none() && self.dir.is_none()
    }
}

/// The directory of an instance: a temp dir of ours or the caller's.
#[derive(Debug)]
enum Files {
    /// Removed on drop (unless `OVN_MESOS_KEEP_TEST_DIR=1`).
    Temp(WorkDir),
    /// The caller's ([`Placement::dir`]), left in place.
    Given(PathBuf),
}

impl Files {
    fn path(&self) -> &Path {
        match self {
            Files::Temp(w) => w.path(),
            Files::Given(p) => p,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}

/// The running `java` of one member: the child we spawned (kept so that we
/// reap it and its pid cannot be reused while we hold it).
#[derive(Debug)]
struct Process {
    child: Child,
    pid: i32,
}

#[derive(Debug)]
struct Member {
    /// `myid`, 1-based.
    id: usize,
    cfg: PathBuf,
    log4j: PathBuf,
    log: PathBuf,
    out: PathBuf,
    address: Ipv4Addr,
    client_port: u16,
    /// The network namespace it runs in, if not ours.
    netns: Option<String>,
    process: Option<Process>,
    dir: PathBuf,
}

impl Member {
    fn name(&self) -> String {
        format!("zk{}", self.id)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.address, self.client_port))
    }

    /// Spawns `java ... QuorumPeerMain zk{id}.cfg` (under `ip netns exec
    /// <netns>` when it has one); stdout and stderr are appended to
    /// `zk{id}.out`.
    fn spawn(&mut self) -> anyhow::Result<()> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.out)
            .with_context(|| format!("cannot open {}", self.out.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("cannot open {}", self.out.display()))?;
        let mut cmd = match &self.netns {
            None => Command::new(JAVA),
            Some(ns) => {
                // `ip netns exec` execs the JVM: the child's pid is the JVM's.
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, JAVA]);
                cmd
            }
        };
        cmd.args(JVM_OPTIONS)
            .arg(format!(
                "-Dlog4j.configuration=file:{}",
                self.log4j.display()
            ))
            // Re-elect quickly after a member comes back (default 60 s).
            .arg("-Dzookeeper.fastleader.maxNotificationInterval=1000")
            .arg("-cp")
            .arg(CLASSPATH.join(":"))
            .arg(MAIN_CLASS)
            .arg(&self.cfg)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let line = command_line(&cmd);
        let child = cmd.spawn().with_context(|| {
            format!("cannot run `{line}` (no JRE? see scripts/install-deps.sh)")
        })?;
        let pid = child.id() as i32;
        debug!(member = %self.name(), pid, command = %line, "started");
        self.process = Some(Process { child, pid });
        Ok(())
    }

    /// Whether our child still runs (`/proc/PID` exists and is not a zombie;
    /// we have not reaped it, so the pid is still ours).
    fn is_running(&self) -> bool {
        self.process.as_ref().is_some_and(|p| pid_is_alive(p.pid))
    }

    fn pid(&self) -> Option<i32> {
        self.process.as_ref().map(|p| p.pid)
    }

    /// SIGTERM (or SIGKILL when `force`), wait, then SIGKILL, wait; reaps the
    /// child. Idempotent. Err only if the process survives SIGKILL.
    fn stop(&mut self, force: bool) -> anyhow::Result<()> {
        let name = self.name();
        let Some(mut p) = self.process.take() else {
            return Ok(());
        };
        let first = if force {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        };
        for signal in [first, Signal::SIGKILL] {
            if let Ok(Some(_)) = p.child.try_wait() {
                return Ok(());
            }
            if let Err(e) = kill(Pid::from_raw(p.pid), signal) {
                debug!(member = %name, pid = p.pid, error = %e, "kill failed");
            }
            let what = format!("{name} (pid {}) to exit after {signal}", p.pid);
            let gone = wait_for(&what, STAGE_TIMEOUT, || {
                Ok(p.child.try_wait().context("waitpid")?.map(|_| ()))
            });
            match gone {
                Ok(()) => return Ok(()),
                Err(e) => warn!(member = %name, error = %e, "still running"),
            }
        }
        let pid = p.pid;
        // Keep the child so that Drop tries again.
        self.process = Some(p);
        bail!("{name} (pid {pid}) survived SIGKILL")
    }

    /// The JVM's output and the end of the server log, for error messages.
    fn diagnostics(&self) -> String {
        format!(
            "{}:\n{}\nlast lines of {}:\n{}",
            self.out.display(),
            tail(&self.out, 15),
            self.log.display(),
            tail(&self.log, 25)
        )
    }
}

/// A ZooKeeper server or ensemble. Dropping it stops every member (by pid)
/// and removes its own temp dir unless `OVN_MESOS_KEEP_TEST_DIR=1`.
#[derive(Debug)]
pub struct ZooKeeper {
    members: Vec<Member>,
    allowed: Vec<String>,
    started_in: Duration,
    /// Where the members run and the harness sends its four-letter words.
    netns: Option<String>,
    // Last: removed after the members have stopped.
    work: Files,
}

impl ZooKeeper {
    /// Starts a standalone server and returns once `srvr` says
    /// `Mode: standalone`.
    pub fn start() -> anyhow::Result<ZooKeeper> {
        Self::start_with(&Placement::default())
    }

    /// [`Self::start`] placed as `placement` says, e.g. on
    /// 10.10.1.11:2181 inside a lab's `mesos-master` namespace.
    pub fn start_with(placement: &Placement) -> anyhow::Result<ZooKeeper> {
        Self::start_with_retries(1, false, placement)
    }

    /// Starts an ensemble of `members` servers (3 for a quorum that survives
    /// one failure) and returns once every member serves and one is leader.
    /// One member gives a standalone server (ZooKeeper runs a single
    /// configured server standalone).
    pub fn ensemble(members: usize) -> anyhow::Result<ZooKeeper> {
        Self::ensemble_with(members, &Placement::default())
    }

    /// [`Self::ensemble`] placed as `placement` says (its `client_port`
    /// only for one member).
    pub fn ensemble_with(members: usize, placement: &Placement) -> anyhow::Result<ZooKeeper> {
        if members == 0 {
            bail!("a ZooKeeper ensemble needs at least one member");
        }
        if members > 1 && placement.client_port.is_some() {
            bail!("a fixed client port is for a standalone server, not an ensemble of {members}");
        }
        Self::start_with_retries(members, members > 1, placement)
    }

    fn start_with_retries(
        members: usize,
        quorum: bool,
        placement: &Placement,
    ) -> anyhow::Result<ZooKeeper> {
        check_installed()?;
        let mut attempt = 1;
        loop {
            match Self::launch(members, quorum, placement) {
                Ok(zk) => return Ok(zk),
                Err((e, lost_port_race))
                    if lost_port_race && placement.retryable() && attempt < START_ATTEMPTS =>
                {
                    warn!(attempt, error = %format!("{e:#}"), "port taken, retrying with new ports");
                    attempt += 1;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// One start attempt; on failure also says whether a port was taken.
    fn launch(
        members: usize,
        quorum: bool,
        placement: &Placement,
    ) -> Result<ZooKeeper, (anyhow::Error, bool)> {
        let work = match &placement.dir {
            None => Files::Temp(WorkDir::new().map_err(|e| (e, false))?),
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))
                    .map_err(|e| (e, false))?;
                Files::Given(dir.clone())
            }
        };
        let mut ports = free_ports(if quorum { 3 * members } else { 1 }).map_err(|e| (e, false))?;
        if let Some(port) = placement.client_port {
            ports[0] = port;
        }
        let address = placement.address();
        let mut zk = ZooKeeper {
            members: Vec::with_capacity(members),
            allowed: HARNESS_ERRORS
                .iter()
                .chain(if quorum { &ELECTION_ERRORS[..] } else { &[] })
                .map(|e| e.to_string())
                .collect(),
            started_in: Duration::ZERO,
            netns: placement.netns.clone(),
            work,
        };
        let servers: Vec<String> = if quorum {
            (0..members)
                .map(|i| {
                    format!(
                        "server.{}={address}:{}:{}",
                        i + 1,
                        ports[3 * i + 1],
                        ports[3 * i + 2]
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        for i in 0..members {
            let client_port = ports[if quorum { 3 * i } else { 0 }];
            let member = zk
                .prepare(i + 1, address, client_port, &servers)
                .map_err(|e| (e, false))?;
            zk.members.push(member);
        }
        let t0 = Instant::now();
        for m in &mut zk.members {
            m.spawn().map_err(|e| (e, false))?;
        }
        if let Err(e) = zk.wait_serving_all(START_TIMEOUT) {
            let lost_race = zk.members.iter().any(|m| {
                std::fs::read_to_string(&m.log).is_ok_and(|t| t.contains("Address already in use"))
            });
            return Err((e, lost_race));
        }
        zk.started_in = t0.elapsed();
        debug!(members, started_in = ?zk.started_in, dir = %zk.dir().display(), "ZooKeeper ready");
        Ok(zk)
    }

    /// Writes `zk{id}.cfg`, `zk{id}.log4j` and `zk{id}/myid`.
    fn prepare(
        &self,
        id: usize,
        address: Ipv4Addr,
        client_port: u16,
        servers: &[String],
    ) -> anyhow::Result<Member> {
        let name = format!("zk{id}");
        let data = self.work.file(&name);
        std::fs::create_dir(&data).with_context(|| format!("cannot create {}", data.display()))?;
        let log = self.work.file(&format!("{name}.log"));
        let mut cfg = format!(
            "tickTime={TICK_MS}\n\
             initLimit={INIT_LIMIT}\n\
             syncLimit={SYNC_LIMIT}\n\
             dataDir={}\n\
             clientPort={client_port}\n\
             clientPortAddress={address}\n\
             maxClientCnxns=0\n\
             4lw.commands.whitelist=*\n\
             admin.enableServer=false\n\
             preAllocSize=64\n\
             forceSync=no\n",
            data.display()
        );
        for line in servers {
            cfg.push_str(line);
            cfg.push('\n');
        }
        let log4j = format!(
            "log4j.rootLogger=INFO, FILE\n\
             log4j.appender.FILE=org.apache.log4j.FileAppender\n\
             log4j.appender.FILE.File={}\n\
             log4j.appender.FILE.Append=true\n\
             log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n\
             log4j.appender.FILE.layout.ConversionPattern=%d{{ISO8601}} %-5p [%t:%C{{1}}@%L] - %m%n\n",
            log.display()
        );
        let member = Member {
            id,
            cfg: self.work.file(&format!("{name}.cfg")),
            log4j: self.work.file(&format!("{name}.log4j")),
            log,
            out: self.work.file(&format!("{name}.out")),
            address,
            client_port,
            netns: self.netns.clone(),
            process: None,
            dir: self.work.path().to_path_buf(),
        };
        write(&member.cfg, &cfg)?;
        write(&member.log4j, &log4j)?;
        write(&data.join("myid"), &format!("{id}\n"))?;
        Ok(member)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Never true: there is at least one member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The private directory holding configs, data and logs.
    pub fn dir(&self) -> &Path {
        self.work.path()
    }

    /// From spawning the JVMs to every member serving (and, for an
    /// ensemble, a leader elected), measured by the successful start.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// `<address>:<client port>` of member `i` (`127.0.0.1:<port>` unless
    /// placed elsewhere). Panics if out of range.
    pub fn member_address(&self, i: usize) -> String {
        self.members[i].addr().to_string()
    }

    /// Every member's client address: `127.0.0.1:p1,127.0.0.1:p2,...`
    /// (or their [`Placement::address`]).
    pub fn connect_string(&self) -> String {
        (0..self.members.len())
            .map(|i| self.member_address(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `zk://127.0.0.1:p1,127.0.0.1:p2,.../<path>` (Mesos' `--zk` form; or
    /// the members' [`Placement::address`]); a
    /// leading `/` of `path` is ignored.
    pub fn zk_url(&self, path: &str) -> String {
        format!(
            "zk://{}/{}",
            self.connect_string(),
            path.trim_start_matches('/')
        )
    }

    /// The pid of member `i`'s JVM, `None` after it was stopped or killed.
    pub fn pid(&self, i: usize) -> Option<i32> {
        self.members[i].pid()
    }

    /// Whether member `i`'s JVM runs.
    pub fn is_running(&self, i: usize) -> bool {
        self.members[i].is_running()
    }

    /// Member `i`'s `zk{i+1}.log`.
    pub fn log_file(&self, i: usize) -> PathBuf {
        self.members[i].log.clone()
    }

    /// Sends the four-letter word `cmd` (`ruok`, `srvr`, `mntr`, ...) to
    /// member `i` (from inside its network namespace, if it has one) and
    /// returns the answer.
    pub fn four_letter(&self, i: usize, cmd: &str) -> anyhow::Result<String> {
        let m = &self.members[i];
        let addr = m.addr();
        match &self.netns {
            None => four_letter(addr, cmd),
            Some(ns) => crate::lab::in_netns(ns, || four_letter(addr, cmd))?,
        }
        .with_context(|| format!("`{cmd}` to {} ({addr})", m.name()))
    }

    /// The network namespace the members run in, `None` for this
    /// process' own.
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// Leaves the members running and the directory in place, and forgets
    /// them: whoever detaches stops them by pid ([`Self::pid`], read
    /// before) and removes the directory (the lab does both at its
    /// teardown, from its state file).
    pub fn detach(self) {
        // Dropping a `Child` neither kills nor waits; skipping our Drop
        // skips the stop and the removal.
        std::mem::forget(self);
    }

    /// Whether member `i` answers `ruok` with `imok` (it runs and its client
    /// port is up; says nothing about quorum).
    pub fn ruok(&self, i: usize) -> anyhow::Result<bool> {
        Ok(self.four_letter(i, "ruok")? == "imok")
    }

    /// Member `i`'s `srvr` answer.
    pub fn srvr(&self, i: usize) -> anyhow::Result<String> {
        self.four_letter(i, "srvr")
    }

    /// Member `i`'s mode from `srvr`, `None` while it does not serve
    /// ([`NOT_SERVING`]: no quorum, or an election is running).
    pub fn mode(&self, i: usize) -> anyhow::Result<Option<Mode>> {
        Mode::parse_srvr(&self.srvr(i)?)
    }

    /// Index of the running member whose `srvr` says `Mode: leader` (the one
    /// with the highest epoch if a deposed leader has not noticed yet).
    pub fn leader(&self) -> anyhow::Result<usize> {
        let mut best: Option<(u64, usize)> = None;
        let mut errors = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            if !m.is_running() {
                continue;
            }
            match self.srvr(i) {
                Ok(text) if Mode::parse_srvr(&text).ok().flatten() == Some(Mode::Leader) => {
                    let epoch = Mode::parse_epoch(&text).unwrap_or(0);
                    if best.is_none_or(|(e, _)| epoch > e) {
                        best = Some((epoch, i));
                    }
                }
                Ok(_) => {}
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        match best {
            Some((_, i)) => Ok(i),
            None if errors.is_empty() => bail!("no running member is leader"),
            None => bail!("no running member is leader; {}", errors.join("; ")),
        }
    }

    /// Polls [`Self::leader`] until a leader exists.
    pub fn wait_for_leader(&self, timeout: Duration) -> anyhow::Result<usize> {
        wait_for("a ZooKeeper leader", timeout, || self.leader().map(Some))
    }

    /// Polls until member `i` serves (`srvr` gives a mode). Fails at once if
    /// its JVM exited.
    pub fn wait_serving(&self, i: usize, timeout: Duration) -> anyhow::Result<Mode> {
        let m = &self.members[i];
        wait_for(&format!("{} to serve", m.name()), timeout, || {
            if !m.is_running() {
                return Ok(Some(Err(self.exited(i))));
            }
            Ok(self.mode(i)?.map(Ok))
        })?
    }

    /// Polls until every running member serves and, for an ensemble, one is
    /// leader. Fails at once if a JVM exited.
    fn wait_serving_all(&self, timeout: Duration) -> anyhow::Result<()> {
        let what = if self.members.len() > 1 {
            format!(
                "all {} ZooKeeper members to serve with a leader",
                self.members.len()
            )
        } else {
            "the ZooKeeper server to serve".to_string()
        };
        wait_for(&what, timeout, || {
            let mut leaders = 0;
            for (i, m) in self.members.iter().enumerate() {
                if !m.is_running() {
                    return Ok(Some(Err(self.exited(i))));
                }
                match self.mode(i)? {
                    None => bail!("{} does not serve yet", m.name()),
                    Some(Mode::Leader) => leaders += 1,
                    Some(_) => {}
                }
            }
            if self.members.len() > 1 && leaders != 1 {
                bail!("{leaders} members say they lead");
            }
            Ok(Some(Ok(())))
        })?
    }

    fn exited(&self, i: usize) -> anyhow::Error {
        let m = &self.members[i];
        anyhow::anyhow!(
            "{} (pid {}) exited\n{}",
            m.name(),
            m.pid().unwrap_or(0),
            m.diagnostics()
        )
    }

    /// SIGKILLs member `i` ("a member crashed") and waits until it is gone;
    /// its data and log stay. The survivors' [`PEER_LOSS_ERRORS`] are allowed
    /// in [`Self::check_logs`] from now on.
    pub fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        self.allow_peer_loss();
        self.members[i]
            .stop(true)
            .with_context(|| format!("killing ZooKeeper member {i}"))
    }

    /// Stops member `i` (SIGTERM, then SIGKILL) and waits until it is gone.
    /// Like [`Self::kill`], the survivors' [`PEER_LOSS_ERRORS`] are allowed.
    pub fn stop(&mut self, i: usize) -> anyhow::Result<()> {
        self.allow_peer_loss();
        self.members[i]
            .stop(false)
            .with_context(|| format!("stopping ZooKeeper member {i}"))
    }

    /// Starts member `i` again with its config and data (stopping it first
    /// if it still runs) and returns once it answers `ruok`. Whether it
    /// serves depends on the quorum: see [`Self::wait_serving`] and
    /// [`Self::wait_for_leader`].
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.stop(i)?;
        self.members[i]
            .spawn()
            .with_context(|| format!("restarting ZooKeeper member {i}"))?;
        let m = &self.members[i];
        wait_for(
            &format!("{} to answer ruok", m.name()),
            START_TIMEOUT,
            || {
                if !m.is_running() {
                    return Ok(Some(Err(self.exited(i))));
                }
                Ok(self.ruok(i)?.then_some(Ok(())))
            },
        )?
    }

    /// Stops every member (SIGTERM, then SIGKILL); the
    /// [`PEER_LOSS_ERRORS`] are allowed from now on. Err names the members
    /// that survived SIGKILL.
    pub fn stop_all(&mut self) -> anyhow::Result<()> {
        // The members stop one by one: the last ones see their peers go.
        self.allow_peer_loss();
        let errors: Vec<String> = self
            .members
            .iter_mut()
            .filter_map(|m| m.stop(false).err().map(|e| format!("{e:#}")))
            .collect();
        if !errors.is_empty() {
            bail!("{}", errors.join("; "));
        }
        Ok(())
    }

    fn allow_peer_loss(&mut self) {
        if self.members.len() > 1 {
            for e in PEER_LOSS_ERRORS {
                self.allow_log(e);
            }
        }
    }

    /// Excuses ERROR lines containing `substring` in [`Self::check_logs`].
    pub fn allow_log(&mut self, substring: &str) {
        if !self.allowed.iter().any(|a| a == substring) {
            self.allowed.push(substring.to_string());
        }
    }

    /// Every unexcused ERROR/FATAL line of the members' `zk{i}.log` and
    /// every line of their `zk{i}.out` (the JVM writes there only what
    /// escaped log4j: crashes, uncaught exceptions, log4j trouble), as
    /// `<file>: <line>`.
    pub fn unexpected_log_lines(&self) -> Vec<String> {
        let mut found = Vec::new();
        for m in &self.members {
            if let Ok(text) = std::fs::read_to_string(&m.log) {
                found.extend(
                    text.lines()
                        .filter(|l| is_error_line(l) && !self.allowed.iter().any(|a| l.contains(a)))
                        .map(|l| format!("{}.log: {l}", m.name())),
                );
            }
            if let Ok(text) = std::fs::read_to_string(&m.out) {
                found.extend(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(|l| format!("{}.out: {l}", m.name())),
                );
            }
        }
        found
    }

    /// Err listing [`Self::unexpected_log_lines`]. Allowed: the
    /// [`HARNESS_ERRORS`], an ensemble's [`ELECTION_ERRORS`], its
    /// [`PEER_LOSS_ERRORS`] once a member was killed or stopped, and
    /// whatever [`Self::allow_log`] added.
    pub fn check_logs(&self) -> anyhow::Result<()> {
        let found = self.unexpected_log_lines();
        if !found.is_empty() {
            bail!(
                "{} unexpected error line(s) in ZooKeeper logs in {}:\n{}",
                found.len(),
                self.dir().display(),
                found.join("\n")
            );
        }
        Ok(())
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        if let Err(e) = self.stop_all() {
            eprintln!("stopping ZooKeeper in {}: {e:#}", self.dir().display());
        }
    }
}

/// A log4j line (`<date> <time> LEVEL [...`) at level ERROR or FATAL.
pub fn is_error_line(line: &str) -> bool {
    matches!(line.split_whitespace().nth(2), Some("ERROR" | "FATAL"))
}

/// Sends a four-letter word to `addr` and reads the answer until the server
/// closes the connection, or until it has answered and then stays quiet for
/// [`FOUR_LETTER_QUIET`] (see [`HARNESS_ERRORS`]: a server that fails to
/// close the socket would otherwise cost the whole read timeout).
pub fn four_letter(addr: SocketAddr, cmd: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, FOUR_LETTER_TIMEOUT)
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(FOUR_LETTER_TIMEOUT))?;
    stream.set_write_timeout(Some(FOUR_LETTER_TIMEOUT))?;
    stream.write_all(cmd.as_bytes())?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                stream.set_read_timeout(Some(FOUR_LETTER_QUIET))?;
            }
            Err(e)
                if !answer.is_empty()
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
            {
                break
            }
            Err(e) => {
                return Err(e).with_context(|| format!("reading the answer from {addr}"));
            }
        }
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Fails with what to install when the package's jars are missing.
fn check_installed() -> anyhow::Result<()> {
    for jar in CLASSPATH {
        if !Path::new(jar).exists() {
            bail!("{jar} is missing: install Debian's zookeeper package (scripts/install-deps.sh)");
        }
    }
    Ok(())
}

/// `n` distinct free loopback ports: all bound at once (so they differ),
/// read, released.
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<Vec<_>, _>>()
        .context("cannot bind a free loopback port")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    File::create(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEADER: &str =
        "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        Latency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\nConnections: 1\nOutstanding: 0\n\
        Zxid: 0x200000000\nMode: leader\nNode count: 5\nProposal sizes last/min/max: -1/-1/-1\n";

    #[test]
    fn srvr_output_gives_the_mode_and_epoch() {
        assert_eq!(Mode::parse_srvr(LEADER).unwrap(), Some(Mode::Leader));
        assert_eq!(Mode::parse_epoch(LEADER), Some(2));
        let standalone = LEADER.replace("Mode: leader", "Mode: standalone");
        assert_eq!(
            Mode::parse_srvr(&standalone).unwrap(),
            Some(Mode::Standalone)
        );
        let observer = LEADER.replace("Mode: leader", "Mode: observer");
        assert_eq!(
            Mode::parse_srvr(&observer).unwrap(),
            Some(Mode::Other("observer".into()))
        );
    }

    #[test]
    fn a_member_without_quorum_does_not_serve() {
        let text = format!("{NOT_SERVING}\n");
        assert_eq!(Mode::parse_srvr(&text).unwrap(), None);
        let err = Mode::parse_srvr("Zxid: 0x0\n").unwrap_err().to_string();
        assert!(err.contains("no `Mode:`"), "{err}");
    }

    #[test]
    fn only_error_and_fatal_lines_are_errors() {
        let line = |level: &str| format!("2026-12-07 20:02:31,519 {level} [main:X@1] - msg");
        assert!(is_error_line(&line("ERROR")));
        assert!(is_error_line(&line("FATAL")));
        assert!(!is_error_line(&line("WARN ")));
        assert!(!is_error_line(&line("INFO ")));
        assert!(!is_error_line(
            "\tat org.apache.zookeeper.ERROR.x(X.java:1)"
        ));
    }

    #[test]
    fn a_fixed_client_port_is_for_a_standalone_server() {
        let fixed = Placement {
            client_port: Some(2181),
            ..Placement::default()
        };
        let err = ZooKeeper::ensemble_with(3, &fixed).unwrap_err().to_string();
        assert!(err.contains("standalone"), "{err}");
        assert!(!fixed.retryable(), "a fixed port is lost again");
        assert!(Placement::default().retryable());
        assert_eq!(Placement::default().address(), Ipv4Addr::LOCALHOST);
    }

    #[test]
    fn free_ports_are_distinct() {
        let mut ports = free_ports(9).unwrap();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 9);
    }
}

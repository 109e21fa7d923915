//! OVN central for a test: NB and SB `ovsdb-server` (unix sockets only) and
//! `ovn-northd`, all state in a private temp dir.
//!
//! Files in [`OvnCentral::dir`]: `nb.db nb.sock nb.pid nb.ctl nb.log`, the same
//! with `sb.`, and `northd.pid northd.ctl northd.log`.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use crate::daemon::{Daemon, DaemonSpec};
use crate::dump::dump_db;
use crate::logs::LogCheck;
use crate::workdir::WorkDir;

/// The Northbound schema shipped with OVN.
pub const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
/// The Southbound schema shipped with OVN.
pub const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";
/// `--timeout` of every `ovn-nbctl`/`ovn-sbctl` call, in seconds.
pub const CTL_TIMEOUT_SECS: u32 = 20;

/// NB + SB database servers and ovn-northd. Dropping it stops northd, SB and
/// NB (graceful, then forced) and removes the directory unless
/// `OVN_MESOS_KEEP_TEST_DIR=1`.
#[derive(Debug)]
pub struct OvnCentral {
    northd: Daemon,
    sb: Daemon,
    nb: Daemon,
    nb_remote: String,
    sb_remote: String,
    logs: LogCheck,
    // Last: removed after the daemons have stopped.
    work: WorkDir,
}

impl OvnCentral {
    /// Creates NB and SB from the installed schemas (`ovsdb-tool create`),
    /// starts both servers, runs `ovn-nbctl --no-wait init` and
    /// `ovn-sbctl init`, then starts ovn-northd.
    pub fn start() -> anyhow::Result<OvnCentral> {
        let work = WorkDir::new()?;
        let nb_sock = work.socket("nb.sock")?;
        let sb_sock = work.socket("sb.sock")?;
        let nb_db = work.file("nb.db");
        let sb_db = work.file("sb.db");
        work.run(
            "ovsdb-tool",
            &["create", &nb_db.display().to_string(), NB_SCHEMA],
        )?;
        work.run(
            "ovsdb-tool",
            &["create", &sb_db.display().to_string(), SB_SCHEMA],
        )?;
        let nb = Daemon::start(
            work.path(),
            DaemonSpec::new("nb", "ovsdb-server")
                .arg(nb_db.display().to_string())
                .arg(format!("--remote=punix:{}", nb_sock.display())),
        )?;
        let sb = Daemon::start(
            work.path(),
            DaemonSpec::new("sb", "ovsdb-server")
                .arg(sb_db.display().to_string())
                .arg(format!("--remote=punix:{}", sb_sock.display())),
        )?;
        let nb_remote = format!("unix:{}", nb_sock.display());
        let sb_remote = format!("unix:{}", sb_sock.display());
        ctl(&work, "ovn-nbctl", &nb_remote, &["--no-wait", "init"])?;
        ctl(&work, "ovn-sbctl", &sb_remote, &["init"])?;
        let northd = Daemon::start(
            work.path(),
            DaemonSpec::new("northd", "ovn-northd")
                .arg(format!("--ovnnb-db={nb_remote}"))
                .arg(format!("--ovnsb-db={sb_remote}")),
        )?;
        let logs = LogCheck::new(vec![nb.log.clone(), sb.log.clone(), northd.log.clone()]);
        Ok(OvnCentral {
            northd,
            sb,
            nb,
            nb_remote,
            sb_remote,
            logs,
            work,
        })
    }

    /// The pid of ovn-northd.
    pub fn northd_pid(&self) -> i32 {
        self.northd.pid
    }

    /// The private directory holding databases, sockets and logs.
    pub fn dir(&self) -> &Path {
        self.work.path()
    }

    /// `unix:<dir>/nb.sock`.
    pub fn nb_remote(&self) -> String {
        self.nb_remote.clone()
    }

    /// `unix:<dir>/sb.sock`.
    pub fn sb_remote(&self) -> String {
        self.sb_remote.clone()
    }

    /// `ovn-nbctl --db=<nb> --timeout=20 <args>`; stdout, trailing whitespace
    /// trimmed. Err names the arguments and stderr.
    pub fn nbctl(&self, args: &[&str]) -> anyhow::Result<String> {
        ctl(&self.work, "ovn-nbctl", &self.nb_remote, args)
    }

    /// `ovn-sbctl --db=<sb> --timeout=20 <args>`.
    pub fn sbctl(&self, args: &[&str]) -> anyhow::Result<String> {
        ctl(&self.work, "ovn-sbctl", &self.sb_remote, args)
    }

    /// `ovn-nbctl --wait=sb sync`: returns once northd has processed every NB
    /// change made so far into SB.
    pub fn sync_sb(&self) -> anyhow::Result<()> {
        self.nbctl(&["--wait=sb", "sync"]).map(drop)
    }

    /// The whole NB database as canonical JSON (see [`crate::dump`]): equal
    /// for an unchanged database, also across [`Self::restart_nb`].
    pub fn nb_dump(&self) -> anyhow::Result<Value> {
        dump_db(&self.work, &self.nb_remote, "OVN_Northbound")
    }

    /// The whole SB database as canonical JSON.
    pub fn sb_dump(&self) -> anyhow::Result<Value> {
        dump_db(&self.work, &self.sb_remote, "OVN_Southbound")
    }

    /// SIGKILLs the NB ovsdb-server and waits until it is gone. The socket
    /// file, pidfile and control socket stay behind, as after a real crash
    /// (clients get "connection refused" until [`Self::restart_nb`]). Error
    /// lines that mention the NB socket are allowed in [`Self::check_logs`]
    /// from now on.
    pub fn kill_nb(&mut self) {
        self.nb.kill9();
        let sock = self.nb_remote.trim_start_matches("unix:").to_string();
        self.logs.allow(sock);
    }

    /// Starts NB again on the same database file and socket path (the
    /// server replaces the stale socket). Stops it first if it still runs.
    pub fn restart_nb(&mut self) -> anyhow::Result<()> {
        self.nb.restart().context("restarting the NB ovsdb-server")
    }

    /// The NB ovsdb-server, e.g. for its pid.
    pub fn nb_daemon(&self) -> &Daemon {
        &self.nb
    }

    /// The SB ovsdb-server.
    pub fn sb_daemon(&self) -> &Daemon {
        &self.sb
    }

    /// ovn-northd.
    pub fn northd_daemon(&self) -> &Daemon {
        &self.northd
    }

    /// Excuses daemon log error lines containing `substring` in
    /// [`Self::check_logs`] (for errors a test causes on purpose).
    pub fn allow_log(&mut self, substring: &str) {
        self.logs.allow(substring);
    }

    /// Err listing the `|ERR|`/`|EMER|` lines of nb.log, sb.log and
    /// northd.log. Allowed: lines mentioning the NB socket once
    /// [`Self::kill_nb`] was called, and whatever [`Self::allow_log`] added.
    pub fn check_logs(&self) -> anyhow::Result<()> {
        self.logs.check()
    }

    /// Stops northd, SB and NB now (graceful, then forced).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let northd = self.northd.stop();
        let sb = self.sb.stop();
        let nb = self.nb.stop();
        northd.and(sb).and(nb)
    }
}

impl Drop for OvnCentral {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("stopping OVN central in {}: {e:#}", self.dir().display());
        }
    }
}

/// `<tool> --db=<remote> --timeout=20 <args>` in `work`.
pub(crate) fn ctl(
    work: &WorkDir,
    tool: &str,
    remote: &str,
    args: &[&str],
) -> anyhow::Result<String> {
    let mut all = vec![
        format!("--db={remote}"),
        format!("--timeout={CTL_TIMEOUT_SECS}"),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    work.run(tool, &all)
}

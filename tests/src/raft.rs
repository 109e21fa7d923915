//! A clustered (Raft) Northbound database with N members on unix sockets.
//!
//! Member `i` (0-based) uses the files `s{i+1}.db s{i+1}.sock s{i+1}.ctl
//! s{i+1}.log` and the Raft address `unix:<dir>/r{i+1}.raft`. Built like
//! `ovsdb-tool create-cluster s1.db <schema> unix:r1.raft` then
//! `ovsdb-tool join-cluster sN.db OVN_Northbound unix:rN.raft unix:r1.raft`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::central::{ctl, NB_SCHEMA};
use crate::daemon::{Daemon, DaemonSpec};
use crate::dump::dump_db;
use crate::logs::LogCheck;
use crate::poll::wait_for;
use crate::workdir::WorkDir;

/// How long [`RaftNb::start`] waits for the cluster to form.
const FORM_TIMEOUT: Duration = Duration::from_secs(30);

/// What `cluster/status` says about one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    /// `Status:`, e.g. "cluster member" or "joining cluster".
    pub status: String,
    /// `Role:`: "leader", "follower" or "candidate".
    pub role: String,
    /// `Term:`.
    pub term: u64,
    /// `Leader:`: "self", another member's short name, or "unknown".
    pub leader: String,
}

impl MemberStatus {
    /// Parses the output of `ovs-appctl cluster/status OVN_Northbound`.
    pub fn parse(text: &str) -> anyhow::Result<MemberStatus> {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                .with_context(|| format!("no `{name}` in cluster/status output:\n{text}"))
        };
        Ok(MemberStatus {
            status: field("Status:")?,
            role: field("Role:")?,
            term: field("Term:")?.parse().context("bad Term")?,
            leader: field("Leader:")?,
        })
    }

    /// A full member that knows the leader.
    pub fn is_connected(&self) -> bool {
        self.status == "cluster member" && self.leader != "unknown"
    }
}

#[derive(Debug)]
struct Member {
    daemon: Daemon,
    sock: PathBuf,
}

/// A Raft cluster of NB database servers. Dropping it stops every member and
/// removes the directory unless `OVN_MESOS_KEEP_TEST_DIR=1`.
#[derive(Debug)]
pub struct RaftNb {
    members: Vec<Member>,
    logs: LogCheck,
    work: WorkDir,
}

impl RaftNb {
    /// Creates and starts a cluster of `members` servers, waits until every
    /// member is connected and one is leader, then runs
    /// `ovn-nbctl --no-wait init` against the cluster.
    pub fn start(members: usize) -> anyhow::Result<RaftNb> {
        if members == 0 {
            bail!("a Raft cluster needs at least one member");
        }
        let work = WorkDir::new()?;
        let raft = |i: usize| -> anyhow::Result<String> {
            Ok(format!(
                "unix:{}",
                work.socket(&format!("r{}.raft", i + 1))?.display()
            ))
        };
        let db = |i: usize| work.file(&format!("s{}.db", i + 1)).display().to_string();
        work.run(
            "ovsdb-tool",
            &["create-cluster", &db(0), NB_SCHEMA, &raft(0)?],
        )?;
        for i in 1..members {
            work.run(
                "ovsdb-tool",
                &[
                    "join-cluster",
                    &db(i),
                    "OVN_Northbound",
                    &raft(i)?,
                    &raft(0)?,
                ],
            )?;
        }
        let mut started = Vec::with_capacity(members);
        for i in 0..members {
            let sock = work.socket(&format!("s{}.sock", i + 1))?;
            let daemon = Daemon::start(
                work.path(),
                DaemonSpec::new(&format!("s{}", i + 1), "ovsdb-server")
                    .arg(db(i))
                    .arg(format!("--remote=punix:{}", sock.display())),
            )?;
            started.push(Member { daemon, sock });
        }
        let logs = LogCheck::new(started.iter().map(|m| m.daemon.log.clone()).collect());
        let cluster = RaftNb {
            members: started,
            logs,
            work,
        };
        for i in 0..members {
            cluster.wait_member_connected(i, FORM_TIMEOUT)?;
        }
        cluster.wait_for_leader(FORM_TIMEOUT)?;
        cluster.nbctl(&["--no-wait", "init"])?;
        Ok(cluster)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Never true: a cluster has at least one member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The private directory.
    pub fn dir(&self) -> &std::path::Path {
        self.work.path()
    }

    /// Every member's client socket: `unix:<dir>/s1.sock,unix:<dir>/s2.sock,...`.
    pub fn remotes(&self) -> String {
        (0..self.members.len())
            .map(|i| self.member_remote(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `unix:<dir>/s{i+1}.sock`. Panics if `i` is out of range.
    pub fn member_remote(&self, i: usize) -> String {
        format!("unix:{}", self.members[i].sock.display())
    }

    /// Member `i`'s `ovs-appctl -t s{i+1}.ctl cluster/status OVN_Northbound`.
    pub fn status(&self, i: usize) -> anyhow::Result<MemberStatus> {
        let d = &self.members[i].daemon;
        if !d.is_alive() {
            bail!("member {i} ({}) is not running", d.name);
        }
        let ctl = d.ctl.display().to_string();
        let out = self.work.run(
            "ovs-appctl",
            &[
                "--timeout=10",
                "-t",
                &ctl,
                "cluster/status",
                "OVN_Northbound",
            ],
        )?;
        MemberStatus::parse(&out)
    }

    /// Index of the running member whose status says "Role: leader" (the one
    /// with the highest term if a deposed leader has not noticed yet).
    /// Members whose status cannot be read are skipped.
    pub fn leader(&self) -> anyhow::Result<usize> {
        let mut best: Option<(u64, usize)> = None;
        let mut errors = Vec::new();
        for i in 0..self.members.len() {
            if !self.members[i].daemon.is_alive() {
                continue;
            }
            match self.status(i) {
                Ok(s) if s.role == "leader" && best.is_none_or(|(term, _)| s.term > term) => {
                    best = Some((s.term, i));
                }
                Ok(_) => {}
                Err(e) => errors.push(format!("member {i}: {e:#}")),
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
        wait_for("a Raft leader of the NB cluster", timeout, || {
            self.leader().map(Some)
        })
    }

    /// Polls until member `i` is a full cluster member that knows the leader.
    pub fn wait_member_connected(&self, i: usize, timeout: Duration) -> anyhow::Result<()> {
        wait_for(
            &format!("NB cluster member {i} to connect"),
            timeout,
            || Ok(self.status(i)?.is_connected().then_some(())),
        )
    }

    /// SIGKILLs member `i` and waits until it is gone; its files stay. Errors
    /// mentioning its Raft address are allowed in [`Self::check_logs`].
    pub fn kill(&mut self, i: usize) {
        self.members[i].daemon.kill9();
        let raft = self.work.file(&format!("r{}.raft", i + 1));
        self.logs.allow(raft.display().to_string());
    }

    /// Starts member `i` again on its database file. Returns once the server
    /// runs; use [`Self::wait_member_connected`] to wait until it rejoined.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.members[i]
            .daemon
            .restart()
            .with_context(|| format!("restarting NB cluster member {i}"))
    }

    /// The daemon of member `i`.
    pub fn member(&self, i: usize) -> &Daemon {
        &self.members[i].daemon
    }

    /// `ovn-nbctl --db=<all remotes> --timeout=20 <args>` (ovn-nbctl finds the
    /// leader itself).
    pub fn nbctl(&self, args: &[&str]) -> anyhow::Result<String> {
        ctl(&self.work, "ovn-nbctl", &self.remotes(), args)
    }

    /// The whole NB database as canonical JSON, read from the leader.
    pub fn nb_dump(&self) -> anyhow::Result<Value> {
        let leader = self.leader()?;
        dump_db(&self.work, &self.member_remote(leader), "OVN_Northbound")
    }

    /// Excuses log error lines containing `substring` in [`Self::check_logs`].
    pub fn allow_log(&mut self, substring: &str) {
        self.logs.allow(substring);
    }

    /// Err listing `|ERR|`/`|EMER|` lines in the members' logs, except lines
    /// naming the Raft address of a member killed with [`Self::kill`] and
    /// those excused with [`Self::allow_log`].
    pub fn check_logs(&self) -> anyhow::Result<()> {
        self.logs.check()
    }
}

impl Drop for RaftNb {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Err(e) = m.daemon.stop() {
                eprintln!("stopping {}: {e:#}", m.daemon.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLLOWER: &str = "Name: OVN_Northbound\nCluster ID: b312 (b312cdd5)\n\
        Status: cluster member\nRole: follower\nTerm: 3\nLeader: r1\nVote: unknown\n";

    #[test]
    fn cluster_status_of_a_follower_is_parsed() {
        let s = MemberStatus::parse(FOLLOWER).unwrap();
        assert_eq!(s.status, "cluster member");
        assert_eq!(s.role, "follower");
        assert_eq!(s.term, 3);
        assert_eq!(s.leader, "r1");
        assert!(s.is_connected());
    }

    #[test]
    fn a_member_without_a_known_leader_is_not_connected() {
        let text = FOLLOWER.replace("Leader: r1", "Leader: unknown");
        assert!(!MemberStatus::parse(&text).unwrap().is_connected());
        let joining = FOLLOWER.replace("cluster member", "joining cluster");
        assert!(!MemberStatus::parse(&joining).unwrap().is_connected());
    }

    #[test]
    fn status_output_without_a_role_is_an_error() {
        let err = MemberStatus::parse("Name: x\nStatus: cluster member\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no `Role:`"), "{err}");
    }
}

//! A local Open_vSwitch database like a chassis' OVS DB: the `conf.db`
//! ovsdb-server only, no ovs-vswitchd.
//!
//! Files in [`LocalOvs::dir`]: `conf.db db.sock ovsdb-server.{pid,ctl,log}`.
//! A later `Chassis` adds ovs-vswitchd and ovn-controller (inside a netns,
//! see [`crate::daemon::DaemonSpec::in_netns`]) on top of this database.

use std::path::Path;

use serde_json::Value;

use crate::daemon::{Daemon, DaemonSpec};
use crate::dump::dump_db;
use crate::logs::LogCheck;
use crate::workdir::WorkDir;

/// The Open_vSwitch schema shipped with OVS.
pub const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// An Open_vSwitch database server. Dropping it stops the server and removes
/// the directory unless `OVN_MESOS_KEEP_TEST_DIR=1`.
#[derive(Debug)]
pub struct LocalOvs {
    ovsdb: Daemon,
    remote: String,
    system_id: String,
    logs: LogCheck,
    work: WorkDir,
}

impl LocalOvs {
    /// `ovsdb-tool create conf.db vswitch.ovsschema`, starts the server,
    /// `ovs-vsctl --no-wait init` and sets `external_ids:system-id` and
    /// `hostname` to `system_id` and `ovn-bridge-datapath-type=netdev`.
    pub fn start(system_id: &str) -> anyhow::Result<LocalOvs> {
        let work = WorkDir::new()?;
        let sock = work.socket("db.sock")?;
        let db = work.file("conf.db");
        work.run(
            "ovsdb-tool",
            &["create", &db.display().to_string(), VSWITCH_SCHEMA],
        )?;
        let ovsdb = Daemon::start(
            work.path(),
            DaemonSpec::new("ovsdb-server", "ovsdb-server")
                .arg(db.display().to_string())
                .arg(format!("--remote=punix:{}", sock.display())),
        )?;
        let logs = LogCheck::new(vec![ovsdb.log.clone()]);
        let ovs = LocalOvs {
            ovsdb,
            remote: format!("unix:{}", sock.display()),
            system_id: system_id.to_string(),
            logs,
            work,
        };
        let id = quote(system_id);
        ovs.vsctl(&[
            "init",
            "--",
            "set",
            "Open_vSwitch",
            ".",
            &format!("external_ids:system-id={id}"),
            &format!("external_ids:hostname={id}"),
            "external_ids:ovn-bridge-datapath-type=netdev",
        ])?;
        Ok(ovs)
    }

    /// The private directory.
    pub fn dir(&self) -> &Path {
        self.work.path()
    }

    /// `unix:<dir>/db.sock`.
    pub fn db_remote(&self) -> String {
        self.remote.clone()
    }

    /// The `system-id` given to [`Self::start`] (the OVN chassis name).
    pub fn system_id(&self) -> &str {
        &self.system_id
    }

    /// `ovs-vsctl --db=<remote> --no-wait --timeout=20 <args>`; stdout with
    /// trailing whitespace trimmed. Err names the arguments and stderr.
    pub fn vsctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec![
            format!("--db={}", self.remote),
            "--no-wait".to_string(),
            "--timeout=20".to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        self.work.run("ovs-vsctl", &all)
    }

    /// The whole Open_vSwitch database as canonical JSON (see [`crate::dump`]).
    pub fn dump(&self) -> anyhow::Result<Value> {
        dump_db(&self.work, &self.remote, "Open_vSwitch")
    }

    /// The database server.
    pub fn daemon(&self) -> &Daemon {
        &self.ovsdb
    }

    /// The directory handle, for daemons added on top (ovs-vswitchd ...).
    pub fn work_dir(&self) -> &WorkDir {
        &self.work
    }

    /// Err listing `|ERR|`/`|EMER|` lines of the server's log.
    pub fn check_logs(&self) -> anyhow::Result<()> {
        self.logs.check()
    }

    /// Stops the server now (graceful, then forced).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        self.ovsdb.stop()
    }
}

impl Drop for LocalOvs {
    fn drop(&mut self) {
        if let Err(e) = self.ovsdb.stop() {
            eprintln!("stopping {}: {e:#}", self.ovsdb.name);
        }
    }
}

/// `value` as an OVSDB string literal for `ovs-vsctl` (always quoted, so ids
/// with `:`, `=` or `,` stay one value).
fn quote(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_as_ovsdb_strings() {
        assert_eq!(quote("chassis-1"), "\"chassis-1\"");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
    }
}

//! A full chassis for a test: the Open_vSwitch database ([`LocalOvs`]), and
//! inside a network namespace of its own `ovs-vswitchd` (userspace datapath)
//! and `ovn-controller` connected to an [`OvnCentral`]'s SB over its unix
//! socket, with `br-int` (`datapath_type=netdev`, `fail-mode=secure`).
//!
//! The namespace (`omt-<pid>-<n>`, unique per instance) holds the netdev
//! datapath's tap devices and the veth host ends of tasks, so chassis of
//! parallel tests never share `br-int` (`docs/ovn-here.md`, "A chassis"). Tasks'
//! executors create their veth host ends in [`Chassis::netns`]
//! (`OVN_MESOS_HOST_NETNS`) and reach the database at [`Chassis::ovs_remote`].
//!
//! Drop: ovn-controller exits, `ovs-vswitchd` exits with `--cleanup`, the
//! database server stops, then links left in the namespace and the namespace
//! itself are deleted.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context;

use crate::central::OvnCentral;
use crate::daemon::{Daemon, DaemonSpec};
use crate::logs::LogCheck;
use crate::ovs::LocalOvs;
use crate::poll::wait_for;
use crate::workdir::run_command;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A chassis registered in the central's SB; stops on drop.
#[derive(Debug)]
pub struct Chassis {
    // Stopped in this order by `Drop`.
    controller: Option<Daemon>,
    vswitchd: Option<Daemon>,
    ovs: LocalOvs,
    netns: String,
    logs: LogCheck,
}

impl Chassis {
    /// Creates the namespace, starts ovs-vswitchd and ovn-controller in it
    /// (`ovn-remote` = the central's SB socket, geneve with encap IP
    /// 127.0.0.1, `ovn-bridge-datapath-type=netdev`), adds `br-int` and waits
    /// until SB lists the chassis `system_id`.
    pub fn start(central: &OvnCentral, system_id: &str) -> anyhow::Result<Chassis> {
        let netns = format!(
            "omt-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &netns])?;
        let mut chassis = Chassis {
            controller: None,
            vswitchd: None,
            ovs: match LocalOvs::start(system_id) {
                Ok(o) => o,
                Err(e) => {
                    let _ = ip(&["netns", "del", &netns]);
                    return Err(e);
                }
            },
            netns,
            logs: LogCheck::default(),
        };
        chassis
            .boot(central)
            .with_context(|| format!("starting chassis {system_id}"))?;
        Ok(chassis)
    }

    fn boot(&mut self, central: &OvnCentral) -> anyhow::Result<()> {
        ip(&["-n", &self.netns, "link", "set", "lo", "up"])?;
        let sb = central.sb_remote();
        self.ovs.vsctl(&[
            "set",
            "Open_vSwitch",
            ".",
            &format!("external_ids:ovn-remote=\"{sb}\""),
            "external_ids:ovn-encap-type=geneve",
            "external_ids:ovn-encap-ip=127.0.0.1",
            "external_ids:ovn-bridge-datapath-type=netdev",
        ])?;
        let db = self.ovs.db_remote();
        let dir = self.ovs.dir().to_path_buf();
        let vswitchd = Daemon::start(
            &dir,
            DaemonSpec::new("ovs-vswitchd", "ovs-vswitchd")
                .arg(&db)
                .in_netns(&self.netns)
                .exit_with(&["--cleanup"]),
        )?;
        self.logs.add_file(vswitchd.log.clone());
        self.vswitchd = Some(vswitchd);
        self.ovs.vsctl(&[
            "add-br",
            "br-int",
            "--",
            "set",
            "Bridge",
            "br-int",
            "datapath_type=netdev",
            "fail-mode=secure",
            "other-config:disable-in-band=true",
        ])?;
        let controller = Daemon::start(
            &dir,
            DaemonSpec::new("ovn-controller", "ovn-controller")
                .arg(&db)
                .default_unixctl()
                .in_netns(&self.netns),
        )?;
        self.logs.add_file(controller.log.clone());
        self.controller = Some(controller);
        let id = self.system_id().to_string();
        wait_for(
            &format!("chassis {id} in SB"),
            Duration::from_secs(20),
            || {
                Ok(central
                    .sbctl(&[
                        "--bare",
                        "--columns=name",
                        "find",
                        "Chassis",
                        &format!("name=\"{id}\""),
                    ])?
                    .lines()
                    .any(|l| l.trim() == id)
                    .then_some(()))
            },
        )
    }

    /// `unix:<dir>/db.sock`, the local Open_vSwitch database.
    pub fn ovs_remote(&self) -> String {
        self.ovs.db_remote()
    }

    /// The namespace holding ovs-vswitchd, ovn-controller and `br-int`.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The chassis name (`system-id`).
    pub fn system_id(&self) -> &str {
        self.ovs.system_id()
    }

    /// The state directory (databases, sockets, logs).
    pub fn dir(&self) -> &Path {
        self.ovs.dir()
    }

    /// `ovs-vsctl --db=<local> --no-wait <args>`.
    pub fn vsctl(&self, args: &[&str]) -> anyhow::Result<String> {
        self.ovs.vsctl(args)
    }

    /// Names of the links in the chassis namespace (`ip -n <ns> -o link`).
    pub fn links(&self) -> anyhow::Result<Vec<String>> {
        let out = ip(&["-n", &self.netns, "-o", "link", "show"])?;
        Ok(out
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or_default().to_string())
            .collect())
    }

    /// Excuses daemon log error lines containing `substring`.
    pub fn allow_log(&mut self, substring: &str) {
        self.logs.allow(substring);
    }

    /// Err listing unexpected `|ERR|`/`|EMER|` lines of ovs-vswitchd,
    /// ovn-controller and the database server.
    pub fn check_logs(&self) -> anyhow::Result<()> {
        self.logs.check().and(self.ovs.check_logs())
    }

    /// Stops the daemons and deletes the namespace; idempotent.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        for daemon in [self.controller.as_mut(), self.vswitchd.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Err(e) = daemon.stop() {
                result = Err(e);
            }
        }
        if let Err(e) = self.ovs.stop() {
            result = Err(e);
        }
        if Path::new("/var/run/netns").join(&self.netns).exists() {
            for link in self.links().unwrap_or_default() {
                if link != "lo" {
                    let _ = ip(&["-n", &self.netns, "link", "del", &link]);
                }
            }
            if let Err(e) = ip(&["netns", "del", &self.netns]) {
                result = Err(e);
            }
        }
        result
    }
}

impl Drop for Chassis {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("stopping chassis {}: {e:#}", self.netns);
        }
    }
}

/// `ip <args>`.
fn ip(args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = std::process::Command::new("ip");
    cmd.args(args);
    run_command(cmd)
}

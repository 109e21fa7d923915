//! The lab's network and OVS/OVN side, step by step as in `docs/ovn-here.md`
//! ("The three-host lab"): the underlay bridge and host NICs, each host's
//! Open_vSwitch (configured as a chassis by `vagrant/provisioning/ovn-chassis.sh`,
//! plus the userspace-tunnelling `br-phy`), OVN central on `mesos-master`,
//! ovn-controllers, and the geneve mesh with seeded tunnel neighbours.

use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use tracing::{info, warn};

use super::plan::{Host, GATEWAY_NIC, NB_PORT, OUTSIDE_IP, SB_PORT, UNDERLAY_PREFIX};
use super::state::{ip, rank};
use super::{binaries, Lab};
use crate::central::{NB_SCHEMA, SB_SCHEMA};
use crate::daemon::DaemonSpec;
use crate::ovs::VSWITCH_SCHEMA;
use crate::poll::wait_for;
use crate::workdir::run_command;

/// How long the lab waits for OVN to converge (chassis, tunnels, routes).
const CONVERGE: Duration = Duration::from_secs(30);

impl Lab {
    /// `ip netns add` the underlay (Linux bridge `br0`) and every host; one
    /// veth per NIC (`u-<host>` in the underlay, `eth0` in the host; `eth1`
    /// for a gateway NIC); `outside` gets 10.10.1.1/24 with tx offload off.
    pub(super) fn build_underlay(&mut self) -> anyhow::Result<()> {
        let mtu = self.config.underlay_mtu.to_string();
        let under = self.config.underlay_netns();
        self.add_netns(&under)?;
        ip(&["-n", &under, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &under, "link", "set", "br0", "mtu", &mtu, "up"])?;
        for host in Host::ALL {
            let ns = self.netns(host);
            self.add_netns(&ns)?;
            // Less noise: no IPv6 router/neighbour solicitations.
            sysctl(
                &ns,
                &[
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ],
            )?;
            self.add_nic(host, "eth0", &host.mac())?;
            if let Some(mac) = host.gateway_mac() {
                self.add_nic(host, GATEWAY_NIC, &mac)?;
            }
        }
        let out = self.netns(Host::Outside);
        let addr = format!("{OUTSIDE_IP}/{UNDERLAY_PREFIX}");
        ip(&["-n", &out, "addr", "add", &addr, "dev", "eth0"])?;
        // TCP from a kernel through a veth into OVS' AF_PACKET socket needs
        // checksums filled by the sender (`docs/ovn-here.md`).
        run_command(netns_cmd(&out, &["ethtool", "-K", "eth0", "tx", "off"]))?;
        Ok(())
    }

    /// A host NIC `nic` on the underlay: `u-<host>[x]` in br0 <-> `nic` in the host.
    fn add_nic(&mut self, host: Host, nic: &str, mac: &str) -> anyhow::Result<()> {
        let under = self.config.underlay_netns();
        let ns = self.netns(host);
        let mtu = self.config.underlay_mtu.to_string();
        let port = if nic == "eth0" {
            format!("u-{}", host.short())
        } else {
            format!("u-{}x", host.short())
        };
        self.record_link(&under, &port)?;
        ip(&[
            "-n", &under, "link", "add", &port, "mtu", &mtu, "type", "veth", "peer", "name", nic,
            "netns", &ns, "mtu", &mtu,
        ])?;
        ip(&["-n", &under, "link", "set", &port, "master", "br0", "up"])?;
        ip(&["-n", &ns, "link", "set", nic, "address", mac])?;
        // OVS does not bring system ports up.
        ip(&["-n", &ns, "link", "set", nic, "up"])?;
        if host.is_chassis() {
            // The NIC becomes an OVS port read through AF_PACKET: keep the
            // kernel's own copy of each frame from answering ARP or
            // "port unreachable".
            sysctl(
                &ns,
                &[
                    &format!("net.ipv4.conf.{nic}.rp_filter=1"),
                    &format!("net.ipv4.conf.{nic}.arp_ignore=8"),
                ],
            )?;
        }
        Ok(())
    }

    /// The host's `conf.db` server and `ovs-vswitchd` in its namespace, the
    /// chassis settings through `ovn-chassis.sh` (netdev datapath), and
    /// `br-phy` owning `eth0` with the underlay address on its tap and
    /// `other_config:hwaddr` = eth0's MAC (so decapsulation happens).
    pub(super) fn start_host_ovs(&mut self, host: Host) -> anyhow::Result<()> {
        let dir = self.host_dir(host);
        std::fs::create_dir_all(&dir)?;
        let db = dir.join("conf.db");
        let mut create = Command::new("ovsdb-tool");
        create.arg("create").arg(&db).arg(VSWITCH_SCHEMA);
        run_command(create)?;
        let sock = format!("punix:{}", dir.join("db.sock").display());
        self.start_daemon(
            host,
            DaemonSpec::new("ovsdb-server", "ovsdb-server")
                .arg(db.display().to_string())
                .arg(format!("--remote={sock}"))
                .default_unixctl(),
            rank::OVSDB,
        )?;
        self.vsctl(host, &["--no-wait", "init"])?;
        self.start_daemon(
            host,
            DaemonSpec::new("ovs-vswitchd", "ovs-vswitchd")
                .arg(self.ovs_remote(host))
                .default_unixctl()
                .exit_with(&["--cleanup"]),
            rank::VSWITCHD,
        )?;
        self.configure_chassis(host)?;
        let mac = format!("other_config:hwaddr=\"{}\"", host.mac());
        self.vsctl(
            host,
            &[
                "add-br",
                "br-phy",
                "--",
                "set",
                "Bridge",
                "br-phy",
                "datapath_type=netdev",
                "fail-mode=standalone",
                &mac,
                "--",
                "add-port",
                "br-phy",
                "eth0",
            ],
        )?;
        let ns = self.netns(host);
        let mtu = self.config.underlay_mtu.to_string();
        let addr = format!("{}/{UNDERLAY_PREFIX}", host.ip());
        ip(&["-n", &ns, "link", "set", "br-phy", "mtu", &mtu])?;
        ip(&["-n", &ns, "addr", "add", &addr, "dev", "br-phy"])?;
        ip(&["-n", &ns, "link", "set", "br-phy", "up"])?;
        // ovs-vswitchd learns its tunnel routes from the namespace's kernel
        // routes (netlink); the connected route shows up shortly.
        let want = "10.10.1.0/24 dev br-phy";
        let learnt = wait_for(
            &format!("{host}: ovs-vswitchd to learn the route {want}"),
            Duration::from_secs(3),
            || {
                Ok(self
                    .vswitchd_appctl(host, &["ovs/route/show"])?
                    .contains(want)
                    .then_some(()))
            },
        );
        if let Err(e) = learnt {
            warn!(%host, error = %e, "adding the underlay route to ovs-vswitchd by hand");
            self.vswitchd_appctl(host, &["ovs/route/add", "10.10.1.0/24", "br-phy"])?;
        }
        Ok(())
    }

    /// Runs `vagrant/provisioning/ovn-chassis.sh` for `host` (system-id =
    /// host name, geneve endpoint = its underlay IP, SB on the master,
    /// netdev datapath) against the host's database.
    pub fn configure_chassis(&self, host: Host) -> anyhow::Result<()> {
        let script = binaries::chassis_script()?;
        let mut cmd = Command::new("bash");
        cmd.arg(&script)
            .env("SYSTEM_ID", host.name())
            .env("ENCAP_IP", host.ip().to_string())
            .env("OVN_REMOTE", self.sb_remote())
            .env("DATAPATH_TYPE", "netdev")
            .env(
                "VSCTL",
                format!("ovs-vsctl --db={} --timeout=30", self.ovs_remote(host)),
            );
        let out = run_command(cmd).with_context(|| format!("{host}: {}", script.display()))?;
        info!(%host, output = %out, "chassis configured by ovn-chassis.sh");
        Ok(())
    }

    /// Agents reach the master over the underlay (kernel -> br-phy -> OVS -> eth0 -> br0).
    pub(super) fn check_underlay(&mut self) -> anyhow::Result<()> {
        let master = Host::Master.ip().to_string();
        for host in [Host::Agent1, Host::Agent2, Host::Outside] {
            wait_for(
                &format!("{host} to ping {master} over the underlay"),
                Duration::from_secs(10),
                || Ok(self.exec(host, &["ping", "-c1", "-W1", &master]).ok()),
            )?;
        }
        Ok(())
    }

    /// NB and SB `ovsdb-server`s in `mesos-master` (unix sockets in its
    /// directory, TCP on 10.10.1.11:6641/6642) and `ovn-northd`.
    pub(super) fn start_central(&mut self) -> anyhow::Result<()> {
        let host = Host::Master;
        let dir = self.host_dir(host);
        for (name, schema, port) in [
            ("ovnnb_db", NB_SCHEMA, NB_PORT),
            ("ovnsb_db", SB_SCHEMA, SB_PORT),
        ] {
            let db = dir.join(format!("{name}.db"));
            let mut create = Command::new("ovsdb-tool");
            create.arg("create").arg(&db).arg(schema);
            run_command(create)?;
            self.start_daemon(
                host,
                DaemonSpec::new(name, "ovsdb-server")
                    .arg(db.display().to_string())
                    .arg(format!(
                        "--remote=punix:{}",
                        dir.join(format!("{name}.sock")).display()
                    ))
                    .arg(format!("--remote=ptcp:{port}:{}", host.ip())),
                rank::CENTRAL_DB,
            )?;
        }
        self.nbctl(&["--no-wait", "init"])?;
        self.sbctl(&["init"])?;
        let (nb, sb) = (self.nb_unix_remote(), self.sb_unix_remote());
        self.start_daemon(
            host,
            DaemonSpec::new("ovn-northd", "ovn-northd")
                .arg(format!("--ovnnb-db={nb}"))
                .arg(format!("--ovnsb-db={sb}"))
                .default_unixctl(),
            rank::NORTHD,
        )
    }

    /// `ovn-controller` in every host; it reaches SB at tcp:10.10.1.11:6642.
    pub(super) fn start_controllers(&mut self) -> anyhow::Result<()> {
        for host in Host::CHASSIS {
            self.start_daemon(
                host,
                DaemonSpec::new("ovn-controller", "ovn-controller")
                    .arg(self.ovs_remote(host))
                    .default_unixctl(),
                rank::CONTROLLER,
            )?;
        }
        Ok(())
    }

    /// Waits for the three chassis in SB and two geneve ports on every
    /// `br-int`, then seeds each host's tunnel neighbour cache
    /// (`ovs-appctl tnl/neigh/set br-phy <peer ip> <peer mac>`), without
    /// which the first packet to each peer is dropped.
    pub(super) fn wait_tunnels(&mut self) -> anyhow::Result<()> {
        wait_for("3 chassis in SB", CONVERGE, || {
            let names = self.sbctl(&["--bare", "--columns=name", "list", "Chassis"])?;
            let found: Vec<&str> = names.split_whitespace().collect();
            Ok(Host::CHASSIS
                .iter()
                .all(|h| found.contains(&h.name()))
                .then_some(()))
        })?;
        for host in Host::CHASSIS {
            wait_for(
                &format!("{host}: 2 geneve ports on br-int"),
                CONVERGE,
                || {
                    let names = self.vsctl(
                        host,
                        &[
                            "--bare",
                            "--columns=name",
                            "find",
                            "Interface",
                            "type=geneve",
                        ],
                    )?;
                    Ok((names.split_whitespace().count() == 2).then_some(()))
                },
            )?;
        }
        for host in Host::CHASSIS {
            for peer in Host::CHASSIS.into_iter().filter(|p| *p != host) {
                self.vswitchd_appctl(
                    host,
                    &[
                        "tnl/neigh/set",
                        "br-phy",
                        &peer.ip().to_string(),
                        &peer.mac(),
                    ],
                )?;
            }
        }
        Ok(())
    }
}

/// `ip netns exec <ns> sysctl -qw <settings...>`.
fn sysctl(ns: &str, settings: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["sysctl", "-qw"];
    argv.extend_from_slice(settings);
    run_command(netns_cmd(ns, &argv)).map(drop)
}

fn netns_cmd(ns: &str, argv: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).args(argv);
    cmd
}

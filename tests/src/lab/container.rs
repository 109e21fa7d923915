//! Test "containers": a network namespace plugged into a host's `br-int` as
//! `ovn-mesos-executor` plugs a task, with a logical switch port created by
//! `ovn::ports::create_task_port` (the framework's IPAM, port security
//! "MAC IP", requested-chassis = the host name) through the NB's unix socket
//! in the lab dir (unix sockets cross namespaces).
//!
//! Per container: `ip netns add <p>c-<name>`; veth `lc<n>` (in the host) <->
//! `eth0` (in the container, the port's MAC, container MTU, IP/prefix,
//! default route via the router port, tx offload off); `ovs-vsctl add-port
//! br-int lc<n> -- set Interface lc<n> external_ids:iface-id=<port>`; then
//! `external_ids:ovn-installed="true"` is awaited.

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{bail, Context};
use ovn::nb::NB_DB;
use ovn::ovsdb::{Client, ClientConfig};
use ovn::ports::{create_task_port, TaskPort, TaskPortSpec};
use ovn::topology::monitor_nb;
use tracing::info;

use super::plan::Host;
use super::state::ip;
use super::Lab;
use crate::poll::wait_for;

/// The framework id of the lab's container ports.
pub const LAB_FRAMEWORK: &str = "ovn-mesos-lab";

/// A plugged container.
#[derive(Debug, Clone)]
pub struct Container {
    /// The name given (also the task id and the logical port's name).
    pub name: String,
    pub host: Host,
    /// Its network namespace.
    pub netns: String,
    /// The veth's host end in `host`'s namespace (the OVS port).
    pub veth: String,
    /// Its logical switch port.
    pub port: TaskPort,
}

impl Container {
    /// Its IPv4 address.
    pub fn ip(&self) -> Ipv4Addr {
        self.port.ip
    }

    /// Its MAC, `0a:58:...`.
    pub fn mac(&self) -> String {
        self.port.mac.to_string()
    }
}

impl Lab {
    /// Creates and plugs container `name` on `host`, on logical switch
    /// `switch` (a network of `ovn-mesos network-init`), with the next free
    /// address or `ip`; returns once ovn-controller has installed its flows.
    pub fn container(
        &mut self,
        host: Host,
        name: &str,
        switch: &str,
        ip_addr: Option<Ipv4Addr>,
    ) -> anyhow::Result<Container> {
        if !host.is_chassis() {
            bail!("{host} is not a chassis");
        }
        let spec = TaskPortSpec {
            switch: switch.to_string(),
            task_id: name.to_string(),
            framework_id: LAB_FRAMEWORK.to_string(),
            service: None,
            requested_chassis: Some(host.name().to_string()),
            ip: ip_addr,
            agent: None,
            version: None,
        };
        let port = self
            .create_task_port(&spec)
            .with_context(|| format!("logical port of container {name} on {switch}"))?;
        let netns = self.config.container_netns(name);
        let veth = format!("lc{}", self.containers);
        self.containers += 1;
        let host_ns = self.netns(host);
        self.add_netns(&netns)?;
        let mtu = self.config.container_mtu.to_string();
        self.record_link(&host_ns, &veth)?;
        ip(&[
            "-n", &host_ns, "link", "add", &veth, "mtu", &mtu, "type", "veth", "peer", "name",
            "eth0", "netns", &netns, "mtu", &mtu,
        ])?;
        ip(&["-n", &host_ns, "link", "set", &veth, "up"])?;
        let mac = port.mac.to_string();
        let addr = format!("{}/{}", port.ip, port.prefix_len);
        let gw = port.gateway.to_string();
        ip(&["-n", &netns, "link", "set", "eth0", "address", &mac])?;
        ip(&["-n", &netns, "addr", "add", &addr, "dev", "eth0"])?;
        ip(&["-n", &netns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &netns, "route", "add", "default", "via", &gw])?;
        self.exec_in(
            &netns,
            &[
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        )?;
        // Needed for TCP across geneve on the userspace datapath (`docs/ovn-here.md`).
        self.exec_in(&netns, &["ethtool", "-K", "eth0", "tx", "off"])?;
        let iface_id = format!("external_ids:iface-id=\"{}\"", port.name);
        self.vsctl(
            host,
            &[
                "add-port",
                "br-int",
                &veth,
                "--",
                "set",
                "Interface",
                &veth,
                &iface_id,
            ],
        )?;
        wait_for(
            &format!("{host}: ovn-installed on {veth} (container {name})"),
            Duration::from_secs(20),
            || {
                let v = self.vsctl(
                    host,
                    &[
                        "--no-wait",
                        "--if-exists",
                        "get",
                        "Interface",
                        &veth,
                        "external_ids:ovn-installed",
                    ],
                )?;
                Ok((v.trim_matches('"') == "true").then_some(()))
            },
        )?;
        info!(container = name, %host, ip = %port.ip, mac = %mac, veth = %veth, "container plugged");
        Ok(Container {
            name: name.to_string(),
            host,
            netns,
            veth,
            port,
        })
    }

    /// `ovn::ports::create_task_port` over the NB unix socket, on a runtime
    /// of its own (what the framework does before a launch).
    pub fn create_task_port(&self, spec: &TaskPortSpec) -> anyhow::Result<TaskPort> {
        let remote = self.nb_unix_remote();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let client = Client::connect(monitor_nb(ClientConfig::new(&remote, NB_DB)?)).await?;
            let port = create_task_port(&client, spec).await;
            client.close().await;
            Ok(port?)
        })
    }
}

//! The lab's fixed plan, without I/O: the seed's hosts on the underlay
//! 10.10.1.0/24, their addresses, MACs, NICs and namespace names, and the
//! lab's configuration ([`LabConfig`]).
//!
//! ```text
//! netns <p>underlay: Linux bridge br0; ports u-<host>[x] = veths to the hosts
//! <p>mesos-master  eth0 10.10.1.11 (br-phy, geneve endpoint), eth1 (gateway NIC for 10.10.1.12)
//! <p>mesos-agent1  eth0 10.10.1.13, eth1 (gateway NIC for 10.10.1.14)
//! <p>mesos-agent2  eth0 10.10.1.15
//! <p>outside       eth0 10.10.1.1 (the underlying host)
//! ```
//!
//! In HA mode ([`LabConfig::ha`]) ZooKeeper listens on 10.10.1.11:2181 in
//! `mesos-master`, and every chassis host runs a `mesos-local master` on
//! `<host ip>:5050` contending through it (`zk://10.10.1.11:2181/mesos`), as
//! the seed's three VMs would with one master each.
//!
//! `<p>` is [`LabConfig::prefix`]: empty for the demo, unique per lab in
//! tests so several labs run at once. Link names live inside the lab's own
//! namespaces, so they only need to be unique per lab.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

/// The underlay subnet's prefix length.
pub const UNDERLAY_PREFIX: u8 = 24;
/// The underlay router / the underlying host (the gateways' default gw).
pub const OUTSIDE_IP: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 1);
/// NB and SB listen on the master's underlay address.
pub const NB_PORT: u16 = 6641;
/// The SB database's TCP port.
pub const SB_PORT: u16 = 6642;
/// `mesos-local master` port on the master.
pub const MESOS_MASTER_PORT: u16 = 5050;
/// `mesos-local agent` port on each agent.
pub const MESOS_AGENT_PORT: u16 = 5051;
/// ZooKeeper's client port on the master, in HA mode.
pub const ZOOKEEPER_PORT: u16 = 2181;
/// The ZooKeeper path of the Mesos masters' group, in HA mode.
pub const ZK_MESOS_PATH: &str = "/mesos";
/// The ZooKeeper path of the framework's election and state, in HA mode
/// (`ovn-mesos run --zk zk://10.10.1.11:2181/ovn-mesos`).
pub const ZK_OVN_MESOS_PATH: &str = "/ovn-mesos";
/// The ZooKeeper session timeout of the masters and agents (and of the
/// framework instances the demo starts), in HA mode: how long a SIGKILLed
/// leader stays named.
pub const ZK_SESSION_TIMEOUT: &str = "2secs";
/// The physical network name of the gateways' localnet ports.
pub const PHYSNET: &str = "physnet";
/// The host NIC of a gateway (the seed's third interface, `enp0s9`).
pub const GATEWAY_NIC: &str = "eth1";

/// One machine of the seed's lab (a network namespace here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// `mesos-master`: OVN central, mesos master, coke's gateway.
    Master,
    /// `mesos-agent1`: an agent, pepsi's gateway.
    Agent1,
    /// `mesos-agent2`: an agent.
    Agent2,
    /// `outside`: the underlying host at 10.10.1.1 (no OVS).
    Outside,
}

impl Host {
    /// Every host, in start order.
    pub const ALL: [Host; 4] = [Host::Master, Host::Agent1, Host::Agent2, Host::Outside];
    /// The hosts that are OVN chassis.
    pub const CHASSIS: [Host; 3] = [Host::Master, Host::Agent1, Host::Agent2];
    /// The hosts that run a `mesos-local agent`.
    pub const AGENTS: [Host; 2] = [Host::Agent1, Host::Agent2];
    /// The hosts that run a `mesos-local master` in HA mode (in the
    /// default mode only [`Host::Master`] does).
    pub const MASTERS: [Host; 3] = Host::CHASSIS;

    /// The host name: the chassis `system-id` and the agent's `--hostname`.
    pub fn name(self) -> &'static str {
        match self {
            Host::Master => "mesos-master",
            Host::Agent1 => "mesos-agent1",
            Host::Agent2 => "mesos-agent2",
            Host::Outside => "outside",
        }
    }

    /// Short name: its directory in the lab dir and its underlay port `u-<short>`.
    pub fn short(self) -> &'static str {
        match self {
            Host::Master => "master",
            Host::Agent1 => "agent1",
            Host::Agent2 => "agent2",
            Host::Outside => "outside",
        }
    }

    /// Its address on the underlay (the geneve endpoint of a chassis).
    pub fn ip(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 10, 1, self.last_octet())
    }

    fn last_octet(self) -> u8 {
        match self {
            Host::Master => 11,
            Host::Agent1 => 13,
            Host::Agent2 => 15,
            Host::Outside => 1,
        }
    }

    /// The MAC of its underlay NIC `eth0` (also `br-phy`'s `hwaddr`).
    pub fn mac(self) -> String {
        format!("0a:10:10:01:00:{:02x}", self.last_octet())
    }

    /// The gateway address served over its [`GATEWAY_NIC`], if it has one.
    pub fn gateway_ip(self) -> Option<Ipv4Addr> {
        match self {
            Host::Master => Some(Ipv4Addr::new(10, 10, 1, 12)),
            Host::Agent1 => Some(Ipv4Addr::new(10, 10, 1, 14)),
            Host::Agent2 | Host::Outside => None,
        }
    }

    /// The MAC of its gateway NIC.
    pub fn gateway_mac(self) -> Option<String> {
        self.gateway_ip()
            .map(|ip| format!("0a:10:10:01:01:{:02x}", ip.octets()[3]))
    }

    /// Whether it runs OVS and ovn-controller.
    pub fn is_chassis(self) -> bool {
        self != Host::Outside
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Host {
    type Err = String;

    /// `mesos-master`, `master`, `mesos-agent1`, `agent1` ... `outside`.
    fn from_str(s: &str) -> Result<Host, String> {
        Host::ALL
            .into_iter()
            .find(|h| h.name() == s || h.short() == s)
            .ok_or_else(|| {
                format!("unknown host {s:?} (mesos-master, mesos-agent1, mesos-agent2, outside)")
            })
    }
}

/// What to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabConfig {
    /// Prefix of every namespace name ("" for the demo).
    pub prefix: String,
    /// The lab's directory (must not exist or be empty; the lab removes it
    /// on stop). None: a fresh `ovn-mesos-lab-XXXXXX` under the temp dir.
    pub dir: Option<PathBuf>,
    /// Start `mesos-local master` and agents.
    pub mesos: bool,
    /// High availability: ZooKeeper on 10.10.1.11:2181 in `mesos-master`,
    /// and (with [`LabConfig::mesos`]) one `mesos-local master --zk` in
    /// each of the three hosts, the agents following the leader.
    pub ha: bool,
    /// MTU of the underlay.
    pub underlay_mtu: u32,
    /// MTU of containers' `eth0` (at most `underlay_mtu - 58` with geneve).
    pub container_mtu: u32,
}

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

impl LabConfig {
    /// The demo's lab: the seed's namespace names, no prefix.
    pub fn demo(dir: PathBuf) -> LabConfig {
        LabConfig {
            prefix: String::new(),
            dir: Some(dir),
            ..LabConfig::for_test()
        }
    }

    /// A lab for one test: prefix `l<pid>-<n>-`, unique in this machine's
    /// running processes, and a temp dir.
    pub fn for_test() -> LabConfig {
        LabConfig {
            prefix: format!(
                "l{}-{}-",
                std::process::id(),
                NEXT_LAB.fetch_add(1, Ordering::Relaxed)
            ),
            dir: None,
            mesos: true,
            ha: false,
            underlay_mtu: 1500,
            container_mtu: 1400,
        }
    }

    /// The namespace of `host`.
    pub fn netns(&self, host: Host) -> String {
        format!("{}{}", self.prefix, host.name())
    }

    /// The underlay namespace (holding bridge `br0`).
    pub fn underlay_netns(&self) -> String {
        format!("{}underlay", self.prefix)
    }

    /// The namespace of container `name`.
    pub fn container_netns(&self, name: &str) -> String {
        format!("{}c-{name}", self.prefix)
    }

    /// Every fixed namespace of the lab, in creation order.
    pub fn all_netns(&self) -> Vec<String> {
        std::iter::once(self.underlay_netns())
            .chain(Host::ALL.into_iter().map(|h| self.netns(h)))
            .collect()
    }

    /// `10.10.1.11:2181`, ZooKeeper's client address in HA mode.
    pub fn zookeeper_address(&self) -> String {
        format!("{}:{ZOOKEEPER_PORT}", Host::Master.ip())
    }

    /// `zk://10.10.1.11:2181<path>` (`path` with or without its leading
    /// `/`), `None` unless HA.
    pub fn zk_url(&self, path: &str) -> Option<String> {
        self.ha.then(|| {
            format!(
                "zk://{}/{}",
                self.zookeeper_address(),
                path.trim_start_matches('/')
            )
        })
    }

    /// Refuses MTUs that break geneve (58 bytes of encapsulation).
    pub fn validate(&self) -> Result<(), String> {
        if self.container_mtu + 58 > self.underlay_mtu {
            return Err(format!(
                "container MTU {} + 58 bytes of geneve exceeds the underlay MTU {}",
                self.container_mtu, self.underlay_mtu
            ));
        }
        if self.prefix.contains('/') || self.prefix.contains(char::is_whitespace) {
            return Err(format!("bad namespace prefix {:?}", self.prefix));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_have_the_seed_addresses() {
        assert_eq!(Host::Master.ip(), Ipv4Addr::new(10, 10, 1, 11));
        assert_eq!(Host::Agent1.ip(), Ipv4Addr::new(10, 10, 1, 13));
        assert_eq!(Host::Agent2.ip(), Ipv4Addr::new(10, 10, 1, 15));
        assert_eq!(Host::Outside.ip(), OUTSIDE_IP);
        assert_eq!(
            Host::Master.gateway_ip(),
            Some(Ipv4Addr::new(10, 10, 1, 12))
        );
        assert_eq!(
            Host::Agent1.gateway_ip(),
            Some(Ipv4Addr::new(10, 10, 1, 14))
        );
        assert_eq!(Host::Agent2.gateway_ip(), None);
    }

    #[test]
    fn every_mac_is_distinct() {
        let mut macs: Vec<String> = Host::ALL.iter().map(|h| h.mac()).collect();
        macs.extend(Host::ALL.iter().filter_map(|h| h.gateway_mac()));
        let n = macs.len();
        macs.sort();
        macs.dedup();
        assert_eq!(macs.len(), n);
    }

    #[test]
    fn hosts_parse_from_long_and_short_names() {
        assert_eq!("mesos-agent2".parse(), Ok(Host::Agent2));
        assert_eq!("master".parse(), Ok(Host::Master));
        assert!("agent3".parse::<Host>().is_err());
    }

    #[test]
    fn test_labs_get_distinct_prefixes_and_the_demo_none() {
        let a = LabConfig::for_test();
        let b = LabConfig::for_test();
        assert_ne!(a.prefix, b.prefix);
        assert_eq!(
            LabConfig::demo("/tmp/x".into()).netns(Host::Master),
            "mesos-master"
        );
        assert!(a.netns(Host::Agent1).starts_with(&a.prefix));
        assert_eq!(a.all_netns().len(), 5);
    }

    #[test]
    fn only_an_ha_lab_has_zookeeper_urls() {
        let mut c = LabConfig::for_test();
        assert_eq!(c.zk_url(ZK_MESOS_PATH), None);
        c.ha = true;
        assert_eq!(
            c.zk_url(ZK_MESOS_PATH).as_deref(),
            Some("zk://10.10.1.11:2181/mesos")
        );
        assert_eq!(
            c.zk_url("ovn-mesos").as_deref(),
            Some("zk://10.10.1.11:2181/ovn-mesos")
        );
    }

    #[test]
    fn a_container_mtu_too_big_for_geneve_is_refused() {
        let mut c = LabConfig::for_test();
        assert!(c.validate().is_ok());
        c.container_mtu = 1450;
        assert!(c.validate().unwrap_err().contains("58 bytes"));
    }
}

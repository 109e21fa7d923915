//! The attachment contract between the framework and its executor: how a
//! task's connection to its logical switch port travels in the `TaskInfo`,
//! what the executor reports back, and how it names what it makes on the
//! host. The framework writes it (`ovn_mesos::launch::task_info`), the
//! executor reads it (`ovn_mesos_executor::attachment::Attachment`); both
//! take every key, default and name from here.
//!
//! # What the framework sends
//!
//! `TaskInfo.container.network_infos[0]`:
//!
//! | field                          | meaning                                        | required |
//! |--------------------------------|------------------------------------------------|----------|
//! | `ip_addresses[0].ip_address`   | the port's IPv4 address, `192.168.1.2`         | yes |
//! | label [`LOGICAL_PORT`]         | the logical switch port name (OVS `iface-id`)   | yes |
//! | label [`MAC`]                  | the port's MAC, `0a:58:c0:a8:01:02`             | yes |
//! | label [`PREFIX_LEN`]           | the subnet prefix length, `24`                  | yes |
//! | label [`GATEWAY`]              | default route via this IPv4 (in the subnet)     | no: no default route |
//! | label [`MTU`]                  | container MTU (underlay MTU - 58 for geneve)    | no: [`DEFAULT_MTU`] |
//! | label [`BRIDGE`]               | the integration bridge                          | no: [`DEFAULT_BRIDGE`] |
//! | label [`LOGICAL_SWITCH`]       | the logical switch's name (informational)       | no |
//! | label [`DNS_SEARCH`]           | the task's resolv.conf `search` line, `coke.ovn-mesos` | no: the host's `/etc/resolv.conf` stays |
//! | label [`DNS_SERVERS`]          | its nameservers, IPv4, comma-separated (3 at most) | no: the agent's upstream (below) |
//! | `name`                         | the network's name, [`NETWORK_NAME`]            | no |
//!
//! Labels live in the wrapper message: `{"labels":{"labels":[{"key":..,"value":..}]}}`.
//! The framework creates the logical switch port (`addresses` and
//! `port_security` = "MAC IP") before launching; the executor never writes NB.
//!
//! With [`DNS_SEARCH`] the task gets its own `/etc/resolv.conf` (bind-mounted
//! in a mount namespace of its own, as `ip netns exec` does with
//! `/etc/netns/<name>/resolv.conf`). ovn-controller answers queries for the
//! names of the logical switch's DNS records (`<service>.<tenant>.<domain>`)
//! itself, whatever address they are sent to, as long as they leave the
//! task through its veth; other queries go on to that address. So the
//! nameservers must not be loopback addresses: without [`DNS_SERVERS`] the
//! executor takes the agent's own IPv4 nameservers that are not loopback,
//! and when none is left, the task's gateway (service names still resolve,
//! other names do not). [`DNS_SERVERS`] without [`DNS_SEARCH`] is ignored.
//!
//! # What the executor reports
//!
//! TASK_RUNNING carries `container_status.network_infos[0]` with the task's
//! IP and the labels [`NETNS`] (the task's namespace) and [`LOGICAL_PORT`],
//! and `TaskStatus.labels` [`TASK_PID`] (the task process' pid).
//!
//! # What the executor makes on the host
//!
//! Per task ([`TaskNames`]): the network namespace `ovnm-<10 hex>`
//! (`/var/run/netns`, `ip netns list`) and the host end of its veth pair
//! `ovnm<10 hex>`, which is also the OVS port; the OVS interface carries
//! [`NETNS`] in its `external_ids`. With [`DNS_SEARCH`], the task's
//! resolv.conf in `/run/ovn-mesos/netns/<namespace>/`.

use std::fmt;
use std::ops::RangeInclusive;

/// Label: the logical switch port (OVS `external_ids:iface-id`).
pub const LOGICAL_PORT: &str = "ovn-mesos/logical-port";
/// Label: the port's MAC.
pub const MAC: &str = "ovn-mesos/mac";
/// Label: the subnet's prefix length.
pub const PREFIX_LEN: &str = "ovn-mesos/prefix-len";
/// Label: the default route's next hop.
pub const GATEWAY: &str = "ovn-mesos/gateway";
/// Label: the container MTU.
pub const MTU: &str = "ovn-mesos/mtu";
/// Label: the integration bridge.
pub const BRIDGE: &str = "ovn-mesos/bridge";
/// Label: the task's resolv.conf `search` line (its DNS domains, separated
/// by spaces), e.g. `coke.ovn-mesos`: `<tenant>.<DNS domain>`. Absent, the
/// task keeps the host's `/etc/resolv.conf`.
pub const DNS_SEARCH: &str = "ovn-mesos/dns-search";
/// Label: the task's nameservers, comma-separated IPv4 addresses (at most
/// [`MAX_DNS_SERVERS`] are used). Absent, the agent's own non-loopback
/// IPv4 nameservers. Read only with [`DNS_SEARCH`].
pub const DNS_SERVERS: &str = "ovn-mesos/dns-servers";
/// The most nameservers a resolv.conf takes (glibc's `MAXNS`).
pub const MAX_DNS_SERVERS: usize = 3;
/// Label of the task files naming the task's logical switch, passed on in
/// the attachment for information.
pub const LOGICAL_SWITCH: &str = "logical_switch";
/// Label the executor adds to `container_status.network_infos[]` on
/// TASK_RUNNING, and `external_ids` key of the task's OVS interface: the
/// task's network namespace.
pub const NETNS: &str = "ovn-mesos/netns";
/// `TaskStatus.labels` key of TASK_RUNNING: the pid of the task's process
/// (its process group leader).
pub const TASK_PID: &str = "ovn-mesos/task-pid";

/// `NetworkInfo.name` of the attachment.
pub const NETWORK_NAME: &str = "ovn";
/// MTU when the attachment gives none: safe under geneve on a 1500 underlay.
pub const DEFAULT_MTU: u32 = 1400;
/// The integration bridge when the attachment gives none.
pub const DEFAULT_BRIDGE: &str = "br-int";
/// The MTUs an attachment may ask for.
pub const MTU_RANGE: RangeInclusive<u32> = 68..=65_535;

/// Prefix of every namespace and host veth the executor makes for a task.
pub const NAME_PREFIX: &str = "ovnm";

/// The names of one task's namespace and host interface, derived from its
/// framework and task id. The same ids always give the same names, so a
/// later executor can find leftovers; ids differing anywhere give different
/// names with overwhelming probability (40 bits of a 64-bit FNV-1a hash).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskNames {
    /// Network namespace name (a file in `/var/run/netns`): `ovnm-<10 hex>`.
    pub netns: String,
    /// Host end of the veth pair (the OVS port and interface name):
    /// `ovnm<10 hex>`, 14 characters (Linux allows 15).
    pub host_veth: String,
}

impl TaskNames {
    /// The names for task `task` of framework `framework`.
    pub fn new(framework: &str, task: &str) -> TaskNames {
        let h = fnv1a(&[framework.as_bytes(), b"\0", task.as_bytes()]);
        let short = format!("{:010x}", h >> 24);
        TaskNames {
            netns: format!("{NAME_PREFIX}-{short}"),
            host_veth: format!("{NAME_PREFIX}{short}"),
        }
    }
}

impl fmt::Display for TaskNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.netns, self.host_veth)
    }
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_stable_short_and_prefixed() {
        let a = TaskNames::new("fw", "web-1");
        assert_eq!(a, TaskNames::new("fw", "web-1"));
        assert!(a.host_veth.len() <= 15, "{}", a.host_veth);
        assert!(a.netns.starts_with("ovnm-") && a.host_veth.starts_with("ovnm"));
        assert_eq!(a.netns[5..], a.host_veth[4..]);
        // Fixed: executors of different versions must agree on old leftovers.
        assert_eq!(a.netns, "ovnm-92252f5f56");
    }

    #[test]
    fn different_tasks_or_frameworks_get_different_names() {
        let mut seen = HashSet::new();
        for fw in ["fw-a", "fw-b"] {
            for i in 0..2000 {
                let n = TaskNames::new(fw, &format!("task-{i}"));
                assert!(seen.insert(n.host_veth), "collision at {fw}/{i}");
            }
        }
        assert_ne!(
            TaskNames::new("a", "bc"),
            TaskNames::new("ab", "c"),
            "the separator keeps id boundaries"
        );
    }
}

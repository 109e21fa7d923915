//! Names of a task's kernel objects, derived from its framework and task id:
//! the network namespace `ovnm-<10 hex>` (`ip netns list`) and the host end of
//! its veth pair `ovnm<10 hex>` (14 characters: Linux allows 15). The same ids
//! always give the same names, so a later executor can find leftovers; ids
//! differing anywhere give different names with overwhelming probability
//! (40 bits of a 64-bit FNV-1a hash).

use std::fmt;

use mesos_proto::v1::{FrameworkId, TaskId};

/// Prefix of every namespace and host veth the executor creates.
pub const PREFIX: &str = "ovnm";
/// The container end of the veth pair, inside the task's namespace.
pub const CONTAINER_IFACE: &str = "eth0";
/// Longest Linux interface name (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// The names of one task's namespace and host interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskNames {
    /// Network namespace name (a file in `/var/run/netns`).
    pub netns: String,
    /// Host end of the veth pair (the OVS port and interface name).
    pub host_veth: String,
}

impl TaskNames {
    /// The names for `task` of `framework`.
    pub fn new(framework: &FrameworkId, task: &TaskId) -> TaskNames {
        let h = fnv1a(&[
            framework.as_str().as_bytes(),
            b"\0",
            task.as_str().as_bytes(),
        ]);
        let short = format!("{:010x}", h >> 24);
        TaskNames {
            netns: format!("{PREFIX}-{short}"),
            host_veth: format!("{PREFIX}{short}"),
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
        let a = TaskNames::new(&FrameworkId::from("fw"), &TaskId::from("web-1"));
        let b = TaskNames::new(&FrameworkId::from("fw"), &TaskId::from("web-1"));
        assert_eq!(a, b);
        assert!(a.host_veth.len() <= MAX_IFNAME, "{}", a.host_veth);
        assert!(a.netns.starts_with("ovnm-") && a.host_veth.starts_with("ovnm"));
        assert_eq!(a.netns[5..], a.host_veth[4..]);
    }

    #[test]
    fn different_tasks_or_frameworks_get_different_names() {
        let mut seen = HashSet::new();
        for fw in ["fw-a", "fw-b"] {
            for i in 0..2000 {
                let n = TaskNames::new(&FrameworkId::from(fw), &TaskId::from(format!("task-{i}")));
                assert!(seen.insert(n.host_veth), "collision at {fw}/{i}");
            }
        }
        let x = TaskNames::new(&FrameworkId::from("a"), &TaskId::from("bc"));
        let y = TaskNames::new(&FrameworkId::from("ab"), &TaskId::from("c"));
        assert_ne!(x, y, "the separator keeps id boundaries");
    }
}

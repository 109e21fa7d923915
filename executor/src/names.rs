//! Names of a task's kernel objects: the network namespace `ovnm-<10 hex>`
//! and the host end of its veth pair `ovnm<10 hex>`, derived from the
//! framework and task id as the attachment contract says
//! ([`ovn::attachment::TaskNames`], re-exported here), and the container
//! end `eth0`.

pub use ovn::attachment::TaskNames;

/// Prefix of every namespace and host veth the executor creates.
pub const PREFIX: &str = ovn::attachment::NAME_PREFIX;
/// The container end of the veth pair, inside the task's namespace.
pub const CONTAINER_IFACE: &str = "eth0";
/// Longest Linux interface name (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_veth_name_fits_a_linux_interface_name() {
        for task in ["web-1", &"t".repeat(300)] {
            let names = TaskNames::new("a-framework-id-of-some-length", task);
            assert!(names.host_veth.len() <= MAX_IFNAME, "{names}");
            assert!(names.host_veth.starts_with(PREFIX), "{names}");
        }
    }
}

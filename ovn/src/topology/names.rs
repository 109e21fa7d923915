//! The OVN names of a tenant's rows, as ovn-mesos and ovn-kubernetes users
//! know them, so `ovn-nbctl show` reads naturally: tenant router `<tenant>`,
//! join switch `join_<tenant>`, gateway router `GR_<tenant>_<system-id>`,
//! external switch `ext_<tenant>_<system-id>`, network switch `<network>`, and
//! the port pairs `rtoj-/jtor-`, `rtoe-/etor-`, `rtos-/stor-`.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

/// The subnet of every tenant's join switch.
pub const JOIN_SUBNET: Ipv4Network =
    match Ipv4Network::new_checked(Ipv4Addr::new(100, 64, 0, 0), 16) {
        Some(n) => n,
        None => panic!("100.64.0.0/16 is a valid network"),
    };

/// The tenant router's address on its join switch (gateway routers route the
/// cluster subnet back to it).
pub const JOIN_ROUTER_IP: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);

/// Prefix of join switch names.
pub const JOIN_PREFIX: &str = "join_";
/// Prefix of external switch names.
pub const EXT_PREFIX: &str = "ext_";
/// Prefix of gateway router names.
pub const GR_PREFIX: &str = "GR_";

/// The tenant router: the tenant's name itself.
pub fn tenant_router(tenant: &str) -> String {
    tenant.to_owned()
}

/// `join_<tenant>`.
pub fn join_switch(tenant: &str) -> String {
    format!("{JOIN_PREFIX}{tenant}")
}

/// `rtoj-<router>`: a router's port on the join switch.
pub fn router_to_join(router: &str) -> String {
    format!("rtoj-{router}")
}

/// `jtor-<router>`: the join switch's port towards a router.
pub fn join_to_router(router: &str) -> String {
    format!("jtor-{router}")
}

/// `GR_<tenant>_<system-id>`.
pub fn gateway_router(tenant: &str, system_id: &str) -> String {
    format!("{GR_PREFIX}{tenant}_{system_id}")
}

/// `ext_<tenant>_<system-id>`.
pub fn external_switch(tenant: &str, system_id: &str) -> String {
    format!("{EXT_PREFIX}{tenant}_{system_id}")
}

/// `rtoe-<gateway router>`: the gateway router's port on its external switch.
pub fn router_to_external(router: &str) -> String {
    format!("rtoe-{router}")
}

/// `etor-<gateway router>`: the external switch's port towards the router.
pub fn external_to_router(router: &str) -> String {
    format!("etor-{router}")
}

/// `lnet-<external switch>`: the external switch's localnet port.
pub fn localnet_port(external_switch: &str) -> String {
    format!("lnet-{external_switch}")
}

/// `<iface>_<system-id>`: the external switch's port for a physical interface
/// plugged into `br-int` (the original `--physical-interface` mode).
pub fn physical_port(iface: &str, system_id: &str) -> String {
    format!("{iface}_{system_id}")
}

/// `rtos-<network>`: the tenant router's port on a network switch.
pub fn router_to_switch(network: &str) -> String {
    format!("rtos-{network}")
}

/// `stor-<network>`: the network switch's port towards the tenant router.
pub fn switch_to_router(network: &str) -> String {
    format!("stor-{network}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_names_come_out_as_users_know_them() {
        assert_eq!(tenant_router("coke"), "coke");
        assert_eq!(join_switch("coke"), "join_coke");
        let gr = gateway_router("coke", "mesos-master");
        assert_eq!(gr, "GR_coke_mesos-master");
        assert_eq!(router_to_join(&gr), "rtoj-GR_coke_mesos-master");
        assert_eq!(join_to_router(&gr), "jtor-GR_coke_mesos-master");
        assert_eq!(router_to_external(&gr), "rtoe-GR_coke_mesos-master");
        assert_eq!(external_to_router(&gr), "etor-GR_coke_mesos-master");
        let ext = external_switch("coke", "mesos-master");
        assert_eq!(ext, "ext_coke_mesos-master");
        assert_eq!(localnet_port(&ext), "lnet-ext_coke_mesos-master");
        assert_eq!(
            physical_port("enp0s9", "mesos-master"),
            "enp0s9_mesos-master"
        );
        assert_eq!(router_to_switch("coke1"), "rtos-coke1");
        assert_eq!(switch_to_router("coke1"), "stor-coke1");
    }

    #[test]
    fn the_join_subnet_holds_the_tenant_router_address() {
        assert_eq!(JOIN_SUBNET.to_string(), "100.64.0.0/16");
        assert!(JOIN_SUBNET.contains(JOIN_ROUTER_IP));
    }
}

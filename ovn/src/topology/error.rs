//! Errors of the topology commands. Every variant is a one-line message naming
//! the culprit (the tenant, network, subnet or row) and is raised before
//! anything is written, except [`TopologyError::Ovsdb`].

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use crate::ipam::IpamError;
use crate::ovsdb;
use crate::vswitch::MappingError;

/// Why a topology command refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// A tenant, network, system-id, physnet, bridge or interface name is not
    /// OVN-safe (`[A-Za-z0-9_.-]`, not starting with `-`, not too long) or is reserved.
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: String,
    },

    /// A subnet or address is unusable (host bits set, too small, reserved range ...).
    #[error("invalid {what} {value}: {reason}")]
    InvalidSubnet {
        what: &'static str,
        value: String,
        reason: String,
    },

    /// The tenant router does not exist: `tenant-init` has not been run.
    #[error("tenant {tenant} does not exist (run tenant-init first)")]
    UnknownTenant { tenant: String },

    /// A network's subnet is not inside the tenant's cluster subnet.
    #[error("subnet {subnet} of network {network} is outside cluster subnet {cluster} of tenant {tenant}")]
    SubnetOutsideCluster {
        tenant: String,
        network: String,
        subnet: Ipv4Network,
        cluster: Ipv4Network,
    },

    /// A network's subnet overlaps another network of the same tenant.
    #[error("subnet {subnet} of network {network} overlaps network {other} ({other_subnet}) of tenant {tenant}")]
    SubnetOverlap {
        tenant: String,
        network: String,
        subnet: Ipv4Network,
        other: String,
        other_subnet: String,
    },

    /// network-init of an existing network with another subnet. Refused
    /// always: moving a network would leave its tasks with addresses of the
    /// old subnet and no router.
    #[error("network {network} of tenant {tenant} has subnet {current}, not {given}: a network's subnet cannot change (delete the network, then create it again)")]
    SubnetChange {
        tenant: String,
        network: String,
        current: Ipv4Network,
        given: Ipv4Network,
    },

    /// A given cluster subnet differs from the one stored on the tenant router.
    #[error("cluster subnet {given} differs from {stored}, the cluster subnet of tenant {tenant}")]
    ClusterSubnetMismatch {
        tenant: String,
        stored: Ipv4Network,
        given: Ipv4Network,
    },

    /// A given service subnet differs from the one stored on the tenant router.
    #[error("service subnet {given} differs from {stored}, the service subnet of tenant {tenant} (a service subnet cannot change: its services keep their addresses)")]
    ServiceSubnetMismatch {
        tenant: String,
        stored: Ipv4Network,
        given: Ipv4Network,
    },

    /// The service subnet overlaps another subnet of the tenant.
    #[error("service subnet {service} of tenant {tenant} overlaps {what} {other}")]
    ServiceSubnetOverlap {
        tenant: String,
        service: Ipv4Network,
        what: String,
        other: Ipv4Network,
    },

    /// gateway-init without a cluster subnet for a tenant that has none stored.
    #[error("tenant {tenant} has no cluster subnet: pass one to tenant-init or gateway-init")]
    NoClusterSubnet { tenant: String },

    /// The default gateway is not a host of the physical subnet.
    #[error("default gateway {default_gw} is not a host of physical network {physical}")]
    GatewayNotInSubnet {
        physical: Ipv4Network,
        default_gw: Ipv4Addr,
    },

    /// A row with the name exists and belongs to another tenant or object.
    #[error("{table} {name} already exists and belongs to {owner}")]
    NameTaken {
        table: &'static str,
        name: String,
        owner: String,
    },

    /// A parent row the command attaches to is missing.
    #[error("{table} {name} does not exist")]
    Missing { table: &'static str, name: String },

    /// The local OVS has no `external_ids:system-id` and none was given.
    #[error(
        "no system-id: the local Open_vSwitch has no external_ids:system-id and none was given"
    )]
    NoSystemId,

    /// The local OVS database has no `Open_vSwitch` row (not initialised).
    #[error("the local Open_vSwitch database has no Open_vSwitch row (run ovs-vsctl init)")]
    NoOpenVswitchRow,

    /// network-delete while task ports are attached, without `force`.
    #[error("network {network} still has {count} task port(s) ({}); stop the tasks or force the delete", examples.join(", "))]
    NetworkInUse {
        network: String,
        count: usize,
        examples: Vec<String>,
    },

    /// tenant-delete while networks or gateways exist, without `cascade`.
    #[error("tenant {tenant} still has {}; delete them first or cascade", in_use.join(" and "))]
    TenantInUse { tenant: String, in_use: Vec<String> },

    /// The physical interface is plugged into another bridge than the one wanted.
    #[error("interface {iface} is already a port of bridge {bridge}")]
    InterfaceInUse { iface: String, bridge: String },

    /// The join subnet has no address left for another gateway router.
    #[error("no join address left for a gateway of tenant {tenant}")]
    JoinFull {
        tenant: String,
        #[source]
        source: IpamError,
    },

    /// `ovn-bridge-mappings` cannot take the mapping.
    #[error(transparent)]
    Mapping(#[from] MappingError),

    /// The client does not monitor a table the command reads (see `monitor_nb`).
    #[error("the OVSDB client does not monitor {}", tables.join(", "))]
    NotMonitored { tables: Vec<String> },

    /// Talking to the NB or the local OVS database failed.
    #[error(transparent)]
    Ovsdb(#[from] ovsdb::Error),
}

//! Ownership of NB rows: every row ovn-mesos creates carries these
//! `external_ids`, so a repair pass can tell ours from an operator's and find
//! what no desired object owns any more (stale = owned but not desired).
//!
//! `ovn-nbctl find Logical_Switch external_ids:ovn-mesos/tenant=coke` lists a
//! tenant's switches by hand.

use std::collections::BTreeMap;
use std::fmt;

/// `external_ids` key marking a row as created by ovn-mesos; value [`OWNER_VALUE`].
pub const OWNER: &str = "ovn-mesos/owner";
/// The value of [`OWNER`].
pub const OWNER_VALUE: &str = "ovn-mesos";
/// What the row is, one of [`Kind`].
pub const KIND: &str = "ovn-mesos/kind";
/// The tenant the row belongs to.
pub const TENANT: &str = "ovn-mesos/tenant";
/// The network (logical switch) the row belongs to.
pub const NETWORK: &str = "ovn-mesos/network";
/// The chassis (OVS `system-id`) a gateway row is pinned to.
pub const CHASSIS: &str = "ovn-mesos/chassis";
/// The service a load balancer or task port belongs to.
pub const SERVICE: &str = "ovn-mesos/service";
/// The Mesos task id a task port belongs to.
pub const TASK: &str = "ovn-mesos/task";
/// The Mesos agent a task port's task was launched on (its agent id).
pub const AGENT: &str = "ovn-mesos/agent-id";
/// That agent's hostname.
pub const HOSTNAME: &str = "ovn-mesos/hostname";
/// The version of its service's definition a task port's task runs (the
/// framework's definition version string), so that a scheduler with no
/// record of the task (a new leader, a port adopted at start) knows
/// whether a deployment still has to replace it.
pub const VERSION: &str = "ovn-mesos/version";
/// The Mesos framework id that owns a task port.
pub const FRAMEWORK: &str = "ovn-mesos/framework";
/// The cluster subnet of a tenant (on its tenant router).
pub const CLUSTER_SUBNET: &str = "ovn-mesos/cluster-subnet";
/// The service subnet of a tenant, where its services' east-west VIPs
/// come from (on its tenant router).
pub const SERVICE_SUBNET: &str = "ovn-mesos/service-subnet";

/// The east-west VIP address (cluster IP) of a service, on its load
/// balancer: allocated once from the tenant's service subnet and kept.
pub const CLUSTER_IP: &str = "ovn-mesos/cluster-ip";

/// The kinds of rows ovn-mesos creates (value of [`KIND`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    TenantRouter,
    JoinSwitch,
    GatewayRouter,
    ExternalSwitch,
    NetworkSwitch,
    RouterPort,
    SwitchPort,
    Route,
    Nat,
    LoadBalancer,
    TaskPort,
    /// A tenant's `DNS` row: its services' names.
    Dns,
    /// A service's `Port_Group`: its tasks' ports, for its policy.
    PortGroup,
    /// An `ACL` of a service's policy.
    Acl,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::TenantRouter,
        Kind::JoinSwitch,
        Kind::GatewayRouter,
        Kind::ExternalSwitch,
        Kind::NetworkSwitch,
        Kind::RouterPort,
        Kind::SwitchPort,
        Kind::Route,
        Kind::Nat,
        Kind::LoadBalancer,
        Kind::TaskPort,
        Kind::Dns,
        Kind::PortGroup,
        Kind::Acl,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TenantRouter => "tenant-router",
            Kind::JoinSwitch => "join-switch",
            Kind::GatewayRouter => "gateway-router",
            Kind::ExternalSwitch => "external-switch",
            Kind::NetworkSwitch => "network-switch",
            Kind::RouterPort => "router-port",
            Kind::SwitchPort => "switch-port",
            Kind::Route => "route",
            Kind::Nat => "nat",
            Kind::LoadBalancer => "load-balancer",
            Kind::TaskPort => "task-port",
            Kind::Dns => "dns",
            Kind::PortGroup => "port-group",
            Kind::Acl => "acl",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds the ownership `external_ids` of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    ids: BTreeMap<String, String>,
}

impl Owner {
    /// A row of `kind`, owned by ovn-mesos.
    pub fn new(kind: Kind) -> Self {
        let mut ids = BTreeMap::new();
        ids.insert(OWNER.to_owned(), OWNER_VALUE.to_owned());
        ids.insert(KIND.to_owned(), kind.as_str().to_owned());
        Owner { ids }
    }

    /// Adds another key (e.g. [`TENANT`]).
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.ids.insert(key.to_owned(), value.into());
        self
    }

    pub fn tenant(self, tenant: impl Into<String>) -> Self {
        self.with(TENANT, tenant)
    }

    /// The `external_ids` map.
    pub fn into_map(self) -> BTreeMap<String, String> {
        self.ids
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.ids
    }
}

/// True when `external_ids` marks the row as ovn-mesos' own.
pub fn is_owned(external_ids: &BTreeMap<String, String>) -> bool {
    external_ids.get(OWNER).map(String::as_str) == Some(OWNER_VALUE)
}

/// The kind of an owned row, if any.
pub fn kind_of(external_ids: &BTreeMap<String, String>) -> Option<Kind> {
    if !is_owned(external_ids) {
        return None;
    }
    external_ids.get(KIND).and_then(|k| Kind::parse(k))
}

/// True when the row is owned, of `kind`, and of `tenant`.
pub fn is_tenant_row(external_ids: &BTreeMap<String, String>, kind: Kind, tenant: &str) -> bool {
    kind_of(external_ids) == Some(kind)
        && external_ids.get(TENANT).map(String::as_str) == Some(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_map_names_owner_kind_and_extra_keys() {
        let ids = Owner::new(Kind::GatewayRouter)
            .tenant("coke")
            .with(CHASSIS, "mesos-master")
            .into_map();
        assert!(is_owned(&ids));
        assert_eq!(kind_of(&ids), Some(Kind::GatewayRouter));
        assert!(is_tenant_row(&ids, Kind::GatewayRouter, "coke"));
        assert!(!is_tenant_row(&ids, Kind::GatewayRouter, "pepsi"));
        assert_eq!(ids.get(CHASSIS).map(String::as_str), Some("mesos-master"));
    }

    #[test]
    fn rows_without_the_owner_key_are_not_ours() {
        let mut ids = BTreeMap::new();
        ids.insert(KIND.to_owned(), "tenant-router".to_owned());
        assert!(!is_owned(&ids));
        assert_eq!(kind_of(&ids), None);
    }

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("bogus"), None);
    }
}

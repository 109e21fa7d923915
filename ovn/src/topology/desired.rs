//! The desired state a topology command computes: the routers and switches
//! it manages (or only attaches children to), their ports, routes and NAT
//! rules, and the [`Scope`] of owned rows the command answers for, which
//! decides what is stale (owned, in scope, not desired) and gets deleted.

use std::collections::BTreeMap;

use crate::nb::{
    LogicalRouter, LogicalRouterPort, LogicalRouterStaticRoute, LogicalSwitch, LogicalSwitchPort,
    Nat,
};
use crate::owner::{self, Kind};

/// How a scope matches one ownership key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Any value, or none.
    Any,
    /// The key must be absent.
    Absent,
    /// The key must have this value.
    Is(String),
}

impl Part {
    fn matches(&self, value: Option<&String>) -> bool {
        match self {
            Part::Any => true,
            Part::Absent => value.is_none(),
            Part::Is(want) => value == Some(want),
        }
    }
}

/// The kinds of rows the topology commands create (task ports and load
/// balancers belong to the framework and the services code).
pub const TOPOLOGY_KINDS: [Kind; 9] = [
    Kind::TenantRouter,
    Kind::JoinSwitch,
    Kind::GatewayRouter,
    Kind::ExternalSwitch,
    Kind::NetworkSwitch,
    Kind::RouterPort,
    Kind::SwitchPort,
    Kind::Route,
    Kind::Nat,
];

/// The owned rows one command answers for: a tenant's own rows
/// (chassis and network absent), one gateway's (chassis set), one network's
/// (network set), or all of a tenant's (both `Any`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub tenant: String,
    pub chassis: Part,
    pub network: Part,
}

impl Scope {
    /// True when the row with these `external_ids` is a topology row of this scope.
    pub fn covers(&self, ids: &BTreeMap<String, String>) -> bool {
        owner::kind_of(ids).is_some_and(|k| TOPOLOGY_KINDS.contains(&k))
            && ids.get(owner::TENANT) == Some(&self.tenant)
            && self.chassis.matches(ids.get(owner::CHASSIS))
            && self.network.matches(ids.get(owner::NETWORK))
    }
}

/// A router the command manages (`row` set: created or updated to match) or
/// only attaches children to (`row` None: it must exist, owned by the tenant
/// as `kind`).
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredRouter {
    pub name: String,
    pub kind: Kind,
    pub row: Option<LogicalRouter>,
    pub ports: Vec<LogicalRouterPort>,
    pub routes: Vec<LogicalRouterStaticRoute>,
    pub nats: Vec<Nat>,
}

/// A switch the command manages (`row` set) or only attaches ports to.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSwitch {
    pub name: String,
    pub kind: Kind,
    pub row: Option<LogicalSwitch>,
    pub ports: Vec<LogicalSwitchPort>,
}

/// Everything one command wants, within its scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub scope: Scope,
    pub routers: Vec<DesiredRouter>,
    pub switches: Vec<DesiredSwitch>,
}

impl Desired {
    /// Nothing desired: planning it deletes every row of `scope` (the `*-delete` commands).
    pub fn nothing(scope: Scope) -> Desired {
        Desired {
            scope,
            routers: Vec::new(),
            switches: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::owner::Owner;

    fn scope(chassis: Part, network: Part) -> Scope {
        Scope {
            tenant: "coke".into(),
            chassis,
            network,
        }
    }

    #[test]
    fn scopes_match_by_tenant_chassis_and_network() {
        let tenant_row = Owner::new(Kind::RouterPort).tenant("coke").into_map();
        let gw_row = Owner::new(Kind::Route)
            .tenant("coke")
            .with(owner::CHASSIS, "m")
            .into_map();
        let net_row = Owner::new(Kind::NetworkSwitch)
            .tenant("coke")
            .with(owner::NETWORK, "coke1")
            .into_map();
        let tenant = scope(Part::Absent, Part::Absent);
        let gateway = scope(Part::Is("m".into()), Part::Absent);
        let network = scope(Part::Absent, Part::Is("coke1".into()));
        let all = scope(Part::Any, Part::Any);
        let table = [
            (&tenant, [true, false, false]),
            (&gateway, [false, true, false]),
            (&network, [false, false, true]),
            (&all, [true, true, true]),
        ];
        for (s, want) in table {
            let got = [s.covers(&tenant_row), s.covers(&gw_row), s.covers(&net_row)];
            assert_eq!(got, want, "{s:?}");
        }
    }

    #[test]
    fn task_ports_other_tenants_and_foreign_rows_are_never_covered() {
        let all = scope(Part::Any, Part::Any);
        let task = Owner::new(Kind::TaskPort)
            .tenant("coke")
            .with(owner::NETWORK, "coke1")
            .into_map();
        let pepsi = Owner::new(Kind::NetworkSwitch).tenant("pepsi").into_map();
        let mut foreign = BTreeMap::new();
        foreign.insert(owner::TENANT.to_owned(), "coke".to_owned());
        assert!(!all.covers(&task));
        assert!(!all.covers(&pepsi));
        assert!(!all.covers(&foreign));
    }
}

//! Per-service network policy, compiled the way ovn-kubernetes compiles a
//! NetworkPolicy: one `Port_Group` per service holding its tasks' ports
//! (which gives OVN's automatic address set `$<port group>_ip4`), and,
//! for a service with a [`Policy`], two `to-lport` ACLs on that group:
//!
//! ```text
//! 1000 outport == @ovnm_coke_web_1a2b3c4d && ip4                                    drop
//! 1001 outport == @ovnm_coke_web_1a2b3c4d && ip4 && ip4.src == {$ovnm_coke_api_…_ip4, 100.64.0.0/16, 10.96.0.1}  allow-related
//! ```
//!
//! So a service with a policy is default-deny for new inbound IPv4
//! connections; ARP is not IPv4 and passes; replies to the service's own
//! connections pass (OVN lets established and related traffic through once
//! a switch has a stateful ACL); OVN's load balancer health probes bypass
//! ACLs. OVN 23.03 has no ACL tiers: both rules live in the one tier there
//! is, at priorities 1000 and 1001, and an operator's own ACLs of higher
//! priority on the same ports win over them.
//!
//! The peers of [`Policy`]:
//! * a service of the same tenant: its port group's address set, so its
//!   tasks come and go without any ACL being rewritten;
//! * `tenant`: the tenant's cluster subnet (every network of the tenant);
//! * `external`: the tenant's join subnet, 100.64.0.0/16: clients through a
//!   gateway VIP arrive from the gateway router's join address
//!   (`lb_force_snat_ip`);
//! * CIDRs, as given.
//!
//! The service's own VIP hair-pin source ([`crate::services::hairpin_ip`])
//! is always allowed: a backend reaching its own service.
//!
//! Every service the framework runs has a port group, with or without a
//! policy, so any service can be named as a peer. Task ports join their
//! service's group in the transaction that creates them
//! ([`crate::ports::commit_task_ports_batch`]): a new task is covered
//! from its first packet. [`ensure_port_group`] adds ports that are
//! missing (a group made after its tasks) and never removes a port of the
//! service (ports leave when they are deleted: `Port_Group.ports` holds
//! weak references).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use ipnetwork::Ipv4Network;
use tracing::{info, info_span, Instrument};
use uuid::Uuid;

use crate::nb::acl::{create_or_update_acl_ops, delete_acl_ops, insert_acls_ops};
use crate::nb::port_group::{
    add_ports_ops, create_or_update_port_group_ops, delete_port_group_ops, port_group_name,
    remove_ports_ops,
};
use crate::nb::{guard_name_absent, list, Acl, LogicalSwitchPort, PortGroup, Table, NB_DB};
use crate::ovsdb::{Cache, Client, Datum, Txn};
use crate::owner::{self, Kind, Owner};
use crate::services::{hairpin_ip, ServiceKey};
use crate::topology::names::JOIN_SUBNET;
use crate::topology::{tenant_cluster_subnet, tenant_service_subnet, DEFAULT_SERVICE_SUBNET};

/// `external_ids` key of a policy ACL naming its rule: [`DEFAULT_DENY`] or
/// [`ALLOW`].
pub const RULE: &str = "ovn-mesos/rule";
/// The drop rule.
pub const DEFAULT_DENY: &str = "default-deny";
/// The allow-related rule.
pub const ALLOW: &str = "allow";
/// The drop rule's priority.
pub const DENY_PRIORITY: i64 = 1000;
/// The allow rule's priority.
pub const ALLOW_PRIORITY: i64 = 1001;

/// Who may open connections to a service's tasks (the definition label
/// `ovn-mesos/allow-from`, e.g. `api,external,10.10.1.0/24`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Services of the same tenant.
    pub services: BTreeSet<String>,
    /// Any task of the tenant.
    pub tenant: bool,
    /// Clients through the tenant's gateways.
    pub external: bool,
    pub cidrs: BTreeSet<Ipv4Network>,
}

impl FromStr for Policy {
    type Err = String;

    /// Comma-separated entries: `tenant`, `external`, an IPv4 CIDR (or
    /// address), or a service name of the tenant. Empty is refused: a
    /// service that no one may reach is a mistake, not a policy.
    fn from_str(s: &str) -> Result<Policy, String> {
        let mut policy = Policy::default();
        for entry in s.split(',').map(str::trim) {
            match entry {
                "" => return Err(format!("empty entry in {s:?}")),
                "tenant" => policy.tenant = true,
                "external" => policy.external = true,
                e if e.starts_with(|c: char| c.is_ascii_digit()) => {
                    let net: Ipv4Network = e
                        .parse()
                        .map_err(|_| format!("{e:?} is not an IPv4 CIDR"))?;
                    policy.cidrs.insert(net);
                }
                e => {
                    crate::topology::validate::check_name("service name", e)
                        .map_err(|err| err.to_string())?;
                    policy.services.insert(e.to_owned());
                }
            }
        }
        Ok(policy)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self.services.iter().cloned().collect();
        if self.tenant {
            parts.push("tenant".into());
        }
        if self.external {
            parts.push("external".into());
        }
        parts.extend(self.cidrs.iter().map(ToString::to_string));
        f.write_str(&parts.join(","))
    }
}

/// A service's port group: its tasks' ports and its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortGroupSpec {
    pub tenant: String,
    pub service: String,
    /// Its tasks' logical switch port names (those not created yet are
    /// skipped; they join when they are created).
    pub ports: BTreeSet<String>,
    /// `None`: anything may connect (no ACL).
    pub policy: Option<Policy>,
}

impl PortGroupSpec {
    pub fn key(&self) -> ServiceKey {
        ServiceKey::new(&self.tenant, &self.service)
    }
}

/// Why a port group could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The NB transaction failed (see [`crate::ovsdb::Error::is_retryable`]).
    #[error("NB transaction for the port group of service {service} failed")]
    Ovsdb {
        service: String,
        #[source]
        source: crate::ovsdb::Error,
    },
}

/// The port group of a service, by its name.
pub fn find_port_group(cache: &Cache, tenant: &str, service: &str) -> Option<PortGroup> {
    crate::nb::find_by_name::<PortGroup>(cache, &port_group_name(tenant, service))
}

/// The addresses `policy` allows, as they go into an ACL's set: peers'
/// address sets (only those whose port group exists), the tenant's
/// cluster subnet, the join subnet, CIDRs, and the hair-pin source.
fn sources(cache: &Cache, tenant: &str, policy: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    for peer in &policy.services {
        let name = port_group_name(tenant, peer);
        if crate::nb::find_by_name::<PortGroup>(cache, &name).is_some() {
            out.push(format!("${name}_ip4"));
        }
    }
    if policy.tenant {
        match tenant_cluster_subnet(cache, tenant) {
            Some(net) => out.push(net.to_string()),
            None => {
                // no stored cluster subnet: every network's subnet
                for n in crate::topology::list_networks(cache, Some(tenant)) {
                    out.push(n.subnet.to_string());
                }
            }
        }
    }
    if policy.external {
        out.push(JOIN_SUBNET.to_string());
    }
    out.extend(policy.cidrs.iter().map(ToString::to_string));
    let subnet = tenant_service_subnet(cache, tenant).unwrap_or(DEFAULT_SERVICE_SUBNET);
    out.push(hairpin_ip(subnet).to_string());
    out
}

/// The ACLs of `spec` (uuids fresh), none without a policy.
pub(crate) fn desired_acls(cache: &Cache, spec: &PortGroupSpec) -> Vec<Acl> {
    let Some(policy) = &spec.policy else {
        return Vec::new();
    };
    let pg = port_group_name(&spec.tenant, &spec.service);
    let ids = |rule: &str| {
        Owner::new(Kind::Acl)
            .tenant(&spec.tenant)
            .with(owner::SERVICE, &spec.service)
            .with(RULE, rule)
            .into_map()
    };
    let acl = |rule: &str, priority, r#match: String, action: &str| Acl {
        uuid: Uuid::new_v4(),
        name: None,
        direction: "to-lport".into(),
        priority,
        r#match,
        action: action.into(),
        log: false,
        severity: None,
        external_ids: ids(rule),
    };
    vec![
        acl(
            DEFAULT_DENY,
            DENY_PRIORITY,
            format!("outport == @{pg} && ip4"),
            "drop",
        ),
        acl(
            ALLOW,
            ALLOW_PRIORITY,
            format!(
                "outport == @{pg} && ip4 && ip4.src == {{{}}}",
                sources(cache, &spec.tenant, policy).join(", ")
            ),
            "allow-related",
        ),
    ]
}

/// Appends what takes the NB's port group of `spec` to it: the group
/// (created with a guard on its name), its missing ports, its ACLs
/// (updated, added or removed by rule). Returns whether anything was
/// appended.
pub(crate) fn plan(cache: &Cache, spec: &PortGroupSpec, txn: &mut Txn) -> bool {
    let before = txn.len();
    let name = port_group_name(&spec.tenant, &spec.service);
    let existing = crate::nb::find_by_name::<PortGroup>(cache, &name);
    let mut acls = desired_acls(cache, spec);
    let ports: Vec<Uuid> = spec
        .ports
        .iter()
        .filter_map(|p| {
            cache
                .find(LogicalSwitchPort::TABLE, "name", &Datum::string(p.as_str()))
                .first()
                .map(|(u, _)| *u)
        })
        .collect();
    let external_ids = Owner::new(Kind::PortGroup)
        .tenant(&spec.tenant)
        .with(owner::SERVICE, &spec.service)
        .into_map();
    match existing {
        None => {
            guard_name_absent(txn, PortGroup::TABLE, &name);
            insert_acls_ops(txn, &acls);
            let row = PortGroup {
                uuid: Uuid::new_v4(),
                name,
                ports,
                acls: acls.iter().map(|a| a.uuid).collect(),
                external_ids,
            };
            create_or_update_port_group_ops(txn, None, &row);
        }
        Some(pg) => {
            let desired = PortGroup {
                external_ids,
                ..pg.clone()
            };
            create_or_update_port_group_ops(txn, Some(&pg), &desired);
            let have: BTreeSet<Uuid> = pg.ports.iter().copied().collect();
            let missing: Vec<Uuid> = ports
                .iter()
                .filter(|u| !have.contains(u))
                .copied()
                .collect();
            add_ports_ops(txn, pg.uuid, &missing);
            // ports of another service (moved by hand) leave; the
            // service's own stay until they are deleted
            let foreign: Vec<Uuid> = pg
                .ports
                .iter()
                .filter(|u| {
                    crate::nb::get::<LogicalSwitchPort>(cache, u)
                        .is_some_and(|p| p.external_ids.get(owner::SERVICE) != Some(&spec.service))
                })
                .copied()
                .collect();
            remove_ports_ops(txn, pg.uuid, &foreign);
            let mut old: BTreeMap<String, Acl> = BTreeMap::new();
            let mut stale = Vec::new();
            for acl in pg
                .acls
                .iter()
                .filter_map(|u| crate::nb::get::<Acl>(cache, u))
            {
                match acl.external_ids.get(RULE) {
                    Some(rule) if !old.contains_key(rule) => {
                        old.insert(rule.clone(), acl);
                    }
                    _ => stale.push(acl.uuid),
                }
            }
            for acl in &mut acls {
                let have = old.remove(&acl.external_ids[RULE]);
                if let Some(h) = &have {
                    acl.uuid = h.uuid;
                }
                create_or_update_acl_ops(txn, pg.uuid, have.as_ref(), acl);
            }
            stale.extend(old.into_values().map(|a| a.uuid));
            delete_acl_ops(txn, pg.uuid, &stale);
        }
    }
    txn.len() > before
}

/// Creates or updates the port group of `spec` in one transaction (nothing
/// is sent when it matches). Returns true when it wrote anything.
pub async fn ensure_port_group(nb: &Client, spec: &PortGroupSpec) -> Result<bool, PolicyError> {
    let key = spec.key();
    let span = info_span!("ensure_port_group", service = %key);
    async {
        let changed = nb
            .ensure(&format!("port group of service {key}"), |cache| {
                let mut txn = Txn::new(NB_DB);
                let changed = plan(cache, spec, &mut txn);
                Ok::<_, PolicyError>((changed.then_some(txn), changed))
            })
            .await
            .map_err(|source| PolicyError::Ovsdb {
                service: key.to_string(),
                source,
            })??;
        if changed {
            info!(
                ports = spec.ports.len(),
                policy = %spec.policy.as_ref().map(ToString::to_string).unwrap_or_else(|| "none".into()),
                "service port group written"
            );
        }
        Ok(changed)
    }
    .instrument(span)
    .await
}

/// The owned port groups, with their services.
pub fn list_port_groups(cache: &Cache) -> Vec<(ServiceKey, PortGroup)> {
    list::<PortGroup>(cache)
        .into_iter()
        .filter(|pg| owner::kind_of(&pg.external_ids) == Some(Kind::PortGroup))
        .map(|pg| {
            let get = |k: &str| pg.external_ids.get(k).cloned().unwrap_or_default();
            (ServiceKey::new(get(owner::TENANT), get(owner::SERVICE)), pg)
        })
        .collect()
}

/// Deletes the service's port group (and with it its ACLs) in one
/// transaction. Returns false when there was none.
pub async fn delete_port_group(
    nb: &Client,
    tenant: &str,
    service: &str,
) -> Result<bool, PolicyError> {
    let key = ServiceKey::new(tenant, service);
    let deleted = nb
        .ensure(&format!("delete port group of service {key}"), |cache| {
            let found: Vec<Uuid> = list_port_groups(cache)
                .into_iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, pg)| pg.uuid)
                .collect();
            if found.is_empty() {
                return Ok::<_, PolicyError>((None, false));
            }
            let mut txn = Txn::new(NB_DB);
            for pg in found {
                delete_port_group_ops(&mut txn, pg);
            }
            Ok((Some(txn), true))
        })
        .await
        .map_err(|source| PolicyError::Ovsdb {
            service: key.to_string(),
            source,
        })??;
    if deleted {
        info!(service = %key, "service port group deleted");
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_reads_services_tenant_external_and_cidrs() {
        let p: Policy = "api, external,10.10.1.0/24,tenant,db,10.10.1.1"
            .parse()
            .unwrap();
        assert_eq!(
            p.services,
            ["api".to_owned(), "db".to_owned()].into_iter().collect()
        );
        assert!(p.tenant && p.external);
        assert_eq!(p.cidrs.len(), 2);
        assert_eq!(
            p.to_string(),
            "api,db,tenant,external,10.10.1.0/24,10.10.1.1/32"
        );
        for bad in ["", "api,,db", "10.10.1.0/33", "10.1.x.0/24", "a b", "-x"] {
            assert!(bad.parse::<Policy>().is_err(), "{bad:?}");
        }
        let e = "10.10.1.0/33".parse::<Policy>().unwrap_err();
        assert!(e.contains("10.10.1.0/33"), "{e}");
    }

    #[test]
    fn acls_deny_ipv4_and_allow_the_listed_sources_above_it() {
        let cache = Cache::default();
        let spec = PortGroupSpec {
            tenant: "coke".into(),
            service: "web".into(),
            ports: BTreeSet::new(),
            policy: Some("api,external,10.10.1.0/24".parse().unwrap()),
        };
        let acls = desired_acls(&cache, &spec);
        let pg = port_group_name("coke", "web");
        assert_eq!(acls.len(), 2);
        assert_eq!(acls[0].r#match, format!("outport == @{pg} && ip4"));
        assert_eq!((acls[0].priority, acls[0].action.as_str()), (1000, "drop"));
        // the peer's port group does not exist (yet): not in the set
        assert_eq!(
            acls[1].r#match,
            format!(
                "outport == @{pg} && ip4 && ip4.src == {{100.64.0.0/16, 10.10.1.0/24, 10.96.0.1}}"
            )
        );
        assert_eq!(
            (acls[1].priority, acls[1].action.as_str()),
            (1001, "allow-related")
        );
        assert!(acls.iter().all(|a| a.direction == "to-lport"));
        let open = PortGroupSpec {
            policy: None,
            ..spec
        };
        assert!(desired_acls(&cache, &open).is_empty());
    }
}

//! A tenant's service fabric: the rows all its services share, attached to
//! every network switch of the tenant.
//!
//! * One `Load_Balancer_Group` named [`group_name`] (`ovn-mesos_coke`): each
//!   service load balancer with a cluster IP is a member, and each network
//!   switch of the tenant refers to the group once
//!   (`Logical_Switch.load_balancer_group`). So M services on N switches
//!   cost M + N references instead of M × N, and a switch made later by
//!   `network-init` gets every VIP with one reference (ovn-kubernetes'
//!   `clusterLBGroup`). The group has no `external_ids` column in OVN 23.03,
//!   so it is found by its indexed, unique name.
//! * One `DNS` row (`external_ids:ovn-mesos/kind=dns`, `ovn-mesos/tenant`),
//!   in every network switch's `dns_records`: `<service>.<tenant>.<domain>`
//!   to the service's cluster IP. ovn-controller answers those queries
//!   from the switch itself.
//!
//! [`fabric_ops`] appends what is missing (a group or DNS row to create,
//! a switch that does not refer to them yet) to a transaction; the service
//! transactions ([`super::ensure_service`]) and [`ensure_fabric`] (after
//! `tenant-init` and `network-init`) both use it, so whoever comes first
//! builds the fabric and the others find it whole.

use std::collections::BTreeMap;

use tracing::info;
use uuid::Uuid;

use super::view::{tenant_view, TenantView};
use super::ServiceError;
use crate::nb::dns::{add_dns_to_switch_ops, delete_dns_ops, remove_dns_from_switch_ops};
use crate::nb::load_balancer_group::{
    add_group_to_switch_ops, create_load_balancer_group_ops, delete_load_balancer_group_ops,
    remove_group_from_switch_ops,
};
use crate::nb::{guard_name_absent, insert_ops, Dns, LoadBalancerGroup, Table, NB_DB};
use crate::ovsdb::{Client, Condition, Datum, Expect, Operation, Txn, WaitUntil};
use crate::owner::{Kind, Owner};

/// The name of a tenant's load balancer group: `ovn-mesos_<tenant>`.
pub fn group_name(tenant: &str) -> String {
    format!("ovn-mesos_{tenant}")
}

/// The fabric rows a transaction works with: their uuids (new rows get
/// theirs from [`fabric_ops`]) and what they hold now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fabric {
    pub group: Uuid,
    /// The group's load balancers now (empty for a new group).
    pub members: Vec<Uuid>,
    /// Its DNS row (`None` only when a service without a cluster IP finds
    /// a group but no DNS row).
    pub dns: Option<Uuid>,
    /// The DNS row's records now (empty for a new row).
    pub records: BTreeMap<String, String>,
}

impl Fabric {
    /// The tenant's fabric as it is (`None` without a group), without
    /// creating anything.
    pub(crate) fn existing(view: &TenantView) -> Option<Fabric> {
        let group = view.group.as_ref()?;
        Some(Fabric {
            group: group.uuid,
            members: group.load_balancer.clone(),
            dns: view.dns.as_ref().map(|d| d.uuid),
            records: view
                .dns
                .as_ref()
                .map(|d| d.records.clone())
                .unwrap_or_default(),
        })
    }
}

/// Appends a guard that aborts the transaction (retryably) if a DNS row of
/// the tenant appeared meanwhile, so two creators cannot make twins.
fn guard_dns_absent(txn: &mut Txn, ids: &BTreeMap<String, String>) {
    txn.push(
        Operation::Wait {
            table: Dns::TABLE.to_owned(),
            conditions: vec![Condition::includes(
                "external_ids",
                Datum::string_map(ids.iter()),
            )],
            columns: vec!["external_ids".to_owned()],
            until: WaitUntil::Equal,
            rows: Vec::new(),
            timeout_ms: Some(0),
        },
        Expect::Any,
    );
}

/// Appends the creation of the tenant's group and DNS row when missing
/// and their attachment to each network switch that lacks them.
pub(crate) fn fabric_ops(txn: &mut Txn, tenant: &str, view: &TenantView) -> Fabric {
    let (group, members) = match &view.group {
        Some(g) => (g.uuid, g.load_balancer.clone()),
        None => {
            let row = LoadBalancerGroup {
                uuid: Uuid::new_v4(),
                name: group_name(tenant),
                load_balancer: Vec::new(),
            };
            guard_name_absent(txn, LoadBalancerGroup::TABLE, &row.name);
            create_load_balancer_group_ops(txn, &row);
            (row.uuid, Vec::new())
        }
    };
    let (dns, records) = match &view.dns {
        Some(d) => (d.uuid, d.records.clone()),
        None => {
            let row = Dns {
                uuid: Uuid::new_v4(),
                external_ids: Owner::new(Kind::Dns).tenant(tenant).into_map(),
                ..Dns::default()
            };
            guard_dns_absent(txn, &row.external_ids);
            insert_ops(txn, &row);
            (row.uuid, BTreeMap::new())
        }
    };
    for switch in &view.switches {
        if !switch.groups.contains(&group) {
            add_group_to_switch_ops(txn, switch.uuid, &[group]);
        }
        if !switch.dns_records.contains(&dns) {
            add_dns_to_switch_ops(txn, switch.uuid, &[dns]);
        }
    }
    Fabric {
        group,
        members,
        dns: Some(dns),
        records,
    }
}

/// Creates the tenant's load balancer group and DNS row if missing and
/// attaches them to each of its network switches, in one transaction
/// (nothing is sent when all is in place). `tenant-init` and
/// `network-init` call it, so a switch made after the services still gets
/// every east-west VIP and name. Returns true when it wrote anything.
pub async fn ensure_fabric(nb: &Client, tenant: &str) -> Result<bool, ServiceError> {
    let changed = nb
        .ensure(&format!("service fabric of tenant {tenant}"), |cache| {
            let view = tenant_view(cache, tenant);
            if !view.exists {
                return Err(ServiceError::UnknownTenant {
                    tenant: tenant.to_owned(),
                });
            }
            let mut txn = Txn::new(NB_DB);
            fabric_ops(&mut txn, tenant, &view);
            let changed = !txn.is_empty();
            Ok((changed.then_some(txn), changed))
        })
        .await
        .map_err(|source| ServiceError::Ovsdb {
            service: format!("{tenant} (service fabric)"),
            source,
        })??;
    if changed {
        info!(tenant, "service fabric (load balancer group, DNS) in place");
    }
    Ok(changed)
}

/// Deletes the tenant's load balancer group and DNS rows (after its
/// services and networks), detaching them from any switch that still
/// refers to them, in one transaction. Returns true when it deleted any.
pub async fn delete_fabric(nb: &Client, tenant: &str) -> Result<bool, ServiceError> {
    let deleted = nb
        .ensure(
            &format!("delete service fabric of tenant {tenant}"),
            |cache| {
                let view = tenant_view(cache, tenant);
                let mut txn = Txn::new(NB_DB);
                let switches = super::view::all_switches(cache);
                if let Some(g) = &view.group {
                    for s in switches.iter().filter(|s| s.groups.contains(&g.uuid)) {
                        remove_group_from_switch_ops(&mut txn, s.uuid, &[g.uuid]);
                    }
                    delete_load_balancer_group_ops(&mut txn, g.uuid);
                }
                for d in &view.all_dns {
                    for s in switches.iter().filter(|s| s.dns_records.contains(&d.uuid)) {
                        remove_dns_from_switch_ops(&mut txn, s.uuid, &[d.uuid]);
                    }
                    delete_dns_ops(&mut txn, d.uuid);
                }
                let deleted = !txn.is_empty();
                Ok::<_, ServiceError>((deleted.then_some(txn), deleted))
            },
        )
        .await
        .map_err(|source| ServiceError::Ovsdb {
            service: format!("{tenant} (service fabric)"),
            source,
        })??;
    if deleted {
        info!(tenant, "service fabric deleted");
    }
    Ok(deleted)
}

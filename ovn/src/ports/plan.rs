//! The pure stage of task ports: which switch a spec names, the exact
//! `Logical_Switch_Port` row of a new task port, the guard that makes its
//! transaction safe against other writers, and a [`TaskPort`] read back from a
//! row.

use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::Ipv4Network;
use uuid::Uuid;

use super::index::SwitchIndex;
use super::{PortAgent, PortError, TaskPort, TaskPortSpec};
use crate::ipam::{mac_for_ip, parse_lsp_addresses, IpamError, LspAddresses};
use crate::nb::{LogicalSwitch, LogicalSwitchPort, Table};
use crate::ovsdb::{Cache, Datum, Row, Txn};
use crate::owner::{self, Kind, Owner};
use crate::topology::owned_switch;

/// An ovn-mesos network switch, resolved by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SwitchRef {
    pub uuid: Uuid,
    pub name: String,
    pub tenant: String,
    pub network: String,
}

fn ids(row: &Row) -> std::collections::BTreeMap<String, String> {
    row.get("external_ids")
        .map(Datum::string_map_value)
        .unwrap_or_default()
}

/// The network switch named `name` (`ovn-nbctl ls-list`), by
/// [`owned_switch`]; a switch ovn-mesos did not create as a network is
/// [`PortError::NotOvnMesosNetwork`].
pub(crate) fn resolve_switch(cache: &Cache, name: &str) -> Result<SwitchRef, PortError> {
    match owned_switch(cache, name) {
        Some(sw) if sw.kind == Kind::NetworkSwitch => Ok(SwitchRef {
            uuid: sw.uuid,
            network: sw.network.unwrap_or_else(|| name.to_owned()),
            tenant: sw.tenant,
            name: sw.name,
        }),
        _ if cache
            .find(LogicalSwitch::TABLE, "name", &Datum::string(name))
            .is_empty() =>
        {
            Err(PortError::UnknownSwitch {
                switch: name.to_owned(),
            })
        }
        _ => Err(PortError::NotOvnMesosNetwork {
            switch: name.to_owned(),
        }),
    }
}

/// Appends the guard of a change computed from the switch row `row`: the
/// transaction aborts (a retryable "timed out") unless the switch is still the
/// row the addresses were chosen from. With `_version` in the cache this is
/// one small `wait` on it (any change to the switch, its `ports` included,
/// gives a new version); without it, the `ports` set and `other_config`
/// themselves are compared.
pub(crate) fn guard_switch(txn: &mut Txn, uuid: Uuid, row: &Row) {
    let columns: &[&str] = if row.contains_key("_version") {
        &["_version"]
    } else {
        &["ports", "other_config"]
    };
    let guard: Row = columns
        .iter()
        .map(|c| ((*c).to_owned(), row.get(*c).cloned().unwrap_or_default()))
        .collect();
    txn.guard_row(LogicalSwitch::TABLE, uuid, guard);
}

/// The row of a new task port: `addresses` and `port_security` `"MAC IP"`,
/// `options:requested-chassis`, ownership `external_ids` (what
/// `ovn-nbctl lsp-add <sw> <name> -- lsp-set-addresses <name> "MAC IP" --
/// lsp-set-port-security <name> "MAC IP"` writes, plus the owner keys).
pub(crate) fn port_row(
    spec: &TaskPortSpec,
    sw: &SwitchRef,
    name: &str,
    uuid: Uuid,
    ip: Ipv4Addr,
) -> LogicalSwitchPort {
    let address = format!("{} {}", mac_for_ip(ip), ip);
    let mut owner = Owner::new(Kind::TaskPort)
        .tenant(&sw.tenant)
        .with(owner::NETWORK, &sw.network)
        .with(owner::TASK, &spec.task_id)
        .with(owner::FRAMEWORK, &spec.framework_id);
    if let Some(s) = &spec.service {
        owner = owner.with(owner::SERVICE, s);
    }
    if let Some(a) = &spec.agent {
        owner = owner
            .with(owner::AGENT, &a.id)
            .with(owner::HOSTNAME, &a.hostname);
    }
    if let Some(v) = &spec.version {
        owner = owner.with(owner::VERSION, v);
    }
    let mut port = LogicalSwitchPort::new(name, "");
    port.uuid = uuid;
    port.addresses = vec![address.clone()];
    port.port_security = vec![address];
    if let Some(ch) = &spec.requested_chassis {
        port.options
            .insert("requested-chassis".to_owned(), ch.clone());
    }
    port.external_ids = owner.into_map();
    port
}

/// Reads an owned task port row back; `None` for any other row.
pub(crate) fn task_port_from_row(
    uuid: Uuid,
    row: &Row,
    switch: &str,
    subnet: Ipv4Network,
    gateway: Ipv4Addr,
) -> Option<TaskPort> {
    let ids = ids(row);
    if owner::kind_of(&ids) != Some(Kind::TaskPort) {
        return None;
    }
    let (mac, ip) =
        row.get("addresses")?.strings().iter().find_map(|a| {
            match parse_lsp_addresses(a).ok()? {
                LspAddresses::Static { mac, ips } => ips.into_iter().find_map(|ip| match ip {
                    IpAddr::V4(v4) => Some((mac, v4)),
                    IpAddr::V6(_) => None,
                }),
                _ => None,
            }
        })?;
    let get = |k: &str| ids.get(k).cloned().unwrap_or_default();
    Some(TaskPort {
        name: row.get("name")?.as_str()?.to_owned(),
        switch: switch.to_owned(),
        tenant: get(owner::TENANT),
        mac,
        ip,
        prefix_len: subnet.prefix(),
        gateway,
        uuid,
        task_id: get(owner::TASK),
        framework_id: get(owner::FRAMEWORK),
        service: ids.get(owner::SERVICE).cloned(),
        agent: ids.get(owner::AGENT).map(|id| PortAgent {
            id: id.clone(),
            hostname: get(owner::HOSTNAME),
        }),
        version: ids.get(owner::VERSION).cloned(),
    })
}

/// What to do for one spec.
#[derive(Debug, Clone)]
pub(crate) enum Planned {
    /// The task's port exists already: returned unchanged.
    Existing(TaskPort),
    /// A new port to insert; its address is taken in the index.
    New {
        port: TaskPort,
        row: LogicalSwitchPort,
    },
}

/// Plans the port of `spec` (named `name`, uuid `uuid` if new) on switch `sw`
/// using its index: the existing port of the same task, or a new port with the
/// requested or next free address.
pub(crate) fn plan_port(
    cache: &Cache,
    index: &mut SwitchIndex,
    sw: &SwitchRef,
    spec: &TaskPortSpec,
    name: &str,
    uuid: Uuid,
) -> Result<Planned, PortError> {
    let (subnet, gateway) = (index.subnet(), index.gateway());
    if let Some(existing) = index.port_named(name) {
        let found = cache
            .row(LogicalSwitchPort::TABLE, &existing)
            .and_then(|row| task_port_from_row(existing, row, &sw.name, subnet, gateway))
            .filter(|p| p.task_id == spec.task_id && p.framework_id == spec.framework_id);
        return found
            .map(Planned::Existing)
            .ok_or_else(|| PortError::NameTaken {
                name: name.to_owned(),
                holder: format!("another port on switch {}", sw.name),
            });
    }
    let ip = index.allocate(spec.ip).map_err(|e| match e {
        IpamError::Full { subnet } => PortError::SubnetFull {
            switch: sw.name.clone(),
            subnet,
        },
        source => PortError::IpUnavailable {
            switch: sw.name.clone(),
            ip: spec.ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
            source,
        },
    })?;
    let row = port_row(spec, sw, name, uuid, ip);
    let port = TaskPort {
        name: name.to_owned(),
        switch: sw.name.clone(),
        tenant: sw.tenant.clone(),
        mac: mac_for_ip(ip),
        ip,
        prefix_len: subnet.prefix(),
        gateway,
        uuid,
        task_id: spec.task_id.clone(),
        framework_id: spec.framework_id.clone(),
        service: spec.service.clone(),
        agent: spec.agent.clone(),
        version: spec.version.clone(),
    };
    Ok(Planned::New { port, row })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

//! The task ports that exist: listing them for repair passes and removing one
//! (`ovn-nbctl lsp-del`) when its task is gone.

use tracing::info;

use uuid::Uuid;

use super::index::SwitchIndex;
use super::plan::task_port_from_row;
use super::registry;
use super::{PortError, TaskPort};
use crate::nb::{LogicalSwitch, LogicalSwitchPort, Table, NB_DB};
use crate::ovsdb::{Atom, Cache, Client, Datum, Mutation, Txn};
use crate::owner::{self, Kind};

/// Removes a task's port and its reference from its switch in one transaction
/// (`ovn-nbctl lsp-del`). `Ok(false)` when no port has that name; a port that
/// is not an ovn-mesos task port is [`PortError::NotATaskPort`].
///
/// Allocation on the port's switch waits while the port goes (the switch's
/// lock is held until the cache shows the deletion), so a create in this
/// process never plans from a switch that is about to change and fails its
/// `_version` guard.
pub async fn delete_task_port(nb: &Client, name: &str) -> Result<bool, PortError> {
    let switches = nb.read(|cache| switches_holding(cache, name));
    let _locked = registry::lock_all(&switches).await;
    let deleted = nb
        .ensure(&format!("delete task port {name}"), |cache| {
            let found = cache.find(LogicalSwitchPort::TABLE, "name", &Datum::string(name));
            let Some((uuid, row)) = found.first() else {
                return Ok((None, false));
            };
            let ids = row
                .get("external_ids")
                .map(Datum::string_map_value)
                .unwrap_or_default();
            if owner::kind_of(&ids) != Some(Kind::TaskPort) {
                return Err(PortError::NotATaskPort {
                    name: name.to_owned(),
                });
            }
            let mut txn = Txn::new(NB_DB);
            let port = Atom::Uuid(*uuid);
            for (sw, sw_row) in cache.table(LogicalSwitch::TABLE) {
                let holds = sw_row.get("ports").is_some_and(|p| p.contains(&port));
                if holds {
                    txn.mutate_row(
                        LogicalSwitch::TABLE,
                        *sw,
                        vec![Mutation::delete("ports", Datum::uuid(*uuid))],
                    );
                }
            }
            txn.delete_row(LogicalSwitchPort::TABLE, *uuid);
            Ok((Some(txn), true))
        })
        .await
        .map_err(|source| PortError::Ovsdb {
            what: format!("deleting task port {name}"),
            source,
        })??;
    if deleted {
        info!(port = %name, "task port deleted");
    }
    Ok(deleted)
}

/// The switches whose `ports` hold the port named `name`.
fn switches_holding(cache: &Cache, name: &str) -> Vec<Uuid> {
    let found = cache.find(LogicalSwitchPort::TABLE, "name", &Datum::string(name));
    let Some((uuid, _)) = found.first() else {
        return Vec::new();
    };
    let port = Atom::Uuid(*uuid);
    cache
        .table(LogicalSwitch::TABLE)
        .filter(|(_, row)| row.get("ports").is_some_and(|p| p.contains(&port)))
        .map(|(sw, _)| *sw)
        .collect()
}

/// Every ovn-mesos task port in the cache, by name (for repair passes).
pub fn list_task_ports(cache: &Cache) -> Vec<TaskPort> {
    let mut out = Vec::new();
    for (sw_uuid, sw_row) in cache.table(LogicalSwitch::TABLE) {
        let name = sw_row
            .get("name")
            .and_then(Datum::as_str)
            .unwrap_or_default();
        let Ok(idx) = SwitchIndex::build(cache, *sw_uuid, name, sw_row) else {
            continue;
        };
        let ports = sw_row.get("ports").map(Datum::uuids).unwrap_or_default();
        out.extend(ports.into_iter().filter_map(|u| {
            let row = cache.row(LogicalSwitchPort::TABLE, &u)?;
            task_port_from_row(u, row, name, idx.subnet(), idx.gateway())
        }));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

//! Typed rows of the local Open_vSwitch database (the chassis side): the root
//! `Open_vSwitch` row with the chassis settings ovn-controller reads
//! (`system-id`, `ovn-bridge-mappings`, ...), bridges, ports and interfaces, and
//! the verbs `ovs-vsctl add-br`, `add-port`, `del-port`, `set Open_vSwitch .`
//! as operations appended to a [`Txn`](crate::ovsdb::Txn).
//!
//! The row types implement [`crate::nb::Table`], so [`crate::nb::list`],
//! [`crate::nb::get`] and [`crate::nb::find_by_name`] read them from a cache too.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::ovsdb::{Datum, Row, Txn};

pub mod bridge;
pub mod interface;
pub mod open_vswitch;
pub mod port;

pub use bridge::{add_bridge_ops, Bridge};
pub use interface::Interface;
pub use open_vswitch::{
    merge_bridge_mappings, open_vswitch, parse_bridge_mappings, set_external_ids_ops, MappingError,
    OpenVswitch,
};
pub use port::{add_port_of_type_ops, add_port_ops, del_port_ops, Port};

/// The local OVS database name.
pub const VSWITCH_DB: &str = "Open_vSwitch";

/// Sets `keys` in the string map `column` of row `uuid`, keeping its other
/// keys: an `update` of the whole map, guarded by a `wait` for the map as
/// read (`current`), so a concurrent change to another key makes the
/// transaction fail (and a level-triggered caller retry) instead of being
/// lost. Appends nothing and returns false when every key already has its value.
pub fn set_map_keys_ops(
    txn: &mut Txn,
    table: &str,
    uuid: Uuid,
    column: &str,
    current: &BTreeMap<String, String>,
    keys: &BTreeMap<String, String>,
) -> bool {
    let mut merged = current.clone();
    merged.extend(keys.iter().map(|(k, v)| (k.clone(), v.clone())));
    if &merged == current {
        return false;
    }
    let row = |m: &BTreeMap<String, String>| Row::from([(column.to_owned(), Datum::string_map(m))]);
    txn.guard_row(table, uuid, row(current));
    txn.update_row(table, uuid, row(&merged));
    true
}

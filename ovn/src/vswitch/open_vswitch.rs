//! The root `Open_vSwitch` row (`ovs-vsctl get Open_vSwitch . external_ids`):
//! the chassis identity and the OVN settings in its `external_ids`, and the
//! `ovn-bridge-mappings` merge that adds one mapping without clobbering others.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::set_map_keys_ops;
use crate::nb::column::{Columns, RowBuilder};
use crate::nb::{list, RowError, Table, Writable};
use crate::ovsdb::{Cache, Row, Txn};

/// `external_ids` key of the chassis name OVN knows this host by.
pub const SYSTEM_ID: &str = "system-id";
/// `external_ids` key mapping physical network names to bridges (`physnet:br-ex,...`).
pub const BRIDGE_MAPPINGS: &str = "ovn-bridge-mappings";
/// `external_ids` key giving the datapath type of bridges OVN creates (`netdev`, `system`).
pub const BRIDGE_DATAPATH_TYPE: &str = "ovn-bridge-datapath-type";

/// The root `Open_vSwitch` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenVswitch {
    pub uuid: Uuid,
    /// `Bridge` references.
    pub bridges: Vec<Uuid>,
    pub external_ids: BTreeMap<String, String>,
    pub other_config: BTreeMap<String, String>,
}

impl Table for OpenVswitch {
    const TABLE: &'static str = "Open_vSwitch";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(OpenVswitch {
            uuid,
            bridges: c.uuids("bridges")?,
            external_ids: c.map("external_ids")?,
            other_config: c.map("other_config")?,
        })
    }
}

impl Writable for OpenVswitch {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .uuids("bridges", &self.bridges)
            .map("external_ids", &self.external_ids)
            .map("other_config", &self.other_config)
            .build()
    }
}

impl OpenVswitch {
    /// `external_ids:system-id`, the chassis name (non-empty).
    pub fn system_id(&self) -> Option<&str> {
        self.external_ids
            .get(SYSTEM_ID)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// `external_ids:ovn-bridge-mappings` as (physnet, bridge) pairs.
    pub fn bridge_mappings(&self) -> Result<Vec<(String, String)>, MappingError> {
        parse_bridge_mappings(
            self.external_ids
                .get(BRIDGE_MAPPINGS)
                .map_or("", String::as_str),
        )
    }

    /// `external_ids:ovn-bridge-datapath-type`, "system" when unset.
    pub fn bridge_datapath_type(&self) -> &str {
        self.external_ids
            .get(BRIDGE_DATAPATH_TYPE)
            .map_or("system", String::as_str)
    }
}

/// The root row, if the database has been initialised (`ovs-vsctl init`).
pub fn open_vswitch(cache: &Cache) -> Option<OpenVswitch> {
    list::<OpenVswitch>(cache).into_iter().next()
}

/// `ovs-vsctl set Open_vSwitch . external_ids:k=v ...`: sets the given keys,
/// leaving every other key as it is (see [`set_map_keys_ops`]).
pub fn set_external_ids_ops(
    txn: &mut Txn,
    root: &OpenVswitch,
    ids: &BTreeMap<String, String>,
) -> bool {
    set_map_keys_ops(
        txn,
        OpenVswitch::TABLE,
        root.uuid,
        "external_ids",
        &root.external_ids,
        ids,
    )
}

/// Why `ovn-bridge-mappings` cannot take a mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// An entry is not `physnet:bridge`.
    #[error("malformed ovn-bridge-mappings entry {entry:?} (expected physnet:bridge)")]
    Malformed { entry: String },
    /// The physical network is already mapped to another bridge.
    #[error("physical network {physnet} is already mapped to bridge {existing}, not {wanted}")]
    Conflict {
        physnet: String,
        existing: String,
        wanted: String,
    },
}

/// Parses `physnet1:br-ex,physnet2:br-eth1` (spaces ignored, empty entries skipped).
pub fn parse_bridge_mappings(s: &str) -> Result<Vec<(String, String)>, MappingError> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| match entry.split_once(':') {
            Some((p, b)) if !p.trim().is_empty() && !b.trim().is_empty() => {
                Ok((p.trim().to_owned(), b.trim().to_owned()))
            }
            _ => Err(MappingError::Malformed {
                entry: entry.to_owned(),
            }),
        })
        .collect()
}

/// Adds `physnet:bridge` to the mappings `existing`, keeping the others; `None`
/// when it is already there (nothing to write), an error when `physnet` is
/// mapped to another bridge.
pub fn merge_bridge_mappings(
    existing: &str,
    physnet: &str,
    bridge: &str,
) -> Result<Option<String>, MappingError> {
    let mut mappings = parse_bridge_mappings(existing)?;
    if let Some((_, b)) = mappings.iter().find(|(p, _)| p == physnet) {
        if b == bridge {
            return Ok(None);
        }
        return Err(MappingError::Conflict {
            physnet: physnet.to_owned(),
            existing: b.clone(),
            wanted: bridge.to_owned(),
        });
    }
    mappings.push((physnet.to_owned(), bridge.to_owned()));
    Ok(Some(
        mappings
            .iter()
            .map(|(p, b)| format!("{p}:{b}"))
            .collect::<Vec<_>>()
            .join(","),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_id_and_datapath_type_are_read_from_external_ids() {
        let mut ovs = OpenVswitch::default();
        assert_eq!(ovs.system_id(), None);
        assert_eq!(ovs.bridge_datapath_type(), "system");
        ovs.external_ids
            .insert(SYSTEM_ID.into(), "mesos-master".into());
        ovs.external_ids
            .insert(BRIDGE_DATAPATH_TYPE.into(), "netdev".into());
        assert_eq!(ovs.system_id(), Some("mesos-master"));
        assert_eq!(ovs.bridge_datapath_type(), "netdev");
        let back = OpenVswitch::from_row(ovs.uuid, &ovs.to_row()).unwrap();
        assert_eq!(back, ovs);
    }

    #[test]
    fn a_new_mapping_is_appended_to_the_existing_ones() {
        assert_eq!(
            merge_bridge_mappings("", "physnet", "br-ex").unwrap(),
            Some("physnet:br-ex".into())
        );
        assert_eq!(
            merge_bridge_mappings("other:br-other", "physnet", "br-ex").unwrap(),
            Some("other:br-other,physnet:br-ex".into())
        );
        assert_eq!(
            merge_bridge_mappings("physnet:br-ex", "physnet", "br-ex").unwrap(),
            None
        );
    }

    #[test]
    fn a_physnet_mapped_elsewhere_is_a_conflict() {
        let e = merge_bridge_mappings("physnet:br-eth1", "physnet", "br-ex").unwrap_err();
        assert_eq!(
            e.to_string(),
            "physical network physnet is already mapped to bridge br-eth1, not br-ex"
        );
        assert!(matches!(
            parse_bridge_mappings("physnet"),
            Err(MappingError::Malformed { .. })
        ));
    }

    #[test]
    fn setting_external_ids_replaces_only_the_given_keys() {
        let mut root = OpenVswitch {
            uuid: Uuid::new_v4(),
            ..Default::default()
        };
        root.external_ids.insert(SYSTEM_ID.into(), "m".into());
        let mut txn = Txn::new(super::super::VSWITCH_DB);
        let mut ids = BTreeMap::new();
        ids.insert(BRIDGE_MAPPINGS.to_owned(), "physnet:br-ex".to_owned());
        assert!(set_external_ids_ops(&mut txn, &root, &ids));
        let p = txn.to_params();
        assert_eq!(p[1]["op"], "wait", "guarded by the map as read");
        assert_eq!(p[2]["op"], "update");
        assert_eq!(
            p[2]["row"]["external_ids"],
            serde_json::json!([
                "map",
                [["ovn-bridge-mappings", "physnet:br-ex"], ["system-id", "m"]]
            ])
        );
        root.external_ids.extend(ids.clone());
        let mut txn = Txn::new(super::super::VSWITCH_DB);
        assert!(!set_external_ids_ops(&mut txn, &root, &ids));
        assert!(txn.is_empty());
    }
}

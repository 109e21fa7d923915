//! `Port_Group` rows (`ovn-nbctl pg-add`, `pg-set-ports`, `pg-del`): the
//! typed row, the verbs that create, update and delete a port group and add or
//! remove member ports (`add`/`remove Port_Group <pg> ports`), and
//! [`port_group_name`], the group name of a tenant's service.
//!
//! In the 23.03 schema `Port_Group` is a root table with a unique `name`
//! index. Its `ports` column holds *weak* references (deleting a logical
//! switch port drops it from every group by itself) and its `acls` column
//! *strong* references to the non-root `ACL` table (an ACL no group or switch
//! refers to any more is deleted by the database; see [`super::acl`]).
//! ovn-northd gives each group the address sets `$<name>_ip4`/`$<name>_ip6`
//! and ACL matches refer to it as `@<name>`.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::{
    add_refs_ops, create_or_update_ops, remove_refs_ops, Named, RowError, Table, Writable,
};
use crate::ovsdb::{Row, Txn};

/// One `Port_Group` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortGroup {
    pub uuid: Uuid,
    /// Unique (the schema indexes it); see [`port_group_name`].
    pub name: String,
    /// `Logical_Switch_Port` references (weak).
    pub ports: Vec<Uuid>,
    /// `ACL` references (strong: dropping one deletes the ACL).
    pub acls: Vec<Uuid>,
    pub external_ids: BTreeMap<String, String>,
}

/// The columns [`create_or_update_port_group_ops`] keeps equal to the desired
/// row; `ports` is changed by mutation only ([`add_ports_ops`],
/// [`remove_ports_ops`]), so members added concurrently survive. Updating
/// `acls` deletes the ACLs left out; new ones must be inserted in the same
/// transaction ([`super::acl::insert_acls_ops`]).
pub const UPDATE_COLUMNS: &[&str] = &["name", "acls", "external_ids"];

impl Table for PortGroup {
    const TABLE: &'static str = "Port_Group";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(PortGroup {
            uuid,
            name: c.string("name")?,
            ports: c.uuids("ports")?,
            acls: c.uuids("acls")?,
            external_ids: c.map("external_ids")?,
        })
    }
}

impl Writable for PortGroup {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("name", &self.name)
            .uuids("ports", &self.ports)
            .uuids("acls", &self.acls)
            .map("external_ids", &self.external_ids)
            .build()
    }
}

impl Named for PortGroup {
    fn name(&self) -> &str {
        &self.name
    }
}

/// The port group name of `service` of `tenant`: `ovnm_<tenant>_<service>_<hash>`
/// where every character of tenant and service outside `[a-zA-Z0-9_.]` is
/// replaced by `_` (OVN group names must match `[a-zA-Z_.][a-zA-Z_.0-9]*`,
/// being used as `@name` and `$name_ip4`), and `<hash>` is the FNV-1a 32-bit
/// hash of `"<tenant>/<service>"` in 8 hex digits, so names the replacement or
/// the `_` join would merge (`coke-web`/`coke_web`, `a_b`+`c`/`a`+`b_c`)
/// stay distinct.
pub fn port_group_name(tenant: &str, service: &str) -> String {
    format!(
        "ovnm_{}_{}_{:08x}",
        sanitize(tenant),
        sanitize(service),
        fnv1a32(format!("{tenant}/{service}").as_bytes())
    )
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// FNV-1a, 32 bits.
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// `ovn-nbctl --may-exist pg-add` (`pg-add` sets the ports too): inserts
/// `desired` (with its `ports` and `acls`) when `existing` is None, else
/// updates the [`UPDATE_COLUMNS`] that differ. Returns the group's uuid and
/// whether anything was appended.
pub fn create_or_update_port_group_ops(
    txn: &mut Txn,
    existing: Option<&PortGroup>,
    desired: &PortGroup,
) -> (Uuid, bool) {
    create_or_update_ops(txn, existing, desired, UPDATE_COLUMNS)
}

/// `ovn-nbctl pg-del`: deletes the group; its ACLs go with it (unless a
/// switch refers to them too) and its ports stay.
pub fn delete_port_group_ops(txn: &mut Txn, pg: Uuid) {
    txn.delete_row(PortGroup::TABLE, pg);
}

/// `ovn-nbctl add Port_Group <pg> ports <port>...`: adds member ports.
pub fn add_ports_ops(txn: &mut Txn, pg: Uuid, ports: &[Uuid]) {
    add_refs_ops(txn, PortGroup::TABLE, pg, "ports", ports);
}

/// `ovn-nbctl remove Port_Group <pg> ports <port>...`: removes member ports
/// (the ports themselves stay).
pub fn remove_ports_ops(txn: &mut Txn, pg: Uuid, ports: &[Uuid]) {
    remove_refs_ops(txn, PortGroup::TABLE, pg, "ports", ports);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb::NB_DB;
    use crate::ovsdb::Datum;

    fn pg() -> PortGroup {
        let mut pg = PortGroup {
            uuid: Uuid::new_v4(),
            name: port_group_name("coke", "web"),
            ports: vec![Uuid::new_v4(), Uuid::new_v4()],
            acls: vec![Uuid::new_v4()],
            ..Default::default()
        };
        pg.ports.sort();
        pg.external_ids
            .insert("ovn-mesos/service".into(), "web".into());
        pg
    }

    fn valid(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '.')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    }

    #[test]
    fn fnv1a32_matches_the_reference_values() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn names_use_only_the_allowed_characters() {
        for (t, s) in [
            ("coke", "web"),
            ("coke-cola", "web/api v2"),
            ("0day", "ünïcode"),
            ("", ""),
        ] {
            let n = port_group_name(t, s);
            assert!(valid(&n), "{n}");
            assert!(n.starts_with("ovnm_"), "{n}");
        }
        let n = port_group_name("coke-cola", "web.api");
        assert!(n.starts_with("ovnm_coke_cola_web.api_"), "{n}");
        assert_eq!(n.len(), "ovnm_coke_cola_web.api_".len() + 8);
    }

    #[test]
    fn names_are_stable_and_distinct() {
        assert_eq!(
            port_group_name("coke", "web"),
            port_group_name("coke", "web")
        );
        assert_ne!(
            port_group_name("coke", "coke-web"),
            port_group_name("coke", "coke_web")
        );
        assert_ne!(port_group_name("a_b", "c"), port_group_name("a", "b_c"));
    }

    #[test]
    fn a_row_reads_back_what_to_row_wrote() {
        let pg = pg();
        assert_eq!(PortGroup::from_row(pg.uuid, &pg.to_row()).unwrap(), pg);
    }

    #[test]
    fn a_row_with_only_a_name_is_read_with_empty_columns() {
        let mut row = Row::new();
        row.insert("name".into(), Datum::string("ovnm_coke_web"));
        let pg = PortGroup::from_row(Uuid::nil(), &row).unwrap();
        assert_eq!(pg.name(), "ovnm_coke_web");
        assert!(pg.ports.is_empty() && pg.acls.is_empty() && pg.external_ids.is_empty());
    }

    #[test]
    fn a_new_group_is_inserted_with_its_ports() {
        let pg = pg();
        let mut txn = Txn::new(NB_DB);
        let (uuid, changed) = create_or_update_port_group_ops(&mut txn, None, &pg);
        assert!(changed);
        assert_eq!(uuid, pg.uuid);
        let op = &txn.to_params()[1];
        assert_eq!(op["op"], "insert");
        assert_eq!(op["table"], "Port_Group");
        assert_eq!(op["uuid"], pg.uuid.to_string());
        assert_eq!(op["row"]["ports"][0], "set");
    }

    #[test]
    fn an_update_keeps_the_members() {
        let existing = pg();
        let mut desired = existing.clone();
        desired.ports.clear();
        desired.acls = vec![Uuid::new_v4()];
        let mut txn = Txn::new(NB_DB);
        let (uuid, changed) = create_or_update_port_group_ops(&mut txn, Some(&existing), &desired);
        assert!(changed);
        assert_eq!(uuid, existing.uuid);
        let op = &txn.to_params()[1];
        assert_eq!(op["op"], "update");
        let cols: Vec<&String> = op["row"].as_object().unwrap().keys().collect();
        assert_eq!(cols, vec!["acls"]);
        let mut txn = Txn::new(NB_DB);
        let mut same_but_ports = existing.clone();
        same_but_ports.ports.push(Uuid::new_v4());
        assert!(!create_or_update_port_group_ops(&mut txn, Some(&existing), &same_but_ports).1);
        assert!(txn.is_empty());
    }

    #[test]
    fn member_changes_are_mutations_of_ports() {
        let (g, p) = (Uuid::new_v4(), Uuid::new_v4());
        let mut txn = Txn::new(NB_DB);
        add_ports_ops(&mut txn, g, &[p]);
        remove_ports_ops(&mut txn, g, &[p]);
        delete_port_group_ops(&mut txn, g);
        let params = txn.to_params();
        assert_eq!(params[1]["table"], "Port_Group");
        assert_eq!(
            params[1]["mutations"],
            serde_json::json!([["ports", "insert", ["uuid", p.to_string()]]])
        );
        assert_eq!(
            params[2]["mutations"],
            serde_json::json!([["ports", "delete", ["uuid", p.to_string()]]])
        );
        assert_eq!(params[3]["op"], "delete");
        assert_eq!(params[3]["table"], "Port_Group");
    }
}

//! `Load_Balancer` rows (`ovn-nbctl lb-add`, `lb-del`, `lb-list`): the typed row
//! and the verbs that create, update and delete a load balancer and attach it to
//! (or detach it from) logical routers (`lr-lb-add`/`lr-lb-del`) and logical
//! switches (`ls-lb-add`/`ls-lb-del`).
//!
//! Routers and switches hold *weak* references to load balancers: deleting a
//! load balancer drops it from every `load_balancer` column by itself, but the
//! verbs here detach explicitly so a transaction says everything it changes.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::{
    add_refs_ops, create_or_update_ops, remove_refs_ops, Named, RowError, Table, Writable,
};
use crate::ovsdb::{Row, Txn};

/// One `Load_Balancer` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadBalancer {
    pub uuid: Uuid,
    pub name: String,
    /// VIP (`"10.10.1.12:32350"`) to comma-separated backends
    /// (`"192.168.1.2:80,192.168.1.3:80"`); an empty value means "no backends".
    pub vips: BTreeMap<String, String>,
    /// `tcp`, `udp` or `sctp`; OVN reads an empty column as `tcp`.
    pub protocol: Option<String>,
    /// e.g. `reject=true` (answer a VIP without backends with a TCP RST or an
    /// ICMP port unreachable).
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
    /// Its `Load_Balancer_Health_Check` rows (strong references: a row no
    /// load balancer refers to any more is deleted by the database).
    pub health_check: Vec<Uuid>,
    /// Backend IP (`"192.168.1.2"`) to `"<logical switch port>:<source IP>"`:
    /// where ovn-controller probes the backend from, for the health checks.
    pub ip_port_mappings: BTreeMap<String, String>,
}

/// The columns [`create_or_update_load_balancer_ops`] keeps equal to the
/// desired row (everything ovn-mesos writes).
pub const UPDATE_COLUMNS: &[&str] = &[
    "name",
    "vips",
    "protocol",
    "options",
    "external_ids",
    "health_check",
    "ip_port_mappings",
];

/// One `Load_Balancer_Health_Check` row: ovn-controller probes the backends
/// of VIP `vip` (exactly a `vips` key, port included) with `options`
/// (`interval`, `timeout`, `success_count`, `failure_count`), and ovn-northd
/// leaves the backends it finds offline out of the load balancer's flows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadBalancerHealthCheck {
    pub uuid: Uuid,
    pub vip: String,
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

impl Table for LoadBalancerHealthCheck {
    const TABLE: &'static str = "Load_Balancer_Health_Check";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(LoadBalancerHealthCheck {
            uuid,
            vip: c.string("vip")?,
            options: c.map("options")?,
            external_ids: c.map("external_ids")?,
        })
    }
}

impl Writable for LoadBalancerHealthCheck {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("vip", &self.vip)
            .map("options", &self.options)
            .map("external_ids", &self.external_ids)
            .build()
    }
}

impl Table for LoadBalancer {
    const TABLE: &'static str = "Load_Balancer";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(LoadBalancer {
            uuid,
            name: c.string("name")?,
            vips: c.map("vips")?,
            protocol: c.opt_string("protocol")?,
            options: c.map("options")?,
            external_ids: c.map("external_ids")?,
            health_check: c.uuids("health_check")?,
            ip_port_mappings: c.map("ip_port_mappings")?,
        })
    }
}

impl Writable for LoadBalancer {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("name", &self.name)
            .map("vips", &self.vips)
            .opt_string("protocol", self.protocol.as_ref())
            .map("options", &self.options)
            .map("external_ids", &self.external_ids)
            .uuids("health_check", &self.health_check)
            .map("ip_port_mappings", &self.ip_port_mappings)
            .build()
    }
}

impl Named for LoadBalancer {
    fn name(&self) -> &str {
        &self.name
    }
}

/// `ovn-nbctl --may-exist lb-add` (all VIPs at once): inserts `desired` when
/// `existing` is None, else updates the [`UPDATE_COLUMNS`] that differ, so
/// replacing the backend set is one `update` of `vips`. Returns the load
/// balancer's uuid and whether anything was appended.
pub fn create_or_update_load_balancer_ops(
    txn: &mut Txn,
    existing: Option<&LoadBalancer>,
    desired: &LoadBalancer,
) -> (Uuid, bool) {
    create_or_update_ops(txn, existing, desired, UPDATE_COLUMNS)
}

/// `ovn-nbctl lb-del`: deletes the load balancer.
pub fn delete_load_balancer_ops(txn: &mut Txn, lb: Uuid) {
    txn.delete_row(LoadBalancer::TABLE, lb);
}

/// `ovn-nbctl lr-lb-add`: attaches load balancers to `router`.
pub fn add_to_router_ops(txn: &mut Txn, router: Uuid, lbs: &[Uuid]) {
    add_refs_ops(txn, "Logical_Router", router, "load_balancer", lbs);
}

/// `ovn-nbctl lr-lb-del`: detaches load balancers from `router`.
pub fn remove_from_router_ops(txn: &mut Txn, router: Uuid, lbs: &[Uuid]) {
    remove_refs_ops(txn, "Logical_Router", router, "load_balancer", lbs);
}

/// `ovn-nbctl ls-lb-add`: attaches load balancers to `switch`.
pub fn add_to_switch_ops(txn: &mut Txn, switch: Uuid, lbs: &[Uuid]) {
    add_refs_ops(txn, "Logical_Switch", switch, "load_balancer", lbs);
}

/// `ovn-nbctl ls-lb-del`: detaches load balancers from `switch`.
pub fn remove_from_switch_ops(txn: &mut Txn, switch: Uuid, lbs: &[Uuid]) {
    remove_refs_ops(txn, "Logical_Switch", switch, "load_balancer", lbs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb::NB_DB;
    use crate::ovsdb::Datum;

    fn lb() -> LoadBalancer {
        let mut lb = LoadBalancer {
            uuid: Uuid::new_v4(),
            name: "coke_web_tcp".into(),
            protocol: Some("tcp".into()),
            ..Default::default()
        };
        lb.vips.insert(
            "10.10.1.12:32350".into(),
            "192.168.1.2:80,192.168.1.3:80".into(),
        );
        lb.options.insert("reject".into(), "true".into());
        lb.external_ids
            .insert("ovn-mesos/service".into(), "web".into());
        lb
    }

    #[test]
    fn a_row_reads_back_what_to_row_wrote() {
        let lb = lb();
        assert_eq!(LoadBalancer::from_row(lb.uuid, &lb.to_row()).unwrap(), lb);
    }

    #[test]
    fn a_row_without_protocol_reads_as_none() {
        let mut row = Row::new();
        row.insert("name".into(), Datum::string("coke"));
        row.insert("protocol".into(), Datum::empty());
        let lb = LoadBalancer::from_row(Uuid::nil(), &row).unwrap();
        assert_eq!(lb.protocol, None);
        assert!(lb.vips.is_empty());
    }

    #[test]
    fn an_empty_backend_list_is_kept_as_an_empty_value() {
        let mut lb = lb();
        lb.vips.insert("10.10.1.13:32350".into(), String::new());
        let back = LoadBalancer::from_row(lb.uuid, &lb.to_row()).unwrap();
        assert_eq!(
            back.vips.get("10.10.1.13:32350").map(String::as_str),
            Some("")
        );
    }

    #[test]
    fn replacing_backends_updates_only_vips() {
        let existing = lb();
        let mut desired = existing.clone();
        desired
            .vips
            .insert("10.10.1.12:32350".into(), "192.168.1.4:80".into());
        let mut txn = Txn::new(NB_DB);
        let (uuid, changed) =
            create_or_update_load_balancer_ops(&mut txn, Some(&existing), &desired);
        assert!(changed);
        assert_eq!(uuid, existing.uuid);
        let op = &txn.to_params()[1];
        assert_eq!(op["op"], "update");
        let cols: Vec<&String> = op["row"].as_object().unwrap().keys().collect();
        assert_eq!(cols, vec!["vips"]);
    }

    #[test]
    fn an_equal_load_balancer_appends_nothing() {
        let existing = lb();
        let mut txn = Txn::new(NB_DB);
        let (_, changed) = create_or_update_load_balancer_ops(&mut txn, Some(&existing), &existing);
        assert!(!changed);
        assert!(txn.is_empty());
    }

    #[test]
    fn attach_and_detach_mutate_the_load_balancer_column() {
        let (router, switch, lb) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut txn = Txn::new(NB_DB);
        add_to_router_ops(&mut txn, router, &[lb]);
        remove_from_switch_ops(&mut txn, switch, &[lb]);
        delete_load_balancer_ops(&mut txn, lb);
        let p = txn.to_params();
        assert_eq!(p[1]["table"], "Logical_Router");
        assert_eq!(
            p[1]["mutations"],
            serde_json::json!([["load_balancer", "insert", ["uuid", lb.to_string()]]])
        );
        assert_eq!(p[2]["table"], "Logical_Switch");
        assert_eq!(p[2]["mutations"][0][1], "delete");
        assert_eq!(p[3]["op"], "delete");
        assert_eq!(p[3]["table"], "Load_Balancer");
    }
}

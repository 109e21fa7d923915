//! `Logical_Switch_Port` rows (`ovn-nbctl lsp-add`, `lsp-set-type`,
//! `lsp-set-addresses`, `lsp-set-port-security`, `lsp-set-options`): the typed
//! row, constructors for the port kinds ovn-mesos creates (router, localnet,
//! VIF) and the create/update/delete verbs.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::{create_or_update_ops, logical_switch, Named, RowError, Table, Writable};
use crate::ovsdb::{Row, Txn};

/// One `Logical_Switch_Port` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogicalSwitchPort {
    pub uuid: Uuid,
    pub name: String,
    /// The `type` column: "" for a VIF, "router", "localnet", ...
    pub type_: String,
    /// e.g. `["0a:58:c0:a8:01:02 192.168.1.2"]`, `["router"]`, `["unknown"]`.
    pub addresses: Vec<String>,
    pub port_security: Vec<String>,
    /// e.g. `router-port=rtos-coke1`, `network_name=physnet`.
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
    /// Written by ovn-northd for `dynamic` addresses.
    pub dynamic_addresses: Option<String>,
    /// Written by ovn-northd once the port is bound to a chassis.
    pub up: Option<bool>,
    pub enabled: Option<bool>,
}

/// The columns [`create_or_update_port_ops`] keeps equal to the desired row.
pub const UPDATE_COLUMNS: &[&str] = &[
    "name",
    "type",
    "addresses",
    "port_security",
    "options",
    "external_ids",
];

impl Table for LogicalSwitchPort {
    const TABLE: &'static str = "Logical_Switch_Port";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(LogicalSwitchPort {
            uuid,
            name: c.string("name")?,
            type_: c.string("type")?,
            addresses: c.strings("addresses")?,
            port_security: c.strings("port_security")?,
            options: c.map("options")?,
            external_ids: c.map("external_ids")?,
            dynamic_addresses: c.opt_string("dynamic_addresses")?,
            up: c.opt_bool("up")?,
            enabled: c.opt_bool("enabled")?,
        })
    }
}

impl Writable for LogicalSwitchPort {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    /// The columns ovn-mesos writes (`dynamic_addresses` and `up` belong to
    /// ovn-northd and are never written).
    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("name", &self.name)
            .string("type", &self.type_)
            .strings("addresses", &self.addresses)
            .strings("port_security", &self.port_security)
            .map("options", &self.options)
            .map("external_ids", &self.external_ids)
            .opt_bool("enabled", self.enabled)
            .build()
    }
}

impl Named for LogicalSwitchPort {
    fn name(&self) -> &str {
        &self.name
    }
}

impl LogicalSwitchPort {
    /// A new port (fresh uuid) of `type_`, with no addresses yet.
    pub fn new(name: impl Into<String>, type_: impl Into<String>) -> Self {
        LogicalSwitchPort {
            uuid: Uuid::new_v4(),
            name: name.into(),
            type_: type_.into(),
            ..Default::default()
        }
    }

    /// `lsp-set-type router`, `lsp-set-addresses router`,
    /// `lsp-set-options router-port=<router_port>`: the switch side of a
    /// router attachment.
    pub fn router(name: impl Into<String>, router_port: &str) -> Self {
        let mut p = LogicalSwitchPort::new(name, "router");
        p.addresses = vec!["router".to_owned()];
        p.options
            .insert("router-port".to_owned(), router_port.to_owned());
        p
    }

    /// `lsp-set-type localnet`, `lsp-set-addresses unknown`,
    /// `lsp-set-options network_name=<physnet>`: the bridge to a physical network.
    pub fn localnet(name: impl Into<String>, physnet: &str) -> Self {
        let mut p = LogicalSwitchPort::new(name, "localnet");
        p.addresses = vec!["unknown".to_owned()];
        p.options
            .insert("network_name".to_owned(), physnet.to_owned());
        p
    }

    /// A VIF port with `addresses=unknown` (accepts any MAC: a physical interface).
    pub fn unknown_vif(name: impl Into<String>) -> Self {
        let mut p = LogicalSwitchPort::new(name, "");
        p.addresses = vec!["unknown".to_owned()];
        p
    }

    /// True for `type=router`.
    pub fn is_router_port(&self) -> bool {
        self.type_ == "router"
    }

    /// `options:router-port`, the peer router port of a router-type port.
    pub fn router_port(&self) -> Option<&str> {
        self.options.get("router-port").map(String::as_str)
    }

    /// The given external_ids replace the port's.
    pub fn with_external_ids(mut self, ids: BTreeMap<String, String>) -> Self {
        self.external_ids = ids;
        self
    }
}

/// `ovn-nbctl --may-exist lsp-add <switch> <port>` plus its settings: inserts
/// `desired` and attaches it to `switch` when `existing` is None, else updates
/// the [`UPDATE_COLUMNS`] that differ. Returns the port's uuid and whether
/// anything was appended.
pub fn create_or_update_port_ops(
    txn: &mut Txn,
    switch: Uuid,
    existing: Option<&LogicalSwitchPort>,
    desired: &LogicalSwitchPort,
) -> (Uuid, bool) {
    let (uuid, changed) = create_or_update_ops(txn, existing, desired, UPDATE_COLUMNS);
    if existing.is_none() {
        logical_switch::add_ports_ops(txn, switch, &[uuid]);
    }
    (uuid, changed)
}

/// `ovn-nbctl lsp-del`: detaches the ports from `switch`; the server deletes them.
pub fn delete_ports_ops(txn: &mut Txn, switch: Uuid, ports: &[Uuid]) {
    logical_switch::remove_ports_ops(txn, switch, ports);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::Datum;

    #[test]
    fn a_router_port_points_at_its_router_port() {
        let p = LogicalSwitchPort::router("stor-coke1", "rtos-coke1");
        assert!(p.is_router_port());
        assert_eq!(p.router_port(), Some("rtos-coke1"));
        assert_eq!(p.addresses, vec!["router"]);
    }

    #[test]
    fn a_localnet_port_names_its_physical_network() {
        let p = LogicalSwitchPort::localnet("lnet-ext_coke_m", "physnet");
        assert_eq!(p.type_, "localnet");
        assert_eq!(p.options.get("network_name").unwrap(), "physnet");
        assert_eq!(p.addresses, vec!["unknown"]);
    }

    #[test]
    fn northd_columns_are_read_but_never_written() {
        let mut p = LogicalSwitchPort::unknown_vif("eth1_m");
        p.dynamic_addresses = Some("0a:58:c0:a8:01:02 192.168.1.2".into());
        p.up = Some(true);
        let row = p.to_row();
        assert!(!row.contains_key("dynamic_addresses") && !row.contains_key("up"));
        let mut full = row.clone();
        full.insert("up".into(), Datum::boolean(true));
        full.insert(
            "dynamic_addresses".into(),
            Datum::string("0a:58:c0:a8:01:02 192.168.1.2"),
        );
        assert_eq!(LogicalSwitchPort::from_row(p.uuid, &full).unwrap(), p);
    }

    #[test]
    fn a_new_port_is_inserted_and_attached_to_its_switch() {
        let mut txn = Txn::new(super::super::NB_DB);
        let sw = Uuid::new_v4();
        let p = LogicalSwitchPort::router("stor-coke1", "rtos-coke1");
        create_or_update_port_ops(&mut txn, sw, None, &p);
        let params = txn.to_params();
        assert_eq!(params[1]["op"], "insert");
        assert_eq!(params[2]["op"], "mutate");
        assert_eq!(params[2]["where"][0][2][1], sw.to_string());
    }

    #[test]
    fn an_unchanged_port_appends_nothing() {
        let p = LogicalSwitchPort::router("stor-coke1", "rtos-coke1");
        let mut txn = Txn::new(super::super::NB_DB);
        let (_, changed) = create_or_update_port_ops(&mut txn, Uuid::new_v4(), Some(&p), &p);
        assert!(!changed);
        assert!(txn.is_empty());
    }
}

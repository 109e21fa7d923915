//! Unit tests of the switch IPAM index: seeding from rows and incremental sync.

use serde_json::{json, Map, Value};

use super::*;
use crate::ovsdb::datum::row_to_json;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn row(pairs: Vec<(&str, Datum)>) -> Row {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn lsp(name: &str, addresses: &[&str], dynamic: Option<&str>) -> Row {
    row(vec![
        ("name", Datum::string(name)),
        ("addresses", Datum::set(addresses.iter().copied())),
        ("dynamic_addresses", Datum::set(dynamic)),
    ])
}

fn router_lsp(name: &str, peer: &str) -> Row {
    let mut r = lsp(name, &["router"], None);
    r.insert("options".into(), Datum::map([("router-port", peer)]));
    r
}

fn switch(ports: &[Uuid], subnet: &str, exclude: Option<&str>) -> Row {
    let mut oc = vec![("subnet", subnet)];
    oc.extend(exclude.map(|e| ("exclude_ips", e)));
    row(vec![
        ("name", Datum::string("coke1")),
        ("ports", Datum::set(ports.iter().copied())),
        ("other_config", Datum::map(oc)),
    ])
}

/// A cache holding `rows` (table, uuid, row).
fn cache(rows: &[(&str, Uuid, Row)]) -> Cache {
    let mut tables: Map<String, Value> = Map::new();
    for (table, uuid, row) in rows {
        let t = tables.entry(table.to_string()).or_insert_with(|| json!({}));
        t[uuid.to_string()] = json!({ "initial": row_to_json(row) });
    }
    let mut c = Cache::default();
    c.apply_update2(&Value::Object(tables)).unwrap();
    c
}

struct World {
    sw: Uuid,
    rows: Vec<(&'static str, Uuid, Row)>,
    ports: Vec<Uuid>,
}

impl World {
    /// Switch coke1 192.168.1.0/24 with router port stor-coke1 (192.168.1.1).
    fn new() -> World {
        let (stor, rtos) = (Uuid::new_v4(), Uuid::new_v4());
        let rtos_row = row(vec![
            ("name", Datum::string("rtos-coke1")),
            ("networks", Datum::set(["192.168.1.1/24"])),
        ]);
        World {
            sw: Uuid::new_v4(),
            rows: vec![
                (LSP, stor, router_lsp("stor-coke1", "rtos-coke1")),
                (LRP, rtos, rtos_row),
            ],
            ports: vec![stor],
        }
    }

    fn add(&mut self, r: Row) -> Uuid {
        let u = Uuid::new_v4();
        self.rows.push((LSP, u, r));
        self.ports.push(u);
        u
    }

    fn remove(&mut self, u: Uuid) {
        self.ports.retain(|p| *p != u);
        self.rows.retain(|(_, r, _)| *r != u);
    }

    fn cache(&self, exclude: Option<&str>) -> (Cache, Row) {
        let sw = switch(&self.ports, "192.168.1.0/24", exclude);
        let mut rows = self.rows.clone();
        rows.push(("Logical_Switch", self.sw, sw.clone()));
        (cache(&rows), sw)
    }

    fn index(&self, exclude: Option<&str>) -> SwitchIndex {
        let (c, sw) = self.cache(exclude);
        SwitchIndex::build(&c, self.sw, "coke1", &sw).unwrap()
    }
}

#[test]
fn seeding_marks_static_dynamic_and_router_addresses_and_exclusions() {
    let mut w = World::new();
    w.add(lsp("a", &["0a:58:c0:a8:01:02 192.168.1.2"], None));
    w.add(lsp(
        "b",
        &["dynamic"],
        Some("0a:00:00:00:00:03 192.168.1.3"),
    ));
    w.add(lsp(
        "c",
        &["0a:00:00:00:00:09 dynamic"],
        Some("0a:00:00:00:00:09 192.168.1.4"),
    ));
    w.add(lsp("d", &["unknown"], None));
    w.add(lsp("e", &["0a:58:0a:00:00:05 10.0.0.5"], None));
    let mut idx = w.index(Some("192.168.1.5..192.168.1.6"));
    for used in ["192.168.1.2", "192.168.1.3", "192.168.1.4"] {
        assert!(idx.is_used(ip(used)), "{used}");
    }
    assert_eq!(idx.gateway(), ip("192.168.1.1"));
    assert_eq!(idx.len(), 6);
    assert_eq!(idx.port_named("a"), Some(w.ports[1]));
    let got: Vec<Ipv4Addr> = (0..3).map(|_| idx.allocate(None).unwrap()).collect();
    assert_eq!(
        got,
        vec![ip("192.168.1.7"), ip("192.168.1.8"), ip("192.168.1.9")]
    );
}

#[test]
fn a_router_port_elsewhere_than_the_first_host_is_the_gateway_and_taken() {
    let mut w = World::new();
    w.rows[1]
        .2
        .insert("networks".into(), Datum::set(["192.168.1.254/24"]));
    let mut idx = w.index(None);
    assert_eq!(idx.gateway(), ip("192.168.1.254"));
    assert!(idx.is_used(ip("192.168.1.254")));
    assert_eq!(idx.allocate(None).unwrap(), ip("192.168.1.2"));
}

#[test]
fn sync_follows_ports_joining_and_leaving_and_dynamic_addresses_arriving() {
    let mut w = World::new();
    let a = w.add(lsp("a", &["0a:58:c0:a8:01:02 192.168.1.2"], None));
    let b = w.add(lsp("b", &["dynamic"], None));
    let mut idx = w.index(None);
    assert!(idx.is_used(ip("192.168.1.2")));
    w.remove(a);
    w.rows.iter_mut().find(|(_, u, _)| *u == b).unwrap().2 =
        lsp("b", &["dynamic"], Some("0a:00:00:00:00:07 192.168.1.7"));
    let c = w.add(lsp("c", &["0a:58:c0:a8:01:03 192.168.1.3"], None));
    let (cache, sw) = w.cache(None);
    idx.sync(&cache, "coke1", &sw).unwrap();
    assert!(!idx.is_used(ip("192.168.1.2")), "a left");
    assert!(idx.is_used(ip("192.168.1.7")), "b got its dynamic address");
    assert!(idx.is_used(ip("192.168.1.3")), "c joined");
    assert_eq!(idx.port_named("a"), None);
    assert_eq!(idx.port_named("c"), Some(c));
    assert_eq!(idx.len(), 3);
}

#[test]
fn a_changed_exclusion_rebuilds_the_index() {
    let w = World::new();
    let mut idx = w.index(None);
    let (cache, sw) = w.cache(Some("192.168.1.2..192.168.1.10"));
    idx.sync(&cache, "coke1", &sw).unwrap();
    assert_eq!(idx.allocate(None).unwrap(), ip("192.168.1.11"));
}

#[test]
fn an_address_held_twice_stays_taken_until_both_holders_leave() {
    let mut w = World::new();
    let a = w.add(lsp("a", &["0a:58:c0:a8:01:02 192.168.1.2"], None));
    let b = w.add(lsp("b", &["0a:00:00:00:00:02 192.168.1.2"], None));
    let mut idx = w.index(None);
    w.remove(a);
    let (cache, sw) = w.cache(None);
    idx.sync(&cache, "coke1", &sw).unwrap();
    assert!(idx.is_used(ip("192.168.1.2")), "b still holds it");
    w.remove(b);
    let (cache, sw) = w.cache(None);
    idx.sync(&cache, "coke1", &sw).unwrap();
    assert!(!idx.is_used(ip("192.168.1.2")));
}

#[test]
fn created_ports_are_known_without_reading_them_and_released_addresses_return() {
    let w = World::new();
    let mut idx = w.index(None);
    let a = idx.allocate(None).unwrap();
    let b = idx.allocate(None).unwrap();
    idx.release(b);
    let p = Uuid::new_v4();
    idx.add_created(p, "task-a", a);
    assert_eq!(idx.port_named("task-a"), Some(p));
    assert!(idx.is_used(a) && !idx.is_used(b));
    assert!(matches!(
        idx.allocate(Some(a)),
        Err(IpamError::AlreadyAllocated { .. })
    ));
}

#[test]
fn a_switch_without_subnet_or_with_a_bad_one_is_an_error_naming_it() {
    let mut r = switch(&[], "192.168.1.0/24", None);
    r.insert("other_config".into(), Datum::map([("foo", "bar")]));
    let c = cache(&[]);
    let e = SwitchIndex::build(&c, Uuid::new_v4(), "coke1", &r).unwrap_err();
    assert!(matches!(e, PortError::NoSubnet { ref switch } if switch == "coke1"));
    let r = switch(&[], "192.168.1.0/33", None);
    let e = SwitchIndex::build(&c, Uuid::new_v4(), "coke1", &r).unwrap_err();
    assert!(matches!(e, PortError::BadSubnet { .. }), "{e:?}");
}

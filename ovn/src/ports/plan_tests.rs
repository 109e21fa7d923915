//! Unit tests of task port planning: switch resolution, rows, guards, idempotency.

use serde_json::{json, Map, Value};

use super::*;
use crate::nb::Writable;
use crate::ovsdb::datum::row_to_json;

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

fn switch_row(name: &str, kind: Option<Kind>, ports: &[Uuid]) -> Row {
    let mut r = Row::new();
    r.insert("name".into(), Datum::string(name));
    r.insert("ports".into(), Datum::set(ports.iter().copied()));
    r.insert(
        "other_config".into(),
        Datum::map([("subnet", "192.168.1.0/29")]),
    );
    if let Some(k) = kind {
        let ids = Owner::new(k).tenant("coke").with(owner::NETWORK, name);
        r.insert("external_ids".into(), Datum::string_map(ids.as_map()));
    }
    r
}

fn spec(task: &str) -> TaskPortSpec {
    TaskPortSpec {
        switch: "coke1".into(),
        task_id: task.into(),
        framework_id: "fw-1".into(),
        service: Some("web".into()),
        requested_chassis: Some("agent1".into()),
        ip: None,
        agent: None,
        version: None,
    }
}

fn sw_ref(uuid: Uuid) -> SwitchRef {
    SwitchRef {
        uuid,
        name: "coke1".into(),
        tenant: "coke".into(),
        network: "coke1".into(),
    }
}

#[test]
fn switches_resolve_only_when_they_are_ovn_mesos_networks() {
    let (a, b) = (Uuid::from_u128(2), Uuid::new_v4());
    let c = cache(&[
        (
            "Logical_Switch",
            a,
            switch_row("coke1", Some(Kind::NetworkSwitch), &[]),
        ),
        (
            "Logical_Switch",
            b,
            switch_row("join_coke", Some(Kind::JoinSwitch), &[]),
        ),
        // Switches of the same name made by hand or of another kind, with
        // smaller uuids, do not hide the network.
        (
            "Logical_Switch",
            Uuid::from_u128(0),
            switch_row("coke1", None, &[]),
        ),
        (
            "Logical_Switch",
            Uuid::from_u128(1),
            switch_row("coke1", Some(Kind::ExternalSwitch), &[]),
        ),
    ]);
    let sw = resolve_switch(&c, "coke1").unwrap();
    assert_eq!(
        (sw.uuid, sw.tenant.as_str(), sw.network.as_str()),
        (a, "coke", "coke1")
    );
    assert!(matches!(
        resolve_switch(&c, "join_coke"),
        Err(PortError::NotOvnMesosNetwork { .. })
    ));
    assert!(
        matches!(resolve_switch(&c, "pepsi1"), Err(PortError::UnknownSwitch { ref switch }) if switch == "pepsi1")
    );
}

#[test]
fn a_new_port_row_carries_addresses_security_chassis_and_owner() {
    let ip: Ipv4Addr = "192.168.1.2".parse().unwrap();
    let p = port_row(
        &spec("web.1"),
        &sw_ref(Uuid::new_v4()),
        "web.1",
        Uuid::new_v4(),
        ip,
    );
    assert_eq!(
        p.addresses,
        vec!["0a:58:c0:a8:01:02 192.168.1.2".to_owned()]
    );
    assert_eq!(p.port_security, p.addresses);
    assert_eq!(
        p.options.get("requested-chassis").map(String::as_str),
        Some("agent1")
    );
    assert!(owner::is_tenant_row(
        &p.external_ids,
        Kind::TaskPort,
        "coke"
    ));
    for (k, v) in [
        (owner::TASK, "web.1"),
        (owner::FRAMEWORK, "fw-1"),
        (owner::SERVICE, "web"),
        (owner::NETWORK, "coke1"),
    ] {
        assert_eq!(p.external_ids.get(k).map(String::as_str), Some(v), "{k}");
    }
    let back = task_port_from_row(
        p.uuid,
        &p.to_row(),
        "coke1",
        "192.168.1.0/24".parse().unwrap(),
        "192.168.1.1".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(
        (back.ip, back.prefix_len, back.task_id.as_str()),
        (ip, 24, "web.1")
    );
    assert_eq!(back.agent, None);
    // no version given, none written nor read back
    assert!(!p.external_ids.contains_key(owner::VERSION), "{p:?}");
    assert_eq!(back.version, None);
    // the agent it runs on and the version of its definition, read back
    let mut on_agent = spec("web.2");
    on_agent.agent = Some(PortAgent {
        id: "a1-S0".into(),
        hostname: "mesos-agent1".into(),
    });
    on_agent.version = Some("0123456789abcdef".into());
    let p = port_row(
        &on_agent,
        &sw_ref(Uuid::new_v4()),
        "web.2",
        Uuid::new_v4(),
        ip,
    );
    assert_eq!(p.external_ids[owner::AGENT], "a1-S0");
    assert_eq!(p.external_ids[owner::HOSTNAME], "mesos-agent1");
    assert_eq!(p.external_ids[owner::VERSION], "0123456789abcdef");
    let back = task_port_from_row(
        p.uuid,
        &p.to_row(),
        "coke1",
        "192.168.1.0/24".parse().unwrap(),
        "192.168.1.1".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(back.agent, on_agent.agent);
    assert_eq!(back.version, on_agent.version);
}

#[test]
fn the_guard_waits_on_the_version_when_the_cache_has_it() {
    let u = Uuid::new_v4();
    let mut row = switch_row("coke1", None, &[]);
    let mut txn = Txn::new("OVN_Northbound");
    guard_switch(&mut txn, u, &row);
    assert_eq!(
        txn.to_params()[1]["columns"],
        json!(["other_config", "ports"])
    );
    row.insert("_version".into(), Datum::uuid(Uuid::new_v4()));
    let mut txn = Txn::new("OVN_Northbound");
    guard_switch(&mut txn, u, &row);
    let op = &txn.to_params()[1];
    assert_eq!(op["op"], "wait");
    assert_eq!(op["columns"], json!(["_version"]));
    assert_eq!(op["where"][0][2][1], u.to_string());
}

#[test]
fn planning_reuses_the_tasks_port_and_refuses_someone_elses_name() {
    let sw = Uuid::new_v4();
    let ip: Ipv4Addr = "192.168.1.3".parse().unwrap();
    let mut mine_spec = spec("web.1");
    mine_spec.version = Some("v1".into());
    let mine = port_row(&mine_spec, &sw_ref(sw), "web.1", Uuid::new_v4(), ip);
    let mut other = port_row(
        &spec("web.2"),
        &sw_ref(sw),
        "web.2",
        Uuid::new_v4(),
        "192.168.1.4".parse().unwrap(),
    );
    other
        .external_ids
        .insert(owner::FRAMEWORK.into(), "fw-2".into());
    let srow = switch_row("coke1", Some(Kind::NetworkSwitch), &[mine.uuid, other.uuid]);
    let c = cache(&[
        ("Logical_Switch", sw, srow.clone()),
        ("Logical_Switch_Port", mine.uuid, mine.to_row()),
        ("Logical_Switch_Port", other.uuid, other.to_row()),
    ]);
    let mut idx = SwitchIndex::build(&c, sw, "coke1", &srow).unwrap();
    let again = plan_port(
        &c,
        &mut idx,
        &sw_ref(sw),
        &spec("web.1"),
        "web.1",
        Uuid::new_v4(),
    )
    .unwrap();
    assert!(matches!(again, Planned::Existing(ref p) if p.ip == ip && p.uuid == mine.uuid));
    // the existing port as the NB has it: its version, not the spec's
    assert!(
        matches!(again, Planned::Existing(ref p) if p.version.as_deref() == Some("v1")),
        "{again:?}"
    );
    let e = plan_port(
        &c,
        &mut idx,
        &sw_ref(sw),
        &spec("web.2"),
        "web.2",
        Uuid::new_v4(),
    )
    .unwrap_err();
    assert!(matches!(e, PortError::NameTaken { .. }), "{e:?}");
}

#[test]
fn a_small_subnet_runs_out_with_an_error_naming_switch_and_subnet() {
    // 192.168.1.0/29: hosts .2 ... .6 after the router (.1).
    let sw = Uuid::new_v4();
    let srow = switch_row("coke1", Some(Kind::NetworkSwitch), &[]);
    let c = cache(&[("Logical_Switch", sw, srow.clone())]);
    let mut idx = SwitchIndex::build(&c, sw, "coke1", &srow).unwrap();
    let mut got = Vec::new();
    for i in 0..5 {
        match plan_port(
            &c,
            &mut idx,
            &sw_ref(sw),
            &spec(&format!("t{i}")),
            &format!("t{i}"),
            Uuid::new_v4(),
        )
        .unwrap()
        {
            Planned::New { port, .. } => got.push(port.ip.to_string()),
            Planned::Existing(_) => panic!("nothing exists"),
        }
    }
    assert_eq!(
        got,
        [
            "192.168.1.2",
            "192.168.1.3",
            "192.168.1.4",
            "192.168.1.5",
            "192.168.1.6"
        ]
    );
    let e = plan_port(&c, &mut idx, &sw_ref(sw), &spec("t5"), "t5", Uuid::new_v4()).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, PortError::SubnetFull { .. })
            && text.contains("coke1")
            && text.contains("192.168.1.0/29"),
        "{text}"
    );
}

#[test]
fn a_requested_address_is_kept_or_refused_when_taken() {
    let sw = Uuid::new_v4();
    let srow = switch_row("coke1", Some(Kind::NetworkSwitch), &[]);
    let c = cache(&[("Logical_Switch", sw, srow.clone())]);
    let mut idx = SwitchIndex::build(&c, sw, "coke1", &srow).unwrap();
    let mut s = spec("a");
    s.ip = Some("192.168.1.5".parse().unwrap());
    s.version = Some("v2".into());
    let p = plan_port(&c, &mut idx, &sw_ref(sw), &s, "a", Uuid::new_v4()).unwrap();
    assert!(matches!(p, Planned::New { ref port, .. } if port.ip == s.ip.unwrap()));
    // the new port and its row carry the spec's version
    assert!(
        matches!(p, Planned::New { ref port, ref row }
            if port.version == s.version && row.external_ids.get(owner::VERSION) == s.version.as_ref()),
        "{p:?}"
    );
    let mut s2 = spec("b");
    s2.ip = s.ip;
    let e = plan_port(&c, &mut idx, &sw_ref(sw), &s2, "b", Uuid::new_v4()).unwrap_err();
    assert!(matches!(e, PortError::IpUnavailable { .. }), "{e:?}");
}

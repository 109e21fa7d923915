//! Test inputs shared by the launch module's unit tests: task definitions
//! parsed from task-file JSON (as the scheduler gets them), offers and a
//! provisioned task port, and the topology they resolve in.

use std::net::Ipv4Addr;
use std::path::Path;

use mesos_proto::v1::resource::{reservation_info, AllocationInfo, ReservationInfo};
use mesos_proto::v1::{value, Offer, Resource};
use ovn::ipam::mac_for_ip;
use ovn::ports::TaskPort;
use serde_json::json;
use uuid::Uuid;

use ovn::topology::NetworkInfo;

use crate::tasks::{parse_task_file, TaskDefinition, Topology};

/// The topology the definitions resolve in: switch `coke1`
/// (192.168.1.0/24) of tenant `coke`, whose gateway is 10.10.1.12.
#[derive(Debug)]
pub struct Coke1;

impl Topology for Coke1 {
    fn network(&self, switch: &str) -> Option<NetworkInfo> {
        (switch == "coke1").then(|| NetworkInfo {
            tenant: "coke".into(),
            name: "coke1".into(),
            subnet: "192.168.1.0/24".parse().unwrap(),
            router_ip: Ipv4Addr::new(192, 168, 1, 1),
            router_mac: "0a:58:c0:a8:01:01".parse().unwrap(),
        })
    }

    fn gateway_ips(&self, _tenant: &str) -> Vec<Ipv4Addr> {
        vec![Ipv4Addr::new(10, 10, 1, 12)]
    }
}

/// A definition `name` on switch `coke1` needing `cpus` and `mem`.
pub fn definition(name: &str, cpus: f64, mem: f64) -> TaskDefinition {
    let file = json!({
        "name": name,
        "task_id": {"value": name},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}
        ],
        "command": {"shell": false, "value": "/usr/bin/python3",
                    "arguments": ["python3", "-m", "http.server", "80"],
                    "environment": {"variables": [{"name": "GREETING", "value": "hi"}]}},
        "container": {"type": "MESOS", "network_infos": [
            {"name": "ovn", "labels": {"labels": [{"key": "logical_switch", "value": "coke1"}]}}
        ]},
        "labels": {"labels": [{"key": "ovn-mesos/instances", "value": "3"}]},
        "discovery": {"visibility": "EXTERNAL", "name": "web", "ports": {"ports": [
            {"number": 80, "protocol": "tcp", "labels": {"labels": [{"key": "VIP_0", "value": "/web:8080"}]}}
        ]}}
    });
    parse_task_file(Path::new("t.json"), file.to_string().as_bytes())
        .expect("a valid task file")
        .0
}

/// A task file of the repository's `tasks/` directory, parsed.
pub fn seed_definition(file_name: &str) -> TaskDefinition {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tasks")
        .join(file_name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_task_file(&path, &bytes).expect("a seed task file").0
}

/// An unreserved scalar resource.
pub fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

/// An unreserved `ports` resource with these inclusive ranges.
pub fn ports(ranges: &[(u64, u64)]) -> Resource {
    Resource {
        name: "ports".into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: ranges
                .iter()
                .map(|&(begin, end)| value::Range { begin, end })
                .collect(),
        }),
        ..Default::default()
    }
}

/// `r` dynamically reserved for `role` and allocated to `allocated`, as a
/// multi-role master offers it.
pub fn reserved(mut r: Resource, role: &str, allocated: &str) -> Resource {
    r.reservations = vec![ReservationInfo {
        r#type: Some(reservation_info::Type::Dynamic as i32),
        role: Some(role.into()),
        principal: Some("ops".into()),
        ..Default::default()
    }];
    r.allocation_info = Some(AllocationInfo {
        role: Some(allocated.into()),
    });
    r
}

/// Offer `id` of agent `agent` (hostname `<agent>.example`) with unreserved
/// `cpus` and `mem`.
pub fn offer(id: &str, agent: &str, cpus: f64, mem: f64) -> Offer {
    Offer {
        id: id.into(),
        agent_id: agent.into(),
        framework_id: "fw-1".into(),
        hostname: format!("{agent}.example"),
        resources: vec![scalar("cpus", cpus), scalar("mem", mem)],
        ..Default::default()
    }
}

/// The port of task `task_id` at 192.168.1.`host` on `coke1`.
pub fn port(task_id: &str, host: u8) -> TaskPort {
    let ip = Ipv4Addr::new(192, 168, 1, host);
    TaskPort {
        name: ovn::ports::port_name(task_id).expect("a port name"),
        switch: "coke1".into(),
        tenant: "coke".into(),
        mac: mac_for_ip(ip),
        ip,
        prefix_len: 24,
        gateway: Ipv4Addr::new(192, 168, 1, 1),
        uuid: Uuid::nil(),
        task_id: task_id.into(),
        framework_id: "fw-1".into(),
        service: Some("web".into()),
        agent: None,
        version: None,
    }
}

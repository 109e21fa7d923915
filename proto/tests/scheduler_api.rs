//! Scheduler API messages (`mesos.v1.scheduler.Call` / `Event`) in the
//! shapes the master and frameworks really exchange: every one survives
//! JSON -> proto -> JSON and proto -> bytes -> proto unchanged, enums are
//! names, int64 are numbers, bytes are base64 and wrapper messages nest.

mod common;

use common::{round_trip, UUID_BASE64, UUID_BYTES};
use mesos_proto::v1::scheduler::{call, event, Call, Event};
use mesos_proto::v1::{
    executor_info, network_info, offer::operation, task_status, value, FrameworkId, TaskState,
};
use mesos_proto::{from_json, to_json};
use serde_json::json;

fn task_info() -> serde_json::Value {
    json!({
        "name": "web-1",
        "task_id": {"value": "web-1"},
        "agent_id": {"value": "agent-1"},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}},
            {"name": "ports", "type": "RANGES",
             "ranges": {"range": [{"begin": 31000, "end": 31001}]}}
        ],
        "executor": {
            "type": "CUSTOM",
            "executor_id": {"value": "exec-web-1"},
            "framework_id": {"value": "fw-1"},
            "command": {
                "value": "./ovn-mesos-executor",
                "uris": [{"value": "http://files/ovn-mesos-executor", "executable": true,
                          "extract": false}]
            },
            "shutdown_grace_period": {"nanoseconds": 5_000_000_000_i64}
        },
        "container": {
            "type": "MESOS",
            "network_infos": [{
                "name": "ovn",
                "labels": {"labels": [{"key": "logical_switch", "value": "coke1"}]}
            }]
        },
        "kill_policy": {"grace_period": {"nanoseconds": 3_000_000_000_i64}},
        "labels": {"labels": [{"key": "app", "value": "web"}]}
    })
}

#[test]
fn subscribe_carries_the_framework_info() {
    let call: Call = round_trip(&json!({
        "type": "SUBSCRIBE",
        "subscribe": {
            "framework_info": {
                "user": "root",
                "name": "ovn-mesos",
                "id": {"value": "fw-1"},
                "failover_timeout": 604800.0,
                "checkpoint": true,
                "hostname": "scheduler-host",
                "roles": ["*"],
                "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}],
                "labels": {"labels": [{"key": "owner", "value": "ovn"}]}
            }
        }
    }));
    assert_eq!(call.r#type(), call::Type::Subscribe);
    let info = &call.subscribe.as_ref().expect("subscribe").framework_info;
    assert_eq!(info.id, Some(FrameworkId::from("fw-1")));
    assert_eq!(info.failover_timeout(), 604800.0);
    assert_eq!(info.capabilities.len(), 2);
}

#[test]
fn accept_launches_tasks_with_a_custom_executor() {
    let call: Call = round_trip(&json!({
        "type": "ACCEPT",
        "framework_id": {"value": "fw-1"},
        "accept": {
            "offer_ids": [{"value": "offer-1"}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task_info()]}}],
            "filters": {"refuse_seconds": 10.0}
        }
    }));
    let accept = call.accept.expect("accept");
    assert_eq!(accept.operations[0].r#type(), operation::Type::Launch);
    let task = &accept.operations[0]
        .launch
        .as_ref()
        .expect("launch")
        .task_infos[0];
    let executor = task.executor.as_ref().expect("executor");
    assert_eq!(executor.r#type(), executor_info::Type::Custom);
    assert_eq!(
        executor.shutdown_grace_period.map(|d| d.nanoseconds),
        Some(5_000_000_000)
    );
    let ports = &task.resources[2];
    assert_eq!(ports.r#type(), value::Type::Ranges);
    assert_eq!(ports.ranges.as_ref().expect("ranges").range[0].end, 31001);
    assert_eq!(accept.filters.expect("filters").refuse_seconds(), 10.0);
}

#[test]
fn launch_group_and_other_offer_calls_round_trip() {
    let mut grouped = task_info();
    grouped.as_object_mut().expect("object").remove("executor");
    round_trip::<Call>(&json!({
        "type": "ACCEPT",
        "framework_id": {"value": "fw-1"},
        "accept": {
            "offer_ids": [{"value": "offer-2"}],
            "operations": [{
                "type": "LAUNCH_GROUP",
                "launch_group": {
                    "executor": {"type": "DEFAULT", "executor_id": {"value": "group-exec"}},
                    "task_group": {"tasks": [grouped]}
                }
            }]
        }
    }));
    round_trip::<Call>(&json!({
        "type": "DECLINE",
        "framework_id": {"value": "fw-1"},
        "decline": {"offer_ids": [{"value": "offer-3"}], "filters": {"refuse_seconds": 5.0}}
    }));
    round_trip::<Call>(&json!({"type": "REVIVE", "framework_id": {"value": "fw-1"}}));
    round_trip::<Call>(&json!({
        "type": "SUPPRESS", "framework_id": {"value": "fw-1"}, "suppress": {"roles": ["*"]}
    }));
    round_trip::<Call>(&json!({"type": "TEARDOWN", "framework_id": {"value": "fw-1"}}));
}

#[test]
fn acknowledge_kill_reconcile_and_message_calls_round_trip() {
    let ack: Call = round_trip(&json!({
        "type": "ACKNOWLEDGE",
        "framework_id": {"value": "fw-1"},
        "acknowledge": {
            "agent_id": {"value": "agent-1"},
            "task_id": {"value": "web-1"},
            "uuid": UUID_BASE64
        }
    }));
    assert_eq!(ack.acknowledge.expect("acknowledge").uuid, UUID_BYTES);

    round_trip::<Call>(&json!({
        "type": "KILL",
        "framework_id": {"value": "fw-1"},
        "kill": {"task_id": {"value": "web-1"}, "agent_id": {"value": "agent-1"}}
    }));
    let explicit: Call = round_trip(&json!({
        "type": "RECONCILE",
        "framework_id": {"value": "fw-1"},
        "reconcile": {"tasks": [{"task_id": {"value": "web-1"}, "agent_id": {"value": "agent-1"}}]}
    }));
    assert_eq!(explicit.reconcile.expect("reconcile").tasks.len(), 1);
    let implicit: Call = round_trip(&json!({
        "type": "RECONCILE", "framework_id": {"value": "fw-1"}, "reconcile": {}
    }));
    assert!(implicit.reconcile.expect("reconcile").tasks.is_empty());
    round_trip::<Call>(&json!({
        "type": "SHUTDOWN",
        "framework_id": {"value": "fw-1"},
        "shutdown": {"executor_id": {"value": "exec-web-1"}, "agent_id": {"value": "agent-1"}}
    }));
    round_trip::<Call>(&json!({
        "type": "MESSAGE",
        "framework_id": {"value": "fw-1"},
        "message": {"agent_id": {"value": "agent-1"}, "executor_id": {"value": "exec-web-1"},
                    "data": "aGVsbG8gZXhlY3V0b3I="}
    }));
    round_trip::<Call>(&json!({
        "type": "UPDATE_FRAMEWORK",
        "framework_id": {"value": "fw-1"},
        "update_framework": {"framework_info": {"user": "root", "name": "ovn-mesos",
                                                "id": {"value": "fw-1"}}}
    }));
}

#[test]
fn subscribed_is_the_first_event() {
    let event: Event = round_trip(&json!({
        "type": "SUBSCRIBED",
        "subscribed": {
            "framework_id": {"value": "fw-1"},
            "heartbeat_interval_seconds": 15.0,
            "master_info": {
                "id": "master-1", "ip": 16_777_343, "port": 5050, "hostname": "localhost",
                "version": "1.11.0",
                "address": {"hostname": "localhost", "ip": "127.0.0.1", "port": 5050}
            }
        }
    }));
    assert_eq!(event.r#type(), event::Type::Subscribed);
    let subscribed = event.subscribed.expect("subscribed");
    assert_eq!(subscribed.heartbeat_interval_seconds, Some(15.0));
    assert_eq!(subscribed.master_info.expect("master").port, 5050);
}

#[test]
fn offers_nest_in_their_wrapper_message() {
    let event: Event = round_trip(&json!({
        "type": "OFFERS",
        "offers": {"offers": [{
            "id": {"value": "offer-1"},
            "framework_id": {"value": "fw-1"},
            "agent_id": {"value": "agent-1"},
            "hostname": "node1",
            "url": {"scheme": "http", "path": "/slave(1)",
                    "address": {"hostname": "node1", "ip": "192.168.1.10", "port": 5051}},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4.0}, "role": "*",
                 "allocation_info": {"role": "*"}},
                {"name": "ports", "type": "RANGES",
                 "ranges": {"range": [{"begin": 31000, "end": 32000}]}, "role": "*"}
            ],
            "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}}],
            "allocation_info": {"role": "*"}
        }]}
    }));
    let offers = event.offers.expect("offers").offers;
    assert_eq!(offers[0].hostname, "node1");
    assert_eq!(
        offers[0].resources[1]
            .ranges
            .as_ref()
            .expect("ranges")
            .range[0]
            .begin,
        31000
    );
    let json = to_json(&offers[0]).expect("encode");
    assert_eq!(json["resources"][0]["type"], "SCALAR");
}

#[test]
fn update_carries_a_uuid_and_the_task_ip() {
    let event: Event = round_trip(&json!({
        "type": "UPDATE",
        "update": {"status": {
            "task_id": {"value": "web-1"},
            "state": "TASK_RUNNING",
            "source": "SOURCE_EXECUTOR",
            "agent_id": {"value": "agent-1"},
            "executor_id": {"value": "exec-web-1"},
            "timestamp": 1_700_000_000.5,
            "uuid": UUID_BASE64,
            "healthy": true,
            "container_status": {
                "container_id": {"value": "c-1"},
                "network_infos": [{
                    "name": "ovn",
                    "ip_addresses": [{"protocol": "IPv4", "ip_address": "10.0.1.5"}],
                    "labels": {"labels": [{"key": "logical_switch", "value": "coke1"}]}
                }]
            }
        }}
    }));
    let status = event.update.expect("update").status;
    assert_eq!(status.state(), TaskState::TaskRunning);
    assert_eq!(status.source(), task_status::Source::Executor);
    assert_eq!(status.uuid.as_deref(), Some(&UUID_BYTES[..]));
    let ip = &status
        .container_status
        .expect("container status")
        .network_infos[0]
        .ip_addresses[0];
    assert_eq!(ip.protocol(), network_info::Protocol::IPv4);
    assert_eq!(ip.ip_address.as_deref(), Some("10.0.1.5"));
}

#[test]
fn a_master_generated_update_has_no_uuid() {
    let event: Event = round_trip(&json!({
        "type": "UPDATE",
        "update": {"status": {
            "task_id": {"value": "web-9"},
            "state": "TASK_LOST",
            "source": "SOURCE_MASTER",
            "reason": "REASON_RECONCILIATION",
            "message": "Reconciliation: Task is unknown"
        }}
    }));
    let status = event.update.expect("update").status;
    assert_eq!(status.uuid, None);
    assert_eq!(status.reason(), task_status::Reason::Reconciliation);
}

#[test]
fn small_events_round_trip() {
    round_trip::<Event>(&json!({"type": "HEARTBEAT"}));
    let error: Event = round_trip(&json!({
        "type": "ERROR", "error": {"message": "Framework failed over"}
    }));
    assert_eq!(error.error.expect("error").message, "Framework failed over");
    round_trip::<Event>(&json!({"type": "RESCIND", "rescind": {"offer_id": {"value": "o-1"}}}));
    round_trip::<Event>(&json!({
        "type": "FAILURE",
        "failure": {"agent_id": {"value": "agent-1"}, "executor_id": {"value": "exec-web-1"},
                    "status": 256}
    }));
    round_trip::<Event>(&json!({
        "type": "MESSAGE",
        "message": {"agent_id": {"value": "agent-1"}, "executor_id": {"value": "exec-web-1"},
                    "data": "aGVsbG8gZXhlY3V0b3I="}
    }));
}

#[test]
fn enums_are_written_as_names_not_numbers() {
    let call = Call {
        r#type: Some(call::Type::Acknowledge as i32),
        ..Default::default()
    };
    assert_eq!(
        to_json(&call).expect("encode"),
        json!({"type": "ACKNOWLEDGE"})
    );
    let event = Event {
        r#type: Some(event::Type::UpdateOperationStatus as i32),
        ..Default::default()
    };
    assert_eq!(
        to_json(&event).expect("encode")["type"],
        "UPDATE_OPERATION_STATUS"
    );
}

#[test]
fn int64_may_arrive_as_a_string() {
    let call: Call = from_json(&json!({
        "type": "KILL",
        "framework_id": {"value": "fw-1"},
        "kill": {"task_id": {"value": "web-1"},
                 "kill_policy": {"grace_period": {"nanoseconds": "9000000000"}}}
    }))
    .expect("string int64 accepted");
    let kill = call.kill.expect("kill");
    let grace = kill
        .kill_policy
        .and_then(|p| p.grace_period)
        .expect("grace period");
    assert_eq!(grace.nanoseconds, 9_000_000_000);
    let json = to_json(&Call {
        kill: Some(call::Kill {
            kill_policy: Some(mesos_proto::v1::KillPolicy {
                grace_period: Some(grace),
            }),
            ..kill
        }),
        ..Default::default()
    })
    .expect("encode");
    assert_eq!(
        json["kill"]["kill_policy"]["grace_period"]["nanoseconds"],
        json!(9_000_000_000_i64)
    );
}

#[test]
fn unknown_keys_are_ignored_in_calls() {
    let call: Call = from_json(&json!({
        "type": "SUBSCRIBE",
        "future_field": {"anything": [1, 2, 3]},
        "subscribe": {"framework_info": {"user": "root", "name": "x", "shiny": true}}
    }))
    .expect("unknown keys ignored");
    assert_eq!(call.subscribe.expect("subscribe").framework_info.name, "x");
}

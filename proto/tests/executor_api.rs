//! Executor API messages (`mesos.v1.executor.Call` / `Event`) as a custom
//! executor and the agent exchange them: every one survives JSON -> proto
//! -> JSON and proto -> bytes -> proto unchanged.

mod common;

use common::{round_trip, UUID_BASE64, UUID_BYTES};
use mesos_proto::v1::executor::{call, event, Call, Event};
use mesos_proto::v1::{executor_info, task_status, TaskState};
use mesos_proto::{from_json, to_json};
use serde_json::{json, Value};

fn ids() -> (Value, Value) {
    (json!({"value": "exec-web-1"}), json!({"value": "fw-1"}))
}

fn task() -> Value {
    json!({
        "name": "web-1",
        "task_id": {"value": "web-1"},
        "agent_id": {"value": "agent-1"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
        "command": {"value": "/run-apache.sh"},
        "container": {
            "type": "MESOS",
            "mesos": {"image": {"type": "DOCKER", "docker": {"name": "fedora/apache"}}},
            "network_infos": [{"name": "ovn", "labels": {"labels": [
                {"key": "logical_switch", "value": "coke1"}]}}]
        }
    })
}

fn running_status() -> Value {
    json!({
        "task_id": {"value": "web-1"},
        "state": "TASK_RUNNING",
        "source": "SOURCE_EXECUTOR",
        "executor_id": {"value": "exec-web-1"},
        "timestamp": 1_700_000_001.25,
        "uuid": UUID_BASE64,
        "container_status": {"network_infos": [{
            "name": "ovn",
            "ip_addresses": [{"ip_address": "10.0.1.5"}]
        }]}
    })
}

#[test]
fn subscribe_lists_unacknowledged_tasks_and_updates() {
    let (executor_id, framework_id) = ids();
    let call: Call = round_trip(&json!({
        "executor_id": executor_id,
        "framework_id": framework_id,
        "type": "SUBSCRIBE",
        "subscribe": {
            "unacknowledged_tasks": [task()],
            "unacknowledged_updates": [{"status": running_status()}]
        }
    }));
    assert_eq!(call.r#type(), call::Type::Subscribe);
    let subscribe = call.subscribe.expect("subscribe");
    assert_eq!(subscribe.unacknowledged_tasks[0].name, "web-1");
    assert_eq!(
        subscribe.unacknowledged_updates[0].status.uuid.as_deref(),
        Some(&UUID_BYTES[..])
    );
}

#[test]
fn a_bare_subscribe_needs_no_body() {
    let (executor_id, framework_id) = ids();
    round_trip::<Call>(&json!({
        "executor_id": executor_id, "framework_id": framework_id, "type": "SUBSCRIBE"
    }));
}

#[test]
fn update_message_and_heartbeat_calls_round_trip() {
    let (executor_id, framework_id) = ids();
    let update: Call = round_trip(&json!({
        "executor_id": executor_id,
        "framework_id": framework_id,
        "type": "UPDATE",
        "update": {"status": running_status()}
    }));
    let status = update.update.expect("update").status;
    assert_eq!(status.state(), TaskState::TaskRunning);
    assert_eq!(status.source(), task_status::Source::Executor);
    let ip = &status
        .container_status
        .expect("container status")
        .network_infos[0]
        .ip_addresses[0];
    assert_eq!(ip.ip_address.as_deref(), Some("10.0.1.5"));

    let message: Call = round_trip(&json!({
        "executor_id": executor_id,
        "framework_id": framework_id,
        "type": "MESSAGE",
        "message": {"data": "aGVsbG8gZXhlY3V0b3I="}
    }));
    assert_eq!(message.message.expect("message").data, b"hello executor");

    let heartbeat: Call = round_trip(&json!({
        "executor_id": executor_id, "framework_id": framework_id, "type": "HEARTBEAT"
    }));
    assert_eq!(heartbeat.r#type(), call::Type::Heartbeat);
}

#[test]
fn subscribed_names_the_executor_framework_agent_and_container() {
    let event: Event = round_trip(&json!({
        "type": "SUBSCRIBED",
        "subscribed": {
            "executor_info": {
                "type": "CUSTOM",
                "executor_id": {"value": "exec-web-1"},
                "framework_id": {"value": "fw-1"},
                "command": {"value": "./ovn-mesos-executor",
                            "uris": [{"value": "/opt/ovn-mesos-executor", "executable": true}]},
                "shutdown_grace_period": {"nanoseconds": 5_000_000_000_i64}
            },
            "framework_info": {"user": "root", "name": "ovn-mesos", "id": {"value": "fw-1"},
                               "checkpoint": true},
            "agent_info": {
                "hostname": "node1", "port": 5051, "id": {"value": "agent-1"},
                "resources": [{"name": "mem", "type": "SCALAR", "scalar": {"value": 1024.0}}],
                "attributes": [{"name": "zone", "type": "SET", "set": {"item": ["a", "b"]}}]
            },
            "container_id": {"value": "c-1"}
        }
    }));
    let subscribed = event.subscribed.expect("subscribed");
    assert_eq!(
        subscribed.executor_info.r#type(),
        executor_info::Type::Custom
    );
    assert_eq!(subscribed.framework_info.id.expect("id").value, "fw-1");
    assert_eq!(subscribed.agent_info.port(), 5051);
    assert_eq!(subscribed.container_id.expect("container").value, "c-1");
}

#[test]
fn launch_kill_and_acknowledged_events_round_trip() {
    let launch: Event = round_trip(&json!({"type": "LAUNCH", "launch": {"task": task()}}));
    assert_eq!(launch.launch.expect("launch").task.task_id.value, "web-1");

    let group: Event = round_trip(&json!({
        "type": "LAUNCH_GROUP", "launch_group": {"task_group": {"tasks": [task(), task()]}}
    }));
    assert_eq!(group.launch_group.expect("group").task_group.tasks.len(), 2);

    let kill: Event = round_trip(&json!({
        "type": "KILL",
        "kill": {"task_id": {"value": "web-1"},
                 "kill_policy": {"grace_period": {"nanoseconds": 3_000_000_000_i64}}}
    }));
    assert_eq!(kill.r#type(), event::Type::Kill);

    let acknowledged: Event = round_trip(&json!({
        "type": "ACKNOWLEDGED",
        "acknowledged": {"task_id": {"value": "web-1"}, "uuid": UUID_BASE64}
    }));
    assert_eq!(acknowledged.acknowledged.expect("ack").uuid, UUID_BYTES);
}

#[test]
fn small_events_round_trip() {
    for kind in ["SHUTDOWN", "HEARTBEAT"] {
        round_trip::<Event>(&json!({ "type": kind }));
    }
    round_trip::<Event>(&json!({"type": "MESSAGE", "message": {"data": "aGVsbG8gZXhlY3V0b3I="}}));
    round_trip::<Event>(&json!({"type": "ERROR", "error": {"message": "unknown executor"}}));
}

#[test]
fn event_types_are_names_with_the_original_numbers() {
    let table = [
        (event::Type::Subscribed, "SUBSCRIBED", 1),
        (event::Type::Launch, "LAUNCH", 2),
        (event::Type::LaunchGroup, "LAUNCH_GROUP", 8),
        (event::Type::Kill, "KILL", 3),
        (event::Type::Acknowledged, "ACKNOWLEDGED", 4),
        (event::Type::Message, "MESSAGE", 5),
        (event::Type::Error, "ERROR", 6),
        (event::Type::Shutdown, "SHUTDOWN", 7),
        (event::Type::Heartbeat, "HEARTBEAT", 9),
    ];
    for (kind, name, number) in table {
        assert_eq!(kind as i32, number, "{name}");
        let event = Event {
            r#type: Some(kind as i32),
            ..Default::default()
        };
        assert_eq!(to_json(&event).expect("encode"), json!({ "type": name }));
    }
}

#[test]
fn an_update_with_an_unknown_state_name_is_refused() {
    let (executor_id, framework_id) = ids();
    let mut status = running_status();
    status["state"] = json!("TASK_SPRINTING");
    let error = from_json::<Call>(&json!({
        "executor_id": executor_id, "framework_id": framework_id,
        "type": "UPDATE", "update": {"status": status}
    }))
    .expect_err("unknown state");
    let cause = std::error::Error::source(&error).expect("the mapping's reason");
    assert!(
        cause.to_string().contains("TASK_SPRINTING"),
        "{error}: {cause}"
    );
}

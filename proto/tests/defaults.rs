//! proto2 defaults come back through the generated getters, unset fields
//! stay out of the JSON, and set fields equal to their default stay in it.

use mesos_proto::v1::{
    command_info, container_info, environment, network_info, AgentInfo, CommandInfo, FrameworkInfo,
    HealthCheck, LinuxInfo, MasterInfo, Resource, TaskState, TaskStatus,
};
use mesos_proto::v1::{Filters, Image};
use mesos_proto::{from_json, to_json};
use serde_json::json;

#[test]
fn task_status_state_defaults_to_staging() {
    let status = TaskStatus::default();
    assert_eq!(status.state(), TaskState::TaskStaging);
    assert_eq!(status.state, 6);
    // Also when the required field is missing from JSON.
    let decoded: TaskStatus = from_json(&json!({"task_id": {"value": "t"}})).expect("decode");
    assert_eq!(decoded.state(), TaskState::TaskStaging);
}

#[test]
fn filters_refuse_five_seconds_by_default() {
    assert_eq!(Filters::default().refuse_seconds(), 5.0);
    assert_eq!(Filters::default().refuse_seconds, None);
    let decoded: Filters = from_json(&json!({})).expect("decode");
    assert_eq!(decoded.refuse_seconds(), 5.0);
}

#[test]
fn other_declared_defaults_come_back_through_getters() {
    assert_eq!(FrameworkInfo::default().role(), "*");
    assert_eq!(FrameworkInfo::default().failover_timeout(), 0.0);
    assert_eq!(Resource::default().role(), "*");
    assert!(CommandInfo::default().shell());
    assert!(command_info::Uri::default().extract());
    assert_eq!(HealthCheck::default().consecutive_failures(), 3);
    assert_eq!(
        environment::Variable::default().r#type(),
        environment::variable::Type::Value
    );
    assert!(Image::default().cached());
    assert_eq!(
        network_info::IpAddress::default().protocol(),
        network_info::Protocol::IPv4
    );
    assert_eq!(
        container_info::DockerInfo::default().network(),
        container_info::docker_info::Network::Host
    );
    assert!(LinuxInfo::default().share_cgroups());
    // Required fields with a declared default start at that default.
    assert_eq!(MasterInfo::default().port, 5050);
    assert_eq!(AgentInfo::default().port(), 5051);
}

#[test]
fn unset_optional_fields_are_left_out_of_the_json() {
    assert_eq!(to_json(&Filters::default()).expect("encode"), json!({}));
    let set_to_default = Filters {
        refuse_seconds: Some(5.0),
    };
    assert_eq!(
        to_json(&set_to_default).expect("encode"),
        json!({"refuse_seconds": 5.0})
    );
}

#[test]
fn a_required_enum_at_value_zero_is_still_written() {
    let status = TaskStatus {
        state: TaskState::TaskStarting as i32,
        ..Default::default()
    };
    let json = to_json(&status).expect("encode");
    assert_eq!(json["state"], "TASK_STARTING");
    assert_eq!(json["task_id"], json!({"value": ""}));
}

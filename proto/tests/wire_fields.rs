//! The wire contract, messages: the field numbers of the messages the
//! project exchanges are those of Apache Mesos (tables written from the
//! upstream `.proto` files).

mod common;

use common::{assert_enum, assert_fields};

#[test]
fn api_envelopes_have_the_original_field_numbers() {
    assert_fields(
        "mesos.v1.scheduler.Call",
        &[
            ("framework_id", 1),
            ("type", 2),
            ("subscribe", 3),
            ("accept", 4),
            ("decline", 5),
            ("accept_inverse_offers", 13),
            ("decline_inverse_offers", 14),
            ("revive", 15),
            ("kill", 6),
            ("shutdown", 7),
            ("acknowledge", 8),
            ("acknowledge_operation_status", 17),
            ("reconcile", 9),
            ("reconcile_operations", 18),
            ("message", 10),
            ("request", 11),
            ("suppress", 16),
            ("update_framework", 19),
        ],
    );
    assert_fields(
        "mesos.v1.scheduler.Event",
        &[
            ("type", 1),
            ("subscribed", 2),
            ("offers", 3),
            ("inverse_offers", 9),
            ("rescind", 4),
            ("rescind_inverse_offer", 10),
            ("update", 5),
            ("update_operation_status", 11),
            ("message", 6),
            ("failure", 7),
            ("error", 8),
        ],
    );
    assert_fields(
        "mesos.v1.executor.Call",
        &[
            ("executor_id", 1),
            ("framework_id", 2),
            ("type", 3),
            ("subscribe", 4),
            ("update", 5),
            ("message", 6),
        ],
    );
    assert_fields(
        "mesos.v1.executor.Event",
        &[
            ("type", 1),
            ("subscribed", 2),
            ("acknowledged", 3),
            ("launch", 4),
            ("launch_group", 8),
            ("kill", 5),
            ("message", 6),
            ("error", 7),
        ],
    );
    assert_fields("mesos.v1.executor.Call.Message", &[("data", 2)]);
    assert_fields(
        "mesos.v1.executor.Event.Subscribed",
        &[
            ("executor_info", 1),
            ("framework_info", 2),
            ("agent_info", 3),
            ("container_id", 4),
        ],
    );
}

#[test]
fn task_messages_have_the_original_field_numbers() {
    assert_fields(
        "mesos.v1.TaskInfo",
        &[
            ("name", 1),
            ("task_id", 2),
            ("agent_id", 3),
            ("resources", 4),
            ("executor", 5),
            ("data", 6),
            ("command", 7),
            ("health_check", 8),
            ("container", 9),
            ("labels", 10),
            ("discovery", 11),
            ("kill_policy", 12),
            ("check", 13),
            ("max_completion_time", 14),
            ("limits", 15),
        ],
    );
    assert_fields(
        "mesos.v1.TaskStatus",
        &[
            ("task_id", 1),
            ("state", 2),
            ("data", 3),
            ("message", 4),
            ("agent_id", 5),
            ("timestamp", 6),
            ("executor_id", 7),
            ("healthy", 8),
            ("source", 9),
            ("reason", 10),
            ("uuid", 11),
            ("labels", 12),
            ("container_status", 13),
            ("unreachable_time", 14),
            ("check_status", 15),
            ("limitation", 16),
        ],
    );
    assert_fields(
        "mesos.v1.ContainerInfo",
        &[
            ("type", 1),
            ("volumes", 2),
            ("docker", 3),
            ("hostname", 4),
            ("mesos", 5),
            ("network_infos", 7),
            ("linux_info", 8),
            ("rlimit_info", 9),
            ("tty_info", 10),
        ],
    );
    assert_fields(
        "mesos.v1.NetworkInfo",
        &[
            ("groups", 3),
            ("labels", 4),
            ("ip_addresses", 5),
            ("name", 6),
            ("port_mappings", 7),
        ],
    );
    assert_fields(
        "mesos.v1.ContainerStatus",
        &[
            ("network_infos", 1),
            ("cgroup_info", 2),
            ("executor_pid", 3),
            ("container_id", 4),
        ],
    );
    assert_fields(
        "mesos.v1.ExecutorInfo",
        &[
            ("executor_id", 1),
            ("data", 4),
            ("resources", 5),
            ("command", 7),
            ("framework_id", 8),
            ("name", 9),
            ("source", 10),
            ("container", 11),
            ("discovery", 12),
            ("shutdown_grace_period", 13),
            ("labels", 14),
            ("type", 15),
        ],
    );
}

#[test]
fn offer_and_resource_messages_have_the_original_field_numbers() {
    assert_fields(
        "mesos.v1.Resource",
        &[
            ("name", 1),
            ("type", 2),
            ("scalar", 3),
            ("ranges", 4),
            ("set", 5),
            ("role", 6),
            ("disk", 7),
            ("reservation", 8),
            ("revocable", 9),
            ("shared", 10),
            ("allocation_info", 11),
            ("provider_id", 12),
            ("reservations", 13),
        ],
    );
    assert_fields(
        "mesos.v1.Offer",
        &[
            ("id", 1),
            ("framework_id", 2),
            ("agent_id", 3),
            ("hostname", 4),
            ("resources", 5),
            ("executor_ids", 6),
            ("attributes", 7),
            ("url", 8),
            ("unavailability", 9),
            ("allocation_info", 10),
            ("domain", 11),
        ],
    );
    assert_fields(
        "mesos.v1.Offer.Operation",
        &[
            ("type", 1),
            ("launch", 2),
            ("reserve", 3),
            ("unreserve", 4),
            ("create", 5),
            ("destroy", 6),
            ("launch_group", 7),
            ("id", 12),
        ],
    );
    assert_fields(
        "mesos.v1.FrameworkInfo",
        &[
            ("user", 1),
            ("name", 2),
            ("id", 3),
            ("failover_timeout", 4),
            ("checkpoint", 5),
            ("role", 6),
            ("hostname", 7),
            ("principal", 8),
            ("webui_url", 9),
            ("capabilities", 10),
            ("labels", 11),
            ("roles", 12),
            ("offer_filters", 13),
        ],
    );
    assert_fields(
        "mesos.v1.MasterInfo",
        &[
            ("id", 1),
            ("ip", 2),
            ("port", 3),
            ("pid", 4),
            ("hostname", 5),
            ("version", 6),
            ("address", 7),
            ("domain", 8),
            ("capabilities", 9),
        ],
    );
    assert_fields(
        "mesos.v1.AgentInfo",
        &[
            ("hostname", 1),
            ("resources", 3),
            ("attributes", 5),
            ("id", 6),
            ("port", 8),
            ("domain", 10),
        ],
    );
    assert_enum(
        "mesos.v1.Value.Type",
        &[("SCALAR", 0), ("RANGES", 1), ("SET", 2), ("TEXT", 3)],
    );
    assert_enum(
        "mesos.v1.ExecutorInfo.Type",
        &[("UNKNOWN", 0), ("DEFAULT", 1), ("CUSTOM", 2)],
    );
}

//! The `TaskInfo` of one launch ([`task_info`]) and the ids of task
//! instances ([`new_task_id`]).
//!
//! The task runs under its own ovn-mesos executor (`ExecutorInfo` CUSTOM,
//! id `ovn-mesos.<task id>`). Mesos refuses a task with both an executor
//! and a `command`, so the definition's `CommandInfo` travels in
//! `TaskInfo.data` as Mesos JSON. The network attachment is
//! `container.network_infos[0]` as the contract [`ovn::attachment`]
//! specifies: the port's IP, and labels naming the logical switch port,
//! MAC, prefix length, gateway, MTU and bridge, and the task's DNS search
//! domain (`<tenant>.<DNS domain>`) and nameservers.

use mesos_proto::v1::{
    container_info, executor_info, network_info, AgentId, ContainerInfo, ExecutorId, ExecutorInfo,
    FrameworkId, Label, Labels, NetworkInfo, TaskId, TaskInfo,
};
use ovn::ports::{TaskPort, MAX_NAME_LEN};
use prost_reflect::prost::Message;
use uuid::Uuid;

use super::executor::EXECUTOR_NAME;
use super::{ExecutorSettings, LaunchResources};
use crate::tasks::{TaskDefinition, LABEL_LOGICAL_SWITCH};

/// Task label: the service the task backs.
pub const LABEL_SERVICE: &str = "ovn-mesos/service";
/// Task label: the tenant owning the task's network.
pub const LABEL_TENANT: &str = "ovn-mesos/tenant";
/// The attachment labels and `NetworkInfo.name`, from the contract the
/// executor reads ([`ovn::attachment`]).
pub use ovn::attachment::{
    BRIDGE as LABEL_BRIDGE, DNS_SEARCH as LABEL_DNS_SEARCH, DNS_SERVERS as LABEL_DNS_SERVERS,
    GATEWAY as LABEL_GATEWAY, LOGICAL_PORT as LABEL_LOGICAL_PORT, MAC as LABEL_MAC,
    MTU as LABEL_MTU, NETWORK_NAME, PREFIX_LEN as LABEL_PREFIX_LEN,
};
/// Executor ids are this prefix and the task id.
pub const EXECUTOR_ID_PREFIX: &str = "ovn-mesos.";

/// Length of a simple (hyphenless) UUID.
const UUID_LEN: usize = 32;

/// A fresh task id for an instance of `definition`: `<template>.<uuid>`
/// (32 hex digits). The template is cut, if needed, so the id stays within
/// [`MAX_NAME_LEN`] and is its own logical port name
/// ([`ovn::ports::port_name`]).
pub fn new_task_id(definition: &TaskDefinition) -> TaskId {
    let template = definition.task_id.as_str();
    let mut cut = template.len().min(MAX_NAME_LEN - UUID_LEN - 1);
    while !template.is_char_boundary(cut) {
        cut -= 1;
    }
    TaskId::new(format!("{}.{}", &template[..cut], Uuid::new_v4().simple()))
}

/// The `TaskInfo` to LAUNCH instance `task_id` of `definition` on
/// `agent_id` with the taken `resources`, attached to `port`:
///
/// * `name`, `labels` (plus [`LABEL_SERVICE`] and [`LABEL_TENANT`]),
///   `discovery` and `kill_policy` from the definition;
/// * `resources.task` as the task's, `resources.executor` as its executor's;
/// * `executor`: CUSTOM, id [`EXECUTOR_ID_PREFIX`]`<task id>`, the
///   framework id, [`ExecutorSettings::command_info`];
/// * `container`: MESOS with the attachment in `network_infos[0]`;
/// * `data`: the definition's `CommandInfo` as Mesos JSON (protobuf should
///   JSON writing ever fail; the executor reads both); no `command`.
pub fn task_info(
    definition: &TaskDefinition,
    task_id: &TaskId,
    agent_id: &AgentId,
    resources: LaunchResources,
    port: &TaskPort,
    framework_id: &FrameworkId,
    executor: &ExecutorSettings,
) -> TaskInfo {
    let template = &definition.task_info;
    let data = mesos_proto::json::to_json_vec(&definition.command)
        .unwrap_or_else(|_| definition.command.encode_to_vec());
    let mut labels = template
        .labels
        .as_ref()
        .map(|l| l.labels.clone())
        .unwrap_or_default();
    labels.retain(|l| l.key != LABEL_SERVICE && l.key != LABEL_TENANT);
    labels.push(label(LABEL_SERVICE, &definition.service));
    labels.push(label(LABEL_TENANT, &port.tenant));
    TaskInfo {
        name: definition.name.clone(),
        task_id: task_id.clone(),
        agent_id: agent_id.clone(),
        resources: resources.task,
        executor: Some(ExecutorInfo {
            r#type: Some(executor_info::Type::Custom as i32),
            executor_id: ExecutorId::new(format!("{EXECUTOR_ID_PREFIX}{task_id}")),
            framework_id: Some(framework_id.clone()),
            command: Some(executor.command_info()),
            resources: resources.executor,
            name: Some(EXECUTOR_NAME.to_owned()),
            ..Default::default()
        }),
        command: None,
        container: Some(ContainerInfo {
            r#type: container_info::Type::Mesos as i32,
            network_infos: vec![network(port, executor)],
            ..Default::default()
        }),
        kill_policy: template.kill_policy,
        health_check: template.health_check.clone(),
        data: Some(data),
        labels: Some(Labels { labels }),
        discovery: template.discovery.clone(),
        ..Default::default()
    }
}

/// `network_infos[0]`: the port's address and the attachment labels, the
/// DNS ones included ([`LABEL_DNS_SEARCH`] = the port's tenant under
/// [`ExecutorSettings::dns_domain`]; [`LABEL_DNS_SERVERS`] when configured).
fn network(port: &TaskPort, executor: &ExecutorSettings) -> NetworkInfo {
    let mut labels = vec![
        label(LABEL_LOGICAL_PORT, &port.name),
        label(LABEL_MAC, &port.mac.to_string()),
        label(LABEL_PREFIX_LEN, &port.prefix_len.to_string()),
    ];
    if !port.gateway.is_unspecified() {
        labels.push(label(LABEL_GATEWAY, &port.gateway.to_string()));
    }
    labels.push(label(LABEL_MTU, &executor.mtu.to_string()));
    if let Some(bridge) = &executor.bridge {
        labels.push(label(LABEL_BRIDGE, bridge));
    }
    labels.push(label(LABEL_LOGICAL_SWITCH, &port.switch));
    labels.push(label(
        LABEL_DNS_SEARCH,
        &executor.tenant_domain(&port.tenant),
    ));
    if !executor.dns_servers.is_empty() {
        let servers: Vec<String> = executor.dns_servers.iter().map(|s| s.to_string()).collect();
        labels.push(label(LABEL_DNS_SERVERS, &servers.join(",")));
    }
    NetworkInfo {
        ip_addresses: vec![network_info::IpAddress {
            protocol: Some(network_info::Protocol::IPv4 as i32),
            ip_address: Some(port.ip.to_string()),
        }],
        name: Some(NETWORK_NAME.to_owned()),
        labels: Some(Labels { labels }),
        ..Default::default()
    }
}

fn label(key: &str, value: &str) -> Label {
    Label {
        key: key.to_owned(),
        value: Some(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use mesos_proto::v1::{CommandInfo, Offer};
    use ovn::ports::port_name;
    use ovn::services::ServiceKey;
    use ovn_mesos_executor::attachment::Attachment;
    use ovn_mesos_executor::process::CommandSpec;

    use super::super::fixtures::{definition, offer, port, seed_definition};
    use super::super::{place, Load, Need, OfferSlot, Want, DEFAULT_CHASSIS_ATTRIBUTE};
    use super::*;

    fn label_of<'a>(labels: Option<&'a Labels>, key: &str) -> Option<&'a str> {
        labels?
            .labels
            .iter()
            .find(|l| l.key == key)
            .and_then(|l| l.value.as_deref())
    }

    /// A TaskInfo for `definition` on a roomy offer of agent `a1`.
    fn build(definition: &TaskDefinition, executor: &ExecutorSettings) -> TaskInfo {
        let mut slot = OfferSlot::new(
            &offer("o1", "a1", 4.0, 4096.0),
            "ovn-mesos",
            DEFAULT_CHASSIS_ATTRIBUTE,
        );
        let taken = slot
            .take(&Need::new(&definition.resources, executor))
            .expect("fits");
        let id = new_task_id(definition);
        task_info(
            definition,
            &id,
            &slot.agent_id,
            taken,
            &port(id.as_str(), 7),
            &"fw-1".into(),
            executor,
        )
    }

    #[test]
    fn a_task_id_is_the_template_a_dot_and_a_uuid_and_its_own_port_name() {
        let d = definition("web-a", 0.1, 32.0);
        let id = new_task_id(&d);
        let (template, uuid) = id.as_str().split_once('.').expect("a dot");
        assert_eq!(template, "web-a");
        assert_eq!(uuid.len(), 32);
        assert!(uuid.chars().all(|c| c.is_ascii_hexdigit()), "{uuid}");
        assert_eq!(port_name(id.as_str()).as_deref(), Some(id.as_str()));
        assert_ne!(new_task_id(&d), id);
    }

    #[test]
    fn a_long_template_is_cut_so_the_id_stays_its_own_port_name() {
        let mut d = definition("web-a", 0.1, 32.0);
        d.task_id = TaskId::new("t".repeat(300));
        let id = new_task_id(&d);
        assert_eq!(id.as_str().len(), MAX_NAME_LEN);
        assert_eq!(port_name(id.as_str()).as_deref(), Some(id.as_str()));
    }

    #[test]
    fn the_task_runs_under_its_own_custom_executor_without_a_command() {
        let d = definition("web-a", 0.5, 64.0);
        let mut executor = ExecutorSettings::new("/usr/local/bin/ovn-mesos-executor");
        executor.args = vec!["--log=debug".into()];
        let task = build(&d, &executor);
        assert_eq!(task.name, "web-a");
        assert!(task.task_id.as_str().starts_with("web-a."));
        assert_eq!(task.agent_id.as_str(), "a1");
        assert_eq!(task.command, None);
        let e = task.executor.as_ref().expect("an executor");
        assert_eq!(e.r#type(), executor_info::Type::Custom);
        assert_eq!(
            e.executor_id.as_str(),
            format!("ovn-mesos.{}", task.task_id)
        );
        assert_eq!(e.framework_id.as_ref().map(|f| f.as_str()), Some("fw-1"));
        assert_eq!(e.name.as_deref(), Some(EXECUTOR_NAME));
        let command = e.command.as_ref().expect("a command");
        assert_eq!(
            command.arguments,
            ["/usr/local/bin/ovn-mesos-executor", "--log=debug"]
        );
        assert_eq!(command.shell, Some(false));
        let total = |list: &[mesos_proto::v1::Resource], name: &str| -> f64 {
            list.iter()
                .filter(|r| r.name == name)
                .map(|r| r.scalar.unwrap().value)
                .sum()
        };
        assert_eq!(total(&task.resources, "cpus"), 0.5);
        assert_eq!(total(&task.resources, "mem"), 64.0);
        assert_eq!(total(&e.resources, "cpus"), 0.1);
        assert_eq!(total(&e.resources, "mem"), 32.0);
        assert_eq!(task.discovery, d.task_info.discovery);
    }

    #[test]
    fn a_uri_executor_is_fetched_into_the_sandbox() {
        let d = definition("web-a", 0.5, 64.0);
        let executor = ExecutorSettings::new("http://repo.example/ovn-mesos-executor");
        let task = build(&d, &executor);
        let command = task.executor.unwrap().command.unwrap();
        assert_eq!(command.value.as_deref(), Some("./ovn-mesos-executor"));
        assert_eq!(
            command.uris[0].value,
            "http://repo.example/ovn-mesos-executor"
        );
        assert_eq!(command.uris[0].executable, Some(true));
    }

    #[test]
    fn the_attachment_carries_the_ports_address_and_every_label() {
        let d = definition("web-a", 0.5, 64.0);
        let mut executor = ExecutorSettings::new("/bin/e");
        executor.mtu = 1442;
        executor.bridge = Some("br-int2".into());
        let task = build(&d, &executor);
        let container = task.container.as_ref().expect("a container");
        assert_eq!(container.r#type, container_info::Type::Mesos as i32);
        assert_eq!(container.network_infos.len(), 1);
        let net = &container.network_infos[0];
        assert_eq!(net.name.as_deref(), Some("ovn"));
        assert_eq!(
            net.ip_addresses[0].ip_address.as_deref(),
            Some("192.168.1.7")
        );
        let labels = net.labels.as_ref();
        let expected = [
            (LABEL_LOGICAL_PORT, task.task_id.as_str()),
            (LABEL_MAC, "0a:58:c0:a8:01:07"),
            (LABEL_PREFIX_LEN, "24"),
            (LABEL_GATEWAY, "192.168.1.1"),
            (LABEL_MTU, "1442"),
            (LABEL_BRIDGE, "br-int2"),
            (LABEL_LOGICAL_SWITCH, "coke1"),
        ];
        for (key, value) in expected {
            assert_eq!(label_of(labels, key), Some(value), "{key}");
        }
        let parsed = Attachment::from_task(&task).expect("the executor accepts it");
        assert_eq!(parsed.mtu, 1442);
        assert_eq!(parsed.bridge, "br-int2");
        assert_eq!(parsed.logical_port, task.task_id.as_str());
    }

    #[test]
    fn the_attachment_tells_the_executor_the_tasks_dns() {
        let d = definition("web-a", 0.5, 64.0);
        let mut executor = ExecutorSettings::new("/bin/e");
        let task = build(&d, &executor);
        let net = &task.container.as_ref().unwrap().network_infos[0];
        assert_eq!(
            label_of(net.labels.as_ref(), LABEL_DNS_SEARCH),
            Some("coke.ovn-mesos")
        );
        assert_eq!(label_of(net.labels.as_ref(), LABEL_DNS_SERVERS), None);
        let dns = Attachment::from_task(&task).unwrap().dns.expect("DNS");
        assert_eq!(dns.search, ["coke.ovn-mesos"]);
        assert!(dns.servers.is_empty(), "the agent's own");

        executor.dns_domain = "mesos.example.com".into();
        executor.dns_servers = vec![Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)];
        let task = build(&d, &executor);
        let net = &task.container.as_ref().unwrap().network_infos[0];
        assert_eq!(
            label_of(net.labels.as_ref(), LABEL_DNS_SEARCH),
            Some("coke.mesos.example.com")
        );
        assert_eq!(
            label_of(net.labels.as_ref(), LABEL_DNS_SERVERS),
            Some("10.0.0.2,10.0.0.3")
        );
        let dns = Attachment::from_task(&task).unwrap().dns.expect("DNS");
        assert_eq!(dns.search, ["coke.mesos.example.com"]);
        assert_eq!(dns.servers, executor.dns_servers);
    }

    #[test]
    fn without_a_bridge_the_executor_keeps_its_default() {
        let task = build(
            &definition("web-a", 0.5, 64.0),
            &ExecutorSettings::new("/bin/e"),
        );
        let net = &task.container.as_ref().unwrap().network_infos[0];
        assert_eq!(label_of(net.labels.as_ref(), LABEL_BRIDGE), None);
        assert_eq!(Attachment::from_task(&task).unwrap().bridge, "br-int");
    }

    #[test]
    fn the_data_is_the_definitions_command_in_mesos_json() {
        let d = definition("web-a", 0.5, 64.0);
        let task = build(&d, &ExecutorSettings::new("/bin/e"));
        let data = task.data.as_deref().expect("data");
        assert!(data.starts_with(b"{"), "{}", String::from_utf8_lossy(data));
        let back: CommandInfo = mesos_proto::from_json_slice(data).expect("a CommandInfo");
        assert_eq!(back, d.command);
        let spec = CommandSpec::from_task(&task).expect("the executor reads it");
        assert_eq!(spec.program, "/usr/bin/python3");
        assert_eq!(spec.argv, ["python3", "-m", "http.server", "80"]);
        assert_eq!(spec.env, [("GREETING".to_owned(), "hi".to_owned())]);
    }

    #[test]
    fn the_labels_are_the_definitions_plus_service_and_tenant() {
        let d = definition("web-a", 0.5, 64.0);
        let task = build(&d, &ExecutorSettings::new("/bin/e"));
        let labels = task.labels.as_ref();
        assert_eq!(label_of(labels, "ovn-mesos/instances"), Some("3"));
        assert_eq!(label_of(labels, LABEL_SERVICE), Some("web"));
        assert_eq!(label_of(labels, LABEL_TENANT), Some("coke"));
        assert_eq!(labels.unwrap().labels.len(), 3);
    }

    #[test]
    fn a_seed_task_file_gives_a_task_the_executor_accepts() {
        let d = seed_definition("nginxcoke.json");
        let key = ServiceKey::new("coke", &d.service);
        let executor = ExecutorSettings::new("/usr/local/bin/ovn-mesos-executor");
        let mut offer: Offer = offer("o9", "agent-9", 2.0, 1024.0);
        offer
            .resources
            .push(super::super::fixtures::scalar("disk", 100.0));
        let mut slots = vec![OfferSlot::new(&offer, "*", DEFAULT_CHASSIS_ATTRIBUTE)];
        let wants = [Want {
            definition: &d,
            service: &key,
            slot_key: 0,
        }];
        let placed = place(
            &mut slots,
            &wants,
            &executor,
            &Load::default(),
            &mut crate::launch::NoFilter,
        );
        assert_eq!(placed.len(), 1);
        let id = new_task_id(&d);
        let p = port(id.as_str(), 9);
        let task = task_info(
            &d,
            &id,
            &slots[0].agent_id,
            placed[0].resources.clone(),
            &p,
            &"fw-1".into(),
            &executor,
        );
        let attachment = Attachment::from_task(&task).expect("the executor accepts it");
        assert_eq!(attachment.ip, p.ip);
        assert_eq!(attachment.mac, p.mac);
        assert_eq!(attachment.prefix_len, 24);
        assert_eq!(attachment.gateway, Some(p.gateway));
        assert_eq!(attachment.logical_switch.as_deref(), Some("coke1"));
        let spec = CommandSpec::from_task(&task).expect("a command");
        assert_eq!(spec.program, "sh");
        assert_eq!(spec.argv[2], d.command.value.clone().unwrap());
        assert_eq!(
            label_of(task.labels.as_ref(), LABEL_SERVICE),
            Some("coke-web")
        );
        // The whole task survives Mesos JSON, as a JSON scheduler sends it.
        let json = mesos_proto::to_json_vec(&task).expect("JSON");
        let back: TaskInfo = mesos_proto::from_json_slice(&json).expect("a TaskInfo");
        assert_eq!(back, task);
    }
}

//! A minimal scheduler for the lab test that launches a task through the
//! lab's `mesos-local` master onto a chosen agent, with `ovn-mesos-executor`
//! as its custom executor and the attachment labels the framework writes
//! (`executor/README.md`). The executor gets no `OVN_MESOS_*` settings from
//! the task: it must find its host's OVS database and namespace in the
//! agent's executor environment, which is what the lab configures.
//!
//! Runs inside the lab's `mesos-master` namespace (see `lab::in_netns`),
//! where the master listens on 10.10.1.11:5050.

use std::time::Duration;

use mesos_local::client::{EventStream, SchedulerClient};
use mesos_local::resources::Resources;
use mesos_local::testing::framework_info;
use mesos_proto::v1::network_info::IpAddress;
use mesos_proto::v1::scheduler::{call, event, Call};
use mesos_proto::v1::{
    container_info, executor_info, offer::operation, CommandInfo, ContainerInfo, ExecutorInfo,
    Label, Labels, NetworkInfo, Resource, TaskInfo, TaskState, TaskStatus,
};
use mesos_proto::Encoding;
use ovn::attachment;
use ovn::ports::TaskPort;

const WAIT: Duration = Duration::from_secs(30);

fn typed(kind: call::Type) -> Call {
    Call {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn resources(text: &str) -> Vec<Resource> {
    Resources::parse(text)
        .map(|r| r.to_protos(None))
        .unwrap_or_default()
}

fn label(key: &str, value: String) -> Label {
    Label {
        key: key.into(),
        value: Some(value),
    }
}

/// A task on `port` running `command` (`sh -c`) under `executor`.
fn ovn_task(id: &str, agent: &str, port: &TaskPort, executor: &str, command: &str) -> TaskInfo {
    let command = CommandInfo {
        value: Some(command.into()),
        ..Default::default()
    };
    TaskInfo {
        name: id.into(),
        task_id: id.into(),
        agent_id: agent.into(),
        resources: resources("cpus:0.1;mem:32"),
        data: Some(mesos_proto::to_json_vec(&command).expect("CommandInfo as JSON")),
        container: Some(ContainerInfo {
            r#type: container_info::Type::Mesos as i32,
            network_infos: vec![NetworkInfo {
                name: Some(attachment::NETWORK_NAME.into()),
                ip_addresses: vec![IpAddress {
                    ip_address: Some(port.ip.to_string()),
                    ..Default::default()
                }],
                labels: Some(Labels {
                    labels: vec![
                        label(attachment::LOGICAL_PORT, port.name.clone()),
                        label(attachment::MAC, port.mac.to_string()),
                        label(attachment::PREFIX_LEN, port.prefix_len.to_string()),
                        label(attachment::GATEWAY, port.gateway.to_string()),
                        label(attachment::MTU, "1400".into()),
                        label(attachment::LOGICAL_SWITCH, port.switch.clone()),
                    ],
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        executor: Some(ExecutorInfo {
            r#type: Some(executor_info::Type::Custom as i32),
            executor_id: format!("ovn-{id}").as_str().into(),
            command: Some(CommandInfo {
                value: Some(executor.into()),
                ..Default::default()
            }),
            resources: resources("cpus:0.1;mem:32"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A subscribed framework.
pub struct Scheduler {
    client: SchedulerClient,
    events: EventStream,
}

impl Scheduler {
    /// SUBSCRIBE to the master at `ip:port`.
    pub async fn subscribe(master: &str) -> Scheduler {
        let mut client = SchedulerClient::new(master, Encoding::Protobuf);
        let events = client
            .subscribe(framework_info("ovn-mesos-lab-e2e"))
            .await
            .expect("subscribed");
        Scheduler { client, events }
    }

    /// Waits for an offer from the agent named `hostname` and launches
    /// `id` there on `port`.
    pub async fn launch(
        &mut self,
        hostname: &str,
        id: &str,
        port: &TaskPort,
        executor: &str,
        command: &str,
    ) {
        let offer = loop {
            let ev = self
                .events
                .next_of(event::Type::Offers, WAIT)
                .await
                .expect("offers");
            if let Some(o) = ev
                .offers
                .into_iter()
                .flat_map(|o| o.offers)
                .find(|o| o.hostname == hostname)
            {
                break o;
            }
        };
        let task = ovn_task(id, &offer.agent_id.value, port, executor, command);
        let accept = call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![mesos_proto::v1::offer::Operation {
                r#type: Some(operation::Type::Launch as i32),
                launch: Some(operation::Launch {
                    task_infos: vec![task],
                }),
                ..Default::default()
            }],
            filters: None,
        };
        self.client
            .call(Call {
                accept: Some(accept),
                ..typed(call::Type::Accept)
            })
            .await
            .expect("ACCEPT");
    }

    /// Reads and acknowledges updates until `task` reports `state`.
    pub async fn until(&mut self, task: &str, state: TaskState) -> TaskStatus {
        loop {
            let ev = self
                .events
                .next_matching(&format!("{task} to reach {state:?}"), WAIT, |e| {
                    e.update.is_some()
                })
                .await
                .expect("status update");
            let status = ev.update.expect("update").status;
            if let (Some(agent_id), Some(uuid)) = (status.agent_id.clone(), status.uuid.clone()) {
                let ack = call::Acknowledge {
                    agent_id,
                    task_id: status.task_id.clone(),
                    uuid,
                };
                self.client
                    .call(Call {
                        acknowledge: Some(ack),
                        ..typed(call::Type::Acknowledge)
                    })
                    .await
                    .expect("ACKNOWLEDGE");
            }
            if status.task_id.value == task {
                if status.state() == state {
                    return status;
                }
                assert!(
                    !status.state().is_terminal(),
                    "{task} ended {:?}: {:?}",
                    status.state(),
                    status.message
                );
            }
        }
    }

    /// TEARDOWN: the agent shuts the framework's executors down.
    pub async fn teardown(self) {
        self.client
            .call(typed(call::Type::Teardown))
            .await
            .expect("TEARDOWN");
    }
}

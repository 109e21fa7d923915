//! Building the executor's `TaskStatus` updates: a fresh 16-byte uuid (the
//! agent acknowledges by it), `source = SOURCE_EXECUTOR`, the agent and
//! executor ids, a timestamp, and on TASK_RUNNING the container status with
//! the task's IP (`container_status.network_infos[].ip_addresses`, where
//! Mesos-DNS and operators read it) and namespace.

use std::time::{SystemTime, UNIX_EPOCH};

use mesos_proto::v1::network_info::IpAddress;
use mesos_proto::v1::task_status::{Reason, Source};
use mesos_proto::v1::{
    AgentId, ContainerStatus, ExecutorId, Label, Labels, NetworkInfo, TaskId, TaskState, TaskStatus,
};

use crate::attachment::{LOGICAL_PORT, NETNS};
use crate::plumbing::TaskNetwork;

/// `TaskStatus.labels` key: the pid of the task's process (its process group leader).
pub use ovn::attachment::TASK_PID;

/// Who reports: the ids every update carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    pub agent_id: Option<AgentId>,
    pub executor_id: ExecutorId,
}

impl Reporter {
    /// An update of `task` to `state`, with a one-line `message` and a `reason`.
    pub fn status(
        &self,
        task: &TaskId,
        state: TaskState,
        message: Option<String>,
        reason: Option<Reason>,
    ) -> TaskStatus {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut status = TaskStatus {
            task_id: task.clone(),
            message: message.map(one_line),
            agent_id: self.agent_id.clone(),
            executor_id: Some(self.executor_id.clone()),
            timestamp: Some(timestamp),
            uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
            ..Default::default()
        };
        status.set_state(state);
        status.set_source(Source::Executor);
        if let Some(r) = reason {
            status.set_reason(r);
        }
        status
    }

    /// TASK_RUNNING with the task's network, this executor's pid
    /// (`container_status.executor_pid`, as Mesos fills it) and the task
    /// process' pid (label [`TASK_PID`]).
    pub fn running(&self, task: &TaskId, network: &TaskNetwork, task_pid: u32) -> TaskStatus {
        let mut status = self.status(task, TaskState::TaskRunning, None, None);
        status.container_status = Some(ContainerStatus {
            network_infos: vec![network_info(network)],
            executor_pid: Some(std::process::id()),
            ..Default::default()
        });
        status.labels = Some(Labels {
            labels: vec![Label {
                key: TASK_PID.to_owned(),
                value: Some(task_pid.to_string()),
            }],
        });
        status
    }
}

/// The `NetworkInfo` reported for a ready task network.
pub fn network_info(network: &TaskNetwork) -> NetworkInfo {
    let label = |k: &str, v: &str| Label {
        key: k.to_owned(),
        value: Some(v.to_owned()),
    };
    NetworkInfo {
        name: network.attachment.network.clone(),
        ip_addresses: vec![IpAddress {
            ip_address: Some(network.attachment.ip.to_string()),
            ..Default::default()
        }],
        labels: Some(Labels {
            labels: vec![
                label(NETNS, &network.names.netns),
                label(LOGICAL_PORT, &network.attachment.logical_port),
            ],
        }),
        ..Default::default()
    }
}

/// `text` on one line (newlines folded), as `TaskStatus.message` wants.
pub fn one_line(text: String) -> String {
    if text.contains(['\n', '\r']) {
        text.split(['\n', '\r'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::attachment::Attachment;
    use crate::names::TaskNames;

    fn reporter() -> Reporter {
        Reporter {
            agent_id: Some(AgentId::from("agent-1")),
            executor_id: ExecutorId::from("ex-1"),
        }
    }

    #[test]
    fn an_update_has_a_16_byte_uuid_and_executor_source() {
        let s = reporter().status(&TaskId::from("t"), TaskState::TaskStarting, None, None);
        assert_eq!(s.uuid.as_ref().map(Vec::len), Some(16));
        assert_eq!(s.source(), Source::Executor);
        assert_eq!(s.state(), TaskState::TaskStarting);
        assert_eq!(s.agent_id, Some(AgentId::from("agent-1")));
        assert_eq!(s.executor_id, Some(ExecutorId::from("ex-1")));
        let t = reporter().status(&TaskId::from("t"), TaskState::TaskStarting, None, None);
        assert_ne!(s.uuid, t.uuid);
    }

    #[test]
    fn running_carries_the_ip_netns_and_pid() {
        let network = TaskNetwork {
            names: TaskNames {
                netns: "ovnm-0123456789".into(),
                host_veth: "ovnm0123456789".into(),
            },
            attachment: Attachment {
                logical_port: "lsp".into(),
                mac: "0a:58:c0:a8:01:02".parse().unwrap(),
                ip: Ipv4Addr::new(192, 168, 1, 2),
                prefix_len: 24,
                gateway: None,
                mtu: 1400,
                bridge: "br-int".into(),
                logical_switch: None,
                network: Some("ovn".into()),
                dns: None,
            },
        };
        let s = reporter().running(&TaskId::from("t"), &network, 77);
        assert_eq!(
            crate::attachment::label(s.labels.as_ref(), TASK_PID).as_deref(),
            Some("77")
        );
        let cs = s.container_status.unwrap();
        assert_eq!(cs.executor_pid, Some(std::process::id()));
        let ni = &cs.network_infos[0];
        assert_eq!(
            ni.ip_addresses[0].ip_address.as_deref(),
            Some("192.168.1.2")
        );
        assert_eq!(
            crate::attachment::label(ni.labels.as_ref(), NETNS).as_deref(),
            Some("ovnm-0123456789")
        );
    }

    #[test]
    fn messages_are_folded_to_one_line() {
        assert_eq!(one_line("a\nb\r\n\nc".into()), "a; b; c");
        assert_eq!(one_line("plain".into()), "plain");
    }
}

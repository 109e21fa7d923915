//! The master-agent protocol of mesos-local (the project's own; real Mesos
//! uses libprocess messages). Protobuf messages over HTTP, carrying the
//! Mesos v1 types:
//!
//! * `POST /internal/agent/subscribe` with [`RegisterAgent`]: the answer is
//!   a RecordIO stream of [`MasterMessage`]s, first `Registered` (agent id
//!   and session), then run/kill/shutdown/acknowledge/ping commands. The
//!   stream ending marks the agent disconnected; it re-registers with its
//!   id and what it runs.
//! * `POST /internal/agent/events` with [`AgentMessages`]: status updates,
//!   executor exits, executor messages and pongs; `202`, or `409` when the
//!   session is unknown (the agent must re-register).
//!
//! Every body is `application/x-protobuf`.

use mesos_proto::v1;

/// Path of the agent's subscription stream on the master.
pub const SUBSCRIBE_PATH: &str = "/internal/agent/subscribe";
/// Path of the agent's event posts on the master.
pub const EVENTS_PATH: &str = "/internal/agent/events";

/// An agent (re-)registering: what it is and what it runs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterAgent {
    /// Hostname, port, resources, attributes; `id` set when re-registering.
    #[prost(message, optional, tag = "1")]
    pub agent_info: Option<v1::AgentInfo>,
    /// `ip:port` of the agent's HTTP endpoint (executor API).
    #[prost(string, tag = "2")]
    pub endpoint: String,
    /// Frameworks with executors or tasks on the agent.
    #[prost(message, repeated, tag = "3")]
    pub frameworks: Vec<v1::FrameworkInfo>,
    /// Live custom executors (`framework_id` set).
    #[prost(message, repeated, tag = "4")]
    pub executors: Vec<v1::ExecutorInfo>,
    /// Live tasks with their latest state.
    #[prost(message, repeated, tag = "5")]
    pub tasks: Vec<v1::Task>,
}

/// A command or notice from the master to one agent.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MasterMessage {
    /// Which message this is.
    #[prost(oneof = "master_message::Kind", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10")]
    pub kind: Option<master_message::Kind>,
}

/// The kinds of [`MasterMessage`].
pub mod master_message {
    use mesos_proto::v1;

    /// One master-to-agent message. Variants differ in size like the
    /// Mesos messages they carry; queues box whole messages.
    #[allow(clippy::large_enum_variant)]
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// Registration accepted (first message of the stream).
        #[prost(message, tag = "1")]
        Registered(super::Registered),
        /// Run a task (or a task group on `executor`).
        #[prost(message, tag = "2")]
        RunTask(super::RunTask),
        /// Kill a task.
        #[prost(message, tag = "3")]
        KillTask(super::KillTask),
        /// Shut an executor down.
        #[prost(message, tag = "4")]
        ShutdownExecutor(super::ExecutorRef),
        /// Shut every executor of a framework down and forget it.
        #[prost(message, tag = "5")]
        ShutdownFramework(v1::FrameworkId),
        /// The scheduler acknowledged a status update.
        #[prost(message, tag = "6")]
        Acknowledge(super::Acknowledge),
        /// Data from the scheduler for an executor.
        #[prost(message, tag = "7")]
        FrameworkMessage(super::ExecutorData),
        /// Health check; answer with a pong of the same `seq`.
        #[prost(uint64, tag = "8")]
        Ping(u64),
        /// The framework's info changed (re-subscription).
        #[prost(message, tag = "9")]
        UpdateFramework(v1::FrameworkInfo),
        /// Tasks the master knows but the re-registering agent did not
        /// report: answer with TASK_LOST/TASK_DROPPED for unknown ones.
        #[prost(message, tag = "10")]
        ReconcileTasks(super::ReconcileTasks),
    }
}

/// Registration accepted.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Registered {
    /// The agent's id (new, or the one it re-registered with).
    #[prost(message, optional, tag = "1")]
    pub agent_id: Option<v1::AgentId>,
    /// Session token to send with every [`AgentMessages`].
    #[prost(string, tag = "2")]
    pub session: String,
    /// The master.
    #[prost(message, optional, tag = "3")]
    pub master_info: Option<v1::MasterInfo>,
}

/// Run a task, or a task group on `executor`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunTask {
    /// The framework (with `id`).
    #[prost(message, optional, tag = "1")]
    pub framework: Option<v1::FrameworkInfo>,
    /// The task (LAUNCH).
    #[prost(message, optional, tag = "2")]
    pub task: Option<v1::TaskInfo>,
    /// The executor of a task group (LAUNCH_GROUP).
    #[prost(message, optional, tag = "3")]
    pub executor: Option<v1::ExecutorInfo>,
    /// The task group (LAUNCH_GROUP).
    #[prost(message, optional, tag = "4")]
    pub task_group: Option<v1::TaskGroupInfo>,
}

/// Kill a task.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KillTask {
    /// The task's framework.
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    /// The task.
    #[prost(message, optional, tag = "2")]
    pub task_id: Option<v1::TaskId>,
    /// Overrides the task's kill policy.
    #[prost(message, optional, tag = "3")]
    pub kill_policy: Option<v1::KillPolicy>,
    /// Whether the framework is partition-aware (TASK_DROPPED vs
    /// TASK_LOST for a task the agent does not know).
    #[prost(bool, tag = "4")]
    pub partition_aware: bool,
}

/// Names one executor of a framework.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutorRef {
    /// The framework.
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    /// The executor.
    #[prost(message, optional, tag = "2")]
    pub executor_id: Option<v1::ExecutorId>,
}

/// A status update acknowledgement from the scheduler.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Acknowledge {
    /// The framework.
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    /// The task.
    #[prost(message, optional, tag = "2")]
    pub task_id: Option<v1::TaskId>,
    /// The acknowledged update's uuid (16 bytes).
    #[prost(bytes = "vec", tag = "3")]
    pub uuid: Vec<u8>,
}

/// Opaque data between a scheduler and an executor.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutorData {
    /// The framework.
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    /// The executor.
    #[prost(message, optional, tag = "2")]
    pub executor_id: Option<v1::ExecutorId>,
    /// The payload.
    #[prost(bytes = "vec", tag = "3")]
    pub data: Vec<u8>,
}

/// Tasks the agent should confirm or report as gone.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReconcileTasks {
    /// The framework.
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    /// The tasks in question.
    #[prost(message, repeated, tag = "2")]
    pub task_ids: Vec<v1::TaskId>,
    /// TASK_DROPPED (true) or TASK_LOST (false) for unknown tasks.
    #[prost(bool, tag = "3")]
    pub partition_aware: bool,
}

/// A batch of events from one agent.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentMessages {
    /// The sending agent.
    #[prost(string, tag = "1")]
    pub agent_id: String,
    /// The session from `Registered`.
    #[prost(string, tag = "2")]
    pub session: String,
    /// The events, in order.
    #[prost(message, repeated, tag = "3")]
    pub events: Vec<AgentEvent>,
}

/// One agent-to-master event.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentEvent {
    /// Which event this is.
    #[prost(oneof = "agent_event::Kind", tags = "1, 2, 3, 4")]
    pub kind: Option<agent_event::Kind>,
}

/// The kinds of [`AgentEvent`].
pub mod agent_event {
    /// One agent-to-master event.
    #[allow(clippy::large_enum_variant)]
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// A task status update (with uuid, to be acknowledged).
        #[prost(message, tag = "1")]
        StatusUpdate(super::StatusUpdate),
        /// A custom executor terminated.
        #[prost(message, tag = "2")]
        ExecutorExited(super::ExecutorExited),
        /// Data from an executor for its scheduler.
        #[prost(message, tag = "3")]
        ExecutorMessage(super::ExecutorData),
        /// Answer to a ping.
        #[prost(uint64, tag = "4")]
        Pong(u64),
    }
}

/// A task status update relayed by an agent.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusUpdate {
    /// The task's framework.
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    /// The status (agent id, executor id and uuid set).
    #[prost(message, optional, tag = "2")]
    pub status: Option<v1::TaskStatus>,
}

/// A custom executor's exit.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutorExited {
    /// The framework.
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    /// The executor.
    #[prost(message, optional, tag = "2")]
    pub executor_id: Option<v1::ExecutorId>,
    /// `waitpid()` status.
    #[prost(int32, tag = "3")]
    pub status: i32,
}

/// Wraps a kind into a [`MasterMessage`].
pub fn to_agent(kind: master_message::Kind) -> MasterMessage {
    MasterMessage { kind: Some(kind) }
}

/// Wraps a kind into an [`AgentEvent`].
pub fn to_master(kind: agent_event::Kind) -> AgentEvent {
    AgentEvent { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn messages_round_trip_through_protobuf() {
        let message = to_agent(master_message::Kind::KillTask(KillTask {
            framework_id: Some("f".into()),
            task_id: Some("t".into()),
            kill_policy: None,
            partition_aware: true,
        }));
        let back = MasterMessage::decode(message.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(back, message);

        let batch = AgentMessages {
            agent_id: "a".into(),
            session: "s".into(),
            events: vec![to_master(agent_event::Kind::Pong(7))],
        };
        let back = AgentMessages::decode(batch.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(back, batch);
    }
}

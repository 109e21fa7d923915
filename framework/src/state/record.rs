//! What the state dir stores, as JSON with a format version: the framework
//! id (`framework.json`) and one file per task (`tasks/<task id>.json`), so
//! a launch rewrites one small file, not the whole task set.

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesos_proto::v1::{AgentId, FrameworkId, TaskId, TaskState};
use ovn::ipam::MacAddr;
use ovn::ports::TaskPort;
use ovn::services::ServiceKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::tasks::TemplateId;

/// The on-disk format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A task the framework launched: enough to find its port and service
/// again after a restart and to keep its IP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    #[serde(with = "task_id")]
    pub task_id: TaskId,
    pub service: String,
    pub tenant: String,
    pub switch: String,
    /// The template it was launched from (the definition's task id).
    pub definition: TemplateId,
    #[serde(with = "agent_id")]
    pub agent_id: Option<AgentId>,
    /// The agent's hostname, from the offer the task was launched on
    /// (absent in records of older versions and for adopted tasks until
    /// an offer names the agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub port: PortRecord,
    /// The last state seen (`TASK_RUNNING` on disk).
    #[serde(with = "task_state")]
    pub state: TaskState,
    /// When the task was launched (Unix milliseconds on disk).
    #[serde(with = "unix_ms")]
    pub launched_at: SystemTime,
    /// Launch attempts of this template slot so far (1 for the first).
    pub attempts: u32,
    /// What its health check last reported (`TaskStatus.healthy`); kept so
    /// that a restart neither drops healthy backends nor takes an unhealthy
    /// task back before reconciliation and the next check speak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// The version of the definition it was launched from
    /// ([`crate::tasks::version_of`]); none for a task adopted from its
    /// port, which counts as the definition's current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl TaskRecord {
    /// The record of a task in `TASK_STAGING` whose port was just made
    /// (a launch) or found (a port adopted at start, with no agent yet).
    pub fn staging(
        port: &TaskPort,
        template: TemplateId,
        agent_id: Option<AgentId>,
        hostname: Option<String>,
    ) -> TaskRecord {
        TaskRecord {
            task_id: TaskId::new(&port.task_id),
            service: port.service.clone().unwrap_or_default(),
            tenant: port.tenant.clone(),
            switch: port.switch.clone(),
            definition: template,
            agent_id,
            hostname,
            port: PortRecord {
                name: port.name.clone(),
                ip: port.ip,
                mac: port.mac,
            },
            state: TaskState::TaskStaging,
            launched_at: SystemTime::now(),
            attempts: 1,
            healthy: None,
            version: None,
        }
    }

    /// The service the task backs.
    pub fn service_key(&self) -> ServiceKey {
        ServiceKey::new(&self.tenant, &self.service)
    }
}

/// The task's logical switch port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRecord {
    /// The logical switch port's name (`ovn::ports::port_name`).
    pub name: String,
    pub ip: Ipv4Addr,
    #[serde(with = "mac")]
    pub mac: MacAddr,
}

/// `framework.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct FrameworkFile {
    pub version: u32,
    #[serde(with = "framework_id")]
    pub framework_id: FrameworkId,
}

/// `tasks/<id>.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct TaskFile {
    pub version: u32,
    pub task: TaskRecord,
}

/// Only the version, read first so a newer format gets its own error.
#[derive(Debug, Deserialize)]
pub(super) struct Versioned {
    pub version: u32,
}

/// The file name of a task's record: the id where it is made of
/// `[A-Za-z0-9_-]` (and `.` not first), else every other byte as `%XX`.
pub(super) fn task_file_name(id: &TaskId) -> String {
    let mut name = String::new();
    for (i, b) in id.as_str().bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".json");
    name
}

macro_rules! string_id_serde {
    ($module:ident, $ty:ty) => {
        mod $module {
            use super::*;

            pub fn serialize<S: Serializer>(id: &$ty, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(id.as_str())
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                String::deserialize(d).map(<$ty>::from)
            }
        }
    };
}

string_id_serde!(task_id, TaskId);
string_id_serde!(framework_id, FrameworkId);

mod agent_id {
    use super::*;

    pub fn serialize<S: Serializer>(id: &Option<AgentId>, s: S) -> Result<S::Ok, S::Error> {
        id.as_ref().map(|a| a.as_str()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AgentId>, D::Error> {
        Option::<String>::deserialize(d).map(|o| o.map(AgentId::from))
    }
}

mod task_state {
    use super::*;

    pub fn serialize<S: Serializer>(state: &TaskState, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(state.as_str_name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TaskState, D::Error> {
        let name = String::deserialize(d)?;
        TaskState::from_str_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown task state {name:?}")))
    }
}

pub(super) mod unix_ms {
    use super::*;

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        s.serialize_u64(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        u64::deserialize(d).map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }
}

mod mac {
    use super::*;

    pub fn serialize<S: Serializer>(mac: &MacAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(mac)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MacAddr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a MAC address")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_their_own_file_names_and_others_are_escaped() {
        assert_eq!(task_file_name(&TaskId::from("web-1.a_b")), "web-1.a_b.json");
        assert_eq!(task_file_name(&TaskId::from("../x")), "%2E.%2Fx.json");
        assert_eq!(task_file_name(&TaskId::from("a/b c")), "a%2Fb%20c.json");
    }

    #[test]
    fn a_record_is_written_with_names_not_numbers() {
        let record = TaskRecord {
            task_id: TaskId::from("t1"),
            service: "web".into(),
            tenant: "coke".into(),
            switch: "coke1".into(),
            definition: "1234".into(),
            agent_id: Some(AgentId::from("a1")),
            hostname: Some("agent1".into()),
            port: PortRecord {
                name: "t1".into(),
                ip: Ipv4Addr::new(192, 168, 1, 2),
                mac: "0a:58:c0:a8:01:02".parse().unwrap(),
            },
            state: TaskState::TaskRunning,
            launched_at: UNIX_EPOCH + Duration::from_millis(1500),
            attempts: 1,
            healthy: None,
            version: None,
        };
        let json = serde_json::to_value(&record).unwrap();
        assert!(json.get("healthy").is_none(), "no report, no key: {json}");
        let mut reported = record.clone();
        reported.healthy = Some(false);
        let back: TaskRecord =
            serde_json::from_value(serde_json::to_value(&reported).unwrap()).unwrap();
        assert_eq!(back.healthy, Some(false));
        assert_eq!(json["state"], "TASK_RUNNING");
        assert_eq!(json["launched_at"], 1500);
        assert_eq!(json["port"]["mac"], "0a:58:c0:a8:01:02");
        assert_eq!(json["agent_id"], "a1");
        assert_eq!(json["hostname"], "agent1");
        assert_eq!(json["definition"], "1234");
        let back: TaskRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn a_record_without_a_hostname_still_reads() {
        let json = serde_json::json!({
            "task_id": "t1", "service": "web", "tenant": "coke", "switch": "coke1",
            "definition": "web", "agent_id": null,
            "port": {"name": "t1", "ip": "192.168.1.2", "mac": "0a:58:c0:a8:01:02"},
            "state": "TASK_RUNNING", "launched_at": 1500, "attempts": 1
        });
        let record: TaskRecord = serde_json::from_value(json).unwrap();
        assert_eq!(record.hostname, None);
        assert_eq!(record.definition, TemplateId::new("web"));
    }
}

//! What the client reads from the API's lists, for the tables. Lenient on
//! purpose: every field has a default, so a field the server leaves out (or
//! a newer server's extra fields) does not stop `ovn-mesos get`; `-o json`
//! prints the answer as the server sent it instead.

use serde::Deserialize;

/// One task definition, as `GET /v1/definitions` lists it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DefinitionView {
    /// The definition's name (its task id).
    pub id: String,
    /// The tenant its tasks run in.
    pub tenant: String,
    /// The service its tasks are instances of.
    pub service: String,
    /// The network (logical switch) its tasks are on.
    pub network: String,
    /// How many instances it asks for.
    pub instances: u64,
    /// The version (a hash of the definition) the framework now wants.
    pub version: String,
    /// Where it came from: `file` (a `--tasks` file) or `api` (`apply`).
    pub source: String,
    /// The file it was read from, for `source` `file`.
    pub file: Option<String>,
    /// How many of its tasks run.
    pub running: u64,
    /// How many of its tasks their health check last reported healthy.
    pub healthy: u64,
    /// How many of its tasks are being drained.
    pub draining: u64,
    /// Its deployment in progress, if any.
    pub deployment: Option<DeploymentView>,
    /// Why it cannot progress now (no offers that fit ...), if so.
    pub waiting: Option<String>,
}

/// One deployment (a definition moving from one version to another), as
/// `GET /v1/deployments` lists it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DeploymentView {
    /// The deployment's id: `<definition>@<short version>`.
    pub id: String,
    /// The definition being deployed.
    pub definition: String,
    /// The version being replaced.
    pub from: String,
    /// The version being deployed.
    pub to: String,
    /// `in-progress` or `stuck`.
    pub state: String,
    /// Why it is stuck, if it is.
    pub reason: Option<String>,
    /// When it started, in seconds since the Unix epoch.
    pub started_at: f64,
    /// How many instances the new version should run.
    pub instances: u64,
    /// How many tasks of the new version exist.
    pub new_tasks: u64,
    /// How many tasks of the new version are healthy.
    pub new_healthy: u64,
    /// How many tasks of the old version remain.
    pub old_tasks: u64,
    /// How many tasks of the old version are being drained.
    pub draining: u64,
}

/// One load-balanced service, as `GET /v1/services` lists it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ServiceView {
    /// The tenant owning the service.
    pub tenant: String,
    /// The service's name.
    pub name: String,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Its virtual addresses, `ip:port`, one per gateway.
    pub vips: Vec<String>,
    /// Its east-west VIP, `cluster-ip:port`, on the tenant's switches.
    pub east_west: Option<String>,
    /// Its names in the tenant's DNS.
    pub names: Vec<String>,
    /// The `ip:port` of every running task behind the VIPs.
    pub backends: Vec<String>,
    /// How many instances its definitions ask for.
    pub instances: u64,
    /// How many of its tasks are healthy.
    pub healthy: u64,
}

/// One task, as `GET /v1/tasks` lists it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TaskView {
    /// The Mesos task id.
    pub id: String,
    /// The tenant whose switch the task is on.
    pub tenant: String,
    /// The service the task is an instance of.
    pub service: String,
    /// The definition the task was launched from.
    pub definition: String,
    /// The agent's hostname, once launched.
    pub hostname: Option<String>,
    /// The task's IP address.
    pub ip: Option<String>,
    /// The last Mesos state, e.g. `TASK_RUNNING`.
    pub state: String,
    /// What its health check last reported, if anything.
    pub healthy: Option<bool>,
    /// The version of its definition it runs, if the server says.
    pub version: Option<String>,
    /// Whether it is being drained (replaced by a newer version).
    pub draining: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_fields_take_defaults_and_unknown_ones_are_ignored() {
        let task: TaskView = serde_json::from_value(json!({
            "id": "web-1", "state": "TASK_RUNNING", "healthy": null, "future": [1, 2]
        }))
        .unwrap();
        assert_eq!(task.id, "web-1");
        assert_eq!(task.healthy, None);
        assert_eq!(task.version, None);
        let definition: DefinitionView = serde_json::from_value(json!({
            "id": "nginxcoke", "instances": 2, "deployment": {"state": "stuck", "extra": true},
            "definition": {"name": "x"}
        }))
        .unwrap();
        assert_eq!(definition.deployment.unwrap().state, "stuck");
    }
}

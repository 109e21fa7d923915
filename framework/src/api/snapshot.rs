//! The read-only view of the framework that the HTTP API serves: a
//! [`Snapshot`] the scheduler publishes on a `tokio::sync::watch` channel after
//! every change, made of [`ServiceView`]s and [`TaskView`]s. Plain serialisable
//! data, so the API never locks the scheduler's state. Task views are
//! shared (`Arc`) between the task list, their service and the scheduler's
//! cache, so publishing a snapshot does not copy every task.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Everything the API shows, as of the scheduler's last change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The id Mesos gave the framework, once subscribed.
    pub framework_id: Option<String>,
    /// Whether the scheduler stream to the master is up.
    pub connected: bool,
    /// The master the scheduler talks to ("host:port" or a URL).
    pub master: String,
    /// Every service the task definitions declare, sorted by tenant and name.
    pub services: Vec<ServiceView>,
    /// Every task the framework knows, whatever its service.
    pub tasks: Vec<Arc<TaskView>>,
    /// Every definition in force, by id.
    #[serde(default)]
    pub definitions: Vec<DefinitionView>,
    /// The deployments under way, by definition.
    #[serde(default)]
    pub deployments: Vec<DeploymentView>,
}

impl Snapshot {
    /// The service `name` of `tenant`, if the framework runs it.
    pub fn service(&self, tenant: &str, name: &str) -> Option<&ServiceView> {
        self.services
            .iter()
            .find(|service| service.tenant == tenant && service.name == name)
    }

    /// The definition `id`, if it is in force.
    pub fn definition(&self, id: &str) -> Option<&DefinitionView> {
        self.definitions.iter().find(|d| d.id == id)
    }

    /// How many tasks are in `state` ("TASK_RUNNING"...).
    pub fn count_tasks_in(&self, state: &str) -> usize {
        self.tasks.iter().filter(|task| task.state == state).count()
    }
}

/// One load-balanced service (an OVN load balancer per tenant and service).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    /// The tenant owning the service (its logical switch and router).
    pub tenant: String,
    /// The service name, unique within the tenant.
    pub name: String,
    /// "tcp" or "udp".
    pub protocol: String,
    /// The virtual addresses, one "ip:port" per gateway (`ovn-nbctl lb-list`).
    pub vips: Vec<String>,
    /// The east-west VIP "cluster-ip:port" on the tenant's switches, once
    /// its load balancer is written.
    #[serde(default)]
    pub east_west: Option<String>,
    /// Its names in the tenant's DNS (`web.coke.ovn-mesos`).
    #[serde(default)]
    pub names: Vec<String>,
    /// The "ip:port" of every RUNNING task behind the VIPs.
    pub backends: Vec<String>,
    /// How many instances the task definitions ask for.
    pub instances: u32,
    /// How many of its tasks their health check last reported healthy.
    #[serde(default)]
    pub healthy: usize,
    /// The tasks of this service, whatever their state.
    pub tasks: Vec<Arc<TaskView>>,
}

/// One Mesos task and its OVN logical switch port.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    /// The Mesos task id.
    pub id: String,
    /// The tenant whose switch the task's port is on.
    pub tenant: String,
    /// The service the task is an instance of.
    pub service: String,
    /// The task definition (template) the task was launched from.
    pub definition: String,
    /// The agent running the task, once launched.
    pub agent_id: Option<String>,
    /// The agent's hostname, once launched.
    pub hostname: Option<String>,
    /// The task's IP address on the tenant switch.
    pub ip: String,
    /// The MAC address of the task's port.
    pub mac: String,
    /// The logical switch port name (`ovn-nbctl lsp-list`).
    pub port: String,
    /// The last Mesos state, e.g. "TASK_RUNNING".
    pub state: String,
    /// The message of the last status update, if any.
    pub message: Option<String>,
    /// What its health check last reported: true, false, or null (no
    /// check, or no report since the task or this framework started).
    #[serde(default)]
    pub healthy: Option<bool>,
    /// The version of its definition it runs.
    #[serde(default)]
    pub version: Option<String>,
    /// Out of its VIP, waiting for its KILL (replaced, scaled down or
    /// deleted).
    #[serde(default)]
    pub draining: bool,
}

/// One definition in force (`GET /v1/definitions`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefinitionView {
    /// The definition's id (its task file's `task_id.value` or `name`).
    pub id: String,
    pub tenant: String,
    pub service: String,
    /// Its logical switch.
    pub network: String,
    /// The instance count in force.
    pub instances: u32,
    /// The version of what its tasks run.
    pub version: String,
    /// Where its last change came from: `file` or `api`.
    pub source: String,
    /// The task file `--tasks` applied it from, if any.
    pub file: Option<String>,
    /// Its tasks of the current version that are running, healthy
    /// backends (checked or not), and its tasks draining.
    pub running: usize,
    pub healthy: usize,
    pub draining: usize,
    /// Its deployment under way, if any.
    pub deployment: Option<DeploymentView>,
    /// Why some of its instances wait for an offer.
    pub waiting: Option<String>,
    /// The task file's JSON as applied.
    pub definition: std::sync::Arc<serde_json::Value>,
}

/// One deployment under way (`GET /v1/deployments`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploymentView {
    /// `<definition>@<first 8 digits of the new version>`.
    pub id: String,
    pub definition: String,
    /// The version it replaces (none for a new definition) and the new one.
    pub from: Option<String>,
    pub to: String,
    /// `in-progress` or `stuck`.
    pub state: String,
    /// Why it is stuck.
    pub reason: Option<String>,
    /// When it started, in Unix seconds.
    pub started_at: f64,
    pub instances: u32,
    /// Tasks of the new version, and how many serve.
    pub new_tasks: u32,
    pub new_healthy: u32,
    /// Tasks of earlier versions left, and how many of them drain.
    pub old_tasks: u32,
    pub draining: u32,
    /// Its tasks' ids.
    pub tasks: Vec<String>,
}
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A task of `service` of tenant "coke" in `state`.
    pub(crate) fn task(id: &str, service: &str, state: &str) -> Arc<TaskView> {
        Arc::new(TaskView {
            id: id.to_string(),
            tenant: "coke".to_string(),
            service: service.to_string(),
            definition: format!("{service}-def"),
            agent_id: Some("agent-1".to_string()),
            hostname: Some("node1".to_string()),
            ip: "10.1.0.5".to_string(),
            mac: "0a:00:0a:01:00:05".to_string(),
            port: format!("coke.{id}"),
            state: state.to_string(),
            message: None,
            healthy: None,
            version: None,
            draining: false,
        })
    }

    /// A service of tenant `tenant` with the given backends and no tasks.
    pub(crate) fn service(tenant: &str, name: &str, backends: &[&str]) -> ServiceView {
        ServiceView {
            tenant: tenant.to_string(),
            name: name.to_string(),
            protocol: "tcp".to_string(),
            vips: vec!["10.10.1.12:32350".to_string()],
            east_west: None,
            names: Vec::new(),
            backends: backends.iter().map(|b| b.to_string()).collect(),
            instances: 2,
            healthy: 0,
            tasks: Vec::new(),
        }
    }

    #[test]
    fn a_service_is_found_by_tenant_and_name() {
        let snapshot = Snapshot {
            services: vec![service("coke", "web", &[]), service("pepsi", "web", &[])],
            ..Snapshot::default()
        };
        assert_eq!(snapshot.service("pepsi", "web").unwrap().tenant, "pepsi");
        assert!(snapshot.service("coke", "db").is_none());
        assert!(snapshot.service("fanta", "web").is_none());
    }

    #[test]
    fn tasks_are_counted_by_state() {
        let snapshot = Snapshot {
            tasks: vec![
                task("a", "web", "TASK_RUNNING"),
                task("b", "web", "TASK_RUNNING"),
                task("c", "web", "TASK_FAILED"),
            ],
            ..Snapshot::default()
        };
        assert_eq!(snapshot.count_tasks_in("TASK_RUNNING"), 2);
        assert_eq!(snapshot.count_tasks_in("TASK_FAILED"), 1);
        assert_eq!(snapshot.count_tasks_in("TASK_STAGING"), 0);
    }

    #[test]
    fn a_task_serialises_with_the_contract_field_names_and_nulls() {
        let mut view = Arc::unwrap_or_clone(task("a", "web", "TASK_STAGING"));
        view.agent_id = None;
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["id"], "a");
        assert_eq!(json["state"], "TASK_STAGING");
        assert_eq!(json["port"], "coke.a");
        assert!(json["agent_id"].is_null());
        assert!(json["message"].is_null());
        let back: TaskView = serde_json::from_value(json).unwrap();
        assert_eq!(back, view);
    }
}

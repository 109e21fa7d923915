//! Building the [`Snapshot`] the API serves: the services with their VIPs
//! (each gateway router's physical IP at the service port), backends and
//! tasks. [`Views`] keeps each task's [`TaskView`] with the version it was
//! built from, so a snapshot after a few changes copies only those tasks.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use mesos_proto::v1::TaskId;
use ovn::services::{ServiceKey, ServiceSpec};

use super::{ServiceView, Snapshot, TaskView};
use crate::scheduler::core::ServiceAddresses;
use crate::state::TaskRecord;
use crate::tasks::Services;

/// One task as the view needs it.
#[derive(Debug, Clone, Copy)]
pub struct TaskSource<'a> {
    pub record: &'a TaskRecord,
    /// The message of its last status update.
    pub message: Option<&'a str>,
    /// Out of its VIP, waiting for its KILL.
    pub draining: bool,
    /// Changes whenever anything above changes.
    pub version: u64,
}

/// What a snapshot says besides services and tasks.
#[derive(Debug, Clone)]
pub struct Head {
    pub framework_id: Option<String>,
    pub connected: bool,
    pub master: String,
}

/// The task views of the last snapshot, by task.
#[derive(Debug, Default)]
pub struct Views {
    tasks: HashMap<TaskId, (u64, Arc<TaskView>)>,
}

impl Views {
    /// The snapshot of `services` (with the desired load balancers `specs`
    /// and the addresses written for them) and `tasks`; `gateways` gives a
    /// tenant's gateway router IPs.
    #[allow(clippy::too_many_arguments)]
    pub fn snapshot<'a>(
        &mut self,
        head: Head,
        services: &Services,
        specs: &[ServiceSpec],
        addresses: &BTreeMap<ServiceKey, ServiceAddresses>,
        tasks: impl Iterator<Item = TaskSource<'a>>,
        gateways: impl Fn(&str) -> Vec<Ipv4Addr>,
    ) -> Snapshot {
        // Once per tenant, not once per service.
        let mut known: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
        let mut gateways = |tenant: &str| -> Vec<Ipv4Addr> {
            known
                .entry(tenant.to_owned())
                .or_insert_with(|| gateways(tenant))
                .clone()
        };
        let specs: BTreeMap<_, _> = specs.iter().map(|s| (s.key(), s)).collect();
        let mut by_service: BTreeMap<(&str, &str), Vec<Arc<TaskView>>> = BTreeMap::new();
        let mut kept = HashMap::with_capacity(self.tasks.len());
        let tasks: Vec<Arc<TaskView>> = tasks
            .map(|t| {
                let id = &t.record.task_id;
                let view = match self.tasks.remove(id) {
                    Some((version, view)) if version == t.version => view,
                    _ => Arc::new(task_view(t)),
                };
                kept.insert(id.clone(), (t.version, view.clone()));
                by_service
                    .entry((&t.record.tenant, &t.record.service))
                    .or_default()
                    .push(view.clone());
                view
            })
            .collect();
        self.tasks = kept;
        let services = services
            .iter()
            .map(|service| {
                let key = &service.key;
                let vips = match service.vip {
                    Some(vip) => gateways(&key.tenant)
                        .into_iter()
                        .map(|ip| format!("{ip}:{}", vip.port))
                        .collect(),
                    None => Vec::new(),
                };
                let written = addresses.get(key);
                ServiceView {
                    tenant: key.tenant.clone(),
                    name: key.name.clone(),
                    east_west: written.and_then(|a| a.east_west).map(|v| v.to_string()),
                    names: written.map(|a| a.names.clone()).unwrap_or_default(),
                    protocol: service
                        .vip
                        .map_or("tcp", |v| v.protocol.as_str())
                        .to_owned(),
                    vips,
                    backends: specs
                        .get(key)
                        .map(|s| s.backends.iter().map(ToString::to_string).collect())
                        .unwrap_or_default(),
                    instances: service.instances(),
                    healthy: by_service
                        .get(&(key.tenant.as_str(), key.name.as_str()))
                        .map_or(0, |tasks| {
                            tasks.iter().filter(|t| t.healthy == Some(true)).count()
                        }),
                    tasks: by_service
                        .remove(&(key.tenant.as_str(), key.name.as_str()))
                        .unwrap_or_default(),
                }
            })
            .collect();
        Snapshot {
            framework_id: head.framework_id,
            connected: head.connected,
            master: head.master,
            services,
            tasks,
            definitions: Vec::new(),
            deployments: Vec::new(),
        }
    }
}

fn task_view(t: TaskSource<'_>) -> TaskView {
    let r = t.record;
    TaskView {
        id: r.task_id.as_str().to_owned(),
        tenant: r.tenant.clone(),
        service: r.service.clone(),
        definition: r.definition.to_string(),
        agent_id: r.agent_id.as_ref().map(|a| a.as_str().to_owned()),
        hostname: r.hostname.clone(),
        ip: r.port.ip.to_string(),
        mac: r.port.mac.to_string(),
        port: r.port.name.clone(),
        state: r.state.as_str_name().to_owned(),
        message: t.message.map(str::to_owned),
        healthy: r.healthy,
        version: r.version.clone(),
        draining: t.draining,
    }
}

#[cfg(test)]
mod tests {
    use mesos_proto::v1::{AgentId, TaskState};

    use super::*;

    fn record(id: &str) -> TaskRecord {
        let port = crate::launch::fixtures::port(id, 2);
        let agent = Some(AgentId::new("a1"));
        let mut record = TaskRecord::staging(&port, "web".into(), agent, Some("agent1".into()));
        record.state = TaskState::TaskRunning;
        record
    }

    fn source(record: &TaskRecord, version: u64) -> TaskSource<'_> {
        TaskSource {
            record,
            message: None,
            draining: false,
            version,
        }
    }

    fn head() -> Head {
        Head {
            framework_id: Some("fw".into()),
            connected: true,
            master: "m:5050".into(),
        }
    }

    #[test]
    fn a_task_view_is_reused_until_its_version_changes() {
        let mut views = Views::default();
        let mut r = record("web.1");
        let services = Services::default();
        let first = views.snapshot(
            head(),
            &services,
            &[],
            &BTreeMap::new(),
            [source(&r, 1)].into_iter(),
            |_| vec![],
        );
        let again = views.snapshot(
            head(),
            &services,
            &[],
            &BTreeMap::new(),
            [source(&r, 1)].into_iter(),
            |_| vec![],
        );
        assert!(Arc::ptr_eq(&first.tasks[0], &again.tasks[0]));
        r.state = TaskState::TaskKilling;
        let changed = views.snapshot(
            head(),
            &services,
            &[],
            &BTreeMap::new(),
            [source(&r, 2)].into_iter(),
            |_| vec![],
        );
        assert_eq!(changed.tasks[0].state, "TASK_KILLING");
        assert_eq!(changed.tasks[0].hostname.as_deref(), Some("agent1"));
        let gone = views.snapshot(
            head(),
            &services,
            &[],
            &BTreeMap::new(),
            std::iter::empty(),
            |_| vec![],
        );
        assert!(gone.tasks.is_empty());
        assert!(views.tasks.is_empty(), "views of gone tasks are dropped");
    }
}

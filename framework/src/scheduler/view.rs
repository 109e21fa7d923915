//! The API's view of the scheduler: the services with their VIPs (each
//! gateway router's physical IP at the service port, read from the NB
//! cache), backends and tasks, published on the watch channel when
//! something changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use ovn::services::ServiceSpec;
use ovn::topology::find_gateway_routers;

use super::book::LiveTask;
use super::vips::desired;
use super::Scheduler;
use crate::api::{ServiceView, Snapshot, TaskView};

fn task_view(task: &LiveTask) -> TaskView {
    let r = &task.record;
    TaskView {
        id: r.task_id.as_str().to_owned(),
        tenant: r.tenant.clone(),
        service: r.service.clone(),
        definition: r.definition.clone(),
        agent_id: r.agent_id.as_ref().map(|a| a.as_str().to_owned()),
        hostname: task.hostname.clone(),
        ip: r.port.ip.to_string(),
        mac: r.port.mac.to_string(),
        port: r.port.name.clone(),
        state: r.state.as_str_name().to_owned(),
        message: task.message.clone(),
    }
}

impl Scheduler {
    /// Builds the snapshot of the current state.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_with(&desired(&self.services, &self.book))
    }

    /// The snapshot, given the desired load balancers of the current state.
    fn snapshot_with(&self, specs: &[ServiceSpec]) -> Snapshot {
        let specs: BTreeMap<_, _> = specs.iter().map(|s| (s.key(), s)).collect();
        let mut tasks_by_service: BTreeMap<(&str, &str), Vec<Arc<TaskView>>> = BTreeMap::new();
        let tasks: Vec<Arc<TaskView>> = self
            .book
            .tasks()
            .map(|t| {
                let view = t.view.get_or_init(|| Arc::new(task_view(t))).clone();
                tasks_by_service
                    .entry((&t.record.tenant, &t.record.service))
                    .or_default()
                    .push(view.clone());
                view
            })
            .collect();
        let services = self
            .services
            .iter()
            .map(|service| {
                let key = &service.key;
                let spec = specs.get(key);
                let vips = match service.vip {
                    Some(vip) => self.nb.read(|cache| {
                        find_gateway_routers(cache, &key.tenant)
                            .into_iter()
                            .map(|g| format!("{}:{}", g.physical_ip, vip.port))
                            .collect()
                    }),
                    None => Vec::new(),
                };
                ServiceView {
                    tenant: key.tenant.clone(),
                    name: key.name.clone(),
                    protocol: service
                        .vip
                        .map_or("tcp", |v| v.protocol.as_str())
                        .to_owned(),
                    vips,
                    backends: spec
                        .map(|s| s.backends.iter().map(ToString::to_string).collect())
                        .unwrap_or_default(),
                    instances: service.instances(),
                    tasks: tasks_by_service
                        .remove(&(key.tenant.as_str(), key.name.as_str()))
                        .unwrap_or_default(),
                }
            })
            .collect();
        Snapshot {
            framework_id: self.store.framework_id().map(|f| f.as_str().to_owned()),
            connected: self.connected,
            master: self.config.mesos.master.clone(),
            services,
            tasks,
        }
    }

    /// Publishes the snapshot to the API.
    pub(super) fn publish(&mut self) {
        self.publish_with(&desired(&self.services, &self.book));
    }

    /// Publishes the snapshot, given the desired load balancers.
    pub(super) fn publish_with(&mut self, specs: &[ServiceSpec]) {
        self.view_tx
            .send_replace(Arc::new(self.snapshot_with(specs)));
        self.view_dirty = false;
    }
}

//! The events the core publishes on `GET /v1/events` (see
//! `framework/src/api/events.rs`): task states and health, drains,
//! deployment steps and each service's VIP backends as handed to the VIP
//! writer. Each is one JSON object with a `type`.

use std::time::UNIX_EPOCH;

use mesos_proto::v1::{TaskId, TaskStatus};
use ovn::services::ServiceSpec;
use serde_json::json;

use super::{Core, Effect, ServiceAddresses};
use crate::api::ApiEvent;
use crate::scheduler::book::{DeploymentStatus, LiveTask};

/// The event of a deployment's step (`deployment_step`, `_done`, `_stuck`).
pub(super) fn deployment(kind: &'static str, s: &DeploymentStatus) -> ApiEvent {
    ApiEvent::new(kind, deployment_json(s))
}

/// A deployment as the API shows it.
pub(crate) fn deployment_json(s: &DeploymentStatus) -> serde_json::Value {
    let started = s
        .started_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    json!({
        "id": s.id,
        "definition": s.definition.as_str(),
        "from": s.from,
        "to": s.to,
        "state": if s.stuck.is_some() { "stuck" } else { "in-progress" },
        "reason": s.stuck,
        "started_at": started,
        "instances": s.instances,
        "new_tasks": s.new_tasks,
        "new_healthy": s.new_healthy,
        "old_tasks": s.old_tasks,
        "draining": s.draining,
        "tasks": s.tasks,
    })
}

/// A task's state or health as an event.
pub(super) fn status(kind: &'static str, task: &LiveTask, status: &TaskStatus) -> ApiEvent {
    ApiEvent::new(
        kind,
        json!({
            "task": task.id().as_str(),
            "definition": task.record.definition.as_str(),
            "tenant": task.record.tenant,
            "service": task.record.service,
            "state": status.state().as_str_name(),
            "healthy": task.record.healthy,
            "message": status.message,
            "ip": task.record.port.ip.to_string(),
            "version": task.record.version,
        }),
    )
}

/// `vip_addresses`: where a service is reached, once its load balancer
/// is written (and again whenever that changes).
pub(super) fn addresses(a: &ServiceAddresses) -> ApiEvent {
    ApiEvent::new(
        "vip_addresses",
        json!({
            "tenant": a.key.tenant,
            "service": a.key.name,
            "vips": a.vips.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "east_west": a.east_west.map(|v| v.to_string()),
            "names": a.names,
        }),
    )
}

impl Core {
    /// An event about one task of the book.
    pub(super) fn event_task(&mut self, kind: &'static str, id: &TaskId) {
        let Some(task) = self.book.get(id) else {
            return;
        };
        let event = ApiEvent::new(
            kind,
            json!({
                "task": task.id().as_str(),
                "definition": task.record.definition.as_str(),
                "tenant": task.record.tenant,
                "service": task.record.service,
                "ip": task.record.port.ip.to_string(),
                "version": task.record.version,
            }),
        );
        self.out.push(Effect::Event(event));
    }

    /// `vip_backends` for each service whose backends differ from the
    /// last ones handed to the VIP writer.
    pub(super) fn vip_events(&mut self, specs: &[ServiceSpec]) {
        let mut seen = std::collections::BTreeSet::new();
        for spec in specs {
            let key = spec.key();
            seen.insert(key.clone());
            if self.published.get(&key) == Some(&spec.backends) {
                continue;
            }
            self.published.insert(key, spec.backends.clone());
            let backends: Vec<String> = spec.backends.iter().map(ToString::to_string).collect();
            self.out.push(Effect::Event(ApiEvent::new(
                "vip_backends",
                json!({
                    "tenant": spec.tenant,
                    "service": spec.name,
                    "port": spec.port,
                    "protocol": spec.protocol.to_string(),
                    "backends": backends,
                }),
            )));
        }
        let gone: Vec<_> = self
            .published
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.published.remove(&key);
            self.out.push(Effect::Event(ApiEvent::new(
                "vip_removed",
                json!({"tenant": key.tenant, "service": key.name}),
            )));
        }
    }
}

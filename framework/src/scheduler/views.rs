//! The definitions and deployments the API shows, from the core's book
//! and the stored definitions.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use super::book::DeploymentStatus;
use super::core::Core;
use crate::api::{DefinitionView, DeploymentView};
use crate::state::StoredDefinition;
use crate::tasks::TemplateId;

/// A deployment's view.
pub(super) fn deployment_view(s: &DeploymentStatus) -> DeploymentView {
    DeploymentView {
        id: s.id.clone(),
        definition: s.definition.to_string(),
        from: s.from.clone(),
        to: s.to.clone(),
        state: if s.stuck.is_some() {
            "stuck"
        } else {
            "in-progress"
        }
        .into(),
        reason: s.stuck.clone(),
        started_at: s
            .started_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        instances: s.instances,
        new_tasks: s.new_tasks,
        new_healthy: s.new_healthy,
        old_tasks: s.old_tasks,
        draining: s.draining,
        tasks: s.tasks.clone(),
    }
}

/// Every definition in force and every deployment under way.
pub(super) fn definitions(
    core: &Core,
    stored: &BTreeMap<TemplateId, StoredDefinition>,
) -> (Vec<DefinitionView>, Vec<DeploymentView>) {
    let deployments: BTreeMap<TemplateId, DeploymentView> = core
        .book()
        .deployments()
        .iter()
        .map(|s| (s.definition.clone(), deployment_view(s)))
        .collect();
    let mut views = Vec::new();
    for (service, member) in core.services().members() {
        let d = &member.definition;
        let id = d.template();
        let Some(s) = stored.get(&id) else {
            continue;
        };
        let (mut running, mut healthy, mut draining) = (0, 0, 0);
        for task in core.book().tasks_of(&id) {
            if task.is_leaving() {
                draining += 1;
                continue;
            }
            if task.record.version.as_deref() != Some(d.version.as_str()) {
                continue;
            }
            if task.state() == mesos_proto::v1::TaskState::TaskRunning {
                running += 1;
            }
            if task.is_backend() {
                healthy += 1;
            }
        }
        views.push(DefinitionView {
            id: id.to_string(),
            tenant: service.key.tenant.clone(),
            service: service.key.name.clone(),
            network: d.switch.clone(),
            instances: d.instances,
            version: d.version.clone(),
            source: s.source.as_str().into(),
            file: s.file.as_ref().map(|f| f.path.display().to_string()),
            running,
            healthy,
            draining,
            deployment: deployments.get(&id).cloned(),
            waiting: core.waiting().get(&id).cloned(),
            definition: d.body.clone(),
        });
    }
    views.sort_by(|a, b| a.id.cmp(&b.id));
    (views, deployments.into_values().collect())
}

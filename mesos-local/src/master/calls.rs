//! Dispatch of the scheduler calls of a subscribed framework (everything
//! but SUBSCRIBE) and the small ones: TEARDOWN, DECLINE, REVIVE,
//! SUPPRESS, KILL, SHUTDOWN, ACKNOWLEDGE, MESSAGE, REQUEST,
//! UPDATE_FRAMEWORK and the operation/inverse-offer calls, as
//! `Master::decline`, `Master::kill` ... do them.

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mesos_proto::v1::scheduler::{call, response, Call};
use mesos_proto::v1::{OperationState, OperationStatus};
use tracing::{info, warn};

use super::framework::reported_state;
use super::state::MasterState;
use super::validation;
use super::Master;
use crate::api::{self, ApiError};
use crate::ids::uuid_text;
use crate::protocol::{master_message, Acknowledge, ExecutorData, ExecutorRef, KillTask};

impl Master {
    /// Runs one call of a connected framework.
    pub(crate) fn dispatch(
        self: &Arc<Self>,
        state: &mut MasterState,
        framework_id: &str,
        call: Call,
        headers: &HeaderMap,
    ) -> Result<Response, ApiError> {
        match call.r#type() {
            call::Type::Subscribe => {
                return Err(ApiError::bad_request("Unexpected 'SUBSCRIBE' call"))
            }
            call::Type::Teardown => {
                info!(framework = %framework_id, "TEARDOWN");
                self.remove_framework(state, framework_id);
            }
            call::Type::Accept => self.accept(state, framework_id, call.accept.unwrap_or_default()),
            call::Type::Decline => {
                self.decline(state, framework_id, call.decline.unwrap_or_default())
            }
            call::Type::Revive => self.revive(
                state,
                framework_id,
                call.revive.map(|r| r.roles).unwrap_or_default(),
            ),
            call::Type::Suppress => suppress(
                state,
                framework_id,
                call.suppress.map(|s| s.roles).unwrap_or_default(),
            ),
            call::Type::Kill => kill(state, framework_id, call.kill.unwrap_or_default()),
            call::Type::Shutdown => {
                shutdown(state, framework_id, call.shutdown.unwrap_or_default())
            }
            call::Type::Acknowledge => {
                acknowledge(state, framework_id, call.acknowledge.unwrap_or_default())
            }
            call::Type::Reconcile => state.reconcile(
                framework_id,
                call.reconcile.map(|r| r.tasks).unwrap_or_default(),
            ),
            call::Type::Message => message(state, framework_id, call.message.unwrap_or_default()),
            call::Type::UpdateFramework => {
                return self.update_framework(
                    state,
                    framework_id,
                    call.update_framework.unwrap_or_default(),
                );
            }
            call::Type::ReconcileOperations => {
                let operations = call.reconcile_operations.unwrap_or_default().operations;
                return reconcile_operations(operations, headers);
            }
            call::Type::Request
            | call::Type::AcceptInverseOffers
            | call::Type::DeclineInverseOffers
            | call::Type::AcknowledgeOperationStatus => {
                // No inverse offers or operation feedback exist here.
                info!(framework = %framework_id, call = ?call.r#type(), "call has nothing to act on");
            }
            call::Type::Unknown => {
                warn!(framework = %framework_id, "received 'UNKNOWN' call");
                return Err(ApiError::not_implemented());
            }
        }
        Ok(api::accepted())
    }

    fn decline(&self, state: &mut MasterState, framework_id: &str, decline: call::Decline) {
        let refuse = decline.filters.as_ref().map_or(5.0, |f| f.refuse_seconds());
        for offer_id in decline.offer_ids {
            let owned = state
                .offers
                .get(&offer_id.value)
                .is_some_and(|o| o.framework == framework_id);
            if !owned {
                warn!(framework = %framework_id, offer = %offer_id, "ignoring decline of an invalid offer");
                continue;
            }
            if let Some(record) = state.remove_offer(&offer_id.value, false) {
                state.add_filter(
                    framework_id,
                    &record.agent,
                    record.resources,
                    refuse,
                    self.config.allocation_interval,
                );
            }
        }
        self.trigger_allocation();
    }

    fn revive(&self, state: &mut MasterState, framework_id: &str, roles: Vec<String>) {
        state.mark_all_dirty();
        if let Some(framework) = state.frameworks.get_mut(framework_id) {
            framework.filters.clear();
            if roles.is_empty() {
                framework.suppressed_roles.clear();
            } else {
                for role in &roles {
                    framework.suppressed_roles.remove(role);
                }
            }
        }
        self.trigger_allocation();
    }

    fn update_framework(
        &self,
        state: &mut MasterState,
        framework_id: &str,
        update: call::UpdateFramework,
    ) -> Result<Response, ApiError> {
        let info = update.framework_info;
        if info.id.as_ref().map(|i| i.value.as_str()) != Some(framework_id) {
            return Err(ApiError::bad_request(
                "'framework_id' differs from 'update_framework.framework_info.id'",
            ));
        }
        validation::validate_framework_info(&info).map_err(ApiError::bad_request)?;
        if let Some(framework) = state.frameworks.get_mut(framework_id) {
            framework.info = info.clone();
            framework.suppressed_roles = update.suppressed_roles.into_iter().collect();
        }
        for agent in state.agents.values() {
            agent.send(master_message::Kind::UpdateFramework(info.clone()));
        }
        state.mark_all_dirty();
        self.trigger_allocation();
        Ok(StatusCode::OK.into_response())
    }
}

fn suppress(state: &mut MasterState, framework_id: &str, roles: Vec<String>) {
    if let Some(framework) = state.frameworks.get_mut(framework_id) {
        let roles = if roles.is_empty() {
            framework.roles()
        } else {
            roles
        };
        framework.suppressed_roles.extend(roles);
    }
}

fn kill(state: &mut MasterState, framework_id: &str, kill: call::Kill) {
    let task = state
        .frameworks
        .get(framework_id)
        .and_then(|f| f.tasks.get(&kill.task_id.value));
    let Some(task) = task else {
        warn!(framework = %framework_id, task = %kill.task_id, "cannot kill unknown task; performing reconciliation");
        state.reconcile(
            framework_id,
            vec![call::reconcile::Task {
                task_id: kill.task_id,
                agent_id: kill.agent_id,
            }],
        );
        return;
    };
    if kill.agent_id.as_ref().is_some_and(|a| *a != task.agent_id) {
        warn!(framework = %framework_id, task = %kill.task_id, "cannot kill task: it belongs to a different agent");
        return;
    }
    let agent_id = task.agent_id.value.clone();
    let partition_aware = state
        .frameworks
        .get(framework_id)
        .is_some_and(|f| f.partition_aware());
    info!(framework = %framework_id, task = %kill.task_id, agent = %agent_id, "killing task");
    state.send_to_agent(
        &agent_id,
        master_message::Kind::KillTask(KillTask {
            framework_id: Some(framework_id.into()),
            task_id: Some(kill.task_id),
            kill_policy: kill.kill_policy,
            partition_aware,
        }),
    );
}

fn shutdown(state: &mut MasterState, framework_id: &str, shutdown: call::Shutdown) {
    let sent = state.send_to_agent(
        &shutdown.agent_id.value,
        master_message::Kind::ShutdownExecutor(ExecutorRef {
            framework_id: Some(framework_id.into()),
            executor_id: Some(shutdown.executor_id.clone()),
        }),
    );
    if !sent {
        warn!(framework = %framework_id, executor = %shutdown.executor_id, agent = %shutdown.agent_id, "unable to shut down executor of unknown agent");
    }
}

fn acknowledge(state: &mut MasterState, framework_id: &str, ack: call::Acknowledge) {
    let agent_id = ack.agent_id.value.clone();
    let connected = state
        .agents
        .get(&agent_id)
        .is_some_and(|a| a.is_connected());
    if !connected {
        warn!(framework = %framework_id, task = %ack.task_id, agent = %agent_id, "cannot forward acknowledgement: agent not registered or disconnected");
        return;
    }
    let acked_terminal = state
        .frameworks
        .get(framework_id)
        .and_then(|f| f.tasks.get(&ack.task_id.value))
        .is_some_and(|t| {
            t.task_id.value == ack.task_id.value
                && t.agent_id.value == agent_id
                && t.status_update_uuid.as_deref() == Some(ack.uuid.as_slice())
                && reported_state(t).is_terminal()
        });
    if acked_terminal {
        state.remove_task(framework_id, &ack.task_id.value);
    }
    tracing::debug!(framework = %framework_id, task = %ack.task_id, uuid = %uuid_text(&ack.uuid), "forwarding acknowledgement");
    state.send_to_agent(
        &agent_id,
        master_message::Kind::Acknowledge(Acknowledge {
            framework_id: Some(framework_id.into()),
            task_id: Some(ack.task_id),
            uuid: ack.uuid,
        }),
    );
}

fn message(state: &mut MasterState, framework_id: &str, message: call::Message) {
    let sent = state.send_to_agent(
        &message.agent_id.value,
        master_message::Kind::FrameworkMessage(ExecutorData {
            framework_id: Some(framework_id.into()),
            executor_id: Some(message.executor_id.clone()),
            data: message.data,
        }),
    );
    if !sent {
        warn!(framework = %framework_id, agent = %message.agent_id, "dropping message for unknown agent");
    }
}

/// RECONCILE_OPERATIONS: mesos-local runs no offer operations with
/// feedback, so every operation is OPERATION_UNKNOWN (answered at once).
fn reconcile_operations(
    operations: Vec<call::reconcile_operations::Operation>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let encoding = api::accept_encoding(headers)?;
    let statuses = operations
        .into_iter()
        .map(|op| {
            let mut status = OperationStatus {
                operation_id: Some(op.operation_id),
                agent_id: op.agent_id,
                resource_provider_id: op.resource_provider_id,
                ..Default::default()
            };
            status.set_state(OperationState::OperationUnknown);
            status
        })
        .collect();
    let answer = mesos_proto::v1::scheduler::Response {
        r#type: Some(response::Type::ReconcileOperations as i32),
        reconcile_operations: Some(response::ReconcileOperations {
            operation_statuses: statuses,
        }),
    };
    let body = encoding
        .encode(&answer)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    Ok(response)
}

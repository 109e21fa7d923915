//! Sending scheduler calls for a subscribed framework: every call is a
//! separate `POST /api/v1/scheduler` to the leading master carrying the
//! framework id and the subscription's `Mesos-Stream-Id`; the master
//! answers 202 (200 for synchronous calls). One pooled HTTP client per
//! subscription, shared by every clone of the [`Caller`].

use std::sync::Arc;
use std::time::Duration;

use mesos_proto::v1::scheduler::{call, Call};
use mesos_proto::v1::{offer, AgentId, Filters, FrameworkId, OfferId, TaskId, TaskStatus};
use mesos_proto::{Encoding, MESOS_STREAM_ID_HEADER};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tracing::debug;

use super::error::{MesosError, ACCEPTED, OK};
use ovn::report::Chain;

/// Sends calls on behalf of one subscription (cheap to clone).
#[derive(Clone, Debug)]
pub struct Caller {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    url: String,
    encoding: Encoding,
    framework_id: FrameworkId,
    stream_id: String,
    request_timeout: Duration,
}

impl Caller {
    /// A caller for the subscription `stream_id` of `framework_id` on the
    /// leader at `url`.
    pub(crate) fn new(
        http: reqwest::Client,
        url: String,
        encoding: Encoding,
        framework_id: FrameworkId,
        stream_id: String,
        request_timeout: Duration,
    ) -> Self {
        Caller {
            inner: Arc::new(Inner {
                http,
                url,
                encoding,
                framework_id,
                stream_id,
                request_timeout,
            }),
        }
    }

    /// The framework the calls are made for.
    pub fn framework_id(&self) -> &FrameworkId {
        &self.inner.framework_id
    }

    /// The scheduler API URL of the leading master the calls go to.
    pub fn master(&self) -> &str {
        &self.inner.url
    }

    /// The subscription's `Mesos-Stream-Id`.
    pub fn stream_id(&self) -> &str {
        &self.inner.stream_id
    }

    /// Sends `call` with this framework's id and stream id; 200 and 202
    /// are success, any other status an error carrying the master's reason.
    pub async fn call(&self, mut call: Call) -> Result<(), MesosError> {
        let inner = &*self.inner;
        let kind = call.r#type().as_str_name();
        call.framework_id = Some(inner.framework_id.clone());
        let body = inner
            .encoding
            .encode(&call)
            .map_err(|e| MesosError::InvalidCall(format!("cannot encode {kind}: {}", Chain(&e))))?;
        let failed =
            |source| MesosError::from_reqwest(kind, &inner.url, inner.request_timeout, source);
        let response = inner
            .http
            .post(&inner.url)
            .header(CONTENT_TYPE, inner.encoding.content_type())
            .header(ACCEPT, inner.encoding.content_type())
            .header(MESOS_STREAM_ID_HEADER, &inner.stream_id)
            .body(body)
            .send()
            .await
            .map_err(failed)?;
        let status = response.status().as_u16();
        // Read the body either way so the connection goes back to the pool.
        let body = response.bytes().await.map_err(failed)?;
        if status == ACCEPTED || status == OK {
            debug!(call = kind, framework_id = %inner.framework_id, status, "call accepted");
            return Ok(());
        }
        Err(MesosError::from_status(
            kind,
            &inner.url,
            status,
            &String::from_utf8_lossy(&body),
        ))
    }

    /// ACCEPT: runs `operations` on the offers (all from one agent); what
    /// they leave unused is declined for `refuse_seconds` (Mesos' default
    /// 5 s when `None`).
    pub async fn accept(
        &self,
        offer_ids: Vec<OfferId>,
        operations: Vec<offer::Operation>,
        refuse_seconds: Option<f64>,
    ) -> Result<(), MesosError> {
        self.call(Call {
            accept: Some(call::Accept {
                offer_ids,
                operations,
                filters: refuse_seconds.map(filters),
            }),
            ..of_type(call::Type::Accept)
        })
        .await
    }

    /// DECLINE: gives the offers back; their agents' resources are not
    /// offered again for `refuse_seconds`.
    pub async fn decline(
        &self,
        offer_ids: Vec<OfferId>,
        refuse_seconds: f64,
    ) -> Result<(), MesosError> {
        self.call(Call {
            decline: Some(call::Decline {
                offer_ids,
                filters: Some(filters(refuse_seconds)),
            }),
            ..of_type(call::Type::Decline)
        })
        .await
    }

    /// ACKNOWLEDGE of an agent's status update. Returns false and sends
    /// nothing when the status has no uuid (master-generated updates from
    /// reconciliation or invalid offers are never acknowledged); a status
    /// with a uuid but no agent id is an [`MesosError::InvalidCall`].
    pub async fn acknowledge(&self, status: &TaskStatus) -> Result<bool, MesosError> {
        let Some(uuid) = status.uuid.clone() else {
            return Ok(false);
        };
        let Some(agent_id) = status.agent_id.clone() else {
            return Err(MesosError::InvalidCall(format!(
                "the update of task {} carries a uuid but no agent id",
                status.task_id
            )));
        };
        self.call(Call {
            acknowledge: Some(call::Acknowledge {
                agent_id,
                task_id: status.task_id.clone(),
                uuid,
            }),
            ..of_type(call::Type::Acknowledge)
        })
        .await?;
        Ok(true)
    }

    /// RECONCILE: the master answers with an UPDATE per task (without
    /// uuid); an empty list asks for every task it knows (implicit).
    pub async fn reconcile(&self, tasks: Vec<(TaskId, Option<AgentId>)>) -> Result<(), MesosError> {
        let tasks = tasks
            .into_iter()
            .map(|(task_id, agent_id)| call::reconcile::Task { task_id, agent_id })
            .collect();
        self.call(Call {
            reconcile: Some(call::Reconcile { tasks }),
            ..of_type(call::Type::Reconcile)
        })
        .await
    }

    /// KILL of a task (its kill policy applies); the agent id speeds it up.
    pub async fn kill(&self, task_id: TaskId, agent_id: Option<AgentId>) -> Result<(), MesosError> {
        self.call(Call {
            kill: Some(call::Kill {
                task_id,
                agent_id,
                kill_policy: None,
            }),
            ..of_type(call::Type::Kill)
        })
        .await
    }

    /// SUPPRESS: no more offers (for all the framework's roles) until REVIVE.
    pub async fn suppress(&self) -> Result<(), MesosError> {
        self.call(Call {
            suppress: Some(call::Suppress::default()),
            ..of_type(call::Type::Suppress)
        })
        .await
    }

    /// REVIVE: offers again (for all roles), clearing every decline filter.
    pub async fn revive(&self) -> Result<(), MesosError> {
        self.call(Call {
            revive: Some(call::Revive::default()),
            ..of_type(call::Type::Revive)
        })
        .await
    }

    /// TEARDOWN: the master kills every task, removes the framework and
    /// closes its stream; the framework id cannot subscribe again.
    pub async fn teardown(&self) -> Result<(), MesosError> {
        self.call(of_type(call::Type::Teardown)).await
    }
}

/// A call of `kind` with nothing else set.
fn of_type(kind: call::Type) -> Call {
    Call {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// Filters refusing the declined resources for `refuse_seconds`.
fn filters(refuse_seconds: f64) -> Filters {
    Filters {
        refuse_seconds: Some(refuse_seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9/api/v1/scheduler".into(),
            Encoding::Protobuf,
            "fw-1".into(),
            "stream-1".into(),
            Duration::from_secs(1),
        )
    }

    #[tokio::test]
    async fn a_status_without_uuid_is_not_acknowledged() {
        let status = TaskStatus {
            task_id: "t".into(),
            agent_id: Some("a".into()),
            ..Default::default()
        };
        // Nothing is sent: the address is unreachable, yet this succeeds.
        assert!(!caller().acknowledge(&status).await.expect("no call"));
    }

    #[tokio::test]
    async fn a_status_with_uuid_but_no_agent_is_an_invalid_call() {
        let status = TaskStatus {
            task_id: "t".into(),
            uuid: Some(vec![7; 16]),
            ..Default::default()
        };
        let error = caller().acknowledge(&status).await.expect_err("no agent");
        assert!(matches!(error, MesosError::InvalidCall(_)), "{error:?}");
    }

    #[test]
    fn clones_share_the_framework_and_stream() {
        let caller = caller();
        let clone = caller.clone();
        assert_eq!(clone.framework_id().as_str(), "fw-1");
        assert_eq!(clone.stream_id(), "stream-1");
        assert!(Arc::ptr_eq(&caller.inner, &clone.inner));
    }

    #[test]
    fn call_builders_set_type_and_filters() {
        let call = of_type(call::Type::Teardown);
        assert_eq!(call.r#type(), call::Type::Teardown);
        assert_eq!(filters(30.0).refuse_seconds(), 30.0);
    }
}

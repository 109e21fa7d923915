//! The endpoint itself and the test's handle on it; see the module docs of
//! [`crate::test_agent`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use futures::channel::mpsc;
use mesos_proto::v1::executor::{call, event, Event};
use mesos_proto::v1::{
    AgentId, DurationInfo, ExecutorId, FrameworkId, KillPolicy, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use mesos_proto::{recordio, Encoding};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::http::{ack, event_of};

/// One update as the agent received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub status: TaskStatus,
    pub at: Instant,
    /// True when it came inside a SUBSCRIBE call (resent after a reconnection).
    pub resent: bool,
}

#[derive(Debug, Default)]
pub(super) struct Agent {
    pub(super) streams: HashMap<ExecutorId, (mpsc::UnboundedSender<Bytes>, Encoding)>,
    pub(super) subscribes: Vec<(ExecutorId, call::Subscribe)>,
    pub(super) updates: Vec<Received>,
    pub(super) auto_ack: bool,
    pub(super) refuse_subscribe: bool,
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) agent: Mutex<Agent>,
    pub(super) agent_id: AgentId,
    pub(super) framework_id: FrameworkId,
    pub(super) changed: watch::Sender<u64>,
}

impl Shared {
    pub(super) fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

/// The running endpoint; stops on drop.
#[derive(Debug)]
pub struct TestAgent {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestAgent {
    /// Listens on 127.0.0.1 (a free port) for executors of `framework_id`.
    pub async fn start(framework_id: &str) -> std::io::Result<TestAgent> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            agent: Mutex::new(Agent {
                auto_ack: true,
                ..Default::default()
            }),
            agent_id: AgentId::from("test-agent-1"),
            framework_id: FrameworkId::from(framework_id),
            changed: watch::channel(0).0,
        });
        let app = Router::new()
            .route("/api/v1/executor", post(super::http::handle))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(TestAgent {
            addr,
            shared,
            server,
        })
    }

    /// `127.0.0.1:<port>` (`MESOS_AGENT_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    pub fn framework_id(&self) -> &FrameworkId {
        &self.shared.framework_id
    }

    pub fn agent_id(&self) -> &AgentId {
        &self.shared.agent_id
    }

    fn agent(&self) -> std::sync::MutexGuard<'_, Agent> {
        self.shared.agent.lock().expect("agent lock")
    }

    /// Whether updates are acknowledged as they arrive (default true).
    pub fn set_auto_ack(&self, on: bool) {
        self.agent().auto_ack = on;
    }

    /// Answers SUBSCRIBE with 503 (an agent still recovering) while `on`.
    pub fn refuse_subscribe(&self, on: bool) {
        self.agent().refuse_subscribe = on;
    }

    /// Waits until `executor` has an open event stream.
    pub async fn wait_subscribed(
        &self,
        executor: &ExecutorId,
        timeout: Duration,
    ) -> Result<(), String> {
        self.wait(timeout, &format!("executor {executor} to subscribe"), |a| {
            a.streams.contains_key(executor).then_some(())
        })
        .await
    }

    /// Every SUBSCRIBE call `executor` made, in order.
    pub fn subscribes(&self, executor: &ExecutorId) -> Vec<call::Subscribe> {
        self.agent()
            .subscribes
            .iter()
            .filter(|(e, _)| e == executor)
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Pushes `event` into `executor`'s stream.
    pub fn send(&self, executor: &ExecutorId, event: &Event) -> Result<(), String> {
        let agent = self.agent();
        let (tx, encoding) = agent
            .streams
            .get(executor)
            .ok_or_else(|| format!("executor {executor} is not subscribed"))?;
        let body = encoding.encode(event).map_err(|e| e.to_string())?;
        tx.unbounded_send(Bytes::from(recordio::encode(&body)))
            .map_err(|e| format!("stream of {executor} closed: {e}"))
    }

    /// LAUNCH `task`; returns when the event was queued (the clock of the benchmark).
    pub fn launch(&self, executor: &ExecutorId, mut task: TaskInfo) -> Result<Instant, String> {
        task.agent_id = self.shared.agent_id.clone();
        let mut e = event_of(event::Type::Launch);
        e.launch = Some(event::Launch { task });
        let at = Instant::now();
        self.send(executor, &e)?;
        Ok(at)
    }

    /// KILL `task`, with a kill policy grace period when given.
    pub fn kill(
        &self,
        executor: &ExecutorId,
        task: &TaskId,
        grace: Option<Duration>,
    ) -> Result<(), String> {
        let mut e = event_of(event::Type::Kill);
        e.kill = Some(event::Kill {
            task_id: task.clone(),
            kill_policy: grace.map(|g| KillPolicy {
                grace_period: Some(DurationInfo {
                    nanoseconds: g.as_nanos() as i64,
                }),
            }),
        });
        self.send(executor, &e)
    }

    /// SHUTDOWN.
    pub fn shutdown(&self, executor: &ExecutorId) -> Result<(), String> {
        self.send(executor, &event_of(event::Type::Shutdown))
    }

    /// Closes `executor`'s event stream (as an agent restart would).
    pub fn disconnect(&self, executor: &ExecutorId) {
        if let Some((tx, _)) = self.agent().streams.remove(executor) {
            tx.close_channel();
        }
        self.shared.bump();
    }

    /// Every update received for `task`, in arrival order.
    pub fn updates(&self, task: &TaskId) -> Vec<Received> {
        self.agent()
            .updates
            .iter()
            .filter(|r| r.status.task_id == *task)
            .cloned()
            .collect()
    }

    /// Waits for an update of `task` in `state`.
    pub async fn wait_update(
        &self,
        task: &TaskId,
        state: TaskState,
        timeout: Duration,
    ) -> Result<Received, String> {
        let what = format!(
            "task {task} to report {state:?} (seen: {:?})",
            self.states(task)
        );
        self.wait(timeout, &what, |a| {
            a.updates
                .iter()
                .find(|r| r.status.task_id == *task && r.status.state() == state)
                .cloned()
        })
        .await
        .map_err(|e| format!("{e}; seen at the end: {:?}", self.states(task)))
    }

    /// Waits for a terminal update of `task`.
    pub async fn wait_terminal(
        &self,
        task: &TaskId,
        timeout: Duration,
    ) -> Result<Received, String> {
        self.wait(timeout, &format!("task {task} to end"), |a| {
            a.updates
                .iter()
                .find(|r| r.status.task_id == *task && r.status.state().is_terminal())
                .cloned()
        })
        .await
        .map_err(|e| format!("{e}; seen: {:?}", self.states(task)))
    }

    /// The states reported for `task`, in order.
    pub fn states(&self, task: &TaskId) -> Vec<TaskState> {
        self.updates(task)
            .iter()
            .map(|r| r.status.state())
            .collect()
    }

    /// Acknowledges every update received so far (when auto-ack is off).
    pub fn acknowledge_all(&self) -> Result<(), String> {
        let updates: Vec<(ExecutorId, TaskStatus)> = self
            .agent()
            .updates
            .iter()
            .filter_map(|r| Some((r.status.executor_id.clone()?, r.status.clone())))
            .collect();
        for (executor, status) in updates {
            self.send(&executor, &ack(&status))?;
        }
        Ok(())
    }

    async fn wait<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(&Agent) -> Option<T>,
    ) -> Result<T, String> {
        let mut rx = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if let Some(v) = f(&self.agent()) {
                return Ok(v);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Err(format!("timed out after {timeout:?} waiting for {what}"));
            }
        }
    }
}

//! The executor: subscribes to the agent, runs the tasks it is given and
//! reports their updates until SHUTDOWN, a signal, a lost agent or (with
//! `exit_when_idle`) the end of its last task.
//!
//! * SUBSCRIBE carries every unacknowledged task and update; after a lost
//!   connection, with checkpointing (`MESOS_CHECKPOINT=1`) the executor
//!   resubscribes with jittered backoff (bounded by
//!   `MESOS_SUBSCRIPTION_BACKOFF_MAX`) until `MESOS_RECOVERY_TIMEOUT`, tasks
//!   running on; without checkpointing it kills its tasks and exits.
//! * LAUNCH starts a task ([`crate::task`]); KILL kills it with the grace of
//!   the kill policy (event, then task, then
//!   `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`); ACKNOWLEDGED forgets an update;
//!   SHUTDOWN (and SIGTERM) kill every task and exit within the grace period;
//!   ERROR is a lost connection; MESSAGE and HEARTBEAT are logged.
//! * Updates are sent in order by one sender task; one that could not be
//!   sent stays unacknowledged and goes with the next SUBSCRIBE.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mesos_proto::v1::executor::call;
use mesos_proto::v1::{AgentId, TaskId, TaskStatus};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::api::{AgentClient, ApiError};
use crate::config::ExecutorConfig;
use crate::gc;
use crate::netlink::{LinkError, Netlink};
use crate::ovs_session::OvsSession;
use crate::plumbing::Plumber;
use crate::status::Reporter;
use crate::task::{KillOrder, TaskContext, TaskEvent};
use ovn::report::Chain;

/// Why the executor stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The agent sent SHUTDOWN.
    Shutdown,
    /// Every task ended and every update was acknowledged (`exit_when_idle`).
    Idle,
    /// The stop future completed (SIGTERM).
    Stopped,
    /// The agent connection was lost without checkpointing.
    Disconnected,
    /// The agent did not come back within the recovery timeout.
    RecoveryTimeout,
}

impl Outcome {
    /// True for the outcomes a clean exit (status 0) stands for.
    pub fn is_clean(self) -> bool {
        matches!(self, Outcome::Shutdown | Outcome::Idle | Outcome::Stopped)
    }
}

/// Why the executor could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The host netlink socket could not be opened.
    #[error("host network")]
    Host(#[from] LinkError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Api(#[from] ApiError),
}

mod events;

/// A launched task, as the loop tracks it.
struct Slot {
    kill: watch::Sender<KillOrder>,
    /// The task's own kill policy grace period.
    task_grace: Option<Duration>,
    done: bool,
    handle: JoinHandle<()>,
}

struct Loop {
    config: ExecutorConfig,
    ctx: Arc<TaskContext>,
    client: AgentClient,
    tasks: HashMap<TaskId, Slot>,
    unacked: crate::updates::Unacknowledged,
    agent_id: Option<AgentId>,
    events: mpsc::UnboundedReceiver<TaskEvent>,
    outbox: Option<mpsc::UnboundedSender<TaskStatus>>,
    launched_any: bool,
    /// The framework has TASK_KILLING_STATE (from SUBSCRIBED).
    killing_state: bool,
}

/// Runs the executor until it stops; `stop` completing (e.g. on SIGTERM)
/// kills every task and returns [`Outcome::Stopped`].
pub async fn run(
    config: ExecutorConfig,
    stop: impl Future<Output = ()>,
) -> Result<Outcome, ExecutorError> {
    let host = match &config.host_netns {
        Some(ns) => Netlink::in_netns(ns).await?,
        None => Netlink::current()?,
    };
    let ovs = OvsSession::new(&config.ovs_db, config.ovsdb_timeout);
    let plumber = Plumber::new(
        host,
        ovs.clone(),
        config.mesos.framework_id.clone(),
        config.install_timeout,
    );
    match gc::collect_garbage(&plumber).await {
        Ok(removed) if !removed.is_empty() => {
            info!(removed = removed.len(), "removed stale task ports")
        }
        Ok(_) => {}
        Err(e) => warn!(error = %Chain(&e), "garbage collection skipped"),
    }
    let client = AgentClient::new(
        config.mesos.executor_api_url(),
        config.encoding,
        config.mesos.framework_id.clone(),
        config.mesos.executor_id.clone(),
    )?;
    let (events_tx, events) = mpsc::unbounded_channel();
    let ctx = Arc::new(TaskContext {
        plumber,
        reporter: Reporter {
            agent_id: config.mesos.agent_id.clone(),
            executor_id: config.mesos.executor_id.clone(),
        },
        helper: config.helper.clone(),
        sandbox: config.mesos.sandbox.clone(),
        default_grace: config.mesos.shutdown_grace_period,
        events: events_tx,
    });
    let (outbox, queue) = mpsc::unbounded_channel();
    let sender = tokio::spawn(send_updates(client.clone(), queue));
    let mut state = Loop {
        agent_id: config.mesos.agent_id.clone(),
        config,
        ctx,
        client,
        tasks: HashMap::new(),
        unacked: Default::default(),
        events,
        outbox: Some(outbox),
        launched_any: false,
        killing_state: false,
    };
    let outcome = state.run(stop).await;
    // Let the last updates go out, within what is left of the grace period
    // (tasks got half of it to stop, their cleanup up to a quarter more).
    state.outbox = None;
    let _ = tokio::time::timeout(state.config.mesos.shutdown_grace_period / 8, sender).await;
    ovs.close().await;
    info!(?outcome, "executor exits");
    Ok(outcome)
}

async fn send_updates(client: AgentClient, mut queue: mpsc::UnboundedReceiver<TaskStatus>) {
    while let Some(status) = queue.recv().await {
        let (task, state) = (status.task_id.clone(), status.state());
        match client.update(status).await {
            Ok(()) => debug!(task = %task, ?state, "update sent"),
            Err(e) => {
                warn!(task = %task, ?state, error = %Chain(&e), "update not sent; it goes with the next SUBSCRIBE")
            }
        }
    }
}

impl Loop {
    async fn run(&mut self, stop: impl Future<Output = ()>) -> Outcome {
        tokio::pin!(stop);
        let mut lost_at: Option<Instant> = None;
        let mut attempt: u32 = 0;
        loop {
            let (tasks, updates) = self.unacked.for_subscribe();
            let subscribe = call::Subscribe {
                unacknowledged_tasks: tasks,
                unacknowledged_updates: updates,
            };
            let subscribed = tokio::select! {
                r = self.client.subscribe(subscribe) => r,
                _ = &mut stop => return self.shut_down(Outcome::Stopped).await,
            };
            let reason = match subscribed {
                Ok(mut stream) => {
                    info!(agent = %self.config.mesos.agent_endpoint, "subscribed");
                    lost_at = None;
                    attempt = 0;
                    loop {
                        tokio::select! {
                            ev = stream.next() => match ev {
                                Some(Ok(ev)) => match self.on_event(ev) {
                                    Step::Go => {}
                                    Step::Exit(o) => return self.shut_down(o).await,
                                    Step::Lost(why) => break why,
                                },
                                Some(Err(e)) => break Chain(&e).to_string(),
                                None => break "the agent closed the event stream".to_owned(),
                            },
                            Some(te) = self.events.recv() => {
                                if let Some(o) = self.on_task_event(te) {
                                    return o;
                                }
                            }
                            _ = &mut stop => return self.shut_down(Outcome::Stopped).await,
                        }
                    }
                }
                Err(e) => Chain(&e).to_string(),
            };
            if !self.config.mesos.checkpoint {
                warn!(reason = %reason, "agent connection lost; without checkpointing the executor shuts down");
                return self.shut_down(Outcome::Disconnected).await;
            }
            let since = *lost_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= self.config.mesos.recovery_timeout {
                warn!(reason = %reason, "the agent did not come back within the recovery timeout");
                return self.shut_down(Outcome::RecoveryTimeout).await;
            }
            attempt += 1;
            let pause = backoff(attempt, self.config.mesos.subscription_backoff_max);
            warn!(reason = %reason, attempt, retry_in = ?pause, "agent connection lost; resubscribing");
            let until = Instant::now() + pause;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    Some(te) = self.events.recv() => {
                        if let Some(o) = self.on_task_event(te) {
                            return o;
                        }
                    }
                    _ = &mut stop => return self.shut_down(Outcome::Stopped).await,
                }
            }
        }
    }
}

/// What the event loop does after an event.
enum Step {
    Go,
    Exit(Outcome),
    Lost(String),
}

/// Jittered exponential backoff: up to `max`, starting near 100 ms.
fn backoff(attempt: u32, max: Duration) -> Duration {
    let ceiling = Duration::from_millis(100)
        .saturating_mul(1 << attempt.min(10))
        .min(max.max(Duration::from_millis(10)));
    let ms = ceiling.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(ms / 2..=ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_the_maximum() {
        let max = Duration::from_secs(2);
        for attempt in 1..20 {
            let b = backoff(attempt, max);
            assert!(b <= max, "{b:?}");
        }
        assert!(backoff(1, max) <= Duration::from_millis(200));
        assert!(backoff(15, max) >= Duration::from_secs(1));
    }

    #[test]
    fn only_agent_trouble_is_an_unclean_exit() {
        assert!(
            Outcome::Shutdown.is_clean() && Outcome::Idle.is_clean() && Outcome::Stopped.is_clean()
        );
        assert!(!Outcome::Disconnected.is_clean() && !Outcome::RecoveryTimeout.is_clean());
    }
}

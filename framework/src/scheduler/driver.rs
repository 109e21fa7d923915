//! The event loop behind [`super::Scheduler::run`]: it owns the core and the
//! connections, takes one input at a time (a worker's report, the
//! master's events, an API request, a timer), feeds it to the core and
//! hands the core's effects to the workers. It never awaits the NB or the
//! master itself: the subscription is a future polled beside the other
//! inputs, and every call goes through a worker's queue.
//!
//! The link to the master: subscribe (with the saved framework id, so a
//! restart or a dropped stream fails over instead of registering anew),
//! serve the stream, resubscribe with backoff when it dies (heartbeats
//! missed, master gone), and stop on the shutdown signal leaving every
//! task running (Mesos keeps them for `failover_timeout`). If the master
//! removed the framework (teardown or failover timeout), its tasks are
//! gone: the core drops their ports and records and the next subscription
//! registers a new framework.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesos_proto::v1::scheduler::{event, Event};
use ovn::ovsdb::Client;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Sleep};
use tracing::{debug, error, info, warn};

use super::calls::{self, Acknowledger, Calls};
use super::core::{Core, Effect, Input, OfferBatch, Provisioned};
use super::launcher::Launcher;
use super::ports::{PortJob, PortWorker};
use super::vips::VipWriter;
use super::SchedulerError;
use crate::api::{Command, EventHub, Head, Metrics, Snapshot, TaskSource, Views};
use crate::mesos::{self, Backoff, Detection, Detector, MasterSpec, MesosError, Subscription};
use crate::state::StateStore;
use ovn::report::Chain;

/// How long a stop waits for the launcher to finish what it started.
const LAUNCH_DRAIN: Duration = Duration::from_secs(10);

type Subscribing = Pin<Box<dyn Future<Output = Result<Subscription, MesosError>> + Send>>;

/// The workers of one subscription.
struct Session {
    calls: Calls,
    acks: Acknowledger,
    launcher: Launcher,
}

/// Where the link to the master stands.
enum Link {
    Subscribing(Subscribing),
    Up(Box<Subscription>),
    /// Waiting to subscribe again; with `zk://` masters, until the delay
    /// is over or ZooKeeper names a leader, whichever comes first.
    Backoff(Pin<Box<Sleep>>, Option<Detector>),
}

/// What the link brought.
enum LinkEvent {
    Subscribed(Box<Subscription>),
    Event(Box<Event>),
    Ended(MesosError),
    Retry,
}

impl Link {
    /// The link's next event. Cancel-safe: the subscription future and
    /// the sleep live in `self`, and a stream read loses nothing.
    async fn next(&mut self) -> LinkEvent {
        match self {
            Link::Subscribing(attempt) => match attempt.await {
                Ok(sub) => LinkEvent::Subscribed(Box::new(sub)),
                Err(e) => LinkEvent::Ended(e),
            },
            Link::Up(sub) => match sub.next().await {
                Ok(event) => LinkEvent::Event(Box::new(event)),
                Err(e) => LinkEvent::Ended(e),
            },
            Link::Backoff(sleep, None) => {
                sleep.await;
                LinkEvent::Retry
            }
            // A leader that was SIGKILLed is still named until its
            // ZooKeeper session expires: the attempts to it fail and the
            // delay grows, but the new leader is tried as soon as it is
            // named, not after the delay.
            Link::Backoff(sleep, Some(detector)) => loop {
                tokio::select! {
                    () = sleep.as_mut() => return LinkEvent::Retry,
                    detection = detector.changed() => match detection {
                        Ok(Detection::Leader(_)) => return LinkEvent::Retry,
                        Ok(_) => {}
                        Err(_) => {
                            sleep.as_mut().await;
                            return LinkEvent::Retry;
                        }
                    },
                }
            },
        }
    }
}

/// One pass of the loop (short-lived, like [`Input`]).
#[allow(clippy::large_enum_variant)]
enum Step {
    Input(Input),
    Link(LinkEvent),
    Command(Command),
    Tick,
    Shutdown,
}

/// The core with what runs its effects.
#[derive(Debug)]
pub(super) struct Driver {
    pub(super) core: Core,
    pub(super) nb: Client,
    pub(super) store: StateStore,
    pub(super) metrics: Arc<Metrics>,
    pub(super) view_tx: watch::Sender<Arc<Snapshot>>,
    pub(super) views: Views,
    pub(super) vips: VipWriter,
    pub(super) hub: EventHub,
}

impl Driver {
    /// The detector of the `zk://` master, if the master is given so: a
    /// handle on the process' one detector of that URL.
    fn detector(&self) -> Option<Detector> {
        let config = &self.core.config().mesos;
        match config.master.parse::<MasterSpec>() {
            Ok(MasterSpec::ZooKeeper(zk)) => {
                // Only a detection made from now on wakes the backoff: the
                // one the failed attempt went by is old news.
                let mut detector = Detector::shared(&zk, config.request_timeout);
                detector.mark_seen();
                Some(detector)
            }
            _ => None,
        }
    }

    /// Runs until `shutdown` completes (SIGTERM in the binary) or the
    /// master refuses the framework for good.
    pub(super) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), SchedulerError> {
        tokio::pin!(shutdown);
        let (inputs_tx, mut inputs) = mpsc::unbounded_channel::<Input>();
        self.vips.report_to(inputs_tx.clone());
        let ports = PortWorker::start(self.nb.clone(), self.metrics.clone());
        let mut backoff = Backoff::new(
            self.core.config().backoff_min,
            self.core.config().backoff_max,
        );
        let mut link = Link::Subscribing(self.subscribe());
        let mut session: Option<Session> = None;
        let start = self.core.start();
        self.execute(start, session.as_ref(), &ports, &inputs_tx)?;
        let result = loop {
            let wake = self.core.next_wake(Instant::now());
            let step = tokio::select! {
                biased;
                Some(input) = inputs.recv() => Step::Input(input),
                () = shutdown.as_mut() => Step::Shutdown,
                event = link.next() => Step::Link(event),
                Some(command) = commands.recv() => Step::Command(command),
                () = sleep_until(wake.into()) => Step::Tick,
            };
            let input = match step {
                Step::Input(input) => input,
                Step::Command(Command::Kill { task_id, reply }) => Input::Kill { task_id, reply },
                Step::Command(Command::Definition { request, reply }) => {
                    let (answer, effects) = self.definition_request(request);
                    let result = self.execute(effects, session.as_ref(), &ports, &inputs_tx);
                    // Answered once the change is durable (at once for the
                    // state dir; after the queued writes for ZooKeeper).
                    self.store.then(Box::new(move || {
                        let _ = reply.send(answer);
                    }));
                    if let Err(e) = result {
                        break Err(e);
                    }
                    continue;
                }
                Step::Command(Command::Reload) => {
                    let effects = self.reload();
                    if let Err(e) = self.execute(effects, session.as_ref(), &ports, &inputs_tx) {
                        break Err(e);
                    }
                    continue;
                }
                Step::Tick => Input::Tick,
                Step::Shutdown => break Ok(()),
                Step::Link(LinkEvent::Subscribed(sub)) => {
                    let caller = sub.caller();
                    if let Err(e) = self.store.set_framework_id(caller.framework_id()) {
                        break Err(e.into());
                    }
                    backoff.reset();
                    self.metrics.subscribed();
                    session = Some(Session {
                        calls: Calls::start(caller.clone(), inputs_tx.clone()),
                        acks: Acknowledger::start(caller.clone()),
                        launcher: Launcher::start(
                            caller.clone(),
                            self.nb.clone(),
                            self.metrics.clone(),
                            self.core.config().executor.clone(),
                            inputs_tx.clone(),
                        ),
                    });
                    link = Link::Up(sub);
                    Input::Subscribed {
                        framework_id: caller.framework_id().clone(),
                    }
                }
                Step::Link(LinkEvent::Event(event)) => match self.event(*event) {
                    Some(input) => input,
                    None => continue,
                },
                Step::Link(LinkEvent::Retry) => {
                    link = Link::Subscribing(self.subscribe());
                    continue;
                }
                Step::Link(LinkEvent::Ended(e)) => {
                    if let Some(ended) = session.take() {
                        end_session(ended);
                    }
                    let had_id = self.store.framework_id().is_some();
                    let effects = self.core.handle(Input::Disconnected, Instant::now());
                    if let Err(e) = self.execute(effects, None, &ports, &inputs_tx) {
                        break Err(e);
                    }
                    match e {
                        MesosError::FrameworkRemoved(reason) if had_id => {
                            warn!(reason = %reason, "the master removed this framework; its tasks are gone, registering anew");
                            let effects = self.core.handle(Input::FrameworkRemoved, Instant::now());
                            if let Err(e) = self.execute(effects, None, &ports, &inputs_tx) {
                                break Err(e);
                            }
                            link = Link::Subscribing(self.subscribe());
                        }
                        // Another instance took the framework over: an HA
                        // leader's term is over, it must not take it back.
                        e if e.is_failed_over() && self.core.config().stop_on_failover => {
                            warn!(error = %Chain(&e), "another instance subscribed with this framework id; not resubscribing");
                            break Err(SchedulerError::FailedOver);
                        }
                        // ZooKeeper names another leading master: go to it
                        // at once (the old one is gone or no longer leads).
                        e @ MesosError::LeaderChanged { .. } => {
                            info!(master = %self.core.config().mesos.master, change = %Chain(&e), "following the new leading master");
                            backoff.reset();
                            link = Link::Subscribing(self.subscribe());
                        }
                        e if e.is_retryable() => {
                            let delay = backoff.next_delay();
                            warn!(master = %self.core.config().mesos.master, error = %Chain(&e), delay_ms = delay.as_millis() as u64, "not subscribed; retrying");
                            link =
                                Link::Backoff(Box::pin(tokio::time::sleep(delay)), self.detector());
                        }
                        e => {
                            break Err(SchedulerError::Mesos {
                                master: self.core.config().mesos.master.clone(),
                                source: e,
                            })
                        }
                    }
                    continue;
                }
            };
            let effects = self.core.handle(input, Instant::now());
            if let Err(e) = self.execute(effects, session.as_ref(), &ports, &inputs_tx) {
                break Err(e);
            }
        };
        drop(link);
        let stopped = self.stop(session, ports, inputs, inputs_tx).await;
        result.and(stopped)
    }

    /// A subscription attempt with the saved framework id.
    fn subscribe(&self) -> Subscribing {
        let config = self.core.config().mesos.clone();
        let framework_id = self.store.framework_id().cloned();
        Box::pin(async move { mesos::subscribe(&config, framework_id.as_ref()).await })
    }

    /// The core's input for a master event, if any.
    fn event(&self, event: Event) -> Option<Input> {
        match event.r#type() {
            event::Type::Offers => {
                let offers = event.offers?.offers;
                self.metrics.offer_received(offers.len() as u64);
                Some(Input::Offers(offers))
            }
            event::Type::Update => {
                let status = event.update?.status;
                self.metrics.status_update(status.state(), status.healthy);
                Some(Input::Update(status))
            }
            event::Type::Failure => {
                if let Some(f) = event.failure {
                    warn!(agent = ?f.agent_id.map(|a| a.value), executor = ?f.executor_id.map(|e| e.value), status = ?f.status, "agent or executor failure");
                }
                None
            }
            event::Type::Heartbeat => None,
            other => {
                debug!(event = other.as_str_name(), "event ignored");
                None
            }
        }
    }

    /// Hands each effect to its worker, in order. Only losing the
    /// framework id on disk stops the scheduler.
    fn execute(
        &mut self,
        effects: Vec<Effect>,
        session: Option<&Session>,
        ports: &PortWorker,
        inputs: &mpsc::UnboundedSender<Input>,
    ) -> Result<(), SchedulerError> {
        for effect in effects {
            match effect {
                Effect::Offers(batch) => {
                    let refused = match session {
                        Some(s) => s.launcher.send(batch).err(),
                        None => Some(batch),
                    };
                    if let Some(batch) = refused {
                        not_launched(batch, inputs);
                    }
                }
                Effect::Call(call) => match session {
                    Some(s) => s.calls.send(call),
                    None => calls::refuse(call),
                },
                Effect::Acknowledge(status) => {
                    if let Some(s) = session {
                        s.acks.send(status);
                    }
                }
                Effect::DeletePort(port) => ports.send(PortJob::Delete(port)),
                Effect::DeleteStrayPort { port, framework } => {
                    ports.send(PortJob::DeleteStray { port, framework })
                }
                Effect::WriteRecord(record) => super::repair::persist(&mut self.store, &record),
                Effect::RemoveRecord(id) => {
                    if let Err(e) = self.store.queue_removal(&id) {
                        warn!(task = %id, error = %Chain(&e), "cannot remove the task record");
                    }
                }
                Effect::ForgetFramework => self.store.clear_framework_id()?,
                Effect::SyncVips(specs) => self.vips.sync(specs),
                Effect::SyncGroups(groups) => self.vips.sync_groups(groups),
                Effect::ResyncVips(specs) => self.vips.resync(specs),
                Effect::Publish(specs) => self.publish(&specs),
                Effect::Event(event) => {
                    self.hub.publish(event);
                }
                Effect::DeploymentDone { template, id } => self.deployment_done(&template, &id),
            }
        }
        Ok(())
    }

    /// Publishes the API's view of the core.
    fn publish(&mut self, specs: &[ovn::services::ServiceSpec]) {
        let head = Head {
            framework_id: self.store.framework_id().map(|f| f.as_str().to_owned()),
            connected: self.core.connected(),
            master: self.core.config().mesos.master.clone(),
        };
        let tasks = self.core.book().tasks().map(|t| TaskSource {
            record: &t.record,
            message: t.message.as_deref(),
            draining: t.is_leaving(),
            version: t.version,
        });
        let nb = &self.nb;
        let mut snapshot = self.views.snapshot(
            head,
            self.core.services(),
            specs,
            self.core.addresses(),
            tasks,
            |tenant| nb.read(|cache| ovn::topology::gateway_ips(cache, tenant)),
        );
        let (definitions, deployments) =
            super::views::definitions(&self.core, self.store.definitions());
        snapshot.definitions = definitions;
        snapshot.deployments = deployments;
        self.view_tx.send_replace(Arc::new(snapshot));
    }

    /// A graceful stop: the last VIPs and view, the acknowledgements and
    /// launches under way, the records.
    async fn stop(
        mut self,
        session: Option<Session>,
        ports: PortWorker,
        mut inputs: mpsc::UnboundedReceiver<Input>,
        inputs_tx: mpsc::UnboundedSender<Input>,
    ) -> Result<(), SchedulerError> {
        if let Some(Session {
            calls,
            acks,
            launcher,
        }) = session
        {
            calls.stop();
            acks.drain().await;
            // What the launcher made must reach the records.
            if tokio::time::timeout(LAUNCH_DRAIN, launcher.finish())
                .await
                .is_err()
            {
                warn!("launches still under way at shutdown; the next start adopts their ports");
            }
        }
        while let Ok(input) = inputs.try_recv() {
            let effects = self.core.handle(input, Instant::now());
            self.execute(effects, None, &ports, &inputs_tx)?;
        }
        let effects = self.core.stop(Instant::now());
        self.execute(effects, None, &ports, &inputs_tx)?;
        ports.finish().await;
        if let Err(e) = self.store.flush() {
            error!(error = %Chain(&e), "cannot write a task record; the next start repairs it from the NB");
        }
        self.store.settle().await;
        info!(
            tasks = self.core.book().len(),
            "stopping; tasks keep running and the next start fails over to them"
        );
        // The last VIP write finishes before the NB connection closes.
        self.vips.finish().await;
        Ok(())
    }
}

/// The workers of a dead stream: queued calls and acknowledgements are
/// dropped (Mesos sends the updates again); the launcher finishes what it
/// was given (its ACCEPTs fail and the core deletes those ports).
fn end_session(session: Session) {
    session.calls.stop();
    session.acks.abort();
    tokio::spawn(session.launcher.finish());
}

/// A batch that no launcher takes: its tasks are not launched.
fn not_launched(batch: OfferBatch, inputs: &mpsc::UnboundedSender<Input>) {
    for order in batch.launches {
        let failed = order
            .tasks
            .iter()
            .map(|t| (t.template.clone(), t.task_id.clone()))
            .collect();
        let _ = inputs.send(Input::Provisioned(Provisioned {
            received: order.received,
            agent_id: order.agent_id,
            hostname: order.hostname,
            made: Vec::new(),
            failed,
        }));
    }
}

//! The scheduler's life: subscribe (with the saved framework id, so a
//! restart or a dropped stream fails over instead of registering anew),
//! reconcile, handle events and timers one at a time, resubscribe with
//! backoff when the stream dies (heartbeats missed, master gone), and stop
//! on the shutdown signal leaving every task running (Mesos keeps them for
//! `failover_timeout`). If the master removed the framework (teardown or
//! failover timeout), its tasks are gone: their ports and records go and
//! the next subscription registers a new framework.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use mesos_proto::v1::scheduler::{event, Event};
use mesos_proto::v1::TaskId;
use tokio::sync::mpsc;
use tokio::time::sleep_until;
use tracing::{debug, error, info, warn};

use super::book::Book;
use super::updates::acknowledge_all;
use super::vips::desired;
use super::{Scheduler, SchedulerError};
use crate::api::{Command, KillRefused};
use crate::mesos::{self, Backoff, Caller, MesosError, Subscription};

/// The longest sleep of the event loop without a timer due.
const IDLE_WAKE: Duration = Duration::from_secs(60);
/// How long a graceful stop waits for queued acknowledgements.
const ACK_DRAIN: Duration = Duration::from_secs(2);

/// Why a subscription ended.
enum End {
    /// The shutdown signal.
    Shutdown,
    /// The stream or the master failed.
    Mesos(MesosError),
    /// The framework id could not be saved: continuing could orphan tasks.
    Fatal(SchedulerError),
}

/// The periodic duties' last runs.
#[derive(Debug, Clone, Copy)]
struct Timers {
    implicit: Instant,
    confirm: Instant,
    resync: Instant,
}

impl Scheduler {
    /// Runs until `shutdown` completes (SIGTERM in the binary) or the
    /// master refuses the framework for good.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), SchedulerError> {
        tokio::pin!(shutdown);
        let mut backoff = Backoff::new(self.config.backoff_min, self.config.backoff_max);
        self.vips.resync(desired(&self.services, &self.book));
        let mut resync = Instant::now();
        loop {
            let framework_id = self.store.framework_id().cloned();
            let attempt = tokio::select! {
                r = mesos::subscribe(&self.config.mesos, framework_id.as_ref()) => r,
                () = shutdown.as_mut() => return self.stop().await,
            };
            let end = match attempt {
                Ok(sub) => {
                    backoff.reset();
                    self.serve(sub, &mut shutdown, &mut resync).await
                }
                Err(e) => End::Mesos(e),
            };
            if self.connected {
                self.connected = false;
                self.publish();
            }
            match end {
                End::Shutdown => return self.stop().await,
                End::Fatal(e) => return Err(e),
                End::Mesos(MesosError::FrameworkRemoved(reason)) if framework_id.is_some() => {
                    warn!(reason = %reason, "the master removed this framework; its tasks are gone, registering anew");
                    self.forget_framework().await?;
                }
                End::Mesos(e) if e.is_retryable() => {
                    let delay = backoff.next_delay();
                    warn!(master = %self.config.mesos.master, error = %e, delay_ms = delay.as_millis() as u64, "not subscribed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.as_mut() => return self.stop().await,
                    }
                }
                End::Mesos(e) => {
                    return Err(SchedulerError::Mesos {
                        master: self.config.mesos.master.clone(),
                        source: e,
                    })
                }
            }
        }
    }

    async fn serve<F: Future<Output = ()>>(
        &mut self,
        mut sub: Subscription,
        shutdown: &mut Pin<&mut F>,
        resync: &mut Instant,
    ) -> End {
        let caller = sub.caller();
        if let Err(e) = self.store.set_framework_id(caller.framework_id()) {
            return End::Fatal(e.into());
        }
        self.metrics.subscribed();
        self.connected = true;
        self.suppressed = false;
        info!(framework_id = %caller.framework_id(), master = %self.config.mesos.master, tasks = self.book.len(), "subscribed");
        self.reconcile_all(&caller).await;
        for (task, agent) in std::mem::take(&mut self.to_kill) {
            if let Err(e) = caller.kill(task.clone(), agent).await {
                warn!(task = %task, error = %e, "KILL failed");
            }
        }
        self.touch(true);
        let now = Instant::now();
        let mut timers = Timers {
            implicit: now,
            confirm: now,
            resync: *resync,
        };
        self.after(&caller).await;
        let (acks, updates) = mpsc::unbounded_channel();
        self.acks = Some(acks);
        let acknowledger = tokio::spawn(acknowledge_all(caller.clone(), updates));
        let mut accept_failed = self
            .accept_failed_rx
            .take()
            .expect("one subscription is served at a time");
        let mut commands = self
            .commands_rx
            .take()
            .expect("one subscription is served at a time");
        let end = loop {
            let wake = self.next_wake(&timers);
            tokio::select! {
                event = sub.next() => match event {
                    Ok(event) => self.handle(&caller, event).await,
                    Err(e) => break End::Mesos(e),
                },
                Some(failed) = accept_failed.recv() => self.on_accept_failed(failed).await,
                Some(command) = commands.recv() => self.on_command(&caller, command).await,
                () = sleep_until(wake.into()) => self.tick(&caller, &mut timers).await,
                () = shutdown.as_mut() => break End::Shutdown,
            }
            *resync = timers.resync;
            self.after(&caller).await;
        };
        self.accept_failed_rx = Some(accept_failed);
        self.commands_rx = Some(commands);
        // Closing the queue ends the acknowledger once it sent what is
        // queued; a dead stream's acknowledgements are not waited for
        // (Mesos sends those updates again).
        self.acks = None;
        if matches!(end, End::Shutdown) {
            if tokio::time::timeout(ACK_DRAIN, acknowledger).await.is_err() {
                warn!("acknowledgements still unanswered at shutdown; Mesos sends those updates again");
            }
        } else {
            acknowledger.abort();
        }
        end
    }

    /// A request from the API.
    async fn on_command(&mut self, caller: &Caller, command: Command) {
        match command {
            Command::Kill { task_id, reply } => {
                let answer = self.kill_on_request(caller, &task_id).await;
                let _ = reply.send(answer);
            }
        }
    }

    /// Kills a task at the operator's request; its end counts neither as a
    /// failure nor as a finished instance, so a replacement launches at once.
    async fn kill_on_request(&mut self, caller: &Caller, task_id: &str) -> Result<(), KillRefused> {
        let id = TaskId::new(task_id);
        let Some(task) = self.book.get(&id) else {
            return Err(KillRefused::UnknownTask(task_id.to_owned()));
        };
        let agent = task.record.agent_id.clone();
        match caller.kill(id.clone(), agent).await {
            Ok(()) => {
                info!(task = %id, "killing the task at the operator's request");
                self.book.kill_sent(&id, Instant::now());
                Ok(())
            }
            Err(e) => Err(KillRefused::Mesos {
                task: task_id.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    async fn handle(&mut self, caller: &Caller, event: Event) {
        match event.r#type() {
            event::Type::Offers => {
                if let Some(offers) = event.offers {
                    self.on_offers(caller, offers.offers).await;
                }
            }
            event::Type::Update => {
                if let Some(status) = event.update.map(|u| u.status) {
                    self.on_update(caller, status).await;
                }
            }
            event::Type::Failure => {
                if let Some(f) = event.failure {
                    warn!(agent = ?f.agent_id.map(|a| a.value), executor = ?f.executor_id.map(|e| e.value), status = ?f.status, "agent or executor failure");
                }
            }
            event::Type::Heartbeat => {}
            other => debug!(event = other.as_str_name(), "event ignored"),
        }
    }

    /// Explicit reconciliation of every task of the book, then implicit.
    async fn reconcile_all(&mut self, caller: &Caller) {
        let tasks: Vec<_> = self
            .book
            .tasks()
            .map(|t| (t.id().clone(), t.record.agent_id.clone()))
            .collect();
        for chunk in tasks.chunks(500) {
            if let Err(e) = caller.reconcile(chunk.to_vec()).await {
                warn!(error = %e, "explicit RECONCILE failed");
            }
        }
        if let Err(e) = caller.reconcile(Vec::new()).await {
            warn!(error = %e, "implicit RECONCILE failed");
        }
    }

    fn next_wake(&self, timers: &Timers) -> Instant {
        let now = Instant::now();
        [
            self.flush_at,
            self.book.next_relaunch(now),
            Some(timers.implicit + self.config.reconcile_interval),
            Some(timers.confirm + self.config.confirm_after),
            Some(timers.resync + self.config.resync_interval),
        ]
        .into_iter()
        .flatten()
        .fold(now + IDLE_WAKE, Instant::min)
    }

    async fn tick(&mut self, caller: &Caller, timers: &mut Timers) {
        let now = Instant::now();
        if now >= timers.implicit + self.config.reconcile_interval {
            timers.implicit = now;
            if let Err(e) = caller.reconcile(Vec::new()).await {
                warn!(error = %e, "implicit RECONCILE failed");
            }
        }
        if now >= timers.confirm + self.config.confirm_after {
            timers.confirm = now;
            let unconfirmed = self.book.unconfirmed(now, self.config.confirm_after);
            if !unconfirmed.is_empty() {
                debug!(tasks = unconfirmed.len(), "reconciling unconfirmed tasks");
                if let Err(e) = caller.reconcile(unconfirmed).await {
                    warn!(error = %e, "explicit RECONCILE failed");
                }
            }
        }
        if now >= timers.resync + self.config.resync_interval {
            timers.resync = now;
            self.vips.resync(desired(&self.services, &self.book));
        }
    }

    /// After every event or timer: kill surplus tasks, SUPPRESS or REVIVE
    /// offers, and write the VIPs and the API view when due.
    async fn after(&mut self, caller: &Caller) {
        let now = Instant::now();
        for (task, agent) in self.book.surplus(now) {
            info!(task = %task, "killing a task beyond its service's instances or of a removed task file");
            match caller.kill(task.clone(), agent).await {
                Ok(()) => {
                    self.book.kill_sent(&task, now);
                }
                Err(e) => warn!(task = %task, error = %e, "KILL failed"),
            }
        }
        let wanted = !self.book.wants(now).is_empty();
        if wanted && self.suppressed {
            match caller.revive().await {
                Ok(()) => {
                    info!("offers revived: tasks wait for resources");
                    self.suppressed = false;
                }
                Err(e) => warn!(error = %e, "REVIVE failed"),
            }
        } else if !wanted && !self.suppressed {
            match caller.suppress().await {
                Ok(()) => {
                    debug!("offers suppressed: nothing waits");
                    self.suppressed = true;
                }
                Err(e) => warn!(error = %e, "SUPPRESS failed"),
            }
        }
        if self.flush_at.is_some_and(|at| at <= now) {
            self.flush();
        }
    }

    /// Hands the VIPs to their writer and publishes the view now.
    fn flush(&mut self) {
        self.flush_at = None;
        self.flushed_at = Some(Instant::now());
        if !self.vips_dirty && !self.view_dirty {
            return;
        }
        let specs = desired(&self.services, &self.book);
        if self.view_dirty {
            self.publish_with(&specs);
        }
        if self.vips_dirty {
            self.vips_dirty = false;
            self.vips.sync(specs);
        }
    }

    async fn stop(mut self) -> Result<(), SchedulerError> {
        self.flush();
        if let Err(e) = self.store.flush() {
            error!(error = %e, "cannot write a task record; the next start repairs it from the NB");
        }
        self.connected = false;
        self.publish();
        info!(
            tasks = self.book.len(),
            "stopping; tasks keep running and the next start fails over to them"
        );
        // The last VIP write finishes before the NB connection closes.
        self.vips.finish().await;
        Ok(())
    }

    /// The master removed the framework: its tasks were killed. Deletes
    /// their ports and records and forgets the framework id.
    async fn forget_framework(&mut self) -> Result<(), SchedulerError> {
        let tasks: Vec<_> = self.book.tasks().cloned().collect();
        for task in tasks {
            self.drop_port(&task.record.port.name).await;
            if let Err(e) = self.store.queue_removal(task.id()) {
                error!(task = %task.id(), error = %e, "cannot remove the task record");
            }
        }
        self.book = Book::new(&self.services);
        self.store.clear_framework_id()?;
        self.touch(true);
        Ok(())
    }
}

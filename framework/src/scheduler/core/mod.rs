//! The scheduler core: the book of tasks, the desired services and the
//! offer state, with a handler per [`Input`] that changes them and returns
//! the [`Effect`]s to run. No I/O and no awaiting: the driver
//! (`super::driver`) feeds it events and hands the effects to workers,
//! which report back as inputs. So the whole scheduling logic is tested in
//! process, with no OVN and no Mesos (`tests.rs`).
//!
//! After every input the core does the level-triggered duties: kill the
//! tasks beyond their instances, REVIVE offers while instances are
//! missing and SUPPRESS them when none are, and write the load balancers
//! and the API view when due (a burst of updates makes one write).

mod effect;
mod events;
mod offers;
#[cfg(test)]
mod tests;
mod updates;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mesos_proto::v1::{AgentId, FrameworkId, TaskId};
use tracing::{debug, info};

pub use effect::{
    Effect, Input, KillReply, LaunchOrder, MasterCall, OfferBatch, OfferCall, PlannedTask,
    Provisioned, ServiceAddresses,
};

use super::book::{Action, Book, LiveTask, Step};
use super::vips::{desired, port_groups};
use super::SchedulerConfig;
use crate::api::KillRefused;
use crate::state::DeploymentRecord;
use crate::tasks::{Services, TemplateId};

/// How long changes are gathered before the VIPs and the API view are
/// written (a burst of updates makes one write).
const FLUSH_DELAY: Duration = Duration::from_millis(20);
/// The shortest time between two writes of the VIPs and the API view.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// The longest sleep of the event loop without a timer due.
const IDLE_WAKE: Duration = Duration::from_secs(60);
/// Tasks per explicit RECONCILE call.
const RECONCILE_CHUNK: usize = 500;

/// The periodic duties' last runs.
#[derive(Debug, Clone, Copy)]
struct Timers {
    implicit: Instant,
    confirm: Instant,
    resync: Instant,
}

/// The scheduler's state and logic.
#[derive(Debug)]
pub struct Core {
    config: SchedulerConfig,
    services: Services,
    /// The deployments under way, as stored.
    deployments: BTreeMap<TemplateId, DeploymentRecord>,
    book: Book,
    /// Each service's backends as last handed to the VIP writer (for the
    /// events).
    published: BTreeMap<ovn::services::ServiceKey, Vec<std::net::SocketAddrV4>>,
    /// Each service's addresses, as the VIP writer last found them.
    addresses: BTreeMap<ovn::services::ServiceKey, ServiceAddresses>,
    /// Services whose port group (and policy) the writer has written.
    groups_ready: std::collections::BTreeSet<ovn::services::ServiceKey>,
    /// Why a template's instances wait, from the last offers.
    waiting: BTreeMap<TemplateId, String>,
    /// The framework id of the current subscription.
    framework_id: Option<FrameworkId>,
    /// Agents' hostnames, from their offers.
    agents: BTreeMap<AgentId, crate::launch::constraints::AgentFacts>,
    /// Tasks to kill once subscribed (their port could not be restored).
    to_kill: Vec<(TaskId, Option<AgentId>)>,
    connected: bool,
    suppressed: bool,
    /// Subscribed since the last REVIVE or SUPPRESS: say which, whatever
    /// `suppressed` says.
    offers_unknown: bool,
    /// When the last REVIVE was asked for. A REVIVE clears the master's
    /// filters, but an offer batch made before it is answered by another
    /// worker and may set its long filter after the REVIVE arrives; the
    /// batch's report then brings a second REVIVE.
    revived_at: Option<Instant>,
    /// Something changed that the VIPs or the API view must show.
    vips_dirty: bool,
    view_dirty: bool,
    flush_at: Option<Instant>,
    /// When the VIPs and the view were last written.
    flushed_at: Option<Instant>,
    timers: Timers,
    /// Effects of the input being handled.
    out: Vec<Effect>,
}

impl Core {
    /// A core for the desired services, with an empty book.
    pub fn new(
        config: SchedulerConfig,
        services: Services,
        deployments: BTreeMap<TemplateId, DeploymentRecord>,
        now: Instant,
    ) -> Core {
        let mut book = Book::default();
        book.set_services(&services, &deployments, now);
        Core {
            config,
            services,
            deployments,
            book,
            published: BTreeMap::new(),
            addresses: BTreeMap::new(),
            groups_ready: Default::default(),
            waiting: BTreeMap::new(),
            framework_id: None,
            agents: BTreeMap::new(),
            to_kill: Vec::new(),
            connected: false,
            suppressed: false,
            revived_at: None,
            offers_unknown: false,
            vips_dirty: true,
            view_dirty: true,
            flush_at: None,
            flushed_at: None,
            timers: Timers {
                implicit: now,
                confirm: now,
                resync: now,
            },
            out: Vec::new(),
        }
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn book(&self) -> &Book {
        &self.book
    }

    /// Each service's addresses (gateway VIPs, cluster IP, names), as
    /// the VIP writer last found them in the NB.
    pub fn addresses(&self) -> &BTreeMap<ovn::services::ServiceKey, ServiceAddresses> {
        &self.addresses
    }

    /// The VIP writer found services' addresses new or changed, or their
    /// load balancers gone: one `vip_addresses` event each, and a new view.
    fn on_vips_written(
        &mut self,
        changed: Vec<ServiceAddresses>,
        removed: Vec<ovn::services::ServiceKey>,
        now: Instant,
    ) {
        for a in changed {
            self.out.push(Effect::Event(events::addresses(&a)));
            self.addresses.insert(a.key.clone(), a);
        }
        for key in removed {
            self.addresses.remove(&key);
        }
        self.touch(false, now);
    }

    /// The VIP writer wrote these services' port groups: instances held
    /// for their policy may launch; offers are revived for them.
    fn on_groups_written(&mut self, keys: Vec<ovn::services::ServiceKey>, now: Instant) {
        let held = keys.iter().any(|k| {
            !self.groups_ready.contains(k)
                && self.services.get(k).is_some_and(|s| s.policy.is_some())
        });
        self.groups_ready.extend(keys);
        if held && self.connected && self.book.wants_now(now) {
            self.suppressed = false;
            self.revived_at = Some(now);
            self.out.push(Effect::Call(MasterCall::Revive));
        }
    }

    /// Why each template's missing instances wait (no offer fits).
    pub fn waiting(&self) -> &BTreeMap<TemplateId, String> {
        &self.waiting
    }

    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Whether a subscription to the master is up.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// A task of an earlier run, found at start.
    pub fn recovered(&mut self, task: LiveTask) {
        self.book.insert(task);
    }

    /// A task of an earlier run to kill once subscribed.
    pub fn kill_when_subscribed(&mut self, task: TaskId, agent: Option<AgentId>) {
        self.to_kill.push((task, agent));
    }

    /// The desired load balancers, names in `--dns-domain`.
    fn specs(&self) -> Vec<ovn::services::ServiceSpec> {
        desired(&self.services, &self.book, &self.config.executor.dns_domain)
    }

    /// Every service's desired port group.
    fn groups(&self) -> Vec<ovn::policy::PortGroupSpec> {
        port_groups(&self.services, &self.book)
    }

    /// The first effects: a full pass over the load balancers and the view.
    pub fn start(&mut self) -> Vec<Effect> {
        let specs = self.specs();
        self.out.push(Effect::SyncGroups(self.groups()));
        self.out.push(Effect::ResyncVips(specs.clone()));
        self.out.push(Effect::Publish(specs));
        self.view_dirty = false;
        std::mem::take(&mut self.out)
    }

    /// Handles one input; returns what to do about it, in order.
    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Effect> {
        match input {
            Input::Subscribed { framework_id } => self.on_subscribed(framework_id, now),
            Input::Disconnected => self.on_disconnected(),
            Input::FrameworkRemoved => self.on_framework_removed(now),
            Input::Offers(offers) => self.on_offers(offers, now),
            Input::Update(status) => self.on_update(status, now),
            Input::Provisioned(report) => self.on_provisioned(report, now),
            Input::AcceptFailed(tasks) => self.on_accept_failed(tasks, now),
            Input::KillFailed(task) => {
                self.book.kill_sent(&task, None);
            }
            Input::CallFailed(OfferCall::Revive) => self.suppressed = true,
            Input::CallFailed(OfferCall::Suppress) => self.suppressed = false,
            Input::OffersAnswered { issued, refuse } => {
                self.on_offers_answered(issued, refuse, now)
            }
            Input::Kill { task_id, reply } => self.on_kill_request(task_id, reply, now),
            Input::Definitions {
                services,
                deployments,
            } => self.on_definitions(services, deployments, now),
            Input::VipsWritten { changed, removed } => self.on_vips_written(changed, removed, now),
            Input::GroupsWritten(keys) => self.on_groups_written(keys, now),
            Input::Tick => self.on_tick(now),
        }
        self.after(now);
        std::mem::take(&mut self.out)
    }

    /// When the core next wants a [`Input::Tick`].
    pub fn next_wake(&self, now: Instant) -> Instant {
        let mut due = vec![
            self.flush_at,
            self.book.next_wake(now),
            Some(self.timers.resync + self.config.resync_interval),
        ];
        if self.connected {
            due.push(Some(self.timers.implicit + self.config.reconcile_interval));
            due.push(Some(self.timers.confirm + self.config.confirm_after));
        }
        due.into_iter()
            .flatten()
            .fold(now + IDLE_WAKE, Instant::min)
    }

    /// The last effects before the scheduler stops: what is not yet
    /// written, and a view that says it is not connected.
    pub fn stop(&mut self, now: Instant) -> Vec<Effect> {
        self.connected = false;
        self.view_dirty = true;
        self.flush(now);
        std::mem::take(&mut self.out)
    }

    fn on_subscribed(&mut self, framework_id: FrameworkId, now: Instant) {
        info!(framework_id = %framework_id, tasks = self.book.len(), "subscribed");
        self.framework_id = Some(framework_id);
        self.connected = true;
        // What the master holds for this framework is not known after a
        // (re)subscription (a failed-over framework may still have decline
        // filters): the next pass REVIVEs or SUPPRESSes explicitly.
        self.offers_unknown = true;
        // Explicit reconciliation of every task of the book, then implicit.
        let tasks: Vec<_> = self
            .book
            .tasks()
            .map(|t| (t.id().clone(), t.record.agent_id.clone()))
            .collect();
        for chunk in tasks.chunks(RECONCILE_CHUNK) {
            self.out
                .push(Effect::Call(MasterCall::Reconcile(chunk.to_vec())));
        }
        self.out
            .push(Effect::Call(MasterCall::Reconcile(Vec::new())));
        for (task, agent) in std::mem::take(&mut self.to_kill) {
            self.out.push(Effect::Call(MasterCall::Kill {
                task,
                agent,
                reply: None,
            }));
        }
        self.timers.implicit = now;
        self.timers.confirm = now;
        self.book.touch_all();
        self.touch(true, now);
    }

    fn on_disconnected(&mut self) {
        if self.connected {
            // The view says so at once; pending load balancer changes keep
            // their flush.
            self.connected = false;
            self.publish();
        }
    }

    /// The master removed the framework: its tasks were killed. Their
    /// ports and records go and the framework id is forgotten.
    fn on_framework_removed(&mut self, now: Instant) {
        for task in self.book.tasks() {
            self.out
                .push(Effect::DeletePort(task.record.port.name.clone()));
            self.out.push(Effect::RemoveRecord(task.id().clone()));
        }
        self.book = Book::default();
        self.book
            .set_services(&self.services, &self.deployments, now);
        self.framework_id = None;
        self.out.push(Effect::ForgetFramework);
        self.touch(true, now);
    }

    /// Kills a task at the operator's request; its end counts neither as a
    /// failure nor as a finished instance, so a replacement launches at once.
    fn on_kill_request(&mut self, task_id: String, reply: KillReply, now: Instant) {
        if !self.connected {
            let _ = reply.send(Err(KillRefused::NotConnected));
            return;
        }
        let id = TaskId::new(&task_id);
        let Some(task) = self.book.get(&id) else {
            let _ = reply.send(Err(KillRefused::UnknownTask(task_id)));
            return;
        };
        let agent = task.record.agent_id.clone();
        info!(task = %id, "killing the task at the operator's request");
        self.book.kill_sent(&id, Some(now));
        self.out.push(Effect::Call(MasterCall::Kill {
            task: id,
            agent,
            reply: Some(reply),
        }));
    }

    /// New definitions in force: the book's templates follow them; what
    /// changed is evaluated after this input.
    fn on_definitions(
        &mut self,
        services: Services,
        deployments: BTreeMap<TemplateId, DeploymentRecord>,
        now: Instant,
    ) {
        self.book.set_services(&services, &deployments, now);
        self.waiting
            .retain(|id, _| self.book.current_version(id).is_some());
        self.groups_ready.retain(|k| services.get(k).is_some());
        self.services = services;
        self.deployments = deployments;
        self.touch(true, now);
        // The API answers the change once this input is handled: its view
        // shows the change by then (a GET right after sees it).
        self.publish();
    }

    fn on_tick(&mut self, now: Instant) {
        self.book.tick();
        if self.connected {
            if now >= self.timers.implicit + self.config.reconcile_interval {
                self.timers.implicit = now;
                self.out
                    .push(Effect::Call(MasterCall::Reconcile(Vec::new())));
            }
            if now >= self.timers.confirm + self.config.confirm_after {
                self.timers.confirm = now;
                let unconfirmed = self.book.unconfirmed(now, self.config.confirm_after);
                if !unconfirmed.is_empty() {
                    debug!(tasks = unconfirmed.len(), "reconciling unconfirmed tasks");
                    self.out
                        .push(Effect::Call(MasterCall::Reconcile(unconfirmed)));
                }
            }
        }
        if now >= self.timers.resync + self.config.resync_interval {
            self.timers.resync = now;
            self.out.push(Effect::SyncGroups(self.groups()));
            self.out.push(Effect::ResyncVips(self.specs()));
        }
    }

    /// After every input: kill surplus tasks, SUPPRESS or REVIVE offers,
    /// and write the VIPs and the API view when due.
    fn after(&mut self, now: Instant) {
        self.evaluate(now);
        if self.connected {
            let wanted = self.book.wants_now(now);
            if !wanted && !self.waiting.is_empty() {
                // Nothing wants an offer (a scale-down, say): no reason
                // to wait stands, and no offer will come to say so.
                self.waiting.clear();
                self.touch(false, now);
            }
            if std::mem::take(&mut self.offers_unknown) {
                self.suppressed = !wanted;
                let call = if wanted {
                    info!("offers revived: tasks wait for resources");
                    self.revived_at = Some(now);
                    MasterCall::Revive
                } else {
                    debug!("offers suppressed: nothing waits");
                    MasterCall::Suppress
                };
                self.out.push(Effect::Call(call));
            } else if wanted && self.suppressed {
                info!("offers revived: tasks wait for resources");
                self.suppressed = false;
                self.revived_at = Some(now);
                self.out.push(Effect::Call(MasterCall::Revive));
            } else if !wanted && !self.suppressed {
                debug!("offers suppressed: nothing waits");
                self.suppressed = true;
                self.out.push(Effect::Call(MasterCall::Suppress));
            }
        }
        if self.flush_at.is_some_and(|at| at <= now) {
            self.flush(now);
        }
    }

    /// Runs the book's evaluation and turns its actions into effects:
    /// drains (the VIPs change), KILLs, deployment events.
    fn evaluate(&mut self, now: Instant) {
        for action in self.book.evaluate(now, self.connected) {
            match action {
                Action::Drain(task) => {
                    info!(task = %task, "draining: the task leaves its VIP before its KILL");
                    self.event_task("task_draining", &task);
                    self.touch(true, now);
                }
                Action::Kill { task, agent, why } => {
                    info!(task = %task, why, "killing a task taken out of its service");
                    self.touch(false, now);
                    self.out.push(Effect::Call(MasterCall::Kill {
                        task,
                        agent,
                        reply: None,
                    }));
                }
                Action::Deployment(event) => {
                    let kind = match event.step {
                        Step::Progress => "deployment_step",
                        Step::Done => "deployment_done",
                        Step::Stuck => "deployment_stuck",
                    };
                    info!(deployment = %event.status.id, step = kind, stuck = event.status.stuck.as_deref().unwrap_or(""), "deployment");
                    self.out
                        .push(Effect::Event(events::deployment(kind, &event.status)));
                    if event.step == Step::Done {
                        self.deployments.remove(&event.template);
                        self.out.push(Effect::DeploymentDone {
                            template: event.template,
                            id: event.status.id,
                        });
                    }
                    self.touch(false, now);
                }
            }
        }
    }

    /// Marks the VIPs and the API view for the next flush: in
    /// [`FLUSH_DELAY`], and not sooner than [`FLUSH_INTERVAL`] after the
    /// last one, so a burst of updates makes few writes.
    fn touch(&mut self, vips: bool, now: Instant) {
        self.vips_dirty |= vips;
        self.view_dirty = true;
        if self.flush_at.is_none() {
            let soon = now + FLUSH_DELAY;
            let spaced = self.flushed_at.map(|at| at + FLUSH_INTERVAL);
            self.flush_at = Some(spaced.map_or(soon, |spaced| spaced.max(soon)));
        }
    }

    /// Asks for the VIPs and the view to be written now.
    fn flush(&mut self, now: Instant) {
        self.flush_at = None;
        self.flushed_at = Some(now);
        if !self.vips_dirty && !self.view_dirty {
            return;
        }
        let specs = self.specs();
        if self.view_dirty {
            self.view_dirty = false;
            self.out.push(Effect::Publish(specs.clone()));
        }
        if self.vips_dirty {
            self.vips_dirty = false;
            self.vip_events(&specs);
            self.out.push(Effect::SyncGroups(self.groups()));
            self.out.push(Effect::SyncVips(specs));
        }
    }

    /// An offer batch made before the last REVIVE set a long filter after
    /// it may have arrived: REVIVE again while instances wait, so they do
    /// not wait out the filter.
    fn on_offers_answered(&mut self, issued: Instant, refuse: f64, now: Instant) {
        let overtaken = self.revived_at.is_some_and(|revived| revived >= issued);
        if overtaken
            && refuse > self.config.refuse_seconds
            && self.connected
            && !self.suppressed
            && self.book.wants_now(now)
        {
            info!(refuse, "offers revived again: a DECLINE filter set before the last REVIVE may have reached the master after it");
            self.revived_at = Some(now);
            self.out.push(Effect::Call(MasterCall::Revive));
        }
    }

    /// Asks for the view to be published now.
    fn publish(&mut self) {
        self.view_dirty = false;
        self.out.push(Effect::Publish(self.specs()));
    }

    /// The DECLINE (and ACCEPT leftovers) filter: short while instances
    /// wait for resources, long when nothing does.
    fn refuse_seconds(&self, now: Instant) -> f64 {
        if self.book.waiting(now) {
            self.config.refuse_seconds
        } else {
            self.config.idle_refuse_seconds
        }
    }
}

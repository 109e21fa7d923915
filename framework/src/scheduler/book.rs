//! The task book: every task the framework launched and has not seen end,
//! with its last state, the launches whose ports are still being made, and
//! per task template (one definition) the instance accounting, the relaunch
//! backoff and the deployment that replaces tasks of an earlier version.
//! Pure: the scheduler core feeds it launches, status updates and new
//! definitions, and asks it what to launch, which tasks to take out of
//! their VIP (drain) and kill, and which tasks back a service.
//!
//! It is level-triggered per template: whatever changed a template (a task
//! of it, its definition, a timer) marks it, and [`Book::evaluate`] works
//! out again, from its tasks alone, how many to launch and which to take
//! out: tasks beyond the instances (youngest first), tasks of an earlier
//! version while enough healthy backends stay (`minimum_health_capacity`),
//! with launches held to `maximum_over_capacity` while old tasks remain,
//! and every task of a deleted definition. A task that serves leaves its
//! VIP first and is killed after the drain period.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mesos_proto::v1::{task_status, AgentId, TaskId, TaskState, TaskStatus};
use ovn::services::ServiceKey;

use crate::launch::Load;
use crate::state::{DeploymentRecord, TaskRecord};
use crate::tasks::{Member, RestartPolicy, Rollout, Services, TemplateId};

/// A task that ran at least this long before it ended starts the backoff
/// over (a crash loop keeps growing it).
pub const STABLE_RUN: Duration = Duration::from_secs(30);
/// A task unreachable (or unknown to the master) this long no longer
/// counts as an instance: a replacement is launched, the old one keeps its
/// port until Mesos says it is gone.
pub const UNREACHABLE_GRACE: Duration = Duration::from_secs(60);
/// A KILL without news is sent again after this long.
pub const KILL_RETRY: Duration = Duration::from_secs(10);
/// Consecutive failures of a new version's tasks that make its deployment
/// stuck at once (before the progress deadline).
pub const STUCK_FAILURES: u32 = 3;
/// How often a template with something in motion (a drain, a kill, a
/// deployment, an unreachable task) is looked at again without news.
const MOTION_TICK: Duration = Duration::from_secs(1);

/// One task the framework launched.
#[derive(Debug, Clone)]
pub struct LiveTask {
    pub record: TaskRecord,
    /// The definition it was launched from; `None` for a task of a
    /// definition this run does not have.
    pub member: Option<Arc<Member>>,
    /// The message of the last status update.
    pub message: Option<String>,
    /// Since when the task is in its current state.
    pub state_since: Instant,
    /// It reached TASK_RUNNING (and was not seen ending since).
    pub was_running: bool,
    /// When the framework last asked Mesos to kill it (as surplus, to
    /// replace it, or at the operator's request).
    pub kill_sent: Option<Instant>,
    /// Since when it is out of its VIP, waiting for its KILL.
    pub draining_since: Option<Instant>,
    /// Changes whenever anything shown of the task changes (state,
    /// message, agent, hostname, draining), so views of it can be reused.
    pub version: u64,
}

impl LiveTask {
    /// A task just launched (or recovered from the state dir).
    pub fn new(record: TaskRecord, now: Instant) -> LiveTask {
        let was_running = record.state == TaskState::TaskRunning;
        LiveTask {
            record,
            member: None,
            message: None,
            state_since: now,
            was_running,
            kill_sent: None,
            draining_since: None,
            version: 0,
        }
    }

    pub fn id(&self) -> &TaskId {
        &self.record.task_id
    }

    pub fn state(&self) -> TaskState {
        self.record.state
    }

    /// Whether its definition has a health check (its executor runs it).
    pub fn is_checked(&self) -> bool {
        self.member
            .as_ref()
            .is_some_and(|m| m.definition.task_info.health_check.is_some())
    }

    /// Whether it is on its way out: draining or killed.
    pub fn is_leaving(&self) -> bool {
        self.draining_since.is_some() || self.kill_sent.is_some()
    }

    /// Whether it is one of its service's backends: RUNNING, or unknown to
    /// a master that just restarted while it was running (the dataplane
    /// does not wait for the master to relearn its tasks); with a health
    /// check, reported healthy; and not on its way out.
    pub fn is_backend(&self) -> bool {
        let alive = match self.record.state {
            TaskState::TaskRunning => true,
            TaskState::TaskUnknown => self.was_running,
            _ => false,
        };
        alive && (self.record.healthy == Some(true) || !self.is_checked()) && !self.is_leaving()
    }

    /// The port its service's backends listen on, from its definition.
    pub fn backend_port(&self) -> Option<u16> {
        self.member.as_ref()?.definition.backend_port
    }

    /// Whether it counts as one of its template's instances at `now`.
    fn counts(&self, now: Instant) -> bool {
        !(is_unsure(self.record.state) && now.duration_since(self.state_since) >= UNREACHABLE_GRACE)
    }
}

/// What a status update did to the book.
#[derive(Debug)]
pub enum StatusOutcome {
    /// No task of the book has this id.
    Unknown,
    /// Same state as before (a retried update, a reconciliation answer).
    Same,
    /// The task changed state and lives on.
    Changed { from: TaskState },
    /// Same state, but its health check says otherwise than before.
    Health { healthy: bool },
    /// The task ended; it left the book.
    Ended(Box<LiveTask>),
}

/// Instances of one template to launch now.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub template: TemplateId,
    pub member: Arc<Member>,
    pub service: ServiceKey,
    pub count: u32,
}

/// What [`Book::evaluate`] decided for the tasks of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The task left its VIP; it is killed after its drain period.
    Drain(TaskId),
    /// Kill the task (it was drained, or it served nothing).
    Kill {
        task: TaskId,
        agent: Option<AgentId>,
        why: &'static str,
    },
    /// A deployment moved, finished or got stuck.
    Deployment(DeploymentEvent),
}

/// A change of a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentEvent {
    pub template: TemplateId,
    pub status: DeploymentStatus,
    pub step: Step,
}

/// What happened to a deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// New tasks became healthy or old ones went.
    Progress,
    /// No task of an earlier version is left and the new ones serve.
    Done,
    /// It cannot progress (the reason is in the status).
    Stuck,
}

/// Where a deployment stands.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentStatus {
    pub id: String,
    pub definition: TemplateId,
    /// The version it replaces (none for a new definition).
    pub from: Option<String>,
    pub to: String,
    pub started_at: SystemTime,
    pub instances: u32,
    /// Tasks of the new version, and how many of them serve.
    pub new_tasks: u32,
    pub new_healthy: u32,
    /// Tasks of earlier versions still running, and those draining.
    pub old_tasks: u32,
    pub draining: u32,
    /// Why it is stuck, when it is.
    pub stuck: Option<String>,
    /// Its tasks (new and old), by id.
    pub tasks: Vec<String>,
}

/// A launch whose port is being made: it counts as an instance (and on
/// its agent) until it enters the book or fails.
#[derive(Debug, Clone)]
struct Launching {
    template: TemplateId,
    service: ServiceKey,
    agent: AgentId,
    version: String,
}

/// A deployment under way in a template.
#[derive(Debug, Clone)]
struct Deployment {
    record: DeploymentRecord,
    last_progress: Instant,
    /// (new healthy, old left, new tasks) at the last progress.
    mark: (u32, u32, u32),
    stuck: Option<String>,
}

/// Instance accounting of one task template (one definition).
#[derive(Debug, Clone)]
struct Template {
    /// The definition in force; `None` once deleted (its tasks go).
    member: Option<Arc<Member>>,
    /// Earlier versions' definitions, for the tasks still running them.
    earlier: BTreeMap<String, Arc<Member>>,
    service: ServiceKey,
    instances: u32,
    restart: RestartPolicy,
    rollout: Rollout,
    /// The tasks of the book launched from it (any version).
    tasks: BTreeSet<TaskId>,
    /// Launches under way.
    launching: u32,
    /// Tasks that ended and, by the restart policy, stay ended.
    done: u32,
    /// Consecutive ends without a stable run.
    failures: u32,
    /// The message of the last failed end.
    last_failure: Option<String>,
    /// No relaunch before this.
    not_before: Option<Instant>,
    deployment: Option<Deployment>,
    /// Instances to launch, as of the last evaluation.
    launch: u32,
    /// Something is in motion: look again at the next tick.
    moving: bool,
}

impl Template {
    fn new(service: ServiceKey) -> Template {
        Template {
            member: None,
            earlier: BTreeMap::new(),
            service,
            instances: 0,
            restart: RestartPolicy::default(),
            rollout: Rollout::default(),
            tasks: BTreeSet::new(),
            launching: 0,
            done: 0,
            failures: 0,
            last_failure: None,
            not_before: None,
            deployment: None,
            launch: 0,
            moving: false,
        }
    }

    fn version(&self) -> Option<&str> {
        self.member.as_ref().map(|m| m.definition.version.as_str())
    }

    /// The instances it should have now.
    fn target(&self) -> u32 {
        if self.member.is_none() {
            0
        } else {
            self.instances.saturating_sub(self.done)
        }
    }

    /// The definition a task of `version` runs: the earlier definition of
    /// that version when the template holds it, else the one in force (a
    /// task of a version this run never had, adopted from its port, still
    /// counts as earlier: see [`Book::insert`]).
    fn member_of(&self, version: Option<&str>) -> Option<Arc<Member>> {
        match version {
            Some(v) if self.version() != Some(v) => {
                self.earlier.get(v).cloned().or_else(|| self.member.clone())
            }
            _ => self.member.clone(),
        }
    }
}

/// The task book.
#[derive(Debug, Default)]
pub struct Book {
    tasks: BTreeMap<TaskId, LiveTask>,
    templates: BTreeMap<TemplateId, Template>,
    launching: BTreeMap<TaskId, Launching>,
    /// Templates to evaluate again.
    dirty: BTreeSet<TemplateId>,
    /// Tasks unreachable or unknown to the master.
    unsure: usize,
    /// The tasks with a known agent, per agent and service (placement).
    load: Load,
    /// The last [`LiveTask::version`] handed out.
    versions: u64,
}

/// Whether a task in this state may stop counting as an instance.
fn is_unsure(state: TaskState) -> bool {
    matches!(state, TaskState::TaskUnreachable | TaskState::TaskUnknown)
}

impl Book {
    /// An empty book for the desired services.
    pub fn new(services: &Services) -> Book {
        let mut book = Book::default();
        book.set_services(services, &BTreeMap::new(), Instant::now());
        book
    }

    /// Takes the definitions in force (at start, and after every change):
    /// templates are added, changed (a new version keeps the old one for
    /// its tasks and forgets the backoff) or marked deleted (their tasks
    /// go; the template goes with its last task). `deployments` are the
    /// deployments under way, by template.
    pub fn set_services(
        &mut self,
        services: &Services,
        deployments: &BTreeMap<TemplateId, DeploymentRecord>,
        now: Instant,
    ) {
        let mut seen = BTreeSet::new();
        for (service, member) in services.members() {
            let d = &member.definition;
            let id = d.template();
            seen.insert(id.clone());
            let t = self
                .templates
                .entry(id.clone())
                .or_insert_with(|| Template::new(service.key.clone()));
            if t.member.as_ref().is_some_and(|m| Arc::ptr_eq(m, member)) {
                continue;
            }
            if let Some(old) = t.member.take() {
                if old.definition.version != d.version {
                    t.earlier.insert(old.definition.version.clone(), old);
                    t.failures = 0;
                    t.not_before = None;
                    t.last_failure = None;
                }
            }
            t.earlier.remove(&d.version);
            t.member = Some(member.clone());
            t.service = service.key.clone();
            t.instances = d.instances;
            t.restart = d.restart;
            t.rollout = d.rollout;
            // `done` counts ends of the count the definition had.
            t.done = t.done.min(d.instances);
            for task_id in &t.tasks {
                if let Some(task) = self.tasks.get_mut(task_id) {
                    if task.record.version.as_deref() == Some(d.version.as_str()) {
                        task.member = Some(member.clone());
                    }
                }
            }
            self.dirty.insert(id);
        }
        for (id, t) in &mut self.templates {
            if !seen.contains(id) && t.member.is_some() {
                if let Some(old) = t.member.take() {
                    t.earlier.insert(old.definition.version.clone(), old);
                }
                self.dirty.insert(id.clone());
            }
        }
        for (id, t) in &mut self.templates {
            let wanted = deployments.get(id);
            let same = match (&t.deployment, wanted) {
                (Some(d), Some(r)) => d.record.id == r.id,
                (None, None) => true,
                _ => false,
            };
            if !same {
                t.deployment = wanted.map(|r| Deployment {
                    record: r.clone(),
                    last_progress: now,
                    mark: (u32::MAX, u32::MAX, u32::MAX),
                    stuck: None,
                });
                self.dirty.insert(id.clone());
            }
        }
        self.templates
            .retain(|_, t| t.member.is_some() || !t.tasks.is_empty() || t.launching > 0);
    }

    /// Adds a launched or recovered task. A task without a version (one
    /// adopted from a port made before ports named their version) is taken
    /// as the current version. A task of a version that is not the current
    /// one counts as of an earlier version, so the template's deployment
    /// replaces it, whether or not the template holds that version's
    /// definition: one adopted from its port by a scheduler that never
    /// had it (a new leader) runs, as far as the book can tell, the
    /// definition in force (its backend port, its health check) until it
    /// is replaced.
    pub fn insert(&mut self, mut task: LiveTask) {
        let template = task.record.definition.clone();
        let t = self
            .templates
            .entry(template.clone())
            .or_insert_with(|| Template::new(task.record.service_key()));
        if task.record.version.is_none() {
            task.record.version = t.version().map(str::to_owned);
        }
        task.member = t.member_of(task.record.version.as_deref());
        t.tasks.insert(task.id().clone());
        if is_unsure(task.state()) {
            self.unsure += 1;
        }
        if let Some(agent) = &task.record.agent_id {
            self.load.add(&task.record.service_key(), agent);
        }
        self.versions += 1;
        task.version = self.versions;
        self.dirty.insert(template);
        if let Some(old) = self.tasks.insert(task.id().clone(), task) {
            self.forget(&old, false);
        }
    }

    /// Takes a task out without accounting it as ended (a launch that
    /// never reached Mesos).
    pub fn remove(&mut self, id: &TaskId) -> Option<LiveTask> {
        let task = self.tasks.remove(id)?;
        self.forget(&task, true);
        Some(task)
    }

    fn forget(&mut self, task: &LiveTask, unlink: bool) {
        let template = &task.record.definition;
        if unlink {
            if let Some(t) = self.templates.get_mut(template) {
                t.tasks.remove(task.id());
            }
        }
        self.dirty.insert(template.clone());
        if is_unsure(task.state()) {
            self.unsure = self.unsure.saturating_sub(1);
        }
        if let Some(agent) = &task.record.agent_id {
            self.load.remove(&task.record.service_key(), agent);
        }
    }

    /// Counts a launch of `template` on `agent` whose port is being made.
    pub fn begin_launch(&mut self, id: TaskId, template: &TemplateId, agent: &AgentId) {
        let Some(t) = self.templates.get_mut(template) else {
            return;
        };
        let Some(version) = t.version().map(str::to_owned) else {
            return;
        };
        t.launching += 1;
        t.launch = t.launch.saturating_sub(1);
        self.load.add(&t.service, agent);
        let launching = Launching {
            template: template.clone(),
            service: t.service.clone(),
            agent: agent.clone(),
            version,
        };
        self.launching.insert(id, launching);
        self.dirty.insert(template.clone());
    }

    /// Stops counting a launch under way (its task enters the book with
    /// [`Book::insert`], or it failed); the version it was launched from,
    /// or `None` if it was not under way.
    pub fn end_launch(&mut self, id: &TaskId) -> Option<String> {
        let l = self.launching.remove(id)?;
        if let Some(t) = self.templates.get_mut(&l.template) {
            t.launching = t.launching.saturating_sub(1);
        }
        self.dirty.insert(l.template.clone());
        self.load.remove(&l.service, &l.agent);
        Some(l.version)
    }

    /// The agents of a template's launches under way.
    pub fn launching_agents<'a>(
        &'a self,
        template: &'a TemplateId,
    ) -> impl Iterator<Item = &'a AgentId> + 'a {
        self.launching
            .values()
            .filter(move |l| &l.template == template)
            .map(|l| &l.agent)
    }

    /// Whether the task's launch is under way (its port is being made).
    pub fn is_launching(&self, id: &TaskId) -> bool {
        self.launching.contains_key(id)
    }

    pub fn get(&self, id: &TaskId) -> Option<&LiveTask> {
        self.tasks.get(id)
    }

    /// Notes that a KILL was sent for the task (its end then counts
    /// neither as a failure nor as a finished instance), or with `None`
    /// that it could not be sent.
    pub fn kill_sent(&mut self, id: &TaskId, at: Option<Instant>) -> bool {
        match self.tasks.get_mut(id) {
            Some(task) => {
                task.kill_sent = at;
                self.versions += 1;
                task.version = self.versions;
                self.dirty.insert(task.record.definition.clone());
                true
            }
            None => false,
        }
    }

    /// Fills in the hostname of tasks on `agent` that have none (adopted
    /// at start, before any offer named the agent).
    pub fn learn_hostname(&mut self, agent: &AgentId, hostname: &str) -> Vec<TaskRecord> {
        let mut changed = Vec::new();
        for task in self.tasks.values_mut() {
            if task.record.hostname.is_none() && task.record.agent_id.as_ref() == Some(agent) {
                task.record.hostname = Some(hostname.to_owned());
                self.versions += 1;
                task.version = self.versions;
                changed.push(task.record.clone());
            }
        }
        changed
    }

    /// How many tasks run (or are launched) on each agent, in total and
    /// per service.
    pub fn load(&self) -> &Load {
        &self.load
    }

    /// Every task, ordered by id.
    pub fn tasks(&self) -> impl ExactSizeIterator<Item = &LiveTask> {
        self.tasks.values()
    }

    /// The tasks of one template (any version).
    pub fn tasks_of<'a>(&'a self, template: &TemplateId) -> impl Iterator<Item = &'a LiveTask> {
        self.templates
            .get(template)
            .into_iter()
            .flat_map(|t| t.tasks.iter())
            .filter_map(|id| self.tasks.get(id))
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// How many tasks of each template to launch now, in template order
    /// (as of the last [`Book::evaluate`]).
    pub fn wants(&self, now: Instant) -> Vec<Wanted> {
        self.templates
            .iter()
            .filter(|(_, t)| t.launch > 0 && t.not_before.is_none_or(|at| at <= now))
            .filter_map(|(id, t)| {
                Some(Wanted {
                    template: id.clone(),
                    member: t.member.clone()?,
                    service: t.service.clone(),
                    count: t.launch,
                })
            })
            .collect()
    }

    /// Whether some template misses instances now (offers are wanted).
    pub fn wants_now(&self, now: Instant) -> bool {
        self.templates
            .values()
            .any(|t| t.launch > 0 && t.not_before.is_none_or(|at| at <= now))
    }

    /// Whether some template misses instances, now or after its backoff.
    pub fn waiting(&self, _now: Instant) -> bool {
        self.templates.values().any(|t| t.launch > 0)
    }

    /// When the book next wants to be looked at without news: a backoff
    /// ending, or the next look at something in motion.
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        let backoff = self
            .templates
            .values()
            .filter(|t| t.launch > 0)
            .filter_map(|t| t.not_before)
            .filter(|at| *at > now)
            .min();
        let motion = self
            .templates
            .values()
            .any(|t| t.moving)
            .then_some(now + MOTION_TICK);
        [backoff, motion].into_iter().flatten().min()
    }

    /// Marks the templates with something in motion for evaluation (a
    /// tick: drain periods, kill retries, deadlines, unreachable tasks).
    pub fn tick(&mut self) {
        for (id, t) in &self.templates {
            if t.moving {
                self.dirty.insert(id.clone());
            }
        }
    }

    /// Puts a template's relaunches off (its launch failed before Mesos saw
    /// it: no port, ACCEPT refused).
    pub fn launch_failed(&mut self, template: &TemplateId, now: Instant) {
        if let Some(t) = self.templates.get_mut(template) {
            t.failures += 1;
            t.not_before = Some(now + t.restart.delay(t.failures));
            self.dirty.insert(template.clone());
        }
    }

    /// Applies a status update (Mesos' latest word on a task).
    pub fn on_status(&mut self, status: &TaskStatus, now: Instant) -> StatusOutcome {
        let id = &status.task_id;
        let state = status.state();
        let Some(task) = self.tasks.get_mut(id) else {
            return StatusOutcome::Unknown;
        };
        self.dirty.insert(task.record.definition.clone());
        let mut seen = false;
        if status.message.is_some() && task.message != status.message {
            task.message = status.message.clone();
            seen = true;
        }
        if task.record.agent_id.is_none() {
            if let Some(agent) = &status.agent_id {
                task.record.agent_id = Some(agent.clone());
                seen = true;
                self.load.add(&task.record.service_key(), agent);
            }
        }
        let from = task.record.state;
        let mut health_changed = false;
        if let Some(healthy) = status.healthy {
            if task.record.healthy != Some(healthy) && !state.is_terminal() {
                task.record.healthy = Some(healthy);
                health_changed = true;
                seen = true;
            }
        }
        if state.is_terminal() {
            let mut task = self.remove(id).expect("the task is in the book");
            task.record.state = state;
            task.message = status.message.clone().or(task.message);
            // Mesos lost track of it (or never had it: a port made by a
            // leader that died before its ACCEPT) rather than it failing.
            let reconciled = status.reason() == task_status::Reason::Reconciliation;
            self.account_end(&task, state, reconciled, now);
            return StatusOutcome::Ended(Box::new(task));
        }
        if from != state {
            self.unsure =
                self.unsure + usize::from(is_unsure(state)) - usize::from(is_unsure(from));
            task.record.state = state;
            task.state_since = now;
            match state {
                TaskState::TaskRunning => task.was_running = true,
                TaskState::TaskUnknown => {}
                _ => task.was_running = false,
            }
            seen = true;
        }
        if seen {
            self.versions += 1;
            task.version = self.versions;
        }
        match (from == state, health_changed, task.record.healthy) {
            (false, _, _) => StatusOutcome::Changed { from },
            (true, true, Some(healthy)) => StatusOutcome::Health { healthy },
            (true, _, _) => StatusOutcome::Same,
        }
    }

    fn account_end(&mut self, task: &LiveTask, state: TaskState, reconciled: bool, now: Instant) {
        let Some(t) = self.templates.get_mut(&task.record.definition) else {
            return;
        };
        if task.is_leaving() {
            // Taken out (replaced, surplus, deleted, the operator's kill):
            // neither a failure nor a finished instance.
            return;
        }
        if task.record.version.as_deref() != t.version() {
            // A task of an earlier version ended on its own: the
            // deployment replaces it; the new version's backoff is its own.
            return;
        }
        if !t.restart.restarts_after(state) {
            t.done += 1;
            return;
        }
        if reconciled {
            // Not the version's failure: replaced at once, no backoff, and
            // a deployment is not held for it.
            return;
        }
        let stable = task.was_running && now.duration_since(task.state_since) >= STABLE_RUN;
        t.failures = if stable { 1 } else { t.failures + 1 };
        t.last_failure = task.message.clone();
        t.not_before = Some(now + t.restart.delay(t.failures));
    }

    /// Evaluates every template something happened to: how many instances
    /// to launch, which tasks leave (drain, or a KILL at once for a task
    /// that serves nothing), which drained tasks are killed, and how
    /// deployments stand. Changes the tasks' draining and kill marks.
    /// Without `take_out` (no master to send KILLs to) only the launches
    /// and deployments are worked out; [`Book::touch_all`] brings the rest
    /// back once subscribed.
    pub fn evaluate(&mut self, now: Instant, take_out: bool) -> Vec<Action> {
        let mut actions = Vec::new();
        let dirty = std::mem::take(&mut self.dirty);
        for id in dirty {
            self.evaluate_one(&id, now, take_out, &mut actions);
        }
        self.templates
            .retain(|_, t| t.member.is_some() || !t.tasks.is_empty() || t.launching > 0);
        actions
    }

    /// Marks every template for evaluation (a new subscription).
    pub fn touch_all(&mut self) {
        self.dirty.extend(self.templates.keys().cloned());
    }

    fn evaluate_one(
        &mut self,
        id: &TemplateId,
        now: Instant,
        take_out: bool,
        actions: &mut Vec<Action>,
    ) {
        let Some(t) = self.templates.get(id) else {
            return;
        };
        let version = t.version().map(str::to_owned);
        let target = t.target();
        let drain = t.rollout.drain;
        let mut current: Vec<&LiveTask> = Vec::new();
        let mut old: Vec<&LiveTask> = Vec::new();
        let mut leaving = 0u32;
        let mut old_leaving = 0u32;
        let mut to_kill: Vec<(TaskId, Option<AgentId>, &'static str)> = Vec::new();
        let mut unsure = false;
        for task in t.tasks.iter().filter_map(|tid| self.tasks.get(tid)) {
            let is_current = version.is_some() && task.record.version == version;
            if task.is_leaving() {
                leaving += 1;
                if !is_current {
                    old_leaving += 1;
                }
                match (task.kill_sent, task.draining_since) {
                    (Some(at), _) if now.duration_since(at) >= KILL_RETRY => {
                        to_kill.push((task.id().clone(), task.record.agent_id.clone(), "again"))
                    }
                    (None, Some(since)) if now.duration_since(since) >= drain => {
                        to_kill.push((task.id().clone(), task.record.agent_id.clone(), "drained"))
                    }
                    _ => {}
                }
                continue;
            }
            if is_unsure(task.state()) {
                unsure = true;
            }
            if !task.counts(now) {
                continue;
            }
            if is_current {
                current.push(task);
            } else {
                old.push(task);
            }
        }
        let have = current.len() as u32 + t.launching;
        let mut launch = target.saturating_sub(have);
        if !old.is_empty() {
            let total = have + old.len() as u32 + leaving;
            launch = launch.min(t.rollout.max_tasks(target).saturating_sub(total));
        }
        let mut out: Vec<&LiveTask> = Vec::new();
        // Beyond the instances: the youngest first, those not serving first.
        let keep = target.saturating_sub(t.launching) as usize;
        if current.len() > keep {
            let mut sorted = current.clone();
            sorted.sort_by_key(|task| (task.is_backend(), Reverse(task.record.launched_at)));
            let extra = sorted.len().saturating_sub(keep);
            out.extend(sorted.into_iter().take(extra));
        }
        // Earlier versions: while enough healthy backends stay.
        let healthy = current
            .iter()
            .chain(old.iter())
            .filter(|task| task.is_backend())
            .count() as u32;
        let mut healthy_left = healthy - out.iter().filter(|task| task.is_backend()).count() as u32;
        let min_healthy = t.rollout.min_healthy(target);
        let mut old_sorted = old.clone();
        old_sorted.sort_by_key(|task| (task.is_backend(), Reverse(task.record.launched_at)));
        for task in old_sorted {
            if !task.is_backend() {
                out.push(task);
            } else if healthy_left > min_healthy {
                healthy_left -= 1;
                out.push(task);
            }
        }
        let mut drains = Vec::new();
        for task in out {
            if task.is_backend() && !drain.is_zero() {
                drains.push(task.id().clone());
            } else {
                to_kill.push((task.id().clone(), task.record.agent_id.clone(), "out"));
            }
        }
        // The deployment's standing.
        let new_tasks = current.len() as u32;
        let new_healthy = current.iter().filter(|task| task.is_backend()).count() as u32;
        let old_left = old.len() as u32 + old_leaving;
        let failures = t.failures;
        let last_failure = t.last_failure.clone();
        let deadline = t.rollout.progress_deadline;
        let mut task_ids: Vec<String> = t.tasks.iter().map(|id| id.value.clone()).collect();
        task_ids.sort();
        let moving = unsure || leaving > 0 || !old.is_empty() || t.deployment.is_some();

        if !take_out {
            drains.clear();
            to_kill.clear();
        }
        let t = self.templates.get_mut(id).expect("looked up above");
        t.launch = launch;
        t.moving = moving || !drains.is_empty() || !to_kill.is_empty();
        if let Some(d) = &mut t.deployment {
            let mark = (new_healthy, old_left, new_tasks);
            let mut step = None;
            if old_left == 0 && new_healthy >= target && new_tasks <= target {
                step = Some(Step::Done);
            } else if mark != d.mark {
                let first = d.mark.0 == u32::MAX;
                d.mark = mark;
                d.last_progress = now;
                if d.stuck.take().is_some() || !first {
                    step = Some(Step::Progress);
                }
            } else if d.stuck.is_none() {
                if failures >= STUCK_FAILURES {
                    d.stuck = Some(format!(
                        "the new version's tasks failed {failures} times in a row{}",
                        last_failure
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    ));
                } else if now.duration_since(d.last_progress) >= deadline {
                    d.stuck = Some(format!(
                        "no progress for {}s: {new_healthy} of {target} new tasks serve, {old_left} old left",
                        deadline.as_secs()
                    ));
                }
                if d.stuck.is_some() {
                    step = Some(Step::Stuck);
                }
            }
            if let Some(step) = step {
                let status = status_of(id, d, target, mark, old_leaving, task_ids);
                if step == Step::Done {
                    t.deployment = None;
                }
                actions.push(Action::Deployment(DeploymentEvent {
                    template: id.clone(),
                    status,
                    step,
                }));
            }
        }
        for task_id in drains {
            if let Some(task) = self.tasks.get_mut(&task_id) {
                task.draining_since = Some(now);
                self.versions += 1;
                task.version = self.versions;
            }
            actions.push(Action::Drain(task_id));
        }
        for (task_id, agent, why) in to_kill {
            if let Some(task) = self.tasks.get_mut(&task_id) {
                task.kill_sent = Some(now);
                self.versions += 1;
                task.version = self.versions;
            }
            actions.push(Action::Kill {
                task: task_id,
                agent,
                why,
            });
        }
    }

    /// The deployments under way, with their standing.
    pub fn deployments(&self) -> Vec<DeploymentStatus> {
        self.templates
            .iter()
            .filter_map(|(id, t)| {
                let d = t.deployment.as_ref()?;
                let version = t.version();
                let mut new = (0u32, 0u32);
                let mut old = (0u32, 0u32);
                for task in t.tasks.iter().filter_map(|tid| self.tasks.get(tid)) {
                    let current = version.is_some() && task.record.version.as_deref() == version;
                    match (current, task.is_leaving()) {
                        (true, false) => {
                            new.0 += 1;
                            new.1 += u32::from(task.is_backend());
                        }
                        (false, false) => old.0 += 1,
                        (false, true) => old.1 += 1,
                        (true, true) => {}
                    }
                }
                let mut tasks: Vec<String> = t.tasks.iter().map(|id| id.value.clone()).collect();
                tasks.sort();
                Some(status_of(
                    id,
                    d,
                    t.target(),
                    (new.1, old.0 + old.1, new.0),
                    old.1,
                    tasks,
                ))
            })
            .collect()
    }

    /// The version in force of a template, if it has a definition.
    pub fn current_version(&self, template: &TemplateId) -> Option<&str> {
        self.templates.get(template)?.version()
    }

    /// Tasks whose latest state Mesos has not confirmed for `after`:
    /// in flight (staging, starting, killing) or unknown to the master.
    pub fn unconfirmed(&self, now: Instant, after: Duration) -> Vec<(TaskId, Option<AgentId>)> {
        self.tasks
            .values()
            .filter(|t| {
                !matches!(t.record.state, TaskState::TaskRunning)
                    && now.duration_since(t.state_since) >= after
            })
            .map(|t| (t.id().clone(), t.record.agent_id.clone()))
            .collect()
    }
}

fn status_of(
    id: &TemplateId,
    d: &Deployment,
    instances: u32,
    (new_healthy, old_tasks, new_tasks): (u32, u32, u32),
    draining: u32,
    tasks: Vec<String>,
) -> DeploymentStatus {
    DeploymentStatus {
        id: d.record.id.clone(),
        definition: id.clone(),
        from: d.record.from.clone(),
        to: d.record.to.clone(),
        started_at: d.record.started_at,
        instances,
        new_tasks,
        new_healthy,
        old_tasks,
        draining,
        stuck: d.stuck.clone(),
        tasks,
    }
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;

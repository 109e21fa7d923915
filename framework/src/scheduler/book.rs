//! The task book: every task the framework launched and has not seen end,
//! with its last state, the launches whose ports are still being made, and
//! per task template the instance accounting (how many run, how many ended
//! for good) and the relaunch backoff. Pure: the scheduler core feeds it
//! launches and status updates and asks it what to launch, what to kill
//! and which tasks back a service.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesos_proto::v1::{AgentId, TaskId, TaskState, TaskStatus};
use ovn::services::ServiceKey;

use crate::launch::Load;
use crate::state::TaskRecord;
use crate::tasks::{Member, RestartPolicy, Services, TemplateId};

/// A task that ran at least this long before it ended starts the backoff
/// over (a crash loop keeps growing it).
pub const STABLE_RUN: Duration = Duration::from_secs(30);
/// A task unreachable (or unknown to the master) this long no longer
/// counts as an instance: a replacement is launched, the old one keeps its
/// port until Mesos says it is gone.
pub const UNREACHABLE_GRACE: Duration = Duration::from_secs(60);
/// A KILL without news is sent again after this long.
pub const KILL_RETRY: Duration = Duration::from_secs(10);

/// One task the framework launched.
#[derive(Debug, Clone)]
pub struct LiveTask {
    pub record: TaskRecord,
    /// The definition it was launched from; `None` for a task of a task
    /// file this run does not have.
    pub member: Option<Arc<Member>>,
    /// The message of the last status update.
    pub message: Option<String>,
    /// Since when the task is in its current state.
    pub state_since: Instant,
    /// It reached TASK_RUNNING (and was not seen ending since).
    pub was_running: bool,
    /// When the framework last asked Mesos to kill it (as surplus or at
    /// the operator's request).
    pub kill_sent: Option<Instant>,
    /// Changes whenever anything shown of the task changes (state,
    /// message, agent, hostname), so views of it can be reused.
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

    /// Whether it is one of its service's backends: RUNNING, or unknown to
    /// a master that just restarted while it was running (the dataplane
    /// does not wait for the master to relearn its tasks); and, with a
    /// health check, reported healthy.
    pub fn is_backend(&self) -> bool {
        let alive = match self.record.state {
            TaskState::TaskRunning => true,
            TaskState::TaskUnknown => self.was_running,
            _ => false,
        };
        alive && (self.record.healthy == Some(true) || !self.is_checked())
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

/// A launch whose port is being made: it counts as an instance (and on
/// its agent) until it enters the book or fails.
#[derive(Debug, Clone)]
struct Launching {
    template: TemplateId,
    service: ServiceKey,
    agent: AgentId,
}

/// Instance accounting of one task template (one task file).
#[derive(Debug, Clone)]
struct Template {
    member: Arc<Member>,
    service: ServiceKey,
    instances: u32,
    restart: RestartPolicy,
    /// Tasks of the book launched from it, and launches under way.
    live: u32,
    /// Tasks that ended and, by the restart policy, stay ended.
    done: u32,
    /// Consecutive ends without a stable run.
    failures: u32,
    /// No relaunch before this.
    not_before: Option<Instant>,
}

/// The task book.
#[derive(Debug, Default)]
pub struct Book {
    tasks: BTreeMap<TaskId, LiveTask>,
    templates: BTreeMap<TemplateId, Template>,
    launching: BTreeMap<TaskId, Launching>,
    /// Tasks unreachable or unknown to the master (they may stop counting
    /// as instances): without any, no scan for them is needed.
    unsure: usize,
    /// Tasks of no template (a removed task file): killed as surplus.
    orphans: usize,
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
        let templates = services
            .members()
            .map(|(service, member)| {
                let d = &member.definition;
                let template = Template {
                    member: member.clone(),
                    service: service.key.clone(),
                    instances: d.instances,
                    restart: d.restart,
                    live: 0,
                    done: 0,
                    failures: 0,
                    not_before: None,
                };
                (d.template(), template)
            })
            .collect();
        Book {
            templates,
            ..Book::default()
        }
    }

    /// Adds a launched or recovered task.
    pub fn insert(&mut self, mut task: LiveTask) {
        match self.templates.get_mut(&task.record.definition) {
            Some(t) => {
                t.live += 1;
                task.member = Some(t.member.clone());
            }
            None => self.orphans += 1,
        }
        if is_unsure(task.state()) {
            self.unsure += 1;
        }
        if let Some(agent) = &task.record.agent_id {
            self.load.add(&task.record.service_key(), agent);
        }
        self.versions += 1;
        task.version = self.versions;
        if let Some(old) = self.tasks.insert(task.id().clone(), task) {
            self.forget(&old);
        }
    }

    /// Takes a task out without accounting it as ended (a launch that
    /// never reached Mesos).
    pub fn remove(&mut self, id: &TaskId) -> Option<LiveTask> {
        let task = self.tasks.remove(id)?;
        self.forget(&task);
        Some(task)
    }

    fn forget(&mut self, task: &LiveTask) {
        match self.templates.get_mut(&task.record.definition) {
            Some(t) => t.live = t.live.saturating_sub(1),
            None => self.orphans = self.orphans.saturating_sub(1),
        }
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
        t.live += 1;
        self.load.add(&t.service, agent);
        let launching = Launching {
            template: template.clone(),
            service: t.service.clone(),
            agent: agent.clone(),
        };
        self.launching.insert(id, launching);
    }

    /// Stops counting a launch under way (its task enters the book with
    /// [`Book::insert`], or it failed); false if it was not under way.
    pub fn end_launch(&mut self, id: &TaskId) -> bool {
        let Some(l) = self.launching.remove(id) else {
            return false;
        };
        if let Some(t) = self.templates.get_mut(&l.template) {
            t.live = t.live.saturating_sub(1);
        }
        self.load.remove(&l.service, &l.agent);
        true
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
    /// that it could not be sent. The book's own accounting (state,
    /// agent, counters) changes only through [`Book::on_status`],
    /// [`Book::insert`] and [`Book::remove`].
    pub fn kill_sent(&mut self, id: &TaskId, at: Option<Instant>) -> bool {
        match self.tasks.get_mut(id) {
            Some(task) => {
                task.kill_sent = at;
                true
            }
            None => false,
        }
    }

    /// Fills in the hostname of tasks on `agent` that have none (adopted
    /// at start, before any offer named the agent). Returns how many.
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

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// How many tasks of each template to launch now, in template order.
    pub fn wants(&self, now: Instant) -> Vec<Wanted> {
        self.templates
            .iter()
            .filter(|(_, t)| t.not_before.is_none_or(|at| at <= now))
            .filter_map(|(id, t)| {
                let count = self.missing(id, t, now);
                (count > 0).then(|| Wanted {
                    template: id.clone(),
                    member: t.member.clone(),
                    service: t.service.clone(),
                    count,
                })
            })
            .collect()
    }

    /// Whether some template misses instances now (offers are wanted).
    pub fn wants_now(&self, now: Instant) -> bool {
        self.templates
            .iter()
            .filter(|(_, t)| t.not_before.is_none_or(|at| at <= now))
            .any(|(id, t)| self.missing(id, t, now) > 0)
    }

    /// Whether some template misses instances, now or after its backoff.
    pub fn waiting(&self, now: Instant) -> bool {
        self.templates
            .iter()
            .any(|(id, t)| self.missing(id, t, now) > 0)
    }

    /// When the next backoff of a template that misses instances ends.
    pub fn next_relaunch(&self, now: Instant) -> Option<Instant> {
        self.templates
            .iter()
            .filter(|(id, t)| self.missing(id, t, now) > 0)
            .filter_map(|(_, t)| t.not_before)
            .filter(|at| *at > now)
            .min()
    }

    fn missing(&self, id: &TemplateId, t: &Template, now: Instant) -> u32 {
        let stale = if t.live == 0 || self.unsure == 0 {
            0
        } else {
            self.tasks
                .values()
                .filter(|task| &task.record.definition == id && !task.counts(now))
                .count() as u32
        };
        t.instances
            .saturating_sub(t.live.saturating_sub(stale) + t.done)
    }

    /// Puts a template's relaunches off (its launch failed before Mesos saw
    /// it: no port, ACCEPT refused).
    pub fn launch_failed(&mut self, template: &TemplateId, now: Instant) {
        if let Some(t) = self.templates.get_mut(template) {
            t.failures += 1;
            t.not_before = Some(now + t.restart.delay(t.failures));
        }
    }

    /// Applies a status update (Mesos' latest word on a task).
    pub fn on_status(&mut self, status: &TaskStatus, now: Instant) -> StatusOutcome {
        let id = &status.task_id;
        let state = status.state();
        let Some(task) = self.tasks.get_mut(id) else {
            return StatusOutcome::Unknown;
        };
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
            self.account_end(&task, state, now);
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

    fn account_end(&mut self, task: &LiveTask, state: TaskState, now: Instant) {
        let Some(t) = self.templates.get_mut(&task.record.definition) else {
            return;
        };
        if task.kill_sent.is_some() {
            // Killed as surplus or at the operator's request: neither a
            // failure nor a finished instance.
            return;
        }
        if !t.restart.restarts_after(state) {
            t.done += 1;
            return;
        }
        let stable = task.was_running && now.duration_since(task.state_since) >= STABLE_RUN;
        t.failures = if stable { 1 } else { t.failures + 1 };
        t.not_before = Some(now + t.restart.delay(t.failures));
    }

    /// Tasks to kill: those of no current task file and those beyond their
    /// template's instance count (keeping running ones, then the oldest); a
    /// kill without news is asked again after [`KILL_RETRY`].
    pub fn surplus(&self, now: Instant) -> Vec<(TaskId, Option<AgentId>)> {
        let beyond = self
            .templates
            .values()
            .any(|t| t.live > t.instances.saturating_sub(t.done));
        if self.orphans == 0 && !beyond {
            return Vec::new();
        }
        let mut kill = Vec::new();
        let mut by_template: BTreeMap<&TemplateId, Vec<&LiveTask>> = BTreeMap::new();
        for task in self.tasks.values() {
            if self.templates.contains_key(&task.record.definition) {
                by_template
                    .entry(&task.record.definition)
                    .or_default()
                    .push(task);
            } else {
                kill.push(task);
            }
        }
        for (id, mut tasks) in by_template {
            let t = &self.templates[id];
            let keep = t.instances.saturating_sub(t.done) as usize;
            // A task unreachable past the grace period holds no place (its
            // replacement does); it counts, and can be surplus, once back.
            tasks.retain(|task| task.counts(now));
            if tasks.len() <= keep {
                continue;
            }
            // Keep running tasks first, then the oldest.
            tasks.sort_by_key(|task| (!task.is_backend(), task.record.launched_at));
            kill.extend(tasks.into_iter().skip(keep));
        }
        kill.into_iter()
            .filter(|task| {
                task.kill_sent
                    .is_none_or(|at| now.duration_since(at) >= KILL_RETRY)
            })
            .map(|task| (task.id().clone(), task.record.agent_id.clone()))
            .collect()
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

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;

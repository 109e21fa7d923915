//! The master's in-memory state (frameworks, agents, offers) and the
//! bookkeeping every operation shares: resource accounting per agent and
//! framework, offer removal and rescinding, task completion, messages to
//! agents. Guarded by one mutex; nothing here awaits.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use mesos_proto::v1::{self, ExecutorInfo, Task};
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::events;
use super::framework::{Filter, Framework};
use crate::ids::IdMinter;
use crate::protocol::{master_message, to_agent, MasterMessage};
use crate::resources::Resources;
use crate::stream::EventSender;

/// The master's end of an agent's command stream.
#[derive(Debug)]
pub(crate) struct AgentLink {
    pub events: EventSender<MasterMessage>,
    pub close: CancellationToken,
}

/// One registered agent.
#[derive(Debug)]
pub(crate) struct AgentRecord {
    pub id: v1::AgentId,
    pub info: v1::AgentInfo,
    /// `ip:port` of the agent's HTTP endpoint.
    pub endpoint: String,
    pub total: Resources,
    /// Used by tasks and executors, per framework id.
    pub used: HashMap<String, Resources>,
    pub used_total: Resources,
    pub offered: Resources,
    pub session: String,
    /// `None` while disconnected.
    pub link: Option<AgentLink>,
    pub ping_seq: u64,
    pub pong_seq: u64,
    pub missed_pings: u32,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    /// Task ids per framework id.
    pub tasks: HashMap<String, HashSet<String>>,
    /// Custom executors per framework id.
    pub executors: HashMap<String, HashMap<String, ExecutorInfo>>,
    pub offers: HashSet<String>,
}

impl AgentRecord {
    /// Resources neither used nor offered.
    pub fn available(&self) -> Resources {
        self.total.minus(&self.used_total).minus(&self.offered)
    }

    pub fn is_connected(&self) -> bool {
        self.link.is_some()
    }

    /// Queues a message on the agent's stream (dropped while
    /// disconnected; the agent reconciles when it re-registers).
    pub fn send(&self, kind: master_message::Kind) {
        match &self.link {
            Some(link) => {
                if link.events.send(to_agent(kind)).is_err() {
                    warn!(agent = %self.id, "agent stream is gone or full; closing it");
                    link.close.cancel();
                }
            }
            None => debug!(agent = %self.id, "agent disconnected; message dropped"),
        }
    }

    /// `slave(1)@ip:port`, the agent's libprocess-style pid.
    pub fn pid(&self) -> String {
        format!("slave(1)@{}", self.endpoint)
    }
}

/// An outstanding offer.
#[derive(Debug, Clone)]
pub(crate) struct OfferRecord {
    pub offer: v1::Offer,
    pub framework: String,
    pub agent: String,
    pub resources: Resources,
}

/// Everything the master knows.
#[derive(Debug)]
pub(crate) struct MasterState {
    pub ids: IdMinter,
    pub frameworks: HashMap<String, Framework>,
    pub completed_frameworks: VecDeque<Framework>,
    pub agents: HashMap<String, AgentRecord>,
    /// Agents marked unreachable, with the time.
    pub unreachable_agents: BTreeMap<String, f64>,
    pub offers: HashMap<String, OfferRecord>,
    pub max_completed_tasks: usize,
    pub max_completed_frameworks: usize,
    /// Agents whose unused resources changed since the last allocation.
    pub dirty_agents: HashSet<String>,
    /// Every agent must be considered (new framework, REVIVE, interval).
    pub dirty_all: bool,
    /// Cached cluster totals of cpus and mem; `None` after agents change.
    pub totals: Option<(f64, f64)>,
}

impl MasterState {
    pub fn new(
        master_id: &str,
        max_completed_tasks: usize,
        max_completed_frameworks: usize,
    ) -> Self {
        MasterState {
            ids: IdMinter::new(master_id),
            frameworks: HashMap::new(),
            completed_frameworks: VecDeque::new(),
            agents: HashMap::new(),
            unreachable_agents: BTreeMap::new(),
            offers: HashMap::new(),
            max_completed_tasks,
            max_completed_frameworks,
            dirty_agents: HashSet::new(),
            dirty_all: true,
            totals: None,
        }
    }

    /// The agent's unused resources changed: consider it at the next
    /// allocation.
    pub fn mark_dirty(&mut self, agent_id: &str) {
        if !self.dirty_all {
            self.dirty_agents.insert(agent_id.to_string());
        }
    }

    /// Consider every agent at the next allocation.
    pub fn mark_all_dirty(&mut self) {
        self.dirty_all = true;
        self.dirty_agents.clear();
    }

    /// Whether a framework with this id was removed (torn down or timed
    /// out).
    pub fn is_completed_framework(&self, id: &str) -> bool {
        self.completed_frameworks.iter().any(|f| f.id.value == id)
    }

    /// Removes an offer, giving its resources back; with `rescind` the
    /// framework gets a RESCIND event.
    pub fn remove_offer(&mut self, offer_id: &str, rescind: bool) -> Option<OfferRecord> {
        let record = self.offers.remove(offer_id)?;
        self.mark_dirty(&record.agent);
        if let Some(agent) = self.agents.get_mut(&record.agent) {
            agent.offered.subtract(&record.resources);
            agent.offers.remove(offer_id);
        }
        if let Some(framework) = self.frameworks.get_mut(&record.framework) {
            framework.offers.remove(offer_id);
            framework.allocated.subtract(&record.resources);
            if rescind {
                framework.send(events::rescind(offer_id));
            }
        }
        Some(record)
    }

    /// Removes every offer of a framework (no RESCIND: used on failover
    /// and removal, when the scheduler forgets its offers anyway).
    pub fn remove_framework_offers(&mut self, framework_id: &str) {
        let ids: Vec<String> = self
            .frameworks
            .get(framework_id)
            .map(|f| f.offers.iter().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.remove_offer(&id, false);
        }
    }

    /// Rescinds every offer on an agent.
    pub fn rescind_agent_offers(&mut self, agent_id: &str) {
        let ids: Vec<String> = self
            .agents
            .get(agent_id)
            .map(|a| a.offers.iter().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.remove_offer(&id, true);
        }
    }

    /// Accounts `resources` as used by a framework on an agent.
    pub fn add_used(&mut self, framework_id: &str, agent_id: &str, resources: &Resources) {
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent
                .used
                .entry(framework_id.to_string())
                .or_default()
                .add(resources);
            agent.used_total.add(resources);
        }
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework.allocated.add(resources);
        }
    }

    /// Gives `resources` used by a framework on an agent back.
    pub fn recover_used(&mut self, framework_id: &str, agent_id: &str, resources: &Resources) {
        self.mark_dirty(agent_id);
        if let Some(agent) = self.agents.get_mut(agent_id) {
            if let Some(used) = agent.used.get_mut(framework_id) {
                used.subtract(resources);
                if used.is_empty() {
                    agent.used.remove(framework_id);
                }
            }
            agent.used_total.subtract(resources);
        }
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework.allocated.subtract(resources);
        }
    }

    /// Installs a refused-resources filter (`refuse_seconds` <= 0: none).
    /// Like Mesos, a filter lasts at least one allocation interval.
    pub fn add_filter(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        resources: Resources,
        refuse_seconds: f64,
        allocation_interval: Duration,
    ) {
        if !(refuse_seconds.is_finite() && refuse_seconds > 0.0) || resources.is_empty() {
            return;
        }
        let timeout =
            Duration::from_secs_f64(refuse_seconds.min(365.0 * 86_400.0)).max(allocation_interval);
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework
                .filters
                .entry(agent_id.to_string())
                .or_default()
                .push(Filter {
                    resources,
                    expires: Instant::now() + timeout,
                });
        }
    }

    /// Removes a task from its framework and agent into the completed
    /// list; a task removed before reaching a terminal state gives its
    /// resources back here.
    pub fn remove_task(&mut self, framework_id: &str, task_id: &str) -> Option<Task> {
        let framework = self.frameworks.get_mut(framework_id)?;
        let task = framework.tasks.remove(task_id)?;
        framework.complete_task(task.clone(), self.max_completed_tasks);
        let agent_id = task.agent_id.value.clone();
        if let Some(agent) = self.agents.get_mut(&agent_id) {
            if let Some(tasks) = agent.tasks.get_mut(framework_id) {
                tasks.remove(task_id);
                if tasks.is_empty() {
                    agent.tasks.remove(framework_id);
                }
            }
        }
        if !task.state().is_terminal() {
            let resources = Resources::from_protos(&task.resources).unwrap_or_default();
            self.recover_used(framework_id, &agent_id, &resources);
        }
        Some(task)
    }

    /// Removes a custom executor record, giving its resources back.
    pub fn remove_executor(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        executor_id: &str,
    ) -> bool {
        let removed = self.agents.get_mut(agent_id).and_then(|agent| {
            let executors = agent.executors.get_mut(framework_id)?;
            let info = executors.remove(executor_id);
            if executors.is_empty() {
                agent.executors.remove(framework_id);
            }
            info
        });
        match removed {
            Some(info) => {
                let resources = Resources::from_protos(&info.resources).unwrap_or_default();
                self.recover_used(framework_id, agent_id, &resources);
                true
            }
            None => false,
        }
    }

    /// Sends a message to an agent if it is registered.
    pub fn send_to_agent(&self, agent_id: &str, kind: master_message::Kind) -> bool {
        match self.agents.get(agent_id) {
            Some(agent) => {
                agent.send(kind);
                true
            }
            None => false,
        }
    }

    /// Cluster totals of cpus and mem (for DRF shares), cached until the
    /// set of agents changes.
    pub fn cluster_totals(&mut self) -> (f64, f64) {
        if let Some(totals) = self.totals {
            return totals;
        }
        let totals = self.agents.values().fold((0.0, 0.0), |(c, m), a| {
            (
                c + a.total.cpus().unwrap_or(0.0),
                m + a.total.mem().unwrap_or(0.0),
            )
        });
        self.totals = Some(totals);
        totals
    }
}

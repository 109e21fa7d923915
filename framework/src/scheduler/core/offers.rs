//! Offers in, launch orders out (data flow steps 2-4): the instances wanted
//! now are placed on the offers' free resources ([`place`]); each used
//! offer becomes one [`LaunchOrder`] whose tasks count as instances while
//! the launcher makes their ports; the offers no launch uses are declined
//! with a filter (short while something waits, long when nothing does).
//! The launcher's reports bring the tasks into the book
//! ([`Core::on_provisioned`]) or put their templates off with backoff.

use std::collections::BTreeMap;
use std::time::Instant;

use mesos_proto::v1::{AgentId, Offer, TaskId};
use tracing::{debug, info, warn};

use super::{Core, Effect, LaunchOrder, OfferBatch, PlannedTask, Provisioned};
use crate::launch::constraints::{check, AgentFacts};
use crate::launch::{new_task_id, place, Filter, OfferSlot, Want};
use crate::scheduler::book::{Book, LiveTask, Wanted};
use crate::state::TaskRecord;
use crate::tasks::TemplateId;

impl Core {
    pub(super) fn on_offers(&mut self, offers: Vec<Offer>, now: Instant) {
        for offer in &offers {
            self.learn_agent(offer);
        }
        let wants = self.book.wants(now);
        // A definition that wants nothing now waits for nothing.
        let before = self.waiting.len();
        self.waiting
            .retain(|template, _| wants.iter().any(|w| &w.template == template));
        if self.waiting.len() != before {
            self.touch(false, now);
        }
        // A service with a policy launches once its port group and ACLs
        // are written: its tasks' ports join the group as they are made,
        // so no task of it ever runs uncovered.
        let (wants, held): (Vec<_>, Vec<_>) = wants.into_iter().partition(|w| {
            w.member.definition.allow_from.is_none() || self.groups_ready.contains(&w.service)
        });
        for w in &held {
            let why = format!(
                "{} of {} instances wait: the network policy of service {} is not written yet",
                w.count, w.member.definition.instances, w.service
            );
            if self.waiting.get(&w.template) != Some(&why) {
                self.waiting.insert(w.template.clone(), why);
                self.view_dirty = true;
            }
        }
        if wants.is_empty() {
            let decline = offers.iter().map(|o| o.id.clone()).collect();
            let refuse = self.refuse_seconds(now);
            self.out.push(Effect::Offers(OfferBatch {
                launches: Vec::new(),
                decline,
                refuse,
                issued: now,
            }));
            return;
        }
        let mut slots: Vec<OfferSlot> = offers
            .iter()
            .map(|o| OfferSlot::new(o, &self.config.role, &self.config.chassis_attribute))
            .collect();
        let mut list: Vec<Want<'_>> = Vec::new();
        for (i, wanted) in wants.iter().enumerate() {
            for _ in 0..wanted.count {
                list.push(Want {
                    definition: &wanted.member.definition,
                    service: &wanted.service,
                    slot_key: i,
                });
            }
        }
        let mut filter = Constraints::new(&self.agents, &self.book, &wants);
        let placements = place(
            &mut slots,
            &list,
            &self.config.executor,
            self.book.load(),
            &mut filter,
        );
        let refused = filter.refused;
        let mut placed_of: BTreeMap<usize, u32> = BTreeMap::new();
        for p in &placements {
            *placed_of.entry(p.want.slot_key).or_default() += 1;
        }
        for (i, wanted) in wants.iter().enumerate() {
            let placed = placed_of.get(&i).copied().unwrap_or(0);
            if placed >= wanted.count {
                self.waiting.remove(&wanted.template);
                continue;
            }
            let why = refused.get(&i).cloned().unwrap_or_else(|| {
                let r = &wanted.member.definition.resources;
                format!(
                    "no offer has room for cpus {} and mem {} MB (with the executor's) among {} offers",
                    r.cpus,
                    r.mem,
                    offers.len()
                )
            });
            let why = format!(
                "{} of {} instances wait: {why}",
                wanted.count - placed,
                wanted.member.definition.instances
            );
            if self.waiting.get(&wanted.template) != Some(&why) {
                info!(definition = %wanted.template, why = %why, "instances wait for an offer");
                self.waiting.insert(wanted.template.clone(), why);
                self.view_dirty = true;
            }
        }
        let mut by_slot: BTreeMap<usize, Vec<PlannedTask>> = BTreeMap::new();
        for p in placements {
            let wanted = &wants[p.want.slot_key];
            by_slot.entry(p.slot).or_default().push(PlannedTask {
                task_id: new_task_id(p.want.definition),
                template: wanted.template.clone(),
                member: wanted.member.clone(),
                resources: p.resources,
            });
        }
        let mut decline = Vec::new();
        let mut launches = Vec::new();
        for (i, slot) in slots.into_iter().enumerate() {
            let Some(tasks) = by_slot.remove(&i) else {
                decline.push(slot.offer_id);
                continue;
            };
            for task in &tasks {
                self.book
                    .begin_launch(task.task_id.clone(), &task.template, &slot.agent_id);
            }
            launches.push(LaunchOrder {
                offer_id: slot.offer_id,
                agent_id: slot.agent_id,
                hostname: slot.hostname,
                chassis: slot.chassis,
                tasks,
                // After this offer's tasks count: long once nothing waits
                // any more.
                refuse: self.refuse_seconds(now),
                received: now,
            });
        }
        let refuse = self.refuse_seconds(now);
        self.out.push(Effect::Offers(OfferBatch {
            launches,
            decline,
            refuse,
            issued: now,
        }));
        self.touch(false, now);
    }

    /// Remembers the agent's hostname and fills it into the records of
    /// tasks that lack it (adopted at start).
    fn learn_agent(&mut self, offer: &Offer) {
        let facts = AgentFacts::from_offer(offer);
        if self.agents.get(&offer.agent_id) == Some(&facts) {
            return;
        }
        self.agents.insert(offer.agent_id.clone(), facts);
        for record in self.book.learn_hostname(&offer.agent_id, &offer.hostname) {
            self.out.push(Effect::WriteRecord(record));
        }
    }

    /// The launcher's report on one offer: the tasks whose port exists
    /// enter the book (their ACCEPT is on its way), the others back off.
    pub(super) fn on_provisioned(&mut self, report: Provisioned, now: Instant) {
        for (template, port) in report.made {
            let id = TaskId::new(&port.task_id);
            let Some(version) = self.book.end_launch(&id) else {
                // The framework was removed meanwhile: nobody wants it.
                warn!(task = %id, port = %port.name, "a launch of a removed framework; deleting its port");
                self.out.push(Effect::DeletePort(port.name.clone()));
                continue;
            };
            let mut record = TaskRecord::staging(
                &port,
                template,
                Some(report.agent_id.clone()),
                Some(report.hostname.clone()),
            );
            record.version = Some(version);
            self.out.push(Effect::WriteRecord(record.clone()));
            self.book.insert(LiveTask::new(record, report.received));
        }
        for (template, id) in report.failed {
            self.book.end_launch(&id);
            self.book.launch_failed(&template, report.received);
        }
        self.touch(false, now);
    }

    /// The tasks of a refused ACCEPT leave the book, their ports and
    /// records go, and their templates back off.
    pub(super) fn on_accept_failed(
        &mut self,
        tasks: Vec<(TemplateId, TaskId, String)>,
        now: Instant,
    ) {
        for (template, id, port) in tasks {
            debug!(task = %id, "its ACCEPT failed: the port and record go");
            self.book.remove(&id);
            self.book.launch_failed(&template, now);
            self.out.push(Effect::DeletePort(port));
            self.out.push(Effect::RemoveRecord(id));
        }
        self.touch(false, now);
    }
}

/// The placement constraints of the wanted templates, with where each
/// template's tasks already are (tasks not leaving and launches under way,
/// and what this batch places).
struct Constraints<'b> {
    agents: &'b BTreeMap<AgentId, AgentFacts>,
    /// Per want index (only wants with constraints): the facts of the
    /// agents its template's tasks are on.
    placed: BTreeMap<usize, Vec<AgentFacts>>,
    /// Per want index: why the last refused slot was refused.
    refused: BTreeMap<usize, String>,
}

impl<'b> Constraints<'b> {
    fn new(
        agents: &'b BTreeMap<AgentId, AgentFacts>,
        book: &Book,
        wants: &[Wanted],
    ) -> Constraints<'b> {
        let mut placed = BTreeMap::new();
        for (i, wanted) in wants.iter().enumerate() {
            if wanted.member.definition.constraints.is_empty() {
                continue;
            }
            let facts: Vec<AgentFacts> = book
                .tasks_of(&wanted.template)
                .filter(|t| !t.is_leaving())
                .filter_map(|t| facts_of(agents, t))
                .chain(
                    book.launching_agents(&wanted.template)
                        .filter_map(|a| agents.get(a).cloned()),
                )
                .collect();
            placed.insert(i, facts);
        }
        Constraints {
            agents,
            placed,
            refused: BTreeMap::new(),
        }
    }
}

/// The facts of a task's agent: from its offers, else its hostname alone.
fn facts_of(agents: &BTreeMap<AgentId, AgentFacts>, task: &LiveTask) -> Option<AgentFacts> {
    let agent = task.record.agent_id.as_ref()?;
    agents.get(agent).cloned().or_else(|| {
        Some(AgentFacts {
            hostname: task.record.hostname.clone()?,
            attributes: Vec::new(),
        })
    })
}

/// What is known of the offer's agent: its facts from earlier offers, else
/// the offer's hostname alone.
fn facts(agents: &BTreeMap<AgentId, AgentFacts>, slot: &OfferSlot) -> AgentFacts {
    agents.get(&slot.agent_id).cloned().unwrap_or(AgentFacts {
        hostname: slot.hostname.clone(),
        attributes: Vec::new(),
    })
}

impl<'a> Filter<'a> for Constraints<'_> {
    fn allows(&mut self, want: &Want<'a>, slot: &OfferSlot) -> bool {
        let Some(placed) = self.placed.get(&want.slot_key) else {
            return true;
        };
        let candidate = facts(self.agents, slot);
        let placed: Vec<&AgentFacts> = placed.iter().collect();
        let known: Vec<&AgentFacts> = self.agents.values().collect();
        match check(&want.definition.constraints, &candidate, &placed, &known) {
            Ok(()) => true,
            Err(why) => {
                self.refused.insert(want.slot_key, why);
                false
            }
        }
    }

    fn placed(&mut self, want: &Want<'a>, slot: &OfferSlot) {
        if let Some(placed) = self.placed.get_mut(&want.slot_key) {
            placed.push(facts(self.agents, slot));
        }
    }
}

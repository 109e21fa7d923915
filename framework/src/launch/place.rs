//! Placing wanted launches on offers: each [`Want`] (one missing instance of
//! a definition) goes to the offer whose agent runs the fewest instances of
//! its service, then the fewest tasks at all, then the first such offer in
//! `slots` order; so one service's instances spread over agents, and the
//! result depends only on the input order.
//!
//! Load counts what runs already ([`Load`], from the scheduler's state) plus
//! what this call placed. A want that fits no offer is left out of the
//! result; the caller finds it missing by its [`Want::slot_key`].

use std::collections::BTreeMap;

use mesos_proto::v1::AgentId;
use ovn::services::ServiceKey;
use tracing::debug;

use super::{ExecutorSettings, LaunchResources, Need, OfferSlot};
use crate::tasks::TaskDefinition;

/// One instance to launch.
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    pub definition: &'a TaskDefinition,
    pub service: &'a ServiceKey,
    /// The caller's index for this want (e.g. in its list of missing
    /// instances), handed back in the [`Placement`].
    pub slot_key: usize,
}

/// Where a [`Want`] goes: `slots[slot]`, with the resources taken there.
#[derive(Debug, Clone)]
pub struct Placement<'a> {
    pub want: Want<'a>,
    /// The index in the `slots` given to [`place`].
    pub slot: usize,
    pub resources: LaunchResources,
}

/// Tasks per agent, in total and per service: what "least loaded" compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Load {
    per_service: BTreeMap<AgentId, BTreeMap<ServiceKey, u32>>,
    per_agent: BTreeMap<AgentId, u32>,
}

impl Load {
    /// Counts one task of `service` on `agent` (running, or launched and not
    /// yet terminal).
    pub fn add(&mut self, service: &ServiceKey, agent: &AgentId) {
        match self.per_agent.get_mut(agent) {
            Some(n) => *n += 1,
            None => {
                self.per_agent.insert(agent.clone(), 1);
            }
        }
        let services = match self.per_service.get_mut(agent) {
            Some(services) => services,
            None => self.per_service.entry(agent.clone()).or_default(),
        };
        match services.get_mut(service) {
            Some(n) => *n += 1,
            None => {
                services.insert(service.clone(), 1);
            }
        }
    }

    /// Stops counting one task of `service` on `agent`.
    pub fn remove(&mut self, service: &ServiceKey, agent: &AgentId) {
        if let Some(n) = self.per_agent.get_mut(agent) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_agent.remove(agent);
            }
        }
        if let Some(services) = self.per_service.get_mut(agent) {
            if let Some(n) = services.get_mut(service) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    services.remove(service);
                }
            }
            if services.is_empty() {
                self.per_service.remove(agent);
            }
        }
    }

    /// Tasks of `service` on `agent`.
    pub fn of_service(&self, service: &ServiceKey, agent: &AgentId) -> u32 {
        self.per_service
            .get(agent)
            .and_then(|services| services.get(service))
            .copied()
            .unwrap_or(0)
    }

    /// Tasks of every service on `agent`.
    pub fn of_agent(&self, agent: &AgentId) -> u32 {
        self.per_agent.get(agent).copied().unwrap_or(0)
    }
}

/// What else decides whether a want may go on a slot (placement
/// constraints), told of each placement made.
pub trait Filter<'a> {
    /// Whether `want` may go on `slot`.
    fn allows(&mut self, want: &Want<'a>, slot: &OfferSlot) -> bool;
    /// `want` went on `slot`.
    fn placed(&mut self, want: &Want<'a>, slot: &OfferSlot);
}

/// No filter: only resources decide.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct NoFilter;

#[cfg(test)]
impl<'a> Filter<'a> for NoFilter {
    fn allows(&mut self, _: &Want<'a>, _: &OfferSlot) -> bool {
        true
    }
    fn placed(&mut self, _: &Want<'a>, _: &OfferSlot) {}
}

/// Places `wants`, in order, on `slots` (taking their resources; each task
/// also takes its executor's, see [`Need`]) where `filter` allows. `load`
/// is what already runs on the agents. Returns the placed wants in `wants`
/// order.
///
/// The loads are counted per slot in plain vectors (one per service of the
/// wants), so each want costs a scan of the slots, not a sort with map
/// lookups: 2,000 wants on 100 offers place in about a millisecond.
pub fn place<'a>(
    slots: &mut [OfferSlot],
    wants: &[Want<'a>],
    executor: &ExecutorSettings,
    load: &Load,
    filter: &mut dyn Filter<'a>,
) -> Vec<Placement<'a>> {
    // The slots' agents (an agent may have several offers).
    let mut agents: Vec<&AgentId> = Vec::new();
    let slot_agent: Vec<usize> = slots
        .iter()
        .map(
            |slot| match agents.iter().position(|a| **a == slot.agent_id) {
                Some(i) => i,
                None => {
                    agents.push(&slot.agent_id);
                    agents.len() - 1
                }
            },
        )
        .collect();
    let mut agent_load: Vec<u32> = agents.iter().map(|a| load.of_agent(a)).collect();
    let mut service_load: BTreeMap<&ServiceKey, Vec<u32>> = BTreeMap::new();
    let agent_ids: Vec<AgentId> = agents.iter().map(|a| (*a).clone()).collect();
    let mut tried = vec![false; slots.len()];
    let mut placed = Vec::with_capacity(wants.len());
    for want in wants {
        let need = Need::new(&want.definition.resources, executor);
        let of_service = service_load.entry(want.service).or_insert_with(|| {
            agent_ids
                .iter()
                .map(|a| load.of_service(want.service, a))
                .collect()
        });
        tried.iter_mut().for_each(|t| *t = false);
        let found = loop {
            let best = (0..slots.len()).filter(|i| !tried[*i]).min_by_key(|&i| {
                let a = slot_agent[i];
                (of_service[a], agent_load[a], i)
            });
            let Some(i) = best else {
                break None;
            };
            if !filter.allows(want, &slots[i]) {
                tried[i] = true;
                continue;
            }
            match slots[i].take(&need) {
                Some(resources) => break Some((i, resources)),
                None => tried[i] = true,
            }
        };
        let Some((slot, resources)) = found else {
            debug!(
                definition = %want.definition.task_id,
                service = %want.service,
                offers = slots.len(),
                "no offer fits"
            );
            continue;
        };
        filter.placed(want, &slots[slot]);
        of_service[slot_agent[slot]] += 1;
        agent_load[slot_agent[slot]] += 1;
        debug!(
            definition = %want.definition.task_id,
            service = %want.service,
            agent = %slots[slot].agent_id,
            offer = %slots[slot].offer_id,
            "placed"
        );
        placed.push(Placement {
            want: *want,
            slot,
            resources,
        });
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{definition, offer};
    use super::super::DEFAULT_CHASSIS_ATTRIBUTE;
    use super::*;

    fn slots(offers: &[(&str, &str, f64, f64)]) -> Vec<OfferSlot> {
        offers
            .iter()
            .map(|&(id, agent, cpus, mem)| {
                OfferSlot::new(
                    &offer(id, agent, cpus, mem),
                    "ovn-mesos",
                    DEFAULT_CHASSIS_ATTRIBUTE,
                )
            })
            .collect()
    }

    fn wants<'a>(d: &'a TaskDefinition, key: &'a ServiceKey, n: usize) -> Vec<Want<'a>> {
        (0..n)
            .map(|slot_key| Want {
                definition: d,
                service: key,
                slot_key,
            })
            .collect()
    }

    fn agents(slots: &[OfferSlot], placed: &[Placement<'_>]) -> Vec<String> {
        placed
            .iter()
            .map(|p| slots[p.slot].agent_id.to_string())
            .collect()
    }

    #[test]
    fn a_removed_task_no_longer_counts() {
        let web = ServiceKey::new("coke", "web");
        let db = ServiceKey::new("coke", "db");
        let a1 = AgentId::from("a1");
        let mut load = Load::default();
        load.add(&web, &a1);
        load.add(&db, &a1);
        load.remove(&web, &a1);
        assert_eq!(load.of_service(&web, &a1), 0);
        assert_eq!(load.of_service(&db, &a1), 1);
        assert_eq!(load.of_agent(&a1), 1);
        load.remove(&db, &a1);
        assert_eq!(load, Load::default(), "nothing left behind");
    }

    #[test]
    fn one_services_instances_spread_over_agents_before_stacking() {
        let d = definition("web-a", 0.1, 32.0);
        let key = ServiceKey::new("coke", "web");
        let mut slots = slots(&[
            ("o1", "a1", 4.0, 4096.0),
            ("o2", "a2", 4.0, 4096.0),
            ("o3", "a3", 4.0, 4096.0),
        ]);
        let executor = ExecutorSettings::new("/bin/e");
        let placed = place(
            &mut slots,
            &wants(&d, &key, 4),
            &executor,
            &Load::default(),
            &mut NoFilter,
        );
        assert_eq!(agents(&slots, &placed), ["a1", "a2", "a3", "a1"]);
        let keys: Vec<usize> = placed.iter().map(|p| p.want.slot_key).collect();
        assert_eq!(keys, [0, 1, 2, 3]);
    }

    #[test]
    fn the_least_loaded_agent_gets_the_next_instance() {
        let d = definition("web-a", 0.1, 32.0);
        let key = ServiceKey::new("coke", "web");
        let other = ServiceKey::new("coke", "db");
        let mut load = Load::default();
        load.add(&key, &"a1".into());
        load.add(&other, &"a2".into());
        load.add(&other, &"a2".into());
        let mut slots = slots(&[
            ("o1", "a1", 4.0, 4096.0),
            ("o2", "a2", 4.0, 4096.0),
            ("o3", "a3", 4.0, 4096.0),
        ]);
        let executor = ExecutorSettings::new("/bin/e");
        let placed = place(
            &mut slots,
            &wants(&d, &key, 3),
            &executor,
            &load,
            &mut NoFilter,
        );
        // a3 runs nothing; a2 none of this service but two other tasks; then
        // a1 and a3 both run one task, of this service: the first offer wins.
        assert_eq!(agents(&slots, &placed), ["a3", "a2", "a1"]);
        assert_eq!(load.of_service(&key, &"a1".into()), 1, "input untouched");
    }

    #[test]
    fn an_instance_stacks_when_the_other_agents_are_full_and_is_left_out_when_nothing_fits() {
        let d = definition("web-a", 0.5, 64.0);
        let key = ServiceKey::new("coke", "web");
        let mut slots = slots(&[("o1", "a1", 1.2, 256.0), ("o2", "a2", 0.1, 4096.0)]);
        let executor = ExecutorSettings::new("/bin/e");
        let placed = place(
            &mut slots,
            &wants(&d, &key, 3),
            &executor,
            &Load::default(),
            &mut NoFilter,
        );
        assert_eq!(agents(&slots, &placed), ["a1", "a1"]);
        assert_eq!(
            placed.iter().map(|p| p.want.slot_key).collect::<Vec<_>>(),
            [0, 1]
        );
    }

    #[test]
    fn the_executors_resources_count_against_the_offer() {
        let d = definition("web-a", 0.4, 64.0);
        let key = ServiceKey::new("coke", "web");
        // Without executors two tasks fit (0.8 cpus); with 0.1 each only one.
        let mut slots = slots(&[("o1", "a1", 0.8, 1024.0)]);
        let executor = ExecutorSettings::new("/bin/e");
        let placed = place(
            &mut slots,
            &wants(&d, &key, 2),
            &executor,
            &Load::default(),
            &mut NoFilter,
        );
        assert_eq!(placed.len(), 1);
        let exec_cpus: f64 = placed[0]
            .resources
            .executor
            .iter()
            .filter(|r| r.name == "cpus")
            .map(|r| r.scalar.unwrap().value)
            .sum();
        assert_eq!(exec_cpus, 0.1);
        assert_eq!(slots[0].free().cpus, 0.3);
        let lean = ExecutorSettings {
            cpus: 0.0,
            mem: 0.0,
            ..executor
        };
        let mut again = super::tests::slots(&[("o1", "a1", 0.8, 1024.0)]);
        assert_eq!(
            place(
                &mut again,
                &wants(&d, &key, 2),
                &lean,
                &Load::default(),
                &mut NoFilter
            )
            .len(),
            2
        );
    }

    #[test]
    fn two_offers_of_one_agent_count_as_one_agent() {
        let d = definition("web-a", 0.1, 32.0);
        let key = ServiceKey::new("coke", "web");
        let mut slots = slots(&[
            ("o1", "a1", 4.0, 4096.0),
            ("o2", "a1", 4.0, 4096.0),
            ("o3", "a2", 4.0, 4096.0),
        ]);
        let executor = ExecutorSettings::new("/bin/e");
        let placed = place(
            &mut slots,
            &wants(&d, &key, 2),
            &executor,
            &Load::default(),
            &mut NoFilter,
        );
        assert_eq!(placed.iter().map(|p| p.slot).collect::<Vec<_>>(), [0, 2]);
    }

    #[test]
    fn the_same_input_gives_the_same_placement() {
        let d = definition("web-a", 0.3, 100.0);
        let key = ServiceKey::new("coke", "web");
        let offers = [
            ("o1", "a2", 1.0, 512.0),
            ("o2", "a1", 2.0, 300.0),
            ("o3", "a3", 0.5, 4096.0),
        ];
        let executor = ExecutorSettings::new("/bin/e");
        let run = || {
            let mut s = slots(&offers);
            place(
                &mut s,
                &wants(&d, &key, 6),
                &executor,
                &Load::default(),
                &mut NoFilter,
            )
            .into_iter()
            .map(|p| (p.want.slot_key, p.slot, p.resources))
            .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first.len(), 5);
        assert_eq!(first, run());
    }
}

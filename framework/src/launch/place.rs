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
    per_service: BTreeMap<(ServiceKey, AgentId), u32>,
    per_agent: BTreeMap<AgentId, u32>,
}

impl Load {
    /// Counts one task of `service` on `agent` (running, or launched and not
    /// yet terminal).
    pub fn add(&mut self, service: &ServiceKey, agent: &AgentId) {
        *self
            .per_service
            .entry((service.clone(), agent.clone()))
            .or_default() += 1;
        *self.per_agent.entry(agent.clone()).or_default() += 1;
    }

    /// Tasks of `service` on `agent`.
    pub fn of_service(&self, service: &ServiceKey, agent: &AgentId) -> u32 {
        self.per_service
            .get(&(service.clone(), agent.clone()))
            .copied()
            .unwrap_or(0)
    }

    /// Tasks of every service on `agent`.
    pub fn of_agent(&self, agent: &AgentId) -> u32 {
        self.per_agent.get(agent).copied().unwrap_or(0)
    }
}

/// Places `wants`, in order, on `slots` (taking their resources; each task
/// also takes its executor's, see [`Need`]). `load` is what already runs on
/// the agents. Returns the placed wants in `wants` order.
pub fn place<'a>(
    slots: &mut [OfferSlot],
    wants: &[Want<'a>],
    executor: &ExecutorSettings,
    load: &Load,
) -> Vec<Placement<'a>> {
    let mut load = load.clone();
    let mut placed = Vec::with_capacity(wants.len());
    for want in wants {
        let need = Need::new(&want.definition.resources, executor);
        let mut order: Vec<usize> = (0..slots.len()).collect();
        order.sort_by_cached_key(|&i| {
            let agent = &slots[i].agent_id;
            (
                load.of_service(want.service, agent),
                load.of_agent(agent),
                i,
            )
        });
        let Some((slot, resources)) = order
            .into_iter()
            .find_map(|i| slots[i].take(&need).map(|taken| (i, taken)))
        else {
            debug!(
                definition = %want.definition.task_id,
                service = %want.service,
                offers = slots.len(),
                "no offer fits"
            );
            continue;
        };
        load.add(want.service, &slots[slot].agent_id);
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
    fn one_services_instances_spread_over_agents_before_stacking() {
        let d = definition("web-a", 0.1, 32.0);
        let key = ServiceKey::new("coke", "web");
        let mut slots = slots(&[
            ("o1", "a1", 4.0, 4096.0),
            ("o2", "a2", 4.0, 4096.0),
            ("o3", "a3", 4.0, 4096.0),
        ]);
        let executor = ExecutorSettings::new("/bin/e");
        let placed = place(&mut slots, &wants(&d, &key, 4), &executor, &Load::default());
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
        let placed = place(&mut slots, &wants(&d, &key, 3), &executor, &load);
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
        let placed = place(&mut slots, &wants(&d, &key, 3), &executor, &Load::default());
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
        let placed = place(&mut slots, &wants(&d, &key, 2), &executor, &Load::default());
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
            place(&mut again, &wants(&d, &key, 2), &lean, &Load::default()).len(),
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
        let placed = place(&mut slots, &wants(&d, &key, 2), &executor, &Load::default());
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
            place(&mut s, &wants(&d, &key, 6), &executor, &Load::default())
                .into_iter()
                .map(|p| (p.want.slot_key, p.slot, p.resources))
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first.len(), 5);
        assert_eq!(first, run());
    }
}

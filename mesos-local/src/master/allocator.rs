//! Offer allocation, after Mesos' hierarchical DRF allocator: each
//! connected agent's unused resources go to one framework at a time (the
//! lowest dominant share of cpus and mem first), per role, skipping
//! suppressed roles and declined (filtered) resources. Allocation runs
//! every `allocation_interval` and right after anything frees resources
//! or adds a consumer (then only for the agents whose unused resources
//! changed, or all of them for a new or revived framework); offers of one
//! pass go out in one OFFERS event per framework. Offers may expire (`offer_timeout`) and are then rescinded.

use std::collections::HashMap;
use std::sync::Arc;

use mesos_proto::v1::{self, resource, Address, Offer, Url};
use rand::seq::SliceRandom;
use tokio::time::Instant;
use tracing::{debug, info};

use super::events;
use super::state::{MasterState, OfferRecord};
use super::Master;
use crate::resources::Resources;

/// A framework that may receive offers in this pass.
struct Candidate {
    id: String,
    roles: Vec<String>,
    share: f64,
}

impl MasterState {
    /// The connected frameworks with at least one unsuppressed role,
    /// lowest dominant share first.
    fn candidates(&self, (total_cpus, total_mem): (f64, f64)) -> Vec<Candidate> {
        let mut list: Vec<Candidate> = self
            .frameworks
            .values()
            .filter(|f| f.is_connected())
            .map(|f| Candidate {
                id: f.id.value.clone(),
                roles: f
                    .roles()
                    .into_iter()
                    .filter(|r| !f.suppressed_roles.contains(r))
                    .collect(),
                share: dominant_share(&f.allocated, total_cpus, total_mem),
            })
            .filter(|c| !c.roles.is_empty())
            .collect();
        list.sort_by(|a, b| a.share.total_cmp(&b.share).then_with(|| a.id.cmp(&b.id)));
        list
    }

    /// One allocation pass; returns the new offers per framework.
    pub(crate) fn allocate(&mut self, now: Instant) -> HashMap<String, Vec<Offer>> {
        let mut made: HashMap<String, Vec<Offer>> = HashMap::new();
        if !self.dirty_all && self.dirty_agents.is_empty() {
            return made;
        }
        let (total_cpus, total_mem) = self.cluster_totals();
        let mut candidates = self.candidates((total_cpus, total_mem));
        if candidates.is_empty() {
            self.dirty_all = false;
            self.dirty_agents.clear();
            return made;
        }
        let mut agent_ids: Vec<String> = if self.dirty_all {
            self.agents
                .values()
                .filter(|a| a.is_connected())
                .map(|a| a.id.value.clone())
                .collect()
        } else {
            self.dirty_agents
                .iter()
                .filter(|id| self.agents.get(*id).is_some_and(|a| a.is_connected()))
                .cloned()
                .collect()
        };
        self.dirty_all = false;
        self.dirty_agents.clear();
        agent_ids.shuffle(&mut rand::rng());
        for agent_id in agent_ids {
            let mut available = match self.agents.get(&agent_id) {
                Some(agent) => agent.available(),
                None => continue,
            };
            if !available.is_allocatable() {
                continue;
            }
            for candidate in candidates.iter_mut() {
                for role in candidate.roles.clone() {
                    let offerable = available.allocatable_to(std::slice::from_ref(&role));
                    if !offerable.is_allocatable() {
                        continue;
                    }
                    let filtered = self
                        .frameworks
                        .get_mut(&candidate.id)
                        .is_none_or(|f| f.is_filtered(&agent_id, &offerable, now));
                    if filtered {
                        continue;
                    }
                    let offer = self.make_offer(&candidate.id, &agent_id, &role, offerable.clone());
                    available.subtract(&offerable);
                    if let Some(f) = self.frameworks.get(&candidate.id) {
                        candidate.share = dominant_share(&f.allocated, total_cpus, total_mem);
                    }
                    made.entry(candidate.id.clone()).or_default().push(offer);
                }
                if !available.is_allocatable() {
                    break;
                }
            }
            candidates.sort_by(|a, b| a.share.total_cmp(&b.share).then_with(|| a.id.cmp(&b.id)));
        }
        made
    }

    /// Records an offer of `resources` on an agent to a framework.
    fn make_offer(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        role: &str,
        resources: Resources,
    ) -> Offer {
        let id = self.ids.offer();
        let agent = self
            .agents
            .get_mut(agent_id)
            .expect("agent chosen from the agent map");
        let (ip, port) = split_endpoint(&agent.endpoint);
        let offer = Offer {
            id: id.as_str().into(),
            framework_id: framework_id.into(),
            agent_id: agent.id.clone(),
            hostname: agent.info.hostname.clone(),
            url: Some(Url {
                scheme: "http".into(),
                address: Address {
                    hostname: Some(agent.info.hostname.clone()),
                    ip: Some(ip),
                    port,
                },
                path: Some("/slave(1)".into()),
                ..Default::default()
            }),
            resources: resources.to_protos(Some(role)),
            attributes: agent.info.attributes.clone(),
            executor_ids: agent
                .executors
                .get(framework_id)
                .map(|e| e.keys().map(|k| v1::ExecutorId::from(k.as_str())).collect())
                .unwrap_or_default(),
            allocation_info: Some(resource::AllocationInfo {
                role: Some(role.to_string()),
            }),
            ..Default::default()
        };
        agent.offered.add(&resources);
        agent.offers.insert(id.clone());
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework.offers.insert(id.clone());
            framework.allocated.add(&resources);
        }
        self.offers.insert(
            id,
            OfferRecord {
                offer: offer.clone(),
                framework: framework_id.to_string(),
                agent: agent_id.to_string(),
                resources,
            },
        );
        offer
    }
}

/// Dominant share of cpus and mem.
fn dominant_share(allocated: &Resources, total_cpus: f64, total_mem: f64) -> f64 {
    let cpus = if total_cpus > 0.0 {
        allocated.cpus().unwrap_or(0.0) / total_cpus
    } else {
        0.0
    };
    let mem = if total_mem > 0.0 {
        allocated.mem().unwrap_or(0.0) / total_mem
    } else {
        0.0
    };
    cpus.max(mem)
}

/// `("10.0.0.1", 5051)` from `"10.0.0.1:5051"`.
fn split_endpoint(endpoint: &str) -> (String, i32) {
    match endpoint.rsplit_once(':') {
        Some((ip, port)) => (ip.to_string(), port.parse().unwrap_or(5051)),
        None => (endpoint.to_string(), 5051),
    }
}

impl Master {
    /// Runs one allocation pass and sends the offers.
    pub(crate) fn allocate_once(self: &Arc<Self>, all_agents: bool) {
        let mut state = self.lock();
        if all_agents {
            state.mark_all_dirty();
        }
        let made = state.allocate(Instant::now());
        for (framework_id, offers) in made {
            let ids: Vec<String> = offers.iter().map(|o| o.id.value.clone()).collect();
            debug!(framework = %framework_id, offers = ids.len(), "sending offers");
            if let Some(framework) = state.frameworks.get(&framework_id) {
                framework.send(events::offers(offers));
            }
            if let Some(timeout) = self.config.offer_timeout {
                let master = Arc::clone(self);
                tokio::spawn(async move {
                    tokio::time::sleep(timeout).await;
                    let mut state = master.lock();
                    let mut rescinded = false;
                    for id in ids {
                        if state.remove_offer(&id, true).is_some() {
                            info!(offer = %id, "offer timed out; rescinded");
                            rescinded = true;
                        }
                    }
                    drop(state);
                    if rescinded {
                        master.trigger_allocation();
                    }
                });
            }
        }
    }

    /// The allocation loop: a pass per interval and per trigger.
    pub(crate) async fn run_allocator(self: Arc<Self>) {
        let mut interval = tokio::time::interval(self.config.allocation_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Triggered passes consider the agents whose resources changed;
            // each interval considers all (expired filters, ...).
            let all_agents = tokio::select! {
                () = self.cancel.cancelled() => return,
                () = self.allocate_now.notified() => false,
                _ = interval.tick() => true,
            };
            self.allocate_once(all_agents);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominant_share_takes_the_larger_fraction() {
        let used = Resources::parse("cpus:1;mem:512").expect("valid");
        assert_eq!(dominant_share(&used, 4.0, 1024.0), 0.5);
        assert_eq!(dominant_share(&Resources::new(), 0.0, 0.0), 0.0);
    }

    #[test]
    fn endpoints_split_into_ip_and_port() {
        assert_eq!(split_endpoint("10.0.0.1:5051"), ("10.0.0.1".into(), 5051));
    }
}

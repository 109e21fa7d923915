//! What one offer has free for this framework ([`OfferSlot`]: its agent,
//! chassis and usable resources) and taking a launch's resources, the
//! task's and its executor's ([`Need`]), out of it ([`OfferSlot::take`]).
//! Which resources are usable and how they are taken is `pieces.rs`.

use mesos_proto::v1::{value, AgentId, Offer, OfferId, Resource};

use super::pieces::{self, Piece};
use super::ExecutorSettings;
use crate::tasks::Resources;

/// The agent attribute naming the agent's OVS chassis when not configured.
pub const DEFAULT_CHASSIS_ATTRIBUTE: &str = "ovn-chassis";

/// What one launch takes from an offer: the task's resources and those of
/// its executor (one executor per task).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Need {
    pub task: Resources,
    pub executor: Resources,
}

impl Need {
    /// A task's `resources` plus its executor's ([`ExecutorSettings::resources`]).
    pub fn new(task: &Resources, executor: &ExecutorSettings) -> Need {
        Need {
            task: *task,
            executor: executor.resources(),
        }
    }
}

/// The offered resources taken for one launch, each as offered but for its
/// quantity: `task` goes in `TaskInfo.resources`, `executor` in
/// `ExecutorInfo.resources`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LaunchResources {
    pub task: Vec<Resource>,
    pub executor: Vec<Resource>,
}

#[cfg(test)]
impl LaunchResources {
    /// The host ports given to the task, ascending.
    pub fn host_ports(&self) -> Vec<u64> {
        let mut ports: Vec<u64> = self
            .task
            .iter()
            .filter(|r| r.name == pieces::PORTS)
            .flat_map(|r| r.ranges.iter().flat_map(|x| x.range.iter()))
            .flat_map(|r| r.begin..=r.end)
            .collect();
        ports.sort_unstable();
        ports
    }
}

/// What is free in one offer for this framework (its role's and `*`
/// resources).
#[derive(Debug, Clone, PartialEq)]
pub struct OfferSlot {
    pub offer_id: OfferId,
    pub agent_id: AgentId,
    pub hostname: String,
    /// The agent's OVS chassis (see [`chassis`]).
    pub chassis: String,
    /// Usable offered resources with what is left of each, reserved first.
    pieces: Vec<Piece>,
}

impl OfferSlot {
    /// Reads `offer` for `role`; the chassis is the text or scalar value of
    /// agent attribute `chassis_attribute`, else the offer's hostname.
    pub fn new(offer: &Offer, role: &str, chassis_attribute: &str) -> OfferSlot {
        OfferSlot {
            offer_id: offer.id.clone(),
            agent_id: offer.agent_id.clone(),
            hostname: offer.hostname.clone(),
            chassis: chassis(offer, chassis_attribute),
            pieces: pieces::usable(offer, role),
        }
    }

    /// Takes a task's and its executor's resources; `None`, with nothing
    /// taken, when they do not both fit.
    pub fn take(&mut self, need: &Need) -> Option<LaunchResources> {
        let mut pieces = self.pieces.clone();
        let task = pieces::take_from(&mut pieces, &need.task)?;
        let executor = pieces::take_from(&mut pieces, &need.executor)?;
        self.pieces = pieces;
        Some(LaunchResources { task, executor })
    }

    /// Whether `need` fits in what is left.
    #[cfg(test)]
    pub fn fits(&self, need: &Need) -> bool {
        self.clone().take(need).is_some()
    }

    /// Whether nothing is left for another launch of `need`.
    #[cfg(test)]
    pub fn is_empty_for(&self, need: &Need) -> bool {
        !self.fits(need)
    }

    /// What is left, summed over roles.
    #[cfg(test)]
    pub fn free(&self) -> Resources {
        pieces::free(&self.pieces)
    }
}

/// The agent's chassis: the value of attribute `attribute` (TEXT, or SCALAR
/// written as a number) when present and not empty, else `offer.hostname`.
pub fn chassis(offer: &Offer, attribute: &str) -> String {
    offer
        .attributes
        .iter()
        .filter(|a| a.name == attribute)
        .find_map(|a| match value::Type::try_from(a.r#type) {
            Ok(value::Type::Text) => a.text.as_ref().map(|t| t.value.trim().to_owned()),
            Ok(value::Type::Scalar) => a.scalar.as_ref().map(|s| format!("{}", s.value)),
            _ => None,
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| offer.hostname.clone())
}

#[cfg(test)]
mod tests {
    use mesos_proto::v1::resource::AllocationInfo;
    use mesos_proto::v1::Attribute;

    use super::super::fixtures::{ports, reserved, scalar};
    use super::*;

    fn offer(resources: Vec<Resource>) -> Offer {
        Offer {
            id: "o1".into(),
            agent_id: "a1".into(),
            hostname: "host1".into(),
            resources,
            ..Default::default()
        }
    }

    fn need(cpus: f64, mem: f64, ports: u32) -> Need {
        Need {
            task: Resources {
                cpus,
                mem,
                disk: 0.0,
                ports,
            },
            executor: Resources {
                cpus: 0.1,
                mem: 32.0,
                disk: 0.0,
                ports: 0,
            },
        }
    }

    fn sum(list: &[Resource], name: &str) -> f64 {
        list.iter()
            .filter(|r| r.name == name)
            .map(|r| r.scalar.unwrap().value)
            .sum()
    }

    #[test]
    fn a_task_and_its_executor_are_taken_together_when_both_fit() {
        let mut slot = OfferSlot::new(
            &offer(vec![scalar("cpus", 1.0), scalar("mem", 128.0)]),
            "ovn-mesos",
            DEFAULT_CHASSIS_ATTRIBUTE,
        );
        assert_eq!(
            (slot.offer_id.as_str(), slot.agent_id.as_str()),
            ("o1", "a1")
        );
        let taken = slot.take(&need(0.5, 64.0, 0)).expect("fits");
        assert_eq!(sum(&taken.task, "cpus"), 0.5);
        assert_eq!(sum(&taken.task, "mem"), 64.0);
        assert_eq!(sum(&taken.executor, "cpus"), 0.1);
        assert_eq!(sum(&taken.executor, "mem"), 32.0);
        assert_eq!(slot.free().cpus, 0.4);
        assert_eq!(slot.free().mem, 32.0);
    }

    #[test]
    fn a_need_that_fits_only_without_its_executor_takes_nothing() {
        let mut slot = OfferSlot::new(
            &offer(vec![scalar("cpus", 1.0), scalar("mem", 64.0)]),
            "r",
            DEFAULT_CHASSIS_ATTRIBUTE,
        );
        let before = slot.clone();
        assert!(slot.is_empty_for(&need(0.5, 64.0, 0)));
        assert_eq!(slot.take(&need(0.5, 64.0, 0)), None);
        assert_eq!(slot, before);
        assert!(slot.fits(&need(0.5, 32.0, 0)));
    }

    #[test]
    fn the_task_gets_the_host_ports_and_the_executor_none() {
        let mut slot = OfferSlot::new(
            &offer(vec![
                scalar("cpus", 4.0),
                scalar("mem", 1024.0),
                ports(&[(31005, 31006), (31000, 31002)]),
            ]),
            "r",
            DEFAULT_CHASSIS_ATTRIBUTE,
        );
        let taken = slot.take(&need(0.1, 1.0, 4)).expect("fits");
        assert_eq!(taken.host_ports(), [31000, 31001, 31002, 31005]);
        assert!(taken.executor.iter().all(|r| r.name != pieces::PORTS));
        assert_eq!(slot.free().ports, 1);
    }

    #[test]
    fn reserved_resources_are_used_first_and_echoed_exactly_as_offered() {
        let mut legacy = scalar("mem", 1024.0);
        legacy.role = Some("*".into());
        legacy.allocation_info = Some(AllocationInfo {
            role: Some("web".into()),
        });
        let cpus = reserved(scalar("cpus", 0.3), "web", "web");
        let mut slot = OfferSlot::new(
            &offer(vec![scalar("cpus", 2.0), legacy.clone(), cpus.clone()]),
            "web",
            DEFAULT_CHASSIS_ATTRIBUTE,
        );
        let taken = slot.take(&need(0.5, 64.0, 0)).expect("fits");
        let task_cpus: Vec<_> = taken.task.iter().filter(|r| r.name == "cpus").collect();
        assert_eq!(task_cpus.len(), 2, "{task_cpus:?}");
        let mut expected = cpus.clone();
        expected.scalar = Some(value::Scalar { value: 0.3 });
        assert_eq!(*task_cpus[0], expected);
        assert_eq!(task_cpus[1].scalar.unwrap().value, 0.2);
        assert!(task_cpus[1].reservations.is_empty());
        let mut expected_mem = legacy;
        expected_mem.scalar = Some(value::Scalar { value: 64.0 });
        assert_eq!(taken.task[2], expected_mem);
    }

    #[test]
    fn the_chassis_is_the_attribute_text_or_scalar_else_the_hostname() {
        let text = Attribute {
            name: "ovn-chassis".into(),
            r#type: value::Type::Text as i32,
            text: Some(value::Text {
                value: "chassis-7".into(),
            }),
            ..Default::default()
        };
        let number = Attribute {
            name: "rack".into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: 3.0 }),
            ..Default::default()
        };
        let empty = Attribute {
            name: "blank".into(),
            r#type: value::Type::Text as i32,
            text: Some(value::Text { value: " ".into() }),
            ..Default::default()
        };
        let mut o = offer(vec![]);
        o.attributes = vec![text, number, empty];
        assert_eq!(chassis(&o, DEFAULT_CHASSIS_ATTRIBUTE), "chassis-7");
        assert_eq!(chassis(&o, "rack"), "3");
        assert_eq!(chassis(&o, "blank"), "host1");
        assert_eq!(chassis(&o, "missing"), "host1");
        assert_eq!(OfferSlot::new(&o, "r", "rack").chassis, "3");
    }
}

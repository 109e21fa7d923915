//! The gauges computed from a [`Snapshot`] when `/metrics` is scraped: the
//! connection to the master, tasks by state, services, and the backends and
//! wanted instances of each service.

use std::collections::BTreeMap;

use super::metrics::TASK_STATES;
use super::snapshot::Snapshot;
use super::text::{Family, Text};

const CONNECTED: Family = Family::gauge("connected", "1 when subscribed to the Mesos master.");
const TASKS: Family = Family::gauge("tasks", "Known tasks by last state.");
const SERVICES: Family = Family::gauge("services", "Services declared by the task definitions.");
const BACKENDS: Family = Family::gauge("service_backends", "Running backends behind the VIPs.");
const INSTANCES: Family = Family::gauge("service_instances", "Instances a service asks for.");

/// Appends the gauges of `snapshot`. Every known task state is listed, at
/// zero if no task is in it; a service listed twice is summed, never repeated.
pub(super) fn render_gauges(text: &mut Text, snapshot: &Snapshot) {
    text.family(&CONNECTED);
    text.sample(CONNECTED.name, &[], u8::from(snapshot.connected));

    let mut by_state: BTreeMap<&str, u64> =
        TASK_STATES.iter().map(|s| (s.as_str_name(), 0)).collect();
    for task in &snapshot.tasks {
        *by_state.entry(task.state.as_str()).or_default() += 1;
    }
    text.family(&TASKS);
    for (state, count) in by_state {
        text.sample(TASKS.name, &[("state", state)], count);
    }

    text.family(&SERVICES);
    text.sample(SERVICES.name, &[], snapshot.services.len());

    let mut services: BTreeMap<(&str, &str), (usize, u32)> = BTreeMap::new();
    for service in &snapshot.services {
        let key = (service.tenant.as_str(), service.name.as_str());
        let (backends, instances) = services.entry(key).or_default();
        *backends += service.backends.len();
        *instances += service.instances;
    }
    text.family(&BACKENDS);
    for ((tenant, service), (backends, _)) in &services {
        let labels = [("tenant", *tenant), ("service", *service)];
        text.sample(BACKENDS.name, &labels, backends);
    }
    text.family(&INSTANCES);
    for ((tenant, service), (_, instances)) in &services {
        let labels = [("tenant", *tenant), ("service", *service)];
        text.sample(INSTANCES.name, &labels, instances);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::snapshot::tests::{service, task};
    use crate::api::text::tests::{parse, value};

    fn rendered(snapshot: &Snapshot) -> String {
        let mut text = Text::default();
        render_gauges(&mut text, snapshot);
        text.out
    }

    #[test]
    fn gauges_count_the_snapshot() {
        let mut other = service("pepsi", "db\"x", &[]);
        other.instances = 1;
        let snapshot = Snapshot {
            connected: false,
            services: vec![
                service("coke", "web", &["10.1.0.5:80", "10.1.0.6:80"]),
                other,
            ],
            tasks: vec![
                task("a", "web", "TASK_RUNNING"),
                task("b", "web", "TASK_RUNNING"),
                task("c", "db", "TASK_STAGING"),
                task("d", "db", "TASK_SOMETHING_NEW"),
            ],
            ..Snapshot::default()
        };
        let samples = parse(&rendered(&snapshot));
        assert_eq!(value(&samples, "ovn_mesos_connected", &[]), 0.0);
        assert_eq!(value(&samples, "ovn_mesos_services", &[]), 2.0);
        let tasks = |state| value(&samples, "ovn_mesos_tasks", &[("state", state)]);
        assert_eq!(tasks("TASK_RUNNING"), 2.0);
        assert_eq!(tasks("TASK_STAGING"), 1.0);
        assert_eq!(tasks("TASK_SOMETHING_NEW"), 1.0);
        assert_eq!(tasks("TASK_FAILED"), 0.0, "known states are listed at zero");
        let web = [("tenant", "coke"), ("service", "web")];
        let db = [("tenant", "pepsi"), ("service", "db\"x")];
        assert_eq!(value(&samples, "ovn_mesos_service_backends", &web), 2.0);
        assert_eq!(value(&samples, "ovn_mesos_service_backends", &db), 0.0);
        assert_eq!(value(&samples, "ovn_mesos_service_instances", &web), 2.0);
        assert_eq!(value(&samples, "ovn_mesos_service_instances", &db), 1.0);
    }

    #[test]
    fn connected_is_one_when_subscribed() {
        let snapshot = Snapshot {
            connected: true,
            ..Snapshot::default()
        };
        let samples = parse(&rendered(&snapshot));
        assert_eq!(value(&samples, "ovn_mesos_connected", &[]), 1.0);
    }

    #[test]
    fn a_service_listed_twice_is_one_series() {
        let snapshot = Snapshot {
            services: vec![
                service("coke", "web", &["10.1.0.5:80"]),
                service("coke", "web", &["10.1.0.6:80"]),
            ],
            ..Snapshot::default()
        };
        let samples = parse(&rendered(&snapshot));
        let web: Vec<_> = samples
            .iter()
            .filter(|s| s.name == "ovn_mesos_service_backends")
            .collect();
        assert_eq!(web.len(), 1);
        assert_eq!(web[0].value, 2.0);
    }
}

//! The framework's Prometheus metrics (what `curl http://host:port/metrics`
//! shows): counters the scheduler bumps as it works (offers, launches, status
//! updates by state, health reports and kills for health, VIP updates, OVSDB transactions, subscriptions), the
//! launch latency histogram, and gauges read from the current [`Snapshot`],
//! rendered in the Prometheus text exposition format 0.0.4. Every metric is
//! an atomic, so [`Metrics`] is shared as an `Arc` without locks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesos_proto::v1::TaskState;

use super::gauges::render_gauges;
use super::histogram::Histogram;
use super::snapshot::Snapshot;
use super::text::{Family, Text};

/// Every Mesos task state, in the order the metrics list them.
pub(super) const TASK_STATES: [TaskState; 14] = [
    TaskState::TaskStaging,
    TaskState::TaskStarting,
    TaskState::TaskRunning,
    TaskState::TaskKilling,
    TaskState::TaskFinished,
    TaskState::TaskFailed,
    TaskState::TaskKilled,
    TaskState::TaskError,
    TaskState::TaskLost,
    TaskState::TaskDropped,
    TaskState::TaskUnreachable,
    TaskState::TaskGone,
    TaskState::TaskGoneByOperator,
    TaskState::TaskUnknown,
];

/// The plain counters, in the order of [`Metrics::counters`].
const COUNTERS: [Family; 11] = [
    Family::counter("offers_received_total", "Offers received from the master."),
    Family::counter("offers_declined_total", "Offers declined."),
    Family::counter("tasks_launched_total", "Tasks sent in LAUNCH operations."),
    Family::counter("launch_failures_total", "Task launches that failed."),
    Family::counter("vip_updates_total", "Load balancer backend changes."),
    Family::counter("ovsdb_transactions_total", "OVSDB transactions sent."),
    Family::counter("ovsdb_errors_total", "OVSDB transactions that failed."),
    Family::counter("subscriptions_total", "Subscriptions to the Mesos master."),
    Family::counter(
        "health_reports_healthy_total",
        "Health check reports (TASK_RUNNING with healthy) saying healthy: a first success or a recovery.",
    ),
    Family::counter(
        "health_reports_unhealthy_total",
        "Health check reports saying unhealthy: each failed check outside the grace period.",
    ),
    Family::counter(
        "tasks_killed_unhealthy_total",
        "Tasks their executor killed after too many failed health checks.",
    ),
];
const TASK_UPDATES: Family = Family::counter("task_updates_total", "Task status updates by state.");
const LAUNCH_LATENCY: Family = Family::histogram(
    "launch_latency_seconds",
    "Time from taking up an offer to its ACCEPT answered: IPAM, the port transaction, the ACCEPT.",
);
const OFFER_LATENCY: Family = Family::histogram(
    "offer_latency_seconds",
    "Time from receiving an offer to its ACCEPT answered, including the wait behind the other offers of its OFFERS event.",
);

/// The framework's counters and histogram; gauges come from a [`Snapshot`]
/// at render time.
#[derive(Debug, Default)]
pub struct Metrics {
    offers_received: AtomicU64,
    offers_declined: AtomicU64,
    tasks_launched: AtomicU64,
    launch_failures: AtomicU64,
    vip_updates: AtomicU64,
    ovsdb_transactions: AtomicU64,
    ovsdb_errors: AtomicU64,
    subscriptions: AtomicU64,
    health_healthy: AtomicU64,
    health_unhealthy: AtomicU64,
    killed_unhealthy: AtomicU64,
    /// Indexed like [`TASK_STATES`].
    status_updates: [AtomicU64; TASK_STATES.len()],
    launch_latency: Histogram,
    offer_latency: Histogram,
    /// The gauges of the snapshot [`Metrics::render_current`] last rendered.
    gauges: Mutex<Option<(Arc<Snapshot>, String)>>,
}

impl Metrics {
    /// Counts `n` offers received in an OFFERS event.
    pub fn offer_received(&self, n: u64) {
        self.offers_received.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` offers declined (DECLINE call).
    pub fn offer_declined(&self, n: u64) {
        self.offers_declined.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` tasks sent in a LAUNCH operation of an ACCEPT call.
    pub fn task_launched(&self, n: u64) {
        self.tasks_launched.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` launches that failed before or at the ACCEPT call.
    pub fn launch_failed(&self, n: u64) {
        self.launch_failures.fetch_add(n, Ordering::Relaxed);
    }

    /// Records, for an accepted offer, the time from taking it up (the
    /// IPAM of its tasks' ports) to the master's answer to its ACCEPT.
    pub fn launch_latency(&self, d: Duration) {
        self.launch_latency.observe(d);
    }

    /// Records, for an accepted offer, the time from receiving it to the
    /// master's answer to its ACCEPT.
    pub fn offer_latency(&self, d: Duration) {
        self.offer_latency.observe(d);
    }

    /// Counts one UPDATE event carrying a task status in `state`, with
    /// `healthy` set by a health check: a report while running, a kill for
    /// health when terminal.
    pub fn status_update(&self, state: TaskState, healthy: Option<bool>) {
        if let Some(i) = TASK_STATES.iter().position(|s| *s == state) {
            self.status_updates[i].fetch_add(1, Ordering::Relaxed);
        }
        let counter = match (state, healthy) {
            (TaskState::TaskRunning, Some(true)) => &self.health_healthy,
            (TaskState::TaskRunning, Some(false)) => &self.health_unhealthy,
            (TaskState::TaskKilled, Some(false)) => &self.killed_unhealthy,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one change of a service's load balancer (`ovn-nbctl lb-add`).
    pub fn vip_update(&self) {
        self.vip_updates.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one OVSDB transaction sent to the northbound database.
    pub fn ovsdb_transaction(&self) {
        self.ovsdb_transactions.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one OVSDB transaction that failed.
    pub fn ovsdb_error(&self) {
        self.ovsdb_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one (re)subscription to the Mesos master.
    pub fn subscribed(&self) {
        self.subscriptions.fetch_add(1, Ordering::Relaxed);
    }

    /// The metrics in the Prometheus text format 0.0.4: the counters, the
    /// launch latency histogram, and gauges computed from `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut text = self.render_counters();
        render_gauges(&mut text, snapshot);
        text.out
    }

    /// [`Metrics::render`] of the API's current snapshot: its gauges (a
    /// pass over every task) are computed once per snapshot, however often
    /// it is scraped.
    pub fn render_current(&self, snapshot: &Arc<Snapshot>) -> String {
        let mut text = self.render_counters();
        let mut cached = self.gauges.lock().expect("gauges lock");
        match &*cached {
            Some((seen, gauges)) if Arc::ptr_eq(seen, snapshot) => text.out.push_str(gauges),
            _ => {
                let mut gauges = Text::default();
                render_gauges(&mut gauges, snapshot);
                text.out.push_str(&gauges.out);
                *cached = Some((snapshot.clone(), gauges.out));
            }
        }
        text.out
    }

    /// The counters and histograms.
    fn render_counters(&self) -> Text {
        let mut text = Text::default();
        for (family, counter) in COUNTERS.iter().zip(self.counters()) {
            text.family(family);
            text.sample(family.name, &[], counter.load(Ordering::Relaxed));
        }
        text.family(&TASK_UPDATES);
        for (state, count) in TASK_STATES.iter().zip(&self.status_updates) {
            let labels = [("state", state.as_str_name())];
            text.sample(TASK_UPDATES.name, &labels, count.load(Ordering::Relaxed));
        }
        self.launch_latency.render(&mut text, &LAUNCH_LATENCY);
        self.offer_latency.render(&mut text, &OFFER_LATENCY);
        text
    }

    /// The plain counters, in the order of [`COUNTERS`].
    fn counters(&self) -> [&AtomicU64; COUNTERS.len()] {
        [
            &self.offers_received,
            &self.offers_declined,
            &self.tasks_launched,
            &self.launch_failures,
            &self.vip_updates,
            &self.ovsdb_transactions,
            &self.ovsdb_errors,
            &self.subscriptions,
            &self.health_healthy,
            &self.health_unhealthy,
            &self.killed_unhealthy,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::snapshot::tests::{service, task};
    use crate::api::text::tests::{parse, value};

    #[test]
    fn the_current_snapshot_renders_like_render_with_fresh_counters_and_new_gauges() {
        let metrics = Metrics::default();
        let one = Arc::new(Snapshot {
            tasks: vec![task("a", "web", "TASK_RUNNING")],
            ..Snapshot::default()
        });
        assert_eq!(metrics.render_current(&one), metrics.render(&one));
        metrics.offer_received(4);
        let again = metrics.render_current(&one);
        assert_eq!(again, metrics.render(&one), "counters are never cached");
        let samples = parse(&again);
        assert_eq!(value(&samples, "ovn_mesos_offers_received_total", &[]), 4.0);
        // A new snapshot, then the old one again: the gauges follow.
        let two = Arc::new(Snapshot {
            tasks: vec![
                task("a", "web", "TASK_RUNNING"),
                task("b", "web", "TASK_RUNNING"),
            ],
            ..Snapshot::default()
        });
        let samples = parse(&metrics.render_current(&two));
        let running = [("state", "TASK_RUNNING")];
        assert_eq!(value(&samples, "ovn_mesos_tasks", &running), 2.0);
        assert_eq!(metrics.render_current(&two), metrics.render(&two));
        assert_eq!(metrics.render_current(&one), metrics.render(&one));
    }

    #[test]
    fn every_line_of_a_busy_rendering_parses_and_counts() {
        let metrics = Metrics::default();
        metrics.offer_received(5);
        metrics.offer_declined(2);
        metrics.task_launched(3);
        metrics.launch_failed(1);
        metrics.launch_latency(Duration::from_millis(7));
        metrics.offer_latency(Duration::from_millis(70));
        metrics.vip_update();
        metrics.ovsdb_transaction();
        metrics.ovsdb_transaction();
        metrics.ovsdb_transaction();
        metrics.ovsdb_error();
        metrics.subscribed();
        metrics.subscribed();
        let snapshot = Snapshot {
            connected: true,
            services: vec![service("coke", "web", &["10.1.0.5:80"])],
            tasks: vec![task("a", "web", "TASK_RUNNING")],
            ..Snapshot::default()
        };
        let samples = parse(&metrics.render(&snapshot));
        let counter = |name: &str| value(&samples, &format!("ovn_mesos_{name}_total"), &[]);
        assert_eq!(counter("offers_received"), 5.0);
        assert_eq!(counter("offers_declined"), 2.0);
        assert_eq!(counter("tasks_launched"), 3.0);
        assert_eq!(counter("launch_failures"), 1.0);
        assert_eq!(counter("vip_updates"), 1.0);
        assert_eq!(counter("ovsdb_transactions"), 3.0);
        assert_eq!(counter("ovsdb_errors"), 1.0);
        assert_eq!(counter("subscriptions"), 2.0);
        let le = [("le", "0.01")];
        let latency = value(&samples, "ovn_mesos_launch_latency_seconds_bucket", &le);
        assert_eq!(latency, 1.0);
        let waited = value(&samples, "ovn_mesos_offer_latency_seconds_bucket", &le);
        assert_eq!(waited, 0.0);
        let le = [("le", "0.1")];
        let waited = value(&samples, "ovn_mesos_offer_latency_seconds_bucket", &le);
        assert_eq!(waited, 1.0);
        assert_eq!(value(&samples, "ovn_mesos_connected", &[]), 1.0);
        let web = [("tenant", "coke"), ("service", "web")];
        assert_eq!(value(&samples, "ovn_mesos_service_backends", &web), 1.0);
    }

    #[test]
    fn status_updates_are_counted_by_state_label() {
        let metrics = Metrics::default();
        metrics.status_update(TaskState::TaskRunning, None);
        metrics.status_update(TaskState::TaskRunning, Some(true));
        metrics.status_update(TaskState::TaskGoneByOperator, None);
        metrics.status_update(TaskState::TaskRunning, Some(false));
        metrics.status_update(TaskState::TaskRunning, Some(false));
        metrics.status_update(TaskState::TaskKilled, Some(false));
        metrics.status_update(TaskState::TaskKilled, None);
        let samples = parse(&metrics.render(&Snapshot::default()));
        let health = |name: &str| value(&samples, name, &[]);
        assert_eq!(health("ovn_mesos_health_reports_healthy_total"), 1.0);
        assert_eq!(health("ovn_mesos_health_reports_unhealthy_total"), 2.0);
        assert_eq!(health("ovn_mesos_tasks_killed_unhealthy_total"), 1.0);
        let name = "ovn_mesos_task_updates_total";
        assert_eq!(value(&samples, name, &[("state", "TASK_RUNNING")]), 4.0);
        assert_eq!(
            value(&samples, name, &[("state", "TASK_GONE_BY_OPERATOR")]),
            1.0
        );
        assert_eq!(value(&samples, name, &[("state", "TASK_FAILED")]), 0.0);
        let listed = samples.iter().filter(|s| s.name == name).count();
        assert_eq!(
            listed,
            TASK_STATES.len(),
            "every state is listed, even at zero"
        );
    }

    #[test]
    fn the_state_table_names_every_state_once() {
        let names: std::collections::BTreeSet<&str> =
            TASK_STATES.iter().map(|s| s.as_str_name()).collect();
        assert_eq!(names.len(), TASK_STATES.len());
        for value in 0..=13 {
            let state = TaskState::try_from(value).expect("Mesos defines states 0..=13");
            assert!(TASK_STATES.contains(&state), "{state:?} is in the table");
        }
    }

    #[test]
    fn the_rendering_ends_with_a_newline_and_has_no_blank_lines() {
        let text = Metrics::default().render(&Snapshot::default());
        assert!(text.ends_with('\n'));
        assert!(text.lines().all(|line| !line.trim().is_empty()));
    }
}

//! Unit tests of the task book: instance accounting, backoff, surplus and
//! backends.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use mesos_proto::v1::{AgentId, TaskId, TaskState, TaskStatus};
use ovn::services::ServiceKey;

use super::*;
use crate::launch::fixtures::Coke1;
use crate::state::DeploymentRecord;
use crate::tasks::{parse_task_file, Services, TemplateId};

fn services(instances: u32, restart: &str) -> Services {
    services_with(instances, restart, "")
}

/// The same service, its task checked by a TCP health check.
fn checked_services(instances: u32) -> Services {
    services_with(
        instances,
        "always",
        r#""health_check":{"type":"TCP","tcp":{"port":80}},"#,
    )
}

fn services_with(instances: u32, restart: &str, extra: &str) -> Services {
    let text = format!(
        r#"{{"name":"web","task_id":{{"value":"web"}},
        "resources":[{{"name":"cpus","type":"SCALAR","scalar":{{"value":0.1}}}},
                     {{"name":"mem","type":"SCALAR","scalar":{{"value":32}}}}],
        "command":{{"value":"true"}},
        "container":{{"type":"MESOS","network_infos":[{{"labels":{{"labels":[{{"key":"logical_switch","value":"coke1"}}]}}}}]}},
        "labels":{{"labels":[{{"key":"ovn-mesos/instances","value":"{instances}"}},
                             {{"key":"ovn-mesos/restart","value":"{restart}"}}]}},
        {extra}
        "discovery":{{"visibility":"EXTERNAL","name":"web","ports":{{"ports":[{{"number":80,"protocol":"tcp"}}]}}}}}}"#
    );
    let (definition, _) = parse_task_file(Path::new("web.json"), text.as_bytes()).unwrap();
    Services::resolve(vec![definition], &Coke1).unwrap()
}

fn task(id: &str, last_octet: u8, now: Instant) -> LiveTask {
    let port = crate::launch::fixtures::port(id, last_octet);
    let agent = Some(AgentId::new("agent-1"));
    let mut record =
        TaskRecord::staging(&port, TemplateId::new("web"), agent, Some("agent1".into()));
    record.launched_at = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(last_octet));
    LiveTask::new(record, now)
}

/// The templates that want instances now, with how many.
fn wanted(book: &mut Book, now: Instant) -> Vec<(String, u32)> {
    book.tick();
    book.evaluate_all(now);
    book.wants(now)
        .into_iter()
        .map(|w| (w.template.to_string(), w.count))
        .collect()
}

/// Each service's backend tasks.
fn backends(book: &Book) -> BTreeMap<ServiceKey, Vec<&LiveTask>> {
    let mut out: BTreeMap<ServiceKey, Vec<&LiveTask>> = BTreeMap::new();
    for task in book.tasks().filter(|t| t.is_backend()) {
        out.entry(task.record.service_key()).or_default().push(task);
    }
    out
}

impl Book {
    /// Evaluates with a master to send KILLs to.
    fn evaluate_all(&mut self, now: Instant) -> Vec<Action> {
        self.evaluate(now, true)
    }
}

/// The tasks taken out now (drained or killed), after a tick.
fn surplus(book: &mut Book, now: Instant) -> Vec<(TaskId, Option<AgentId>)> {
    book.tick();
    book.evaluate_all(now)
        .into_iter()
        .filter_map(|a| match a {
            Action::Drain(task) => Some((task, None)),
            Action::Kill { task, agent, .. } => Some((task, agent)),
            Action::Deployment(_) => None,
        })
        .collect()
}

fn status(id: &str, state: TaskState) -> TaskStatus {
    let mut s = TaskStatus {
        task_id: TaskId::new(id),
        ..TaskStatus::default()
    };
    s.set_state(state);
    s
}

fn health(id: &str, healthy: bool) -> TaskStatus {
    let mut s = status(id, TaskState::TaskRunning);
    s.healthy = Some(healthy);
    s
}

#[test]
fn a_checked_task_is_a_backend_only_while_reported_healthy() {
    let now = Instant::now();
    let mut book = Book::new(&checked_services(1));
    book.insert(task("web.1", 2, now));
    let t = |book: &Book| book.get(&TaskId::new("web.1")).unwrap().clone();
    assert!(t(&book).is_checked());
    assert!(matches!(
        book.on_status(&status("web.1", TaskState::TaskRunning), now),
        StatusOutcome::Changed { .. }
    ));
    assert!(!t(&book).is_backend(), "running, but no health report yet");
    assert!(matches!(
        book.on_status(&health("web.1", true), now),
        StatusOutcome::Health { healthy: true }
    ));
    assert!(t(&book).is_backend());
    assert!(matches!(
        book.on_status(&health("web.1", true), now),
        StatusOutcome::Same
    ));
    assert!(matches!(
        book.on_status(&health("web.1", false), now),
        StatusOutcome::Health { healthy: false }
    ));
    assert!(!t(&book).is_backend(), "out at the first unhealthy report");
    // a reconciliation answer without `healthy` changes nothing
    assert!(matches!(
        book.on_status(&status("web.1", TaskState::TaskRunning), now),
        StatusOutcome::Same
    ));
    assert_eq!(t(&book).record.healthy, Some(false));
    // a task recovered after a restart is what its record last said
    let mut fresh = Book::new(&checked_services(2));
    let mut recovered = task("web.2", 3, now);
    recovered.record.state = TaskState::TaskRunning;
    let mut healthy = recovered.clone();
    healthy.record.task_id = TaskId::new("web.4");
    healthy.record.healthy = Some(true);
    fresh.insert(recovered);
    fresh.insert(healthy);
    assert!(
        !fresh.get(&TaskId::new("web.2")).unwrap().is_backend(),
        "no report: not a backend"
    );
    assert!(
        fresh.get(&TaskId::new("web.4")).unwrap().is_backend(),
        "last reported healthy"
    );
    // a task without a check ignores health and is a backend when running
    let mut plain = Book::new(&services(1, "always"));
    plain.insert(task("web.3", 4, now));
    plain.on_status(&status("web.3", TaskState::TaskRunning), now);
    assert!(plain.get(&TaskId::new("web.3")).unwrap().is_backend());
}

#[test]
fn a_task_killed_for_its_health_is_a_failure_and_is_replaced() {
    let now = Instant::now();
    let mut book = Book::new(&checked_services(1));
    book.insert(task("web.1", 2, now));
    book.on_status(&health("web.1", true), now);
    let mut killed = status("web.1", TaskState::TaskKilled);
    killed.healthy = Some(false);
    assert!(matches!(
        book.on_status(&killed, now),
        StatusOutcome::Ended(_)
    ));
    assert!(
        {
            book.evaluate_all(now);
            book.wants(now).is_empty()
        },
        "the backoff holds it off first"
    );
    assert_eq!(
        wanted(&mut book, now + Duration::from_secs(1)),
        vec![("web".to_owned(), 1)]
    );
}

#[test]
fn a_template_wants_its_missing_instances() {
    let now = Instant::now();
    let mut book = Book::new(&services(3, "always"));
    assert_eq!(wanted(&mut book, now), vec![("web".to_owned(), 3)]);
    book.insert(task("web.1", 2, now));
    assert_eq!(wanted(&mut book, now), vec![("web".to_owned(), 2)]);
    book.evaluate_all(now);
    assert!(book.waiting(now));
}

#[test]
fn a_task_mesos_never_had_is_replaced_at_once_and_is_no_failure() {
    // A leader that died between a port and its ACCEPT: its successor
    // adopts the port, and reconciliation says the task is gone.
    let now = Instant::now();
    let mut book = Book::new(&services(1, "always"));
    for (i, id) in ["web.1", "web.2", "web.3", "web.4"].into_iter().enumerate() {
        book.insert(task(id, i as u8 + 2, now));
        let mut gone = status(id, TaskState::TaskGone);
        gone.set_reason(mesos_proto::v1::task_status::Reason::Reconciliation);
        gone.message = Some("Reconciliation: Task is unknown to the agent".into());
        assert!(matches!(
            book.on_status(&gone, now),
            StatusOutcome::Ended(_)
        ));
        assert_eq!(
            wanted(&mut book, now),
            vec![("web".to_owned(), 1)],
            "replaced at once, without a backoff, after {} such ends",
            i + 1
        );
    }
    // A real failure still counts.
    book.insert(task("web.5", 7, now));
    book.on_status(&status("web.5", TaskState::TaskFailed), now);
    assert!(
        wanted(&mut book, now).is_empty(),
        "a failure waits its backoff"
    );
}

#[test]
fn a_failed_task_is_relaunched_after_a_growing_backoff() {
    let now = Instant::now();
    let mut book = Book::new(&services(1, "always"));
    book.insert(task("web.1", 2, now));
    assert!({
        book.evaluate_all(now);
        book.wants(now).is_empty()
    });
    let ended = book.on_status(&status("web.1", TaskState::TaskFailed), now);
    assert!(matches!(ended, StatusOutcome::Ended(t) if t.record.state == TaskState::TaskFailed));
    assert!(
        {
            book.evaluate_all(now);
            book.wants(now).is_empty()
        },
        "the first relaunch waits 1 s"
    );
    book.evaluate_all(now);
    assert!(book.waiting(now));
    assert_eq!(
        {
            book.evaluate_all(now);
            book.next_wake(now)
        },
        Some(now + Duration::from_secs(1))
    );
    let later = now + Duration::from_secs(1);
    assert_eq!(wanted(&mut book, later), vec![("web".to_owned(), 1)]);
    book.insert(task("web.2", 3, later));
    book.on_status(&status("web.2", TaskState::TaskFailed), later);
    assert_eq!(
        {
            book.evaluate_all(now);
            book.next_wake(later)
        },
        Some(later + Duration::from_secs(2)),
        "the second failure in a row doubles the delay"
    );
}

#[test]
fn a_stable_run_starts_the_backoff_over() {
    let now = Instant::now();
    let mut book = Book::new(&services(1, "always"));
    book.insert(task("web.1", 2, now));
    book.launch_failed(&TemplateId::new("web"), now);
    book.launch_failed(&TemplateId::new("web"), now);
    book.on_status(&status("web.1", TaskState::TaskRunning), now);
    let later = now + STABLE_RUN;
    book.on_status(&status("web.1", TaskState::TaskKilled), later);
    assert_eq!(
        {
            book.evaluate_all(now);
            book.next_wake(later)
        },
        Some(later + Duration::from_secs(1))
    );
}

#[test]
fn a_task_that_must_not_restart_stays_ended() {
    let now = Instant::now();
    let mut book = Book::new(&services(2, "on-failure"));
    book.insert(task("web.1", 2, now));
    book.insert(task("web.2", 3, now));
    book.on_status(&status("web.1", TaskState::TaskFinished), now);
    book.evaluate_all(now);
    assert!(!book.waiting(now), "a finished on-failure task is done");
    book.on_status(&status("web.2", TaskState::TaskFailed), now);
    book.evaluate_all(now);
    assert!(book.waiting(now), "a failed one is relaunched");
}

#[test]
fn only_running_tasks_are_backends_and_unknown_ones_keep_their_place() {
    let now = Instant::now();
    let mut book = Book::new(&services(2, "always"));
    book.insert(task("web.1", 2, now));
    book.insert(task("web.2", 3, now));
    assert!(backends(&book).is_empty());
    book.on_status(&status("web.1", TaskState::TaskRunning), now);
    book.on_status(&status("web.2", TaskState::TaskStarting), now);
    let found = backends(&book);
    let web = &found[&ServiceKey::new("coke", "web")];
    assert_eq!(web.len(), 1);
    assert_eq!(web[0].id().as_str(), "web.1");
    // A restarted master does not know the task yet: it stays a backend.
    assert!(matches!(
        book.on_status(&status("web.1", TaskState::TaskUnknown), now),
        StatusOutcome::Changed {
            from: TaskState::TaskRunning
        }
    ));
    assert_eq!(backends(&book)[&ServiceKey::new("coke", "web")].len(), 1);
    assert!(matches!(
        book.on_status(&status("web.1", TaskState::TaskUnknown), now),
        StatusOutcome::Same
    ));
}

#[test]
fn an_unreachable_task_is_replaced_after_the_grace_period() {
    let now = Instant::now();
    let mut book = Book::new(&services(1, "always"));
    book.insert(task("web.1", 2, now));
    book.on_status(&status("web.1", TaskState::TaskUnreachable), now);
    assert!({
        book.evaluate_all(now);
        book.wants(now).is_empty()
    });
    let later = now + UNREACHABLE_GRACE;
    assert_eq!(wanted(&mut book, later), vec![("web".to_owned(), 1)]);
    assert!(
        book.get(&TaskId::new("web.1")).is_some(),
        "it keeps its port"
    );
}

#[test]
fn the_replacement_of_an_unreachable_task_is_no_surplus_until_the_task_is_back() {
    let now = Instant::now();
    let later = now + UNREACHABLE_GRACE;
    let mut book = Book::new(&services(1, "always"));
    book.insert(task("web.1", 2, now));
    book.on_status(&status("web.1", TaskState::TaskRunning), now);
    book.on_status(&status("web.1", TaskState::TaskUnreachable), now);
    assert_eq!(wanted(&mut book, later), vec![("web".to_owned(), 1)]);
    book.insert(task("web.2", 3, later));
    assert!(
        surplus(&mut book, later).is_empty(),
        "the replacement stays"
    );
    // the master repeats the unreachable state at each reconciliation
    book.on_status(&status("web.1", TaskState::TaskUnreachable), later);
    assert!(
        surplus(&mut book, later).is_empty(),
        "the replacement still stays"
    );
    assert!(
        {
            book.evaluate_all(later);
            book.wants(later).is_empty()
        },
        "and nothing more is launched"
    );
    book.on_status(&status("web.2", TaskState::TaskRunning), later);
    // the old task comes back: one of the two running is now surplus
    book.on_status(&status("web.1", TaskState::TaskRunning), later);
    assert_eq!(surplus(&mut book, later).len(), 1);
}

#[test]
fn a_task_back_from_unreachable_or_gone_counts_again() {
    let now = Instant::now();
    let later = now + UNREACHABLE_GRACE;
    let mut book = Book::new(&services(2, "always"));
    book.insert(task("web.1", 2, now));
    book.insert(task("web.2", 3, now));
    book.on_status(&status("web.1", TaskState::TaskUnreachable), now);
    book.on_status(&status("web.2", TaskState::TaskUnknown), now);
    assert_eq!(wanted(&mut book, later), vec![("web".to_owned(), 2)]);
    book.on_status(&status("web.1", TaskState::TaskRunning), now);
    assert_eq!(wanted(&mut book, later), vec![("web".to_owned(), 1)]);
    book.remove(&TaskId::new("web.2"));
    assert_eq!(
        wanted(&mut book, later),
        vec![("web".to_owned(), 1)],
        "web.2 left"
    );
    book.insert(task("web.3", 4, later));
    assert!(
        {
            book.evaluate_all(later);
            book.wants(later).is_empty()
        },
        "web.1 and web.3 count"
    );
}

#[test]
fn surplus_tasks_and_tasks_of_removed_files_are_killed_once_per_retry() {
    let now = Instant::now();
    let mut book = Book::new(&services(1, "always"));
    book.insert(task("web.1", 2, now));
    book.insert(task("web.2", 3, now));
    let mut orphan = task("gone.1", 4, now);
    orphan.record.definition = "gone".into();
    book.insert(orphan);
    book.on_status(&status("web.2", TaskState::TaskRunning), now);
    let mut kill: Vec<String> = surplus(&mut book, now)
        .into_iter()
        .map(|(id, _)| id.as_str().to_owned())
        .collect();
    kill.sort();
    assert_eq!(kill, ["gone.1", "web.1"], "the running one stays");
    for id in ["gone.1", "web.1"] {
        assert!(book.kill_sent(&TaskId::new(id), Some(now)));
    }
    assert!(surplus(&mut book, now).is_empty());
    assert_eq!(surplus(&mut book, now + KILL_RETRY).len(), 2);
    // A surplus task that ends is no failure: no backoff.
    book.on_status(&status("web.1", TaskState::TaskKilled), now);
    book.evaluate_all(now);
    assert!(
        book.next_wake(now) <= Some(now + Duration::from_secs(1)),
        "no backoff, only the next look at the killed task"
    );
    assert!({
        book.evaluate_all(now);
        book.wants(now).is_empty()
    });
}

#[test]
fn an_update_for_a_task_the_book_does_not_have_is_unknown() {
    let now = Instant::now();
    let mut book = Book::new(&services(1, "always"));
    assert!(matches!(
        book.on_status(&status("other", TaskState::TaskRunning), now),
        StatusOutcome::Unknown
    ));
}

#[test]
fn in_flight_tasks_are_unconfirmed_after_a_while() {
    let now = Instant::now();
    let mut book = Book::new(&services(2, "always"));
    book.insert(task("web.1", 2, now));
    book.insert(task("web.2", 3, now));
    book.on_status(&status("web.2", TaskState::TaskRunning), now);
    let after = Duration::from_secs(5);
    assert!(book.unconfirmed(now, after).is_empty());
    let ids: Vec<_> = book.unconfirmed(now + after, after);
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].0.as_str(), "web.1");
}

#[test]
fn the_load_follows_tasks_in_and_out_and_agents_learnt_late() {
    let now = Instant::now();
    let web = ServiceKey::new("coke", "web");
    let (a1, a2) = (AgentId::new("agent-1"), AgentId::new("agent-2"));
    let mut book = Book::new(&services(3, "always"));
    book.insert(task("web.1", 2, now));
    let mut adopted = task("web.2", 3, now);
    adopted.record.agent_id = None;
    book.insert(adopted);
    assert_eq!(book.load().of_service(&web, &a1), 1);
    assert_eq!(book.load().of_agent(&a2), 0, "no agent known yet");
    let mut update = status("web.2", TaskState::TaskRunning);
    update.agent_id = Some(a2.clone());
    book.on_status(&update, now);
    assert_eq!(
        book.load().of_service(&web, &a2),
        1,
        "learnt from the update"
    );
    book.on_status(&status("web.1", TaskState::TaskFailed), now);
    assert_eq!(book.load().of_agent(&a1), 0, "an ended task leaves");
    book.remove(&TaskId::new("web.2"));
    assert_eq!(book.load(), &crate::launch::Load::default());
}

/// The web service running `command`, `instances` of it, with extra labels.
fn version_of_web(instances: u32, command: &str, labels: &[(&str, &str)]) -> Services {
    let mut extra = String::new();
    for (k, v) in labels {
        extra.push_str(&format!(r#",{{"key":"{k}","value":"{v}"}}"#));
    }
    let text = format!(
        r#"{{"name":"web","task_id":{{"value":"web"}},
        "resources":[{{"name":"cpus","type":"SCALAR","scalar":{{"value":0.1}}}},
                     {{"name":"mem","type":"SCALAR","scalar":{{"value":32}}}}],
        "command":{{"value":"{command}"}},
        "container":{{"type":"MESOS","network_infos":[{{"labels":{{"labels":[{{"key":"logical_switch","value":"coke1"}}]}}}}]}},
        "labels":{{"labels":[{{"key":"ovn-mesos/instances","value":"{instances}"}}{extra}]}},
        "discovery":{{"visibility":"EXTERNAL","name":"web","ports":{{"ports":[{{"number":80,"protocol":"tcp"}}]}}}}}}"#
    );
    let (definition, _) = parse_task_file(Path::new("web.json"), text.as_bytes()).unwrap();
    Services::resolve(vec![definition], &Coke1).unwrap()
}

fn deploying(services: &Services, _now: Instant) -> BTreeMap<TemplateId, DeploymentRecord> {
    let version = services
        .members()
        .next()
        .unwrap()
        .1
        .definition
        .version
        .clone();
    BTreeMap::from([(
        TemplateId::new("web"),
        DeploymentRecord {
            id: format!("web@{}", &version[..8]),
            from: None,
            to: version,
            started_at: SystemTime::UNIX_EPOCH,
        },
    )])
}

/// Launches (inserts) `n` tasks of the current version, running.
fn run_tasks(book: &mut Book, first: u8, n: u8, now: Instant) -> Vec<String> {
    (first..first + n)
        .map(|i| {
            let id = format!("web.{i}");
            book.insert(task(&id, i, now));
            book.on_status(&status(&id, TaskState::TaskRunning), now);
            id
        })
        .collect()
}

fn drained(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Drain(t) => Some(t.value.clone()),
            _ => None,
        })
        .collect()
}

fn killed(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Kill { task, .. } => Some(task.value.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_rolling_update_keeps_every_healthy_backend_until_new_ones_serve() {
    let now = Instant::now();
    let v1 = version_of_web(2, "v1", &[]);
    let mut book = Book::new(&v1);
    let old = run_tasks(&mut book, 2, 2, now);
    book.evaluate_all(now);
    assert!(book.wants(now).is_empty());
    // v2: defaults 1.0 / 1.0: both new ones launch, no old one goes yet
    let v2 = version_of_web(2, "v2", &[]);
    book.set_services(&v2, &deploying(&v2, now), now);
    let actions = book.evaluate_all(now);
    assert!(
        drained(&actions).is_empty() && killed(&actions).is_empty(),
        "{actions:?}"
    );
    assert_eq!(wanted(&mut book, now), vec![("web".to_owned(), 2)]);
    // the old tasks keep their definition; new ones get v2's version
    assert_eq!(
        book.get(&TaskId::new(&old[0]))
            .unwrap()
            .member
            .as_ref()
            .unwrap()
            .definition
            .version,
        v1.members().next().unwrap().1.definition.version
    );
    let mut t = task("web.10", 10, now);
    t.record.version = Some(v2.members().next().unwrap().1.definition.version.clone());
    book.insert(t);
    let actions = book.evaluate_all(now);
    assert!(
        drained(&actions).is_empty(),
        "a staging new task serves nothing yet"
    );
    book.on_status(&status("web.10", TaskState::TaskRunning), now);
    let actions = book.evaluate_all(now);
    assert_eq!(
        drained(&actions).len(),
        1,
        "one old task leaves: {actions:?}"
    );
    let draining = drained(&actions)[0].clone();
    assert!(old.contains(&draining));
    assert!(
        !book.get(&TaskId::new(&draining)).unwrap().is_backend(),
        "out of the VIP"
    );
    assert_eq!(backends(&book)[&ServiceKey::new("coke", "web")].len(), 2);
    // killed only after the drain period (5 s by default)
    book.tick();
    assert!(killed(&book.evaluate_all(now + Duration::from_secs(4))).is_empty());
    book.tick();
    assert_eq!(
        killed(&book.evaluate_all(now + Duration::from_secs(5))),
        vec![draining.clone()]
    );
    assert!(book.deployments()[0].stuck.is_none());
}

#[test]
fn minimum_health_capacity_lets_old_tasks_go_before_new_ones_serve() {
    let now = Instant::now();
    let labels = [
        ("ovn-mesos/minimum-health-capacity", "0.5"),
        ("ovn-mesos/maximum-over-capacity", "0"),
    ];
    let mut book = Book::new(&version_of_web(4, "v1", &labels));
    run_tasks(&mut book, 2, 4, now);
    book.evaluate_all(now);
    let v2 = version_of_web(4, "v2", &labels);
    book.set_services(&v2, &deploying(&v2, now), now);
    let actions = book.evaluate_all(now);
    assert_eq!(
        drained(&actions).len(),
        2,
        "down to 2 of 4 healthy: {actions:?}"
    );
    assert!(
        book.wants(now).is_empty(),
        "no room beyond 4 tasks while they drain"
    );
    book.tick();
    let actions = book.evaluate_all(now + Duration::from_secs(5));
    assert_eq!(killed(&actions).len(), 2);
    for id in killed(&actions) {
        book.on_status(&status(&id, TaskState::TaskKilled), now);
    }
    assert_eq!(wanted(&mut book, now), vec![("web".to_owned(), 2)]);
}

#[test]
fn a_deployment_whose_new_tasks_fail_is_stuck_and_the_old_ones_stay() {
    let now = Instant::now();
    let mut book = Book::new(&version_of_web(2, "v1", &[]));
    run_tasks(&mut book, 2, 2, now);
    let v2 = version_of_web(2, "v2", &[]);
    let version = v2.members().next().unwrap().1.definition.version.clone();
    book.set_services(&v2, &deploying(&v2, now), now);
    book.evaluate_all(now);
    let mut actions = Vec::new();
    for i in 0..3u8 {
        let id = format!("web.new{i}");
        let mut t = task(&id, 20 + i, now);
        t.record.version = Some(version.clone());
        book.insert(t);
        let mut failed = status(&id, TaskState::TaskFailed);
        failed.message = Some("exit 1".into());
        book.on_status(&failed, now);
        actions.extend(book.evaluate_all(now));
    }
    assert!(
        drained(&actions).is_empty() && killed(&actions).is_empty(),
        "{actions:?}"
    );
    let stuck = &book.deployments()[0];
    assert!(
        stuck
            .stuck
            .as_deref()
            .is_some_and(|r| r.contains("failed 3 times") && r.contains("exit 1")),
        "{stuck:?}"
    );
    assert_eq!(stuck.old_tasks, 2);
    assert_eq!(backends(&book)[&ServiceKey::new("coke", "web")].len(), 2);
}

#[test]
fn scaling_down_takes_the_youngest_out_first_and_a_deleted_definition_takes_all() {
    let now = Instant::now();
    let mut book = Book::new(&version_of_web(3, "v1", &[]));
    run_tasks(&mut book, 2, 3, now);
    book.evaluate_all(now);
    book.set_services(&version_of_web(1, "v1", &[]), &BTreeMap::new(), now);
    let mut out = drained(&book.evaluate_all(now));
    out.sort();
    assert_eq!(
        out,
        ["web.3", "web.4"],
        "the youngest two go (launched last)"
    );
    book.set_services(&Services::default(), &BTreeMap::new(), now);
    assert_eq!(drained(&book.evaluate_all(now)), ["web.2"]);
    assert!(book.wants(now).is_empty());
}

#[test]
fn a_deployment_is_done_when_no_old_task_is_left_and_the_new_ones_serve() {
    let now = Instant::now();
    let mut book = Book::new(&version_of_web(
        1,
        "v1",
        &[("ovn-mesos/drain-seconds", "0")],
    ));
    run_tasks(&mut book, 2, 1, now);
    let v2 = version_of_web(1, "v2", &[("ovn-mesos/drain-seconds", "0")]);
    let version = v2.members().next().unwrap().1.definition.version.clone();
    book.set_services(&v2, &deploying(&v2, now), now);
    book.evaluate_all(now);
    let mut t = task("web.9", 9, now);
    t.record.version = Some(version);
    book.insert(t);
    book.on_status(&status("web.9", TaskState::TaskRunning), now);
    let actions = book.evaluate_all(now);
    assert_eq!(killed(&actions), ["web.2"], "drain 0 kills at once");
    book.on_status(&status("web.2", TaskState::TaskKilled), now);
    let actions = book.evaluate_all(now);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Deployment(e) if e.step == Step::Done)),
        "{actions:?}"
    );
    assert!(book.deployments().is_empty());
}

/// A task known only by its port (a new leader, a crash before its
/// record), adopted as start-up recovery adopts it.
fn adopt(id: &str, last_octet: u8, version: Option<&str>, now: Instant) -> LiveTask {
    let mut port = crate::launch::fixtures::port(id, last_octet);
    port.agent = Some(ovn::ports::PortAgent {
        id: "agent-1".into(),
        hostname: "agent1".into(),
    });
    port.version = version.map(str::to_owned);
    LiveTask::new(super::super::repair::adopted(&port), now)
}

fn version_in(services: &Services) -> String {
    services
        .members()
        .next()
        .unwrap()
        .1
        .definition
        .version
        .clone()
}

#[test]
fn a_task_adopted_from_its_port_keeps_an_earlier_version_and_is_replaced() {
    let now = Instant::now();
    let v1 = version_of_web(2, "v1", &[]);
    let v2 = version_of_web(2, "v2", &[]);
    let (old, new) = (version_in(&v1), version_in(&v2));
    // A new leader: v2 in force, its deployment from v1 under way, v1's
    // definition never seen; the NB has a task of each version and one
    // whose port names no version.
    let mut book = Book::new(&v2);
    book.set_services(&v2, &deploying(&v2, now), now);
    book.evaluate_all(now);
    for (id, octet, version) in [
        ("web.2", 2, Some(old.as_str())),
        ("web.3", 3, Some(new.as_str())),
        ("web.4", 4, None),
    ] {
        book.insert(adopt(id, octet, version, now));
        book.on_status(&status(id, TaskState::TaskRunning), now);
    }
    let of = |book: &Book, id: &str| book.get(&TaskId::new(id)).unwrap().clone();
    assert_eq!(of(&book, "web.2").record.version, Some(old.clone()));
    assert_eq!(
        of(&book, "web.2").record.agent_id,
        Some(AgentId::new("agent-1"))
    );
    assert_eq!(of(&book, "web.3").record.version, Some(new.clone()));
    assert_eq!(
        of(&book, "web.4").record.version,
        Some(new.clone()),
        "a port without a version is of the current one"
    );
    // v1 unknown here: the old task runs the definition in force as far as
    // the book can tell, but counts as earlier
    let member = of(&book, "web.2").member.unwrap();
    assert_eq!(member.definition.version, new);
    let d = &book.deployments()[0];
    assert_eq!((d.new_tasks, d.old_tasks), (2, 1), "{d:?}");
    // the deployment goes on: two new tasks serve, so the old one leaves
    let actions = book.evaluate_all(now);
    assert_eq!(drained(&actions), ["web.2"], "{actions:?}");
    assert!(book.wants(now).is_empty());

    // A scheduler that held v1 before v2: the adopted old task runs v1.
    let mut book = Book::new(&v1);
    book.set_services(&v2, &deploying(&v2, now), now);
    book.insert(adopt("web.2", 2, Some(&old), now));
    let member = of(&book, "web.2").member.unwrap();
    assert_eq!(member.definition.version, old);
    assert_eq!(book.deployments()[0].old_tasks, 1);
}

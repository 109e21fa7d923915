//! The core's handlers, driven in process: inputs in, effects out, with no
//! OVN and no Mesos. Each test plays a short story (subscribe, offers, the
//! launcher's report, updates) and checks what the core asks for.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mesos_proto::v1::{AgentId, FrameworkId, TaskId, TaskState, TaskStatus};
use tokio::sync::oneshot;

use super::*;
use crate::api::KillRefused;
use crate::launch::fixtures::{definition, offer, port, Coke1};
use crate::launch::ExecutorSettings;
use crate::mesos::MesosConfig;
use crate::tasks::TemplateId;

fn config() -> SchedulerConfig {
    let mesos = MesosConfig {
        master: "127.0.0.1:5050".into(),
        encoding: mesos_proto::Encoding::Json,
        framework: Default::default(),
        missed_heartbeats: 5,
        request_timeout: Duration::from_secs(10),
    };
    SchedulerConfig::new(
        mesos,
        Vec::new(),
        PathBuf::from("/nonexistent"),
        ExecutorSettings::new("/usr/local/bin/ovn-mesos-executor".to_owned()),
    )
}

/// A core for template `web` (3 instances of 0.1 cpus, 32 MB behind VIP
/// port 8080), subscribed as `fw-1`, its first effects drained.
fn subscribed(now: Instant) -> Core {
    let services = Services::resolve(vec![definition("web", 0.1, 32.0)], &Coke1).unwrap();
    let mut core = Core::new(config(), services, BTreeMap::new(), now);
    core.start();
    core.handle(
        Input::Subscribed {
            framework_id: FrameworkId::new("fw-1"),
        },
        now,
    );
    core
}

fn web() -> TemplateId {
    TemplateId::new("web")
}

fn status(id: &TaskId, state: TaskState, uuid: bool) -> TaskStatus {
    let mut s = TaskStatus {
        task_id: id.clone(),
        agent_id: Some(AgentId::new("agent1")),
        uuid: uuid.then(|| vec![7; 16]),
        ..TaskStatus::default()
    };
    s.set_state(state);
    s
}

/// The launch batch among `effects`.
fn batch(effects: &[Effect]) -> &OfferBatch {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Offers(b) => Some(b),
            _ => None,
        })
        .expect("an offer batch")
}

fn calls(effects: &[Effect]) -> Vec<&MasterCall> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Call(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn deleted_ports(effects: &[Effect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::DeletePort(p) => Some(p.as_str()),
            _ => None,
        })
        .collect()
}

/// Whether `effects` ask for a REVIVE.
fn revives(effects: &[Effect]) -> bool {
    calls(effects)
        .iter()
        .any(|c| matches!(c, MasterCall::Revive))
}

/// Whether `effects` ask for a SUPPRESS.
fn suppresses(effects: &[Effect]) -> bool {
    calls(effects)
        .iter()
        .any(|c| matches!(c, MasterCall::Suppress))
}

/// Offers one agent with room for everything, and reports every planned
/// port made; returns the launched task ids.
fn launch_all(core: &mut Core, now: Instant) -> Vec<TaskId> {
    let effects = core.handle(Input::Offers(vec![offer("o1", "agent1", 8.0, 4096.0)]), now);
    let order = batch(&effects).launches[0].clone();
    report_made(core, &order, now);
    order.tasks.iter().map(|t| t.task_id.clone()).collect()
}

/// The launcher's report that every port of `order` was made; its effects.
fn report_made(core: &mut Core, order: &LaunchOrder, now: Instant) -> Vec<Effect> {
    let made = order
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.template.clone(), port(t.task_id.as_str(), 10 + i as u8)))
        .collect();
    core.handle(
        Input::Provisioned(Provisioned {
            received: now,
            agent_id: order.agent_id.clone(),
            hostname: order.hostname.clone(),
            made,
            failed: Vec::new(),
        }),
        now,
    )
}

#[test]
fn subscribing_reconciles_every_task_then_implicitly() {
    let now = Instant::now();
    let mut core = subscribed(now);
    launch_all(&mut core, now);
    let effects = core.handle(Input::Disconnected, now);
    assert!(
        matches!(effects.as_slice(), [Effect::Publish(_)]),
        "{effects:?}"
    );
    let effects = core.handle(
        Input::Subscribed {
            framework_id: FrameworkId::new("fw-1"),
        },
        now,
    );
    let reconciles: Vec<usize> = calls(&effects)
        .iter()
        .filter_map(|c| match c {
            MasterCall::Reconcile(tasks) => Some(tasks.len()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reconciles,
        [3, 0],
        "explicit for the 3 tasks, then implicit"
    );
}

#[test]
fn offers_become_one_launch_per_used_offer_and_a_decline_of_the_rest() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let effects = core.handle(
        Input::Offers(vec![
            offer("o1", "agent1", 0.45, 256.0),
            offer("o2", "agent2", 0.0, 0.0),
        ]),
        now,
    );
    let b = batch(&effects);
    assert_eq!(b.launches.len(), 1);
    let order = &b.launches[0];
    assert_eq!(order.offer_id.value, "o1");
    assert_eq!(order.hostname, "agent1.example");
    assert_eq!(
        order.tasks.len(),
        2,
        "0.45 cpus fit two tasks with their executors"
    );
    assert!(order.tasks.iter().all(|t| t.template == web()));
    assert_eq!(
        b.decline
            .iter()
            .map(|o| o.value.as_str())
            .collect::<Vec<_>>(),
        ["o2"]
    );
    assert_eq!(
        b.refuse,
        core.config().refuse_seconds,
        "one instance still waits"
    );
    // The planned tasks count: a second offer gets only the third.
    let effects = core.handle(Input::Offers(vec![offer("o3", "agent3", 8.0, 4096.0)]), now);
    assert_eq!(batch(&effects).launches[0].tasks.len(), 1);
    assert_eq!(
        batch(&effects).launches[0].refuse,
        core.config().idle_refuse_seconds
    );
}

#[test]
fn made_ports_enter_the_book_with_their_records_and_hostname() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let ids = launch_all(&mut core, now);
    assert_eq!(ids.len(), 3);
    assert_eq!(core.book().len(), 3);
    let task = core.book().get(&ids[0]).unwrap();
    assert_eq!(task.state(), TaskState::TaskStaging);
    assert_eq!(task.record.hostname.as_deref(), Some("agent1.example"));
    assert_eq!(task.record.agent_id, Some(AgentId::new("agent1")));
    assert_eq!(task.record.definition, web());
}

#[test]
fn ports_that_could_not_be_made_back_their_template_off() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let effects = core.handle(Input::Offers(vec![offer("o1", "agent1", 8.0, 4096.0)]), now);
    let order = batch(&effects).launches[0].clone();
    let failed = order
        .tasks
        .iter()
        .map(|t| (t.template.clone(), t.task_id.clone()))
        .collect();
    let effects = core.handle(
        Input::Provisioned(Provisioned {
            received: now,
            agent_id: order.agent_id.clone(),
            hostname: order.hostname.clone(),
            made: Vec::new(),
            failed,
        }),
        now,
    );
    assert!(core.book().is_empty());
    assert!(core.book().wants(now).is_empty(), "backing off");
    let relaunch = core.book().next_wake(now).expect("a relaunch is due");
    assert!(
        relaunch >= now + Duration::from_secs(1),
        "each failed port counts"
    );
    assert!(
        calls(&effects).is_empty(),
        "offers stay suppressed during the backoff: {effects:?}"
    );
    let effects = core.handle(Input::Tick, relaunch);
    assert!(
        revives(&effects),
        "and are revived when it ends: {effects:?}"
    );
}

#[test]
fn a_failed_accept_deletes_its_ports_and_records_and_backs_off() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let ids = launch_all(&mut core, now);
    let refused: Vec<_> = ids
        .iter()
        .map(|id| {
            let p = port(id.as_str(), 10);
            (web(), id.clone(), p.name)
        })
        .collect();
    let later = now + Duration::from_millis(5);
    let effects = core.handle(Input::AcceptFailed(refused), later);
    let mut ports = deleted_ports(&effects);
    ports.sort();
    let mut want: Vec<String> = ids.iter().map(|id| port(id.as_str(), 10).name).collect();
    want.sort();
    assert_eq!(ports, want);
    let removed = effects
        .iter()
        .filter(|e| matches!(e, Effect::RemoveRecord(_)))
        .count();
    assert_eq!(removed, 3);
    assert!(core.book().is_empty());
    assert!(core.book().wants(later).is_empty(), "backing off");
    assert!(core.book().waiting(later));
}

#[test]
fn a_task_that_ends_loses_its_port_and_backs_its_template_off() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let ids = launch_all(&mut core, now);
    let effects = core.handle(
        Input::Update(status(&ids[0], TaskState::TaskRunning, true)),
        now,
    );
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::WriteRecord(r) if r.state == TaskState::TaskRunning)));
    assert!(
        matches!(effects.last(), Some(Effect::Acknowledge(_))),
        "acknowledged last: {effects:?}"
    );
    let effects = core.handle(
        Input::Update(status(&ids[0], TaskState::TaskFailed, true)),
        now,
    );
    assert_eq!(
        deleted_ports(&effects),
        [port(ids[0].as_str(), 10).name.as_str()]
    );
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::RemoveRecord(id) if *id == ids[0])));
    assert!(
        core.book().wants(now).is_empty(),
        "the relaunch waits for the backoff"
    );
    let after = now + Duration::from_secs(1);
    assert_eq!(core.book().wants(after)[0].count, 1);
    let effects = core.handle(Input::Tick, after);
    assert!(
        revives(&effects),
        "offers are revived once the backoff ends: {effects:?}"
    );
}

#[test]
fn an_update_without_uuid_is_not_acknowledged() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let ids = launch_all(&mut core, now);
    let effects = core.handle(
        Input::Update(status(&ids[0], TaskState::TaskRunning, false)),
        now,
    );
    assert!(!effects.iter().any(|e| matches!(e, Effect::Acknowledge(_))));
}

#[test]
fn surplus_tasks_are_killed_once_until_the_retry() {
    let now = Instant::now();
    let mut core = subscribed(now);
    launch_all(&mut core, now);
    // An earlier run's task of the same template makes four of three.
    let mut extra = crate::state::TaskRecord::staging(
        &port("web.old", 40),
        web(),
        Some(AgentId::new("agent1")),
        None,
    );
    extra.launched_at = std::time::SystemTime::now() + Duration::from_secs(60);
    core.recovered(crate::scheduler::book::LiveTask::new(extra, now));
    let effects = core.handle(Input::Tick, now);
    let kills: Vec<_> = calls(&effects)
        .into_iter()
        .filter_map(|c| match c {
            MasterCall::Kill { task, reply, .. } => Some((task.clone(), reply.is_some())),
            _ => None,
        })
        .collect();
    assert_eq!(
        kills,
        [(TaskId::new("web.old"), false)],
        "the youngest goes"
    );
    let effects = core.handle(Input::Tick, now + Duration::from_secs(1));
    assert!(calls(&effects).is_empty(), "asked once: {effects:?}");
    // A KILL that could not be sent is asked again at once.
    let effects = core.handle(
        Input::KillFailed(TaskId::new("web.old")),
        now + Duration::from_secs(1),
    );
    assert_eq!(calls(&effects).len(), 1);
}

#[test]
fn suppress_and_revive_follow_the_wants() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let effects = core.handle(Input::Offers(vec![offer("o1", "agent1", 8.0, 4096.0)]), now);
    assert!(
        suppresses(&effects),
        "all 3 placed, nothing waits: {effects:?}"
    );
    let order = batch(&effects).launches[0].clone();
    let ids: Vec<TaskId> = order.tasks.iter().map(|t| t.task_id.clone()).collect();
    let effects = report_made(&mut core, &order, now);
    assert!(calls(&effects).is_empty(), "suppressed once: {effects:?}");
    // An operator's kill makes an instance missing at once: its
    // replacement does not wait for the end of the killed task.
    let (reply, _answer) = oneshot::channel();
    let effects = core.handle(
        Input::Kill {
            task_id: ids[1].as_str().into(),
            reply,
        },
        now,
    );
    assert!(revives(&effects), "{effects:?}");
    let effects = core.handle(
        Input::Update(status(&ids[1], TaskState::TaskKilled, false)),
        now,
    );
    assert!(calls(&effects).is_empty(), "revived once: {effects:?}");
    // A REVIVE that failed is sent again after the next input.
    let effects = core.handle(Input::CallFailed(OfferCall::Revive), now);
    assert!(revives(&effects), "{effects:?}");
}

#[test]
fn a_long_filter_set_by_a_batch_made_before_a_revive_brings_a_second_revive() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let effects = core.handle(Input::Offers(vec![offer("o1", "agent1", 8.0, 4096.0)]), now);
    let first = batch(&effects);
    let (issued, refuse) = (first.issued, first.refuse);
    let order = first.launches[0].clone();
    assert!(suppresses(&effects), "nothing waits: {effects:?}");
    assert!(
        refuse > 5.0,
        "nothing waits: the batch's filter is the long one ({refuse})"
    );
    let ids: Vec<TaskId> = order.tasks.iter().map(|t| t.task_id.clone()).collect();
    report_made(&mut core, &order, now);
    // An instance goes missing: REVIVE, while the batch's ACCEPT and
    // DECLINE, with their long filter, may still be on their way.
    let later = now + Duration::from_millis(5);
    let (reply, _answer) = oneshot::channel();
    let effects = core.handle(
        Input::Kill {
            task_id: ids[1].as_str().into(),
            reply,
        },
        later,
    );
    assert!(revives(&effects), "{effects:?}");
    let effects = core.handle(Input::OffersAnswered { issued, refuse }, later);
    assert!(
        revives(&effects),
        "the filter may have been set after the REVIVE: {effects:?}"
    );
    // A batch made after the last REVIVE, or one with the short filter,
    // changes nothing.
    let after = later + Duration::from_millis(5);
    let effects = core.handle(
        Input::OffersAnswered {
            issued: after,
            refuse,
        },
        after,
    );
    assert!(calls(&effects).is_empty(), "{effects:?}");
    let effects = core.handle(
        Input::OffersAnswered {
            issued,
            refuse: 5.0,
        },
        after,
    );
    assert!(calls(&effects).is_empty(), "{effects:?}");
}

#[test]
fn every_subscription_says_revive_or_suppress_whatever_came_before() {
    let now = Instant::now();
    let services = Services::resolve(vec![definition("web", 0.1, 32.0)], &Coke1).unwrap();
    let mut core = Core::new(config(), services, BTreeMap::new(), now);
    core.start();
    let subscribe = |core: &mut Core| {
        core.handle(
            Input::Subscribed {
                framework_id: FrameworkId::new("fw-1"),
            },
            now,
        )
    };
    // tasks wait: REVIVE, though the core never suppressed (a failed-over
    // framework's decline filters may still hold at the master)
    let effects = subscribe(&mut core);
    assert!(revives(&effects), "{effects:?}");
    let effects = core.handle(Input::Offers(vec![offer("o1", "agent1", 8.0, 4096.0)]), now);
    let order = batch(&effects).launches[0].clone();
    report_made(&mut core, &order, now);
    core.handle(Input::Disconnected, now);
    // nothing waits: SUPPRESS at once, not only after an unwanted offer
    let effects = subscribe(&mut core);
    assert!(suppresses(&effects), "{effects:?}");
    assert!(!revives(&effects), "{effects:?}");
}

#[test]
fn an_operators_kill_is_answered_for_unknown_tasks_and_while_disconnected() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let ids = launch_all(&mut core, now);
    let (reply, mut answer) = oneshot::channel();
    core.handle(
        Input::Kill {
            task_id: "nope".into(),
            reply,
        },
        now,
    );
    assert_eq!(
        answer.try_recv().unwrap(),
        Err(KillRefused::UnknownTask("nope".into()))
    );
    let (reply, _answer) = oneshot::channel();
    let effects = core.handle(
        Input::Kill {
            task_id: ids[0].as_str().into(),
            reply,
        },
        now,
    );
    assert!(calls(&effects)
        .iter()
        .any(|c| matches!(c, MasterCall::Kill { task, reply: Some(_), .. } if *task == ids[0])));
    core.handle(Input::Disconnected, now);
    let (reply, mut answer) = oneshot::channel();
    let effects = core.handle(
        Input::Kill {
            task_id: ids[1].as_str().into(),
            reply,
        },
        now,
    );
    assert!(calls(&effects).is_empty());
    assert_eq!(answer.try_recv().unwrap(), Err(KillRefused::NotConnected));
}

#[test]
fn a_stray_task_is_killed_while_running_and_its_port_checked_when_ended() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let stray = TaskId::new("web.stray");
    let effects = core.handle(
        Input::Update(status(&stray, TaskState::TaskRunning, true)),
        now,
    );
    assert!(calls(&effects)
        .iter()
        .any(|c| matches!(c, MasterCall::Kill { task, .. } if *task == stray)));
    let effects = core.handle(
        Input::Update(status(&stray, TaskState::TaskLost, false)),
        now,
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::DeleteStrayPort { port, framework } if port == "web.stray" && framework.as_str() == "fw-1"
    )), "{effects:?}");
}

#[test]
fn the_load_balancers_and_the_view_are_written_after_a_burst() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let ids = launch_all(&mut core, now);
    let mut written = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let at = now + Duration::from_millis(i as u64);
        written.extend(core.handle(Input::Update(status(id, TaskState::TaskRunning, false)), at));
    }
    assert!(
        !written.iter().any(|e| matches!(e, Effect::SyncVips(_))),
        "gathered first"
    );
    let due = core.next_wake(now);
    assert!(
        due <= now + Duration::from_millis(100),
        "a flush is due soon"
    );
    let effects = core.handle(Input::Tick, due);
    let specs = effects
        .iter()
        .find_map(|e| match e {
            Effect::SyncVips(specs) => Some(specs),
            _ => None,
        })
        .expect("the load balancers are written");
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].port, 8080);
    assert_eq!(
        specs[0].backends.len(),
        3,
        "every running task backs the VIP"
    );
    assert!(specs[0].backends.iter().all(|b| b.port() == 80));
    assert!(effects.iter().any(|e| matches!(e, Effect::Publish(_))));
}

#[test]
fn a_removed_framework_drops_every_port_and_record() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let ids = launch_all(&mut core, now);
    core.handle(Input::Disconnected, now);
    let effects = core.handle(Input::FrameworkRemoved, now);
    assert_eq!(deleted_ports(&effects).len(), ids.len());
    assert!(effects.iter().any(|e| matches!(e, Effect::ForgetFramework)));
    assert!(core.book().is_empty());
    assert_eq!(
        core.book().wants(now)[0].count,
        3,
        "all three are wanted again"
    );
}

#[test]
fn an_adopted_task_learns_its_hostname_from_an_offer_of_its_agent() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let record = crate::state::TaskRecord::staging(
        &port("web.adopted", 50),
        web(),
        Some(AgentId::new("agent7")),
        None,
    );
    core.recovered(crate::scheduler::book::LiveTask::new(record, now));
    let effects = core.handle(Input::Offers(vec![offer("o7", "agent7", 0.0, 0.0)]), now);
    let task = core.book().get(&TaskId::new("web.adopted")).unwrap();
    assert_eq!(task.record.hostname.as_deref(), Some("agent7.example"));
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::WriteRecord(r) if r.hostname.is_some())));
}

#[test]
fn a_disconnect_publishes_at_once_and_keeps_pending_load_balancer_writes() {
    let now = Instant::now();
    let mut core = subscribed(now);
    let ids = launch_all(&mut core, now);
    core.handle(
        Input::Update(status(&ids[0], TaskState::TaskRunning, false)),
        now,
    );
    let effects = core.handle(Input::Disconnected, now);
    assert!(
        matches!(effects.as_slice(), [Effect::Publish(_)]),
        "{effects:?}"
    );
    let due = core.next_wake(now);
    let effects = core.handle(Input::Tick, due);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::SyncVips(specs) if specs[0].backends.len() == 1)),
        "the new backend is still written: {effects:?}"
    );
}

#[test]
fn a_service_with_a_policy_launches_once_its_port_group_is_written() {
    let now = Instant::now();
    let mut d = definition("web", 0.1, 32.0);
    d.allow_from = Some("api,external".parse().unwrap());
    let services = Services::resolve(vec![d], &Coke1).unwrap();
    let mut core = Core::new(config(), services, BTreeMap::new(), now);
    let start = core.start();
    let groups = start
        .iter()
        .find_map(|e| match e {
            Effect::SyncGroups(g) => Some(g.clone()),
            _ => None,
        })
        .expect("the port groups go to the writer at start");
    assert_eq!(groups.len(), 1);
    assert_eq!(
        groups[0].policy.as_ref().unwrap().to_string(),
        "api,external"
    );
    core.handle(
        Input::Subscribed {
            framework_id: FrameworkId::new("fw-1"),
        },
        now,
    );
    // held: the offer is declined, the definition says why it waits
    let effects = core.handle(Input::Offers(vec![offer("o1", "agent1", 8.0, 4096.0)]), now);
    let b = batch(&effects);
    assert!(b.launches.is_empty());
    assert_eq!(b.decline.len(), 1);
    let why = core.waiting().get(&web()).expect("it waits");
    assert!(why.contains("network policy of service coke/web"), "{why}");
    // written: offers are revived and the next one launches all three
    let key = ovn::services::ServiceKey::new("coke", "web");
    let effects = core.handle(Input::GroupsWritten(vec![key]), now);
    assert!(revives(&effects));
    let launched = launch_all(&mut core, now);
    assert_eq!(launched.len(), 3);
}

#[test]
fn a_service_without_a_policy_does_not_wait_for_its_port_group() {
    let now = Instant::now();
    let mut core = subscribed(now);
    assert_eq!(launch_all(&mut core, now).len(), 3);
}

#[test]
fn written_addresses_make_an_event_and_a_new_view_even_when_nothing_else_happens() {
    let now = Instant::now();
    let mut core = subscribed(now);
    // whatever was due is flushed
    core.handle(Input::Tick, now + Duration::from_secs(5));
    let later = now + Duration::from_secs(6);
    let key = ovn::services::ServiceKey::new("coke", "web");
    let addresses = ServiceAddresses {
        key: key.clone(),
        vips: vec!["10.10.1.12:8080".parse().unwrap()],
        east_west: Some("10.96.0.2:8080".parse().unwrap()),
        names: vec!["web.coke.ovn-mesos".into()],
    };
    let effects = core.handle(
        Input::VipsWritten {
            changed: vec![addresses.clone()],
            removed: Vec::new(),
        },
        later,
    );
    let event = effects
        .iter()
        .find_map(|e| match e {
            Effect::Event(ev) => Some(ev.clone()),
            _ => None,
        })
        .expect("a vip_addresses event");
    assert_eq!(event.kind, "vip_addresses");
    assert!(
        event.json.contains("\"east_west\":\"10.96.0.2:8080\""),
        "{}",
        event.json
    );
    assert_eq!(core.addresses().get(&key), Some(&addresses));
    // the view follows by the next wake, with no other input
    let wake = core.next_wake(later);
    let effects = core.handle(Input::Tick, wake);
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Publish(_))),
        "{effects:?}"
    );
}

//! Mesos master failover under `ovn-mesos run`, against real daemons: a
//! standalone ZooKeeper, three `mesos-local master --zk` processes (session
//! timeout 2 s) contending for leadership, the lab's agent following the
//! leader (`--master zk://.../mesos`), OVN central and one chassis, and the
//! real `ovn-mesos run --master zk://.../mesos` with the shipped coke task
//! files (Apache and nginx behind coke-web's VIP 10.10.1.12:32350).
//!
//! While a client curls the VIP every 50 ms (from a task's namespace: the
//! request crosses the distributed router to coke's gateway router, whose
//! load balancer picks a backend, `lb_force_snat_ip` bringing the answer
//! back), the leading master is SIGKILLed. A new master is elected, the
//! agent re-registers with its executors and tasks, and the framework
//! resubscribes to the new leader with the same framework id; its tasks keep
//! running (the same task ids: nothing is relaunched) and the VIP keeps both
//! backends. OVN serves the VIP on its own, so not one curl may fail.
//!
//! Printed: the failover time (kill -> the framework subscribed to the new
//! leader) and the milestones on the way.

mod framework_common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framework_common::checks::{
    all, check_vip, framework_id, netns, saved_framework_id, shipped, task, wait_running, Task,
};
use framework_common::nb::load_balancers;
use framework_common::{in_netns, Framework, Lab, WAIT};
use ovn_mesos_tests::{wait_for, ZooKeeper};
use serde_json::Value;

/// coke-web's north-south VIP on coke's gateway router.
const VIP: &str = "10.10.1.12:32350";

/// Time between two curls of the VIP.
const CURL_EVERY: Duration = Duration::from_millis(50);

/// What the VIP prober saw.
#[derive(Debug, Default)]
struct Probe {
    /// Answers by body (`apache`, `nginx`).
    answers: std::collections::BTreeMap<String, usize>,
    /// Failed curls: when (since the probe started) and why.
    failures: Vec<(Duration, String)>,
}

/// Curls `http://VIP/` from namespace `ns` every [`CURL_EVERY`] until
/// `stop`; what it saw.
fn start_prober(ns: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Probe> {
    std::thread::spawn(move || {
        let url = format!("http://{VIP}/");
        let mut probe = Probe::default();
        let started = Instant::now();
        let mut next = started;
        while !stop.load(Ordering::Relaxed) {
            match in_netns(&ns, &["curl", "-sS", "-m", "2", &url]) {
                Ok(body) => *probe.answers.entry(body.trim().to_owned()).or_default() += 1,
                Err(e) => probe.failures.push((started.elapsed(), format!("{e:#}"))),
            }
            // Pacing, not waiting for a condition: one curl per period.
            next += CURL_EVERY;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
        probe
    })
}

/// The framework `id` in `state` (a master's `/state`): whether it is
/// active, and its tasks as (id, state).
fn framework_in(state: &Value, id: &str) -> Option<(bool, BTreeSet<(String, String)>)> {
    let f = state["frameworks"]
        .as_array()?
        .iter()
        .find(|f| f["id"] == id)?;
    let tasks = f["tasks"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|t| {
                    let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
                    (s("id"), s("state"))
                })
                .collect()
        })
        .unwrap_or_default();
    Some((f["active"] == true, tasks))
}

/// A counter of the framework's `/metrics`.
fn metric(lab: &Lab, fw: &Framework, name: &str) -> f64 {
    let text = lab
        .rt
        .block_on(async {
            reqwest::get(format!("http://{}/metrics", fw.api))
                .await?
                .text()
                .await
        })
        .expect("GET /metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// coke-web's backends in the NB.
fn nb_backends(lab: &Lab) -> Vec<String> {
    let lbs = load_balancers(&lab.central).expect("load balancers");
    let mut backends = lbs
        .get("coke_coke-web_tcp")
        .map(|lb| lb.backends(VIP))
        .unwrap_or_default();
    backends.sort();
    backends
}

#[test]
fn the_vip_keeps_answering_while_the_leading_master_fails_over() {
    let t0 = Instant::now();
    let zk = ZooKeeper::start().expect("ZooKeeper");
    let mut lab = Lab::start_ha(&zk, 3);
    assert!(lab.master().starts_with("zk://"), "{}", lab.master());
    let leader = lab.wait_leader();
    let agent_id = lab.agent_id().expect("the agent registered");

    let files = shipped(&["apachecoke", "nginxcoke"]);
    let state = lab.state_dir("state");
    let fw = Framework::start(&lab, "ha", &files, &state);
    let framework = framework_id(&lab, &fw);
    let by_def = wait_running(&lab, &fw, &[("apachecoke", 1), ("nginxcoke", 1)]);
    let tasks = all(&by_def);
    let (apache, nginx) = (&by_def["apachecoke"][0], &by_def["nginxcoke"][0]);
    check_vip(
        &lab,
        &fw,
        "coke",
        "coke-web",
        "10.10.1.12",
        &[apache, nginx],
    );
    let backends = nb_backends(&lab);
    assert_eq!(backends.len(), 2, "{backends:?}");
    let task_ids: BTreeSet<String> = tasks.iter().map(|t| t.id.clone()).collect();
    let leader_state = lab.state_of(&leader).unwrap();
    let (active, at_leader) = framework_in(&leader_state, &framework).expect("framework");
    assert!(active, "the framework is active at the leader {leader}");
    assert_eq!(
        at_leader
            .iter()
            .map(|t| t.0.clone())
            .collect::<BTreeSet<_>>(),
        task_ids,
        "the leader knows the tasks"
    );

    // The client: apache's namespace; both backends answer through the VIP.
    let ns = netns(&lab, &framework, apache);
    let url = format!("http://{VIP}/");
    let mut seen = BTreeSet::new();
    wait_for("both backends to answer through the VIP", WAIT, || {
        if let Ok(body) = in_netns(&ns, &["curl", "-sS", "-m", "2", &url]) {
            seen.insert(body.trim().to_owned());
        }
        Ok((seen.len() == 2).then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e:#}; answers {seen:?}"));
    assert_eq!(seen, BTreeSet::from(["apache".into(), "nginx".into()]));
    eprintln!(
        "ready after {} ms: leader {leader}, framework {framework}, tasks {task_ids:?}",
        t0.elapsed().as_millis()
    );

    let launched = metric(&lab, &fw, "ovn_mesos_tasks_launched_total");
    let vip_updates = metric(&lab, &fw, "ovn_mesos_vip_updates_total");
    let subscriptions = metric(&lab, &fw, "ovn_mesos_subscriptions_total");

    // Curl the VIP every 50 ms while the leading master crashes.
    let stop = Arc::new(AtomicBool::new(false));
    let prober = start_prober(ns.clone(), stop.clone());
    let probe_started = Instant::now();
    // Let the prober get going before the kill (it must see answers first).
    wait_for("the prober's first rounds", WAIT, || {
        Ok((probe_started.elapsed() >= CURL_EVERY * 10).then_some(()))
    })
    .unwrap();

    let killed = Instant::now();
    lab.kill_master(&leader);
    let milestones: Mutex<Vec<(&str, Duration)>> = Mutex::default();
    let mark = |what: &'static str| {
        let mut m = milestones.lock().unwrap();
        if !m.iter().any(|(w, _)| *w == what) {
            m.push((what, killed.elapsed()));
        }
    };
    let new_leader = wait_for("a new leader", WAIT, || {
        Ok(lab.agreed_leader()?.filter(|l| *l != leader))
    })
    .unwrap_or_else(|e| panic!("{e:#}"));
    mark("new leader elected");
    let what = format!(
        "the agent {agent_id} re-registered with {new_leader} and framework {framework} active \
         there with its tasks {task_ids:?} RUNNING, and GET /health 200 with the same id"
    );
    let subscribed = wait_for(&what, WAIT, || {
        let state = lab.state_of(&new_leader)?;
        let agent_back = state["slaves"]
            .as_array()
            .is_some_and(|s| s.iter().any(|a| a["id"] == agent_id.as_str()));
        if agent_back {
            mark("agent re-registered");
        }
        let Some((active, tasks)) = framework_in(&state, &framework) else {
            anyhow::bail!("framework not at {new_leader}: {}", state["frameworks"]);
        };
        if active {
            mark("framework subscribed to the new leader");
        }
        let running: BTreeSet<String> = tasks
            .iter()
            .filter(|t| t.1 == "TASK_RUNNING")
            .map(|t| t.0.clone())
            .collect();
        if running == task_ids && tasks.len() == task_ids.len() {
            mark("tasks RUNNING at the new leader");
        }
        let (status, health) = fw.health(&lab)?;
        let healthy = status == 200 && health["framework_id"] == framework.as_str();
        let done = agent_back && active && running == task_ids && healthy;
        if !done {
            anyhow::bail!(
                "agent back {agent_back}, active {active}, tasks {tasks:?}, /health {status} {health}"
            );
        }
        Ok(Some(killed.elapsed()))
    })
    .unwrap_or_else(|e| panic!("{e:#}\nframework log:\n{}", fw.log_text()));

    // The framework's own view: the same tasks, RUNNING (its view follows
    // the new master's answers to its reconciliation), both in the VIP.
    let now: Vec<Task> = wait_for(
        "the framework's view: the same tasks, all RUNNING",
        WAIT,
        || {
            let now: Vec<Task> = fw.tasks(&lab)?.iter().map(task).collect();
            let ids_now: BTreeSet<String> = now.iter().map(|t| t.id.clone()).collect();
            if ids_now != task_ids {
                panic!("other tasks than before the kill: {ids_now:?}, not {task_ids:?}");
            }
            let running = now.iter().all(|t| t.state == "TASK_RUNNING");
            Ok(running.then_some(now))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\nframework log:\n{}", fw.log_text()));
    assert_eq!(now.len(), task_ids.len());
    check_vip(
        &lab,
        &fw,
        "coke",
        "coke-web",
        "10.10.1.12",
        &[apache, nginx],
    );
    assert_eq!(nb_backends(&lab), backends, "the VIP's backends");
    stop.store(true, Ordering::Relaxed);
    let probe = prober.join().expect("prober");
    let probed = probe_started.elapsed();

    let failover = milestones
        .lock()
        .unwrap()
        .iter()
        .find(|(w, _)| *w == "framework subscribed to the new leader")
        .map(|(_, t)| *t)
        .expect("subscribed milestone");
    eprintln!(
        "leader {leader} SIGKILLed; new leader {new_leader}; milestones after the kill: {:?}; \
         all conditions met after {} ms",
        milestones
            .lock()
            .unwrap()
            .iter()
            .map(|(w, t)| format!("{w} {} ms", t.as_millis()))
            .collect::<Vec<_>>(),
        subscribed.as_millis()
    );
    eprintln!(
        "FAILOVER (kill -> framework subscribed to the new leader): {} ms",
        failover.as_millis()
    );
    let answered: usize = probe.answers.values().sum();
    eprintln!(
        "VIP probe over {} ms: {answered} answers {:?}, {} failures {:?}",
        probed.as_millis(),
        probe.answers,
        probe.failures.len(),
        probe.failures
    );

    assert!(
        probe.failures.is_empty(),
        "curls of {VIP} failed during the failover: {:?}",
        probe.failures
    );
    assert!(
        answered as u128 >= probed.as_millis() / CURL_EVERY.as_millis() / 2,
        "the prober ran: {answered} answers in {probed:?}"
    );
    assert!(
        probe.answers.keys().all(|b| b == "apache" || b == "nginx"),
        "{:?}",
        probe.answers
    );
    assert_eq!(framework_id(&lab, &fw), framework, "the same framework id");
    assert_eq!(
        saved_framework_id(&state).as_deref(),
        Some(framework.as_str())
    );
    assert_eq!(
        metric(&lab, &fw, "ovn_mesos_tasks_launched_total"),
        launched,
        "nothing launched"
    );
    assert_eq!(
        metric(&lab, &fw, "ovn_mesos_vip_updates_total"),
        vip_updates,
        "the VIP's backends were never rewritten"
    );
    assert!(
        metric(&lab, &fw, "ovn_mesos_subscriptions_total") > subscriptions,
        "the framework subscribed again"
    );
    let log = fw.log_text();
    assert!(!log.contains("task ended"), "no task ended:\n{log}");
    let old = lab.live_masters();
    assert!(!old.contains(&leader) && old.len() == 2, "{old:?}");
    eprintln!("test done after {} ms", t0.elapsed().as_millis());
}

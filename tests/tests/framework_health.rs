//! Backends follow health: `ovn-mesos run` (the real binary) with the
//! shipped Apache and nginx task files, whose HTTP health check the real
//! `ovn-mesos-executor` runs, against real OVN and mesos-local.
//!
//! Covered: a checked task joins its VIP only once reported healthy (the
//! API shows `healthy` per task and the healthy count per service); a frozen
//! backend (SIGSTOP) leaves the VIP at its first failed check, is killed
//! after its consecutive failures and replaced, and the replacement joins
//! once healthy; `/metrics` counts the reports and the kill; a framework
//! restarted while a task is unhealthy never takes it for healthy (its record
//! keeps the last report, reconciliation confirms it), keeps the healthy one
//! in the VIP, and the task rejoins once it answers again.

mod framework_common;

use std::collections::BTreeSet;

use framework_common::checks::{check_vip, framework_id, netns, shipped, task, wait_running, Task};
use framework_common::nb::load_balancers;
use framework_common::{netns_pids, signal_pids, Framework, Lab, MasterKind, WAIT};
use ovn_mesos_tests::wait_for;
use serde_json::Value;

const VIP: &str = "10.10.1.12:32350";

/// `kill -<signal>` to every process of the task's namespace.
fn signal_task(ns: &str, signal: &str) {
    let pids = netns_pids(ns);
    assert!(!pids.is_empty(), "no process in {ns}");
    signal_pids(&pids, signal);
}

/// The `healthy` of task `id` in `GET /v1/tasks` (Null when unknown).
fn healthy_of(tasks: &[Value], id: &str) -> Value {
    tasks
        .iter()
        .find(|t| t["id"] == id)
        .map_or(Value::String("gone".into()), |t| t["healthy"].clone())
}

/// The NB backends of coke-web's VIP.
fn nb_backends(lab: &Lab) -> anyhow::Result<BTreeSet<String>> {
    let lbs = load_balancers(&lab.central)?;
    Ok(lbs
        .get("coke_coke-web_tcp")
        .map(|lb| lb.backends(VIP).into_iter().collect())
        .unwrap_or_default())
}

/// Waits until every task of `tasks` is reported healthy in the API and the
/// service counts them.
fn wait_healthy(lab: &Lab, fw: &Framework, tasks: &[&Task]) {
    let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    wait_for(&format!("{ids:?} healthy in the API"), WAIT, || {
        let all = fw.tasks(lab)?;
        let service = fw.service(lab, "coke", "coke-web")?;
        let ok = ids
            .iter()
            .all(|id| healthy_of(&all, id) == Value::Bool(true))
            && service["healthy"] == ids.len();
        if ok {
            Ok(Some(()))
        } else {
            anyhow::bail!("tasks {all:?}; service healthy {}", service["healthy"])
        }
    })
    .unwrap_or_else(|e| panic!("{e:#}\nlog:\n{}", fw.log_text()));
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_frozen_backend_leaves_the_vip_is_killed_for_its_health_and_replaced() {
    let lab = Lab::start(MasterKind::InProcess);
    let fw = Framework::start(
        &lab,
        "health",
        &shipped(&["apachecoke", "nginxcoke"]),
        &lab.state_dir("state"),
    );
    let framework = framework_id(&lab, &fw);
    let by_def = wait_running(&lab, &fw, &[("apachecoke", 1), ("nginxcoke", 1)]);
    let (apache, nginx) = (
        by_def["apachecoke"][0].clone(),
        by_def["nginxcoke"][0].clone(),
    );
    wait_healthy(&lab, &fw, &[&apache, &nginx]);
    check_vip(
        &lab,
        &fw,
        "coke",
        "coke-web",
        "10.10.1.12",
        &[&apache, &nginx],
    );

    // Frozen: the kernel still completes TCP handshakes, HTTP never answers.
    let ns = netns(&lab, &framework, &nginx);
    lab.note_netns(&ns);
    signal_task(&ns, "-STOP");
    let apache_only: BTreeSet<String> = [format!("{}:80", apache.ip)].into();
    wait_for(
        "the frozen nginx out of the VIP, unhealthy in the API",
        WAIT,
        || {
            let backends = nb_backends(&lab)?;
            let h = healthy_of(&fw.tasks(&lab)?, &nginx.id);
            anyhow::ensure!(h == Value::Bool(false), "nginx healthy: {h}");
            anyhow::ensure!(backends == apache_only, "NB backends {backends:?}");
            Ok(Some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\nlog:\n{}", fw.log_text()));

    // Killed after 3 failed checks (the stopped group gets SIGKILL after the
    // grace period), replaced, and the replacement joins once healthy.
    let replacement = wait_for("a new nginxcoke task running", WAIT, || {
        let tasks: Vec<Task> = fw.tasks(&lab)?.iter().map(task).collect();
        Ok(tasks
            .into_iter()
            .find(|t| t.definition == "nginxcoke" && t.id != nginx.id && t.state == "TASK_RUNNING"))
    })
    .unwrap_or_else(|e| panic!("{e:#}\nlog:\n{}", fw.log_text()));
    wait_healthy(&lab, &fw, &[&apache, &replacement]);
    check_vip(
        &lab,
        &fw,
        "coke",
        "coke-web",
        "10.10.1.12",
        &[&apache, &replacement],
    );
    let log = fw.log_text();
    assert!(
        log.contains("killed after 3 consecutive failed health checks"),
        "{log}"
    );
    let (status, _) = lab.http_get(&format!("http://{}/health", fw.api)).unwrap();
    assert_eq!(status, 200);
    let out = std::process::Command::new("curl")
        .args(["-sS", "-m", "5", &format!("http://{}/metrics", fw.api)])
        .output()
        .unwrap();
    let metrics = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        metric(&metrics, "ovn_mesos_tasks_killed_unhealthy_total"),
        1.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "ovn_mesos_health_reports_unhealthy_total") >= 3.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "ovn_mesos_health_reports_healthy_total") >= 3.0,
        "{metrics}"
    );
}

#[test]
fn a_restarted_framework_keeps_an_unhealthy_task_out_until_it_answers() {
    let lab = Lab::start(MasterKind::InProcess);
    // nginx is never killed for its health here: it stays unhealthy
    let text = std::fs::read_to_string(Lab::shipped("nginxcoke.json")).unwrap();
    let mut nginx_file: Value = serde_json::from_str(&text).unwrap();
    nginx_file["health_check"]["consecutive_failures"] = 1000.into();
    let nginx_file = lab.write_file("nginxcoke.json", &nginx_file.to_string());
    let files = vec![Lab::shipped("apachecoke.json"), nginx_file];
    let state = lab.state_dir("state");
    let mut fw = Framework::start(&lab, "relearn-1", &files, &state);
    let framework = framework_id(&lab, &fw);
    let by_def = wait_running(&lab, &fw, &[("apachecoke", 1), ("nginxcoke", 1)]);
    let (apache, nginx) = (
        by_def["apachecoke"][0].clone(),
        by_def["nginxcoke"][0].clone(),
    );
    wait_healthy(&lab, &fw, &[&apache, &nginx]);
    let ns = netns(&lab, &framework, &nginx);
    lab.note_netns(&ns);
    signal_task(&ns, "-STOP");
    wait_for("nginx unhealthy", WAIT, || {
        Ok((healthy_of(&fw.tasks(&lab)?, &nginx.id) == Value::Bool(false)).then_some(()))
    })
    .unwrap();
    fw.sigterm().unwrap();

    let fw = Framework::start(&lab, "relearn-2", &files, &state);
    let apache_only: BTreeSet<String> = [format!("{}:80", apache.ip)].into();
    // from the first answer on, nginx is never taken for healthy, apache
    // never dropped: each as last reported, then as reconciliation says
    wait_for("health relearned after the restart", WAIT, || {
        let tasks = fw.tasks(&lab)?;
        let h = healthy_of(&tasks, &nginx.id);
        assert_ne!(
            h,
            Value::Bool(true),
            "nginx assumed healthy after the restart"
        );
        let backends = nb_backends(&lab)?;
        assert!(
            !backends.contains(&format!("{}:80", nginx.ip)),
            "the unhealthy nginx is a backend again: {backends:?}"
        );
        let ok = h == Value::Bool(false)
            && healthy_of(&tasks, &apache.id) == Value::Bool(true)
            && backends == apache_only;
        Ok(ok.then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e:#}\nlog:\n{}", fw.log_text()));
    // the same tasks, not replacements
    let ids: BTreeSet<String> = fw.tasks(&lab).unwrap().iter().map(|t| task(t).id).collect();
    assert_eq!(ids, [apache.id.clone(), nginx.id.clone()].into());

    // thawed: the next check passes and nginx rejoins
    signal_task(&ns, "-CONT");
    wait_healthy(&lab, &fw, &[&apache, &nginx]);
    check_vip(
        &lab,
        &fw,
        "coke",
        "coke-web",
        "10.10.1.12",
        &[&apache, &nginx],
    );
}
